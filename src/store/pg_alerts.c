/*
 * pg_alerts.c - the PostgreSQL side of alerts (migration 0005), op for op
 * as sqlite_alerts.c (store.h says what each op promises).
 *
 * The outbox discipline is SQLite's: a delivery is claimed (state
 * 'sending' with a lease) in one transaction, sent outside any
 * transaction, and its outcome recorded in another; a worker killed in
 * between leaves a lease that runs out, after which any worker claims it
 * again.  What PostgreSQL adds: several delivery workers in several
 * processes claim at once, so the claim locks the rows it takes with
 * FOR UPDATE SKIP LOCKED - two workers never claim the same delivery and
 * never wait for each other.
 *
 * Office ops name their office for row-level security (td__pgs_scope)
 * and in their WHERE clause; the delivery worker's ops (claim, attempt,
 * escalations, step) and an acknowledgement by link act across offices
 * (scope -1) and then narrow to the one office they touch where they
 * can.  Every value is a bound parameter.
 */
#ifdef TD_HAVE_POSTGRES

#include <stdio.h>
#include <string.h>

#include "store/pg_ops.h"
#include "store/pg_val.h"
#include "store/store_int.h"
#include "threatdesk/alert.h"
#include "threatdesk/buf.h"
#include "threatdesk/taxonomy.h"

/* Alerts keep an empty string as NULL (no e-mail, no webhook). */
static const char *opt(const char *s)
{
    return s && *s ? s : NULL;
}

/* The id an INSERT ... ON CONFLICT (office_id, name) DO NOTHING RETURNING
 * id made, or TD_EEXISTS worded as SQLite's UNIQUE failure (clears r). */
static int taken_or_id(PGresult *r, const char *what, const char *table, int64_t *id,
                       struct td_error *err)
{
    int rc = TD_OK;
    if (PQntuples(r) == 1)
        *id = td__pgv_i64(r, 0, 0);
    else
        rc = td_error_set(err, TD_EEXISTS, "%s: UNIQUE constraint failed: %s.office_id, %s.name",
                          what, table, table);
    PQclear(r);
    return rc;
}

/* ---- recipients ----------------------------------------------------------- */

int td__pgs_alert_recipient_insert(struct td_store *s, int64_t office, const char *name,
                                   const char *email, const char *url, const char *secret,
                                   int64_t now, int64_t *id, struct td_error *err)
{
    char o[24], n[24];
    PGresult *r;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    const char *p[6] = {td__pg_i64(o, office), opt(name),         opt(email), opt(url),
                        opt(secret),           td__pg_i64(n, now)};
    /* A name taken must leave the desk's transaction usable, as SQLite's
     * constraint error does: ON CONFLICT, not a failed statement (which
     * would abort the whole transaction). */
    if ((rc =
             td__pg_exec(td__pgs_conn(s),
                         "INSERT INTO alert_recipients(office_id, name, email, webhook_url, "
                         "webhook_secret, created) VALUES ($1::bigint, $2, $3, $4, $5, $6::bigint) "
                         "ON CONFLICT (office_id, name) DO NOTHING RETURNING id",
                         6, p, NULL, NULL, &r, err)))
        return rc;
    return taken_or_id(r, "alert recipient", "alert_recipients", id, err);
}

int td__pgs_alert_recipient_list(struct td_store *s, int64_t office,
                                 int (*cb)(void *ud, const struct td_store_recipient_row *r),
                                 void *ud, struct td_error *err)
{
    char o[24];
    PGresult *r;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    const char *p[1] = {td__pg_i64(o, office)};
    /* COLLATE "C": byte order, as SQLite's BINARY, whatever the cluster's locale */
    if ((rc = td__pg_exec(td__pgs_conn(s),
                          "SELECT id, name, email, webhook_url, webhook_secret IS NOT NULL, "
                          "created FROM alert_recipients WHERE office_id = $1::bigint "
                          "ORDER BY name COLLATE \"C\"",
                          1, p, NULL, NULL, &r, err)))
        return rc;
    for (int i = 0, rows = PQntuples(r); i < rows && !rc; i++) {
        struct td_store_recipient_row row = {
            .id = td__pgv_i64(r, i, 0),
            .name = td__pgv_text(r, i, 1),
            .email = td__pgv_text(r, i, 2),
            .webhook_url = td__pgv_text(r, i, 3),
            .has_secret = td__pgv_bool(r, i, 4),
            .created = td__pgv_i64(r, i, 5),
        };
        rc = cb(ud, &row);
    }
    PQclear(r);
    return rc;
}

