/*
 * sqlite_alerts.c - the SQLite side of alerts (migration 0005; store.h
 * says what each op promises).
 *
 * The outbox discipline: a delivery is claimed (state 'sending' with a
 * lease) in one transaction, sent outside any transaction, and its outcome
 * recorded in another.  A worker killed between the two leaves the row
 * 'sending' with a lease that runs out, after which any worker claims it
 * again - so a delivery is retried until recorded, never forgotten.
 * Every statement binds its values; office-bound reads name the office.
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "store/sq_stmt.h"
#include "store/store_int.h"
#include "threatdesk/alert.h"
#include "threatdesk/taxonomy.h"

/* Alerts keep an empty string as NULL (no e-mail, no webhook). */
#define OPT_T(s) TD__SQ_T((s) && *(s) ? (s) : NULL)

static void col_copy(sqlite3_stmt *st, int i, char *dst, size_t size)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, size, "%s", t ? (const char *)t : "");
}

/* ---- recipients ----------------------------------------------------------- */

int td__sq_alert_recipient_insert(struct td_store *s, int64_t office, const char *name,
                                  const char *email, const char *url, const char *secret,
                                  int64_t now, int64_t *id, struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    int rc = td__sq_write(c, "alert recipient",
                          "INSERT INTO alert_recipients(office_id, name, email, webhook_url, "
                          "webhook_secret, created) VALUES (?,?,?,?,?,?)",
                          TD__SQ_ARGS(TD__SQ_I(office), OPT_T(name), OPT_T(email), OPT_T(url),
                                      OPT_T(secret), TD__SQ_I(now)),
                          err);
    if (rc)
        return rc;
    *id = sqlite3_last_insert_rowid(c->db);
    return TD_OK;
}

int td__sq_alert_recipient_list(struct td_store *s, int64_t office,
                                int (*cb)(void *ud, const struct td_store_recipient_row *r),
                                void *ud, struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    int rc =
        td__sq_bound(c,
                     "SELECT id, name, email, webhook_url, webhook_secret IS NOT NULL, created "
                     "FROM alert_recipients WHERE office_id = ? ORDER BY name",
                     &st, TD__SQ_ARGS(TD__SQ_I(office)), err);
    if (rc)
        return rc;
    int r;
    while ((r = td__sq_next(c, st, "alert recipients", err)) == 1) {
        struct td_store_recipient_row row = {
            .id = sqlite3_column_int64(st, 0),
            .name = (const char *)sqlite3_column_text(st, 1),
            .email = (const char *)sqlite3_column_text(st, 2),
            .webhook_url = (const char *)sqlite3_column_text(st, 3),
            .has_secret = sqlite3_column_int(st, 4),
            .created = sqlite3_column_int64(st, 5),
        };
        if ((rc = cb(ud, &row)))
            break;
    }
    td__sq_done(c, st);
    return rc ? rc : r < 0 ? r : TD_OK;
}

int td__sq_alert_recipient_channels(struct td_store *s, int64_t office, int64_t id,
                                    unsigned *channels, struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    int rc =
        td__sq_bound(c,
                     "SELECT email IS NOT NULL, webhook_url IS NOT NULL AND webhook_secret IS NOT "
                     "NULL FROM alert_recipients WHERE office_id = ? AND id = ?",
                     &st, TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(id)), err);
    if (rc)
        return rc;
    if ((rc = td__sq_row(c, st, "alert recipient", err)) == TD_OK)
        *channels = (sqlite3_column_int(st, 0) ? TD_ALERT_EMAIL : 0u) |
                    (sqlite3_column_int(st, 1) ? TD_ALERT_WEBHOOK : 0u);
    else if (rc == TD_ENOTFOUND)
        td_error_set(err, TD_ENOTFOUND, "no alert recipient %lld", (long long)id);
    td__sq_done(c, st);
    return rc;
}

/* ---- rules ---------------------------------------------------------------- */

