/*
 * pg_conn.c - the PostgreSQL groundwork of the store (issue 11): connect,
 * migrate, office-scoped transactions, parameterised statements, the audit
 * chain append and the jobs queue.  See pg_int.h for the contract and
 * docs/postgres.md for the design.
 *
 * Every statement with data in it goes through bound parameters: prepared
 * once per connection and SQL text (PQprepare, named td_1, td_2, ...) and
 * run with PQexecPrepared after, so the server parses and plans a hot
 * statement once instead of on every call (issue 11: planning under the
 * row-level security policies was most of the cost of an ingest).  The
 * only SQL run as text is a migration file (fixed text from
 * data/migrations/postgres) and fixed statements without input.
 */
#ifdef TD_HAVE_POSTGRES

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/migrations.h"
#include "store/pg_int.h"
#include "threatdesk/buf.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/* Advisory lock keys: hashtextextended(name, seed) keeps them apart from
 * any other user of advisory locks in the database; a collision between
 * two offices' keys would only make them take turns, never break a chain. */
#define LOCK_MIGRATE "SELECT pg_advisory_xact_lock(hashtextextended('threatdesk.migrate', 0))"
#define LOCK_AUDIT "SELECT pg_advisory_xact_lock(hashtextextended('threatdesk.audit', $1::bigint))"

/* The prepared-statement cache: open addressing on the SQL text.  The
 * store's statements are a fixed set of a few hundred texts, so a cap
 * keeps a caller that builds texts (one cursor name per export) from
 * growing it without end: past it, a statement runs unnamed as before. */
#define PREP_SLOTS 1024u
#define PREP_MAX 512u

/* A statement is prepared again (planned afresh) after PREP_REPLAN uses,
 * then after 4x as many each time.  PostgreSQL keeps a prepared
 * statement's generic plan for as long as no ANALYZE invalidates it; one
 * made while a fresh database's tables held a few rows (a sequential scan
 * is then cheapest) stayed in use as they grew: the ingest lookup went
 * from 0.14 ms to 1.0 ms within one bench_scale run of 20,000 messages,
 * before autovacuum's first ANALYZE (issue 11). */
#define PREP_REPLAN 64u

struct prep {
    char *sql;          /* owned copy; NULL: free slot */
    unsigned id;        /* the statement is named td_<id> on the server */
    unsigned long uses; /* calls since it was prepared */
    unsigned long replan_at;
};

/* Statements sent ahead (td__pg_defer) whose results are still to be
 * read; past this many the queue is read before the next is sent, so the
 * server's answers never pile up unread (libpq's blocking pipeline could
 * otherwise wait on a full socket both ways). */
#define DEFER_MAX 32u

struct deferred {
    char sql[100];    /* its start, for an error message (excerpt) */
    const char *what; /* static: "no such <what>" when it changed no row; NULL */
};

struct td_pg {
    PGconn *conn;
    struct prep *prep; /* PREP_SLOTS entries, allocated on first use */
    unsigned nprep;
    unsigned next_id; /* the last name handed out (td_<id>) */
    /* In pipeline mode while ndef > 0: sent, not yet synced and read. */
    struct deferred def[DEFER_MAX];
    unsigned ndef;
};

/* The library never prints: PostgreSQL's notices ("relation already
 * exists, skipping") are dropped instead of going to stderr. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

PGconn *td__pg_conn(struct td_pg *c)
{
    return c->conn;
}

const char *td__pg_i64(char buf[24], int64_t v)
{
    snprintf(buf, 24, "%lld", (long long)v);
    return buf;
}

/* SQLSTATE class -> td_errno: what a caller can act on. */
static int code_of(const char *state)
{
    if (!state)
        return TD_ESTORE;
    if (!strcmp(state, "23505"))
        return TD_EEXISTS; /* unique_violation */
    if (!strcmp(state, "42501"))
        return TD_EDENIED; /* insufficient_privilege, incl. row-level security */
    if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03"))
        return TD_EBUSY; /* serialization_failure, deadlock, lock_not_available */
    if (!strncmp(state, "08", 2))
        return TD_ENET; /* connection exceptions */
    return TD_ESTORE;
}

/* The start of a statement on one line, for an error message: runs of
 * white space become one space; "..." when it was cut. */
