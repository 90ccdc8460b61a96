#include "linesink.h"

#include <string.h>

#include "redact.h"

void linesink_init(linesink *ls, line_emit emit, void *ud) {
  memset(ls, 0, sizeof *ls);
  ls->emit = emit;
  ls->ud = ud;
}

/* A line with a URL in it also has its credentials masked (a push URL with
 * a token, a DATABASE_URL printed by a migration tool). */
static int emit(linesink *ls, const char *text, size_t n, int eol) {
  int bol = !ls->midline;
  ls->midline = !eol;
  if (!redact_find_scheme_sep(text, n)) return ls->emit(ls->ud, text, n, bol, eol);
  ls->urls.len = 0;
  if (redact_url_credentials(text, n, &ls->urls)) return -1;
  return ls->emit(ls->ud, buf_cstr(&ls->urls), ls->urls.len, bol, eol);
}

/* Emits every complete line of the clean (redacted) text, and a piece of an
 * unfinished one past LINESINK_MAX; with final, the rest too. */
static int emit_clean(linesink *ls, int final) {
  char *d = ls->clean.data;
  size_t start = 0, len = ls->clean.len;
  int err = 0;
  while (!err) {
    char *nl = len > start ? memchr(d + start, '\n', len - start) : NULL;
    if (!nl) break;
    size_t ln = (size_t)(nl - (d + start));
    if (ln && d[start + ln - 1] == '\r') ln--; /* CRLF from Windows-built tools */
    err = emit(ls, d + start, ln, 1);
    start = (size_t)(nl - d) + 1;
  }
  if (!err && (len - start > LINESINK_MAX || (final && (len > start || ls->midline)))) {
    err = emit(ls, len > start ? d + start : "", len - start, final);
    start = len;
  }
  if (len > start) memmove(d, d + start, len - start);
  ls->clean.len = len - start;
  if (ls->clean.data) ls->clean.data[ls->clean.len] = '\0';
  return err;
}

/* Redaction runs on the byte stream before it is cut into lines, so a
 * secret that spans lines (a PEM key) is masked whole; what could be the
 * start of a secret stays in pending until the next bytes decide. */
static int redact_pending(linesink *ls, int final) {
  size_t used = redact_apply(ls->pending.data, ls->pending.len, &ls->clean, final);
  if (used == (size_t)-1) return -1;
  if (used < ls->pending.len) memmove(ls->pending.data, ls->pending.data + used, ls->pending.len - used);
  ls->pending.len -= used;
  return 0;
}

int linesink_feed(linesink *ls, const char *p, size_t n) {
  if (buf_add(&ls->pending, p, n) || redact_pending(ls, 0)) return -1;
  return emit_clean(ls, 0);
}

int linesink_finish(linesink *ls) {
  if (redact_pending(ls, 1)) return -1;
  return emit_clean(ls, 1);
}

void linesink_free(linesink *ls) {
  buf_free(&ls->pending);
  buf_free(&ls->clean);
  buf_free(&ls->urls);
}
