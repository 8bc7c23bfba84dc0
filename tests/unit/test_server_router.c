/*
 * test_server_router.c - the route table and the path matcher, the
 * Perspective mapping (UTF-16 offsets, request checks, label -> attribute
 * scores) and the configuration layers, without opening a socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/perspective_int.h"
#include "server/server_int.h"
#include "threatdesk/analyse.h"

static void test_pattern_captures(void **state)
{
    (void)state;
    struct td__req r;
    memset(&r, 0, sizeof r);
    assert_true(td__pattern_match("/v1/cases/{id}", "/v1/cases/42", &r));
    assert_string_equal(td__param(&r, "id"), "42");
    assert_string_equal(td__param(&r, "nope"), "");
    assert_false(td__pattern_match("/v1/cases/{id}", "/v1/cases/", NULL));
    assert_false(td__pattern_match("/v1/cases/{id}", "/v1/cases/42/notes", NULL));
    assert_false(td__pattern_match("/v1/cases/{id}", "/v1/case/42", NULL));

    memset(&r, 0, sizeof r);
    assert_true(td__pattern_match("/v1/cases/{id}/evidence", "/v1/cases/7/evidence", &r));
    assert_string_equal(td__param(&r, "id"), "7");

    /* Custom verbs: the capture stops at the LAST ':' of the segment, so an
     * id that itself holds ':' still routes. */
    memset(&r, 0, sizeof r);
    assert_true(td__pattern_match("/v1/messages/{id}:review", "/v1/messages/9:review", &r));
    assert_string_equal(td__param(&r, "id"), "9");
    assert_false(td__pattern_match("/v1/messages/{id}:review", "/v1/messages/9:dismiss", NULL));
    assert_false(td__pattern_match("/v1/messages/{id}:review", "/v1/messages/9", NULL));
    memset(&r, 0, sizeof r);
    assert_true(td__pattern_match("/v1/x/{key}:go", "/v1/x/email:a@b.org:go", &r));
    assert_string_equal(td__param(&r, "key"), "email:a@b.org");

    /* An over-long capture is refused rather than truncated. */
    char path[600] = "/v1/cases/";
    memset(path + 10, '1', 400);
    path[410] = '\0';
    assert_false(td__pattern_match("/v1/cases/{id}", path, &r));
}

static void test_table_sane(void **state)
{
    (void)state;
    assert_true(td__nroutes >= 3);
    for (size_t i = 0; i < td__nroutes; i++) {
        const struct td__route *a = &td__routes[i];
        assert_non_null(a->handler);
        assert_true(a->pattern[0] == '/');
        assert_true(!strcmp(a->method, "GET") || !strcmp(a->method, "POST") ||
                    !strcmp(a->method, "PATCH") || !strcmp(a->method, "DELETE") ||
                    !strcmp(a->method, "PUT"));
        /* No two rows answer the same method+pattern. */
        for (size_t j = i + 1; j < td__nroutes; j++)
            assert_false(!strcmp(a->method, td__routes[j].method) &&
                         !strcmp(a->pattern, td__routes[j].pattern));
        /* Only /healthz, /metrics, /v1/login and an alert's ack link (its
         * token, an HMAC of the alert id, is the credential) are public. */
        if (a->roles == TD__AUTH_NONE)
            assert_true(!strcmp(a->pattern, "/healthz") || !strcmp(a->pattern, "/metrics") ||
                        !strcmp(a->pattern, "/v1/login") || !strcmp(a->pattern, "/v1/ack/{token}"));
        /* The observer may only file reports: never read the queue or a
         * message.  Police never write. */
        if (!strcmp(a->method, "GET") &&
            (!strncmp(a->pattern, "/v1/queue", 9) || !strncmp(a->pattern, "/v1/messages", 12) ||
             !strncmp(a->pattern, "/v1/cases", 9)))
            assert_false(a->roles & TD__ROLE_OBSERVER);
        if (strcmp(a->method, "GET") && strcmp(a->pattern, "/v1/logout") &&
            strcmp(a->pattern, "/v1alpha1/comments:analyze") && a->roles != TD__AUTH_NONE)
            assert_false(a->roles & TD__ROLE_POLICE);
    }
}

