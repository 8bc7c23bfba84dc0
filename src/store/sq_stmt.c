/*
 * sq_stmt.c - the SQLite store's statement cache and step helpers
 * (sq_stmt.h says how they are used).
 *
 * The cache is a small array searched by a hash of the SQL text: the store
 * has about 150 distinct statements and a lookup costs far less than the
 * step that follows; sqlite3_prepare on every call cost more than the
 * query for the short ones (session and key look-ups, counts).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sq_stmt.h"

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

int td__sq_fail(struct td__sq *c, sqlite3_stmt *st, const char *what, struct td_error *err)
{
    int ext = sqlite3_extended_errcode(c->db);
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        return td_error_set(err, TD_EEXISTS, "%s: %s", what, sqlite3_errmsg(c->db));
    /* Which statement failed: its first words are enough to find it.  Only
     * read from a statement still alive on this connection: a caller may
     * name one it has already given back (and a private one is gone). */
    const char *sql = NULL;
    for (sqlite3_stmt *p = st ? sqlite3_next_stmt(c->db, NULL) : NULL; p;
         p = sqlite3_next_stmt(c->db, p))
        if (p == st) {
            sql = sqlite3_sql(st);
            break;
        }
    if (sql)
        return td_error_set(err, TD_ESTORE, "%s: %s (in \"%.60s\")", what, sqlite3_errmsg(c->db),
                            sql);
    return td_error_set(err, TD_ESTORE, "%s: %s", what, sqlite3_errmsg(c->db));
}

static int prepare(struct td__sq *c, const char *sql, unsigned flags, sqlite3_stmt **st,
                   struct td_error *err)
{
    *st = NULL;
    if (sqlite3_prepare_v3(c->db, sql, -1, flags, st, NULL) != SQLITE_OK) {
        sqlite3_finalize(*st);
        *st = NULL;
        return td_error_set(err, TD_ESTORE, "prepare: %s (in \"%.60s\")", sqlite3_errmsg(c->db),
                            sql);
    }
    c->prepared++;
    return TD_OK;
}

int td__sq_stmt(struct td__sq *c, const char *sql, sqlite3_stmt **st, struct td_error *err)
{
    uint64_t h = fnv1a(sql);
    *st = NULL;
    for (size_t i = 0; i < c->n; i++) {
        struct td__sq_slot *sl = &c->slots[i];
        if (sl->hash != h || strcmp(sl->sql, sql))
            continue;
        if (sl->busy) /* an outer caller is still stepping it */
            return prepare(c, sql, 0, st, err);
        sl->busy = 1;
        *st = sl->st;
        return TD_OK;
    }
    if (c->n == TD__SQ_CACHE_MAX)
        return prepare(c, sql, 0, st, err);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        struct td__sq_slot *p = realloc(c->slots, cap * sizeof *p);
        if (!p)
            return td_error_set(err, TD_ENOMEM, NULL);
        c->slots = p;
        c->cap = cap;
    }
    char *copy = strdup(sql);
    if (!copy)
        return td_error_set(err, TD_ENOMEM, NULL);
    int rc = prepare(c, sql, SQLITE_PREPARE_PERSISTENT, st, err);
    if (rc) {
        free(copy);
        return rc;
    }
    c->slots[c->n++] = (struct td__sq_slot){.sql = copy, .hash = h, .st = *st, .busy = 1};
    return TD_OK;
}

void td__sq_done(struct td__sq *c, sqlite3_stmt *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < c->n; i++)
        if (c->slots[i].st == st) {
            /* reset returns the last step's error again: already reported */
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            c->slots[i].busy = 0;
            return;
        }
    sqlite3_finalize(st); /* a private one */
}

void td__sq_close(struct td__sq *c)
{
    for (size_t i = 0; i < c->n; i++) {
        sqlite3_finalize(c->slots[i].st);
        free(c->slots[i].sql);
    }
    free(c->slots);
    c->slots = NULL;
    c->n = c->cap = 0;
}

void td__sq_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

void td__sq_bind_int(sqlite3_stmt *st, int i, int64_t v)
{
    sqlite3_bind_int64(st, i, v);
}

void td__sq_bind_int_or_null(sqlite3_stmt *st, int i, int64_t v, int64_t null_value)
{
    if (v == null_value)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, v);
}

int td__sq_bound(struct td__sq *c, const char *sql, sqlite3_stmt **st, const struct td__sq_arg *a,
                 size_t n, struct td_error *err)
{
    int rc = td__sq_stmt(c, sql, st, err);
    for (size_t i = 0; !rc && i < n; i++) {
        if (a[i].kind == TD__SQ_INT)
            sqlite3_bind_int64(*st, (int)i + 1, a[i].i);
        else if (a[i].kind == TD__SQ_TEXT)
            td__sq_bind_text(*st, (int)i + 1, a[i].text);
        else
            sqlite3_bind_null(*st, (int)i + 1);
    }
    return rc;
}

int td__sq_write(struct td__sq *c, const char *what, const char *sql, const struct td__sq_arg *a,
                 size_t n, struct td_error *err)
{
    sqlite3_stmt *st;
    int rc = td__sq_bound(c, sql, &st, a, n, err);
    return rc ? rc : td__sq_run(c, st, what, err);
}

int td__sq_write1(struct td__sq *c, const char *what, const char *sql, const struct td__sq_arg *a,
                  size_t n, struct td_error *err)
{
    int rc = td__sq_write(c, what, sql, a, n, err);
    if (!rc && sqlite3_changes(c->db) == 0)
        rc = td_error_set(err, TD_ENOTFOUND, "no such %s", what);
    return rc;
}

int td__sq_value(struct td__sq *c, const char *what, const char *sql, const struct td__sq_arg *a,
                 size_t n, int64_t *out, struct td_error *err)
{
    sqlite3_stmt *st;
    int rc = td__sq_bound(c, sql, &st, a, n, err);
    return rc ? rc : td__sq_int(c, st, what, out, err);
}

int td__sq_next(struct td__sq *c, sqlite3_stmt *st, const char *what, struct td_error *err)
{
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        return 1;
    if (r == SQLITE_DONE)
        return 0;
    return td__sq_fail(c, st, what, err);
}

int td__sq_run(struct td__sq *c, sqlite3_stmt *st, const char *what, struct td_error *err)
{
    int rc = sqlite3_step(st) == SQLITE_DONE ? TD_OK : td__sq_fail(c, st, what, err);
    td__sq_done(c, st);
    return rc;
}

int td__sq_row(struct td__sq *c, sqlite3_stmt *st, const char *what, struct td_error *err)
{
    int r = td__sq_next(c, st, what, err);
    if (r == 1)
        return TD_OK;
    if (r == 0)
        return td_error_set(err, TD_ENOTFOUND, "no such %s", what);
    return r;
}

int td__sq_int(struct td__sq *c, sqlite3_stmt *st, const char *what, int64_t *out,
               struct td_error *err)
{
    int r = td__sq_next(c, st, what, err);
    *out = r == 1 ? sqlite3_column_int64(st, 0) : 0;
    td__sq_done(c, st);
    return r < 0 ? r : TD_OK;
}

int td__sq_exec(struct td__sq *c, const char *sql, struct td_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        td_error_set(err, TD_ESTORE, "%s", msg ? msg : sqlite3_errmsg(c->db));
        sqlite3_free(msg);
        return TD_ESTORE;
    }
    return TD_OK;
}
