/*
 * test_store.c - a backend on its own: migrations applied once and
 * recorded, reopening is idempotent, the pragmas that make commits durable
 * (SQLite), office isolation at the store level, the append-only triggers.
 * Runs on SQLite (unit/test_store) and on PostgreSQL (pg/test_store,
 * test_backend.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "test_backend.h"
#ifdef TD_HAVE_POSTGRES
#include "store/pg_ops.h" /* td__pgs_conn: which server process to cut */
#endif
#include "threatdesk/desk.h"
#include "threatdesk/store.h"

struct t {
    char dir[64], db[1200], pgdb[64];
};

static int setup(void **state)
{
    struct t *t = calloc(1, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "/tmp/td-store-test-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    char path[128];
    snprintf(path, sizeof path, "%s/s.db", t->dir);
    tb_store_new(t->db, sizeof t->db, path, t->pgdb);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    assert_int_equal(system(cmd), 0);
    tb_store_drop(t->pgdb);
    free(t);
    return 0;
}

/* How many NNNN_*.sql files ship: the schema version to expect. */
/* The highest shipped migration number; *files (may be NULL) gets how many
 * there are - numbers may have gaps while branches hold theirs back. */
static int64_t shipped_migrations_n(int64_t *files)
{
    char dir[1024];
    const char *home = getenv("THREATDESK_HOME");
    snprintf(dir, sizeof dir, "%s/data/migrations/%s", home && *home ? home : TD_SOURCE_DIR,
             tb_pg() ? "postgres" : "sqlite");
    DIR *d = opendir(dir);
    assert_non_null(d);
    int64_t max = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 9 && !strcmp(e->d_name + n - 4, ".sql")) {
            int64_t v = strtol(e->d_name, NULL, 10);
            if (v > max)
                max = v;
            if (files)
                (*files)++;
        }
    }
    closedir(d);
    return max;
}

static int64_t shipped_migrations(void)
{
    return shipped_migrations_n(NULL);
}

static int64_t count(struct t *t, const char *sql)
{
    char v[32];
    if (tb_sql_text(t->db, t->pgdb, sql, v, sizeof v) != 0 || !*v)
        return -1;
    return strtoll(v, NULL, 10);
}

static void test_migrations_apply_once(void **state)
{
    struct t *t = *state;
    struct td_store *s;
    struct td_error err;
    int64_t v = 0, id = 0, id2 = 0;
    td_error_clear(&err);
    int64_t want = shipped_migrations();
    assert_true(want >= 1);
    assert_int_equal(td_store_open(t->db, NULL, &s, &err), TD_OK);
    assert_string_equal(s->ops->name, tb_pg() ? "postgres" : "sqlite");
    assert_int_equal(td_store_schema_version(s, &v, &err), TD_OK);
    assert_int_equal(v, want);
    assert_int_equal(s->ops->office_insert(s, "office-a", 1, &id, &err), TD_OK);
    td_store_close(s);

    /* reopen: nothing re-applied, data intact */
    assert_int_equal(td_store_open(t->db, NULL, &s, &err), TD_OK);
    assert_int_equal(td_store_schema_version(s, &v, &err), TD_OK);
    assert_int_equal(v, want);
    assert_int_equal(s->ops->office_find(s, "office-a", &id2, &err), TD_OK);
    assert_int_equal(id2, id);
    assert_int_equal(s->ops->office_insert(s, "office-a", 1, &id2, &err), TD_EEXISTS);
    td_store_close(s);
    int64_t files = 0;
    shipped_migrations_n(&files);
    assert_int_equal(count(t, tb_pg() ? "SELECT count(*) FROM schema_migrations"
                                      : "SELECT count(*) FROM schema_version"),
                     files);
    assert_int_equal(count(t, "SELECT count(*) FROM offices"), 1);
}

