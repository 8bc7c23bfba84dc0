/*
 * pg_store.c - the PostgreSQL backend of store.h (postgres://): open and
 * migrate, transactions, the office scope for row-level security, the
 * JSON rows, and the ops of offices, users, sessions, API keys, audit,
 * verify and retention; the ops table.  Messages and senders live in
 * pg_messages.c, cases, notes and evidence in pg_cases.c (pg_store_int.h),
 * the feedback, alert and export ops in pg_feedback.c, pg_alerts.c and
 * pg_export.c, the work queue and uploads in pg_jobs.c (pg_ops.h).
 *
 * Every op behaves as its SQLite twin in sqlite.c (same errors, same JSON
 * shapes, same paging): tests/unit run against both.  Statements are
 * parameterised only (td__pg_exec); every query on an office's rows says
 * office_id = $n itself AND runs under the office named by td__pgs_scope,
 * so row-level security is a second wall behind the WHERE clause.
 *
 * Where PostgreSQL differs from SQLite in a way the desk could notice:
 *  - a failed statement aborts the whole transaction, so inserts that may
 *    meet a UNIQUE use ON CONFLICT DO NOTHING and report TD_EEXISTS
 *    themselves, leaving the desk's transaction usable as in SQLite;
 *  - the audit chain is one per office (docs/postgres.md): audit_head
 *    takes the office's advisory lock, audit_scan walks office by office
 *    and audit_chains answers each office's highest seq for verify.
 */
#ifdef TD_HAVE_POSTGRES

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/pg_store_int.h"
#include "store/store_int.h"
#include "threatdesk/buf.h"
#include "threatdesk/taxonomy.h"

/* The scope cache: what threatdesk.office_id holds right now. */
#define SCOPE_UNKNOWN INT64_MIN
#define SCOPE_ALL (-1)

#define LOCK_AUDIT "SELECT pg_advisory_xact_lock(hashtextextended('threatdesk.audit', $1::bigint))"

/* audit columns a flush sends as arrays: seq, time, user_id, action,
 * object_type, object_id, details, prev_hash, hash */
#define PEND_COLS 9
/* entries a transaction holds back at most before it sends them */
#define PEND_MAX 1000
/* the cap of one column's array literal */
#define PEND_BYTES ((size_t)64 << 20)
/* message ids a transaction takes ahead at most in one statement */
#define ID_POOL_MAX 1000

struct pgs {
    struct td_store base; /* first: td_store * <-> struct pgs * */
    struct td_pg *c;
    int in_tx;       /* a store transaction (begin) is open */
    int64_t cur;     /* the office the next statement acts for (cache) */
    int64_t session; /* the session-level value, what `cur` falls back to */
    /* The head of the chain this transaction last appended to: the
     * office's advisory lock is ours until the transaction ends, so no
     * one else can move it, and the next entry of a batch needs neither
     * the lock nor the head query again (two round trips per message).
     * Forgotten when the transaction ends or rolls back to a savepoint
     * (which may undo the append). */
    int64_t locked;      /* the office whose audit lock audit_head took, -1 */
    int64_t head_office; /* -1: nothing known */
    int64_t head_seq;
    char head_hash[65];
    /* Entries appended under that lock and not sent yet (pend_n of them,
     * all of office pend_office): one INSERT of all their rows and one move
     * of the office's head to the last (head_flush, 0013_audit_head_batch),
     * sent ahead before a SAVEPOINT, RELEASE or COMMIT, a read of the
     * audit, or another office's head.  Dropped with what ROLLBACK (TO)
     * undoes: a savepoint was only ever made after a flush. */
    size_t pend_n;
    int64_t pend_office;
    int64_t pend_seq;
    char pend_hash[65];
    struct td_buf pend[PEND_COLS]; /* one array literal per column */
    /* Sender tallies held back the same way (sender_record inside a
     * transaction), one per sender of office held_office, summed: sent as
     * one upsert by senders_flush, with the audit entries.  The ingest
     * lookup adds a held-back tally's threats to the stored one. */
    struct held_sender *held;
    size_t nheld, capheld;
    int64_t held_office;
    /* Message ids taken from the messages' sequence ahead, inside this
     * transaction (td__pgs_message_id): ids[at..n) not used yet.  A batch
     * takes as many as it may file in one round trip, so that each
     * message's INSERT can be sent ahead instead of waiting for its id.
     * Dropped when the transaction ends (unused ones are gaps, as a rolled
     * back INSERT's id always was). */
    int64_t ids[ID_POOL_MAX];
    size_t nids, atids;
};

struct held_sender {
    char *key, *display;
    int64_t messages, threats, worst, first, last;
};

static struct pgs *PGS(struct td_store *s)
{
    return (struct pgs *)s;
}

struct td_pg *td__pgs_conn(struct td_store *s)
{
    return PGS(s)->c;
}

/* ---- the audit entries a transaction holds back ------------------------- */

static void pend_drop(struct pgs *p)
{
    for (int i = 0; i < PEND_COLS; i++)
        td_buf_reset(&p->pend[i]);
    p->pend_n = 0;
    p->pend_office = -1;
}

/* One element of a PostgreSQL array literal: numbers as they are, text in
 * double quotes with " and \ escaped.  The literal is a bound parameter,
 * never SQL. */
static int pend_add(struct td_buf *b, const char *v, int quote)
{
    if (!b->max)
        td_buf_init(b, PEND_BYTES);
    int rc = td_buf_putc(b, b->len ? ',' : '{');
    if (!quote)
        return rc ? rc : td_buf_append(b, v, strlen(v));
    if (!rc)
        rc = td_buf_putc(b, '"');
    while (!rc && *v) {
        size_t k = strcspn(v, "\"\\");
        rc = td_buf_append(b, v, k);
        v += k;
        if (!rc && *v) {
            char esc[2] = {'\\', *v++};
            rc = td_buf_append(b, esc, 2);
        }
    }
    return rc ? rc : td_buf_putc(b, '"');
}

static int head_flush(struct pgs *p, struct td_error *err);

static void senders_drop(struct pgs *p)
{
    for (size_t i = 0; i < p->nheld; i++) {
        free(p->held[i].key);
        free(p->held[i].display);
    }
    p->nheld = 0;
}

/* Everything held back dropped: what ROLLBACK (TO) undid. */
static void held_drop(struct pgs *p)
{
    pend_drop(p);
    senders_drop(p);
}

/* The held-back tallies as one upsert, in key order (two transactions
 * never take the same rows' locks the other way round), sent ahead. */
static int senders_flush(struct pgs *p, struct td_error *err)
{
    if (!p->nheld)
        return TD_OK;
    struct td_store *s = &p->base;
    struct td_buf b[7];
    char n[24];
    int rc = TD_OK;
    for (int j = 0; j < 7; j++)
        td_buf_init(&b[j], PEND_BYTES);
    for (size_t i = 0; !rc && i < p->nheld; i++) {
        const struct held_sender *h = &p->held[i];
        rc = pend_add(&b[0], h->key, 1);
        if (!rc)
            rc = h->display ? pend_add(&b[1], h->display, 1) : pend_add(&b[1], "NULL", 0);
        if (!rc)
            rc = pend_add(&b[2], td__pg_i64(n, h->messages), 0);
        if (!rc)
            rc = pend_add(&b[3], td__pg_i64(n, h->threats), 0);
        if (!rc)
            rc = pend_add(&b[4], td__pg_i64(n, h->worst), 0);
        if (!rc)
            rc = pend_add(&b[5], td__pg_i64(n, h->first), 0);
        if (!rc)
            rc = pend_add(&b[6], td__pg_i64(n, h->last), 0);
    }
    for (int j = 0; !rc && j < 7; j++)
        rc = td_buf_putc(&b[j], '}');
    if (rc)
        rc = td_error_set(err, rc, "sender tallies held back");
    if (!rc)
        rc = td__pgs_scope(s, p->held_office, err);
    if (!rc) {
        struct td__pga a = {0};
        td__pga_i(&a, p->held_office);
        for (int j = 0; j < 7; j++)
            td__pga_t(&a, b[j].data);
        rc = td__pgs_defer(
            s, NULL,
            "INSERT INTO senders AS x(office_id, key, display, messages, threats, "
            "worst_severity, first_seen, last_seen) "
            "SELECT $1::bigint, u.key, u.display, u.messages, u.threats, u.worst, u.first, u.last "
            "FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], "
            "$7::bigint[], $8::bigint[]) AS u(key, display, messages, threats, worst, first, last) "
            "ORDER BY u.key "
            "ON CONFLICT (office_id, key) DO UPDATE SET "
            "display = coalesce(excluded.display, x.display), messages = x.messages + "
            "excluded.messages, threats = x.threats + excluded.threats, "
            "worst_severity = greatest(x.worst_severity, excluded.worst_severity), "
            "first_seen = least(x.first_seen, excluded.first_seen), "
            "last_seen = greatest(x.last_seen, excluded.last_seen)",
            &a, err);
    }
    for (int j = 0; j < 7; j++)
        td_buf_release(&b[j]);
    senders_drop(p);
    return rc;
}

