/* drun.core.out: terminal output through redaction, for the stdlib's log and
 * report writers. */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jsontext.h"
#include "out.h"
#include "redact.h"
#include "utc.h"

static int stream_fd(lua_State *L, int arg) {
  const char *s = luaL_checkstring(L, arg);
  if (!strcmp(s, "stdout")) return 1;
  if (!strcmp(s, "stderr")) return 2;
  return luaL_argerror(L, arg, "expected \"stdout\" or \"stderr\"");
}

/* write("stdout" | "stderr", text). A reader that went away (`drun ... |
 * head`: EPIPE) or a full disk under a redirect must not stop a deploy
 * halfway: the ledger is the record, the terminal a view of it. The stream
 * is then left alone for the rest of the run. */
static int gone[3];

static int out_write(lua_State *L) {
  int fd = stream_fd(L, 1);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  if (gone[fd]) return 0;
  if (out_redacted(fd, s, n)) {
    if (errno == ENOMEM) return luaL_error(L, "out: out of memory");
    gone[fd] = 1;
  }
  return 0;
}

static int out_redact(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  size_t len;
  char *r = redact_dup(s, n, &len);
  if (!r) return luaL_error(L, "out: out of memory");
  lua_pushlstring(L, r, len); /* raises only when out of memory */
  free(r);
  return 1;
}

static int out_add_secret(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  lua_pushboolean(L, redact_add(s, n) == 1);
  return 1;
}

/* isatty("stdin" | "stdout" | "stderr") */
static int out_isatty(lua_State *L) {
  int fd = strcmp(luaL_checkstring(L, 1), "stdin") == 0 ? 0 : stream_fd(L, 1);
  lua_pushboolean(L, isatty(fd));
  return 1;
}

/* event_line(head, line, tail [, masked]): one JSON Lines event about a line of text,
 * built and written here because --json writes one per line a child prints:
 *   head .. "line as a JSON string" [.. ,"line_base64":"..."] .. tail .. "<utc>"}\n
 * A line that is not valid UTF-8 keeps U+FFFD for each bad byte and its
 * bytes as they were in line_base64. line is masked first (unless masked
 * says drun.proc already did: a child's lines are); the whole event passes
 * the redaction every output passes. */
static int out_event_line(lua_State *L) {
  size_t hn, ln, tn;
  const char *head = luaL_checklstring(L, 1, &hn), *line = luaL_checklstring(L, 2, &ln),
             *tail = luaL_checklstring(L, 3, &tn);
  if (gone[1]) return 0;
  int masked = lua_toboolean(L, 4);
  static buf clean, ev, tmp;
  clean.len = ev.len = 0;
  int valid;
  /* redact_text, URL credentials included: line_base64 carries the line's
   * bytes, which the pass over the whole event cannot see into */
  if ((masked ? buf_add(&clean, line, ln) : redact_text(line, ln, &clean, &tmp)) || buf_add(&ev, head, hn) ||
      json_string_lossy(&ev, buf_cstr(&clean), clean.len, &valid) ||
      (!valid && (buf_addstr(&ev, ",\"line_base64\":\"") || base64_add(&ev, buf_cstr(&clean), clean.len) ||
                  buf_addstr(&ev, "\""))) ||
      buf_add(&ev, tail, tn) || buf_addstr(&ev, utc_text(time(NULL))) || buf_addstr(&ev, "\"}\n"))
    return luaL_error(L, "out: out of memory");
  if (out_redacted(1, ev.data, ev.len)) {
    if (errno == ENOMEM) return luaL_error(L, "out: out of memory");
    gone[1] = 1;
  }
  return 0;
}

/* base64(s): RFC 4648, for drun.base64 (the one encoder, jsontext.c's) */
static int out_base64(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  buf b = {0};
  if (base64_add(&b, s, n)) return buf_free(&b), luaL_error(L, "base64: out of memory");
  lua_pushlstring(L, buf_cstr(&b), b.len); /* raises only when out of memory */
  buf_free(&b);
  return 1;
}

/* flush(): what is buffered goes out now (before a prompt, say) */
static int out_flush_l(lua_State *L) {
  out_flush();
  return 0;
}

static const luaL_Reg out_funcs[] = {
    {"write", out_write}, {"redact", out_redact}, {"add_secret", out_add_secret}, {"isatty", out_isatty}, {"flush", out_flush_l}, {"event_line", out_event_line}, {"base64", out_base64}, {NULL, NULL},
};

int luaopen_drun_core_out(lua_State *L) {
  luaL_newlib(L, out_funcs);
  return 1;
}