int td__pgs_alert_recipient_channels(struct td_store *s, int64_t office, int64_t id,
                                     unsigned *channels, struct td_error *err)
{
    char o[24], i[24];
    PGresult *r;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    const char *p[2] = {td__pg_i64(o, office), td__pg_i64(i, id)};
    if ((rc = td__pg_exec(td__pgs_conn(s),
                          "SELECT email IS NOT NULL, webhook_url IS NOT NULL AND webhook_secret "
                          "IS NOT NULL FROM alert_recipients "
                          "WHERE office_id = $1::bigint AND id = $2::bigint",
                          2, p, NULL, NULL, &r, err)))
        return rc;
    if (PQntuples(r) == 0)
        rc = td_error_set(err, TD_ENOTFOUND, "no alert recipient %lld", (long long)id);
    else
        *channels = (td__pgv_bool(r, 0, 0) ? TD_ALERT_EMAIL : 0u) |
                    (td__pgv_bool(r, 0, 1) ? TD_ALERT_WEBHOOK : 0u);
    PQclear(r);
    return rc;
}

/* ---- rules ---------------------------------------------------------------- */

int td__pgs_alert_rule_insert(struct td_store *s, const struct td_store_alert_rule *ru, int64_t *id,
                              struct td_error *err)
{
    char o[24], sev[24], lab[24], fl[24], ch[24], qs[24], qe[24], esc[24], cr[24], by[24];
    PGresult *r;
    int quiet = ru->quiet_start >= 0 && ru->quiet_end >= 0;
    int rc = td__pgs_scope(s, ru->office_id, err);
    if (rc)
        return rc;
    const char *p[13] = {td__pg_i64(o, ru->office_id),
                         opt(ru->name),
                         td__pg_i64(sev, ru->min_severity),
                         td__pg_i64(lab, ru->labels),
                         td__pg_i64(fl, ru->flags),
                         td__pg_i64(ch, ru->channels),
                         quiet ? td__pg_i64(qs, ru->quiet_start) : NULL,
                         quiet ? td__pg_i64(qe, ru->quiet_end) : NULL,
                         td__pg_i64(esc, ru->escalate_minutes),
                         opt(ru->rota),
                         ru->disclose == TD_ALERT_DISCLOSE_SUBJECT ? "subject" : "minimal",
                         td__pg_i64(cr, ru->created),
                         td__pg_i64(by, ru->created_by)};
    if ((rc = td__pg_exec(td__pgs_conn(s),
                          "INSERT INTO alert_rules(office_id, name, min_severity, labels, flags, "
                          "channels, quiet_start, quiet_end, escalate_minutes, rota, disclose, "
                          "created, created_by) VALUES ($1::bigint, $2, $3::bigint, $4::bigint, "
                          "$5::bigint, $6::bigint, $7::bigint, $8::bigint, $9::bigint, $10, $11, "
                          "$12::bigint, $13::bigint) ON CONFLICT (office_id, name) DO NOTHING "
                          "RETURNING id",
                          13, p, NULL, NULL, &r, err)))
        return rc;
    return taken_or_id(r, "alert rule", "alert_rules", id, err);
}

