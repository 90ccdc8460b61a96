/* drun.time: monotonic clock, UTC wall time, interruptible sleep. */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <stdio.h>

#include "guard.h"
#include "heartbeat.h"
#include "lutil.h"
#include "out.h"
#include "proc.h"
#include "signals.h"
#include "utc.h"
#include "loop.h"

static int time_now(lua_State *L) { /* monotonic seconds: for durations */
  lua_pushnumber(L, proc_now());
  return 1;
}

static int time_unix(lua_State *L) { /* wall clock seconds since the epoch */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (double)ts.tv_sec + ts.tv_nsec / 1e9);
  return 1;
}

/* utc([unix_seconds]) -> "2026-11-21T21:42:07Z" */
static int time_utc(lua_State *L) {
  const char *text = utc_text(lua_isnoneornil(L, 1) ? time(NULL) : (time_t)luaL_checknumber(L, 1));
  if (!text) return luaL_argerror(L, 1, "time out of range");
  lua_pushstring(L, text);
  return 1;
}

/* parse("2026-11-21T21:42:07.123Z") -> unix seconds | nil: UTC only, as drun writes it */
static int time_parse(lua_State *L) {
  const char *s = luaL_checkstring(L, 1);
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  int ms = 0, used = 0;
  if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
             &tm.tm_sec, &used) != 6)
    return 0;
  const char *rest = s + used;
  if (*rest == '.') {
    int digits = 0;
    for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
      if (digits < 3) ms = ms * 10 + (*rest - '0');
    while (digits++ < 3) ms *= 10;
  }
  if (strcmp(rest, "Z") != 0) return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  lua_pushnumber(L, (double)timegm(&tm) + ms / 1000.0);
  return 1;
}

/* sleep(seconds): returns early, raising "interrupted", on SIGINT/SIGTERM/
 * SIGHUP (also one that came before); inside a step with a timeout it ends
 * at the step's deadline, raising the step's timeout. */
static int time_sleep(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  if (s < 0) return luaL_argerror(L, 1, "negative duration");
  double end = proc_now() + s;
  int by_deadline = guard_deadline() > 0 && guard_deadline() < end;
  if (by_deadline) end = guard_deadline();
  for (;;) { /* the loop turns meanwhile: spawned children, requests in flight */
    if (signals_caught()) return luaL_error(L, "interrupted");
    double left = end - proc_now();
    if (left <= 0) break;
    lloop_driving(L);
    loop_run_once(left);
  }
  if (by_deadline) return luaL_error(L, "%s", guard_timeout_message());
  return 0;
}

/* heartbeat(fn, every) / heartbeat(nil): fn() every `every` seconds while
 * drun waits for a child or sleeps (the run's lock lease). fn's errors are
 * kept, not raised inside the wait: heartbeat_error() returns the last. */
static lua_State *driving; /* the Lua thread turning the loop: the beat and stream callbacks run on it */

void lloop_driving(lua_State *L) { driving = L; }
lua_State *lloop_driver(void) { return driving; }

static int beat_ref = LUA_NOREF;
static int beat_err_ref = LUA_NOREF;

static void beat(void *ud) {
  (void)ud;
  lua_State *L = driving;
  if (!L || beat_ref == LUA_NOREF) return;
  int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, beat_ref);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    luaL_unref(L, LUA_REGISTRYINDEX, beat_err_ref);
    beat_err_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* pops the error */
  }
  lua_settop(L, top);
}


static int time_heartbeat(lua_State *L) {
  luaL_unref(L, LUA_REGISTRYINDEX, beat_ref);
  beat_ref = LUA_NOREF;
  if (lua_isnoneornil(L, 1)) {
    heartbeat_set(NULL, NULL, 0);
    return 0;
  }
  luaL_checktype(L, 1, LUA_TFUNCTION);
  double every = luaL_checknumber(L, 2);
  if (every <= 0) return luaL_argerror(L, 2, "must be positive");
  lua_pushvalue(L, 1);
  beat_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  heartbeat_set(beat, NULL, every);
  return 0;
}

static int time_heartbeat_error(lua_State *L) {
  if (beat_err_ref == LUA_NOREF) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, beat_err_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, beat_err_ref);
  beat_err_ref = LUA_NOREF;
  return 1;
}

static const luaL_Reg time_funcs[] = {
    {"now", time_now}, {"unix", time_unix}, {"utc", time_utc}, {"parse", time_parse}, {"sleep", time_sleep},
    {"heartbeat", time_heartbeat}, {"heartbeat_error", time_heartbeat_error}, {NULL, NULL},
};

int luaopen_drun_time(lua_State *L) {
  luaL_newlib(L, time_funcs);
  return 1;
}
