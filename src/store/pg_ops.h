/*
 * pg_ops.h - inside the store module: the PostgreSQL store (postgres://),
 * split by file the way the SQLite store is.
 *
 *   pg_store.c     open/close, transactions, offices, users, sessions, API
 *                  keys, audit, verify, retention: the ops table,
 *                  td__pgs_conn/td__pgs_scope
 *   pg_messages.c  messages and senders (pg_store_int.h: shared helpers)
 *   pg_cases.c     cases, notes and evidence
 *   pg_feedback.c  message vectors and feedback (as sqlite_feedback.c)
 *   pg_alerts.c    alert recipients, rules, alerts, deliveries (as
 *                  sqlite_alerts.c)
 *   pg_export.c    bundle/report walks (as sqlite_export.c)
 *   pg_jobs.c      the work queue and uploads (as sqlite_jobs.c)
 *
 * Every op behaves exactly as its SQLite twin (store.h is the contract;
 * tests/unit run against both backends), with parameterised statements
 * only (td__pg_exec) and the office named for row-level security before
 * any statement on an office table (td__pgs_scope).
 *
 * Only compiled with TD_HAVE_POSTGRES.
 */
#ifndef TD_STORE_PG_OPS_H
#define TD_STORE_PG_OPS_H

#ifdef TD_HAVE_POSTGRES

#include <stddef.h>
#include <stdint.h>

#include "store/pg_int.h"
#include "threatdesk/store.h"

/* pg_store.c: open a postgres:// store and migrate it. */
int td__pgs_open(const char *url, const char *home, struct td_store **out, struct td_error *err);

/* pg_store.c: the connection of a PostgreSQL store. */
struct td_pg *td__pgs_conn(struct td_store *s);

/* pg_store.c: send the audit entries this transaction holds back (and its
 * office's head), ahead of a statement that reads the audit. */
int td__pgs_audit_flush(struct td_store *s, struct td_error *err);

/* pg_store.c: a sender's tally inside a transaction is held back and sent
 * with the others of the transaction as one upsert (0: held; 1: outside a
 * transaction, the caller writes it); what is held back for a sender; and
 * send them now, ahead of a statement that reads senders. */
int td__pgs_sender_hold(struct td_store *s, int64_t office, const char *key, const char *display,
                        int severity, int is_threat, int64_t when, struct td_error *err);
int64_t td__pgs_sender_held_threats(struct td_store *s, int64_t office, const char *key);
int td__pgs_senders_flush(struct td_store *s, struct td_error *err);

/* pg_store.c: name the office the next statements act for (row-level
 * security).  Inside a store transaction the setting ends with it;
 * outside one it holds until the next td__pgs_scope.  The value is cached
 * (no round trip when it does not change); the cache follows COMMIT,
 * ROLLBACK and ROLLBACK TO.  office < 0: the cross-office jobs (alert
 * delivery worker, escalations, retention, verify) which must see every
 * office's rows: the setting is then '*', which the all_offices policies
 * of data/migrations/postgres/0010_cross_office.sql admit (pg_store.c).
 * Tables outside RLS (offices, users, sessions, api_keys,
 * login_failures) need no scope. */
int td__pgs_scope(struct td_store *s, int64_t office, struct td_error *err);

/* The feedback, alert and export ops (pg_feedback.c, pg_alerts.c,
 * pg_export.c); signatures as their td__sq_ twins in store_int.h. */
int td__pgs_message_vector_put(struct td_store *s, int64_t office_id, int64_t message_id,
                               const char *model, const float *vec, unsigned n,
                               struct td_error *err);
int td__pgs_message_vector_get(struct td_store *s, int64_t office_id, int64_t message_id,
                               char *model, size_t model_size, float *vec, unsigned cap,
                               unsigned *n, struct td_error *err);
int td__pgs_message_vector_mean(struct td_store *s, int64_t office_id, const char *model,
                                size_t limit, float *mean, unsigned n, size_t *count,
                                struct td_error *err);
int td__pgs_feedback_insert(struct td_store *s, const struct td_store_feedback *f, int64_t *id,
                            struct td_error *err);
int td__pgs_feedback_revoke(struct td_store *s, int64_t office_id, int64_t id, int64_t when,
                            int64_t by, int64_t *message_id, int *was_revoked,
                            struct td_error *err);
int td__pgs_feedback_revoke_message(struct td_store *s, int64_t office_id, int64_t message_id,
                                    int64_t when, int64_t by, int (*cb)(void *ud, int64_t id),
                                    void *ud, struct td_error *err);
int td__pgs_feedback_list(struct td_store *s, int64_t office_id, int all, size_t limit,
                          size_t offset, int (*cb)(void *ud, const struct td_store_feedback_row *r),
                          void *ud, int64_t *total, struct td_error *err);
int td__pgs_feedback_load(struct td_store *s, int64_t office_id, const char *model,
                          int (*cb)(void *ud, const struct td_store_feedback *f), void *ud,
                          size_t *stale, struct td_error *err);
