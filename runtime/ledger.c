#include "ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "procid.h"
#include "redact.h"
#include "signals.h"

#define BUSY_TIMEOUT 60.0 /* seconds a writer waits for the others */

/* Statements run at every step, prepared once per connection. */
enum { STMT_STEP_START, STMT_STEP_END, STMT_SET_META, STMT_COUNT };

struct ledger {
  sqlite3 *db;
  sqlite3_stmt *cached[STMT_COUNT];
  char *path;
  double busy_since;
  unsigned seed;
  char host[256], ident[PROCID_MAX];
  pid_t pid;
};

/* ---- schema -------------------------------------------------------------- */

static const char *const migrations[LEDGER_SCHEMA_VERSION] = {
    /* 0 -> 1 */
    "CREATE TABLE deployment_history ("
    "  id TEXT PRIMARY KEY,"
    "  service TEXT NOT NULL, environment TEXT NOT NULL, recipe TEXT,"
    "  version TEXT NOT NULL, build_number INTEGER NOT NULL, full_version TEXT NOT NULL,"
    "  git_commit TEXT, git_branch TEXT,"
    "  deployed_at TEXT NOT NULL, deployed_by TEXT, finished_at TEXT,"
    "  status TEXT NOT NULL CHECK (status IN ('running','success','failed','rollback','aborted')),"
    "  duration_ms INTEGER,"
    "  workflow_run_id TEXT, workflow_run_url TEXT,"
    "  failed_step TEXT, error TEXT,"
    "  metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),"
    "  pid INTEGER, host TEXT, pid_ident TEXT);"
    /* Newest first, ties broken by id, each covering what its queries read. */
    "CREATE INDEX dh_time ON deployment_history(deployed_at, id);"
    "CREATE INDEX dh_env_time ON deployment_history(environment, deployed_at, id);"
    "CREATE INDEX dh_svc_env_status_time ON deployment_history(service, environment, status, deployed_at, id,"
    "  duration_ms, version);"
    "CREATE INDEX dh_status_time ON deployment_history(status, deployed_at, id, duration_ms, version);"
    "CREATE INDEX dh_full_version ON deployment_history(full_version);"
    /* Counts per status kept by triggers in the same transaction as the
     * change: stats are O(1) however long the history. */
    "CREATE TABLE deployment_counts ("
    "  service TEXT NOT NULL, environment TEXT NOT NULL, status TEXT NOT NULL, n INTEGER NOT NULL,"
    "  PRIMARY KEY (service, environment, status)) WITHOUT ROWID;"
    "CREATE TRIGGER dh_count_insert AFTER INSERT ON deployment_history BEGIN"
    "  INSERT INTO deployment_counts VALUES (new.service, new.environment, new.status, 1)"
    "  ON CONFLICT(service, environment, status) DO UPDATE SET n = n + 1; END;"
    "CREATE TRIGGER dh_count_update AFTER UPDATE OF service, environment, status ON deployment_history BEGIN"
    "  UPDATE deployment_counts SET n = n - 1"
    "   WHERE service = old.service AND environment = old.environment AND status = old.status;"
    "  INSERT INTO deployment_counts VALUES (new.service, new.environment, new.status, 1)"
    "  ON CONFLICT(service, environment, status) DO UPDATE SET n = n + 1; END;"
    "CREATE TRIGGER dh_count_delete AFTER DELETE ON deployment_history BEGIN"
    "  UPDATE deployment_counts SET n = n - 1"
    "   WHERE service = old.service AND environment = old.environment AND status = old.status; END;"
    "CREATE TABLE deployment_steps ("
    "  deployment_id TEXT NOT NULL REFERENCES deployment_history(id),"
    "  seq INTEGER NOT NULL, name TEXT NOT NULL,"
    "  status TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,"
    "  duration_ms INTEGER, error TEXT,"
    "  PRIMARY KEY (deployment_id, seq));"
    "CREATE TABLE deployment_counter ("
    "  service TEXT NOT NULL, version TEXT NOT NULL, last_build INTEGER NOT NULL,"
    "  PRIMARY KEY (service, version));"
    "CREATE TABLE locks ("
    "  service TEXT NOT NULL, environment TEXT NOT NULL,"
    "  pid INTEGER NOT NULL, host TEXT NOT NULL, pid_ident TEXT, started_at TEXT NOT NULL, recipe TEXT,"
    "  PRIMARY KEY (service, environment));",
    /* 1 -> 2: locks are leases (a runner on another host can take one only
     * once it ran out). A lock of schema 1 counts as expired: only a holder
     * on this host, judged by its pid, keeps it. */
    "ALTER TABLE locks ADD COLUMN run_url TEXT;"
    "ALTER TABLE locks ADD COLUMN renewed_at TEXT;"
    "ALTER TABLE locks ADD COLUMN expires_at TEXT;"
    "UPDATE locks SET renewed_at = started_at, expires_at = started_at;",
};

/* ---- small helpers ----------------------------------------------------- */

static int fail(ledger *l, buf *err, const char *what) {
  err->len = 0;
  buf_addf(err, "ledger: %s: %s", what, l && l->db ? sqlite3_errmsg(l->db) : "cannot open");
  return -1;
}

/* now + seconds, in ledger_now's form (text that sorts as time does) */
static void ledger_at(double seconds, char out[32]) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long long ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + (long long)(seconds * 1000);
  time_t sec = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&sec, &tm);
  char s[24];
  strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, 32, "%s.%03lldZ", s, ms % 1000);
}

int ledger_now(char out[32]) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char s[24];
  strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
  return snprintf(out, 32, "%s.%03ldZ", s, ts.tv_nsec / 1000000);
}

