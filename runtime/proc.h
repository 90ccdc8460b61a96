/* Running a program to completion: argv (no shell), cwd, environment, stdin,
 * timeout with process-group kill, capture of the output's tail and live
 * line streaming at the same time. Lua-free; l_proc.c binds it. */
#ifndef DRUN_PROC_H
#define DRUN_PROC_H
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "linesink.h"

#define PROC_DEFAULT_CAP ((size_t)8 << 20) /* bytes of each stream kept */
#define PROC_DEFAULT_GRACE 5.0             /* seconds between TERM and KILL */

/* Keeps the last cap bytes written to it. */
typedef struct {
  char *data;
  size_t cap, start, len; /* ring: len bytes from start */
  size_t total;           /* bytes seen, kept or not */
} tailbuf;

typedef struct {
  char *const *argv;     /* NULL-terminated, argv[0] looked up in PATH unless it has a '/' */
  const char *cwd;       /* NULL: drun's */
  char *const *envp;     /* NULL: drun's environment */
  const char *stdin_data;/* NULL: /dev/null */
  size_t stdin_len;
  double timeout;        /* seconds; <= 0: none */
  double grace;          /* seconds from TERM to KILL */
  size_t cap;            /* per stream; 0 keeps nothing */
  line_emit emit_out, emit_err; /* live lines (redacted); NULL: not streamed */
  void *emit_ud;
} proc_spec;

typedef struct {
  pid_t pid;
  int code;        /* exit status, or 128+signal when killed by a signal */
  int signal;      /* terminating signal, 0 when it exited */
  int timed_out;   /* we killed it at the deadline */
  int interrupted; /* drun got SIGINT/SIGTERM and killed it */
  int emit_error;  /* the emitter failed; we killed it; its value */
  double duration; /* seconds, monotonic */
  tailbuf out, err;
} proc_result;

/* 0: the program ran (whatever its exit status). -1: it could not be started;
 * *err says why ("wrangler: not found in PATH"). */
int proc_run(const proc_spec *spec, proc_result *res, buf *err);
void proc_result_free(proc_result *res);

/* Appends the kept tail of t to out, in order. */
int tailbuf_get(const tailbuf *t, buf *out);

/* Resolves argv[0] like execvp would, against path (NULL: $PATH):
 * 0 and *out set, or an errno (ENOENT, EACCES) for the message. */
int proc_find_exe(const char *name, const char *path, buf *out);

double proc_now(void); /* CLOCK_MONOTONIC seconds */
#endif
