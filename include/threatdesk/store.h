/*
 * store.h - durable storage behind one interface (the curl vtls way).
 *
 * A `struct td_store` is a backend plus an ops table.  SQLite (sqlite*.c) is
 * the embedded default; PostgreSQL (pg_*.c, docs/postgres.md) implements
 * the same table, never as #ifdefs through the desk.
 *
 * The ops are TYPED operations the desk needs, not SQL: a backend owns its
 * queries (prepared statements with bound parameters only) and its schema,
 * which migrates forward on open from data files
 *     <home>/data/migrations/<backend>/NNNN_name.sql
 * applied in order inside one transaction, each recorded in schema_version.
 *
 * Vocabulary: roles, message and case states and case types are the
 * desk's (desk.h).  The store keeps the wire names it is given as text and
 * answers them back; it knows no workflow and no enum of the desk.
 *
 * Office isolation: every operation that touches office data takes the
 * office id and puts it in its WHERE clause; an object of another office
 * is TD_ENOTFOUND.  Role checks and the audit chain are the desk's job
 * (desk.h); the store only keeps what it is given.
 *
 * Transactions: the desk brackets every change in begin()/commit() (a
 * write transaction taken up front, so reading the audit chain's head and
 * appending to it is atomic), and uses savepoints for per-record batches.
 *
 * Rows, not JSON: reads answer typed rows and the desk renders the API's
 * JSON from them (desk/render.c), once for both backends.  A JSON-text
 * column (a verdict, attachments, a case's place and people, audit
 * details) stays text in its row; the desk parses it.
 *
 * Ownership: `const char *` inputs are borrowed for the call.  Fixed-size
 * struct outputs are caller-owned plain data.  Rows given to a callback
 * are valid during the call only.  Rows a read fills with lists
 * (message_get, message_queue, sender_get, case_get, case_list,
 * evidence_get, alert_list) live in a struct td_store_arena the caller
 * passes and frees (td_store_arena_free), on success and on error alike.
 * The exports (message_export, case_export, digest_rows) stream typed rows
 * to a callback, one at a time.  A store is used by one
 * thread at a time (the desk serialises).
 */
#ifndef THREATDESK_STORE_H
#define THREATDESK_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "threatdesk/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct td_store;

/* ---- rows -------------------------------------------------------------- */

/* Large enough for crypto_pwhash_str() output (crypto_pwhash_STRBYTES). */
#define TD_STORE_HASH_SIZE 128
/* Room for a wire name the store answers back (role, status). */
#define TD_STORE_NAME_SIZE 32

struct td_store_user {
    int64_t id;
    int64_t office_id;
    char name[128];
    char office[128];              /* the office's name (filled by reads) */
    char role[TD_STORE_NAME_SIZE]; /* wire name, as given to user_insert */
    char pwhash[TD_STORE_HASH_SIZE];
    int must_change; /* one-time password not yet replaced */
    int disabled;    /* 1: may not log in; its sessions and keys are gone */
    int64_t created;
};

/* A message to insert.  Strings may be NULL (stored as NULL). */
struct td_store_message {
    int64_t office_id;
    const char *client_key; /* idempotency key (UNIQUE per office) */
    const char *message_id;
    const char *channel;
    const char *sender;
    const char *sender_name;
    const char *subject;
    const char *text;
    size_t text_len;
    const void *original; /* kept exactly, as a BLOB */
    size_t original_len;
    int64_t received;
    int64_t ingested;
    int64_t ingested_by; /* user id, 0 = local */
    int severity;        /* enum td_severity */
    unsigned labels;     /* predicted label bits */
    unsigned flags;      /* TD_FLAG bits */
    const char *verdict; /* td_verdict_to_json() text */
    const char *model_version;
    const char *content_key; /* dedupe.h rule 2 key of (sender, text), or NULL */
    const char *attachments; /* JSON array text [{"name","type","size","sha256"}] or NULL */
    /* How many messages the caller may still insert in this transaction,
     * this one included (0: one): PostgreSQL takes that many ids ahead in
     * one round trip.  A hint only; SQLite ignores it. */
    size_t reserve;
};

struct td_store_case {
    int64_t office_id;
    const char *type;   /* wire name */
    const char *status; /* wire name */
    const char *title;
    const char *description;
    int64_t occurred;   /* INT64_MIN: unknown */
    const char *place;  /* JSON object text or NULL */
    const char *people; /* JSON array text or NULL */
    const char *police_ref;
    int64_t assignee; /* user id, 0 = none */
    int64_t created;
    int64_t created_by;
};

struct td_store_evidence {
    int64_t office_id;
    int64_t case_id;
    const char *name;
    const char *type;
    int64_t size;
    const char *sha256; /* hex */
    int64_t added;
    int64_t added_by;
};

/* One decision of the office about a message (desk/feedback.c; migration
 * 0004).  Inputs are borrowed; in feedback_load's callback everything is
 * valid during the call only. */
struct td_store_feedback {
    int64_t id; /* filled by reads */
    int64_t office_id;
    int64_t message_id;
    int decision;      /* enum td_feedback_decision */
    unsigned labels;   /* confirmed label bits */
    const char *model; /* the model that drew the vector */
    const float *vec;  /* nvec floats */
    unsigned nvec;
    float weight;
    int64_t user_id;
    int64_t created;
};

/* A decision as listed (feedback_list). */
struct td_store_feedback_row {
    int64_t id;
    int64_t message_id;
    const char *decision; /* wire name, as stored */
    unsigned labels;      /* confirmed label bits */
    const char *model;
    double weight;
    const char *user; /* who decided; NULL: the local operator */
    int64_t created;
    int revoked; /* 1: revoked_at / revoked_by say when and who */
    int64_t revoked_at;
    const char *revoked_by; /* NULL: the local operator */
};

