#include "glob.h"

#include <string.h>

/* Matches one class at *pp against c; advances *pp past the ']'.
 * -1: no closing bracket (the '[' is then a literal). */
static int match_class(const char **pp, char c) {
  const char *p = *pp + 1;
  int negate = (*p == '!' || *p == '^');
  if (negate) p++;
  int hit = 0, first = 1;
  while (*p && (*p != ']' || first)) {
    first = 0;
    char lo = *p;
    if (lo == '\\' && p[1]) lo = *++p;
    char hi = lo;
    if (p[1] == '-' && p[2] && p[2] != ']') {
      hi = p[2];
      if (hi == '\\' && p[3]) hi = *(p += 1, p + 2);
      p += 2;
    }
    if (c >= lo && c <= hi) hit = 1;
    p++;
  }
  if (*p != ']') return -1;
  *pp = p + 1;
  return hit != negate && c != '/';
}

static int match(const char *pat, const char *p, const char *s) {
  for (;;) {
    if (p[0] == '*' && p[1] == '*' && (p == pat || p[-1] == '/') && (p[2] == '/' || p[2] == '\0')) {
      if (p[2] == '\0') return 1; /* trailing **: everything below */
      for (const char *t = s;;) { // "**/": zero or more whole segments
        if (match(pat, p + 3, t)) return 1;
        t = strchr(t, '/');
        if (!t) return 0;
        t++;
      }
    }
    if (*p == '*') {
      while (*p == '*') p++;
      for (const char *t = s;; t++) {
        if (match(pat, p, t)) return 1;
        if (*t == '\0' || *t == '/') return 0;
      }
    }
    if (*p == '\0') return *s == '\0';
    if (*s == '\0') return 0;
    if (*p == '?') {
      if (*s == '/') return 0;
    } else if (*p == '[') {
      const char *q = p;
      int r = match_class(&q, *s);
      if (r == 0) return 0;
      if (r == 1) {
        p = q;
        s++;
        continue;
      }
      if (*s != '[') return 0; /* unclosed: literal '[' */
    } else {
      if (*p == '\\' && p[1]) p++;
      if (*p != *s) return 0;
    }
    p++;
    s++;
  }
}

int glob_match(const char *pattern, const char *path) { return match(pattern, pattern, path); }

int glob_has_magic(const char *s) { return strpbrk(s, "*?[") != NULL; }
