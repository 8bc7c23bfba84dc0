/*
 * pg_int.h - inside the store module: the PostgreSQL groundwork (issue 11).
 *
 * A connection from a postgres:// URL, the migrations of
 * data/migrations/postgres, transactions that name their office for
 * row-level security, parameterised statements whose failures become a
 * td_error naming the SQLSTATE and the statement, the audit chain append
 * (correct under concurrent writers in several processes) and the jobs
 * queue.  The typed store ops of store.h are built on these once the
 * store seam is typed; see docs/postgres.md for the design.
 *
 * Only compiled with TD_HAVE_POSTGRES (CMake option TD_POSTGRES).
 */
#ifndef TD_STORE_PG_INT_H
#define TD_STORE_PG_INT_H

#ifdef TD_HAVE_POSTGRES

#include <stdint.h>

#include <libpq-fe.h>

#include "threatdesk/error.h"
#include "threatdesk/store.h" /* struct td_audit_entry */

struct td_pg;

/* Connect.  url: postgres:// or postgresql:// (libpq parses it; other
 * schemes are refused, TD_EINVAL).  Errors never repeat the URL, which may
 * hold a password. */
int td__pg_connect(const char *url, struct td_pg **out, struct td_error *err);
void td__pg_close(struct td_pg *c);
PGconn *td__pg_conn(struct td_pg *c);

/* Apply every <home>/data/migrations/postgres/NNNN_name.sql not yet
 * recorded in schema_migrations, in number order, all in ONE transaction
 * (all or nothing), serialised against other processes migrating the same
 * database.  Run it as the role that owns the tables.  *applied (may be
 * NULL): how many ran; 0 on a migrated database. */
int td__pg_migrate(struct td_pg *c, const char *home, int *applied, struct td_error *err);

/* Run one statement with its parameters bound (never spliced); prepared
 * on the first call with its text and run prepared after, so its text
 * must not change between calls with data (use td__pg_exec_once).  values[i]
 * NULL is SQL NULL; lengths/formats NULL mean all text parameters (give
 * both, format 1, for bytea bytes).  *res (may be NULL) gets the result on
 * success, for the caller to PQclear.  Failure: TD_ESTORE (or a closer
 * code: TD_EEXISTS for a unique violation, TD_EDENIED for a privilege or
 * row-level security refusal, TD_EBUSY for a serialisation failure or
 * deadlock, TD_ENET for a lost connection), err naming the SQLSTATE (also
 * in err->field) and the start of the statement. */
int td__pg_exec(struct td_pg *c, const char *sql, int n, const char *const *values,
                const int *lengths, const int *formats, PGresult **res, struct td_error *err);

/* td__pg_exec without the prepared-statement cache, for a text made up
 * per call (a cursor named for one export), which would fill the cache
 * with statements never run again. */
int td__pg_exec_once(struct td_pg *c, const char *sql, int n, const char *const *values,
                     const int *lengths, const int *formats, PGresult **res, struct td_error *err);

/* Send a write whose result nobody waits for ahead, in libpq's pipeline
 * mode (pg_conn.c, "the pipeline"): its answer is read with the next
 * statement run on c, or by td__pg_flush, in one round trip with the rest.
 * Only inside a transaction, where nothing is acknowledged before COMMIT.
 * Its failure is that next statement's (or the flush's or the commit's)
 * failure, and the server skipped everything after it.  what (static; may
 * be NULL): TD_ENOTFOUND "no such <what>" when it changed no row.  A
 * statement not yet prepared on c runs at once (and is prepared). */
int td__pg_defer(struct td_pg *c, const char *sql, int n, const char *const *values,
                 const int *lengths, const int *formats, const char *what, struct td_error *err);
/* Read the answers to everything sent ahead: TD_OK or the first failure. */
int td__pg_flush(struct td_pg *c, struct td_error *err);

/* Make a lost connection again (PQreset) and forget the statements
 * prepared on the old one. */
void td__pg_reset(struct td_pg *c);

/* Decimal text of v in buf, for a parameter; returns buf. */
const char *td__pg_i64(char buf[24], int64_t v);
/* Column col of row as an integer; TD_EPARSE when it is not one, or NULL. */
int td__pg_get_i64(const PGresult *r, int row, int col, int64_t *v, struct td_error *err);

/* BEGIN (READ COMMITTED, which the audit append relies on: each statement
 * sees what committed before it started) and name the office the
 * transaction acts for: set_config('threatdesk.office_id', office, true),
 * which ends with the transaction, so a pooled connection never carries
 * one office's setting into the next.  office < 0: name none (then the
 * office tables show no rows at all). */
int td__pg_begin(struct td_pg *c, int64_t office, struct td_error *err);
int td__pg_set_office(struct td_pg *c, int64_t office, struct td_error *err);
int td__pg_commit(struct td_pg *c, struct td_error *err);
/* Roll back if a transaction is open; safe to call at any time. */
void td__pg_rollback(struct td_pg *c);

/* The audit entry hash (desk/audit.c's td__audit_hash): the store only
 * chains, the desk owns the canonical form, so `verify` checks entries of
 * both backends with the same function. */
typedef int td__pg_audit_hash_fn(const struct td_audit_entry *e, char out[65]);

/* Append e to its office's chain, inside a transaction begun for
 * e->office_id.  Fills e->id (the entry's place in the office's chain,
 * 1, 2, ...; the column `seq`), e->prev_hash and e->hash; the caller
 * fills the rest (time, user, action, object, details).  Takes the
 * office's transaction-scoped advisory lock first, so concurrent writers
 * (any number of processes) append one after another and the chain never
 * forks; the lock is held until the caller's COMMIT or ROLLBACK, so keep
 * the transaction short after this.  TD_ESTORE when the office's chain has
 * lost its tail (audit_heads remembers a later entry). */
int td__pg_audit_append(struct td_pg *c, struct td_audit_entry *e, td__pg_audit_hash_fn *hash,
                        struct td_error *err);

/* ---- jobs: the SKIP LOCKED work queue (0008_jobs.sql) ------------------ */

struct td__pg_job {
    int64_t id;
    int64_t office_id;
    int64_t attempts; /* claims so far, this one included */
    char kind[32];
    char payload_ref[256];
};

/* Queue a job of office (inside a transaction begun for it: RLS). */
int td__pg_job_add(struct td_pg *c, int64_t office, const char *kind, const char *payload_ref,
                   int64_t available_at, int64_t *id, struct td_error *err);
/* Claim the oldest due job of any office the connection may see (a
 * worker role sees all): queued and available_at <= now, or running with
 * its lease expired.  It becomes running, claimed_by worker, leased until
 * now + lease_seconds.  Concurrent claimers never get the same job and
 * never wait for each other (FOR UPDATE SKIP LOCKED).  TD_ENOTFOUND when
 * nothing is due. */
int td__pg_job_claim(struct td_pg *c, const char *worker, int64_t now, int64_t lease_seconds,
                     struct td__pg_job *job, struct td_error *err);
/* Finish a job this worker holds: done (ok), or failed - queued again at
 * retry_at when retry_at > 0.  TD_ENOTFOUND when the worker no longer
 * holds it (its lease ran out and another worker claimed it). */
int td__pg_job_finish(struct td_pg *c, int64_t id, const char *worker, int ok, const char *error,
                      int64_t now, int64_t retry_at, struct td_error *err);

#endif /* TD_HAVE_POSTGRES */
#endif
