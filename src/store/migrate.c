/*
 * migrate.c - copy an SQLite store's offices into a PostgreSQL store
 * (threatdesk/migrate.h; `threatdesk migrate`, issue 11).
 *
 * The copy is driven by the TARGET's catalogue: for each table of the
 * desk, in an order that satisfies the foreign keys, the columns are the
 * PostgreSQL table's (information_schema), each read by name from the
 * SQLite table and bound as a parameter - text for everything (PostgreSQL
 * parses integers, reals and booleans from text exactly), binary for
 * bytea.  A column present on one side only means the schemas are not the
 * same version: refused before anything is written.  Table and column
 * names are the schema's own, quoted as identifiers; no value is ever
 * spliced into SQL.
 *
 * Ids are kept (audit entries hash object ids), so every identity is moved
 * past the highest id afterwards.  The audit chain is copied entry for
 * entry with its hashes: SQLite's chain is one per file and its entry id
 * is what the hash covers; PostgreSQL's is one per office, the hash
 * covering `seq`.  So seq = the SQLite id, which keeps every hash valid
 * exactly when the office's entries are entries 1..n of the source chain
 * (a store of one office, or the office all of whose entries came first).
 * Anything else is refused, not re-hashed.  audit_heads gets the highest
 * id SQLite ever used (sqlite_sequence) when the office owns the whole
 * chain, so a tail deleted in the source still shows in the target.
 *
 * login_failures (short-lived lock-out counters, keyed by name and source,
 * not by office) are not copied.
 */
#include "threatdesk/migrate.h"

#ifndef TD_HAVE_POSTGRES

int td_migrate_sqlite_to_pg(const char *sqlite_path, const char *pg_url,
                            const struct td_migrate_opts *opts, struct td_migrate_stats *stats,
                            struct td_error *err)
{
    (void)sqlite_path, (void)pg_url, (void)opts, (void)stats;
    return td_error_set(err, TD_EFORMAT, "built without PostgreSQL support (libpq)");
}

#else

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "store/pg_int.h"
#include "threatdesk/buf.h"

#define COLS_MAX 64
#define SQL_MAX (16u * 1024)

/* The desk's tables in foreign-key order; `where` selects one office's
 * rows in SQLite (? = the office id).  Tables without an office_id
 * column follow their parent. */
static const struct table {
    const char *name;
    const char *where;
} tables[] = {
    {"offices", "id = ?"},
    {"users", "office_id = ?"},
    {"sessions", "user_id IN (SELECT id FROM users WHERE office_id = ?)"},
    {"api_keys", "user_id IN (SELECT id FROM users WHERE office_id = ?)"},
    {"messages", "office_id = ?"},
    {"message_vectors", "office_id = ?"},
    {"senders", "office_id = ?"},
    {"cases", "office_id = ?"},
    {"case_messages", "case_id IN (SELECT id FROM cases WHERE office_id = ?)"},
    {"evidence", "office_id = ?"},
    {"notes", "office_id = ?"},
    {"feedback", "office_id = ?"},
    {"alert_recipients", "office_id = ?"},
    {"alert_rules", "office_id = ?"},
    {"alerts", "office_id = ?"},
    {"alert_deliveries", "office_id = ?"},
    {"alert_attempts", "delivery_id IN (SELECT id FROM alert_deliveries WHERE office_id = ?)"},
};

struct mig {
    sqlite3 *db;
    struct td_pg *pg;
    td_migrate_hash_fn *rechain;
    td_migrate_evidence_cb *evidence;
    void *ud;
    struct td_migrate_stats st;
};

static int sq_fail(struct mig *m, const char *what, struct td_error *err)
{
    return td_error_set(err, TD_ESTORE, "source %s: %s", what, sqlite3_errmsg(m->db));
}

/* Append "name" quoted as an SQL identifier (both dialects). */
static int quote_ident(struct td_buf *b, const char *name)
{
    int rc = td_buf_putc(b, '"');
    for (const char *p = name; !rc && *p; p++)
        rc = *p == '"' ? td_buf_append(b, "\"\"", 2) : td_buf_putc(b, *p);
    return rc ? rc : td_buf_putc(b, '"');
}

/* One integer from a one-row SQLite query; ?1 is bound to bind (text)
 * when given, else to num. */