static void test_durability_pragmas(void **state)
{
    struct t *t = *state;
    struct td_store *s;
    struct td_error err;
    td_error_clear(&err);
    if (tb_pg()) /* PRAGMAs are SQLite's; the server's fsync is pg-temp.sh's */
        return;
    assert_int_equal(td_store_open(t->db, NULL, &s, &err), TD_OK);
    td_store_close(s);
    /* WAL is a property of the file; a fresh connection sees it */
    sqlite3 *h;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(t->db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(h);
}

static void test_bad_url_and_missing_migrations(void **state)
{
    struct t *t = *state;
    struct td_store *s = NULL;
    struct td_error err;
    td_error_clear(&err);
#ifdef TD_HAVE_POSTGRES
    /* built in: a server that is not there (port 1 refuses) */
    assert_int_equal(td_store_open("postgres://127.0.0.1:1/x", NULL, &s, &err), TD_ENET);
    assert_null(strstr(err.message, "127.0.0.1:1/x")); /* the URL may hold a password */
#else
    assert_int_equal(td_store_open("postgres://localhost/x", NULL, &s, &err), TD_EFORMAT);
#endif
    assert_null(s);
    assert_int_equal(td_store_open(t->db, t->dir, &s, &err), TD_EIO); /* no data/migrations */
    assert_null(s);
}

static void test_store_keeps_offices_apart(void **state)
{
    struct t *t = *state;
    struct td_store *s;
    struct td_error err;
    int64_t a, b, id;
    int sev;
    td_error_clear(&err);
    assert_int_equal(td_store_open(t->db, NULL, &s, &err), TD_OK);
    assert_int_equal(s->ops->office_insert(s, "a", 1, &a, &err), TD_OK);
    assert_int_equal(s->ops->office_insert(s, "b", 1, &b, &err), TD_OK);
    struct td_store_message m = {.office_id = a,
                                 .client_key = "k",
                                 .channel = "email",
                                 .text = "hello",
                                 .text_len = 5,
                                 .original = "hello",
                                 .original_len = 5,
                                 .severity = 2,
                                 .verdict = "{\"severity\":\"medium\"}"};
    assert_int_equal(s->ops->message_insert(s, &m, &id, &err), TD_OK);
    assert_int_equal(s->ops->message_insert(s, &m, &id, &err), TD_EEXISTS);
    assert_int_equal(s->ops->message_find_key(s, a, "k", &id, &sev, &err), TD_OK);
    assert_int_equal(sev, 2);
    assert_int_equal(s->ops->message_find_key(s, b, "k", &id, &sev, &err), TD_ENOTFOUND);
    struct td_store_message_row r;
    struct td_store_arena ar = {0};
    assert_int_equal(s->ops->message_get(s, b, id, &r, &ar, &err), TD_ENOTFOUND);
    assert_int_equal(s->ops->message_get(s, a, id, &r, &ar, &err), TD_OK);
    /* the verdict as stored: the desk renders it */
    assert_string_equal(r.verdict, "{\"severity\":\"medium\"}");
    assert_int_equal(r.id, id);
    assert_int_equal(r.ncases, 0);
    td_store_arena_free(&ar);
    td_store_close(s);
}

/* Ingest's reads in one call answer as the three ops they stand for, per
 * office, and inside the writer's transaction (what a batch relies on). */
static void test_ingest_lookup_is_the_three_reads(void **state)
{
    struct t *t = *state;
    struct td_store *s;
    struct td_error err;
    struct td_store_ingest_lookup l;
    int64_t a, b, id, id2;
    td_error_clear(&err);
    assert_int_equal(td_store_open(t->db, NULL, &s, &err), TD_OK);
    assert_int_equal(s->ops->office_insert(s, "a", 1, &a, &err), TD_OK);
    assert_int_equal(s->ops->office_insert(s, "b", 1, &b, &err), TD_OK);
    assert_int_equal(s->ops->message_ingest_lookup(s, a, "k", "ck", "email:s@x", &l, &err), TD_OK);
    assert_true(l.key_id == 0 && l.content_id == 0 && l.prior_threats == 0);
    assert_int_equal(s->ops->begin(s, &err), TD_OK);
    struct td_store_message m = {.office_id = a,
                                 .client_key = "k",
                                 .channel = "email",
                                 .sender = "email:s@x",
                                 .text = "hello",
                                 .text_len = 5,
                                 .original = "hello",
                                 .original_len = 5,
                                 .severity = 3,
                                 .content_key = "ck",
                                 .verdict = "{\"severity\":\"high\"}"};
    assert_int_equal(s->ops->message_insert(s, &m, &id, &err), TD_OK);
    m.client_key = "k2";
    m.severity = 1;
    assert_int_equal(s->ops->message_insert(s, &m, &id2, &err), TD_OK); /* same words again */
    assert_int_equal(s->ops->sender_record(s, a, "email:s@x", NULL, 3, 1, 10, &err), TD_OK);
    assert_int_equal(s->ops->sender_record(s, a, "email:s@x", NULL, 3, 1, 11, &err), TD_OK);
    /* in the transaction: its own writes (sent ahead on PostgreSQL) */
    assert_int_equal(s->ops->message_ingest_lookup(s, a, "k2", "ck", "email:s@x", &l, &err), TD_OK);
    assert_int_equal(l.key_id, id2);
    assert_int_equal(l.key_severity, 1);
    assert_int_equal(l.content_id, id); /* the first with those words */
    assert_int_equal(l.content_severity, 3);
    assert_int_equal(l.prior_threats, 2);
    assert_int_equal(s->ops->commit(s, &err), TD_OK);
    /* NULL is not asked; another office sees none of it */
    assert_int_equal(s->ops->message_ingest_lookup(s, a, NULL, NULL, NULL, &l, &err), TD_OK);
    assert_true(l.key_id == 0 && l.content_id == 0 && l.prior_threats == 0);
    assert_int_equal(s->ops->message_ingest_lookup(s, a, "none", NULL, NULL, &l, &err), TD_OK);
    assert_true(l.key_id == 0 && l.content_id == 0);
    assert_int_equal(s->ops->message_ingest_lookup(s, a, NULL, "none", NULL, &l, &err), TD_OK);
    assert_true(l.key_id == 0 && l.content_id == 0);
    assert_int_equal(s->ops->message_ingest_lookup(s, b, "k", "ck", "email:s@x", &l, &err), TD_OK);
    assert_true(l.key_id == 0 && l.content_id == 0 && l.prior_threats == 0);
    td_store_close(s);
}

static void test_audit_is_append_only(void **state)
{
    struct t *t = *state;
    struct td_store *s;
    struct td_error err;
    struct td_audit_entry e;
    td_error_clear(&err);
    memset(&e, 0, sizeof e);
    assert_int_equal(td_store_open(t->db, NULL, &s, &err), TD_OK);
    e.id = 1;
    snprintf(e.action, sizeof e.action, "test");
    snprintf(e.object_type, sizeof e.object_type, "none");
    e.details = "{}";
    snprintf(e.prev_hash, sizeof e.prev_hash, "0");
    snprintf(e.hash, sizeof e.hash, "h");
    assert_int_equal(s->ops->begin(s, &err), TD_OK);
    assert_int_equal(s->ops->audit_append(s, &e, &err), TD_OK);
    assert_int_equal(s->ops->commit(s, &err), TD_OK);
    td_store_close(s);
    /* even the shell (a superuser on PostgreSQL) meets the triggers */
    assert_int_not_equal(tb_sql(t->db, t->pgdb, "UPDATE audit SET hash = 'x'"), 0);
    assert_int_not_equal(tb_sql(t->db, t->pgdb, "DELETE FROM audit"), 0);
    assert_int_equal(count(t, "SELECT count(*) FROM audit WHERE hash = 'h'"), 1);
}

static int count_rows(void *ud, const char *kind, int64_t id, const char *field, const void *value,
                      size_t len)
{
    (void)id;
    (void)value;
    (void)len;
    if (!strcmp(kind, "message") && !strcmp(field, "status"))
        ++*(int *)ud;
    return 0;
}

/* PostgreSQL: the servers connect as the app role, which may not create
 * or grant: it opens a store the owner migrated, and the cross-office
 * scan (verify) sees every office's rows through row-level security. */
static void test_app_role_opens_a_migrated_store(void **state)
{
    struct t *t = *state;
    struct td_store *s;
    struct td_error err;
    int64_t a, b, id;
    int n = 0;
    if (!tb_pg())
        return; /* one role, one file on SQLite */
#ifdef TD_HAVE_POSTGRES
    char app[1200];
    td_error_clear(&err);
    assert_int_equal(td_store_open(t->db, NULL, &s, &err), TD_OK); /* the owner migrates */
    td_store_close(s);
    tb_url_for("app_url", t->pgdb, app, sizeof app);
    assert_int_equal(td_store_open(app, NULL, &s, &err), TD_OK);
    assert_int_equal(s->ops->office_insert(s, "a", 1, &a, &err), TD_OK);
    assert_int_equal(s->ops->office_insert(s, "b", 1, &b, &err), TD_OK);
    struct td_store_message m = {.channel = "email",
                                 .text = "hello",
                                 .text_len = 5,
                                 .original = "hello",
                                 .original_len = 5,
                                 .verdict = "{}"};
    m.office_id = a;
    assert_int_equal(s->ops->message_insert(s, &m, &id, &err), TD_OK);
    m.office_id = b;
    assert_int_equal(s->ops->message_insert(s, &m, &id, &err), TD_OK);
    struct td_store_message_row r;
    struct td_store_arena ar = {0};
    assert_int_equal(s->ops->message_get(s, a, id, &r, &ar, &err), TD_ENOTFOUND);
    assert_int_equal(s->ops->verify_scan(s, count_rows, &n, &err), TD_OK);
    assert_int_equal(n, 2);
    /* and an office's read after the cross-office scan is its own again */
    assert_int_equal(s->ops->message_get(s, a, id, &r, &ar, &err), TD_ENOTFOUND);
    assert_int_equal(s->ops->message_get(s, b, id, &r, &ar, &err), TD_OK);
    td_store_arena_free(&ar);
    td_store_close(s);
#endif
}

/* PostgreSQL: a server whose connection was cut (restart, failover)
 * fails the op that met the loss with TD_ENET, then carries on: the next
 * op reconnects, with its office scope named again. */
static void test_lost_connection_recovers(void **state)
{
    struct t *t = *state;
    struct td_store *s;
    struct td_error err;
    int64_t a, id, found = 0;
    int sev = 0, rc = TD_OK;
    if (!tb_pg())
        return; /* a file does not hang up */
#ifdef TD_HAVE_POSTGRES
    char sql[200], pid[32];
    td_error_clear(&err);
    assert_int_equal(td_store_open(t->db, NULL, &s, &err), TD_OK);
    assert_int_equal(s->ops->office_insert(s, "a", 1, &a, &err), TD_OK);
    struct td_store_message m = {.office_id = a,
                                 .client_key = "k",
                                 .channel = "email",
                                 .text = "hello",
                                 .text_len = 5,
                                 .original = "hello",
                                 .original_len = 5,
                                 .verdict = "{}"};
    assert_int_equal(s->ops->message_insert(s, &m, &id, &err), TD_OK);
    snprintf(pid, sizeof pid, "%d", PQbackendPID(td__pg_conn(td__pgs_conn(s))));
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%s)", pid);
    assert_int_equal(tb_sql(t->db, t->pgdb, sql), 0);
    /* the op that meets the loss fails... (a few tries: the server may
     * take a moment to close the socket) */
    for (int i = 0;
         i < 50 && (rc = s->ops->message_find_key(s, a, "k", &found, &sev, &err)) == TD_OK; i++)
        usleep(20000);
    assert_int_equal(rc, TD_ENET);
    /* ...and the next one works on a new connection, scoped again */
    assert_int_equal(s->ops->message_find_key(s, a, "k", &found, &sev, &err), TD_OK);
    assert_int_equal(found, id);
    td_store_close(s);
#endif
}

