#include "out.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "redact.h"

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

int out_redacted(int fd, const char *s, size_t n) {
  size_t len;
  char *r = redact_dup(s, n, &len);
  if (!r) {
    errno = ENOMEM;
    return -1;
  }
  int rc = out_write_all(fd, r, len);
  free(r);
  return rc;
}
