/*
 * test_report.c - reports (report.h): CSV quoting by RFC 4180 and the
 * formula-injection defence, cell by cell (data: input -> exact bytes),
 * the queue and case rows, and the bundle summary PDF of a long case
 * breaking over pages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "threatdesk/report.h"

/* fontconfig (under pango) keeps its configuration cache until exit. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\n";
}

static char *one_row(const char *const *cells, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    struct td_error err;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(td_csv_row(f, cells, n, &err), TD_OK);
    fclose(f);
    return buf;
}

static void test_csv_cells(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain", "plain\r\n"},
        {"", "\r\n"},
        {"a,b", "\"a,b\"\r\n"},
        {"say \"hi\"", "\"say \"\"hi\"\"\"\r\n"},
        {"two\nlines", "\"two\nlines\"\r\n"},
        {"cr\rhere", "\"cr\rhere\"\r\n"},
        {"=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"\r\n"},
        {"+4412345", "\"'+4412345\"\r\n"},
        {"-2+3", "\"'-2+3\"\r\n"},
        {"@SUM(A1)", "\"'@SUM(A1)\"\r\n"},
        {"\t=1", "\"'\t=1\"\r\n"},
        {"a=b", "a=b\r\n"},
        {"caf\xc3\xa9", "caf\xc3\xa9\r\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = one_row(&cases[i].in, 1);
        if (strcmp(got, cases[i].out))
            fail_msg("cell %zu: [%s] -> [%s], want [%s]", i, cases[i].in, got, cases[i].out);
        free(got);
    }
    const char *row[] = {"1", NULL, "x,y", "=1"};
    char *got = one_row(row, 4);
    assert_string_equal(got, "1,,\"x,y\",\"'=1\"\r\n");
    free(got);
}

static void test_queue_and_case_rows(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    struct td_error err;
    json_t *m = json_loads("{\"id\": 7, \"received\": 1796236769, \"channel\": \"email\","
                           "\"sender\": \"email:a@b.org\", \"sender_name\": \"=cmd|' /C calc'!A0\","
                           "\"subject\": \"hello, you\", \"severity\": \"critical\","
                           "\"predicted\": [\"threat\", \"intimidation\"],"
                           "\"labels\": {\"threat\": 0.9312, \"identity_hate\": 0.01,"
                           " \"abuse\": 0.2, \"sexual\": 0, \"intimidation\": 0.61},"
                           "\"flags\": [\"time_bound\"], \"status\": \"unreviewed\","
                           "\"cases\": \"3 9\", \"reason\": \"threat 0.93\"}",
                           0, NULL);
    json_t *c = json_loads("{\"id\": 3, \"created\": 0, \"type\": \"assault\", \"status\": \"new\","
                           "\"title\": \"Leafleting, Main St\", \"messages\": 2, \"evidence\": 1,"
                           "\"place\": {\"constituency\": \"Batley and Spen\"}}",
                           0, NULL);
    assert_non_null(m);
    assert_non_null(c);
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(td_report_queue_csv_header(f, &err), TD_OK);
    assert_int_equal(td_report_queue_csv_row(f, m, &err), TD_OK);
    assert_int_equal(td_report_cases_csv_header(f, &err), TD_OK);
    assert_int_equal(td_report_cases_csv_row(f, c, &err), TD_OK);
    fclose(f);
    assert_non_null(strstr(buf, "id,received,channel,sender,sender_name,subject,tier,labels,threat,"
                                "identity_hate,abuse,sexual,intimidation,flags,status,"
                                "status_reason,cases,message_id,reason\r\n"));
    assert_non_null(strstr(buf, "7,2026-12-02T18:39:29Z,email,email:a@b.org,\"'=cmd|' /C "
                                "calc'!A0\",\"hello, you\",critical,threat;intimidation,0.9312,"
                                "0.0100,0.2000,0.0000,0.6100,time_bound,unreviewed,,3;9,,"
                                "threat 0.93\r\n"));
    assert_non_null(strstr(buf, "3,1970-01-01T00:00:00Z,assault,new,\"Leafleting, Main St\",,,,,,"
                                "2,1,Batley and Spen\r\n"));
    free(buf);
    json_decref(m);
    json_decref(c);
}

static size_t count(const char *hay, size_t n, const char *needle)
{
    size_t k = 0, l = strlen(needle);
    for (size_t i = 0; i + l <= n; i++)
        if (!memcmp(hay + i, needle, l))
            k++;
    return k;
}

static void test_summary_breaks_pages(void **state)
{
    (void)state;
    struct td_error err;
    void *pdf = NULL;
    size_t len = 0;
    json_t *x =
        json_pack("{s:{s:i, s:s, s:s}, s:{s:s}, s:[], s:[], s:[], s:[], s:[], s:{}}", "case", "id",
                  4, "title", "Long case", "type", "harassment", "office", "name", "batley",
                  "messages", "evidence", "notes", "timeline", "senders", "chain_head");
    json_t *msgs = json_object_get(x, "messages");
    for (int i = 0; i < 40; i++) {
        const char *t = "You will regret standing again. We know where your office is.";
        json_array_append_new(
            msgs, json_pack("{s:i, s:s, s:s, s:s, s:[s], s:{s:f}, s:[{s:i, s:i, s:s}]}", "id",
                            100 + i, "text", t, "severity", "high", "channel", "x", "predicted",
                            "threat", "labels", "threat", 0.8, "spans", "start", 0, "end", 24,
                            "text", "You will regret standing"));
    }
    assert_int_equal(td_report_case_summary(x, &pdf, &len, &err), TD_OK);
    assert_true(len > 1000);
    assert_memory_equal(pdf, "%PDF-", 5);
    /* 40 messages cannot fit on one A4 page: "/Type /Page" objects minus
     * the one "/Type /Pages" */
    size_t pages = count(pdf, len, "/Type /Page") - count(pdf, len, "/Type /Pages");
    assert_true(pages >= 3);
    free(pdf);
    json_decref(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_cells),
        cmocka_unit_test(test_queue_and_case_rows),
        cmocka_unit_test(test_summary_breaks_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
