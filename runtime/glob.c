#include "glob.h"

#include <string.h>

/* Matches one class starting at *pp (the '[') against c, within [*pp, end);
 * advances *pp past the ']'. -1: no closing bracket (the '[' is a literal). */
static int match_class(const char **pp, const char *end, char c) {
  const char *p = *pp + 1;
  int negate = p < end && (*p == '!' || *p == '^');
  if (negate) p++;
  int hit = 0, first = 1;
  while (p < end && (*p != ']' || first)) {
    first = 0;
    char lo = *p;
    if (lo == '\\' && p + 1 < end) lo = *++p;
    char hi = lo;
    if (p + 2 < end && p[1] == '-' && p[2] != ']') {
      hi = p[2];
      p += 2;
      if (hi == '\\' && p + 1 < end) hi = *++p;
    }
    if (c >= lo && c <= hi) hit = 1;
    p++;
  }
  if (p >= end) return -1;
  *pp = p + 1;
  return hit != negate;
}

/* One pattern token at *pp (not '*') against the character c; advances *pp. */
static int match_one(const char **pp, const char *end, char c) {
  const char *p = *pp;
  if (*p == '?') {
    *pp = p + 1;
    return 1;
  }
  if (*p == '[') {
    const char *q = p;
    int r = match_class(&q, end, c);
    if (r >= 0) {
      *pp = q;
      return r;
    }
  } else if (*p == '\\' && p + 1 < end) {
    p++;
  }
  *pp = p + 1;
  return *p == c;
}

/* One segment (no '/' on either side): the classic wildcard match with a
 * single backtrack point, the latest '*'. O(len(p) * len(s)). */
static int match_segment(const char *p, const char *pe, const char *s, const char *se) {
  const char *star_p = NULL, *star_s = NULL;
  while (s < se) {
    if (p < pe && *p == '*') {
      while (p < pe && *p == '*') p++;
      if (p == pe) return 1; /* a trailing '*' takes the rest of the segment */
      star_p = p;
      star_s = s;
      continue;
    }
    const char *q = p;
    if (p < pe && match_one(&q, pe, *s)) {
      p = q;
      s++;
      continue;
    }
    if (!star_p) return 0;
    p = star_p;
    s = ++star_s;
  }
  while (p < pe && *p == '*') p++;
  return p == pe;
}

static const char *seg_end(const char *s) {
  const char *e = strchr(s, '/');
  return e ? e : s + strlen(s);
}
static int is_globstar(const char *p, const char *e) { return e - p == 2 && p[0] == '*' && p[1] == '*'; }
/* the segment after the one ending at e, or NULL at the end of the string */
static const char *seg_next(const char *e) { return *e ? e + 1 : NULL; }

/* Segments as tokens: '**' matches any run of segments (one backtrack point,
 * the latest '**', as for '*' within a segment), every other segment exactly
 * one. A '**' that ends the pattern needs at least one segment. */
int glob_match(const char *pattern, const char *path) {
  const char *p = pattern, *s = path;
  const char *star_p = NULL, *star_s = NULL;
  while (s) {
    const char *se = seg_end(s);
    if (p) {
      const char *pe = seg_end(p);
      if (is_globstar(p, pe)) {
        const char *after = seg_next(pe);
        while (after && is_globstar(after, seg_end(after))) after = seg_next(seg_end(after));
        if (!after) return 1; /* trailing: everything below (s has a segment) */
        star_p = after;
        star_s = s;
        p = after;
        continue;
      }
      if (match_segment(p, pe, s, se)) {
        p = seg_next(pe);
        s = seg_next(se);
        continue;
      }
    }
    if (!star_p) return 0;
    star_s = seg_next(seg_end(star_s)); /* the '**' takes one more segment */
    if (!star_s) return 0;
    p = star_p;
    s = star_s;
  }
  return p == NULL;
}

int glob_has_magic(const char *s) { return strpbrk(s, "*?[") != NULL; }

const char *glob_check(const char *pattern) {
  if (!*pattern) return "an empty pattern";
  for (const char *p = pattern; *p; p++) {
    if (*p == '\\') {
      if (p[1]) p++;
      continue;
    }
    if (*p == '{' || *p == '}') return "braces ({a,b}) are not supported: list each pattern instead";
    if (strchr("?*+@!", *p) && p[1] == '(') return "extended globs (@(..), +(..), *(..), ?(..), !(..)) are not supported";
    if (*p == '[') { /* a class that would have to span a '/' can never match */
      const char *q = p + 1;
      if (*q == '!' || *q == '^') q++;
      if (*q == ']') q++;
      while (*q && *q != ']' && *q != '/') q++;
      if (*q == '/') return "a character class cannot contain '/'";
    }
  }
  return NULL;
}

size_t glob_literal_dir(const char *pattern) {
  const char *magic = strpbrk(pattern, "*?[\\");
  const char *end = magic ? magic : pattern + strlen(pattern);
  while (end > pattern && end[-1] != '/') end--;
  return end > pattern ? (size_t)(end - pattern) - 1 : 0;
}

int glob_list_match(const char *const *globs, size_t n, const char *path) {
  for (size_t i = n; i-- > 0;) {
    int neg = globs[i][0] == '!';
    if (glob_match(globs[i] + neg, path)) return !neg;
  }
  return 0;
}

const char *glob_list_check(const char *const *globs, size_t n, size_t *bad) {
  int positive = 0;
  for (size_t i = 0; i < n; i++) {
    *bad = i;
    int neg = globs[i][0] == '!';
    positive |= !neg;
    const char *why = glob_check(globs[i] + neg);
    if (why) return why;
  }
  *bad = 0;
  if (n && !positive) return "every pattern is negated ('!'), so nothing is selected: add what to include first, such as '**'";
  return NULL;
}
