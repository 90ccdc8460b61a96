#include "http.h"
#include "guard.h"
#include "out.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "curl_api.h"
#include "signals.h"

static CURL *easy; /* one handle: its connection cache gives keep-alive */
static long opened;

long http_connections_opened(void) { return opened; }

typedef struct {
  http_response *resp;
  size_t max;
  int too_big;
} transfer;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  transfer *t = ud;
  size_t len = size * n;
  if (t->resp->body.len + len > t->max) {
    t->too_big = 1;
    return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
  }
  return buf_add(&t->resp->body, p, len) ? 0 : len;
}

/* Keeps the headers of the final response only: each status line (a
 * redirect, a 100 Continue) starts the list again. */
static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  transfer *t = ud;
  size_t len = size * n;
  buf *h = &t->resp->headers;
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    h->len = 0;
    if (h->data) h->data[0] = '\0';
    return len;
  }
  const char *colon = memchr(p, ':', len);
  if (!colon) return len; /* the blank line ending the headers */
  size_t nl = (size_t)(colon - p);
  const char *v = colon + 1, *end = p + len;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
  for (size_t i = 0; i < nl; i++) buf_addf(h, "%c", tolower((unsigned char)p[i]));
  buf_addstr(h, ": ");
  buf_add(h, v, (size_t)(end - v));
  buf_addstr(h, "\n");
  return len;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
  (void)a, (void)b, (void)c, (void)d;
  (void)ud;
  return signals_caught() != 0; /* non-zero: abort (Ctrl-C, SIGTERM, SIGHUP; also one before the request) */
}

static int kind(buf *err, int k, const char *fmt, const char *detail) {
  err->len = 0;
  buf_addf(err, fmt, detail);
  return k;
}

int http_perform(const http_request *req, http_response *resp, buf *err) {
  memset(resp, 0, sizeof *resp);
  const char *why;
  if (curl_load(&why)) return kind(err, HTTP_ERR_OTHER, "%s", why);
  if (!easy && !(easy = lcurl.curl_easy_init())) return kind(err, HTTP_ERR_OTHER, "%s", "cannot create a libcurl handle");
  lcurl.curl_easy_reset(easy); /* options go; the connection cache stays */

  transfer t = {resp, req->max_body ? req->max_body : HTTP_DEFAULT_MAX_BODY, 0};
  char errbuf[CURL_ERROR_SIZE] = "";
  struct curl_slist *headers = NULL;
  for (const char *const *h = req->headers; h && *h; h++) headers = lcurl.curl_slist_append(headers, *h);
  headers = lcurl.curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */

  CURL *c = easy;
  lcurl.curl_easy_setopt(c, CURLOPT_URL, req->url);
  lcurl.curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  lcurl.curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  const char *m = req->method ? req->method : "GET";
  if (!strcmp(m, "HEAD")) lcurl.curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  else if (strcmp(m, "GET") != 0 || req->body) lcurl.curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
  if (req->body) {
    lcurl.curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    lcurl.curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
  }
  lcurl.curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  lcurl.curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  lcurl.curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  lcurl.curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  lcurl.curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  lcurl.curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  lcurl.curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  lcurl.curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  lcurl.curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  lcurl.curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  lcurl.curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  lcurl.curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L); /* never turned off */
  lcurl.curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (req->ca_bundle) lcurl.curl_easy_setopt(c, CURLOPT_CAINFO, req->ca_bundle);
  if (req->user_agent) lcurl.curl_easy_setopt(c, CURLOPT_USERAGENT, req->user_agent);
  /* inside a step with a timeout, no request outlives the step */
  long timeout_ms = (long)(guard_clamp(req->timeout_ms > 0 ? req->timeout_ms / 1000.0 : 0) * 1000);
  int by_step = guard_deadline() > 0 && (req->timeout_ms <= 0 || timeout_ms < req->timeout_ms);
  if (timeout_ms > 0) lcurl.curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  if (req->connect_timeout_ms > 0) lcurl.curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
  if (req->max_redirects > 0) {
    lcurl.curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    lcurl.curl_easy_setopt(c, CURLOPT_MAXREDIRS, req->max_redirects);
  }

  out_flush(); /* shown before drun waits on the network */
  CURLcode rc = lcurl.curl_easy_perform(c);
  lcurl.curl_slist_free_all(headers);
  long connects = 0;
  lcurl.curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
  opened += connects;
  curl_off_t total_us = 0;
  lcurl.curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &total_us);
  resp->time_ms = (double)total_us / 1000.0;
  char *final = NULL;
  lcurl.curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &final);
  resp->url = strdup(final ? final : req->url);
  lcurl.curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);

  const char *detail = errbuf[0] ? errbuf : lcurl.curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_OK: return HTTP_OK;
    case CURLE_COULDNT_CONNECT: {
      long os_errno = 0; /* the reason in words: "connection refused" */
      lcurl.curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
      if (os_errno) return kind(err, HTTP_ERR_CONNECT, "%s", os_errno == ECONNREFUSED ? "connection refused" : strerror((int)os_errno));
      return kind(err, HTTP_ERR_CONNECT, "cannot connect (%s)", detail);
    }
    case CURLE_GOT_NOTHING: return kind(err, HTTP_ERR_CONNECT, "%s", "the server closed the connection without answering");
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR: return kind(err, HTTP_ERR_CONNECT, "connection broken (%s)", detail);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return kind(err, HTTP_ERR_DNS, "cannot resolve the host (%s)", detail);
    case CURLE_OPERATION_TIMEDOUT:
      if (by_step) return kind(err, HTTP_ERR_TIMEOUT, "%s", guard_timeout_message());
      return kind(err, HTTP_ERR_TIMEOUT, "timed out (%s)", detail);
    case CURLE_ABORTED_BY_CALLBACK: return kind(err, HTTP_ERR_INTERRUPTED, "%s", "interrupted");
    case CURLE_WRITE_ERROR:
      if (t.too_big) {
        char limit[32];
        snprintf(limit, sizeof limit, "%zu", t.max);
        return kind(err, HTTP_ERR_TOO_BIG, "the response body is larger than max_body (%s bytes)", limit);
      }
      return kind(err, HTTP_ERR_OTHER, "%s", "out of memory reading the body");
    case CURLE_PARTIAL_FILE:
      return kind(err, HTTP_ERR_CONNECT, "the connection closed before the whole body arrived (%s)", detail);
    case CURLE_TOO_MANY_REDIRECTS: return kind(err, HTTP_ERR_OTHER, "too many redirects (%s)", detail);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE: return kind(err, HTTP_ERR_TLS, "TLS: %s", detail);
    default: return kind(err, HTTP_ERR_OTHER, "%s", detail);
  }
}

void http_response_free(http_response *resp) {
  buf_free(&resp->headers);
  buf_free(&resp->body);
  free(resp->url);
  resp->url = NULL;
}
