/*
 * test_server_http.c - the server core on a real loopback socket, driven by
 * libcurl: routing answers (404/405 JSON errors), the body cap (413 by
 * Content-Length and by a chunked upload), malformed JSON naming the byte,
 * credentials (401), a missing analyser (503), /healthz, /metrics counting
 * what was asked, one JSON log line per request without message text, and
 * a shutdown that lets an in-flight request finish.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "server/server_int.h"

struct fixture {
    struct td_server *srv;
    FILE *log;
    char *logbuf;
    size_t loglen;
    char base[64];
    char metrics[64]; /* the metrics_listen address */
};

struct answer {
    long status;
    struct td_buf body;
    char allow[64];
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct answer *a = ud;
    return td_buf_append(&a->body, p, size * n) == TD_OK ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct answer *a = ud;
    size_t len = size * n;
    if (len > 7 && !strncasecmp(p, "Allow: ", 7)) {
        size_t m = len - 7;
        while (m && (p[7 + m - 1] == '\r' || p[7 + m - 1] == '\n'))
            m--;
        if (m >= sizeof a->allow)
            m = sizeof a->allow - 1;
        memcpy(a->allow, p + 7, m);
        a->allow[m] = '\0';
    }
    return len;
}

struct upload {
    size_t left;
};

static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
    struct upload *u = ud;
    size_t k = size * n < u->left ? size * n : u->left;
    memset(p, 'x', k);
    u->left -= k;
    return k;
}

/* method, path, body (NULL: none), extra header (NULL: none).  chunked > 0
 * streams that many bytes with no Content-Length. */
static json_t *call(struct fixture *f, const char *method, const char *path, const char *body,
                    const char *header, size_t chunked, struct answer *a)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", f->base, path);
    memset(a, 0, sizeof *a);
    td_buf_init(&a->body, 1 << 20);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *h = NULL;
    struct upload up = {chunked};
    if (header)
        h = curl_slist_append(h, header);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    if (chunked) {
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
    } else if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    CURLcode cc = curl_easy_perform(c);
    /* A server may close the connection after answering 413 mid-upload;
     * curl then reports a send error but has the status. */
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    if (cc != CURLE_OK && a->status == 0)
        fail_msg("curl: %s", curl_easy_strerror(cc));
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    json_error_t je;
    return a->body.len ? json_loadb(a->body.data, a->body.len, 0, &je) : NULL;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct td_server_config c;
    struct td_error err;
    td_server_config_init(&c);
    snprintf(c.listen, sizeof c.listen, "127.0.0.1:0");
    c.max_body = 4096;
    c.shutdown_grace_ms = 5000;
    snprintf(c.metrics_listen, sizeof c.metrics_listen, "127.0.0.1:0");
    f->log = open_memstream(&f->logbuf, &f->loglen);
    td_error_clear(&err);
    if (td_server_start(&c, NULL, NULL, f->log, &f->srv, &err) != TD_OK)
        return -1;
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%u", td_server_port(f->srv));
    snprintf(f->metrics, sizeof f->metrics, "http://127.0.0.1:%u", td_server_metrics_port(f->srv));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    td_server_free(f->srv);
    fclose(f->log);
    free(f->logbuf);
    free(f);
    return 0;
}

static const char *err_field(json_t *j, const char *k)
{
    return json_string_value(json_object_get(json_object_get(j, "error"), k));
}

static void test_health_and_routing(void **state)
{
    struct fixture *f = *state;
    struct answer a;
    json_t *j = call(f, "GET", "/healthz", NULL, NULL, 0, &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
    assert_true(json_is_false(json_object_get(j, "analyser")));
    json_decref(j);
    td_buf_release(&a.body);

    j = call(f, "GET", "/v1/nothing-here", NULL, NULL, 0, &a);
    assert_int_equal(a.status, 404);
    assert_string_equal(err_field(j, "status"), "NOT_FOUND");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "error"), "code")), 404);
    json_decref(j);
    td_buf_release(&a.body);

    j = call(f, "DELETE", "/healthz", NULL, NULL, 0, &a);
    assert_int_equal(a.status, 405);
    assert_string_equal(a.allow, "GET");
    json_decref(j);
    td_buf_release(&a.body);
}

static const char *analyze = "/v1alpha1/comments:analyze";

