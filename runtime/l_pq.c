/* drun.core.pq: the PostgreSQL driver's connection (libpq, loaded on first
 * use). The ledger's policy and SQL are in stdlib/drun/ledger/; this only
 * connects and runs one parameterised statement at a time.
 *
 *   local conn = pq.connect("postgres://drun@127.0.0.1:5432/drun", 10)
 *   local rows, changes = conn:query("SELECT ... WHERE id = $1", id)
 *
 * Values come back typed by the column's type (integers as integers, NULL
 * absent). A failure returns nil, message, SQLSTATE (or "08006" when the
 * connection itself is gone): the policy tells "unreachable" from "refused". */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lutil.h"
#include "pq_api.h"

#define PQ_MT "drun.pq"
#define MAX_PARAMS 64

/* type OIDs (src/include/catalog/pg_type.dat) */
enum { BOOLOID = 16, INT8OID = 20, INT2OID = 21, INT4OID = 23, FLOAT4OID = 700, FLOAT8OID = 701, NUMERICOID = 1700 };

typedef struct {
  PGconn *conn;
} handle;

/* libpq's own notices (e.g. "relation already exists, skipping") are not
 * drun's output */
static void quiet(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

/* a message without libpq's trailing newline */
static void push_message(lua_State *L, const char *m) {
  size_t n = strlen(m ? m : "");
  while (n && (m[n - 1] == '\n' || m[n - 1] == ' ')) n--;
  lua_pushlstring(L, m ? m : "", n);
}

/* connect(conninfo_or_url, timeout_seconds) -> conn | nil, err, sqlstate */
static int l_connect(lua_State *L) {
  const char *url = luaL_checkstring(L, 1);
  lua_Integer timeout = luaL_optinteger(L, 2, 10);
  const char *err;
  if (pq_load(&err)) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    lua_pushliteral(L, "08001");
    return 3;
  }
  char seconds[24];
  snprintf(seconds, sizeof seconds, "%lld", (long long)(timeout > 0 ? timeout : 10));
  /* the URL expanded in place (expand_dbname), then what drun adds: a
   * connect timeout unless the URL sets one, and its name in pg_stat_activity */
  const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
  const char *vals[] = {seconds, "drun", url, NULL};
  handle *h = lua_newuserdatauv(L, sizeof *h, 0);
  h->conn = NULL;
  luaL_setmetatable(L, PQ_MT);
  h->conn = lpq.PQconnectdbParams(keys, vals, 1);
  if (!h->conn || lpq.PQstatus(h->conn) != CONNECTION_OK) {
    lua_pushnil(L);
    push_message(L, h->conn ? lpq.PQerrorMessage(h->conn) : "out of memory");
    lua_pushliteral(L, "08001");
    if (h->conn) lpq.PQfinish(h->conn);
    h->conn = NULL;
    return 3;
  }
  lpq.PQsetNoticeProcessor(h->conn, quiet, NULL);
  return 1; /* the handle, on top */
}

static int h_close(lua_State *L) {
  handle *h = luaL_checkudata(L, 1, PQ_MT);
  if (h->conn) lpq.PQfinish(h->conn);
  h->conn = NULL;
  return 0;
}

static int h_tostring(lua_State *L) {
  handle *h = luaL_checkudata(L, 1, PQ_MT);
  lua_pushfstring(L, "drun.pq (%s)", h->conn ? "open" : "closed");
  return 1;
}

static void push_value(lua_State *L, PGresult *res, int row, int col) {
  const char *v = lpq.PQgetvalue(res, row, col);
  switch (lpq.PQftype(res, col)) {
    case INT8OID:
    case INT2OID:
    case INT4OID: lua_pushinteger(L, strtoll(v, NULL, 10)); break;
    case FLOAT4OID:
    case FLOAT8OID:
    case NUMERICOID: lua_pushnumber(L, strtod(v, NULL)); break;
    case BOOLOID: lua_pushboolean(L, v[0] == 't'); break;
    default: lua_pushlstring(L, v, (size_t)lpq.PQgetlength(res, row, col));
  }
}

