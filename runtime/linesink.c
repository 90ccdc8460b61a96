#include "linesink.h"

#include <string.h>

#include "redact.h"

void linesink_init(linesink *ls, line_emit emit, void *ud) {
  memset(ls, 0, sizeof *ls);
  ls->emit = emit;
  ls->ud = ud;
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
    err = ls->emit(ls->ud, d + start, ln, !ls->midline, 1);
    ls->midline = 0;
    start = (size_t)(nl - d) + 1;
  }
  if (!err && (len - start > LINESINK_MAX || (final && (len > start || ls->midline)))) {
    err = ls->emit(ls->ud, len > start ? d + start : "", len - start, !ls->midline, final);
    ls->midline = !final;
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
}
