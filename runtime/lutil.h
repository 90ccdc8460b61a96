/* Small helpers for the Lua bindings: setting a field of the table at the
 * top of the stack. */
#ifndef DRUN_LUTIL_H
#define DRUN_LUTIL_H
#include <lauxlib.h>
#include <lua.h>

#include "buf.h"

static inline void setfield_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}
static inline void setfield_num(lua_State *L, const char *k, lua_Number v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}
static inline void setfield_bool(lua_State *L, const char *k, int v) {
  lua_pushboolean(L, v);
  lua_setfield(L, -2, k);
}
static inline void setfield_str(lua_State *L, const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

/* The thread turning the event loop (loop.h) now: drun.time's heartbeat
 * and the stream callbacks of children run on it. Every binding that turns
 * the loop says so first (l_time.c keeps it). */
void lloop_driving(lua_State *L);
lua_State *lloop_driver(void);

/* A handle's metatable: the methods as __index, close as both __gc and
 * __close (idempotent), and __tostring. Leaves nothing on the stack. */
static inline void register_handle(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction close,
                                   lua_CFunction tostring) {
  luaL_newmetatable(L, name);
  lua_newtable(L); /* not luaL_newlib: it takes sizeof of an array, and methods is a pointer here */
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, close);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}

/* The raw primitives' failure: nil and the message in err (which is freed). */
static inline int push_failure(lua_State *L, buf *err) {
  lua_pushnil(L);
  lua_pushstring(L, err->len ? buf_cstr(err) : "failed");
  buf_free(err);
  return 2;
}
#endif
