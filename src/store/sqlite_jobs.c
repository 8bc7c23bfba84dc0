/*
 * sqlite_jobs.c - the work queue and the scanned letters waiting in it
 * (store.h "the work queue"; migration 0012_jobs.sql).
 *
 * SQLite has no SKIP LOCKED, and needs none: a claim is one
 *     UPDATE jobs SET state = 'running', ... WHERE id = (<oldest due>)
 *     RETURNING ...
 * run inside BEGIN IMMEDIATE.  IMMEDIATE takes the database's write lock
 * before the due row is read, so two claimers - threads on their own
 * connections or processes - run one after the other (the second waits in
 * the busy handler) and the second sees the first's claim: never the same
 * job twice.  (A lone UPDATE statement also takes the write lock before it
 * reads; the explicit transaction keeps that true should the claim ever
 * become a SELECT and an UPDATE, which in a deferred transaction would read
 * first and then fail its upgrade with SQLITE_BUSY_SNAPSHOT, in WAL mode,
 * whenever another claim committed in between.)  The lock is held for one
 * indexed UPDATE, so claimers barely queue.
 *
 * "Oldest due" is the first row of each of the two partial indexes
 * (jobs_due for queued rows, jobs_leased for running rows whose lease ran
 * out), the older of the two: each side is one index probe, however many
 * jobs are done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "store/sq_stmt.h"
#include "store/store_int.h"

#define DUE_ID                                                                                     \
    "SELECT id FROM ("                                                                             \
    "SELECT * FROM (SELECT id, available_at FROM jobs WHERE state = 'queued' AND "                 \
    "available_at <= ?2 ORDER BY available_at, id LIMIT 1) "                                       \
    "UNION ALL "                                                                                   \
    "SELECT * FROM (SELECT id, available_at FROM jobs WHERE state = 'running' AND "                \
    "lease_until < ?2 ORDER BY lease_until LIMIT 1)) "                                             \
    "ORDER BY available_at, id LIMIT 1"

int td__sq_job_add(struct td_store *s, int64_t office, const char *kind, const char *payload_ref,
                   int64_t available_at, int64_t *id, struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    if (!kind || !*kind || strlen(kind) >= sizeof(((struct td_store_job *)0)->kind))
        return td_error_set(err, TD_EINVAL, "job kind must be 1..31 bytes");
    if (!payload_ref || strlen(payload_ref) >= sizeof(((struct td_store_job *)0)->payload_ref))
        return td_error_set(err, TD_EINVAL, "job payload reference must be under 256 bytes");
    int rc = td__sq_write(c, "job",
                          "INSERT INTO jobs(office_id, kind, payload_ref, available_at, created) "
                          "VALUES (?, ?, ?, ?, ?)",
                          TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_T(kind), TD__SQ_T(payload_ref),
                                      TD__SQ_I(available_at), TD__SQ_I(time(NULL))),
                          err);
    if (!rc && id)
        *id = sqlite3_last_insert_rowid(c->db);
    return rc;
}

int td__sq_job_claim(struct td_store *s, const char *worker, int64_t now, int64_t lease_seconds,
                     struct td_store_job *job, struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st = NULL;
    /* Inside the caller's transaction (the desk's are IMMEDIATE) the write
     * lock is already held; otherwise take it for this claim alone. */
    int own = sqlite3_get_autocommit(c->db);
    int rc;
    if (!worker || !*worker)
        return td_error_set(err, TD_EINVAL, "a claim names its worker");
    if (lease_seconds <= 0)
        return td_error_set(err, TD_EINVAL, "a lease must be positive, not %lld",
                            (long long)lease_seconds);
    if (own && (rc = td__sq_exec(c, "BEGIN IMMEDIATE", err)))
        return rc;
    rc = td__sq_bound(c,
                      "UPDATE jobs SET state = 'running', claimed_by = ?1, claimed_at = ?2, "
                      "lease_until = ?2 + ?3, attempts = attempts + 1 "
                      "WHERE id = (" DUE_ID ") "
                      "RETURNING id, office_id, attempts, kind, payload_ref",
                      &st, TD__SQ_ARGS(TD__SQ_T(worker), TD__SQ_I(now), TD__SQ_I(lease_seconds)),
                      err);
    if (rc)
        goto out;
    int r = td__sq_next(c, st, "claim a job", err);
    if (r == 1) {
        memset(job, 0, sizeof *job);
        job->id = sqlite3_column_int64(st, 0);
        job->office_id = sqlite3_column_int64(st, 1);
        job->attempts = sqlite3_column_int64(st, 2);
        const unsigned char *k = sqlite3_column_text(st, 3), *p = sqlite3_column_text(st, 4);
        snprintf(job->kind, sizeof job->kind, "%s", k ? (const char *)k : "");
        snprintf(job->payload_ref, sizeof job->payload_ref, "%s", p ? (const char *)p : "");
        /* RETURNING rows are all computed before the first is answered, but
         * the statement must still run to its end to finish the UPDATE. */
        while ((r = td__sq_next(c, st, "claim a job", err)) == 1)
            ;
        rc = r < 0 ? r : TD_OK;
    } else {
        rc = r < 0 ? r : TD_ENOTFOUND;
    }
