/*
 * store_int.h - inside the store module: one open function per backend.
 */
#ifndef TD_STORE_INT_H
#define TD_STORE_INT_H

#include "threatdesk/store.h"

/* sqlite.c: open (creating) the file at path and migrate it. */
int td__sqlite_open(const char *path, const char *home, struct td_store **out,
                    struct td_error *err);

/* sqlite.c: the connection of a SQLite store (for the ops in other files). */
struct sqlite3;
struct sqlite3 *td__sqlite_db(struct td_store *s);

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
                                   int64_t when, int64_t by, json_t **ids, struct td_error *err);
int td__sq_feedback_list(struct td_store *s, int64_t office_id, int all, size_t limit,
                         size_t offset, json_t **out, int64_t *total, struct td_error *err);
int td__sq_feedback_load(struct td_store *s, int64_t office_id, const char *model,
                         int (*cb)(void *ud, const struct td_store_feedback *f), void *ud,
                         size_t *stale, struct td_error *err);
int td__sq_feedback_stamp(struct td_store *s, int64_t office_id, int64_t stamp[3],
                          struct td_error *err);

#endif
