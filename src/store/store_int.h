/*
 * store_int.h - inside the store module: one open function per backend.
 */
#ifndef TD_STORE_INT_H
#define TD_STORE_INT_H

#include "threatdesk/store.h"

/* store.c: the arena of a read's rows (store.h).  Allocation failure
 * sets a->oom and answers NULL; a read checks a->oom once at its end.
 * td__arena_str/strn copy (NULL stays NULL); td__arena_push appends one
 * zeroed element of `size` bytes to the growing array *arr (n used, cap
 * room), setting *slot to it. */
void *td__arena_alloc(struct td_store_arena *a, size_t n);
void *td__arena_array(struct td_store_arena *a, size_t n, size_t size);
const char *td__arena_str(struct td_store_arena *a, const char *s);
const char *td__arena_strn(struct td_store_arena *a, const char *s, size_t n);
/* A list of ids as the backends aggregate it ("3,1,2"; NULL or "": none)
 * into an arena array, ascending when sort, else in the list's order. */
void td__arena_ids(struct td_store_arena *a, const char *list, int sort, const int64_t **ids,
                   size_t *n);
int td__arena_push(struct td_store_arena *a, void **arr, size_t *n, size_t *cap, size_t size,
                   void **slot);

/* sqlite.c: open (creating) the file at path and migrate it. */
int td__sqlite_open(const char *path, const char *home, struct td_store **out,
                    struct td_error *err);

/* sqlite.c: the connection of a SQLite store and its statement cache
 * (sq_stmt.h), for the ops in other files. */
struct td__sq;
struct td__sq *td__sq_conn(struct td_store *s);
struct sqlite3_stmt;
/* An audit row selected as "id, time, office_id, user_id, action,
 * object_type, object_id, details, prev_hash, hash" into *e (details
 * borrowed from st until its next step). */
void td__sq_audit_entry(struct sqlite3_stmt *st, struct td_audit_entry *e);

/* sqlite.c: the case list's filter, shared by case_list and case_export so
 * an export of a filtered list is that list.  ?1 office, ?2 status, ?3
 * type, ?4 assignee name (NULL: any), ?5 police only, ?8 sender (NULL:
 * any), ?9/?10 opened from/until; ?6/?7 are left to the page (limit,
 * offset).  td__sq_case_bind() binds them from a query. */
#define TD__SQ_CASE_WHERE                                                                          \
    "WHERE c.office_id = ?1 AND (?2 IS NULL OR c.status = ?2) AND (?3 IS NULL OR c.type = ?3) "    \
    "AND (?4 IS NULL OR a.name = ?4) AND (?5 = 0 OR c.reported = 1) "                              \
    "AND (?8 IS NULL OR EXISTS (SELECT 1 FROM case_messages cm JOIN messages m "                   \
    "ON m.id = cm.message_id WHERE cm.case_id = c.id AND m.office_id = ?1 AND m.sender = ?8)) "    \
    "AND c.created >= ?9 AND c.created < ?10 "
void td__sq_case_bind(struct sqlite3_stmt *st, int64_t office, const struct td_store_case_query *f);

/* sqlite_feedback.c: the feedback ops of store.h, for sqlite.c's table. */
int td__sq_message_vector_put(struct td_store *s, int64_t office_id, int64_t message_id,
                              const char *model, const float *vec, unsigned n,
                              struct td_error *err);
int td__sq_message_vector_get(struct td_store *s, int64_t office_id, int64_t message_id,
                              char *model, size_t model_size, float *vec, unsigned cap, unsigned *n,
                              struct td_error *err);
int td__sq_message_vector_mean(struct td_store *s, int64_t office_id, const char *model,
                               size_t limit, float *mean, unsigned n, size_t *count,
                               struct td_error *err);
int td__sq_feedback_insert(struct td_store *s, const struct td_store_feedback *f, int64_t *id,
                           struct td_error *err);
int td__sq_feedback_revoke(struct td_store *s, int64_t office_id, int64_t id, int64_t when,
                           int64_t by, int64_t *message_id, int *was_revoked, struct td_error *err);
int td__sq_feedback_revoke_message(struct td_store *s, int64_t office_id, int64_t message_id,
                                   int64_t when, int64_t by, int (*cb)(void *ud, int64_t id),
                                   void *ud, struct td_error *err);
int td__sq_feedback_list(struct td_store *s, int64_t office_id, int all, size_t limit,
                         size_t offset, int (*cb)(void *ud, const struct td_store_feedback_row *r),
                         void *ud, int64_t *total, struct td_error *err);
int td__sq_feedback_load(struct td_store *s, int64_t office_id, const char *model,
                         int (*cb)(void *ud, const struct td_store_feedback *f), void *ud,
                         size_t *stale, struct td_error *err);
int td__sq_feedback_stamp(struct td_store *s, int64_t office_id, int64_t stamp[3],
                          struct td_error *err);

