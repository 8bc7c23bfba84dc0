/*
 * test_server_web.c - the web desk's pure parts: the escaping writer (every
 * %s escaped, the cap sticky), urlencoded form fields, which paths are the
 * web desk's, and UK dates and relative times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "threatdesk/error.h"
#include "web/html.h"
#include "web/web_int.h"

static void test_escapes_every_string(void **state)
{
    (void)state;
    struct td__html h;
    td__html_init(&h, 4096);
    assert_int_equal(td__html(&h, "<p title=\"%s\">%s</p>", "a\"b' onmouseover=x",
                              "<script>alert(1)</script> & co"),
                     TD_OK);
    assert_string_equal(h.out.data, "<p title=\"a&quot;b&#39; onmouseover=x\">&lt;script&gt;"
                                    "alert(1)&lt;/script&gt; &amp; co</p>");
    td__html_release(&h);
}

static void test_raw_numbers_and_null(void **state)
{
    (void)state;
    struct td__html h;
    td__html_init(&h, 4096);
    td__html(&h, "%R|%I|%d|%u|%z|%s|100%%", "<b>ok</b>", (int64_t)-9000000000LL, -3, 7u, (size_t)12,
             (const char *)NULL);
    assert_int_equal(h.rc, TD_OK);
    assert_string_equal(h.out.data, "<b>ok</b>|-9000000000|-3|7|12||100%");
    td__html_release(&h);
}

static void test_url_component(void **state)
{
    (void)state;
    struct td__html h;
    td__html_init(&h, 4096);
    td__html(&h, "<a href=\"/staff/%U/x\">", "o'b\"r/ie n%?#\xc3\xa9");
    assert_string_equal(h.out.data, "<a href=\"/staff/o%27b%22r%2Fie%20n%25%3F%23%C3%A9/x\">");
    td__html_release(&h);
}

static void test_partial_escape_keeps_utf8(void **state)
{
    (void)state;
    struct td__html h;
    td__html_init(&h, 4096);
    td__html_esc(&h, "caf\xc3\xa9 <x>", 6);
    assert_string_equal(h.out.data, "caf\xc3\xa9 ");
    td__html_release(&h);
}

static void test_cap_is_sticky(void **state)
{
    (void)state;
    struct td__html h;
    td__html_init(&h, 16);
    td__html(&h, "%s", "0123456789");
    assert_int_equal(h.rc, TD_OK);
    assert_int_not_equal(td__html(&h, "%s", "<<<<<<<<"), TD_OK); /* 32 bytes escaped */
    int rc = h.rc;
    assert_int_equal(td__html(&h, "x"), rc);
    assert_int_equal(td__html_esc(&h, "y", 1), rc);
    td__html_release(&h);
}

static void test_bad_conversion_fails(void **state)
{
    (void)state;
    struct td__html h;
    td__html_init(&h, 64);
    assert_int_equal(td__html(&h, "%x"), TD_EINVAL);
    td__html_release(&h);
    char out[16];
    assert_int_equal(td__html_escape_to("a<b", out, sizeof out), 6);
    assert_string_equal(out, "a&lt;b");
    /* truncated at a whole entity, never half of one */
    assert_int_equal(td__html_escape_to("ab<<", out, 6), 2);
    assert_string_equal(out, "ab");
}

static void test_form_fields(void **state)
{
    (void)state;
    const char *body = "csrf=abc&reason=Not+a+threat%3A+spam%21&empty=&flag&x=%zz";
    char out[64];
    assert_string_equal(td__form_parse(body, strlen(body), "reason", out, sizeof out),
                        "Not a threat: spam!");
    assert_string_equal(td__form_parse(body, strlen(body), "csrf", out, sizeof out), "abc");
    assert_string_equal(td__form_parse(body, strlen(body), "empty", out, sizeof out), "");
    assert_string_equal(td__form_parse(body, strlen(body), "flag", out, sizeof out), "");
    assert_string_equal(td__form_parse(body, strlen(body), "x", out, sizeof out), "%zz");
    assert_null(td__form_parse(body, strlen(body), "missing", out, sizeof out));
    /* a value longer than the buffer is refused, not cut */
    assert_null(td__form_parse(body, strlen(body), "reason", out, 8));
    /* the length bounds the body: no read past it */
    assert_null(td__form_parse(body, 8, "reason", out, sizeof out));
}

