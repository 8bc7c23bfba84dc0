/*
 * server_int.h - the inside of the HTTP desk (not installed).
 *
 *   http.c        libmicrohttpd glue: one struct td__req per request, body
 *                 read into a capped buffer, route, auth, handler, respond,
 *                 log and count.
 *   router.c      THE route table {method, pattern, handler, roles} and the
 *                 matcher ("/v1/cases/{id}/evidence", "/v1/messages/{id}:review").
 *   json.c        JSON replies and the one error shape; body parsing with the
 *                 byte of a syntax error.
 *   auth.c        session tokens / API keys -> the caller (via the desk).
 *   metrics.c     Prometheus counters and histograms (lock-free atomics).
 *   guard.c       client address (trusted proxy), login rate limit, and the
 *                 whole-request deadline against slow clients.
 *   log.c         one JSON object per line: never message text.
 *   config.c      defaults < file < environment < flags.
 *   perspective.c the Perspective API mapping.
 *   handlers_*.c  one file per resource.
 *
 * Ownership: a handler fills r->status and either r->json (a reference the
 * request now owns) or r->raw (a td_buf the request owns).  Everything hangs
 * off the td__req and is freed when libmicrohttpd reports the request done,
 * which is the per-request pool: nothing a handler allocates outlives it.
 */
#ifndef TD_SERVER_INT_H
#define TD_SERVER_INT_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>

#include "threatdesk/buf.h"
#include "threatdesk/desk.h"
#include "threatdesk/error.h"
#include "threatdesk/server.h"

/* ---- roles ------------------------------------------------------------- */

/* Who may call a route: a bit set, (1u << enum td_role).  TD__AUTH_NONE
 * routes are public.  The desk checks roles again on every call; the table
 * is the first gate and the documentation. */
enum {
    TD__ROLE_ADMIN = 1u << TD_ROLE_ADMIN,
    TD__ROLE_CASEWORKER = 1u << TD_ROLE_CASEWORKER,
    TD__ROLE_SECURITY = 1u << TD_ROLE_SECURITY,
    TD__ROLE_OBSERVER = 1u << TD_ROLE_OBSERVER,
    TD__ROLE_POLICE = 1u << TD_ROLE_POLICE,
};
#define TD__ROLES_ALL                                                                              \
    (TD__ROLE_ADMIN | TD__ROLE_CASEWORKER | TD__ROLE_SECURITY | TD__ROLE_OBSERVER | TD__ROLE_POLICE)
#define TD__ROLES_STAFF (TD__ROLE_ADMIN | TD__ROLE_CASEWORKER | TD__ROLE_SECURITY)
#define TD__AUTH_NONE 0u

/* ---- the caller -------------------------------------------------------- */

struct td__caller {
    int authenticated;
    int64_t user_id;
    int64_t office_id;
    unsigned role; /* one TD__ROLE_* bit */
    char role_name[32];
    char token[72]; /* the session token, for logout ("" for API keys) */
};

/* ---- a request --------------------------------------------------------- */

#define TD__MAX_PARAMS 4

struct td__route;

struct td__req {
    struct td_server *srv;
    struct MHD_Connection *conn;
    const char *method; /* owned by libmicrohttpd, valid for the request */
    const char *path;
    char id[24]; /* request id for the log and X-Request-Id */
    uint64_t start_ns;

    struct td_buf body;
    int body_too_big;
    int answered_early; /* a response was queued before the body ended */

    const struct td__route *route;
    int route_index; /* -1: no route matched */
    struct {
        const char *name; /* static, from the route pattern */
        char value[256];
    } params[TD__MAX_PARAMS];
    size_t nparams;

    struct td__caller caller;
    struct td_actor actor; /* for desk calls; valid when caller.authenticated */
    /* ---- the web desk (src/web/): a page, not an API call ---- */
    int web;              /* 1: answered by td__web_dispatch, with its headers */
    char set_cookie[256]; /* Set-Cookie:, "" = none */
    char location[512];   /* Location: for redirects, "" = none */
    const char *cache;    /* Cache-Control: (static), NULL = no-store */
    char etag[48];        /* ETag:, "" = none */
    /* A streamed answer (Server-Sent Events): when set, send_reply hands
     * libmicrohttpd this reader instead of a buffer; stream_free frees cls. */
    MHD_ContentReaderCallback stream;
    void *stream_cls;
    MHD_ContentReaderFreeCallback stream_free;