void ledger_new_id(char out[27]) {
  static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; /* Crockford */
  static unsigned long long last_ms;
  static unsigned char rnd[10];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  unsigned long long ms = (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
  if (ms <= last_ms) { /* same millisecond: the next id (ULID's monotonic rule) */
    ms = last_ms;
    for (int i = 9; i >= 0 && ++rnd[i] == 0; i--) {}
  } else if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
    for (size_t i = 0; i < sizeof rnd; i++) rnd[i] = (unsigned char)(rand() ^ (int)ts.tv_nsec >> i);
  }
  last_ms = ms;
  for (int i = 9; i >= 0; i--, ms >>= 5) out[i] = b32[ms & 31]; /* 48 bits of time in 10 chars */
  unsigned long long hi = 0, lo = 0; /* 80 random bits in 16 chars */
  for (int i = 0; i < 5; i++) hi = hi << 8 | rnd[i];
  for (int i = 5; i < 10; i++) lo = lo << 8 | rnd[i];
  for (int i = 17; i >= 10; i--, hi >>= 5) out[i] = b32[hi & 31];
  for (int i = 25; i >= 18; i--, lo >>= 5) out[i] = b32[lo & 31];
  out[26] = '\0';
}

/* Text bound into the ledger is redacted: no secret in any row. */
static int bind_text(sqlite3_stmt *st, int i, const char *s) {
  if (!s) return sqlite3_bind_null(st, i);
  size_t n;
  char *r = redact_dup(s, strlen(s), &n);
  if (!r) return SQLITE_NOMEM;
  return sqlite3_bind_text(st, i, r, (int)n, free);
}

/* JSON text (metadata) is bound as it is: drun.ledger masks secrets in the
 * values before encoding them (a secret with a '"' in it, or one that equals
 * a number, would otherwise be missed or turn the JSON invalid). */
static int bind_json(sqlite3_stmt *st, int i, const char *s) { return sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT); }

static int exec(ledger *l, const char *sql) { return sqlite3_exec(l->db, sql, NULL, NULL, NULL); }

static int busy(void *ud, int n) {
  ledger *l = ud;
  double now = proc_now();
  if (n == 0) l->busy_since = now;
  if (signals_caught() || now - l->busy_since > BUSY_TIMEOUT) return 0;
  /* Short randomised sleeps: fifty writers interleave instead of the default
   * handler's growing backoff starving some of them. */
  usleep(200 + (useconds_t)(rand_r(&l->seed) % 1800));
  return 1;
}

