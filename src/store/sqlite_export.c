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

/* Step st to the end, one row object at a time to cb (finalises st). */
static int stream_rows(struct td__sq *c, sqlite3_stmt *st, int (*cb)(void *ud, const json_t *row),
                       void *ud, struct td_error *err)
{
    int rc = TD_OK, r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = td__sq_row_json(st);
        if (!o) {
            rc = td_error_set(err, TD_ENOMEM, NULL);
            break;
        }
        int stop = cb(ud, o);
        json_decref(o);
        if (stop)
            break;
    }
    if (!rc && r != SQLITE_ROW && r != SQLITE_DONE)
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
                          int (*cb)(void *ud, const json_t *row), void *ud, struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    int rc =
        td__sq_stmt(c,
                    "SELECT m.id, m.channel, m.sender, m.sender_name, m.subject, m.received, "
                    "m.ingested, m.status, m.status_reason, m.message_id, m.verdict, "
                    "(SELECT group_concat(cm.case_id, ' ') FROM case_messages cm "
                    " WHERE cm.message_id = m.id) AS cases " TD__SQ_QUEUE_FROM TD__SQ_QUEUE_WHERE
                        TD__SQ_QUEUE_ORDER,
                    &st, err);
    if (rc)
        return rc;
    td__sq_queue_bind(st, office, f);
    return stream_rows(c, st, cb, ud, err);
}

int td__sq_case_export(struct td_store *s, int64_t office, const struct td_store_case_query *f,
                       int (*cb)(void *ud, const json_t *row), void *ud, struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    int rc = td__sq_stmt(
        c,
        "SELECT c.id, c.type, c.status, c.title, c.occurred, c.place AS place_json, "
        "c.police_ref, a.name AS assignee, c.created, cb.name AS created_by, c.updated, "
        "(SELECT count(*) FROM case_messages cm WHERE cm.case_id = c.id) AS messages, "
        "(SELECT count(*) FROM evidence e WHERE e.case_id = c.id AND "
        " e.office_id = c.office_id) AS evidence "
        "FROM cases c LEFT JOIN users a ON a.id = c.assignee "
        "LEFT JOIN users cb ON cb.id = c.created_by " TD__SQ_CASE_WHERE
        "ORDER BY c.created DESC, c.id DESC",
        &st, err);
    if (rc)
        return rc;
    td__sq_case_bind(st, office, f);
    return stream_rows(c, st, cb, ud, err);
}

int td__sq_digest_rows(struct td_store *s, int64_t office, const char *kind, int64_t since,
                       int64_t until, int (*cb)(void *ud, const json_t *row), void *ud,
                       struct td_error *err)
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
        return stream_rows(c, st, cb, ud, err);
    }
    return td_error_set(err, TD_EINVAL, "unknown digest kind '%s'", kind);
}