static int sq_int(struct mig *m, const char *sql, const char *bind, int64_t num, int64_t *v,
                  struct td_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = TD_OK;
    *v = 0;
    if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sq_fail(m, sql, err);
    if (sqlite3_bind_parameter_count(st) > 0) {
        if (bind)
            sqlite3_bind_text(st, 1, bind, -1, SQLITE_STATIC);
        else
            sqlite3_bind_int64(st, 1, num);
    }
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *v = sqlite3_column_int64(st, 0);
    else if (s != SQLITE_DONE)
        rc = sq_fail(m, sql, err);
    sqlite3_finalize(st);
    return rc;
}

static int schema_versions(struct mig *m, struct td_error *err)
{
    int64_t sv, pv;
    PGresult *r = NULL;
    int rc = sq_int(m, "SELECT coalesce(max(version), 0) FROM schema_version", NULL, 0, &sv, err);
    if (rc)
        return rc;
    if ((rc = td__pg_exec(m->pg, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL,
                          NULL, NULL, &r, err)))
        return rc;
    rc = td__pg_get_i64(r, 0, 0, &pv, err);
    PQclear(r);
    if (rc)
        return rc;
    if (sv != pv)
        return td_error_set(err, TD_EFORMAT,
                            "the source is at schema version %" PRId64 " and the target at %" PRId64
                            ": open both with this threatdesk first, so both are migrated",
                            sv, pv);
    return TD_OK;
}

/* The target table's columns (name, is bytea), in table order. */
struct cols {
    int n;
    char name[COLS_MAX][64];
    int bytea[COLS_MAX];
};

static int target_cols(struct mig *m, const char *table, struct cols *c, struct td_error *err)
{
    PGresult *r = NULL;
    const char *p[1] = {table};
    int rc = td__pg_exec(m->pg,
                         "SELECT column_name, data_type FROM information_schema.columns "
                         "WHERE table_schema = current_schema() AND table_name = $1 "
                         /* a generated column (messages.unreviewed, 0009) is
                          * computed by each database, never copied; SQLite's
                          * table_info does not list it either */
                         "AND is_generated = 'NEVER' ORDER BY ordinal_position",
                         1, p, NULL, NULL, &r, err);
    if (rc)
        return rc;
    c->n = PQntuples(r);
    if (c->n == 0 || c->n > COLS_MAX)
        rc = td_error_set(err, TD_EFORMAT, "target table %s: %d columns", table, c->n);
    for (int i = 0; !rc && i < c->n; i++) {
        snprintf(c->name[i], sizeof c->name[i], "%s", PQgetvalue(r, i, 0));
        c->bytea[i] = !strcmp(PQgetvalue(r, i, 1), "bytea");
    }
    PQclear(r);
    return rc;
}

/* Every source column must be a target column and the other way round
 * (skip: a target-only column the caller fills itself, or NULL). */
static int same_cols(struct mig *m, const char *table, const struct cols *c, const char *skip,
                     struct td_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = TD_OK, seen = 0;
    if (sqlite3_prepare_v2(m->db, "SELECT name FROM pragma_table_info(?)", -1, &st, NULL) !=
        SQLITE_OK)
        return sq_fail(m, "table_info", err);
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    int s;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        int found = 0;
        for (int i = 0; name && i < c->n && !found; i++)
            found = !strcmp(c->name[i], name);
        if (!found)
            rc = td_error_set(err, TD_EFORMAT,
                              "table %s: column %s is in the source only: not the same schema",
                              table, name ? name : "?");
        seen++;
    }
    if (!rc && s != SQLITE_DONE)
        rc = sq_fail(m, "table_info", err);
    sqlite3_finalize(st);
    if (!rc && seen != c->n - (skip ? 1 : 0))
        rc = td_error_set(err, TD_EFORMAT,
                          "table %s: the target has %d columns, the source %d: not the same schema",
                          table, c->n - (skip ? 1 : 0), seen);
    return rc;
}

/* Re-word a failed insert so it names the table and the row. */
static int row_fail(int rc, const char *table, const char *row, struct td_error *err)
{
    char msg[sizeof err->message];
    snprintf(msg, sizeof msg, "%s", err->message);
    return td_error_set(err, rc, "copying %s row %s: %s (nothing was copied)", table, row, msg);
}