    /* response */
    unsigned status;
    json_t *json;      /* owned */
    struct td_buf raw; /* owned, used when json == NULL */
    const char *raw_type;
    char allow[64];         /* Allow: header for 405 */
    char sha256[65];        /* X-Content-SHA256: for raw bytes, "" = none */
    char disposition[1024]; /* Content-Disposition: for downloads, "" = none */
    char raw_type_buf[128]; /* storage for raw_type when it is not static */
    unsigned retry_after;   /* Retry-After: seconds for 429/503, 0 = none */
    /* A file answer (bundles, CSV): streamed from file_fd (owned; closed
     * when sent or freed), file_len bytes from its start, used when
     * has_file.  Nothing of it is held in memory. */
    int has_file;
    int file_fd;
    uint64_t file_len;
};

typedef void td__handler(struct td__req *r);

struct td__route {
    const char *method;
    const char *pattern;
    td__handler *handler;
    unsigned roles; /* TD__AUTH_NONE: public */
    int key_auth;   /* 1: the Perspective way (?key= also accepted) */
};

/* The route table and its size (router.c). */
extern const struct td__route td__routes[];
extern const size_t td__nroutes;

/*
 * Find the route for method+path.  Returns its index and fills r->params;
 * -1 with *path_known = 1 when the path exists under another method (the
 * Allow list is written to allow), -1 with *path_known = 0 otherwise.
 */
int td__route_match(struct td__req *r, const char *method, const char *path, int *path_known,
                    char *allow, size_t allow_size);

/* Match one pattern against a path, capturing {name} parts into r (may be
 * NULL to test only).  1 = match. */
int td__pattern_match(const char *pattern, const char *path, struct td__req *r);

/* A path parameter by name, "" if absent. */
const char *td__param(const struct td__req *r, const char *name);

/* A query-string argument, NULL if absent (owned by libmicrohttpd). */
const char *td__query(const struct td__req *r, const char *name);
/* A request header, NULL if absent. */
const char *td__header(const struct td__req *r, const char *name);

/* ---- the server -------------------------------------------------------- */

struct td__ctx_pool; /* analysis scratch, one per request in flight */

struct td_server {
    struct td_server_config cfg;
    struct MHD_Daemon *mhd;
    unsigned port;
    struct td_analyser *analyser; /* borrowed */
    struct td_desk *desk;         /* borrowed */
    FILE *log;
    pthread_mutex_t log_lock;
    int log_min_level;
    atomic_int inflight;
    atomic_int stopping;
    int shut_down;
    pthread_mutex_t pool_lock;
    void **ctx_free; /* struct td_analysis_ctx * stack */
    size_t nctx_free, ctx_cap;
    struct td__metrics *metrics;
    struct MHD_Daemon *metrics_mhd; /* metrics_listen, or NULL */
    unsigned metrics_port;
    struct td__limiter *login_limiter; /* guard.c */
    struct td__conns *conns;           /* guard.c: the request deadline */
    char *tls_cert_pem, *tls_key_pem;  /* kept for the daemon's lifetime */
    struct td__plex *plex;             /* perspective_int.h: loaded on first use under pool_lock */
    int plex_tried;
    struct td__web *web; /* src/web/: static files, CSRF key, live events */
};

/* Analysis scratch for this request: take one (NULL when no analyser or
 * OOM) and give it back. */
struct td_analysis_ctx *td__ctx_take(struct td_server *s);
void td__ctx_give(struct td_server *s, struct td_analysis_ctx *ctx);

/* ---- replies (json.c) --------------------------------------------------- */

/* Answer `status` with body `json` (stolen; NULL answers {}). */
void td__reply(struct td__req *r, unsigned status, json_t *json);

