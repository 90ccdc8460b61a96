/* Secret redaction: the one place every output path goes through.
 *
 * Secrets are values registered explicitly (env.secret) or found in the
 * environment under names like *_TOKEN, *_SECRET, *_KEY, *PASSWORD* (and the
 * password of any URL in the environment). Each is matched in the forms it
 * travels in: as it is, JSON-escaped, percent-encoded, base64 at each
 * alignment, and line by line when it has several lines. Values
 * shorter than REDACT_MIN_LEN are not registered: masking every "abc" in the
 * output would destroy it and protect nothing. */
#ifndef DRUN_REDACT_H
#define DRUN_REDACT_H
#include <stddef.h>

#include "buf.h"

#define REDACT_MIN_LEN 4
#define REDACT_MASK "***"

int redact_add(const char *value, size_t len); /* 1 added, 0 ignored/known, -1 OOM */
int redact_name_is_secret(const char *name);   /* name without "=value" */
void redact_scan_env(char **envp);             /* registers NAME=VALUE pairs whose NAME is secret */
size_t redact_count(void);
void redact_clear(void); /* tests only */

/* Appends in[0..n) to out with every secret replaced by "***". With final = 0
 * it stops before a tail that could be the start of a secret cut off by the end
 * of the data and returns how many bytes it consumed; the caller keeps the rest
 * and passes it again with the next chunk. With final = 1 it consumes all.
 * Returns (size_t)-1 when out cannot grow. */
size_t redact_apply(const char *in, size_t n, buf *out, int final);

/* Appends s[0..n) to out with the credentials of every URL in it masked:
 * the password of scheme://user:password@host, the token of
 * http(s)://TOKEN@host. For complete texts (a line, a message); 0, or -1
 * when out cannot grow. */
int redact_url_credentials(const char *s, size_t n, buf *out);
const char *redact_find_scheme_sep(const char *s, size_t n); /* the first "://", or NULL: a URL to look at */

/* A complete text (a line, a message) with every secret and every URL's
 * credentials masked, into out (emptied first); tmp is scratch space, so a
 * caller that keeps both buffers allocates nothing per call. 0, or -1 OOM. */
int redact_text(const char *s, size_t n, buf *out, buf *tmp);

/* Convenience: a malloc'd, NUL-terminated redacted copy (NULL on OOM). */
char *redact_dup(const char *s, size_t n, size_t *outlen);
#endif