/* A failed prepared statement as a td_error, the way td__pg_exec words
 * them: the SQLSTATE (also in err->field) and PostgreSQL's message. */
static int pg_fail(struct mig *m, const PGresult *r, struct td_error *err)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    int code = TD_ESTORE;
    if (state && !strcmp(state, "23505"))
        code = TD_EEXISTS;
    else if (state && !strcmp(state, "42501"))
        code = TD_EDENIED;
    else if (!state && PQstatus(td__pg_conn(m->pg)) == CONNECTION_BAD)
        code = TD_ENET;
    int rc = td_error_set(err, code, "SQLSTATE %s: %s", state ? state : "?????",
                          msg ? msg : PQerrorMessage(td__pg_conn(m->pg)));
    if (state)
        td_error_field(err, state);
    return rc;
}

static int copy_table(struct mig *m, const struct table *t, int64_t office, struct td_error *err)
{
    struct cols c;
    struct td_buf sel, ins;
    sqlite3_stmt *st = NULL;
    int rc, evidence_col = -1, prepared = 0;
    td_buf_init(&sel, SQL_MAX);
    td_buf_init(&ins, SQL_MAX);
    if ((rc = target_cols(m, t->name, &c, err)) || (rc = same_cols(m, t->name, &c, NULL, err)))
        goto out;
    rc = td_buf_append(&sel, "SELECT ", 7);
    if (!rc)
        rc = td_buf_append(&ins, "INSERT INTO ", 12);
    if (!rc)
        rc = quote_ident(&ins, t->name);
    if (!rc)
        rc = td_buf_append(&ins, " (", 2);
    for (int i = 0; !rc && i < c.n; i++) {
        if (i && !(rc = td_buf_putc(&sel, ',')))
            rc = td_buf_putc(&ins, ',');
        if (!rc)
            rc = quote_ident(&sel, c.name[i]);
        if (!rc)
            rc = quote_ident(&ins, c.name[i]);
        if (!strcmp(t->name, "evidence") && !strcmp(c.name[i], "sha256"))
            evidence_col = i;
    }
    if (!rc)
        rc = td_buf_printf(&sel, " FROM \"%s\" WHERE %s", t->name, t->where);
    if (!rc)
        rc = td_buf_append(&ins, ") VALUES (", 10);
    for (int i = 0; !rc && i < c.n; i++)
        rc = td_buf_printf(&ins, "%s$%d", i ? "," : "", i + 1);
    if (!rc)
        rc = td_buf_putc(&ins, ')');
    if (rc) {
        td_error_set(err, rc, "%s: statement too long", t->name);
        goto out;
    }
    if (sqlite3_prepare_v2(m->db, sel.data, -1, &st, NULL) != SQLITE_OK) {
        rc = sq_fail(m, t->name, err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, office);
    /* Prepared once per table: a store is mostly rows of a few tables,
     * and parsing the same INSERT for each would be most of the work. */
    PGconn *pc = td__pg_conn(m->pg);
    char stname[48];
    snprintf(stname, sizeof stname, "td_migrate_%s", t->name);
    PGresult *pr = PQprepare(pc, stname, ins.data, c.n, NULL);
    if (!pr || PQresultStatus(pr) != PGRES_COMMAND_OK) {
        rc = pg_fail(m, pr, err);
        PQclear(pr);
        goto out;
    }
    PQclear(pr);
    prepared = 1;
    const char *vals[COLS_MAX];
    int lens[COLS_MAX], fmts[COLS_MAX];
    char reals[COLS_MAX][32];
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < c.n; i++) {
            int type = sqlite3_column_type(st, i);
            lens[i] = 0;
            fmts[i] = 0;
            if (type == SQLITE_NULL) {
                vals[i] = NULL;
            } else if (c.bytea[i]) {
                /* bytes exactly as stored: messages.original is hashed */
                const void *b = sqlite3_column_blob(st, i);
                lens[i] = sqlite3_column_bytes(st, i);
                vals[i] = b ? b : "";
                fmts[i] = 1;
            } else if (type == SQLITE_FLOAT) {
                /* %.17g round-trips a double; SQLite's own text has 15 digits */
                snprintf(reals[i], sizeof reals[i], "%.17g", sqlite3_column_double(st, i));
                vals[i] = reals[i];
            } else {
                vals[i] = (const char *)sqlite3_column_text(st, i);
                if (!vals[i]) {
                    rc = td_error_set(err, TD_ENOMEM, NULL);
                    goto out;
                }
            }
        }
        pr = PQexecPrepared(pc, stname, c.n, vals, lens, fmts, 0);
        if (!pr || PQresultStatus(pr) != PGRES_COMMAND_OK)
            rc = pg_fail(m, pr, err);
        PQclear(pr);
        if (rc) {
            char row[160];
            snprintf(row, sizeof row, "%s=%.60s", c.name[0],
                     vals[0] && !fmts[0] ? vals[0] : "(binary)");
            rc = row_fail(rc, t->name, row, err);
            goto out;
        }
        m->st.rows++;
        if (evidence_col >= 0 && vals[evidence_col]) {
            m->st.evidence++;
            if (m->evidence && (rc = m->evidence(m->ud, vals[evidence_col], err)))
                goto out;
        }
    }
    if (s != SQLITE_DONE)
        rc = sq_fail(m, t->name, err);
