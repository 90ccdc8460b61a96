/* drun.env: environment lookup. env.secret(NAME) is how recipes take
 * credentials: it fails loudly when the variable is missing and registers the
 * value so it is masked in every output. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"

/* get(name [, default]) -> value | default | nil */
static int env_get(lua_State *L) {
  const char *v = getenv(luaL_checkstring(L, 1));
  if (v) lua_pushstring(L, v);
  else lua_settop(L, 2);
  return 1;
}

static int env_secret(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const char *v = getenv(name);
  if (!v || !*v) return luaL_error(L, "env: secret %s is %s; export it before running drun", name, v ? "empty" : "not set");
  redact_add(v, strlen(v));
  lua_pushstring(L, v);
  return 1;
}

/* set(name, value | nil): for the programs drun starts afterwards */
static int env_set(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  if (!*name || strchr(name, '=')) return luaL_argerror(L, 1, "invalid variable name");
  if (lua_isnoneornil(L, 2)) {
    unsetenv(name);
    return 0;
  }
  size_t n;
  const char *v = luaL_checklstring(L, 2, &n);
  if (strlen(v) != n) return luaL_error(L, "env: %s: a value with a NUL byte cannot be put in the environment", name);
  if (redact_name_is_secret(name)) redact_add(v, strlen(v));
  if (setenv(name, v, 1)) return luaL_error(L, "env: cannot set %s", name);
  return 0;
}

static int env_is_secret_name(lua_State *L) {
  lua_pushboolean(L, redact_name_is_secret(luaL_checkstring(L, 1)));
  return 1;
}

static const luaL_Reg env_funcs[] = {
    {"get", env_get}, {"secret", env_secret}, {"set", env_set}, {"is_secret_name", env_is_secret_name}, {NULL, NULL},
};

int luaopen_drun_env(lua_State *L) {
  luaL_newlib(L, env_funcs);
  return 1;
}
