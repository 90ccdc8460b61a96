/* drun.core.proc: the raw process primitive (the friendly API with `check`,
 * run and spawn, is stdlib/drun/proc.lua): start(spec) -> a child handle on
 * the event loop, wait([timeout]) turns the loop once. A wrong argument
 * raises; a program that cannot be started returns nil, "wrangler: not
 * found in PATH". */
#include <errno.h>
#include <signal.h>
#include <lauxlib.h>
#include <lua.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "out.h"
#include "lutil.h"
#include "proc.h"
#include "redact.h"
#include "loop.h"

extern char **environ;

typedef struct {
  int fn_ref;      /* the Lua callback (registry), LUA_NOREF: terminal or queue */
  int err_ref;     /* the callback's error (registry) once it raised */
  int queue;       /* stdout lines kept for read_line (a spawned process) */
  buf lines;       /* "line\n" per line, redacted */
  size_t taken;    /* bytes of lines already read */
  size_t backlog;  /* lines.len - taken: the child pauses past BACKLOG_MAX */
  const char *prefix;
  size_t prefixlen;
} emitter;

#define BACKLOG_MAX ((size_t)1 << 20)

static int emit_line(emitter *e, int fd, const char *name, const char *s, size_t n, int bol, int eol) {
  if (e->queue && fd == 1) {
    if (buf_add(&e->lines, s, n) || (eol && buf_add(&e->lines, "\n", 1))) return -1;
    e->backlog = e->lines.len - e->taken;
    return 0;
  }
  lua_State *L = lloop_driver(); /* the running thread, whichever child's line arrived */
  if (e->fn_ref == LUA_NOREF || !L) {
    buf line = {0};
    if ((bol && buf_add(&line, e->prefix, e->prefixlen)) || buf_add(&line, s, n) || (eol && buf_add(&line, "\n", 1)))
      return buf_free(&line), -1;
    out_redacted(fd, line.data, line.len); /* buffered with the rest; a closed terminal must not stop the deploy */
    buf_free(&line);
    return 0;
  }
  int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, e->fn_ref);
  lua_pushstring(L, name);
  lua_pushlstring(L, s, n);
  lua_pushboolean(L, !eol);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) { /* kept for the one who waits on this child */
    if (e->err_ref == LUA_NOREF) e->err_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, top);
    return 1;
  }
  lua_settop(L, top);
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

static int field_bool(lua_State *L, int t, const char *k) {
  lua_getfield(L, t, k);
  int v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
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

/* A started child as Lua sees it; its uservalue anchors the spec (the stdin
 * string and the prefix the child still reads; argv and env were copied by
 * exec). */
typedef struct {
  proc_child c;
  emitter em;
  pid_t pid;
  int started, finished;
  proc_result res; /* after finish */
} lchild;

#define CHILD "drun.proc.child"

static void emitter_release(lua_State *L, emitter *em) {
  luaL_unref(L, LUA_REGISTRYINDEX, em->fn_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, em->err_ref);
  em->fn_ref = em->err_ref = LUA_NOREF;
  buf_free(&em->lines);
}

/* start(spec) -> child | nil, err: the child runs while anyone turns the
 * loop (wait, another child's run, a sleep). Options as run's, and
 * lines = true (stdout kept for read_line), background = true (the step's
 * deadline does not stop it). */
static int proc_start_l(lua_State *L) {
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
  lua_pop(L, 1); /* anchored by the spec table, the child's uservalue */
  spec.stdin_len = inlen;
  spec.timeout = field_number(L, 1, "timeout", 0);
  spec.grace = field_number(L, 1, "grace", PROC_DEFAULT_GRACE);
  spec.cap = (size_t)field_number(L, 1, "cap", (double)PROC_DEFAULT_CAP);
  spec.own_deadline_only = field_bool(L, 1, "background");

  lchild *h = lua_newuserdatauv(L, sizeof *h, 1); /* stack 4 */
  memset(h, 0, sizeof *h);
  h->em.fn_ref = h->em.err_ref = LUA_NOREF;
  luaL_setmetatable(L, CHILD);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 4, 1);
  h->em.prefix = field_string(L, 1, "prefix");
  if (!h->em.prefix) h->em.prefix = "";
  h->em.prefixlen = strlen(h->em.prefix);
  int st = lua_getfield(L, 1, "stream"), streaming = lua_toboolean(L, -1); /* a function or true */
  if (st == LUA_TFUNCTION) h->em.fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  else if (st != LUA_TNIL && st != LUA_TBOOLEAN) luaL_error(L, "proc: option 'stream' must be a boolean or a function");
  else lua_pop(L, 1);
  h->em.queue = field_bool(L, 1, "lines");
  if (streaming || h->em.queue) {
    spec.emit_out = emit_out;
    spec.emit_ud = &h->em;
  }
  if (streaming) spec.emit_err = emit_err;
  if (h->em.queue) {
    spec.out_backlog = &h->em.backlog;
    spec.backlog_max = BACKLOG_MAX;
  }
  buf err = {0};
  if (proc_start(&spec, &h->c, &err) != 0) {
    emitter_release(L, &h->em);
    return push_failure(L, &err);
  }
  buf_free(&err);
  h->started = 1;
  h->pid = h->c.res.pid;
  lua_settop(L, 4);
  return 1;
}

