/*
 * pg_store.c - the PostgreSQL backend of store.h (postgres://): open and
 * migrate, transactions, the office scope for row-level security, and
 * the ops of offices, users, sessions, API keys, messages, senders,
 * cases, notes, evidence, audit and retention.  The feedback, alert and
 * export ops live in pg_feedback.c, pg_alerts.c and pg_export.c (pg_ops.h).
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
 *    and audit_chain_ever answers each office's highest seq for verify.
 */
#ifdef TD_HAVE_POSTGRES

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/pg_ops.h"
#include "store/store_int.h"
#include "threatdesk/taxonomy.h"

/* The scope cache: what threatdesk.office_id holds right now. */
#define SCOPE_UNKNOWN INT64_MIN
#define SCOPE_ALL (-1)

#define LOCK_AUDIT "SELECT pg_advisory_xact_lock(hashtextextended('threatdesk.audit', $1::bigint))"

struct pgs {
    struct td_store base; /* first: td_store * <-> struct pgs * */
    struct td_pg *c;
    int in_tx;       /* a store transaction (begin) is open */
    int64_t cur;     /* the office the next statement acts for (cache) */
    int64_t session; /* the session-level value, what `cur` falls back to */
};

static struct pgs *PGS(struct td_store *s)
{
    return (struct pgs *)s;
}

struct td_pg *td__pgs_conn(struct td_store *s)
{
    return PGS(s)->c;
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
int td__pgs_scope(struct td_store *s, int64_t office, struct td_error *err)
{
    struct pgs *p = PGS(s);
    if (office < 0)
        office = SCOPE_ALL;
    if (p->cur == office)
        return TD_OK;
    char o[24];
    const char *v[2] = {office == SCOPE_ALL ? "*" : td__pg_i64(o, office),
                        p->in_tx ? "true" : "false"};
    int rc = td__pg_exec(p->c, "SELECT set_config('threatdesk.office_id', $1, $2::boolean)", 2, v,
                         NULL, NULL, NULL, err);
    if (rc) {
        p->cur = SCOPE_UNKNOWN;
        return rc;
    }
    p->cur = office;
    if (!p->in_tx)
        p->session = office;
    return TD_OK;
}

/* ---- parameters and results -------------------------------------------- */

#define ARGS_MAX 24

/* Bound parameters: numbers are formatted into the struct, text and bytes
 * are borrowed for the call. */
struct args {
    int n;
    int binary; /* a bytea parameter is among them */
    const char *v[ARGS_MAX];
    int len[ARGS_MAX];
    int fmt[ARGS_MAX];
    char num[ARGS_MAX][24];
};

static void a_t(struct args *a, const char *s)
{
    a->v[a->n] = s;
    a->len[a->n] = 0;
    a->fmt[a->n] = 0;
    a->n++;
}

static void a_i(struct args *a, int64_t i)
{
    a_t(a, td__pg_i64(a->num[a->n], i));
}

static void a_null(struct args *a)
{
    a_t(a, NULL);
}

static void a_bin(struct args *a, const void *p, size_t n)
{
    a->v[a->n] = n ? p : "";
    a->len[a->n] = (int)n;
    a->fmt[a->n] = 1;
    a->binary = 1;
    a->n++;
}

static int ex(struct pgs *p, const char *sql, const struct args *a, PGresult **r,
              struct td_error *err)
{
    return td__pg_exec(p->c, sql, a ? a->n : 0, a ? a->v : NULL, a && a->binary ? a->len : NULL,
                       a && a->binary ? a->fmt : NULL, r, err);
}

/* A statement that must change at least one row:
 * TD_ENOTFOUND "no such <what>" when it changed none (td__sq_write1). */
static int ex1(struct pgs *p, const char *what, const char *sql, const struct args *a,
               struct td_error *err)
{
    PGresult *r;
    int rc = ex(p, sql, a, &r, err);
    if (rc)
        return rc;
    const char *n = PQcmdTuples(r);
    int none = !n || !*n || !strcmp(n, "0");
    PQclear(r);
    return none ? td_error_set(err, TD_ENOTFOUND, "no such %s", what) : TD_OK;
}

static const char *col(const PGresult *r, int row, int i)
{
    return PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
}

static int64_t coli(const PGresult *r, int row, int i)
{
    if (PQgetisnull(r, row, i))
        return 0;
    const char *s = PQgetvalue(r, row, i);
    if (s[0] == 't' && !s[1])
        return 1; /* boolean */
    if (s[0] == 'f' && !s[1])
        return 0;
    return (int64_t)strtoll(s, NULL, 10);
}

static void copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

/* One integer from row 0, column 0; 0 when there is no row (td__sq_value). */
static int value(struct pgs *p, const char *sql, const struct args *a, int64_t *out,
                 struct td_error *err)
{
    PGresult *r;
    int rc = ex(p, sql, a, &r, err);
    if (rc)
        return rc;
    *out = PQntuples(r) > 0 ? coli(r, 0, 0) : 0;
    PQclear(r);
    return TD_OK;
}

/* ---- rows as JSON (td__sq_row_json's rules) ------------------------------ */

/* Type OIDs of pg_type.h (stable across versions). */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_NUMERIC 1700

json_t *td__pg_row_json(const PGresult *r, int row)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int n = PQnfields(r);
    for (int i = 0; i < n; i++) {
        const char *name = PQfname(r, i);
        size_t nl = strlen(name);
        if (PQgetisnull(r, row, i))
            continue;
        const char *txt = PQgetvalue(r, row, i);
        Oid type = PQftype(r, i);
        if (!strcmp(name, "verdict") || (nl > 5 && !strcmp(name + nl - 5, "_json"))) {
            json_t *v = json_loads(txt, JSON_DECODE_ANY, NULL);
            if (!v)
                continue;
            if (!strcmp(name, "verdict")) {
                if (json_is_object(v)) {
                    json_object_del(v, "severity_rank");
                    json_object_update(o, v);
                }
                json_decref(v);
            } else {
                char key[64];
                snprintf(key, sizeof key, "%.*s", (int)(nl - 5), name);
                json_object_set_new(o, key, v);
            }
            continue;
        }
        json_t *v = NULL;
        switch (type) {
        case OID_BYTEA:
            break; /* bytes never go to JSON */
        case OID_BOOL:
            v = json_integer(txt[0] == 't'); /* SQLite answers 0/1 */
            break;
        case OID_INT2:
        case OID_INT4:
        case OID_INT8:
            v = json_integer((json_int_t)strtoll(txt, NULL, 10));
            break;
        case OID_FLOAT4:
        case OID_FLOAT8:
        case OID_NUMERIC:
            v = json_real(strtod(txt, NULL));
            break;
        default:
            /* invalid UTF-8 is refused by json_stringn and left out, as in
             * SQLite (PostgreSQL's UTF8 encoding would not store it). */
            v = json_stringn(txt, (size_t)PQgetlength(r, row, i));
            break;
        }
        if (v)
            json_object_set_new(o, name, v);
    }
    return o;
}

/* Every row of r as a JSON array (r stays the caller's). */
static int rows_json(const PGresult *r, json_t **out, struct td_error *err)
{
    json_t *a = json_array();
    if (!a)
        return td_error_set(err, TD_ENOMEM, NULL);
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = td__pg_row_json(r, i);
        if (!o || json_array_append_new(a, o)) {
            json_decref(a);
            return td_error_set(err, TD_ENOMEM, NULL);
        }
    }
    *out = a;
    return TD_OK;
}

static int query_json(struct pgs *p, const char *sql, const struct args *a, json_t **out,
                      struct td_error *err)
{
    PGresult *r;
    int rc = ex(p, sql, a, &r, err);
    if (rc)
        return rc;
    rc = rows_json(r, out, err);
    PQclear(r);
    return rc;
}

/* One row as an object; TD_ENOTFOUND "no such <what>" when none. */
static int row1_json(struct pgs *p, const char *what, const char *sql, const struct args *a,
                     json_t **out, struct td_error *err)
{
    PGresult *r;
    int rc = ex(p, sql, a, &r, err);
    if (rc)
        return rc;
    if (PQntuples(r) < 1) {
        rc = td_error_set(err, TD_ENOTFOUND, "no such %s", what);
    } else if (!(*out = td__pg_row_json(r, 0))) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
    }
    PQclear(r);
    return rc;
}

/* ---- open, close, transactions ------------------------------------------ */