out:
    td__sq_done(c, st);
    if (own) {
        if (rc == TD_OK || rc == TD_ENOTFOUND) {
            int crc = td__sq_exec(c, "COMMIT", err);
            if (crc) {
                sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
                rc = crc;
            }
        } else {
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        }
    }
    return rc;
}

int td__sq_job_finish(struct td_store *s, int64_t id, const char *worker, int ok, const char *error,
                      int64_t now, int64_t retry_at, struct td_error *err)
{
    const char *state = ok ? "done" : retry_at > 0 ? "queued" : "failed";
    /* claimed_by in the WHERE: a worker whose lease ran out while it
     * worked, and whose job another worker claimed, finishes nothing. */
    int rc =
        td__sq_write1(td__sq_conn(s), "job",
                      "UPDATE jobs SET state = ?3, last_error = ?4, "
                      "finished_at = CASE WHEN ?3 = 'queued' THEN NULL ELSE ?5 END, "
                      "available_at = CASE WHEN ?3 = 'queued' THEN ?6 ELSE available_at END, "
                      "claimed_by = CASE WHEN ?3 = 'queued' THEN NULL ELSE claimed_by END, "
                      "lease_until = NULL "
                      "WHERE id = ?1 AND claimed_by = ?2 AND state = 'running'",
                      TD__SQ_ARGS(TD__SQ_I(id), TD__SQ_T(worker), TD__SQ_T(state),
                                  TD__SQ_T(ok ? NULL : error), TD__SQ_I(now), TD__SQ_I(retry_at)),
                      err);
    if (rc == TD_ENOTFOUND)
        td_error_set(err, TD_ENOTFOUND, "job %lld is not held by worker %s", (long long)id,
                     worker ? worker : "(none)");
    return rc;
}

/* ---- uploads ---------------------------------------------------------------- */

int td__sq_upload_insert(struct td_store *s, const struct td_store_upload *u, int64_t *id,
                         struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    int rc = td__sq_stmt(c,
                         "INSERT INTO uploads(office_id, client_key, kind, name, original, "
                         "sha256, received, created, created_by, updated) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         &st, err);
    if (rc)
        return rc;
    if (u->original_len > (size_t)0x7fffffff) {
        td__sq_done(c, st);
        return td_error_set(err, TD_ETOOBIG, "upload of %zu bytes", u->original_len);
    }
    sqlite3_bind_int64(st, 1, u->office_id);
    td__sq_bind_text(st, 2, u->client_key);
    td__sq_bind_text(st, 3, u->kind);
    td__sq_bind_text(st, 4, u->name);
    sqlite3_bind_blob(st, 5, u->original_len ? u->original : "", (int)u->original_len,
                      SQLITE_STATIC);
    td__sq_bind_text(st, 6, u->sha256);
    sqlite3_bind_int64(st, 7, u->received);
    sqlite3_bind_int64(st, 8, u->created);
    sqlite3_bind_int64(st, 9, u->created_by);
    sqlite3_bind_int64(st, 10, u->created);
    if ((rc = td__sq_run(c, st, "upload", err)))
        return rc;
    if (id)
        *id = sqlite3_last_insert_rowid(c->db);
    return TD_OK;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

int td__sq_upload_get(struct td_store *s, int64_t office, int64_t id, const char *client_key,
                      int with_bytes, int (*cb)(void *ud, const struct td_store_upload *u),
                      void *ud, struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    int rc;
    /* The bytes only when asked: a status poll must not read megabytes. */
#define UPLOAD_COLS                                                                                \
    "SELECT id, office_id, client_key, kind, name, CASE WHEN ?3 THEN original END, "               \
    "length(original), sha256, received, created, created_by, state, attempts, "                   \
    "coalesce(message_id, 0), error, updated FROM uploads "
    if (id > 0)
        rc = td__sq_bound(c, UPLOAD_COLS "WHERE office_id = ?1 AND id = ?2", &st,
                          TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(id), TD__SQ_I(with_bytes != 0)),
                          err);
    else if (client_key)
        rc = td__sq_bound(
            c, UPLOAD_COLS "WHERE office_id = ?1 AND client_key = ?2", &st,
            TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_T(client_key), TD__SQ_I(with_bytes != 0)), err);
    else
        return td_error_set(err, TD_EINVAL, "an upload is found by id or by client key");
#undef UPLOAD_COLS
    if (rc)
        return rc;
    int r = td__sq_next(c, st, "upload", err);
    if (r == 1) {
        struct td_store_upload u;
        memset(&u, 0, sizeof u);
        u.id = sqlite3_column_int64(st, 0);
        u.office_id = sqlite3_column_int64(st, 1);
        u.client_key = col_text(st, 2);
        u.kind = col_text(st, 3);
        u.name = col_text(st, 4);
        if (with_bytes) {
            u.original = sqlite3_column_blob(st, 5);
            u.original_len = (size_t)sqlite3_column_bytes(st, 5);
        } else {
            u.original_len = (size_t)sqlite3_column_int64(st, 6);
        }
        u.sha256 = col_text(st, 7);
        u.received = sqlite3_column_int64(st, 8);
        u.created = sqlite3_column_int64(st, 9);
        u.created_by = sqlite3_column_int64(st, 10);
        u.state = col_text(st, 11);
        u.attempts = sqlite3_column_int64(st, 12);
        u.message_id = sqlite3_column_int64(st, 13);
        u.error = col_text(st, 14);
        u.updated = sqlite3_column_int64(st, 15);
        rc = cb(ud, &u);
    } else {
        rc = r < 0 ? r : TD_ENOTFOUND;
    }
    td__sq_done(c, st);
    return rc;
}

