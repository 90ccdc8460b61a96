#include "dynlib.h"

#include <dlfcn.h>
#include <string.h>

#define MAX_LIBS 8

static struct {
  const char *soname;
  void *handle;
} libs[MAX_LIBS];

void *dynlib_open(const char *soname, const char **err) {
  int i;
  for (i = 0; i < MAX_LIBS && libs[i].soname; i++)
    if (!strcmp(libs[i].soname, soname)) return libs[i].handle;
  if (!soname[0]) {
    *err = "library was not found at build time (pkg-config)";
    return NULL;
  }
  void *h = dlopen(soname, RTLD_LAZY | RTLD_LOCAL); /* every function drun calls is dlsym()ed at load */
  if (!h) {
    *err = dlerror();
    return NULL;
  }
  if (i < MAX_LIBS) libs[i].soname = soname, libs[i].handle = h;
  return h;
}

void *dynlib_sym(void *handle, const char *name) { return handle ? dlsym(handle, name) : NULL; }
