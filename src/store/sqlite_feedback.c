/*
 * sqlite_feedback.c - the SQLite side of learning from the office: message
 * vectors and the feedback rows of migration 0004 (store.h says what each
 * op promises).
 *
 * Every statement names the office in its WHERE clause and binds every
 * value; vectors are BLOBs of little-endian IEEE-754 float32, written and
 * read byte by byte so the file means the same on any host.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "store/sq_stmt.h"
#include "store/store_int.h"
#include "threatdesk/analyse.h"
#include "threatdesk/feedback.h"
#include "threatdesk/taxonomy.h"

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

/* The BLOB as floats: its number of floats, 0 when it is not a vector. */
static unsigned decode(const void *blob, int bytes, float *v, unsigned cap)
{
    const unsigned char *b = blob;
    if (!b || bytes <= 0 || bytes % 4 || (unsigned)bytes / 4 > cap)
        return 0;
    unsigned n = (unsigned)bytes / 4;
    for (unsigned i = 0; i < n; i++) {
        uint32_t u = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 |
                     (uint32_t)b[4 * i + 2] << 16 | (uint32_t)b[4 * i + 3] << 24;
        memcpy(&v[i], &u, 4);
    }
    return n;
}

int td__sq_message_vector_put(struct td_store *s, int64_t office, int64_t message_id,
                              const char *model, const float *vec, unsigned n, struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    unsigned char blob[VEC_MAX * 4];
    if (n == 0 || n > VEC_MAX || !model)
        return td_error_set(err, TD_EINVAL, "a message vector of %u floats", n);
    encode(vec, n, blob);
    /* the message must be the office's: the SELECT finds nothing otherwise */
    int rc =
        td__sq_stmt(c,
                    "INSERT OR REPLACE INTO message_vectors (message_id, office_id, model, vector) "
                    "SELECT id, office_id, ?3, ?4 FROM messages WHERE office_id = ?1 AND id = ?2",
                    &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, office);
    sqlite3_bind_int64(st, 2, message_id);
    sqlite3_bind_text(st, 3, model, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 4, blob, (int)(n * 4), SQLITE_TRANSIENT);
    if ((rc = td__sq_run(c, st, "message vector", err)))
        return rc;
    if (sqlite3_changes(c->db) == 0)
        return td_error_set(err, TD_ENOTFOUND, "no such message");
    return TD_OK;
}

int td__sq_message_vector_get(struct td_store *s, int64_t office, int64_t message_id, char *model,
                              size_t model_size, float *vec, unsigned cap, unsigned *n,
                              struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    *n = 0;
    int rc = td__sq_stmt(
        c, "SELECT model, vector FROM message_vectors WHERE office_id = ? AND message_id = ?", &st,
        err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, office);
    sqlite3_bind_int64(st, 2, message_id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(st, 0);
        snprintf(model, model_size, "%s", m ? m : "");
        *n = decode(sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1), vec, cap);
        if (*n == 0)
            rc = td_error_set(err, TD_ESTORE, "message %lld: stored vector is malformed",
                              (long long)message_id);
    } else if (r == SQLITE_DONE) {
        rc = TD_ENOTFOUND;
    } else {
        rc = td__sq_fail(c, st, "message vector", err);
    }
    td__sq_done(c, st);
    return rc;
}

int td__sq_message_vector_mean(struct td_store *s, int64_t office, const char *model, size_t limit,
                               float *mean, unsigned n, size_t *count, struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    double sum[VEC_MAX] = {0};
    float v[VEC_MAX];
    int r;
    *count = 0;
    if (n == 0 || n > VEC_MAX)
        return td_error_set(err, TD_EINVAL, "a mean of %u floats", n);
    int rc = td__sq_stmt(c,
                         "SELECT vector FROM message_vectors WHERE office_id = ? AND model = ? "
                         "ORDER BY message_id DESC LIMIT ?",
                         &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, office);
    sqlite3_bind_text(st, 2, model, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, (int64_t)limit);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (decode(sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0), v, VEC_MAX) != n)
            continue;
        for (unsigned i = 0; i < n; i++)
            sum[i] += v[i];
        (*count)++;
    }
    if (r != SQLITE_DONE)
        rc = td__sq_fail(c, st, "message vectors", err);
    td__sq_done(c, st);
    for (unsigned i = 0; i < n; i++)
        mean[i] = *count ? (float)(sum[i] / (double)*count) : 0.0f;
    return rc;
}

