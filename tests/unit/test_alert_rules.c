/*
 * test_alert_rules.c - the alert module's pure parts: which verdicts a rule
 * matches (tiers, labels, flags, quiet hours that never hold back critical),
 * back-off, the checks on what an operator types, the webhook signature
 * against an independent HMAC, and the mail a notice becomes (no message
 * text; CR/LF refused).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "threatdesk/alert.h"
#include "threatdesk/taxonomy.h"

#define THREAT (1u << TD_LABEL_THREAT)
#define ABUSE (1u << TD_LABEL_ABUSE)
#define INTIM (1u << TD_LABEL_INTIMIDATION)

static struct td_alert_rule rule(int min, unsigned labels, unsigned flags)
{
    struct td_alert_rule r = {.min_severity = min,
                              .labels = labels,
                              .flags = flags,
                              .channels = TD_ALERT_EMAIL,
                              .quiet_start = -1,
                              .quiet_end = -1};
    return r;
}

static void test_tiers(void **state)
{
    (void)state;
    struct td_alert_rule crit = rule(TD_SEVERITY_CRITICAL, 0, 0);
    assert_true(td_alert_rule_matches(&crit, TD_SEVERITY_CRITICAL, THREAT, 0, 600));
    assert_false(td_alert_rule_matches(&crit, TD_SEVERITY_HIGH, THREAT, 0, 600));
    struct td_alert_rule med = rule(TD_SEVERITY_MEDIUM, 0, 0);
    for (int s = TD_SEVERITY_NONE; s <= TD_SEVERITY_CRITICAL; s++)
        assert_int_equal(td_alert_rule_matches(&med, s, THREAT, 0, 600), s >= TD_SEVERITY_MEDIUM);
    /* min "none" still never alerts on nothing */
    struct td_alert_rule any = rule(TD_SEVERITY_NONE, 0, 0);
    assert_false(td_alert_rule_matches(&any, TD_SEVERITY_NONE, 0, 0, 600));
}

static void test_labels_any_flags_all(void **state)
{
    (void)state;
    struct td_alert_rule r = rule(TD_SEVERITY_HIGH, THREAT | INTIM, 0);
    assert_true(td_alert_rule_matches(&r, TD_SEVERITY_HIGH, THREAT, 0, 0));
    assert_true(td_alert_rule_matches(&r, TD_SEVERITY_HIGH, INTIM | ABUSE, 0, 0));
    assert_false(td_alert_rule_matches(&r, TD_SEVERITY_HIGH, ABUSE, 0, 0));
    /* "high with location" */
    struct td_alert_rule loc = rule(TD_SEVERITY_HIGH, 0, TD_FLAG(LOCATION));
    assert_false(td_alert_rule_matches(&loc, TD_SEVERITY_HIGH, THREAT, 0, 0));
    assert_true(td_alert_rule_matches(&loc, TD_SEVERITY_HIGH, THREAT, TD_FLAG(LOCATION), 0));
    assert_true(td_alert_rule_matches(&loc, TD_SEVERITY_CRITICAL, THREAT,
                                      TD_FLAG(LOCATION) | TD_FLAG(TIME_BOUND), 0));
    struct td_alert_rule both = rule(TD_SEVERITY_HIGH, 0, TD_FLAG(LOCATION) | TD_FLAG(FAMILY));
    assert_false(td_alert_rule_matches(&both, TD_SEVERITY_HIGH, THREAT, TD_FLAG(LOCATION), 0));
    assert_true(td_alert_rule_matches(&both, TD_SEVERITY_HIGH, THREAT,
                                      TD_FLAG(LOCATION) | TD_FLAG(FAMILY), 0));
}