static void rule_read(const PGresult *r, int i, struct td_store_alert_rule *ru)
{
    memset(ru, 0, sizeof *ru);
    ru->id = td__pgv_i64(r, i, 0);
    ru->office_id = td__pgv_i64(r, i, 1);
    ru->name = td__pgv_text(r, i, 2);
    ru->min_severity = (int)td__pgv_i64(r, i, 3);
    ru->labels = (unsigned)td__pgv_i64(r, i, 4);
    ru->flags = (unsigned)td__pgv_i64(r, i, 5);
    ru->channels = (unsigned)td__pgv_i64(r, i, 6);
    int quiet = !td__pgv_null(r, i, 7);
    ru->quiet_start = quiet ? (int)td__pgv_i64(r, i, 7) : -1;
    ru->quiet_end = quiet ? (int)td__pgv_i64(r, i, 8) : -1;
    ru->escalate_minutes = (unsigned)td__pgv_i64(r, i, 9);
    ru->rota = td__pgv_text(r, i, 10);
    const char *d = td__pgv_text(r, i, 11);
    ru->disclose =
        d && !strcmp(d, "subject") ? TD_ALERT_DISCLOSE_SUBJECT : TD_ALERT_DISCLOSE_MINIMAL;
    ru->created = td__pgv_i64(r, i, 12);
    ru->created_by = td__pgv_i64(r, i, 13);
    ru->enabled = (int)td__pgv_i64(r, i, 14);
}

/* The office's rules by id (enabled ones only when `enabled`), to cb. */
static int rules(struct td_store *s, int64_t office, int enabled,
                 int (*cb)(void *ud, const struct td_store_alert_rule *r), void *ud,
                 struct td_error *err)
{
    char o[24];
    PGresult *r;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    const char *p[2] = {td__pg_i64(o, office), enabled ? "1" : "0"};
    if ((rc = td__pg_exec(td__pgs_conn(s),
                          "SELECT id, office_id, name, min_severity, labels, flags, channels, "
                          "quiet_start, quiet_end, escalate_minutes, rota, disclose, created, "
                          "created_by, enabled FROM alert_rules WHERE office_id = $1::bigint "
                          "AND (NOT $2::boolean OR enabled = 1) ORDER BY id",
                          2, p, NULL, NULL, &r, err)))
        return rc;
    for (int i = 0, rows = PQntuples(r); i < rows && !rc; i++) {
        struct td_store_alert_rule ru;
        rule_read(r, i, &ru);
        rc = cb(ud, &ru);
    }
    PQclear(r);
    return rc;
}

int td__pgs_alert_rule_list(struct td_store *s, int64_t office,
                            int (*cb)(void *ud, const struct td_store_alert_rule *r), void *ud,
                            struct td_error *err)
{
    return rules(s, office, 0, cb, ud, err);
}

int td__pgs_alert_rule_load(struct td_store *s, int64_t office,
                            int (*cb)(void *ud, const struct td_store_alert_rule *r), void *ud,
                            struct td_error *err)
{
    return rules(s, office, 1, cb, ud, err);
}

/* ---- alerts and the outbox -------------------------------------------------- */

int td__pgs_alert_insert(struct td_store *s, int64_t office, int64_t message, int64_t rule,
                         int64_t now, int64_t *id, int *created, struct td_error *err)
{
    char o[24], m[24], ru[24], n[24];
    PGresult *r;
    *created = 0;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    const char *p[4] = {td__pg_i64(o, office), td__pg_i64(m, message), td__pg_i64(ru, rule),
                        td__pg_i64(n, now)};
    if ((rc = td__pg_exec(td__pgs_conn(s),
                          "INSERT INTO alerts(office_id, message_id, rule_id, created, stepped_at) "
                          "VALUES ($1::bigint, $2::bigint, $3::bigint, $4::bigint, $4::bigint) "
                          "ON CONFLICT (message_id, rule_id) DO NOTHING RETURNING id",
                          4, p, NULL, NULL, &r, err)))
        return rc;
    if (PQntuples(r) == 1) {
        *created = 1;
        *id = td__pgv_i64(r, 0, 0);
        PQclear(r);
        return TD_OK;
    }
    PQclear(r);
    if ((rc = td__pg_exec(td__pgs_conn(s),
                          "SELECT id FROM alerts WHERE office_id = $1::bigint "
                          "AND message_id = $2::bigint AND rule_id = $3::bigint",
                          3, p, NULL, NULL, &r, err)))
        return rc;
    /* it existed a moment ago: the conflict said so */
    if (PQntuples(r) == 1)
        *id = td__pgv_i64(r, 0, 0);
    else
        rc = td_error_set(err, TD_ESTORE, "alert: vanished");
    PQclear(r);
    return rc;
}

