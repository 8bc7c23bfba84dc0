/*
 * test_desk_backends.c - the feedback, alert and export ops answer the
 * same on SQLite and PostgreSQL (issue 11: "same results, errors,
 * ordering, JSON row shapes").
 *
 * One scenario is played through the desk on a SQLite file and on a fresh
 * PostgreSQL database of the throwaway cluster of tests/support/pg-temp.sh
 * (TD_PG_DIR: its admin, owner and app URLs; the desk runs as the app role,
 * under row-level security, as servers do), and every answer of the ops
 * under test is compared as JSON: feedback lists, recipients, rules, the
 * alert list with its deliveries and attempt logs, the queue and case
 * exports and the digest.  What the clock decides (creation times, the
 * attempts' times) is masked; ids, order, values and shapes are not.
 * Without TD_PG_DIR (no cluster) the test is skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "threatdesk/alert.h"
#include "threatdesk/analyse.h"
#include "threatdesk/desk.h"
#include "threatdesk/desk_export.h"

#define T0 1764547200 /* 2025-12-01 00:00 UTC: received times are fixed */
#define THREAT (1u << TD_LABEL_THREAT)
#define BULK 260 /* routine messages besides the scenario's five */

struct side {
    char dir[256];
    char db[512];
    char data[300];
    struct td_desk *d;
    struct td_actor admin, cw, other; /* admin, cw: office A; other: office B */
};

static struct td_analyser *analyser;

static void die(const char *what, const struct td_error *err)
{
    char buf[1024];
    fail_msg("%s: %s", what, td_error_format(err, buf, sizeof buf));
}

static int read_line(const char *dir, const char *name, char *out, size_t size)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fgets(out, (int)size, f) != NULL;
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
    return ok ? 0 : -1;
}

/* A fresh database of the cluster, owned by td_owner: its owner's URL in
 * owner_db (to migrate it), the servers' role's (td_app: DML only, under
 * row-level security) in side->db. */
static void pg_database(struct side *s, char owner_db[512])
{
    static int n;
    char admin[512], owner[512], app[512], db[64], sql[128];
    const char *dir = getenv("TD_PG_DIR");
    assert_int_equal(read_line(dir, "admin_url", admin, sizeof admin), 0);
    assert_int_equal(read_line(dir, "owner_url", owner, sizeof owner), 0);
    assert_int_equal(read_line(dir, "app_url", app, sizeof app), 0);
    snprintf(db, sizeof db, "td_backends_%d_%d", (int)getpid(), ++n);
    PGconn *c = PQconnectdb(admin);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s OWNER td_owner", db);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    /* postgres:///threatdesk?host=...&user=td_owner: another database */
    const char *q = strchr(owner, '?'), *qa = strchr(app, '?');
    assert_non_null(q);
    assert_non_null(qa);
    snprintf(owner_db, 512, "postgres:///%s%s", db, q);
    snprintf(s->db, sizeof s->db, "postgres:///%s%s", db, qa);
}

static void actor(struct side *s, const char *office, const char *name, enum td_role role,
                  struct td_actor *out)
{
    struct td_error err;
    char key[TD_TOKEN_SIZE];
    td_error_clear(&err);
    int rc = td_desk_office_add(s->d, NULL, office, NULL, &err);
    if (rc && rc != TD_EEXISTS)
        die(office, &err);
    if (td_desk_user_add(s->d, NULL, office, name, role, "correct horse battery", NULL, &err) ||
        td_desk_api_key_create(s->d, NULL, name, "test", key, NULL, &err) ||
        td_desk_authenticate_key(s->d, key, out, &err))
        die(name, &err);
}

