#include "git2_api.h"

#include <stdio.h>
#include <stdlib.h>

#include "dynlib.h"

struct git2_api lg2;

static void shutdown_git2(void) { lg2.git_libgit2_shutdown(); } /* its global caches go with it */

int git2_load(const char **err) {
  static int state; /* 0 not tried, 1 loaded, -1 failed */
  static char why[256];
  *err = why;
  if (state) return state > 0 ? 0 : -1;
#define GIT2_ENTRY(name) {#name, (void **)&lg2.name},
  static const dynlib_entry entries[] = {GIT2_FUNCTIONS(GIT2_ENTRY)};
#undef GIT2_ENTRY
  state = -1;
  if (dynlib_load("git", DRUN_GIT2_SONAME, entries, sizeof entries / sizeof *entries, why, sizeof why)) return -1;
  lg2.git_libgit2_init();
  atexit(shutdown_git2);
  state = 1;
  return 0;
}