out:
    /* the name is taken again by the next office's copy of the table */
    if (prepared && !rc) {
        char dealloc[96];
        snprintf(dealloc, sizeof dealloc, "DEALLOCATE td_migrate_%s", t->name);
        rc = td__pg_exec(m->pg, dealloc, 0, NULL, NULL, NULL, NULL, err);
    }
    sqlite3_finalize(st);
    td_buf_release(&sel);
    td_buf_release(&ins);
    return rc;
}

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/* Lock the office's chain as the store's append does (pg_conn.c) - a
 * server writing office 0's entries meanwhile waits for the commit - and
 * read its head in the target: seq 0 and "" when it has none. */
static int target_head(struct mig *m, int64_t office, int64_t *seq, char hash[65],
                       struct td_error *err)
{
    char o[24];
    const char *v[1] = {td__pg_i64(o, office)};
    PGresult *r = NULL;
    int rc = td__pg_exec(m->pg,
                         "SELECT pg_advisory_xact_lock(hashtextextended('threatdesk.audit', "
                         "$1::bigint))",
                         1, v, NULL, NULL, NULL, err);
    if (!rc)
        rc = td__pg_exec(m->pg, "SELECT seq, hash FROM audit_heads WHERE office_id = $1", 1, v,
                         NULL, NULL, &r, err);
    *seq = 0;
    hash[0] = '\0';
    if (!rc && PQntuples(r) == 1) {
        rc = td__pg_get_i64(r, 0, 0, seq, err);
        snprintf(hash, 65, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return rc;
}

static int insert_entry(struct mig *m, const struct td_audit_entry *e, int64_t src_id,
                        struct td_error *err)
{
    char b[5][24];
    const char *v[10] = {td__pg_i64(b[0], e->id),
                         td__pg_i64(b[1], e->time),
                         td__pg_i64(b[2], e->office_id),
                         td__pg_i64(b[3], e->user_id),
                         e->action,
                         e->object_type,
                         td__pg_i64(b[4], e->object_id),
                         e->details,
                         e->prev_hash,
                         e->hash};
    int rc = td__pg_exec(m->pg,
                         "INSERT INTO audit (seq, time, office_id, user_id, action, object_type, "
                         "object_id, details, prev_hash, hash) "
                         "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
                         10, v, NULL, NULL, NULL, err);
    if (rc) {
        char row[32];
        snprintf(row, sizeof row, "id=%" PRId64, src_id);
        return row_fail(rc, "audit", row, err);
    }
    m->st.rows++;
    m->st.audit_entries++;
    return TD_OK;
}

/* Move (or start) the office's head; the table's trigger lets it move
 * forward only, to the chain's last entry with its hash (0013), so a
 * re-chain moves it after each entry it adds. */
static int head_set(struct mig *m, int64_t office, int64_t seq, const char *hash,
                    struct td_error *err)
{
    char o[24], q[24];
    const char *v[3] = {td__pg_i64(o, office), td__pg_i64(q, seq), hash};
    int rc = td__pg_exec(m->pg,
                         "INSERT INTO audit_heads (office_id, seq, hash) VALUES ($1,$2,$3) "
                         "ON CONFLICT (office_id) DO UPDATE SET seq = EXCLUDED.seq, "
                         "hash = EXCLUDED.hash",
                         3, v, NULL, NULL, NULL, err);
    return rc ? row_fail(rc, "audit_heads", o, err) : TD_OK;
}

/* The office's audit entries.  Kept as they are (seq = the SQLite id,
 * hashes unchanged) when they are entries 1..n of the source chain and
 * the target has no chain for the office; otherwise re-chained when the
 * caller allows it, else refused. */
static int copy_audit(struct mig *m, int64_t office, const char *name, struct td_error *err)
{
    struct cols c;
    int rc;
    if ((rc = target_cols(m, "audit", &c, err)) || (rc = same_cols(m, "audit", &c, "seq", err)))
        return rc;
    int64_t n, first_n, others, head_seq;
    char head_hash[65];
    if ((rc =
             sq_int(m, "SELECT count(*) FROM audit WHERE office_id = ?1", NULL, office, &n, err)) ||
        (rc = sq_int(m, "SELECT count(*) FROM audit WHERE office_id <> ?1", NULL, office, &others,
                     err)))
        return rc;
    if (n == 0)
        return TD_OK;
    /* ids are distinct and positive: n of them at or below n are 1..n */
    char q[128];
    snprintf(q, sizeof q, "SELECT count(*) FROM audit WHERE office_id = ?1 AND id <= %" PRId64, n);
    if ((rc = sq_int(m, q, NULL, office, &first_n, err)) ||
        (rc = target_head(m, office, &head_seq, head_hash, err)))
        return rc;
    int keep = first_n == n && head_seq == 0;
    if (!keep && !m->rechain)
        return td_error_set(
            err, TD_EFORMAT,
            "office '%s': %s, so its entries cannot keep their hashes in a chain of their own "
            "(SQLite keeps one chain per file, PostgreSQL one per office); --rechain re-hashes "
            "them after verifying the source (nothing was copied)",
            name,
            head_seq ? "the target already has a chain for it"
                     : "its audit entries are interleaved with other offices' in the source");

    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(m->db,
                           "SELECT id, time, office_id, user_id, action, object_type, object_id, "
                           "details, prev_hash, hash FROM audit WHERE office_id = ? ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return sq_fail(m, "audit", err);
    sqlite3_bind_int64(st, 1, office);
    int64_t seq = head_seq;
    char last[65];
    snprintf(last, sizeof last, "%s", head_seq ? head_hash : ZERO_HASH);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        struct td_audit_entry e;
        memset(&e, 0, sizeof e);
        int64_t src_id = sqlite3_column_int64(st, 0);
        const char *action = (const char *)sqlite3_column_text(st, 4);
        const char *otype = (const char *)sqlite3_column_text(st, 5);
        const char *prev = (const char *)sqlite3_column_text(st, 8);
        const char *hash = (const char *)sqlite3_column_text(st, 9);
        e.details = (char *)sqlite3_column_text(st, 7);
        if (!action || !otype || !prev || !hash || !e.details ||
            strlen(action) >= sizeof e.action || strlen(otype) >= sizeof e.object_type ||
            strlen(prev) >= sizeof e.prev_hash || strlen(hash) >= sizeof e.hash) {
            rc = td_error_set(err, TD_EFORMAT, "source audit entry %" PRId64 ": malformed", src_id);
            goto out;
        }
        e.id = src_id;
        e.time = sqlite3_column_int64(st, 1);
        e.office_id = sqlite3_column_int64(st, 2);
        e.user_id = sqlite3_column_int64(st, 3);
        e.object_id = sqlite3_column_int64(st, 6);
        snprintf(e.action, sizeof e.action, "%s", action);
        snprintf(e.object_type, sizeof e.object_type, "%s", otype);
        snprintf(e.prev_hash, sizeof e.prev_hash, "%s", prev);
        snprintf(e.hash, sizeof e.hash, "%s", hash);
        if (!keep) {
            /* the same entry in the office's own chain: its place and
             * link change, so does its hash - everything else stays */
            e.id = ++seq;
            snprintf(e.prev_hash, sizeof e.prev_hash, "%s", last);
            if ((rc = m->rechain(&e, e.hash))) {
                td_error_set(err, rc, "re-hashing audit entry %" PRId64, src_id);
                goto out;
            }
            m->st.rechained++;
        }
        if ((rc = insert_entry(m, &e, src_id, err)))
            goto out;
        if (!keep && (rc = head_set(m, office, e.id, e.hash, err)))
            goto out;
        snprintf(last, sizeof last, "%s", e.hash);
    }
    if (s != SQLITE_DONE) {
        rc = sq_fail(m, "audit", err);
        goto out;
    }
    if (keep) {
        /* The highest id ever used: a tail deleted in the source keeps
         * showing in the target (verify compares the chain with its
         * head). */
        int64_t head = n, used = 0;
        if (others == 0 &&
            (rc = sq_int(m, "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = ?",
                         "audit", 0, &used, err)))
            goto out;
        rc = head_set(m, office, used > head ? used : head, last, err);
        goto out;
    }
    /* Re-chained: say so in the chain itself, naming the source chain's
     * head, which the source's verify checked before the copy. */
    int64_t src_head = 0;
    char src_hash[65] = "";
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(m->db, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", -1, &st,
                           NULL) != SQLITE_OK) {
        rc = sq_fail(m, "audit", err);
        goto out;
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 1);
        src_head = sqlite3_column_int64(st, 0);
        /* hex only: it goes into JSON below unescaped */
        if (h && strlen(h) == 64 && strspn(h, "0123456789abcdef") == 64)
            snprintf(src_hash, sizeof src_hash, "%s", h);
    }
    char details[256];
    snprintf(details, sizeof details,
             "{\"entries\":%" PRId64 ",\"source\":\"sqlite\",\"source_head\":{\"hash\":\"%s\","
             "\"id\":%" PRId64 "}}",
             seq - head_seq, src_hash, src_head);
    struct td_audit_entry e;
    memset(&e, 0, sizeof e);
    e.id = ++seq;
    e.time = (int64_t)time(NULL);
    e.office_id = office;
    snprintf(e.action, sizeof e.action, "store.migrate");
    snprintf(e.object_type, sizeof e.object_type, "office");
    e.object_id = office;
    e.details = details;
    snprintf(e.prev_hash, sizeof e.prev_hash, "%s", last);
    if ((rc = m->rechain(&e, e.hash))) {
        td_error_set(err, rc, "hashing the migration entry");
        goto out;
    }
    if (!(rc = insert_entry(m, &e, 0, err)))
        rc = head_set(m, office, e.id, e.hash, err);
out:
    sqlite3_finalize(st);
    return rc;
}

