/* drun.core.ledger: the ledger handle for Lua. Policy (default path, JSON
 * metadata, waiting for locks, export/import) is in stdlib/drun/ledger.lua.
 * A wrong argument raises; a ledger failure returns nil, "ledger: ...". */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "ledger.h"
#include "procid.h"
#include "lutil.h"

#define LEDGER_MT "drun.ledger"

typedef struct {
  ledger *l;
} handle;

static ledger *check(lua_State *L) {
  handle *h = luaL_checkudata(L, 1, LEDGER_MT);
  if (!h->l) luaL_error(L, "ledger: the ledger is closed");
  return h->l;
}

static const char *opt_field(lua_State *L, int t, const char *k) {
  int ty = lua_getfield(L, t, k);
  const char *s = NULL;
  if (ty == LUA_TSTRING || ty == LUA_TNUMBER) s = lua_tostring(L, -1);
  else if (ty != LUA_TNIL) luaL_error(L, "ledger: field '%s' must be a string (got %s)", k, luaL_typename(L, -1));
  lua_pop(L, 1); /* the table keeps the string alive */
  return s;
}

static const char *req_field(lua_State *L, int t, const char *k) {
  const char *s = opt_field(L, t, k);
  if (!s || !*s) luaL_error(L, "ledger: field '%s' is required", k);
  return s;
}

/* A row becomes a table keyed by column name; NULL columns are absent. */
static void push_row(lua_State *L, sqlite3_stmt *row) {
  int n = sqlite3_column_count(row);
  lua_createtable(L, 0, n);
  for (int i = 0; i < n; i++) {
    switch (sqlite3_column_type(row, i)) {
      case SQLITE_INTEGER: lua_pushinteger(L, sqlite3_column_int64(row, i)); break;
      case SQLITE_FLOAT: lua_pushnumber(L, sqlite3_column_double(row, i)); break;
      case SQLITE_NULL: continue;
      default: lua_pushlstring(L, (const char *)sqlite3_column_text(row, i), (size_t)sqlite3_column_bytes(row, i));
    }
    lua_setfield(L, -2, sqlite3_column_name(row, i));
  }
}

typedef struct {
  lua_State *L;
  int n;
} rows;

static int append_row(void *ud, sqlite3_stmt *row) {
  rows *r = ud;
  push_row(r->L, row);
  lua_rawseti(r->L, -2, ++r->n);
  return 0;
}

static int one_row(void *ud, sqlite3_stmt *row) {
  push_row(((rows *)ud)->L, row);
  ((rows *)ud)->n = 1;
  return 1; /* stop */
}

/* open(path) -> handle, reaped | nil, err */
/* open(path [, "r"]) -> handle, reaped */
static int ledger_open_l(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int readonly = lua_isstring(L, 2) && !strcmp(lua_tostring(L, 2), "r");
  handle *h = lua_newuserdatauv(L, sizeof *h, 0);
  h->l = NULL;
  luaL_setmetatable(L, LEDGER_MT);
  buf err = {0};
  int reaped = 0;
  if (readonly ? ledger_open_readonly(path, &h->l, &err) : ledger_open(path, &h->l, &reaped, &err))
    return push_failure(L, &err);
  lua_pushinteger(L, reaped);
  return 2;
}

static int h_close(lua_State *L) {
  handle *h = luaL_checkudata(L, 1, LEDGER_MT);
  ledger_close(h->l);
  h->l = NULL;
  return 0;
}

static int h_tostring(lua_State *L) {
  handle *h = luaL_checkudata(L, 1, LEDGER_MT);
  lua_pushfstring(L, "drun.ledger (%s)", h->l ? "open" : "closed");
  return 1;
}

static int h_next_build(lua_State *L) {
  ledger *l = check(L);
  buf err = {0};
  long long n;
  if (ledger_next_build(l, luaL_checkstring(L, 2), luaL_checkstring(L, 3), &n, &err)) return push_failure(L, &err);
  lua_pushinteger(L, n);
  return 1;
}

