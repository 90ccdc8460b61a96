/* Filesystem helpers with no Lua in them: atomic write, mkdir -p, recursive
 * remove, glob walk. Each returns 0, or -1 with errno set. */
#ifndef DRUN_FSUTIL_H
#define DRUN_FSUTIL_H
#include <stddef.h>
#include <sys/types.h>

/* Writes data to path through a temporary file in the same directory, fsync,
 * and rename, so readers see the old or the new content, never half. The
 * file keeps its permissions when it exists; mode (-1: 0666 & ~umask) else. */
int fs_write_atomic(const char *path, const char *data, size_t n, int mode);
int fs_mkdir_p(const char *path, mode_t mode);
int fs_remove_tree(const char *path); /* like rm -rf, without following links */

/* Calls cb for every path under the pattern's literal directory prefix that
 * matches it (symlinked directories are not entered). cb returning non-zero
 * stops the walk and is returned. */
int fs_glob(const char *pattern, int (*cb)(void *ud, const char *path), void *ud);
#endif
