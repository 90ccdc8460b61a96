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
int luaopen_drun_core_httpd(lua_State *L);

static int luaopen_drun_core_modules(lua_State *L);

/* describe() -> "drun 0.1.0 (Lua 5.4.6, libcurl ...)": the libraries' own
 * versions, loaded to ask them (drun --version). */
static int build_describe(lua_State *L) {
  buf b = {0};
  version_describe(&b);
  lua_pushstring(L, buf_cstr(&b));
  buf_free(&b);
  return 1;
}

/* drun.core.build: facts fixed at build time. */
static int luaopen_drun_core_build(lua_State *L) {
  lua_newtable(L);
  lua_pushstring(L, drun_version());
  lua_setfield(L, -2, "version");
  lua_pushcfunction(L, build_describe);
  lua_setfield(L, -2, "describe");
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
    {"drun.core.modules", luaopen_drun_core_modules},
    {"drun.core.proc", luaopen_drun_core_proc},
    {"drun.core.fs", luaopen_drun_core_fs},
    {"drun.core.out", luaopen_drun_core_out},
    {"drun.core.ledger", luaopen_drun_core_ledger},
    {"drun.core.git", luaopen_drun_core_git},
    {"drun.core.http", luaopen_drun_core_http},
    {"drun.core.guard", luaopen_drun_core_guard},
    {"drun.core.pq", luaopen_drun_core_pq},
    {"drun.core.httpd", luaopen_drun_core_httpd},
    {"drun.core.time", luaopen_drun_time},
    {NULL, NULL},
};

#define CORE_LOADED "drun.core.loaded"
#define STDLIB_ENV "drun.stdlib.env"
#define OVERRIDES "drun.modules.overrides"

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

/* The file of module `name` (drun.* only) in the stdlib folder dir: pushes
 * its path and returns 1, or pushes the "no file" lines of the paths tried
 * and returns 0 (nothing pushed for a name outside drun.*). */
static int stdlib_dir_file(lua_State *L, const char *dir, const char *name) {
  if (strcmp(name, "drun") != 0 && strncmp(name, "drun.", 5) != 0) return 0;
  int top = lua_gettop(L);
  const char *rel = luaL_gsub(L, name, ".", "/");
  const char *candidates[2] = {lua_pushfstring(L, "%s/%s.lua", dir, rel), lua_pushfstring(L, "%s/%s/init.lua", dir, rel)};
  for (int i = 0; i < 2; i++) {
    FILE *f = fopen(candidates[i], "r");
    if (!f) continue;
    fclose(f);
    lua_pushstring(L, candidates[i]);
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return 1;
  }
  lua_pushfstring(L, "no file '%s'\n\tno file '%s'", candidates[0], candidates[1]); /* findloader puts \n\t before it */
  lua_replace(L, top + 1);
  lua_settop(L, top + 1);
  return 0;
}

/* DRUN_STDLIB_DIR: drun.* from that folder, with the stdlib's _ENV. */
static int search_stdlib_dir(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  int top = lua_gettop(L);
  if (!stdlib_dir_file(L, lua_tostring(L, lua_upvalueindex(1)), name)) return lua_gettop(L) > top ? 1 : 0;
  const char *file = lua_tostring(L, -1);
  if (luaL_loadfilex(L, file, "t") != LUA_OK) return lua_error(L);
  set_stdlib_env(L);
  lua_pushstring(L, file);
  return 2;
}

/* The embedded stdlib module of that name, or NULL. */
static const struct drun_embedded *embedded(const char *name) {
  for (const struct drun_embedded *m = drun_stdlib; m->module; m++)
    if (strcmp(m->module, name) == 0) return m;
  return NULL;
}

/* Loader of an embedded module: bytecode, loaded when first required. */
static int load_embedded(lua_State *L) {
  const struct drun_embedded *m = lua_touserdata(L, lua_upvalueindex(1));
  if (luaL_loadbufferx(L, m->data, m->size, m->chunkname, "b") != LUA_OK) return lua_error(L);
  set_stdlib_env(L);
  lua_pushstring(L, m->module);
  lua_pushstring(L, m->chunkname + 1);
  lua_call(L, 2, 1);
  return 1;
}

/* The stdlib compiled into the binary, searched after the recipe's own
 * modules (so a repository can override any of them). */