static void test_body_cap_and_json_errors(void **state)
{
    struct fixture *f = *state;
    struct answer a;
    /* Over the cap by Content-Length: refused before the body is read. */
    char *big = malloc(5000);
    memset(big, 'a', 4999);
    big[4999] = '\0';
    json_t *j = call(f, "POST", analyze, big, NULL, 0, &a);
    assert_int_equal(a.status, 413);
    assert_string_equal(err_field(j, "status"), "PAYLOAD_TOO_LARGE");
    json_decref(j);
    td_buf_release(&a.body);
    free(big);

    /* Chunked (no length) past the cap: 413 as the cap is crossed. */
    j = call(f, "POST", analyze, NULL, NULL, 100000, &a);
    assert_int_equal(a.status, 413);
    json_decref(j);
    td_buf_release(&a.body);

    /* Credentials come before the body is looked at. */
    j = call(f, "POST", analyze, "{}", NULL, 0, &a);
    assert_int_equal(a.status, 401);
    json_decref(j);
    td_buf_release(&a.body);
}

/* Send raw bytes and read the answer (bounded: 5 s, 8 KiB). */
static void raw_call(struct fixture *f, const char *req, char *out, size_t size)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)td_server_port(f->srv));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    size_t n = 0;
    ssize_t k;
    while (n + 1 < size && (k = read(fd, out + n, size - 1 - n)) > 0)
        n += (size_t)k;
    out[n] = '\0';
    close(fd);
}

/* Issue 8: two framings of one body (the request-smuggling shapes) are
 * refused with a JSON 400, before any handler runs. */
static void test_conflicting_framing_is_refused(void **state)
{
    struct fixture *f = *state;
    char out[8192];
    raw_call(f,
             "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: 2\r\nContent-Length: 40\r\nConnection: close\r\n\r\n{}",
             out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 400"));
    assert_non_null(strstr(out, "application/json"));
    assert_non_null(strstr(out, "conflicting Content-Length"));
    raw_call(f,
             "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: 7\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
             "2\r\n{}\r\n0\r\n\r\n",
             out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 400"));
    assert_non_null(strstr(out, "Transfer-Encoding"));
    /* The same length twice is one framing: not refused for that. */
    raw_call(f,
             "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n"
             "Connection: close\r\n\r\n",
             out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 200"));
}

static void test_perspective_open_without_analyser(void **state)
{
    struct fixture *f = *state;
    struct answer a;
    f->srv->cfg.perspective_open = 1;
    /* Malformed JSON: 400 naming the byte. */
    json_t *j = call(f, "POST", analyze, "{\"comment\": {\"text\": \"hi\"},, }",
                     "Content-Type: application/json", 0, &a);
    assert_int_equal(a.status, 400);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "error"), "byte")), 28);
    json_decref(j);
    td_buf_release(&a.body);

    /* Valid request, unknown attribute: 400 naming the field. */
    j = call(f, "POST", analyze,
             "{\"comment\":{\"text\":\"hi\"},\"requestedAttributes\":{\"SPAM\":{}}}",
             "Content-Type: application/json", 0, &a);
    assert_int_equal(a.status, 400);
    assert_string_equal(err_field(j, "field"), "requestedAttributes");
    json_decref(j);
    td_buf_release(&a.body);

    /* Valid request, no analyser loaded: 503. */
    j = call(f, "POST", analyze,
             "{\"comment\":{\"text\":\"hi\"},\"requestedAttributes\":{\"THREAT\":{}}}",
             "Content-Type: application/json", 0, &a);
    assert_int_equal(a.status, 503);
    json_decref(j);
    td_buf_release(&a.body);

    /* The wrong media type. */
    j = call(f, "POST", analyze, "<x/>", "Content-Type: application/xml", 0, &a);
    assert_int_equal(a.status, 415);
    json_decref(j);
    td_buf_release(&a.body);
    f->srv->cfg.perspective_open = 0;
}