static void side_open(struct side *s, int pg)
{
    struct td_desk_opts o;
    struct td_error err;
    memset(s, 0, sizeof *s);
    td_error_clear(&err);
    snprintf(s->dir, sizeof s->dir, "/tmp/td-backends-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->data, sizeof s->data, "%s/data", s->dir);
    td_desk_opts_init(&o);
    o.data_dir = s->data;
    o.analyser = analyser;
    if (pg) {
        /* the owner migrates; then the desk runs as the servers do */
        char owner[512];
        pg_database(s, owner);
        o.db = owner;
        if (td_desk_open(&o, &s->d, &err))
            die(owner, &err);
        td_desk_close(s->d);
    } else {
        snprintf(s->db, sizeof s->db, "%s/desk.db", s->dir);
    }
    o.db = s->db;
    if (td_desk_open(&o, &s->d, &err))
        die(s->db, &err);
    actor(s, "office-a", "ann", TD_ROLE_ADMIN, &s->admin);
    actor(s, "office-a", "carl", TD_ROLE_CASEWORKER, &s->cw);
    actor(s, "office-b", "bea", TD_ROLE_ADMIN, &s->other);
}

static void side_close(struct side *s)
{
    char cmd[400];
    td_desk_close(s->d);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", s->dir);
}

/* File a message received at T0 + hours h with a hand-made verdict whose
 * vector (the analyser's model) lies along axis ax. */
static int64_t file(struct side *s, const struct td_actor *a, const char *text, const char *sender,
                    int h, enum td_severity sev, unsigned labels, int ax)
{
    struct td_message m;
    struct td_ingest_result r;
    struct td_verdict v;
    struct td_error err;
    td_error_clear(&err);
    td_message_init(&m);
    td_verdict_init(&v);
    v.severity = sev;
    v.labels = labels;
    for (int l = 0; l < TD_LABEL_COUNT; l++)
        v.prob[l] = (labels & (1u << l)) ? 0.9f : 0.05f;
    v.model_version = td_analyser_model_version(analyser);
    v.nvec = 16;
    for (unsigned i = 0; i < v.nvec; i++)
        v.vec[i] = (int)i == ax ? 1.0f : 0.01f * (float)(i + 1);
    td_message_set(&m.text, text, (size_t)-1);
    m.text_len = strlen(text);
    td_message_set(&m.sender, sender, (size_t)-1);
    td_message_set(&m.channel, h % 2 ? "email" : "web", (size_t)-1);
    m.time = T0 + 3600 * (int64_t)h;
    if (td_desk_file(s->d, a, &m, NULL, &v, &r, &err))
        die("file", &err);
    td_message_release(&m);
    td_verdict_release(&v);
    return r.id;
}

static int64_t add_json(struct side *s, int rule, const char *json)
{
    struct td_error err;
    json_t *in = json_loads(json, 0, NULL), *out = NULL;
    td_error_clear(&err);
    assert_non_null(in);
    int rc = rule ? td_desk_alert_rule_add(s->d, &s->admin, in, &out, &err)
                  : td_desk_alert_recipient_add(s->d, &s->admin, in, &out, &err);
    json_decref(in);
    if (rc)
        die(json, &err);
    int64_t id = json_integer_value(json_object_get(out, "id"));
    json_decref(out);
    return id;
}

/* Members whose value the clock decides; masked before comparing. */
static const char *const CLOCK[] = {"created", "ingested",      "at",      "next_attempt_at",
                                    "updated", "delivered_at",  "revoked", "status_time",
                                    "time",    "review_seconds"};

/* curl's "Failed to connect ... after 3 ms": the clock's words too. */
static json_t *mask_ms(const char *t)
{
    char out[1024];
    size_t o = 0;
    while (*t && o + 8 < sizeof out) {
        if (!strncmp(t, "after ", 6) && t[6] >= '0' && t[6] <= '9') {
            const char *e = t + 6;
            while (*e >= '0' && *e <= '9')
                e++;
            if (!strncmp(e, " ms", 3)) {
                memcpy(out + o, "after N", 7);
                o += 7;
                t = e;
                continue;
            }
        }
        out[o++] = *t++;
    }
    out[o] = '\0';
    return json_string(out);
}

static void mask(json_t *v)
{
    size_t i;
    const char *k;
    json_t *x;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x) mask(x);
    } else if (json_is_object(v)) {
        json_object_foreach(v, k, x)
        {
            int clock = 0;
            for (size_t c = 0; c < sizeof CLOCK / sizeof CLOCK[0]; c++)
                clock |= !strcmp(k, CLOCK[c]);
            if (json_is_string(x) && (!strcmp(k, "error") || !strcmp(k, "last_error")))
                json_object_set_new(v, k, mask_ms(json_string_value(x)));
            else if (clock && (json_is_integer(x) || json_is_array(x)))
                json_object_set_new(v, k, json_string("<clock>"));
            else if (clock && json_is_object(x)) /* revoked: {"at","by"} */
                mask(x);
            else
                mask(x);
        }
    }
}

