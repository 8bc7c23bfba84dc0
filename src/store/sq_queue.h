/*
 * sq_queue.h - the triage queue's SQL in the SQLite store, in one place:
 * the queue (sqlite.c), its export (sqlite_export.c) and the plan test
 * (tests/unit/test_store_plan.c, which asks SQLite how it runs exactly
 * this text) share it.
 *
 * Parameters: ?1 office, ?2 status (NULL: any), ?3 label bit (< 0: any),
 * ?4 minimum severity, ?5 channel (NULL: any), ?6 sender (NULL: any),
 * ?7 received from (inclusive), ?8 received until (exclusive); the page
 * adds ?9 limit and ?10 offset.  td__sq_queue_bind() binds ?1..?8 from a
 * query.
 *
 * TD__SQ_QUEUE_ORDER is messages_triage (0009_queue_order.sql) key for key:
 * the page is a walk down that index, never a sort.  Change one, change
 * the other; the plan test fails when they part.
 */
#ifndef TD_SQ_QUEUE_H
#define TD_SQ_QUEUE_H

#include <stdint.h>

#include <sqlite3.h>

#include "threatdesk/store.h"

/* The index is named, not left to the planner: with statistics (ANALYZE,
 * which an operator may run) and the parameters' values (SQLite's STAT4)
 * it was seen to prefer a skip-scan of messages_sender and a sort of the
 * whole office - the very plan 0009 exists to end.  The queue's speed is
 * a promise, so its plan is fixed; the plan test holds it there. */
#define TD__SQ_QUEUE_FROM "FROM messages m INDEXED BY messages_triage "

/* The filter, shared by the page and the count: every condition is a
 * bound parameter, unused ones bound to "no filter"; every column it
 * reads is in messages_triage.  The unary + on severity and received
 * keeps them out of the index's search key: as ranges they invited a
 * skip-scan over (office, unreviewed, severity) that returns rows out of
 * order and then sorts them.  Only office_id = ?1 positions the walk. */
#define TD__SQ_QUEUE_WHERE                                                                         \
    "WHERE m.office_id = ?1 AND (?2 IS NULL OR m.status = ?2) "                                    \
    "AND (?3 < 0 OR (m.labels & (1 << ?3)) != 0) AND +m.severity >= ?4 "                           \
    "AND (?5 IS NULL OR m.channel = ?5) AND (?6 IS NULL OR m.sender = ?6) "                        \
    "AND +m.received >= ?7 AND +m.received < ?8 "

/* Unreviewed first, then severity, then newest, then id: a total order,
 * so an offset names the same place on every call. */
#define TD__SQ_QUEUE_ORDER                                                                         \
    "ORDER BY m.unreviewed DESC, m.severity DESC, m.received DESC, m.id DESC "

/* The page (MESSAGE of desk.h, in queue order) and the count; the count
 * of a query without any filter (td__sq_queue_unfiltered) is
 * td__sq_queue_count_all_sql, with ?1 the office alone. */
extern const char td__sq_queue_page_sql[];
extern const char td__sq_queue_count_sql[];
extern const char td__sq_queue_count_all_sql[];
int td__sq_queue_unfiltered(const struct td_store_msg_query *f);

/* Bind ?1..?8 of the queries above from f. */
void td__sq_queue_bind(sqlite3_stmt *st, int64_t office, const struct td_store_msg_query *f);

#endif
