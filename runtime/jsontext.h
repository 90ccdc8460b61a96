/* Checks on JSON text that cJSON does not make: UTF-8 validity, nesting depth,
 * and the literal spelling of every number (cJSON keeps only a double, which
 * would turn 9007199254740993 into ...992 and 1 into a float). Lua-free. */
#ifndef DRUN_JSONTEXT_H
#define DRUN_JSONTEXT_H
#include <stddef.h>

#define JSON_MAX_DEPTH 1000

/* Offset of the first byte that is not valid UTF-8 (overlong forms,
 * surrogates and code points above U+10FFFF are invalid), or n. */
size_t utf8_invalid_at(const char *s, size_t n);

typedef struct {
  size_t off, len; /* the number's text */
} json_numtok;

typedef struct {
  json_numtok *nums; /* in document order */
  size_t nnums;
  int open_at_end;   /* the text ends inside a string or an unclosed [ { */
  size_t open_string_at; /* where that unterminated string starts, or (size_t)-1 */
  size_t err_at;     /* byte offset of the problem when scan fails */
  const char *err;   /* static message */
} json_scan;

/* 0 ok; -1 with err/err_at set (invalid UTF-8, too deep, out of memory).
 * Syntax errors are left to the parser. */
int json_prescan(const char *s, size_t n, json_scan *out);
void json_scan_free(json_scan *sc);

/* Line and column (1-based) of a byte offset, for error messages. */
void json_position(const char *s, size_t off, int *line, int *col);
#endif
