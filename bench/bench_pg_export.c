/*
 * bench_pg_export.c - the queue export and the weekly digest of one office
 * with N messages, on the store at URL (a SQLite file or postgres://),
 * through the desk as the server calls them (bench_pg_export.sh runs it on
 * both backends and prints the figures side by side).
 *
 *   bench_pg_export URL N RAW_URL DATA_DIR      (N 0: open, migrate, close)
 *
 * One message is filed through the desk (a real verdict row); the other
 * N - 1 are copies made in SQL (RAW_URL: a role that may write every
 * office's rows, for PostgreSQL; ignored for SQLite), with varied
 * senders, severities, labels, times and statuses so the export's order
 * and the digest's groups have work to do.  Then it measures:
 *   - queue export: every row to a callback that renders it as JSON (as
 *     the CSV writer does), rows/s, and how much the process's peak
 *     resident memory grew (the export streams: it should not grow with N);
 *   - digest: the four aggregate queries over the whole window.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "threatdesk/analyse.h"
#include "threatdesk/desk.h"
#include "threatdesk/desk_export.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Linux: reset the peak RSS to the current RSS (clear_refs 5), and read it
 * (VmHWM, kB); -1 when not available. */
static void peak_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

static long peak_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

struct tally {
    size_t rows, bytes;
};

static int render(void *ud, const json_t *row)
{
    struct tally *t = ud;
    char *s = json_dumps(row, 0);
    if (!s)
        return 1;
    t->rows++;
    t->bytes += strlen(s);
    free(s);
    return 0;
}

static int fail(const char *what, const struct td_error *err)
{
    char buf[1024];
    fprintf(stderr, "bench_pg_export: %s: %s\n", what, td_error_format(err, buf, sizeof buf));
    return 1;
}

/* The copies: every column from the seed row except what varies. */
#define COPY_COLS                                                                                  \
    "INSERT INTO messages (office_id, channel, sender, subject, text, original, received, "        \
    "ingested, ingested_by, severity, labels, flags, verdict, status) "                            \
    "SELECT office_id, channel, 'email:s' || (g % 500) || '@example.org', subject, "               \
    "text || g, original, received - g * 7, ingested, ingested_by, g % 5, g % 32, flags, "         \
    "verdict, CASE WHEN g % 3 = 0 THEN 'reviewed' ELSE 'unreviewed' END "

static int load_pg(const char *raw, int64_t office, int64_t seed, long n)
{
    char o[24], s[24], c[24];
    snprintf(o, sizeof o, "%lld", (long long)office);
    snprintf(s, sizeof s, "%lld", (long long)seed);
    snprintf(c, sizeof c, "%ld", n - 1);
    const char *p[3] = {o, s, c};
    PGconn *db = PQconnectdb(raw);
    int rc = PQstatus(db) != CONNECTION_OK;
    PGresult *r = NULL;
    if (!rc) {
        PQclear(PQexec(db, "BEGIN"));
        PQclear(PQexecParams(db, "SELECT set_config('threatdesk.office_id', $1, true)", 1, NULL, p,
                             NULL, NULL, 0));
        r = PQexecParams(db,
                         COPY_COLS "FROM messages, generate_series(1, $3::bigint) g "
                                   "WHERE office_id = $1::bigint AND id = $2::bigint",
                         3, NULL, p, NULL, NULL, 0);
        rc = PQresultStatus(r) != PGRES_COMMAND_OK;
        PQclear(r);
        PQclear(PQexec(db, rc ? "ROLLBACK" : "COMMIT"));
        if (!rc)
            PQclear(PQexec(db, "ANALYZE messages"));
    }
    if (rc)
        fprintf(stderr, "bench_pg_export: load: %s", PQerrorMessage(db));
    PQfinish(db);
    return rc;
}

