/* ledger.c: ids, refusals on open, build numbers — on real files. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fsutil.h"
#include "ledger.h"

TEST(ids_are_unique_sortable_ulids) {
  char a[27], b[27];
  ledger_new_id(a);
  usleep(2000);
  ledger_new_id(b);
  CHECK(strlen(a) == 26 && strlen(b) == 26);
  CHECK(strcmp(a, b) < 0); /* later id sorts later */
  CHECK(strspn(a, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") == 26);
  char prev[27], next[27]; /* many in one millisecond still sort in order */
  ledger_new_id(prev);
  for (int i = 0; i < 1000; i++) {
    ledger_new_id(next);
    CHECK(strcmp(prev, next) < 0);
    memcpy(prev, next, sizeof prev);
  }
}

TEST(now_is_iso_utc_with_ms) {
  char now[32];
  ledger_now(now);
  CHECK(strlen(now) == 24 && now[10] == 'T' && now[19] == '.' && now[23] == 'Z');
}

TEST(random_bytes_refused_untouched) {
  char path[256];
  snprintf(path, sizeof path, "%s", check_path("random.db"));
  char junk[4096];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)(rand() & 0xff);
  fs_write_atomic(path, junk, sizeof junk, -1);
  ledger *l;
  buf err = {0};
  CHECK(ledger_open(path, &l, NULL, &err) == -1);
  CHECK(strstr(buf_cstr(&err), "is not a drun ledger") != NULL);
  FILE *f = fopen(path, "rb");
  char back[4096];
  CHECK(f && fread(back, 1, sizeof back, f) == sizeof back && memcmp(back, junk, sizeof junk) == 0);
  if (f) fclose(f);
  CHECK(access(check_path("random.db-wal"), F_OK) != 0);
  buf_free(&err);
}

TEST(build_numbers_count_per_version) {
  ledger *l;
  buf err = {0};
  CHECK(ledger_open(check_path("builds.db"), &l, NULL, &err) == 0);
  long long n = 0;
  ledger_next_build(l, "cms", "1.0.0", &n, &err);
  CHECK(n == 1);
  ledger_next_build(l, "cms", "1.0.0", &n, &err);
  CHECK(n == 2);
  ledger_next_build(l, "cms", "1.1.0", &n, &err);
  CHECK(n == 1); /* a new version starts again */
  ledger_next_build(l, "mcp", "1.0.0", &n, &err);
  CHECK(n == 1); /* per service */
  ledger_record rec;
  ledger_begin_args a = {.service = "cms", .environment = "staging", .version = "1.0.0"};
  CHECK(ledger_begin(l, &a, &rec, &err) == 0);
  CHECK(rec.build_number == 3);
  CHECK_STR(rec.full_version, "1.0.0+build.3");
  ledger_close(l);
  buf_free(&err);
}

int main(void) {
  check_suite = "c/ledger";
  if (check_mkdtemp()) return perror("mkdtemp"), 1;
  RUN(ids_are_unique_sortable_ulids);
  RUN(now_is_iso_utc_with_ms);
  RUN(random_bytes_refused_untouched);
  RUN(build_numbers_count_per_version);
  fs_remove_tree(check_dir);
  return check_summary();
}
