#include "http.h"
#include "guard.h"
#include "out.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "curl_api.h"
#include "loop.h"
#include "proc.h"
#include "signals.h"

static CURLM *multi;
static long opened;
static int inflight;
#define POOL 16
static CURL *pool[POOL]; /* finished easy handles, reset and reused */
static int npool;

long http_connections_opened(void) { return opened; }

typedef struct {
  http_response *resp;
  size_t max;
  int too_big;
} transfer;

struct http_transfer {
  CURL *easy;
  transfer t;
  http_response resp;
  struct curl_slist *headers;
  char errbuf[CURL_ERROR_SIZE];
  int by_step, done;
  CURLcode rc;
};

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

static int map_result(CURL *c, CURLcode rc, const transfer *t, const char *errbuf, int by_step, buf *err) {
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
      if (t->too_big) {
        char limit[32];
        snprintf(limit, sizeof limit, "%zu", t->max);
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

/* ---- the multi handle as a loop source: the sockets curl asks us to watch
 * (CURLMOPT_SOCKETFUNCTION) and its one timer (CURLMOPT_TIMERFUNCTION) ---- */

typedef struct {
  curl_socket_t fd;
  int what; /* CURL_POLL_IN / OUT / INOUT */
} watched;

static watched *socks;
static int nsocks, capsocks;
static double timer_at; /* monotonic; 0: none */
static loop_source src;
static int src_on; /* on the loop while requests are in flight */

static void src_sync(void) {
  if (inflight > 0 && !src_on) loop_add(&src), src_on = 1;
  else if (inflight == 0 && src_on) loop_remove(&src), src_on = 0;
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp) {
  (void)e, (void)userp, (void)socketp;
  int i = 0;
  while (i < nsocks && socks[i].fd != fd) i++;
  if (what == CURL_POLL_REMOVE) {
    if (i < nsocks) socks[i] = socks[--nsocks];
    return 0;
  }
  if (i == nsocks) {
    if (nsocks == capsocks) {
      int nc = capsocks ? capsocks * 2 : 8;
      watched *ns = realloc(socks, sizeof *ns * (size_t)nc);
      if (!ns) return -1;
      socks = ns, capsocks = nc;
    }
    nsocks++;
  }
  socks[i] = (watched){fd, what};
  return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp) {
  (void)m, (void)userp;
  timer_at = timeout_ms < 0 ? 0 : proc_now() + (double)timeout_ms / 1000.0;
  return 0;
}

static int multi_want(loop_source *s, struct pollfd *fds, int max, double *wake_at) {
  (void)s;
  for (int i = 0; i < nsocks && i < max; i++) {
    short ev = 0;
    if (socks[i].what & CURL_POLL_IN) ev |= POLLIN;
    if (socks[i].what & CURL_POLL_OUT) ev |= POLLOUT;
    fds[i] = (struct pollfd){socks[i].fd, ev, 0};
  }
  if (timer_at > 0) *wake_at = timer_at;
  return nsocks;
}

static void collect(void) {
  CURLMsg *msg;
  int left;
  while ((msg = lcurl.curl_multi_info_read(multi, &left))) {
    if (msg->msg != CURLMSG_DONE) continue;
    http_transfer *t = NULL;
    lcurl.curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
    CURLcode rc = msg->data.result;
    lcurl.curl_multi_remove_handle(multi, msg->easy_handle); /* msg is gone after this */
    inflight--; /* the source leaves the loop in src_sync, outside its own service */
    if (t) {
      t->rc = rc;
      t->done = 1;
    }
  }
}

static void multi_service(loop_source *s, struct pollfd *fds, int n) {
  (void)s;
  int running = 0;
  /* a copy: curl changes the watched set from inside socket_action */
  struct pollfd *ready = n ? malloc(sizeof *ready * (size_t)n) : NULL;
  int nready = 0;
  for (int i = 0; i < n && ready; i++)
    if (fds[i].revents) ready[nready++] = fds[i];
  for (int i = 0; i < nready; i++) {
    int ev = 0;
    if (ready[i].revents & POLLIN) ev |= CURL_CSELECT_IN;
    if (ready[i].revents & POLLOUT) ev |= CURL_CSELECT_OUT;
    if (ready[i].revents & (POLLERR | POLLHUP | POLLNVAL)) ev |= CURL_CSELECT_ERR;
    lcurl.curl_multi_socket_action(multi, ready[i].fd, ev, &running);
  }
  free(ready);
  if (timer_at > 0 && proc_now() >= timer_at) {
    timer_at = 0;
    lcurl.curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
  }
  collect();
}

static int multi_ready(buf *err) {
  const char *why;
  if (curl_load(&why)) return kind(err, HTTP_ERR_OTHER, "%s", why);
  if (multi) return 0;
  if (!(multi = lcurl.curl_multi_init())) return kind(err, HTTP_ERR_OTHER, "%s", "cannot create a libcurl multi handle");
  lcurl.curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  lcurl.curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
  src.want = multi_want;
  src.service = multi_service;
  return 0;
}

int http_start(const http_request *req, http_transfer **out, buf *err) {
  *out = NULL;
  int k = multi_ready(err);
  if (k) return k;
  http_transfer *x = calloc(1, sizeof *x);
  if (!x) return kind(err, HTTP_ERR_OTHER, "%s", "out of memory");
  x->easy = npool ? pool[--npool] : lcurl.curl_easy_init();
  if (!x->easy) {
    free(x);
    return kind(err, HTTP_ERR_OTHER, "%s", "cannot create a libcurl handle");
  }
  x->t = (transfer){&x->resp, req->max_body ? req->max_body : HTTP_DEFAULT_MAX_BODY, 0};
  for (const char *const *h = req->headers; h && *h; h++) x->headers = lcurl.curl_slist_append(x->headers, *h);
  x->headers = lcurl.curl_slist_append(x->headers, "Expect:"); /* no 100-continue round trip */

  CURL *c = x->easy;
  lcurl.curl_easy_setopt(c, CURLOPT_PRIVATE, (char *)x);
  lcurl.curl_easy_setopt(c, CURLOPT_URL, req->url);
  lcurl.curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  lcurl.curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  const char *m = req->method ? req->method : "GET";
  if (!strcmp(m, "HEAD")) lcurl.curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  else if (strcmp(m, "GET") != 0 || req->body) lcurl.curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
  if (req->body) { /* copied: the caller's string may go before the transfer ends */
    lcurl.curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    lcurl.curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, req->body);
  }
  lcurl.curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->headers);
  lcurl.curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  lcurl.curl_easy_setopt(c, CURLOPT_WRITEDATA, &x->t);
  lcurl.curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  lcurl.curl_easy_setopt(c, CURLOPT_HEADERDATA, &x->t);
  lcurl.curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  lcurl.curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  lcurl.curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x->t);
  lcurl.curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
  lcurl.curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  lcurl.curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  lcurl.curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L); /* never turned off */
  lcurl.curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (req->ca_bundle) lcurl.curl_easy_setopt(c, CURLOPT_CAINFO, req->ca_bundle);
  if (req->user_agent) lcurl.curl_easy_setopt(c, CURLOPT_USERAGENT, req->user_agent);
  /* inside a step with a timeout, no request outlives the step */
  long timeout_ms = (long)(guard_clamp(req->timeout_ms > 0 ? req->timeout_ms / 1000.0 : 0) * 1000);
  x->by_step = guard_deadline() > 0 && (req->timeout_ms <= 0 || timeout_ms < req->timeout_ms);
  if (timeout_ms > 0) lcurl.curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  if (req->connect_timeout_ms > 0) lcurl.curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
  if (req->max_redirects > 0) {
    lcurl.curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    lcurl.curl_easy_setopt(c, CURLOPT_MAXREDIRS, req->max_redirects);
  }
  if (lcurl.curl_multi_add_handle(multi, c) != CURLM_OK) {
    x->done = 1; /* never added: nothing to remove */
    http_discard(x);
    return kind(err, HTTP_ERR_OTHER, "%s", "cannot start the request (libcurl)");
  }
  inflight++;
  src_sync();
  *out = x;
  return HTTP_OK;
}

