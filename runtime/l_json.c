/* drun.json: decode with jsontext.c's strict parser, encode with our own
 * writer. Arrays and objects stay distinct: decoded tables carry the
 * json.array / json.object metatables, and json.array{} / json.object{} mark
 * tables built in Lua. Integers stay integers; json.null stands for null. */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsontext.h"

#define ARRAY_MT "drun.json.array"
#define OBJECT_MT "drun.json.object"

/* ---- decode ------------------------------------------------------------ */

/* jsontext.c parses; these callbacks build the Lua value on the stack. A
 * callback may raise (a duplicate key, out of memory): the scratch buffer
 * lives in a userdata whose __gc frees it. */
typedef struct {
  lua_State *L;
  buf scratch;
  int depth;
  lua_Integer index[JSON_MAX_DEPTH + 1]; /* the next array slot per level */
} builder;

static int b_open(void *ud, char kind) {
  builder *b = ud;
  luaL_checkstack(b->L, 4, "json: nesting too deep");
  lua_newtable(b->L);
  luaL_setmetatable(b->L, kind == '[' ? ARRAY_MT : OBJECT_MT);
  b->index[++b->depth] = 0;
  return 0;
}

static int b_close(void *ud, char kind) {
  ((builder *)ud)->depth--;
  return 0;
}

static int b_key(void *ud, const char *s, size_t n) {
  lua_State *L = ((builder *)ud)->L;
  lua_pushlstring(L, s, n);
  lua_pushvalue(L, -1);
  if (lua_rawget(L, -3) != LUA_TNIL) luaL_error(L, "json: duplicate key \"%s\" in object", lua_tostring(L, -2));
  lua_pop(L, 1);
  return 0;
}

static int b_string(void *ud, const char *s, size_t n) {
  lua_pushlstring(((builder *)ud)->L, s, n); /* with any NUL the text had as \u0000 */
  return 0;
}

/* The number's own text decides: no fraction or exponent and it fits in 64
 * bits -> integer; otherwise a float (lua_stringtonumber does exactly that). */
static int b_number(void *ud, const char *text, size_t n, int integral, double v) {
  lua_State *L = ((builder *)ud)->L;
  char tmp[32];
  if (integral && n < sizeof tmp) {
    memcpy(tmp, text, n);
    tmp[n] = '\0';
    if (lua_stringtonumber(L, tmp)) return 0;
  }
  lua_pushnumber(L, v);
  return 0;
}

static int b_literal(void *ud, char which) {
  lua_State *L = ((builder *)ud)->L;
  if (which == 'n') lua_pushlightuserdata(L, NULL); /* json.null */
  else lua_pushboolean(L, which == 't');
  return 0;
}

static int b_member_done(void *ud, char kind) {
  builder *b = ud;
  if (kind == '[') lua_rawseti(b->L, -2, ++b->index[b->depth]);
  else lua_rawset(b->L, -3);
  return 0;
}

static const json_sink lua_sink = {b_open, b_close, b_key, b_string, b_number, b_literal, b_member_done};

static int builder_gc(lua_State *L) {
  builder *b = lua_touserdata(L, 1);
  buf_free(&b->scratch);
  return 0;
}

/* Errors that are about the document as a whole keep their own words;
 * everything else is "invalid JSON ... : why". */
static int is_own_words(const char *why) {
  static const char *const own[] = {"invalid UTF-8", "nesting deeper", "trailing data", "out of memory", NULL};
  for (int i = 0; own[i]; i++)
    if (!strncmp(why, own[i], strlen(own[i]))) return 1;
  return 0;
}

static int json_decode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  builder *b = lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b);
  luaL_setmetatable(L, "drun.json.builder");
  b->L = L;
  json_error err;
  int rc = json_parse(s, n, &lua_sink, b, &b->scratch, &err);
  buf_free(&b->scratch);
  if (rc == 0) return 1;
  if (n == 0 || !strcmp(err.why, "no value, only whitespace")) return luaL_error(L, "json: empty input");
  int line, col;
  json_position(s, n, err.at, &line, &col);
  if (err.truncated) return luaL_error(L, "json: unexpected end of input at line %d, column %d", line, col);
  if (is_own_words(err.why))
    return luaL_error(L, "json: %s at line %d, column %d (byte %d)", err.why, line, col, (int)err.at + 1);
  luaL_Buffer near;
  luaL_buffinit(L, &near);
  for (size_t i = err.at; i < n && i < err.at + 16; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f) { /* visible, and the message stays one line */
      char hex[8];
      snprintf(hex, sizeof hex, "\\x%02X", c);
      luaL_addstring(&near, hex);
    } else {
      luaL_addchar(&near, (char)c);
    }
  }
  luaL_pushresult(&near);
  return luaL_error(L, "json: invalid JSON at line %d, column %d (byte %d): %s near '%s'", line, col, (int)err.at + 1,
                    err.why, lua_tostring(L, -1));
}

