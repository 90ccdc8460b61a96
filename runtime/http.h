/* HTTP requests over libcurl's multi interface (Lua-free; l_http.c binds
 * it, and the policy — retries, expect, JSON, dry-run — is in
 * stdlib/drun/http.lua). Every request of the process goes through one multi
 * handle, a source of the event loop (loop.h): its connection cache keeps
 * connections alive and reused, and many requests are in flight at once
 * while the loop turns. TLS verification is always on. */
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

typedef struct http_transfer http_transfer;

/* Starts a request (it moves while the loop turns): 0, or an error kind
 * with *err set. The request's strings and body are copied. */
int http_start(const http_request *req, http_transfer **out, buf *err);
int http_done(const http_transfer *t);
/* After http_done: HTTP_OK with *resp filled (any status is a response),
 * or an error kind with a short reason in *err ("connection refused").
 * Frees the transfer. */
int http_finish(http_transfer *t, http_response *resp, buf *err);
/* Stops a request in flight (a cancelled task): done, as interrupted. */
void http_cancel(http_transfer *t);
/* Frees a transfer whether done or not (its handle collected). */
void http_discard(http_transfer *t);

/* start + turn the loop until done + finish */
int http_perform(const http_request *req, http_response *resp, buf *err);
void http_response_free(http_response *resp);

/* How many connections the shared handle has opened so far (for tests). */
long http_connections_opened(void);
#endif
