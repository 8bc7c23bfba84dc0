/*
 * test_desk_alerts.c - alerts inside the desk, over a real store: the
 * outbox is written with the message (one alert per message and rule,
 * however often it is filed), flags and tiers select, offices and roles are
 * kept apart, the browser hook is told after the commit, acknowledgement is
 * audited, a delivery that cannot be made is retried and then given up on
 * the record, and an unacknowledged alert escalates along the rota.
 *
 * No network here: with no smtp_url every e-mail attempt fails fast with a
 * reason, which is what the retry and give-up paths need
 * (tests/integration/alerts_delivery.sh delivers for real).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "threatdesk/alert.h"
#include "unit/desk_fixture.h"

#define THREAT (1u << TD_LABEL_THREAT)

static int64_t file_v(struct fx *f, const struct td_actor *a, const char *text, const char *sender,
                      enum td_severity sev, unsigned flags)
{
    struct td_message m;
    struct td_ingest_result r;
    struct td_verdict v;
    struct td_error err;
    td_error_clear(&err);
    td_message_init(&m);
    td_verdict_init(&v);
    v.severity = sev;
    v.labels = sev >= TD_SEVERITY_HIGH ? THREAT : 0;
    v.flags = flags;
    td_message_set(&m.text, text, (size_t)-1);
    m.text_len = strlen(text);
    td_message_set(&m.sender, sender, (size_t)-1);
    td_message_set(&m.channel, "email", (size_t)-1);
    if (td_desk_file(f->d, a, &m, NULL, &v, &r, &err) != TD_OK)
        fx_fail("file", &err);
    td_message_release(&m);
    td_verdict_release(&v);
    return r.id;
}

static int64_t add_json(struct fx *f, const struct td_actor *a, int rule, const char *json)
{
    struct td_error err;
    json_t *in = json_loads(json, 0, NULL), *out = NULL;
    td_error_clear(&err);
    assert_non_null(in);
    int rc = rule ? td_desk_alert_rule_add(f->d, a, in, &out, &err)
                  : td_desk_alert_recipient_add(f->d, a, in, &out, &err);
    json_decref(in);
    if (rc)
        fx_fail(json, &err);
    int64_t id = json_integer_value(json_object_get(out, "id"));
    json_decref(out);
    return id;
}

static json_t *alerts(struct fx *f, const struct td_actor *a)
{
    struct td_error err;
    json_t *out = NULL;
    td_error_clear(&err);
    if (td_desk_alert_list(f->d, a, 0, 0, &out, &err))
        fx_fail("list", &err);
    return out;
}

static size_t nalerts(struct fx *f, const struct td_actor *a)
{
    json_t *o = alerts(f, a);
    size_t n = json_array_size(json_object_get(o, "alerts"));
    json_decref(o);
    return n;
}

static int told;
static int64_t told_alert;
static void listener(void *ud, int64_t office, int64_t alert, int64_t message, int severity)
{
    (void)ud;
    (void)office;
    (void)message;
    assert_int_equal(severity, TD_SEVERITY_CRITICAL);
    told++;
    told_alert = alert;
}

/* An office with one recipient and two rules: every critical message
 * (e-mail and browser), and a high one with a place (e-mail only); the
 * browser listener counts into `told`.  Returns the recipient's id. */
static int64_t two_rules(struct fx *f, struct td_actor *admin, struct td_actor *cw)
{
    fx_open(f);
    fx_actor(f, "batley", "admin1", TD_ROLE_ADMIN, admin);
    fx_actor(f, "batley", "cw1", TD_ROLE_CASEWORKER, cw);
    int64_t r1 = add_json(f, admin, 0, "{\"name\":\"sec\",\"email\":\"sec@office.example.org\"}");
    char rule[256];
    snprintf(rule, sizeof rule,
             "{\"name\":\"critical\",\"min_tier\":\"critical\",\"channels\":[\"email\","
             "\"browser\"],\"rota\":[%lld]}",
             (long long)r1);
    add_json(f, admin, 1, rule);
    snprintf(rule, sizeof rule,
             "{\"name\":\"high+location\",\"min_tier\":\"high\",\"flags\":[\"location\"],"
             "\"channels\":[\"email\"],\"rota\":[%lld]}",
             (long long)r1);
    add_json(f, admin, 1, rule);
    td_desk_set_alert_listener(f->d, listener, NULL);
    told = 0;
    return r1;
}

