/* ledger_id.c: the ledger's ids and clock (refusals and build numbers are
 * tested on every backend in tests/lua/test_ledger.lua). */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fsutil.h"
#include "ledger_id.h"

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

int main(void) {
  check_suite = "c/ledger";
  if (check_mkdtemp()) return perror("mkdtemp"), 1;
  RUN(ids_are_unique_sortable_ulids);
  RUN(now_is_iso_utc_with_ms);
  fs_remove_tree(check_dir);
  return check_summary();
}