static void test_quiet_hours_never_hold_back_critical(void **state)
{
    (void)state;
    struct td_alert_rule r = rule(TD_SEVERITY_HIGH, 0, 0);
    r.quiet_start = 22 * 60;
    r.quiet_end = 7 * 60; /* wraps past midnight */
    int inside[] = {22 * 60, 23 * 60 + 59, 0, 3 * 60, 7 * 60 - 1};
    int outside[] = {7 * 60, 12 * 60, 22 * 60 - 1};
    for (size_t i = 0; i < sizeof inside / sizeof inside[0]; i++) {
        assert_true(td_alert_quiet(&r, inside[i]));
        assert_false(td_alert_rule_matches(&r, TD_SEVERITY_HIGH, THREAT, 0, inside[i]));
        assert_true(td_alert_rule_matches(&r, TD_SEVERITY_CRITICAL, THREAT, 0, inside[i]));
    }
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        assert_false(td_alert_quiet(&r, outside[i]));
        assert_true(td_alert_rule_matches(&r, TD_SEVERITY_HIGH, THREAT, 0, outside[i]));
    }
    r.quiet_start = 9 * 60;
    r.quiet_end = 17 * 60; /* a daytime window */
    assert_true(td_alert_quiet(&r, 12 * 60));
    assert_false(td_alert_quiet(&r, 17 * 60));
    assert_false(td_alert_quiet(&r, 8 * 60));
    r.quiet_start = -1;
    assert_false(td_alert_quiet(&r, 12 * 60));
}

static void test_backoff(void **state)
{
    (void)state;
    /* rnd 0: the fixed half; rnd max: the whole step */
    assert_int_equal(td_alert_backoff(1, 5, 900, 0), 3);
    assert_int_equal(td_alert_backoff(1, 5, 900, UINT32_MAX), 5);
    assert_int_equal(td_alert_backoff(2, 5, 900, UINT32_MAX), 10);
    assert_int_equal(td_alert_backoff(3, 5, 900, UINT32_MAX), 20);
    assert_int_equal(td_alert_backoff(8, 5, 900, UINT32_MAX), 640);
    assert_int_equal(td_alert_backoff(9, 5, 900, UINT32_MAX), 900); /* capped */
    assert_int_equal(td_alert_backoff(60, 5, 900, UINT32_MAX), 900);
    assert_int_equal(td_alert_backoff(1000, 5, 900, 0), 450);
    for (unsigned a = 1; a < 40; a++) {
        unsigned lo = td_alert_backoff(a, 5, 900, 0), hi = td_alert_backoff(a, 5, 900, UINT32_MAX);
        unsigned mid = td_alert_backoff(a, 5, 900, UINT32_MAX / 2);
        assert_true(lo >= 1 && lo <= mid && mid <= hi && hi <= 900);
        if (a > 1)
            assert_true(hi >= td_alert_backoff(a - 1, 5, 900, UINT32_MAX));
    }
    assert_true(td_alert_backoff(1, 0, 0, 0) >= 1);
}

static void test_operator_input(void **state)
{
    (void)state;
    assert_int_equal(td_alert_parse_hhmm("22:00"), 1320);
    assert_int_equal(td_alert_parse_hhmm("00:00"), 0);
    assert_int_equal(td_alert_parse_hhmm("23:59"), 1439);
    assert_int_equal(td_alert_parse_hhmm("24:00"), -1);
    assert_int_equal(td_alert_parse_hhmm("7:00"), -1);
    assert_int_equal(td_alert_parse_hhmm("07:60"), -1);
    assert_int_equal(td_alert_parse_hhmm(NULL), -1);
    assert_true(td_alert_valid_email("security@office.example.org"));
    assert_false(td_alert_valid_email("a@b.org\r\nBcc: x@y.org"));
    assert_false(td_alert_valid_email("a@b.org\nRCPT TO:<x@y.org>"));
    assert_false(td_alert_valid_email("<a@b.org>"));
    assert_false(td_alert_valid_email("a@b@c.org"));
    assert_false(td_alert_valid_email("a b@c.org"));
    assert_false(td_alert_valid_email("a@localhost"));
    assert_false(td_alert_valid_email("@b.org"));
    assert_false(td_alert_valid_email("a,b@c.org"));
    assert_true(td_alert_valid_url("https://hooks.example.org/t/abc?x=1"));
    assert_true(td_alert_valid_url("http://127.0.0.1:8080/hook"));
    assert_false(td_alert_valid_url("ftp://x.org/"));
    assert_false(td_alert_valid_url("https://"));
    assert_false(td_alert_valid_url("https://x.org/\r\nX-Evil: 1"));
    assert_false(td_alert_valid_url("https://x.org/a b"));
    assert_false(td_alert_valid_url("file:///etc/passwd"));
    assert_false(td_alert_header_safe("a\rb"));
    assert_true(td_alert_header_safe("plain words"));
    assert_int_equal(td_alert_channel_bit("webhook"), TD_ALERT_WEBHOOK);
    assert_int_equal(td_alert_channel_bit("pager"), -1);
    assert_string_equal(td_alert_channel_name(TD_ALERT_BROWSER), "browser");
    assert_string_equal(td_alert_top_label(ABUSE | THREAT), "threat");
    assert_string_equal(td_alert_top_label(ABUSE | INTIM), "intimidation");
    assert_string_equal(td_alert_top_label(0), "");
}

