/*
 * test_desk_pg.c - the PostgreSQL groundwork (issue 11) against a real
 * server: migrations (twice: the second applies nothing), row-level
 * security between offices, the audit chain under concurrent writers in
 * several processes (hashed with the desk's td__audit_hash, so verify can
 * check it) and the SKIP LOCKED jobs queue under concurrent workers.
 *
 * The server: a throwaway cluster started by the ctest fixture pg/start
 * (tests/support/pg-temp.sh), whose URLs are in $TD_PG_DIR (owner_url, app_url, worker_url).  By
 * hand:  tests/support/pg-temp.sh run build/test_desk_pg
 * Named test_desk_*: it links the desk for td__audit_hash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef TD_HAVE_POSTGRES
int main(void)
{
    printf("SKIP: built without TD_POSTGRES (libpq not found; apt-get install libpq-dev)\n");
    return 77;
}
#else

#include <cmocka.h>

#include <dirent.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "desk/desk_int.h"
#include "store/pg_int.h"

#define MIGRATORS 3
#define WRITERS 4
#define APPENDS 200
#define WORKERS 4
#define JOBS 300
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

static char owner_url[512], app_url[512], worker_url[512], admin_url[512];
static const char *home;
static int64_t office_a, office_b, office_c;

static void read_url(const char *dir, const char *name, char *out, size_t size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(out, (int)size, f)) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

static struct td_pg *connect_or_die(const char *url)
{
    struct td_pg *c;
    struct td_error err;
    td_error_clear(&err);
    int rc = td__pg_connect(url, &c, &err);
    if (rc) {
        fprintf(stderr, "connect: %s\n", err.message);
        return NULL;
    }
    return c;
}

/* A statement that must succeed; returns the first column of the first
 * row as an integer (0 when there is none). */
static int64_t q(struct td_pg *c, const char *sql, int n, const char *const *v)
{
    struct td_error err;
    td_error_clear(&err);
    PGresult *r;
    int rc = td__pg_exec(c, sql, n, v, NULL, NULL, &r, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.message);
    assert_int_equal(rc, TD_OK);
    int64_t x = 0;
    if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0))
        assert_int_equal(td__pg_get_i64(r, 0, 0, &x, &err), TD_OK);
    PQclear(r);
    return x;
}

static int64_t new_office(struct td_pg *c, const char *name)
{
    const char *v[1] = {name};
    return q(c, "INSERT INTO offices(name, created) VALUES ($1, 0) RETURNING id", 1, v);
}

static int count_migrations(void)
{
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/data/migrations/postgres", home);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        n += len > 9 && e->d_name[4] == '_' && !strcmp(e->d_name + len - 4, ".sql");
    }
    closedir(d);
    return n;
}

static int migrator(int fd)
{
    struct td_pg *c = connect_or_die(owner_url);
    if (!c)
        return 1;
    struct td_error err;
    td_error_clear(&err);
    int applied = -1;
    int rc = td__pg_migrate(c, home, &applied, &err);
    if (rc)
        fprintf(stderr, "migrate: %s (%s)\n", err.message, err.file);
    td__pg_close(c);
    return rc || write(fd, &applied, sizeof applied) != (ssize_t)sizeof applied;
}

/* 1. A fresh schema takes every migration (once, however many processes
 * migrate at the same moment); the next run takes none. */
