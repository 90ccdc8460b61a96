#include "out.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proc.h"
#include "redact.h"

#define OUT_BUFFER (64 * 1024)
#define OUT_MAX_AGE 0.05 /* seconds a line may wait in the buffer */

static int buffered[3];
static double last_flush;

static void flush_at_exit(void) { out_flush(); }

void out_init(void) {
  static int done;
  if (done) return;
  done = 1;
  if (!isatty(1)) buffered[1] = setvbuf(stdout, NULL, _IOFBF, OUT_BUFFER) == 0;
  if (!isatty(2)) buffered[2] = setvbuf(stderr, NULL, _IOFBF, OUT_BUFFER) == 0;
  last_flush = proc_now();
  atexit(flush_at_exit);
}

int out_write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

int out_flush(void) {
  last_flush = proc_now();
  int rc = 0;
  if (fflush(stdout)) rc = -1;
  if (fflush(stderr)) rc = -1;
  return rc;
}

int out_redacted(int fd, const char *s, size_t n) {
  static buf r, tmp; /* reused: a line a child prints costs no allocation */
  if (redact_text(s, n, &r, &tmp)) {
    errno = ENOMEM;
    return -1;
  }
  const char *text = buf_cstr(&r);
  size_t len = r.len;
  if (fd != 1 && fd != 2) return out_write_all(fd, text, len);
  FILE *f = fd == 2 ? stderr : stdout;
  int rc = fwrite(text, 1, len, f) == len ? 0 : -1;
  if (!buffered[fd] || proc_now() - last_flush > OUT_MAX_AGE) out_flush();
  if (ferror(f)) rc = -1; /* this stream's reader went away (EPIPE), or its disk is full */
  return rc;
}