/* Alerts (desk/alerts.c; migration 0005).  An alert rule as stored;
 * strings borrowed for the call (valid during a callback only). */
struct td_store_alert_rule {
    int64_t id; /* filled by reads */
    int64_t office_id;
    const char *name;
    int min_severity;
    unsigned labels, flags, channels; /* label bits, TD_FLAG bits, TD_ALERT_* bits */
    int quiet_start, quiet_end;       /* minutes of the day, -1: none */
    unsigned escalate_minutes;
    int disclose;     /* enum td_alert_disclose */
    const char *rota; /* JSON array text of recipient ids */
    int64_t created;
    int64_t created_by;
    int enabled; /* filled by reads */
};

/* An alert recipient as listed: whether it has a webhook secret, never
 * the secret. */
struct td_store_recipient_row {
    int64_t id;
    const char *name;
    const char *email;       /* NULL: none */
    const char *webhook_url; /* NULL: none */
    int has_secret;
    int64_t created;
};

/* One due delivery of the outbox with what its notice may say (plain
 * data).  secret is the webhook's HMAC key ("" for e-mail). */
struct td_store_alert_job {
    int64_t delivery_id, alert_id, office_id, message_id;
    int step;
    char channel[16]; /* "email" | "webhook" */
    char target[1028];
    char secret[256];
    unsigned attempts; /* before this one */
    char office[128];
    char rule[128];
    int disclose;
    int severity;
    unsigned labels;
    char msg_channel[64];
    char sender[256];
    char subject[256];
    int64_t received;
};

/* Rows the store answers one at a time to a callback (strings valid
 * during the call only); the desk renders them for the front doors.  A
 * non-zero return from the callback stops the walk (and is returned). */
struct td_store_office_row {
    int64_t id;
    const char *name;
    int64_t created;
    int64_t users; /* how many users it has */
};

struct td_store_user_row {
    int64_t id;
    const char *name;
    const char *role; /* wire name, as given */
    const char *office;
    int64_t created;
    int must_change;
    int disabled;
};

struct td_store_key_row {
    int64_t id;
    const char *user;  /* the key's user */
    const char *label; /* NULL: none */
    int64_t created;
    int64_t issued_by;          /* user id; 0 the local operator; -1 unknown */
    const char *issued_by_name; /* NULL when unknown or gone */
    int revoked;                /* 1: revoked_at and revoked_by say when and who */
    int64_t revoked_at;
    int64_t revoked_by;          /* user id; 0 the local operator; -1 unknown */
    const char *revoked_by_name; /* NULL when gone */
};

/* An audit entry as a case's timeline shows it. */
struct td_store_event_row {
    int64_t id;
    int64_t time;
    const char *user; /* the user's name; NULL for the local operator */
    const char *action;
    const char *details; /* JSON text */
};

/* The messages a queue or an export reads (message_queue, message_export).
 * Every condition is optional; strings are borrowed for the call. */
struct td_store_msg_query {
    const char *status;  /* wire name, NULL: any (unreviewed first) */
    int label;           /* label bit the verdict predicted, -1: any */
    int min_severity;    /* 0: any */
    const char *channel; /* exact, NULL: any */
    const char *sender;  /* exact sender key, NULL: any */
    int64_t since;       /* received >= since; INT64_MIN: open */
    int64_t until;       /* received < until;  INT64_MAX: open */
    size_t limit;        /* page size (the caller caps it); exports ignore it */
    size_t offset;
};

/* The cases a list or an export reads (case_list, case_export). */
struct td_store_case_query {
    const char *status;   /* wire name, NULL: any */
    const char *type;     /* wire name, NULL: any */
    const char *assignee; /* user name, NULL: any */
    const char *sender;   /* a case holding a message from this sender key, or NULL */
    int police_only;      /* 1: only cases once reported to police */
    int64_t since;        /* opened >= since; INT64_MIN: open */
    int64_t until;        /* opened < until;  INT64_MAX: open */
    size_t limit;         /* page size; exports ignore it */
    size_t offset;
};

/* ---- read results: typed rows in an arena -------------------------------
 * The reads that show a record with its lists (message_get, message_queue,
 * sender_get, case_get, case_list, evidence_get, alert_list) fill typed
 * rows whose strings and arrays live in an arena the CALLER passes: zero it
 * (struct td_store_arena a = {0}) before the call and td_store_arena_free()
 * it after, whether the call succeeded or not; the rows are valid until
 * then.  A NULL string is SQL NULL (the desk leaves the member out).
 * JSON-text columns (verdict, attachments, place, people) stay text: the
 * desk parses them when it renders (desk/render.c), in one place. */
struct td_store_arena_block;
struct td_store_arena {
    struct td_store_arena_block *head;
    int oom; /* an allocation failed: the read answers TD_ENOMEM */
};
void td_store_arena_free(struct td_store_arena *a);

/* A message as read (MESSAGE of desk.h before rendering). */
struct td_store_message_row {
    int64_t id;
    const char *channel;
    const char *sender;      /* NULL: none */
    const char *sender_name; /* NULL: none */
    const char *subject;     /* NULL: none */
    int64_t received;
    int64_t ingested;
    const char *status; /* wire name, as stored */
    const char *status_reason;
    const char *client_key;
    const char *message_id;
    const char *text; /* text_len bytes (SQLite may keep a NUL inside) */
    size_t text_len;
    const char *verdict;     /* td_verdict_to_json() text less what the columns
                              * below hold (older rows may hold them too) */
    const char *attachments; /* JSON array text, NULL: none */
    const int64_t *cases;    /* the ids of the cases holding it, ascending */
    size_t ncases;
    /* the verdict's decision, kept once, in the columns the queue sorts
     * and filters on: enum td_severity, label and flag bits, the model */
    int severity;
    unsigned labels, flags;
    const char *model_version; /* NULL: none recorded */
};

