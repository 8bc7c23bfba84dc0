/*
 * sq_stmt.h - prepared statements for the SQLite store, cached per
 * connection (the way SQLite's own shell and Fossil keep theirs).
 *
 * Every query of the store is a fixed SQL text, so each is prepared once
 * per connection and kept: td__sq_stmt() answers the cached statement,
 * reset and with its bindings cleared; td__sq_done() hands it back (reset
 * again, so it holds no read snapshot or lock between uses).  A statement
 * still in use - an outer walk whose callback runs the same query again -
 * is never handed out twice: the inner caller gets a private statement,
 * which td__sq_done() finalises.  td__sq_close() finalises them all.
 *
 * Errors become a td_error: "<what>: <sqlite message>", with the start of
 * the SQL for internal failures (the server never shows those to
 * clients), TD_EEXISTS for a UNIQUE / PRIMARY KEY violation.
 *
 * One connection is used by one thread at a time (store.h), so the cache
 * has no lock.
 */
#ifndef TD_SQ_STMT_H
#define TD_SQ_STMT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "threatdesk/error.h"

/* Most distinct statements kept; beyond it they are prepared per use. */
#define TD__SQ_CACHE_MAX 256

struct td__sq_slot {
    char *sql; /* owned copy: the key */
    uint64_t hash;
    sqlite3_stmt *st;
    int busy; /* handed out, not yet done */
};

/* A connection and its statements.  Plain data: zero it, set db. */
struct td__sq {
    sqlite3 *db;
    struct td__sq_slot *slots;
    size_t n, cap;
    size_t prepared; /* statements prepared so far (cached or not): for tests */
};

/* *st: a ready statement for sql (cached: reset, bindings cleared); on
 * failure NULL, and a td_errno is returned with err filled.  Give it back
 * with td__sq_done(). */
int td__sq_stmt(struct td__sq *c, const char *sql, sqlite3_stmt **st, struct td_error *err);
/* Give a statement back (NULL is fine). */
void td__sq_done(struct td__sq *c, sqlite3_stmt *st);
/* Finalise every cached statement (before sqlite3_close). */
void td__sq_close(struct td__sq *c);

/* Bind text (NULL binds SQL NULL), an integer, or an integer that is
 * SQL NULL when it equals `null_value`. */
void td__sq_bind_text(sqlite3_stmt *st, int i, const char *s);
void td__sq_bind_int(sqlite3_stmt *st, int i, int64_t v);
void td__sq_bind_int_or_null(sqlite3_stmt *st, int i, int64_t v, int64_t null_value);

/* Parameters by value, typed, for the one-line forms below:
 *     td__sq_bound(c, "SELECT .. WHERE office_id = ? AND key = ?", &st,
 *                  TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_T(key)), err)
 * binds them in order (?1, ?2, ...).  TD__SQ_T(NULL) binds SQL NULL. */
enum td__sq_kind { TD__SQ_NULL, TD__SQ_INT, TD__SQ_TEXT };
struct td__sq_arg {
    enum td__sq_kind kind;
    int64_t i;
    const char *text; /* borrowed for the call */
};
#define TD__SQ_I(v) ((struct td__sq_arg){.kind = TD__SQ_INT, .i = (int64_t)(v)})
#define TD__SQ_T(v) ((struct td__sq_arg){.kind = TD__SQ_TEXT, .text = (v)})
#define TD__SQ_NULL_ARG ((struct td__sq_arg){.kind = TD__SQ_NULL})
#define TD__SQ_ARGS(...)                                                                           \
    (const struct td__sq_arg[]){__VA_ARGS__},                                                      \
        sizeof((const struct td__sq_arg[]){__VA_ARGS__}) / sizeof(struct td__sq_arg)

/* td__sq_stmt() and bind the n args. */
int td__sq_bound(struct td__sq *c, const char *sql, sqlite3_stmt **st, const struct td__sq_arg *a,
                 size_t n, struct td_error *err);
/* A statement that returns no row, bound, run and given back: the
 * one-line form of a write. */
int td__sq_write(struct td__sq *c, const char *what, const char *sql, const struct td__sq_arg *a,
                 size_t n, struct td_error *err);
/* As td__sq_write, then TD_ENOTFOUND ("no such <what>") when it changed
 * no row. */
int td__sq_write1(struct td__sq *c, const char *what, const char *sql, const struct td__sq_arg *a,
                  size_t n, struct td_error *err);
/* A single integer (first column of the first row; *out 0 when none). */
int td__sq_value(struct td__sq *c, const char *what, const char *sql, const struct td__sq_arg *a,
                 size_t n, int64_t *out, struct td_error *err);

/* Step once: 1 a row is ready, 0 no more rows, a td_errno (< 0, err
 * filled) on failure. */
int td__sq_next(struct td__sq *c, sqlite3_stmt *st, const char *what, struct td_error *err);
/* Step a statement that returns no row and give it back. */
int td__sq_run(struct td__sq *c, sqlite3_stmt *st, const char *what, struct td_error *err);
/* Step to the one row the caller reads: TD_OK with the row ready,
 * TD_ENOTFOUND ("no such <what>") when there is none.  The caller gives
 * the statement back either way. */
int td__sq_row(struct td__sq *c, sqlite3_stmt *st, const char *what, struct td_error *err);
/* The first column of the first row as an integer (0 when no row), and
 * give the statement back: counts and single values. */
int td__sq_int(struct td__sq *c, sqlite3_stmt *st, const char *what, int64_t *out,
               struct td_error *err);
/* The connection's last error as a td_error ("<what>: <message>"). */
int td__sq_fail(struct td__sq *c, sqlite3_stmt *st, const char *what, struct td_error *err);
/* Run SQL text without parameters (transactions, pragmas, migrations). */
int td__sq_exec(struct td__sq *c, const char *sql, struct td_error *err);

#endif
