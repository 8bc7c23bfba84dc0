/*
 * pg_feedback.c - the PostgreSQL side of learning from the office: message
 * vectors and the feedback rows of migration 0004, op for op as
 * sqlite_feedback.c (store.h says what each op promises).
 *
 * Every statement names the office in its WHERE clause and binds every
 * value, and the office is named for row-level security first
 * (td__pgs_scope).  Vectors are bytea holding exactly the bytes SQLite's
 * BLOB holds - little-endian IEEE-754 float32 - sent as a binary
 * parameter, so a migrate tool copies them unchanged and both backends
 * read the same floats on any host.
 */
#ifdef TD_HAVE_POSTGRES

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "store/pg_ops.h"
#include "store/pg_store_int.h"
#include "store/pg_val.h"
#include "threatdesk/analyse.h"
#include "threatdesk/feedback.h"

#define VEC_MAX TD_VERDICT_VEC

static void encode(const float *v, unsigned n, unsigned char *out)
{
    for (unsigned i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        out[4 * i] = (unsigned char)u;
        out[4 * i + 1] = (unsigned char)(u >> 8);
        out[4 * i + 2] = (unsigned char)(u >> 16);
        out[4 * i + 3] = (unsigned char)(u >> 24);
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A bytea column in text form ("\x" and two hex digits a byte, the
 * server's default bytea_output) as floats: their number, 0 when it is
 * not a vector (NULL, the old escape format, a length that is not a whole
 * number of floats, more than cap). */
static unsigned decode(const PGresult *r, int row, int col, float *v, unsigned cap)
{
    if (PQgetisnull(r, row, col))
        return 0;
    const char *t = PQgetvalue(r, row, col);
    size_t len = (size_t)PQgetlength(r, row, col);
    if (len < 2 || t[0] != '\\' || t[1] != 'x' || (len - 2) % 8 != 0)
        return 0;
    size_t bytes = (len - 2) / 2;
    if (bytes == 0 || bytes / 4 > cap)
        return 0;
    unsigned n = (unsigned)(bytes / 4);
    for (unsigned i = 0; i < n; i++) {
        uint32_t u = 0;
        for (int k = 0; k < 4; k++) {
            const char *p = t + 2 + 8 * i + 2 * k;
            int hi = hexval(p[0]), lo = hexval(p[1]);
            if (hi < 0 || lo < 0)
                return 0;
            u |= (uint32_t)(hi << 4 | lo) << (8 * k);
        }
        memcpy(&v[i], &u, 4);
    }
    return n;
}

int td__pgs_message_vector_put(struct td_store *s, int64_t office_id, int64_t message_id,
                               const char *model, const float *vec, unsigned n,
                               struct td_error *err)
{
    unsigned char blob[VEC_MAX * 4];
    if (n == 0 || n > VEC_MAX || !model)
        return td_error_set(err, TD_EINVAL, "a message vector of %u floats", n);
    encode(vec, n, blob);
    int rc = td__pgs_scope(s, office_id, err);
    if (rc)
        return rc;
    struct td__pga a = {0};
    td__pga_i(&a, office_id);
    td__pga_i(&a, message_id);
    td__pga_t(&a, model);
    td__pga_bin(&a, blob, n * 4);
    /* the message must be the office's: the SELECT finds nothing otherwise
     * ("no such message"); a second put replaces the first, as INSERT OR
     * REPLACE does.  Sent ahead inside a transaction (an ingest's vector). */
    return td__pgs_defer(s, "message",
                         "INSERT INTO message_vectors (message_id, office_id, model, vector) "
                         "SELECT id, office_id, $3, $4 FROM messages "
                         "WHERE office_id = $1::bigint AND id = $2::bigint "
                         "ON CONFLICT (message_id) DO UPDATE SET office_id = EXCLUDED.office_id, "
                         "model = EXCLUDED.model, vector = EXCLUDED.vector",
                         &a, err);
}

int td__pgs_message_vector_get(struct td_store *s, int64_t office_id, int64_t message_id,
                               char *model, size_t model_size, float *vec, unsigned cap,
                               unsigned *n, struct td_error *err)
{
    char o[24], m[24];
    PGresult *r;
    *n = 0;
    int rc = td__pgs_scope(s, office_id, err);
    if (rc)
        return rc;
    const char *p[2] = {td__pg_i64(o, office_id), td__pg_i64(m, message_id)};
    if ((rc = td__pg_exec(td__pgs_conn(s),
                          "SELECT model, vector FROM message_vectors "
                          "WHERE office_id = $1::bigint AND message_id = $2::bigint",
                          2, p, NULL, NULL, &r, err)))
        return rc;
    if (PQntuples(r) == 0) {
        rc = TD_ENOTFOUND; /* no text: the caller expects "none" often */
    } else {
        td__pgv_copy(r, 0, 0, model, model_size);
        *n = decode(r, 0, 1, vec, cap);
        if (*n == 0)
            rc = td_error_set(err, TD_ESTORE, "message %lld: stored vector is malformed",
                              (long long)message_id);
    }
    PQclear(r);
    return rc;
}

int td__pgs_message_vector_mean(struct td_store *s, int64_t office_id, const char *model,
                                size_t limit, float *mean, unsigned n, size_t *count,
                                struct td_error *err)
{
    double sum[VEC_MAX] = {0};
    float v[VEC_MAX];
    char o[24], l[24];
    PGresult *r;
    *count = 0;
    if (n == 0 || n > VEC_MAX)
        return td_error_set(err, TD_EINVAL, "a mean of %u floats", n);
    int rc = td__pgs_scope(s, office_id, err);
    if (rc)
        return rc;
    const char *p[3] = {td__pg_i64(o, office_id), model, td__pgv_limit(l, limit)};
    if ((rc = td__pg_exec(td__pgs_conn(s),
                          "SELECT vector FROM message_vectors WHERE office_id = $1::bigint "
                          "AND model = $2 ORDER BY message_id DESC LIMIT $3::bigint",
                          3, p, NULL, NULL, &r, err)))
        return rc;
    for (int i = 0, rows = PQntuples(r); i < rows; i++) {
        /* a vector of another length (an older model's) is left out */
        if (decode(r, i, 0, v, VEC_MAX) != n)
            continue;
        for (unsigned k = 0; k < n; k++)
            sum[k] += v[k];
        (*count)++;
    }
    PQclear(r);
    for (unsigned k = 0; k < n; k++)
        mean[k] = *count ? (float)(sum[k] / (double)*count) : 0.0f;
    return TD_OK;
}

int td__pgs_feedback_insert(struct td_store *s, const struct td_store_feedback *f, int64_t *id,
                            struct td_error *err)
{
    unsigned char blob[VEC_MAX * 4];
    char o[24], m[24], lab[24], w[40], u[24], cr[24];
    PGresult *r;
    const char *decision = td_feedback_decision_name(f->decision);
    if (!decision || f->nvec == 0 || f->nvec > VEC_MAX || !f->model)
        return td_error_set(err, TD_EINVAL, "malformed feedback row");
    encode(f->vec, f->nvec, blob);
    int rc = td__pgs_scope(s, f->office_id, err);
    if (rc)
        return rc;
    /* %.17g: the double SQLite would keep, exactly, through text */
    snprintf(w, sizeof w, "%.17g", (double)f->weight);
    const char *p[9] = {td__pg_i64(o, f->office_id),
                        td__pg_i64(m, f->message_id),
                        decision,
                        td__pg_i64(lab, (int64_t)f->labels),
                        f->model,
                        (const char *)blob,
                        w,
                        td__pg_i64(u, f->user_id),
                        td__pg_i64(cr, f->created)};
    const int len[9] = {0, 0, 0, 0, 0, (int)(f->nvec * 4), 0, 0, 0};
    const int fmt[9] = {0, 0, 0, 0, 0, 1, 0, 0, 0};
    if ((rc = td__pg_exec(td__pgs_conn(s),
                          "INSERT INTO feedback (office_id, message_id, decision, labels, model, "
                          "vector, weight, user_id, created) SELECT office_id, id, $3, $4::bigint, "
                          "$5, $6, $7::double precision, $8::bigint, $9::bigint FROM messages "
                          "WHERE office_id = $1::bigint AND id = $2::bigint RETURNING id",
                          9, p, len, fmt, &r, err)))
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return td_error_set(err, TD_ENOTFOUND, "no such message");
    }
    if (id)
        *id = td__pgv_i64(r, 0, 0);
    PQclear(r);
    return TD_OK;
}

int td__pgs_feedback_revoke(struct td_store *s, int64_t office_id, int64_t id, int64_t when,
                            int64_t by, int64_t *message_id, int *was_revoked, struct td_error *err)
{
    char o[24], i[24], t[24], b[24];
    PGresult *r;
    *was_revoked = 0;
    int rc = td__pgs_scope(s, office_id, err);
    if (rc)
        return rc;
    const char *p[4] = {td__pg_i64(o, office_id), td__pg_i64(i, id), td__pg_i64(t, when),
                        td__pg_i64(b, by)};
    if ((rc = td__pg_exec(td__pgs_conn(s),
                          "SELECT message_id, revoked_at IS NOT NULL FROM feedback "
                          "WHERE office_id = $1::bigint AND id = $2::bigint",
                          2, p, NULL, NULL, &r, err)))
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return td_error_set(err, TD_ENOTFOUND, "no such feedback");
    }
    if (message_id)
        *message_id = td__pgv_i64(r, 0, 0);
    *was_revoked = td__pgv_bool(r, 0, 1);
    PQclear(r);
    if (*was_revoked)
        return TD_OK;
    return td__pg_exec(td__pgs_conn(s),
                       "UPDATE feedback SET revoked_at = $3::bigint, revoked_by = $4::bigint "
                       "WHERE office_id = $1::bigint AND id = $2::bigint AND revoked_at IS NULL",
                       4, p, NULL, NULL, NULL, err);
}

int td__pgs_feedback_revoke_message(struct td_store *s, int64_t office_id, int64_t message_id,
                                    int64_t when, int64_t by, int (*cb)(void *ud, int64_t id),
                                    void *ud, struct td_error *err)
{
    char o[24], m[24], t[24], b[24];
    PGresult *r;
    int rows = 0;
    int rc = td__pgs_scope(s, office_id, err);
    if (rc)
        return rc;
    const char *p[4] = {td__pg_i64(o, office_id), td__pg_i64(m, message_id), td__pg_i64(t, when),
                        td__pg_i64(b, by)};
    if ((rc = td__pg_exec(td__pgs_conn(s),
                          "SELECT id FROM feedback WHERE office_id = $1::bigint "
                          "AND message_id = $2::bigint AND revoked_at IS NULL ORDER BY id",
                          2, p, NULL, NULL, &r, err)))
        return rc;
    rows = PQntuples(r);
    for (int i = 0; i < rows && !rc; i++)
        rc = cb(ud, td__pgv_i64(r, i, 0));
    PQclear(r);
    /* a callback that stops leaves every row as it was */
    if (rc || rows == 0)
        return rc;
    return td__pg_exec(td__pgs_conn(s),
                       "UPDATE feedback SET revoked_at = $3::bigint, revoked_by = $4::bigint "
                       "WHERE office_id = $1::bigint AND message_id = $2::bigint "
                       "AND revoked_at IS NULL",
                       4, p, NULL, NULL, NULL, err);
}

int td__pgs_feedback_list(struct td_store *s, int64_t office_id, int all, size_t limit,
                          size_t offset, int (*cb)(void *ud, const struct td_store_feedback_row *r),
                          void *ud, int64_t *total, struct td_error *err)
{
    char o[24], l[24], off[24];
    PGresult *r;
    *total = 0;
    int rc = td__pgs_scope(s, office_id, err);
    if (rc)
        return rc;
    const char *p[4] = {td__pg_i64(o, office_id), all ? "1" : "0", td__pgv_limit(l, limit),
                        td__pgv_limit(off, offset)};
    if ((rc = td__pg_exec(td__pgs_conn(s),
                          "SELECT count(*) FROM feedback WHERE office_id = $1::bigint "
                          "AND ($2::boolean OR revoked_at IS NULL)",
                          2, p, NULL, NULL, &r, err)))
        return rc;
    *total = td__pgv_i64(r, 0, 0);
    PQclear(r);
    if ((rc =
             td__pg_exec(td__pgs_conn(s),
                         "SELECT f.id, f.message_id, f.decision, f.labels, f.model, f.weight, "
                         "u.name, f.created, f.revoked_at IS NOT NULL, f.revoked_at, r.name "
                         "FROM feedback f LEFT JOIN users u ON u.id = f.user_id "
                         "LEFT JOIN users r ON r.id = f.revoked_by "
                         "WHERE f.office_id = $1::bigint AND ($2::boolean OR f.revoked_at IS NULL) "
                         "ORDER BY f.id DESC LIMIT $3::bigint OFFSET $4::bigint",
                         4, p, NULL, NULL, &r, err)))
        return rc;
    for (int i = 0, rows = PQntuples(r); i < rows && !rc; i++) {
        struct td_store_feedback_row row = {
            .id = td__pgv_i64(r, i, 0),
            .message_id = td__pgv_i64(r, i, 1),
            .decision = td__pgv_text(r, i, 2),
            .labels = (unsigned)td__pgv_i64(r, i, 3),
            .model = td__pgv_text(r, i, 4),
            .weight = td__pgv_f64(r, i, 5),
            .user = td__pgv_text(r, i, 6),
            .created = td__pgv_i64(r, i, 7),
            .revoked = td__pgv_bool(r, i, 8),
            .revoked_at = td__pgv_i64(r, i, 9),
            .revoked_by = td__pgv_text(r, i, 10),
        };
        rc = cb(ud, &row);
    }
    PQclear(r);
    return rc;
}

int td__pgs_feedback_load(struct td_store *s, int64_t office_id, const char *model,
                          int (*cb)(void *ud, const struct td_store_feedback *f), void *ud,
                          size_t *stale, struct td_error *err)
{
    float vec[VEC_MAX];
    char o[24];
    PGresult *r;
    *stale = 0;
    int rc = td__pgs_scope(s, office_id, err);
    if (rc)
        return rc;
    const char *p[1] = {td__pg_i64(o, office_id)};
    if ((rc = td__pg_exec(td__pgs_conn(s),
                          "SELECT id, message_id, decision, labels, model, vector, weight, "
                          "user_id, created FROM feedback WHERE office_id = $1::bigint "
                          "AND revoked_at IS NULL ORDER BY id",
                          1, p, NULL, NULL, &r, err)))
        return rc;
    for (int i = 0, rows = PQntuples(r); i < rows; i++) {
        const char *m = td__pgv_text(r, i, 4);
        if (!m || !model || strcmp(m, model) != 0) {
            (*stale)++;
            continue;
        }
        struct td_store_feedback f = {
            .id = td__pgv_i64(r, i, 0),
            .office_id = office_id,
            .message_id = td__pgv_i64(r, i, 1),
            .decision = td_feedback_decision_from_name(td__pgv_text(r, i, 2)),
            .labels = (unsigned)td__pgv_i64(r, i, 3),
            .model = m,
            .vec = vec,
            .nvec = decode(r, i, 5, vec, VEC_MAX),
            .weight = (float)td__pgv_f64(r, i, 6),
            .user_id = td__pgv_i64(r, i, 7),
            .created = td__pgv_i64(r, i, 8),
        };
        if (f.decision < 0 || f.nvec == 0) {
            (*stale)++; /* malformed: never used, never fatal */
            continue;
        }
        if (cb(ud, &f))
            break; /* the caller has what it wanted: not an error (as SQLite) */
    }
    PQclear(r);
    return TD_OK;
}

int td__pgs_feedback_stamp(struct td_store *s, int64_t office_id, int64_t stamp[3],
                           struct td_error *err)
{
    char o[24];
    PGresult *r;
    int rc = td__pgs_scope(s, office_id, err);
    if (rc)
        return rc;
    const char *p[1] = {td__pg_i64(o, office_id)};
    if ((rc = td__pg_exec(td__pgs_conn(s),
                          "SELECT count(*), coalesce(max(id), 0), count(revoked_at) FROM feedback "
                          "WHERE office_id = $1::bigint",
                          1, p, NULL, NULL, &r, err)))
        return rc;
    for (int i = 0; i < 3; i++)
        stamp[i] = td__pgv_i64(r, 0, i);
    PQclear(r);
    return TD_OK;
}

#endif /* TD_HAVE_POSTGRES */
