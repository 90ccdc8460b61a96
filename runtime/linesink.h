/* Redacts a byte stream, splits it into lines and hands them to an emitter
 * (which adds a step prefix and writes them, or turns them into events).
 * Redaction comes first, so a secret spanning lines is masked whole. Lines
 * longer than LINESINK_MAX are handed on in pieces so a child printing one
 * endless line cannot exhaust memory. */
#ifndef DRUN_LINESINK_H
#define DRUN_LINESINK_H
#include <stddef.h>

#include "buf.h"

#define LINESINK_MAX (64 * 1024)

/* text is redacted, without its newline; bol: starts a line; eol: ends one.
 * Returns 0, or non-zero to stop feeding (the error is passed back). */
typedef int (*line_emit)(void *ud, const char *text, size_t n, int bol, int eol);

typedef struct {
  buf pending; /* raw bytes not yet redacted: the possible start of a secret */
  buf clean;   /* redacted bytes not yet emitted: an unfinished line */
  buf urls;    /* a line with its URLs' credentials masked */
  line_emit emit;
  void *ud;
  int midline; /* a piece of the current line was already emitted */
} linesink;

void linesink_init(linesink *ls, line_emit emit, void *ud);
int linesink_feed(linesink *ls, const char *p, size_t n); /* 0, -1 OOM, or the emitter's error */
int linesink_finish(linesink *ls);                        /* emits an unterminated last line */
void linesink_free(linesink *ls);
#endif