static void test_paths(void **state)
{
    (void)state;
    assert_true(td__web_owns("/"));
    assert_true(td__web_owns("/queue"));
    assert_true(td__web_owns("/static/app.css"));
    assert_false(td__web_owns("/v1/queue"));
    assert_false(td__web_owns("/v1alpha1/comments:analyze"));
    assert_false(td__web_owns("/healthz"));
    assert_false(td__web_owns("/metrics"));
    assert_false(td__web_owns("queue"));
}

static void test_dates(void **state)
{
    (void)state;
    char out[64];
    setenv("TZ", "Europe/London", 1);
    tzset();
    td__uk_date(1796306700, out, sizeof out); /* 2026-12-03T14:05:00Z */
    assert_string_equal(out, "Thu 3 Dec 2026, 14:05");
    td__uk_date(1785762300, out, sizeof out); /* 2026-08-03T13:05:00Z: BST */
    assert_string_equal(out, "Mon 3 Aug 2026, 14:05");
    td__relative(1000, 1030, out, sizeof out);
    assert_string_equal(out, "just now");
    td__relative(1000, 1000 + 5 * 60, out, sizeof out);
    assert_string_equal(out, "5 min ago");
    td__relative(1000, 1000 + 3 * 3600 + 5, out, sizeof out);
    assert_string_equal(out, "3 h ago");
    td__relative(1000, 1000 + 30 * 3600, out, sizeof out);
    assert_string_equal(out, "yesterday");
    td__relative(1000, 1000 + 3 * 86400, out, sizeof out);
    assert_string_equal(out, "3 days ago");
    td__relative(2000, 1000, out, sizeof out); /* clock skew: never "in the future" */
    assert_string_equal(out, "just now");
}

static void test_days(void **state)
{
    (void)state;
    int64_t a, b, c;
    char iso[11];
    setenv("TZ", "Europe/London", 1);
    tzset();
    /* UK and the date input's form, the same day: midnight to midnight */
    assert_int_equal(td__web_parse_day("03/12/2026", &a, &b, iso), 0);
    assert_int_equal(a, 1796256000); /* 2026-12-03T00:00:00Z (GMT) */
    assert_int_equal(b - a, 86400);
    assert_string_equal(iso, "2026-12-03");
    assert_int_equal(td__web_parse_day("2026-12-03", &b, &c, NULL), 0);
    assert_int_equal(b, a);
    assert_int_equal(td__web_parse_day("3/12/2026", &b, &c, NULL), 0);
    assert_int_equal(b, a);
    /* summer time: the local midnight is 23:00 the day before in UTC */
    assert_int_equal(td__web_parse_day("03/08/2026", &a, &b, iso), 0);
    assert_int_equal(a, 1785711600); /* 2026-08-02T23:00:00Z */
    /* the day the clocks go back is 25 hours long */
    assert_int_equal(td__web_parse_day("25/10/2026", &a, &b, NULL), 0);
    assert_int_equal(b - a, 25 * 3600);
    const char *bad[] = {"",           "31/02/2026", "29/02/2026", "00/01/2026",  "1/13/2026",
                         "12/31/2026", "3/12/26",    "2026-2-3",   "2026-13-01",  "x3/12/2026",
                         "03-12-2026", "3//2026",    "03/12/1969", "2026-12-03 ", "today"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(td__web_parse_day(bad[i], &a, &b, NULL), -1);
    assert_int_equal(td__web_parse_day(NULL, &a, &b, NULL), -1);
    assert_int_equal(td__web_parse_day("29/02/2028", &a, &b, NULL), 0); /* a leap year */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes_every_string),
        cmocka_unit_test(test_raw_numbers_and_null),
        cmocka_unit_test(test_url_component),
        cmocka_unit_test(test_partial_escape_keeps_utf8),
        cmocka_unit_test(test_cap_is_sticky),
        cmocka_unit_test(test_bad_conversion_fails),
        cmocka_unit_test(test_form_fields),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_days),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
