/*
 * pg_export.c - the PostgreSQL side of evidence bundles and reports
 * (store.h, "evidence bundles and reports"), op for op as
 * sqlite_export.c: the same typed rows in the same order.
 *
 * Everything here STREAMS, as in SQLite: PQexecParams would hold a whole
 * result in memory, so the exports read through a cursor, a batch of
 * rows at a time, and a CSV of a million messages costs one batch of
 * memory.  A cursor lives in a transaction: the desk's export runs in
 * one; called outside one, the op opens and ends its own.  Every query
 * names the office (and the office is named for row-level security) and
 * binds its values.
 */
#ifdef TD_HAVE_POSTGRES

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "store/pg_ops.h"
#include "store/pg_store_int.h"
#include "store/pg_val.h"
#include "store/store_int.h"
#include "threatdesk/taxonomy.h"

/* Rows fetched per round trip: large enough that the trips cost little,
 * small enough that a batch of message rows stays a few hundred KB. */
#define BATCH "256"
#define BATCH_N 256

/* Step a query to the end through a cursor, each row to row(ctx, r, i):
 * 0 goes on, > 0 stops the walk (a stop the callback asked for: as in
 * SQLite, not an error of the op), < 0 is a td_errno (out of memory). */
static int stream_rows(struct td_store *s, int64_t office, const char *query, int n,
                       const char *const *values, int (*row)(void *ctx, const PGresult *r, int i),
                       void *ctx, struct td_error *err)
{
    /* A callback may start another export on the same connection: each
     * cursor has its own name (a counter, never input). */
    static atomic_uint seq;
    struct td_pg *c = td__pgs_conn(s);
    char declare[4096], fetch[64], close_[48], name[24];
    int own = 0, rc, stop = 0;
    PGresult *r = NULL;

    snprintf(name, sizeof name, "td_export_%u", atomic_fetch_add(&seq, 1));
    if ((size_t)snprintf(declare, sizeof declare, "DECLARE %s NO SCROLL CURSOR FOR %s", name,
                         query) >= sizeof declare)
        return td_error_set(err, TD_ETOOBIG, "export query too long");
    snprintf(fetch, sizeof fetch, "FETCH " BATCH " FROM %s", name);
    snprintf(close_, sizeof close_, "CLOSE %s", name);

    /* the office first: outside a transaction it is set for the session,
     * which a rollback of our own transaction must not undo */
    if ((rc = td__pgs_scope(s, office, err)))
        return rc;
    if (PQtransactionStatus(td__pg_conn(c)) == PQTRANS_IDLE) {
        if ((rc = td__pg_begin(c, -1, err)))
            return rc;
        own = 1;
    }
    if ((rc = td__pg_exec_once(c, declare, n, values, NULL, NULL, NULL, err)))
        goto out;
    while (!stop) {
        if ((rc = td__pg_exec(c, fetch, 0, NULL, NULL, NULL, &r, err)))
            goto out;
        int rows = PQntuples(r);
        for (int i = 0; i < rows && !stop; i++)
            if ((stop = row(ctx, r, i)) < 0) {
                rc = td_error_set(err, stop, NULL);
                goto out;
            }
        PQclear(r);
        r = NULL;
        if (rows < BATCH_N)
            break;
    }
    rc = td__pg_exec(c, close_, 0, NULL, NULL, NULL, NULL, err);
out:
    PQclear(r);
    if (own) {
        if (!rc)
            rc = td__pg_commit(c, err);
        else
            td__pg_rollback(c);
    }
    return rc;
}

int td__pgs_audit_walk_object(struct td_store *s, int64_t office, const char *type, int64_t id,
                              int (*cb)(void *ud, const struct td_audit_entry *e), void *ud,
                              struct td_error *err)
{
    char o[24], i[24];
    PGresult *r;
    int rc = td__pgs_audit_flush(s, err);
    if (!rc)
        rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    const char *p[3] = {td__pg_i64(o, office), type, td__pg_i64(i, id)};
    /* seq is the entry's place in the office's chain: what the hash holds
     * in the id slot and what verify and a bundle's proof call its id */
    if ((rc = td__pg_exec(td__pgs_conn(s),
                          "SELECT seq, time, office_id, user_id, action, object_type, object_id, "
                          "details, prev_hash, hash FROM audit WHERE office_id = $1::bigint "
                          "AND object_type = $2 AND object_id = $3::bigint ORDER BY seq",
                          3, p, NULL, NULL, &r, err)))
        return rc;
    for (int k = 0, rows = PQntuples(r); k < rows; k++) {
        struct td_audit_entry e;
        memset(&e, 0, sizeof e);
        e.id = td__pgv_i64(r, k, 0);
        e.time = td__pgv_i64(r, k, 1);
        e.office_id = td__pgv_i64(r, k, 2);
        e.user_id = td__pgv_i64(r, k, 3);
        td__pgv_copy(r, k, 4, e.action, sizeof e.action);
        td__pgv_copy(r, k, 5, e.object_type, sizeof e.object_type);
        e.object_id = td__pgv_i64(r, k, 6);
        e.details = PQgetvalue(r, k, 7); /* borrowed until PQclear, as documented */
        td__pgv_copy(r, k, 8, e.prev_hash, sizeof e.prev_hash);
        td__pgv_copy(r, k, 9, e.hash, sizeof e.hash);
        if (cb(ud, &e))
            break;
    }
    PQclear(r);
    return TD_OK;
}