int http_done(const http_transfer *t) { return t->done; }

/* off the multi handle, if still on it */
static void detach(http_transfer *x) {
  if (x->done) return;
  lcurl.curl_multi_remove_handle(multi, x->easy);
  inflight--;
  x->done = 1;
  src_sync();
}

static void release(http_transfer *x) {
  detach(x);
  src_sync(); /* also when collect() finished it: the last one leaves the loop */
  if (x->easy) {
    lcurl.curl_easy_reset(x->easy); /* options go; the multi handle keeps the connections */
    if (npool < POOL) pool[npool++] = x->easy;
    else lcurl.curl_easy_cleanup(x->easy);
    x->easy = NULL;
  }
  lcurl.curl_slist_free_all(x->headers);
  x->headers = NULL;
}

void http_cancel(http_transfer *x) {
  if (x->done) return;
  detach(x);
  x->rc = CURLE_ABORTED_BY_CALLBACK;
}

void http_discard(http_transfer *x) {
  if (!x) return;
  release(x);
  http_response_free(&x->resp);
  free(x);
}

int http_finish(http_transfer *x, http_response *resp, buf *err) {
  CURL *c = x->easy;
  *resp = x->resp;
  memset(&x->resp, 0, sizeof x->resp);
  long connects = 0;
  lcurl.curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
  opened += connects;
  curl_off_t total_us = 0;
  lcurl.curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &total_us);
  resp->time_ms = (double)total_us / 1000.0;
  char *final = NULL;
  lcurl.curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &final);
  resp->url = strdup(final ? final : "");
  lcurl.curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
  int k = map_result(c, x->rc, &x->t, x->errbuf, x->by_step, err);
  http_discard(x);
  return k;
}

int http_perform(const http_request *req, http_response *resp, buf *err) {
  memset(resp, 0, sizeof *resp);
  http_transfer *x;
  int k = http_start(req, &x, err);
  if (k) return k;
  while (!http_done(x)) loop_run_once(-1);
  return http_finish(x, resp, err);
}

void http_response_free(http_response *resp) {
  buf_free(&resp->headers);
  buf_free(&resp->body);
  free(resp->url);
  resp->url = NULL;
}
