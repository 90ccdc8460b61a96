#include "curl_api.h"

#include <stdio.h>
#include <stdlib.h>

#include "dynlib.h"

struct curl_api lcurl;

static void cleanup_curl(void) { lcurl.curl_global_cleanup(); }

int curl_load(const char **err) {
  static int state; /* 0 not tried, 1 loaded, -1 failed */
  static char why[256];
  if (state) {
    *err = why;
    return state > 0 ? 0 : -1;
  }
  const char *e;
  void *h = dynlib_open(DRUN_CURL_SONAME, &e);
  if (!h) {
    snprintf(why, sizeof why, "http: cannot load libcurl (%s): %s", DRUN_CURL_SONAME, e);
    state = -1;
    *err = why;
    return -1;
  }
#define CURL_RESOLVE(name)                                                              \
  if (!(lcurl.name = (__typeof__(lcurl.name))dynlib_sym(h, #name))) {                   \
    snprintf(why, sizeof why, "http: libcurl (%s) has no %s", DRUN_CURL_SONAME, #name); \
    state = -1;                                                                         \
    *err = why;                                                                         \
    return -1;                                                                          \
  }
  CURL_FUNCTIONS(CURL_RESOLVE)
#undef CURL_RESOLVE
  if (lcurl.curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    snprintf(why, sizeof why, "http: libcurl failed to initialise");
    state = -1;
    *err = why;
    return -1;
  }
  atexit(cleanup_curl);
  state = 1;
  return 0;
}
