#include "version.h"

#include <curl/curl.h>
#include <git2.h>
#include <lua.h>
#include <sqlite3.h>

#include "dynlib.h"
#include "drun_version.h"

const char *drun_version(void) { return DRUN_VERSION; }

/* libcurl and libgit2 are loaded here only to ask them their versions. */
static void add_curl(buf *out) {
  const char *err;
  void *h = dynlib_open(DRUN_CURL_SONAME, &err);
  __typeof__(&curl_version_info) info = (__typeof__(info))dynlib_sym(h, "curl_version_info");
  if (info) buf_addf(out, ", libcurl %s", info(CURLVERSION_NOW)->version);
  else buf_addf(out, ", libcurl unavailable (%s)", h ? "no curl_version_info" : err);
}

static void add_git2(buf *out) {
  const char *err;
  void *h = dynlib_open(DRUN_GIT2_SONAME, &err);
  __typeof__(&git_libgit2_version) ver = (__typeof__(ver))dynlib_sym(h, "git_libgit2_version");
  int a, b, c;
  if (ver && ver(&a, &b, &c) == 0) buf_addf(out, ", libgit2 %d.%d.%d", a, b, c);
  else buf_addf(out, ", libgit2 unavailable (%s)", h ? "no git_libgit2_version" : err);
}

void version_describe(buf *out) {
  buf_addf(out, "drun %s (%s", DRUN_VERSION, LUA_RELEASE);
  add_curl(out);
  add_git2(out);
  buf_addf(out, ", sqlite %s)", sqlite3_libversion());
}