int td__sq_alert_rule_insert(struct td_store *s, const struct td_store_alert_rule *r, int64_t *id,
                             struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    int quiet = r->quiet_start >= 0 && r->quiet_end >= 0;
    int rc = td__sq_write(
        c, "alert rule",
        "INSERT INTO alert_rules(office_id, name, min_severity, labels, flags, channels, "
        "quiet_start, quiet_end, escalate_minutes, rota, disclose, created, created_by) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        TD__SQ_ARGS(TD__SQ_I(r->office_id), OPT_T(r->name), TD__SQ_I(r->min_severity),
                    TD__SQ_I(r->labels), TD__SQ_I(r->flags), TD__SQ_I(r->channels),
                    quiet ? TD__SQ_I(r->quiet_start) : TD__SQ_NULL_ARG,
                    quiet ? TD__SQ_I(r->quiet_end) : TD__SQ_NULL_ARG, TD__SQ_I(r->escalate_minutes),
                    OPT_T(r->rota),
                    TD__SQ_T(r->disclose == TD_ALERT_DISCLOSE_SUBJECT ? "subject" : "minimal"),
                    TD__SQ_I(r->created), TD__SQ_I(r->created_by)),
        err);
    if (rc)
        return rc;
    *id = sqlite3_last_insert_rowid(c->db);
    return TD_OK;
}

static const char RULE_COLS[] =
    "SELECT id, office_id, name, min_severity, labels, flags, channels, quiet_start, quiet_end, "
    "escalate_minutes, rota, disclose, created, created_by, enabled FROM alert_rules ";

static void rule_read(sqlite3_stmt *st, struct td_store_alert_rule *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    r->office_id = sqlite3_column_int64(st, 1);
    r->name = (const char *)sqlite3_column_text(st, 2);
    r->min_severity = sqlite3_column_int(st, 3);
    r->labels = (unsigned)sqlite3_column_int64(st, 4);
    r->flags = (unsigned)sqlite3_column_int64(st, 5);
    r->channels = (unsigned)sqlite3_column_int64(st, 6);
    int quiet = sqlite3_column_type(st, 7) != SQLITE_NULL;
    r->quiet_start = quiet ? sqlite3_column_int(st, 7) : -1;
    r->quiet_end = quiet ? sqlite3_column_int(st, 8) : -1;
    r->escalate_minutes = (unsigned)sqlite3_column_int64(st, 9);
    r->rota = (const char *)sqlite3_column_text(st, 10);
    const unsigned char *d = sqlite3_column_text(st, 11);
    r->disclose = d && !strcmp((const char *)d, "subject") ? TD_ALERT_DISCLOSE_SUBJECT
                                                           : TD_ALERT_DISCLOSE_MINIMAL;
    r->created = sqlite3_column_int64(st, 12);
    r->created_by = sqlite3_column_int64(st, 13);
    r->enabled = sqlite3_column_int(st, 14);
}

int td__sq_alert_rule_list(struct td_store *s, int64_t office,
                           int (*cb)(void *ud, const struct td_store_alert_rule *r), void *ud,
                           struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    char sql[512];
    snprintf(sql, sizeof sql, "%sWHERE office_id = ? ORDER BY id", RULE_COLS);
    int rc = td__sq_bound(c, sql, &st, TD__SQ_ARGS(TD__SQ_I(office)), err), r;
    if (rc)
        return rc;
    while ((r = td__sq_next(c, st, "alert rules", err)) == 1) {
        struct td_store_alert_rule ru;
        rule_read(st, &ru);
        if ((rc = cb(ud, &ru)))
            break;
    }
    td__sq_done(c, st);
    return rc ? rc : r < 0 ? r : TD_OK;
}

int td__sq_alert_rule_load(struct td_store *s, int64_t office,
                           int (*cb)(void *ud, const struct td_store_alert_rule *r), void *ud,
                           struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    char sql[512];
    snprintf(sql, sizeof sql, "%sWHERE office_id = ? AND enabled = 1 ORDER BY id", RULE_COLS);
    int rc = td__sq_stmt(c, sql, &st, err), r;
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, office);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct td_store_alert_rule ru;
        rule_read(st, &ru);
        if ((rc = cb(ud, &ru)))
            break;
    }
    if (!rc && r != SQLITE_DONE)
        rc = td__sq_fail(c, st, "alert rules", err);
    td__sq_done(c, st);
    return rc;
}

