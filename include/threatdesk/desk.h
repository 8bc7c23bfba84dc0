/*
 * desk.h - the desk: what an office does with its messages, day to day.
 *
 * A `struct td_desk` sits over a store (store.h) and an evidence directory,
 * and holds a borrowed analyser (analyse.h).  The CLI and the HTTP server
 * are thin front doors over these calls.
 *
 * Access control lives HERE, not in the front doors: every call takes the
 * authenticated `struct td_actor` and enforces
 *   - office isolation: every query carries actor->office_id; an object of
 *     another office answers TD_ENOTFOUND, exactly like one that does not
 *     exist (so ids leak nothing);
 *   - roles:
 *       admin       everything in its office, and manages users / API keys
 *       caseworker  ingest, triage, senders, cases, evidence, notes
 *       security    the same as caseworker
 *       observer    may only file an incident report (td_desk_case_create,
 *                   plus evidence on a report it filed); every read
 *                   answers TD_EDENIED
 *       police      read-only, and only cases that were reported to police
 *                   (reached reported_to_police; they stay visible when
 *                   the case moves on or closes); others TD_ENOTFOUND; no
 *                   queue, messages or senders (TD_EDENIED)
 *   - audit: every change and every read of a case (get, list, timeline,
 *     evidence) appends an entry to the hash-chained audit log IN THE SAME
 *     TRANSACTION as the change, so a change without its entry cannot exist.
 *
 * Durability: a call that changes data returns TD_OK only after the store
 * has committed it (SQLite synchronous=FULL), so a front door may
 * acknowledge on TD_OK and lose nothing to a crash.
 *
 * Threads: a td_desk may be shared by many threads; calls that touch the
 * store are serialised by an internal lock.  td_desk_ingest*() run the
 * analyser OUTSIDE that lock when the caller passes its own
 * td_analysis_ctx, so analysis of concurrent requests proceeds in parallel.
 *
 * JSON: functions that return `json_t **out` hand the caller a NEW
 * reference (json_decref() it); *out is left NULL on failure.  JSON inputs
 * are borrowed.  Times are integers, seconds since the epoch, UTC; inputs
 * also accept RFC 3339 strings ("2026-11-29T08:00:00Z").
 *
 * Errors: TD_EINVAL (bad input; err->field names the field, err->line the
 * 1-based record of a batch), TD_ENOTFOUND, TD_EDENIED (role, or wrong
 * credentials, or locked out - see td_desk_login), TD_EEXISTS, TD_ESTORE,
 * TD_EIO (evidence files), TD_ECRYPTO, TD_ENOMEM, TD_EBUSY (every password
 * hashing slot busy and the queue full: try again shortly).
 *
 * Passwords are hashed with Argon2id (libsodium crypto_pwhash_str) at
 * pwhash_mem_kib / pwhash_ops (defaults 32 MiB, 3 passes: about 0.3 s on
 * one core of this project's 2-core machine, where 64 MiB x 2 took 0.7 s).
 * At most hash_slots hashes run at once (default 2: one per core); up to
 * hash_queue more callers wait (at
 * most hash_wait_ms), and beyond that TD_EBUSY is answered at once.  So
 * the memory password hashing can take is bounded by
 * hash_slots x pwhash_mem_kib whatever the number of logins in flight.
 * Hashes made with other parameters (older stores: 64 MiB, 2 passes) still
 * verify: the parameters are part of the stored string.
 */
#ifndef THREATDESK_DESK_H
#define THREATDESK_DESK_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "threatdesk/analyse.h"
#include "threatdesk/error.h"
#include "threatdesk/message.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- vocabularies (wire names; add, never rename) ---------------------- */

/* Roles.  The order is the bit order of the server's role masks:
 * (1u << role). */
#define TD_ROLE_MAP(X)                                                                             \
    X(ADMIN, "admin")                                                                              \
    X(CASEWORKER, "caseworker")                                                                    \
    X(SECURITY, "security")                                                                        \
    X(OBSERVER, "observer")                                                                        \
    X(POLICE, "police")

enum td_role {
#define TD_ROLE_ENUM(name, str) TD_ROLE_##name,
    TD_ROLE_MAP(TD_ROLE_ENUM)
#undef TD_ROLE_ENUM
        TD_ROLE_COUNT
};

/* Triage state of a message. */
#define TD_MSG_STATUS_MAP(X)                                                                       \
    X(UNREVIEWED, "unreviewed")                                                                    \
    X(REVIEWED, "reviewed")                                                                        \
    X(ESCALATED, "escalated")                                                                      \
    X(DISMISSED, "dismissed")

enum td_msg_status {
#define TD_MSG_STATUS_ENUM(name, str) TD_MSG_##name,
    TD_MSG_STATUS_MAP(TD_MSG_STATUS_ENUM)
#undef TD_MSG_STATUS_ENUM
        TD_MSG_STATUS_COUNT
};

/* Kinds of incident. */
#define TD_CASE_TYPE_MAP(X)                                                                        \
    X(ONLINE_THREAT, "online_threat")                                                              \
    X(HARASSMENT, "harassment")                                                                    \
    X(ASSAULT, "assault")                                                                          \
    X(CRIMINAL_DAMAGE, "criminal_damage")                                                          \
    X(INTIMIDATION_POLLING_STATION, "intimidation_polling_station")                                \
    X(INTIMIDATION_MEETING, "intimidation_meeting")                                                \
    X(DISINFORMATION, "disinformation")                                                            \
    X(OTHER, "other")