int td__pgs_alert_deliveries_add(struct td_store *s, int64_t office, int64_t alert, int step,
                                 int64_t recipient, unsigned channels, int64_t now, size_t *added,
                                 struct td_error *err)
{
    static const struct {
        unsigned bit;
        const char *sql;
    } kinds[] = {
        {TD_ALERT_EMAIL,
         "INSERT INTO alert_deliveries(alert_id, office_id, step, recipient_id, channel, target, "
         "next_attempt_at) SELECT $1::bigint, $2::bigint, $3::bigint, id, 'email', email, "
         "$4::bigint FROM alert_recipients WHERE id = $5::bigint AND office_id = $2::bigint "
         "AND email IS NOT NULL ON CONFLICT (alert_id, step, channel, target) DO NOTHING"},
        {TD_ALERT_WEBHOOK,
         "INSERT INTO alert_deliveries(alert_id, office_id, step, recipient_id, channel, target, "
         "next_attempt_at) SELECT $1::bigint, $2::bigint, $3::bigint, id, 'webhook', "
         "webhook_url, $4::bigint FROM alert_recipients WHERE id = $5::bigint "
         "AND office_id = $2::bigint AND webhook_url IS NOT NULL AND webhook_secret IS NOT NULL "
         "ON CONFLICT (alert_id, step, channel, target) DO NOTHING"},
    };
    char a[24], o[24], st[24], n[24], rcp[24];
    *added = 0;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    const char *p[5] = {td__pg_i64(a, alert), td__pg_i64(o, office), td__pg_i64(st, step),
                        td__pg_i64(n, now), td__pg_i64(rcp, recipient)};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        PGresult *r;
        if (!(channels & kinds[i].bit))
            continue;
        if ((rc = td__pg_exec(td__pgs_conn(s), kinds[i].sql, 5, p, NULL, NULL, &r, err)))
            return rc;
        *added += (size_t)td__pgv_changed(r);
        PQclear(r);
    }
    return TD_OK;
}