/* A page of the queue: rows in queue order, total every match. */
struct td_store_message_page {
    struct td_store_message_row *rows;
    size_t n;
    int64_t total;
};

/* A sender's tallies (sender_get) and its latest messages, newest first. */
struct td_store_sender_row {
    const char *sender; /* the sender key */
    const char *display;
    int64_t messages;
    int64_t threats;
    int64_t worst_severity; /* enum td_severity */
    int64_t first_seen;
    int64_t last_seen;
    struct td_store_message_row *recent;
    size_t nrecent;
};

/* An evidence file as read (EVIDENCE of desk.h; case_get lists them
 * without "case"). */
struct td_store_evidence_row {
    int64_t id;
    int64_t case_id;
    const char *name; /* NULL: none */
    const char *type; /* NULL: none */
    int64_t size;
    const char *sha256; /* hex: where the file is and what it must hash to */
    int64_t added;
    const char *added_by; /* the user's name; NULL: the local operator or gone */
};

/* A case as read (CASE of desk.h, case_list's rows). */
struct td_store_case_row {
    int64_t id;
    const char *type;   /* wire name, as stored */
    const char *status; /* wire name, as stored */
    const char *title;
    const char *description; /* NULL: none */
    int has_occurred;        /* 0: occurred unknown (NULL) */
    int64_t occurred;
    const char *place;  /* JSON object text, NULL: none */
    const char *people; /* JSON array text, NULL: none */
    const char *police_ref;
    const char *assignee; /* the user's name, NULL: none */
    int64_t created;
    const char *created_by; /* the user's name, NULL: the local operator or gone */
    int64_t updated;
};

/* A note of a case as read. */
struct td_store_note_row {
    int64_t id;
    const char *text;
    const char *author; /* the user's name, NULL: the local operator or gone */
    int64_t created;
    int shareable; /* 1: police may read it */
};

/* A case with its lists (case_get): messages by received time, evidence
 * and notes by id. */
struct td_store_case_detail {
    struct td_store_case_row c;
    struct td_store_message_row *messages;
    size_t nmessages;
    struct td_store_evidence_row *evidence;
    size_t nevidence;
    struct td_store_note_row *notes;
    size_t nnotes;
};

/* A page of cases, newest first; total every match. */
struct td_store_case_page {
    struct td_store_case_row *rows;
    size_t n;
    int64_t total;
};

/* An alert as listed (alert_list), with its deliveries (by id) and each
 * delivery's first 50 attempts (by id). */
struct td_store_alert_attempt_row {
    int64_t at;
    const char *outcome; /* "delivered", "failed", "gave_up" */
    const char *error;   /* NULL: none */
};

struct td_store_alert_delivery_row {
    int64_t id;
    int step;
    int64_t recipient;
    const char *channel; /* "email" | "webhook" */
    const char *target;
    const char *state; /* "pending", "sending", "done", "failed" */
    int attempts;
    int64_t next_attempt_at;
    const char *last_error; /* NULL: none */
    int delivered;          /* 0: delivered_at is NULL */
    int64_t delivered_at;
    struct td_store_alert_attempt_row *log;
    size_t nlog;
};

struct td_store_alert_row {
    int64_t id;
    int64_t message_id;
    int64_t rule_id;
    const char *rule_name;
    int severity;    /* the message's enum td_severity */
    unsigned labels; /* the message's label bits */
    int64_t created;
    int step;
    int acked; /* 1: acked_at, acked_by and acked_via say when, who, how */
    int64_t acked_at;
    int64_t acked_by;
    const char *acked_via; /* NULL: not said */
    int failed;            /* 1: a delivery of it failed for good */
    struct td_store_alert_delivery_row *deliveries;
    size_t ndeliveries;
};

struct td_store_alert_list {
    struct td_store_alert_row *rows;
    size_t n;
};

/* A case as exported (case_export): the list's row (description and
 * people not read: NULL) and how many messages and evidence files it
 * holds. */
struct td_store_case_export_row {
    struct td_store_case_row c;
    int64_t messages;
    int64_t evidence;
};

/* One group of the weekly digest (digest_rows); which members are set
 * depends on the kind:
 *   "volume"   day (days since epoch), channel, severity, labels (bits), n
 *   "senders"  sender, display (NULL: none), n, worst (severity), threats
 *   "cases"    status, n
 *   "review"   seconds */
struct td_store_digest_row {
    int64_t day;
    const char *channel;
    int64_t severity;
    int64_t labels;
    const char *sender;
    const char *display;
    int64_t worst;
    int64_t threats;
    const char *status;
    int64_t n;
    int64_t seconds;
};

/* One value for case_set: NULL, an integer or text (JSON text for the
 * "place" and "people" fields). */
enum td_store_value_kind { TD_STORE_NULL, TD_STORE_INT, TD_STORE_TEXT };
struct td_store_value {
    enum td_store_value_kind kind;
    int64_t i;
    const char *text; /* borrowed */
};

/* One audit log entry.  `hash` = SHA-256 over the canonical serialisation of
 * every other field (desk/audit.c says how), chained through prev_hash. */
struct td_audit_entry {
    int64_t id; /* 1, 2, 3... assigned by the desk inside the transaction */
    int64_t time;
    int64_t office_id; /* 0: not office-bound (operator actions) */
    int64_t user_id;   /* 0: local operator */
    char action[64];   /* "message.ingest", "case.read", ... */
    char object_type[32];
    int64_t object_id;
    char *details; /* JSON text; owned by whoever filled the struct */
    char prev_hash[65];
    char hash[65];
};

