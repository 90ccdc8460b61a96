#include "redact.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
  char *s;
  size_t n;
} secret;

static secret *secrets; /* sorted longest first, so a longer secret wins over its prefix */
static size_t nsecrets, capsecrets;
static unsigned char first_byte[256]; /* quick reject: can a secret start with this byte? */

int redact_add(const char *value, size_t len) {
  if (!value || len < REDACT_MIN_LEN) return 0;
  for (size_t i = 0; i < nsecrets; i++)
    if (secrets[i].n == len && memcmp(secrets[i].s, value, len) == 0) return 0;
  if (nsecrets == capsecrets) {
    size_t cap = capsecrets ? capsecrets * 2 : 16;
    secret *p = realloc(secrets, cap * sizeof *p);
    if (!p) return -1;
    secrets = p;
    capsecrets = cap;
  }
  char *copy = malloc(len);
  if (!copy) return -1;
  memcpy(copy, value, len);
  size_t at = nsecrets;
  while (at > 0 && secrets[at - 1].n < len) at--;
  memmove(secrets + at + 1, secrets + at, (nsecrets - at) * sizeof *secrets);
  secrets[at] = (secret){copy, len};
  nsecrets++;
  first_byte[(unsigned char)value[0]] = 1;
  return 1;
}

static int ends_with(const char *s, size_t n, const char *suffix) {
  size_t m = strlen(suffix);
  return n >= m && strncasecmp(s + n - m, suffix, m) == 0;
}

int redact_name_is_secret(const char *name) {
  size_t n = strcspn(name, "=");
  if (ends_with(name, n, "_TOKEN") || ends_with(name, n, "_SECRET") || ends_with(name, n, "_KEY"))
    return 1;
  for (size_t i = 0; i + 8 <= n; i++)
    if (strncasecmp(name + i, "PASSWORD", 8) == 0) return 1;
  return 0;
}

void redact_scan_env(char **envp) {
  for (; envp && *envp; envp++) {
    const char *eq = strchr(*envp, '=');
    if (eq && redact_name_is_secret(*envp)) redact_add(eq + 1, strlen(eq + 1));
  }
}

size_t redact_count(void) { return nsecrets; }

void redact_clear(void) {
  for (size_t i = 0; i < nsecrets; i++) free(secrets[i].s);
  free(secrets);
  secrets = NULL;
  nsecrets = capsecrets = 0;
  memset(first_byte, 0, sizeof first_byte);
}

size_t redact_apply(const char *in, size_t n, buf *out, int final) {
  size_t i = 0, plain = 0; /* in[plain..i) is pending plain text */
  while (i < n) {
    if (first_byte[(unsigned char)in[i]]) {
      size_t left = n - i;
      int matched = 0, partial = 0;
      for (size_t k = 0; k < nsecrets; k++) {
        const secret *s = &secrets[k];
        if (s->n <= left) {
          if (memcmp(in + i, s->s, s->n) == 0) {
            if (buf_add(out, in + plain, i - plain) || buf_addstr(out, REDACT_MASK)) return (size_t)-1;
            i += s->n;
            plain = i;
            matched = 1;
            break;
          }
        } else if (!final && memcmp(in + i, s->s, left) == 0) {
          partial = 1; /* could be a secret that continues in the next chunk */
        }
      }
      if (matched) continue;
      if (partial) {
        if (buf_add(out, in + plain, i - plain)) return (size_t)-1;
        return i;
      }
    }
    i++;
  }
  if (buf_add(out, in + plain, n - plain)) return (size_t)-1;
  return n;
}

char *redact_dup(const char *s, size_t n, size_t *outlen) {
  buf b = {0};
  if (redact_apply(s, n, &b, 1) == (size_t)-1 || buf_reserve(&b, 0)) {
    buf_free(&b);
    return NULL;
  }
  if (outlen) *outlen = b.len;
  return b.data;
}
