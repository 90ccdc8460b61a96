/* Writing to the terminal: every byte drun itself prints goes through here. */
#ifndef DRUN_OUT_H
#define DRUN_OUT_H
#include <stddef.h>

int out_write_all(int fd, const void *p, size_t n); /* 0, or -1 with errno */
int out_redacted(int fd, const char *s, size_t n);  /* writes s with secrets masked; 0, or -1 with errno */
#endif
