#include "dynlib.h"

#include <dlfcn.h>
#include <stdio.h>
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

int dynlib_load(const char *what, const char *soname, const dynlib_entry *entries, size_t n, char *why, size_t whylen) {
  const char *e;
  void *h = dynlib_open(soname, &e);
  if (!h) {
    snprintf(why, whylen, "%s: cannot load %s: %s", what, soname[0] ? soname : "the library", e);
    return -1;
  }
  for (size_t i = 0; i < n; i++)
    if (!(*entries[i].slot = dlsym(h, entries[i].name))) {
      snprintf(why, whylen, "%s: %s has no %s", what, soname, entries[i].name);
      return -1;
    }
  return 0;
}