/* ---- alerts and the outbox -------------------------------------------------- */

int td__sq_alert_insert(struct td_store *s, int64_t office, int64_t message, int64_t rule,
                        int64_t now, int64_t *id, int *created, struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    *created = 0;
    int rc = td__sq_write(c, "alert",
                          "INSERT INTO alerts(office_id, message_id, rule_id, created, stepped_at) "
                          "VALUES (?,?,?,?,?) ON CONFLICT(message_id, rule_id) DO NOTHING",
                          TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(message), TD__SQ_I(rule),
                                      TD__SQ_I(now), TD__SQ_I(now)),
                          err);
    if (rc)
        return rc;
    if (sqlite3_changes(c->db) == 1) {
        *created = 1;
        *id = sqlite3_last_insert_rowid(c->db);
        return TD_OK;
    }
    if ((rc = td__sq_bound(c, "SELECT id FROM alerts WHERE message_id = ? AND rule_id = ?", &st,
                           TD__SQ_ARGS(TD__SQ_I(message), TD__SQ_I(rule)), err)))
        return rc;
    /* it existed a moment ago, inside this transaction */
    if ((rc = td__sq_next(c, st, "alert", err)) == 1)
        *id = sqlite3_column_int64(st, 0);
    else if (rc == 0)
        rc = td_error_set(err, TD_ESTORE, "alert: vanished");
    td__sq_done(c, st);
    return rc < 0 ? rc : TD_OK;
}

int td__sq_alert_deliveries_add(struct td_store *s, int64_t office, int64_t alert, int step,
                                int64_t recipient, unsigned channels, int64_t now, size_t *added,
                                struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    static const struct {
        unsigned bit;
        const char *sql;
    } kinds[] = {
        {TD_ALERT_EMAIL,
         "INSERT INTO alert_deliveries(alert_id, office_id, step, recipient_id, channel, target, "
         "next_attempt_at) SELECT ?, ?, ?, id, 'email', email, ? FROM alert_recipients "
         "WHERE id = ? AND office_id = ? AND email IS NOT NULL "
         "ON CONFLICT(alert_id, step, channel, target) DO NOTHING"},
        {TD_ALERT_WEBHOOK,
         "INSERT INTO alert_deliveries(alert_id, office_id, step, recipient_id, channel, target, "
         "next_attempt_at) SELECT ?, ?, ?, id, 'webhook', webhook_url, ? FROM alert_recipients "
         "WHERE id = ? AND office_id = ? AND webhook_url IS NOT NULL AND webhook_secret IS NOT "
         "NULL ON CONFLICT(alert_id, step, channel, target) DO NOTHING"},
    };
    *added = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (!(channels & kinds[i].bit))
            continue;
        int rc = td__sq_write(c, "alert delivery", kinds[i].sql,
                              TD__SQ_ARGS(TD__SQ_I(alert), TD__SQ_I(office), TD__SQ_I(step),
                                          TD__SQ_I(now), TD__SQ_I(recipient), TD__SQ_I(office)),
                              err);
        if (rc)
            return rc;
        *added += (size_t)sqlite3_changes(c->db);
    }
    return TD_OK;
}

