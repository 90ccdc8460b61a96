/* The host: one Lua state per run, everything under lua_pcall with a traceback
 * handler, errors mapped to exit codes (DESIGN.md). */
#ifndef DRUN_HOST_H
#define DRUN_HOST_H

enum {
  EXIT_OK = 0,
  EXIT_STEP_FAILED = 1,
  EXIT_USAGE = 2,
  EXIT_SCRIPT = 3,
  EXIT_LOCKED = 4,
  EXIT_REFUSED = 5,
  EXIT_INTERRUPTED = 130,
};

typedef struct {
  const char *self; /* argv[0] of drun */
  int argc;         /* the arguments after it */
  char **argv;
} host_job;

int host_run(const host_job *job); /* returns the process exit code */
#endif