static void pgs_close(struct td_store *s)
{
    struct pgs *p = PGS(s);
    td__pg_close(p->c);
    free(p);
}

static int pgs_schema_version(struct td_store *s, int64_t *v, struct td_error *err)
{
    return value(PGS(s), "SELECT coalesce(max(version), 0) FROM schema_migrations", NULL, v, err);
}

static int pgs_begin(struct td_store *s, struct td_error *err)
{
    struct pgs *p = PGS(s);
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
}

static int pgs_commit(struct td_store *s, struct td_error *err)
{
    struct pgs *p = PGS(s);
    int rc = td__pg_commit(p->c, err);
    tx_over(p);
    return rc;
}

static void pgs_rollback(struct td_store *s)
{
    struct pgs *p = PGS(s);
    td__pg_rollback(p->c);
    tx_over(p);
}

/* Savepoint names come from the desk (fixed identifiers), checked here. */
static int sp(struct pgs *p, const char *verb, const char *name, struct td_error *err)
{
    if (!*name)
        return td_error_set(err, TD_EINVAL, "bad savepoint name");
    for (const char *q = name; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_'))
            return td_error_set(err, TD_EINVAL, "bad savepoint name");
    char sql[128];
    snprintf(sql, sizeof sql, "%s %s", verb, name);
    return td__pg_exec(p->c, sql, 0, NULL, NULL, NULL, NULL, err);
}

static int pgs_savepoint(struct td_store *s, const char *name, struct td_error *err)
{
    return sp(PGS(s), "SAVEPOINT", name, err);
}

static int pgs_release(struct td_store *s, const char *name, struct td_error *err)
{
    return sp(PGS(s), "RELEASE SAVEPOINT", name, err);
}

static void pgs_rollback_to(struct td_store *s, const char *name)
{
    struct pgs *p = PGS(s);
    struct td_error e;
    if (sp(p, "ROLLBACK TO SAVEPOINT", name, &e) == TD_OK)
        sp(p, "RELEASE SAVEPOINT", name, &e);
    /* a set_config after the savepoint is undone with it */
    p->cur = SCOPE_UNKNOWN;
}

/* ---- offices and users (outside row-level security: read before any
 * office is known; every query filters itself) --------------------------- */

static int pgs_office_find(struct td_store *s, const char *name, int64_t *id, struct td_error *err)
{
    struct args a = {0};
    a_t(&a, name);
    PGresult *r;
    int rc = ex(PGS(s), "SELECT id FROM offices WHERE name = $1", &a, &r, err);
    if (rc)
        return rc;
    if (PQntuples(r) < 1)
        rc = td_error_set(err, TD_ENOTFOUND, "no office '%s'", name);
    else
        *id = coli(r, 0, 0);
    PQclear(r);
    return rc;
}

/* INSERT ... ON CONFLICT DO NOTHING RETURNING id: a taken name is
 * TD_EEXISTS without aborting the desk's transaction. */
static int insert_id(struct pgs *p, const char *what, const char *sql, const struct args *a,
                     int64_t *id, struct td_error *err)
{
    PGresult *r;
    int rc = ex(p, sql, a, &r, err);
    if (rc)
        return rc;
    if (PQntuples(r) < 1)
        rc = td_error_set(err, TD_EEXISTS, "%s: already exists", what);
    else if (id)
        *id = coli(r, 0, 0);
    PQclear(r);
    return rc;
}

static int pgs_office_insert(struct td_store *s, const char *name, int64_t now, int64_t *id,
                             struct td_error *err)
{
    struct args a = {0};
    a_t(&a, name);
    a_i(&a, now);
    return insert_id(PGS(s), "office",
                     "INSERT INTO offices(name, created) VALUES ($1, $2::bigint) "
                     "ON CONFLICT DO NOTHING RETURNING id",
                     &a, id, err);
}

static int pgs_office_list(struct td_store *s,
                           int (*cb)(void *ud, const struct td_store_office_row *r), void *ud,
                           struct td_error *err)
{
    PGresult *r;
    int rc = ex(PGS(s),
                "SELECT o.id, o.name, o.created, "
                "(SELECT count(*) FROM users u WHERE u.office_id = o.id) "
                "FROM offices o ORDER BY o.name COLLATE \"C\"",
                NULL, &r, err);
    for (int i = 0; !rc && i < PQntuples(r); i++) {
        struct td_store_office_row row = {.id = coli(r, i, 0),
                                          .name = col(r, i, 1),
                                          .created = coli(r, i, 2),
                                          .users = coli(r, i, 3)};
        rc = cb(ud, &row);
    }
    PQclear(r);
    return rc;
}

static int pgs_user_count(struct td_store *s, int64_t *n, struct td_error *err)
{
    return value(PGS(s), "SELECT count(*) FROM users", NULL, n, err);
}

static int pgs_user_insert(struct td_store *s, const struct td_store_user *u, int64_t *id,
                           struct td_error *err)
{
    struct args a = {0};
    a_i(&a, u->office_id);
    a_t(&a, u->name);
    a_t(&a, u->role);
    a_t(&a, u->pwhash);
    a_i(&a, u->must_change);
    a_i(&a, u->created);
    int rc = insert_id(PGS(s), "user",
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

static int user_read(struct pgs *p, const char *sql, const struct args *a, struct td_store_user *u,
                     struct td_error *err)
{
    PGresult *r;
    int rc = ex(p, sql, a, &r, err);
    if (rc)
        return rc;
    if (PQntuples(r) < 1) {
        rc = td_error_set(err, TD_ENOTFOUND, "no such user");
    } else {
        memset(u, 0, sizeof *u);
        u->id = coli(r, 0, 0);
        u->office_id = coli(r, 0, 1);
        copy(u->name, sizeof u->name, col(r, 0, 2));
        copy(u->role, sizeof u->role, col(r, 0, 3));
        copy(u->pwhash, sizeof u->pwhash, col(r, 0, 4));
        u->must_change = (int)coli(r, 0, 5);
        u->created = coli(r, 0, 6);
        copy(u->office, sizeof u->office, col(r, 0, 7));
        u->disabled = (int)coli(r, 0, 8);
    }
    PQclear(r);
    return rc;
}

static int pgs_user_find(struct td_store *s, int64_t office, const char *name,
                         struct td_store_user *out, struct td_error *err)
{
    struct pgs *p = PGS(s);
    struct args a = {0};
    int64_t n = 0;
    a_t(&a, name);
    /* Any office: the name must be unambiguous. */
    if (!office && value(p, "SELECT count(*) FROM users WHERE name = $1", &a, &n, err) == TD_OK &&
        n > 1) {
        td_error_field(err, "office");
        return td_error_set(err, TD_EINVAL,
                            "user name '%s' is used in more than one office: name the office",
                            name);
    }
    a_i(&a, office);
    return user_read(p, USER_COLS "WHERE u.name = $1 AND ($2::bigint = 0 OR u.office_id = $2)", &a,
                     out, err);
}

static int pgs_user_get(struct td_store *s, int64_t id, struct td_store_user *out,
                        struct td_error *err)
{
    struct args a = {0};
    a_i(&a, id);
    return user_read(PGS(s), USER_COLS "WHERE u.id = $1::bigint", &a, out, err);
}

static int pgs_user_set_password(struct td_store *s, int64_t id, const char *pwhash,
                                 int must_change, struct td_error *err)
{
    struct args a = {0};
    a_t(&a, pwhash);
    a_i(&a, must_change);
    a_i(&a, id);
    return ex1(PGS(s), "user",
               "UPDATE users SET pwhash = $1, must_change = $2::bigint WHERE id = $3::bigint", &a,
               err);
}

static int pgs_user_set_role(struct td_store *s, int64_t id, const char *role, struct td_error *err)
{
    struct args a = {0};
    a_t(&a, role);
    a_i(&a, id);
    return ex1(PGS(s), "user", "UPDATE users SET role = $1 WHERE id = $2::bigint", &a, err);
}

static int pgs_user_list(struct td_store *s, int64_t office,
                         int (*cb)(void *ud, const struct td_store_user_row *r), void *ud,
                         struct td_error *err)
{
    struct args a = {0};
    PGresult *r;
    a_i(&a, office);
    /* COLLATE "C": the byte order SQLite sorts by */
    int rc = ex(PGS(s),
                "SELECT u.id, u.name, u.role, o.name, u.created, u.must_change, u.disabled "
                "FROM users u JOIN offices o ON o.id = u.office_id "
                "WHERE $1::bigint = 0 OR u.office_id = $1 "
                "ORDER BY o.name COLLATE \"C\", u.name COLLATE \"C\"",
                &a, &r, err);
    for (int i = 0; !rc && i < PQntuples(r); i++) {
        struct td_store_user_row row = {.id = coli(r, i, 0),
                                        .name = col(r, i, 1),
                                        .role = col(r, i, 2),
                                        .office = col(r, i, 3),
                                        .created = coli(r, i, 4),
                                        .must_change = (int)coli(r, i, 5),
                                        .disabled = (int)coli(r, i, 6)};
        rc = cb(ud, &row);
    }
    PQclear(r);
    return rc;
}

static int pgs_user_set_disabled(struct td_store *s, int64_t id, int disabled, struct td_error *err)
{
    struct args a = {0};
    a_i(&a, disabled ? 1 : 0);
    a_i(&a, id);
    return ex1(PGS(s), "user", "UPDATE users SET disabled = $1::bigint WHERE id = $2::bigint", &a,
               err);
}

static int pgs_user_role_count(struct td_store *s, int64_t office, const char *role, int64_t *n,
                               struct td_error *err)
{
    struct args a = {0};
    a_i(&a, office);
    a_t(&a, role);
    return value(PGS(s),
                 "SELECT count(*) FROM users WHERE office_id = $1::bigint AND role = $2 "
                 "AND disabled = 0",
                 &a, n, err);
}

/* ---- sessions, keys, failed logins ------------------------------------- */

static int pgs_session_insert(struct td_store *s, int64_t user, const char *th, int64_t created,
                              int64_t expires, int64_t *id, struct td_error *err)
{
    struct pgs *p = PGS(s);
    struct args a = {0};
    a_t(&a, th);
    a_i(&a, user);
    a_i(&a, created);
    a_i(&a, expires);
    int rc = insert_id(p, "session",
                       "INSERT INTO sessions(token_hash, user_id, created, expires) "
                       "VALUES ($1, $2::bigint, $3::bigint, $4::bigint) "
                       "ON CONFLICT DO NOTHING RETURNING id",
                       &a, id, err);
    if (rc)
        return rc;
    /* Expired sessions are useless: prune them as new ones open. */
    struct args b = {0};
    a_i(&b, created);
    return ex(p, "DELETE FROM sessions WHERE expires <= $1::bigint", &b, NULL, err);
}

static int pgs_session_find(struct td_store *s, const char *th, int64_t now, int64_t *user,
                            int64_t *sid, struct td_error *err)
{
    struct args a = {0};
    PGresult *r;
    a_t(&a, th);
    a_i(&a, now);
    int rc = ex(PGS(s),
                "SELECT s.user_id, s.id FROM sessions s JOIN users u ON u.id = s.user_id "
                "WHERE s.token_hash = $1 AND s.expires > $2::bigint AND u.disabled = 0",
                &a, &r, err);
    if (rc)
        return rc;
    if (PQntuples(r) < 1) {
        rc = td_error_set(err, TD_ENOTFOUND, "no such session");
    } else {
        *user = coli(r, 0, 0);
        *sid = coli(r, 0, 1);
    }
    PQclear(r);
    return rc;
}

static int pgs_session_delete(struct td_store *s, const char *th, struct td_error *err)
{
    struct args a = {0};
    a_t(&a, th);
    return ex(PGS(s), "DELETE FROM sessions WHERE token_hash = $1", &a, NULL, err);
}

static int pgs_session_delete_user(struct td_store *s, int64_t user, struct td_error *err)
{
    struct args a = {0};
    a_i(&a, user);
    return ex(PGS(s), "DELETE FROM sessions WHERE user_id = $1::bigint", &a, NULL, err);
}

static int pgs_apikey_insert(struct td_store *s, int64_t user, const char *kh, const char *label,
                             int64_t created, int64_t issued_by, int64_t *id, struct td_error *err)
{
    struct args a = {0};
    a_t(&a, kh);
    a_i(&a, user);
    a_t(&a, label);
    a_i(&a, created);
    a_i(&a, issued_by);
    return insert_id(PGS(s), "api key",
                     "INSERT INTO api_keys(key_hash, user_id, label, created, issued_by) "
                     "VALUES ($1, $2::bigint, $3, $4::bigint, $5::bigint) "
                     "ON CONFLICT DO NOTHING RETURNING id",
                     &a, id, err);
}

static int pgs_apikey_find(struct td_store *s, const char *kh, int64_t *user, int64_t *kid,
                           int64_t *issued_by, struct td_error *err)
{
    struct args a = {0};
    PGresult *r;
    a_t(&a, kh);
    int rc = ex(PGS(s),
                "SELECT k.user_id, k.id, coalesce(k.issued_by, -1) FROM api_keys k "
                "JOIN users u ON u.id = k.user_id "
                "WHERE k.key_hash = $1 AND k.revoked IS NULL AND u.disabled = 0",
                &a, &r, err);
    if (rc)
        return rc;
    if (PQntuples(r) < 1) {
        rc = td_error_set(err, TD_ENOTFOUND, "no such api key");
    } else {
        *user = coli(r, 0, 0);
        *kid = coli(r, 0, 1);
        *issued_by = coli(r, 0, 2);
    }
    PQclear(r);
    return rc;
}

static int pgs_apikey_list(struct td_store *s, int64_t office, int64_t user,
                           int (*cb)(void *ud, const struct td_store_key_row *r), void *ud,
                           struct td_error *err)
{
    struct args a = {0};
    PGresult *r;
    a_i(&a, office);
    a_i(&a, user);
    int rc = ex(PGS(s),
                "SELECT k.id, u.name, k.label, k.created, coalesce(k.issued_by, -1), "
                "i.name, k.revoked IS NOT NULL, k.revoked, coalesce(k.revoked_by, -1), "
                "r.name FROM api_keys k JOIN users u ON u.id = k.user_id "
                "LEFT JOIN users i ON i.id = k.issued_by "
                "LEFT JOIN users r ON r.id = k.revoked_by "
                "WHERE u.office_id = $1::bigint AND ($2::bigint = 0 OR k.user_id = $2) "
                "ORDER BY k.id DESC",
                &a, &r, err);
    for (int i = 0; !rc && i < PQntuples(r); i++) {
        struct td_store_key_row row = {.id = coli(r, i, 0),
                                       .user = col(r, i, 1),
                                       .label = col(r, i, 2),
                                       .created = coli(r, i, 3),
                                       .issued_by = coli(r, i, 4),
                                       .issued_by_name = col(r, i, 5),
                                       .revoked = (int)coli(r, i, 6),
                                       .revoked_at = coli(r, i, 7),
                                       .revoked_by = coli(r, i, 8),
                                       .revoked_by_name = col(r, i, 9)};
        rc = cb(ud, &row);
    }
    PQclear(r);
    return rc;
}

static int pgs_apikey_revoke(struct td_store *s, int64_t office, int64_t kid, int64_t when,
                             int64_t by, int64_t *user, int *was, struct td_error *err)
{
    struct pgs *p = PGS(s);
    struct args a = {0};
    PGresult *r;
    a_i(&a, kid);
    a_i(&a, office);
    int rc = ex(p,
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
    *user = coli(r, 0, 0);
    *was = (int)coli(r, 0, 1);
    PQclear(r);
    if (*was)
        return TD_OK;
    struct args b = {0};
    a_i(&b, when);
    a_i(&b, by);
    a_i(&b, kid);
    return ex(p,
              "UPDATE api_keys SET revoked = $1::bigint, revoked_by = $2::bigint "
              "WHERE id = $3::bigint",
              &b, NULL, err);
}

static int pgs_apikey_revoke_user(struct td_store *s, int64_t user, int64_t when, int64_t by,
                                  int (*cb)(void *ud, int64_t id), void *ud, struct td_error *err)
{
    struct pgs *p = PGS(s);
    struct args a = {0};
    PGresult *r;
    a_i(&a, user);
    int rc = ex(p,
                "SELECT id FROM api_keys WHERE user_id = $1::bigint AND revoked IS NULL "
                "ORDER BY id",
                &a, &r, err);
    if (rc)
        return rc;
    for (int i = 0; !rc && i < PQntuples(r); i++)
        rc = cb(ud, coli(r, i, 0));
    PQclear(r);
    if (rc)
        return rc;
    struct args b = {0};
    a_i(&b, when);
    a_i(&b, by);
    a_i(&b, user);
    return ex(p,
              "UPDATE api_keys SET revoked = $1::bigint, revoked_by = $2::bigint "
              "WHERE user_id = $3::bigint AND revoked IS NULL",
              &b, NULL, err);
}

static int pgs_login_failures(struct td_store *s, const char *name, const char *source,
                              int64_t since, int64_t *count, int64_t *oldest, struct td_error *err)
{
    struct args a = {0};
    PGresult *r;
    a_t(&a, name);
    a_t(&a, source);
    a_i(&a, since);
    int rc = ex(PGS(s),
                "SELECT count(*), coalesce(min(time), 0) FROM login_failures "
                "WHERE name = $1 AND source = $2 AND time >= $3::bigint",
                &a, &r, err);
    if (rc)
        return rc;
    *count = coli(r, 0, 0);
    *oldest = coli(r, 0, 1);
    PQclear(r);
    return TD_OK;
}

static int pgs_login_failure_add(struct td_store *s, const char *name, const char *source,
                                 int64_t when, struct td_error *err)
{
    struct pgs *p = PGS(s);
    struct args a = {0};
    a_t(&a, name);
    a_t(&a, source);
    a_i(&a, when);
    int rc = ex(p, "INSERT INTO login_failures(name, source, time) VALUES ($1, $2, $3::bigint)", &a,
                NULL, err);
    if (rc)
        return rc;
    /* Failures older than a day count for no window the desk uses. */
    struct args b = {0};
    a_i(&b, when - 86400);
    return ex(p, "DELETE FROM login_failures WHERE time < $1::bigint", &b, NULL, err);
}

static int pgs_login_failure_clear(struct td_store *s, const char *name, const char *source,
                                   struct td_error *err)
{
    struct args a = {0};
    a_t(&a, name);
    a_t(&a, source);
    return ex(PGS(s), "DELETE FROM login_failures WHERE name = $1 AND source = $2", &a, NULL, err);
}

/* ---- messages ---------------------------------------------------------- */

static int pgs_message_find_key(struct td_store *s, int64_t office, const char *key, int64_t *id,
                                int *severity, struct td_error *err)
{
    struct pgs *p = PGS(s);
    struct args a = {0};
    PGresult *r;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    a_i(&a, office);
    a_t(&a, key);
    if ((rc = ex(p,
                 "SELECT id, severity FROM messages WHERE office_id = $1::bigint "
                 "AND client_key = $2",
                 &a, &r, err)))
        return rc;
    if (PQntuples(r) < 1) {
        rc = TD_ENOTFOUND; /* the usual case: no error text needed */
    } else {
        *id = coli(r, 0, 0);
        *severity = (int)coli(r, 0, 1);
    }
    PQclear(r);
    return rc;
}

static int pgs_message_insert(struct td_store *s, const struct td_store_message *m, int64_t *id,
                              struct td_error *err)
{
    struct pgs *p = PGS(s);
    struct args a = {0};
    char *text = NULL;
    int rc = td__pgs_scope(s, m->office_id, err);
    if (rc)
        return rc;
    /* text_len is the text's length: a text parameter ends at its NUL */
    const char *t = m->text ? m->text : "";
    if (m->text && strlen(m->text) != m->text_len) {
        if (!(text = strndup(m->text, m->text_len)))
            return td_error_set(err, TD_ENOMEM, NULL);
        t = text;
    }
    a_i(&a, m->office_id);
    a_t(&a, m->client_key);
    a_t(&a, m->message_id);
    a_t(&a, m->channel);
    a_t(&a, m->sender);
    a_t(&a, m->sender_name);
    a_t(&a, m->subject);
    a_t(&a, t);
    a_bin(&a, m->original, m->original_len);
    a_i(&a, m->received);
    a_i(&a, m->ingested);
    a_i(&a, m->ingested_by);
    a_i(&a, m->severity);
    a_i(&a, m->labels);
    a_i(&a, m->flags);
    a_t(&a, m->verdict);
    a_t(&a, m->model_version);
    a_t(&a, m->content_key);
    a_t(&a, m->attachments);
    rc = insert_id(p, "message",
                   "INSERT INTO messages(office_id, client_key, message_id, channel, sender, "
                   "sender_name, subject, text, original, received, ingested, ingested_by, "
                   "severity, labels, flags, verdict, model_version, content_key, attachments) "
                   "VALUES ($1::bigint, $2, $3, $4, $5, $6, $7, $8, $9::bytea, $10::bigint, "
                   "$11::bigint, $12::bigint, $13::bigint, $14::bigint, $15::bigint, $16, $17, "
                   "$18, $19) ON CONFLICT DO NOTHING RETURNING id",
                   &a, id, err);
    free(text);
    return rc;
}

/* MESSAGE of desk.h; the verdict column is merged in by td__pg_row_json(). */
#define MSG_COLS                                                                                   \
    "SELECT m.id, m.channel, m.sender, m.sender_name, m.subject, m.received, m.ingested, "         \
    "m.status, m.status_reason, m.client_key, m.message_id, m.text, m.verdict, "                   \
    "m.attachments AS attachments_json, "                                                          \
    "(SELECT coalesce(json_agg(cm.case_id ORDER BY cm.case_id), '[]')::text "                      \
    "FROM case_messages cm WHERE cm.message_id = m.id) AS cases_json FROM messages m "

static int pgs_message_get(struct td_store *s, int64_t office, int64_t id, json_t **out,
                           struct td_error *err)
{
    struct args a = {0};
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    a_i(&a, office);
    a_i(&a, id);
    return row1_json(PGS(s), "message",
                     MSG_COLS "WHERE m.office_id = $1::bigint AND m.id = $2::bigint", &a, out, err);
}

/* A bytea column in text form (hex) as malloc()ed bytes. */
static int bytea(const PGresult *r, int row, int i, unsigned char **out, size_t *len,
                 struct td_error *err)
{
    *out = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, i), len);
    return *out ? TD_OK : td_error_set(err, TD_ENOMEM, NULL);
}

static int pgs_message_original(struct td_store *s, int64_t office, int64_t id, void **data,
                                size_t *len, struct td_error *err)
{
    struct args a = {0};
    PGresult *r;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    a_i(&a, office);
    a_i(&a, id);
    if ((rc = ex(PGS(s),
                 "SELECT original FROM messages WHERE office_id = $1::bigint "
                 "AND id = $2::bigint",
                 &a, &r, err)))
        return rc;
    if (PQntuples(r) < 1) {
        rc = td_error_set(err, TD_ENOTFOUND, "no such message");
    } else {
        unsigned char *b;
        size_t n;
        if (!(rc = bytea(r, 0, 0, &b, &n, err))) {
            /* the caller free()s: PQfreemem's memory is malloc's on every
             * platform but Windows; copy to be exact */
            *data = malloc(n ? n : 1);
            if (!*data)
                rc = td_error_set(err, TD_ENOMEM, NULL);
            else {
                if (n)
                    memcpy(*data, b, n);
                *len = n;
            }
            PQfreemem(b);
        }
    }
    PQclear(r);
    return rc;
}

/* The filter's WHERE, shared by the page query and the count: every
 * condition is a bound parameter, unused ones bound to "no filter". */
#define QUEUE_WHERE                                                                                \
    "WHERE m.office_id = $1::bigint AND ($2::text IS NULL OR m.status = $2) "                      \
    "AND ($3::int < 0 OR (m.labels & (1::bigint << $3::int)) <> 0) AND m.severity >= $4::bigint "  \
    "AND ($5::text IS NULL OR m.channel = $5) AND ($6::text IS NULL OR m.sender = $6) "            \
    "AND m.received >= $7::bigint AND m.received < $8::bigint "

#define QUEUE_ORDER                                                                                \
    "ORDER BY (m.status = 'unreviewed') DESC, m.severity DESC, m.received DESC, m.id DESC "

static void queue_args(struct args *a, int64_t office, const struct td_store_msg_query *f)
{
    a_i(a, office);
    a_t(a, f->status);
    a_i(a, f->label >= 0 && f->label < TD_LABEL_COUNT ? f->label : -1);
    a_i(a, f->min_severity > 0 ? f->min_severity : 0);
    a_t(a, f->channel);
    a_t(a, f->sender);
    a_i(a, f->since);
    a_i(a, f->until);
}

static int pgs_message_queue(struct td_store *s, int64_t office, const struct td_store_msg_query *f,
                             json_t **out, struct td_error *err)
{
    struct pgs *p = PGS(s);
    struct args a = {0};
    json_t *list = NULL;
    int64_t total = 0;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    queue_args(&a, office, f);
    if ((rc = value(p, "SELECT count(*) FROM messages m " QUEUE_WHERE, &a, &total, err)))
        return rc;
    a_i(&a, (int64_t)f->limit);
    a_i(&a, (int64_t)f->offset);
    /* The page's ids first, from the index alone, then the wide rows of
     * those ids only (as sqlite.c). */
    if ((rc = query_json(p,
                         MSG_COLS
                         "WHERE m.id IN (SELECT m.id FROM messages m " QUEUE_WHERE QUEUE_ORDER
                         "LIMIT $9::bigint OFFSET $10::bigint) "
                         "AND m.office_id = $1::bigint " QUEUE_ORDER,
                         &a, &list, err)))
        return rc;
    json_t *o = json_pack("{s:o, s:I, s:I, s:I}", "messages", list, "total", (json_int_t)total,
                          "limit", (json_int_t)f->limit, "offset", (json_int_t)f->offset);
    if (!o)
        return td_error_set(err, TD_ENOMEM, NULL);
    if ((int64_t)(f->offset + json_array_size(list)) < total)
        json_object_set_new(o, "next_offset",
                            json_integer((json_int_t)(f->offset + json_array_size(list))));
    *out = o;
    return TD_OK;
}

static int pgs_message_set_status(struct td_store *s, int64_t office, int64_t id,
                                  const char *status, const char *reason, int64_t by, int64_t when,
                                  struct td_error *err)
{
    struct args a = {0};
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    a_t(&a, status);
    a_t(&a, reason);
    a_i(&a, by);
    a_i(&a, when);
    a_i(&a, office);
    a_i(&a, id);
    return ex1(PGS(s), "message",
               "UPDATE messages SET status = $1, status_reason = $2, status_by = $3::bigint, "
               "status_time = $4::bigint WHERE office_id = $5::bigint AND id = $6::bigint",
               &a, err);
}

/* ---- senders ----------------------------------------------------------- */

static int pgs_sender_prior_threats(struct td_store *s, int64_t office, const char *sender,
                                    unsigned *n, struct td_error *err)
{
    struct args a = {0};
    int64_t v = 0;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    a_i(&a, office);
    a_t(&a, sender);
    rc = value(PGS(s), "SELECT threats FROM senders WHERE office_id = $1::bigint AND key = $2", &a,
               &v, err);
    *n = (unsigned)v;
    return rc;
}

static int pgs_sender_record(struct td_store *s, int64_t office, const char *sender,
                             const char *display, int severity, int is_threat, int64_t when,
                             struct td_error *err)
{
    struct args a = {0};
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    a_i(&a, office);
    a_t(&a, sender);
    a_t(&a, display);
    a_i(&a, is_threat ? 1 : 0);
    a_i(&a, severity);
    a_i(&a, when);
    return ex(PGS(s),
              "INSERT INTO senders AS x(office_id, key, display, messages, threats, "
              "worst_severity, first_seen, last_seen) "
              "VALUES ($1::bigint, $2, $3, 1, $4::bigint, $5::bigint, $6::bigint, $6::bigint) "
              "ON CONFLICT (office_id, key) DO UPDATE SET "
              "display = coalesce(excluded.display, x.display), messages = x.messages + 1, "
              "threats = x.threats + excluded.threats, "
              "worst_severity = greatest(x.worst_severity, excluded.worst_severity), "
              "first_seen = least(x.first_seen, excluded.first_seen), "
              "last_seen = greatest(x.last_seen, excluded.last_seen)",
              &a, NULL, err);
}

static int pgs_sender_get(struct td_store *s, int64_t office, const char *sender, size_t limit,
                          json_t **out, struct td_error *err)
{
    struct pgs *p = PGS(s);
    struct args a = {0};
    json_t *o = NULL, *recent = NULL;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    a_i(&a, office);
    a_t(&a, sender);
    if ((rc = row1_json(p, "sender",
                        "SELECT key AS sender, display, messages, threats, worst_severity, "
                        "first_seen, last_seen FROM senders WHERE office_id = $1::bigint "
                        "AND key = $2",
                        &a, &o, err)))
        return rc;
    json_t *ws = json_object_get(o, "worst_severity");
    if (json_is_integer(ws)) {
        const char *nm = td_severity_name((int)json_integer_value(ws));
        json_object_set_new(o, "worst_severity", json_string(nm ? nm : "none"));
    }
    a_i(&a, (int64_t)limit);
    if ((rc = query_json(p,
                         MSG_COLS "WHERE m.office_id = $1::bigint AND m.sender = $2 "
                                  "ORDER BY m.received DESC, m.id DESC LIMIT $3::bigint",
                         &a, &recent, err))) {
        json_decref(o);
        return rc;
    }
    json_object_set_new(o, "recent", recent);
    *out = o;
    return TD_OK;
}

/* ---- cases ------------------------------------------------------------- */

static int pgs_case_insert(struct td_store *s, const struct td_store_case *c, int64_t *id,
                           struct td_error *err)
{
    struct args a = {0};
    int rc = td__pgs_scope(s, c->office_id, err);
    if (rc)
        return rc;
    a_i(&a, c->office_id);
    a_t(&a, c->type);
    a_t(&a, c->status);
    a_t(&a, c->title);
    a_t(&a, c->description);
    if (c->occurred == INT64_MIN)
        a_null(&a);
    else
        a_i(&a, c->occurred);
    a_t(&a, c->place);
    a_t(&a, c->people);
    a_t(&a, c->police_ref);
    if (c->assignee)
        a_i(&a, c->assignee);
    else
        a_null(&a);
    a_i(&a, c->created);
    a_i(&a, c->created_by);
    return insert_id(PGS(s), "case",
                     "INSERT INTO cases(office_id, type, status, title, description, occurred, "
                     "place, people, police_ref, assignee, created, created_by, updated) "
                     "VALUES ($1::bigint, $2, $3, $4, $5, $6::bigint, $7, $8, $9, $10::bigint, "
                     "$11::bigint, $12::bigint, $11::bigint) RETURNING id",
                     &a, id, err);
}

static int pgs_case_head(struct td_store *s, int64_t office, int64_t id,
                         char status[TD_STORE_NAME_SIZE], int64_t *created_by, int *reported,
                         struct td_error *err)
{
    struct args a = {0};
    PGresult *r;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    a_i(&a, office);
    a_i(&a, id);
    if ((rc = ex(PGS(s),
                 "SELECT status, created_by, reported FROM cases WHERE office_id = $1::bigint "
                 "AND id = $2::bigint",
                 &a, &r, err)))
        return rc;
    if (PQntuples(r) < 1) {
        rc = td_error_set(err, TD_ENOTFOUND, "no such case");
    } else {
        copy(status, TD_STORE_NAME_SIZE, col(r, 0, 0));
        *created_by = coli(r, 0, 1);
        *reported = (int)coli(r, 0, 2);
    }
    PQclear(r);
    return rc;
}

#define CASE_COLS                                                                                  \
    "SELECT c.id, c.type, c.status, c.title, c.description, c.occurred, c.place AS place_json, "   \
    "c.people AS people_json, c.police_ref, a.name AS assignee, c.created, "                       \
    "cb.name AS created_by, c.updated FROM cases c "                                               \
    "LEFT JOIN users a ON a.id = c.assignee LEFT JOIN users cb ON cb.id = c.created_by "

/* The rows of sql, whose two parameters are (office, id), as o[key]. */
static int set_office_rows(struct pgs *p, json_t *o, const char *key, const char *sql,
                           const struct args *a, struct td_error *err)
{
    json_t *arr;
    int rc = query_json(p, sql, a, &arr, err);
    if (!rc)
        json_object_set_new(o, key, arr);
    return rc;
}

static int pgs_case_get(struct td_store *s, int64_t office, int64_t id, json_t **out,
                        struct td_error *err)
{
    struct pgs *p = PGS(s);
    struct args a = {0};
    json_t *o = NULL;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    a_i(&a, office);
    a_i(&a, id);
    if ((rc = row1_json(p, "case", CASE_COLS "WHERE c.office_id = $1::bigint AND c.id = $2::bigint",
                        &a, &o, err)))
        return rc;
    /* Linked messages, evidence and notes: all filtered by office too. */
    if ((rc =
             set_office_rows(p, o, "messages",
                             MSG_COLS "JOIN case_messages cm2 ON cm2.message_id = m.id "
                                      "WHERE m.office_id = $1::bigint AND cm2.case_id = $2::bigint "
                                      "ORDER BY m.received, m.id",
                             &a, err)) ||
        (rc = set_office_rows(
             p, o, "evidence",
             "SELECT e.id, e.name, e.type, e.size, e.sha256, e.added, u.name AS added_by "
             "FROM evidence e LEFT JOIN users u ON u.id = e.added_by "
             "WHERE e.office_id = $1::bigint AND e.case_id = $2::bigint ORDER BY e.id",
             &a, err)) ||
        (rc = set_office_rows(p, o, "notes",
                              "SELECT n.id, n.text, u.name AS author, n.created, n.shareable "
                              "FROM notes n LEFT JOIN users u ON u.id = n.user_id "
                              "WHERE n.office_id = $1::bigint AND n.case_id = $2::bigint "
                              "ORDER BY n.id",
                              &a, err))) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return TD_OK;
}

/* The editable columns: the only names ever spliced into SQL. */
static const struct {
    const char *field;
    const char *sql;
} case_fields[] = {
    {"type", "UPDATE cases SET type = $1::text, updated = $2::bigint "
             "WHERE office_id = $3::bigint AND id = $4::bigint"},
    {"title", "UPDATE cases SET title = $1::text, updated = $2::bigint "
              "WHERE office_id = $3::bigint AND id = $4::bigint"},
    {"description", "UPDATE cases SET description = $1::text, updated = $2::bigint "
                    "WHERE office_id = $3::bigint AND id = $4::bigint"},
    {"police_ref", "UPDATE cases SET police_ref = $1::text, updated = $2::bigint "
                   "WHERE office_id = $3::bigint AND id = $4::bigint"},
    {"occurred", "UPDATE cases SET occurred = $1::bigint, updated = $2::bigint "
                 "WHERE office_id = $3::bigint AND id = $4::bigint"},
    {"assignee", "UPDATE cases SET assignee = $1::bigint, updated = $2::bigint "
                 "WHERE office_id = $3::bigint AND id = $4::bigint"},
    {"place", "UPDATE cases SET place = $1::text, updated = $2::bigint "
              "WHERE office_id = $3::bigint AND id = $4::bigint"},
    {"people", "UPDATE cases SET people = $1::text, updated = $2::bigint "
               "WHERE office_id = $3::bigint AND id = $4::bigint"},
};

static int pgs_case_set(struct td_store *s, int64_t office, int64_t id, const char *field,
                        const struct td_store_value *value, int64_t now, struct td_error *err)
{
    const char *sql = NULL;
    int is_int = 0;
    for (size_t i = 0; i < sizeof case_fields / sizeof case_fields[0]; i++)
        if (!strcmp(case_fields[i].field, field)) {
            sql = case_fields[i].sql;
            is_int = !strcmp(field, "occurred") || !strcmp(field, "assignee");
        }
    if (!sql) {
        td_error_field(err, field);
        return td_error_set(err, TD_EINVAL, "not an editable case field");
    }
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    struct args a = {0};
    if (value && value->kind == TD_STORE_INT && is_int)
        a_i(&a, value->i);
    else if (value && value->kind == TD_STORE_INT)
        a_i(&a, value->i); /* a number into a text column, as SQLite would keep it */
    else if (value && value->kind == TD_STORE_TEXT && !is_int)
        a_t(&a, value->text);
    else if (value && value->kind == TD_STORE_TEXT)
        return td_error_set(err, TD_EINVAL, "%s: not a number", field);
    else
        a_null(&a);
    a_i(&a, now);
    a_i(&a, office);
    a_i(&a, id);
    return ex1(PGS(s), "case", sql, &a, err);
}

static int pgs_case_set_status(struct td_store *s, int64_t office, int64_t id, const char *from,
                               const char *to, int reported, int64_t now, struct td_error *err)
{
    struct args a = {0};
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    a_t(&a, to);
    a_i(&a, now);
    a_i(&a, office);
    a_i(&a, id);
    a_t(&a, from);
    a_i(&a, reported ? 1 : 0);
    /* WHERE status = from: a concurrent change makes this match nothing. */
    return ex1(PGS(s), "case",
               "UPDATE cases SET status = $1, updated = $2::bigint, "
               "reported = greatest(reported, $6::bigint) "
               "WHERE office_id = $3::bigint AND id = $4::bigint AND status = $5",
               &a, err);
}

#define CASE_WHERE                                                                                 \
    "WHERE c.office_id = $1::bigint AND ($2::text IS NULL OR c.status = $2) "                      \
    "AND ($3::text IS NULL OR c.type = $3) "                                                       \
    "AND ($4::text IS NULL OR a.name = $4) AND ($5::bigint = 0 OR c.reported = 1) "                \
    "AND ($6::text IS NULL OR EXISTS (SELECT 1 FROM case_messages cm JOIN messages m "             \
    "ON m.id = cm.message_id WHERE cm.case_id = c.id AND m.office_id = $1 AND m.sender = $6)) "    \
    "AND c.created >= $7::bigint AND c.created < $8::bigint "

static void case_args(struct args *a, int64_t office, const struct td_store_case_query *f)
{
    a_i(a, office);
    a_t(a, f->status);
    a_t(a, f->type);
    a_t(a, f->assignee);
    a_i(a, f->police_only ? 1 : 0);
    a_t(a, f->sender);
    a_i(a, f->since);
    a_i(a, f->until);
}

static int pgs_case_list(struct td_store *s, int64_t office, const struct td_store_case_query *f,
                         json_t **out, struct td_error *err)
{
    struct pgs *p = PGS(s);
    struct args a = {0};
    json_t *list = NULL;
    int64_t total = 0;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    case_args(&a, office, f);
    if ((rc = value(
             p, "SELECT count(*) FROM cases c LEFT JOIN users a ON a.id = c.assignee " CASE_WHERE,
             &a, &total, err)))
        return rc;
    a_i(&a, (int64_t)f->limit);
    a_i(&a, (int64_t)f->offset);
    if ((rc = query_json(p,
                         CASE_COLS CASE_WHERE
                         "ORDER BY c.created DESC, c.id DESC LIMIT $9::bigint OFFSET $10::bigint",
                         &a, &list, err)))
        return rc;
    json_t *o = json_pack("{s:o, s:I, s:I, s:I}", "cases", list, "total", (json_int_t)total,
                          "limit", (json_int_t)f->limit, "offset", (json_int_t)f->offset);
    if (!o)
        return td_error_set(err, TD_ENOMEM, NULL);
    if ((int64_t)(f->offset + json_array_size(list)) < total)
        json_object_set_new(o, "next_offset",
                            json_integer((json_int_t)(f->offset + json_array_size(list))));
    *out = o;
    return TD_OK;
}

static int pgs_case_link(struct td_store *s, int64_t office, int64_t case_id, int64_t msg,
                         int64_t now, int *linked_new, struct td_error *err)
{
    struct pgs *p = PGS(s);
    struct args a = {0};
    PGresult *r;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    a_i(&a, office);
    a_i(&a, case_id);
    a_i(&a, msg);
    a_i(&a, now);
    /* The SELECT proves both belong to the office before linking. */
    if ((rc = ex(p,
                 "INSERT INTO case_messages(case_id, message_id, linked) "
                 "SELECT c.id, m.id, $4::bigint FROM cases c, messages m "
                 "WHERE c.office_id = $1::bigint AND m.office_id = $1 AND c.id = $2::bigint "
                 "AND m.id = $3::bigint ON CONFLICT DO NOTHING",
                 &a, &r, err)))
        return rc;
    *linked_new = strcmp(PQcmdTuples(r), "0") != 0 && *PQcmdTuples(r);
    PQclear(r);
    if (*linked_new)
        return TD_OK;
    /* Nothing inserted: already linked, or an id of no case/message here. */
    struct args b = {0};
    int64_t linked = 0;
    a_i(&b, office);
    a_i(&b, case_id);
    a_i(&b, msg);
    value(p,
          "SELECT count(*) FROM case_messages cm JOIN cases c ON c.id = cm.case_id "
          "WHERE c.office_id = $1::bigint AND cm.case_id = $2::bigint "
          "AND cm.message_id = $3::bigint",
          &b, &linked, err);
    return linked ? TD_OK : td_error_set(err, TD_ENOTFOUND, "no such case or message");
}

static int pgs_note_insert(struct td_store *s, int64_t office, int64_t case_id, int64_t user,
                           const char *text, int shareable, int64_t now, int64_t *id,
                           struct td_error *err)
{
    struct args a = {0};
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    a_i(&a, office);
    a_i(&a, case_id);
    a_i(&a, user);
    a_t(&a, text);
    a_i(&a, now);
    a_i(&a, shareable ? 1 : 0);
    return insert_id(PGS(s), "note",
                     "INSERT INTO notes(office_id, case_id, user_id, text, created, shareable) "
                     "VALUES ($1::bigint, $2::bigint, $3::bigint, $4, $5::bigint, $6::bigint) "
                     "RETURNING id",
                     &a, id, err);
}

/* ---- evidence ---------------------------------------------------------- */

static int pgs_evidence_insert(struct td_store *s, const struct td_store_evidence *e, int64_t *id,
                               struct td_error *err)
{
    struct args a = {0};
    int rc = td__pgs_scope(s, e->office_id, err);
    if (rc)
        return rc;
    a_i(&a, e->office_id);
    a_i(&a, e->case_id);
    a_t(&a, e->name);
    a_t(&a, e->type);
    a_i(&a, e->size);
    a_t(&a, e->sha256);
    a_i(&a, e->added);
    a_i(&a, e->added_by);
    return insert_id(PGS(s), "evidence",
                     "INSERT INTO evidence(office_id, case_id, name, type, size, sha256, added, "
                     "added_by) VALUES ($1::bigint, $2::bigint, $3, $4, $5::bigint, $6, "
                     "$7::bigint, $8::bigint) RETURNING id",
                     &a, id, err);
}

static int pgs_evidence_get(struct td_store *s, int64_t office, int64_t id, json_t **out,
                            int64_t *case_id, char *sha256, struct td_error *err)
{
    struct args a = {0};
    json_t *o = NULL;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    a_i(&a, office);
    a_i(&a, id);
    if ((rc = row1_json(PGS(s), "evidence",
                        "SELECT e.id, e.case_id AS \"case\", e.name, e.type, e.size, e.sha256, "
                        "e.added, u.name AS added_by FROM evidence e "
                        "LEFT JOIN users u ON u.id = e.added_by "
                        "WHERE e.office_id = $1::bigint AND e.id = $2::bigint",
                        &a, &o, err)))
        return rc;
    *case_id = json_integer_value(json_object_get(o, "case"));
    const char *h = json_string_value(json_object_get(o, "sha256"));
    snprintf(sha256, 65, "%s", h ? h : "");
    *out = o;
    return TD_OK;
}

static int pgs_evidence_scan(struct td_store *s,
                             int (*cb)(void *ud, int64_t id, const char *sha256, int64_t size),
                             void *ud, struct td_error *err)
{
    PGresult *r;
    /* verify: every office's evidence */
    int rc = td__pgs_scope(s, -1, err);
    if (rc || (rc = ex(PGS(s), "SELECT id, sha256, size FROM evidence ORDER BY id", NULL, &r, err)))
        return rc;
    for (int i = 0; i < PQntuples(r); i++)
        if (cb(ud, coli(r, i, 0), col(r, i, 1), coli(r, i, 2)))
            break;
    PQclear(r);
    return TD_OK;
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
    struct args a = {0};
    PGresult *r;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    a_i(&a, office);
    if (p->in_tx && (rc = ex(p, LOCK_AUDIT, &a, NULL, err)))
        return rc;
    if ((rc = ex(p,
                 "SELECT a.seq, a.hash, h.seq FROM (SELECT 1) one "
                 "LEFT JOIN LATERAL (SELECT seq, hash FROM audit WHERE office_id = $1::bigint "
                 "ORDER BY seq DESC LIMIT 1) a ON true "
                 "LEFT JOIN audit_heads h ON h.office_id = $1::bigint",
                 &a, &r, err)))
        return rc;
    *last_id = coli(r, 0, 0);
    copy(last_hash, 65, col(r, 0, 1));
    int64_t ever = coli(r, 0, 2);
    PQclear(r);
    if (ever != *last_id)
        return td_error_set(err, TD_ESTORE,
                            "audit chain of office %" PRId64 ": head says entry %" PRId64
                            ", last entry is %" PRId64 " (entries deleted?); run threatdesk verify",
                            office, ever, *last_id);
    return TD_OK;
}

static int pgs_audit_append(struct td_store *s, const struct td_audit_entry *e,
                            struct td_error *err)
{
    struct args a = {0};
    int rc = td__pgs_scope(s, e->office_id, err);
    if (rc)
        return rc;
    a_i(&a, e->id);
    a_i(&a, e->time);
    a_i(&a, e->office_id);
    a_i(&a, e->user_id);
    a_t(&a, e->action);
    a_t(&a, e->object_type);
    a_i(&a, e->object_id);
    a_t(&a, e->details ? e->details : "{}");
    a_t(&a, e->prev_hash);
    a_t(&a, e->hash);
    /* The entry and the office's head in one statement; UNIQUE (office_id,
     * seq) and the head's move-by-one trigger refuse a fork. */
    return ex(PGS(s),
              "WITH a AS (INSERT INTO audit(seq, time, office_id, user_id, action, object_type, "
              "object_id, details, prev_hash, hash) VALUES ($1::bigint, $2::bigint, $3::bigint, "
              "$4::bigint, $5, $6, $7::bigint, $8, $9, $10) RETURNING office_id, seq, hash) "
              "INSERT INTO audit_heads(office_id, seq, hash) SELECT office_id, seq, hash FROM a "
              "ON CONFLICT (office_id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash",
              &a, NULL, err);
}

static void audit_entry(const PGresult *r, int i, struct td_audit_entry *e)
{
    memset(e, 0, sizeof *e);
    e->id = coli(r, i, 0);
    e->time = coli(r, i, 1);
    e->office_id = coli(r, i, 2);
    e->user_id = coli(r, i, 3);
    copy(e->action, sizeof e->action, col(r, i, 4));
    copy(e->object_type, sizeof e->object_type, col(r, i, 5));
    e->object_id = coli(r, i, 6);
    e->details = (char *)col(r, i, 7);
    copy(e->prev_hash, sizeof e->prev_hash, col(r, i, 8));
    copy(e->hash, sizeof e->hash, col(r, i, 9));
}

#define STR_(x) #x
#define STR(x) STR_(x)
#define AUDIT_PAGE 2000

/* Every office's chain, office by office, each in seq order; read a page
 * at a time (keyset) so a party's millions of entries are never held at
 * once.  *max_id_ever 0: per office, audit_chain_ever says. */
static int pgs_audit_scan(struct td_store *s, int (*cb)(void *ud, const struct td_audit_entry *e),
                          void *ud, int64_t *max_id_ever, struct td_error *err)
{
    struct pgs *p = PGS(s);
    int64_t office = INT64_MIN, seq = 0;
    int rc = td__pgs_scope(s, -1, err), stop = 0;
    *max_id_ever = 0;
    while (!rc && !stop) {
        struct args a = {0};
        PGresult *r;
        a_i(&a, office);
        a_i(&a, seq);
        if ((rc = ex(p,
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

static int pgs_audit_chain_ever(struct td_store *s, int64_t office, int64_t *max_id_ever,
                                struct td_error *err)
{
    struct args a = {0};
    int rc = td__pgs_scope(s, -1, err);
    if (rc)
        return rc;
    a_i(&a, office);
    *max_id_ever = 0;
    return value(PGS(s), "SELECT seq FROM audit_heads WHERE office_id = $1::bigint", &a,
                 max_id_ever, err);
}

static int pgs_audit_for_object(struct td_store *s, int64_t office, const char *type, int64_t id,
                                int (*cb)(void *ud, const struct td_store_event_row *r), void *ud,
                                struct td_error *err)
{
    struct args a = {0};
    PGresult *r;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    a_i(&a, office);
    a_t(&a, type);
    a_i(&a, id);
    if ((rc = ex(PGS(s),
                 "SELECT a.seq, a.time, u.name, a.action, a.details "
                 "FROM audit a LEFT JOIN users u ON u.id = a.user_id "
                 "WHERE a.office_id = $1::bigint AND a.object_type = $2 "
                 "AND a.object_id = $3::bigint ORDER BY a.seq",
                 &a, &r, err)))
        return rc;
    for (int i = 0; !rc && i < PQntuples(r); i++) {
        struct td_store_event_row row = {.id = coli(r, i, 0),
                                         .time = coli(r, i, 1),
                                         .user = col(r, i, 2),
                                         .action = col(r, i, 3),
                                         .details = col(r, i, 4)};
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
static int scan_rows(struct pgs *p, const char *kind, const char *sql, verify_cb *cb, void *ud,
                     struct td_error *err)
{
    int64_t last = INT64_MIN;
    int rc = TD_OK, stop = 0;
    while (!rc && !stop) {
        struct args a = {0};
        PGresult *r;
        a_i(&a, last);
        if ((rc = ex(p, sql, &a, &r, err)))
            break;
        int n = PQntuples(r), nf = PQnfields(r);
        for (int i = 0; i < n && !stop && !rc; i++) {
            last = coli(r, i, 0);
            for (int j = 1; j < nf && !stop && !rc; j++) {
                const char *v = col(r, i, j);
                if (!v) {
                    stop = cb(ud, kind, last, PQfname(r, j), NULL, 0);
                } else if (PQftype(r, j) == OID_BYTEA) {
                    unsigned char *b;
                    size_t len;
                    if (!(rc = bytea(r, i, j, &b, &len, err))) {
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
    struct pgs *p = PGS(s);
    int rc = td__pgs_scope(s, -1, err);
    if (!rc)
        rc = scan_rows(p, "message",
                       "SELECT id, original, text, status FROM messages WHERE id > $1::bigint "
                       "ORDER BY id LIMIT " STR(VERIFY_PAGE),
                       cb, ud, err);
    if (!rc)
        rc = scan_rows(p, "case",
                       "SELECT id, type, title, description, police_ref, status FROM cases "
                       "WHERE id > $1::bigint ORDER BY id LIMIT " STR(VERIFY_PAGE),
                       cb, ud, err);
    if (!rc)
        rc = scan_rows(p, "note",
                       "SELECT id, text, case_id::text AS \"case\" FROM notes "
                       "WHERE id > $1::bigint ORDER BY id LIMIT " STR(VERIFY_PAGE),
                       cb, ud, err);
    if (!rc)
        rc = scan_rows(p, "evidence",
                       "SELECT id, sha256, size::text AS size, case_id::text AS \"case\" "
                       "FROM evidence WHERE id > $1::bigint ORDER BY id LIMIT " STR(VERIFY_PAGE),
                       cb, ud, err);
    return rc;
}

/* ---- dedupe, retention, erasure ----------------------------------------- */

static int pgs_message_find_content(struct td_store *s, int64_t office, const char *ck, int64_t *id,
                                    int *severity, struct td_error *err)
{
    struct args a = {0};
    PGresult *r;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    a_i(&a, office);
    a_t(&a, ck);
    if ((rc = ex(PGS(s),
                 "SELECT id, severity FROM messages WHERE office_id = $1::bigint "
                 "AND content_key = $2 ORDER BY id LIMIT 1",
                 &a, &r, err)))
        return rc;
    if (PQntuples(r) < 1) {
        rc = TD_ENOTFOUND;
    } else {
        *id = coli(r, 0, 0);
        *severity = (int)coli(r, 0, 1);
    }
    PQclear(r);
    return rc;
}

static int pgs_message_walk(struct td_store *s, int64_t office, const char *sender, int64_t before,
                            int (*cb)(void *ud, int64_t id, const void *original, size_t len,
                                      int linked),
                            void *ud, struct td_error *err)
{
    struct args a = {0};
    PGresult *r;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    a_i(&a, office);
    a_t(&a, sender);
    a_i(&a, before);
    if ((rc = ex(PGS(s),
                 "SELECT m.id, m.original, EXISTS (SELECT 1 FROM case_messages cm "
                 "WHERE cm.message_id = m.id) FROM messages m WHERE m.office_id = $1::bigint "
                 "AND ($2::text IS NULL OR m.sender = $2) AND m.received < $3::bigint "
                 "ORDER BY m.received, m.id",
                 &a, &r, err)))
        return rc;
    for (int i = 0; !rc && i < PQntuples(r); i++) {
        unsigned char *b;
        size_t n;
        if ((rc = bytea(r, i, 1, &b, &n, err)))
            break;
        int stop = cb(ud, coli(r, i, 0), b, n, (int)coli(r, i, 2));
        PQfreemem(b);
        if (stop)
            break;
    }
    PQclear(r);
    return rc;
}

static int pgs_message_delete(struct td_store *s, int64_t office, int64_t id, struct td_error *err)
{
    struct args a = {0};
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    a_i(&a, office);
    a_i(&a, id);
    /* ON DELETE rows that hang off a message (vectors, feedback, alerts)
     * follow it by the schema's own rules, as in SQLite. */
    return ex1(PGS(s), "message",
               "DELETE FROM messages WHERE office_id = $1::bigint AND id = $2::bigint "
               "AND NOT EXISTS (SELECT 1 FROM case_messages cm WHERE cm.message_id = messages.id)",
               &a, err);
}

static int pgs_sender_delete(struct td_store *s, int64_t office, const char *sender,
                             struct td_error *err)
{
    struct args a = {0};
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    a_i(&a, office);
    a_t(&a, sender);
    return ex(PGS(s), "DELETE FROM senders WHERE office_id = $1::bigint AND key = $2", &a, NULL,
              err);
}

static int pgs_office_retention_get(struct td_store *s, int64_t office, int64_t *days,
                                    struct td_error *err)
{
    struct args a = {0};
    PGresult *r;
    a_i(&a, office);
    int rc = ex(PGS(s), "SELECT coalesce(retention_days, 0) FROM offices WHERE id = $1::bigint", &a,
                &r, err);
    if (rc)
        return rc;
    if (PQntuples(r) < 1)
        rc = td_error_set(err, TD_ENOTFOUND, "no such office");
    else
        *days = coli(r, 0, 0);
    PQclear(r);
    return rc;
}

static int pgs_office_retention_set(struct td_store *s, int64_t office, int64_t days,
                                    struct td_error *err)
{
    struct args a = {0};
    if (days > 0)
        a_i(&a, days);
    else
        a_null(&a);
    a_i(&a, office);
    return ex1(PGS(s), "office",
               "UPDATE offices SET retention_days = $1::bigint WHERE id = $2::bigint", &a, err);
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
    .message_find_key = pgs_message_find_key,
    .message_insert = pgs_message_insert,
    .message_get = pgs_message_get,
    .message_original = pgs_message_original,
    .message_queue = pgs_message_queue,
    .message_set_status = pgs_message_set_status,
    .sender_prior_threats = pgs_sender_prior_threats,
    .sender_record = pgs_sender_record,
    .sender_get = pgs_sender_get,
    .case_insert = pgs_case_insert,
    .case_head = pgs_case_head,
    .case_get = pgs_case_get,
    .case_set = pgs_case_set,
    .case_set_status = pgs_case_set_status,
    .case_list = pgs_case_list,
    .case_link = pgs_case_link,
    .note_insert = pgs_note_insert,
    .evidence_insert = pgs_evidence_insert,
    .evidence_get = pgs_evidence_get,
    .evidence_scan = pgs_evidence_scan,
    .audit_head = pgs_audit_head,
    .audit_append = pgs_audit_append,
    .audit_scan = pgs_audit_scan,
    .audit_for_object = pgs_audit_for_object,
    .session_delete_user = pgs_session_delete_user,
    .verify_scan = pgs_verify_scan,
    .message_find_content = pgs_message_find_content,
    .message_walk = pgs_message_walk,
    .message_delete = pgs_message_delete,
    .sender_delete = pgs_sender_delete,
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
    /* one chain per office */
    .audit_chain_ever = pgs_audit_chain_ever,
};

int td__pgs_open(const char *url, const char *home, struct td_store **out, struct td_error *err)
{
    struct pgs *p = calloc(1, sizeof *p);
    int rc;
    *out = NULL;
    if (!p)
        return td_error_set(err, TD_ENOMEM, NULL);
    p->base.ops = &pg_ops;
    p->cur = p->session = SCOPE_UNKNOWN;
    if (!home || !*home) {
        home = getenv("THREATDESK_HOME");
        if (!home || !*home)
            home = TD_SOURCE_DIR;
    }
    if ((rc = td__pg_connect(url, &p->c, err)) || (rc = td__pg_migrate(p->c, home, NULL, err))) {
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
