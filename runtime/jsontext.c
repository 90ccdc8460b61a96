#include "jsontext.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t utf8_invalid_at(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    unsigned cp, min;
    if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
    else return i;
    if (i + len > n) return i;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return n;
}

typedef struct {
  const char *s;
  size_t n, i;
  const json_sink *sink;
  void *ud;
  buf *scratch;
  json_error *err;
  int depth;
} parser;

#define CALL(p, fn, ...) ((p)->sink && (p)->sink->fn ? (p)->sink->fn((p)->ud, __VA_ARGS__) : 0)

static int fail(parser *p, size_t at, const char *why) {
  p->err->at = at;
  p->err->why = why;
  p->err->truncated = at >= p->n;
  return -1;
}

/* RFC 8259's whitespace, nothing else (no NUL, no form feed) */
static void skip_ws(parser *p) {
  while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')) p->i++;
}

static int hex4(parser *p, size_t at, unsigned *out) {
  if (at + 4 > p->n) return fail(p, p->n, "unexpected end of input");
  unsigned v = 0;
  for (size_t k = 0; k < 4; k++) {
    char c = p->s[at + k];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return fail(p, at - 2, "invalid \\u escape (four hex digits expected)");
  }
  *out = v;
  return 0;
}

static int put_utf8(buf *b, unsigned cp) {
  char u[4];
  size_t len;
  if (cp < 0x80) u[0] = (char)cp, len = 1;
  else if (cp < 0x800) u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), len = 2;
  else if (cp < 0x10000)
    u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[2] = (char)(0x80 | (cp & 0x3F)), len = 3;
  else
    u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)), u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)),
    u[3] = (char)(0x80 | (cp & 0x3F)), len = 4;
  return buf_add(b, u, len);
}

/* A string at p->i (the opening quote), decoded into the scratch buffer. */
static int parse_string(parser *p) {
  buf *b = p->scratch;
  b->len = 0;
  size_t start = ++p->i, run = start;
  for (;;) {
    if (p->i >= p->n) return fail(p, p->n, "unexpected end of input");
    unsigned char c = (unsigned char)p->s[p->i];
    if (c == '"') break;
    if (c < 0x20) return fail(p, p->i, "control character in a string (escape it)");
    if (c >= 0x80) {
      size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
      if (len > p->n - p->i) len = p->n - p->i;
      if (utf8_invalid_at(p->s + p->i, len) != len) return fail(p, p->i, "invalid UTF-8");
      p->i += len;
      continue;
    }
    if (c != '\\') {
      p->i++;
      continue;
    }
    if (buf_add(b, p->s + run, p->i - run)) return fail(p, p->i, "out of memory");
    if (p->i + 1 >= p->n) return fail(p, p->n, "unexpected end of input");
    char e = p->s[p->i + 1];
    const char *simple = strchr("\"\\/bfnrt", e);
    if (e && simple) {
      static const char to[] = "\"\\/\b\f\n\r\t";
      if (buf_add(b, &to[simple - "\"\\/bfnrt"], 1)) return fail(p, p->i, "out of memory");
      p->i += 2;
    } else if (e == 'u') {
      unsigned cp;
      if (hex4(p, p->i + 2, &cp)) return -1;
      size_t esc = p->i;
      p->i += 6;
      if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(p, esc, "invalid \\u escape (a low surrogate without a high one)");
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        unsigned lo;
        if (p->i + 1 >= p->n || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u')
          return fail(p, esc, "invalid \\u escape (a high surrogate without a low one)");
        if (hex4(p, p->i + 2, &lo)) return -1;
        if (lo < 0xDC00 || lo > 0xDFFF) return fail(p, esc, "invalid \\u escape (a high surrogate without a low one)");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p->i += 6;
      }
      if (put_utf8(b, cp)) return fail(p, esc, "out of memory");
    } else {
      return fail(p, p->i, "invalid escape in a string");
    }
    run = p->i;
  }
  if (buf_add(b, p->s + run, p->i - run)) return fail(p, p->i, "out of memory");
  p->i++; /* the closing quote */
  return 0;
}

static int digits(parser *p) {
  size_t from = p->i;
  while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
  return p->i > from;
}

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int parse_number(parser *p) {
  size_t start = p->i;
  int integral = 1;
  if (p->s[p->i] == '-') p->i++;
  if (p->i >= p->n) return fail(p, p->n, "unexpected end of input");
  if (p->s[p->i] == '0') {
    p->i++;
    if (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') return fail(p, start, "a number with a leading zero");
  } else if (!digits(p)) {
    return fail(p, start, "invalid number");
  }
  if (p->i < p->n && p->s[p->i] == '.') {
    p->i++;
    integral = 0;
    if (!digits(p)) return fail(p, p->i < p->n ? start : p->n, "a number needs digits after '.'");
  }
  if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
    p->i++;
    integral = 0;
    if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
    if (!digits(p)) return fail(p, p->i < p->n ? start : p->n, "a number needs digits in its exponent");
  }
  size_t len = p->i - start;
  char tmp[64], *text = tmp;
  if (len >= sizeof tmp && !(text = malloc(len + 1))) return fail(p, start, "out of memory");
  memcpy(text, p->s + start, len);
  text[len] = '\0';
  errno = 0;
  double v = strtod(text, NULL);
  if (text != tmp) free(text);
  if (isinf(v)) return fail(p, start, "a number too large for a double (it would become infinity)");
  return CALL(p, number, p->s + start, len, integral, v);
}