int td__pgs_feedback_stamp(struct td_store *s, int64_t office_id, int64_t stamp[3],
                           struct td_error *err);
int td__pgs_alert_recipient_insert(struct td_store *s, int64_t office, const char *name,
                                   const char *email, const char *url, const char *secret,
                                   int64_t now, int64_t *id, struct td_error *err);
int td__pgs_alert_recipient_list(struct td_store *s, int64_t office,
                                 int (*cb)(void *ud, const struct td_store_recipient_row *r),
                                 void *ud, struct td_error *err);
int td__pgs_alert_recipient_channels(struct td_store *s, int64_t office, int64_t id,
                                     unsigned *channels, struct td_error *err);
int td__pgs_alert_rule_insert(struct td_store *s, const struct td_store_alert_rule *r, int64_t *id,
                              struct td_error *err);
int td__pgs_alert_rule_list(struct td_store *s, int64_t office,
                            int (*cb)(void *ud, const struct td_store_alert_rule *r), void *ud,
                            struct td_error *err);
int td__pgs_alert_rule_load(struct td_store *s, int64_t office,
                            int (*cb)(void *ud, const struct td_store_alert_rule *r), void *ud,
                            struct td_error *err);
int td__pgs_alert_insert(struct td_store *s, int64_t office, int64_t message, int64_t rule,
                         int64_t now, int64_t *id, int *created, struct td_error *err);
int td__pgs_alert_deliveries_add(struct td_store *s, int64_t office, int64_t alert, int step,
                                 int64_t recipient, unsigned channels, int64_t now, size_t *added,
                                 struct td_error *err);
int td__pgs_alert_claim(struct td_store *s, int64_t now, int64_t lease_until, size_t max,
                        int (*cb)(void *ud, const struct td_store_alert_job *j), void *ud,
                        struct td_error *err);
int td__pgs_alert_attempt(struct td_store *s, int64_t delivery, int64_t now, const char *outcome,
                          const char *error, int64_t next_at, struct td_error *err);
int td__pgs_alert_escalations(struct td_store *s, int64_t now, unsigned minute_s,
                              int (*cb)(void *ud, int64_t alert, int64_t office, int step,
                                        int64_t next_recipient, unsigned channels),
                              void *ud, struct td_error *err);
int td__pgs_alert_step(struct td_store *s, int64_t alert, int from, int64_t now, int *changed,
                       struct td_error *err);
int td__pgs_alert_list(struct td_store *s, int64_t office, int open_only, size_t limit,
                       struct td_store_alert_list *out, struct td_store_arena *ar,
                       struct td_error *err);
int td__pgs_alert_ack(struct td_store *s, int64_t office, int64_t id, int64_t by, const char *via,
                      int64_t now, int64_t *office_out, int64_t *message_out, int *was,
                      struct td_error *err);
int td__pgs_audit_walk_object(struct td_store *s, int64_t office, const char *type, int64_t id,
                              int (*cb)(void *ud, const struct td_audit_entry *e), void *ud,
                              struct td_error *err);
int td__pgs_message_export(struct td_store *s, int64_t office, const struct td_store_msg_query *f,
                           int (*cb)(void *ud, const struct td_store_message_row *r), void *ud,
                           struct td_error *err);
int td__pgs_case_export(struct td_store *s, int64_t office, const struct td_store_case_query *f,
                        int (*cb)(void *ud, const struct td_store_case_export_row *r), void *ud,
                        struct td_error *err);
int td__pgs_digest_rows(struct td_store *s, int64_t office, const char *kind, int64_t since,
                        int64_t until, int (*cb)(void *ud, const struct td_store_digest_row *r),
                        void *ud, struct td_error *err);

/* The work queue and uploads (pg_jobs.c); signatures as their td__sq_
 * twins in store_int.h. */
int td__pgs_job_add(struct td_store *s, int64_t office, const char *kind, const char *payload_ref,
                    int64_t available_at, int64_t *id, struct td_error *err);
int td__pgs_job_claim(struct td_store *s, const char *worker, int64_t now, int64_t lease_seconds,
                      struct td_store_job *job, struct td_error *err);
int td__pgs_job_finish(struct td_store *s, int64_t id, const char *worker, int ok,
                       const char *error, int64_t now, int64_t retry_at, struct td_error *err);
int td__pgs_upload_insert(struct td_store *s, const struct td_store_upload *u, int64_t *id,
                          struct td_error *err);
int td__pgs_upload_get(struct td_store *s, int64_t office, int64_t id, const char *client_key,
                       int with_bytes, int (*cb)(void *ud, const struct td_store_upload *u),
                       void *ud, struct td_error *err);
int td__pgs_upload_set(struct td_store *s, int64_t office, int64_t id, const char *state,
                       int64_t attempts, const char *error, int64_t message_id, int64_t now,
                       struct td_error *err);
int td__pgs_upload_expire(struct td_store *s, int64_t office, int64_t before,
                          int (*cb)(void *ud, int64_t id, const char *sha256), void *ud,
                          struct td_error *err);

#endif /* TD_HAVE_POSTGRES */
#endif
