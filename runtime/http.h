/* One HTTP request over libcurl (Lua-free; l_http.c binds it, and the
 * policy — retries, expect, JSON, dry-run — is in stdlib/drun/http.lua).
 * One easy handle serves every request of the process, so connections are
 * kept alive and reused. TLS verification is always on. */
#ifndef DRUN_HTTP_H
#define DRUN_HTTP_H
#include <stddef.h>

#include "buf.h"

#define HTTP_DEFAULT_MAX_BODY ((size_t)64 << 20)

typedef struct {
  const char *method, *url;
  const char *const *headers; /* "Name: value", NULL-terminated, may be NULL */
  const char *body;           /* NULL: none */
  size_t body_len;
  long timeout_ms, connect_timeout_ms; /* 0: none / libcurl's default */
  long max_redirects;         /* 0: do not follow */
  size_t max_body;            /* 0: HTTP_DEFAULT_MAX_BODY */
  const char *ca_bundle;      /* NULL: the system's */
  const char *user_agent;
} http_request;

typedef struct {
  long status;
  buf headers; /* "name: value\n" per header of the final response, names lower-cased */
  buf body;
  char *url;   /* final URL after redirects (malloc'd) */
  double time_ms;
} http_response;

/* Kinds of transport failure, for retry decisions. */
enum { HTTP_OK = 0, HTTP_ERR_CONNECT = 1, HTTP_ERR_TIMEOUT, HTTP_ERR_TLS, HTTP_ERR_DNS, HTTP_ERR_TOO_BIG,
       HTTP_ERR_INTERRUPTED, HTTP_ERR_OTHER };

/* HTTP_OK with *resp filled (any status is a response), or an error kind with
 * a short reason in *err ("connection refused"). */
int http_perform(const http_request *req, http_response *resp, buf *err);
void http_response_free(http_response *resp);

/* How many connections the shared handle has opened so far (for tests). */
long http_connections_opened(void);
#endif