static int copy_office(struct mig *m, int64_t id, const char *name, struct td_error *err)
{
    PGresult *r = NULL;
    const char *p[1] = {name};
    int rc = td__pg_exec(m->pg, "SELECT 1 FROM offices WHERE name = $1", 1, p, NULL, NULL, &r, err);
    if (rc)
        return rc;
    int taken = PQntuples(r) > 0;
    PQclear(r);
    if (taken)
        return td_error_set(err, TD_EEXISTS,
                            "the target already holds office '%s': nothing was copied", name);
    char o[24];
    p[0] = td__pg_i64(o, id);
    if ((rc = td__pg_exec(m->pg, "SELECT name FROM offices WHERE id = $1", 1, p, NULL, NULL, &r,
                          err)))
        return rc;
    if (PQntuples(r) > 0)
        rc = td_error_set(err, TD_EEXISTS,
                          "office '%s' keeps its id %" PRId64
                          ", which the target's office '%s' has: nothing was copied",
                          name, id, PQgetvalue(r, 0, 0));
    PQclear(r);
    if (rc)
        return rc;
    /* Row-level security: the office's rows go in under its own name. */
    if ((rc = td__pg_set_office(m->pg, id, err)))
        return rc;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        if ((rc = copy_table(m, &tables[i], id, err)))
            return rc;
    if ((rc = copy_audit(m, id, name, err)))
        return rc;
    m->st.offices++;
    return TD_OK;
}

