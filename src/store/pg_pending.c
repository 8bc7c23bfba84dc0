/*
 * pg_pending.c - the PostgreSQL ops not written yet: each answers
 * TD_EFORMAT "<op>: not yet on PostgreSQL".  Every op moves out of here
 * into pg_feedback.c, pg_alerts.c or pg_export.c as it is written; this
 * file goes when it is empty.
 */
#ifdef TD_HAVE_POSTGRES

#include "store/pg_ops.h"

static int pending(struct td_error *err, const char *op)
{
    return td_error_set(err, TD_EFORMAT, "%s: not yet on PostgreSQL", op);
}

int td__pgs_message_vector_put(struct td_store *s, int64_t office_id, int64_t message_id,
                               const char *model, const float *vec, unsigned n,
                               struct td_error *err)
{
    (void)s;
    (void)office_id;
    (void)message_id;
    (void)model;
    (void)vec;
    (void)n;
    return pending(err, "message_vector_put");
}

int td__pgs_message_vector_get(struct td_store *s, int64_t office_id, int64_t message_id,
                               char *model, size_t model_size, float *vec, unsigned cap,
                               unsigned *n, struct td_error *err)
{
    (void)s;
    (void)office_id;
    (void)message_id;
    (void)model;
    (void)model_size;
    (void)vec;
    (void)cap;
    (void)n;
    return pending(err, "message_vector_get");
}

int td__pgs_message_vector_mean(struct td_store *s, int64_t office_id, const char *model,
                                size_t limit, float *mean, unsigned n, size_t *count,
                                struct td_error *err)
{
    (void)s;
    (void)office_id;
    (void)model;
    (void)limit;
    (void)mean;
    (void)n;
    (void)count;
    return pending(err, "message_vector_mean");
}

int td__pgs_feedback_insert(struct td_store *s, const struct td_store_feedback *f, int64_t *id,
                            struct td_error *err)
{
    (void)s;
    (void)f;
    (void)id;
    return pending(err, "feedback_insert");
}

int td__pgs_feedback_revoke(struct td_store *s, int64_t office_id, int64_t id, int64_t when,
                            int64_t by, int64_t *message_id, int *was_revoked, struct td_error *err)
{
    (void)s;
    (void)office_id;
    (void)id;
    (void)when;
    (void)by;
    (void)message_id;
    (void)was_revoked;
    return pending(err, "feedback_revoke");
}

int td__pgs_feedback_revoke_message(struct td_store *s, int64_t office_id, int64_t message_id,
                                    int64_t when, int64_t by, int (*cb)(void *ud, int64_t id),
                                    void *ud, struct td_error *err)
{
    (void)s;
    (void)office_id;
    (void)message_id;
    (void)when;
    (void)by;
    (void)cb;
    (void)ud;
    return pending(err, "feedback_revoke_message");
}

int td__pgs_feedback_list(struct td_store *s, int64_t office_id, int all, size_t limit,
                          size_t offset, int (*cb)(void *ud, const struct td_store_feedback_row *r),
                          void *ud, int64_t *total, struct td_error *err)
{
    (void)s;
    (void)office_id;
    (void)all;
    (void)limit;
    (void)offset;
    (void)cb;
    (void)ud;
    (void)total;
    return pending(err, "feedback_list");
}

int td__pgs_feedback_load(struct td_store *s, int64_t office_id, const char *model,
                          int (*cb)(void *ud, const struct td_store_feedback *f), void *ud,
                          size_t *stale, struct td_error *err)
{
    (void)s;
    (void)office_id;
    (void)model;
    (void)cb;
    (void)ud;
    (void)stale;
    return pending(err, "feedback_load");
}

int td__pgs_feedback_stamp(struct td_store *s, int64_t office_id, int64_t stamp[3],
                           struct td_error *err)
{
    (void)s;
    (void)office_id;
    (void)stamp;
    return pending(err, "feedback_stamp");
}

int td__pgs_alert_recipient_insert(struct td_store *s, int64_t office, const char *name,
                                   const char *email, const char *url, const char *secret,
                                   int64_t now, int64_t *id, struct td_error *err)
{
    (void)s;
    (void)office;
    (void)name;
    (void)email;
    (void)url;
    (void)secret;
    (void)now;
    (void)id;
    return pending(err, "alert_recipient_insert");
}

int td__pgs_alert_recipient_list(struct td_store *s, int64_t office,
                                 int (*cb)(void *ud, const struct td_store_recipient_row *r),
                                 void *ud, struct td_error *err)
{
    (void)s;
    (void)office;
    (void)cb;
    (void)ud;
    return pending(err, "alert_recipient_list");
}

int td__pgs_alert_recipient_channels(struct td_store *s, int64_t office, int64_t id,
                                     unsigned *channels, struct td_error *err)
{
    (void)s;
    (void)office;
    (void)id;
    (void)channels;
    return pending(err, "alert_recipient_channels");
}

int td__pgs_alert_rule_insert(struct td_store *s, const struct td_store_alert_rule *r, int64_t *id,
                              struct td_error *err)
{
    (void)s;
    (void)r;
    (void)id;
    return pending(err, "alert_rule_insert");
}

