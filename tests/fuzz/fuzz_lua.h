/* Lua-level fuzz targets: the stdlib as drun runs it (embedded, with its C
 * modules), one Lua function given each input as a string. An error whose
 * message starts with "FUZZ:" is a broken property and aborts (libFuzzer
 * keeps the input); any other Lua error is a refused input, which is fine. */
#ifndef DRUN_FUZZ_LUA_H
#define DRUN_FUZZ_LUA_H
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules.h"

static lua_State *fuzz_L;

/* check: Lua source of a function(input) */
static int fuzz_lua_run(const char *check, const uint8_t *data, size_t size) {
  if (!fuzz_L) {
    fuzz_L = luaL_newstate();
    luaL_openlibs(fuzz_L);
    modules_register(fuzz_L);
    if (luaL_loadstring(fuzz_L, check) || lua_pcall(fuzz_L, 0, 1, 0)) {
      fprintf(stderr, "fuzz: %s\n", lua_tostring(fuzz_L, -1));
      abort();
    }
    lua_setfield(fuzz_L, LUA_REGISTRYINDEX, "fuzz.check");
  }
  lua_getfield(fuzz_L, LUA_REGISTRYINDEX, "fuzz.check");
  lua_pushlstring(fuzz_L, (const char *)data, size);
  if (lua_pcall(fuzz_L, 1, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(fuzz_L, -1);
    if (msg && strstr(msg, "FUZZ:")) {
      fprintf(stderr, "%s\n", msg);
      abort();
    }
    lua_pop(fuzz_L, 1);
  }
  lua_gc(fuzz_L, LUA_GCSTEP, 0);
  return 0;
}
#endif
