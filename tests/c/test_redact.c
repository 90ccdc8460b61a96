/* redact.c and linesink.c: secrets masked in whole buffers and in streams cut
 * at arbitrary points. */
#include <stdlib.h>

#include "check.h"
#include "linesink.h"
#include "redact.h"

static char *redacted(const char *s) { return redact_dup(s, strlen(s), NULL); }

TEST(masks_every_occurrence) {
  redact_clear();
  CHECK(redact_add("hunter22", 8) == 1);
  char *r = redacted("pw=hunter22 again hunter22.");
  CHECK_STR(r, "pw=*** again ***.");
  free(r);
}

TEST(short_values_are_not_registered) {
  redact_clear();
  CHECK(redact_add("abc", 3) == 0);
  CHECK(redact_add("", 0) == 0);
  CHECK(redact_count() == 0);
}

TEST(duplicates_registered_once) {
  redact_clear();
  CHECK(redact_add("s3cr3t", 6) == 1);
  CHECK(redact_add("s3cr3t", 6) == 0);
  CHECK(redact_count() == 1);
}

TEST(longer_secret_wins_over_its_prefix) {
  redact_clear();
  redact_add("token", 5);
  redact_add("token-long-value", 16);
  char *r = redacted("x token-long-value y token z");
  CHECK_STR(r, "x *** y *** z");
  free(r);
}

TEST(secret_names) {
  CHECK(redact_name_is_secret("GITHUB_TOKEN"));
  CHECK(redact_name_is_secret("CLOUDFLARE_API_TOKEN=abc"));
  CHECK(redact_name_is_secret("AWS_SECRET"));
  CHECK(redact_name_is_secret("STRIPE_KEY"));
  CHECK(redact_name_is_secret("DB_PASSWORD_PROD"));
  CHECK(redact_name_is_secret("github_token"));
  CHECK(!redact_name_is_secret("TOKENIZER"));
  CHECK(!redact_name_is_secret("KEYBOARD"));
  CHECK(!redact_name_is_secret("PATH"));
}

TEST(scans_environment) {
  redact_clear();
  char *env[] = {"PATH=/usr/bin", "FLY_API_TOKEN=fly-abcdef", "SHORT_KEY=ab", "HOME=/root", NULL};
  redact_scan_env(env);
  CHECK(redact_count() == 1);
  char *r = redacted("token fly-abcdef used; /usr/bin stays");
  CHECK_STR(r, "token *** used; /usr/bin stays");
  free(r);
}

TEST(partial_secret_at_chunk_end_is_held_back) {
  redact_clear();
  redact_add("supersecret", 11);
  buf out = {0};
  const char *a = "value=super";
  size_t used = redact_apply(a, strlen(a), &out, 0);
  CHECK(used == 6); /* "super" may be the start of the secret */
  CHECK_STR(buf_cstr(&out), "value=");
  buf_free(&out);
}

typedef struct {
  buf text;
} collected;

static int collect(void *ud, const char *s, size_t n, int bol, int eol) {
  collected *c = ud;
  if (bol) buf_addstr(&c->text, "> ");
  buf_add(&c->text, s, n);
  if (eol) buf_addstr(&c->text, "|\n");
  return 0;
}

TEST(linesink_splits_lines_and_strips_crlf) {
  redact_clear();
  collected c = {{0}};
  linesink ls;
  linesink_init(&ls, collect, &c);
  linesink_feed(&ls, "one\r\ntw", 7);
  linesink_feed(&ls, "o\nthree", 7);
  linesink_finish(&ls);
  CHECK_STR(buf_cstr(&c.text), "> one|\n> two|\n> three|\n");
  linesink_free(&ls);
  buf_free(&c.text);
}

TEST(linesink_secret_split_across_every_chunk_boundary) {
  redact_clear();
  redact_add("p4ssw0rd!", 9);
  const char *msg = "login p4ssw0rd! ok\n";
  for (size_t cut = 0; cut <= strlen(msg); cut++) {
    collected c = {{0}};
    linesink ls;
    linesink_init(&ls, collect, &c);
    linesink_feed(&ls, msg, cut);
    linesink_feed(&ls, msg + cut, strlen(msg) - cut);
    linesink_finish(&ls);
    CHECK_STR(buf_cstr(&c.text), "> login *** ok|\n");
    linesink_free(&ls);
    buf_free(&c.text);
  }
}