static void excerpt(const char *sql, char *out, size_t size)
{
    size_t o = 0;
    int space = 0;
    const char *p = sql;
    /* room kept for a space, a character, "..." and the NUL */
    for (; *p && o + 6 <= size; p++) {
        if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
            space = o > 0;
            continue;
        }
        if (space)
            out[o++] = ' ';
        space = 0;
        out[o++] = *p;
    }
    if (*p && o + 4 <= size) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static int fail(struct td_pg *c, const PGresult *r, const char *sql, struct td_error *err)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char m[256], s[100];
    if (!msg) {
        /* no result (out of memory, connection gone): libpq's own words */
        snprintf(m, sizeof m, "%s", PQerrorMessage(c->conn));
        size_t n = strlen(m);
        while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
            m[--n] = '\0';
        msg = m;
    }
    /* a lost connection reports no SQLSTATE of its own */
    if (!state && PQstatus(c->conn) == CONNECTION_BAD)
        state = "08006"; /* connection_failure */
    excerpt(sql, s, sizeof s);
    int rc = td_error_set(err, code_of(state), "SQLSTATE %s: %s (in: %s)", state ? state : "?????",
                          msg, s);
    if (state)
        td_error_field(err, state);
    return rc;
}

/* FNV-1a: the texts are short and few, anything spreads them well enough. */
static uint32_t hash_sql(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Forget every prepared statement: the server has forgotten them too when
 * the connection was made again. */
static void prep_clear(struct td_pg *c)
{
    if (c->prep)
        for (unsigned i = 0; i < PREP_SLOTS; i++)
            free(c->prep[i].sql);
    free(c->prep);
    c->prep = NULL;
    c->nprep = 0;
    c->next_id = 0;
}

/* The slot that holds sql, or -1. */
static long prep_slot(const struct td_pg *c, const char *sql)
{
    if (!c->prep)
        return -1;
    unsigned i = hash_sql(sql) & (PREP_SLOTS - 1);
    while (c->prep[i].sql) {
        if (!strcmp(c->prep[i].sql, sql))
            return (long)i;
        i = (i + 1) & (PREP_SLOTS - 1);
    }
    return -1;
}

/* The name sql is prepared under on this connection, if it is: 1 with
 * name filled, else 0. */
static int prep_find(struct td_pg *c, const char *sql, char name[16])
{
    long i = prep_slot(c, sql);
    /* due to be planned afresh: not prepared, as far as the caller knows
     * (prepared() does it, outside a pipeline) */
    if (i < 0 || c->prep[i].uses >= c->prep[i].replan_at)
        return 0;
    c->prep[i].uses++;
    snprintf(name, 16, "td_%u", c->prep[i].id);
    return 1;
}

/* The name sql is prepared under on this connection, preparing it first
 * if need be: 1 with name filled, 0 to run it unnamed (cache full, out of
 * memory), or TD_E* when the server refused to prepare it (err set). */
static int prepared(struct td_pg *c, const char *sql, int n, char name[16], struct td_error *err)
{
    if (!c->prep && !(c->prep = calloc(PREP_SLOTS, sizeof *c->prep)))
        return 0;
    if (prep_find(c, sql, name))
        return 1;
    long old = prep_slot(c, sql);
    unsigned i = hash_sql(sql) & (PREP_SLOTS - 1);
    char *copy = NULL;
    if (old >= 0) { /* due to be planned afresh: the same slot, a new name */
        i = (unsigned)old;
    } else {
        while (c->prep[i].sql)
            i = (i + 1) & (PREP_SLOTS - 1);
        if (c->nprep >= PREP_MAX || !(copy = strdup(sql)))
            return 0;
    }
    unsigned id = c->next_id + 1;
    snprintf(name, 16, "td_%u", id);
    /* parameter types NULL: inferred as PQexecParams would */
    PGresult *r = PQprepare(c->conn, name, sql, n, NULL);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        /* not remembered: a statement refused in an aborted transaction
         * is prepared again on its next call */
        int rc = fail(c, r, sql, err);
        PQclear(r);
        free(copy);
        return rc;
    }
    PQclear(r);
    c->next_id = id;
    if (old >= 0) {
        /* the old plan's name is freed on the server; a failure here
         * (an aborted transaction) only leaves it allocated until the
         * connection closes */
        char stale[32];
        snprintf(stale, sizeof stale, "DEALLOCATE td_%u", c->prep[i].id);
        PQclear(PQexec(c->conn, stale));
        c->prep[i].replan_at *= 4;
    } else {
        c->prep[i].sql = copy;
        c->prep[i].replan_at = PREP_REPLAN;
        c->nprep++;
    }
    c->prep[i].id = id;
    c->prep[i].uses = 1;
    return 1;
}