static int literal(parser *p, const char *word, char which) {
  size_t len = strlen(word);
  if (p->n - p->i < len) {
    if (memcmp(p->s + p->i, word, p->n - p->i) == 0) return fail(p, p->n, "unexpected end of input");
    return fail(p, p->i, "invalid literal");
  }
  if (memcmp(p->s + p->i, word, len) != 0) return fail(p, p->i, "invalid literal");
  p->i += len;
  return CALL(p, literal, which);
}

static int parse_value(parser *p);

static int parse_container(parser *p, char kind) {
  char close = kind == '[' ? ']' : '}';
  if (++p->depth > JSON_MAX_DEPTH) return fail(p, p->i, "nesting deeper than 1000 levels");
  int rc = CALL(p, open, kind);
  if (rc) return rc;
  p->i++;
  skip_ws(p);
  if (p->i < p->n && p->s[p->i] == close) {
    p->i++;
    p->depth--;
    return CALL(p, close, kind);
  }
  for (;;) {
    skip_ws(p);
    if (kind == '{') {
      if (p->i >= p->n) return fail(p, p->n, "unexpected end of input");
      if (p->s[p->i] != '"') return fail(p, p->i, "expected a string key");
      if (parse_string(p)) return -1;
      if ((rc = CALL(p, key, buf_cstr(p->scratch), p->scratch->len))) return rc;
      skip_ws(p);
      if (p->i >= p->n) return fail(p, p->n, "unexpected end of input");
      if (p->s[p->i] != ':') return fail(p, p->i, "expected ':'");
      p->i++;
      skip_ws(p);
    }
    if ((rc = parse_value(p))) return rc;
    if ((rc = CALL(p, member_done, kind))) return rc;
    skip_ws(p);
    if (p->i >= p->n) return fail(p, p->n, "unexpected end of input");
    if (p->s[p->i] == ',') {
      p->i++;
      continue;
    }
    if (p->s[p->i] != close) return fail(p, p->i, kind == '[' ? "expected ',' or ']'" : "expected ',' or '}'");
    p->i++;
    p->depth--;
    return CALL(p, close, kind);
  }
}

static int parse_value(parser *p) {
  if (p->i >= p->n) return fail(p, p->n, "unexpected end of input");
  char c = p->s[p->i];
  switch (c) {
    case '{':
    case '[': return parse_container(p, c);
    case '"':
      if (parse_string(p)) return -1;
      return CALL(p, string, buf_cstr(p->scratch), p->scratch->len);
    case 't': return literal(p, "true", 't');
    case 'f': return literal(p, "false", 'f');
    case 'n': return literal(p, "null", 'n');
    default:
      if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p);
      return fail(p, p->i, "invalid JSON");
  }
}

int json_parse(const char *s, size_t n, const json_sink *sink, void *ud, buf *scratch, json_error *err) {
  parser p = {s, n, 0, sink, ud, scratch, err, 0};
  memset(err, 0, sizeof *err);
  skip_ws(&p);
  if (p.i >= n) return fail(&p, n, n ? "no value, only whitespace" : "empty input");
  int rc = parse_value(&p);
  if (rc) return rc;
  skip_ws(&p);
  if (p.i != n) return fail(&p, p.i, "trailing data");
  return 0;
}

const char *json_escape_of(unsigned char c, char tmp[8]) {
  if (c >= 0x20 && c != '"' && c != '\\') return NULL; /* nearly every byte: decided first */
  switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case '\b': return "\\b";
    case '\f': return "\\f";
    default: snprintf(tmp, 8, "\\u%04x", c); return tmp;
  }
}

int json_string_lossy(buf *out, const char *s, size_t n, int *valid) {
  *valid = 1;
  if (buf_add(out, "\"", 1)) return -1;
  size_t i = 0, run = 0;
  char tmp[8];
  while (i < n) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') { /* plain ASCII: the common case, decided here */
      i++;
      continue;
    }
    if (c >= 0x80) { /* a whole sequence, or U+FFFD for its first byte */
      size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
      if (len <= n - i && utf8_invalid_at(s + i, len) == len) {
        i += len;
        continue;
      }
      if (buf_add(out, s + run, i - run) || buf_add(out, "\xEF\xBF\xBD", 3)) return -1;
      *valid = 0;
      run = ++i;
      continue;
    }
    const char *esc = json_escape_of(c, tmp);
    i++;
    if (!esc) continue;
    if (buf_add(out, s + run, i - 1 - run) || buf_addstr(out, esc)) return -1;
    run = i;
  }
  return buf_add(out, s + run, n - run) || buf_add(out, "\"", 1) ? -1 : 0;
}

int base64_add(buf *out, const char *s, size_t n) {
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i += 3) {
    unsigned a = (unsigned char)s[i], b = i + 1 < n ? (unsigned char)s[i + 1] : 0, c = i + 2 < n ? (unsigned char)s[i + 2] : 0;
    char quad[4] = {b64[a >> 2], b64[(a & 3) << 4 | b >> 4], i + 1 < n ? b64[(b & 15) << 2 | c >> 6] : '=',
                    i + 2 < n ? b64[c & 63] : '='};
    if (buf_add(out, quad, 4)) return -1;
  }
  return 0;
}

void json_position(const char *s, size_t n, size_t off, int *line, int *col) {
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < off && i < n; i++) {
    if (s[i] == '\n') (*line)++, *col = 1;
    else (*col)++;
  }
}
