#include "host.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l_guard.h"
#include "modules.h"
#include "out.h"
#include "procid.h"
#include "redact.h"
#include "signals.h"

extern char **environ;

/* Error objects become one message: strings as they are; tables through
 * __tostring or their `message` field; anything else named by type. */
static const char *error_text(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TSTRING || lua_type(L, idx) == LUA_TNUMBER) return lua_tostring(L, idx);
  if (luaL_callmeta(L, idx, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return lua_tostring(L, -1);
  if (lua_type(L, idx) == LUA_TTABLE && lua_getfield(L, idx, "message") == LUA_TSTRING) return lua_tostring(L, -1);
  return lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, idx));
}

/* An error object that carries its own exit code (a config error: exit 2)
 * is the user's mistake, not a bug: no traceback. */
static int own_exit_code(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  int code = lua_getfield(L, idx, "exit_code") == LUA_TNUMBER && lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
  lua_pop(L, 1);
  return code > 0 && code < 126 ? code : 0;
}

static int msghandler(lua_State *L) {
  if (own_exit_code(L, 1)) return 1;
  const char *msg = error_text(L, 1);
  if (signals_caught()) { /* an interruption is not a bug: no traceback */
    lua_pushstring(L, "interrupted");
    return 1;
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static void report(const char *msg) {
  buf b = {0};
  buf_addf(&b, "drun: %s\n", msg);
  out_redacted(2, buf_cstr(&b), b.len);
  buf_free(&b);
}

/* print, but through redaction: a secret in a recipe's print is still masked. */
static int host_print(lua_State *L) {
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_tolstring(L, i, NULL);
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, '\n');
  luaL_pushresult(&b);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  out_redacted(1, s, len);
  return 0;
}

/* Did the script use drun.recipe? Only then is what it returned looked at,
 * so plain scripts pay nothing for the recipe engine. */
static int recipe_loaded(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  int yes = lua_getfield(L, -1, "drun.recipe") != LUA_TNIL;
  lua_pop(L, 2);
  return yes;
}

/* The value the script returned (stack top) goes to drun.cli.recipe with the
 * arguments; its result is the exit code. */
static int run_recipe(lua_State *L, const char *script, int plan) {
  int result = lua_gettop(L);
  if (luaL_loadstring(L, "local result, plan, script = ...;"
                         "return require('drun.cli.recipe')(result, { table.unpack(arg, 1) }, script, plan)") != LUA_OK) {
    report(lua_tostring(L, -1));
    return EXIT_SCRIPT;
  }
  lua_pushvalue(L, result);
  lua_pushboolean(L, plan);
  lua_pushstring(L, script);
  guard_attach(L, 0); /* the engine disarmed: it arms the guard around each step */
  int status = lua_pcall(L, 3, 1, 1);
  guard_detach();
  if (status != LUA_OK) {
    report(lua_tostring(L, -1));
    return EXIT_SCRIPT;
  }
  return lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : EXIT_OK;
}

/* A failed pcall's exit code, its message reported. */
static int failed(lua_State *L) {
  int code = own_exit_code(L, -1);
  report(code ? error_text(L, -1) : lua_tostring(L, -1));
  return code ? code : EXIT_SCRIPT;
}

/* Runs what the CLI chose (the table at `job`): { script = FILE } or
 * { code = CHUNK }, with `args` (strings) and `plan`. The script's folder
 * joins the module search first: its modules override drun's. */
static int run_script(lua_State *L, int job, const char *self) {
  lua_getfield(L, job, "script");
  const char *script = lua_tostring(L, -1);
  lua_getfield(L, job, "code");
  const char *code = lua_tostring(L, -1);
  int plan = lua_getfield(L, job, "plan") != LUA_TNIL && lua_toboolean(L, -1);
  if (lua_getfield(L, job, "args") != LUA_TTABLE || (!script && !code)) {
    report("the CLI returned a job without script, code or args");
    return EXIT_SCRIPT;
  }
  int args = lua_gettop(L);
  int n = (int)luaL_len(L, args);
  if (script) modules_add_script(L, script);

  lua_createtable(L, n, 2); /* arg: [-1] drun, [0] the script, [1..n] its arguments */
  lua_pushstring(L, self);
  lua_rawseti(L, -2, -1);
  lua_pushstring(L, script ? script : "-e");
  lua_rawseti(L, -2, 0);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, args, i);
    lua_rawseti(L, -2, i);
  }
  lua_setglobal(L, "arg");

  int status = script ? luaL_loadfile(L, script) : luaL_loadbuffer(L, code, strlen(code), "=(command line)");
  if (status != LUA_OK) {
    /* luaL_loadfile: "cannot open x.lua" (ERRFILE) or "x.lua:3: ... near ..." */
    report(lua_tostring(L, -1));
    return status == LUA_ERRFILE ? EXIT_USAGE : EXIT_SCRIPT;
  }
  /* Lua guarantees only LUA_MINSTACK free slots: any number of arguments
   * needs room made for it (43 of them used to overflow the stack). */
  if (!lua_checkstack(L, n + 2)) {
    report("too many arguments");
    return EXIT_USAGE;
  }
  for (int i = 1; i <= n; i++) lua_rawgeti(L, args, i);
  guard_attach(L, 1); /* a script is user code throughout */
  status = lua_pcall(L, n, 1, 1);
  guard_detach();
  if (status != LUA_OK) return failed(L);
  if (script && (plan || recipe_loaded(L))) return run_recipe(L, script, plan);
  return EXIT_OK;
}

int host_run(const host_job *job) {
  out_init();
  procid_mark_self(); /* before any child: they carry it (procid.h) */
  redact_scan_env(environ);
  signals_install(guard_on_signal);
  lua_State *L = luaL_newstate();
  if (!L) {
    fprintf(stderr, "drun: cannot create the Lua state (out of memory)\n");
    return EXIT_SCRIPT;
  }
  luaL_openlibs(L);
  lua_register(L, "print", host_print);
  modules_register(L);

  /* One entry point: drun.cli reads the command line and either does the
   * command (an exit code) or names the script to run (a job table). */
  lua_pushcfunction(L, msghandler);
  int rc = EXIT_OK;
  if (luaL_loadstring(L, "return require('drun.cli')(...)") != LUA_OK) {
    report(lua_tostring(L, -1));
    rc = EXIT_SCRIPT;
  } else {
    lua_createtable(L, job->argc, 0);
    for (int i = 0; i < job->argc; i++) {
      lua_pushstring(L, job->argv[i]);
      lua_rawseti(L, -2, i + 1);
    }
    guard_attach(L, 1);
    int status = lua_pcall(L, 1, 1, 1);
    guard_detach();
    if (status != LUA_OK) rc = failed(L);
    else if (lua_istable(L, -1)) rc = run_script(L, lua_gettop(L), job->self);
    else if (lua_isinteger(L, -1)) rc = (int)lua_tointeger(L, -1);
  }
  lua_close(L);
  if (signals_caught()) rc = EXIT_INTERRUPTED;
  return rc;
}