int td__pgs_alert_claim(struct td_store *s, int64_t now, int64_t lease_until, size_t max,
                        int (*cb)(void *ud, const struct td_store_alert_job *j), void *ud,
                        struct td_error *err)
{
    char n[24], l[24], m[24], id[24];
    PGresult *r;
    struct td_pg *c = td__pgs_conn(s);
    /* the worker serves every office */
    int rc = td__pgs_scope(s, -1, err);
    if (rc)
        return rc;
    const char *p[2] = {td__pg_i64(n, now), td__pgv_limit(m, max)};
    /* FOR UPDATE OF d SKIP LOCKED: rows another worker is claiming right
     * now are passed over, not waited for; the locks hold until the
     * caller's commit, by which time the rows say 'sending'. */
    if ((rc = td__pg_exec(
             c,
             "SELECT d.id, d.alert_id, d.office_id, a.message_id, d.step, d.channel, d.target, "
             "CASE d.channel WHEN 'webhook' THEN p.webhook_secret END, d.attempts, o.name, "
             "r.name, r.disclose, m.severity, m.labels, m.channel, m.sender, m.subject, "
             "m.received FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id "
             "JOIN alert_rules r ON r.id = a.rule_id JOIN messages m ON m.id = a.message_id "
             "JOIN offices o ON o.id = d.office_id "
             "JOIN alert_recipients p ON p.id = d.recipient_id "
             "WHERE (d.state = 'pending' AND d.next_attempt_at <= $1::bigint) OR "
             "(d.state = 'sending' AND d.lease_until <= $1::bigint) "
             "ORDER BY d.next_attempt_at, d.id LIMIT $2::bigint FOR UPDATE OF d SKIP LOCKED",
             2, p, NULL, NULL, &r, err)))
        return rc;
    for (int i = 0, rows = PQntuples(r); i < rows && !rc; i++) {
        struct td_store_alert_job j;
        memset(&j, 0, sizeof j);
        j.delivery_id = td__pgv_i64(r, i, 0);
        j.alert_id = td__pgv_i64(r, i, 1);
        j.office_id = td__pgv_i64(r, i, 2);
        j.message_id = td__pgv_i64(r, i, 3);
        j.step = (int)td__pgv_i64(r, i, 4);
        td__pgv_copy(r, i, 5, j.channel, sizeof j.channel);
        td__pgv_copy(r, i, 6, j.target, sizeof j.target);
        td__pgv_copy(r, i, 7, j.secret, sizeof j.secret);
        j.attempts = (unsigned)td__pgv_i64(r, i, 8);
        td__pgv_copy(r, i, 9, j.office, sizeof j.office);
        td__pgv_copy(r, i, 10, j.rule, sizeof j.rule);
        const char *d = td__pgv_text(r, i, 11);
        j.disclose =
            d && !strcmp(d, "subject") ? TD_ALERT_DISCLOSE_SUBJECT : TD_ALERT_DISCLOSE_MINIMAL;
        j.severity = (int)td__pgv_i64(r, i, 12);
        j.labels = (unsigned)td__pgv_i64(r, i, 13);
        td__pgv_copy(r, i, 14, j.msg_channel, sizeof j.msg_channel);
        td__pgv_copy(r, i, 15, j.sender, sizeof j.sender);
        td__pgv_copy(r, i, 16, j.subject, sizeof j.subject);
        j.received = td__pgv_i64(r, i, 17);
        /* one row at a time, as SQLite: a callback that stops leaves the
         * rest pending, not leased to nobody */
        const char *u[2] = {td__pg_i64(l, lease_until), td__pg_i64(id, j.delivery_id)};
        if ((rc = td__pg_exec(c,
                              "UPDATE alert_deliveries SET state = 'sending', "
                              "lease_until = $1::bigint WHERE id = $2::bigint",
                              2, u, NULL, NULL, NULL, err)))
            break;
        rc = cb(ud, &j);
    }
    /* the copy in r held webhook secrets */
    PQclear(r);
    return rc;
}

int td__pgs_alert_attempt(struct td_store *s, int64_t delivery, int64_t now, const char *outcome,
                          const char *error, int64_t next_at, struct td_error *err)
{
    char d[24], n[24], nx[24];
    PGresult *r;
    struct td_pg *c = td__pgs_conn(s);
    int rc = td__pgs_scope(s, -1, err);
    if (rc)
        return rc;
    const char *p[4] = {td__pg_i64(d, delivery), td__pg_i64(n, now), opt(outcome), opt(error)};
    /* An attempt of no delivery is refused (SQLite: the foreign key) before
     * row-level security's check on alert_attempts would call it a denial. */
    if ((rc = td__pg_exec(c,
                          "INSERT INTO alert_attempts(delivery_id, at, outcome, error) "
                          "SELECT id, $2::bigint, $3, $4 FROM alert_deliveries "
                          "WHERE id = $1::bigint",
                          4, p, NULL, NULL, &r, err)))
        return rc;
    int64_t added = td__pgv_changed(r);
    PQclear(r);
    if (added == 0)
        return td_error_set(err, TD_ESTORE, "alert attempt: no delivery %lld", (long long)delivery);
    const char *state = !strcmp(outcome, "delivered") ? "delivered"
                        : !strcmp(outcome, "failed")  ? "pending"
                                                      : "failed";
    const char *u[5] = {state, td__pg_i64(nx, next_at), opt(error), n, d};
    return td__pg_exec(c,
                       "UPDATE alert_deliveries SET state = $1, attempts = attempts + 1, "
                       "next_attempt_at = $2::bigint, lease_until = NULL, last_error = $3, "
                       "delivered_at = CASE WHEN $1 = 'delivered' THEN $4::bigint END "
                       "WHERE id = $5::bigint",
                       5, u, NULL, NULL, NULL, err);
}