/* Answer an error.  field may be NULL, index < 0 means none. */
void td__reply_error(struct td__req *r, unsigned status, const char *field, long index,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Answer from a library td_error: the code picks the HTTP status
 * (NOTFOUND 404, DENIED 403, EXISTS 409, INVAL/PARSE/UTF8/FORMAT 400,
 * TOOBIG 413, anything else 500), and field/byte/line travel along. */
void td__reply_td_error(struct td__req *r, int code, const struct td_error *err);

/* HTTP status for a td_errno. */
unsigned td__http_status_for(int code);

/* The symbolic status Google APIs use for an HTTP status ("NOT_FOUND"). */
const char *td__status_name(unsigned status);

/*
 * Parse the request body as JSON.  On failure answers 400 naming the byte
 * (or 415 when the content type is not JSON) and returns NULL.  The result
 * is a new reference.
 */
json_t *td__body_json(struct td__req *r);

/* Content type of the request without parameters, lower-cased into buf. */
const char *td__content_type(const struct td__req *r, char *buf, size_t size);

/* Parse an unsigned decimal / an int64; 0 on success, -1 on junk or range. */
int td__parse_u64(const char *s, uint64_t max, uint64_t *out);
int td__parse_i64(const char *s, int64_t *out);

/* A positive integer path parameter; answers 404 (an id that cannot exist
 * is as unknown as one of another office) and returns 0 otherwise. */
int td__path_id(struct td__req *r, const char *name, int64_t *out);

/* Answer a desk call: rc TD_OK -> ok_status with `out` (stolen; NULL = {}),
 * else the td_error mapping (and `out` is dropped). */
void td__reply_desk(struct td__req *r, int rc, const struct td_error *err, unsigned ok_status,
                    json_t *out);

/* GET of one object by its path id: the desk's read `get` answers 200 with
 * the object, its error mapping, or 404 for an id that cannot exist. */
typedef int (*td__desk_get_fn)(struct td_desk *, const struct td_actor *, int64_t, json_t **,
                               struct td_error *);
void td__reply_get(struct td__req *r, td__desk_get_fn get);

/* A string member of a JSON object, NULL when absent; answers 400 naming
 * the field and sets *bad when present but not a string. */
const char *td__json_str(struct td__req *r, json_t *o, const char *key, int *bad);

/* A query argument as a bounded unsigned (absent leaves *out alone);
 * answers 400 naming it and returns 0 on junk, else returns 1. */
int td__query_size(struct td__req *r, const char *name, size_t max, size_t *out);
/* A list's page: "limit" (at most 500) and "cursor" (an offset). */
int td__query_page(struct td__req *r, size_t *limit, size_t *offset);
/* Query parameter `name` as a time (RFC 3339 or epoch seconds) into *out,
 * left alone when absent; 0 after a 400 naming it. */
int td__query_time(struct td__req *r, const char *name, int64_t *out);
/* The queue's and the cases' filters from the query string, as /v1/queue
 * and /v1/cases read them (their CSV exports too); 0 after a 400 naming
 * the bad one.  limit and cursor are the caller's. */
struct td_queue_filter;
struct td_case_filter;
int td__queue_filter_query(struct td__req *r, struct td_queue_filter *f);
int td__case_filter_query(struct td__req *r, struct td_case_filter *f);

/* Lists answer offsets; clients see them as an opaque cursor: copies an
 * integer "next_offset" of out into a string "next_cursor". */
void td__cursorise(json_t *out);

/* ---- metrics (metrics.c) ------------------------------------------------ */

struct td__metrics;
struct td__metrics *td__metrics_new(size_t nroutes);
void td__metrics_free(struct td__metrics *m);
/* route_index -1 counts as "unmatched". */
void td__metrics_request(struct td__metrics *m, int route_index, unsigned status,
                         uint64_t duration_ns);
void td__metrics_ingested(struct td__metrics *m, int severity);
/* Render the Prometheus text exposition format into out. */
int td__metrics_render(struct td__metrics *m, int inflight, struct td_buf *out);

/* ---- logs (log.c) ------------------------------------------------------- */

enum { TD__LOG_DEBUG, TD__LOG_INFO, TD__LOG_WARN, TD__LOG_ERROR };
int td__log_level_from_name(const char *name);
/* One line for a finished request. */
void td__log_request(struct td_server *s, const struct td__req *r, uint64_t duration_ns);
/* One line for a server event: `event` is a fixed word ("listening",
 * "shutdown"); `detail` a short operator-facing note (never message text). */
void td__log_event(struct td_server *s, int level, const char *event, const char *detail);

uint64_t td__now_ns(void);

/* RFC 3339 with a zone -> epoch seconds; 0 ok, -1 bad. */
int td__http_parse_time(const char *s, int64_t *out);

/* ---- guard.c ------------------------------------------------------------- */

struct td__limiter;
struct td__conns;

/* The client's address: the peer, or X-Forwarded-For's last entry when the
 * peer is the trusted proxy. */
void td__client_address(struct td__req *r, char *buf, size_t size);
/* Normalise a textual IP address; 0 ok, -1 not an address. */
int td__normalise_ip(const char *s, char *out, size_t size);
/* Token buckets per source: NULL on OOM. */
struct td__limiter *td__limiter_new(unsigned per_minute, unsigned burst);
void td__limiter_free(struct td__limiter *l);
/* Take one token for source: 0 = allowed, else seconds to wait. */
unsigned td__limiter_take(struct td__limiter *l, const char *source);
/* Connection tracking and the reaper thread (deadline_s per request). */
struct td__conns *td__conns_new(struct td_server *s, unsigned deadline_s);
void td__conns_free(struct td__conns *c);
/* Connections cut at the deadline so far. */
size_t td__conns_cut(struct td__conns *c);
void td__conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode toe);
void td__conn_receiving(struct td_server *s, struct MHD_Connection *conn, int receiving);

