/* What `require` can find: the C modules, the stdlib (embedded, or from
 * $DRUN_STDLIB_DIR), and the running script's own folder and its lib/. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <stdio.h>
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
int luaopen_drun_core_pq(lua_State *L);

/* drun.core.build: facts fixed at build time. */
static int luaopen_drun_core_build(lua_State *L) {
  lua_newtable(L);
  lua_pushstring(L, drun_version());
  lua_setfield(L, -2, "version");
  return 1;
}

/* Modules any script may require. */
static const luaL_Reg public_modules[] = {
    {"drun.json", luaopen_drun_json},
    {"drun.env", luaopen_drun_env},
    {NULL, NULL},
};

/* The raw layer under the stdlib. It is not in package.preload: only the
 * stdlib's own chunks can require it (through the `require` of their _ENV),
 * so a recipe cannot step around the dry-run gate and the redaction that
 * the stdlib's wrappers put in front of it. */
static const luaL_Reg core_modules[] = {
    {"drun.core.build", luaopen_drun_core_build},
    {"drun.core.proc", luaopen_drun_core_proc},
    {"drun.core.fs", luaopen_drun_core_fs},
    {"drun.core.out", luaopen_drun_core_out},
    {"drun.core.ledger", luaopen_drun_core_ledger},
    {"drun.core.git", luaopen_drun_core_git},
    {"drun.core.http", luaopen_drun_core_http},
    {"drun.core.guard", luaopen_drun_core_guard},
    {"drun.core.pq", luaopen_drun_core_pq},
    {"drun.core.time", luaopen_drun_time},
    {NULL, NULL},
};

#define CORE_LOADED "drun.core.loaded"
#define STDLIB_ENV "drun.stdlib.env"

static int is_core(const char *name) { return strncmp(name, "drun.core.", 10) == 0; }

/* The stdlib's require: drun.core.* from the private table, anything else
 * through the global require (upvalue 1). */
static int stdlib_require(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  if (!is_core(name)) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
  }
  lua_getfield(L, LUA_REGISTRYINDEX, CORE_LOADED);
  if (lua_getfield(L, -1, name) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  for (const luaL_Reg *m = core_modules; m->name; m++) {
    if (strcmp(m->name, name) != 0) continue;
    lua_pushcfunction(L, m->func);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
    return 1;
  }
  return luaL_error(L, "module '%s' not found (not one of drun's core modules)", name);
}

/* A loaded stdlib chunk (stack top) gets the stdlib's _ENV: the globals,
 * with the require above. */
static void set_stdlib_env(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, STDLIB_ENV);
  if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
}

/* A user's require "drun.core.x" ends here: say what to use instead. */
static int search_core(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  if (!is_core(name)) return 0;
  lua_pushfstring(L, "\n\t%s is drun's internal layer, not reachable from recipes and scripts: use drun.%s", name,
                  name + 10);
  return 1;
}

/* DRUN_STDLIB_DIR: drun.* from that folder, with the stdlib's _ENV. */
static int search_stdlib_dir(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  if (strcmp(name, "drun") != 0 && strncmp(name, "drun.", 5) != 0) return 0;
  const char *dir = lua_tostring(L, lua_upvalueindex(1));
  lua_pushstring(L, name);
  const char *rel = luaL_gsub(L, lua_tostring(L, -1), ".", "/");
  const char *candidates[2] = {lua_pushfstring(L, "%s/%s.lua", dir, rel), lua_pushfstring(L, "%s/%s/init.lua", dir, rel)};
  for (int i = 0; i < 2; i++) {
    FILE *f = fopen(candidates[i], "r");
    if (!f) continue;
    fclose(f);
    if (luaL_loadfilex(L, candidates[i], "t") != LUA_OK) return lua_error(L);
    set_stdlib_env(L);
    lua_pushstring(L, candidates[i]);
    return 2;
  }
  lua_pushfstring(L, "\n\tno file '%s'\n\tno file '%s'", candidates[0], candidates[1]);
  return 1;
}

/* preload loader for an embedded module: bytecode, loaded when first required. */
static int load_embedded(lua_State *L) {
  const struct drun_embedded *m = lua_touserdata(L, lua_upvalueindex(1));
  if (luaL_loadbufferx(L, m->data, m->size, m->chunkname, "b") != LUA_OK) return lua_error(L);
  set_stdlib_env(L);
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

/* table.insert(package.searchers, pos, fn) with fn's upvalue on the stack top (or none) */
static void add_searcher(lua_State *L, int pos, lua_CFunction fn, int nup) {
  lua_pushcclosure(L, fn, nup);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = n; i >= pos; i--) {
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushvalue(L, -3);
  lua_rawseti(L, -2, pos);
  lua_pop(L, 3);
}

void modules_register(lua_State *L, const char *script) {
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, CORE_LOADED);
  /* the stdlib's _ENV: reads and writes go to the globals; require is its own */
  lua_newtable(L);
  lua_getglobal(L, "require");
  lua_pushcclosure(L, stdlib_require, 1);
  lua_setfield(L, -2, "require");
  lua_newtable(L);
  lua_pushglobaltable(L);
  lua_setfield(L, -2, "__index");
  lua_pushglobaltable(L);
  lua_setfield(L, -2, "__newindex");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, STDLIB_ENV);

  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const luaL_Reg *m = public_modules; m->name; m++) {
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

  add_searcher(L, 2, search_core, 0); /* after preload */
  if (dir && *dir) {
    lua_pushstring(L, dir);
    add_searcher(L, 3, search_stdlib_dir, 1);
  }
  /* Searched first to last: script dir, its lib/, then Lua's own path. */
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
