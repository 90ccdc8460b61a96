#include "git2_api.h"

#include <stdio.h>
#include <stdlib.h>

#include "dynlib.h"

struct git2_api lg2;

static void shutdown_git2(void) { lg2.git_libgit2_shutdown(); }

int git2_load(const char **err) {
  static int state; /* 0 not tried, 1 loaded, -1 failed */
  static char why[256];
  if (state) {
    *err = why;
    return state > 0 ? 0 : -1;
  }
  const char *e;
  void *h = dynlib_open(DRUN_GIT2_SONAME, &e);
  if (!h) {
    snprintf(why, sizeof why, "git: cannot load libgit2 (%s): %s", DRUN_GIT2_SONAME, e);
    state = -1;
    *err = why;
    return -1;
  }
#define GIT2_RESOLVE(name)                                                             \
  if (!(lg2.name = (__typeof__(lg2.name))dynlib_sym(h, #name))) {                      \
    snprintf(why, sizeof why, "git: libgit2 (%s) has no %s", DRUN_GIT2_SONAME, #name); \
    state = -1;                                                                        \
    *err = why;                                                                        \
    return -1;                                                                         \
  }
  GIT2_FUNCTIONS(GIT2_RESOLVE)
#undef GIT2_RESOLVE
  lg2.git_libgit2_init();
  atexit(shutdown_git2); /* libgit2's global caches go with it */
  state = 1;
  return 0;
}
