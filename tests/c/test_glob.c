/* glob.c: the matcher behind fs.glob and git's changed(globs). */
#include "check.h"
#include "glob.h"

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

int main(void) {
  check_suite = "c/glob";
  RUN(table);
  RUN(has_magic);
  return check_summary();
}