/* ---- the work queue (migration 0012; store/sqlite_jobs.c) ------------- */

/* A claimed job (plain data). */
struct td_store_job {
    int64_t id;
    int64_t office_id;
    int64_t attempts; /* claims so far, this one included */
    char kind[32];
    char payload_ref[256];
};

/* A scanned letter waiting for (or done with) its OCR.  Inputs are
 * borrowed for the call; in upload_get's callback everything is valid
 * during the call only. */
struct td_store_upload {
    int64_t id; /* filled by reads */
    int64_t office_id;
    const char *client_key; /* idempotency key (UNIQUE per office), or NULL */
    const char *kind;       /* "png", "jpeg", "tiff", "pdf" */
    const char *name;       /* the sender's file name, or NULL */
    const void *original;   /* the bytes as they arrived (reads: only when asked) */
    size_t original_len;
    const char *sha256; /* hex of original */
    int64_t received;
    int64_t created;
    int64_t created_by; /* user id, 0 = local operator */
    const char *state;  /* "queued", "processing", "done", "failed" (reads) */
    int64_t attempts;   /* reads */
    int64_t message_id; /* the filed message, 0 = none yet (reads) */
    const char *error;  /* why the last attempt failed, or NULL (reads) */
    int64_t updated;
};

/* ---- the ops table ------------------------------------------------------
 * Every op returns TD_OK or a td_errno with err filled. */
/* message_ingest_lookup's answers (id 0: no such message). */
struct td_store_ingest_lookup {
    int64_t key_id;
    int key_severity;
    int64_t content_id;
    int content_severity;
    unsigned prior_threats;
};

struct td_store_ops {
    const char *name; /* "sqlite" */
    void (*close)(struct td_store *s);
    int (*schema_version)(struct td_store *s, int64_t *version, struct td_error *err);

    int (*begin)(struct td_store *s, struct td_error *err);
    int (*commit)(struct td_store *s, struct td_error *err);
    void (*rollback)(struct td_store *s);
    /* Nested per-record scopes: name is an identifier chosen by the desk. */
    int (*savepoint)(struct td_store *s, const char *name, struct td_error *err);
    int (*release)(struct td_store *s, const char *name, struct td_error *err);
    void (*rollback_to)(struct td_store *s, const char *name);

    /* offices */
    int (*office_find)(struct td_store *s, const char *name, int64_t *id, struct td_error *err);
    int (*office_insert)(struct td_store *s, const char *name, int64_t now, int64_t *id,
                         struct td_error *err);
    /* Every office, by name. */
    int (*office_list)(struct td_store *s, int (*cb)(void *ud, const struct td_store_office_row *r),
                       void *ud, struct td_error *err);

    /* users (names are unique within an office, not across offices) */
    int (*user_count)(struct td_store *s, int64_t *n, struct td_error *err);
    int (*user_insert)(struct td_store *s, const struct td_store_user *u, int64_t *id,
                       struct td_error *err);
    /* office_id 0: any office; TD_EINVAL (field "office") when the name is
     * used in more than one. */
    int (*user_find)(struct td_store *s, int64_t office_id, const char *name,
                     struct td_store_user *out, struct td_error *err);
    int (*user_get)(struct td_store *s, int64_t id, struct td_store_user *out,
                    struct td_error *err);
    int (*user_set_password)(struct td_store *s, int64_t id, const char *pwhash, int must_change,
                             struct td_error *err);
    int (*user_set_role)(struct td_store *s, int64_t id, const char *role, struct td_error *err);
    /* Users by office name, then name; office_id 0: every office. */
    int (*user_list)(struct td_store *s, int64_t office_id,
                     int (*cb)(void *ud, const struct td_store_user_row *r), void *ud,
                     struct td_error *err);
    int (*user_set_disabled)(struct td_store *s, int64_t id, int disabled, struct td_error *err);
    /* Enabled users of an office with this role (wire name). */
    int (*user_role_count)(struct td_store *s, int64_t office_id, const char *role, int64_t *n,
                           struct td_error *err);

    /* sessions and API keys: only hashes of the secrets are stored */
    int (*session_insert)(struct td_store *s, int64_t user_id, const char *token_hash,
                          int64_t created, int64_t expires, int64_t *id, struct td_error *err);
    /* Only sessions of enabled users. */
    int (*session_find)(struct td_store *s, const char *token_hash, int64_t now, int64_t *user_id,
                        int64_t *session_id, struct td_error *err);
    int (*session_delete)(struct td_store *s, const char *token_hash, struct td_error *err);
    /* issued_by: user id of the issuer, 0 = the local operator */
    int (*apikey_insert)(struct td_store *s, int64_t user_id, const char *key_hash,
                         const char *label, int64_t created, int64_t issued_by, int64_t *id,
                         struct td_error *err);
    /* Only unrevoked keys of enabled users.  *issued_by -1: unknown (a key
     * from before migration 0002). */
    int (*apikey_find)(struct td_store *s, const char *key_hash, int64_t *user_id, int64_t *key_id,
                       int64_t *issued_by, struct td_error *err);
    /* Keys of an office (user_id 0: every user of it), newest first. */
    int (*apikey_list)(struct td_store *s, int64_t office_id, int64_t user_id,
                       int (*cb)(void *ud, const struct td_store_key_row *r), void *ud,
                       struct td_error *err);
    /* Revoke one key of the office (office_id 0: any, for the operator):
     * TD_ENOTFOUND when no such key there;
     * *was_revoked 1 when it already was (nothing changes). */
    int (*apikey_revoke)(struct td_store *s, int64_t office_id, int64_t key_id, int64_t when,
                         int64_t by, int64_t *user_id, int *was_revoked, struct td_error *err);
    /* Revoke every live key of a user; cb gets the id of each (before
     * the change: non-zero from cb stops, nothing is revoked). */
    int (*apikey_revoke_user)(struct td_store *s, int64_t user_id, int64_t when, int64_t by,
                              int (*cb)(void *ud, int64_t id), void *ud, struct td_error *err);