enum td_case_type {
#define TD_CASE_TYPE_ENUM(name, str) TD_CASE_##name,
    TD_CASE_TYPE_MAP(TD_CASE_TYPE_ENUM)
#undef TD_CASE_TYPE_ENUM
        TD_CASE_TYPE_COUNT
};

/*
 * Case workflow.  Allowed transitions:
 *   new -> triaged | closed
 *   triaged -> reported_to_police | closed
 *   reported_to_police -> under_investigation | closed
 *   under_investigation -> closed
 *   closed -> triaged                (re-open)
 * Anything else is refused with TD_EINVAL (field "status").
 */
#define TD_CASE_STATUS_MAP(X)                                                                      \
    X(NEW, "new")                                                                                  \
    X(TRIAGED, "triaged")                                                                          \
    X(REPORTED_TO_POLICE, "reported_to_police")                                                    \
    X(UNDER_INVESTIGATION, "under_investigation")                                                  \
    X(CLOSED, "closed")

enum td_case_status {
#define TD_CASE_STATUS_ENUM(name, str) TD_CASE_STATUS_##name,
    TD_CASE_STATUS_MAP(TD_CASE_STATUS_ENUM)
#undef TD_CASE_STATUS_ENUM
        TD_CASE_STATUS_COUNT
};

/* Wire names (NULL when out of range) and reverse look-ups (-1 unknown). */
const char *td_role_name(int role);
int td_role_from_name(const char *name);
const char *td_msg_status_name(int status);
int td_msg_status_from_name(const char *name);
const char *td_case_type_name(int type);
int td_case_type_from_name(const char *name);
const char *td_case_status_name(int status);
int td_case_status_from_name(const char *name);
/* 1 when the workflow allows from -> to. */
int td_case_transition_allowed(int from, int to);

/* ---- the desk ---------------------------------------------------------- */

struct td_desk;

struct td_desk_opts {
    const char *db;               /* store: a SQLite file path ("sqlite:" prefix optional) */
    const char *data_dir;         /* evidence lives in <data_dir>/evidence/ab/cdef... */
    const char *home;             /* data/migrations/ is read from here; NULL:
                                     $THREATDESK_HOME, else the source tree */
    struct td_analyser *analyser; /* borrowed, must outlive the desk; NULL:
                                     ingest answers TD_EINVAL ("no analyser") */
    unsigned session_ttl_s;       /* 0: 12 hours */
    unsigned login_max_failures;  /* 0: 5 failures ... */
    unsigned login_window_s;      /* ... within this window (0: 900 s, max
                                     86400) lock the user+source out for
                                     the window */
    unsigned hash_slots;          /* Argon2id hashes at once (0: 2) */
    unsigned hash_queue;          /* callers that may wait for a slot (0: 8) */
    unsigned hash_wait_ms;        /* longest wait for a slot (0: 10000) */
    unsigned pwhash_mem_kib;      /* Argon2id memory per hash (0: 32768 KiB) */
    unsigned pwhash_ops;          /* Argon2id passes (0: 3) */
};

void td_desk_opts_init(struct td_desk_opts *o);

/* Open the store (applying migrations), create data_dir/evidence.  *out is
 * yours: td_desk_close().  TD_EDENIED when data_dir is writable by group
 * or others (anyone there could swap evidence files): chmod go-w it.  The
 * store file and its -wal/-shm are created 0600 (see store.h). */
int td_desk_open(const struct td_desk_opts *o, struct td_desk **out, struct td_error *err);
void td_desk_close(struct td_desk *d);

/* ---- who is calling ---------------------------------------------------- */

/* An authenticated caller.  Filled by td_desk_login/_authenticate*, or by
 * the CLI for the local operator.  Caller-owned plain data. */
struct td_actor {
    int64_t user_id;
    int64_t office_id;
    enum td_role role;
    char username[128];
    char office[128];
    /* The credential that authenticated this actor; every audit entry the
     * actor causes names it ("credential" in the entry's details), so an
     * admin who mints a key for a caseworker and writes with it shows up
     * as the key's issuer.  0 when not that kind of credential. */
    int64_t session_id;
    int64_t key_id;
    int64_t key_issued_by; /* user id of the key's issuer; 0 = the local
                              operator; -1 = unknown (a key older than
                              migration 0002) */
    /* 1: still on the one-time password.  Front doors refuse everything but
     * changing it (td_desk_user_passwd on itself) and logging out. */
    int must_change;
};

/* Size of a session token / API key as text (hex), including the NUL. */
#define TD_TOKEN_SIZE 65
/* Size of a generated one-time password, including the NUL. */
#define TD_PASSWORD_SIZE 25

/*
 * First start: when the store has no user at all, create the office
 * "default" and the user "admin" (role admin) with a random one-time
 * password, written to password (TD_PASSWORD_SIZE bytes) - the front door
 * prints it; it is stored only as an Argon2id hash.  *created = 1 then;
 * otherwise *created = 0 and password is "".
 */
int td_desk_first_start(struct td_desk *d, char password[TD_PASSWORD_SIZE], int *created,
                        struct td_error *err);

/*
 * Log in with a password.  User names are unique within an office, so
 * `username` is "name" when that name is used by one office only, else
 * "office/name".  `source` is where the attempt came from (client
 * IP; NULL = "local").  On success writes a new session token (hex, shown
 * once; only its hash is stored) and fills *actor.
 * Failures: TD_EDENIED for a wrong name or password (the same answer for
 * both), and TD_EDENIED with *retry_after_s > 0 when this user+source has
 * failed login_max_failures times within login_window_s: the attempt is
 * refused without checking the password.  Failures are kept in the store,
 * so a restart does not reset them.  retry_after_s may be NULL.
 */
