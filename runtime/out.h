/* Writing to the terminal: every byte drun itself prints goes through here.
 *
 * To a terminal each write goes out at once. To a pipe or a file, stdout and
 * stderr are buffered (a child printing a million lines would otherwise cost
 * a write(2) per line, twice under --json) and flushed when 64 KiB are
 * waiting, when the last flush is 50 ms old, whenever drun is about to wait
 * (for a child, a sleep, a request: out_flush), and at exit. Output goes
 * through stdio's own FILE buffers, so it stays in order with io.write;
 * between stdout and stderr (both buffered only when neither is a
 * terminal), order holds at each flush, not line by line. */
#ifndef DRUN_OUT_H
#define DRUN_OUT_H
#include <stddef.h>

void out_init(void);                                /* once, before any output */
int out_write_all(int fd, const void *p, size_t n); /* unbuffered; 0, or -1 with errno */
int out_redacted(int fd, const char *s, size_t n);  /* writes s with secrets masked; 0, or -1 with errno */
int out_flush(void);                                /* 0, or -1 with errno (a reader gone) */
#endif
