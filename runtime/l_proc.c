/* drun.core.proc: the raw process primitive (the friendly API with `check`
 * is stdlib/drun/proc.lua). A wrong argument raises; a program that cannot be
 * started returns nil, "wrangler: not found in PATH". */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "out.h"
#include "lutil.h"
#include "proc.h"
#include "redact.h"

extern char **environ;

typedef struct {
  lua_State *L;
  int fn;          /* stack index of the Lua callback, 0: write to the terminal */
  const char *prefix;
  size_t prefixlen;
  int failed;      /* the callback raised; its error is on the stack top */
} emitter;

static int emit_line(emitter *e, int fd, const char *name, const char *s, size_t n, int bol, int eol) {
  if (!e->fn) {
    buf line = {0};
    if ((bol && buf_add(&line, e->prefix, e->prefixlen)) || buf_add(&line, s, n) || (eol && buf_add(&line, "\n", 1)))
      return buf_free(&line), -1;
    out_redacted(fd, line.data, line.len); /* buffered with the rest; a closed terminal must not stop the deploy */
    buf_free(&line);
    return 0;
  }
  lua_State *L = e->L;
  lua_pushvalue(L, e->fn);
  lua_pushstring(L, name);
  lua_pushlstring(L, s, n);
  lua_pushboolean(L, !eol);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
    e->failed = 1; /* keep the error object on the stack for proc_run's caller */
    return 1;
  }
  return 0;
}
static int emit_out(void *ud, const char *s, size_t n, int bol, int eol) { return emit_line(ud, 1, "stdout", s, n, bol, eol); }
static int emit_err(void *ud, const char *s, size_t n, int bol, int eol) { return emit_line(ud, 2, "stderr", s, n, bol, eol); }

static const char *field_string(lua_State *L, int t, const char *k) {
  int ty = lua_getfield(L, t, k);
  const char *s = NULL;
  if (ty != LUA_TNIL) {
    if (ty != LUA_TSTRING) luaL_error(L, "proc: option '%s' must be a string (got %s)", k, luaL_typename(L, -1));
    s = lua_tostring(L, -1);
  }
  lua_pop(L, 1); /* the table keeps the string alive */
  return s;
}

static double field_number(lua_State *L, int t, const char *k, double def) {
  int ty = lua_getfield(L, t, k);
  double v = def;
  if (ty != LUA_TNIL) {
    if (ty != LUA_TNUMBER) luaL_error(L, "proc: option '%s' must be a number (got %s)", k, luaL_typename(L, -1));
    v = lua_tonumber(L, -1);
    if (v < 0) luaL_error(L, "proc: option '%s' must not be negative", k);
  }
  lua_pop(L, 1);
  return v;
}

/* argv from the array part; strings anchored in the spec table. Returns a
 * NULL-terminated array living in a userdata at the stack top. */
static char **build_argv(lua_State *L, int t) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, t);
  if (n == 0) luaL_error(L, "proc: empty argv (expected { \"program\", \"arg\", ... })");
  char **argv = lua_newuserdatauv(L, sizeof(char *) * ((size_t)n + 1), 0);
  for (lua_Integer i = 1; i <= n; i++) {
    int ty = lua_rawgeti(L, t, i);
    if (ty != LUA_TSTRING && ty != LUA_TNUMBER)
      luaL_error(L, "proc: argv[%d] must be a string (got %s)", (int)i, luaL_typename(L, -1));
    size_t len;
    const char *s = lua_tolstring(L, -1, &len); /* converts a number in place, in the table too */
    if (ty == LUA_TNUMBER) {
      lua_pushvalue(L, -1);
      lua_rawseti(L, t, i);
    }
    if (strlen(s) != len) luaL_error(L, "proc: argv[%d] contains a NUL byte", (int)i);
    argv[i - 1] = (char *)s;
    lua_pop(L, 1);
  }
  argv[n] = NULL;
  return argv;
}

/* Child environment: drun's (unless clear_env) with `env` applied on top;
 * false removes a variable. NULL when nothing changes. */
static char **build_env(lua_State *L, int t) {
  int has_env = lua_getfield(L, t, "env") == LUA_TTABLE;
  int envidx = lua_gettop(L);
  lua_getfield(L, t, "clear_env");
  int clear = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (!has_env && !clear) {
    lua_pop(L, 1);
    return NULL;
  }
  lua_newtable(L); /* name -> "NAME=value" or false, anchors the strings */
  int acc = lua_gettop(L);
  if (!clear)
    for (char **e = environ; *e; e++) {
      const char *eq = strchr(*e, '=');
      if (!eq) continue;
      lua_pushlstring(L, *e, (size_t)(eq - *e));
      lua_pushstring(L, *e);
      lua_rawset(L, acc);
    }
  if (has_env) {
    lua_pushnil(L);
    while (lua_next(L, envidx)) {
      if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "proc: env keys must be strings");
      const char *k = lua_tostring(L, -2);
      if (!*k || strchr(k, '=')) luaL_error(L, "proc: invalid environment variable name '%s'", k);
      if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
        lua_pushvalue(L, -2);
        lua_pushboolean(L, 0);
      } else {
        if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
          luaL_error(L, "proc: env.%s must be a string or false (got %s)", k, luaL_typename(L, -1));
        size_t vlen;
        const char *v = lua_tolstring(L, -1, &vlen);
        if (strlen(v) != vlen) luaL_error(L, "proc: env.%s contains a NUL byte (an environment value cannot hold one)", k);
        if (redact_name_is_secret(k)) redact_add(v, strlen(v));
        lua_pushvalue(L, -2);
        lua_pushfstring(L, "%s=%s", k, v);
      }
      lua_rawset(L, acc);
      lua_pop(L, 1);
    }
  }
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, acc)) {
    n += lua_type(L, -1) == LUA_TSTRING;
    lua_pop(L, 1);
  }
  char **envp = lua_newuserdatauv(L, sizeof(char *) * (n + 1), 1);
  lua_pushvalue(L, acc);
  lua_setiuservalue(L, -2, 1); /* the strings live as long as the array */
  size_t i = 0;
  lua_pushnil(L);
  while (lua_next(L, acc)) {
    if (lua_type(L, -1) == LUA_TSTRING) envp[i++] = (char *)lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  envp[i] = NULL;
  lua_replace(L, envidx); /* keep only the array on the stack */
  lua_settop(L, envidx);
  return envp;
}

