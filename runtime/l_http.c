/* drun.core.http: one request, raw. request{...} -> response | nil, err, kind
 * (kind: "connect", "timeout", "tls", "dns", "too_big", "interrupted",
 * "other"). stdlib/drun/http.lua adds retries, expect, JSON and dry-run. */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "http.h"
#include "lutil.h"

static const char *const kinds[] = {"ok", "connect", "timeout", "tls", "dns", "too_big", "interrupted", "other"};

static const char *opt_string(lua_State *L, const char *k) {
  int ty = lua_getfield(L, 1, k);
  const char *s = NULL;
  if (ty == LUA_TSTRING) s = lua_tostring(L, -1);
  else if (ty != LUA_TNIL) luaL_error(L, "http: option '%s' must be a string (got %s)", k, luaL_typename(L, -1));
  lua_pop(L, 1); /* anchored by the options table */
  return s;
}

static double opt_number(lua_State *L, const char *k, double def) {
  int ty = lua_getfield(L, 1, k);
  double v = def;
  if (ty == LUA_TNUMBER) v = lua_tonumber(L, -1);
  else if (ty != LUA_TNIL) luaL_error(L, "http: option '%s' must be a number (got %s)", k, luaL_typename(L, -1));
  lua_pop(L, 1);
  if (v < 0) luaL_error(L, "http: option '%s' must not be negative", k);
  return v;
}

/* headers = { "Name: value", ... } -> NULL-terminated array in a userdata */
static const char **header_lines(lua_State *L) {
  if (lua_getfield(L, 1, "headers") == LUA_TNIL) {
    lua_pop(L, 1);
    return NULL;
  }
  luaL_argcheck(L, lua_istable(L, -1), 1, "headers must be a list of \"Name: value\" lines");
  size_t n = lua_rawlen(L, -1);
  const char **lines = lua_newuserdatauv(L, (n + 1) * sizeof *lines, 1);
  lua_pushvalue(L, -2);
  lua_setiuservalue(L, -2, 1); /* the strings live as long as the array */
  for (size_t i = 0; i < n; i++) {
    if (lua_rawgeti(L, -2, (lua_Integer)i + 1) != LUA_TSTRING) luaL_error(L, "http: header %d is not a string", (int)i + 1);
    const char *h = lua_tostring(L, -1);
    if (strpbrk(h, "\r\n")) luaL_error(L, "http: header %d contains a line break", (int)i + 1);
    lines[i] = h;
    lua_pop(L, 1);
  }
  lines[n] = NULL;
  lua_remove(L, -2); /* keep only the array, on the stack top */
  return lines;
}

/* The response's "name: value\n" lines -> { name = value }, repeats joined by ", " */
static void push_headers(lua_State *L, const buf *h) {
  lua_newtable(L);
  const char *p = buf_cstr((buf *)h), *end = p + h->len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) break;
    const char *colon = memchr(p, ':', (size_t)(nl - p));
    if (colon) {
      lua_pushlstring(L, p, (size_t)(colon - p));
      lua_pushvalue(L, -1);
      const char *v = colon + 2 <= nl ? colon + 2 : nl;
      if (lua_rawget(L, -3) == LUA_TSTRING) {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, v, (size_t)(nl - v));
        lua_concat(L, 3);
      } else {
        lua_pop(L, 1);
        lua_pushlstring(L, v, (size_t)(nl - v));
      }
      lua_rawset(L, -3);
    }
    p = nl + 1;
  }
}

/* the request table at 1 -> req (its strings anchored by the table; the
 * header array on the stack top) */
static void read_request(lua_State *L, http_request *req) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  memset(req, 0, sizeof *req);
  req->method = opt_string(L, "method");
  req->url = opt_string(L, "url");
  if (!req->url) luaL_error(L, "http: url is required");
  size_t blen = 0;
  if (lua_getfield(L, 1, "body") == LUA_TSTRING) req->body = lua_tolstring(L, -1, &blen);
  else if (!lua_isnil(L, -1)) luaL_error(L, "http: body must be a string");
  lua_pop(L, 1);
  req->body_len = blen;
  req->timeout_ms = (long)(opt_number(L, "timeout", 0) * 1000);
  req->connect_timeout_ms = (long)(opt_number(L, "connect_timeout", 0) * 1000);
  req->max_redirects = (long)opt_number(L, "max_redirects", 0);
  req->max_body = (size_t)opt_number(L, "max_body", 0);
  req->ca_bundle = opt_string(L, "ca_bundle");
  req->user_agent = opt_string(L, "user_agent");
  req->headers = header_lines(L);
}