static void test_outbox_with_the_message(void **state)
{
    (void)state;
    struct fx f;
    struct td_actor admin, cw;
    two_rules(&f, &admin, &cw);

    file_v(&f, &cw, "thanks for the letter", "email:a@example.org", TD_SEVERITY_NONE, 0);
    file_v(&f, &cw, "abuse", "email:b@example.org", TD_SEVERITY_LOW, 0);
    file_v(&f, &cw, "a threat", "email:c@example.org", TD_SEVERITY_HIGH, 0);
    assert_int_equal(nalerts(&f, &cw), 0);
    assert_int_equal(told, 0);
    int64_t m = file_v(&f, &cw, "a threat with a place", "email:d@example.org", TD_SEVERITY_HIGH,
                       TD_FLAG(LOCATION));
    assert_int_equal(nalerts(&f, &cw), 1);
    assert_int_equal(told, 0); /* that rule has no browser channel */
    int64_t c = file_v(&f, &cw, "a critical threat", "email:e@example.org", TD_SEVERITY_CRITICAL,
                       TD_FLAG(LOCATION) | TD_FLAG(TIME_BOUND));
    assert_int_equal(nalerts(&f, &cw), 3); /* both rules */
    assert_int_equal(told, 1);
    /* the same words from the same sender again: a duplicate, no new alert */
    int64_t again = file_v(&f, &cw, "a critical threat", "email:e@example.org",
                           TD_SEVERITY_CRITICAL, TD_FLAG(LOCATION));
    assert_int_equal(again, c);
    assert_int_equal(nalerts(&f, &cw), 3);
    assert_int_equal(told, 1);

    json_t *o = alerts(&f, &cw);
    json_t *first = json_array_get(json_object_get(o, "alerts"), 2); /* oldest */
    assert_int_equal(json_integer_value(json_object_get(first, "message")), m);
    json_t *dl = json_object_get(first, "deliveries");
    assert_int_equal(json_array_size(dl), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(dl, 0), "state")),
                        "pending");
    assert_string_equal(json_string_value(json_object_get(json_array_get(dl, 0), "target")),
                        "sec@office.example.org");
    json_decref(o);
    fx_close(&f);
}

/* A batch files its records in one commit, and reads the office's alert
 * rules once for the batch (src/store: the per-batch rule read): every
 * record of the batch is still matched on its own, a duplicate inside the
 * batch raises nothing, the browser hook is told once per critical record
 * after the commit, and a rule added between two batches applies to the
 * second. */
static void file_batch_v(struct fx *f, const struct td_actor *a, size_t n, const char *const *texts,
                         const enum td_severity *sev, const unsigned *flags, const size_t *dup_of,
                         struct td_ingest_result *r)
{
    struct td_message m[8];
    struct td_verdict v[8];
    struct td_error err;
    assert_true(n <= 8);
    td_error_clear(&err);
    for (size_t i = 0; i < n; i++) {
        td_message_init(&m[i]);
        td_verdict_init(&v[i]);
        td_message_set(&m[i].text, texts[i], (size_t)-1);
        m[i].text_len = strlen(texts[i]);
        /* one sender each (a sender's earlier threat would raise the
         * next verdict); dup_of[i], when not 0, names the record whose
         * sender this one repeats */
        char sender[64];
        snprintf(sender, sizeof sender, "email:b%zu@example.org",
                 dup_of && dup_of[i] ? dup_of[i] : i);
        td_message_set(&m[i].sender, sender, (size_t)-1);
        td_message_set(&m[i].channel, "email", (size_t)-1);
        v[i].severity = sev[i];
        v[i].labels = sev[i] >= TD_SEVERITY_HIGH ? THREAT : 0;
        v[i].flags = flags[i];
    }
    if (td_desk_file_batch(f->d, a, m, n, NULL, v, r, &err) != TD_OK)
        fx_fail("file batch", &err);
    for (size_t i = 0; i < n; i++) {
        td_message_release(&m[i]);
        td_verdict_release(&v[i]);
    }
}

