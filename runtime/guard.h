/* The step guard: what bounds user code. A step's deadline (its timeout) is
 * kept here, in C, so every primitive that waits honours it (sleep, HTTP,
 * health checks, child processes) and not only ctx.run; and a count hook
 * stops pure Lua loops at the deadline or on a signal. Lua-free. */
#ifndef DRUN_GUARD_H
#define DRUN_GUARD_H

void guard_set_deadline(double deadline, double timeout); /* monotonic seconds; 0: none */
double guard_deadline(void);                              /* 0: none */
double guard_timeout(void);                               /* the timeout that set it */
int guard_expired(void);                                  /* a deadline is set and has passed */
/* seconds clamped to what is left before the deadline; with none, seconds
 * (<= 0: no limit). Never below a millisecond once a deadline is set. */
double guard_clamp(double seconds);
/* "step timed out after 5s" */
const char *guard_timeout_message(void);
#endif
