/* What `require` can find: the C modules, the stdlib (embedded, or from
 * $DRUN_STDLIB_DIR), and the running script's own folder and its lib/. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "modules.h"
#include "version.h"

int luaopen_drun_core_proc(lua_State *L);
int luaopen_drun_core_fs(lua_State *L);
int luaopen_drun_core_out(lua_State *L);
int luaopen_drun_json(lua_State *L);
int luaopen_drun_env(lua_State *L);
int luaopen_drun_time(lua_State *L);
int luaopen_drun_core_ledger(lua_State *L);
int luaopen_drun_core_git(lua_State *L);
int luaopen_drun_core_http(lua_State *L);
int luaopen_drun_core_guard(lua_State *L);

/* drun.core.build: facts fixed at build time. */
static int luaopen_drun_core_build(lua_State *L) {
  lua_newtable(L);
  lua_pushstring(L, drun_version());
  lua_setfield(L, -2, "version");
  return 1;
}

static const luaL_Reg c_modules[] = {
    {"drun.core.build", luaopen_drun_core_build},
    {"drun.core.proc", luaopen_drun_core_proc},
    {"drun.core.fs", luaopen_drun_core_fs},
    {"drun.core.out", luaopen_drun_core_out},
    {"drun.json", luaopen_drun_json},
    {"drun.env", luaopen_drun_env},
    {"drun.time", luaopen_drun_time},
    {"drun.core.ledger", luaopen_drun_core_ledger},
    {"drun.core.git", luaopen_drun_core_git},
    {"drun.core.http", luaopen_drun_core_http},
    {"drun.core.guard", luaopen_drun_core_guard},
    {NULL, NULL},
};

/* preload loader for an embedded module: bytecode, loaded when first required. */
static int load_embedded(lua_State *L) {
  const struct drun_embedded *m = lua_touserdata(L, lua_upvalueindex(1));
  if (luaL_loadbufferx(L, m->data, m->size, m->chunkname, "b") != LUA_OK) return lua_error(L);
  lua_pushstring(L, m->module);
  lua_pushstring(L, m->chunkname + 1);
  lua_call(L, 2, 1);
  return 1;
}

/* package.path = DIR/?.lua;DIR/?/init.lua;<old> */
static void prepend_path(lua_State *L, const char *dir) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
  lua_setfield(L, -3, "path");
  lua_pop(L, 2);
}

void modules_register(lua_State *L, const char *script) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const luaL_Reg *m = c_modules; m->name; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  const char *dir = getenv("DRUN_STDLIB_DIR");
  if (!dir || !*dir)
    for (const struct drun_embedded *m = drun_stdlib; m->module; m++) {
      lua_pushlightuserdata(L, (void *)m);
      lua_pushcclosure(L, load_embedded, 1);
      lua_setfield(L, -2, m->module);
    }
  lua_pop(L, 1);

  /* Searched first to last: script dir, its lib/, then the stdlib on disk. */
  if (dir && *dir) prepend_path(L, dir);
  if (script) {
    const char *slash = strrchr(script, '/');
    if (slash) lua_pushlstring(L, script, (size_t)(slash - script));
    else lua_pushliteral(L, ".");
    const char *sd = lua_tostring(L, -1);
    lua_pushfstring(L, "%s/lib", sd);
    prepend_path(L, lua_tostring(L, -1));
    prepend_path(L, sd);
    lua_pop(L, 2);
  }
}