int td__sq_alert_claim(struct td_store *s, int64_t now, int64_t lease_until, size_t max,
                       int (*cb)(void *ud, const struct td_store_alert_job *j), void *ud,
                       struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st, *up = NULL;
    int rc = td__sq_stmt(
        c,
        "SELECT d.id, d.alert_id, d.office_id, a.message_id, d.step, d.channel, d.target, "
        "CASE d.channel WHEN 'webhook' THEN p.webhook_secret END, d.attempts, o.name, "
        "r.name, r.disclose, m.severity, m.labels, m.channel, m.sender, m.subject, "
        "m.received FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id "
        "JOIN alert_rules r ON r.id = a.rule_id JOIN messages m ON m.id = a.message_id "
        "JOIN offices o ON o.id = d.office_id "
        "JOIN alert_recipients p ON p.id = d.recipient_id "
        "WHERE (d.state = 'pending' AND d.next_attempt_at <= ?1) OR "
        "(d.state = 'sending' AND d.lease_until <= ?1) "
        "ORDER BY d.next_attempt_at, d.id LIMIT ?2",
        &st, err);
    if (rc)
        return rc;
    if ((rc = td__sq_stmt(
             c, "UPDATE alert_deliveries SET state = 'sending', lease_until = ? WHERE id = ?", &up,
             err))) {
        td__sq_done(c, st);
        return rc;
    }
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct td_store_alert_job j;
        memset(&j, 0, sizeof j);
        j.delivery_id = sqlite3_column_int64(st, 0);
        j.alert_id = sqlite3_column_int64(st, 1);
        j.office_id = sqlite3_column_int64(st, 2);
        j.message_id = sqlite3_column_int64(st, 3);
        j.step = sqlite3_column_int(st, 4);
        col_copy(st, 5, j.channel, sizeof j.channel);
        col_copy(st, 6, j.target, sizeof j.target);
        col_copy(st, 7, j.secret, sizeof j.secret);
        j.attempts = (unsigned)sqlite3_column_int(st, 8);
        col_copy(st, 9, j.office, sizeof j.office);
        col_copy(st, 10, j.rule, sizeof j.rule);
        const unsigned char *d = sqlite3_column_text(st, 11);
        j.disclose = d && !strcmp((const char *)d, "subject") ? TD_ALERT_DISCLOSE_SUBJECT
                                                              : TD_ALERT_DISCLOSE_MINIMAL;
        j.severity = sqlite3_column_int(st, 12);
        j.labels = (unsigned)sqlite3_column_int64(st, 13);
        col_copy(st, 14, j.msg_channel, sizeof j.msg_channel);
        col_copy(st, 15, j.sender, sizeof j.sender);
        col_copy(st, 16, j.subject, sizeof j.subject);
        j.received = sqlite3_column_int64(st, 17);
        sqlite3_reset(up);
        sqlite3_bind_int64(up, 1, lease_until);
        sqlite3_bind_int64(up, 2, j.delivery_id);
        if (sqlite3_step(up) != SQLITE_DONE) {
            rc = td__sq_fail(c, up, "claim alert delivery", err);
            break;
        }
        if ((rc = cb(ud, &j)))
            break;
    }
    if (!rc && r != SQLITE_DONE && r != SQLITE_ROW)
        rc = td__sq_fail(c, st, "due alert deliveries", err);
    td__sq_done(c, st);
    td__sq_done(c, up);
    return rc;
}

int td__sq_alert_attempt(struct td_store *s, int64_t delivery, int64_t now, const char *outcome,
                         const char *error, int64_t next_at, struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    int rc = td__sq_write(
        c, "alert attempt",
        "INSERT INTO alert_attempts(delivery_id, at, outcome, error) VALUES (?,?,?,?)",
        TD__SQ_ARGS(TD__SQ_I(delivery), TD__SQ_I(now), OPT_T(outcome), OPT_T(error)), err);
    if (rc)
        return rc;
    const char *state = !strcmp(outcome, "delivered") ? "delivered"
                        : !strcmp(outcome, "failed")  ? "pending"
                                                      : "failed";
    return td__sq_write(c, "alert delivery state",
                        "UPDATE alert_deliveries SET state = ?, attempts = attempts + 1, "
                        "next_attempt_at = ?, lease_until = NULL, last_error = ?, "
                        "delivered_at = CASE WHEN ? = 'delivered' THEN ? END WHERE id = ?",
                        TD__SQ_ARGS(TD__SQ_T(state), TD__SQ_I(next_at), OPT_T(error),
                                    TD__SQ_T(state), TD__SQ_I(now), TD__SQ_I(delivery)),
                        err);
}

