#include "redact.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jsontext.h"

typedef struct {
  char *s;
  size_t n;
} secret;

static secret *secrets; /* sorted longest first, so a longer secret wins over its prefix */
static size_t nsecrets, capsecrets;
static size_t nregistered; /* values callers registered; secrets[] also holds their encodings */
static unsigned char first_byte[256]; /* quick reject: can a secret start with this byte? */
static unsigned char first_two[65536 / 8]; /* ... and with these two bytes? (every form has 4 or more) */
#define PAIR(a, b) ((unsigned)(unsigned char)(a) << 8 | (unsigned char)(b))

/* One form of a secret, as it is matched. 1 added, 0 known or too short, -1 OOM. */
static int add_form(const char *value, size_t len) {
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
  first_two[PAIR(value[0], value[1]) >> 3] |= (unsigned char)(1u << (PAIR(value[0], value[1]) & 7));
  return 1;
}

static int add_buf(buf *b) {
  int rc = add_form(b->data, b->len);
  b->len = 0;
  return rc < 0 ? -1 : 0;
}

/* The secret inside a JSON string, escaped exactly as drun's encoder writes
 * it: what `--json`, the ledger's metadata and any JSON a child prints carry. */
static int json_escaped(const char *v, size_t n, buf *b) {
  char tmp[8];
  for (size_t i = 0; i < n; i++) {
    const char *e = json_escape_of((unsigned char)v[i], tmp);
    if (e ? buf_addstr(b, e) : buf_add(b, &v[i], 1)) return -1;
  }
  return 0;
}

/* Percent-encoded, as in a query string or a URL's userinfo (RFC 3986:
 * unreserved characters stay). */
static int url_encoded(const char *v, size_t n, buf *b) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~", c);
    if (plain ? buf_add(b, &v[i], 1) : buf_addf(b, "%%%02X", c)) return -1;
  }
  return 0;
}

/* Base64 of the secret at each of the three alignments it can have inside a
 * longer encoded text (an HTTP Basic "user:password", a Kubernetes secret),
 * keeping only the characters that depend on the secret alone — as GitHub's
 * runner masks base64 forms of its secrets. */
static int base64_cores(const char *v, size_t n) {
  buf in = {0}, b = {0};
  int rc = 0;
  for (size_t shift = 0; shift < 3 && !rc; shift++) {
    /* shift bytes before the secret, and only whole groups of three: the
     * characters of a last, partial group depend on what follows it */
    in.len = b.len = 0;
    if (buf_add(&in, "\0\0", shift) || buf_add(&in, v, n) || base64_add(&b, in.data, (shift + n) / 3 * 3)) rc = -1;
    /* the first shift bytes are not the secret's: skip the characters they touch */
    size_t skip = shift == 0 ? 0 : shift == 1 ? 2 : 3;
    if (!rc && b.len >= skip + 6 && add_form(b.data + skip, b.len - skip) < 0) rc = -1;
  }
  buf_free(&in);
  buf_free(&b);
  return rc;
}