/* Everything the ops under test answer for office A, as one JSON value. */
static int collect(void *ud, const json_t *row)
{
    return json_array_append((json_t *)ud, (json_t *)row) ? 1 : 0;
}

/* The first three rows, then stop the walk. */
static int first3(void *ud, const json_t *row)
{
    return json_array_append((json_t *)ud, (json_t *)row) || json_array_size(ud) == 3;
}

static json_t *answers(struct side *s)
{
    struct td_error err;
    json_t *all = json_object(), *o = NULL;
    td_error_clear(&err);
#define PUT(name, call)                                                                            \
    do {                                                                                           \
        o = NULL;                                                                                  \
        if (call)                                                                                  \
            die(name, &err);                                                                       \
        json_object_set_new(all, name, o);                                                         \
    } while (0)
    PUT("feedback_all", td_desk_feedback_list(s->d, &s->cw, 1, 0, 0, &o, &err));
    PUT("feedback_live_page", td_desk_feedback_list(s->d, &s->cw, 0, 2, 1, &o, &err));
    PUT("recipients", td_desk_alert_recipient_list(s->d, &s->cw, &o, &err));
    PUT("rules", td_desk_alert_rule_list(s->d, &s->cw, &o, &err));
    PUT("alerts", td_desk_alert_list(s->d, &s->cw, 0, 0, &o, &err));
    PUT("alerts_open", td_desk_alert_list(s->d, &s->cw, 1, 0, &o, &err));
    PUT("alerts_b", td_desk_alert_list(s->d, &s->other, 0, 0, &o, &err));
    PUT("digest", td_desk_digest(s->d, &s->cw, T0, T0 + 7 * 86400, &o, &err));
#undef PUT
    struct td_queue_filter qf;
    struct td_case_filter cf;
    json_t *rows = json_array();
    td_queue_filter_init(&qf);
    if (td_desk_queue_export(s->d, &s->cw, &qf, collect, rows, &err))
        die("queue export", &err);
    json_object_set_new(all, "queue", rows);
    rows = json_array();
    qf.min_severity = TD_SEVERITY_HIGH;
    qf.label = TD_LABEL_THREAT;
    if (td_desk_queue_export(s->d, &s->cw, &qf, collect, rows, &err))
        die("queue export (filtered)", &err);
    json_object_set_new(all, "queue_high_threat", rows);
    rows = json_array();
    td_queue_filter_init(&qf);
    if (td_desk_queue_export(s->d, &s->cw, &qf, first3, rows, &err))
        die("queue export (stopped)", &err);
    json_object_set_new(all, "queue_first3", rows);
    rows = json_array();
    td_case_filter_init(&cf);
    if (td_desk_case_rows(s->d, &s->cw, &cf, collect, rows, &err))
        die("case rows", &err);
    json_object_set_new(all, "cases", rows);
    mask(all);
    return all;
}

/* Acknowledge alert `id` by the link its notices carry: the token is the
 * desk's HMAC of "ack:<id>" under <data_dir>/alert-ack.key (desk/alerts.c).
 * The link names no office: PostgreSQL looks across offices for it. */
