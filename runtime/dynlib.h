/* Loading libcurl and libgit2 on first use. Linked normally they cost ~7 ms of
 * dynamic loading at every start, even for recipes that never touch HTTP or
 * git; by soname through dlopen() the cost is paid only when needed. */
#ifndef DRUN_DYNLIB_H
#define DRUN_DYNLIB_H
#include <stddef.h>

/* The library's handle (cached), or NULL with *err naming the library and
 * the loader's message. */
void *dynlib_open(const char *soname, const char **err);
void *dynlib_sym(void *handle, const char *name);

/* A library's functions into typed pointers: each entry names a function
 * and the pointer it fills. 0, or -1 with a message in why. */
typedef struct {
  const char *name;
  void **slot;
} dynlib_entry;

int dynlib_load(const char *what, const char *soname, const dynlib_entry *entries, size_t n, char *why, size_t whylen);
#endif
