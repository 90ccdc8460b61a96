/* Work due every few seconds while drun waits — for a child process, in a
 * sleep —, such as renewing the lease of the run's lock so a long step does
 * not lose it. One beat at a time; a beat never runs inside another. Lua-free. */
#ifndef DRUN_HEARTBEAT_H
#define DRUN_HEARTBEAT_H

typedef void (*heartbeat_fn)(void *ud);

/* fn every `every` seconds from now on; fn NULL stops it. */
void heartbeat_set(heartbeat_fn fn, void *ud, double every);
/* Runs the beat when it is due (cheap when it is not). */
void heartbeat_due(void);
/* A wait of `wait` seconds (< 0: forever) shortened to end when the next beat is due. */
double heartbeat_cap(double wait);
#endif
