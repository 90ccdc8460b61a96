/* drun.json: decode with cJSON (plus jsontext.c's checks), encode with our own
 * writer. Arrays and objects stay distinct: decoded tables carry the
 * json.array / json.object metatables, and json.array{} / json.object{} mark
 * tables built in Lua. Integers stay integers; json.null stands for null. */
#include <cJSON.h>
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

typedef struct {
  const char *text;
  json_scan sc;
  size_t next_num;
} decoder;

/* The number's own text decides: no fraction or exponent and it fits in 64
 * bits -> integer; otherwise a float (lua_stringtonumber does exactly that). */
static void push_number(lua_State *L, decoder *d) {
  const json_numtok *t = &d->sc.nums[d->next_num++];
  const char *p = d->text + t->off;
  char tmp[64];
  if (t->len < sizeof tmp) {
    memcpy(tmp, p, t->len);
    tmp[t->len] = '\0';
    if (lua_stringtonumber(L, tmp)) return;
  }
  lua_pushnumber(L, strtod(p, NULL));
}

static void push_item(lua_State *L, decoder *d, const cJSON *item, int depth);

static void push_container(lua_State *L, decoder *d, const cJSON *item, int depth) {
  int is_array = cJSON_IsArray(item);
  int n = 0;
  for (const cJSON *c = item->child; c; c = c->next) n++;
  lua_createtable(L, is_array ? n : 0, is_array ? 0 : n);
  luaL_setmetatable(L, is_array ? ARRAY_MT : OBJECT_MT);
  int i = 1;
  for (const cJSON *c = item->child; c; c = c->next) {
    if (is_array) {
      push_item(L, d, c, depth + 1);
      lua_rawseti(L, -2, i++);
      continue;
    }
    lua_pushstring(L, c->string);
    if (lua_rawget(L, -2) != LUA_TNIL)
      luaL_error(L, "json: duplicate key \"%s\" in object", c->string);
    lua_pop(L, 1);
    lua_pushstring(L, c->string);
    push_item(L, d, c, depth + 1);
    lua_rawset(L, -3);
  }
}

static void push_item(lua_State *L, decoder *d, const cJSON *item, int depth) {
  luaL_checkstack(L, 4, "json: nesting too deep");
  if (cJSON_IsObject(item) || cJSON_IsArray(item)) push_container(L, d, item, depth);
  else if (cJSON_IsString(item)) lua_pushstring(L, item->valuestring);
  else if (cJSON_IsNumber(item)) push_number(L, d);
  else if (cJSON_IsTrue(item)) lua_pushboolean(L, 1);
  else if (cJSON_IsFalse(item)) lua_pushboolean(L, 0);
  else lua_pushlightuserdata(L, NULL); /* json.null */
}

/* The cJSON tree must be freed even when building the Lua value raises
 * (a duplicate key): it lives in a userdata with __gc, like a handle. */
typedef struct {
  cJSON *root;
  json_scan sc;
} parsed;

static int parsed_gc(lua_State *L) {
  parsed *p = luaL_checkudata(L, 1, "drun.json.parsed");
  if (p->root) cJSON_Delete(p->root);
  json_scan_free(&p->sc);
  p->root = NULL;
  return 0;
}

static int json_decode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  parsed *p = lua_newuserdatauv(L, sizeof *p, 0);
  memset(p, 0, sizeof *p);
  luaL_setmetatable(L, "drun.json.parsed");
  int line, col;
  if (json_prescan(s, n, &p->sc) != 0) {
    json_position(s, p->sc.err_at, &line, &col);
    return luaL_error(L, "json: %s at line %d, column %d (byte %d)", p->sc.err, line, col, (int)p->sc.err_at + 1);
  }
  const char *end = NULL;
  p->root = cJSON_ParseWithLengthOpts(s, n, &end, 0);
  size_t at = end && end >= s ? (size_t)(end - s) : 0;
  if (at > n) at = n;
  if (!p->root) {
    if (n == 0) return luaL_error(L, "json: empty input");
    json_position(s, at, &line, &col);
    if ((at + 1 >= n && p->sc.open_at_end) || (p->sc.open_string_at != (size_t)-1 && at - p->sc.open_string_at <= 1)) /* truncated */
      return luaL_error(L, "json: unexpected end of input at line %d, column %d", line, col);
    lua_pushlstring(L, s + at, n - at < 16 ? n - at : 16);
    return luaL_error(L, "json: invalid JSON at line %d, column %d (byte %d) near '%s'", line, col, (int)at + 1,
                      lua_tostring(L, -1));
  }
  while (at < n && strchr(" \t\r\n", s[at]) && s[at]) at++;
  if (at != n) { /* "{} x", or an embedded NUL */
    json_position(s, at, &line, &col);
    return luaL_error(L, "json: trailing data at line %d, column %d (byte %d)", line, col, (int)at + 1);
  }
  decoder d = {s, p->sc, 0};
  push_item(L, &d, p->root, 0);
  return 1;
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
  const char *path[JSON_MAX_DEPTH + 1]; /* keys on the way down, for error messages */
  lua_Integer ipath[JSON_MAX_DEPTH + 1];
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
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
      case '"': adds(e, "\\\""); break;
      case '\\': adds(e, "\\\\"); break;
      case '\n': adds(e, "\\n"); break;
      case '\r': adds(e, "\\r"); break;
      case '\t': adds(e, "\\t"); break;
      case '\b': adds(e, "\\b"); break;
      case '\f': adds(e, "\\f"); break;
      default:
        if (c < 0x20) {
          char u[8];
          snprintf(u, sizeof u, "\\u%04x", c);
          adds(e, u);
        } else {
          addc(e, (char)c);
        }
    }
  }
  addc(e, '"');
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

static int cmp_keys(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static void enc_object(encoder *e, int idx) {
  lua_State *L = e->L;
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) enc_error(e, "an object key that is not a string");
    n++;
  }
  const char **keys = lua_newuserdatauv(L, (n ? n : 1) * sizeof *keys, 0); /* keys anchored by the table */
  size_t i = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    keys[i++] = lua_tostring(L, -1);
  }
  if (e->sort) qsort(keys, n, sizeof *keys, cmp_keys);
  addc(e, '{');
  e->depth++;
  for (i = 0; i < n; i++) {
    if (i) addc(e, ',');
    newline(e);
    enc_string(e, keys[i], strlen(keys[i]));
    adds(e, e->indentlen ? ": " : ":");
    e->path[e->depth - 1] = keys[i];
    lua_getfield(L, idx, keys[i]);
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
 * Stack: 1 value, 2 options, 3 the indent string, 4 the encoder. Both stay
 * anchored for the whole call: the encoder's __gc frees its buffer, so
 * letting it go unreferenced mid-encode would free memory still in use. */
static int json_encode(lua_State *L) {
  luaL_checkany(L, 1);
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
  encoder *e = lua_newuserdatauv(L, sizeof *e, 0); /* big path arrays: not on the C stack */
  memset(e, 0, sizeof *e);
  luaL_setmetatable(L, "drun.json.encoder");
  e->L = L;
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
  luaL_newmetatable(L, "drun.json.parsed");
  lua_pushcfunction(L, parsed_gc);
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
