/*
 * pg_jobs.c - the work queue and the scanned letters waiting in it on
 * PostgreSQL (store.h "the work queue"; migrations 0008_jobs.sql and
 * 0012_uploads.sql), the twin of sqlite_jobs.c.
 *
 * The queue itself is pg_conn.c's td__pg_job_* (FOR UPDATE SKIP LOCKED):
 * these ops only name the office for row-level security and translate.  A
 * job belongs to its office, so adding one acts for it; a claim serves
 * every office (the worker then acts for the job's office), and a finish
 * names the job by id and worker only, so both act for all offices
 * ('*', admitted on jobs by 0010_cross_office.sql's all_offices policy).
 * Uploads are one office's rows and every op acts for that office.
 */
#ifdef TD_HAVE_POSTGRES

#include <string.h>

#include "store/pg_store_int.h"

int td__pgs_job_add(struct td_store *s, int64_t office, const char *kind, const char *payload_ref,
                    int64_t available_at, int64_t *id, struct td_error *err)
{
    /* the same limits as SQLite: a claim copies them into fixed fields */
    if (!kind || !*kind || strlen(kind) >= sizeof(((struct td_store_job *)0)->kind))
        return td_error_set(err, TD_EINVAL, "job kind must be 1..31 bytes");
    if (!payload_ref || strlen(payload_ref) >= sizeof(((struct td_store_job *)0)->payload_ref))
        return td_error_set(err, TD_EINVAL, "job payload reference must be under 256 bytes");
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    return td__pg_job_add(td__pgs_conn(s), office, kind, payload_ref, available_at, id, err);
}

int td__pgs_job_claim(struct td_store *s, const char *worker, int64_t now, int64_t lease_seconds,
                      struct td_store_job *job, struct td_error *err)
{
    if (!worker || !*worker)
        return td_error_set(err, TD_EINVAL, "a claim names its worker");
    if (lease_seconds <= 0)
        return td_error_set(err, TD_EINVAL, "a lease must be positive, not %lld",
                            (long long)lease_seconds);
    int rc = td__pgs_scope(s, -1, err);
    if (rc)
        return rc;
    /* One UPDATE: outside a transaction it commits by itself, as
     * SQLite's claim runs in its own. */
    struct td__pg_job j;
    struct td_error e = {0};
    rc = td__pg_job_claim(td__pgs_conn(s), worker, now, lease_seconds, &j, &e);
    if (rc == TD_ENOTFOUND)
        return rc; /* nothing due is no error: store.h says no text */
    if (rc) {
        if (err)
            *err = e;
        return rc;
    }
    memset(job, 0, sizeof *job);
    job->id = j.id;
    job->office_id = j.office_id;
    job->attempts = j.attempts;
    td__pgs_copy(job->kind, sizeof job->kind, j.kind);
    td__pgs_copy(job->payload_ref, sizeof job->payload_ref, j.payload_ref);
    return TD_OK;
}

int td__pgs_job_finish(struct td_store *s, int64_t id, const char *worker, int ok,
                       const char *error, int64_t now, int64_t retry_at, struct td_error *err)
{
    int rc = td__pgs_scope(s, -1, err);
    if (rc)
        return rc;
    rc = td__pg_job_finish(td__pgs_conn(s), id, worker, ok, error, now, retry_at, err);
    if (rc == TD_ENOTFOUND) /* SQLite's words */
        td_error_set(err, TD_ENOTFOUND, "job %lld is not held by worker %s", (long long)id,
                     worker ? worker : "(none)");
    return rc;
}

/* ---- uploads ---------------------------------------------------------------- */

int td__pgs_upload_insert(struct td_store *s, const struct td_store_upload *u, int64_t *id,
                          struct td_error *err)
{
    if (u->original_len > (size_t)0x7fffffff)
        return td_error_set(err, TD_ETOOBIG, "upload of %zu bytes", u->original_len);
    int rc = td__pgs_scope(s, u->office_id, err);
    if (rc)
        return rc;
    struct td__pga a = {0};
    td__pga_i(&a, u->office_id);
    td__pga_t(&a, u->client_key);
    td__pga_t(&a, u->kind);
    td__pga_t(&a, u->name);
    td__pga_bin(&a, u->original, u->original_len); /* bytea, sent as bytes */
    td__pga_t(&a, u->sha256);
    td__pga_i(&a, u->received);
    td__pga_i(&a, u->created);
    td__pga_i(&a, u->created_by);
    /* ON CONFLICT: a second client_key is TD_EEXISTS and leaves the
     * desk's transaction usable, as SQLite's constraint error does */
    return td__pgs_insert_id(s, "upload",
                             "INSERT INTO uploads(office_id, client_key, kind, name, original, "
                             "sha256, received, created, created_by, updated) "
                             "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8) "
                             "ON CONFLICT DO NOTHING RETURNING id",
                             &a, id, err);
}

