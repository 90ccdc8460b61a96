/* jsontext.c: UTF-8 validation, depth limit, number spellings. */
#include <stdlib.h>

#include "check.h"
#include "jsontext.h"

TEST(utf8_valid_and_invalid) {
  const char ok[] = "plain \xc3\xa9\xe2\x82\xac\xf0\x9f\x9a\x80";
  CHECK(utf8_invalid_at(ok, sizeof ok - 1) == sizeof ok - 1);
  CHECK(utf8_invalid_at("ab\xff", 3) == 2);         /* never valid */
  CHECK(utf8_invalid_at("\xc0\xaf", 2) == 0);       /* overlong '/' */
  CHECK(utf8_invalid_at("\xed\xa0\x80", 3) == 0);   /* surrogate */
  CHECK(utf8_invalid_at("\xf4\x90\x80\x80", 4) == 0); /* above U+10FFFF */
  CHECK(utf8_invalid_at("x\xe2\x82", 3) == 1);      /* truncated */
}

TEST(numbers_in_document_order_skipping_strings) {
  const char *s = "{\"a\": [1, -2.5e3], \"b\": \"3 4\", \"c\\\"5\": 9007199254740993}";
  json_scan sc;
  CHECK(json_prescan(s, strlen(s), &sc) == 0);
  CHECK(sc.nnums == 3);
  if (sc.nnums == 3) {
    CHECK(!strncmp(s + sc.nums[0].off, "1", sc.nums[0].len));
    CHECK(!strncmp(s + sc.nums[1].off, "-2.5e3", sc.nums[1].len) && sc.nums[1].len == 6);
    CHECK(!strncmp(s + sc.nums[2].off, "9007199254740993", sc.nums[2].len));
  }
  json_scan_free(&sc);
}

TEST(depth_limit) {
  size_t n = 10000;
  char *deep = malloc(2 * n);
  memset(deep, '[', n);
  memset(deep + n, ']', n);
  json_scan sc;
  CHECK(json_prescan(deep, 2 * n, &sc) == -1);
  CHECK(sc.err_at == JSON_MAX_DEPTH);
  json_scan_free(&sc);
  free(deep);
}

TEST(position) {
  int line, col;
  json_position("{\n  \"a\": x\n}", 9, &line, &col);
  CHECK(line == 2 && col == 8);
}

int main(void) {
  check_suite = "c/jsontext";
  RUN(utf8_valid_and_invalid);
  RUN(numbers_in_document_order_skipping_strings);
  RUN(depth_limit);
  RUN(position);
  return check_summary();
}
