/* drun.time: monotonic clock, UTC wall time, interruptible sleep. */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <poll.h>
#include <time.h>

#include "proc.h"
#include "signals.h"

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
  time_t t = lua_isnoneornil(L, 1) ? time(NULL) : (time_t)luaL_checknumber(L, 1);
  struct tm tm;
  char out[32];
  if (!gmtime_r(&t, &tm) || !strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm))
    return luaL_argerror(L, 1, "time out of range");
  lua_pushstring(L, out);
  return 1;
}

/* sleep(seconds): returns early, raising "interrupted", on SIGINT/SIGTERM. */
static int time_sleep(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  if (s < 0) return luaL_argerror(L, 1, "negative duration");
  double end = proc_now() + s;
  int seen = signals_count();
  for (;;) {
    double left = end - proc_now();
    if (left <= 0) break;
    struct pollfd p = {signals_fd(), POLLIN, 0};
    poll(&p, p.fd >= 0 ? 1 : 0, (int)(left * 1000) + 1);
    if (signals_count() != seen) return luaL_error(L, "interrupted");
  }
  return 0;
}

static const luaL_Reg time_funcs[] = {
    {"now", time_now}, {"unix", time_unix}, {"utc", time_utc}, {"sleep", time_sleep}, {NULL, NULL},
};

int luaopen_drun_time(lua_State *L) {
  luaL_newlib(L, time_funcs);
  return 1;
}