/* Every route in the table is described in docs/openapi.yaml. */
static void test_table_documented(void **state)
{
    (void)state;
    FILE *f = fopen(TD_SOURCE_DIR "/docs/openapi.yaml", "r");
    assert_non_null(f);
    static char doc[1 << 20];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = '\0';
    for (size_t i = 0; i < td__nroutes; i++) {
        char key[300];
        snprintf(key, sizeof key, "\n  %s:", td__routes[i].pattern);
        if (!strstr(doc, key))
            fail_msg("route %s %s is not in docs/openapi.yaml", td__routes[i].method,
                     td__routes[i].pattern);
    }
}

static void test_route_match_and_allow(void **state)
{
    (void)state;
    struct td__req r;
    memset(&r, 0, sizeof r);
    char allow[64];
    int known;
    int i = td__route_match(&r, "GET", "/healthz", &known, allow, sizeof allow);
    assert_true(i >= 0);
    assert_string_equal(td__routes[i].pattern, "/healthz");
    /* HEAD is served by the GET route. */
    assert_true(td__route_match(&r, "HEAD", "/healthz", &known, allow, sizeof allow) >= 0);
    i = td__route_match(&r, "DELETE", "/healthz", &known, allow, sizeof allow);
    assert_int_equal(i, -1);
    assert_int_equal(known, 1);
    assert_non_null(strstr(allow, "GET"));
    i = td__route_match(&r, "GET", "/no/such/thing", &known, allow, sizeof allow);
    assert_int_equal(i, -1);
    assert_int_equal(known, 0);
}

static void test_utf16_offsets(void **state)
{
    (void)state;
    /* "a" 1 byte/1 unit, "é" 2 bytes/1 unit, "€" 3 bytes/1 unit,
     * "😀" 4 bytes/2 units (a surrogate pair in JavaScript). */
    const char *t = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";
    size_t len = strlen(t);
    assert_int_equal(td__utf16_offset(t, len, 0), 0);
    assert_int_equal(td__utf16_offset(t, len, 1), 1);
    assert_int_equal(td__utf16_offset(t, len, 3), 2);
    assert_int_equal(td__utf16_offset(t, len, 6), 3);
    assert_int_equal(td__utf16_offset(t, len, 10), 5);
    assert_int_equal(td__utf16_offset(t, len, 11), 6);
    assert_int_equal(td__utf16_offset(t, len, 99), 6); /* clamped */
    /* A truncated sequence counts byte by byte. */
    const char *bad = "\xF0\x9F"
                      "ab";
    assert_int_equal(td__utf16_offset(bad, 4, 4), 4);
}

static json_t *parse(const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    assert_non_null(j);
    return j;
}

