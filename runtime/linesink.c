#include "linesink.h"

#include <string.h>

#include "redact.h"

void linesink_init(linesink *ls, line_emit emit, void *ud) {
  memset(ls, 0, sizeof *ls);
  ls->emit = emit;
  ls->ud = ud;
}

/* Emits line[0..n) (redacted); final: the whole of it is known. Returns the
 * number of raw bytes consumed (all when final), or (size_t)-1 / emitter error
 * through *err. */
static size_t emit_piece(linesink *ls, const char *line, size_t n, int eol, int *err) {
  ls->scratch.len = 0;
  size_t used = redact_apply(line, n, &ls->scratch, eol);
  if (used == (size_t)-1) {
    *err = -1;
    return 0;
  }
  if (used || eol) {
    *err = ls->emit(ls->ud, buf_cstr(&ls->scratch), ls->scratch.len, !ls->midline, eol);
    ls->midline = !eol;
  }
  return used;
}

int linesink_feed(linesink *ls, const char *p, size_t n) {
  if (buf_add(&ls->pending, p, n)) return -1;
  char *d = ls->pending.data;
  size_t start = 0, len = ls->pending.len;
  int err = 0;
  for (;;) {
    char *nl = memchr(d + start, '\n', len - start);
    if (!nl) break;
    size_t ln = (size_t)(nl - (d + start));
    if (ln && d[start + ln - 1] == '\r') ln--; /* CRLF from Windows-built tools */
    emit_piece(ls, d + start, ln, 1, &err);
    if (err) return err;
    start = (size_t)(nl - d) + 1;
  }
  if (len - start > LINESINK_MAX) start += emit_piece(ls, d + start, len - start, 0, &err);
  if (err) return err;
  memmove(d, d + start, len - start);
  ls->pending.len = len - start;
  if (ls->pending.data) ls->pending.data[ls->pending.len] = '\0';
  return 0;
}

int linesink_finish(linesink *ls) {
  int err = 0;
  if (ls->pending.len || ls->midline) emit_piece(ls, ls->pending.data, ls->pending.len, 1, &err);
  ls->pending.len = 0;
  return err;
}

void linesink_free(linesink *ls) {
  buf_free(&ls->pending);
  buf_free(&ls->scratch);
}
