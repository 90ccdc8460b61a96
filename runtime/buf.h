/* A growable byte buffer for data from outside (no fixed-size buffers). */
#ifndef DRUN_BUF_H
#define DRUN_BUF_H
#include <stddef.h>

typedef struct {
  char *data; /* always NUL-terminated when len > 0 or after buf_cstr */
  size_t len, cap;
} buf;

int buf_reserve(buf *b, size_t extra); /* 0 ok, -1 out of memory */
int buf_add(buf *b, const void *p, size_t n);
int buf_addstr(buf *b, const char *s);
int buf_addf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *buf_cstr(buf *b); /* "" for an empty buffer */
void buf_free(buf *b);
#endif