int td_desk_login(struct td_desk *d, const char *username, const char *password, const char *source,
                  char token[TD_TOKEN_SIZE], struct td_actor *actor, unsigned *retry_after_s,
                  struct td_error *err);

/* A session token -> the actor.  TD_EDENIED when unknown or expired, or
 * the user is disabled. */
int td_desk_authenticate(struct td_desk *d, const char *token, struct td_actor *actor,
                         struct td_error *err);
/* End a session (TD_OK even when it did not exist). */
int td_desk_logout(struct td_desk *d, const char *token, struct td_error *err);

/* An API key -> the actor of the user it was issued to.  TD_EDENIED when
 * unknown or revoked, or the user is disabled. */
int td_desk_authenticate_key(struct td_desk *d, const char *key, struct td_actor *actor,
                             struct td_error *err);
/* Admin: issue an API key for `username` (same office); the key is shown
 * once (written to key), only its hash is stored.  *id may be NULL. */
int td_desk_api_key_create(struct td_desk *d, const struct td_actor *actor, const char *username,
                           const char *label, char key[TD_TOKEN_SIZE], int64_t *id,
                           struct td_error *err);
/* Admin: {"keys": [{"id","user","label","created","issued_by","revoked"?,
 * "revoked_by"?}]} of the office, newest first; `username` NULL: every
 * user's.  The local operator (actor NULL) names a user or an `office`. */
int td_desk_api_key_list(struct td_desk *d, const struct td_actor *actor, const char *office,
                         const char *username, json_t **out, struct td_error *err);
/* Admin: revoke a key of the office at once (TD_ENOTFOUND for a key of
 * another office; revoking a revoked key is TD_OK and changes nothing).
 * Audited ("apikey.revoke"). */
int td_desk_api_key_revoke(struct td_desk *d, const struct td_actor *actor, int64_t key_id,
                           struct td_error *err);

/* ---- offices -------------------------------------------------------------
 * Offices are made on purpose, never as a side effect of a typo. */

/* The local operator only (actor NULL; an admin gets TD_EDENIED).
 * TD_EEXISTS when it exists.  *id may be NULL.  Audited. */
int td_desk_office_add(struct td_desk *d, const struct td_actor *actor, const char *name,
                       int64_t *id, struct td_error *err);
/* {"offices": [{"id","name","created","users"}]}: every office for the
 * operator, its own for an admin. */
int td_desk_office_list(struct td_desk *d, const struct td_actor *actor, json_t **out,
                        struct td_error *err);

/* ---- users --------------------------------------------------------------
 * `actor` NULL means the local operator at the command line (who owns the
 * database file anyway); such changes are audited with user 0.  Otherwise
 * the actor must be an admin, and may act only within its own office
 * (`office` NULL or equal to its own).  Passwords: 8..1024 bytes.
 * Names are unique within an office; the operator names a user as "name"
 * when unambiguous, else "office/name" (names may not contain '/').
 * The last enabled admin of an office can be neither demoted nor
 * disabled (TD_EINVAL, field "role"/"disabled"). */

/* Add a user to `office`, which must exist (TD_ENOTFOUND, field "office":
 * see td_desk_office_add).  *id may be NULL. */
int td_desk_user_add(struct td_desk *d, const struct td_actor *actor, const char *office,
                     const char *username, enum td_role role, const char *password, int64_t *id,
                     struct td_error *err);
/* Set a password (a user may set its own; an admin any in its office).
 * Ends every session of that user, including the caller's own, and
 * revokes every API key the user holds: whoever knew the old password
 * may have used it to have keys made.  Clears must_change. */
int td_desk_user_passwd(struct td_desk *d, const struct td_actor *actor, const char *username,
                        const char *password, struct td_error *err);
int td_desk_user_role(struct td_desk *d, const struct td_actor *actor, const char *username,
                      enum td_role role, struct td_error *err);
/* {"users": [{"id","name","role","office","created","must_change",
 * "disabled"}]} of the actor's office (admin only); every office for the
 * operator. */
int td_desk_user_list(struct td_desk *d, const struct td_actor *actor, json_t **out,
                      struct td_error *err);
/* Disable (1) or enable (0) a user.  Disabling ends every session and
 * revokes every API key of the user in the same transaction, and logins
 * are refused until it is enabled again (keys stay revoked: issue new
 * ones).  A user cannot disable itself.  Audited ("user.disable",
 * "user.enable"). */
int td_desk_user_set_disabled(struct td_desk *d, const struct td_actor *actor, const char *username,
                              int disabled, struct td_error *err);

/* ---- scanned letters off the request path (desk/uploads.c) ---------------
 * OCR takes seconds a page, so a scanned letter (PNG, JPEG, TIFF or PDF)
 * is not read while its sender waits: td_desk_upload_accept() keeps the
 * bytes as they arrived and queues a job for them IN ONE TRANSACTION (the
 * front door answers 202 once it returns), and a worker - td_desk_work_one()
 * in a loop, `threatdesk worker` or the server's own worker threads -
 * claims the job, OCRs the letter, analyses it and files it as a message
 * of channel "letter", exactly as td_desk_ingest() would have.  Any number
 * of workers, threads or processes, may share one store: a job is claimed
 * by one at a time, under a lease; a worker that dies leaves its job due
 * again when the lease runs out.
 *
 * An upload's state: queued -> processing -> done (the message id is
 * known) or back to queued (a failure that may pass: retried later, the
 * wait doubling) or failed (the file is not a readable image, no text
 * could be read, or max_attempts tries failed: the error says why).  The
 * bytes are kept until the letter is filed, so nothing acknowledged is
 * lost whatever the OCR does; once filed, the message holds them (under
 * the office's retention and erasure) and the upload only its record.
 * Accepting and failing for good are audited ("upload.accept",
 * "upload.fail"); filing is the usual "message.ingest".
 */