int td__pgs_alert_rule_list(struct td_store *s, int64_t office,
                            int (*cb)(void *ud, const struct td_store_alert_rule *r), void *ud,
                            struct td_error *err)
{
    (void)s;
    (void)office;
    (void)cb;
    (void)ud;
    return pending(err, "alert_rule_list");
}

int td__pgs_alert_rule_load(struct td_store *s, int64_t office,
                            int (*cb)(void *ud, const struct td_store_alert_rule *r), void *ud,
                            struct td_error *err)
{
    (void)s;
    (void)office;
    (void)cb;
    (void)ud;
    return pending(err, "alert_rule_load");
}

int td__pgs_alert_insert(struct td_store *s, int64_t office, int64_t message, int64_t rule,
                         int64_t now, int64_t *id, int *created, struct td_error *err)
{
    (void)s;
    (void)office;
    (void)message;
    (void)rule;
    (void)now;
    (void)id;
    (void)created;
    return pending(err, "alert_insert");
}

int td__pgs_alert_deliveries_add(struct td_store *s, int64_t office, int64_t alert, int step,
                                 int64_t recipient, unsigned channels, int64_t now, size_t *added,
                                 struct td_error *err)
{
    (void)s;
    (void)office;
    (void)alert;
    (void)step;
    (void)recipient;
    (void)channels;
    (void)now;
    (void)added;
    return pending(err, "alert_deliveries_add");
}

int td__pgs_alert_claim(struct td_store *s, int64_t now, int64_t lease_until, size_t max,
                        int (*cb)(void *ud, const struct td_store_alert_job *j), void *ud,
                        struct td_error *err)
{
    (void)s;
    (void)now;
    (void)lease_until;
    (void)max;
    (void)cb;
    (void)ud;
    return pending(err, "alert_claim");
}

int td__pgs_alert_attempt(struct td_store *s, int64_t delivery, int64_t now, const char *outcome,
                          const char *error, int64_t next_at, struct td_error *err)
{
    (void)s;
    (void)delivery;
    (void)now;
    (void)outcome;
    (void)error;
    (void)next_at;
    return pending(err, "alert_attempt");
}

int td__pgs_alert_escalations(struct td_store *s, int64_t now, unsigned minute_s,
                              int (*cb)(void *ud, int64_t alert, int64_t office, int step,
                                        int64_t next_recipient, unsigned channels),
                              void *ud, struct td_error *err)
{
    (void)s;
    (void)now;
    (void)minute_s;
    (void)cb;
    (void)ud;
    return pending(err, "alert_escalations");
}

int td__pgs_alert_step(struct td_store *s, int64_t alert, int from, int64_t now, int *changed,
                       struct td_error *err)
{
    (void)s;
    (void)alert;
    (void)from;
    (void)now;
    (void)changed;
    return pending(err, "alert_step");
}

int td__pgs_alert_list(struct td_store *s, int64_t office, int open_only, size_t limit,
                       json_t **out, struct td_error *err)
{
    (void)s;
    (void)office;
    (void)open_only;
    (void)limit;
    (void)out;
    return pending(err, "alert_list");
}

int td__pgs_alert_ack(struct td_store *s, int64_t office, int64_t id, int64_t by, const char *via,
                      int64_t now, int64_t *office_out, int64_t *message_out, int *was,
                      struct td_error *err)
{
    (void)s;
    (void)office;
    (void)id;
    (void)by;
    (void)via;
    (void)now;
    (void)office_out;
    (void)message_out;
    (void)was;
    return pending(err, "alert_ack");
}

int td__pgs_audit_walk_object(struct td_store *s, int64_t office, const char *type, int64_t id,
                              int (*cb)(void *ud, const struct td_audit_entry *e), void *ud,
                              struct td_error *err)
{
    (void)s;
    (void)office;
    (void)type;
    (void)id;
    (void)cb;
    (void)ud;
    return pending(err, "audit_walk_object");
}

int td__pgs_message_export(struct td_store *s, int64_t office, const struct td_store_msg_query *f,
                           int (*cb)(void *ud, const json_t *row), void *ud, struct td_error *err)
{
    (void)s;
    (void)office;
    (void)f;
    (void)cb;
    (void)ud;
    return pending(err, "message_export");
}

int td__pgs_case_export(struct td_store *s, int64_t office, const struct td_store_case_query *f,
                        int (*cb)(void *ud, const json_t *row), void *ud, struct td_error *err)
{
    (void)s;
    (void)office;
    (void)f;
    (void)cb;
    (void)ud;
    return pending(err, "case_export");
}

int td__pgs_digest_rows(struct td_store *s, int64_t office, const char *kind, int64_t since,
                        int64_t until, int (*cb)(void *ud, const json_t *row), void *ud,
                        struct td_error *err)
{
    (void)s;
    (void)office;
    (void)kind;
    (void)since;
    (void)until;
    (void)cb;
    (void)ud;
    return pending(err, "digest_rows");
}

#endif /* TD_HAVE_POSTGRES */