static void migrate_twice(void **state)
{
    (void)state;
    struct td_error err;
    td_error_clear(&err);
    struct td_pg *c = connect_or_die(owner_url);
    assert_non_null(c);
    /* A clean slate, so the test can run again on the same cluster. */
    q(c, "DROP SCHEMA public CASCADE", 0, NULL);
    q(c, "CREATE SCHEMA public", 0, NULL);
    /* MIGRATORS servers start on the new database at once: one applies
     * every migration, the others wait for it and apply none. */
    fflush(NULL);
    pid_t pids[MIGRATORS];
    int fds[MIGRATORS];
    for (int n = 0; n < MIGRATORS; n++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pids[n] = fork();
        assert_true(pids[n] >= 0);
        if (pids[n] == 0) {
            close(p[0]);
            _exit(migrator(p[1]));
        }
        close(p[1]);
        fds[n] = p[0];
    }
    int total = 0, doers = 0;
    for (int n = 0; n < MIGRATORS; n++) {
        int applied = -1, st;
        assert_int_equal(read(fds[n], &applied, sizeof applied), (ssize_t)sizeof applied);
        close(fds[n]);
        assert_int_equal(waitpid(pids[n], &st, 0), pids[n]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        total += applied;
        doers += applied > 0;
    }
    assert_int_equal(total, count_migrations());
    assert_int_equal(doers, 1);
    int applied = -1;
    assert_int_equal(td__pg_migrate(c, home, &applied, &err), TD_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(q(c, "SELECT count(*) FROM schema_migrations", 0, NULL), count_migrations());
    /* every table with an office_id column is under forced RLS */
    assert_int_equal(q(c,
                       "SELECT count(*) FROM pg_class t JOIN pg_attribute a ON a.attrelid = t.oid "
                       "WHERE t.relkind = 'r' AND t.relnamespace = 'public'::regnamespace "
                       "AND a.attname = 'office_id' AND NOT (t.relrowsecurity AND "
                       "t.relforcerowsecurity) AND t.relname <> 'users'",
                       0, NULL),
                     0);
    office_a = new_office(c, "office-a");
    office_b = new_office(c, "office-b");
    office_c = new_office(c, "office-c");
    td__pg_close(c);
}

/* The error names the SQLSTATE and the statement; bad URLs are refused. */
static void errors_name_sqlstate(void **state)
{
    (void)state;
    struct td_error err;
    td_error_clear(&err);
    struct td_pg *c = connect_or_die(app_url);
    assert_non_null(c);
    assert_int_equal(td__pg_exec(c, "SELECT * FROM no_such_table", 0, NULL, NULL, NULL, NULL, &err),
                     TD_ESTORE);
    assert_non_null(strstr(err.message, "SQLSTATE 42P01"));
    assert_non_null(strstr(err.message, "SELECT * FROM no_such_table"));
    assert_string_equal(err.field, "42P01");
    /* a long statement is cut, on one line */
    char longsql[600];
    snprintf(longsql, sizeof longsql, "SELECT\n\t%0400d FROM no_such_table", 1);
    assert_int_equal(td__pg_exec(c, longsql, 0, NULL, NULL, NULL, NULL, &err), TD_ESTORE);
    assert_non_null(strstr(err.message, "(in: SELECT 0000"));
    assert_non_null(strstr(err.message, "...)"));
    assert_null(strchr(err.message, '\n'));
    td__pg_close(c);
    struct td_pg *x;
    assert_int_equal(td__pg_connect("mysql://localhost/db", &x, &err), TD_EINVAL);
    assert_int_equal(td__pg_connect("postgres:///nodb?host=/nonexistent", &x, &err), TD_ENET);
    assert_null(strstr(err.message, "/nonexistent?")); /* the URL is not echoed whole */
}

static int insert_message(struct td_pg *c, int64_t office, const char *key, struct td_error *err)
{
    char o[24];
    const char *v[4] = {td__pg_i64(o, office), key, "hello", "\x00\x01raw"};
    const int len[4] = {0, 0, 0, 5};
    const int fmt[4] = {0, 0, 0, 1}; /* the original as binary bytea */
    return td__pg_exec(c,
                       "INSERT INTO messages(office_id, client_key, channel, text, original, "
                       "received, ingested, ingested_by, severity, labels, flags, verdict) "
                       "VALUES ($1, $2, 'email', $3, $4, 0, 0, 0, 0, 0, 0, '{}')",
                       4, v, len, fmt, NULL, err);
}

/* 2. An office's connection sees and writes its own rows only. */
static void rls_between_offices(void **state)
{
    (void)state;
    struct td_error err;
    td_error_clear(&err);
    struct td_pg *c = connect_or_die(app_url);
    assert_non_null(c);
    /* each office's rows, written as that office */
    assert_int_equal(td__pg_begin(c, office_a, &err), TD_OK);
    assert_int_equal(insert_message(c, office_a, "a1", &err), TD_OK);
    assert_int_equal(insert_message(c, office_a, "a2", &err), TD_OK);
    char o[24];
    const char *va[1] = {td__pg_i64(o, office_a)};
    q(c,
      "INSERT INTO cases(office_id, type, title, created, created_by, updated) "
      "VALUES ($1, 'other', 'case a', 0, 0, 0)",
      1, va);
    assert_int_equal(td__pg_commit(c, &err), TD_OK);
    assert_int_equal(td__pg_begin(c, office_b, &err), TD_OK);
    assert_int_equal(insert_message(c, office_b, "b1", &err), TD_OK);
    const char *vb[1] = {td__pg_i64(o, office_b)};
    int64_t case_b = q(c,
                       "INSERT INTO cases(office_id, type, title, created, created_by, updated) "
                       "VALUES ($1, 'other', 'case b', 0, 0, 0) RETURNING id",
                       1, vb);
    int64_t msg_b = q(c, "SELECT id FROM messages", 0, NULL);
    char cb[24], mb[24];
    const char *link[2] = {td__pg_i64(cb, case_b), td__pg_i64(mb, msg_b)};
    q(c, "INSERT INTO case_messages(case_id, message_id, linked) VALUES ($1, $2, 0)", 2, link);
    assert_int_equal(td__pg_commit(c, &err), TD_OK);

    /* office A: a query without WHERE sees A's rows only */
    assert_int_equal(td__pg_begin(c, office_a, &err), TD_OK);
    PGresult *r;
    assert_int_equal(
        td__pg_exec(c, "SELECT office_id, original FROM messages", 0, NULL, NULL, NULL, &r, &err),
        TD_OK);
    assert_int_equal(PQntuples(r), 2);
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t v;
        assert_int_equal(td__pg_get_i64(r, i, 0, &v, &err), TD_OK);
        assert_int_equal(v, office_a);
    }
    PQclear(r);
    assert_int_equal(q(c, "SELECT count(*) FROM cases", 0, NULL), 1);
    assert_int_equal(q(c, "SELECT count(*) FROM case_messages", 0, NULL), 0);
    /* B's rows cannot be touched either */
    const char *mid[1] = {mb};
    assert_int_equal(q(c, "SELECT count(*) FROM messages WHERE id = $1", 1, mid), 0);
    assert_int_equal(td__pg_exec(c, "UPDATE messages SET status = 'dismissed' WHERE id = $1", 1,
                                 mid, NULL, NULL, &r, &err),
                     TD_OK);
    assert_string_equal(PQcmdTuples(r), "0");
    PQclear(r);
    /* and no row can be written for B */
    assert_int_equal(insert_message(c, office_b, "b-from-a", &err), TD_EDENIED);
    assert_non_null(strstr(err.message, "row-level security"));
    td__pg_rollback(c);

    /* no office named: no office rows at all (also after a transaction
     * that named one: the setting ended with it) */
    assert_int_equal(q(c, "SELECT count(*) FROM messages", 0, NULL), 0);
    td__pg_close(c);

    /* the owner is under the same wall (FORCE ROW LEVEL SECURITY) */
    c = connect_or_die(owner_url);
    assert_non_null(c);
    assert_int_equal(q(c, "SELECT count(*) FROM messages", 0, NULL), 0);
    assert_int_equal(td__pg_begin(c, office_b, &err), TD_OK);
    assert_int_equal(q(c, "SELECT count(*) FROM messages", 0, NULL), 1);
    td__pg_rollback(c);
    td__pg_close(c);
}

/* 3. WRITERS processes append APPENDS entries each to one office at once. */
static int writer(int n)
{
    struct td_pg *c = connect_or_die(app_url);
    if (!c)
        return 1;
    struct td_error err;
    td_error_clear(&err);
    char details[128];
    for (int i = 0; i < APPENDS; i++) {
        struct td_audit_entry e;
        memset(&e, 0, sizeof e);
        e.time = (int64_t)time(NULL);
        e.office_id = office_c;
        e.user_id = n + 1;
        snprintf(e.action, sizeof e.action, "test.append");
        snprintf(e.object_type, sizeof e.object_type, "message");
        e.object_id = i;
        snprintf(details, sizeof details, "{\"writer\":%d,\"i\":%d}", n, i);
        e.details = details;
        int rc = td__pg_begin(c, office_c, &err);
        if (!rc)
            rc = td__pg_audit_append(c, &e, td__audit_hash, &err);
        if (!rc)
            rc = td__pg_commit(c, &err);
        if (rc) {
            fprintf(stderr, "writer %d entry %d: %s\n", n, i, err.message);
            td__pg_rollback(c);
            td__pg_close(c);
            return 1;
        }
    }
    td__pg_close(c);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void audit_chain_concurrent(void **state)
{
    (void)state;
    fflush(NULL);
    double t0 = now_s();
    pid_t pids[WRITERS];
    for (int n = 0; n < WRITERS; n++) {
        pids[n] = fork();
        assert_true(pids[n] >= 0);
        if (pids[n] == 0)
            _exit(writer(n)); /* never back into cmocka, never the parent's connections */
    }
    for (int n = 0; n < WRITERS; n++) {
        int st;
        assert_int_equal(waitpid(pids[n], &st, 0), pids[n]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    double t1 = now_s();

    /* One unbroken chain: seq 1..N, each prev_hash the hash before it, each
     * hash what the desk's td__audit_hash computes (what verify checks). */
    struct td_error err;
    td_error_clear(&err);
    struct td_pg *c = connect_or_die(app_url);
    assert_non_null(c);
    assert_int_equal(td__pg_begin(c, office_c, &err), TD_OK);
    PGresult *r;
    assert_int_equal(td__pg_exec(c,
                                 "SELECT seq, time, office_id, user_id, action, object_type, "
                                 "object_id, details, prev_hash, hash FROM audit ORDER BY seq",
                                 0, NULL, NULL, NULL, &r, &err),
                     TD_OK);
    int n = PQntuples(r);
    assert_int_equal(n, WRITERS * APPENDS);
    char prev[65] = ZERO_HASH;
    int per_writer[WRITERS] = {0};
    for (int i = 0; i < n; i++) {
        struct td_audit_entry e;
        memset(&e, 0, sizeof e);
        assert_int_equal(td__pg_get_i64(r, i, 0, &e.id, &err), TD_OK);
        assert_int_equal(e.id, i + 1);
        assert_int_equal(td__pg_get_i64(r, i, 1, &e.time, &err), TD_OK);
        assert_int_equal(td__pg_get_i64(r, i, 2, &e.office_id, &err), TD_OK);
        assert_int_equal(td__pg_get_i64(r, i, 3, &e.user_id, &err), TD_OK);
        snprintf(e.action, sizeof e.action, "%s", PQgetvalue(r, i, 4));
        snprintf(e.object_type, sizeof e.object_type, "%s", PQgetvalue(r, i, 5));
        assert_int_equal(td__pg_get_i64(r, i, 6, &e.object_id, &err), TD_OK);
        e.details = PQgetvalue(r, i, 7);
        snprintf(e.prev_hash, sizeof e.prev_hash, "%s", PQgetvalue(r, i, 8));
        assert_string_equal(e.prev_hash, prev);
        char h[65];
        assert_int_equal(td__audit_hash(&e, h), TD_OK);
        assert_string_equal(h, PQgetvalue(r, i, 9));
        snprintf(prev, sizeof prev, "%s", h);
        assert_true(e.user_id >= 1 && e.user_id <= WRITERS);
        per_writer[e.user_id - 1]++;
    }
    PQclear(r);
    for (int w = 0; w < WRITERS; w++)
        assert_int_equal(per_writer[w], APPENDS);
    /* the head remembers the last entry */
    assert_int_equal(q(c, "SELECT seq FROM audit_heads", 0, NULL), WRITERS * APPENDS);
    assert_int_equal(td__pg_exec(c, "SELECT hash FROM audit_heads", 0, NULL, NULL, NULL, &r, &err),
                     TD_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), prev);
    PQclear(r);
    /* append-only: the app role may neither change nor remove an entry */
    assert_int_equal(td__pg_exec(c, "UPDATE audit SET details = '{}' WHERE seq = 1", 0, NULL, NULL,
                                 NULL, NULL, &err),
                     TD_EDENIED);
    td__pg_rollback(c);
    td__pg_close(c);
    printf("audit: %d writers x %d appends = %d entries in one unbroken chain, %.2f s "
           "(%.0f appends/s, fsync on)\n",
           WRITERS, APPENDS, n, t1 - t0, n / (t1 - t0));
}

/* Someone with a superuser's shell deletes the newest entry (triggers off):
 * the next append refuses to build on the shortened chain. */
static void audit_lost_tail_refused(void **state)
{
    (void)state;
    struct td_error err;
    td_error_clear(&err);
    struct td_pg *su = connect_or_die(admin_url);
    assert_non_null(su);
    char o[24];
    const char *v[1] = {td__pg_i64(o, office_c)};
    q(su, "SET session_replication_role = replica", 0, NULL);
    q(su,
      "DELETE FROM audit WHERE office_id = $1 AND seq = (SELECT max(seq) FROM audit WHERE "
      "office_id = $1)",
      1, v);
    td__pg_close(su);

    struct td_pg *c = connect_or_die(app_url);
    assert_non_null(c);
    struct td_audit_entry e;
    memset(&e, 0, sizeof e);
    e.office_id = office_c;
    snprintf(e.action, sizeof e.action, "test.append");
    snprintf(e.object_type, sizeof e.object_type, "message");
    e.details = "{}";
    assert_int_equal(td__pg_begin(c, office_c, &err), TD_OK);
    assert_int_equal(td__pg_audit_append(c, &e, td__audit_hash, &err), TD_ESTORE);
    assert_non_null(strstr(err.message, "entries deleted"));
    td__pg_rollback(c);
    td__pg_close(c);
}

/* 3b. The same through the store's transactions (pg_store.c), as the
 * desk's batches append: WRITERS processes, each TXS transactions of BATCH
 * entries for office D.  Inside a transaction the store holds the entries
 * back and moves the head once (0013_audit_head_batch.sql); the chain is
 * still one, unbroken, with its head on the last entry.  Every other
 * transaction rolls back one entry to a savepoint, as the desk's isolating
 * pass does with a refused record. */
#define TXS 12
#define BATCH 25
static int64_t office_d;

static int store_writer(int n)
{
    struct td_store *s;
    struct td_error err;
    td_error_clear(&err);
    if (td_store_open(app_url, home, &s, &err)) {
        fprintf(stderr, "store writer %d: %s\n", n, err.message);
        return 1;
    }
    char details[128];
    int rc = TD_OK;
    for (int t = 0; !rc && t < TXS; t++) {
        rc = s->ops->begin(s, &err);
        for (int i = 0; !rc && i < BATCH; i++) {
            int undo = (t % 2) && i == BATCH / 2;
            if (undo && (rc = s->ops->savepoint(s, "rec", &err)))
                break;
            struct td_audit_entry e;
            int64_t last = 0;
            memset(&e, 0, sizeof e);
            if ((rc = s->ops->audit_head(s, office_d, &last, e.prev_hash, &err)))
                break;
            if (last == 0)
                snprintf(e.prev_hash, sizeof e.prev_hash, "%s", ZERO_HASH);
            e.id = last + 1;
            e.time = (int64_t)time(NULL);
            e.office_id = office_d;
            e.user_id = n + 1;
            snprintf(e.action, sizeof e.action, "%s", undo ? "test.undone" : "test.batch");
            snprintf(e.object_type, sizeof e.object_type, "message");
            e.object_id = t * BATCH + i;
            /* quotes and a backslash: the array literal's escapes */
            snprintf(details, sizeof details,
                     "{\"writer\":%d,\"t\":%d,\"i\":%d,\"q\":\"a\\\\\\\"b\"}", n, t, i);
            e.details = details;
            if ((rc = td__audit_hash(&e, e.hash)) || (rc = s->ops->audit_append(s, &e, &err)))
                break;
            if (undo)
                s->ops->rollback_to(s, "rec");
        }
        if (!rc)
            rc = s->ops->commit(s, &err);
        else
            s->ops->rollback(s);
    }
    if (rc)
        fprintf(stderr, "store writer %d: %s\n", n, err.message);
    td_store_close(s);
    return rc ? 1 : 0;
}

static void audit_chain_concurrent_batches(void **state)
{
    (void)state;
    struct td_error err;
    td_error_clear(&err);
    struct td_pg *c = connect_or_die(owner_url);
    assert_non_null(c);
    office_d = new_office(c, "office-d");
    td__pg_close(c);
    fflush(NULL);
    pid_t pids[WRITERS];
    for (int n = 0; n < WRITERS; n++) {
        pids[n] = fork();
        assert_true(pids[n] >= 0);
        if (pids[n] == 0)
            _exit(store_writer(n));
    }
    for (int n = 0; n < WRITERS; n++) {
        int st;
        assert_int_equal(waitpid(pids[n], &st, 0), pids[n]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    c = connect_or_die(app_url);
    assert_non_null(c);
    assert_int_equal(td__pg_begin(c, office_d, &err), TD_OK);
    PGresult *r;
    assert_int_equal(td__pg_exec(c,
                                 "SELECT seq, time, office_id, user_id, action, object_type, "
                                 "object_id, details, prev_hash, hash FROM audit ORDER BY seq",
                                 0, NULL, NULL, NULL, &r, &err),
                     TD_OK);
    int n = PQntuples(r);
    int want = WRITERS * (TXS * BATCH - TXS / 2); /* the undone ones are gone */
    assert_int_equal(n, want);
    char prev[65] = ZERO_HASH;
    for (int i = 0; i < n; i++) {
        struct td_audit_entry e;
        memset(&e, 0, sizeof e);
        assert_int_equal(td__pg_get_i64(r, i, 0, &e.id, &err), TD_OK);
        assert_int_equal(e.id, i + 1);
        assert_int_equal(td__pg_get_i64(r, i, 1, &e.time, &err), TD_OK);
        assert_int_equal(td__pg_get_i64(r, i, 2, &e.office_id, &err), TD_OK);
        assert_int_equal(td__pg_get_i64(r, i, 3, &e.user_id, &err), TD_OK);
        snprintf(e.action, sizeof e.action, "%s", PQgetvalue(r, i, 4));
        assert_string_equal(e.action, "test.batch");
        snprintf(e.object_type, sizeof e.object_type, "%s", PQgetvalue(r, i, 5));
        assert_int_equal(td__pg_get_i64(r, i, 6, &e.object_id, &err), TD_OK);
        e.details = PQgetvalue(r, i, 7);
        assert_non_null(strstr(e.details, "\"q\":\"a\\\\\\\"b\""));
        snprintf(e.prev_hash, sizeof e.prev_hash, "%s", PQgetvalue(r, i, 8));
        assert_string_equal(e.prev_hash, prev);
        char h[65];
        assert_int_equal(td__audit_hash(&e, h), TD_OK);
        assert_string_equal(h, PQgetvalue(r, i, 9));
        snprintf(prev, sizeof prev, "%s", h);
    }
    PQclear(r);
    assert_int_equal(q(c, "SELECT seq FROM audit_heads", 0, NULL), want);
    assert_int_equal(td__pg_exec(c, "SELECT hash FROM audit_heads", 0, NULL, NULL, NULL, &r, &err),
                     TD_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), prev);
    PQclear(r);
    td__pg_rollback(c);
    td__pg_close(c);
}

/* The head moves forward only, and only to the chain's last entry with
 * that entry's hash; by several entries at once (0013). */
static int head_update(struct td_pg *c, const char *set, int64_t seq, const char *hash)
{
    struct td_error err;
    td_error_clear(&err);
    char sql[256], o[24], sq[24];
    const char *v[3] = {td__pg_i64(o, office_d), td__pg_i64(sq, seq), hash};
    /* the SET is one of the test's fixed texts; the values are parameters */
    snprintf(sql, sizeof sql,
             "UPDATE audit_heads SET %s WHERE office_id = $1 AND $2::bigint IS NOT NULL "
             "AND $3::text IS NOT NULL",
             set);
    int rc = td__pg_exec(c, "SAVEPOINT h", 0, NULL, NULL, NULL, NULL, &err);
    assert_int_equal(rc, TD_OK);
    rc = td__pg_exec(c, sql, 3, v, NULL, NULL, NULL, &err);
    struct td_error e2;
    td_error_clear(&e2);
    assert_int_equal(td__pg_exec(c, rc ? "ROLLBACK TO SAVEPOINT h" : "RELEASE SAVEPOINT h", 0, NULL,
                                 NULL, NULL, NULL, &e2),
                     TD_OK);
    return rc;
}

static void audit_head_forward_only(void **state)
{
    (void)state;
    struct td_error err;
    td_error_clear(&err);
    struct td_pg *c = connect_or_die(app_url);
    assert_non_null(c);
    char o[24];
    const char *v[1] = {td__pg_i64(o, office_d)};
    assert_int_equal(td__pg_begin(c, office_d, &err), TD_OK);
    int64_t head = q(c, "SELECT seq FROM audit_heads WHERE office_id = $1", 1, v);
    assert_true(head > 3);
    /* back, standing still, sideways (a wrong hash) */
    assert_int_equal(head_update(c, "seq = seq - 1", 0, ""), TD_EDENIED);
    assert_int_equal(head_update(c, "seq = seq", 0, ""), TD_EDENIED);
    assert_int_equal(head_update(c, "hash = md5($3)", 0, "x"), TD_EDENIED);
    /* three entries appended as the store does, the head still behind */
    char prev[65];
    PGresult *r;
    assert_int_equal(td__pg_exec(c, "SELECT hash FROM audit_heads WHERE office_id = $1", 1, v, NULL,
                                 NULL, &r, &err),
                     TD_OK);
    snprintf(prev, sizeof prev, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    char hashes[3][65];
    for (int i = 0; i < 3; i++) {
        struct td_audit_entry e;
        memset(&e, 0, sizeof e);
        e.id = head + 1 + i;
        e.time = 1;
        e.office_id = office_d;
        e.user_id = 1;
        snprintf(e.action, sizeof e.action, "test.forward");
        snprintf(e.object_type, sizeof e.object_type, "message");
        e.details = "{}";
        snprintf(e.prev_hash, sizeof e.prev_hash, "%s", prev);
        assert_int_equal(td__audit_hash(&e, e.hash), TD_OK);
        char b[24];
        const char *p[10] = {td__pg_i64(b, e.id), "1", o,         "1",         e.action,
                             e.object_type,       "0", e.details, e.prev_hash, e.hash};
        assert_int_equal(td__pg_exec(c,
                                     "INSERT INTO audit(seq, time, office_id, user_id, action, "
                                     "object_type, object_id, details, prev_hash, hash) VALUES "
                                     "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                                     10, p, NULL, NULL, NULL, &err),
                         TD_OK);
        snprintf(hashes[i], sizeof hashes[i], "%s", e.hash);
        snprintf(prev, sizeof prev, "%s", e.hash);
    }
    const char *to = "seq = $2::bigint, hash = $3";
    /* to an entry that is not the last: refused */
    assert_int_equal(head_update(c, to, head + 2, hashes[1]), TD_EDENIED);
    /* the last, with another's hash: refused */
    assert_int_equal(head_update(c, to, head + 3, hashes[1]), TD_EDENIED);
    /* the last, by three at once: allowed */
    assert_int_equal(head_update(c, to, head + 3, hashes[2]), TD_OK);
    assert_int_equal(q(c, "SELECT seq FROM audit_heads WHERE office_id = $1", 1, v), head + 3);
    /* and never back to where it was, even with that entry's own hash */
    assert_int_equal(head_update(c, to, head + 1, hashes[0]), TD_EDENIED);
    td__pg_rollback(c);
    td__pg_close(c);
}

/* A cached statement is prepared afresh after 64 uses, then 256, 1024...
 * (pg_conn.c, PREP_REPLAN): every call still answers, in and out of a
 * pipeline, and the old name is freed on the server. */
static void prepared_statements_replanned(void **state)
{
    (void)state;
    struct td_error err;
    td_error_clear(&err);
    struct td_pg *c = connect_or_die(app_url);
    assert_non_null(c);
    for (int i = 0; i < 1500; i++) {
        char v[24];
        const char *p[1] = {td__pg_i64(v, i)};
        if (i % 3 == 0) {
            assert_int_equal(td__pg_begin(c, office_d, &err), TD_OK);
            assert_int_equal(td__pg_defer(c, "SELECT $1::bigint + 1", 1, p, NULL, NULL, NULL, &err),
                             TD_OK);
            assert_int_equal(td__pg_commit(c, &err), TD_OK);
        }
        assert_int_equal(q(c, "SELECT $1::bigint + 1", 1, p), i + 1);
    }
    /* the statement under one name on the server, whatever it was renamed */
    assert_int_equal(q(c,
                       "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE "
                       "'%$1::bigint + 1%'",
                       0, NULL),
                     1);
    td__pg_close(c);
}

/* 4. WORKERS processes claim JOBS jobs: each job is claimed exactly once. */
static int worker(int n, int fd)
{
    struct td_pg *c = connect_or_die(worker_url);
    if (!c)
        return 1;
    struct td_error err;
    td_error_clear(&err);
    char name[32];
    snprintf(name, sizeof name, "worker-%d", n);
    for (;;) {
        struct td__pg_job job;
        int64_t now = (int64_t)time(NULL);
        int rc = td__pg_job_claim(c, name, now, 600, &job, &err);
        if (rc == TD_ENOTFOUND)
            break;
        if (!rc)
            rc = td__pg_job_finish(c, job.id, name, 1, NULL, now, 0, &err);
        if (rc) {
            fprintf(stderr, "%s: %s\n", name, err.message);
            td__pg_close(c);
            return 1;
        }
        if (write(fd, &job.id, sizeof job.id) != (ssize_t)sizeof job.id) {
            td__pg_close(c);
            return 1;
        }
    }
    td__pg_close(c);
    return 0;
}

static void jobs_claimed_once(void **state)
{
    (void)state;
    struct td_error err;
    td_error_clear(&err);
    struct td_pg *c = connect_or_die(app_url);
    assert_non_null(c);
    int64_t first = 0, last = 0;
    for (int i = 0; i < JOBS; i++) {
        int64_t office = i % 2 ? office_a : office_b;
        char ref[32];
        snprintf(ref, sizeof ref, "message:%d", i);
        int64_t id;
        assert_int_equal(td__pg_begin(c, office, &err), TD_OK);
        assert_int_equal(td__pg_job_add(c, office, "ocr", ref, 0, &id, &err), TD_OK);
        assert_int_equal(td__pg_commit(c, &err), TD_OK);
        if (!first)
            first = id;
        last = id;
    }
    /* office A's connection sees A's jobs only */
    assert_int_equal(td__pg_begin(c, office_a, &err), TD_OK);
    assert_int_equal(q(c, "SELECT count(*) FROM jobs", 0, NULL), JOBS / 2);
    td__pg_rollback(c);

    fflush(NULL);
    double t0 = now_s();
    pid_t pids[WORKERS];
    int fds[WORKERS];
    for (int n = 0; n < WORKERS; n++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pids[n] = fork();
        assert_true(pids[n] >= 0);
        if (pids[n] == 0) {
            close(p[0]);
            _exit(worker(n, p[1]));
        }
        close(p[1]);
        fds[n] = p[0];
    }
    static int seen[JOBS];
    memset(seen, 0, sizeof seen);
    int total = 0, busy = 0;
    for (int n = 0; n < WORKERS; n++) {
        int64_t id;
        int mine = 0;
        while (read(fds[n], &id, sizeof id) == (ssize_t)sizeof id) {
            assert_true(id >= first && id <= last);
            seen[id - first]++;
            total++;
            mine++;
        }
        close(fds[n]);
        int st;
        assert_int_equal(waitpid(pids[n], &st, 0), pids[n]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        busy += mine > 0;
        printf("jobs: worker-%d claimed %d\n", n, mine);
    }
    double t1 = now_s();
    assert_int_equal(total, JOBS);
    for (int i = 0; i < JOBS; i++)
        assert_int_equal(seen[i], 1);
    printf("jobs: %d workers claimed %d jobs, each exactly once, %.2f s; %d workers got work\n",
           WORKERS, total, t1 - t0, busy);
    td__pg_close(c);

    /* and the database agrees: every job done, claimed once */
    c = connect_or_die(worker_url);
    assert_non_null(c);
    assert_int_equal(
        q(c, "SELECT count(*) FROM jobs WHERE state = 'done' AND attempts = 1", 0, NULL), JOBS);
    td__pg_close(c);
}

/* A claim is a lease: a worker that died leaves its job due again when the
 * lease ends, and can no longer finish it. */
static void jobs_lease_expires(void **state)
{
    (void)state;
    struct td_error err;
    td_error_clear(&err);
    struct td_pg *app = connect_or_die(app_url), *w = connect_or_die(worker_url);
    assert_non_null(app);
    assert_non_null(w);
    int64_t id;
    assert_int_equal(td__pg_begin(app, office_a, &err), TD_OK);
    assert_int_equal(td__pg_job_add(app, office_a, "ocr", "evidence:x", 1000, &id, &err), TD_OK);
    assert_int_equal(td__pg_commit(app, &err), TD_OK);
    struct td__pg_job job;
    assert_int_equal(td__pg_job_claim(w, "w1", 999, 10, &job, &err), TD_ENOTFOUND); /* not yet */
    assert_int_equal(td__pg_job_claim(w, "w1", 1000, 10, &job, &err), TD_OK);
    assert_int_equal(job.id, id);
    assert_int_equal(job.office_id, office_a);
    assert_string_equal(job.payload_ref, "evidence:x");
    assert_int_equal(td__pg_job_claim(w, "w2", 1005, 10, &job, &err), TD_ENOTFOUND); /* leased */
    assert_int_equal(td__pg_job_claim(w, "w2", 1011, 10, &job, &err), TD_OK);        /* expired */
    assert_int_equal(job.id, id);
    assert_int_equal(job.attempts, 2);
    assert_int_equal(td__pg_job_finish(w, id, "w1", 1, NULL, 1012, 0, &err), TD_ENOTFOUND);
    assert_int_equal(td__pg_job_finish(w, id, "w2", 0, "ocr failed", 1012, 1100, &err), TD_OK);
    assert_int_equal(td__pg_job_claim(w, "w3", 1050, 10, &job, &err), TD_ENOTFOUND); /* retry */
    assert_int_equal(td__pg_job_claim(w, "w3", 1100, 10, &job, &err), TD_OK);
    assert_int_equal(job.attempts, 3);
    assert_int_equal(td__pg_job_finish(w, id, "w3", 1, NULL, 1101, 0, &err), TD_OK);
    td__pg_close(app);
    td__pg_close(w);
}

int main(void)
{
    const char *dir = getenv("TD_PG_DIR");
    if (!dir || !*dir) {
        fprintf(stderr, "test_desk_pg: TD_PG_DIR is not set: run it through ctest (fixture "
                        "pg/start) or as tests/support/pg-temp.sh run <this test>\n");
        return 1;
    }
    home = getenv("THREATDESK_HOME");
    if (!home || !*home)
        home = TD_SOURCE_DIR;
    read_url(dir, "owner_url", owner_url, sizeof owner_url);
    read_url(dir, "app_url", app_url, sizeof app_url);
    read_url(dir, "worker_url", worker_url, sizeof worker_url);
    read_url(dir, "admin_url", admin_url, sizeof admin_url); /* only to play the attacker */
    /* In order: each test uses the offices and schema of the first. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(migrate_twice),           cmocka_unit_test(errors_name_sqlstate),
        cmocka_unit_test(rls_between_offices),     cmocka_unit_test(audit_chain_concurrent),
        cmocka_unit_test(audit_lost_tail_refused), cmocka_unit_test(audit_chain_concurrent_batches),
        cmocka_unit_test(audit_head_forward_only), cmocka_unit_test(prepared_statements_replanned),
        cmocka_unit_test(jobs_claimed_once),       cmocka_unit_test(jobs_lease_expires),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif /* TD_HAVE_POSTGRES */