static void test_config(void **state)
{
    (void)state;
    struct td_alert_config c;
    struct td_error err;
    td_alert_config_init(&c);
    td_error_clear(&err);
    assert_int_equal(c.max_attempts, 8);
    assert_string_equal(c.smtp_tls, "starttls");
    assert_int_equal(td_alert_config_set(&c, "smtp_url", "smtp://mail.example.org:587", &err),
                     TD_OK);
    assert_int_equal(td_alert_config_set(&c, "smtp_url", "http://x", &err), TD_EINVAL);
    assert_int_equal(td_alert_config_set(&c, "smtp_tls", "maybe", &err), TD_EINVAL);
    assert_int_equal(td_alert_config_set(&c, "smtp_from", "x\r\nBcc: y@z.org", &err), TD_EINVAL);
    assert_int_equal(td_alert_config_set(&c, "max_attempts", "0", &err), TD_EINVAL);
    assert_int_equal(td_alert_config_set(&c, "max_attempts", "3x", &err), TD_EINVAL);
    assert_int_equal(td_alert_config_set(&c, "max_attempts", "3", &err), TD_OK);
    assert_int_equal(c.max_attempts, 3);
    assert_int_equal(td_alert_config_set(&c, "smtp_pasword", "typo", &err), TD_EINVAL);
    assert_string_equal(err.field, "smtp_pasword");
    setenv("THREATDESK_SMTP_PASSWORD", "from-the-environment", 1);
    setenv("THREATDESK_MINUTE_S", "2", 1);
    assert_int_equal(td_alert_config_apply_env(&c, &err), TD_OK);
    assert_string_equal(c.smtp_password, "from-the-environment");
    assert_int_equal(c.minute_s, 2);
    unsetenv("THREATDESK_SMTP_PASSWORD");
    unsetenv("THREATDESK_MINUTE_S");
    /* plain text only to a relay on this machine: refused before any
     * connection is made */
    struct td_alert_notice n;
    memset(&n, 0, sizeof n);
    snprintf(n.key, sizeof n.key, "td-alert-1-1");
    assert_int_equal(td_alert_config_set(&c, "smtp_tls", "none", &err), TD_OK);
    assert_int_equal(td_alert_smtp_send(&c, "sec@office.example.org", &n, 1700000000, &err),
                     TD_EINVAL);
    assert_non_null(strstr(err.message, "loopback"));
}

static void notice(struct td_alert_notice *n)
{
    memset(n, 0, sizeof *n);
    snprintf(n->key, sizeof n->key, "td-alert-7-9");
    n->alert_id = 7;
    n->message_id = 42;
    snprintf(n->office, sizeof n->office, "batley");
    snprintf(n->rule, sizeof n->rule, "critical now");
    n->severity = TD_SEVERITY_CRITICAL;
    snprintf(n->label, sizeof n->label, "threat");
    snprintf(n->channel, sizeof n->channel, "email");
    snprintf(n->sender, sizeof n->sender, "email:menace@example.net");
    snprintf(n->desk_url, sizeof n->desk_url, "https://desk.example.org/v1/messages/42");
    snprintf(n->ack_url, sizeof n->ack_url, "https://desk.example.org/v1/ack/7-ab");
}

