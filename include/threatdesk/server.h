/*
 * server.h - the HTTP desk: `threatdesk serve` as a library.
 *
 * A thin front door over the same calls the CLI makes: requests are routed
 * from one table (method, path pattern, handler, roles allowed) to handlers
 * that parse JSON with jansson, call the desk (desk.h) or the analyser
 * (analyse.h), and answer JSON.  Every error is a JSON body
 *     {"error": {"code": 400, "status": "INVALID_ARGUMENT",
 *                "message": "...", "field": "...", "index": 3, "byte": 17}}
 * with a 4xx/5xx status (the shape Google APIs use, so Perspective clients
 * understand it too; "field", "index" and "byte" appear when known).
 *
 * Threads: libmicrohttpd runs one thread per connection, with the number of
 * connections capped (config max_connections), so a slow store call blocks
 * only its own client.  Analysis scratch (td_analysis_ctx) is taken from a
 * pool, one per request in flight.
 *
 * Under attack (guard.c): at most per_ip_connections connections from one
 * address; a request must arrive whole within request_deadline_s (the idle
 * timeout alone restarts on every byte); logins are rate-limited per
 * client address before any password is hashed (429), and the desk's
 * bounded hashing pool answers 503 + Retry-After when it is full.
 *
 * Transport: HTTPS when tls_cert and tls_key are set (libmicrohttpd with
 * GnuTLS).  Plain HTTP is served only on a loopback address unless
 * insecure_http is set (behind a TLS-terminating reverse proxy on the same
 * host, say).  With trusted_proxy set, requests from that address take the
 * client address (for rate limits and the audit) from the last entry of
 * X-Forwarded-For.
 *
 * Shutdown: td_server_shutdown() stops accepting, waits for the requests in
 * flight to finish (at most shutdown_grace_ms), then stops.  Handlers only
 * answer 2xx after the desk has committed, so nothing acknowledged is lost
 * even by a SIGKILL.
 */
#ifndef THREATDESK_SERVER_H
#define THREATDESK_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "threatdesk/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct td_analyser;
struct td_desk;

/*
 * Configuration.  Precedence, lowest first: built-in defaults, the config
 * file (key = value lines; '#' comments), environment variables
 * (THREATDESK_<KEY> upper-cased, e.g. THREATDESK_LISTEN), then command-line
 * flags (applied by the caller with td_server_config_set()).
 */
struct td_server_config {
    char listen[128];            /* "host:port"; port 0 picks a free one */
    char db[1024];               /* store path (SQLite file) */
    char data_dir[1024];         /* evidence files live under here */
    char home[1024];             /* data/ and models/ ("" = default) */
    char model[1024];            /* model file ("" = <home>/models/...) */
    size_t max_body;             /* request body cap in bytes (413 past it) */
    unsigned max_connections;    /* concurrent connections (threads) */
    unsigned shutdown_grace_ms;  /* wait for in-flight requests at most this */
    unsigned request_timeout_s;  /* idle connection timeout */
    char log_level[16];          /* "debug", "info", "warn", "error" */
    int perspective_open;        /* 1: comments:analyze needs no key */
    unsigned request_deadline_s; /* a whole request must arrive within this */
    unsigned per_ip_connections; /* concurrent connections from one address */
    unsigned login_rate;         /* login attempts a minute per client address */
    unsigned login_burst;        /* ... of which this many at once */
    unsigned hash_slots;         /* Argon2id hashes at once (desk.h) */
    unsigned hash_queue;         /* logins that may wait for a hashing slot */
    unsigned pwhash_mem_kib;     /* Argon2id memory per new hash (KiB) */
    char tls_cert[1024];         /* PEM certificate chain file ("" = no TLS) */
    char tls_key[1024];          /* PEM private key file */
    int insecure_http;           /* 1: allow plain HTTP on a non-loopback address */
    char trusted_proxy[64];      /* reverse proxy address whose X-Forwarded-For is believed */
    char metrics_listen[128];    /* "host:port": /metrics without login there ("" = none) */
};

/* Defaults: listen 127.0.0.1:8080, db threatdesk.db, data_dir data-store,
 * max_body 16 MiB, max_connections 256, grace 10000 ms, timeout 30 s,
 * request_deadline 20 s, per_ip_connections 32, login_rate 10 a minute
 * with bursts of 5, hash_slots 2, hash_queue 8, pwhash_mem_kib 32768. */
void td_server_config_init(struct td_server_config *c);

/* Set one key ("listen", "db", "data_dir", "home", "model", "max_body",
 * "max_connections", "shutdown_grace_ms", "request_timeout_s", "log_level",
 * "perspective_open", "request_deadline_s", "per_ip_connections",
 * "login_rate", "login_burst", "hash_slots", "hash_queue",
 * "pwhash_mem_kib", "tls_cert", "tls_key", "insecure_http",
 * "trusted_proxy", "metrics_listen").  TD_EINVAL names the key or value in
 * err. */
int td_server_config_set(struct td_server_config *c, const char *key, const char *value,
                         struct td_error *err);

/* Read a config file; err carries the file and line of a bad entry. */
int td_server_config_load_file(struct td_server_config *c, const char *path, struct td_error *err);

/* Apply THREATDESK_LISTEN, THREATDESK_DB, THREATDESK_DATA_DIR,
 * THREATDESK_HOME, THREATDESK_MODEL, THREATDESK_MAX_BODY, ... */
int td_server_config_apply_env(struct td_server_config *c, struct td_error *err);

struct td_server;

/*
 * Start listening.  `analyser` and `desk` are borrowed and must outlive the
 * server; either may be NULL, in which case the routes that need it answer
 * 503.  TD_EINVAL (field "listen") for plain HTTP on a non-loopback
 * address without insecure_http; TD_EIO for an unreadable certificate or
 * key; TD_ENET when the address cannot be bound.  `log` receives one JSON object per line (NULL:
 * stderr).  *out is yours: td_server_shutdown() then td_server_free().
 */
int td_server_start(const struct td_server_config *c, struct td_analyser *analyser,
                    struct td_desk *desk, FILE *log, struct td_server **out, struct td_error *err);

/* The TCP port actually bound (useful with port 0). */
unsigned td_server_port(const struct td_server *s);
/* The port of the metrics listener (0: none). */
unsigned td_server_metrics_port(const struct td_server *s);

/* A message filed outside a request (the OCR workers beside the server,
 * desk.h "scanned letters"): counted in /metrics and announced to the
 * office's open web desks, as a message that came in through the API is.
 * Safe from any thread until td_server_free. */
void td_server_filed(struct td_server *s, int64_t office_id, int64_t message_id, int severity);

/* Stop accepting, let in-flight requests finish (bounded), stop threads.
 * Idempotent. */
void td_server_shutdown(struct td_server *s);

/* Free a shut-down server (shuts it down first if needed).  NULL is ok. */
void td_server_free(struct td_server *s);

#ifdef __cplusplus
}
#endif
#endif