/* ---- handlers ------------------------------------------------------------ */

td__handler td__h_healthz, td__h_metrics, td__h_perspective_analyze;
/* handlers_auth.c */
td__handler td__h_login, td__h_logout, td__h_me, td__h_users_list, td__h_users_add,
    td__h_users_patch, td__h_keys_create, td__h_keys_list, td__h_key_revoke, td__h_offices_list;
/* handlers_ingest.c */
td__handler td__h_messages_post, td__h_messages_batch, td__h_upload_get;
/* handlers_retention.c */
td__handler td__h_retention_get, td__h_retention_put, td__h_retention_apply, td__h_sender_erase;
/* handlers_alerts.c */
td__handler td__h_alert_recipients_list, td__h_alert_recipients_add, td__h_alert_rules_list,
    td__h_alert_rules_add, td__h_alerts_list, td__h_alert_ack, td__h_ack_page, td__h_ack_post;
/* handlers_feedback.c */
td__handler td__h_feedback_list, td__h_feedback_revoke;
/* handlers_triage.c */
td__handler td__h_queue, td__h_message_get, td__h_message_original, td__h_message_review,
    td__h_message_escalate, td__h_message_dismiss, td__h_message_reopen, td__h_sender_history;
/* handlers_bundle.c (issue 10: evidence bundles and reports) */
td__handler td__h_case_bundle, td__h_queue_csv, td__h_cases_csv;
/* An anonymous temporary file under the data directory (unlinked at once:
 * it goes when closed); -1 with err filled on failure. */
int td__temp_fd(struct td_server *s, struct td_error *err);
/* handlers_cases.c */
td__handler td__h_cases_create, td__h_cases_list, td__h_case_get, td__h_case_patch, td__h_case_link,
    td__h_case_note, td__h_case_timeline, td__h_case_evidence_add, td__h_evidence_get,
    td__h_evidence_content;

/* ---- the web desk (src/web/web.h) ---------------------------------------- */

struct td__web;
/* Load the static files from <home>/web/static and make the CSRF key;
 * NULL on OOM (a missing folder only leaves the assets 404). */
struct td__web *td__web_new(struct td_server *s, const char *home);
void td__web_free(struct td__web *w);
/* 1 when the path is the web desk's (not /v1..., /healthz, /metrics). */
int td__web_owns(const char *path);
/* Answer a web desk request (r->web is set). */
void td__web_dispatch(struct td__req *r);
/* A message was filed for office_id: wake the office's live queues. */
void td__web_notify(struct td_server *s, int64_t office_id, int64_t message_id, int severity);

/* ---- the Perspective mapping (perspective.c; the rest in perspective_int.h) */

/* Byte offset -> UTF-16 code unit offset in UTF-8 text (invalid bytes count
 * one unit each, as U+FFFD would). */
size_t td__utf16_offset(const char *text, size_t len, size_t byte);

#endif