/* Runs one statement to completion; step_cb (may be NULL) sees each row. */
static int run(ledger *l, sqlite3_stmt *st, ledger_row_cb cb, void *ud) {
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    if (cb && cb(ud, st)) {
      rc = SQLITE_ABORT;
      break;
    }
  (void)l;
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int query(ledger *l, const char *sql, const ledger_filter *f, ledger_row_cb cb, void *ud, buf *err);

/* ---- opening ------------------------------------------------------------- */

static int reap(ledger *l, int dry, int *count);

static int not_a_ledger(buf *err, const char *path, const char *why) {
  err->len = 0;
  buf_addf(err, "ledger: %s is not a drun ledger (%s); left untouched", path, why);
  return -1;
}

static int pragma_int(ledger *l, const char *sql, long long *out) {
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(l->db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) *out = sqlite3_column_int64(st, 0), rc = SQLITE_OK;
  sqlite3_finalize(st);
  return rc;
}

static int open_ledger(const char *path, int readonly, ledger **out, int *reaped, buf *err) {
  *out = NULL;
  struct stat st;
  if (readonly && stat(path, &st) != 0) { /* a read never creates: a mistyped path says so */
    err->len = 0;
    buf_addf(err, "ledger: no ledger at %s (%s)", path, strerror(errno));
    return -1;
  }
  if (stat(path, &st) == 0 && st.st_size > 0) { /* look before sqlite touches anything */
    char head[16] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, head, sizeof head) : -1;
    if (fd >= 0) close(fd);
    if (got != (ssize_t)sizeof head || memcmp(head, "SQLite format 3", 16) != 0)
      return not_a_ledger(err, path, got < 0 ? strerror(errno) : "not an SQLite database");
  }
  ledger *l = calloc(1, sizeof *l);
  if (!l || !(l->path = strdup(path))) {
    free(l);
    err->len = 0;
    buf_addstr(err, "ledger: out of memory");
    return -1;
  }
  l->pid = getpid();
  l->seed = (unsigned)l->pid ^ (unsigned)time(NULL);
  procid_host(l->host, sizeof l->host);
  procid_of(l->pid, l->ident);
  int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(path, &l->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
    err->len = 0;
    buf_addf(err, "ledger: cannot open %s: %s", path, l->db ? sqlite3_errmsg(l->db) : "out of memory");
    ledger_close(l);
    return -1;
  }
  sqlite3_busy_handler(l->db, busy, l);
  /* One statement, so one snapshot: read separately, another drun creating
   * the ledger in between would make it look like someone else's database. */
  long long app = 0, version = 0, tables = 0;
  sqlite3_stmt *look;
  int rc = sqlite3_prepare_v2(l->db,
                              "SELECT (SELECT application_id FROM pragma_application_id),"
                              " (SELECT user_version FROM pragma_user_version),"
                              " (SELECT count(*) FROM sqlite_master)", -1, &look, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step(look)) == SQLITE_ROW) {
    app = sqlite3_column_int64(look, 0);
    version = sqlite3_column_int64(look, 1);
    tables = sqlite3_column_int64(look, 2);
    rc = SQLITE_OK;
  }
  sqlite3_finalize(look);
  if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT) {
    ledger_close(l);
    return not_a_ledger(err, path, "damaged or not a database");
  }
  if (rc != SQLITE_OK) {
    fail(l, err, "cannot read");
    ledger_close(l);
    return -1;
  }
  if (app != LEDGER_APP_ID && !(app == 0 && tables == 0)) {
    ledger_close(l);
    return not_a_ledger(err, path, "an SQLite database of something else");
  }
  if (version > LEDGER_SCHEMA_VERSION) {
    err->len = 0;
    buf_addf(err, "ledger: %s was written by a newer drun (schema %lld, this drun knows %d); upgrade drun; left untouched",
             path, version, LEDGER_SCHEMA_VERSION);
    ledger_close(l);
    return -1;
  }
  if (readonly && version < LEDGER_SCHEMA_VERSION && access(path, W_OK) == 0) {
    /* an older ledger is migrated forward on open (losing nothing), a read too */
    ledger_close(l);
    return open_ledger(path, 0, out, reaped, err);
  }
  if (readonly) { /* list, show, export: as it is, no migration, no reaping */
    if (version != LEDGER_SCHEMA_VERSION) {
      err->len = 0;
      buf_addf(err, "ledger: %s has schema %lld and is read-only here; a drun with write access migrates it to %d",
               path, version, LEDGER_SCHEMA_VERSION);
      ledger_close(l);
      return -1;
    }
    if (reaped) *reaped = 0;
    *out = l;
    return 0;
  }
  if (exec(l, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON") != SQLITE_OK) {
    fail(l, err, "cannot write");
    ledger_close(l);
    return -1;
  }
  /* Write only when there is something to write: a schema to create or
   * migrate, or records of dead drun runs to mark aborted. (A deploy proves
   * the ledger writable with its lock and its record before any step.) */
  int dead = 0;
  if (version == LEDGER_SCHEMA_VERSION && reap(l, 1, &dead) != SQLITE_OK) {
    fail(l, err, "cannot read");
    ledger_close(l);
    return -1;
  }
  int n = 0;
  if (version < LEDGER_SCHEMA_VERSION || dead) {
    if (exec(l, "BEGIN IMMEDIATE") != SQLITE_OK) goto write_failed;
    /* Read the version again under the write lock: another drun may have
     * created or migrated the ledger since we looked. */
    if (pragma_int(l, "PRAGMA user_version", &version) != SQLITE_OK) goto write_failed;
    char sql[96];
    for (long long v = version; v < LEDGER_SCHEMA_VERSION; v++)
      if (exec(l, migrations[v]) != SQLITE_OK) goto write_failed;
    snprintf(sql, sizeof sql, "PRAGMA application_id=%d; PRAGMA user_version=%d", LEDGER_APP_ID, LEDGER_SCHEMA_VERSION);
    if (exec(l, sql) != SQLITE_OK || reap(l, 0, &n) != SQLITE_OK || exec(l, "COMMIT") != SQLITE_OK) goto write_failed;
  }
  if (reaped) *reaped = n;
  /* Only for a ledger we accepted (a refused file must be left as it was,
   * with no -wal of ours): no checkpoint and fsync at every close. The WAL
   * stays, just as durable, and SQLite's auto-checkpoint folds it in every
   * 1000 pages during ordinary commits. Saves about a millisecond a run. */
  sqlite3_db_config(l->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
  *out = l;
  return 0;
write_failed:
  fail(l, err, "cannot write");
  exec(l, "ROLLBACK");
  ledger_close(l);
  return -1;
}

int ledger_open(const char *path, ledger **out, int *reaped, buf *err) { return open_ledger(path, 0, out, reaped, err); }
int ledger_open_readonly(const char *path, ledger **out, buf *err) { return open_ledger(path, 1, out, NULL, err); }

void ledger_close(ledger *l) {
  if (!l) return;
  for (int i = 0; i < STMT_COUNT; i++) sqlite3_finalize(l->cached[i]);
  sqlite3_close_v2(l->db);
  free(l->path);
  free(l);
}

sqlite3 *ledger_db(ledger *l) { return l->db; }

/* Records left `running` by a drun on this host that no longer exists:
 * counted (dry) or marked aborted. */
static int reap(ledger *l, int dry, int *count) {
  sqlite3_stmt *sel, *upd, *steps;
  int rc = sqlite3_prepare_v2(l->db,
                              "SELECT id, host, pid, pid_ident, deployed_at FROM deployment_history "
                              "WHERE status = 'running' AND host = ?1", -1, &sel, NULL);
  if (rc) return rc;
  sqlite3_bind_text(sel, 1, l->host, -1, SQLITE_STATIC);
  rc = sqlite3_prepare_v2(l->db,
                          "UPDATE deployment_history SET status = 'aborted', finished_at = ?2, "
                          "error = coalesce(error || '; ', '') || ?3 WHERE id = ?1", -1, &upd, NULL);
  if (rc) return sqlite3_finalize(sel), rc;
  rc = sqlite3_prepare_v2(l->db,
                          "UPDATE deployment_steps SET status = 'aborted', finished_at = ?2 "
                          "WHERE deployment_id = ?1 AND status = 'running'", -1, &steps, NULL);
  if (rc) return sqlite3_finalize(sel), sqlite3_finalize(upd), rc;
  char now[32];
  ledger_now(now);
  while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
    const char *host = (const char *)sqlite3_column_text(sel, 1);
    long long pid = sqlite3_column_int64(sel, 2);
    const char *ident = (const char *)sqlite3_column_text(sel, 3);
    if (procid_alive(host, (pid_t)pid, ident) != 0) continue;
    if (dry) {
      (*count)++;
      continue;
    }
    char note[160];
    snprintf(note, sizeof note, "aborted: drun (pid %lld on %s) exited without finishing this record (killed?)", pid, host);
    sqlite3_bind_value(upd, 1, sqlite3_column_value(sel, 0));
    sqlite3_bind_text(upd, 2, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(upd, 3, note, -1, SQLITE_TRANSIENT);
    sqlite3_bind_value(steps, 1, sqlite3_column_value(sel, 0));
    sqlite3_bind_text(steps, 2, now, -1, SQLITE_TRANSIENT);
    if ((rc = run(l, upd, NULL, NULL)) || (rc = run(l, steps, NULL, NULL))) break;
    sqlite3_reset(upd);
    sqlite3_reset(steps);
    (*count)++;
  }
  if (rc == SQLITE_DONE) rc = SQLITE_OK;
  sqlite3_finalize(sel);
  sqlite3_finalize(upd);
  sqlite3_finalize(steps);
  return rc;
}

/* ---- writing ------------------------------------------------------------- */

static int prepare(ledger *l, const char *sql, sqlite3_stmt **st, buf *err) {
  if (sqlite3_prepare_v2(l->db, sql, -1, st, NULL) == SQLITE_OK) return 0;
  return fail(l, err, "prepare");
}

/* A statement from the per-connection cache, reset and unbound. */
static int prepare_cached(ledger *l, int which, const char *sql, sqlite3_stmt **st, buf *err) {
  if (!l->cached[which] &&
      sqlite3_prepare_v3(l->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &l->cached[which], NULL) != SQLITE_OK)
    return fail(l, err, "prepare");
  *st = l->cached[which];
  sqlite3_reset(*st);
  sqlite3_clear_bindings(*st);
  return 0;
}

static int is_cached(ledger *l, sqlite3_stmt *st) {
  for (int i = 0; i < STMT_COUNT; i++)
    if (l->cached[i] == st) return 1;
  return 0;
}

/* Runs st in its own transaction (autocommit), then finalizes it, or only
 * resets it when it is a cached one. */
static int write1(ledger *l, sqlite3_stmt *st, const char *what, buf *err) {
  int rc = run(l, st, NULL, NULL);
  if (rc != SQLITE_OK) fail(l, err, what);
  if (is_cached(l, st)) sqlite3_reset(st);
  else sqlite3_finalize(st);
  return rc == SQLITE_OK ? 0 : -1;
}

static int next_build_locked(ledger *l, const char *service, const char *version, long long *out, buf *err) {
  sqlite3_stmt *st;
  /* At the last 64-bit number the counter stops instead of turning into a
   * float (9.22e18) and handing out that build number again and again. */
  if (prepare(l, "INSERT INTO deployment_counter(service, version, last_build) VALUES (?1, ?2, 1) "
                 "ON CONFLICT(service, version) DO UPDATE SET last_build = last_build + 1"
                 " WHERE typeof(last_build) = 'integer' AND last_build < 9223372036854775807 RETURNING last_build",
              &st, err))
    return -1;
  bind_text(st, 1, service);
  bind_text(st, 2, version);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *out = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE) {
    err->len = 0;
    buf_addf(err, "ledger: no build number is left for %s %s (the last one, 9223372036854775807, is taken): "
                  "deploy a new version", service, version);
    return -1;
  }
  return rc == SQLITE_ROW ? 0 : fail(l, err, "cannot count the build");
}