    /* failed logins, per user name + source */
    int (*login_failures)(struct td_store *s, const char *name, const char *source, int64_t since,
                          int64_t *count, int64_t *oldest, struct td_error *err);
    int (*login_failure_add)(struct td_store *s, const char *name, const char *source, int64_t when,
                             struct td_error *err);
    int (*login_failure_clear)(struct td_store *s, const char *name, const char *source,
                               struct td_error *err);

    /* messages */
    int (*message_find_key)(struct td_store *s, int64_t office_id, const char *client_key,
                            int64_t *id, int *severity, struct td_error *err);
    int (*message_insert)(struct td_store *s, const struct td_store_message *m, int64_t *id,
                          struct td_error *err);
    int (*message_get)(struct td_store *s, int64_t office_id, int64_t id,
                       struct td_store_message_row *out, struct td_store_arena *arena,
                       struct td_error *err);
    /* *data is malloc()ed: the caller frees it. */
    int (*message_original)(struct td_store *s, int64_t office_id, int64_t id, void **data,
                            size_t *len, struct td_error *err);
    /* Unreviewed ("unreviewed" as stored) first, then severity, then newest
     * received, then highest id: ORDER BY m.unreviewed DESC, m.severity
     * DESC, m.received DESC, m.id DESC, which the index messages_triage
     * (0009_queue_order.sql, both backends) serves without a sort.  The
     * order is total, so an offset names the same place on every call. */
    int (*message_queue)(struct td_store *s, int64_t office_id, const struct td_store_msg_query *q,
                         struct td_store_message_page *out, struct td_store_arena *arena,
                         struct td_error *err);
    int (*message_set_status)(struct td_store *s, int64_t office_id, int64_t id, const char *status,
                              const char *reason, int64_t by, int64_t when, struct td_error *err);

    /* senders: record() upserts the counts and returns how many threats the
     * sender had sent BEFORE this message */
    int (*sender_prior_threats)(struct td_store *s, int64_t office_id, const char *sender,
                                unsigned *n, struct td_error *err);
    int (*sender_record)(struct td_store *s, int64_t office_id, const char *sender,
                         const char *display, int severity, int is_threat, int64_t when,
                         struct td_error *err);
    /* The sender's tallies and its `limit` latest messages (TD_ENOTFOUND
     * when the office has no such sender). */
    int (*sender_get)(struct td_store *s, int64_t office_id, const char *sender, size_t limit,
                      struct td_store_sender_row *out, struct td_store_arena *arena,
                      struct td_error *err);

    /* cases */
    int (*case_insert)(struct td_store *s, const struct td_store_case *c, int64_t *id,
                       struct td_error *err);
    /* Summary row: status (wire name), created_by, reported (1 once a
     * case_set_status said so). */
    int (*case_head)(struct td_store *s, int64_t office_id, int64_t id,
                     char status[TD_STORE_NAME_SIZE], int64_t *created_by, int *reported,
                     struct td_error *err);
    int (*case_get)(struct td_store *s, int64_t office_id, int64_t id,
                    struct td_store_case_detail *out, struct td_store_arena *arena,
                    struct td_error *err);
    /* Set one editable field: "type", "title", "description",
     * "police_ref" (text), "occurred", "assignee" (int; NULL clears),
     * "place", "people" (JSON text).  Other names: TD_EINVAL. */
    int (*case_set)(struct td_store *s, int64_t office_id, int64_t id, const char *field,
                    const struct td_store_value *value, int64_t now, struct td_error *err);
    /* Move the case from status `from` to `to` (wire names; TD_ENOTFOUND
     * when it is no longer in `from`).  reported 1: the case has now
     * reached the police (kept once set). */
    int (*case_set_status)(struct td_store *s, int64_t office_id, int64_t id, const char *from,
                           const char *to, int reported, int64_t now, struct td_error *err);
    /* A page (the query's limit and offset), newest first. */
    int (*case_list)(struct td_store *s, int64_t office_id, const struct td_store_case_query *q,
                     struct td_store_case_page *out, struct td_store_arena *arena,
                     struct td_error *err);
    int (*case_link)(struct td_store *s, int64_t office_id, int64_t case_id, int64_t message_id,
                     int64_t now, int *linked_new, struct td_error *err);
    int (*note_insert)(struct td_store *s, int64_t office_id, int64_t case_id, int64_t user_id,
                       const char *text, int shareable, int64_t now, int64_t *id,
                       struct td_error *err);

    /* evidence */
    int (*evidence_insert)(struct td_store *s, const struct td_store_evidence *e, int64_t *id,
                           struct td_error *err);
    int (*evidence_get)(struct td_store *s, int64_t office_id, int64_t id,
                        struct td_store_evidence_row *out, struct td_store_arena *arena,
                        struct td_error *err);
    /* Every evidence row of every office, for verify. */
    int (*evidence_scan)(struct td_store *s,
                         int (*cb)(void *ud, int64_t id, const char *sha256, int64_t size),
                         void *ud, struct td_error *err);

