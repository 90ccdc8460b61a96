/* drun.core.ledger: what the ledger's policy (stdlib/drun/ledger/, written
 * once for every backend) needs from C — the sqlite driver's statements,
 * ids, the clock, and who a process is. No ledger logic lives here.
 *
 *   local db = core.sqlite(path, "w")          -- "r": read-only, never creates
 *   local rows, changes = db:query("SELECT ... WHERE id = ?1", id)
 *   db:exec("BEGIN IMMEDIATE")                 -- several statements, no parameters
 *
 * A wrong argument raises; a database failure returns nil, message, code
 * (sqlite's extended result code, so the policy can tell "full" from "busy"). */
#include <lauxlib.h>
#include <lua.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger_id.h"
#include "lutil.h"
#include "proc.h"
#include "procid.h"
#include "signals.h"

#define SQLITE_MT "drun.sqlite"
#define BUSY_TIMEOUT 60.0 /* seconds a writer waits for the others */
#define CACHED 24         /* prepared statements kept per connection */

typedef struct {
  sqlite3 *db;
  double busy_since;
  unsigned seed;
  struct {
    char *sql;
    sqlite3_stmt *st;
  } cache[CACHED];
  int next; /* the slot replaced next when the cache is full */
} conn;

static int busy(void *ud, int n) {
  conn *c = ud;
  double now = proc_now();
  if (n == 0) c->busy_since = now;
  if (signals_caught() || now - c->busy_since > BUSY_TIMEOUT) return 0;
  /* Short randomised sleeps: fifty writers interleave instead of the default
   * handler's growing backoff starving some of them. */
  usleep(200 + (useconds_t)(rand_r(&c->seed) % 1800));
  return 1;
}

static conn *check_open(lua_State *L) {
  conn *c = luaL_checkudata(L, 1, SQLITE_MT);
  if (!c->db) luaL_error(L, "ledger: the ledger is closed");
  return c;
}

static int failure(lua_State *L, conn *c, int rc) {
  lua_pushnil(L);
  lua_pushstring(L, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
  lua_pushinteger(L, c->db ? sqlite3_extended_errcode(c->db) : rc);
  return 3;
}

/* sqlite(path, mode) -> conn | nil, err, code. mode "r": read-only (a
 * missing file is an error, never created); "w": read-write, created. */
static int l_sqlite(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *mode = luaL_checkstring(L, 2);
  conn *c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  luaL_setmetatable(L, SQLITE_MT);
  c->seed = (unsigned)getpid() ^ (unsigned)(proc_now() * 1e6);
  int flags = strcmp(mode, "r") ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
  int rc = sqlite3_open_v2(path, &c->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    lua_pushnil(L);
    lua_pushstring(L, c->db ? sqlite3_errmsg(c->db) : "out of memory");
    lua_pushinteger(L, rc);
    sqlite3_close_v2(c->db);
    c->db = NULL;
    return 3;
  }
  sqlite3_busy_handler(c->db, busy, c);
  return 1;
}

static int c_close(lua_State *L) {
  conn *c = luaL_checkudata(L, 1, SQLITE_MT);
  for (int i = 0; i < CACHED; i++) {
    sqlite3_finalize(c->cache[i].st);
    free(c->cache[i].sql);
    c->cache[i].st = NULL, c->cache[i].sql = NULL;
  }
  if (c->db) sqlite3_close_v2(c->db);
  c->db = NULL;
  return 0;
}

static int c_tostring(lua_State *L) {
  conn *c = luaL_checkudata(L, 1, SQLITE_MT);
  lua_pushfstring(L, "drun.sqlite (%s)", c->db ? "open" : "closed");
  return 1;
}

/* exec(sql) -> true | nil, err, code: statements without parameters */
static int c_exec(lua_State *L) {
  conn *c = check_open(L);
  int rc = sqlite3_exec(c->db, luaL_checkstring(L, 2), NULL, NULL, NULL);
  if (rc != SQLITE_OK) return failure(L, c, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/* The statement for sql from the cache (reset, unbound), prepared once. */
static sqlite3_stmt *prepared(conn *c, const char *sql, int *rc) {
  for (int i = 0; i < CACHED; i++)
    if (c->cache[i].sql && !strcmp(c->cache[i].sql, sql)) {
      sqlite3_reset(c->cache[i].st);
      sqlite3_clear_bindings(c->cache[i].st);
      return c->cache[i].st;
    }
  sqlite3_stmt *st;
  if ((*rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL)) != SQLITE_OK) return NULL;
  int slot = c->next;
  c->next = (c->next + 1) % CACHED;
  sqlite3_finalize(c->cache[slot].st);
  free(c->cache[slot].sql);
  c->cache[slot].sql = strdup(sql);
  c->cache[slot].st = c->cache[slot].sql ? st : NULL;
  if (!c->cache[slot].sql) {
    sqlite3_finalize(st);
    *rc = SQLITE_NOMEM;
    return NULL;
  }
  return st;
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

/* query(sql, ...) -> rows, changes | nil, err, code. Parameters ?1..?N are
 * the arguments: integer, number, string, boolean (1/0), nil (NULL). */
static int c_query(lua_State *L) {
  conn *c = check_open(L);
  const char *sql = luaL_checkstring(L, 2);
  int nargs = lua_gettop(L) - 2, rc = SQLITE_OK;
  sqlite3_stmt *st = prepared(c, sql, &rc);
  if (!st) return failure(L, c, rc);
  if (nargs > sqlite3_bind_parameter_count(st))
    return luaL_error(L, "ledger: %d parameters for a statement that takes %d", nargs, sqlite3_bind_parameter_count(st));
  for (int i = 1; i <= nargs; i++) {
    int a = i + 2;
    switch (lua_type(L, a)) {
      case LUA_TNIL: rc = sqlite3_bind_null(st, i); break;
      case LUA_TBOOLEAN: rc = sqlite3_bind_int(st, i, lua_toboolean(L, a)); break;
      case LUA_TNUMBER:
        rc = lua_isinteger(L, a) ? sqlite3_bind_int64(st, i, lua_tointeger(L, a))
                                 : sqlite3_bind_double(st, i, lua_tonumber(L, a));
        break;
      case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, a, &n);
        rc = sqlite3_bind_text(st, i, s, (int)n, SQLITE_TRANSIENT);
        break;
      }
      default: return luaL_argerror(L, a, "a ledger value is a string, number, boolean or nil");
    }
    if (rc != SQLITE_OK) return failure(L, c, rc);
  }
  lua_newtable(L);
  int n = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    push_row(L, st);
    lua_rawseti(L, -2, ++n);
  }
  sqlite3_reset(st); /* ends the statement: its transaction commits, its locks go */
  if (rc != SQLITE_DONE) return failure(L, c, rc);
  lua_pushinteger(L, sqlite3_changes(c->db));
  return 2;
}