static int tx(ledger *l, const char *sql, buf *err) {
  return exec(l, sql) == SQLITE_OK ? 0 : fail(l, err, "cannot write");
}

int ledger_next_build(ledger *l, const char *service, const char *version, long long *out, buf *err) {
  if (tx(l, "BEGIN IMMEDIATE", err)) return -1;
  if (next_build_locked(l, service, version, out, err)) return exec(l, "ROLLBACK"), -1;
  return tx(l, "COMMIT", err);
}

int ledger_begin(ledger *l, const ledger_begin_args *a, ledger_record *out, buf *err) {
  memset(out, 0, sizeof *out);
  ledger_new_id(out->id);
  ledger_now(out->deployed_at);
  if (tx(l, "BEGIN IMMEDIATE", err)) return -1;
  if (next_build_locked(l, a->service, a->version, &out->build_number, err)) return exec(l, "ROLLBACK"), -1;
  snprintf(out->full_version, sizeof out->full_version, "%s+build.%lld", a->version, out->build_number);
  sqlite3_stmt *st;
  if (prepare(l, "INSERT INTO deployment_history (id, service, environment, recipe, version, build_number,"
                 " full_version, git_commit, git_branch, deployed_at, deployed_by, status, workflow_run_id,"
                 " workflow_run_url, metadata, pid, host, pid_ident)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'running', ?12, ?13, json(?14), ?15, ?16, ?17)",
              &st, err))
    return exec(l, "ROLLBACK"), -1;
  sqlite3_bind_text(st, 1, out->id, -1, SQLITE_TRANSIENT);
  bind_text(st, 2, a->service);
  bind_text(st, 3, a->environment);
  bind_text(st, 4, a->recipe);
  bind_text(st, 5, a->version);
  sqlite3_bind_int64(st, 6, out->build_number);
  bind_text(st, 7, out->full_version);
  bind_text(st, 8, a->git_commit);
  bind_text(st, 9, a->git_branch);
  sqlite3_bind_text(st, 10, out->deployed_at, -1, SQLITE_TRANSIENT);
  bind_text(st, 11, a->deployed_by);
  bind_text(st, 12, a->workflow_run_id);
  bind_text(st, 13, a->workflow_run_url);
  bind_json(st, 14, a->metadata ? a->metadata : "{}");
  sqlite3_bind_int64(st, 15, l->pid);
  sqlite3_bind_text(st, 16, l->host, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 17, l->ident, -1, SQLITE_STATIC);
  if (write1(l, st, "cannot record the deployment", err)) return exec(l, "ROLLBACK"), -1;
  return tx(l, "COMMIT", err);
}

