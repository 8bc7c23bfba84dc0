/*
 * sqlite_export.c - the SQLite side of evidence bundles and reports
 * (store.h, "evidence bundles and reports").
 *
 * Everything here STREAMS: a statement is stepped and each row handed to
 * the caller's callback as it comes, so a CSV of a million messages or
 * the audit trail of a long case costs one row of memory.  Every query
 * names the office and binds its values.
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "store/sq_queue.h"
#include "store/sq_stmt.h"
#include "store/store_int.h"
#include "threatdesk/taxonomy.h"

static const char *col(sqlite3_stmt *st, int i, struct td_store_arena *ar)
{
    return td__arena_str(ar, (const char *)sqlite3_column_text(st, i));
}

/* The end of a stream: TD_ENOMEM when a row's arena ran out, the step's
 * error when it failed (r is its last sqlite3_step), else TD_OK; gives st
 * back. */
static int stream_end(struct td__sq *c, sqlite3_stmt *st, int r, int oom, struct td_error *err)
{
    int rc = TD_OK;
    if (oom)
        rc = td_error_set(err, TD_ENOMEM, NULL);
    else if (r != SQLITE_ROW && r != SQLITE_DONE)
        rc = td__sq_fail(c, st, "export", err);
    td__sq_done(c, st);
    return rc;
}

int td__sq_audit_walk_object(struct td_store *s, int64_t office, const char *type, int64_t id,
                             int (*cb)(void *ud, const struct td_audit_entry *e), void *ud,
                             struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    int rc =
        td__sq_stmt(c,
                    "SELECT id, time, office_id, user_id, action, object_type, object_id, details, "
                    "prev_hash, hash FROM audit "
                    "WHERE office_id = ? AND object_type = ? AND object_id = ? ORDER BY id",
                    &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, office);
    td__sq_bind_text(st, 2, type);
    sqlite3_bind_int64(st, 3, id);
    int r;
    struct td_audit_entry e;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        td__sq_audit_entry(st, &e);
        if (cb(ud, &e))
            break;
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        rc = td__sq_fail(c, st, "audit", err);
    td__sq_done(c, st);
    return rc;
}

int td__sq_message_export(struct td_store *s, int64_t office, const struct td_store_msg_query *f,
                          int (*cb)(void *ud, const struct td_store_message_row *r), void *ud,
                          struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    int rc = td__sq_stmt(c,
                         "SELECT m.id, m.channel, m.sender, m.sender_name, m.subject, m.received, "
                         "m.ingested, m.status, m.status_reason, m.message_id, m.verdict, "
                         "(SELECT group_concat(cm.case_id) FROM case_messages cm "
                         " WHERE cm.message_id = m.id) AS cases, m.severity, m.labels, m.flags, "
                         "m.model_version " TD__SQ_QUEUE_FROM TD__SQ_QUEUE_WHERE TD__SQ_QUEUE_ORDER,
                         &st, err);
    if (rc)
        return rc;
    td__sq_queue_bind(st, office, f);
    int r, oom = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct td_store_arena ar = {0};
        struct td_store_message_row m = {0};
        m.id = sqlite3_column_int64(st, 0);
        m.channel = col(st, 1, &ar);
        m.sender = col(st, 2, &ar);
        m.sender_name = col(st, 3, &ar);
        m.subject = col(st, 4, &ar);
        m.received = sqlite3_column_int64(st, 5);
        m.ingested = sqlite3_column_int64(st, 6);
        m.status = col(st, 7, &ar);
        m.status_reason = col(st, 8, &ar);
        m.message_id = col(st, 9, &ar);
        m.verdict = col(st, 10, &ar);
        /* group_concat walks the links in the order they were made */
        td__arena_ids(&ar, (const char *)sqlite3_column_text(st, 11), 0, &m.cases, &m.ncases);
        m.severity = sqlite3_column_int(st, 12);
        m.labels = (unsigned)sqlite3_column_int64(st, 13);
        m.flags = (unsigned)sqlite3_column_int64(st, 14);
        m.model_version = col(st, 15, &ar);
        int stop = (oom = ar.oom) || cb(ud, &m);
        td_store_arena_free(&ar);
        if (stop)
            break;
    }
    return stream_end(c, st, r, oom, err);
}

