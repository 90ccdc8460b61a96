/* glob.c: pattern and path from one input (split at the first newline);
 * no crash, and bounded time (libFuzzer's -timeout catches a blow-up). A
 * pattern matches itself when it has no magic. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "glob.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  char *path = strchr(s, '\n');
  if (path) *path++ = '\0';
  else path = s;
  glob_check(s);
  int m = glob_match(s, path);
  if (!glob_has_magic(s) && !strchr(s, '\\') && strcmp(s, path) == 0 && !m) abort();
  const char *list[] = {s, "!x/**", path};
  size_t bad;
  glob_list_check(list, 3, &bad);
  glob_list_match(list, 3, path);
  glob_literal_dir(s);
  free(s);
  return 0;
}
