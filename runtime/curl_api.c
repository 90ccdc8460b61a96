#include "curl_api.h"

#include <stdio.h>
#include <stdlib.h>

#include "dynlib.h"

struct curl_api lcurl;

static void cleanup_curl(void) { lcurl.curl_global_cleanup(); }

int curl_load(const char **err) {
  static int state; /* 0 not tried, 1 loaded, -1 failed */
  static char why[256];
  *err = why;
  if (state) return state > 0 ? 0 : -1;
#define CURL_ENTRY(name) {#name, (void **)&lcurl.name},
  static const dynlib_entry entries[] = {CURL_FUNCTIONS(CURL_ENTRY)};
#undef CURL_ENTRY
  state = -1;
  if (dynlib_load("http", DRUN_CURL_SONAME, entries, sizeof entries / sizeof *entries, why, sizeof why)) return -1;
  if (lcurl.curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    snprintf(why, sizeof why, "http: libcurl failed to initialise");
    return -1;
  }
  atexit(cleanup_curl);
  state = 1;
  return 0;
}