/* Largest scan accepted (the OCR's own file limit). */
#define TD_UPLOAD_MAX_BYTES ((size_t)64 << 20)

struct td_upload_result {
    int64_t id;         /* the upload */
    int64_t job_id;     /* its job; 0 for a duplicate */
    int duplicate;      /* 1: client_key named an upload already kept: id is that one */
    char state[16];     /* "queued", "processing", "done", "failed" */
    int64_t message_id; /* the filed message when done, else 0 */
};

/*
 * Keep a scanned letter for the actor's office (staff) and queue its OCR.
 * The kind is read from the bytes (never from the name); anything else is
 * TD_EFORMAT, over TD_UPLOAD_MAX_BYTES TD_ETOOBIG.  `name` (may be NULL) is
 * the file's name as the sender gave it; `client_key` (may be NULL) the
 * idempotency key: an upload of the office with that key already kept is
 * answered as a duplicate.  received INT64_MIN: now.  Durable on TD_OK.
 */
int td_desk_upload_accept(struct td_desk *d, const struct td_actor *actor, const void *bytes,
                          size_t len, const char *name, const char *client_key, int64_t received,
                          struct td_upload_result *res, struct td_error *err);

/* An upload of the actor's office (staff): {"id","state","kind","name",
 * "size","sha256","received","created","attempts","message"?,"error"?}.
 * TD_ENOTFOUND for another office's. */
int td_desk_upload_get(struct td_desk *d, const struct td_actor *actor, int64_t id, json_t **out,
                       struct td_error *err);

struct td_work_opts {
    const char *worker;    /* this worker's name, unique among workers
                              ("host:pid:thread"); required */
    unsigned lease_s;      /* how long a claim holds (0: 600 s); longer than
                              the slowest letter */
    unsigned max_attempts; /* tries before a letter fails for good (0: 3) */
    unsigned retry_s;      /* wait before the first retry, doubling (0: 30) */
};

/* What td_desk_work_one did. */
struct td_work_result {
    int idle; /* 1: nothing was due; the rest is 0 */
    int64_t job_id, upload_id, office_id;
    int64_t message_id; /* the filed message (outcome TD_OK) */
    int severity;       /* its severity (enum td_severity) */
    int duplicate;      /* the letter had been filed already */
    int outcome;        /* TD_OK, else why this attempt failed */
    int gave_up;        /* 1: failed for good; 0: will be retried (when outcome != TD_OK) */
    double ocr_seconds; /* time spent in OCR */
    char error[256];    /* outcome's message */
};

struct td_ocr_pool;

/*
 * Claim one due job, do it, finish it.  OCR engines come from `pool`
 * (ocr.h; shared by the caller's threads); pool NULL makes a new engine
 * for the job and frees it after (the old way, kept as a baseline).  The
 * letter is analysed with `ctx` (the calling thread's) outside the desk
 * lock, or with the desk's own context when ctx is NULL.  Returns TD_OK
 * whether the letter was filed or its attempt failed (res says which), or
 * when nothing was due (res->idle); an error only when the store failed.
 */
int td_desk_work_one(struct td_desk *d, const struct td_work_opts *o, struct td_ocr_pool *pool,
                     struct td_analysis_ctx *ctx, struct td_work_result *res, struct td_error *err);

/*
 * Worker threads over one desk: each runs td_desk_work_one() in a loop,
 * sharing one pool of OCR engines made once at start (`threatdesk worker`,
 * and the server's own --ocr-workers).  Several such sets, in several
 * processes on one store, share the queue.
 */
struct td_ocr_workers_config {
    const char *name;         /* claimed_by prefix; NULL: "<host>:<pid>" (copied) */
    unsigned threads;         /* 0: 1 (max 64) */
    unsigned engines;         /* OCR engines in the pool; 0: one per thread */
    int no_pool;              /* 1: a new engine per job (the old way, a baseline) */
    int once;                 /* 1: a thread ends when nothing is due or the store fails */
    unsigned poll_ms;         /* idle wait before claiming again (0: 1000) */
    struct td_work_opts work; /* lease, attempts, retry; worker is set per thread */
    /* After each job (from the worker thread; may be NULL). */
    void (*on_job)(void *ud, const struct td_work_result *r);
    void *ud;
};

struct td_ocr_workers_stats {
    unsigned long jobs, filed, failed, retried; /* jobs done: filed, failed for good, to retry */
    unsigned long errors;                       /* store failures (the thread waited, retried) */
    double ocr_seconds;                         /* summed over jobs */
};

struct td_ocr_workers;

/* Start.  The desk's analyser is used (TD_EINVAL without one).  *out is
 * yours: td_desk_ocr_workers_stop(). */
int td_desk_ocr_workers_start(struct td_desk *d, const struct td_ocr_workers_config *c,
                              struct td_ocr_workers **out, struct td_error *err);