static void push_tail(lua_State *L, const tailbuf *t) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t first = t->cap - t->start < t->len ? t->cap - t->start : t->len;
  luaL_addlstring(&b, t->data + t->start, first);
  luaL_addlstring(&b, t->data, t->len - first);
  luaL_pushresult(&b);
}

/* run(spec) -> result | nil, err */
static int proc_run_l(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  proc_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.argv = build_argv(L, 1);          /* stack 2 */
  spec.envp = build_env(L, 1);           /* stack 3 (nil or array) */
  if (!spec.envp) lua_pushnil(L);
  spec.cwd = field_string(L, 1, "cwd");
  size_t inlen = 0;
  if (lua_getfield(L, 1, "stdin") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "proc: option 'stdin' must be a string");
    spec.stdin_data = lua_tolstring(L, -1, &inlen);
  }
  lua_pop(L, 1);
  spec.stdin_len = inlen;
  spec.timeout = field_number(L, 1, "timeout", 0);
  spec.grace = field_number(L, 1, "grace", PROC_DEFAULT_GRACE);
  spec.cap = (size_t)field_number(L, 1, "cap", (double)PROC_DEFAULT_CAP);

  emitter em = {L, 0, "", 0, 0};
  em.prefix = field_string(L, 1, "prefix");
  if (!em.prefix) em.prefix = "";
  em.prefixlen = strlen(em.prefix);
  int st = lua_getfield(L, 1, "stream"); /* stack 4 */
  if (st == LUA_TFUNCTION) em.fn = lua_gettop(L);
  else if (st != LUA_TNIL && st != LUA_TBOOLEAN) luaL_error(L, "proc: option 'stream' must be a boolean or a function");
  if (em.fn || lua_toboolean(L, -1)) {
    spec.emit_out = emit_out;
    spec.emit_err = emit_err;
    spec.emit_ud = &em;
  }

  proc_result res;
  buf err = {0};
  lheartbeat_waiting(L);
  if (proc_run(&spec, &res, &err) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, buf_cstr(&err));
    buf_free(&err);
    return 2;
  }
  buf_free(&err);
  if (em.failed) { /* the callback's error, after the child was stopped and reaped */
    proc_result_free(&res);
    return lua_error(L);
  }
  lua_createtable(L, 0, 12);
  setfield_int(L, "code", res.code);
  setfield_bool(L, "ok", res.code == 0 && !res.signal);
  if (res.signal) {
    setfield_int(L, "signal", res.signal);
  }
  setfield_bool(L, "timed_out", res.timed_out);
  setfield_bool(L, "interrupted", res.interrupted);
  setfield_int(L, "pid", res.pid);
  setfield_num(L, "duration", res.duration);
  push_tail(L, &res.out);
  lua_setfield(L, -2, "stdout");
  push_tail(L, &res.err);
  lua_setfield(L, -2, "stderr");
  setfield_int(L, "stdout_dropped", (lua_Integer)(res.out.total - res.out.len));
  setfield_int(L, "stderr_dropped", (lua_Integer)(res.err.total - res.err.len));
  proc_result_free(&res);
  return 1;
}

/* which(name [, path]) -> absolute path | nil, err */
static int proc_which(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const char *path = luaL_optstring(L, 2, NULL);
  buf out = {0};
  int e = proc_find_exe(name, path, &out);
  if (e) lua_pushnil(L), lua_pushfstring(L, "%s: %s", name, e == EACCES ? "not executable" : "not found in PATH");
  else lua_pushstring(L, buf_cstr(&out));
  buf_free(&out);
  return e ? 2 : 1;
}

static int proc_getpid(lua_State *L) {
  lua_pushinteger(L, getpid());
  return 1;
}

/* rusage() -> {maxrss_kb, children_maxrss_kb}: peak resident memory of drun
 * itself and of its largest child (getrusage). */
static int proc_rusage(lua_State *L) {
  struct rusage self, kids;
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &kids);
  lua_createtable(L, 0, 2);
  setfield_int(L, "maxrss_kb", self.ru_maxrss);
  setfield_int(L, "children_maxrss_kb", kids.ru_maxrss);
  return 1;
}

static const luaL_Reg proc_funcs[] = {
    {"rusage", proc_rusage},
    {"run", proc_run_l},
    {"which", proc_which},
    {"pid", proc_getpid},
    {NULL, NULL},
};

int luaopen_drun_core_proc(lua_State *L) {
  luaL_newlib(L, proc_funcs);
  lua_pushinteger(L, (lua_Integer)PROC_DEFAULT_CAP);
  lua_setfield(L, -2, "DEFAULT_CAP");
  return 1;
}