/* Everything held back, sent ahead: before a SAVEPOINT, RELEASE, COMMIT. */
static int held_flush(struct pgs *p, struct td_error *err)
{
    int rc = senders_flush(p, err);
    int rc2 = head_flush(p, err);
    return rc ? rc : rc2;
}

int td__pgs_senders_flush(struct td_store *s, struct td_error *err)
{
    return senders_flush(PGS(s), err);
}

/* A sender's tally inside a transaction: held back (summed with the
 * transaction's earlier ones of the same sender), 1 when not (outside a
 * transaction: the caller writes it). */
int td__pgs_sender_hold(struct td_store *s, int64_t office, const char *key, const char *display,
                        int severity, int is_threat, int64_t when, struct td_error *err)
{
    struct pgs *p = PGS(s);
    if (!p->in_tx)
        return 1;
    int rc;
    if (p->nheld && p->held_office != office && (rc = senders_flush(p, err)))
        return rc;
    struct held_sender *h = NULL;
    for (size_t i = p->nheld; i-- > 0;)
        if (!strcmp(p->held[i].key, key)) {
            h = &p->held[i];
            break;
        }
    if (!h) {
        if (p->nheld == p->capheld) {
            size_t cap = p->capheld ? 2 * p->capheld : 64;
            struct held_sender *g = realloc(p->held, cap * sizeof *g);
            if (!g)
                return td_error_set(err, TD_ENOMEM, NULL);
            p->held = g;
            p->capheld = cap;
        }
        h = &p->held[p->nheld];
        memset(h, 0, sizeof *h);
        if (!(h->key = strdup(key)))
            return td_error_set(err, TD_ENOMEM, NULL);
        h->worst = severity;
        h->first = h->last = when;
        p->nheld++;
        p->held_office = office;
    }
    if (display) { /* coalesce(excluded.display, x.display): the last given */
        char *d = strdup(display);
        if (!d)
            return td_error_set(err, TD_ENOMEM, NULL);
        free(h->display);
        h->display = d;
    }
    h->messages++;
    h->threats += is_threat ? 1 : 0;
    if (severity > h->worst)
        h->worst = severity;
    if (when < h->first)
        h->first = when;
    if (when > h->last)
        h->last = when;
    return p->nheld >= PEND_MAX ? senders_flush(p, err) : TD_OK;
}

/* The threats held back for a sender of office (not yet in its row). */
int64_t td__pgs_sender_held_threats(struct td_store *s, int64_t office, const char *key)
{
    struct pgs *p = PGS(s);
    if (!key || !p->nheld || p->held_office != office)
        return 0;
    for (size_t i = p->nheld; i-- > 0;)
        if (!strcmp(p->held[i].key, key))
            return p->held[i].threats;
    return 0;
}

/* For every op that reads the audit inside a transaction: what this one
 * appended is sent first (ahead, with the read's own round trip). */
int td__pgs_audit_flush(struct td_store *s, struct td_error *err)
{
    return head_flush(PGS(s), err);
}

/*
 * Scope.  Inside a store transaction the office is set with is_local =
 * true: it ends with the transaction (COMMIT or ROLLBACK), so a pooled or
 * long-lived connection never carries it into the next.  Outside one it
 * is set for the session and holds until the next scope.  The value is
 * cached so that a run of ops for one office costs one round trip, not
 * one per op; the cache falls back to the session value when a
 * transaction ends and is forgotten on ROLLBACK TO (which undoes a
 * set_config made after the savepoint).
 *
 * office < 0: every office, for the cross-office jobs (alert worker,
 * escalations, retention sweep, verify).  The setting is then '*', which
 * the all_offices policies of 0010_cross_office.sql admit on every office
 * table; td_current_office() reads '*' as no office.  This gives a caller
 * no power it did not have (any role may name any office); what matters
 * is that only these jobs ask for it, never an op of one office.
 */
/* A connection the server dropped (restart, failover, an idle timeout) is
 * opened again before the next op outside a transaction, so a long-lived
 * server recovers by itself; the op that met the loss has failed with
 * TD_ENET and is not retried here (it may have committed).  Inside a
 * transaction nothing is revived: the desk rolls back first.  The session
 * setting is gone with the old connection, so the scope cache too. */
static void revive(struct pgs *p)
{
    if (p->in_tx || PQstatus(td__pg_conn(p->c)) != CONNECTION_BAD)
        return;
    td__pg_reset(p->c); /* the prepared statements are gone with it */
    p->cur = p->session = SCOPE_UNKNOWN;
    p->head_office = p->locked = -1;
    held_drop(p);
    p->nids = p->atids = 0;
}

int td__pgs_scope(struct td_store *s, int64_t office, struct td_error *err)
{
    struct pgs *p = PGS(s);
    revive(p);
    if (office < 0)
        office = SCOPE_ALL;
    if (p->cur == office)
        return TD_OK;
    char o[24];
    const char *v[2] = {office == SCOPE_ALL ? "*" : td__pg_i64(o, office),
                        p->in_tx ? "true" : "false"};
    /* inside a transaction sent ahead with the statement that needs it
     * (td__pg_defer): it cannot fail for want of anything, and the next
     * statement's round trip carries it */
    const char *sql = "SELECT set_config('threatdesk.office_id', $1, $2::boolean)";
    int rc = p->in_tx ? td__pg_defer(p->c, sql, 2, v, NULL, NULL, NULL, err)
                      : td__pg_exec(p->c, sql, 2, v, NULL, NULL, NULL, err);
    if (rc) {
        p->cur = SCOPE_UNKNOWN;
        return rc;
    }
    p->cur = office;
    if (!p->in_tx)
        p->session = office;
    return TD_OK;
}

/* ---- parameters and results (pg_store_int.h) ----------------------------- */

int td__pgs_ex(struct td_store *s, const char *sql, const struct td__pga *a, PGresult **r,
               struct td_error *err)
{
    revive(PGS(s));
    return td__pg_exec(PGS(s)->c, sql, a ? a->n : 0, a ? a->v : NULL,
                       a && a->binary ? a->len : NULL, a && a->binary ? a->fmt : NULL, r, err);
}

int td__pgs_defer(struct td_store *s, const char *what, const char *sql, const struct td__pga *a,
                  struct td_error *err)
{
    struct pgs *p = PGS(s);
    if (p->in_tx)
        return td__pg_defer(p->c, sql, a ? a->n : 0, a ? a->v : NULL,
                            a && a->binary ? a->len : NULL, a && a->binary ? a->fmt : NULL, what,
                            err);
    return what ? td__pgs_ex1(s, what, sql, a, err) : td__pgs_ex(s, sql, a, NULL, err);
}

/* A statement that must change at least one row:
 * TD_ENOTFOUND "no such <what>" when it changed none (td__sq_write1). */
int td__pgs_ex1(struct td_store *s, const char *what, const char *sql, const struct td__pga *a,
                struct td_error *err)
{
    PGresult *r;
    int rc = td__pgs_ex(s, sql, a, &r, err);
    if (rc)
        return rc;
    const char *n = PQcmdTuples(r);
    int none = !n || !*n || !strcmp(n, "0");
    PQclear(r);
    return none ? td_error_set(err, TD_ENOTFOUND, "no such %s", what) : TD_OK;
}

/* One integer from row 0, column 0; 0 when there is no row (td__sq_value). */
int td__pgs_value(struct td_store *s, const char *sql, const struct td__pga *a, int64_t *out,
                  struct td_error *err)
{
    PGresult *r;
    int rc = td__pgs_ex(s, sql, a, &r, err);
    if (rc)
        return rc;
    *out = PQntuples(r) > 0 ? td__pgs_coli(r, 0, 0) : 0;
    PQclear(r);
    return TD_OK;
}

/* A bytea column in text form (hex) as malloc()ed bytes. */
int td__pgs_bytea(const PGresult *r, int row, int i, unsigned char **out, size_t *len,
                  struct td_error *err)
{
    *out = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, i), len);
    return *out ? TD_OK : td_error_set(err, TD_ENOMEM, NULL);
}