int ledger_step_start(ledger *l, const char *id, const char *name, long long *seq, buf *err) {
  sqlite3_stmt *st;
  char now[32];
  ledger_now(now);
  if (prepare_cached(l, STMT_STEP_START,
                     "INSERT INTO deployment_steps (deployment_id, seq, name, status, started_at)"
                     " SELECT ?1, coalesce(max(seq), 0) + 1, ?2, 'running', ?3 FROM deployment_steps"
                     " WHERE deployment_id = ?1 RETURNING seq", &st, err))
    return -1;
  bind_text(st, 1, id);
  bind_text(st, 2, name);
  sqlite3_bind_text(st, 3, now, -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *seq = sqlite3_column_int64(st, 0);
  if (rc == SQLITE_ROW) rc = sqlite3_step(st); /* to the end, so the insert commits */
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return fail(l, err, "cannot record the step");
  return 0;
}

static int changed_one(ledger *l, const char *what, const char *id, buf *err) {
  if (sqlite3_changes(l->db) > 0) return 0;
  err->len = 0;
  buf_addf(err, "ledger: %s: no deployment %s", what, id);
  return -1;
}

int ledger_step_end(ledger *l, const char *id, long long seq, const char *status, const char *error, buf *err) {
  sqlite3_stmt *st;
  char now[32];
  ledger_now(now);
  if (prepare_cached(l, STMT_STEP_END,
                     "UPDATE deployment_steps SET status = ?3, finished_at = ?4, error = ?5,"
                     " duration_ms = CAST(round((julianday(?4) - julianday(started_at)) * 86400000) AS INTEGER)"
                     " WHERE deployment_id = ?1 AND seq = ?2", &st, err))
    return -1;
  bind_text(st, 1, id);
  sqlite3_bind_int64(st, 2, seq);
  bind_text(st, 3, status);
  sqlite3_bind_text(st, 4, now, -1, SQLITE_TRANSIENT);
  bind_text(st, 5, error);
  if (write1(l, st, "cannot record the step", err)) return -1;
  return changed_one(l, "step_end", id, err);
}

int ledger_set_meta(ledger *l, const char *id, const char *key, const char *json_value, buf *err) {
  sqlite3_stmt *st;
  if (prepare_cached(l, STMT_SET_META,
                     "UPDATE deployment_history SET metadata = json_set(metadata, '$.\"' || replace(?2, '\"', '') || '\"', json(?3))"
                     " WHERE id = ?1", &st, err))
    return -1;
  bind_text(st, 1, id);
  bind_text(st, 2, key);
  bind_json(st, 3, json_value);
  if (write1(l, st, "cannot record metadata", err)) return -1;
  return changed_one(l, "set", id, err);
}

int ledger_finish(ledger *l, const char *id, const char *status, const char *error, const char *failed_step, buf *err) {
  sqlite3_stmt *st;
  char now[32];
  ledger_now(now);
  if (prepare(l, "UPDATE deployment_history SET status = ?2, error = ?3, failed_step = ?4, finished_at = ?5,"
                 " duration_ms = CAST(round((julianday(?5) - julianday(deployed_at)) * 86400000) AS INTEGER)"
                 " WHERE id = ?1", &st, err))
    return -1;
  bind_text(st, 1, id);
  bind_text(st, 2, status);
  bind_text(st, 3, error);
  bind_text(st, 4, failed_step);
  sqlite3_bind_text(st, 5, now, -1, SQLITE_TRANSIENT);
  if (write1(l, st, "cannot finish the record", err)) return -1;
  return changed_one(l, "finish", id, err);
}

int ledger_resolve(ledger *l, const char *ref, char id_out[27], buf *err) {
  sqlite3_stmt *st;
  /* exact id, then the newest record with that full version, then a unique id prefix */
  if (prepare(l, "SELECT id FROM deployment_history WHERE id = ?1"
                 " UNION ALL SELECT * FROM (SELECT id FROM deployment_history WHERE full_version = ?1"
                 "  ORDER BY deployed_at DESC LIMIT 1)"
                 " UNION ALL SELECT * FROM (SELECT id FROM deployment_history"
                 "  WHERE length(?1) >= 4 AND id >= upper(?1) AND id < upper(?1) || '~' LIMIT 2)" /* '~' sorts after Z */, &st, err))
    return -1;
  bind_text(st, 1, ref);
  int found = 0, rc;
  char first[27] = {0};
  int prefix_hits = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(st, 0);
    if (!found) snprintf(first, sizeof first, "%s", id);
    found++;
    if (strcmp(id, ref) != 0) prefix_hits++;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return fail(l, err, "lookup");
  err->len = 0;
  if (!found) {
    buf_addf(err, "ledger: no deployment with id or full version '%s'", ref);
    return -1;
  }
  /* an exact id or full version wins; a prefix must be unique */
  if (found > 1 && prefix_hits == found && strlen(ref) < 26) {
    buf_addf(err, "ledger: '%s' matches more than one deployment; give more of the id", ref);
    return -1;
  }
  memcpy(id_out, first, 27);
  return 0;
}

int ledger_mark_rollback(ledger *l, const char *ref, const char *reason, char id_out[27], buf *err) {
  if (ledger_resolve(l, ref, id_out, err)) return -1;
  sqlite3_stmt *st;
  if (prepare(l, "UPDATE deployment_history SET status = 'rollback',"
                 " metadata = json_set(metadata, '$.rollback_reason', ?2, '$.rolled_back_at', ?3)"
                 " WHERE id = ?1", &st, err))
    return -1;
  char now[32];
  ledger_now(now);
  sqlite3_bind_text(st, 1, id_out, -1, SQLITE_TRANSIENT);
  bind_text(st, 2, reason ? reason : "");
  sqlite3_bind_text(st, 3, now, -1, SQLITE_TRANSIENT);
  return write1(l, st, "cannot mark the rollback", err);
}

/* ---- locks --------------------------------------------------------------- */

static void copy_text(char *dst, size_t n, sqlite3_stmt *st, int col) {
  const unsigned char *t = sqlite3_column_text(st, col);
  snprintf(dst, n, "%s", t ? (const char *)t : "");
}

int ledger_lock(ledger *l, const char *service, const char *environment, const char *recipe, const char *run_url,
                double lease, ledger_holder *holder, int *took_over, buf *err) {
  *took_over = 0;
  memset(holder, 0, sizeof *holder);
  if (tx(l, "BEGIN IMMEDIATE", err)) return -1;
  sqlite3_stmt *st;
  if (prepare(l, "SELECT pid, host, pid_ident, started_at, coalesce(recipe, ''), run_url, expires_at FROM locks"
                 " WHERE service = ?1 AND environment = ?2", &st, err))
    return exec(l, "ROLLBACK"), -1;
  bind_text(st, 1, service);
  bind_text(st, 2, environment);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    holder->pid = sqlite3_column_int64(st, 0);
    snprintf(holder->host, sizeof holder->host, "%s", sqlite3_column_text(st, 1));
    char ident_buf[PROCID_MAX] = "";
    const char *ident = (const char *)sqlite3_column_text(st, 2);
    if (ident) snprintf(ident_buf, sizeof ident_buf, "%s", ident);
    ident = ident ? ident_buf : NULL; /* the column's text goes with the statement */
    snprintf(holder->started_at, sizeof holder->started_at, "%s", sqlite3_column_text(st, 3));
    snprintf(holder->recipe, sizeof holder->recipe, "%s", sqlite3_column_text(st, 4));
    copy_text(holder->run_url, sizeof holder->run_url, st, 5);
    copy_text(holder->expires_at, sizeof holder->expires_at, st, 6);
    int mine = holder->pid == l->pid && !strcmp(holder->host, l->host) && ident && !strcmp(ident, l->ident);
    int alive = mine ? 1 : procid_alive(holder->host, (pid_t)holder->pid, ident);
    sqlite3_finalize(st);
    char now[32];
    ledger_now(now);
    /* on another host drun cannot see the process: its lease decides */
    int remote_expired = alive < 0 && strcmp(holder->expires_at, now) < 0;
    if (!mine && (alive > 0 || (alive < 0 && !remote_expired))) {
      exec(l, "ROLLBACK");
      return 1;
    }
    *took_over = mine ? 0 : remote_expired ? 2 : 1;
    /* the dead run's children may still be deploying: they stop before we start */
    if (*took_over == 1) holder->leftovers = procid_kill_leftovers((pid_t)holder->pid, ident, 5);
  } else {
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return fail(l, err, "cannot read locks"), exec(l, "ROLLBACK"), -1;
  }
  char now[32], expires[32];
  ledger_now(now);
  ledger_at(lease, expires);
  if (prepare(l, "INSERT OR REPLACE INTO locks (service, environment, pid, host, pid_ident, started_at, recipe,"
                 " run_url, renewed_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?6, ?9)", &st, err))
    return exec(l, "ROLLBACK"), -1;
  bind_text(st, 1, service);
  bind_text(st, 2, environment);
  sqlite3_bind_int64(st, 3, l->pid);
  sqlite3_bind_text(st, 4, l->host, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, l->ident, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, now, -1, SQLITE_TRANSIENT);
  bind_text(st, 7, recipe);
  bind_text(st, 8, run_url);
  sqlite3_bind_text(st, 9, expires, -1, SQLITE_TRANSIENT);
  if (write1(l, st, "cannot take the lock", err)) return exec(l, "ROLLBACK"), -1;
  return tx(l, "COMMIT", err);
}

