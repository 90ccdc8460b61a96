#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "glob.h"
#include "out.h"

int fs_write_atomic(const char *path, const char *data, size_t n, int mode) {
  size_t pl = strlen(path);
  char *dir = strdup(path), *tmp = malloc(pl + 16);
  if (!dir || !tmp) {
    free(dir);
    free(tmp);
    errno = ENOMEM;
    return -1;
  }
  const char *d = dirname(dir);
  const char *slash = strrchr(path, '/');
  /* ".name.XXXXXX" beside the target: rename() must not cross filesystems. */
  if (slash) snprintf(tmp, pl + 16, "%.*s/.%s.XXXXXX", (int)(slash - path), path, slash + 1);
  else snprintf(tmp, pl + 16, ".%s.XXXXXX", path);
  int fd = mkostemp(tmp, O_CLOEXEC), saved = 0;
  if (fd < 0) goto fail;
  struct stat st;
  mode_t m;
  if (stat(path, &st) == 0) {
    m = st.st_mode & 07777;
  } else if (mode >= 0) {
    m = (mode_t)mode;
  } else {
    mode_t um = umask(0);
    umask(um);
    m = 0666 & ~um;
  }
  if (fchmod(fd, m) || out_write_all(fd, data, n) || fsync(fd)) goto fail_fd;
  if (close(fd)) {
    fd = -1;
    goto fail_fd;
  }
  fd = -1;
  if (rename(tmp, path)) goto fail_fd;
  int dfd = open(slash ? d : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) { /* make the rename itself durable */
    fsync(dfd);
    close(dfd);
  }
  free(dir);
  free(tmp);
  return 0;
fail_fd:
  saved = errno;
  if (fd >= 0) close(fd);
  unlink(tmp);
  errno = saved;
fail:
  saved = errno;
  free(dir);
  free(tmp);
  errno = saved;
  return -1;
}

int fs_mkdir_p(const char *path, mode_t mode) {
  char *p = strdup(path);
  if (!p) {
    errno = ENOMEM;
    return -1;
  }
  size_t n = strlen(p);
  while (n > 1 && p[n - 1] == '/') p[--n] = '\0';
  for (char *s = p + 1;; s++) {
    char c = *s;
    if (c == '/' || c == '\0') {
      *s = '\0';
      if (mkdir(p, mode) != 0 && errno != EEXIST) {
        int e = errno;
        free(p);
        errno = e;
        return -1;
      }
      *s = c;
      if (!c) break;
    }
  }
  struct stat st;
  int rc = stat(p, &st);
  free(p);
  if (rc) return -1;
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return -1;
  }
  return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)ftw;
  return (flag == FTW_DP ? rmdir(p) : unlink(p)) && errno != ENOENT ? -1 : 0;
}

int fs_remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st)) return errno == ENOENT ? 0 : -1;
  if (!S_ISDIR(st.st_mode)) return unlink(path);
  return nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

/* ---- glob walk --------------------------------------------------------- */

typedef struct {
  const char *pattern;
  int (*cb)(void *, const char *);
  void *ud;
  int maxdepth; /* -1: unlimited (the pattern has **) */
  int skip_git; /* .git is a repository's internals, not its files: left out unless named */
} walk;

static int walk_dir(walk *w, buf *path, int depth) {
  DIR *d = opendir(path->len ? path->data : ".");
  if (!d) return 0; /* unreadable directories are skipped, like find */
  size_t base = path->len;
  struct dirent *e;
  int rc = 0;
  while (!rc && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (w->skip_git && !strcmp(e->d_name, ".git")) continue;
    path->len = base;
    if ((base && path->data[base - 1] != '/' && buf_add(path, "/", 1)) || buf_addstr(path, e->d_name)) {
      rc = -1;
      errno = ENOMEM;
      break;
    }
    if (glob_match(w->pattern, path->data)) rc = w->cb(w->ud, path->data);
    int is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st;
      is_dir = lstat(path->data, &st) == 0 && S_ISDIR(st.st_mode);
    }
    if (!rc && is_dir && (w->maxdepth < 0 || depth + 1 < w->maxdepth)) rc = walk_dir(w, path, depth + 1);
  }
  closedir(d);
  path->len = base;
  if (path->data) path->data[base] = '\0';
  return rc;
}

int fs_glob(const char *pattern, int (*cb)(void *, const char *), void *ud) {
  if (!glob_has_magic(pattern)) { /* a plain path: itself, if it exists */
    struct stat st;
    return lstat(pattern, &st) == 0 ? cb(ud, pattern) : 0;
  }
  /* The literal leading directories are where the walk starts. */
  size_t dir = glob_literal_dir(pattern);
  if (!dir && pattern[0] == '/') dir = 1; /* "/x*": the walk starts at the root */
  const char *cut = dir ? pattern + dir + (pattern[dir] == '/') : pattern;
  buf start = {0};
  if (dir && buf_add(&start, pattern, dir)) return -1;
  int segs = 1, deep = 0;
  for (const char *p = cut; *p; p++) segs += *p == '/';
  for (const char *p = strstr(cut, "**"); p; p = strstr(p + 2, "**")) deep = 1;
  walk w = {pattern, cb, ud, deep ? -1 : segs, strstr(pattern, ".git") == NULL};
  int rc = walk_dir(&w, &start, 0);
  buf_free(&start);
  return rc;
}