/* bytea's type OID (pg_type.h, stable across versions): verify_scan
 * hands those columns over as bytes. */
#define OID_BYTEA 17

/* ---- open, close, transactions ------------------------------------------ */

static void pgs_close(struct td_store *s)
{
    struct pgs *p = PGS(s);
    td__pg_close(p->c);
    for (int i = 0; i < PEND_COLS; i++)
        td_buf_release(&p->pend[i]);
    senders_drop(p);
    free(p->held);
    free(p);
}

static int pgs_schema_version(struct td_store *s, int64_t *v, struct td_error *err)
{
    return td__pgs_value(s, "SELECT coalesce(max(version), 0) FROM schema_migrations", NULL, v,
                         err);
}

static int pgs_begin(struct td_store *s, struct td_error *err)
{
    struct pgs *p = PGS(s);
    revive(p);
    /* No office yet: each op names its own (td__pgs_scope), locally. */
    int rc = td__pg_begin(p->c, -1, err);
    if (!rc)
        p->in_tx = 1;
    return rc;
}

/* The transaction's local settings are gone: back to the session's. */
static void tx_over(struct pgs *p)
{
    p->in_tx = 0;
    p->cur = p->session;
    p->head_office = p->locked = -1;
    held_drop(p);
    p->nids = p->atids = 0;
}

static int id_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int td__pgs_message_id(struct td_store *s, size_t want, int64_t *id, struct td_error *err)
{
    struct pgs *p = PGS(s);
    *id = 0;
    if (!p->in_tx)
        return TD_OK;
    if (p->atids >= p->nids) {
        struct td__pga a = {0};
        PGresult *r;
        td__pga_i(&a, (int64_t)(want < 1 ? 1 : want > ID_POOL_MAX ? ID_POOL_MAX : want));
        /* nextval is not undone by a ROLLBACK: the ids stay ours */
        int rc = td__pgs_ex(s,
                            "SELECT nextval(q.seq) FROM (SELECT pg_get_serial_sequence("
                            "'messages', 'id')::regclass AS seq) q, "
                            "generate_series(1, $1::bigint)",
                            &a, &r, err);
        if (rc)
            return rc;
        int nt = PQntuples(r);
        p->nids = p->atids = 0;
        for (int i = 0; i < nt && i < ID_POOL_MAX; i++)
            p->ids[p->nids++] = td__pgs_coli(r, i, 0);
        PQclear(r);
        if (!p->nids)
            return td_error_set(err, TD_EIO, "no message id from the sequence");
        /* in the order they will be filed, as the sequence would give them */
        qsort(p->ids, p->nids, sizeof p->ids[0], id_cmp);
    }
    *id = p->ids[p->atids++];
    return TD_OK;
}

static int pgs_commit(struct td_store *s, struct td_error *err)
{
    struct pgs *p = PGS(s);
    /* the entries held back and the head, ahead of the COMMIT: a failure
     * in them fails it */
    int rc = held_flush(p, err);
    if (rc)
        td__pg_rollback(p->c);
    else
        rc = td__pg_commit(p->c, err);
    tx_over(p);
    return rc;
}

static void pgs_rollback(struct td_store *s)
{
    struct pgs *p = PGS(s);
    td__pg_rollback(p->c);
    tx_over(p);
}

/* Savepoint names come from the desk (fixed identifiers), checked here.
 * A SAVEPOINT is sent ahead (td__pg_defer): it goes with the first
 * statement after it.  RELEASE waits for its answer, and so for everything
 * sent ahead since: the writes of a batch's record fail at its RELEASE at
 * the latest, while ROLLBACK TO can still undo that record alone. */