int td__sq_alert_escalations(struct td_store *s, int64_t now, unsigned minute_s,
                             int (*cb)(void *ud, int64_t alert, int64_t office, int step,
                                       int64_t next_recipient, unsigned channels),
                             void *ud, struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    int rc = td__sq_stmt(
        c,
        "SELECT a.id, a.office_id, a.step, json_extract(r.rota, '$[' || (a.step + 1) || "
        "']'), r.channels FROM alerts a JOIN alert_rules r ON r.id = a.rule_id "
        "WHERE a.acked_at IS NULL AND r.escalate_minutes > 0 "
        "AND a.step + 1 < json_array_length(r.rota) "
        "AND a.stepped_at + r.escalate_minutes * ? <= ? ORDER BY a.id LIMIT 100",
        &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, minute_s);
    sqlite3_bind_int64(st, 2, now);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = cb(ud, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                     sqlite3_column_int(st, 2), sqlite3_column_int64(st, 3),
                     (unsigned)sqlite3_column_int64(st, 4))))
            break;
    if (!rc && r != SQLITE_DONE && r != SQLITE_ROW)
        rc = td__sq_fail(c, st, "alert escalations", err);
    td__sq_done(c, st);
    return rc;
}

int td__sq_alert_step(struct td_store *s, int64_t alert, int from, int64_t now, int *changed,
                      struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    int rc = td__sq_write(c, "alert step",
                          "UPDATE alerts SET step = step + 1, stepped_at = ? "
                          "WHERE id = ? AND step = ? AND acked_at IS NULL",
                          TD__SQ_ARGS(TD__SQ_I(now), TD__SQ_I(alert), TD__SQ_I(from)), err);
    if (rc)
        return rc;
    *changed = sqlite3_changes(c->db) == 1;
    return TD_OK;
}

static const char *col_copy_arena(sqlite3_stmt *st, int i, struct td_store_arena *ar)
{
    return td__arena_str(ar, (const char *)sqlite3_column_text(st, i));
}

/* The deliveries of one alert into r, each with its first 50 attempts. */
static int deliveries(struct td__sq *c, struct td_store_arena *ar, struct td_store_alert_row *r,
                      struct td_error *err)
{
    sqlite3_stmt *st = NULL, *at = NULL;
    size_t cap = 0;
    void *slot;
    int rc;
    if ((rc = td__sq_stmt(c,
                          "SELECT id, step, recipient_id, channel, target, state, attempts, "
                          "next_attempt_at, last_error, delivered_at FROM alert_deliveries "
                          "WHERE alert_id = ? ORDER BY id",
                          &st, err)) ||
        (rc = td__sq_stmt(c,
                          "SELECT at, outcome, error FROM alert_attempts WHERE delivery_id = ? "
                          "ORDER BY id LIMIT 50",
                          &at, err)))
        goto out;
    sqlite3_bind_int64(st, 1, r->id);
    while ((rc = td__sq_next(c, st, "alert deliveries", err)) == 1) {
        if (td__arena_push(ar, (void **)&r->deliveries, &r->ndeliveries, &cap,
                           sizeof *r->deliveries, &slot)) {
            rc = TD_ENOMEM;
            break;
        }
        struct td_store_alert_delivery_row *d = slot;
        size_t lcap = 0;
        d->id = sqlite3_column_int64(st, 0);
        d->step = sqlite3_column_int(st, 1);
        d->recipient = sqlite3_column_int64(st, 2);
        d->channel = col_copy_arena(st, 3, ar);
        d->target = col_copy_arena(st, 4, ar);
        d->state = col_copy_arena(st, 5, ar);
        d->attempts = sqlite3_column_int(st, 6);
        d->next_attempt_at = sqlite3_column_int64(st, 7);
        d->last_error = col_copy_arena(st, 8, ar);
        d->delivered = sqlite3_column_type(st, 9) != SQLITE_NULL;
        d->delivered_at = sqlite3_column_int64(st, 9);
        sqlite3_reset(at);
        sqlite3_bind_int64(at, 1, d->id);
        while ((rc = td__sq_next(c, at, "alert attempts", err)) == 1) {
            if (td__arena_push(ar, (void **)&d->log, &d->nlog, &lcap, sizeof *d->log, &slot)) {
                rc = TD_ENOMEM;
                break;
            }
            struct td_store_alert_attempt_row *t = slot;
            t->at = sqlite3_column_int64(at, 0);
            t->outcome = col_copy_arena(at, 1, ar);
            t->error = col_copy_arena(at, 2, ar);
        }
        if (rc)
            break;
    }
out:
    td__sq_done(c, st);
    td__sq_done(c, at);
    if (rc == TD_ENOMEM || ar->oom)
        return td_error_set(err, TD_ENOMEM, NULL);
    return rc;
}