    /* audit */
    /* The head of the chain an entry of office_id extends (last_id 0 and
     * "" when empty), inside the transaction that appends to it: SQLite
     * keeps one chain per store (office_id unused); PostgreSQL one per
     * office (see audit_chains), and takes the office's lock here so
     * that concurrent writers in several processes never fork it. */
    int (*audit_head)(struct td_store *s, int64_t office_id, int64_t *last_id, char last_hash[65],
                      struct td_error *err);
    int (*audit_append)(struct td_store *s, const struct td_audit_entry *e, struct td_error *err);
    /* Every entry in id order; e->details is valid during the callback only.
     * *max_id_ever: the highest id ever assigned (survives deletion of the
     * tail), 0 when unknown. */
    int (*audit_scan)(struct td_store *s, int (*cb)(void *ud, const struct td_audit_entry *e),
                      void *ud, int64_t *max_id_ever, struct td_error *err);
    /* Entries about one object of the office, oldest first, to cb. */
    int (*audit_for_object)(struct td_store *s, int64_t office_id, const char *object_type,
                            int64_t object_id,
                            int (*cb)(void *ud, const struct td_store_event_row *r), void *ud,
                            struct td_error *err);
    /* End every session of a user (after a password change). */
    int (*session_delete_user)(struct td_store *s, int64_t user_id, struct td_error *err);

    /* verify: every row the audit chain vouches for, as (kind, id, field,
     * value) with kind "message" (fields original, text, status), "case"
     * (type, title, description, police_ref, status), "note" (text) and
     * "evidence" (sha256, size, case).  value is NULL for SQL NULL; len is
     * its length in bytes.  Valid during the callback only. */
    int (*verify_scan)(struct td_store *s,
                       int (*cb)(void *ud, const char *kind, int64_t id, const char *field,
                                 const void *value, size_t len),
                       void *ud, struct td_error *err);

    /* ---- dedupe, retention and erasure (desk/pipeline.c, desk/retention.c) */
    /* The message of the office with this content key (dedupe.h rule 2):
     * TD_ENOTFOUND when none, without error text. */
    int (*message_find_content)(struct td_store *s, int64_t office_id, const char *content_key,
                                int64_t *id, int *severity, struct td_error *err);
    /* Messages of the office from `sender` (NULL: anyone) received before
     * `before`, oldest first: cb gets the id, the original bytes (valid
     * during the call), and linked = 1 when a case holds the message.
     * A non-zero return from cb stops the walk. */
    int (*message_walk)(struct td_store *s, int64_t office_id, const char *sender, int64_t before,
                        int (*cb)(void *ud, int64_t id, const void *original, size_t len,
                                  int linked),
                        void *ud, struct td_error *err);
    /* Delete one message of the office that no case holds (TD_ENOTFOUND
     * otherwise). */
    int (*message_delete)(struct td_store *s, int64_t office_id, int64_t id, struct td_error *err);
    /* Forget a sender's tallies (TD_OK when there were none). */
    int (*sender_delete)(struct td_store *s, int64_t office_id, const char *sender,
                         struct td_error *err);
    /* The office's retention period in days for messages no case holds;
     * 0 = keep them. */
    int (*office_retention_get)(struct td_store *s, int64_t office_id, int64_t *days,
                                struct td_error *err);
    int (*office_retention_set)(struct td_store *s, int64_t office_id, int64_t days,
                                struct td_error *err);

    /* ---- learning from the office (desk/feedback.c, store/sqlite_feedback.c) */
    /* Keep (replace) the vector the analyser drew for a message at ingest. */
    int (*message_vector_put)(struct td_store *s, int64_t office_id, int64_t message_id,
                              const char *model, const float *vec, unsigned n,
                              struct td_error *err);
    /* The message's vector (at most cap floats) and its model (NUL-ended,
     * cut to model_size): TD_ENOTFOUND, without error text, when none. */
    int (*message_vector_get)(struct td_store *s, int64_t office_id, int64_t message_id,
                              char *model, size_t model_size, float *vec, unsigned cap, unsigned *n,
                              struct td_error *err);
    /* The mean of the office's latest `limit` message vectors drawn by
     * `model` (n floats into mean; *count how many were averaged, 0 when
     * none). */
    int (*message_vector_mean)(struct td_store *s, int64_t office_id, const char *model,
                               size_t limit, float *mean, unsigned n, size_t *count,
                               struct td_error *err);
    int (*feedback_insert)(struct td_store *s, const struct td_store_feedback *f, int64_t *id,
                           struct td_error *err);
    /* Revoke one row of the office: TD_ENOTFOUND when no such row there;
     * *was_revoked 1 when it already was (nothing changes). */
    int (*feedback_revoke)(struct td_store *s, int64_t office_id, int64_t id, int64_t when,
                           int64_t by, int64_t *message_id, int *was_revoked, struct td_error *err);
    /* Revoke the live rows about one message; cb gets the id of each
     * (as apikey_revoke_user). */
    int (*feedback_revoke_message)(struct td_store *s, int64_t office_id, int64_t message_id,
                                   int64_t when, int64_t by, int (*cb)(void *ud, int64_t id),
                                   void *ud, struct td_error *err);
    /* Rows of the office, newest first, live only unless `all`, a page
     * of them to cb; *total counts every match. */
    int (*feedback_list)(struct td_store *s, int64_t office_id, int all, size_t limit,
                         size_t offset, int (*cb)(void *ud, const struct td_store_feedback_row *r),
                         void *ud, int64_t *total, struct td_error *err);
    /* Every live row of the office drawn by `model`, oldest first, to cb
     * (non-zero from cb stops); *stale counts live rows of other models. */
    int (*feedback_load)(struct td_store *s, int64_t office_id, const char *model,
                         int (*cb)(void *ud, const struct td_store_feedback *f), void *ud,
                         size_t *stale, struct td_error *err);
    /* Numbers that change whenever the office's rows change (added,
     * revoked, erased with their message): a cache is current while they
     * are the same. */
    int (*feedback_stamp)(struct td_store *s, int64_t office_id, int64_t stamp[3],
                          struct td_error *err);