static lchild *check_child(lua_State *L) { return luaL_checkudata(L, 1, CHILD); }

/* done() -> bool: exited, reaped, its output taken */
static int child_done(lua_State *L) {
  lchild *h = check_child(L);
  lua_pushboolean(L, h->finished || proc_done(&h->c));
  return 1;
}

static void push_result(lua_State *L, const proc_result *res) {
  lua_createtable(L, 0, 12);
  setfield_int(L, "code", res->code);
  setfield_bool(L, "ok", res->code == 0 && !res->signal);
  if (res->signal) setfield_int(L, "signal", res->signal);
  setfield_bool(L, "timed_out", res->timed_out);
  setfield_bool(L, "interrupted", res->interrupted);
  setfield_int(L, "pid", res->pid);
  setfield_num(L, "duration", res->duration);
  push_tail(L, &res->out);
  lua_setfield(L, -2, "stdout");
  push_tail(L, &res->err);
  lua_setfield(L, -2, "stderr");
  setfield_int(L, "stdout_dropped", (lua_Integer)(res->out.total - res->out.len));
  setfield_int(L, "stderr_dropped", (lua_Integer)(res->err.total - res->err.len));
}

/* result() -> the run table (as run's) once done; raises the stream
 * callback's error when it raised (the child was stopped for it). */
static int child_result(lua_State *L) {
  lchild *h = check_child(L);
  if (!h->finished) {
    if (!proc_done(&h->c)) return luaL_error(L, "proc: result() before the process is done");
    proc_finish(&h->c, &h->res);
    h->finished = 1;
  }
  if (h->em.err_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->em.err_ref);
    return lua_error(L);
  }
  push_result(L, &h->res);
  return 1;
}

/* read_line() -> the next stdout line (lines = true) | nil, "eof" once the
 * child is done and every line was read | nil when none is there yet */
static int child_read_line(lua_State *L) {
  lchild *h = check_child(L);
  emitter *em = &h->em;
  const char *p = em->lines.data ? em->lines.data + em->taken : NULL;
  size_t left = em->lines.len - em->taken;
  const char *nl = p ? memchr(p, '\n', left) : NULL;
  int done = h->finished || proc_done(&h->c);
  if (!nl && !(done && left)) {
    lua_pushnil(L);
    if (done) lua_pushliteral(L, "eof");
    return done ? 2 : 1;
  }
  size_t n = nl ? (size_t)(nl - p) : left;
  lua_pushlstring(L, p, n);
  em->taken += n + (nl != NULL);
  if (em->taken == em->lines.len) em->lines.len = em->taken = 0; /* all read: the buffer starts again */
  em->backlog = em->lines.len - em->taken;
  return 1;
}