int td__sq_alert_list(struct td_store *s, int64_t office, int open_only, size_t limit,
                      struct td_store_alert_list *out, struct td_store_arena *ar,
                      struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    size_t cap = 0;
    void *slot;
    memset(out, 0, sizeof *out);
    int rc = td__sq_stmt(
        c,
        "SELECT a.id, a.message_id, a.rule_id, r.name, m.severity, m.labels, a.created, "
        "a.step, a.acked_at, a.acked_by, a.acked_via, "
        "(SELECT COUNT(*) FROM alert_deliveries d WHERE d.alert_id = a.id AND "
        "d.state = 'failed') FROM alerts a JOIN alert_rules r ON r.id = a.rule_id "
        "JOIN messages m ON m.id = a.message_id "
        "WHERE a.office_id = ? AND (? = 0 OR a.acked_at IS NULL) "
        "ORDER BY a.id DESC LIMIT ?",
        &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, office);
    sqlite3_bind_int(st, 2, open_only);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
    /* the alerts first, then each one's deliveries (a statement of its own) */
    while ((rc = td__sq_next(c, st, "alerts", err)) == 1) {
        if (td__arena_push(ar, (void **)&out->rows, &out->n, &cap, sizeof *out->rows, &slot)) {
            rc = TD_ENOMEM;
            break;
        }
        struct td_store_alert_row *r = slot;
        r->id = sqlite3_column_int64(st, 0);
        r->message_id = sqlite3_column_int64(st, 1);
        r->rule_id = sqlite3_column_int64(st, 2);
        r->rule_name = col_copy_arena(st, 3, ar);
        r->severity = sqlite3_column_int(st, 4);
        r->labels = (unsigned)sqlite3_column_int64(st, 5);
        r->created = sqlite3_column_int64(st, 6);
        r->step = sqlite3_column_int(st, 7);
        r->acked = sqlite3_column_type(st, 8) != SQLITE_NULL;
        r->acked_at = sqlite3_column_int64(st, 8);
        r->acked_by = sqlite3_column_int64(st, 9);
        r->acked_via = col_copy_arena(st, 10, ar);
        r->failed = sqlite3_column_int(st, 11) != 0;
    }
    td__sq_done(c, st);
    if (rc == TD_ENOMEM || ar->oom)
        return td_error_set(err, TD_ENOMEM, NULL);
    for (size_t i = 0; !rc && i < out->n; i++)
        rc = deliveries(c, ar, &out->rows[i], err);
    return rc;
}

int td__sq_alert_ack(struct td_store *s, int64_t office, int64_t id, int64_t by, const char *via,
                     int64_t now, int64_t *office_out, int64_t *message_out, int *was,
                     struct td_error *err)
{
    struct td__sq *c = td__sq_conn(s);
    sqlite3_stmt *st;
    *was = 0;
    int rc = td__sq_bound(c,
                          "SELECT office_id, message_id, acked_at IS NOT NULL FROM alerts "
                          "WHERE id = ?1 AND (?2 = 0 OR office_id = ?2)",
                          &st, TD__SQ_ARGS(TD__SQ_I(id), TD__SQ_I(office)), err);
    if (rc)
        return rc;
    if ((rc = td__sq_row(c, st, "alert", err)) == TD_OK) {
        *office_out = sqlite3_column_int64(st, 0);
        *message_out = sqlite3_column_int64(st, 1);
        *was = sqlite3_column_int(st, 2);
    } else if (rc == TD_ENOTFOUND) {
        td_error_set(err, TD_ENOTFOUND, "no alert %lld", (long long)id);
    }
    td__sq_done(c, st);
    if (rc || *was)
        return rc;
    return td__sq_write(c, "alert ack",
                        "UPDATE alerts SET acked_at = ?, acked_by = ?, acked_via = ? WHERE id = ?",
                        TD__SQ_ARGS(TD__SQ_I(now), TD__SQ_I(by), OPT_T(via), TD__SQ_I(id)), err);
}
