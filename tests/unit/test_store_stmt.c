/*
 * test_store_stmt.c - the SQLite store's statement cache (store/sq_stmt.h):
 * a second use of the same SQL is the same statement, reset and with its
 * bindings cleared; a statement still in use is not handed out twice;
 * closing finalises every statement; failures carry a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/sq_stmt.h"

static int setup(void **state)
{
    struct td__sq *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(sqlite3_open(":memory:", &c->db), SQLITE_OK);
    struct td_error err;
    assert_int_equal(td__sq_exec(c,
                                 "CREATE TABLE t (x INTEGER PRIMARY KEY, y TEXT NOT NULL);"
                                 "INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c');",
                                 &err),
                     TD_OK);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct td__sq *c = *state;
    td__sq_close(c);
    /* SQLITE_BUSY here would mean a statement was left unfinalised. */
    assert_null(sqlite3_next_stmt(c->db, NULL));
    assert_int_equal(sqlite3_close(c->db), SQLITE_OK);
    free(c);
    return 0;
}

static void test_cache_hit_is_the_same_statement(void **state)
{
    struct td__sq *c = *state;
    struct td_error err;
    sqlite3_stmt *a;
    assert_int_equal(td__sq_stmt(c, "SELECT y FROM t WHERE x = ?", &a, &err), TD_OK);
    assert_non_null(a);
    td__sq_done(c, a);
    sqlite3_stmt *b;
    assert_int_equal(td__sq_stmt(c, "SELECT y FROM t WHERE x = ?", &b, &err), TD_OK);
    assert_ptr_equal(a, b);
    td__sq_done(c, b);
    assert_int_equal(c->prepared, 1);
    /* other SQL: another statement */
    sqlite3_stmt *o;
    assert_int_equal(td__sq_stmt(c, "SELECT count(*) FROM t", &o, &err), TD_OK);
    assert_ptr_not_equal(o, a);
    int64_t n = 0;
    assert_int_equal(td__sq_int(c, o, "count", &n, &err), TD_OK);
    assert_int_equal(n, 3);
    assert_int_equal(c->prepared, 2);
}

static void test_reset_and_cleared_between_uses(void **state)
{
    struct td__sq *c = *state;
    struct td_error err;
    /* bound, stepped half-way, given back */
    sqlite3_stmt *st;
    assert_int_equal(td__sq_stmt(c, "SELECT x, ?1 FROM t ORDER BY x", &st, &err), TD_OK);
    td__sq_bind_int(st, 1, 42);
    assert_int_equal(td__sq_next(c, st, "t", &err), 1);
    assert_int_equal(td__sq_next(c, st, "t", &err), 1);
    assert_int_equal(sqlite3_column_int64(st, 0), 2);
    td__sq_done(c, st);
    /* again: from the first row, and the parameter is NULL again */
    assert_int_equal(td__sq_stmt(c, "SELECT x, ?1 FROM t ORDER BY x", &st, &err), TD_OK);
    assert_int_equal(td__sq_next(c, st, "t", &err), 1);
    assert_int_equal(sqlite3_column_int64(st, 0), 1);
    assert_int_equal(sqlite3_column_type(st, 1), SQLITE_NULL);
    td__sq_done(c, st);
    /* given back, it is reset: no read snapshot held between uses */
    assert_int_equal(sqlite3_stmt_busy(st), 0);
}

static void test_in_use_is_not_handed_out_twice(void **state)
{
    struct td__sq *c = *state;
    struct td_error err;
    const char *sql = "SELECT x FROM t ORDER BY x";
    sqlite3_stmt *outer;
    assert_int_equal(td__sq_stmt(c, sql, &outer, &err), TD_OK);
    assert_int_equal(td__sq_next(c, outer, "t", &err), 1);
    /* a callback of the outer walk runs the same query */
    sqlite3_stmt *inner;
    assert_int_equal(td__sq_stmt(c, sql, &inner, &err), TD_OK);
    assert_ptr_not_equal(inner, outer);
    assert_int_equal(td__sq_next(c, inner, "t", &err), 1);
    td__sq_done(c, inner); /* private: finalised */
    /* the outer walk goes on where it was */
    assert_int_equal(td__sq_next(c, outer, "t", &err), 1);
    assert_int_equal(sqlite3_column_int64(outer, 0), 2);
    td__sq_done(c, outer);
    sqlite3_stmt *again;
    assert_int_equal(td__sq_stmt(c, sql, &again, &err), TD_OK);
    assert_ptr_equal(again, outer);
    td__sq_done(c, again);
    /* exactly one statement left: the cached one */
    assert_ptr_equal(sqlite3_next_stmt(c->db, NULL), outer);
    assert_null(sqlite3_next_stmt(c->db, outer));
}

static void test_errors_carry_a_message(void **state)
{
    struct td__sq *c = *state;
    struct td_error err;
    memset(&err, 0, sizeof err);
    /* bad SQL */
    sqlite3_stmt *bad = (sqlite3_stmt *)&err;
    assert_int_equal(td__sq_stmt(c, "SELEC nonsense", &bad, &err), TD_ESTORE);
    assert_null(bad);
    assert_int_equal(err.code, TD_ESTORE);
    assert_non_null(strstr(err.message, "SELEC nonsense"));
    assert_int_equal(c->n, 0);
    /* a UNIQUE violation is TD_EEXISTS, named by the caller's what */
    sqlite3_stmt *st;
    assert_int_equal(td__sq_stmt(c, "INSERT INTO t(x, y) VALUES (?, ?)", &st, &err), TD_OK);
    td__sq_bind_int(st, 1, 1);
    td__sq_bind_text(st, 2, "dup");
    assert_int_equal(td__sq_run(c, st, "row", &err), TD_EEXISTS);
    assert_non_null(strstr(err.message, "row: "));
    /* another failure: TD_ESTORE with the statement it came from */
    assert_int_equal(td__sq_stmt(c, "INSERT INTO t(x, y) VALUES (?, ?)", &st, &err), TD_OK);
    td__sq_bind_int(st, 1, 9);
    td__sq_bind_text(st, 2, NULL); /* NOT NULL */
    assert_int_equal(td__sq_run(c, st, "row", &err), TD_ESTORE);
    assert_non_null(strstr(err.message, "NOT NULL"));
    assert_non_null(strstr(err.message, "INSERT INTO t"));
    /* the statement is usable again after a failure */
    assert_int_equal(td__sq_stmt(c, "INSERT INTO t(x, y) VALUES (?, ?)", &st, &err), TD_OK);
    td__sq_bind_int(st, 1, 9);
    td__sq_bind_text(st, 2, "i");
    assert_int_equal(td__sq_run(c, st, "row", &err), TD_OK);
    /* no row: TD_ENOTFOUND with a message */
    assert_int_equal(td__sq_stmt(c, "SELECT y FROM t WHERE x = ?", &st, &err), TD_OK);
    td__sq_bind_int(st, 1, 77);
    assert_int_equal(td__sq_row(c, st, "thing", &err), TD_ENOTFOUND);
    assert_string_equal(err.message, "no such thing");
    td__sq_done(c, st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cache_hit_is_the_same_statement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_and_cleared_between_uses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_use_is_not_handed_out_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_carry_a_message, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
