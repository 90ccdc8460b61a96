/* fsutil.c: atomic write, mkdir -p, remove, glob walk — in a temp dir. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "check.h"
#include "fsutil.h"

TEST(atomic_write_creates_and_replaces_keeping_mode) {
  char path[256];
  snprintf(path, sizeof path, "%s", check_path("file.txt"));
  CHECK(fs_write_atomic(path, "one", 3, 0640) == 0);
  struct stat st;
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
  chmod(path, 0600);
  CHECK(fs_write_atomic(path, "two!", 4, -1) == 0);
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 4);
}

static int count_entries(void *ud, const char *p) {
  (void)p;
  (*(int *)ud)++;
  return 0;
}

TEST(atomic_write_leaves_no_temp_file) {
  int before = 0, after = 0;
  char pat[256];
  snprintf(pat, sizeof pat, "%s/.*", check_dir);
  fs_glob(pat, count_entries, &before);
  fs_write_atomic(check_path("x.json"), "{}", 2, -1);
  fs_glob(pat, count_entries, &after);
  CHECK(before == 0 && after == 0);
}

TEST(atomic_write_into_missing_dir_fails_cleanly) {
  CHECK(fs_write_atomic(check_path("nope/x"), "a", 1, -1) == -1 && errno == ENOENT);
}

TEST(mkdir_p_nested_and_existing) {
  CHECK(fs_mkdir_p(check_path("a/b/c/"), 0755) == 0);
  CHECK(fs_mkdir_p(check_path("a/b/c"), 0755) == 0);
  fs_write_atomic(check_path("a/f"), "x", 1, -1);
  CHECK(fs_mkdir_p(check_path("a/f/g"), 0755) == -1);
}

static int collect(void *ud, const char *p) {
  buf *b = ud;
  buf_addf(b, "%s\n", p + strlen(check_dir) + 1);
  return 0;
}

TEST(glob_walks_only_what_matches) {
  fs_mkdir_p(check_path("g/docs/usage/deep"), 0755);
  fs_mkdir_p(check_path("g/docs/dev"), 0755);
  fs_write_atomic(check_path("g/docs/usage/a.md"), "", 0, -1);
  fs_write_atomic(check_path("g/docs/usage/deep/b.md"), "", 0, -1);
  fs_write_atomic(check_path("g/docs/dev/c.md"), "", 0, -1);
  fs_write_atomic(check_path("g/docs/dev/c.txt"), "", 0, -1);
  char pat[256];
  buf got = {0};
  snprintf(pat, sizeof pat, "%s/g/docs/*/*.md", check_dir);
  fs_glob(pat, collect, &got);
  CHECK(strstr(buf_cstr(&got), "g/docs/usage/a.md\n") && strstr(buf_cstr(&got), "g/docs/dev/c.md\n"));
  CHECK(!strstr(buf_cstr(&got), "b.md") && !strstr(buf_cstr(&got), "c.txt"));
  got.len = 0;
  snprintf(pat, sizeof pat, "%s/g/**/*.md", check_dir);
  fs_glob(pat, collect, &got);
  CHECK(strstr(buf_cstr(&got), "deep/b.md") != NULL);
  buf_free(&got);
}

TEST(remove_tree) {
  CHECK(fs_remove_tree(check_path("g")) == 0);
  CHECK(access(check_path("g"), F_OK) != 0);
  CHECK(fs_remove_tree(check_path("g")) == 0); /* already gone is fine */
}

int main(void) {
  check_suite = "c/fsutil";
  if (check_mkdtemp()) return perror("mkdtemp"), 1;
  RUN(atomic_write_creates_and_replaces_keeping_mode);
  RUN(atomic_write_leaves_no_temp_file);
  RUN(atomic_write_into_missing_dir_fails_cleanly);
  RUN(mkdir_p_nested_and_existing);
  RUN(glob_walks_only_what_matches);
  RUN(remove_tree);
  fs_remove_tree(check_dir);
  return check_summary();
}
