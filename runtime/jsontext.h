/* JSON text exactly as RFC 8259 has it: a strict parser that hands each
 * value to a sink (drun.json builds Lua values from it; the fuzzer and the C
 * tests only validate), UTF-8 validation, and error positions. Lua-free.
 *
 * Stricter than cJSON, which drun used before: no leading zeros, no "1." or
 * "-.1", no raw control characters in strings, only space, tab, CR and LF
 * between tokens, \u escapes checked (surrogates paired), numbers beyond a
 * double's range refused, and \u0000 kept as a byte of the string (the sink
 * gets a length), never a silent truncation. */
#ifndef DRUN_JSONTEXT_H
#define DRUN_JSONTEXT_H
#include <stddef.h>

#include "buf.h"

#define JSON_MAX_DEPTH 1000

/* Offset of the first byte that is not valid UTF-8 (overlong forms,
 * surrogates and code points above U+10FFFF are invalid), or n. */
size_t utf8_invalid_at(const char *s, size_t n);

/* What the parser found, in document order. Each returns 0 to go on; a
 * non-zero return stops the parse (json_parse then returns it). Every
 * callback may be NULL. For an object the sink gets key() before each value;
 * close() follows the last member or element. */
typedef struct {
  int (*open)(void *ud, char kind); /* '[' or '{' */
  int (*close)(void *ud, char kind);
  int (*key)(void *ud, const char *s, size_t n);
  int (*string)(void *ud, const char *s, size_t n);
  /* the number's own text; integral: no fraction or exponent */
  int (*number)(void *ud, const char *text, size_t n, int integral, double value);
  int (*literal)(void *ud, char which); /* 't', 'f', 'n' */
  int (*member_done)(void *ud, char kind); /* a value inside '[' or '{' is complete */
} json_sink;

typedef struct {
  size_t at;       /* byte offset of the problem */
  const char *why; /* static text */
  int truncated;   /* the text ended where more was needed */
} json_error;

/* 0: valid, the sink saw every value. -1: invalid, *err says where and why.
 * Any other value: what a sink callback returned. scratch holds decoded
 * strings (passed to the sink, valid until its callback returns); the caller
 * frees it, also when a callback never returns (a Lua error). */
int json_parse(const char *s, size_t n, const json_sink *sink, void *ud, buf *scratch, json_error *err);

/* How byte c is written inside a JSON string: NULL when as it is (tmp
 * holds a \u00XX escape when one is needed). */
const char *json_escape_of(unsigned char c, char tmp[8]);

/* Appends s as a JSON string literal (quotes included) to out; a byte that
 * is not valid UTF-8 becomes U+FFFD, and *valid says whether any did.
 * 0, or -1 out of memory. */
int json_string_lossy(buf *out, const char *s, size_t n, int *valid);

/* Appends the base64 (RFC 4648, padded) of s to out; 0, or -1. */
int base64_add(buf *out, const char *s, size_t n);

/* Line and column (1-based; columns count bytes) of a byte offset. */
void json_position(const char *s, size_t n, size_t off, int *line, int *col);
#endif