/* Move each identity past the highest id now in its table (copied ids
 * were given explicitly, which does not advance the sequence). */
static int move_identities(struct mig *m, struct td_error *err)
{
    PGresult *r = NULL;
    /* '*': every office's rows, as the store's cross-office jobs see them
     * (0010), so max(id) is the table's, not the last office's. */
    int rc = td__pg_exec(m->pg, "SELECT set_config('threatdesk.office_id', '*', true)", 0, NULL,
                         NULL, NULL, NULL, err);
    if (!rc)
        rc = td__pg_exec(m->pg,
                         "SELECT table_name, column_name FROM information_schema.columns "
                         "WHERE table_schema = current_schema() AND is_identity = 'YES'",
                         0, NULL, NULL, NULL, &r, err);
    for (int i = 0; !rc && i < PQntuples(r); i++) {
        struct td_buf b;
        td_buf_init(&b, SQL_MAX);
        const char *t = PQgetvalue(r, i, 0), *col = PQgetvalue(r, i, 1);
        rc = td_buf_append(&b, "SELECT setval(pg_get_serial_sequence($1, $2), m) FROM (SELECT max(",
                           66);
        if (!rc)
            rc = quote_ident(&b, col);
        if (!rc)
            rc = td_buf_append(&b, ") AS m FROM ", 12);
        if (!rc)
            rc = quote_ident(&b, t);
        if (!rc)
            rc = td_buf_printf(&b, "%s",
                               ") x WHERE m IS NOT NULL AND m > coalesce("
                               "pg_sequence_last_value(pg_get_serial_sequence($1, "
                               "$2)::regclass), 0)");
        const char *v[2] = {t, col};
        if (!rc)
            rc = td__pg_exec(m->pg, b.data, 2, v, NULL, NULL, NULL, err);
        else
            td_error_set(err, rc, "identity of %s", t);
        td_buf_release(&b);
    }
    PQclear(r);
    return rc;
}