static void ack_by_link(struct side *s, int64_t id)
{
    unsigned char key[32], mac[crypto_auth_hmacsha256_BYTES];
    char path[400], msg[40], tok[96];
    struct td_error err;
    json_t *out = NULL;
    td_error_clear(&err);
    snprintf(path, sizeof path, "%s/alert-ack.key", s->data);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(key, 1, sizeof key, f), sizeof key);
    fclose(f);
    int n = snprintf(msg, sizeof msg, "ack:%lld", (long long)id);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, sizeof key);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, (unsigned long long)n);
    crypto_auth_hmacsha256_final(&st, mac);
    int k = snprintf(tok, sizeof tok, "%lld-", (long long)id);
    sodium_bin2hex(tok + k, sizeof tok - (size_t)k, mac, sizeof mac);
    if (td_desk_alert_ack_token(s->d, tok, &out, &err))
        die("ack by link", &err);
    assert_false(json_is_true(json_object_get(out, "already")));
    json_decref(out);
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        if ((call) != TD_OK)                                                                       \
            die(#call, &err);                                                                      \
    } while (0)

/* The scenario, the same on both sides. */
static void play(struct side *s)
{
    struct td_error err;
    struct td_alert_config c;
    struct td_alert_run_stats st;
    td_error_clear(&err);
    int64_t r1 = add_json(s, 0, "{\"name\":\"zed\",\"email\":\"zed@example.org\"}");
    int64_t r2 = add_json(s, 0,
                          "{\"name\":\"Amy\",\"email\":\"amy@example.org\",\"webhook_url\":"
                          "\"http://127.0.0.1:9/hook\",\"webhook_secret\":\"0123456789abcdef\"}");
    int64_t r3 = add_json(s, 0, "{\"name\":\"bob\",\"email\":\"bob@example.org\"}");
    char rule[300];
    snprintf(rule, sizeof rule,
             "{\"name\":\"critical\",\"min_tier\":\"critical\",\"channels\":[\"email\","
             "\"webhook\"],\"rota\":[%lld,%lld,%lld],\"escalate_minutes\":1,\"disclose\":"
             "\"subject\",\"quiet_hours\":{\"start\":\"23:00\",\"end\":\"06:00\"}}",
             (long long)r2, (long long)r1, (long long)r3);
    add_json(s, 1, rule);
    snprintf(rule, sizeof rule,
             "{\"name\":\"high threats\",\"min_tier\":\"high\",\"labels\":[\"threat\"],"
             "\"channels\":[\"email\"],\"rota\":[%lld]}",
             (long long)r1);
    add_json(s, 1, rule);

    int64_t m[6];
    m[0] =
        file(s, &s->cw, "I will find you", "email:x@example.org", 1, TD_SEVERITY_HIGH, THREAT, 0);
    m[1] = file(s, &s->cw, "you will burn", "email:y@example.org", 2, TD_SEVERITY_CRITICAL,
                THREAT | (1u << TD_LABEL_ABUSE), 1);
    m[2] = file(s, &s->cw, "a rude note", "email:x@example.org", 3, TD_SEVERITY_LOW,
                1u << TD_LABEL_ABUSE, 2);
    m[3] =
        file(s, &s->cw, "thanks for the help", "email:z@example.org", 30, TD_SEVERITY_NONE, 0, 3);
    m[4] = file(s, &s->cw, "watch your back", "email:x@example.org", 50, TD_SEVERITY_CRITICAL,
                THREAT, 4);
    m[5] = file(s, &s->other, "another office's threat", "email:x@example.org", 4,
                TD_SEVERITY_CRITICAL, THREAT, 5);

    /* more than one cursor batch (256 rows) for the exports to stream */
    for (int i = 0; i < BULK; i++) {
        char text[64];
        snprintf(text, sizeof text, "routine letter %d", i);
        file(s, &s->cw, text, i % 3 ? "email:many@example.org" : "email:some@example.org",
             5 + i % 150, i % 2 ? TD_SEVERITY_LOW : TD_SEVERITY_NONE, 0, i % 16);
    }

    /* feedback: three decisions, one replaced (revoked) */
    OK(td_desk_message_set_status(s->d, &s->cw, m[0], TD_MSG_DISMISSED, "joke", &err));
    OK(td_desk_message_set_status(s->d, &s->cw, m[1], TD_MSG_ESCALATED, "police", &err));
    OK(td_desk_message_set_status(s->d, &s->cw, m[2], TD_MSG_REVIEWED, NULL, &err));
    OK(td_desk_message_set_status(s->d, &s->cw, m[2], TD_MSG_DISMISSED, "on reflection", &err));

    /* cases, one reported, holding messages */
    int64_t c1, c2;
    json_t *f1 = json_pack("{s:s, s:s, s:{s:s}}", "type", "online_threat", "title", "Threats by x",
                           "place", "constituency", "Batley");
    json_t *f2 =
        json_pack("{s:s, s:s, s:s}", "type", "harassment", "title", "y", "assignee", "carl");
    OK(td_desk_case_create(s->d, &s->cw, f1, &c1, &err));
    OK(td_desk_case_create(s->d, &s->cw, f2, &c2, &err));
    json_decref(f1);
    json_decref(f2);
    OK(td_desk_case_link_message(s->d, &s->cw, c1, m[0], &err));
    OK(td_desk_case_link_message(s->d, &s->cw, c1, m[4], &err));
    OK(td_desk_case_link_message(s->d, &s->cw, c2, m[4], &err));
    OK(td_desk_case_set_status(s->d, &s->cw, c1, TD_CASE_STATUS_TRIAGED, NULL, &err));
    OK(td_desk_case_set_status(s->d, &s->cw, c1, TD_CASE_STATUS_REPORTED_TO_POLICE, NULL, &err));

    /* alerts: no smtp_url and a webhook nobody listens on - every attempt
     * fails; then acknowledge one in the desk */
    td_alert_config_init(&c);
    c.max_attempts = 1;
    c.minute_s = 3600; /* no escalation within the test */
    OK(td_desk_alerts_run(s->d, &c, 0, &st, &err));
    /* 5 alerts: critical (m1, m4) to Amy by e-mail and webhook, high
     * threats (m0, m1, m4) to zed by e-mail */
    assert_int_equal(st.gave_up, 7);
    json_t *l = NULL;
    OK(td_desk_alert_list(s->d, &s->cw, 0, 0, &l, &err));
    json_t *first = json_array_get(json_object_get(l, "alerts"), 0);
    json_t *last = json_array_get(json_object_get(l, "alerts"), 4);
    assert_non_null(last);
    ack_by_link(s, json_integer_value(json_object_get(last, "id")));
    OK(td_desk_alert_ack(s->d, &s->cw, json_integer_value(json_object_get(first, "id")), &err));
    json_decref(l);
}