static size_t alerts_for(struct fx *f, const struct td_actor *a, int64_t message)
{
    json_t *o = alerts(f, a), *al;
    size_t i, k = 0;
    json_array_foreach(json_object_get(o, "alerts"), i, al)
    {
        if (json_integer_value(json_object_get(al, "message")) == message)
            k++;
    }
    json_decref(o);
    return k;
}

static void test_batch_matches_every_record(void **state)
{
    (void)state;
    struct fx f;
    struct td_actor admin, cw;
    int64_t r1 = two_rules(&f, &admin, &cw);
    char rule[256];

    const char *t1[6] = {"b thanks",   "b a threat",           "b a threat with a place",
                         "b critical", "b critical elsewhere", "b critical"};
    const enum td_severity s1[6] = {TD_SEVERITY_NONE,     TD_SEVERITY_HIGH,
                                    TD_SEVERITY_HIGH,     TD_SEVERITY_CRITICAL,
                                    TD_SEVERITY_CRITICAL, TD_SEVERITY_CRITICAL};
    const unsigned f1[6] = {0, 0, TD_FLAG(LOCATION), TD_FLAG(LOCATION), 0, TD_FLAG(LOCATION)};
    struct td_ingest_result r[6];
    const size_t d1[6] = {0, 0, 0, 0, 0, 3};
    file_batch_v(&f, &cw, 6, t1, s1, f1, d1, r);
    for (int i = 0; i < 6; i++)
        assert_int_equal(r[i].code, TD_OK);
    assert_int_equal(r[5].id, r[3].id); /* the same words again in the batch */
    assert_int_equal(alerts_for(&f, &cw, r[0].id), 0);
    assert_int_equal(alerts_for(&f, &cw, r[1].id), 0);
    assert_int_equal(alerts_for(&f, &cw, r[2].id), 1); /* high+location */
    assert_int_equal(alerts_for(&f, &cw, r[3].id), 2); /* both rules, once */
    assert_int_equal(alerts_for(&f, &cw, r[4].id), 1); /* critical, no place */
    assert_int_equal(nalerts(&f, &cw), 4);
    assert_int_equal(told, 2); /* the two critical messages, not the duplicate */

    /* a rule added now applies to the next batch, not retroactively */
    snprintf(rule, sizeof rule,
             "{\"name\":\"any high\",\"min_tier\":\"high\",\"channels\":[\"email\"],"
             "\"rota\":[%lld]}",
             (long long)r1);
    add_json(&f, &admin, 1, rule);
    const char *t2[2] = {"b a second threat", "b a second thanks"};
    const enum td_severity s2[2] = {TD_SEVERITY_HIGH, TD_SEVERITY_LOW};
    const unsigned f2[2] = {0, 0};
    file_batch_v(&f, &cw, 2, t2, s2, f2, NULL, r);
    assert_int_equal(alerts_for(&f, &cw, r[0].id), 1);
    assert_int_equal(alerts_for(&f, &cw, r[1].id), 0);
    assert_int_equal(nalerts(&f, &cw), 5);
    assert_int_equal(told, 2);
    fx_close(&f);
}