int ledger_renew(ledger *l, const char *service, const char *environment, double lease, int *held, buf *err) {
  *held = 0;
  char now[32], expires[32];
  ledger_now(now);
  ledger_at(lease, expires);
  sqlite3_stmt *st;
  if (prepare(l, "UPDATE locks SET renewed_at = ?5, expires_at = ?6"
                 " WHERE service = ?1 AND environment = ?2 AND pid = ?3 AND host = ?4", &st, err))
    return -1;
  bind_text(st, 1, service);
  bind_text(st, 2, environment);
  sqlite3_bind_int64(st, 3, l->pid);
  sqlite3_bind_text(st, 4, l->host, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, now, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 6, expires, -1, SQLITE_TRANSIENT);
  if (write1(l, st, "cannot renew the lock", err)) return -1;
  *held = sqlite3_changes(l->db) > 0;
  return 0;
}

int ledger_unlock(ledger *l, const char *service, const char *environment, buf *err) {
  sqlite3_stmt *st;
  if (prepare(l, "DELETE FROM locks WHERE service = ?1 AND environment = ?2 AND pid = ?3 AND host = ?4", &st, err))
    return -1;
  bind_text(st, 1, service);
  bind_text(st, 2, environment);
  sqlite3_bind_int64(st, 3, l->pid);
  sqlite3_bind_text(st, 4, l->host, -1, SQLITE_STATIC);
  return write1(l, st, "cannot release the lock", err);
}