int td__pgs_upload_get(struct td_store *s, int64_t office, int64_t id, const char *client_key,
                       int with_bytes, int (*cb)(void *ud, const struct td_store_upload *u),
                       void *ud, struct td_error *err)
{
    if (id <= 0 && !client_key)
        return td_error_set(err, TD_EINVAL, "an upload is found by id or by client key");
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    struct td__pga a = {0};
    td__pga_i(&a, office);
    if (id > 0)
        td__pga_i(&a, id);
    else
        td__pga_t(&a, client_key);
    td__pga_t(&a, with_bytes ? "true" : "false");
    /* The bytes only when asked: a status poll must not read megabytes. */
#define UPLOAD_COLS                                                                                \
    "SELECT id, office_id, client_key, kind, name, CASE WHEN $3::boolean THEN original END, "      \
    "length(original), sha256, received, created, created_by, state, attempts, "                   \
    "coalesce(message_id, 0), error, updated FROM uploads "
    PGresult *r;
    rc = td__pgs_ex(s,
                    id > 0 ? UPLOAD_COLS "WHERE office_id = $1 AND id = $2::bigint"
                           : UPLOAD_COLS "WHERE office_id = $1 AND client_key = $2::text",
                    &a, &r, err);
#undef UPLOAD_COLS
    if (rc)
        return rc;
    if (PQntuples(r) < 1) {
        PQclear(r);
        return TD_ENOTFOUND; /* store.h: without error text */
    }
    struct td_store_upload u;
    unsigned char *bytes = NULL;
    memset(&u, 0, sizeof u);
    u.id = td__pgs_coli(r, 0, 0);
    u.office_id = td__pgs_coli(r, 0, 1);
    u.client_key = td__pgs_col(r, 0, 2);
    u.kind = td__pgs_col(r, 0, 3);
    u.name = td__pgs_col(r, 0, 4);
    if (with_bytes) {
        if ((rc = td__pgs_bytea(r, 0, 5, &bytes, &u.original_len, err))) {
            PQclear(r);
            return rc;
        }
        u.original = bytes;
    } else {
        u.original_len = (size_t)td__pgs_coli(r, 0, 6);
    }
    u.sha256 = td__pgs_col(r, 0, 7);
    u.received = td__pgs_coli(r, 0, 8);
    u.created = td__pgs_coli(r, 0, 9);
    u.created_by = td__pgs_coli(r, 0, 10);
    u.state = td__pgs_col(r, 0, 11);
    u.attempts = td__pgs_coli(r, 0, 12);
    u.message_id = td__pgs_coli(r, 0, 13);
    u.error = td__pgs_col(r, 0, 14);
    u.updated = td__pgs_coli(r, 0, 15);
    rc = cb(ud, &u);
    PQfreemem(bytes);
    PQclear(r);
    return rc;
}

int td__pgs_upload_set(struct td_store *s, int64_t office, int64_t id, const char *state,
                       int64_t attempts, const char *error, int64_t message_id, int64_t now,
                       struct td_error *err)
{
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    struct td__pga a = {0};
    td__pga_i(&a, office);
    td__pga_i(&a, id);
    td__pga_t(&a, state);
    td__pga_i(&a, attempts);
    td__pga_t(&a, error);
    if (message_id > 0)
        td__pga_i(&a, message_id);
    else
        td__pga_null(&a);
    td__pga_i(&a, now);
    /* "done" drops the bytes: the message keeps them from then on */
    return td__pgs_ex1(s, "upload",
                       "UPDATE uploads SET state = $3, attempts = $4, error = $5, "
                       "message_id = $6, updated = $7, "
                       "original = CASE WHEN $3 = 'done' THEN ''::bytea ELSE original END "
                       "WHERE office_id = $1 AND id = $2",
                       &a, err);
}

#else
/* Built without libpq (TD_POSTGRES=OFF): an empty unit needs a declaration. */
typedef int td__pgs_jobs_disabled;
#endif /* TD_HAVE_POSTGRES */

/* The failed uploads past retention, deleted in one statement that
 * returns what the tombstones need (sqlite_jobs.c's twin). */
int td__pgs_upload_expire(struct td_store *s, int64_t office, int64_t before,
                          int (*cb)(void *ud, int64_t id, const char *sha256), void *ud,
                          struct td_error *err)
{
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    struct td__pga a = {0};
    td__pga_i(&a, office);
    td__pga_i(&a, before);
    PGresult *r;
    rc = td__pgs_ex(s,
                    "WITH gone AS (DELETE FROM uploads WHERE office_id = $1::bigint AND state = "
                    "'failed' AND received < $2::bigint RETURNING id, sha256) "
                    "SELECT id, sha256 FROM gone ORDER BY id",
                    &a, &r, err);
    if (rc)
        return rc;
    for (int i = 0; !rc && i < PQntuples(r); i++)
        rc = cb(ud, td__pgs_coli(r, i, 0), td__pgs_col(r, i, 1));
    PQclear(r);
    return rc;
}