/* Wait for every thread to end (with `once`: until nothing is due). */
void td_desk_ocr_workers_wait(struct td_ocr_workers *w);
/* Counts so far; first_error (may be NULL): the first store failure. */
void td_desk_ocr_workers_stats(struct td_ocr_workers *w, struct td_ocr_workers_stats *s,
                               struct td_error *first_error);
/* Let each thread end its job, join them, free everything (NULL is fine). */
void td_desk_ocr_workers_stop(struct td_ocr_workers *w);
/* 1 when the store has the work queue (SQLite does; a backend without it
 * leaves a front door to OCR in the request, the old way). */
int td_desk_can_queue(const struct td_desk *d);

/* ---- ingest ------------------------------------------------------------ */

/* The outcome of one record. */
struct td_ingest_result {
    int code;      /* TD_OK = stored (or duplicate); else why it was refused */
    int duplicate; /* 1: the idempotency key was seen; id is the existing one */
    int64_t id;    /* message id (0 when refused) */
    enum td_severity severity;
    char field[64];   /* the offending field when refused */
    char reason[256]; /* why it was refused */
};

/*
 * Ingest one message for the actor's office (admin, caseworker, security).
 * `client_key` (may be NULL) is the idempotency key; without it
 * m->message_id is used; a record whose key was already stored is not
 * stored again: res->duplicate = 1 and res->id is the existing message.
 * The text is analysed (with `ctx` when given, outside the desk lock; else
 * with the desk's own context), the sender's history applied
 * (td_verdict_apply_history), and the message, its verdict and the sender
 * counts committed before this returns.  The original bytes are kept
 * exactly (m->original, or the text when NULL).
 * Returns TD_OK when stored or duplicate; a refusal returns its code with
 * res and err filled.
 */
int td_desk_ingest(struct td_desk *d, const struct td_actor *actor, struct td_analysis_ctx *ctx,
                   const struct td_message *m, const char *client_key, struct td_ingest_result *res,
                   struct td_error *err);

/*
 * File one message with a verdict the caller already computed (the `scan`
 * command's results, a test's hand-made verdict): everything td_desk_ingest
 * does but the analysis.  The sender's history is applied to *v (it may be
 * raised to critical).  Needs no analyser.
 */
int td_desk_file(struct td_desk *d, const struct td_actor *actor, const struct td_message *m,
                 const char *client_key, struct td_verdict *v, struct td_ingest_result *res,
                 struct td_error *err);

/*
 * A batch in ONE transaction: each record is accepted or refused on its own
 * (a savepoint per record), the accepted ones commit together.  results[i]
 * (caller-allocated, n entries) says what became of msgs[i]; client_keys may
 * be NULL or hold NULLs.  Returns TD_OK when the transaction committed (even
 * if every record was refused), else the store error (nothing stored).
 */
int td_desk_ingest_batch(struct td_desk *d, const struct td_actor *actor,
                         struct td_analysis_ctx *ctx, const struct td_message *msgs, size_t n,
                         const char *const *client_keys, struct td_ingest_result *results,
                         struct td_error *err);

/*
 * The JSON door to the two calls above, for the server: `in` is one record
 * object or an array of them (or {"messages": [...]}), each
 *   {"text" (required), "channel", "sender", "sender_name", "received"
 *    (int seconds or RFC 3339), "subject", "message_id", "client_key",
 *    "original" (string; default the text)}
 * Answer: {"accepted": n, "duplicates": n, "refused": n, "results":
 *   [{"index", "id"?, "status": "created"|"duplicate"|"refused",
 *     "severity"?, "code"?, "field"?, "reason"?}]}.
 * Records that do not parse are refused in place; the rest are stored.
 * TD_EINVAL only when `in` is not an object or array; max 10000 records.
 */
int td_desk_ingest_json(struct td_desk *d, const struct td_actor *actor,
                        struct td_analysis_ctx *ctx, const json_t *in, json_t **out,
                        struct td_error *err);

/*
 * The same, with the typed outcome of every record beside the JSON, for a
 * front door that counts or notifies (metrics, the web desk's live channel)
 * without reading its own answer back: *results (n entries, in record
 * order; a record refused while parsing has its code, field and reason
 * there too) is malloc()ed and yours (free()); NULL on failure.
 */
int td_desk_ingest_json_results(struct td_desk *d, const struct td_actor *actor,
                                struct td_analysis_ctx *ctx, const json_t *in, json_t **out,
                                struct td_ingest_result **results, size_t *n, struct td_error *err);

/*
 * td_desk_file for a batch: td_desk_ingest_batch with verdicts[i] (n of
 * them, already computed; each may be raised by the sender's history) in
 * place of the analysis.  For importers and load generators that bring
 * their own verdicts (bench/bench_scale.c); needs no analyser.
 */
int td_desk_file_batch(struct td_desk *d, const struct td_actor *actor,
                       const struct td_message *msgs, size_t n, const char *const *client_keys,
                       struct td_verdict *verdicts, struct td_ingest_result *results,
                       struct td_error *err);

/* ---- triage ------------------------------------------------------------ */

/* Queue filter: NULL / 0 / INT64_MIN fields do not filter. */
struct td_queue_filter {
    int status;          /* enum td_msg_status, or -1: all (unreviewed first) */
    int label;           /* enum td_label the verdict predicted, or -1 */
    int min_severity;    /* enum td_severity, or -1 */
    const char *channel; /* exact */
    const char *sender;  /* exact sender key */
    int64_t since;       /* received >= since; INT64_MIN: open */
    int64_t until;       /* received < until;  INT64_MAX: open */
    size_t limit;        /* 0: 50; capped at 500 */
    size_t offset;       /* pagination */
};