/* The exports' callbacks, with their arguments, for stream_rows. */
struct msg_cb {
    int (*cb)(void *ud, const struct td_store_message_row *r);
    void *ud;
};

static const char *col(const PGresult *r, int row, int i, struct td_store_arena *ar)
{
    return td__arena_str(ar, td__pgv_text(r, row, i));
}

static int msg_row(void *ctx, const PGresult *r, int i)
{
    struct msg_cb *x = ctx;
    struct td_store_arena ar = {0};
    struct td_store_message_row m = {0};
    m.id = td__pgv_i64(r, i, 0);
    m.channel = col(r, i, 1, &ar);
    m.sender = col(r, i, 2, &ar);
    m.sender_name = col(r, i, 3, &ar);
    m.subject = col(r, i, 4, &ar);
    m.received = td__pgv_i64(r, i, 5);
    m.ingested = td__pgv_i64(r, i, 6);
    m.status = col(r, i, 7, &ar);
    m.status_reason = col(r, i, 8, &ar);
    m.message_id = col(r, i, 9, &ar);
    m.verdict = col(r, i, 10, &ar);
    td__arena_ids(&ar, td__pgv_text(r, i, 11), 0, &m.cases, &m.ncases);
    m.severity = (int)td__pgv_i64(r, i, 12);
    m.labels = (unsigned)td__pgv_i64(r, i, 13);
    m.flags = (unsigned)td__pgv_i64(r, i, 14);
    m.model_version = col(r, i, 15, &ar);
    int stop = ar.oom ? TD_ENOMEM : x->cb(x->ud, &m) != 0;
    td_store_arena_free(&ar);
    return stop;
}

int td__pgs_message_export(struct td_store *s, int64_t office, const struct td_store_msg_query *f,
                           int (*cb)(void *ud, const struct td_store_message_row *r), void *ud,
                           struct td_error *err)
{
    char o[24], lab[24], sev[24], since[24], until[24];
    struct msg_cb x = {cb, ud};
    const char *p[8] = {td__pg_i64(o, office),
                        f->status,
                        td__pg_i64(lab, f->label >= 0 && f->label < TD_LABEL_COUNT ? f->label : -1),
                        td__pg_i64(sev, f->min_severity > 0 ? f->min_severity : 0),
                        f->channel,
                        f->sender,
                        td__pg_i64(since, f->since),
                        td__pg_i64(until, f->until)};
    /* cases: the message's cases in the order they took it (SQLite's
     * group_concat walks its rows in insertion order) */
    return stream_rows(
        s, office,
        "SELECT m.id, m.channel, m.sender, m.sender_name, m.subject, m.received, m.ingested, "
        "m.status, m.status_reason, m.message_id, m.verdict, "
        "(SELECT string_agg(cm.case_id::text, ',' ORDER BY cm.linked, cm.case_id) "
        " FROM case_messages cm WHERE cm.message_id = m.id), m.severity, m.labels, m.flags, "
        "m.model_version FROM messages m "
        "WHERE m.office_id = $1::bigint AND ($2::text IS NULL OR m.status = $2::text) "
        "AND ($3::int < 0 OR (m.labels & (1::bigint << $3::int)) <> 0) "
        "AND m.severity >= $4::bigint "
        "AND ($5::text IS NULL OR m.channel = $5::text) "
        "AND ($6::text IS NULL OR m.sender = $6::text) "
        "AND m.received >= $7::bigint AND m.received < $8::bigint "
        "ORDER BY (m.status = 'unreviewed') DESC, m.severity DESC, m.received DESC, m.id DESC",
        8, p, msg_row, &x, err);
}

struct case_cb {
    int (*cb)(void *ud, const struct td_store_case_export_row *r);
    void *ud;
};

static int case_row(void *ctx, const PGresult *r, int i)
{
    struct case_cb *x = ctx;
    struct td_store_arena ar = {0};
    struct td_store_case_export_row c = {0};
    c.c.id = td__pgv_i64(r, i, 0);
    c.c.type = col(r, i, 1, &ar);
    c.c.status = col(r, i, 2, &ar);
    c.c.title = col(r, i, 3, &ar);
    c.c.has_occurred = !td__pgv_null(r, i, 4);
    c.c.occurred = td__pgv_i64(r, i, 4);
    c.c.place = col(r, i, 5, &ar);
    c.c.police_ref = col(r, i, 6, &ar);
    c.c.assignee = col(r, i, 7, &ar);
    c.c.created = td__pgv_i64(r, i, 8);
    c.c.created_by = col(r, i, 9, &ar);
    c.c.updated = td__pgv_i64(r, i, 10);
    c.messages = td__pgv_i64(r, i, 11);
    c.evidence = td__pgv_i64(r, i, 12);
    int stop = ar.oom ? TD_ENOMEM : x->cb(x->ud, &c) != 0;
    td_store_arena_free(&ar);
    return stop;
}