static int group_setup(void **state)
{
    struct td_error err;
    (void)state;
    td_error_clear(&err);
    if (!getenv("TD_PG_DIR"))
        return 0;
    if (td_analyser_open(NULL, NULL, &analyser, &err))
        die("analyser", &err);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    td_analyser_free(analyser);
    return 0;
}

static size_t refusals(struct side *s, int rc[16]);

static void test_same_answers(void **state)
{
    (void)state;
    if (!getenv("TD_PG_DIR"))
        skip(); /* no throwaway cluster: tests/support/pg-temp.sh run ... */
    struct side sq, pg;
    side_open(&sq, 0);
    side_open(&pg, 1);
    play(&sq);
    play(&pg);
    json_t *a = answers(&sq), *b = answers(&pg);

    /* the scenario did what it set out to (so equality means something) */
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(a, "feedback_all"), "feedback")), 4);
    assert_int_equal(json_array_size(json_object_get(json_object_get(a, "alerts"), "alerts")), 5);
    assert_int_equal(json_array_size(json_object_get(json_object_get(a, "alerts_b"), "alerts")), 0);
    assert_int_equal(json_array_size(json_object_get(a, "queue")), 5 + BULK);
    assert_int_equal(json_array_size(json_object_get(a, "queue_first3")), 3);
    assert_int_equal(json_array_size(json_object_get(a, "queue_high_threat")), 3);
    assert_int_equal(json_array_size(json_object_get(a, "cases")), 2);

    const char *k;
    json_t *v;
    json_object_foreach(a, k, v)
    {
        json_t *w = json_object_get(b, k);
        if (!json_equal(v, w)) {
            char *x = json_dumps(v, JSON_INDENT(1) | JSON_SORT_KEYS);
            char *y = json_dumps(w, JSON_INDENT(1) | JSON_SORT_KEYS);
            fprintf(stderr, "--- %s on SQLite:\n%s\n--- on PostgreSQL:\n%s\n", k, x, y);
            free(x);
            free(y);
            fail_msg("%s differs between SQLite and PostgreSQL", k);
        }
    }
    /* key order too: the front doors write these objects as they are */
    char *x = json_dumps(a, 0), *y = json_dumps(b, 0);
    assert_string_equal(x, y);
    free(x);
    free(y);
    json_decref(a);
    json_decref(b);

    /* and the same refusals (after the comparison: a refused insert
     * spends an id of PostgreSQL's identity, never of SQLite's) */
    int ea[16], eb[16];
    size_t na = refusals(&sq, ea), nb = refusals(&pg, eb);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++)
        if (ea[i] != eb[i])
            fail_msg("refusal %zu: SQLite %s, PostgreSQL %s", i, td_strerror(ea[i]),
                     td_strerror(eb[i]));
    side_close(&sq);
    side_close(&pg);
}