static int load_sqlite(const char *path, int64_t office, int64_t seed, long n)
{
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open(path, &db) != SQLITE_OK ||
             sqlite3_prepare_v2(db,
                                "WITH RECURSIVE gs(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM gs "
                                "WHERE g < ?3) " COPY_COLS
                                "FROM messages, gs WHERE office_id = ?1 AND id = ?2",
                                -1, &st, NULL) != SQLITE_OK;
    if (!rc) {
        sqlite3_bind_int64(st, 1, office);
        sqlite3_bind_int64(st, 2, seed);
        sqlite3_bind_int64(st, 3, n - 1);
        rc = sqlite3_step(st) != SQLITE_DONE ||
             sqlite3_exec(db, "ANALYZE", NULL, NULL, NULL) != SQLITE_OK;
    }
    if (rc)
        fprintf(stderr, "bench_pg_export: load: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

int main(int argc, char **argv)
{
    struct td_desk_opts o;
    struct td_desk *d;
    struct td_error err;
    struct td_actor a;
    char key[TD_TOKEN_SIZE];
    if (argc != 5) {
        fprintf(stderr, "usage: bench_pg_export URL N RAW_URL DATA_DIR\n");
        return 2;
    }
    const char *url = argv[1], *raw = argv[3];
    long n = strtol(argv[2], NULL, 10);
    int pg = !strncmp(url, "postgres", 8);
    const char *name = pg ? "postgresql" : "sqlite";
    if (n < 0)
        return 2;
    td_error_clear(&err);
    td_desk_opts_init(&o);
    o.db = url;
    o.data_dir = argv[4];
    if (td_desk_open(&o, &d, &err))
        return fail("open", &err);
    if (n == 0) { /* only open (and migrate), as the owner */
        td_desk_close(d);
        return 0;
    }
    td_desk_office_add(d, NULL, "bench", NULL, &err);
    if (td_desk_user_add(d, NULL, "bench", "benchuser", TD_ROLE_ADMIN, "correct horse battery",
                         NULL, &err) ||
        td_desk_api_key_create(d, NULL, "benchuser", "bench", key, NULL, &err) ||
        td_desk_authenticate_key(d, key, &a, &err))
        return fail("actor", &err);

    struct td_message m;
    struct td_verdict v;
    struct td_ingest_result r;
    td_message_init(&m);
    td_verdict_init(&v);
    v.severity = TD_SEVERITY_HIGH;
    v.labels = 1u << TD_LABEL_THREAT;
    td_message_set(&m.text, "the seed message", (size_t)-1);
    m.text_len = strlen("the seed message");
    td_message_set(&m.channel, "email", (size_t)-1);
    td_message_set(&m.sender, "email:x@example.org", (size_t)-1);
    if (td_desk_file(d, &a, &m, NULL, &v, &r, &err))
        return fail("file", &err);
    td_message_release(&m);
    td_verdict_release(&v);

    double t0 = now();
    if (n > 1 && (pg ? load_pg(raw, a.office_id, r.id, n) : load_sqlite(url, a.office_id, r.id, n)))
        return 1;
    printf("%-10s load    %ld messages in %.1f s\n", name, n, now() - t0);

    struct td_queue_filter f;
    struct tally t = {0, 0};
    td_queue_filter_init(&f);
    peak_reset();
    long before = peak_kb();
    t0 = now();
    if (td_desk_queue_export(d, &a, &f, render, &t, &err))
        return fail("queue export", &err);
    double te = now() - t0;
    long after = peak_kb();
    printf("%-10s export  %zu rows, %.1f MB of JSON in %.2f s = %.0f rows/s; peak RSS %ld -> %ld "
           "MB\n",
           name, t.rows, (double)t.bytes / 1e6, te, (double)t.rows / te, before / 1024,
           after / 1024);

    json_t *dg = NULL;
    t0 = now();
    if (td_desk_digest(d, &a, 0, INT64_MAX, &dg, &err))
        return fail("digest", &err);
    printf("%-10s digest  over %ld messages in %.3f s\n", name, n, now() - t0);
    json_decref(dg);
    td_desk_close(d);
    return t.rows == (size_t)n ? 0 : 1;
}