TEST(linesink_bounds_an_endless_line_without_cutting_a_secret) {
  redact_clear();
  redact_add("SECRETSECRET", 12);
  collected c = {{0}};
  linesink ls;
  linesink_init(&ls, collect, &c);
  size_t n = LINESINK_MAX * 3;
  char *big = malloc(n);
  memset(big, 'a', n);
  memcpy(big + LINESINK_MAX + 1 - 6, "SECRETSECRET", 12); /* straddles the first piece's end */
  for (size_t off = 0; off < n; off += 4096) linesink_feed(&ls, big + off, n - off < 4096 ? n - off : 4096);
  CHECK(ls.pending.len + ls.clean.len <= LINESINK_MAX + 4096);
  linesink_finish(&ls);
  CHECK(strstr(buf_cstr(&c.text), "SECRET") == NULL);
  CHECK(strstr(buf_cstr(&c.text), "***") != NULL);
  CHECK(c.text.len == 2 + n - 12 + 3 + 2); /* prefix + text + mask + "|\n" */
  free(big);
  linesink_free(&ls);
  buf_free(&c.text);
}

/* A PEM key is one secret over several lines: masked whole in streamed
 * output, wherever the chunks are cut (it used to be redacted line by line,
 * so no line ever matched). */
TEST(linesink_masks_a_multi_line_secret) {
  redact_clear();
  const char *pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END KEY-----";
  redact_add(pem, strlen(pem));
  buf msg = {0};
  buf_addf(&msg, "key:\n%s\ndone\n", pem);
  for (size_t cut = 0; cut <= msg.len; cut++) {
    collected c = {{0}};
    linesink ls;
    linesink_init(&ls, collect, &c);
    linesink_feed(&ls, msg.data, cut);
    linesink_feed(&ls, msg.data + cut, msg.len - cut);
    linesink_finish(&ls);
    CHECK_STR(buf_cstr(&c.text), "> key:|\n> ***|\n> done|\n");
    linesink_free(&ls);
    buf_free(&c.text);
  }
  buf_free(&msg);
}

TEST(every_encoding_of_a_secret) {
  redact_clear();
  redact_add("pa\"ss\\w:rd/+", 12);
  char *r = redacted("json \"pa\\\"ss\\\\w:rd/+\" url pa%22ss%5Cw%3Ard%2F%2B raw pa\"ss\\w:rd/+");
  CHECK_STR(r, "json \"***\" url *** raw ***");
  free(r);
  /* escaped as drun's encoder writes it: \b, not \u0008 */
  redact_add("back\bspace-secret", 17);
  r = redacted("{\"k\":\"back\\bspace-secret\"}");
  CHECK_STR(r, "{\"k\":\"***\"}");
  free(r);
  /* Basic auth: base64("alice:" + secret) holds the secret's base64 at some
   * alignment, masked whatever the user name's length */
  redact_clear();
  redact_add("s3cr3t-pass", 11);
  const char *basic[] = {"Authorization: Basic YWxpY2U6czNjcjN0LXBhc3M=", /* alice:s3cr3t-pass */
                         "Authorization: Basic Ym9iOnMzY3IzdC1wYXNz",     /* bob:s3cr3t-pass */
                         "Authorization: Basic Y2Fyb2w6czNjcjN0LXBhc3M="}; /* carol:s3cr3t-pass */
  for (int i = 0; i < 3; i++) {
    r = redacted(basic[i]);
    CHECK(strstr(r, "***") != NULL);
    if (!strstr(r, "***")) printf("    not masked: %s\n", r);
    free(r);
  }
  CHECK(redact_count() == 1); /* the encodings are forms of one secret */
}

TEST(url_credentials_masked_without_registration) {
  redact_clear();
  char *r = redacted("push https://x-access-token:ghs_abc123@github.com/o/r.git and https://ghp_tok999@github.com/o/r "
                     "db postgres://app:pw%40x@db:5432/app ssh://git@github.com/o/r https://github.com/o/r user@example.com");
  CHECK_STR(r, "push https://x-access-token:***@github.com/o/r.git and https://***@github.com/o/r "
               "db postgres://app:***@db:5432/app ssh://git@github.com/o/r https://github.com/o/r user@example.com");
  free(r);
  char *env[] = {"DATABASE_URL=postgres://app:Sup3rS3cret@db/app", NULL};
  redact_scan_env(env);
  r = redacted("password Sup3rS3cret rejected");
  CHECK_STR(r, "password *** rejected");
  free(r);
}

int main(void) {
  check_suite = "c/redact";
  RUN(masks_every_occurrence);
  RUN(short_values_are_not_registered);
  RUN(duplicates_registered_once);
  RUN(longer_secret_wins_over_its_prefix);
  RUN(secret_names);
  RUN(scans_environment);
  RUN(partial_secret_at_chunk_end_is_held_back);
  RUN(linesink_splits_lines_and_strips_crlf);
  RUN(linesink_secret_split_across_every_chunk_boundary);
  RUN(linesink_bounds_an_endless_line_without_cutting_a_secret);
  RUN(linesink_masks_a_multi_line_secret);
  RUN(every_encoding_of_a_secret);
  RUN(url_credentials_masked_without_registration);
  redact_clear();
  return check_summary();
}
