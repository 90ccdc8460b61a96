/* jsontext.c: UTF-8 validation, the strict parser and its sink, depth limit. */
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

static int valid(const char *s, size_t n) {
  buf scratch = {0};
  json_error err;
  int rc = json_parse(s, n, NULL, NULL, &scratch, &err);
  buf_free(&scratch);
  return rc == 0;
}
#define VALID(lit) valid(lit, sizeof lit - 1)

TEST(grammar) {
  CHECK(VALID("0"));
  CHECK(VALID("-0.5e-3"));
  CHECK(VALID(" [1, {\"a\": [true, false, null]}, \"\\u00e9\\ud83d\\ude80\"]\r\n"));
  CHECK(!VALID("01"));
  CHECK(!VALID("1."));
  CHECK(!VALID("-.1"));
  CHECK(!VALID("2.e3"));
  CHECK(!VALID("[1]\0"));
  CHECK(!VALID("\f[1]"));
  CHECK(!VALID("\"a\tb\""));
  CHECK(!VALID("\"\\ud800\""));
  CHECK(!VALID("1e400"));
  CHECK(!VALID(""));
  CHECK(!VALID("  "));
}

/* every value reaches the sink in order, strings with their length */
typedef struct {
  char log[256];
  size_t len;
} trace;
static void tr(trace *t, const char *s, size_t n) {
  if (t->len + n < sizeof t->log) memcpy(t->log + t->len, s, n), t->len += n, t->log[t->len] = '\0';
}
static int t_open(void *ud, char k) { tr(ud, &k, 1); return 0; }
static int t_close(void *ud, char k) { tr(ud, k == '[' ? "]" : "}", 1); return 0; }
static void tr_text(trace *t, const char *tag, const char *s, size_t n) { /* a NUL shows as 0 */
  char len[16];
  snprintf(len, sizeof len, "%s%zu:", tag, n);
  tr(t, len, strlen(len));
  for (size_t i = 0; i < n; i++) tr(t, s[i] ? &s[i] : "0", 1);
  tr(t, " ", 1);
}
static int t_key(void *ud, const char *s, size_t n) { tr_text(ud, "k", s, n); return 0; }
static int t_str(void *ud, const char *s, size_t n) { tr_text(ud, "s", s, n); return 0; }
static int t_num(void *ud, const char *s, size_t n, int integral, double v) {
  tr(ud, integral ? "i:" : "f:", 2);
  tr(ud, s, n);
  tr(ud, " ", 1);
  return 0;
}
static int t_lit(void *ud, char w) { tr(ud, &w, 1); return 0; }
static int t_stop(void *ud, char w) { return 7; }

TEST(sink_order_and_nul) {
  json_sink sink = {t_open, t_close, t_key, t_str, t_num, t_lit, NULL};
  trace t = {{0}, 0};
  buf scratch = {0};
  json_error err;
  const char doc[] = "{\"a\\u0000b\": [1, -2.5e3, \"x\\u0000y\", null, true], \"n\": 9007199254740993}";
  CHECK(json_parse(doc, sizeof doc - 1, &sink, &t, &scratch, &err) == 0);
  CHECK_STR(t.log, "{k3:a0b [i:1 f:-2.5e3 s3:x0y nt]k1:n i:9007199254740993 }");
  json_sink stop = {NULL, NULL, NULL, NULL, NULL, t_stop, NULL};
  CHECK(json_parse("[1, true]", 9, &stop, NULL, &scratch, &err) == 7);
  buf_free(&scratch);
}

TEST(depth_limit) {
  size_t n = 10000;
  char *deep = malloc(2 * n);
  memset(deep, '[', n);
  memset(deep + n, ']', n);
  buf scratch = {0};
  json_error err;
  CHECK(json_parse(deep, 2 * n, NULL, NULL, &scratch, &err) == -1);
  CHECK(err.at == JSON_MAX_DEPTH);
  free(deep);
}

TEST(errors_say_where) {
  buf scratch = {0};
  json_error err;
  CHECK(json_parse("[1, 2", 5, NULL, NULL, &scratch, &err) == -1 && err.truncated);
  CHECK(json_parse("{\"a\": x}", 8, NULL, NULL, &scratch, &err) == -1 && err.at == 6 && !err.truncated);
  buf_free(&scratch);
}

TEST(position) {
  int line, col;
  const char *s = "{\n  \"a\": x\n}";
  json_position(s, strlen(s), 9, &line, &col);
  CHECK(line == 2 && col == 8);
}

int main(void) {
  check_suite = "c/jsontext";
  RUN(utf8_valid_and_invalid);
  RUN(grammar);
  RUN(sink_order_and_nul);
  RUN(depth_limit);
  RUN(errors_say_where);
  RUN(position);
  return check_summary();
}