int td__sq_upload_set(struct td_store *s, int64_t office, int64_t id, const char *state,
                      int64_t attempts, const char *error, int64_t message_id, int64_t now,
                      struct td_error *err)
{
    return td__sq_write1(
        td__sq_conn(s), "upload",
        "UPDATE uploads SET state = ?3, attempts = ?4, error = ?5, message_id = ?6, updated = ?7, "
        "original = CASE WHEN ?3 = 'done' THEN X'' ELSE original END "
        "WHERE office_id = ?1 AND id = ?2",
        TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(id), TD__SQ_T(state), TD__SQ_I(attempts),
                    TD__SQ_T(error), message_id > 0 ? TD__SQ_I(message_id) : TD__SQ_NULL_ARG,
                    TD__SQ_I(now)),
        err);
}

/* The failed uploads past retention, deleted in one statement that
 * returns what the tombstones need (pg_jobs.c's twin); the callbacks run
 * once the statement is done, in id order. */
struct gone {
    int64_t id;
    char sha[65];
};

static int by_gone_id(const void *x, const void *y)
{
    const struct gone *a = x, *b = y;
    return (a->id > b->id) - (a->id < b->id);
}

int td__sq_upload_expire(struct td_store *s, int64_t office, int64_t before,
                         int (*cb)(void *ud, int64_t id, const char *sha256), void *ud,
                         struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    struct gone *g = NULL;
    size_t n = 0, cap = 0;
    int rc = td__sq_bound(c,
                          "DELETE FROM uploads WHERE office_id = ?1 AND state = 'failed' AND "
                          "received < ?2 RETURNING id, sha256",
                          &st, TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(before)), err);
    if (rc)
        return rc;
    int r;
    while ((r = td__sq_next(c, st, "upload", err)) == 1) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct gone *ng = realloc(g, nc * sizeof *ng);
            if (!ng) {
                r = td_error_set(err, TD_ENOMEM, NULL);
                break;
            }
            g = ng;
            cap = nc;
        }
        g[n].id = sqlite3_column_int64(st, 0);
        snprintf(g[n].sha, sizeof g[n].sha, "%s", col_text(st, 1) ? col_text(st, 1) : "");
        n++;
    }
    td__sq_done(c, st);
    rc = r < 0 ? r : TD_OK;
    if (!rc && n > 1) /* RETURNING promises no order */
        qsort(g, n, sizeof *g, by_gone_id);
    for (size_t i = 0; !rc && i < n; i++)
        rc = cb(ud, g[i].id, g[i].sha);
    free(g);
    return rc;
}