int redact_add(const char *value, size_t len) {
  int rc = add_form(value, len);
  if (rc != 1) return rc;
  nregistered++;
  buf b = {0};
  if (json_escaped(value, len, &b) || add_buf(&b) || url_encoded(value, len, &b) || add_buf(&b) ||
      base64_cores(value, len)) {
    buf_free(&b);
    return -1;
  }
  buf_free(&b);
  /* each line of a multi-line secret (a PEM key) on its own, as a child may
   * print one line of it */
  const char *line = value, *end = value + len, *nl;
  while ((nl = memchr(line, '\n', (size_t)(end - line)))) {
    size_t ln = (size_t)(nl - line) - (nl > line && nl[-1] == '\r');
    if (ln >= 8 && add_form(line, ln) < 0) return -1;
    line = nl + 1;
  }
  if (line != value && end - line >= 8 && add_form(line, (size_t)(end - line)) < 0) return -1;
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

/* "://" in s (memchr for the ':' is far quicker than memmem on short lines). */
const char *redact_find_scheme_sep(const char *s, size_t n) {
  for (const char *p = s, *end = s + n; (p = memchr(p, ':', (size_t)(end - p))); p++)
    if (end - p >= 3 && p[1] == '/' && p[2] == '/') return p;
  return NULL;
}

/* The credentials inside scheme://user:password@host (the password) or
 * http(s)://TOKEN@host (the token: a bare userinfo on http is a token).
 * Finds the first at or after *from; 1 with [*at, *at + *len), else 0. */
static int url_credential(const char *s, size_t n, size_t *from, size_t *at, size_t *len) {
  for (size_t k = *from; k + 3 <= n; k++) {
    const char *hit = redact_find_scheme_sep(s + k, n - k);
    if (!hit) return 0;
    k = (size_t)(hit - s);
    size_t b = k;
    while (b > 0 && (isalnum((unsigned char)s[b - 1]) || strchr("+.-", s[b - 1]))) b--;
    if (b == k || !isalpha((unsigned char)s[b])) continue;
    size_t u = k + 3, j = u, colon = 0;
    while (j < n && !strchr("/?#@ \t\r\n\"'<>`", s[j])) {
      if (s[j] == ':' && !colon) colon = j;
      j++;
    }
    *from = j;
    if (j >= n || s[j] != '@' || j == u) continue;
    if (colon) {
      if (colon + 1 == j) continue; /* user: with no password */
      *at = colon + 1, *len = j - colon - 1;
      return 1;
    }
    size_t slen = k - b;
    if ((slen == 4 && !strncasecmp(s + b, "http", 4)) || (slen == 5 && !strncasecmp(s + b, "https", 5))) {
      *at = u, *len = j - u;
      return 1;
    }
  }
  return 0;
}

int redact_url_credentials(const char *s, size_t n, buf *out) {
  size_t from = 0, done = 0, at, len;
  while (url_credential(s, n, &from, &at, &len)) {
    if (len == strlen(REDACT_MASK) && !memcmp(s + at, REDACT_MASK, len)) continue; /* masked already */
    if (buf_add(out, s + done, at - done) || buf_addstr(out, REDACT_MASK)) return -1;
    done = at + len;
  }
  return buf_add(out, s + done, n - done);
}

void redact_scan_env(char **envp) {
  for (; envp && *envp; envp++) {
    const char *eq = strchr(*envp, '=');
    if (!eq) continue;
    size_t n = strlen(eq + 1), from = 0, at, len;
    if (redact_name_is_secret(*envp)) redact_add(eq + 1, n);
    /* DATABASE_URL=postgres://app:PASSWORD@db/app: the password is a secret
     * whatever the variable is called */
    while (url_credential(eq + 1, n, &from, &at, &len)) redact_add(eq + 1 + at, len);
  }
}

size_t redact_count(void) { return nregistered; }

void redact_clear(void) {
  for (size_t i = 0; i < nsecrets; i++) free(secrets[i].s);
  free(secrets);
  secrets = NULL;
  nsecrets = capsecrets = nregistered = 0;
  memset(first_byte, 0, sizeof first_byte);
  memset(first_two, 0, sizeof first_two);
}

size_t redact_apply(const char *in, size_t n, buf *out, int final) {
  if (!nsecrets) return buf_add(out, in, n) ? (size_t)-1 : n;
  size_t i = 0, plain = 0; /* in[plain..i) is pending plain text */
  while (i < n) {
    if (first_byte[(unsigned char)in[i]] &&
        (i + 1 == n || first_two[PAIR(in[i], in[i + 1]) >> 3] & (1u << (PAIR(in[i], in[i + 1]) & 7)))) {
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
          partial = 1; /* could be a secret that continues in the next chunk: */
          break;       /* it outranks the shorter ones below, so wait for it */
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

int redact_text(const char *s, size_t n, buf *out, buf *tmp) {
  out->len = 0;
  if (redact_apply(s, n, out, 1) == (size_t)-1) return -1;
  if (!redact_find_scheme_sep(buf_cstr(out), out->len)) return 0; /* only text with a URL needs the second pass */
  tmp->len = 0;
  if (redact_url_credentials(buf_cstr(out), out->len, tmp)) return -1;
  buf swap = *out;
  *out = *tmp;
  *tmp = swap;
  return 0;
}

char *redact_dup(const char *s, size_t n, size_t *outlen) {
  buf b = {0}, tmp = {0};
  int rc = redact_text(s, n, &b, &tmp) || buf_reserve(&b, 0);
  buf_free(&tmp);
  if (rc) {
    buf_free(&b);
    return NULL;
  }
  if (outlen) *outlen = b.len;
  return b.data;
}