static void test_perspective_check(void **state)
{
    (void)state;
    struct td_error err;
    struct {
        const char *body;
        const char *field; /* NULL: accepted */
    } cases[] = {
        {"{\"comment\":{\"text\":\"hi\"},\"requestedAttributes\":{\"THREAT\":{}}}", NULL},
        {"{\"comment\":{\"text\":\"hi\"},\"requestedAttributes\":{\"TOXICITY\":{},"
         "\"PROFANITY\":{\"scoreThreshold\":0.5}},\"languages\":[\"en\"],\"spanAnnotations\":true}",
         NULL},
        {"{\"requestedAttributes\":{\"THREAT\":{}}}", "comment.text"},
        {"{\"comment\":{\"text\":\"\"},\"requestedAttributes\":{\"THREAT\":{}}}", "comment.text"},
        {"{\"comment\":{\"text\":3},\"requestedAttributes\":{\"THREAT\":{}}}", "comment.text"},
        {"{\"comment\":{\"text\":\"hi\"},\"requestedAttributes\":{}}", "requestedAttributes"},
        {"{\"comment\":{\"text\":\"hi\"},\"requestedAttributes\":{\"SPAM\":{}}}",
         "requestedAttributes"},
        {"{\"comment\":{\"text\":\"hi\"},\"requestedAttributes\":{\"NOT_AN_ATTRIBUTE\":{}}}",
         "requestedAttributes"},
        {"{\"comment\":{\"text\":\"hi\"},\"requestedAttributes\":{\"THREAT\":"
         "{\"scoreThreshold\":2}}}",
         "requestedAttributes"},
        {"{\"comment\":{\"text\":\"hi\"},\"requestedAttributes\":{\"THREAT\":{}},"
         "\"languages\":[\"fr\"]}",
         "languages"},
        {"{\"comment\":{\"text\":\"hi\",\"type\":\"MARKDOWN\"},\"requestedAttributes\":"
         "{\"THREAT\":{}}}",
         "comment.type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = parse(cases[i].body);
        struct td__preq q;
        td_error_clear(&err);
        int rc = td__perspective_check(j, &q, &err);
        if (!cases[i].field) {
            assert_int_equal(rc, TD_OK);
            assert_int_equal(q.len, 2);
        } else {
            assert_int_equal(rc, TD_EINVAL);
            assert_string_equal(err.field, cases[i].field);
        }
        td__preq_release(&q);
        json_decref(j);
    }
}

static double summary(json_t *resp, const char *attr)
{
    json_t *v = json_object_get(
        json_object_get(json_object_get(json_object_get(resp, "attributeScores"), attr),
                        "summaryScore"),
        "value");
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static void test_perspective_mapping(void **state)
{
    (void)state;
    /* "I will 😀 kill you" : "kill" is bytes 12..16, UTF-16 units 10..14. */
    const char *text = "I will \xF0\x9F\x98\x80 kill you";
    size_t len = strlen(text);
    struct td_span spans[2] = {
        {12, 16, TD_LABEL_THREAT, TD_SOURCE_GRAMMAR, "kill", 1.0f},
        {0, 1, TD_LABEL_ABUSE, TD_SOURCE_MODEL, "i", 0.1f},
    };
    struct td_verdict v;
    memset(&v, 0, sizeof v);
    v.prob[TD_LABEL_THREAT] = 0.9f;
    v.prob[TD_LABEL_ABUSE] = 0.4f;
    v.prob[TD_LABEL_IDENTITY_HATE] = 0.1f;
    v.prob[TD_LABEL_SEXUAL] = 0.05f;
    v.severity = TD_SEVERITY_HIGH;
    v.spans = spans;
    v.nspans = 2;
    json_t *req = parse("{\"comment\":{\"text\":\"x\"},\"requestedAttributes\":{\"THREAT\":{},"
                        "\"TOXICITY\":{},\"INSULT\":{},\"PROFANITY\":{},\"SEVERE_TOXICITY\":{},"
                        "\"IDENTITY_ATTACK\":{\"scoreThreshold\":0.5}},"
                        "\"spanAnnotations\":true,\"clientToken\":\"t1\"}");
    json_t *resp = td__perspective_response(req, &v, text, len, NULL, NULL);
    assert_non_null(resp);
    assert_true(fabs(summary(resp, "THREAT") - 0.9) < 1e-6);
    assert_true(fabs(summary(resp, "TOXICITY") - 0.9) < 1e-6);
    assert_true(fabs(summary(resp, "INSULT") - 0.4) < 1e-6);
    /* No profane word: an insult without an obscenity is at most a tenth
     * of its abuse probability. */
    assert_true(fabs(summary(resp, "PROFANITY") - 0.04) < 1e-6);
    assert_true(fabs(summary(resp, "SEVERE_TOXICITY") - 0.9 * 0.9) < 1e-6);
    /* Under its threshold: omitted, as the hosted API does. */
    assert_null(json_object_get(json_object_get(resp, "attributeScores"), "IDENTITY_ATTACK"));
    assert_string_equal(json_string_value(json_object_get(resp, "clientToken")), "t1");
    json_t *ss = json_object_get(
        json_object_get(json_object_get(resp, "attributeScores"), "THREAT"), "spanScores");
    assert_int_equal(json_array_size(ss), 2);
    /* whole text: 17 chars + 1 emoji as two units */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ss, 0), "end")), 18);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ss, 1), "begin")), 10);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ss, 1), "end")), 14);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_array_get(ss, 1), "score"), "type")),
        "PROBABILITY");
    json_decref(resp);

    /* The profanity lexicon's score decides PROFANITY, whatever INSULT is. */
    struct td__pspan ps = {7, 11};
    struct td__profanity prof = {0.95, &ps, 1};
    resp = td__perspective_response(req, &v, text, len, &prof, "en");
    assert_true(fabs(summary(resp, "PROFANITY") - 0.95) < 1e-6);
    assert_true(fabs(summary(resp, "INSULT") - 0.4) < 1e-6);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(resp, "detectedLanguages"), 0)), "en");
    json_decref(resp);
    json_decref(req);
}

