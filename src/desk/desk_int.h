/*
 * desk_int.h - inside the desk (not installed).
 *
 *   desk.c      open/close, the lock, filters, small shared helpers
 *   audit.c     the hash chain: canonical form, append, verify
 *   auth.c      passwords (Argon2id), sessions, API keys, users, first start
 *   ingest.c    messages in: analyse, history, idempotency, batches, JSON door
 *   triage.c    the queue, one message, its original, status, senders
 *   cases.c     incidents: fields, workflow, links, notes, timeline
 *   evidence.c  content-addressed files and their reads
 *
 * Every public call that touches the store runs as
 *     td__lock(d); begin; ... change + td__audit(...) ...; commit; unlock
 * so an audit entry and the change it records commit together or not at all.
 */
#ifndef TD_DESK_INT_H
#define TD_DESK_INT_H

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>

#include "threatdesk/desk.h"
#include "threatdesk/store.h"
#include "threatdesk/taxonomy.h"

/* What an ingest batch reads once instead of once per record (ingest.c):
 * nothing in its transaction changes these, and another process's change
 * committed meanwhile is seen by the next batch, as by the next message
 * before.  Under `lock`; `open` only while a batch's transaction is. */
struct td__rule_row; /* alerts.c */
struct td__batch_reads {
    int open;
    int64_t fb_office;    /* the office whose feedback stamp was read, or -1 */
    int64_t rules_office; /* rules[] are this office's enabled rules, or -1 */
    struct td__rule_row *rules;
    size_t nrules, caprules;
};

struct td_desk {
    struct td_store *store;
    char data_dir[1024];
    struct td_analyser *analyser; /* borrowed */
    struct td_analysis_ctx *ctx;  /* the desk's own, used under the lock */
    struct td_desk_opts opts;     /* strings not kept: only the numbers */
    pthread_mutex_t lock;
    char dummy_hash[TD_STORE_HASH_SIZE]; /* for unknown users' logins, lazily */
    /* Argon2id slots (auth.c): at most opts.hash_slots hashes at once,
     * opts.hash_queue callers waiting. */
    pthread_mutex_t hash_lock;
    pthread_cond_t hash_cond;
    unsigned hash_busy, hash_waiting;
    /* Each office's feedback memory, under `lock` (feedback.c). */
    struct td__fb_office *fb_cache;
    struct td__batch_reads batch;
    /* Alerts (alerts.c): the ack links' HMAC key, loaded on first use under
     * `lock`, and the browser channel's listener. */
    unsigned char alert_key[32];
    int alert_key_loaded;
    td_alert_listener *alert_listener;
    void *alert_listener_ud;
    struct td_alert_worker *alert_worker; /* the running worker, or NULL */
    /* OCR worker threads in this process (ocr_workers.c), woken by an
     * accepted upload; under `lock`. */
    struct td_ocr_workers *ocr_workers;
};

/* Seconds since the epoch. */
int64_t td__now(void);

void td__lock(struct td_desk *d);
void td__unlock(struct td_desk *d);
/* begin a write transaction; on failure nothing is held */
int td__begin(struct td_desk *d, struct td_error *err);
/* commit when rc == TD_OK, else roll back; returns the final rc */
int td__end(struct td_desk *d, int rc, struct td_error *err);

/* vocab.c: 1 when a case in this status has reached the police (it
 * stays visible to them afterwards). */
int td__case_status_reported(int status);
/* vocab.c: the desk's filters as the store's queries (wire names, no
 * desk enums); strings stay borrowed from f. */
void td__msg_query(const struct td_queue_filter *f, struct td_store_msg_query *q);
void td__case_query(const struct td_case_filter *f, int police_only, struct td_store_case_query *q);

/* Role predicates. */
int td__is_staff(const struct td_actor *a); /* admin, caseworker, security */
int td__denied(struct td_error *err, const char *what);

/* Lower-case hex SHA-256 of bytes into hex[65]. */
void td__sha256_hex(const void *p, size_t n, char hex[65]);

/* Parse a time: JSON integer seconds or an RFC 3339 string. */
int td__parse_time(const json_t *v, int64_t *out, const char *field, struct td_error *err);

/*
 * Append one audit entry (inside the caller's transaction).  `details` is
 * borrowed (NULL: {}); it is serialised with sorted keys.  actor NULL: the
 * local operator (user 0) acting on `office_id`.
 */
int td__audit(struct td_desk *d, const struct td_actor *actor, int64_t office_id,
              const char *action, const char *object_type, int64_t object_id, const json_t *details,
              struct td_error *err);

/* The audit entries about one object of the office, oldest first, as
 * the timeline's JSON [{"id","time","user","action","details"}]; *out is
 * yours.  (Lock held.) */
int td__audit_events(struct td_desk *d, int64_t office_id, const char *object_type,
                     int64_t object_id, json_t **out, struct td_error *err);

/* The canonical hash of an entry (all fields but hash), hex into out[65]. */
int td__audit_hash(const struct td_audit_entry *e, char out[65]);

/* alerts.c: inside the filing transaction, make the alerts of the
 * office's rules that the message matches, with their outbox rows.  The ids
 * of new alerts for the browser channel go to browser[] (at most cap; *n
 * how many). */
#define TD__ALERTS_PER_MESSAGE 8
int td__alerts_enqueue(struct td_desk *d, const struct td_actor *actor, int64_t message_id,
                       int severity, unsigned labels, unsigned flags, int64_t now, int64_t *browser,
                       size_t cap, size_t *n, size_t *made, struct td_error *err);
/* Forget what the ingest batch read once (d->batch), at its end. */
void td__batch_reads_end(struct td_desk *d);
/* Wake the worker (if one runs) after a commit that made alerts, so the
 * first attempt does not wait for its next poll. */
void td__alerts_wake(struct td_desk *d);
/* Tell the listener (outside the lock). */
void td__alerts_notify(struct td_desk *d, int64_t office_id, const int64_t *ids, size_t n,
                       int64_t message_id, int severity);

/* ocr_workers.c: wake idle worker threads (lock held). */
void td__ocr_workers_wake(struct td_ocr_workers *w);

/* evidence.c: verify every evidence file. */
int td__evidence_verify(struct td_desk *d, td_verify_cb *cb, void *ud,
                        struct td_verify_stats *stats, struct td_error *err);

#endif