void td_queue_filter_init(struct td_queue_filter *f);

/*
 * The triage queue of the actor's office (admin, caseworker, security):
 * unreviewed first, then severity (critical first), then newest received.
 * {"messages": [MESSAGE...], "total": n, "limit", "offset",
 *  "next_offset" (absent at the end)}
 * where MESSAGE = {"id","channel","sender","sender_name","subject",
 *  "received","ingested","status","status_reason","severity","labels"
 *  {label: prob},"predicted":[...],"flags":[...],"reason","model",
 *  "client_key","message_id","text","spans":[...],"cases":[ids]}.
 */
int td_desk_queue(struct td_desk *d, const struct td_actor *actor, const struct td_queue_filter *f,
                  json_t **out, struct td_error *err);

/* One message (MESSAGE above); audited as a read ("message.read"). */
int td_desk_message_get(struct td_desk *d, const struct td_actor *actor, int64_t id, json_t **out,
                        struct td_error *err);

/* The original bytes exactly as received.  *data is yours (free());
 * sha256 (may be NULL) gets their hex SHA-256.  Audited as a read
 * ("message.original"). */
int td_desk_message_original(struct td_desk *d, const struct td_actor *actor, int64_t id,
                             void **data, size_t *len, char sha256[65], struct td_error *err);

/* Mark a message reviewed / escalated / dismissed (or back to unreviewed)
 * with a reason (required for escalated and dismissed). */
int td_desk_message_set_status(struct td_desk *d, const struct td_actor *actor, int64_t id,
                               enum td_msg_status status, const char *reason, struct td_error *err);

/*
 * A sender's history in the actor's office:
 * {"sender","display","messages","threats","worst_severity","first_seen",
 *  "last_seen","recent": [MESSAGE...] (newest first, at most `limit`,
 *  0: 50, cap 500)}.  TD_ENOTFOUND when the office never heard from them.
 */
int td_desk_sender(struct td_desk *d, const struct td_actor *actor, const char *sender,
                   size_t limit, json_t **out, struct td_error *err);

/* ---- cases ------------------------------------------------------------- */

/*
 * Case fields, as JSON (create and update take the same object):
 *   "type"        one of TD_CASE_TYPE_MAP (required on create)
 *   "title"       required on create, 1..300 bytes
 *   "description" string
 *   "occurred"    int seconds or RFC 3339
 *   "place"       {"constituency", "address", "lat", "lon"} (lat/lon numbers)
 *   "people"      array of strings or objects (kept as given)
 *   "police_ref"  string
 *   "assignee"    user name in the office, or null
 * Unknown fields are refused (TD_EINVAL, field named) so typos are not
 * silently dropped.
 */

/* File a case (any role but police; observers file incident reports this
 * way and cannot read them back).  Status "new".  *id may be NULL. */
int td_desk_case_create(struct td_desk *d, const struct td_actor *actor, const json_t *fields,
                        int64_t *id, struct td_error *err);

/* Change fields (admin, caseworker, security); "status" is not a field -
 * use td_desk_case_set_status. */
int td_desk_case_update(struct td_desk *d, const struct td_actor *actor, int64_t id,
                        const json_t *fields, struct td_error *err);

/* Move a case along the workflow (admin, caseworker, security); refused
 * when the transition is not allowed.  `reason` may be NULL. */
int td_desk_case_set_status(struct td_desk *d, const struct td_actor *actor, int64_t id,
                            enum td_case_status status, const char *reason, struct td_error *err);

/*
 * One case, audited as a read:
 * {"id","type","title","description","occurred","place":{...},"people",
 *  "status","police_ref","assignee","created","created_by","updated",
 *  "messages":[MESSAGE...],"evidence":[EVIDENCE...],"notes":[NOTE...]}
 * EVIDENCE = {"id","name","type","size","sha256","added","added_by"};
 * NOTE = {"id","text","author","created","shareable"}.
 * Police: only cases reported to police (else TD_ENOTFOUND), and only the
 * notes marked shareable.
 */
int td_desk_case_get(struct td_desk *d, const struct td_actor *actor, int64_t id, json_t **out,
                     struct td_error *err);

struct td_case_filter {
    int status;           /* enum td_case_status or -1 */
    int type;             /* enum td_case_type or -1 */
    const char *assignee; /* user name or NULL */
    const char *sender;   /* a case holding a message from this sender key, or NULL */
    int64_t since;        /* opened >= since; INT64_MIN: open */
    int64_t until;        /* opened < until;  INT64_MAX: open */
    size_t limit;         /* 0: 50; cap 500 */
    size_t offset;
};
void td_case_filter_init(struct td_case_filter *f);

/* {"cases": [case without messages/evidence/notes], "total", "limit",
 *  "offset", "next_offset"?}, newest first; audited as one read. */
int td_desk_case_list(struct td_desk *d, const struct td_actor *actor,
                      const struct td_case_filter *f, json_t **out, struct td_error *err);

/* Link a message of the office to a case (idempotent). */
int td_desk_case_link_message(struct td_desk *d, const struct td_actor *actor, int64_t case_id,
                              int64_t message_id, struct td_error *err);

/* Add a note; *id may be NULL.  Notes are internal to the office unless
 * `shareable` is 1: police never read the others (not in the case, not in
 * the timeline). */
int td_desk_case_note(struct td_desk *d, const struct td_actor *actor, int64_t case_id,
                      const char *text, int shareable, int64_t *id, struct td_error *err);

