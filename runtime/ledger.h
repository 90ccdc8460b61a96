/* The deployment ledger: one sqlite file, every statement here (Lua-free).
 * WAL, a busy handler with jitter so parallel drun processes queue instead of
 * failing, BEGIN IMMEDIATE around every read-then-write, schema versioned by
 * PRAGMA user_version and stamped with a drun application_id. Every text
 * written goes through redaction. Errors: -1 and a message in *err. */
#ifndef DRUN_LEDGER_H
#define DRUN_LEDGER_H
#include <sqlite3.h>
#include <sys/types.h>

#include "buf.h"

#define LEDGER_SCHEMA_VERSION 2
#define LEDGER_APP_ID 0x6472756e /* "drun" */

typedef struct ledger ledger;

/* Opens (creating) the ledger at path. Refuses, leaving the file untouched,
 * a file that is not a drun ledger or one written by a newer drun; refuses a
 * ledger it cannot write. Marks `running` records of processes that are gone
 * as `aborted`; *reaped (may be NULL) gets how many. */
int ledger_open(const char *path, ledger **out, int *reaped, buf *err);
/* For reading only (list, show, export): never creates, migrates or reaps,
 * so a read-only file or a mistyped path is read or refused, never made. */
int ledger_open_readonly(const char *path, ledger **out, buf *err);
void ledger_close(ledger *l);
sqlite3 *ledger_db(ledger *l);

typedef struct {
  const char *service, *environment, *recipe, *version;
  const char *git_commit, *git_branch, *deployed_by;
  const char *workflow_run_id, *workflow_run_url;
  const char *metadata; /* JSON object text, NULL for {} */
} ledger_begin_args;

typedef struct {
  char id[27];
  long long build_number;
  char full_version[256];
  char deployed_at[32];
} ledger_record;

int ledger_next_build(ledger *l, const char *service, const char *version, long long *out, buf *err);
int ledger_begin(ledger *l, const ledger_begin_args *a, ledger_record *out, buf *err);
int ledger_step_start(ledger *l, const char *id, const char *name, long long *seq, buf *err);
int ledger_step_end(ledger *l, const char *id, long long seq, const char *status, const char *error, buf *err);
int ledger_set_meta(ledger *l, const char *id, const char *key, const char *json_value, buf *err);
int ledger_finish(ledger *l, const char *id, const char *status, const char *error, const char *failed_step, buf *err);
/* By id, unique id prefix, or full version (the newest with it). *id_out gets the id. */
int ledger_mark_rollback(ledger *l, const char *ref, const char *reason, char id_out[27], buf *err);
int ledger_resolve(ledger *l, const char *ref, char id_out[27], buf *err);

typedef struct {
  long long pid;
  char host[256], started_at[32], recipe[256], run_url[1024], expires_at[32];
  int leftovers; /* on a takeover: processes the dead holder left running, now stopped */
} ledger_holder;

/* Locks are leases: held for `lease` seconds from the last renewal. 0 taken
 * (*took_over: 1 when a dead holder's lock on this host was taken, 2 when a
 * holder on another host let its lease run out; *holder says whose); 1 held
 * by a live process, or from another host with its lease running (*holder
 * filled); -1 error. */
int ledger_lock(ledger *l, const char *service, const char *environment, const char *recipe, const char *run_url,
                double lease, ledger_holder *holder, int *took_over, buf *err);
/* Renews this process's lease: *held 0 when the lock is no longer ours. */
int ledger_renew(ledger *l, const char *service, const char *environment, double lease, int *held, buf *err);
int ledger_unlock(ledger *l, const char *service, const char *environment, buf *err);
/* drun ledger unlock: the lock released only while pid on host still holds it. */
int ledger_release_lock(ledger *l, const char *service, const char *environment, long long pid, const char *host,
                        int *released, buf *err);

/* Queries hand each row to cb (column names are the record's field names). */
typedef int (*ledger_row_cb)(void *ud, sqlite3_stmt *row);

typedef struct {
  const char *service, *environment, *version, *status, *branch, *since, *before_id;
  long long limit; /* <= 0: no limit */
} ledger_filter;

int ledger_history(ledger *l, const ledger_filter *f, ledger_row_cb cb, void *ud, buf *err);
/* Every lock: service, environment, pid, host, pid_ident, started_at, recipe,
 * run_url, renewed_at, expires_at. */
int ledger_locks(ledger *l, ledger_row_cb cb, void *ud, buf *err);
int ledger_get(ledger *l, const char *id, ledger_row_cb cb, void *ud, buf *err); /* 0 found, 1 not */
int ledger_steps(ledger *l, const char *id, ledger_row_cb cb, void *ud, buf *err);
/* One row: total, success, failed, rollback, aborted, running, latest_version (full),
 * p50_ms, p95_ms (over successful deployments). */
int ledger_stats(ledger *l, const ledger_filter *f, ledger_row_cb cb, void *ud, buf *err);

/* Import: a record with all its fields (INSERT OR IGNORE by id; the build
 * counter moves up to it). */
int ledger_import_begin(ledger *l, buf *err);
int ledger_import_commit(ledger *l, int ok, buf *err);

int ledger_now(char out[32]); /* "2026-11-21T21:55:10.123Z" */
void ledger_new_id(char out[27]); /* ULID: time-sortable, unique */
#endif

#ifndef DRUN_LEDGER_IMPORT
#define DRUN_LEDGER_IMPORT
/* One column of an imported row; name must be a known column. */
typedef struct {
  const char *name;
  int type; /* SQLITE_TEXT, SQLITE_INTEGER, SQLITE_NULL */
  const char *text;
  long long integer;
} ledger_field;

int ledger_import_deployment(ledger *l, const ledger_field *f, int n, int *inserted, buf *err);
int ledger_import_step(ledger *l, const ledger_field *f, int n, buf *err);
#endif