/* keep_wal(): no checkpoint and fsync at close. The WAL stays, just as
 * durable, and sqlite's auto-checkpoint folds it in every 1000 pages during
 * ordinary commits. Saves about a millisecond a run. Only for a ledger the
 * policy accepted: a refused file is left as it was, with no -wal of ours. */
static int c_keep_wal(lua_State *L) {
  conn *c = check_open(L);
  sqlite3_db_config(c->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
  return 0;
}

/* ---- ids, clock, processes -------------------------------------------- */

static int l_new_id(lua_State *L) {
  char id[27];
  ledger_new_id(id);
  lua_pushstring(L, id);
  return 1;
}

/* now([offset_seconds]) -> "2026-11-21T21:55:10.123Z" */
static int l_now(lua_State *L) {
  char at[32];
  ledger_at(luaL_optnumber(L, 1, 0), at);
  lua_pushstring(L, at);
  return 1;
}

/* self() -> {pid, host, ident}: who this drun is, as its locks and records say */
static int l_self(lua_State *L) {
  char host[256], ident[PROCID_MAX] = "";
  procid_host(host, sizeof host);
  procid_of(getpid(), ident);
  lua_createtable(L, 0, 3);
  setfield_int(L, "pid", getpid());
  setfield_str(L, "host", host);
  setfield_str(L, "ident", ident);
  return 1;
}

/* alive(host, pid, ident) -> "alive" | "gone" | "unknown" (another host) */
static int l_alive(lua_State *L) {
  int a = procid_alive(luaL_checkstring(L, 1), (pid_t)luaL_checkinteger(L, 2), luaL_optstring(L, 3, NULL));
  lua_pushstring(L, a > 0 ? "alive" : a == 0 ? "gone" : "unknown");
  return 1;
}

/* kill_leftovers(pid, ident, grace) -> how many processes a dead drun left */
static int l_kill_leftovers(lua_State *L) {
  lua_pushinteger(L, procid_kill_leftovers((pid_t)luaL_checkinteger(L, 1), luaL_optstring(L, 2, NULL),
                                           luaL_checknumber(L, 3)));
  return 1;
}

static const luaL_Reg methods[] = {
    {"close", c_close}, {"exec", c_exec}, {"query", c_query}, {"keep_wal", c_keep_wal}, {NULL, NULL},
};

int luaopen_drun_core_ledger(lua_State *L) {
  register_handle(L, SQLITE_MT, methods, c_close, c_tostring);
  static const luaL_Reg funcs[] = {
      {"sqlite", l_sqlite}, {"new_id", l_new_id}, {"now", l_now}, {"self", l_self},
      {"alive", l_alive},   {"kill_leftovers", l_kill_leftovers}, {NULL, NULL},
  };
  luaL_newlib(L, funcs);
  return 1;
}