int td__sq_feedback_insert(struct td_store *s, const struct td_store_feedback *f, int64_t *id,
                           struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    unsigned char blob[VEC_MAX * 4];
    const char *decision = td_feedback_decision_name(f->decision);
    if (!decision || f->nvec == 0 || f->nvec > VEC_MAX || !f->model)
        return td_error_set(err, TD_EINVAL, "malformed feedback row");
    encode(f->vec, f->nvec, blob);
    int rc =
        td__sq_stmt(c,
                    "INSERT INTO feedback (office_id, message_id, decision, labels, model, vector, "
                    "weight, user_id, created) SELECT office_id, id, ?3, ?4, ?5, ?6, ?7, ?8, ?9 "
                    "FROM messages WHERE office_id = ?1 AND id = ?2",
                    &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, f->office_id);
    sqlite3_bind_int64(st, 2, f->message_id);
    sqlite3_bind_text(st, 3, decision, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)f->labels);
    sqlite3_bind_text(st, 5, f->model, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 6, blob, (int)(f->nvec * 4), SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 7, (double)f->weight);
    sqlite3_bind_int64(st, 8, f->user_id);
    sqlite3_bind_int64(st, 9, f->created);
    if ((rc = td__sq_run(c, st, "feedback", err)))
        return rc;
    if (sqlite3_changes(c->db) == 0)
        return td_error_set(err, TD_ENOTFOUND, "no such message");
    if (id)
        *id = sqlite3_last_insert_rowid(c->db);
    return TD_OK;
}

int td__sq_feedback_revoke(struct td_store *s, int64_t office, int64_t id, int64_t when, int64_t by,
                           int64_t *message_id, int *was, struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    *was = 0;
    int rc = td__sq_bound(c,
                          "SELECT message_id, revoked_at IS NOT NULL FROM feedback "
                          "WHERE office_id = ? AND id = ?",
                          &st, TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(id)), err);
    if (rc)
        return rc;
    if ((rc = td__sq_row(c, st, "feedback", err)) == TD_OK) {
        if (message_id)
            *message_id = sqlite3_column_int64(st, 0);
        *was = sqlite3_column_int(st, 1);
    }
    td__sq_done(c, st);
    if (rc || *was)
        return rc;
    return td__sq_write(c, "feedback",
                        "UPDATE feedback SET revoked_at = ?, revoked_by = ? "
                        "WHERE office_id = ? AND id = ? AND revoked_at IS NULL",
                        TD__SQ_ARGS(TD__SQ_I(when), TD__SQ_I(by), TD__SQ_I(office), TD__SQ_I(id)),
                        err);
}

int td__sq_feedback_revoke_message(struct td_store *s, int64_t office, int64_t message_id,
                                   int64_t when, int64_t by, int (*cb)(void *ud, int64_t id),
                                   void *ud, struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    size_t n = 0;
    int rc, r;
    if ((rc = td__sq_bound(c,
                           "SELECT id FROM feedback WHERE office_id = ? AND message_id = ? "
                           "AND revoked_at IS NULL ORDER BY id",
                           &st, TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(message_id)), err)))
        return rc;
    while ((r = td__sq_next(c, st, "feedback", err)) == 1 &&
           !(rc = cb(ud, sqlite3_column_int64(st, 0))))
        n++;
    td__sq_done(c, st);
    if (rc || r < 0)
        return rc ? rc : r;
    if (n == 0)
        return TD_OK;
    return td__sq_write(
        c, "feedback",
        "UPDATE feedback SET revoked_at = ?, revoked_by = ? "
        "WHERE office_id = ? AND message_id = ? AND revoked_at IS NULL",
        TD__SQ_ARGS(TD__SQ_I(when), TD__SQ_I(by), TD__SQ_I(office), TD__SQ_I(message_id)), err);
}