/* 1 when a statement's result says it changed no row. */
static int changed_none(PGresult *r)
{
    const char *n = PQcmdTuples(r);
    return !n || !*n || !strcmp(n, "0");
}

/*
 * The pipeline (issue 11, ingest speed).  Writes whose results nobody
 * waits for inside a transaction (td__pg_defer: an audit entry, a sender's
 * tally, a message's vector, a savepoint) are sent at once in libpq's
 * pipeline mode and their answers read with the next statement that needs
 * one, or at the next td__pg_flush: one round trip for all of them instead
 * of one each.  The server runs them in order, as if each had been waited
 * for; after a failure it skips the rest up to the sync
 * (PGRES_PIPELINE_ABORTED), so the first failure is the answer, and
 * nothing after it ran.
 *
 * drain(): sync, then read the answers of everything sent ahead and of
 * `last` (the statement sent after them; NULL: none) into *res, and leave
 * pipeline mode.
 */
static int drain(struct td_pg *c, const char *last, PGresult **res, struct td_error *err)
{
    int rc = TD_OK;
    unsigned total = c->ndef + (last ? 1u : 0u);
    if (!PQpipelineSync(c->conn)) {
        rc = fail(c, NULL, last ? last : c->def[0].sql, err);
        total = 0; /* nothing will come back: the connection is gone */
    }
    for (unsigned i = 0; i < total; i++) {
        const char *sql = i < c->ndef ? c->def[i].sql : last;
        const char *what = i < c->ndef ? c->def[i].what : NULL;
        PGresult *r;
        int got = 0;
        while ((r = PQgetResult(c->conn))) {
            ExecStatusType st = PQresultStatus(r);
            got = 1;
            if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
                if (rc == TD_OK && what && changed_none(r))
                    rc = td_error_set(err, TD_ENOTFOUND, "no such %s", what);
                if (rc == TD_OK && i == c->ndef && res) {
                    *res = r;
                    r = NULL;
                }
            } else if (st != PGRES_PIPELINE_ABORTED && rc == TD_OK) {
                rc = fail(c, r, sql, err);
            }
            PQclear(r);
        }
        if (!got) { /* no answer at all: the connection is gone */
            if (rc == TD_OK)
                rc = fail(c, NULL, sql, err);
            break;
        }
    }
    /* the sync's own answer; a lost connection answers nothing */
    for (int nulls = 0; nulls < 3;) {
        PGresult *r = PQgetResult(c->conn);
        if (!r) {
            if (PQstatus(c->conn) == CONNECTION_BAD)
                break;
            nulls++;
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        PQclear(r);
        if (st == PGRES_PIPELINE_SYNC)
            break;
    }
    c->ndef = 0;
    if (!PQexitPipelineMode(c->conn) && rc == TD_OK)
        rc = fail(c, NULL, last ? last : "(pipeline)", err);
    if (rc && res && *res) {
        PQclear(*res);
        *res = NULL;
    }
    return rc;
}

int td__pg_flush(struct td_pg *c, struct td_error *err)
{
    return c->ndef ? drain(c, NULL, NULL, err) : TD_OK;
}

static int exec_(struct td_pg *c, const char *sql, int n, const char *const *values,
                 const int *lengths, const int *formats, PGresult **res, int cache,
                 struct td_error *err)
{
    if (res)
        *res = NULL;
    char name[16];
    if (c->ndef) {
        /* in the round trip of what was sent ahead, when it is prepared
         * already (PQprepare cannot run in a pipeline; its first call
         * waits for the rest, once per connection) */
        int named = cache && n > 0 && prep_find(c, sql, name);
        if (named || n == 0 || !cache) {
            int sent = named
                           ? PQsendQueryPrepared(c->conn, name, n, values, lengths, formats, 0)
                           : PQsendQueryParams(c->conn, sql, n, NULL, values, lengths, formats, 0);
            if (sent)
                return drain(c, sql, res, err);
            int rc = fail(c, NULL, sql, err);
            struct td_error ignored;
            drain(c, NULL, NULL, &ignored);
            return rc;
        }
        int rc = drain(c, NULL, NULL, err);
        if (rc)
            return rc;
    }
    /* parameterless texts (savepoints, fixed SELECTs) are cheap to plan and
     * some are made up per call: not worth a name */
    int named = cache && n > 0 ? prepared(c, sql, n, name, err) : 0;
    if (named < 0)
        return named;
    PGresult *r = named ? PQexecPrepared(c->conn, name, n, values, lengths, formats, 0)
                        : PQexecParams(c->conn, sql, n, NULL, values, lengths, formats, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = fail(c, r, sql, err);
        PQclear(r);
        return rc;
    }
    if (res)
        *res = r;
    else
        PQclear(r);
    return TD_OK;
}

