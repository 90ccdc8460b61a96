/* glob.c: the matcher behind fs.glob and git's changed(globs). */
#include "check.h"
#include "glob.h"

#include <stdlib.h>

static const struct {
  const char *pattern, *path;
  int want;
} cases[] = {
    {"docs/usage-docs/**", "docs/usage-docs/index.md", 1},
    {"docs/usage-docs/**", "docs/usage-docs/a/b/c.md", 1},
    {"docs/usage-docs/**", "docs/dev-docs/index.md", 0},
    {"docs/usage-docs/**", "docs/usage-docs", 0},
    {"migrations/*.sql", "migrations/0001_init.sql", 1},
    {"migrations/*.sql", "migrations/old/0001.sql", 0},
    {"**/*.sql", "0001.sql", 1},
    {"**/*.sql", "a/b/0001.sql", 1},
    {"apps/**/migrations/*.sql", "apps/cms/migrations/1.sql", 1},
    {"apps/**/migrations/*.sql", "apps/migrations/1.sql", 1},
    {"apps/**/migrations/*.sql", "apps/cms/x/migrations/1.sql", 1},
    {"apps/**/migrations/*.sql", "apps/cms/migrations/x/1.sql", 0},
    {"*.md", "README.md", 1},
    {"*.md", "docs/README.md", 0},
    {"*", "", 1},
    {"a?c", "abc", 1},
    {"a?c", "a/c", 0},
    {"[abc].txt", "b.txt", 1},
    {"[abc].txt", "d.txt", 0},
    {"[!abc].txt", "d.txt", 1},
    {"[^abc].txt", "a.txt", 0},
    {"v[0-9].[0-9]", "v1.2", 1},
    {"v[0-9].[0-9]", "vx.2", 0},
    {"[unclosed", "[unclosed", 1},
    {"lit\\*", "lit*", 1},
    {"lit\\*", "litx", 0},
    {"a**b", "axxb", 1}, /* not a whole segment: behaves like * */
    {"a**b", "ax/xb", 0},
    {"cms-v*", "cms-v1.10.0", 1},
    {"cms-v*", "mcp-v1.0.0", 0},
    {"path with spaces/*", "path with spaces/ünïcode.txt", 1},
    {"*.lua", ".hidden.lua", 1},
    {"**", "a/b/c", 1},
    {"**/**/*.sql", "a/b.sql", 1},
    {"a/**/**/b", "a/b", 1},
    {"a/**/**/b", "a/x/y/b", 1},
    {"**/a/**", "x/a", 0},
    {"**/a/**", "x/a/y", 1},
    {"a/**/b/**/c", "a/x/b/y/b/c", 1},
    {"a/**/b/*.c", "a/b/x/b/y.c", 1},
    {"*a*b", "xaab", 1},
    {"*a*b", "xaa/b", 0},
    {"x[ab]*[cd]y", "xbzzzdy", 1},
    {"[]]", "]", 1},
    {"[!]]", "a", 1},
};

TEST(table) {
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int got = glob_match(cases[i].pattern, cases[i].path);
    if (got != cases[i].want) {
      printf("    glob_match(\"%s\", \"%s\") = %d, want %d\n", cases[i].pattern, cases[i].path, got, cases[i].want);
      check_current = 1;
    }
  }
}

TEST(has_magic) {
  CHECK(glob_has_magic("a/*.c"));
  CHECK(glob_has_magic("a?"));
  CHECK(glob_has_magic("[ab]"));
  CHECK(!glob_has_magic("plain/path.txt"));
}

/* a*a*a*...b against a's used to backtrack exponentially (129 s for 14
 * stars against 40 characters; repeated ** / 85 s): now polynomial. */
static char *repeat(const char *unit, int n, const char *tail) {
  size_t u = strlen(unit), t = strlen(tail);
  char *s = malloc(u * (size_t)n + t + 1);
  for (int i = 0; i < n; i++) memcpy(s + u * (size_t)i, unit, u);
  memcpy(s + u * (size_t)n, tail, t + 1);
  return s;
}

/* glob_match(pattern_unit x pn + pattern_tail, path_unit x sn + path_tail) */
static int match_repeated(const char *pu, int pn, const char *pt, const char *su, int sn, const char *st) {
  char *pat = repeat(pu, pn, pt), *path = repeat(su, sn, st);
  int m = glob_match(pat, path);
  free(pat);
  free(path);
  return m;
}

TEST(pathological_patterns_finish) {
  CHECK(match_repeated("a*", 14, "b", "a", 40, "") == 0);
  CHECK(match_repeated("a*", 1000, "b", "a", 4096, "") == 0);
  CHECK(match_repeated("a*", 1000, "b", "a", 4095, "b") == 1);
  CHECK(match_repeated("**/", 30, "x/y", "a/", 200, "x") == 0);
  CHECK(match_repeated("*/", 12, "*.never", "a/", 60, "z") == 0);
}

TEST(check_refuses_what_drun_does_not_match) {
  CHECK(glob_check("docs/**") == NULL);
  CHECK(glob_check("lit\\{x\\}") == NULL); /* escaped braces: literals */
  CHECK(glob_check("src/{a,b}/*.c") != NULL);
  CHECK(glob_check("*.@(js|ts)") != NULL);
  CHECK(glob_check("!(x)") != NULL);
  CHECK(glob_check("+(a)") != NULL);
  CHECK(glob_check("[a/b]") != NULL);
  CHECK(glob_check("") != NULL);
  CHECK(glob_check("[unclosed") == NULL);
}

TEST(lists_negate_in_order) {
  const char *l[] = {"docs/**", "!docs/drafts/**", "docs/drafts/keep.md"};
  CHECK(glob_list_match(l, 3, "docs/a.md"));
  CHECK(!glob_list_match(l, 3, "docs/drafts/x.md"));
  CHECK(glob_list_match(l, 3, "docs/drafts/keep.md"));
  CHECK(!glob_list_match(l, 3, "src/a.c"));
  size_t bad = 99;
  CHECK(glob_list_check(l, 3, &bad) == NULL);
  const char *only_neg[] = {"!docs/**"};
  CHECK(glob_list_check(only_neg, 1, &bad) != NULL);
  const char *braces[] = {"docs/**", "!{a,b}"};
  CHECK(glob_list_check(braces, 2, &bad) != NULL && bad == 1);
}

TEST(literal_dir) {
  CHECK(glob_literal_dir("docs/usage-docs/**") == strlen("docs/usage-docs"));
  CHECK(glob_literal_dir("docs/a.md") == strlen("docs"));
  CHECK(glob_literal_dir("**/*.sql") == 0);
  CHECK(glob_literal_dir("*.md") == 0);
  CHECK(glob_literal_dir("a/b\\*/c") == 1);
}

int main(void) {
  check_suite = "c/glob";
  RUN(table);
  RUN(has_magic);
  RUN(pathological_patterns_finish);
  RUN(check_refuses_what_drun_does_not_match);
  RUN(lists_negate_in_order);
  RUN(literal_dir);
  return check_summary();
}