/* Releases service/environment's lock only while it is still held by
 * pid on host (whoever decided to release it saw that holder; a lock taken
 * over since is not touched): *released gets 1 or 0. */
int ledger_release_lock(ledger *l, const char *service, const char *environment, long long pid, const char *host,
                        int *released, buf *err) {
  *released = 0;
  sqlite3_stmt *st;
  if (prepare(l, "DELETE FROM locks WHERE service = ?1 AND environment = ?2 AND pid = ?3 AND host = ?4", &st, err))
    return -1;
  bind_text(st, 1, service);
  bind_text(st, 2, environment);
  sqlite3_bind_int64(st, 3, pid);
  bind_text(st, 4, host);
  if (write1(l, st, "cannot release the lock", err)) return -1;
  *released = sqlite3_changes(l->db) > 0;
  return 0;
}

int ledger_locks(ledger *l, ledger_row_cb cb, void *ud, buf *err) {
  return query(l,
               "SELECT service, environment, pid, host, pid_ident, started_at, recipe, run_url, renewed_at, expires_at"
               " FROM locks"
               " ORDER BY service, environment",
               NULL, cb, ud, err);
}

/* ---- reading ------------------------------------------------------------- */

#define RECORD_COLUMNS                                                                           \
  "id, service, environment, recipe, version, build_number, full_version, git_commit, git_branch," \
  " deployed_at, deployed_by, finished_at, status, duration_ms, workflow_run_id, workflow_run_url," \
  " failed_step, error, metadata"

/* WHERE clause from fixed fragments for the filters present; values bound as
 * ?1..?7 in a fixed order, so nothing from outside is ever part of the SQL. */
static void where(buf *sql, const ledger_filter *f) {
  const char *frag[] = {"service = ?1", "environment = ?2", "version = ?3", "status = ?4", "git_branch = ?5",
                        "deployed_at >= ?6", "(deployed_at, id) < (SELECT deployed_at, id FROM deployment_history WHERE id = ?7)"};
  const char *val[] = {f->service, f->environment, f->version, f->status, f->branch, f->since, f->before_id};
  int first = 1;
  for (size_t i = 0; i < sizeof frag / sizeof *frag; i++)
    if (val[i]) {
      buf_addstr(sql, first ? " WHERE " : " AND ");
      buf_addstr(sql, frag[i]);
      first = 0;
    }
}

static void bind_filter(sqlite3_stmt *st, const ledger_filter *f) {
  const char *val[] = {f->service, f->environment, f->version, f->status, f->branch, f->since, f->before_id};
  for (int i = 0; i < 7; i++)
    if (val[i] && sqlite3_bind_parameter_index(st, (char[]){'?', (char)('1' + i), 0})) bind_text(st, i + 1, val[i]);
}

static int query(ledger *l, const char *sql, const ledger_filter *f, ledger_row_cb cb, void *ud, buf *err) {
  sqlite3_stmt *st;
  if (prepare(l, sql, &st, err)) return -1;
  if (f) bind_filter(st, f);
  int rc = run(l, st, cb, ud);
  sqlite3_finalize(st);
  if (rc != SQLITE_OK && rc != SQLITE_ABORT) return fail(l, err, "query");
  return 0;
}

int ledger_history(ledger *l, const ledger_filter *f, ledger_row_cb cb, void *ud, buf *err) {
  buf sql = {0};
  buf_addstr(&sql, "SELECT " RECORD_COLUMNS " FROM deployment_history");
  where(&sql, f);
  buf_addstr(&sql, " ORDER BY deployed_at DESC, id DESC");
  if (f->limit > 0) buf_addf(&sql, " LIMIT %lld", f->limit);
  int rc = query(l, buf_cstr(&sql), f, cb, ud, err);
  buf_free(&sql);
  return rc;
}

typedef struct {
  ledger_row_cb cb;
  void *ud;
  int found;
} found_cb;

static int count_found(void *ud, sqlite3_stmt *row) {
  found_cb *f = ud;
  f->found = 1;
  return f->cb(f->ud, row);
}

int ledger_get(ledger *l, const char *id, ledger_row_cb cb, void *ud, buf *err) {
  sqlite3_stmt *st;
  if (prepare(l, "SELECT " RECORD_COLUMNS " FROM deployment_history WHERE id = ?1", &st, err)) return -1;
  bind_text(st, 1, id);
  found_cb fc = {cb, ud, 0};
  int rc = run(l, st, count_found, &fc);
  sqlite3_finalize(st);
  if (rc != SQLITE_OK && rc != SQLITE_ABORT) return fail(l, err, "query"); /* ABORT: cb took its row */
  return fc.found ? 0 : 1;
}

int ledger_steps(ledger *l, const char *id, ledger_row_cb cb, void *ud, buf *err) {
  sqlite3_stmt *st;
  if (prepare(l, "SELECT seq, name, status, started_at, finished_at, duration_ms, error FROM deployment_steps"
                 " WHERE deployment_id = ?1 ORDER BY seq", &st, err))
    return -1;
  bind_text(st, 1, id);
  int rc = run(l, st, cb, ud);
  sqlite3_finalize(st);
  return rc == SQLITE_OK ? 0 : fail(l, err, "query");
}

/* Percentiles of the most recent successful deployments: how long deploys
 * take now, at a cost that does not grow with the history. */
#define STATS_RECENT "1000"