int td_migrate_sqlite_to_pg(const char *sqlite_path, const char *pg_url,
                            const struct td_migrate_opts *opts, struct td_migrate_stats *stats,
                            struct td_error *err)
{
    struct mig m;
    memset(&m, 0, sizeof m);
    const char *office = opts ? opts->office : NULL;
    m.evidence = opts ? opts->evidence : NULL;
    m.ud = opts ? opts->ud : NULL;
    m.rechain = opts ? opts->rechain : NULL;
    int rc, began = 0;
    if (!strncmp(sqlite_path, "sqlite:", 7))
        sqlite_path += 7;
    if (sqlite3_open_v2(sqlite_path, &m.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        rc = td_error_set(err, TD_EIO, "%s: %s", sqlite_path,
                          m.db ? sqlite3_errmsg(m.db) : "cannot open");
        goto out;
    }
    if ((rc = td__pg_connect(pg_url, &m.pg, err)) || (rc = schema_versions(&m, err)))
        goto out;
    /* One read transaction on the source: a desk still writing to it
     * cannot give the copy half an ingest. */
    if (sqlite3_exec(m.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        rc = sq_fail(&m, "BEGIN", err);
        goto out;
    }
    if ((rc = td__pg_begin(m.pg, -1, err)))
        goto out;
    began = 1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(m.db,
                           "SELECT id, name FROM offices WHERE ?1 IS NULL OR name = ?1 ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sq_fail(&m, "offices", err);
        goto out;
    }
    if (office)
        sqlite3_bind_text(st, 1, office, -1, SQLITE_STATIC);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        char name[256];
        const char *nm = (const char *)sqlite3_column_text(st, 1);
        snprintf(name, sizeof name, "%s", nm ? nm : "");
        if ((rc = copy_office(&m, sqlite3_column_int64(st, 0), name, err)))
            break;
    }
    if (!rc && s != SQLITE_DONE)
        rc = sq_fail(&m, "offices", err);
    sqlite3_finalize(st);
    if (!rc && m.st.offices == 0)
        rc = office ? td_error_set(err, TD_ENOTFOUND, "no office '%s' in the source", office)
                    : td_error_set(err, TD_ENOTFOUND, "the source holds no office");
    /* Office 0's entries (operator actions, failed logins of unknown
     * names) belong to no office: copied with the whole store only. */
    if (!rc && !office && !(rc = td__pg_set_office(m.pg, 0, err)))
        rc = copy_audit(&m, 0, "(no office: operator entries)", err);
    if (!rc)
        rc = move_identities(&m, err);
    if (!rc && !(rc = td__pg_commit(m.pg, err)))
        began = 0;
out:
    if (began)
        td__pg_rollback(m.pg);
    td__pg_close(m.pg);
    if (m.db) {
        sqlite3_exec(m.db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(m.db);
    }
    if (stats)
        *stats = rc ? (struct td_migrate_stats){0} : m.st;
    return rc;
}

#endif /* TD_HAVE_POSTGRES */