static void test_offices_and_roles(void **state)
{
    (void)state;
    struct fx f;
    struct td_actor admin, cw, obs, sec, other;
    struct td_error err;
    json_t *out = NULL, *in;
    fx_open(&f);
    fx_actor(&f, "batley", "admin1", TD_ROLE_ADMIN, &admin);
    fx_actor(&f, "batley", "cw1", TD_ROLE_CASEWORKER, &cw);
    fx_actor(&f, "batley", "obs1", TD_ROLE_OBSERVER, &obs);
    fx_actor(&f, "batley", "sec1", TD_ROLE_SECURITY, &sec);
    fx_actor(&f, "leeds", "admin2", TD_ROLE_ADMIN, &other);
    int64_t r1 = add_json(&f, &sec, 0, "{\"name\":\"sec\",\"email\":\"sec@office.example.org\"}");
    td_error_clear(&err);
    in = json_pack("{s:s, s:s}", "name", "x", "email", "x@example.org");
    assert_int_equal(td_desk_alert_recipient_add(f.d, &cw, in, &out, &err), TD_EDENIED);
    json_decref(in);
    assert_int_equal(td_desk_alert_list(f.d, &obs, 0, 0, &out, &err), TD_EDENIED);
    /* another office cannot put batley's recipient on its rota */
    in = json_pack("{s:s, s:s, s:[s], s:[I]}", "name", "r", "min_tier", "high", "channels", "email",
                   "rota", (json_int_t)r1);
    assert_int_equal(td_desk_alert_rule_add(f.d, &other, in, &out, &err), TD_EINVAL);
    assert_string_equal(err.field, "rota");
    assert_int_equal(td_desk_alert_rule_add(f.d, &admin, in, &out, &err), TD_OK);
    json_decref(out);
    json_decref(in);
    file_v(&f, &cw, "a threat", "email:c@example.org", TD_SEVERITY_HIGH, 0);
    assert_int_equal(nalerts(&f, &cw), 1);
    assert_int_equal(nalerts(&f, &other), 0);
    json_t *o = alerts(&f, &cw);
    int64_t aid =
        json_integer_value(json_object_get(json_array_get(json_object_get(o, "alerts"), 0), "id"));
    json_decref(o);
    assert_int_equal(td_desk_alert_ack(f.d, &other, aid, &err), TD_ENOTFOUND);
    assert_int_equal(td_desk_alert_ack(f.d, &obs, aid, &err), TD_EDENIED);
    assert_int_equal(td_desk_alert_ack(f.d, &cw, aid, &err), TD_OK);
    assert_int_equal(td_desk_alert_ack(f.d, &cw, aid, &err), TD_OK); /* again: no change */
    o = alerts(&f, &cw);
    json_t *a = json_array_get(json_object_get(o, "alerts"), 0);
    assert_string_equal(json_string_value(json_object_get(a, "state")), "acknowledged");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(a, "acknowledged"), "via")), "desk");
    json_decref(o);
    /* forged link tokens */
    assert_int_equal(td_desk_alert_ack_token(f.d, "1-00", &out, &err), TD_ENOTFOUND);
    assert_int_equal(td_desk_alert_ack_token(f.d, "nonsense", &out, &err), TD_ENOTFOUND);
    assert_int_equal(td_desk_alert_ack_token(f.d, NULL, &out, &err), TD_ENOTFOUND);
    /* the audit chain holds one acknowledgement, and still verifies */
    struct td_verify_stats vs;
    assert_int_equal(td_desk_verify(f.d, NULL, NULL, &vs, &err), TD_OK);
    assert_int_equal(vs.problems, 0);
    fx_close(&f);
}

static void test_retry_give_up_and_escalate(void **state)
{
    (void)state;
    struct fx f;
    struct td_actor admin, cw;
    struct td_alert_config c;
    struct td_alert_run_stats st;
    struct td_error err;
    fx_open(&f);
    fx_actor(&f, "batley", "admin1", TD_ROLE_ADMIN, &admin);
    fx_actor(&f, "batley", "cw1", TD_ROLE_CASEWORKER, &cw);
    int64_t r1 = add_json(&f, &admin, 0, "{\"name\":\"first\",\"email\":\"one@example.org\"}");
    int64_t r2 = add_json(&f, &admin, 0, "{\"name\":\"second\",\"email\":\"two@example.org\"}");
    char rule[256];
    snprintf(rule, sizeof rule,
             "{\"name\":\"critical\",\"min_tier\":\"critical\",\"channels\":[\"email\"],"
             "\"rota\":[%lld,%lld],\"escalate_minutes\":1}",
             (long long)r1, (long long)r2);
    add_json(&f, &admin, 1, rule);
    file_v(&f, &cw, "a critical threat", "email:e@example.org", TD_SEVERITY_CRITICAL, 0);

    td_alert_config_init(&c); /* no smtp_url: every e-mail attempt fails */
    c.max_attempts = 2;
    c.backoff_base_s = 3; /* 2 to 3 s: an immediate second pass finds nothing due */
    c.backoff_cap_s = 3;
    /* 3 s, not 1: the clock has whole seconds, and on a loaded CI machine
     * filing the message and the first pass can straddle a second boundary
     * (the first pass then escalated at once) */
    c.minute_s = 3;
    td_error_clear(&err);
    assert_int_equal(td_desk_alerts_run(f.d, &c, 0, &st, &err), TD_OK);
    assert_int_equal(st.retrying, 1);
    assert_int_equal(st.delivered, 0);
    /* not due again yet */
    assert_int_equal(td_desk_alerts_run(f.d, &c, 0, &st, &err), TD_OK);
    assert_int_equal(st.retrying + st.gave_up, 0);
    sleep(5);
    /* a minute (3 s here) without acknowledgement: the second person is told,
     * and the first delivery's second attempt gives up */
    assert_int_equal(td_desk_alerts_run(f.d, &c, 0, &st, &err), TD_OK);
    assert_int_equal(st.escalated, 1);
    assert_int_equal(st.gave_up, 1);
    assert_int_equal(st.retrying, 1); /* the new one, to two@ */
    json_t *o = alerts(&f, &cw);
    json_t *a = json_array_get(json_object_get(o, "alerts"), 0);
    assert_int_equal(json_integer_value(json_object_get(a, "step")), 1);
    assert_string_equal(json_string_value(json_object_get(a, "state")), "failed");
    json_t *d0 = json_array_get(json_object_get(a, "deliveries"), 0);
    assert_string_equal(json_string_value(json_object_get(d0, "state")), "failed");
    assert_int_equal(json_integer_value(json_object_get(d0, "attempts")), 2);
    json_t *log = json_object_get(d0, "attempt_log");
    assert_int_equal(json_array_size(log), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(log, 1), "outcome")),
                        "gave_up");
    assert_non_null(
        strstr(json_string_value(json_object_get(json_array_get(log, 0), "error")), "smtp_url"));
    json_t *d1 = json_array_get(json_object_get(a, "deliveries"), 1);
    assert_string_equal(json_string_value(json_object_get(d1, "target")), "two@example.org");
    assert_int_equal(json_integer_value(json_object_get(d1, "step")), 1);
    json_decref(o);
    /* the rota has no third person: nothing more to escalate */
    sleep(2);
    assert_int_equal(td_desk_alerts_run(f.d, &c, 0, &st, &err), TD_OK);
    assert_int_equal(st.escalated, 0);
    fx_close(&f);
}

