/*
 * test_backend.h - which store backend the store and desk tests run on.
 *
 * By default a SQLite file.  With TD_TEST_BACKEND=postgres and TD_PG_DIR
 * (the directory tests/support/pg-temp.sh writes its URLs to, set by the
 * ctest fixture td_pg for the pg/<test> entries) every store is a fresh
 * PostgreSQL database td_t_<pid>_<n>, created by the cluster's admin and
 * owned by td_owner, opened with td_owner's URL (the store migrates it)
 * and dropped when the test closes it.  So one suite checks that both
 * backends behave alike (issue 11).
 *
 * tb_sql()/tb_sql_text() run raw SQL on the store the way an attacker
 * with a shell (sqlite3, or psql as a superuser, which row-level security
 * does not stop) would: the tests that tamper with rows use them.
 */
#ifndef TD_TEST_BACKEND_H
#define TD_TEST_BACKEND_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>
#ifdef TD_HAVE_POSTGRES
#include <libpq-fe.h>
#endif

static inline int tb_pg(void)
{
    const char *b = getenv("TD_TEST_BACKEND");
    return b && !strcmp(b, "postgres");
}

#ifdef TD_HAVE_POSTGRES
static inline void tb_read_url(const char *name, char *out, size_t size)
{
    char path[1024];
    const char *dir = getenv("TD_PG_DIR");
    if (!dir) {
        fprintf(stderr, "test_backend: TD_TEST_BACKEND=postgres needs TD_PG_DIR\n");
        abort();
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(out, (int)size, f)) {
        fprintf(stderr, "test_backend: cannot read %s\n", path);
        abort();
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
}

/* The URL `name` (owner_url, admin_url) with its database replaced. */
static inline void tb_url_for(const char *name, const char *db, char *out, size_t size)
{
    char u[1024];
    tb_read_url(name, u, sizeof u);
    char *q = strstr(u, "/threatdesk?");
    if (!q) {
        fprintf(stderr, "test_backend: unexpected URL shape in %s\n", name);
        abort();
    }
    *q = '\0';
    /* a URL cut short would name another database: refuse it */
    int n = snprintf(out, size, "%s/%s?%s", u, db, q + strlen("/threatdesk?"));
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "test_backend: URL too long for %s\n", db);
        abort();
    }
}

static inline void tb_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static inline PGconn *tb_admin(const char *db)
{
    char url[1100];
    tb_url_for("admin_url", db, url, sizeof url);
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "test_backend: %s", PQerrorMessage(c));
        abort();
    }
    PQsetNoticeProcessor(c, tb_quiet, NULL);
    return c;
}

static inline void tb_admin_exec(const char *db, const char *sql)
{
    PGconn *c = tb_admin(db);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "test_backend: %s: %s", sql, PQerrorMessage(c));
        abort();
    }
    PQclear(r);
    PQfinish(c);
}
#endif

/*
 * A fresh store: url gets what td_store_open / td_desk_opts.db take.
 * sqlite_path: the file for SQLite.  dbname (size >= 64) remembers the
 * PostgreSQL database for tb_store_drop ("" for SQLite).
 */
static inline void tb_store_new(char *url, size_t size, const char *sqlite_path, char *dbname)
{
    static int counter;
    dbname[0] = '\0';
    if (!tb_pg()) {
        snprintf(url, size, "%s", sqlite_path);
        return;
    }
#ifdef TD_HAVE_POSTGRES
    char sql[200];
    snprintf(dbname, 64, "td_t_%ld_%d", (long)getpid(), ++counter);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", dbname);
    tb_admin_exec("postgres", sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s OWNER td_owner", dbname);
    tb_admin_exec("postgres", sql);
    tb_url_for("owner_url", dbname, url, size);
#else
    fprintf(stderr, "test_backend: built without PostgreSQL\n");
    exit(77);
#endif
}

static inline void tb_store_drop(const char *dbname)
{
#ifdef TD_HAVE_POSTGRES
    char sql[200];
    if (!dbname || !*dbname)
        return;
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
    tb_admin_exec("postgres", sql);
#else
    (void)dbname;
#endif
}

/* Run sql (one or more statements) on the store as a superuser/shell
 * would; returns 0 when it succeeded. */
static inline int tb_sql(const char *url, const char *dbname, const char *sql)
{
    if (dbname && *dbname) {
#ifdef TD_HAVE_POSTGRES
        PGconn *c = tb_admin(dbname);
        PGresult *r = PQexec(c, sql);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        PQfinish(c);
        return ok ? 0 : -1;
#endif
    }
    sqlite3 *db;
    if (sqlite3_open(url, &db) != SQLITE_OK)
        return -1;
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* The first column of the first row of sql as text into out ("" when no
 * row or NULL); returns 0 when the query ran. */
static inline int tb_sql_text(const char *url, const char *dbname, const char *sql, char *out,
                              size_t size)
{
    out[0] = '\0';
    if (dbname && *dbname) {
#ifdef TD_HAVE_POSTGRES
        PGconn *c = tb_admin(dbname);
        PGresult *r = PQexec(c, sql);
        int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        if (ok && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
            snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        PQfinish(c);
        return ok ? 0 : -1;
#endif
    }
    sqlite3 *db;
    sqlite3_stmt *st;
    if (sqlite3_open(url, &db) != SQLITE_OK)
        return -1;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

#endif
