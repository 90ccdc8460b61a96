/* drun.core.guard: user code under a guard. While armed, a count hook
 * raises "interrupted" once drun got SIGINT/SIGTERM/SIGHUP (so a pure Lua
 * loop stops too) and the step's timeout message once its deadline passed;
 * it keeps raising at the next instructions, so code that catches the error
 * and carries on is stopped again. Disarmed, nothing is raised from the
 * hook: the recipe engine's own bookkeeping (closing the ledger record,
 * releasing the lock) runs to its end after an interrupt. */
#include <lauxlib.h>
#include <lua.h>
#include <signal.h>

#include "guard.h"
#include "l_guard.h"
#include "proc.h"
#include "signals.h"

#define GUARD_EVERY 1000 /* instructions between checks of the deadline */

static lua_State *running;
static int armed;

static void guard_hook(lua_State *L, lua_Debug *ar);

/* the hook at every call, return and instruction */
static void check_each(lua_State *L) { lua_sethook(L, guard_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1); }

/* Once it raises, it checks at every instruction: code that catches the
 * error in a loop (while true do pcall(f) end) is hit again between its
 * pcalls, so the error reaches the guard. */
static void guard_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  if (!armed) return;
  int stop = signals_caught() != 0, late = !stop && guard_expired();
  if (!stop && !late) return;
  check_each(L);
  if (stop) luaL_error(L, "interrupted");
  luaL_error(L, "%s", guard_timeout_message());
}

static void install(lua_State *L, int every) { lua_sethook(L, guard_hook, LUA_MASKCOUNT, every); }

void guard_attach(lua_State *L, int arm) {
  running = L;
  armed = arm;
  install(L, GUARD_EVERY);
}

void guard_detach(void) {
  if (running) lua_sethook(running, NULL, 0, 0);
  running = NULL;
  armed = 0;
}

/* From the signal handler (async-signal-safe, as lua.c does it): check at
 * the very next instruction. */
void guard_on_signal(int sig) {
  (void)sig;
  if (running) check_each(running);
}

/* run(fn, arg [, timeout]) -> true, results... | false, error: fn(arg) armed,
 * with the step's deadline set for every primitive that waits. */
static int guard_run(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  double timeout = luaL_optnumber(L, 3, 0);
  double prev_deadline = guard_deadline(), prev_timeout = guard_timeout();
  int prev_armed = armed;
  lua_settop(L, 2);
  if (timeout > 0) guard_set_deadline(proc_now() + timeout, timeout);
  armed = 1;
  install(L, GUARD_EVERY);
  int status = lua_pcall(L, 1, LUA_MULTRET, 0);
  armed = prev_armed; /* before any other Lua instruction runs */
  guard_set_deadline(prev_deadline, prev_timeout);
  install(L, GUARD_EVERY); /* back from checking every instruction, if it had come to that */
  lua_pushboolean(L, status == LUA_OK);
  lua_insert(L, 1);
  return lua_gettop(L);
}

/* ---- tasks (drun.task): coroutines that share the loop ----------------
 * A task's thread gets its own count hook: the guard's checks, and a yield
 * back to the scheduler once its time slice is over, so a task stuck in a
 * pure Lua loop cannot keep the others (or its own per-item timeout) from
 * running. Only the task's own thread yields so: a coroutine the recipe
 * made inside a task inherits the hook but not the mark, and is never
 * yielded from under it. */
static char task_mark;
static double slice_end;
static int preempted;

static int is_task(lua_State *L) { return *(void **)lua_getextraspace(L) == &task_mark; }

static void task_hook(lua_State *L, lua_Debug *ar) {
  guard_hook(L, ar);
  if (slice_end > 0 && is_task(L) && lua_isyieldable(L) && proc_now() >= slice_end) {
    preempted = 1;
    lua_yield(L, 0);
  }
}

/* task(co): co runs as a task */
static int guard_task(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argcheck(L, co != NULL, 1, "a coroutine");
  *(void **)lua_getextraspace(co) = &task_mark;
  lua_sethook(co, task_hook, LUA_MASKCOUNT, GUARD_EVERY);
  return 0;
}

/* slice(seconds): the task resumed next may run this long before it is
 * yielded (0: no limit) */
static int guard_slice(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  slice_end = s > 0 ? proc_now() + s : 0;
  preempted = 0;
  return 0;
}

/* preempted() -> bool: the last resume ended because the slice was over */
static int guard_preempted(lua_State *L) {
  lua_pushboolean(L, preempted);
  preempted = 0;
  return 1;
}

/* deadline() -> the step's deadline (monotonic seconds) | nil; expired() */
static int guard_deadline_l(lua_State *L) {
  if (guard_deadline() <= 0) return 0;
  lua_pushnumber(L, guard_deadline());
  lua_pushstring(L, guard_timeout_message());
  return 2;
}

/* signal() -> "SIGINT" | "SIGTERM" | "SIGHUP" | nil: what interrupted drun */
static int guard_signal(lua_State *L) {
  switch (signals_caught()) {
    case 0: return 0;
    case SIGINT: lua_pushliteral(L, "SIGINT"); return 1;
    case SIGTERM: lua_pushliteral(L, "SIGTERM"); return 1;
    case SIGHUP: lua_pushliteral(L, "SIGHUP"); return 1;
    default: lua_pushfstring(L, "signal %d", signals_caught()); return 1;
  }
}

/* disarm(): from here on a signal is only recorded (guard.signal()), never
 * raised into Lua: for a loop that stops itself cleanly (ledger serve) */
static int guard_disarm(lua_State *L) {
  armed = 0;
  install(L, GUARD_EVERY);
  return 0;
}

static const luaL_Reg guard_funcs[] = {
    {"run", guard_run}, {"signal", guard_signal}, {"disarm", guard_disarm}, {"task", guard_task}, {"slice", guard_slice},
    {"preempted", guard_preempted}, {"deadline", guard_deadline_l}, {NULL, NULL},
};

int luaopen_drun_core_guard(lua_State *L) {
  luaL_newlib(L, guard_funcs);
  return 1;
}