static void test_bad_rules(void **state)
{
    (void)state;
    struct fx f;
    struct td_actor admin;
    struct td_error err;
    json_t *out = NULL;
    static const struct {
        const char *json, *field;
    } bad[] = {
        {"{\"name\":\"\",\"min_tier\":\"high\",\"channels\":[\"email\"],\"rota\":[1]}", "name"},
        {"{\"name\":\"a\",\"min_tier\":\"none\",\"channels\":[\"email\"],\"rota\":[1]}",
         "min_tier"},
        {"{\"name\":\"a\",\"min_tier\":\"high\",\"channels\":[],\"rota\":[1]}", "channels"},
        {"{\"name\":\"a\",\"min_tier\":\"high\",\"channels\":[\"email\"],\"rota\":[]}", "rota"},
        {"{\"name\":\"a\",\"min_tier\":\"high\",\"labels\":[\"rude\"],\"channels\":[\"email\"],"
         "\"rota\":[1]}",
         "labels"},
        {"{\"name\":\"a\",\"min_tier\":\"high\",\"channels\":[\"email\"],\"rota\":[1],"
         "\"quiet_hours\":{\"start\":\"25:00\",\"end\":\"07:00\"}}",
         "quiet_hours"},
        {"{\"name\":\"a\",\"min_tier\":\"high\",\"channels\":[\"email\"],\"rota\":[1],"
         "\"escalate_minutes\":5}",
         "rota"},
        {"{\"name\":\"a\",\"min_tier\":\"high\",\"channels\":[\"email\"],\"rota\":[1],"
         "\"text\":true}",
         "text"},
    };
    fx_open(&f);
    fx_actor(&f, "batley", "admin1", TD_ROLE_ADMIN, &admin);
    add_json(&f, &admin, 0, "{\"name\":\"sec\",\"email\":\"sec@office.example.org\"}");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *in = json_loads(bad[i].json, 0, NULL);
        td_error_clear(&err);
        assert_int_equal(td_desk_alert_rule_add(f.d, &admin, in, &out, &err), TD_EINVAL);
        assert_string_equal(err.field, bad[i].field);
        json_decref(in);
    }
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outbox_with_the_message),
        cmocka_unit_test(test_batch_matches_every_record),
        cmocka_unit_test(test_offices_and_roles),
        cmocka_unit_test(test_retry_give_up_and_escalate),
        cmocka_unit_test(test_bad_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