int ledger_stats(ledger *l, const ledger_filter *f, ledger_row_cb cb, void *ud, buf *err) {
  buf w = {0}, cw = {0}, sql = {0};
  where(&w, f);
  const char *c = w.len ? buf_cstr(&w) + 7 : "1"; /* the filter without " WHERE " */
  /* Counts come from the trigger-kept table when the filter allows it
   * (service, environment); otherwise they are counted from the history. */
  const char *counts, *n;
  if (!f->version && !f->status && !f->branch && !f->since && !f->before_id) {
    counts = "deployment_counts", n = "n";
    if (f->service) buf_addstr(&cw, " AND service = ?1");
    if (f->environment) buf_addstr(&cw, " AND environment = ?2");
  } else {
    counts = "deployment_history", n = "1";
    buf_addf(&cw, " AND (%s)", c);
  }
  const char *cc = buf_cstr(&cw);
#define COUNT(st) "(SELECT coalesce(sum(%s), 0) FROM %s WHERE 1%s" st ")"
#define RECENT " FROM (SELECT duration_ms FROM deployment_history WHERE (%s) AND status = 'success'" \
               " ORDER BY deployed_at DESC, id DESC LIMIT " STATS_RECENT ")"
  buf_addf(&sql,
           "SELECT " COUNT("") " AS total,"
           " " COUNT(" AND status = 'success'") " AS success,"
           " " COUNT(" AND status = 'failed'") " AS failed,"
           " " COUNT(" AND status = 'rollback'") " AS rollback,"
           " " COUNT(" AND status = 'aborted'") " AS aborted,"
           " " COUNT(" AND status = 'running'") " AS running,"
           " (SELECT full_version FROM deployment_history WHERE (%s) AND status = 'success'"
           "   ORDER BY deployed_at DESC, id DESC LIMIT 1) AS latest_version,"
           " (SELECT duration_ms" RECENT " ORDER BY duration_ms LIMIT 1"
           "   OFFSET (SELECT (count(*) - 1) / 2" RECENT ")) AS p50_ms,"
           " (SELECT duration_ms" RECENT " ORDER BY duration_ms LIMIT 1"
           "   OFFSET (SELECT CAST((count(*) - 1) * 0.95 AS INTEGER)" RECENT ")) AS p95_ms",
           n, counts, cc, n, counts, cc, n, counts, cc, n, counts, cc, n, counts, cc, n, counts, cc,
           c, c, c, c, c);
#undef COUNT
#undef RECENT
  int rc = query(l, buf_cstr(&sql), f, cb, ud, err);
  buf_free(&w);
  buf_free(&cw);
  buf_free(&sql);
  return rc;
}

/* ---- import -------------------------------------------------------------- */

int ledger_import_begin(ledger *l, buf *err) { return tx(l, "BEGIN IMMEDIATE", err); }

int ledger_import_commit(ledger *l, int ok, buf *err) {
  if (!ok) return exec(l, "ROLLBACK"), 0;
  /* counters move up to what was imported, so the next build continues */
  if (tx(l, "INSERT INTO deployment_counter (service, version, last_build)"
            " SELECT service, version, max(build_number) FROM deployment_history WHERE true GROUP BY service, version"
            " ON CONFLICT(service, version) DO UPDATE SET last_build = max(last_build, excluded.last_build)", err))
    return exec(l, "ROLLBACK"), -1;
  return tx(l, "COMMIT", err);
}

static const char *const dh_columns[] = {
    "id", "service", "environment", "recipe", "version", "build_number", "full_version", "git_commit",
    "git_branch", "deployed_at", "deployed_by", "finished_at", "status", "duration_ms", "workflow_run_id",
    "workflow_run_url", "failed_step", "error", "metadata", NULL};
static const char *const step_columns[] = {"deployment_id", "seq", "name", "status", "started_at",
                                           "finished_at", "duration_ms", "error", NULL};

static int known(const char *const *cols, const char *name) {
  for (; *cols; cols++)
    if (!strcmp(*cols, name)) return 1;
  return 0;
}

static int import_row(ledger *l, const char *table, const char *const *cols, const ledger_field *f, int n,
                      buf *err) {
  buf sql = {0};
  buf_addf(&sql, "INSERT OR IGNORE INTO %s (", table);
  for (int i = 0; i < n; i++) {
    if (!known(cols, f[i].name)) {
      buf_free(&sql);
      err->len = 0;
      buf_addf(err, "ledger: import: unknown field '%s' in %s", f[i].name, table);
      return -1;
    }
    buf_addf(&sql, "%s%s", i ? ", " : "", f[i].name); /* a known column name, not input */
  }
  buf_addstr(&sql, ") VALUES (");
  for (int i = 0; i < n; i++) buf_addf(&sql, "%s?%d", i ? ", " : "", i + 1);
  buf_addstr(&sql, ")");
  sqlite3_stmt *st;
  int rc = prepare(l, buf_cstr(&sql), &st, err);
  buf_free(&sql);
  if (rc) return -1;
  for (int i = 0; i < n; i++) {
    if (f[i].type == SQLITE_INTEGER) sqlite3_bind_int64(st, i + 1, f[i].integer);
    else if (f[i].type == SQLITE_TEXT && !strcmp(f[i].name, "metadata")) bind_json(st, i + 1, f[i].text);
    else if (f[i].type == SQLITE_TEXT) bind_text(st, i + 1, f[i].text);
    else sqlite3_bind_null(st, i + 1);
  }
  return write1(l, st, "import", err);
}

int ledger_import_deployment(ledger *l, const ledger_field *f, int n, int *inserted, buf *err) {
  if (import_row(l, "deployment_history", dh_columns, f, n, err)) return -1;
  *inserted = sqlite3_changes(l->db) > 0;
  return 0;
}

int ledger_import_step(ledger *l, const ledger_field *f, int n, buf *err) {
  return import_row(l, "deployment_steps", step_columns, f, n, err);
}