/* response | nil, err, kind */
static int push_outcome(lua_State *L, int k, http_response *resp, buf *err) {
  if (k != HTTP_OK) {
    http_response_free(resp);
    push_failure(L, err);
    lua_pushstring(L, kinds[k]);
    return 3;
  }
  buf_free(err);
  lua_createtable(L, 0, 6);
  setfield_int(L, "status", resp->status);
  push_headers(L, &resp->headers);
  lua_setfield(L, -2, "headers");
  lua_pushlstring(L, buf_cstr(&resp->body), resp->body.len);
  lua_setfield(L, -2, "body");
  setfield_str(L, "url", resp->url);
  setfield_num(L, "time_ms", resp->time_ms);
  http_response_free(resp);
  return 1;
}

static int http_request_l(lua_State *L) {
  http_request req;
  read_request(L, &req);
  http_response resp;
  buf err = {0};
  lloop_driving(L);
  int k = http_perform(&req, &resp, &err);
  return push_outcome(L, k, &resp, &err);
}

/* A request in flight: start(request) -> transfer | nil, err, kind;
 * transfer:done(), transfer:result() -> as request's, transfer:cancel() */
#define TRANSFER "drun.http.transfer"
typedef struct {
  http_transfer *x;
  int finished;
} ltransfer;

static int http_start_l(lua_State *L) {
  http_request req;
  read_request(L, &req);
  ltransfer *t = lua_newuserdatauv(L, sizeof *t, 0);
  t->x = NULL;
  t->finished = 0;
  luaL_setmetatable(L, TRANSFER);
  buf err = {0};
  int k = http_start(&req, &t->x, &err);
  if (k != HTTP_OK) {
    push_failure(L, &err);
    lua_pushstring(L, kinds[k]);
    return 3;
  }
  buf_free(&err);
  return 1;
}

static int transfer_done(lua_State *L) {
  ltransfer *t = luaL_checkudata(L, 1, TRANSFER);
  lua_pushboolean(L, t->finished || !t->x || http_done(t->x));
  return 1;
}

static int transfer_result(lua_State *L) {
  ltransfer *t = luaL_checkudata(L, 1, TRANSFER);
  if (t->finished || !t->x) return luaL_error(L, "http: result() taken already");
  if (!http_done(t->x)) return luaL_error(L, "http: result() before the request is done");
  http_response resp;
  buf err = {0};
  int k = http_finish(t->x, &resp, &err);
  t->x = NULL;
  t->finished = 1;
  return push_outcome(L, k, &resp, &err);
}

static int transfer_cancel(lua_State *L) {
  ltransfer *t = luaL_checkudata(L, 1, TRANSFER);
  if (t->x) http_cancel(t->x);
  return 0;
}

static int transfer_gc(lua_State *L) {
  ltransfer *t = luaL_checkudata(L, 1, TRANSFER);
  if (t->x) http_discard(t->x);
  t->x = NULL;
  t->finished = 1;
  return 0;
}

static int transfer_tostring(lua_State *L) {
  ltransfer *t = luaL_checkudata(L, 1, TRANSFER);
  lua_pushfstring(L, "drun.http.transfer (%s)", !t->x || http_done(t->x) ? "done" : "in flight");
  return 1;
}

static const luaL_Reg transfer_methods[] = {
    {"done", transfer_done}, {"result", transfer_result}, {"cancel", transfer_cancel}, {"close", transfer_gc},
    {NULL, NULL},
};

static int http_connections(lua_State *L) {
  lua_pushinteger(L, http_connections_opened());
  return 1;
}

static const luaL_Reg http_funcs[] = {
    {"request", http_request_l},
    {"start", http_start_l},
    {"connections_opened", http_connections},
    {NULL, NULL},
};

int luaopen_drun_core_http(lua_State *L) {
  register_handle(L, TRANSFER, transfer_methods, transfer_gc, transfer_tostring);
  luaL_newlib(L, http_funcs);
  lua_pushinteger(L, (lua_Integer)HTTP_DEFAULT_MAX_BODY);
  lua_setfield(L, -2, "DEFAULT_MAX_BODY");
  return 1;
}