static int signal_number(lua_State *L, int i) {
  static const struct { const char *name; int sig; } names[] = {
      {"TERM", SIGTERM}, {"KILL", SIGKILL}, {"INT", SIGINT}, {"HUP", SIGHUP}, {"USR1", SIGUSR1},
      {"USR2", SIGUSR2}, {"QUIT", SIGQUIT}, {"STOP", SIGSTOP}, {"CONT", SIGCONT}, {NULL, 0}};
  if (lua_isnoneornil(L, i)) return SIGTERM;
  if (lua_type(L, i) == LUA_TNUMBER) return (int)luaL_checkinteger(L, i);
  const char *s = luaL_checkstring(L, i);
  if (strncmp(s, "SIG", 3) == 0) s += 3;
  for (int k = 0; names[k].name; k++)
    if (strcmp(s, names[k].name) == 0) return names[k].sig;
  return luaL_argerror(L, i, "unknown signal name");
}

/* kill([sig]) -> true | false, reason: a signal to the child's process group */
static int child_kill(lua_State *L) {
  lchild *h = check_child(L);
  int e = h->finished ? ESRCH : proc_signal(&h->c, signal_number(L, 2));
  lua_pushboolean(L, e == 0);
  if (e) lua_pushstring(L, e == ESRCH ? "the process has exited" : strerror(e));
  return e ? 2 : 1;
}

/* stop(): TERM to its group now, KILL after the grace; wait for done() */
static int child_stop(lua_State *L) {
  lchild *h = check_child(L);
  if (!h->finished) proc_stop(&h->c);
  return 0;
}

static int child_pid(lua_State *L) {
  lua_pushinteger(L, check_child(L)->pid);
  return 1;
}

/* __gc / __close: a child nobody waits for is killed (its group) and reaped */
static int child_gc(lua_State *L) {
  lchild *h = check_child(L);
  if (h->started && !h->finished) {
    proc_abandon(&h->c);
    h->finished = 1;
  } else if (h->finished) {
    proc_result_free(&h->res);
  }
  h->started = 0;
  emitter_release(L, &h->em);
  return 0;
}

static int child_tostring(lua_State *L) {
  lchild *h = check_child(L);
  lua_pushfstring(L, "drun.proc.child (pid %d%s)", (int)h->pid,
                  h->finished || proc_done(&h->c) ? ", done" : "");
  return 1;
}

/* wait([timeout]): one turn of the event loop, at most timeout seconds
 * (none: until something happens). Every child and request in flight moves. */
static int loop_wait_l(lua_State *L) {
  double t = luaL_optnumber(L, 1, -1);
  lloop_driving(L);
  loop_run_once(t);
  return 0;
}

static int loop_sources_l(lua_State *L) {
  lua_pushinteger(L, loop_sources());
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

static const luaL_Reg child_methods[] = {
    {"done", child_done}, {"result", child_result}, {"read_line", child_read_line}, {"kill", child_kill},
    {"stop", child_stop}, {"pid", child_pid}, {"close", child_gc}, {NULL, NULL},
};

static const luaL_Reg proc_funcs[] = {
    {"rusage", proc_rusage},
    {"start", proc_start_l},
    {"wait", loop_wait_l},
    {"sources", loop_sources_l},
    {"which", proc_which},
    {"pid", proc_getpid},
    {NULL, NULL},
};

int luaopen_drun_core_proc(lua_State *L) {
  register_handle(L, CHILD, child_methods, child_gc, child_tostring);
  luaL_newlib(L, proc_funcs);
  lua_pushinteger(L, (lua_Integer)PROC_DEFAULT_CAP);
  lua_setfield(L, -2, "DEFAULT_CAP");
  return 1;
}
