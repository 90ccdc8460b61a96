/* Running programs: argv (no shell), cwd, environment, stdin, timeout with
 * process-group kill, capture of the output's tail and live line streaming
 * at the same time. A child is a source of the event loop (loop.h): started
 * with proc_start, it moves on whenever anyone turns the loop, and
 * proc_run is proc_start plus turning the loop until it is done.
 * Lua-free; l_proc.c binds it. */
#ifndef DRUN_PROC_H
#define DRUN_PROC_H
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "linesink.h"
#include "loop.h"

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
  /* stdout is not read while *out_backlog >= backlog_max (a reader that
   * has not taken the lines yet): the child waits on its full pipe */
  const size_t *out_backlog;
  size_t backlog_max;
  int own_deadline_only; /* a background child: the step's deadline does not stop it */
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

typedef struct {
  int fd;
  tailbuf *tail;
  linesink sink;
  int streaming;
} proc_stream;

/* A started child. Lives where the caller put it (a Lua userdata, the
 * stack) until proc_finish or proc_abandon; it must not move meanwhile. */
typedef struct {
  loop_source src; /* first: the loop hands it back as this */
  proc_result res;
  proc_stream so, se;
  int pfd, in_fd, i_out, i_err, i_in, i_pid;
  const char *stdin_data; /* the caller keeps it alive until done */
  size_t stdin_len, in_off;
  double deadline, kill_at, grace, t0;
  int stage, signals_seen, exited, status, done, stop_asked;
  const size_t *out_backlog;
  size_t backlog_max;
  char *chunk;
  size_t chunklen;
} proc_child;

/* 0: started (it runs while the loop turns). -1: it could not be started;
 * *err says why ("wrangler: not found in PATH"). The spec's strings are
 * copied into the child's argv/env by exec; stdin_data is not. */
int proc_start(const proc_spec *spec, proc_child *c, buf *err);
/* exited, reaped, its output taken: proc_finish may be called */
int proc_done(const proc_child *c);
/* TERM to its process group now, KILL after the grace (a cancelled task) */
void proc_stop(proc_child *c);
/* a signal to its process group, while it runs; 0 or an errno */
int proc_signal(proc_child *c, int sig);
/* moves the result out (after proc_done) */
void proc_finish(proc_child *c, proc_result *res);
/* a child nobody waits for any more (its handle collected): KILL to its
 * group, reaped, everything freed */
void proc_abandon(proc_child *c);

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