int td__sq_case_export(struct td_store *s, int64_t office, const struct td_store_case_query *f,
                       int (*cb)(void *ud, const struct td_store_case_export_row *r), void *ud,
                       struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    int rc = td__sq_stmt(c,
                         "SELECT c.id, c.type, c.status, c.title, c.occurred, c.place, "
                         "c.police_ref, a.name, c.created, cb.name, c.updated, "
                         "(SELECT count(*) FROM case_messages cm WHERE cm.case_id = c.id), "
                         "(SELECT count(*) FROM evidence e WHERE e.case_id = c.id AND "
                         " e.office_id = c.office_id) "
                         "FROM cases c LEFT JOIN users a ON a.id = c.assignee "
                         "LEFT JOIN users cb ON cb.id = c.created_by " TD__SQ_CASE_WHERE
                         "ORDER BY c.created DESC, c.id DESC",
                         &st, err);
    if (rc)
        return rc;
    td__sq_case_bind(st, office, f);
    int r, oom = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct td_store_arena ar = {0};
        struct td_store_case_export_row x = {0};
        x.c.id = sqlite3_column_int64(st, 0);
        x.c.type = col(st, 1, &ar);
        x.c.status = col(st, 2, &ar);
        x.c.title = col(st, 3, &ar);
        x.c.has_occurred = sqlite3_column_type(st, 4) != SQLITE_NULL;
        x.c.occurred = sqlite3_column_int64(st, 4);
        x.c.place = col(st, 5, &ar);
        x.c.police_ref = col(st, 6, &ar);
        x.c.assignee = col(st, 7, &ar);
        x.c.created = sqlite3_column_int64(st, 8);
        x.c.created_by = col(st, 9, &ar);
        x.c.updated = sqlite3_column_int64(st, 10);
        x.messages = sqlite3_column_int64(st, 11);
        x.evidence = sqlite3_column_int64(st, 12);
        int stop = (oom = ar.oom) || cb(ud, &x);
        td_store_arena_free(&ar);
        if (stop)
            break;
    }
    return stream_end(c, st, r, oom, err);
}

int td__sq_digest_rows(struct td_store *s, int64_t office, const char *kind, int64_t since,
                       int64_t until, int (*cb)(void *ud, const struct td_store_digest_row *r),
                       void *ud, struct td_error *err)
{
    static const struct {
        const char *kind;
        const char *sql;
    } q[] = {
        {"volume", "SELECT received / 86400 AS day, channel, severity, labels, count(*) AS n "
                   "FROM messages WHERE office_id = ?1 AND received >= ?2 AND received < ?3 "
                   "GROUP BY day, channel, severity, labels "
                   "ORDER BY day, channel, severity, labels"},
        {"senders", "SELECT m.sender, max(m.sender_name) AS display, count(*) AS n, "
                    "max(m.severity) AS worst, sum((m.labels & 1) != 0) AS threats "
                    "FROM messages m WHERE m.office_id = ?1 AND m.received >= ?2 "
                    "AND m.received < ?3 AND m.sender IS NOT NULL AND m.severity > 0 "
                    "GROUP BY m.sender ORDER BY worst DESC, n DESC, m.sender LIMIT 10"},
        {"cases", "SELECT status, count(*) AS n FROM cases WHERE office_id = ?1 "
                  "AND ?2 = ?2 AND ?3 = ?3 GROUP BY status ORDER BY n DESC, status"},
        {"review", "SELECT status_time - ingested AS seconds FROM messages "
                   "WHERE office_id = ?1 AND received >= ?2 AND received < ?3 "
                   "AND severity = 4 AND status != 'unreviewed' AND status_time IS NOT NULL "
                   "ORDER BY seconds"},
    };
    /* Every order is total (ties broken by the grouping columns), so the
     * PostgreSQL twin (pg_export.c) can answer rows in the same order. */
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        if (strcmp(kind, q[i].kind))
            continue;
        struct td__sq *c = td__sq_conn(s);
        sqlite3_stmt *st;
        int rc = td__sq_stmt(c, q[i].sql, &st, err);
        if (rc)
            return rc;
        sqlite3_bind_int64(st, 1, office);
        sqlite3_bind_int64(st, 2, since);
        sqlite3_bind_int64(st, 3, until);
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            /* the kind's columns in their order (td_store_digest_row);
             * text stays the statement's until the next step */
            struct td_store_digest_row d = {0};
            const char *k = q[i].kind;
            if (!strcmp(k, "volume")) {
                d.day = sqlite3_column_int64(st, 0);
                d.channel = (const char *)sqlite3_column_text(st, 1);
                d.severity = sqlite3_column_int64(st, 2);
                d.labels = sqlite3_column_int64(st, 3);
                d.n = sqlite3_column_int64(st, 4);
            } else if (!strcmp(k, "senders")) {
                d.sender = (const char *)sqlite3_column_text(st, 0);
                d.display = (const char *)sqlite3_column_text(st, 1);
                d.n = sqlite3_column_int64(st, 2);
                d.worst = sqlite3_column_int64(st, 3);
                d.threats = sqlite3_column_int64(st, 4);
            } else if (!strcmp(k, "cases")) {
                d.status = (const char *)sqlite3_column_text(st, 0);
                d.n = sqlite3_column_int64(st, 1);
            } else {
                d.seconds = sqlite3_column_int64(st, 0);
            }
            if (cb(ud, &d))
                break;
        }
        return stream_end(c, st, r, 0, err);
    }
    return td_error_set(err, TD_EINVAL, "unknown digest kind '%s'", kind);
}