/* ---- encode ------------------------------------------------------------ */

/* Output goes to a C buffer, not a luaL_Buffer: the encoder pushes values
 * while it writes, and a luaL_Buffer must stay at the top of the stack. The
 * encoder is a userdata whose __gc frees the buffer when encoding raises. */
typedef struct {
  lua_State *L;
  buf out;
  const char *indent;
  size_t indentlen;
  int sort;
  int depth;
  /* keys on the way down, for error messages: only a table needs them, so
   * a string (one per line of a child's output under --json) skips the 16 KB */
  const char **path;
  lua_Integer *ipath;
} encoder;

static int where(encoder *e) {
  lua_State *L = e->L;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "$");
  for (int i = 0; i < e->depth; i++) {
    if (e->path[i]) lua_pushfstring(L, ".%s", e->path[i]);
    else lua_pushfstring(L, "[%d]", (int)e->ipath[i]);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  return 1;
}

static void add(encoder *e, const char *p, size_t n) {
  if (buf_add(&e->out, p, n)) luaL_error(e->L, "json: out of memory");
}
static void adds(encoder *e, const char *p) { add(e, p, strlen(p)); }
static void addc(encoder *e, char c) { add(e, &c, 1); }

static int encoder_gc(lua_State *L) {
  encoder *e = lua_touserdata(L, 1);
  buf_free(&e->out);
  return 0;
}

static int enc_error(encoder *e, const char *what) {
  where(e);
  return luaL_error(e->L, "json: cannot encode %s at %s", what, lua_tostring(e->L, -1));
}

static void enc_string(encoder *e, const char *s, size_t n) {
  size_t bad = utf8_invalid_at(s, n);
  if (bad < n) {
    lua_pushfstring(e->L, "a string with invalid UTF-8 (byte %d)", (int)bad + 1);
    enc_error(e, lua_tostring(e->L, -1));
  }
  addc(e, '"');
  size_t run = 0; /* plain bytes are copied a run at a time */
  char tmp[8];
  for (size_t i = 0; i < n; i++) {
    const char *esc = json_escape_of((unsigned char)s[i], tmp);
    if (!esc) continue;
    add(e, s + run, i - run);
    adds(e, esc);
    run = i + 1;
  }
  add(e, s + run, n - run);
  addc(e, '"');
}

/* A string alone (what --json writes once per line of a child's output):
 * straight into a Lua buffer, no encoder. */
static int encode_plain_string(lua_State *L) {
  size_t n;
  const char *s = lua_tolstring(L, 1, &n);
  size_t bad = utf8_invalid_at(s, n);
  if (bad < n) return luaL_error(L, "json: cannot encode a string with invalid UTF-8 (byte %d) at $", (int)bad + 1);
  luaL_Buffer b;
  luaL_buffinitsize(L, &b, n + 2);
  luaL_addchar(&b, '"');
  size_t run = 0;
  char tmp[8];
  for (size_t i = 0; i < n; i++) {
    const char *esc = json_escape_of((unsigned char)s[i], tmp);
    if (!esc) continue;
    luaL_addlstring(&b, s + run, i - run);
    luaL_addstring(&b, esc);
    run = i + 1;
  }
  luaL_addlstring(&b, s + run, n - run);
  luaL_addchar(&b, '"');
  luaL_pushresult(&b);
  return 1;
}

static void enc_number(encoder *e, int idx) {
  char tmp[64];
  if (lua_isinteger(e->L, idx)) {
    snprintf(tmp, sizeof tmp, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(e->L, idx));
  } else {
    double v = lua_tonumber(e->L, idx);
    if (!isfinite(v)) enc_error(e, isnan(v) ? "NaN" : "an infinite number");
    for (int prec = 15; prec <= 17; prec++) { /* shortest text that reads back the same */
      snprintf(tmp, sizeof tmp, "%.*g", prec, v);
      if (strtod(tmp, NULL) == v) break;
    }
    if (!strpbrk(tmp, ".eE")) strcat(tmp, ".0"); /* stays a float when decoded */
  }
  adds(e, tmp);
}

