/*
 * http.c - libmicrohttpd glue: the life of one request.
 *
 *   first callback     allocate the td__req (the per-request pool), count it
 *                      in flight, refuse early: a Content-Length over the cap
 *                      gets 413 before the body is read (and before curl's
 *                      "Expect: 100-continue" is answered), a draining server
 *                      503, conflicting Content-Length headers or
 *                      Content-Length with Transfer-Encoding 400 (the
 *                      request-smuggling shapes)
 *   body callbacks     append to a capped td_buf; past the cap -> 413
 *   last callback      route (router.c), authenticate + role check (auth.c),
 *                      run the handler, queue the JSON response
 *   completed          log one line, count metrics, free everything
 *
 * libmicrohttpd runs one thread per connection with the number of
 * connections capped, so handlers may block on the store.  Responses are
 * built only from what the handler left in the td__req: a handler never
 * talks to libmicrohttpd.
 *
 * The whole-request deadline and the per-address connection cap are
 * guard.c's; plain HTTP on a non-loopback address is refused at start
 * unless insecure_http (TLS otherwise: MHD_USE_TLS with the PEM files).
 * An account still on its one-time password may only change it, read
 * /v1/me and log out: every other route answers 403 PASSWORD_CHANGE_REQUIRED.
 *
 * Shutdown (td_server_shutdown): stop listening (MHD_quiesce_daemon), wait
 * for the in-flight counter to reach zero or the grace period to pass,
 * then MHD_stop_daemon, which closes idle keep-alive connections.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "server/perspective_int.h"
#include "server/server_int.h"
#include "threatdesk/analyse.h"

/* auth.c */
int td__authenticate(struct td__req *r);