static int search_embedded(lua_State *L) {
  const struct drun_embedded *m = embedded(luaL_checkstring(L, 1));
  if (!m) return 0;
  lua_pushlightuserdata(L, (void *)m);
  lua_pushcclosure(L, load_embedded, 1);
  lua_pushstring(L, m->chunkname + 1);
  return 2;
}

/* Whether drun has a module of that name of its own: embedded, or a file
 * in DRUN_STDLIB_DIR. */
static int has_stdlib_module(lua_State *L, const char *name) {
  const char *dir = getenv("DRUN_STDLIB_DIR");
  if (!dir || !*dir) return embedded(name) != NULL;
  int top = lua_gettop(L);
  int found = stdlib_dir_file(L, dir, name);
  lua_settop(L, top);
  return found;
}

/* The recipe's own modules: its folder, then its lib/ (upvalue 1: that
 * package.path template). One that shadows a module of drun's own is noted
 * in the registry's OVERRIDES table ({name = file}), for `drun plan`. */
static int search_script(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchpath");
  lua_pushstring(L, name);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_call(L, 2, 2);
  if (lua_isnil(L, -2)) return 1; /* the files it tried */
  const char *file = lua_tostring(L, -2);
  if (luaL_loadfilex(L, file, "t") != LUA_OK)
    return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, file, lua_tostring(L, -1));
  if (has_stdlib_module(L, name)) {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, OVERRIDES);
    lua_pushstring(L, file);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
  }
  lua_pushstring(L, file);
  return 2;
}

/* drun.core.modules.overrides() -> {name = file}: the recipe's modules that
 * shadow drun's own */
static int modules_overrides(lua_State *L) {
  lua_newtable(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, OVERRIDES);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_settable(L, -5);
  }
  lua_pop(L, 1);
  return 1;
}

/* drun.core.modules.is_drun_module(name) -> whether drun has a module of
 * that name of its own (drun --version --verbose) */
static int modules_is_drun_module(lua_State *L) {
  lua_pushboolean(L, has_stdlib_module(L, luaL_checkstring(L, 1)));
  return 1;
}

/* drun.core.modules.embedded(prefix) -> the names of the modules built into
 * drun that start with prefix, in build order ("drun.types.": the editor
 * stubs drun init writes) */
static int modules_embedded(lua_State *L) {
  size_t n;
  const char *prefix = luaL_checklstring(L, 1, &n);
  lua_newtable(L);
  int i = 0;
  for (const struct drun_embedded *m = drun_stdlib; m->module; m++)
    if (!strncmp(m->module, prefix, n)) {
      lua_pushstring(L, m->module);
      lua_rawseti(L, -2, ++i);
    }
  return 1;
}

static int luaopen_drun_core_modules(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, modules_embedded);
  lua_setfield(L, -2, "embedded");
  lua_pushcfunction(L, modules_is_drun_module);
  lua_setfield(L, -2, "is_drun_module");
  lua_pushcfunction(L, modules_overrides);
  lua_setfield(L, -2, "overrides");
  return 1;
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

void modules_register(lua_State *L) {
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
  lua_pop(L, 1);

  /* Searched first to last: preload (the C modules above), the recipe's
   * folder and its lib/ (modules_add_script, once the CLI knows the script),
   * drun's stdlib (embedded, or DRUN_STDLIB_DIR), drun.core's refusal, then
   * Lua's own path. */
  int pos = 2;
  const char *dir = getenv("DRUN_STDLIB_DIR");
  if (dir && *dir) {
    lua_pushstring(L, dir);
    add_searcher(L, pos++, search_stdlib_dir, 1);
  } else {
    add_searcher(L, pos++, search_embedded, 0);
  }
  add_searcher(L, pos, search_core, 0);
}

void modules_add_script(lua_State *L, const char *script) {
  const char *slash = strrchr(script, '/');
  if (slash) lua_pushlstring(L, script, (size_t)(slash - script));
  else lua_pushliteral(L, ".");
  const char *sd = lua_tostring(L, -1);
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s/lib/?.lua;%s/lib/?/init.lua", sd, sd, sd, sd);
  lua_remove(L, -2);
  add_searcher(L, 2, search_script, 1); /* right after preload */
}