/* Timeline: every audit entry about the case, oldest first (creation,
 * field changes with their new values, status moves, links, notes with
 * their text, evidence, and reads):
 * {"events": [{"id","time","user","action","details"}]}; audited as a read. */
int td_desk_case_timeline(struct td_desk *d, const struct td_actor *actor, int64_t case_id,
                          json_t **out, struct td_error *err);

/* ---- evidence -----------------------------------------------------------
 * Content-addressed files: <data_dir>/evidence/ab/cdef... named by the hex
 * SHA-256 of the bytes, written and fsync()ed before the row commits. */

/* Add evidence bytes to a case (admin, caseworker, security; an observer
 * only to a case it filed itself - the photo with its report).  `name` and
 * `type` (MIME) may be NULL.  *id and sha256 may be NULL.  Max 256 MiB.
 * Identical bytes are stored once on disk. */
int td_desk_evidence_add(struct td_desk *d, const struct td_actor *actor, int64_t case_id,
                         const char *name, const char *type, const void *data, size_t len,
                         int64_t *id, char sha256[65], struct td_error *err);

/* Read evidence back, checking its hash (TD_ECRYPTO when the file no
 * longer matches).  *meta (EVIDENCE JSON, may be NULL) and *data (free())
 * are yours.  Audited as a read of the case. */
int td_desk_evidence_get(struct td_desk *d, const struct td_actor *actor, int64_t evidence_id,
                         json_t **meta, void **data, size_t *len, struct td_error *err);

/* ---- learning from the office (feedback.h) -------------------------------
 * A caseworker's decision teaches this office's engine, and no other:
 * td_desk_message_set_status records it with the vector the analyser drew
 * for the message at ingest (model format 2; a format-1 model draws none,
 * and then nothing is learnt - the status's audit entry says so):
 *   reviewed   confirmed, with the message's predicted labels (none: "looked
 *              at, nothing there", which counts like a dismissal)
 *   escalated  confirmed as a threat (its predicted labels plus threat)
 *   dismissed  dismissed (a false alarm)
 *   unreviewed nothing new
 * A new status first revokes the decision recorded about the message
 * before.  Each act is audited ("feedback.add", "feedback.revoke") in the
 * status change's transaction.  Every message the office ingests later is
 * adjusted by the office's live decisions drawn by the same model, before
 * it is filed (the verdict's reason says so; feedback.h has the rule and
 * its bounds).  Messages already filed keep their verdict. */

/* The office's decisions (staff), newest first; revoked ones too when
 * `all`: {"feedback": [{"id","message","decision","labels":[...],"model",
 * "weight","user","created","revoked"?,"revoked_by"?}], "total", "limit"
 * (0: 50, cap 500), "offset", "next_offset"?, "model" (the analyser's: only
 * rows drawn by it count)}. */
int td_desk_feedback_list(struct td_desk *d, const struct td_actor *actor, int all, size_t limit,
                          size_t offset, json_t **out, struct td_error *err);

/* Revoke one decision of the office (staff): it stops counting at the next
 * message ingested.  TD_ENOTFOUND for another office's; revoking a revoked
 * one is TD_OK and changes nothing.  Audited ("feedback.revoke"). */
int td_desk_feedback_revoke(struct td_desk *d, const struct td_actor *actor, int64_t id,
                            struct td_error *err);

/* ---- alerts (issue 10; alert.h for matching and delivery) ---------------
 *
 * When a message is filed, every enabled rule of its office that matches
 * its verdict (td_alert_rule_matches, at the office's minute of the day in
 * the server's local time zone: set TZ=Europe/London) makes one alert and
 * its outbox rows IN THE SAME TRANSACTION as the message: a message on
 * record without its alert cannot exist, and (message, rule) is unique so
 * no retry makes two.  A worker (td_desk_alerts_run, or the thread of
 * td_desk_alert_worker_start) sends the outbox with retries and exponential
 * back-off, recording every attempt; an alert nobody acknowledges within
 * the rule's escalate_minutes goes to the next person on its rota.
 *
 * Roles: admin and security configure recipients and rules; staff list
 * alerts and acknowledge them.  Acknowledgement (in the desk or by the
 * link the alert carries) is audited ("alert.ack"). */

/* A recipient (admin, security): {"name", "email"?, "webhook_url"?,
 * "webhook_secret"? (16..200 bytes, required with a URL)}, at least one of
 * e-mail and webhook.  *out {"id"}.  Audited ("alert_recipient.create",
 * never the secret). */
int td_desk_alert_recipient_add(struct td_desk *d, const struct td_actor *actor,
                                const json_t *fields, json_t **out, struct td_error *err);
/* {"recipients": [...]} (staff); secrets are never returned. */
int td_desk_alert_recipient_list(struct td_desk *d, const struct td_actor *actor, json_t **out,
                                 struct td_error *err);
/* A rule (admin, security): {"name", "min_tier" ("critical", "high", ...),
 * "labels"?: [names, any of], "flags"?: [names, all of], "channels":
 * ["email","webhook","browser"], "quiet_hours"?: {"start":"22:00",
 * "end":"07:00"}, "escalate_minutes"?: 0.., "rota": [recipient ids, first
 * told first], "disclose"?: "minimal" | "subject"}.  *out {"id"}.
 * Audited ("alert_rule.create"). */
int td_desk_alert_rule_add(struct td_desk *d, const struct td_actor *actor, const json_t *fields,
                           json_t **out, struct td_error *err);