const char *td__query(const struct td__req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *td__header(const struct td__req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* ---- analysis scratch pool -------------------------------------------- */

struct td_analysis_ctx *td__ctx_take(struct td_server *s)
{
    struct td_analysis_ctx *ctx = NULL;
    if (!s->analyser)
        return NULL;
    pthread_mutex_lock(&s->pool_lock);
    if (s->nctx_free)
        ctx = s->ctx_free[--s->nctx_free];
    pthread_mutex_unlock(&s->pool_lock);
    if (!ctx && td_analysis_ctx_new(s->analyser, &ctx) != TD_OK)
        return NULL;
    return ctx;
}

void td__ctx_give(struct td_server *s, struct td_analysis_ctx *ctx)
{
    if (!ctx)
        return;
    pthread_mutex_lock(&s->pool_lock);
    if (s->nctx_free == s->ctx_cap) {
        size_t cap = s->ctx_cap ? s->ctx_cap * 2 : 8;
        void **p = realloc(s->ctx_free, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&s->pool_lock);
            td_analysis_ctx_free(ctx);
            return;
        }
        s->ctx_free = p;
        s->ctx_cap = cap;
    }
    s->ctx_free[s->nctx_free++] = ctx;
    pthread_mutex_unlock(&s->pool_lock);
}

/* ---- one request ------------------------------------------------------- */

static void req_free(struct td__req *r)
{
    if (r->has_file)
        close(r->file_fd);
    json_decref(r->json);
    td_buf_release(&r->body);
    td_buf_release(&r->raw);
    if (r->stream && r->stream_free)
        r->stream_free(r->stream_cls); /* never handed to libmicrohttpd */
    free(r);
}

/* The web desk's headers: the page's security policy, its cookie and
 * redirect (src/web/ fills the fields). */
static void web_headers(struct td__req *r, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; style-src 'self'; "
                            "img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
                            "form-action 'self'; frame-ancestors 'none'");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
    if (r->set_cookie[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie);
    if (r->location[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
    if (r->etag[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
}

/* A streamed answer (the web desk's Server-Sent Events): libmicrohttpd
 * calls r->stream for the bytes and r->stream_free at the end. */
static enum MHD_Result send_stream(struct td__req *r)
{
    struct MHD_Response *sr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, r->stream,
                                                                r->stream_cls, r->stream_free);
    if (!sr) {
        r->stream_free(r->stream_cls);
        r->stream = NULL;
        return MHD_NO;
    }
    r->stream = NULL; /* the response owns stream_cls now */
    MHD_add_response_header(sr, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(sr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(sr, "X-Request-Id", r->id);
    web_headers(r, sr);
    enum MHD_Result sret = MHD_queue_response(r->conn, r->status, sr);
    MHD_destroy_response(sr);
    return sret;
}

static enum MHD_Result send_reply(struct td__req *r)
{
    char *body;
    size_t len;
    const char *type;
    if (r->stream)
        return send_stream(r);
    if (!r->status) {
        td__reply_error(r, 500, NULL, -1, "handler gave no answer");
    }
    if (r->has_file && !r->json) {
        /* A file answer: libmicrohttpd streams it and closes the fd. */
        struct MHD_Response *fr = MHD_create_response_from_fd64(r->file_len, r->file_fd);
        if (!fr)
            return MHD_NO;
        r->has_file = 0;
        MHD_add_response_header(fr, MHD_HTTP_HEADER_CONTENT_TYPE,
                                r->raw_type ? r->raw_type : "application/octet-stream");
        MHD_add_response_header(fr, "X-Request-Id", r->id);
        MHD_add_response_header(fr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (r->disposition[0]) {
            MHD_add_response_header(fr, "Content-Disposition", r->disposition);
            MHD_add_response_header(fr, "X-Content-Type-Options", "nosniff");
        }
        if (r->sha256[0])
            MHD_add_response_header(fr, "X-Content-SHA256", r->sha256);
        enum MHD_Result fret = MHD_queue_response(r->conn, r->status, fr);
        MHD_destroy_response(fr);
        return fret;
    }
    if (r->json) {
        body = json_dumps(r->json, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        if (!body) {
            r->status = 500;
            body = strdup("{\"error\":{\"code\":500,\"status\":\"INTERNAL\","
                          "\"message\":\"out of memory\"}}");
            if (!body)
                return MHD_NO;
        }
        len = strlen(body);
        type = "application/json";
    } else {
        body = td_buf_detach(&r->raw, &len);
        if (!body) {
            body = strdup("");
            if (!body)
                return MHD_NO;
        }
        type = r->raw_type ? r->raw_type : "application/octet-stream";
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, r->cache ? r->cache : "no-store");
    if (r->web)
        web_headers(r, resp);
    else if (r->location[0]) /* an API resource made or queued (202) */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
    if (r->allow[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->sha256[0])
        MHD_add_response_header(resp, "X-Content-SHA256", r->sha256);
    if (r->disposition[0]) {
        MHD_add_response_header(resp, "Content-Disposition", r->disposition);
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    }
    if (r->retry_after) {
        char ra[16];
        snprintf(ra, sizeof ra, "%u", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (r->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"threatdesk\"");
    enum MHD_Result ret = MHD_queue_response(r->conn, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Route as soon as the request line is known, so an early answer (413,
 * 404) is counted against its route. */
static void route(struct td__req *r)
{
    int known;
    int i = td__route_match(r, r->method, r->path, &known, r->allow, sizeof r->allow);
    if (i < 0) {
        if (!known && td__web_owns(r->path)) {
            r->web = 1; /* the web desk routes it (src/web/web.c) */
            r->allow[0] = '\0';
            return;
        }
        if (known)
            td__reply_error(r, 405, NULL, -1, "%s is not allowed on %s (allowed: %s)", r->method,
                            r->path, r->allow);
        else {
            r->allow[0] = '\0';
            td__reply_error(r, 404, NULL, -1, "no such endpoint");
        }
        return;
    }
    r->allow[0] = '\0';
    r->route_index = i;
    r->route = &td__routes[i];
}

/* Routes open to an account still on its one-time password. */
static int allowed_before_change(const struct td__req *r)
{
    const char *p = r->route->pattern;
    if (!strcmp(p, "/v1/me") || !strcmp(p, "/v1/logout"))
        return 1;
    return !strcmp(p, "/v1/users/{name}") && !strcmp(r->route->method, "PATCH") &&
           !strcmp(td__param(r, "name"), r->actor.username);
}

static void dispatch(struct td__req *r)
{
    if (r->web) {
        td__web_dispatch(r);
        return;
    }
    if (!r->route)
        return; /* answered by route() */
    if (r->route->roles != TD__AUTH_NONE) {
        if (!td__authenticate(r))
            return; /* answered 401 / 429 / 503 */
        if (!(r->route->roles & r->caller.role)) {
            td__reply_error(r, 403, NULL, -1, "the %s role may not call %s %s", r->caller.role_name,
                            r->route->method, r->route->pattern);
            return;
        }
        if (r->caller.authenticated && r->actor.must_change && !allowed_before_change(r)) {
            td__reply_error(r, 403, "password", -1,
                            "change the one-time password first: PATCH /v1/users/%s with "
                            "{\"password\": \"...\"}, then log in again",
                            r->actor.username);
            json_object_set_new(json_object_get(r->json, "error"), "reason",
                                json_string("PASSWORD_CHANGE_REQUIRED"));
            return;
        }
    }
    r->route->handler(r);
}

/* Count the values of one header (libmicrohttpd keeps duplicates). */
struct header_count {
    const char *name;
    unsigned n;
    const char *first;
    int differ;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    struct header_count *h = cls;
    (void)kind;
    if (key && !strcasecmp(key, h->name)) {
        if (h->n++ == 0)
            h->first = value;
        else if (!value || !h->first || strcmp(value, h->first) != 0)
            h->differ = 1;
    }
    return MHD_YES;
}

/* Content-Length twice with different values, or with Transfer-Encoding:
 * two framings a proxy and this server may read differently. */
static const char *framing_conflict(struct MHD_Connection *conn)
{
    struct header_count cl = {MHD_HTTP_HEADER_CONTENT_LENGTH, 0, NULL, 0};
    struct header_count te = {MHD_HTTP_HEADER_TRANSFER_ENCODING, 0, NULL, 0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &cl);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &te);
    if (cl.differ)
        return "conflicting Content-Length headers";
    if (cl.n && te.n)
        return "Content-Length together with Transfer-Encoding";
    return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct td_server *s = cls;
    struct td__req *r = *con_cls;

    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->srv = s;
        r->conn = conn;
        r->method = method;
        r->path = url;
        r->route_index = -1;
        r->start_ns = td__now_ns();
        td_buf_init(&r->body, s->cfg.max_body);
        td_buf_init(&r->raw, (size_t)64 << 20);
        unsigned char rnd[8];
        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(r->id, sizeof r->id, rnd, sizeof rnd);
        atomic_fetch_add(&s->inflight, 1);
        *con_cls = r;

        route(r);
        if (atomic_load(&s->stopping)) {
            r->retry_after = 1;
            td__reply_error(r, 503, NULL, -1, "server is shutting down");
            r->answered_early = 1;
            return send_reply(r);
        }
        const char *conflict = framing_conflict(conn);
        if (conflict) {
            td__reply_error(r, 400, NULL, -1, "%s: refused", conflict);
            r->answered_early = 1;
            return send_reply(r);
        }
        const char *cl = td__header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
        uint64_t n;
        if (cl && td__parse_u64(cl, UINT64_MAX, &n) == 0 && n > s->cfg.max_body) {
            td__reply_error(r, 413, NULL, -1, "request body of %llu bytes exceeds the %zu-byte cap",
                            (unsigned long long)n, s->cfg.max_body);
            r->body_too_big = 1;
            r->answered_early = 1;
            return send_reply(r);
        }
        return MHD_YES;
    }

    if (*upload_data_size) {
        /* Past the cap on a chunked upload (no Content-Length to refuse
         * early): libmicrohttpd cannot queue a response mid-body, so the
         * rest is read and dropped - never stored - and 413 answered at the
         * end.  The idle timeout still bounds a client that never stops. */
        if (!r->body_too_big && td_buf_append(&r->body, upload_data, *upload_data_size) != TD_OK) {
            r->body_too_big = 1;
            td_buf_release(&r->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->answered_early)
        return MHD_YES;
    /* The whole request is in: the deadline stops while it is handled. */
    td__conn_receiving(s, conn, 0);
    if (r->body_too_big) {
        td__reply_error(r, 413, NULL, -1, "request body exceeds the %zu-byte cap", s->cfg.max_body);
        return send_reply(r);
    }

    dispatch(r);
    return send_reply(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct td_server *s = cls;
    struct td__req *r = *con_cls;
    if (!r)
        return;
    uint64_t dur = td__now_ns() - r->start_ns;
    if (!r->status)
        r->status = 499; /* the client went away before an answer */
    td__metrics_request(s->metrics, r->route_index, r->status, dur);
    td__log_request(s, r, dur);
    req_free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->inflight, 1);
    /* A kept-alive connection gets a new deadline for its next request. */
    td__conn_receiving(s, conn, 1);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    struct td_server *s = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    td__log_event(s, TD__LOG_WARN, "http", msg);
}

/* ---- lifecycle ---------------------------------------------------------- */

static int resolve_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen,
                          struct td_error *err)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    uint64_t port;
    if (!colon || (size_t)(colon - listen) >= sizeof host ||
        td__parse_u64(colon + 1, 65535, &port) != 0) {
        td_error_field(err, "listen");
        return td_error_set(err, TD_EINVAL, "listen must be host:port, not '%s'", listen);
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    /* "[::1]:8080" */
    char *h = host;
    if (h[0] == '[') {
        h++;
        size_t hl = strlen(h);
        if (hl && h[hl - 1] == ']')
            h[hl - 1] = '\0';
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gai = getaddrinfo(h[0] ? h : NULL, colon + 1, &hints, &res);
    if (gai != 0 || !res) {
        td_error_field(err, "listen");
        return td_error_set(err, TD_EINVAL, "cannot resolve listen host '%s': %s", h,
                            gai_strerror(gai));
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    freeaddrinfo(res);
    return TD_OK;
}

static int is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss->ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
    return 0;
}

/* A PEM file into memory (libmicrohttpd takes certificate and key as
 * strings); capped at 1 MiB. */
static int read_pem(const char *path, const char *what, char **out, struct td_error *err)
{
    struct td_buf b;
    char chunk[4096];
    size_t n;
    td_buf_init(&b, (size_t)1 << 20);
    FILE *f = fopen(path, "rb");
    if (!f) {
        td_error_field(err, what);
        return td_error_set(err, TD_EIO, "%s: %s", path, strerror(errno));
    }
    int rc = TD_OK;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = td_buf_append(&b, chunk, n);
    if (!rc && ferror(f))
        rc = TD_EIO;
    fclose(f);
    if (!rc)
        rc = td_buf_putc(&b, '\0');
    if (rc || b.len < 2) {
        td_buf_release(&b);
        td_error_field(err, what);
        return td_error_set(err, TD_EIO, "%s: cannot read it (or empty)", path);
    }
    size_t len;
    *out = td_buf_detach(&b, &len);
    return TD_OK;
}

/* The metrics listener: /metrics (and /healthz) only, no credentials -
 * meant for a loopback or private address a scraper reaches. */
static enum MHD_Result on_metrics(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct td_server *s = cls;
    struct td_buf out;
    unsigned status = 200;
    const char *type = "text/plain; version=0.0.4; charset=utf-8";
    (void)version;
    (void)upload_data;
    if (!*con_cls) {
        *con_cls = s; /* answer once the (ignored) body is read */
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    td_buf_init(&out, (size_t)8 << 20);
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        status = 405;
        type = "application/json";
        td_buf_printf(&out, "{\"error\":{\"code\":405,\"status\":\"METHOD_NOT_ALLOWED\","
                            "\"message\":\"GET only\"}}");
    } else if (!strcmp(url, "/metrics")) {
        if (td__metrics_render(s->metrics, atomic_load(&s->inflight), &out) != TD_OK)
            status = 500;
    } else if (!strcmp(url, "/healthz")) {
        type = "application/json";
        td_buf_printf(&out, "{\"status\":\"%s\"}", atomic_load(&s->stopping) ? "draining" : "ok");
    } else {
        status = 404;
        type = "application/json";
        td_buf_printf(&out, "{\"error\":{\"code\":404,\"status\":\"NOT_FOUND\","
                            "\"message\":\"only /metrics and /healthz here\"}}");
    }
    size_t len;
    char *body = td_buf_detach(&out, &len);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(body ? len : 0, body ? body : (void *)"",
                                        body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int start_metrics(struct td_server *s, const struct td_server_config *c,
                         struct td_error *err)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    int rc = resolve_listen(c->metrics_listen, &ss, &sslen, err);
    if (rc) {
        td_error_field(err, "metrics_listen");
        return rc;
    }
    if (!is_loopback(&ss) && !s->tls_cert_pem && !c->insecure_http) {
        td_error_field(err, "metrics_listen");
        return td_error_set(err, TD_EINVAL,
                            "metrics_listen %s is not a loopback address: configure TLS or "
                            "insecure_http",
                            c->metrics_listen);
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (s->tls_cert_pem)
        flags |= MHD_USE_TLS;
    s->metrics_mhd =
        s->tls_cert_pem
            ? MHD_start_daemon(flags, 0, NULL, NULL, on_metrics, s, MHD_OPTION_EXTERNAL_LOGGER,
                               mhd_logger, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                               MHD_OPTION_CONNECTION_LIMIT, (unsigned int)16,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
                               MHD_OPTION_HTTPS_MEM_CERT, s->tls_cert_pem, MHD_OPTION_HTTPS_MEM_KEY,
                               s->tls_key_pem, MHD_OPTION_END)
            : MHD_start_daemon(flags, 0, NULL, NULL, on_metrics, s, MHD_OPTION_EXTERNAL_LOGGER,
                               mhd_logger, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                               MHD_OPTION_CONNECTION_LIMIT, (unsigned int)16,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10, MHD_OPTION_END);
    if (!s->metrics_mhd) {
        td_error_field(err, "metrics_listen");
        return td_error_set(err, TD_ENET, "cannot listen on %s", c->metrics_listen);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->metrics_mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->metrics_port = di ? di->port : 0;
    return TD_OK;
}

int td_server_start(const struct td_server_config *c, struct td_analyser *analyser,
                    struct td_desk *desk, FILE *log, struct td_server **out, struct td_error *err)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    int rc;
    *out = NULL;
    if (sodium_init() < 0)
        return td_error_set(err, TD_ECRYPTO, "libsodium failed to initialise");
    if ((rc = resolve_listen(c->listen, &ss, &sslen, err)) != TD_OK)
        return rc;
    int tls = c->tls_cert[0] || c->tls_key[0];
    if (tls && (!c->tls_cert[0] || !c->tls_key[0])) {
        td_error_field(err, c->tls_cert[0] ? "tls_key" : "tls_cert");
        return td_error_set(err, TD_EINVAL, "TLS needs both tls_cert and tls_key");
    }
    /* Passwords, tokens and threats in clear over a network: only when
     * told so explicitly (a TLS proxy on the same host, say). */
    if (!tls && !c->insecure_http && !is_loopback(&ss)) {
        td_error_field(err, "listen");
        return td_error_set(err, TD_EINVAL,
                            "refusing plain HTTP on non-loopback address %s: give --tls-cert and "
                            "--tls-key, or --insecure-http behind a TLS proxy",
                            c->listen);
    }

    struct td_server *s = calloc(1, sizeof *s);
    if (!s)
        return td_error_set(err, TD_ENOMEM, "out of memory");
    s->cfg = *c;
    s->analyser = analyser;
    s->desk = desk;
    s->log = log ? log : stderr;
    s->log_min_level = td__log_level_from_name(c->log_level);
    if (s->log_min_level < 0)
        s->log_min_level = TD__LOG_INFO;
    pthread_mutex_init(&s->log_lock, NULL);
    pthread_mutex_init(&s->pool_lock, NULL);
    atomic_init(&s->inflight, 0);
    atomic_init(&s->stopping, 0);
    s->metrics = td__metrics_new(td__nroutes);
    s->login_limiter = td__limiter_new(c->login_rate, c->login_burst);
    s->conns = td__conns_new(s, c->request_deadline_s);
    s->web = td__web_new(s, c->home[0] ? c->home : getenv("THREATDESK_HOME"));
    if (!s->metrics || !s->login_limiter || !s->conns || !s->web) {
        rc = td_error_set(err, TD_ENOMEM, "out of memory");
        goto fail;
    }
    if (tls && ((rc = read_pem(c->tls_cert, "tls_cert", &s->tls_cert_pem, err)) ||
                (rc = read_pem(c->tls_key, "tls_key", &s->tls_key_pem, err))))
        goto fail;

    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (tls)
        flags |= MHD_USE_TLS;
    /* The TLS options come last: MHD_OPTION_END ends the list early when
     * there is no TLS. */
    s->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)c->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)c->request_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, td__conn_notify, s, MHD_OPTION_LISTENING_ADDRESS_REUSE,
        (unsigned int)1, tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, s->tls_cert_pem,
        MHD_OPTION_HTTPS_MEM_KEY, s->tls_key_pem, MHD_OPTION_END);
    if (!s->mhd) {
        td_error_field(err, "listen");
        rc = td_error_set(err, TD_ENET, "cannot listen on %s (address in use or not permitted)",
                          c->listen);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : 0;
    if (c->metrics_listen[0] && (rc = start_metrics(s, c, err))) {
        MHD_stop_daemon(s->mhd);
        s->mhd = NULL;
        goto fail;
    }
    {
        char detail[200];
        snprintf(detail, sizeof detail, "%s port %u%s", c->listen, s->port,
                 tls ? " (https)" : " (http)");
        td__log_event(s, TD__LOG_INFO, "listening", detail);
    }
    *out = s;
    return TD_OK;
fail:
    td__web_free(s->web);
    td__conns_free(s->conns);
    td__limiter_free(s->login_limiter);
    free(s->tls_cert_pem);
    free(s->tls_key_pem);
    td__metrics_free(s->metrics);
    pthread_mutex_destroy(&s->log_lock);
    pthread_mutex_destroy(&s->pool_lock);
    free(s);
    return rc;
}

unsigned td_server_port(const struct td_server *s)
{
    return s->port;
}

unsigned td_server_metrics_port(const struct td_server *s)
{
    return s->metrics_port;
}

void td_server_filed(struct td_server *s, int64_t office_id, int64_t message_id, int severity)
{
    if (!s)
        return;
    td__metrics_ingested(s->metrics, severity);
    td__web_notify(s, office_id, message_id, severity);
}

void td_server_shutdown(struct td_server *s)
{
    if (!s || s->shut_down)
        return;
    atomic_store(&s->stopping, 1);
    MHD_socket fd = MHD_quiesce_daemon(s->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    td__log_event(s, TD__LOG_INFO, "draining", NULL);
    uint64_t deadline = td__now_ns() + (uint64_t)s->cfg.shutdown_grace_ms * 1000000u;
    while (atomic_load(&s->inflight) > 0 && td__now_ns() < deadline) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int left = atomic_load(&s->inflight);
    MHD_stop_daemon(s->mhd);
    s->mhd = NULL;
    if (s->metrics_mhd)
        MHD_stop_daemon(s->metrics_mhd);
    s->metrics_mhd = NULL;
    s->shut_down = 1;
    char detail[64];
    snprintf(detail, sizeof detail, "%d requests still in flight at the deadline", left);
    td__log_event(s, left ? TD__LOG_WARN : TD__LOG_INFO, "stopped", left ? detail : NULL);
}

void td_server_free(struct td_server *s)
{
    if (!s)
        return;
    td_server_shutdown(s);
    for (size_t i = 0; i < s->nctx_free; i++)
        td_analysis_ctx_free(s->ctx_free[i]);
    free(s->ctx_free);
    td__plex_free(s->plex);
    td__web_free(s->web);
    td__metrics_free(s->metrics);
    td__conns_free(s->conns);
    td__limiter_free(s->login_limiter);
    free(s->tls_cert_pem);
    if (s->tls_key_pem)
        sodium_memzero(s->tls_key_pem, strlen(s->tls_key_pem));
    free(s->tls_key_pem);
    pthread_mutex_destroy(&s->log_lock);
    pthread_mutex_destroy(&s->pool_lock);
    free(s);
}
