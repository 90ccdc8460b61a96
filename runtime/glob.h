// Glob matching on '/'-separated paths, as deploy flows use it
// ("docs/usage-docs/**", "migrations/*.sql"):
//   *      any run of characters except '/'
//   **     as a whole segment: zero or more segments ("a/**/b" matches a/b);
//          as the last segment: everything below ("a/**" matches a/x, not a)
//   ?      one character except '/'
//   [a-z]  a class; [!a] or [^a] negated (an unclosed '[' is a literal)
//   \x     x literally
//   !pat   (in a list of filters only) excludes what pat matches, as in
//          GitHub's `paths:`: the last pattern that matches a path decides
// Braces ({a,b}) and extglobs (@(..), +(..), ...) are not supported and are
// refused by glob_check rather than silently matching nothing.
//
// Matching is polynomial: a segment is matched with one backtrack point per
// '*' run, and the segments with one backtrack point per '**' run, so a
// pattern of P bytes against a path of S bytes costs O(P * S) at worst.
// Used by fs.glob and by git's changed(). Lua-free.
#ifndef DRUN_GLOB_H
#define DRUN_GLOB_H
#include <stddef.h>

int glob_match(const char *pattern, const char *path); /* 1 match, 0 not */
int glob_has_magic(const char *s);                     /* any of * ? [ */

/* NULL when drun can match the pattern; otherwise why not (a static text). */
const char *glob_check(const char *pattern);

// Length of the pattern's literal leading directories, without the slash
// after them ("docs/site" of "docs/site/**"): where a walk can start and the
// only subtree that can match. 0 when the first segment already has magic.
size_t glob_literal_dir(const char *pattern);

/* A list of filters, in order: a path is selected when the last pattern
 * that matches it is not negated ('!'); none matching: not selected. */
int glob_list_match(const char *const *globs, size_t n, const char *path);
/* NULL when the list is usable; otherwise why not (a static text), with *bad
 * the index of the offending pattern. */
const char *glob_list_check(const char *const *globs, size_t n, size_t *bad);
#endif