int td__sq_feedback_list(struct td_store *s, int64_t office, int all, size_t limit, size_t offset,
                         int (*cb)(void *ud, const struct td_store_feedback_row *r), void *ud,
                         int64_t *total, struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    int rc, r;
    *total = 0;
    if ((rc = td__sq_value(c, "feedback",
                           "SELECT count(*) FROM feedback WHERE office_id = ?1 "
                           "AND (?2 OR revoked_at IS NULL)",
                           TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(all ? 1 : 0)), total, err)))
        return rc;
    if ((rc = td__sq_bound(c,
                           "SELECT f.id, f.message_id, f.decision, f.labels, f.model, f.weight, "
                           "u.name, f.created, f.revoked_at IS NOT NULL, f.revoked_at, r.name "
                           "FROM feedback f LEFT JOIN users u ON u.id = f.user_id "
                           "LEFT JOIN users r ON r.id = f.revoked_by "
                           "WHERE f.office_id = ?1 AND (?2 OR f.revoked_at IS NULL) "
                           "ORDER BY f.id DESC LIMIT ?3 OFFSET ?4",
                           &st,
                           TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(all ? 1 : 0), TD__SQ_I(limit),
                                       TD__SQ_I(offset)),
                           err)))
        return rc;
    while ((r = td__sq_next(c, st, "feedback", err)) == 1) {
        struct td_store_feedback_row row = {
            .id = sqlite3_column_int64(st, 0),
            .message_id = sqlite3_column_int64(st, 1),
            .decision = (const char *)sqlite3_column_text(st, 2),
            .labels = (unsigned)sqlite3_column_int64(st, 3),
            .model = (const char *)sqlite3_column_text(st, 4),
            .weight = sqlite3_column_double(st, 5),
            .user = (const char *)sqlite3_column_text(st, 6),
            .created = sqlite3_column_int64(st, 7),
            .revoked = sqlite3_column_int(st, 8),
            .revoked_at = sqlite3_column_int64(st, 9),
            .revoked_by = (const char *)sqlite3_column_text(st, 10),
        };
        if ((rc = cb(ud, &row)))
            break;
    }
    td__sq_done(c, st);
    return rc ? rc : r < 0 ? r : TD_OK;
}

int td__sq_feedback_load(struct td_store *s, int64_t office, const char *model,
                         int (*cb)(void *ud, const struct td_store_feedback *f), void *ud,
                         size_t *stale, struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    float vec[VEC_MAX];
    int rc, r;
    *stale = 0;
    if ((rc = td__sq_stmt(
             c,
             "SELECT id, message_id, decision, labels, model, vector, weight, user_id, "
             "created FROM feedback WHERE office_id = ? AND revoked_at IS NULL ORDER BY id",
             &st, err)))
        return rc;
    sqlite3_bind_int64(st, 1, office);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(st, 4);
        if (!m || !model || strcmp(m, model) != 0) {
            (*stale)++;
            continue;
        }
        struct td_store_feedback f = {
            .id = sqlite3_column_int64(st, 0),
            .office_id = office,
            .message_id = sqlite3_column_int64(st, 1),
            .decision = td_feedback_decision_from_name((const char *)sqlite3_column_text(st, 2)),
            .labels = (unsigned)sqlite3_column_int64(st, 3),
            .model = m,
            .vec = vec,
            .nvec = decode(sqlite3_column_blob(st, 5), sqlite3_column_bytes(st, 5), vec, VEC_MAX),
            .weight = (float)sqlite3_column_double(st, 6),
            .user_id = sqlite3_column_int64(st, 7),
            .created = sqlite3_column_int64(st, 8),
        };
        if (f.decision < 0 || f.nvec == 0) {
            (*stale)++; /* malformed: never used, never fatal */
            continue;
        }
        if (cb(ud, &f)) {
            r = SQLITE_DONE;
            break;
        }
    }
    if (r != SQLITE_DONE)
        rc = td__sq_fail(c, st, "feedback", err);
    td__sq_done(c, st);
    return rc;
}

int td__sq_feedback_stamp(struct td_store *s, int64_t office, int64_t stamp[3],
                          struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    int rc = td__sq_bound(c,
                          "SELECT count(*), coalesce(max(id), 0), count(revoked_at) FROM feedback "
                          "WHERE office_id = ?",
                          &st, TD__SQ_ARGS(TD__SQ_I(office)), err);
    if (rc)
        return rc;
    if ((rc = td__sq_row(c, st, "feedback", err)) == TD_OK)
        for (int i = 0; i < 3; i++)
            stamp[i] = sqlite3_column_int64(st, i);
    td__sq_done(c, st);
    return rc;
}