int td__pg_exec(struct td_pg *c, const char *sql, int n, const char *const *values,
                const int *lengths, const int *formats, PGresult **res, struct td_error *err)
{
    return exec_(c, sql, n, values, lengths, formats, res, 1, err);
}

int td__pg_exec_once(struct td_pg *c, const char *sql, int n, const char *const *values,
                     const int *lengths, const int *formats, PGresult **res, struct td_error *err)
{
    return exec_(c, sql, n, values, lengths, formats, res, 0, err);
}

int td__pg_defer(struct td_pg *c, const char *sql, int n, const char *const *values,
                 const int *lengths, const int *formats, const char *what, struct td_error *err)
{
    char name[16];
    int rc, named = n > 0 && prep_find(c, sql, name);
    if (c->ndef >= DEFER_MAX && (rc = drain(c, NULL, NULL, err)))
        return rc;
    if ((n > 0 && !named) ||
        (PQpipelineStatus(c->conn) == PQ_PIPELINE_OFF && !PQenterPipelineMode(c->conn))) {
        /* not prepared yet (its first call prepares it), or no pipeline:
         * run now */
        PGresult *r;
        if ((rc = exec_(c, sql, n, values, lengths, formats, &r, 1, err)))
            return rc;
        rc = what && changed_none(r) ? td_error_set(err, TD_ENOTFOUND, "no such %s", what) : TD_OK;
        PQclear(r);
        return rc;
    }
    int sent = named ? PQsendQueryPrepared(c->conn, name, n, values, lengths, formats, 0)
                     : PQsendQueryParams(c->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
    if (!sent) {
        rc = fail(c, NULL, sql, err);
        struct td_error ignored;
        if (c->ndef)
            drain(c, NULL, NULL, &ignored);
        else
            PQexitPipelineMode(c->conn);
        return rc;
    }
    excerpt(sql, c->def[c->ndef].sql, sizeof c->def[c->ndef].sql);
    c->def[c->ndef].what = what;
    c->ndef++;
    return TD_OK;
}

void td__pg_reset(struct td_pg *c)
{
    c->ndef = 0; /* whatever was sent ahead went with the old connection */
    PQreset(c->conn);
    prep_clear(c);
}

/* A fixed statement without parameters (BEGIN, COMMIT, a migration). */
static int run(struct td_pg *c, const char *sql, struct td_error *err)
{
    if (c->ndef) /* one statement (BEGIN, COMMIT) after what was sent ahead */
        return exec_(c, sql, 0, NULL, NULL, NULL, NULL, 0, err);
    PGresult *r = PQexec(c->conn, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rc = TD_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = fail(c, r, sql, err);
    PQclear(r);
    return rc;
}

int td__pg_get_i64(const PGresult *r, int row, int col, int64_t *v, struct td_error *err)
{
    if (PQgetisnull(r, row, col))
        return td_error_set(err, TD_EPARSE, "column %d of row %d is NULL", col, row);
    const char *s = PQgetvalue(r, row, col);
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return td_error_set(err, TD_EPARSE, "column %d of row %d: not an integer", col, row);
    *v = (int64_t)x;
    return TD_OK;
}

int td__pg_connect(const char *url, struct td_pg **out, struct td_error *err)
{
    *out = NULL;
    if (!url || (strncmp(url, "postgres://", 11) != 0 && strncmp(url, "postgresql://", 13) != 0))
        return td_error_set(err, TD_EINVAL, "not a postgres:// URL");
    struct td_pg *c = calloc(1, sizeof *c);
    if (!c)
        return td_error_set(err, TD_ENOMEM, NULL);
    /* expand_dbname: libpq parses the URL; keywords before it are defaults
     * the URL may override. */
    const char *const keys[] = {"client_encoding", "fallback_application_name", "dbname", NULL};
    const char *const vals[] = {"UTF8", "threatdesk", url, NULL};
    c->conn = PQconnectdbParams(keys, vals, 1);
    if (!c->conn) {
        free(c);
        return td_error_set(err, TD_ENOMEM, NULL);
    }
    if (PQstatus(c->conn) != CONNECTION_OK) {
        char m[300];
        snprintf(m, sizeof m, "%s", PQerrorMessage(c->conn));
        size_t n = strlen(m);
        while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
            m[--n] = '\0';
        td__pg_close(c);
        return td_error_set(err, TD_ENET, "cannot connect to PostgreSQL: %s", m);
    }
    PQsetNoticeProcessor(c->conn, quiet, NULL);
    *out = c;
    return TD_OK;
}

void td__pg_close(struct td_pg *c)
{
    if (!c)
        return;
    PQfinish(c->conn);
    prep_clear(c);
    free(c);
}

/* ---- transactions ------------------------------------------------------ */

int td__pg_set_office(struct td_pg *c, int64_t office, struct td_error *err)
{
    char o[24];
    /* '' reads as "no office" (td_current_office() -> NULL, no rows) */
    const char *v[1] = {office >= 0 ? td__pg_i64(o, office) : ""};
    return td__pg_exec(c, "SELECT set_config('threatdesk.office_id', $1, true)", 1, v, NULL, NULL,
                       NULL, err);
}

int td__pg_begin(struct td_pg *c, int64_t office, struct td_error *err)
{
    int rc = run(c, "BEGIN ISOLATION LEVEL READ COMMITTED", err);
    if (!rc && office >= 0 && (rc = td__pg_set_office(c, office, err)))
        td__pg_rollback(c);
    return rc;
}

int td__pg_commit(struct td_pg *c, struct td_error *err)
{
    /* COMMIT of a failed transaction "succeeds" as a ROLLBACK: say so. */
    if (PQtransactionStatus(c->conn) == PQTRANS_INERROR) {
        td__pg_rollback(c);
        return td_error_set(err, TD_ESTORE, "commit of a failed transaction: rolled back");
    }
    int rc = run(c, "COMMIT", err);
    /* a write sent ahead failed: the server skipped the COMMIT */
    if (rc && PQtransactionStatus(c->conn) != PQTRANS_IDLE)
        td__pg_rollback(c);
    return rc;
}

void td__pg_rollback(struct td_pg *c)
{
    struct td_error ignored;
    td__pg_flush(c, &ignored); /* ROLLBACK must not be skipped after a failure */
    PGTransactionStatusType t = PQtransactionStatus(c->conn);
    if (t == PQTRANS_INTRANS || t == PQTRANS_INERROR)
        PQclear(PQexec(c->conn, "ROLLBACK"));
}

/* ---- migrations -------------------------------------------------------- */

int td__pg_migrate(struct td_pg *c, const char *home, int *applied, struct td_error *err)
{
    struct td__migrations mig;
    int rc = TD_OK, count = 0;
    struct td_buf sql;
    td_buf_init(&sql, TD__MIGRATION_BYTES_MAX);
    if (applied)
        *applied = 0;
    if ((rc = td__migrations_list(home, "postgres", &mig, err)))
        goto out;

    if ((rc = run(c, "BEGIN", err)))
        goto out;
    /* Two servers starting on a new database migrate one after the other:
     * the second waits here, then finds every migration recorded.  The
     * lock comes before CREATE TABLE IF NOT EXISTS, which is not safe
     * against a concurrent twin. */
    if ((rc = run(c, LOCK_MIGRATE, err)))
        goto out;
    if ((rc = run(c,
                  "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, "
                  "name text NOT NULL, applied bigint NOT NULL)",
                  err)))
        goto out;
    /* Every migration not yet recorded, in number order, rather than only
     * those above the highest: features land on separate branches. */
    for (size_t i = 0; i < mig.n; i++) {
        char ver[24], now[24];
        long v = td__migration_number(mig.names[i]);
        const char *p1[1] = {td__pg_i64(ver, v)};
        PGresult *r;
        if ((rc = td__pg_exec(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, p1, NULL,
                              NULL, &r, err)))
            goto out;
        int known = PQntuples(r) > 0;
        PQclear(r);
        if (known)
            continue;
        char path[1500];
        if ((rc = td__migration_read(&mig, i, &sql, path, sizeof path, err)))
            goto out;
        if ((rc = run(c, sql.data, err))) {
            td_error_at(err, path, 0, 0);
            goto out;
        }
        const char *p3[3] = {ver, mig.names[i], td__pg_i64(now, (int64_t)time(NULL))};
        if ((rc = td__pg_exec(c,
                              "INSERT INTO schema_migrations(version, name, applied) "
                              "VALUES ($1, $2, $3)",
                              3, p3, NULL, NULL, NULL, err)))
            goto out;
        count++;
    }
    /* The app reads the schema version (store.h schema_version). */
    if ((rc = run(c, "GRANT SELECT ON schema_migrations TO threatdesk_app", err)))
        goto out;
    rc = run(c, "COMMIT", err);
    if (!rc && applied)
        *applied = count;
out:
    td__pg_rollback(c);
    td__migrations_free(&mig);
    td_buf_release(&sql);
    return rc;
}

/* ---- audit chain ------------------------------------------------------- */

int td__pg_audit_append(struct td_pg *c, struct td_audit_entry *e, td__pg_audit_hash_fn *hash,
                        struct td_error *err)
{
    if (PQtransactionStatus(c->conn) != PQTRANS_INTRANS)
        return td_error_set(err, TD_EINVAL, "audit append outside a transaction");
    if (!e->details)
        return td_error_set(err, TD_EINVAL, "audit entry without details");
    char office[24];
    const char *po[1] = {td__pg_i64(office, e->office_id)};
    /* 1. Wait for the office's previous writer to commit or roll back. */
    int rc = td__pg_exec(c, LOCK_AUDIT, 1, po, NULL, NULL, NULL, err);
    if (rc)
        return rc;
    /* 2. The head, read by a statement that starts after the lock is ours:
     * in READ COMMITTED it sees the previous holder's committed entry (a
     * lock is released only after its commit is visible).  Also the
     * highest seq the office ever reached, to refuse to extend a chain
     * whose tail was deleted. */
    PGresult *r;
    if ((rc = td__pg_exec(c,
                          "SELECT a.seq, a.hash, h.seq FROM (SELECT 1) one "
                          "LEFT JOIN LATERAL (SELECT seq, hash FROM audit WHERE office_id = $1 "
                          "ORDER BY seq DESC LIMIT 1) a ON true "
                          "LEFT JOIN audit_heads h ON h.office_id = $1",
                          1, po, NULL, NULL, &r, err)))
        return rc;
    int64_t last = 0, ever = 0;
    if (!PQgetisnull(r, 0, 0)) {
        rc = td__pg_get_i64(r, 0, 0, &last, err);
        snprintf(e->prev_hash, sizeof e->prev_hash, "%s", PQgetvalue(r, 0, 1));
    } else {
        snprintf(e->prev_hash, sizeof e->prev_hash, "%s", ZERO_HASH);
    }
    if (!rc && !PQgetisnull(r, 0, 2))
        rc = td__pg_get_i64(r, 0, 2, &ever, err);
    PQclear(r);
    if (rc)
        return rc;
    if (ever != last)
        return td_error_set(err, TD_ESTORE,
                            "audit chain of office %s: head says entry %lld, last entry is %lld "
                            "(entries deleted?); run threatdesk verify",
                            office, (long long)ever, (long long)last);
    /* 3. Hash (the desk's canonical form, seq in the id slot) and insert
     * the entry and the new head in one statement. */
    e->id = last + 1;
    if ((rc = hash(e, e->hash)))
        return td_error_set(err, rc, "audit hash");
    char seq[24], tm[24], user[24], obj[24];
    const char *p[10] = {td__pg_i64(seq, e->id),
                         td__pg_i64(tm, e->time),
                         office,
                         td__pg_i64(user, e->user_id),
                         e->action,
                         e->object_type,
                         td__pg_i64(obj, e->object_id),
                         e->details,
                         e->prev_hash,
                         e->hash};
    return td__pg_exec(
        c,
        "WITH a AS (INSERT INTO audit(seq, time, office_id, user_id, action, object_type, "
        "object_id, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
        "RETURNING office_id, seq, hash) "
        "INSERT INTO audit_heads(office_id, seq, hash) SELECT office_id, seq, hash FROM a "
        "ON CONFLICT (office_id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash",
        10, p, NULL, NULL, NULL, err);
}

/* ---- jobs -------------------------------------------------------------- */

int td__pg_job_add(struct td_pg *c, int64_t office, const char *kind, const char *payload_ref,
                   int64_t available_at, int64_t *id, struct td_error *err)
{
    char o[24], at[24], now[24];
    const char *p[5] = {td__pg_i64(o, office), kind, payload_ref, td__pg_i64(at, available_at),
                        td__pg_i64(now, (int64_t)time(NULL))};
    PGresult *r;
    int rc = td__pg_exec(c,
                         "INSERT INTO jobs(office_id, kind, payload_ref, available_at, created) "
                         "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                         5, p, NULL, NULL, &r, err);
    if (rc)
        return rc;
    int64_t v = 0;
    rc = td__pg_get_i64(r, 0, 0, &v, err);
    PQclear(r);
    if (!rc && id)
        *id = v;
    return rc;
}

int td__pg_job_claim(struct td_pg *c, const char *worker, int64_t now, int64_t lease_seconds,
                     struct td__pg_job *job, struct td_error *err)
{
    char n[24], lease[24];
    const char *p[3] = {worker, td__pg_i64(n, now), td__pg_i64(lease, lease_seconds)};
    PGresult *r;
    /* The subquery picks and locks one due row, skipping rows other
     * claimers hold; FOR UPDATE re-checks the row's newest version, so a
     * job another worker claimed and committed meanwhile is not taken. */
    int rc =
        td__pg_exec(c,
                    "UPDATE jobs SET state = 'running', claimed_by = $1, claimed_at = $2::bigint, "
                    "lease_until = $2::bigint + $3::bigint, attempts = attempts + 1 "
                    "WHERE id = (SELECT id FROM jobs "
                    "WHERE (state = 'queued' AND available_at <= $2::bigint) "
                    "OR (state = 'running' AND lease_until < $2::bigint) "
                    "ORDER BY available_at, id FOR UPDATE SKIP LOCKED LIMIT 1) "
                    "RETURNING id, office_id, attempts, kind, payload_ref",
                    3, p, NULL, NULL, &r, err);
    if (rc)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return td_error_set(err, TD_ENOTFOUND, "no job due");
    }
    memset(job, 0, sizeof *job);
    rc = td__pg_get_i64(r, 0, 0, &job->id, err);
    if (!rc)
        rc = td__pg_get_i64(r, 0, 1, &job->office_id, err);
    if (!rc)
        rc = td__pg_get_i64(r, 0, 2, &job->attempts, err);
    snprintf(job->kind, sizeof job->kind, "%s", PQgetvalue(r, 0, 3));
    snprintf(job->payload_ref, sizeof job->payload_ref, "%s", PQgetvalue(r, 0, 4));
    PQclear(r);
    return rc;
}

int td__pg_job_finish(struct td_pg *c, int64_t id, const char *worker, int ok, const char *error,
                      int64_t now, int64_t retry_at, struct td_error *err)
{
    char i[24], n[24], retry[24];
    const char *state = ok ? "done" : retry_at > 0 ? "queued" : "failed";
    const char *p[6] = {
        td__pg_i64(i, id),          worker, state, ok ? NULL : error, td__pg_i64(n, now),
        td__pg_i64(retry, retry_at)};
    PGresult *r;
    int rc = td__pg_exec(c,
                         "UPDATE jobs SET state = $3, last_error = $4, "
                         "finished_at = CASE WHEN $3 = 'queued' THEN NULL ELSE $5::bigint END, "
                         "available_at = CASE WHEN $3 = 'queued' THEN $6::bigint "
                         "ELSE available_at END, "
                         "claimed_by = CASE WHEN $3 = 'queued' THEN NULL ELSE claimed_by END, "
                         "lease_until = NULL "
                         "WHERE id = $1 AND claimed_by = $2 AND state = 'running' RETURNING id",
                         6, p, NULL, NULL, &r, err);
    if (rc)
        return rc;
    int held = PQntuples(r) == 1;
    PQclear(r);
    return held ? TD_OK
                : td_error_set(err, TD_ENOTFOUND, "job %lld is not held by this worker",
                               (long long)id);
}

#else
/* Built without libpq (TD_POSTGRES=OFF): an empty unit needs a declaration. */
typedef int td__pg_disabled;
#endif /* TD_HAVE_POSTGRES */
