/* One event loop for the whole process. Every child's pidfd and pipes,
 * libcurl's sockets and timers, the signal pipe and the heartbeat are waited
 * on in one poll(): a source says what it waits for (want) and handles what
 * happened (service). A blocking call (proc_run, http_perform, sleep) turns
 * the loop until its own work is done, so everything else in flight (a
 * spawned poller, the other tasks' children) moves on meanwhile; drun's task
 * scheduler turns it while every task waits. Lua-free. */
#ifndef DRUN_LOOP_H
#define DRUN_LOOP_H
#include <poll.h>

typedef struct loop_source loop_source;
struct loop_source {
  /* Fills up to max pollfds and returns how many it needs (more than max:
   * called again with room). *wake_at: the monotonic time it wants a
   * service call by, even without I/O (left alone: none). */
  int (*want)(loop_source *s, struct pollfd *fds, int max, double *wake_at);
  /* After the wait, with the fds it asked for (revents set); also when its
   * wake time came. */
  void (*service)(loop_source *s, struct pollfd *fds, int n);
  loop_source *prev, *next;
  int busy; /* being serviced: a wait nested inside its service skips it */
};

void loop_add(loop_source *s);
void loop_remove(loop_source *s);
/* One round: waits at most timeout seconds (< 0: until something happens
 * or a source's wake time), then services what is ready. Returns early when
 * drun gets a signal. */
void loop_run_once(double timeout);
/* How many sources are registered (children, transfers): for tests. */
int loop_sources(void);
#endif
