#include "jsontext.h"

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

static int push_num(json_scan *sc, size_t *cap, size_t off, size_t len) {
  if (sc->nnums == *cap) {
    size_t nc = *cap ? *cap * 2 : 32;
    json_numtok *p = realloc(sc->nums, nc * sizeof *p);
    if (!p) return -1;
    sc->nums = p;
    *cap = nc;
  }
  sc->nums[sc->nnums++] = (json_numtok){off, len};
  return 0;
}

int json_prescan(const char *s, size_t n, json_scan *sc) {
  memset(sc, 0, sizeof *sc);
  sc->open_string_at = (size_t)-1;
  size_t bad = utf8_invalid_at(s, n);
  if (bad < n) {
    sc->err_at = bad;
    sc->err = "invalid UTF-8";
    return -1;
  }
  size_t cap = 0, i = 0;
  int depth = 0;
  while (i < n) {
    char c = s[i];
    if (c == '"') { /* skip the string; the parser checks its escapes */
      size_t start = i;
      for (i++; i < n && s[i] != '"'; i++)
        if (s[i] == '\\') i++;
      if (i >= n) sc->open_at_end = 1, sc->open_string_at = start;
      i++;
    } else if (c == '[' || c == '{') {
      if (++depth > JSON_MAX_DEPTH) {
        sc->err_at = i;
        sc->err = "nesting deeper than 1000 levels";
        return -1;
      }
      i++;
    } else if (c == ']' || c == '}') {
      depth--;
      i++;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      size_t start = i;
      while (i < n && strchr("+-.eE0123456789", s[i]) && s[i]) i++;
      if (push_num(sc, &cap, start, i - start)) {
        sc->err_at = start;
        sc->err = "out of memory";
        return -1;
      }
    } else {
      i++;
    }
  }
  if (depth > 0) sc->open_at_end = 1;
  return 0;
}

void json_scan_free(json_scan *sc) {
  free(sc->nums);
  sc->nums = NULL;
  sc->nnums = 0;
}

void json_position(const char *s, size_t off, int *line, int *col) {
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < off && s[i]; i++) {
    if (s[i] == '\n') (*line)++, *col = 1;
    else (*col)++;
  }
}