int td__pgs_alert_escalations(struct td_store *s, int64_t now, unsigned minute_s,
                              int (*cb)(void *ud, int64_t alert, int64_t office, int step,
                                        int64_t next_recipient, unsigned channels),
                              void *ud, struct td_error *err)
{
    char mi[24], n[24];
    PGresult *r;
    int rc = td__pgs_scope(s, -1, err);
    if (rc)
        return rc;
    const char *p[2] = {td__pg_i64(mi, minute_s), td__pg_i64(n, now)};
    /* The rota is JSON text (as in SQLite); ->> of a number is its digits. */
    if ((rc = td__pg_exec(td__pgs_conn(s),
                          "SELECT a.id, a.office_id, a.step, "
                          "(r.rota::json ->> (a.step + 1)::int)::bigint, r.channels "
                          "FROM alerts a JOIN alert_rules r ON r.id = a.rule_id "
                          "WHERE a.acked_at IS NULL AND r.escalate_minutes > 0 "
                          "AND a.step + 1 < json_array_length(r.rota::json) "
                          "AND a.stepped_at + r.escalate_minutes * $1::bigint <= $2::bigint "
                          "ORDER BY a.id LIMIT 100",
                          2, p, NULL, NULL, &r, err)))
        return rc;
    for (int i = 0, rows = PQntuples(r); i < rows && !rc; i++)
        rc = cb(ud, td__pgv_i64(r, i, 0), td__pgv_i64(r, i, 1), (int)td__pgv_i64(r, i, 2),
                td__pgv_i64(r, i, 3), (unsigned)td__pgv_i64(r, i, 4));
    PQclear(r);
    return rc;
}

int td__pgs_alert_step(struct td_store *s, int64_t alert, int from, int64_t now, int *changed,
                       struct td_error *err)
{
    char n[24], a[24], f[24];
    PGresult *r;
    int rc = td__pgs_scope(s, -1, err);
    if (rc)
        return rc;
    const char *p[3] = {td__pg_i64(n, now), td__pg_i64(a, alert), td__pg_i64(f, from)};
    if ((rc = td__pg_exec(td__pgs_conn(s),
                          "UPDATE alerts SET step = step + 1, stepped_at = $1::bigint "
                          "WHERE id = $2::bigint AND step = $3::bigint AND acked_at IS NULL",
                          3, p, NULL, NULL, &r, err)))
        return rc;
    *changed = td__pgv_changed(r) == 1;
    PQclear(r);
    return TD_OK;
}

/* "{1,2,3}": the ids of rows as a bigint[] parameter. */
static int id_array(const PGresult *r, int col, struct td_buf *b, struct td_error *err)
{
    int rc = td_buf_putc(b, '{');
    for (int i = 0, rows = PQntuples(r); !rc && i < rows; i++)
        rc = td_buf_printf(b, "%s%lld", i ? "," : "", (long long)td__pgv_i64(r, i, col));
    if (!rc)
        rc = td_buf_append(b, "}", 2); /* with the NUL */
    return rc ? td_error_set(err, rc, "alert ids") : TD_OK;
}

static const char *text_copy(const PGresult *r, int row, int col, struct td_store_arena *ar)
{
    return td__arena_str(ar, td__pgv_text(r, row, col));
}