static int h_begin(lua_State *L) {
  ledger *l = check(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  ledger_begin_args a = {
      .service = req_field(L, 2, "service"),
      .environment = req_field(L, 2, "environment"),
      .version = req_field(L, 2, "version"),
      .recipe = opt_field(L, 2, "recipe"),
      .git_commit = opt_field(L, 2, "commit"),
      .git_branch = opt_field(L, 2, "branch"),
      .deployed_by = opt_field(L, 2, "actor"),
      .workflow_run_id = opt_field(L, 2, "workflow_run_id"),
      .workflow_run_url = opt_field(L, 2, "workflow_run_url"),
      .metadata = opt_field(L, 2, "metadata"),
  };
  ledger_record rec;
  buf err = {0};
  if (ledger_begin(l, &a, &rec, &err)) return push_failure(L, &err);
  lua_createtable(L, 0, 4);
  setfield_str(L, "id", rec.id);
  setfield_int(L, "build_number", rec.build_number);
  setfield_str(L, "full_version", rec.full_version);
  setfield_str(L, "deployed_at", rec.deployed_at);
  return 1;
}

static int h_step_start(lua_State *L) {
  ledger *l = check(L);
  buf err = {0};
  long long seq;
  if (ledger_step_start(l, luaL_checkstring(L, 2), luaL_checkstring(L, 3), &seq, &err)) return push_failure(L, &err);
  lua_pushinteger(L, seq);
  return 1;
}

static int h_step_end(lua_State *L) {
  ledger *l = check(L);
  buf err = {0};
  if (ledger_step_end(l, luaL_checkstring(L, 2), luaL_checkinteger(L, 3), luaL_checkstring(L, 4),
                      luaL_optstring(L, 5, NULL), &err))
    return push_failure(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int h_set_meta(lua_State *L) {
  ledger *l = check(L);
  buf err = {0};
  if (ledger_set_meta(l, luaL_checkstring(L, 2), luaL_checkstring(L, 3), luaL_checkstring(L, 4), &err))
    return push_failure(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int h_finish(lua_State *L) {
  ledger *l = check(L);
  static const char *const statuses[] = {"success", "failed", "rollback", "aborted", NULL};
  const char *status = statuses[luaL_checkoption(L, 3, NULL, statuses)];
  buf err = {0};
  if (ledger_finish(l, luaL_checkstring(L, 2), status, luaL_optstring(L, 4, NULL), luaL_optstring(L, 5, NULL), &err))
    return push_failure(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int h_resolve(lua_State *L) {
  ledger *l = check(L);
  char id[27];
  buf err = {0};
  if (ledger_resolve(l, luaL_checkstring(L, 2), id, &err)) return push_failure(L, &err);
  lua_pushstring(L, id);
  return 1;
}

static int h_mark_rollback(lua_State *L) {
  ledger *l = check(L);
  char id[27];
  buf err = {0};
  if (ledger_mark_rollback(l, luaL_checkstring(L, 2), luaL_optstring(L, 3, NULL), id, &err)) return push_failure(L, &err);
  lua_pushstring(L, id);
  return 1;
}

static void push_holder(lua_State *L, const ledger_holder *h) {
  lua_createtable(L, 0, 4);
  setfield_int(L, "pid", h->pid);
  setfield_str(L, "host", h->host);
  setfield_str(L, "started_at", h->started_at);
  setfield_str(L, "recipe", h->recipe);
  setfield_int(L, "leftovers", h->leftovers);
  if (h->run_url[0]) setfield_str(L, "run_url", h->run_url);
  if (h->expires_at[0]) setfield_str(L, "expires_at", h->expires_at);
}

/* lock(service, env, recipe, run_url, lease) -> true [, former_holder] |
 * false, live_holder | nil, err; former_holder.expired: its lease ran out
 * (on another host), else that drun was gone */
static int h_lock(lua_State *L) {
  ledger *l = check(L);
  ledger_holder holder;
  int took_over;
  buf err = {0};
  int rc = ledger_lock(l, luaL_checkstring(L, 2), luaL_checkstring(L, 3), luaL_optstring(L, 4, NULL),
                       luaL_optstring(L, 5, NULL), luaL_checknumber(L, 6), &holder, &took_over, &err);
  if (rc < 0) return push_failure(L, &err);
  lua_pushboolean(L, rc == 0);
  if (rc == 1 || took_over) {
    push_holder(L, &holder);
    setfield_bool(L, "expired", took_over == 2);
    return 2;
  }
  return 1;
}

/* renew(service, env, lease) -> held (false: the lock is not ours any more) | nil, err */
static int h_renew(lua_State *L) {
  ledger *l = check(L);
  buf err = {0};
  int held;
  if (ledger_renew(l, luaL_checkstring(L, 2), luaL_checkstring(L, 3), luaL_checknumber(L, 4), &held, &err))
    return push_failure(L, &err);
  lua_pushboolean(L, held);
  return 1;
}

static int h_unlock(lua_State *L) {
  ledger *l = check(L);
  buf err = {0};
  if (ledger_unlock(l, luaL_checkstring(L, 2), luaL_checkstring(L, 3), &err)) return push_failure(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static void read_filter(lua_State *L, int t, ledger_filter *f) {
  memset(f, 0, sizeof *f);
  if (lua_isnoneornil(L, t)) return;
  luaL_checktype(L, t, LUA_TTABLE);
  f->service = opt_field(L, t, "service");
  f->environment = opt_field(L, t, "environment");
  f->version = opt_field(L, t, "version");
  f->status = opt_field(L, t, "status");
  f->branch = opt_field(L, t, "branch");
  f->since = opt_field(L, t, "since");
  f->before_id = opt_field(L, t, "before_id");
  if (lua_getfield(L, t, "limit") != LUA_TNIL) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1)
      luaL_error(L, "ledger: limit must be a whole number of at least 1");
    f->limit = lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
}

/* locks() -> {{service, environment, pid, host, started_at, recipe,
 * holder = "alive" | "gone" | "unknown" (another host: drun cannot tell)}} */
static int h_locks(lua_State *L) {
  ledger *l = check(L);
  lua_newtable(L);
  rows r = {L, 0};
  buf err = {0};
  if (ledger_locks(l, append_row, &r, &err)) return push_failure(L, &err);
  for (int i = 1; i <= r.n; i++) {
    lua_rawgeti(L, -1, i);
    lua_getfield(L, -1, "host");
    lua_getfield(L, -2, "pid");
    lua_getfield(L, -3, "pid_ident");
    int alive = procid_alive(lua_tostring(L, -3), (pid_t)lua_tointeger(L, -2), lua_tostring(L, -1));
    lua_pop(L, 3);
    lua_pushstring(L, alive > 0 ? "alive" : alive == 0 ? "gone" : "unknown");
    lua_setfield(L, -2, "holder");
    lua_pushnil(L);
    lua_setfield(L, -2, "pid_ident");
    lua_pop(L, 1);
  }
  return 1;
}

/* release_lock(service, env, pid, host) -> released (boolean) | nil, err */
static int h_release_lock(lua_State *L) {
  ledger *l = check(L);
  buf err = {0};
  int released;
  if (ledger_release_lock(l, luaL_checkstring(L, 2), luaL_checkstring(L, 3), luaL_checkinteger(L, 4),
                          luaL_checkstring(L, 5), &released, &err))
    return push_failure(L, &err);
  lua_pushboolean(L, released);
  return 1;
}

static int h_history(lua_State *L) {
  ledger *l = check(L);
  ledger_filter f;
  read_filter(L, 2, &f);
  lua_newtable(L);
  rows r = {L, 0};
  buf err = {0};
  if (ledger_history(l, &f, append_row, &r, &err)) return push_failure(L, &err);
  return 1;
}

static int h_get(lua_State *L) {
  ledger *l = check(L);
  rows r = {L, 0};
  buf err = {0};
  int rc = ledger_get(l, luaL_checkstring(L, 2), one_row, &r, &err);
  if (rc < 0) return push_failure(L, &err);
  if (rc == 1) lua_pushnil(L);
  return 1;
}

static int h_steps(lua_State *L) {
  ledger *l = check(L);
  lua_newtable(L);
  rows r = {L, 0};
  buf err = {0};
  if (ledger_steps(l, luaL_checkstring(L, 2), append_row, &r, &err)) return push_failure(L, &err);
  return 1;
}

static int h_stats(lua_State *L) {
  ledger *l = check(L);
  ledger_filter f;
  read_filter(L, 2, &f);
  rows r = {L, 0};
  buf err = {0};
  if (ledger_stats(l, &f, one_row, &r, &err)) return push_failure(L, &err);
  return 1;
}

static int h_import_begin(lua_State *L) {
  buf err = {0};
  if (ledger_import_begin(check(L), &err)) return push_failure(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int h_import_commit(lua_State *L) {
  buf err = {0};
  if (ledger_import_commit(check(L), lua_toboolean(L, 2), &err)) return push_failure(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

/* Fields from a table of column -> string | integer (nil skipped). */
static int read_fields(lua_State *L, int t, ledger_field *f, int max) {
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "ledger: import: field names must be strings");
    if (n == max) luaL_error(L, "ledger: import: too many fields");
    f[n].name = lua_tostring(L, -2);
    if (lua_isinteger(L, -1)) f[n].type = SQLITE_INTEGER, f[n].integer = lua_tointeger(L, -1);
    else if (lua_type(L, -1) == LUA_TSTRING) f[n].type = SQLITE_TEXT, f[n].text = lua_tostring(L, -1);
    else luaL_error(L, "ledger: import: field '%s' must be a string or an integer", f[n].name);
    n++;
    lua_pop(L, 1);
  }
  return n;
}

static int h_import_deployment(lua_State *L) {
  ledger *l = check(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  ledger_field f[32];
  int n = read_fields(L, 2, f, 32), inserted = 0;
  buf err = {0};
  if (ledger_import_deployment(l, f, n, &inserted, &err)) return push_failure(L, &err);
  lua_pushboolean(L, inserted);
  return 1;
}

static int h_import_step(lua_State *L) {
  ledger *l = check(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  ledger_field f[16];
  int n = read_fields(L, 2, f, 16);
  buf err = {0};
  if (ledger_import_step(l, f, n, &err)) return push_failure(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg methods[] = {
    {"close", h_close},
    {"next_build", h_next_build},
    {"begin", h_begin},
    {"step_start", h_step_start},
    {"step_end", h_step_end},
    {"set_meta", h_set_meta},
    {"finish", h_finish},
    {"resolve", h_resolve},
    {"mark_rollback", h_mark_rollback},
    {"lock", h_lock},
    {"unlock", h_unlock},
    {"locks", h_locks},
    {"renew", h_renew},
    {"release_lock", h_release_lock},
    {"history", h_history},
    {"get", h_get},
    {"steps", h_steps},
    {"stats", h_stats},
    {"import_begin", h_import_begin},
    {"import_commit", h_import_commit},
    {"import_deployment", h_import_deployment},
    {"import_step", h_import_step},
    {NULL, NULL},
};

int luaopen_drun_core_ledger(lua_State *L) {
  register_handle(L, LEDGER_MT, methods, h_close, h_tostring);
  lua_newtable(L);
  lua_pushcfunction(L, ledger_open_l);
  lua_setfield(L, -2, "open");
  lua_pushinteger(L, LEDGER_SCHEMA_VERSION);
  lua_setfield(L, -2, "SCHEMA_VERSION");
  return 1;
}
