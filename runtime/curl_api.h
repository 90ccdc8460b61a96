/* libcurl, loaded on first use (see dynlib.h): the functions drun calls, as
 * typed pointers filled by dlsym. Call them as lcurl.curl_xxx(...). */
#ifndef DRUN_CURL_API_H
#define DRUN_CURL_API_H
/* curl's type-checking macro for curl_easy_setopt would also rewrite
 * lcurl.curl_easy_setopt(...) calls; its plain fallback leaves them alone. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#define CURL_FUNCTIONS(X) \
  X(curl_global_init) X(curl_global_cleanup) X(curl_easy_init) X(curl_easy_setopt) X(curl_easy_perform) \
  X(curl_easy_getinfo) X(curl_easy_cleanup) X(curl_easy_reset) X(curl_easy_strerror) \
  X(curl_slist_append) X(curl_slist_free_all) X(curl_version_info) \
  X(curl_multi_init) X(curl_multi_setopt) X(curl_multi_add_handle) X(curl_multi_remove_handle) \
  X(curl_multi_socket_action) X(curl_multi_info_read)

#define CURL_POINTER(name) __typeof__(&name) name;
struct curl_api {
  CURL_FUNCTIONS(CURL_POINTER)
};
#undef CURL_POINTER

extern struct curl_api lcurl;

/* Loads libcurl and initialises it once; 0, or -1 with *err set. */
int curl_load(const char **err);
#endif
