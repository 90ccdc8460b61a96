/* Who a process is, well enough to tell later whether it is still alive:
 * host name, and "<boot id>:<start time in ticks>" — a pid alone is reused,
 * and after a reboot every pid is new. Lua-free. */
#ifndef DRUN_PROCID_H
#define DRUN_PROCID_H
#include <sys/types.h>

#define PROCID_MAX 96

int procid_host(char *out, size_t n);                   /* gethostname */
int procid_of(pid_t pid, char out[PROCID_MAX]);         /* 0, or -1 when pid does not exist */

/* 1 alive, 0 gone (or its pid now belongs to another process), -1 cannot
 * tell (recorded on another host). */
int procid_alive(const char *host, pid_t pid, const char *ident);

/* A drun killed with -9 cannot stop its children, so every drun marks its
 * environment (DRUN_RUNS: "pid@ident" of itself and the druns above it),
 * which every child inherits. Whoever takes over a dead drun's lock first
 * stops what that drun left running: TERM, then KILL after grace seconds.
 * Returns how many processes it found. */
void procid_mark_self(void);
int procid_kill_leftovers(pid_t pid, const char *ident, double grace);
#endif