static void test_metrics_and_logs(void **state)
{
    struct fixture *f = *state;
    struct answer a;
    json_t *j = call(f, "GET", "/healthz", NULL, NULL, 0, &a);
    json_decref(j);
    td_buf_release(&a.body);
    /* A client can read an answer before the server thread has counted the
     * request done; let the counts settle so in-flight is exactly 0. */
    for (int i = 0; i < 200 && atomic_load(&f->srv->inflight) != 0; i++)
        usleep(5000);
    /* Counts of threats per office are not public: on the main address
     * /metrics needs a login... */
    j = call(f, "GET", "/metrics", NULL, NULL, 0, &a);
    assert_int_equal(a.status, 401);
    json_decref(j);
    td_buf_release(&a.body);
    for (int i = 0; i < 200 && atomic_load(&f->srv->inflight) != 0; i++)
        usleep(5000);
    /* ...and a scraper reads it on the metrics address. */
    char main_base[64];
    snprintf(main_base, sizeof main_base, "%s", f->base);
    snprintf(f->base, sizeof f->base, "%s", f->metrics);
    call(f, "GET", "/metrics", NULL, NULL, 0, &a);
    snprintf(f->base, sizeof f->base, "%s", main_base);
    assert_int_equal(a.status, 200);
    const char *m = a.body.data;
    assert_non_null(strstr(
        m, "threatdesk_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"}"));
    assert_non_null(strstr(m, "threatdesk_http_requests_total{route=\"unmatched\""));
    assert_non_null(strstr(m, "threatdesk_http_requests_total{route=\"/v1alpha1/comments:analyze\","
                              "method=\"POST\",status=\"413\"}"));
    assert_non_null(
        strstr(m, "threatdesk_http_request_duration_seconds_bucket{route=\"/healthz\""));
    assert_non_null(strstr(m, "threatdesk_http_requests_in_flight 0"));
    assert_non_null(strstr(m, "threatdesk_messages_ingested_total{severity=\"critical\"} 0"));
    td_buf_release(&a.body);

    /* Every request left one JSON line; none carries the text "hi". */
    fflush(f->log);
    size_t lines = 0;
    char *save = NULL;
    char *copy = strndup(f->logbuf, f->loglen);
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        assert_non_null(o);
        assert_non_null(json_object_get(o, "time"));
        assert_non_null(json_object_get(o, "level"));
        if (json_object_get(o, "status")) {
            lines++;
            assert_non_null(json_object_get(o, "request_id"));
            assert_non_null(json_object_get(o, "duration_ms"));
            assert_non_null(json_object_get(o, "method"));
        }
        json_decref(o);
    }
    assert_null(strstr(f->logbuf, "\"hi\""));
    free(copy);
    assert_true(lines >= 3);
}

/* Shutdown waits for a request in flight: a slow chunked upload started
 * before td_server_shutdown() still gets its answer. */
struct slow {
    struct fixture *f;
    long status;
};

static size_t slow_read(char *p, size_t size, size_t n, void *ud)
{
    int *calls = ud;
    if (*calls >= 3)
        return 0;
    (*calls)++;
    usleep(200 * 1000);
    memcpy(p, "{}", 2);
    return size * n >= 2 ? 2 : 0;
}

static void *slow_client(void *arg)
{
    struct slow *s = arg;
    char url[128];
    int calls = 0;
    snprintf(url, sizeof url, "%s/v1alpha1/comments:analyze", s->f->base);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "POST");
    curl_easy_setopt(c, CURLOPT_READFUNCTION, slow_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &calls);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    struct answer a;
    memset(&a, 0, sizeof a);
    td_buf_init(&a.body, 1 << 16);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK)
        fprintf(stderr, "slow client: %s\n", curl_easy_strerror(cc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->status);
    td_buf_release(&a.body);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

static void test_graceful_shutdown(void **state)
{
    struct fixture *f = *state;
    struct slow s = {f, 0};
    pthread_t t;
    /* Earlier requests may still be finishing on their threads (the client
     * can read an answer before the server has counted it done). */
    for (int i = 0; i < 200 && atomic_load(&f->srv->inflight) != 0; i++)
        usleep(5000);
    assert_int_equal(atomic_load(&f->srv->inflight), 0);
    pthread_create(&t, NULL, slow_client, &s);
    /* Wait until the request is in flight. */
    for (int i = 0; i < 200 && atomic_load(&f->srv->inflight) == 0; i++)
        usleep(5000);
    assert_true(atomic_load(&f->srv->inflight) > 0);
    td_server_shutdown(f->srv);
    pthread_join(t, NULL);
    /* It was answered (401: no credentials), not cut off. */
    assert_int_equal(s.status, 401);
    assert_int_equal(atomic_load(&f->srv->inflight), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_and_routing),
        cmocka_unit_test(test_body_cap_and_json_errors),
        cmocka_unit_test(test_conflicting_framing_is_refused),
        cmocka_unit_test(test_perspective_open_without_analyser),
        cmocka_unit_test(test_metrics_and_logs),
        cmocka_unit_test(test_graceful_shutdown),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