/* {"rules": [...]} (staff). */
int td_desk_alert_rule_list(struct td_desk *d, const struct td_actor *actor, json_t **out,
                            struct td_error *err);
/* {"alerts": [{"id","message","rule","rule_name","severity","label",
 * "created","step","state" ("open", "failed": a delivery gave up,
 * "acknowledged"),"acknowledged"?:{"at","by","via"},"deliveries":[{"id",
 * "step","recipient","channel","target","state","attempts",
 * "next_attempt_at","last_error","delivered_at","attempt_log":[{"at",
 * "outcome","error"}]}]}]} newest first (staff); open_only: not yet
 * acknowledged; limit 0: 50 (cap 500). */
int td_desk_alert_list(struct td_desk *d, const struct td_actor *actor, int open_only, size_t limit,
                       json_t **out, struct td_error *err);
/* Acknowledge one alert of the office (staff): escalation stops.  Already
 * acknowledged: TD_OK, nothing changes.  Audited ("alert.ack", via desk). */
int td_desk_alert_ack(struct td_desk *d, const struct td_actor *actor, int64_t id,
                      struct td_error *err);
/* Acknowledge by the link's token (no login: the token is the credential,
 * an HMAC of the alert id under a key kept in <data_dir>/alert-ack.key).
 * TD_ENOTFOUND for a token that is not one.  *out {"alert","acknowledged",
 * "already"}.  Audited ("alert.ack", via link) as the local operator. */
int td_desk_alert_ack_token(struct td_desk *d, const char *token, json_t **out,
                            struct td_error *err);

/* What one pass of the worker did. */
struct td_alert_run_stats {
    size_t escalated; /* alerts moved to the next person */
    size_t delivered; /* deliveries the receiver accepted */
    size_t retrying;  /* failed, to be tried again */
    size_t gave_up;   /* failed for the last time */
};

struct td_alert_config; /* alert.h */

/* One pass: escalate what is due, then claim and send up to `max` due
 * deliveries of every office (0: 64), recording each attempt.  The store is
 * not locked while a delivery is in flight. */
int td_desk_alerts_run(struct td_desk *d, const struct td_alert_config *c, size_t max,
                       struct td_alert_run_stats *stats, struct td_error *err);

/* The worker thread: td_desk_alerts_run every c->poll_ms until stopped.
 * c is copied.  *out is yours: td_desk_alert_worker_stop() joins and frees. */
struct td_alert_worker;
int td_desk_alert_worker_start(struct td_desk *d, const struct td_alert_config *c,
                               struct td_alert_worker **out, struct td_error *err);
void td_desk_alert_worker_stop(struct td_alert_worker *w);

/* The browser channel's hook: called after the commit that created an
 * alert whose rule names the "browser" channel, outside the desk's lock, on
 * the ingesting thread - a live channel (the web desk) pushes it to the
 * office's open pages.  Keep it short; NULL removes it. */
typedef void td_alert_listener(void *ud, int64_t office_id, int64_t alert_id, int64_t message_id,
                               int severity);
void td_desk_set_alert_listener(struct td_desk *d, td_alert_listener *cb, void *ud);

/* ---- verify (audit chain + every row it vouches for) -------------------- */

/* One thing found broken. */
struct td_verify_problem {
    const char *kind;   /* "audit", "evidence", "message", "case" or "note" (static) */
    int64_t id;         /* audit entry id, or the id of that row */
    char what[160];     /* "hash mismatch", "prev_hash mismatch", "missing entry",
                           "file missing", "file altered", ... */
    char expected[128]; /* what the chain / row says */
    char found[128];    /* what is there */
};

struct td_verify_stats {
    size_t audit_entries;
    size_t evidence_files;
    size_t rows; /* message, case, note and evidence rows checked */
    size_t problems;
    int64_t head_id;    /* the last audit entry (0: empty log) */
    char head_hash[65]; /* its stored hash: note it elsewhere to detect a
                           wholesale rewrite of the chain later */
};

/* Called once per problem; return non-zero to stop early. */
typedef int td_verify_cb(void *ud, const struct td_verify_problem *p);

/*
 * Walk the whole audit chain (recomputing every hash and link, and
 * checking that no entry is missing, including at the end), re-hash
 * every evidence file, and check every row the chain vouches for against
 * it: each message's original bytes and text (the SHA-256 the ingest entry
 * recorded) and status, each case's type, title, description, police
 * reference and status (replaying its create/update/status entries), each
 * note's text and each evidence row's hash, size and case.  A row edited
 * behind the desk's back, a row deleted, or a row with no entry (inserted
 * with the sqlite3 shell) is reported by kind and id.  Returns TD_OK when the walk completed
 * (problems are reported through cb and counted in stats: stats->problems == 0 means intact); an
 * error when the store cannot be read.  No actor: this is the operator's check (the CLI `verify`),
 * it reads all offices.
 */
int td_desk_verify(struct td_desk *d, td_verify_cb *cb, void *ud, struct td_verify_stats *stats,
                   struct td_error *err);

struct td_audit_entry; /* threatdesk/store.h */
/* The canonical hash of one audit entry ("td-audit-1": id, time, office,
 * user, action, object, details and prev_hash as netstrings; see
 * src/desk/audit.c), into out as 64 hex digits.  For tools that must
 * write a chain outside a desk transaction (`threatdesk migrate
 * --rechain`) and still produce entries verify accepts. */
int td_desk_audit_hash(const struct td_audit_entry *e, char out[65]);

#ifdef __cplusplus
}
#endif
#endif