static void test_config_layers(void **state)
{
    (void)state;
    struct td_server_config c;
    struct td_error err;
    td_server_config_init(&c);
    assert_int_equal(c.max_body, 16u << 20);

    char path[] = "/tmp/td-server-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *txt = "# comment\n\n listen = 127.0.0.1:9999 \nmax_body=2048\ndb = /tmp/x.db\n";
    assert_int_equal(write(fd, txt, strlen(txt)), (ssize_t)strlen(txt));
    close(fd);
    td_error_clear(&err);
    assert_int_equal(td_server_config_load_file(&c, path, &err), TD_OK);
    assert_string_equal(c.listen, "127.0.0.1:9999");
    assert_int_equal(c.max_body, 2048);
    assert_string_equal(c.db, "/tmp/x.db");

    /* The environment wins over the file. */
    setenv("THREATDESK_DB", "/tmp/env.db", 1);
    setenv("THREATDESK_MAX_CONNECTIONS", "7", 1);
    assert_int_equal(td_server_config_apply_env(&c, &err), TD_OK);
    assert_string_equal(c.db, "/tmp/env.db");
    assert_int_equal(c.max_connections, 7);
    setenv("THREATDESK_MAX_CONNECTIONS", "lots", 1);
    assert_int_equal(td_server_config_apply_env(&c, &err), TD_EINVAL);
    assert_string_equal(err.field, "max_connections");
    unsetenv("THREATDESK_DB");
    unsetenv("THREATDESK_MAX_CONNECTIONS");

    /* An unknown key names its line. */
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    txt = "listen = 127.0.0.1:1\nlisten_adress = x\n";
    assert_int_equal(write(fd, txt, strlen(txt)), (ssize_t)strlen(txt));
    close(fd);
    td_error_clear(&err);
    assert_int_equal(td_server_config_load_file(&c, path, &err), TD_EINVAL);
    assert_int_equal(err.line, 2);
    assert_string_equal(err.field, "listen_adress");
    unlink(path);

    assert_int_equal(td_server_config_set(&c, "listen", "nohost", &err), TD_EINVAL);
    assert_int_equal(td_server_config_set(&c, "max_body", "12", &err), TD_EINVAL);
    assert_int_equal(td_server_config_set(&c, "perspective_open", "yes", &err), TD_OK);
    assert_int_equal(c.perspective_open, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pattern_captures),    cmocka_unit_test(test_table_sane),
        cmocka_unit_test(test_table_documented),    cmocka_unit_test(test_route_match_and_allow),
        cmocka_unit_test(test_utf16_offsets),       cmocka_unit_test(test_perspective_check),
        cmocka_unit_test(test_perspective_mapping), cmocka_unit_test(test_config_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