static void newline(encoder *e) {
  if (!e->indentlen) return;
  addc(e, '\n');
  for (int i = 0; i < e->depth; i++) add(e, e->indent, e->indentlen);
}

static void enc_value(encoder *e, int idx);

/* "array", "object", or raises for keys that fit neither. */
static int table_kind(encoder *e, int idx) {
  lua_State *L = e->L;
  if (lua_getmetatable(L, idx)) {
    int kind = 0;
    luaL_getmetatable(L, ARRAY_MT);
    if (lua_rawequal(L, -1, -2)) kind = 'a';
    lua_pop(L, 1);
    luaL_getmetatable(L, OBJECT_MT);
    if (lua_rawequal(L, -1, -2)) kind = 'o';
    lua_pop(L, 2);
    if (kind) return kind;
  }
  lua_Integer count = 0, maxi = 0;
  int strings = 0, others = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    count++;
    if (lua_type(L, -1) == LUA_TSTRING) strings++;
    else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0) {
      if (lua_tointeger(L, -1) > maxi) maxi = lua_tointeger(L, -1);
    } else others++;
  }
  if (count == 0) return 'o'; /* {} ; json.array() for [] */
  if (!strings && !others && maxi == count) return 'a';
  if (strings == count) return 'o';
  if (!strings && !others) enc_error(e, "a sparse array (use json.null for holes)");
  return enc_error(e, "a table that mixes array and object keys");
}

/* Keys with their lengths: a key may hold a NUL (decoded from \u0000). */
typedef struct {
  const char *s;
  size_t n;
} key;

static int cmp_keys(const void *a, const void *b) {
  const key *x = a, *y = b;
  int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
  return c ? c : (x->n > y->n) - (x->n < y->n);
}

static void enc_object(encoder *e, int idx) {
  lua_State *L = e->L;
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) enc_error(e, "an object key that is not a string");
    n++;
  }
  key *keys = lua_newuserdatauv(L, (n ? n : 1) * sizeof *keys, 0); /* keys anchored by the table */
  size_t i = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    keys[i].s = lua_tolstring(L, -1, &keys[i].n);
    i++;
  }
  if (e->sort) qsort(keys, n, sizeof *keys, cmp_keys);
  addc(e, '{');
  e->depth++;
  for (i = 0; i < n; i++) {
    if (i) addc(e, ',');
    newline(e);
    enc_string(e, keys[i].s, keys[i].n);
    adds(e, e->indentlen ? ": " : ":");
    e->path[e->depth - 1] = keys[i].s;
    lua_pushlstring(L, keys[i].s, keys[i].n);
    lua_rawget(L, idx);
    enc_value(e, lua_gettop(L));
    lua_pop(L, 1);
  }
  e->depth--;
  if (n) newline(e);
  addc(e, '}');
  lua_pop(L, 1); /* keys */
}

static void enc_array(encoder *e, int idx) {
  lua_State *L = e->L;
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
  addc(e, '[');
  e->depth++;
  for (lua_Integer i = 1; i <= n; i++) {
    if (i > 1) addc(e, ',');
    newline(e);
    e->path[e->depth - 1] = NULL;
    e->ipath[e->depth - 1] = i;
    lua_rawgeti(L, idx, i);
    enc_value(e, lua_gettop(L));
    lua_pop(L, 1);
  }
  e->depth--;
  if (n) newline(e);
  addc(e, ']');
}

static void enc_value(encoder *e, int idx) {
  lua_State *L = e->L;
  luaL_checkstack(L, 6, "json: nesting too deep");
  switch (lua_type(L, idx)) {
    case LUA_TNIL: adds(e, "null"); break;
    case LUA_TBOOLEAN: adds(e, lua_toboolean(L, idx) ? "true" : "false"); break;
    case LUA_TNUMBER: enc_number(e, idx); break;
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      enc_string(e, s, n);
      break;
    }
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == NULL) {
        adds(e, "null");
        break;
      }
      enc_error(e, "a userdata");
      break;
    case LUA_TTABLE:
      if (e->depth >= JSON_MAX_DEPTH) enc_error(e, "a value nested deeper than 1000 levels (a cycle?)");
      if (table_kind(e, idx) == 'a') enc_array(e, idx);
      else enc_object(e, idx);
      break;
    default: lua_pushfstring(L, "a %s", luaL_typename(L, idx)); enc_error(e, lua_tostring(L, -1));
  }
}