static void test_webhook_signature(void **state)
{
    (void)state;
    struct td_alert_notice n;
    struct td_buf body;
    struct td_error err;
    char sig[72], hex[65];
    notice(&n);
    td_error_clear(&err);
    td_buf_init(&body, 1 << 16);
    assert_int_equal(td_alert_webhook_body(&n, &body, &err), TD_OK);
    assert_non_null(strstr(body.data, "\"id\":\"td-alert-7-9\""));
    assert_int_equal(
        td_alert_webhook_sign("s3cret-s3cret-s3cret", 1700000000, body.data, body.len, sig), TD_OK);
    /* independently: HMAC over "1700000000." + body in one buffer */
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char msg[4096];
    int k = snprintf(msg, sizeof msg, "1700000000.%.*s", (int)body.len, body.data);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)"s3cret-s3cret-s3cret", 20);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, (unsigned long long)k);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    assert_memory_equal(sig, "v1=", 3);
    assert_string_equal(sig + 3, hex);
    /* another timestamp, another signature (the replay window has a bite) */
    char sig2[72];
    td_alert_webhook_sign("s3cret-s3cret-s3cret", 1700000001, body.data, body.len, sig2);
    assert_string_not_equal(sig, sig2);
    td_buf_release(&body);
}

static void test_mail(void **state)
{
    (void)state;
    struct td_alert_notice n;
    struct td_buf mail;
    struct td_error err;
    notice(&n);
    td_error_clear(&err);
    td_buf_init(&mail, 1 << 16);
    assert_int_equal(td_alert_mail_render(&n, "desk@office.example.org", "sec@office.example.org",
                                          1700000000, &mail, &err),
                     TD_OK);
    assert_int_equal(td_buf_putc(&mail, '\0'), TD_OK);
    assert_non_null(strstr(mail.data, "\r\nMessage-ID: <td-alert-7-9@threatdesk>\r\n"));
    assert_non_null(strstr(mail.data, "Subject: [threatdesk] critical threat alert 7\r\n"));
    assert_non_null(strstr(mail.data, "Sender: email:menace@example.net\r\n"));
    assert_non_null(strstr(mail.data, "Acknowledge: https://desk.example.org/v1/ack/7-ab\r\n"));
    assert_null(strstr(mail.data, "Subject: for")); /* disclose minimal: no subject line */
    /* header injection through the recipient is refused, not cleaned */
    assert_int_equal(td_alert_mail_render(&n, "desk@office.example.org",
                                          "sec@office.example.org\r\nBcc: spy@evil.example",
                                          1700000000, &mail, &err),
                     TD_EINVAL);
    /* a sender handle with CR/LF stays in the body, defused */
    snprintf(n.sender, sizeof n.sender, "x:evil\r\nBcc: spy@evil.example");
    assert_int_equal(td_alert_mail_render(&n, "desk@office.example.org", "sec@office.example.org",
                                          1700000000, &mail, &err),
                     TD_OK);
    assert_int_equal(td_buf_putc(&mail, '\0'), TD_OK);
    assert_null(strstr(mail.data, "\r\nBcc:"));
    assert_non_null(strstr(mail.data, "Sender: x:evil??Bcc: spy@evil.example\r\n"));
    /* disclose subject */
    snprintf(n.subject, sizeof n.subject, "for the MP");
    assert_int_equal(td_alert_mail_render(&n, "desk@office.example.org", "sec@office.example.org",
                                          1700000000, &mail, &err),
                     TD_OK);
    assert_int_equal(td_buf_putc(&mail, '\0'), TD_OK);
    assert_non_null(strstr(mail.data, "\r\nSubject: for the MP\r\n"));
    td_buf_release(&mail);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiers),
        cmocka_unit_test(test_labels_any_flags_all),
        cmocka_unit_test(test_quiet_hours_never_hold_back_critical),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_operator_input),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_webhook_signature),
        cmocka_unit_test(test_mail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
