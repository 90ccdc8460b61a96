/* The host's side of drun.core.guard (l_guard.c). */
#ifndef DRUN_L_GUARD_H
#define DRUN_L_GUARD_H
#include <lua.h>

void guard_attach(lua_State *L, int armed); /* the running state; armed: user code (a script) */
void guard_detach(void);
void guard_on_signal(int sig); /* the hook signals_install() calls */
#endif