/* query(sql, ...) -> rows, changes | nil, err, sqlstate. Parameters $1..$N
 * are the arguments: integer (int8), number (float8), boolean, string (its
 * type inferred by the server from the statement), nil (NULL). */
static int h_query(lua_State *L) {
  handle *h = luaL_checkudata(L, 1, PQ_MT);
  if (!h->conn) return luaL_error(L, "ledger: the ledger is closed");
  const char *sql = luaL_checkstring(L, 2);
  int n = lua_gettop(L) - 2;
  if (n > MAX_PARAMS) return luaL_error(L, "ledger: more than %d parameters", MAX_PARAMS);
  Oid types[MAX_PARAMS];
  const char *values[MAX_PARAMS];
  char numbers[MAX_PARAMS][32];
  for (int i = 0; i < n; i++) {
    int a = i + 3;
    types[i] = 0;
    switch (lua_type(L, a)) {
      case LUA_TNIL: values[i] = NULL; break;
      case LUA_TBOOLEAN:
        types[i] = BOOLOID;
        values[i] = lua_toboolean(L, a) ? "t" : "f";
        break;
      case LUA_TNUMBER:
        if (lua_isinteger(L, a)) {
          types[i] = INT8OID;
          snprintf(numbers[i], sizeof numbers[i], "%lld", (long long)lua_tointeger(L, a));
        } else {
          types[i] = FLOAT8OID;
          snprintf(numbers[i], sizeof numbers[i], "%.17g", lua_tonumber(L, a));
        }
        values[i] = numbers[i];
        break;
      case LUA_TSTRING: {
        size_t len;
        values[i] = lua_tolstring(L, a, &len);
        if (strlen(values[i]) != len) return luaL_argerror(L, a, "a text with a NUL byte");
        break;
      }
      default: return luaL_argerror(L, a, "a ledger value is a string, number, boolean or nil");
    }
  }
  PGresult *res = lpq.PQexecParams(h->conn, sql, n, types, values, NULL, NULL, 0);
  ExecStatusType st = res ? lpq.PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    lua_pushnil(L);
    const char *state = res ? lpq.PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    push_message(L, res ? lpq.PQresultErrorMessage(res) : lpq.PQerrorMessage(h->conn));
    if (lpq.PQstatus(h->conn) != CONNECTION_OK) state = "08006"; /* connection_failure */
    lua_pushstring(L, state ? state : "08006");
    lpq.PQclear(res);
    return 3;
  }
  int rows = lpq.PQntuples(res), cols = lpq.PQnfields(res);
  lua_createtable(L, rows, 0);
  for (int r = 0; r < rows; r++) {
    lua_createtable(L, 0, cols);
    for (int c = 0; c < cols; c++) {
      if (lpq.PQgetisnull(res, r, c)) continue;
      push_value(L, res, r, c);
      lua_setfield(L, -2, lpq.PQfname(res, c));
    }
    lua_rawseti(L, -2, r + 1);
  }
  const char *changed = lpq.PQcmdTuples(res);
  lua_pushinteger(L, changed && *changed ? strtoll(changed, NULL, 10) : 0);
  lpq.PQclear(res);
  return 2;
}

/* server_version() -> e.g. "15.8" */
static int h_server_version(lua_State *L) {
  handle *h = luaL_checkudata(L, 1, PQ_MT);
  const char *v = h->conn ? lpq.PQparameterStatus(h->conn, "server_version") : NULL;
  if (v) lua_pushstring(L, v);
  else lua_pushnil(L);
  return 1;
}

static const luaL_Reg methods[] = {
    {"close", h_close}, {"query", h_query}, {"server_version", h_server_version}, {NULL, NULL},
};

int luaopen_drun_core_pq(lua_State *L) {
  register_handle(L, PQ_MT, methods, h_close, h_tostring);
  static const luaL_Reg funcs[] = {{"connect", l_connect}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}