    /* ---- alerts (desk/alerts.c, store/sqlite_alerts.c) ----------------- */
    /* A recipient of the office; TD_EEXISTS when the name is taken. */
    int (*alert_recipient_insert)(struct td_store *s, int64_t office_id, const char *name,
                                  const char *email, const char *webhook_url, const char *secret,
                                  int64_t now, int64_t *id, struct td_error *err);
    /* The office's recipients by name, to cb (never the secret itself). */
    int (*alert_recipient_list)(struct td_store *s, int64_t office_id,
                                int (*cb)(void *ud, const struct td_store_recipient_row *r),
                                void *ud, struct td_error *err);
    /* Which channels (TD_ALERT_EMAIL | TD_ALERT_WEBHOOK) a recipient of the
     * office can be reached on: TD_ENOTFOUND when none such there. */
    int (*alert_recipient_channels)(struct td_store *s, int64_t office_id, int64_t id,
                                    unsigned *channels, struct td_error *err);
    int (*alert_rule_insert)(struct td_store *s, const struct td_store_alert_rule *r, int64_t *id,
                             struct td_error *err);
    /* Every rule of the office (enabled or not), by id, to cb. */
    int (*alert_rule_list)(struct td_store *s, int64_t office_id,
                           int (*cb)(void *ud, const struct td_store_alert_rule *r), void *ud,
                           struct td_error *err);
    /* Every enabled rule of the office to cb (non-zero from cb stops). */
    int (*alert_rule_load)(struct td_store *s, int64_t office_id,
                           int (*cb)(void *ud, const struct td_store_alert_rule *r), void *ud,
                           struct td_error *err);
    /* The alert of (message, rule): *created 1 when this call made it, 0
     * when it existed already (never two). */
    int (*alert_insert)(struct td_store *s, int64_t office_id, int64_t message_id, int64_t rule_id,
                        int64_t now, int64_t *id, int *created, struct td_error *err);
    /* Outbox rows for rota step `step` of an alert: one per channel in
     * `channels` the recipient has (UNIQUE: a second call adds nothing);
     * *added how many are new. */
    int (*alert_deliveries_add)(struct td_store *s, int64_t office_id, int64_t alert_id, int step,
                                int64_t recipient_id, unsigned channels, int64_t now, size_t *added,
                                struct td_error *err);
    /* Claim up to max due deliveries (pending and due, or sending with an
     * expired lease) of every office: each is marked sending until
     * lease_until and given to cb. */
    int (*alert_claim)(struct td_store *s, int64_t now, int64_t lease_until, size_t max,
                       int (*cb)(void *ud, const struct td_store_alert_job *j), void *ud,
                       struct td_error *err);
    /* Record one attempt: outcome "delivered" (done), "failed" (pending
     * again at next_attempt_at) or "gave_up" (failed for good). */
    int (*alert_attempt)(struct td_store *s, int64_t delivery_id, int64_t now, const char *outcome,
                         const char *error, int64_t next_attempt_at, struct td_error *err);
    /* Open (unacknowledged) alerts whose rule escalates and whose last step
     * was told at least escalate_minutes * minute_s seconds ago, with a
     * next person on the rota: cb gets the alert, its office, the step told
     * last, the next recipient and the rule's channels. */
    int (*alert_escalations)(struct td_store *s, int64_t now, unsigned minute_s,
                             int (*cb)(void *ud, int64_t alert_id, int64_t office_id, int step,
                                       int64_t next_recipient, unsigned channels),
                             void *ud, struct td_error *err);
    /* Move an open alert from step `from` to from+1 (*changed 0 when it
     * was acknowledged or moved meanwhile). */
    int (*alert_step)(struct td_store *s, int64_t alert_id, int from, int64_t now, int *changed,
                      struct td_error *err);
    /* The office's alerts, newest first, each with its deliveries and
     * their attempts: see td_desk_alert_list. */
    int (*alert_list)(struct td_store *s, int64_t office_id, int open_only, size_t limit,
                      struct td_store_alert_list *out, struct td_store_arena *arena,
                      struct td_error *err);
    /* Acknowledge (office_id 0: whichever office it is in, for a link):
     * TD_ENOTFOUND when none; *was 1 when it already was (nothing
     * changes); *office_out its office; *message_out its message. */
    int (*alert_ack)(struct td_store *s, int64_t office_id, int64_t id, int64_t by, const char *via,
                     int64_t now, int64_t *office_out, int64_t *message_out, int *was,
                     struct td_error *err);

    /* ---- evidence bundles and reports (bundle.h, report.h; store/sqlite_export.c) */
    /* Every audit entry of the office about one object, oldest first, in
     * full (with prev_hash and hash) so a bundle can carry the proof.
     * e->details is valid during the callback only; non-zero stops. */
    int (*audit_walk_object)(struct td_store *s, int64_t office_id, const char *object_type,
                             int64_t object_id, int (*cb)(void *ud, const struct td_audit_entry *e),
                             void *ud, struct td_error *err);
    /* The queue's messages (the query's limit and offset ignored) one at a
     * time, in queue order, without holding them all: the row is valid
     * during the call only, its text, client_key and attachments not read
     * (NULL) and its cases in the order they were linked; non-zero from cb
     * stops. */
    int (*message_export)(struct td_store *s, int64_t office_id, const struct td_store_msg_query *q,
                          int (*cb)(void *ud, const struct td_store_message_row *r), void *ud,
                          struct td_error *err);
    /* The same for cases, newest first (case_list's filter). */
    int (*case_export)(struct td_store *s, int64_t office_id, const struct td_store_case_query *q,
                       int (*cb)(void *ud, const struct td_store_case_export_row *r), void *ud,
                       struct td_error *err);
    /* Aggregates for the weekly digest over messages received in
     * [since, until): cb gets one row per group of `kind`
     * (td_store_digest_row says which members each kind sets):
     *   "volume"   by day, channel, severity and labels
     *   "senders"  the top 10 senders of messages with a severity
     *   "cases"    cases by status, every case of the office (not windowed)
     *   "review"   critical messages reviewed: status_time - ingested, ascending */
    int (*digest_rows)(struct td_store *s, int64_t office_id, const char *kind, int64_t since,
                       int64_t until, int (*cb)(void *ud, const struct td_store_digest_row *r),
                       void *ud, struct td_error *err);

