/* drun.core.httpd: the HTTP server of `drun ledger serve` (GNU
 * libmicrohttpd, loaded on first use). One thread: MHD runs in its external
 * mode inside srv:run(), so the handler is ordinary Lua on the caller's
 * state. MHD's sockets are non-blocking: a slow client does not hold up the
 * others, and it is dropped after CONNECTION_TIMEOUT seconds.
 *
 *   local srv, err = httpd.listen("127.0.0.1", 8080)   -- bound and listening here
 *   srv:run(250, function(req) return status, headers, body end)
 *     -- serves for up to 250 ms; req = {method, path, query = {name = value}, host}
 *   srv:port(); srv:close()
 *
 * The socket is made here, not by MHD, so a port in use is the kernel's own
 * words ("Address already in use") instead of MHD's NULL. Request bodies are
 * read and dropped: the server is read-only. */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd_api.h"
#include "lutil.h"

#define HTTPD_MT "drun.httpd"
#define CONNECTION_TIMEOUT 15 /* seconds a client may stay silent */
#define CONNECTION_LIMIT 64

typedef struct {
  struct MHD_Daemon *daemon;
  int port;
  lua_State *L; /* set only while run() runs: the handler is at index 3 */
} server;

/* the query's name=value pairs into the table on top (a repeated name: the last) */
static enum MHD_Result add_argument(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  lua_State *L = cls;
  (void)kind;
  if (!key) return MHD_YES;
  lua_pushstring(L, value ? value : "");
  lua_setfield(L, -2, key);
  return MHD_YES;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *body, size_t len,
                               lua_State *L, int headers) {
  struct MHD_Response *res = lmhd.MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!res) return MHD_NO;
  if (L && lua_istable(L, headers)) {
    lua_pushnil(L);
    while (lua_next(L, headers)) {
      if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING)
        lmhd.MHD_add_response_header(res, lua_tostring(L, -2), lua_tostring(L, -1)); /* MHD refuses CR/LF */
      lua_pop(L, 1);
    }
  }
  enum MHD_Result ok = lmhd.MHD_queue_response(conn, status, res);
  lmhd.MHD_destroy_response(res);
  return ok;
}

static const char INTERNAL[] = "{\"success\":false,\"error\":\"internal error\"}";

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **state) {
  static int headers_seen;
  server *s = cls;
  (void)version;
  (void)upload_data;
  if (!*state) { /* the headers are in; a body, if any, comes next */
    *state = &headers_seen;
    return MHD_YES;
  }
  if (*upload_size) {
    *upload_size = 0;
    return MHD_YES;
  }
  lua_State *L = s->L;
  if (!L) return MHD_NO;
  int top = lua_gettop(L);
  luaL_checkstack(L, 8, "httpd");
  lua_pushvalue(L, 3);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, method);
  lua_setfield(L, -2, "method");
  lua_pushstring(L, url);
  lua_setfield(L, -2, "path");
  lua_newtable(L);
  lmhd.MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_argument, L);
  lua_setfield(L, -2, "query");
  const char *host = lmhd.MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
  if (host) {
    lua_pushstring(L, host);
    lua_setfield(L, -2, "host");
  }
  enum MHD_Result ok;
  /* the handler answers every request itself; anything it raises is drun's
   * bug, and the client gets no stack trace */
  if (lua_pcall(L, 1, 3, 0) != LUA_OK || !lua_isinteger(L, top + 1) || lua_type(L, top + 3) != LUA_TSTRING) {
    ok = respond(conn, 500, INTERNAL, sizeof INTERNAL - 1, NULL, 0);
  } else {
    lua_Integer status = lua_tointeger(L, top + 1);
    size_t len;
    const char *body = lua_tolstring(L, top + 3, &len);
    ok = respond(conn, status >= 100 && status <= 599 ? (unsigned)status : 500, body, len, L, top + 2);
  }
  lua_settop(L, top);
  return ok;
}