/* sqlite_alerts.c: the alert ops of store.h. */
int td__sq_alert_recipient_insert(struct td_store *s, int64_t office, const char *name,
                                  const char *email, const char *url, const char *secret,
                                  int64_t now, int64_t *id, struct td_error *err);
int td__sq_alert_recipient_list(struct td_store *s, int64_t office,
                                int (*cb)(void *ud, const struct td_store_recipient_row *r),
                                void *ud, struct td_error *err);
int td__sq_alert_recipient_channels(struct td_store *s, int64_t office, int64_t id,
                                    unsigned *channels, struct td_error *err);
int td__sq_alert_rule_insert(struct td_store *s, const struct td_store_alert_rule *r, int64_t *id,
                             struct td_error *err);
int td__sq_alert_rule_list(struct td_store *s, int64_t office,
                           int (*cb)(void *ud, const struct td_store_alert_rule *r), void *ud,
                           struct td_error *err);
int td__sq_alert_rule_load(struct td_store *s, int64_t office,
                           int (*cb)(void *ud, const struct td_store_alert_rule *r), void *ud,
                           struct td_error *err);
int td__sq_alert_insert(struct td_store *s, int64_t office, int64_t message, int64_t rule,
                        int64_t now, int64_t *id, int *created, struct td_error *err);
int td__sq_alert_deliveries_add(struct td_store *s, int64_t office, int64_t alert, int step,
                                int64_t recipient, unsigned channels, int64_t now, size_t *added,
                                struct td_error *err);
int td__sq_alert_claim(struct td_store *s, int64_t now, int64_t lease_until, size_t max,
                       int (*cb)(void *ud, const struct td_store_alert_job *j), void *ud,
                       struct td_error *err);
int td__sq_alert_attempt(struct td_store *s, int64_t delivery, int64_t now, const char *outcome,
                         const char *error, int64_t next_at, struct td_error *err);
int td__sq_alert_escalations(struct td_store *s, int64_t now, unsigned minute_s,
                             int (*cb)(void *ud, int64_t alert, int64_t office, int step,
                                       int64_t next_recipient, unsigned channels),
                             void *ud, struct td_error *err);
int td__sq_alert_step(struct td_store *s, int64_t alert, int from, int64_t now, int *changed,
                      struct td_error *err);
int td__sq_alert_list(struct td_store *s, int64_t office, int open_only, size_t limit,
                      struct td_store_alert_list *out, struct td_store_arena *ar,
                      struct td_error *err);
int td__sq_alert_ack(struct td_store *s, int64_t office, int64_t id, int64_t by, const char *via,
                     int64_t now, int64_t *office_out, int64_t *message_out, int *was,
                     struct td_error *err);

/* sqlite_export.c: the bundle and report ops of store.h. */
int td__sq_audit_walk_object(struct td_store *s, int64_t office, const char *type, int64_t id,
                             int (*cb)(void *ud, const struct td_audit_entry *e), void *ud,
                             struct td_error *err);
int td__sq_message_export(struct td_store *s, int64_t office, const struct td_store_msg_query *f,
                          int (*cb)(void *ud, const struct td_store_message_row *r), void *ud,
                          struct td_error *err);
int td__sq_case_export(struct td_store *s, int64_t office, const struct td_store_case_query *f,
                       int (*cb)(void *ud, const struct td_store_case_export_row *r), void *ud,
                       struct td_error *err);
int td__sq_digest_rows(struct td_store *s, int64_t office, const char *kind, int64_t since,
                       int64_t until, int (*cb)(void *ud, const struct td_store_digest_row *r),
                       void *ud, struct td_error *err);

/* sqlite_jobs.c: the work queue and uploads of store.h. */
int td__sq_job_add(struct td_store *s, int64_t office, const char *kind, const char *payload_ref,
                   int64_t available_at, int64_t *id, struct td_error *err);
int td__sq_job_claim(struct td_store *s, const char *worker, int64_t now, int64_t lease_seconds,
                     struct td_store_job *job, struct td_error *err);
int td__sq_job_finish(struct td_store *s, int64_t id, const char *worker, int ok, const char *error,
                      int64_t now, int64_t retry_at, struct td_error *err);
int td__sq_upload_insert(struct td_store *s, const struct td_store_upload *u, int64_t *id,
                         struct td_error *err);
int td__sq_upload_get(struct td_store *s, int64_t office, int64_t id, const char *client_key,
                      int with_bytes, int (*cb)(void *ud, const struct td_store_upload *u),
                      void *ud, struct td_error *err);
int td__sq_upload_set(struct td_store *s, int64_t office, int64_t id, const char *state,
                      int64_t attempts, const char *error, int64_t message_id, int64_t now,
                      struct td_error *err);
int td__sq_upload_expire(struct td_store *s, int64_t office, int64_t before,
                         int (*cb)(void *ud, int64_t id, const char *sha256), void *ud,
                         struct td_error *err);

#endif