    /* ---- the work queue (store/sqlite_jobs.c; PostgreSQL: pg_conn.c's
     * td__pg_job_*, the same arguments) ---------------------------------
     * Jobs of every office in one queue; a worker serves them all and then
     * acts for the job's office.  Times are seconds. */
    /* Queue a job of the office, due at available_at. */
    int (*job_add)(struct td_store *s, int64_t office_id, const char *kind, const char *payload_ref,
                   int64_t available_at, int64_t *id, struct td_error *err);
    /* Claim the oldest due job (queued and available_at <= now, or running
     * with its lease run out): it becomes running, claimed_by worker,
     * leased until now + lease_seconds, attempts + 1.  Concurrent claimers
     * (threads or processes) never get the same job.  Called outside a
     * transaction it runs in its own write transaction.  TD_ENOTFOUND,
     * without error text, when nothing is due. */
    int (*job_claim)(struct td_store *s, const char *worker, int64_t now, int64_t lease_seconds,
                     struct td_store_job *job, struct td_error *err);
    /* Finish a job this worker holds: done (ok), else failed - queued again
     * at retry_at when retry_at > 0, for good otherwise; error kept.
     * TD_ENOTFOUND when the worker no longer holds it (its lease ran out and
     * another worker claimed it). */
    int (*job_finish)(struct td_store *s, int64_t id, const char *worker, int ok, const char *error,
                      int64_t now, int64_t retry_at, struct td_error *err);
    /* Keep a scanned letter (state queued); TD_EEXISTS when the office has
     * one with this client_key. */
    int (*upload_insert)(struct td_store *s, const struct td_store_upload *u, int64_t *id,
                         struct td_error *err);
    /* One upload of the office, by id (id > 0) or by client_key (id 0), to
     * cb; with_bytes: original too.  TD_ENOTFOUND, without error text, when
     * none there. */
    int (*upload_get)(struct td_store *s, int64_t office_id, int64_t id, const char *client_key,
                      int with_bytes, int (*cb)(void *ud, const struct td_store_upload *u),
                      void *ud, struct td_error *err);
    /* Move an upload of the office to state, with its attempts, error
     * (NULL clears it) and filed message (0: none).  "done" also drops the
     * bytes: the message keeps them from then on, under its retention and
     * erasure. */
    int (*upload_set)(struct td_store *s, int64_t office_id, int64_t id, const char *state,
                      int64_t attempts, const char *error, int64_t message_id, int64_t now,
                      struct td_error *err);
    /* Delete the office's uploads that failed for good (never filed as a
     * message, their bytes kept for a person) received before `before`;
     * cb gets each one's id and sha256 after the delete, in id order
     * (non-zero from cb: that error is returned). */
    int (*upload_expire)(struct td_store *s, int64_t office_id, int64_t before,
                         int (*cb)(void *ud, int64_t id, const char *sha256), void *ud,
                         struct td_error *err);

    /* NULL: one audit chain per store (ids 1, 2, 3... across offices;
     * audit_scan's max_id_ever guards its tail).  Set: one chain per
     * office (PostgreSQL, where offices share a database): audit_scan
     * gives the chains office by office in office order, each from id 1,
     * and this gives cb every office's highest id ever (non-zero from cb
     * stops), so verify notices a deleted tail of any office, even a
     * chain deleted whole. */
    int (*audit_chains)(struct td_store *s,
                        int (*cb)(void *ud, int64_t office_id, int64_t max_id_ever), void *ud,
                        struct td_error *err);

    /* What ingest reads about one record before filing it, in one call
     * (PostgreSQL: one round trip instead of three): the message with
     * client key `key` as message_find_key finds it, the message with
     * content key `content` as message_find_content finds it, and `sender`'s
     * prior threats as sender_prior_threats counts them.  A NULL argument
     * is not asked (its answer 0); "none" is id 0, not an error. */
    int (*message_ingest_lookup)(struct td_store *s, int64_t office_id, const char *key,
                                 const char *content, const char *sender,
                                 struct td_store_ingest_lookup *out, struct td_error *err);
};

/* Every backend starts with this. */
struct td_store {
    const struct td_store_ops *ops;
};

/*
 * Open a store.  `url` is a file path, "sqlite:PATH", or a
 * "postgres://..." / "postgresql://..." URL (TD_EFORMAT when the binary is
 * built without libpq; docs/postgres.md).  `home` holds
 * data/migrations/ (NULL: $THREATDESK_HOME, else the source tree).
 * Migrations not yet recorded in schema_version are applied in order.
 * *out is yours: td_store_close().
 */
int td_store_open(const char *url, const char *home, struct td_store **out, struct td_error *err);
void td_store_close(struct td_store *s);

/* The schema version (highest migration applied). */
int td_store_schema_version(struct td_store *s, int64_t *version, struct td_error *err);

#ifdef __cplusplus
}
#endif
#endif