/* A text with a NUL byte (valid UTF-8): SQLite keeps it whole; PostgreSQL
 * text cannot hold it, and the store refuses it rather than storing it cut
 * short (verify would then call the message's text altered). */
static void test_text_with_nul(void **state)
{
    struct t *t = *state;
    struct td_store *s;
    struct td_error err;
    int64_t a, id;
    td_error_clear(&err);
    assert_int_equal(td_store_open(t->db, NULL, &s, &err), TD_OK);
    assert_int_equal(s->ops->office_insert(s, "a", 1, &a, &err), TD_OK);
    struct td_store_message m = {.office_id = a,
                                 .channel = "email",
                                 .text = "before\0after",
                                 .text_len = 12,
                                 .original = "x",
                                 .original_len = 1,
                                 .verdict = "{}"};
    if (tb_pg()) {
        assert_int_equal(s->ops->message_insert(s, &m, &id, &err), TD_EINVAL);
        assert_string_equal(err.field, "text");
    } else {
        assert_int_equal(s->ops->message_insert(s, &m, &id, &err), TD_OK);
        struct td_store_message_row r;
        struct td_store_arena ar = {0};
        assert_int_equal(s->ops->message_get(s, a, id, &r, &ar, &err), TD_OK);
        /* SQLite keeps the NUL inside: the row's length says where it ends */
        assert_int_equal(r.text_len, m.text_len);
        assert_memory_equal(r.text, m.text, m.text_len);
        td_store_arena_free(&ar);
    }
    td_store_close(s);
}

