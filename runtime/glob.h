// Glob matching on '/'-separated paths, as deploy flows use it
// ("docs/usage-docs/**", "migrations/*.sql"):
//   *      any run of characters except '/'
//   **     as a whole segment: zero or more segments ("a/**" matches what is below a)
//   ?      one character except '/'
//   [a-z]  a class; [!a] or [^a] negated
//   \x     x literally
// Used by fs.glob and by git's changed(). Lua-free.
#ifndef DRUN_GLOB_H
#define DRUN_GLOB_H

int glob_match(const char *pattern, const char *path); /* 1 match, 0 not */
int glob_has_magic(const char *s);                     /* any of * ? [ */
#endif
