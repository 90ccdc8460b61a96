/* SIGINT/SIGTERM/SIGHUP handling for the whole process: the handler records
 * the signal and wakes whoever polls signals_fd() (the process runner, sleep),
 * and calls an optional hook (the host uses it to stop running Lua code). */
#ifndef DRUN_SIGNALS_H
#define DRUN_SIGNALS_H

void signals_install(void (*hook)(int sig)); /* also ignores SIGPIPE */
int signals_fd(void);                        /* readable once a signal arrived; -1 before install */
int signals_caught(void);                    /* first signal caught, 0 if none */
int signals_count(void);                     /* how many arrived (a second Ctrl-C escalates) */
#endif