#ifdef TD_HAVE_POSTGRES
/* The office the connection acts for right now, as row-level security sees
 * it: the office_id of every message visible to a query with no WHERE
 * (-1 when none, -2 when more than one office shows). */
static int64_t visible_office(struct td_store *s)
{
    PGresult *r;
    struct td_error err;
    int64_t v = -1;
    assert_int_equal(td__pg_exec(td__pgs_conn(s), "SELECT DISTINCT office_id FROM messages", 0,
                                 NULL, NULL, NULL, &r, &err),
                     TD_OK);
    if (PQntuples(r) == 1)
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else if (PQntuples(r) > 1)
        v = -2;
    PQclear(r);
    return v;
}
#endif

/* PostgreSQL: the office scope (td__pgs_scope) is cached, and the cache
 * follows what the server holds: a transaction's setting ends with it
 * (back to the session's), ROLLBACK TO undoes a later one, and the
 * cross-office scope shows every office. */
static void test_scope_follows_transactions(void **state)
{
    struct t *t = *state;
    struct td_store *s;
    struct td_error err;
    int64_t a, b, id;
    if (!tb_pg())
        return; /* no row-level security in SQLite */
#ifdef TD_HAVE_POSTGRES
    td_error_clear(&err);
    assert_int_equal(td_store_open(t->db, NULL, &s, &err), TD_OK);
    assert_int_equal(s->ops->office_insert(s, "a", 1, &a, &err), TD_OK);
    assert_int_equal(s->ops->office_insert(s, "b", 1, &b, &err), TD_OK);
    struct td_store_message m = {.channel = "email",
                                 .text = "x",
                                 .text_len = 1,
                                 .original = "x",
                                 .original_len = 1,
                                 .verdict = "{}"};
    m.office_id = a;
    assert_int_equal(s->ops->message_insert(s, &m, &id, &err), TD_OK);
    m.office_id = b;
    assert_int_equal(s->ops->message_insert(s, &m, &id, &err), TD_OK);

    assert_int_equal(td__pgs_scope(s, -1, &err), TD_OK);
    assert_int_equal(visible_office(s), -2);            /* every office */
    assert_int_equal(td__pgs_scope(s, a, &err), TD_OK); /* the session's, outside a transaction */
    assert_int_equal(visible_office(s), a);

    /* a transaction's office ends with it: back to the session's */
    assert_int_equal(s->ops->begin(s, &err), TD_OK);
    assert_int_equal(td__pgs_scope(s, b, &err), TD_OK);
    assert_int_equal(visible_office(s), b);
    assert_int_equal(s->ops->commit(s, &err), TD_OK);
    assert_int_equal(visible_office(s), a);
    assert_int_equal(td__pgs_scope(s, b, &err), TD_OK); /* not skipped as "already b" */
    assert_int_equal(visible_office(s), b);
    assert_int_equal(td__pgs_scope(s, a, &err), TD_OK);

    /* ROLLBACK TO undoes a setting made after the savepoint */
    assert_int_equal(s->ops->begin(s, &err), TD_OK);
    assert_int_equal(s->ops->savepoint(s, "rec", &err), TD_OK);
    assert_int_equal(td__pgs_scope(s, b, &err), TD_OK);
    s->ops->rollback_to(s, "rec");
    assert_int_equal(visible_office(s), a);
    assert_int_equal(td__pgs_scope(s, b, &err), TD_OK); /* named again */
    assert_int_equal(visible_office(s), b);
    s->ops->rollback(s);
    assert_int_equal(visible_office(s), a);
    td_store_close(s);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrations_apply_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durability_pragmas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_url_and_missing_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_keeps_offices_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_lookup_is_the_three_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_is_append_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_app_role_opens_a_migrated_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_connection_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scope_follows_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_with_nul, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