/* Calls the ops under test must refuse (or accept without change) alike;
 * their codes in rc[], how many returned. */
static size_t refusals(struct side *s, int rc[16])
{
    struct td_error err;
    json_t *l = NULL, *o = NULL, *in;
    size_t n = 0;
    td_error_clear(&err);
    OK(td_desk_feedback_list(s->d, &s->cw, 1, 0, 0, &l, &err));
    int64_t fb = json_integer_value(
        json_object_get(json_array_get(json_object_get(l, "feedback"), 0), "id"));
    json_decref(l);
    OK(td_desk_alert_list(s->d, &s->cw, 0, 0, &l, &err));
    json_t *al = json_object_get(l, "alerts");
    int64_t open = 0, acked = 0;
    for (size_t i = 0; i < json_array_size(al); i++) {
        json_t *x = json_array_get(al, i);
        int64_t id = json_integer_value(json_object_get(x, "id"));
        if (json_object_get(x, "acknowledged"))
            acked = id;
        else
            open = id;
    }
    json_decref(l);
    assert_true(fb > 0 && open > 0 && acked > 0);

    /* another office's rows are not there */
    rc[n++] = td_desk_feedback_revoke(s->d, &s->other, fb, &err);
    rc[n++] = td_desk_alert_ack(s->d, &s->other, open, &err);
    /* twice is once */
    rc[n++] = td_desk_feedback_revoke(s->d, &s->cw, fb, &err);
    rc[n++] = td_desk_feedback_revoke(s->d, &s->cw, fb, &err);
    rc[n++] = td_desk_alert_ack(s->d, &s->cw, acked, &err);
    /* a taken name, then the next insert still works (PostgreSQL: the
     * refusal must not abort the desk's transaction) */
    in = json_pack("{s:s, s:s}", "name", "zed", "email", "z2@example.org");
    rc[n++] = td_desk_alert_recipient_add(s->d, &s->admin, in, &o, &err);
    json_decref(o);
    o = NULL;
    json_decref(in);
    in = json_pack("{s:s, s:s}", "name", "zed", "email", "z2@example.org");
    rc[n++] = td_desk_alert_recipient_add(s->d, &s->other, in, &o, &err); /* B may */
    json_decref(o);
    o = NULL;
    json_decref(in);
    in = json_pack("{s:s, s:s, s:[s], s:[i]}", "name", "critical", "min_tier", "high", "channels",
                   "email", "rota", 1);
    rc[n++] = td_desk_alert_rule_add(s->d, &s->admin, in, &o, &err);
    json_decref(o);
    o = NULL;
    json_decref(in);
    /* a rota naming another office's recipient */
    in = json_pack("{s:s, s:s, s:[s], s:[i]}", "name", "b rule", "min_tier", "high", "channels",
                   "email", "rota", 1);
    rc[n++] = td_desk_alert_rule_add(s->d, &s->other, in, &o, &err);
    json_decref(o);
    json_decref(in);

    assert_int_equal(rc[0], TD_ENOTFOUND);
    assert_int_equal(rc[1], TD_ENOTFOUND);
    assert_int_equal(rc[2], TD_OK);
    assert_int_equal(rc[3], TD_OK);
    assert_int_equal(rc[4], TD_OK);
    assert_int_equal(rc[5], TD_EEXISTS);
    assert_int_equal(rc[6], TD_OK);
    assert_int_equal(rc[7], TD_EEXISTS);
    return n;
}