/* The alert of id among rows (newest first, ids descending), or NULL. */
static struct td_store_alert_row *alert_of(struct td_store_alert_list *l, int64_t id)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->rows[mid].id == id)
            return &l->rows[mid];
        if (l->rows[mid].id > id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The deliveries of the alerts in ids, each with its attempts (the first
 * 50), as SQLite's alert_list reads them: each alert's deliveries in id
 * order. */
static int deliveries(struct td_pg *c, const char *ids, struct td_store_alert_list *l,
                      struct td_store_arena *ar, struct td_error *err)
{
    PGresult *d = NULL, *at = NULL;
    const char *p[1] = {ids};
    int rc = td__pg_exec(c,
                         "SELECT id, step, recipient_id, channel, target, state, attempts, "
                         "next_attempt_at, last_error, delivered_at, alert_id "
                         "FROM alert_deliveries WHERE alert_id = ANY ($1::bigint[]) ORDER BY id",
                         1, p, NULL, NULL, &d, err);
    if (!rc)
        rc = td__pg_exec(c,
                         "SELECT delivery_id, at, outcome, error FROM (SELECT t.*, "
                         "row_number() OVER (PARTITION BY t.delivery_id ORDER BY t.id) AS k "
                         "FROM alert_attempts t JOIN alert_deliveries d ON d.id = t.delivery_id "
                         "WHERE d.alert_id = ANY ($1::bigint[])) x WHERE k <= 50 "
                         "ORDER BY delivery_id, id",
                         1, p, NULL, NULL, &at, err);
    if (rc)
        goto out;
    int rows = PQntuples(d), na = PQntuples(at), ai = 0;
    /* two passes: how many each alert has, then the rows in their arrays */
    for (int i = 0; i < rows; i++) {
        struct td_store_alert_row *a = alert_of(l, td__pgv_i64(d, i, 10));
        if (a)
            a->ndeliveries++;
    }
    for (size_t k = 0; k < l->n; k++) {
        struct td_store_alert_row *a = &l->rows[k];
        if (a->ndeliveries &&
            !(a->deliveries = td__arena_array(ar, a->ndeliveries, sizeof *a->deliveries)))
            goto out;
        a->ndeliveries = 0;
    }
    /* both in delivery id order: one merge pass for the attempts */
    for (int i = 0; i < rows; i++) {
        struct td_store_alert_row *a = alert_of(l, td__pgv_i64(d, i, 10));
        if (!a)
            continue;
        struct td_store_alert_delivery_row *x = &a->deliveries[a->ndeliveries++];
        x->id = td__pgv_i64(d, i, 0);
        x->step = (int)td__pgv_i64(d, i, 1);
        x->recipient = td__pgv_i64(d, i, 2);
        x->channel = text_copy(d, i, 3, ar);
        x->target = text_copy(d, i, 4, ar);
        x->state = text_copy(d, i, 5, ar);
        x->attempts = (int)td__pgv_i64(d, i, 6);
        x->next_attempt_at = td__pgv_i64(d, i, 7);
        x->last_error = text_copy(d, i, 8, ar);
        x->delivered = !td__pgv_null(d, i, 9);
        x->delivered_at = td__pgv_i64(d, i, 9);
        while (ai < na && td__pgv_i64(at, ai, 0) < x->id)
            ai++;
        int first = ai;
        while (ai < na && td__pgv_i64(at, ai, 0) == x->id)
            ai++;
        if (ai > first && !(x->log = td__arena_array(ar, (size_t)(ai - first), sizeof *x->log)))
            goto out;
        for (int j = first; j < ai; j++) {
            struct td_store_alert_attempt_row *t = &x->log[x->nlog++];
            t->at = td__pgv_i64(at, j, 1);
            t->outcome = text_copy(at, j, 2, ar);
            t->error = text_copy(at, j, 3, ar);
        }
    }
out:
    PQclear(d);
    PQclear(at);
    if (!rc && ar->oom)
        rc = td_error_set(err, TD_ENOMEM, NULL);
    return rc;
}

int td__pgs_alert_list(struct td_store *s, int64_t office, int open_only, size_t limit,
                       struct td_store_alert_list *out, struct td_store_arena *ar,
                       struct td_error *err)
{
    char off[24], l[24];
    PGresult *r = NULL;
    struct td_buf ids;
    struct td_pg *c = td__pgs_conn(s);
    memset(out, 0, sizeof *out);
    td_buf_init(&ids, 1u << 24);
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    const char *p[3] = {td__pg_i64(off, office), open_only ? "1" : "0", td__pgv_limit(l, limit)};
    if ((rc = td__pg_exec(c,
                          "SELECT a.id, a.message_id, a.rule_id, r.name, m.severity, m.labels, "
                          "a.created, a.step, a.acked_at, a.acked_by, a.acked_via, "
                          "EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = a.id "
                          "AND d.state = 'failed') FROM alerts a "
                          "JOIN alert_rules r ON r.id = a.rule_id "
                          "JOIN messages m ON m.id = a.message_id "
                          "WHERE a.office_id = $1::bigint AND (NOT $2::boolean OR a.acked_at IS "
                          "NULL) ORDER BY a.id DESC LIMIT $3::bigint",
                          3, p, NULL, NULL, &r, err)))
        goto out;
    int rows = PQntuples(r);
    if (rows > 0 && !(out->rows = td__arena_array(ar, (size_t)rows, sizeof *out->rows)))
        goto out;
    for (int i = 0; i < rows; i++) {
        struct td_store_alert_row *a = &out->rows[out->n++];
        a->id = td__pgv_i64(r, i, 0);
        a->message_id = td__pgv_i64(r, i, 1);
        a->rule_id = td__pgv_i64(r, i, 2);
        a->rule_name = text_copy(r, i, 3, ar);
        a->severity = (int)td__pgv_i64(r, i, 4);
        a->labels = (unsigned)td__pgv_i64(r, i, 5);
        a->created = td__pgv_i64(r, i, 6);
        a->step = (int)td__pgv_i64(r, i, 7);
        a->acked = !td__pgv_null(r, i, 8);
        a->acked_at = td__pgv_i64(r, i, 8);
        a->acked_by = td__pgv_i64(r, i, 9);
        a->acked_via = text_copy(r, i, 10, ar);
        a->failed = td__pgv_bool(r, i, 11);
    }
    /* the deliveries of every listed alert in two statements, not two per alert */
    if (!ar->oom && rows > 0 && !(rc = id_array(r, 0, &ids, err)))
        rc = deliveries(c, ids.data, out, ar, err);
out:
    PQclear(r);
    td_buf_release(&ids);
    if (!rc && ar->oom)
        rc = td_error_set(err, TD_ENOMEM, NULL);
    return rc;
}

int td__pgs_alert_ack(struct td_store *s, int64_t office, int64_t id, int64_t by, const char *via,
                      int64_t now, int64_t *office_out, int64_t *message_out, int *was,
                      struct td_error *err)
{
    char i[24], o[24], n[24], b[24], oo[24];
    PGresult *r;
    struct td_pg *c = td__pgs_conn(s);
    *was = 0;
    /* office 0: an acknowledgement link, which names no office - the alert
     * says which, and only that office is written below */
    int rc = td__pgs_scope(s, office ? office : -1, err);
    if (rc)
        return rc;
    const char *p[2] = {td__pg_i64(i, id), td__pg_i64(o, office)};
    if ((rc = td__pg_exec(c,
                          "SELECT office_id, message_id, acked_at IS NOT NULL FROM alerts "
                          "WHERE id = $1::bigint AND ($2::bigint = 0 OR office_id = $2::bigint)",
                          2, p, NULL, NULL, &r, err)))
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return td_error_set(err, TD_ENOTFOUND, "no alert %lld", (long long)id);
    }
    *office_out = td__pgv_i64(r, 0, 0);
    *message_out = td__pgv_i64(r, 0, 1);
    *was = td__pgv_bool(r, 0, 2);
    PQclear(r);
    if (*was)
        return TD_OK;
    if (!office && (rc = td__pgs_scope(s, *office_out, err)))
        return rc;
    const char *u[5] = {td__pg_i64(n, now), td__pg_i64(b, by), opt(via), i,
                        td__pg_i64(oo, *office_out)};
    return td__pg_exec(c,
                       "UPDATE alerts SET acked_at = $1::bigint, acked_by = $2::bigint, "
                       "acked_via = $3 WHERE id = $4::bigint AND office_id = $5::bigint",
                       5, u, NULL, NULL, NULL, err);
}

#endif /* TD_HAVE_POSTGRES */
