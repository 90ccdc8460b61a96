/* A minimal unit-test harness: TEST(name) { CHECK(...); } and RUN(name) in
 * main; prints "ok"/"FAIL" per test and "N passed, N failed" at the end. */
#ifndef DRUN_CHECK_H
#define DRUN_CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_passed, check_failed, check_current;
static const char *check_suite = "c";

#define TEST(name) static void name(void)

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      check_current = 1;                                                     \
      printf("    %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);    \
    }                                                                        \
  } while (0)

#define CHECK_STR(got, want)                                                          \
  do {                                                                                \
    const char *g_ = (got), *w_ = (want);                                             \
    if (!g_ || strcmp(g_, w_) != 0) {                                                 \
      check_current = 1;                                                              \
      printf("    %s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, g_ ? g_ : "(null)", w_); \
    }                                                                                 \
  } while (0)

static void check_run(const char *name, void (*fn)(void)) {
  check_current = 0;
  fn();
  fflush(stdout);
  if (check_current) check_failed++;
  else check_passed++;
  printf("%s %s: %s\n", check_current ? "FAIL" : "ok  ", check_suite, name);
}

#define RUN(name) check_run(#name, name)

/* A private temp dir for the suite, and paths in it. */
static char check_dir[64];
__attribute__((unused)) static int check_mkdtemp(void) {
  snprintf(check_dir, sizeof check_dir, "/tmp/drun-test.XXXXXX");
  return mkdtemp(check_dir) ? 0 : -1;
}
__attribute__((unused)) static char *check_path(const char *rel) {
  static char p[4][256];
  static int next;
  char *out = p[next++ % 4];
  snprintf(out, 256, "%s/%s", check_dir, rel);
  return out;
}

static int check_summary(void) {
  printf("%d passed, %d failed\n", check_passed, check_failed);
  return check_failed != 0;
}
#endif