/* encode(value [, {indent = 2 | "\t", sort_keys = true}])
 * Stack: 1 value, 2 options, 3 the indent string, 4 the encoder (5 its path
 * arrays). Both stay
 * anchored for the whole call: the encoder's __gc frees its buffer, so
 * letting it go unreferenced mid-encode would free memory still in use. */
static int json_encode(lua_State *L) {
  luaL_checkany(L, 1);
  if (lua_type(L, 1) == LUA_TSTRING) return encode_plain_string(L);
  lua_settop(L, 2);
  int sort = 1; /* reproducible output by default: Lua's table order is not */
  lua_pushliteral(L, "");
  if (lua_istable(L, 2)) {
    int t = lua_getfield(L, 2, "indent");
    if (t == LUA_TNUMBER) {
      lua_Integer w = lua_tointeger(L, -1);
      if (!lua_isinteger(L, -1) || w < 0 || w > 16) return luaL_argerror(L, 2, "indent must be 0..16 or a string");
      lua_pushlstring(L, "                ", (size_t)w);
      lua_replace(L, 3);
    } else if (t == LUA_TSTRING) {
      lua_pushvalue(L, -1);
      lua_replace(L, 3);
    } else if (t != LUA_TNIL) {
      return luaL_argerror(L, 2, "indent must be a number or a string");
    }
    lua_pop(L, 1);
    if (lua_getfield(L, 2, "sort_keys") != LUA_TNIL) sort = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  encoder *e = lua_newuserdatauv(L, sizeof *e, 0);
  memset(e, 0, sizeof *e);
  luaL_setmetatable(L, "drun.json.encoder");
  e->L = L;
  if (lua_type(L, 1) == LUA_TTABLE) { /* stack 5: the path arrays, anchored for the call */
    char *paths = lua_newuserdatauv(L, (JSON_MAX_DEPTH + 1) * (sizeof *e->path + sizeof *e->ipath), 0);
    e->ipath = (lua_Integer *)paths;
    e->path = (const char **)(paths + (JSON_MAX_DEPTH + 1) * sizeof *e->ipath);
  }
  e->sort = sort;
  e->indent = lua_tolstring(L, 3, &e->indentlen);
  enc_value(e, 1);
  lua_pushlstring(L, buf_cstr(&e->out), e->out.len);
  buf_free(&e->out);
  return 1;
}

static int mark(lua_State *L, const char *mt) {
  if (lua_isnoneornil(L, 1)) lua_newtable(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  luaL_setmetatable(L, mt);
  return 1;
}
static int json_array(lua_State *L) { return mark(L, ARRAY_MT); }
static int json_object(lua_State *L) { return mark(L, OBJECT_MT); }

/* kind(v) -> "array" | "object" | nil: what a decoded table was. */
static int json_kind(lua_State *L) {
  if (lua_getmetatable(L, 1)) {
    luaL_getmetatable(L, ARRAY_MT);
    if (lua_rawequal(L, -1, -2)) return lua_pushliteral(L, "array"), 1;
    luaL_getmetatable(L, OBJECT_MT);
    if (lua_rawequal(L, -1, -3)) return lua_pushliteral(L, "object"), 1;
  }
  return 0;
}

static const luaL_Reg json_funcs[] = {
    {"decode", json_decode}, {"encode", json_encode}, {"array", json_array},
    {"object", json_object}, {"kind", json_kind},     {NULL, NULL},
};

int luaopen_drun_json(lua_State *L) {
  luaL_newmetatable(L, ARRAY_MT);
  lua_pushliteral(L, "array");
  lua_setfield(L, -2, "__name");
  luaL_newmetatable(L, OBJECT_MT);
  lua_pushliteral(L, "object");
  lua_setfield(L, -2, "__name");
  luaL_newmetatable(L, "drun.json.builder");
  lua_pushcfunction(L, builder_gc);
  lua_setfield(L, -2, "__gc");
  luaL_newmetatable(L, "drun.json.encoder");
  lua_pushcfunction(L, encoder_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 4);
  luaL_newlib(L, json_funcs);
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  return 1;
}