int td__pgs_case_export(struct td_store *s, int64_t office, const struct td_store_case_query *f,
                        int (*cb)(void *ud, const struct td_store_case_export_row *r), void *ud,
                        struct td_error *err)
{
    struct td__pga a = {0};
    struct case_cb x = {cb, ud};
    td__pgs_case_args(&a, office, f);
    return stream_rows(s, office,
                       "SELECT c.id, c.type, c.status, c.title, c.occurred, c.place, "
                       "c.police_ref, a.name, c.created, cb.name, c.updated, "
                       "(SELECT count(*) FROM case_messages cm WHERE cm.case_id = c.id), "
                       "(SELECT count(*) FROM evidence e WHERE e.case_id = c.id AND "
                       " e.office_id = c.office_id) "
                       "FROM cases c LEFT JOIN users a ON a.id = c.assignee "
                       "LEFT JOIN users cb ON cb.id = c.created_by " TD__PGS_CASE_WHERE
                       "ORDER BY c.created DESC, c.id DESC",
                       a.n, a.v, case_row, &x, err);
}

struct digest_cb {
    const char *kind;
    int (*cb)(void *ud, const struct td_store_digest_row *r);
    void *ud;
};

/* A digest row: the kind's columns in their order (td_store_digest_row);
 * the text stays r's for the call. */
static int digest_row(void *ctx, const PGresult *r, int i)
{
    struct digest_cb *x = ctx;
    struct td_store_digest_row d = {0};
    if (!strcmp(x->kind, "volume")) {
        d.day = td__pgv_i64(r, i, 0);
        d.channel = td__pgv_text(r, i, 1);
        d.severity = td__pgv_i64(r, i, 2);
        d.labels = td__pgv_i64(r, i, 3);
        d.n = td__pgv_i64(r, i, 4);
    } else if (!strcmp(x->kind, "senders")) {
        d.sender = td__pgv_text(r, i, 0);
        d.display = td__pgv_text(r, i, 1);
        d.n = td__pgv_i64(r, i, 2);
        d.worst = td__pgv_i64(r, i, 3);
        d.threats = td__pgv_i64(r, i, 4);
    } else if (!strcmp(x->kind, "cases")) {
        d.status = td__pgv_text(r, i, 0);
        d.n = td__pgv_i64(r, i, 1);
    } else {
        d.seconds = td__pgv_i64(r, i, 0);
    }
    return x->cb(x->ud, &d) != 0;
}

int td__pgs_digest_rows(struct td_store *s, int64_t office, const char *kind, int64_t since,
                        int64_t until, int (*cb)(void *ud, const struct td_store_digest_row *r),
                        void *ud, struct td_error *err)
{
    /* SQLite's queries with PostgreSQL's spelling: integer division
     * truncates the same way; text orders and maxima in byte order
     * (COLLATE "C", SQLite's BINARY); counts are bigint so the JSON has
     * integers, never numeric's reals; ties broken as SQLite's grouping
     * leaves them. */
    static const struct {
        const char *kind;
        int params;
        const char *sql;
    } q[] = {
        {"volume", 3,
         "SELECT received / 86400 AS day, channel, severity, labels, count(*) AS n "
         "FROM messages WHERE office_id = $1::bigint AND received >= $2::bigint "
         "AND received < $3::bigint GROUP BY day, channel, severity, labels "
         "ORDER BY day, channel COLLATE \"C\", severity, labels"},
        {"senders", 3,
         "SELECT m.sender, max(m.sender_name COLLATE \"C\") AS display, count(*) AS n, "
         "max(m.severity) AS worst, count(*) FILTER (WHERE (m.labels & 1) <> 0) AS threats "
         "FROM messages m WHERE m.office_id = $1::bigint AND m.received >= $2::bigint "
         "AND m.received < $3::bigint AND m.sender IS NOT NULL AND m.severity > 0 "
         "GROUP BY m.sender ORDER BY worst DESC, n DESC, m.sender COLLATE \"C\" LIMIT 10"},
        {"cases", 1,
         "SELECT status, count(*) AS n FROM cases WHERE office_id = $1::bigint "
         "GROUP BY status ORDER BY n DESC, status COLLATE \"C\""},
        {"review", 3,
         "SELECT status_time - ingested AS seconds FROM messages "
         "WHERE office_id = $1::bigint AND received >= $2::bigint AND received < $3::bigint "
         "AND severity = 4 AND status <> 'unreviewed' AND status_time IS NOT NULL "
         "ORDER BY seconds"},
    };
    char o[24], a[24], b[24];
    const char *p[3] = {td__pg_i64(o, office), td__pg_i64(a, since), td__pg_i64(b, until)};
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        if (!strcmp(kind, q[i].kind)) {
            struct digest_cb x = {q[i].kind, cb, ud};
            return stream_rows(s, office, q[i].sql, q[i].params, p, digest_row, &x, err);
        }
    return td_error_set(err, TD_EINVAL, "unknown digest kind '%s'", kind);
}

#endif /* TD_HAVE_POSTGRES */