/* Several delivery workers in several processes on one database: every
 * delivery is claimed, sent and recorded exactly once (FOR UPDATE SKIP
 * LOCKED in alert_claim; without it two workers that read the same due
 * rows both send them). */
#define CLAIM_N 90
#define WORKERS 3

static int worker(const char *db, const char *data)
{
    struct td_desk_opts o;
    struct td_desk *d;
    struct td_error err;
    struct td_alert_config c;
    struct td_alert_run_stats st;
    int done = 0, idle = 0;
    td_error_clear(&err);
    td_desk_opts_init(&o);
    o.db = db;
    o.data_dir = data;
    if (td_desk_open(&o, &d, &err))
        return 255;
    td_alert_config_init(&c); /* no smtp_url: every attempt fails at once */
    c.max_attempts = 1;
    while (idle < 3) {
        if (td_desk_alerts_run(d, &c, 4, &st, &err)) {
            done = 255;
            break;
        }
        done += (int)(st.gave_up + st.delivered + st.retrying);
        idle = st.gave_up + st.delivered + st.retrying ? 0 : idle + 1;
    }
    td_desk_close(d);
    return done > 254 ? 254 : done;
}

static void test_claim_once(void **state)
{
    (void)state;
    if (!getenv("TD_PG_DIR"))
        skip();
    struct side pg;
    struct td_error err;
    char rule[200];
    pid_t kids[WORKERS];
    td_error_clear(&err);
    side_open(&pg, 1);
    int64_t r = add_json(&pg, 0, "{\"name\":\"only\",\"email\":\"only@example.org\"}");
    snprintf(rule, sizeof rule,
             "{\"name\":\"all\",\"min_tier\":\"high\",\"channels\":[\"email\"],"
             "\"rota\":[%lld]}",
             (long long)r);
    add_json(&pg, 1, rule);
    for (int i = 0; i < CLAIM_N; i++) {
        char text[64];
        snprintf(text, sizeof text, "threat number %d", i);
        file(&pg, &pg.cw, text, "email:x@example.org", i % 48, TD_SEVERITY_HIGH, THREAT, i % 16);
    }
    for (int k = 0; k < WORKERS; k++) {
        char data[320];
        snprintf(data, sizeof data, "%s/data-%d", pg.dir, k);
        fflush(NULL);
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0)
            _exit(worker(pg.db, data)); /* its own connection; never the parent's */
    }
    int sent = 0;
    for (int k = 0; k < WORKERS; k++) {
        int st = 0;
        assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
        assert_true(WIFEXITED(st));
        assert_int_not_equal(WEXITSTATUS(st), 255);
        sent += WEXITSTATUS(st);
    }
    assert_int_equal(sent, CLAIM_N);
    json_t *l = NULL, *a, *dl;
    size_t i, j;
    if (td_desk_alert_list(pg.d, &pg.cw, 0, 500, &l, &err))
        die("alert list", &err);
    assert_int_equal(json_array_size(json_object_get(l, "alerts")), CLAIM_N);
    json_array_foreach(json_object_get(l, "alerts"), i, a)
    {
        assert_int_equal(json_array_size(json_object_get(a, "deliveries")), 1);
        json_array_foreach(json_object_get(a, "deliveries"), j, dl)
        {
            assert_int_equal(json_integer_value(json_object_get(dl, "attempts")), 1);
            assert_int_equal(json_array_size(json_object_get(dl, "attempt_log")), 1);
            assert_string_equal(json_string_value(json_object_get(dl, "state")), "failed");
        }
    }
    json_decref(l);
    side_close(&pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_answers),
        cmocka_unit_test(test_claim_once),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