static int sp(struct pgs *p, const char *verb, const char *name, struct td_error *err)
{
    if (!*name)
        return td_error_set(err, TD_EINVAL, "bad savepoint name");
    for (const char *q = name; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_'))
            return td_error_set(err, TD_EINVAL, "bad savepoint name");
    char sql[128];
    snprintf(sql, sizeof sql, "%s %s", verb, name);
    if (p->in_tx && !strcmp(verb, "SAVEPOINT"))
        return td__pg_defer(p->c, sql, 0, NULL, NULL, NULL, NULL, err);
    return td__pg_exec(p->c, sql, 0, NULL, NULL, NULL, NULL, err);
}

/* The entries held back go before a SAVEPOINT (so that a ROLLBACK TO it
 * undoes only what came after, and only what is held back then) and
 * before a RELEASE (so that a record's entries fail within its
 * savepoint). */
static int pgs_savepoint(struct td_store *s, const char *name, struct td_error *err)
{
    int rc = held_flush(PGS(s), err);
    return rc ? rc : sp(PGS(s), "SAVEPOINT", name, err);
}

static int pgs_release(struct td_store *s, const char *name, struct td_error *err)
{
    int rc = held_flush(PGS(s), err);
    return rc ? rc : sp(PGS(s), "RELEASE SAVEPOINT", name, err);
}

static void pgs_rollback_to(struct td_store *s, const char *name)
{
    struct pgs *p = PGS(s);
    struct td_error e;
    /* what was sent ahead first, alone: after a failure in it the server
     * would skip a ROLLBACK TO sent behind it */
    td__pg_flush(p->c, &e);
    if (sp(p, "ROLLBACK TO SAVEPOINT", name, &e) == TD_OK)
        sp(p, "RELEASE SAVEPOINT", name, &e);
    /* a set_config after the savepoint is undone with it, and so may
     * an audit entry; entries held back all came after it */
    p->cur = SCOPE_UNKNOWN;
    p->head_office = p->locked = -1;
    held_drop(p);
}

/* ---- offices and users (outside row-level security: read before any
 * office is known; every query filters itself) --------------------------- */

static int pgs_office_find(struct td_store *s, const char *name, int64_t *id, struct td_error *err)
{
    struct td__pga a = {0};
    td__pga_t(&a, name);
    PGresult *r;
    int rc = td__pgs_ex(s, "SELECT id FROM offices WHERE name = $1", &a, &r, err);
    if (rc)
        return rc;
    if (PQntuples(r) < 1)
        rc = td_error_set(err, TD_ENOTFOUND, "no office '%s'", name);
    else
        *id = td__pgs_coli(r, 0, 0);
    PQclear(r);
    return rc;
}

/* INSERT ... ON CONFLICT DO NOTHING RETURNING id: a taken name is
 * TD_EEXISTS without aborting the desk's transaction. */
int td__pgs_insert_id(struct td_store *s, const char *what, const char *sql,
                      const struct td__pga *a, int64_t *id, struct td_error *err)
{
    PGresult *r;
    int rc = td__pgs_ex(s, sql, a, &r, err);
    if (rc)
        return rc;
    if (PQntuples(r) < 1)
        rc = td_error_set(err, TD_EEXISTS, "%s: already exists", what);
    else if (id)
        *id = td__pgs_coli(r, 0, 0);
    PQclear(r);
    return rc;
}

static int pgs_office_insert(struct td_store *s, const char *name, int64_t now, int64_t *id,
                             struct td_error *err)
{
    struct td__pga a = {0};
    td__pga_t(&a, name);
    td__pga_i(&a, now);
    return td__pgs_insert_id(s, "office",
                             "INSERT INTO offices(name, created) VALUES ($1, $2::bigint) "
                             "ON CONFLICT DO NOTHING RETURNING id",
                             &a, id, err);
}

static int pgs_office_list(struct td_store *s,
                           int (*cb)(void *ud, const struct td_store_office_row *r), void *ud,
                           struct td_error *err)
{
    PGresult *r;
    int rc = td__pgs_ex(s,
                        "SELECT o.id, o.name, o.created, "
                        "(SELECT count(*) FROM users u WHERE u.office_id = o.id) "
                        "FROM offices o ORDER BY o.name COLLATE \"C\"",
                        NULL, &r, err);
    for (int i = 0; !rc && i < PQntuples(r); i++) {
        struct td_store_office_row row = {.id = td__pgs_coli(r, i, 0),
                                          .name = td__pgs_col(r, i, 1),
                                          .created = td__pgs_coli(r, i, 2),
                                          .users = td__pgs_coli(r, i, 3)};
        rc = cb(ud, &row);
    }
    PQclear(r);
    return rc;
}

static int pgs_user_count(struct td_store *s, int64_t *n, struct td_error *err)
{
    return td__pgs_value(s, "SELECT count(*) FROM users", NULL, n, err);
}

static int pgs_user_insert(struct td_store *s, const struct td_store_user *u, int64_t *id,
                           struct td_error *err)
{
    struct td__pga a = {0};
    td__pga_i(&a, u->office_id);
    td__pga_t(&a, u->name);
    td__pga_t(&a, u->role);
    td__pga_t(&a, u->pwhash);
    td__pga_i(&a, u->must_change);
    td__pga_i(&a, u->created);
    int rc =
        td__pgs_insert_id(s, "user",
                          "INSERT INTO users(office_id, name, role, pwhash, must_change, created) "
                          "VALUES ($1::bigint, $2, $3, $4, $5::bigint, $6::bigint) "
                          "ON CONFLICT DO NOTHING RETURNING id",
                          &a, id, err);
    if (rc == TD_EEXISTS)
        td_error_set(err, TD_EEXISTS, "user '%s' already exists in this office", u->name);
    return rc;
}

#define USER_COLS                                                                                  \
    "SELECT u.id, u.office_id, u.name, u.role, u.pwhash, u.must_change, u.created, o.name, "       \
    "u.disabled FROM users u JOIN offices o ON o.id = u.office_id "

static int user_read(struct td_store *s, const char *sql, const struct td__pga *a,
                     struct td_store_user *u, struct td_error *err)
{
    PGresult *r;
    int rc = td__pgs_ex(s, sql, a, &r, err);
    if (rc)
        return rc;
    if (PQntuples(r) < 1) {
        rc = td_error_set(err, TD_ENOTFOUND, "no such user");
    } else {
        memset(u, 0, sizeof *u);
        u->id = td__pgs_coli(r, 0, 0);
        u->office_id = td__pgs_coli(r, 0, 1);
        td__pgs_copy(u->name, sizeof u->name, td__pgs_col(r, 0, 2));
        td__pgs_copy(u->role, sizeof u->role, td__pgs_col(r, 0, 3));
        td__pgs_copy(u->pwhash, sizeof u->pwhash, td__pgs_col(r, 0, 4));
        u->must_change = (int)td__pgs_coli(r, 0, 5);
        u->created = td__pgs_coli(r, 0, 6);
        td__pgs_copy(u->office, sizeof u->office, td__pgs_col(r, 0, 7));
        u->disabled = (int)td__pgs_coli(r, 0, 8);
    }
    PQclear(r);
    return rc;
}

static int pgs_user_find(struct td_store *s, int64_t office, const char *name,
                         struct td_store_user *out, struct td_error *err)
{
    struct td__pga a = {0};
    int64_t n = 0;
    td__pga_t(&a, name);
    /* Any office: the name must be unambiguous. */
    if (!office &&
        td__pgs_value(s, "SELECT count(*) FROM users WHERE name = $1", &a, &n, err) == TD_OK &&
        n > 1) {
        td_error_field(err, "office");
        return td_error_set(err, TD_EINVAL,
                            "user name '%s' is used in more than one office: name the office",
                            name);
    }
    td__pga_i(&a, office);
    return user_read(s, USER_COLS "WHERE u.name = $1 AND ($2::bigint = 0 OR u.office_id = $2)", &a,
                     out, err);
}

static int pgs_user_get(struct td_store *s, int64_t id, struct td_store_user *out,
                        struct td_error *err)
{
    struct td__pga a = {0};
    td__pga_i(&a, id);
    return user_read(s, USER_COLS "WHERE u.id = $1::bigint", &a, out, err);
}

static int pgs_user_set_password(struct td_store *s, int64_t id, const char *pwhash,
                                 int must_change, struct td_error *err)
{
    struct td__pga a = {0};
    td__pga_t(&a, pwhash);
    td__pga_i(&a, must_change);
    td__pga_i(&a, id);
    return td__pgs_ex1(
        s, "user", "UPDATE users SET pwhash = $1, must_change = $2::bigint WHERE id = $3::bigint",
        &a, err);
}

static int pgs_user_set_role(struct td_store *s, int64_t id, const char *role, struct td_error *err)
{
    struct td__pga a = {0};
    td__pga_t(&a, role);
    td__pga_i(&a, id);
    return td__pgs_ex1(s, "user", "UPDATE users SET role = $1 WHERE id = $2::bigint", &a, err);
}

static int pgs_user_list(struct td_store *s, int64_t office,
                         int (*cb)(void *ud, const struct td_store_user_row *r), void *ud,
                         struct td_error *err)
{
    struct td__pga a = {0};
    PGresult *r;
    td__pga_i(&a, office);
    /* COLLATE "C": the byte order SQLite sorts by */
    int rc = td__pgs_ex(s,
                        "SELECT u.id, u.name, u.role, o.name, u.created, u.must_change, u.disabled "
                        "FROM users u JOIN offices o ON o.id = u.office_id "
                        "WHERE $1::bigint = 0 OR u.office_id = $1 "
                        "ORDER BY o.name COLLATE \"C\", u.name COLLATE \"C\"",
                        &a, &r, err);
    for (int i = 0; !rc && i < PQntuples(r); i++) {
        struct td_store_user_row row = {.id = td__pgs_coli(r, i, 0),
                                        .name = td__pgs_col(r, i, 1),
                                        .role = td__pgs_col(r, i, 2),
                                        .office = td__pgs_col(r, i, 3),
                                        .created = td__pgs_coli(r, i, 4),
                                        .must_change = (int)td__pgs_coli(r, i, 5),
                                        .disabled = (int)td__pgs_coli(r, i, 6)};
        rc = cb(ud, &row);
    }
    PQclear(r);
    return rc;
}

static int pgs_user_set_disabled(struct td_store *s, int64_t id, int disabled, struct td_error *err)
{
    struct td__pga a = {0};
    td__pga_i(&a, disabled ? 1 : 0);
    td__pga_i(&a, id);
    return td__pgs_ex1(s, "user", "UPDATE users SET disabled = $1::bigint WHERE id = $2::bigint",
                       &a, err);
}

static int pgs_user_role_count(struct td_store *s, int64_t office, const char *role, int64_t *n,
                               struct td_error *err)
{
    struct td__pga a = {0};
    td__pga_i(&a, office);
    td__pga_t(&a, role);
    return td__pgs_value(s,
                         "SELECT count(*) FROM users WHERE office_id = $1::bigint AND role = $2 "
                         "AND disabled = 0",
                         &a, n, err);
}

/* ---- sessions, keys, failed logins ------------------------------------- */

static int pgs_session_insert(struct td_store *s, int64_t user, const char *th, int64_t created,
                              int64_t expires, int64_t *id, struct td_error *err)
{
    struct td__pga a = {0};
    td__pga_t(&a, th);
    td__pga_i(&a, user);
    td__pga_i(&a, created);
    td__pga_i(&a, expires);
    int rc = td__pgs_insert_id(s, "session",
                               "INSERT INTO sessions(token_hash, user_id, created, expires) "
                               "VALUES ($1, $2::bigint, $3::bigint, $4::bigint) "
                               "ON CONFLICT DO NOTHING RETURNING id",
                               &a, id, err);
    if (rc)
        return rc;
    /* Expired sessions are useless: prune them as new ones open. */
    struct td__pga b = {0};
    td__pga_i(&b, created);
    return td__pgs_ex(s, "DELETE FROM sessions WHERE expires <= $1::bigint", &b, NULL, err);
}

static int pgs_session_find(struct td_store *s, const char *th, int64_t now, int64_t *user,
                            int64_t *sid, struct td_error *err)
{
    struct td__pga a = {0};
    PGresult *r;
    td__pga_t(&a, th);
    td__pga_i(&a, now);
    int rc = td__pgs_ex(s,
                        "SELECT s.user_id, s.id FROM sessions s JOIN users u ON u.id = s.user_id "
                        "WHERE s.token_hash = $1 AND s.expires > $2::bigint AND u.disabled = 0",
                        &a, &r, err);
    if (rc)
        return rc;
    if (PQntuples(r) < 1) {
        rc = td_error_set(err, TD_ENOTFOUND, "no such session");
    } else {
        *user = td__pgs_coli(r, 0, 0);
        *sid = td__pgs_coli(r, 0, 1);
    }
    PQclear(r);
    return rc;
}

static int pgs_session_delete(struct td_store *s, const char *th, struct td_error *err)
{
    struct td__pga a = {0};
    td__pga_t(&a, th);
    return td__pgs_ex(s, "DELETE FROM sessions WHERE token_hash = $1", &a, NULL, err);
}

static int pgs_session_delete_user(struct td_store *s, int64_t user, struct td_error *err)
{
    struct td__pga a = {0};
    td__pga_i(&a, user);
    return td__pgs_ex(s, "DELETE FROM sessions WHERE user_id = $1::bigint", &a, NULL, err);
}

static int pgs_apikey_insert(struct td_store *s, int64_t user, const char *kh, const char *label,
                             int64_t created, int64_t issued_by, int64_t *id, struct td_error *err)
{
    struct td__pga a = {0};
    td__pga_t(&a, kh);
    td__pga_i(&a, user);
    td__pga_t(&a, label);
    td__pga_i(&a, created);
    td__pga_i(&a, issued_by);
    return td__pgs_insert_id(s, "api key",
                             "INSERT INTO api_keys(key_hash, user_id, label, created, issued_by) "
                             "VALUES ($1, $2::bigint, $3, $4::bigint, $5::bigint) "
                             "ON CONFLICT DO NOTHING RETURNING id",
                             &a, id, err);
}

static int pgs_apikey_find(struct td_store *s, const char *kh, int64_t *user, int64_t *kid,
                           int64_t *issued_by, struct td_error *err)
{
    struct td__pga a = {0};
    PGresult *r;
    td__pga_t(&a, kh);
    int rc = td__pgs_ex(s,
                        "SELECT k.user_id, k.id, coalesce(k.issued_by, -1) FROM api_keys k "
                        "JOIN users u ON u.id = k.user_id "
                        "WHERE k.key_hash = $1 AND k.revoked IS NULL AND u.disabled = 0",
                        &a, &r, err);
    if (rc)
        return rc;
    if (PQntuples(r) < 1) {
        rc = td_error_set(err, TD_ENOTFOUND, "no such api key");
    } else {
        *user = td__pgs_coli(r, 0, 0);
        *kid = td__pgs_coli(r, 0, 1);
        *issued_by = td__pgs_coli(r, 0, 2);
    }
    PQclear(r);
    return rc;
}

static int pgs_apikey_list(struct td_store *s, int64_t office, int64_t user,
                           int (*cb)(void *ud, const struct td_store_key_row *r), void *ud,
                           struct td_error *err)
{
    struct td__pga a = {0};
    PGresult *r;
    td__pga_i(&a, office);
    td__pga_i(&a, user);
    int rc = td__pgs_ex(s,
                        "SELECT k.id, u.name, k.label, k.created, coalesce(k.issued_by, -1), "
                        "i.name, k.revoked IS NOT NULL, k.revoked, coalesce(k.revoked_by, -1), "
                        "r.name FROM api_keys k JOIN users u ON u.id = k.user_id "
                        "LEFT JOIN users i ON i.id = k.issued_by "
                        "LEFT JOIN users r ON r.id = k.revoked_by "
                        "WHERE u.office_id = $1::bigint AND ($2::bigint = 0 OR k.user_id = $2) "
                        "ORDER BY k.id DESC",
                        &a, &r, err);
    for (int i = 0; !rc && i < PQntuples(r); i++) {
        struct td_store_key_row row = {.id = td__pgs_coli(r, i, 0),
                                       .user = td__pgs_col(r, i, 1),
                                       .label = td__pgs_col(r, i, 2),
                                       .created = td__pgs_coli(r, i, 3),
                                       .issued_by = td__pgs_coli(r, i, 4),
                                       .issued_by_name = td__pgs_col(r, i, 5),
                                       .revoked = (int)td__pgs_coli(r, i, 6),
                                       .revoked_at = td__pgs_coli(r, i, 7),
                                       .revoked_by = td__pgs_coli(r, i, 8),
                                       .revoked_by_name = td__pgs_col(r, i, 9)};
        rc = cb(ud, &row);
    }
    PQclear(r);
    return rc;
}

static int pgs_apikey_revoke(struct td_store *s, int64_t office, int64_t kid, int64_t when,
                             int64_t by, int64_t *user, int *was, struct td_error *err)
{
    struct td__pga a = {0};
    PGresult *r;
    td__pga_i(&a, kid);
    td__pga_i(&a, office);
    int rc = td__pgs_ex(s,
                        "SELECT k.user_id, k.revoked IS NOT NULL FROM api_keys k "
                        "JOIN users u ON u.id = k.user_id "
                        "WHERE k.id = $1::bigint AND ($2::bigint = 0 OR u.office_id = $2)",
                        &a, &r, err);
    if (rc)
        return rc;
    if (PQntuples(r) < 1) {
        PQclear(r);
        return td_error_set(err, TD_ENOTFOUND, "no such API key");
    }
    *user = td__pgs_coli(r, 0, 0);
    *was = (int)td__pgs_coli(r, 0, 1);
    PQclear(r);
    if (*was)
        return TD_OK;
    struct td__pga b = {0};
    td__pga_i(&b, when);
    td__pga_i(&b, by);
    td__pga_i(&b, kid);
    return td__pgs_ex(s,
                      "UPDATE api_keys SET revoked = $1::bigint, revoked_by = $2::bigint "
                      "WHERE id = $3::bigint",
                      &b, NULL, err);
}

static int pgs_apikey_revoke_user(struct td_store *s, int64_t user, int64_t when, int64_t by,
                                  int (*cb)(void *ud, int64_t id), void *ud, struct td_error *err)
{
    struct td__pga a = {0};
    PGresult *r;
    td__pga_i(&a, user);
    int rc = td__pgs_ex(s,
                        "SELECT id FROM api_keys WHERE user_id = $1::bigint AND revoked IS NULL "
                        "ORDER BY id",
                        &a, &r, err);
    if (rc)
        return rc;
    for (int i = 0; !rc && i < PQntuples(r); i++)
        rc = cb(ud, td__pgs_coli(r, i, 0));
    PQclear(r);
    if (rc)
        return rc;
    struct td__pga b = {0};
    td__pga_i(&b, when);
    td__pga_i(&b, by);
    td__pga_i(&b, user);
    return td__pgs_ex(s,
                      "UPDATE api_keys SET revoked = $1::bigint, revoked_by = $2::bigint "
                      "WHERE user_id = $3::bigint AND revoked IS NULL",
                      &b, NULL, err);
}

static int pgs_login_failures(struct td_store *s, const char *name, const char *source,
                              int64_t since, int64_t *count, int64_t *oldest, struct td_error *err)
{
    struct td__pga a = {0};
    PGresult *r;
    td__pga_t(&a, name);
    td__pga_t(&a, source);
    /* The desk counts and then records the attempt in one transaction
     * (auth.c, phase 1).  Several servers on one database would each count
     * before any records, and let one extra guess through per server: the
     * pair's transaction-scoped advisory lock makes them take turns, across
     * processes, until the attempt is committed. */
    int rc = td__pgs_ex(s,
                        "SELECT pg_advisory_xact_lock(hashtextextended("
                        "'threatdesk.login:' || $1 || '/' || $2, 0))",
                        &a, NULL, err);
    if (rc)
        return rc;
    td__pga_i(&a, since);
    rc = td__pgs_ex(s,
                    "SELECT count(*), coalesce(min(time), 0) FROM login_failures "
                    "WHERE name = $1 AND source = $2 AND time >= $3::bigint",
                    &a, &r, err);
    if (rc)
        return rc;
    *count = td__pgs_coli(r, 0, 0);
    *oldest = td__pgs_coli(r, 0, 1);
    PQclear(r);
    return TD_OK;
}

static int pgs_login_failure_add(struct td_store *s, const char *name, const char *source,
                                 int64_t when, struct td_error *err)
{
    struct td__pga a = {0};
    td__pga_t(&a, name);
    td__pga_t(&a, source);
    td__pga_i(&a, when);
    int rc =
        td__pgs_ex(s, "INSERT INTO login_failures(name, source, time) VALUES ($1, $2, $3::bigint)",
                   &a, NULL, err);
    if (rc)
        return rc;
    /* Failures older than a day count for no window the desk uses. */
    struct td__pga b = {0};
    td__pga_i(&b, when - 86400);
    return td__pgs_ex(s, "DELETE FROM login_failures WHERE time < $1::bigint", &b, NULL, err);
}

static int pgs_login_failure_clear(struct td_store *s, const char *name, const char *source,
                                   struct td_error *err)
{
    struct td__pga a = {0};
    td__pga_t(&a, name);
    td__pga_t(&a, source);
    return td__pgs_ex(s, "DELETE FROM login_failures WHERE name = $1 AND source = $2", &a, NULL,
                      err);
}

/* ---- audit: one chain per office (docs/postgres.md) --------------------- */

/*
 * The head of the chain an entry of `office` extends.  Inside a
 * transaction the office's advisory lock is taken FIRST and held until
 * COMMIT or ROLLBACK: a second writer (any process) waits here, and its
 * head read, a new statement in READ COMMITTED, then sees the first
 * writer's committed entry.  So desk/audit.c's head-then-append inside
 * one transaction never forks the chain.  A chain whose tail was deleted
 * (audit_heads remembers a later seq) is refused: verify says more.
 */
static int pgs_audit_head(struct td_store *s, int64_t office, int64_t *last_id, char last_hash[65],
                          struct td_error *err)
{
    struct pgs *p = PGS(s);
    struct td__pga a = {0};
    PGresult *r;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    if (p->in_tx && p->head_office == office) {
        *last_id = p->head_seq;
        memcpy(last_hash, p->head_hash, 65);
        return TD_OK;
    }
    /* another office's entries held back go first: the head read below
     * must see this one's as they are */
    if ((rc = head_flush(p, err)) || (rc = td__pgs_scope(s, office, err)))
        return rc;
    td__pga_i(&a, office);
    if (p->in_tx) {
        /* sent ahead: the head query behind it waits for the lock all the
         * same (the server runs a pipeline in order) */
        if ((rc = td__pgs_defer(s, NULL, LOCK_AUDIT, &a, err)))
            return rc;
        p->locked = office;
    }
    if ((rc = td__pgs_ex(
             s,
             "SELECT a.seq, a.hash, h.seq FROM (SELECT 1) one "
             "LEFT JOIN LATERAL (SELECT seq, hash FROM audit WHERE office_id = $1::bigint "
             "ORDER BY seq DESC LIMIT 1) a ON true "
             "LEFT JOIN audit_heads h ON h.office_id = $1::bigint",
             &a, &r, err)))
        return rc;
    *last_id = td__pgs_coli(r, 0, 0);
    td__pgs_copy(last_hash, 65, td__pgs_col(r, 0, 1));
    int64_t ever = td__pgs_coli(r, 0, 2);
    PQclear(r);
    if (ever != *last_id)
        return td_error_set(err, TD_ESTORE,
                            "audit chain of office %" PRId64 ": head says entry %" PRId64
                            ", last entry is %" PRId64 " (entries deleted?); run threatdesk verify",
                            office, ever, *last_id);
    if (p->in_tx) { /* the lock is ours: the next entry may be held back */
        p->head_office = office;
        p->head_seq = *last_id;
        memcpy(p->head_hash, last_hash, 65);
    }
    return TD_OK;
}

/*
 * Inside a transaction that holds the office's audit lock and knows its
 * head (audit_head), an entry is held back: its hash is made already, and
 * nothing reads it back before head_flush sends it with the others (one
 * INSERT) and moves the head once, to the last (issue 11: a batch of 500
 * moved the one head row 500 times).  The lock stays ours until the
 * transaction ends, so no other writer comes in between.
 */
static int pend_entry(struct pgs *p, const struct td_audit_entry *e, struct td_error *err)
{
    char n[3][24];
    struct td_buf *b = p->pend;
    int rc = pend_add(&b[0], td__pg_i64(n[0], e->id), 0);
    if (!rc)
        rc = pend_add(&b[1], td__pg_i64(n[1], e->time), 0);
    if (!rc)
        rc = pend_add(&b[2], td__pg_i64(n[2], e->user_id), 0);
    if (!rc)
        rc = pend_add(&b[3], e->action, 1);
    if (!rc)
        rc = pend_add(&b[4], e->object_type, 1);
    if (!rc)
        rc = pend_add(&b[5], td__pg_i64(n[0], e->object_id), 0);
    if (!rc)
        rc = pend_add(&b[6], e->details ? e->details : "{}", 1);
    if (!rc)
        rc = pend_add(&b[7], e->prev_hash, 1);
    if (!rc)
        rc = pend_add(&b[8], e->hash, 1);
    if (rc) {
        /* the entries held back are lost: fail the transaction */
        pend_drop(p);
        p->head_office = -1;
        return td_error_set(err, rc, "audit entries held back");
    }
    p->pend_n++;
    p->pend_office = e->office_id;
    p->pend_seq = e->id;
    td__pgs_copy(p->pend_hash, sizeof p->pend_hash, e->hash);
    p->head_seq = e->id;
    td__pgs_copy(p->head_hash, sizeof p->head_hash, e->hash);
    return p->pend_n >= PEND_MAX ? head_flush(p, err) : TD_OK;
}

/* The entries held back, as one INSERT of their rows in order, and the
 * office's head moved once to the last of them; both sent ahead. */
static int head_flush(struct pgs *p, struct td_error *err)
{
    if (!p->pend_n)
        return TD_OK;
    struct td_store *s = &p->base;
    struct td__pga a = {0}, h = {0};
    int64_t office = p->pend_office;
    int rc = TD_OK;
    for (int i = 0; !rc && i < PEND_COLS; i++)
        rc = td_buf_putc(&p->pend[i], '}');
    if (rc) {
        pend_drop(p);
        p->head_office = -1;
        return td_error_set(err, rc, "audit entries held back");
    }
    if ((rc = td__pgs_scope(s, office, err))) {
        pend_drop(p);
        return rc;
    }
    td__pga_i(&a, office);
    for (int i = 0; i < PEND_COLS; i++)
        td__pga_t(&a, p->pend[i].data);
    td__pga_i(&h, office);
    td__pga_i(&h, p->pend_seq);
    td__pga_t(&h, p->pend_hash);
    /* libpq copies the parameters as it sends them: the buffers may go */
    rc = td__pgs_defer(s, NULL,
                       "INSERT INTO audit(seq, time, office_id, user_id, action, object_type, "
                       "object_id, details, prev_hash, hash) "
                       "SELECT u.seq, u.time, $1::bigint, u.user_id, u.action, u.object_type, "
                       "u.object_id, u.details, u.prev_hash, u.hash "
                       "FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::text[], "
                       "$6::text[], $7::bigint[], $8::text[], $9::text[], $10::text[]) "
                       "WITH ORDINALITY AS u(seq, time, user_id, action, object_type, object_id, "
                       "details, prev_hash, hash, n) ORDER BY u.n",
                       &a, err);
    if (!rc)
        rc = td__pgs_defer(s, NULL,
                           "INSERT INTO audit_heads(office_id, seq, hash) "
                           "VALUES ($1::bigint, $2::bigint, $3) ON CONFLICT (office_id) "
                           "DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash",
                           &h, err);
    pend_drop(p);
    return rc;
}

static int pgs_audit_append(struct td_store *s, const struct td_audit_entry *e,
                            struct td_error *err)
{
    struct td__pga a = {0};
    int rc = td__pgs_scope(s, e->office_id, err);
    if (rc)
        return rc;
    td__pga_i(&a, e->id);
    td__pga_i(&a, e->time);
    td__pga_i(&a, e->office_id);
    td__pga_i(&a, e->user_id);
    td__pga_t(&a, e->action);
    td__pga_t(&a, e->object_type);
    td__pga_i(&a, e->object_id);
    td__pga_t(&a, e->details ? e->details : "{}");
    td__pga_t(&a, e->prev_hash);
    td__pga_t(&a, e->hash);
    struct pgs *p = PGS(s);
    if (p->in_tx && p->locked == e->office_id && p->head_office == e->office_id &&
        e->id == p->head_seq + 1)
        return pend_entry(p, e, err);
    /* The entry and the office's head in one statement; UNIQUE (office_id,
     * seq) and the head's forward-only trigger refuse a fork. */
    p->head_office = -1;
    /* sent ahead inside a transaction: its hash is computed here, nothing
     * waits for its answer, and a failure fails the transaction (or the
     * batch record, at its RELEASE) all the same */
    rc = td__pgs_defer(
        s, NULL,
        "WITH a AS (INSERT INTO audit(seq, time, office_id, user_id, action, object_type, "
        "object_id, details, prev_hash, hash) VALUES ($1::bigint, $2::bigint, $3::bigint, "
        "$4::bigint, $5, $6, $7::bigint, $8, $9, $10) RETURNING office_id, seq, hash) "
        "INSERT INTO audit_heads(office_id, seq, hash) SELECT office_id, seq, hash FROM a "
        "ON CONFLICT (office_id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash",
        &a, err);
    /* only inside a transaction is the office's lock still ours after
     * this statement (audit_head took it) */
    if (!rc && p->in_tx && p->locked == e->office_id) {
        p->head_office = e->office_id;
        p->head_seq = e->id;
        td__pgs_copy(p->head_hash, sizeof p->head_hash, e->hash);
    }
    return rc;
}

static void audit_entry(const PGresult *r, int i, struct td_audit_entry *e)
{
    memset(e, 0, sizeof *e);
    e->id = td__pgs_coli(r, i, 0);
    e->time = td__pgs_coli(r, i, 1);
    e->office_id = td__pgs_coli(r, i, 2);
    e->user_id = td__pgs_coli(r, i, 3);
    td__pgs_copy(e->action, sizeof e->action, td__pgs_col(r, i, 4));
    td__pgs_copy(e->object_type, sizeof e->object_type, td__pgs_col(r, i, 5));
    e->object_id = td__pgs_coli(r, i, 6);
    e->details = (char *)td__pgs_col(r, i, 7);
    td__pgs_copy(e->prev_hash, sizeof e->prev_hash, td__pgs_col(r, i, 8));
    td__pgs_copy(e->hash, sizeof e->hash, td__pgs_col(r, i, 9));
}

#define STR_(x) #x
#define STR(x) STR_(x)
#define AUDIT_PAGE 2000

/* Every office's chain, office by office, each in seq order; read a page
 * at a time (keyset) so a party's millions of entries are never held at
 * once.  *max_id_ever 0: per office, audit_chains says. */
static int pgs_audit_scan(struct td_store *s, int (*cb)(void *ud, const struct td_audit_entry *e),
                          void *ud, int64_t *max_id_ever, struct td_error *err)
{
    int64_t office = INT64_MIN, seq = 0;
    int rc = td__pgs_audit_flush(s, err), stop = 0;
    if (!rc)
        rc = td__pgs_scope(s, -1, err);
    *max_id_ever = 0;
    while (!rc && !stop) {
        struct td__pga a = {0};
        PGresult *r;
        td__pga_i(&a, office);
        td__pga_i(&a, seq);
        if ((rc =
                 td__pgs_ex(s,
                            "SELECT seq, time, office_id, user_id, action, object_type, object_id, "
                            "details, prev_hash, hash FROM audit "
                            "WHERE (office_id, seq) > ($1::bigint, $2::bigint) "
                            "ORDER BY office_id, seq LIMIT " STR(AUDIT_PAGE),
                            &a, &r, err)))
            break;
        int n = PQntuples(r);
        for (int i = 0; i < n && !stop; i++) {
            struct td_audit_entry e;
            audit_entry(r, i, &e);
            office = e.office_id;
            seq = e.id;
            stop = cb(ud, &e);
        }
        PQclear(r);
        if (n < AUDIT_PAGE)
            break;
    }
    return rc;
}

static int pgs_audit_chains(struct td_store *s,
                            int (*cb)(void *ud, int64_t office, int64_t max_id_ever), void *ud,
                            struct td_error *err)
{
    PGresult *r;
    int rc = td__pgs_audit_flush(s, err);
    if (!rc)
        rc = td__pgs_scope(s, -1, err);
    if (rc || (rc = td__pgs_ex(s, "SELECT office_id, seq FROM audit_heads ORDER BY office_id", NULL,
                               &r, err)))
        return rc;
    for (int i = 0; !rc && i < PQntuples(r); i++)
        rc = cb(ud, td__pgs_coli(r, i, 0), td__pgs_coli(r, i, 1));
    PQclear(r);
    return rc;
}

static int pgs_audit_for_object(struct td_store *s, int64_t office, const char *type, int64_t id,
                                int (*cb)(void *ud, const struct td_store_event_row *r), void *ud,
                                struct td_error *err)
{
    struct td__pga a = {0};
    PGresult *r;
    int rc = td__pgs_audit_flush(s, err);
    if (!rc)
        rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    td__pga_i(&a, office);
    td__pga_t(&a, type);
    td__pga_i(&a, id);
    if ((rc = td__pgs_ex(s,
                         "SELECT a.seq, a.time, u.name, a.action, a.details "
                         "FROM audit a LEFT JOIN users u ON u.id = a.user_id "
                         "WHERE a.office_id = $1::bigint AND a.object_type = $2 "
                         "AND a.object_id = $3::bigint ORDER BY a.seq",
                         &a, &r, err)))
        return rc;
    for (int i = 0; !rc && i < PQntuples(r); i++) {
        struct td_store_event_row row = {.id = td__pgs_coli(r, i, 0),
                                         .time = td__pgs_coli(r, i, 1),
                                         .user = td__pgs_col(r, i, 2),
                                         .action = td__pgs_col(r, i, 3),
                                         .details = td__pgs_col(r, i, 4)};
        rc = cb(ud, &row);
    }
    PQclear(r);
    return rc;
}

/* ---- verify ------------------------------------------------------------ */

typedef int verify_cb(void *ud, const char *kind, int64_t id, const char *field, const void *value,
                      size_t len);

#define VERIFY_PAGE 1000

/* Emit every column of every row of sql (a keyset page: $1 is the last id
 * seen, LIMIT VERIFY_PAGE): column 0 is the id, the others the fields,
 * named by the columns; bytea columns as their bytes. */
static int scan_rows(struct td_store *s, const char *kind, const char *sql, verify_cb *cb, void *ud,
                     struct td_error *err)
{
    int64_t last = INT64_MIN;
    int rc = TD_OK, stop = 0;
    while (!rc && !stop) {
        struct td__pga a = {0};
        PGresult *r;
        td__pga_i(&a, last);
        if ((rc = td__pgs_ex(s, sql, &a, &r, err)))
            break;
        int n = PQntuples(r), nf = PQnfields(r);
        for (int i = 0; i < n && !stop && !rc; i++) {
            last = td__pgs_coli(r, i, 0);
            for (int j = 1; j < nf && !stop && !rc; j++) {
                const char *v = td__pgs_col(r, i, j);
                if (!v) {
                    stop = cb(ud, kind, last, PQfname(r, j), NULL, 0);
                } else if (PQftype(r, j) == OID_BYTEA) {
                    unsigned char *b;
                    size_t len;
                    if (!(rc = td__pgs_bytea(r, i, j, &b, &len, err))) {
                        stop = cb(ud, kind, last, PQfname(r, j), b, len);
                        PQfreemem(b);
                    }
                } else {
                    stop = cb(ud, kind, last, PQfname(r, j), v, (size_t)PQgetlength(r, i, j));
                }
            }
        }
        PQclear(r);
        if (n < VERIFY_PAGE)
            break;
    }
    return rc;
}

/* Every office's rows (verify runs across offices). */
static int pgs_verify_scan(struct td_store *s, verify_cb *cb, void *ud, struct td_error *err)
{
    int rc = td__pgs_scope(s, -1, err);
    if (!rc)
        rc = scan_rows(s, "message",
                       "SELECT id, original, text, status FROM messages WHERE id > $1::bigint "
                       "ORDER BY id LIMIT " STR(VERIFY_PAGE),
                       cb, ud, err);
    if (!rc)
        rc = scan_rows(s, "case",
                       "SELECT id, type, title, description, police_ref, status FROM cases "
                       "WHERE id > $1::bigint ORDER BY id LIMIT " STR(VERIFY_PAGE),
                       cb, ud, err);
    if (!rc)
        rc = scan_rows(s, "note",
                       "SELECT id, text, case_id::text AS \"case\" FROM notes "
                       "WHERE id > $1::bigint ORDER BY id LIMIT " STR(VERIFY_PAGE),
                       cb, ud, err);
    if (!rc)
        rc = scan_rows(s, "evidence",
                       "SELECT id, sha256, size::text AS size, case_id::text AS \"case\" "
                       "FROM evidence WHERE id > $1::bigint ORDER BY id LIMIT " STR(VERIFY_PAGE),
                       cb, ud, err);
    return rc;
}

/* ---- retention (offices: outside row-level security) ------------------- */

static int pgs_office_retention_get(struct td_store *s, int64_t office, int64_t *days,
                                    struct td_error *err)
{
    struct td__pga a = {0};
    PGresult *r;
    td__pga_i(&a, office);
    int rc = td__pgs_ex(s, "SELECT coalesce(retention_days, 0) FROM offices WHERE id = $1::bigint",
                        &a, &r, err);
    if (rc)
        return rc;
    if (PQntuples(r) < 1)
        rc = td_error_set(err, TD_ENOTFOUND, "no such office");
    else
        *days = td__pgs_coli(r, 0, 0);
    PQclear(r);
    return rc;
}

static int pgs_office_retention_set(struct td_store *s, int64_t office, int64_t days,
                                    struct td_error *err)
{
    struct td__pga a = {0};
    if (days > 0)
        td__pga_i(&a, days);
    else
        td__pga_null(&a);
    td__pga_i(&a, office);
    return td__pgs_ex1(s, "office",
                       "UPDATE offices SET retention_days = $1::bigint WHERE id = $2::bigint", &a,
                       err);
}

/* ---- the table --------------------------------------------------------- */

static const struct td_store_ops pg_ops = {
    .name = "postgres",
    .close = pgs_close,
    .schema_version = pgs_schema_version,
    .begin = pgs_begin,
    .commit = pgs_commit,
    .rollback = pgs_rollback,
    .savepoint = pgs_savepoint,
    .release = pgs_release,
    .rollback_to = pgs_rollback_to,
    .office_find = pgs_office_find,
    .office_insert = pgs_office_insert,
    .office_list = pgs_office_list,
    .user_count = pgs_user_count,
    .user_insert = pgs_user_insert,
    .user_find = pgs_user_find,
    .user_get = pgs_user_get,
    .user_set_password = pgs_user_set_password,
    .user_set_role = pgs_user_set_role,
    .user_list = pgs_user_list,
    .user_set_disabled = pgs_user_set_disabled,
    .user_role_count = pgs_user_role_count,
    .session_insert = pgs_session_insert,
    .session_find = pgs_session_find,
    .session_delete = pgs_session_delete,
    .apikey_insert = pgs_apikey_insert,
    .apikey_find = pgs_apikey_find,
    .apikey_list = pgs_apikey_list,
    .apikey_revoke = pgs_apikey_revoke,
    .apikey_revoke_user = pgs_apikey_revoke_user,
    .login_failures = pgs_login_failures,
    .login_failure_add = pgs_login_failure_add,
    .login_failure_clear = pgs_login_failure_clear,
    .message_find_key = td__pgs_message_find_key,
    .message_insert = td__pgs_message_insert,
    .message_get = td__pgs_message_get,
    .message_original = td__pgs_message_original,
    .message_queue = td__pgs_message_queue,
    .message_set_status = td__pgs_message_set_status,
    .sender_prior_threats = td__pgs_sender_prior_threats,
    .sender_record = td__pgs_sender_record,
    .sender_get = td__pgs_sender_get,
    .case_insert = td__pgs_case_insert,
    .case_head = td__pgs_case_head,
    .case_get = td__pgs_case_get,
    .case_set = td__pgs_case_set,
    .case_set_status = td__pgs_case_set_status,
    .case_list = td__pgs_case_list,
    .case_link = td__pgs_case_link,
    .note_insert = td__pgs_note_insert,
    .evidence_insert = td__pgs_evidence_insert,
    .evidence_get = td__pgs_evidence_get,
    .evidence_scan = td__pgs_evidence_scan,
    .audit_head = pgs_audit_head,
    .audit_append = pgs_audit_append,
    .audit_scan = pgs_audit_scan,
    .audit_for_object = pgs_audit_for_object,
    .session_delete_user = pgs_session_delete_user,
    .verify_scan = pgs_verify_scan,
    .message_find_content = td__pgs_message_find_content,
    .message_ingest_lookup = td__pgs_message_ingest_lookup,
    .message_walk = td__pgs_message_walk,
    .message_delete = td__pgs_message_delete,
    .sender_delete = td__pgs_sender_delete,
    .office_retention_get = pgs_office_retention_get,
    .office_retention_set = pgs_office_retention_set,
    /* pg_feedback.c */
    .message_vector_put = td__pgs_message_vector_put,
    .message_vector_get = td__pgs_message_vector_get,
    .message_vector_mean = td__pgs_message_vector_mean,
    .feedback_insert = td__pgs_feedback_insert,
    .feedback_revoke = td__pgs_feedback_revoke,
    .feedback_revoke_message = td__pgs_feedback_revoke_message,
    .feedback_list = td__pgs_feedback_list,
    .feedback_load = td__pgs_feedback_load,
    .feedback_stamp = td__pgs_feedback_stamp,
    /* pg_alerts.c */
    .alert_recipient_insert = td__pgs_alert_recipient_insert,
    .alert_recipient_list = td__pgs_alert_recipient_list,
    .alert_recipient_channels = td__pgs_alert_recipient_channels,
    .alert_rule_insert = td__pgs_alert_rule_insert,
    .alert_rule_list = td__pgs_alert_rule_list,
    .alert_rule_load = td__pgs_alert_rule_load,
    .alert_insert = td__pgs_alert_insert,
    .alert_deliveries_add = td__pgs_alert_deliveries_add,
    .alert_claim = td__pgs_alert_claim,
    .alert_attempt = td__pgs_alert_attempt,
    .alert_escalations = td__pgs_alert_escalations,
    .alert_step = td__pgs_alert_step,
    .alert_list = td__pgs_alert_list,
    .alert_ack = td__pgs_alert_ack,
    /* pg_export.c */
    .audit_walk_object = td__pgs_audit_walk_object,
    .message_export = td__pgs_message_export,
    .case_export = td__pgs_case_export,
    .digest_rows = td__pgs_digest_rows,
    /* pg_jobs.c */
    .job_add = td__pgs_job_add,
    .job_claim = td__pgs_job_claim,
    .job_finish = td__pgs_job_finish,
    .upload_insert = td__pgs_upload_insert,
    .upload_get = td__pgs_upload_get,
    .upload_set = td__pgs_upload_set,
    .upload_expire = td__pgs_upload_expire,
    /* one chain per office */
    .audit_chains = pgs_audit_chains,
};

/* Whether a migration of <home>/data/migrations/postgres is not yet
 * recorded in schema_migrations (1), or none (0).  The servers connect
 * as the app role, which may not create or grant anything: they must
 * find the schema current and leave the migrating to the owner (the
 * first open as the owner, or `threatdesk migrate`-style tooling). */
static int migrations_pending(struct pgs *p, const char *home, int *pending, struct td_error *err)
{
    char dir[1200];
    PGresult *r = NULL;
    *pending = 0;
    snprintf(dir, sizeof dir, "%s/data/migrations/postgres", home);
    DIR *d = opendir(dir);
    if (!d)
        return td_error_set(err, TD_EIO, "%s: %s", dir, strerror(errno));
    struct td_error ignored;
    /* no table yet (a new database): everything is pending */
    if (td__pg_exec(p->c, "SELECT version FROM schema_migrations", 0, NULL, NULL, NULL, &r,
                    &ignored) != TD_OK) {
        closedir(d);
        *pending = 1;
        return TD_OK;
    }
    struct dirent *e;
    while (!*pending && (e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        size_t len = strlen(n);
        /* NNNN_name.sql, the runner's rule (pg_conn.c) */
        if (len < 10 || strcmp(n + len - 4, ".sql") != 0 || n[4] != '_' ||
            strspn(n, "0123456789") != 4)
            continue;
        long v = strtol(n, NULL, 10);
        int seen = 0;
        for (int i = 0; i < PQntuples(r) && !seen; i++)
            seen = td__pgs_coli(r, i, 0) == v;
        *pending = !seen;
    }
    closedir(d);
    PQclear(r);
    return TD_OK;
}

int td__pgs_open(const char *url, const char *home, struct td_store **out, struct td_error *err)
{
    struct pgs *p = calloc(1, sizeof *p);
    int rc;
    *out = NULL;
    if (!p)
        return td_error_set(err, TD_ENOMEM, NULL);
    p->base.ops = &pg_ops;
    p->cur = p->session = SCOPE_UNKNOWN;
    p->head_office = p->locked = -1;
    if (!home || !*home) {
        home = getenv("THREATDESK_HOME");
        if (!home || !*home)
            home = TD_SOURCE_DIR;
    }
    int pending = 0;
    if ((rc = td__pg_connect(url, &p->c, err)) ||
        (rc = migrations_pending(p, home, &pending, err)) ||
        (pending && (rc = td__pg_migrate(p->c, home, NULL, err)))) {
        td__pg_close(p->c);
        free(p);
        return rc;
    }
    *out = &p->base;
    return TD_OK;
}

#else
/* Built without libpq (TD_POSTGRES=OFF): an empty unit needs a declaration. */
typedef int td__pgs_disabled;
#endif /* TD_HAVE_POSTGRES */