/* listen(host, port) -> server | nil, message */
static int l_listen(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  lua_Integer port = luaL_checkinteger(L, 2);
  luaL_argcheck(L, port >= 0 && port <= 65535, 2, "a port is 0..65535");
  const char *err;
  if (mhd_load(&err)) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  char service[8];
  snprintf(service, sizeof service, "%d", (int)port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *found = NULL;
  int gai = getaddrinfo(host, service, &hints, &found);
  if (gai) {
    lua_pushnil(L);
    lua_pushfstring(L, "cannot listen on %s port %d: %s", host, (int)port, gai_strerror(gai));
    return 2;
  }
  int fd = -1, saved = 0, family = AF_INET;
  for (struct addrinfo *a = found; a && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      saved = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 64) != 0) {
      saved = errno;
      close(fd);
      fd = -1;
      continue;
    }
    family = a->ai_family;
  }
  freeaddrinfo(found);
  if (fd < 0) {
    lua_pushnil(L);
    lua_pushfstring(L, "cannot listen on %s port %d: %s", host, (int)port, strerror(saved));
    return 2;
  }
  struct sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  int actual = (int)port;
  if (getsockname(fd, (struct sockaddr *)&bound, &blen) == 0)
    actual = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                               : ((struct sockaddr_in *)&bound)->sin_port);
  server *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  luaL_setmetatable(L, HTTPD_MT);
  s->port = actual;
  s->daemon = lmhd.MHD_start_daemon(family == AF_INET6 ? MHD_USE_IPv6 : MHD_NO_FLAG, 0, NULL, NULL, on_request, s,
                                    MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT,
                                    (unsigned int)CONNECTION_TIMEOUT, MHD_OPTION_CONNECTION_LIMIT,
                                    (unsigned int)CONNECTION_LIMIT, MHD_OPTION_END);
  if (!s->daemon) {
    close(fd);
    lua_pushnil(L);
    lua_pushfstring(L, "cannot listen on %s port %d: libmicrohttpd would not start", host, (int)port);
    return 2;
  }
  return 1;
}

static server *check_open(lua_State *L) {
  server *s = luaL_checkudata(L, 1, HTTPD_MT);
  if (!s->daemon) luaL_error(L, "httpd: the server is closed");
  return s;
}

/* srv:run(ms, handler): serves what arrives within ms milliseconds */
static int s_run(lua_State *L) {
  server *s = check_open(L);
  lua_Integer ms = luaL_checkinteger(L, 2);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  lua_settop(L, 3);
  if (s->L) return luaL_error(L, "httpd: run() called from its own handler");
  s->L = L;
  enum MHD_Result ok = lmhd.MHD_run_wait(s->daemon, (int32_t)(ms < 0 ? 0 : ms > 60000 ? 60000 : ms));
  s->L = NULL;
  if (ok != MHD_YES) return luaL_error(L, "httpd: libmicrohttpd stopped serving");
  return 0;
}

static int s_port(lua_State *L) {
  server *s = luaL_checkudata(L, 1, HTTPD_MT);
  lua_pushinteger(L, s->port);
  return 1;
}

/* also __gc and __close; MHD closes the listening socket it was given */
static int s_close(lua_State *L) {
  server *s = luaL_checkudata(L, 1, HTTPD_MT);
  if (s->daemon && !s->L) {
    lmhd.MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
  }
  return 0;
}

static int s_tostring(lua_State *L) {
  server *s = luaL_checkudata(L, 1, HTTPD_MT);
  lua_pushfstring(L, "httpd server (port %d%s)", s->port, s->daemon ? "" : ", closed");
  return 1;
}

static const luaL_Reg methods[] = {
    {"run", s_run}, {"port", s_port}, {"close", s_close}, {NULL, NULL},
};

int luaopen_drun_core_httpd(lua_State *L) {
  register_handle(L, HTTPD_MT, methods, s_close, s_tostring);
  static const luaL_Reg funcs[] = {{"listen", l_listen}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}
