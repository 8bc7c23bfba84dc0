/*
 * test_ingest_records.c - the record readers of `scan`: text, lines, JSON
 * Lines and CSV, and what they do with bad input: every bad record is
 * reported with its line (and byte/field) and the records around it are
 * kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "threatdesk/reader.h"

static char *write_tmp(const char *content, size_t len)
{
    char *path = strdup("/tmp/td_records_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

struct outcome {
    int rc;
    char id[64];
    char text[128];
    size_t line;
    char field[64];
    size_t eline;
};

/* Read everything; returns the number of outcomes (records + errors). */
static size_t read_all(const char *content, size_t len, struct td_reader_opts *o,
                       struct outcome *out, size_t max)
{
    char *path = write_tmp(content, len);
    struct td_reader *r = NULL;
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_reader_open(path, o, &r, &err), TD_OK);
    struct td_message m;
    td_message_init(&m);
    size_t n = 0;
    int rc;
    while ((rc = td_reader_next(r, &m, &err)) != TD_EOF && n < max) {
        struct outcome *x = &out[n++];
        memset(x, 0, sizeof *x);
        x->rc = rc;
        if (rc == TD_OK) {
            snprintf(x->id, sizeof x->id, "%s", m.id ? m.id : "");
            snprintf(x->text, sizeof x->text, "%s", m.text ? m.text : "");
            x->line = m.line;
        } else {
            x->eline = err.line;
            snprintf(x->field, sizeof x->field, "%s", err.field);
            assert_string_equal(err.file, path); /* errors name the file */
            td_error_clear(&err);
        }
    }
    td_message_release(&m);
    td_reader_close(r);
    unlink(path);
    free(path);
    return n;
}

static void test_jsonl_bad_records_do_not_lose_neighbours(void **state)
{
    (void)state;
    const char *in = "{\"id\": \"a\", \"text\": \"first\"}\n"
                     "{\"id\": \"b\", \"text\": \"broken\"\n"
                     "\n"
                     "{\"id\": 7, \"text\": \"third\"}\n"
                     "{\"id\": \"d\", \"body\": \"no text field\"}\n"
                     "[1,2]\n"
                     "{\"text\": \"no id\"}";
    struct td_reader_opts o = {.format = TD_FORMAT_JSONL};
    struct outcome out[10];
    size_t n = read_all(in, strlen(in), &o, out, 10);
    assert_int_equal(n, 6);
    assert_int_equal(out[0].rc, TD_OK);
    assert_string_equal(out[0].id, "a");
    assert_string_equal(out[0].text, "first");
    assert_int_equal(out[1].rc, TD_EPARSE);
    assert_int_equal(out[1].eline, 2);
    assert_int_equal(out[2].rc, TD_OK);
    assert_string_equal(out[2].id, "7"); /* integer ids become strings */
    assert_int_equal(out[2].line, 4);
    assert_int_equal(out[3].rc, TD_EPARSE);
    assert_int_equal(out[3].eline, 5);
    assert_string_equal(out[3].field, "text");
    assert_int_equal(out[4].rc, TD_EPARSE); /* not an object */
    assert_int_equal(out[5].rc, TD_OK);     /* last line without newline */
    assert_string_equal(out[5].text, "no id");
    assert_non_null(strstr(out[5].id, ":7")); /* generated "<file>:<line>" */
}

static void test_jsonl_custom_fields(void **state)
{
    (void)state;
    const char *in = "{\"data\": {\"full_text\": \"nested\", \"tid\": \"x1\"}}\n";
    struct td_reader_opts o = {
        .format = TD_FORMAT_JSONL, .text_field = "data.full_text", .id_field = "data.tid"};
    struct outcome out[2];
    assert_int_equal(read_all(in, strlen(in), &o, out, 2), 1);
    assert_string_equal(out[0].text, "nested");
    assert_string_equal(out[0].id, "x1");
}

static void test_csv_quotes_multiline_and_errors(void **state)
{
    (void)state;
    const char *in = "id,text,extra\r\n"
                     "1,\"hello, world\",x\r\n"
                     "2,\"a quoted\nfield over two lines\",y\n"
                     "3,only two fields\n"
                     "4,\"bad \"quote\" here\",z\n"
                     "5,fine again,w\n";
    struct td_reader_opts o = {.format = TD_FORMAT_CSV};
    struct outcome out[10];
    size_t n = read_all(in, strlen(in), &o, out, 10);
    assert_int_equal(n, 5);
    assert_int_equal(out[0].rc, TD_OK);
    assert_string_equal(out[0].text, "hello, world");
    assert_int_equal(out[1].rc, TD_OK);
    assert_string_equal(out[1].text, "a quoted\nfield over two lines");
    assert_int_equal(out[1].line, 3);
    assert_int_equal(out[2].rc, TD_EPARSE); /* field count */
    assert_int_equal(out[2].eline, 5);
    assert_int_equal(out[3].rc, TD_EPARSE); /* strict quoting */
    assert_int_equal(out[3].eline, 6);
    assert_int_equal(out[4].rc, TD_OK);
    assert_string_equal(out[4].id, "5");
    assert_string_equal(out[4].text, "fine again");
}

static void test_csv_missing_text_column_is_fatal(void **state)
{
    (void)state;
    const char *in = "id,body\n1,hello\n";
    struct td_reader_opts o = {.format = TD_FORMAT_CSV};
    struct outcome out[4];
    size_t n = read_all(in, strlen(in), &o, out, 4);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].rc, TD_EPARSE);
    assert_string_equal(out[0].field, "text");
    /* found by fuzz_reader: CR-terminated rows reach the row callback in
     * the same parse call as the header that lacks the column */
    const char *cr = "id\rhello\rworld\r";
    n = read_all(cr, strlen(cr), &o, out, 4);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].rc, TD_EPARSE);
}

static void test_csv_unterminated_quote_at_end(void **state)
{
    (void)state;
    const char *in = "text\nok\n\"never closed\n";
    struct td_reader_opts o = {.format = TD_FORMAT_CSV};
    struct outcome out[4];
    size_t n = read_all(in, strlen(in), &o, out, 4);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].rc, TD_OK);
    assert_int_equal(out[1].rc, TD_EPARSE);
}

static void test_lines_and_oversized_line(void **state)
{
    (void)state;
    size_t big = 10u * 1024 * 1024; /* a 10 MB line */
    char *in = malloc(big + 64);
    size_t k = (size_t)snprintf(in, 64, "first\n\n");
    memset(in + k, 'a', big);
    k += big;
    k += (size_t)snprintf(in + k, 64, "\nlast\n");
    struct td_reader_opts o = {.format = TD_FORMAT_LINES, .max_record = 1024 * 1024};
    struct outcome out[4];
    size_t n = read_all(in, k, &o, out, 4);
    assert_int_equal(n, 3);
    assert_string_equal(out[0].text, "first");
    assert_int_equal(out[1].rc, TD_ETOOBIG);
    assert_int_equal(out[1].eline, 3);
    assert_string_equal(out[2].text, "last");
    assert_int_equal(out[2].line, 4);
    /* with the default 16 MiB cap the same 10 MB line is a message */
    struct td_reader_opts o2 = {.format = TD_FORMAT_LINES};
    n = read_all(in, k, &o2, out, 4);
    assert_int_equal(n, 3);
    assert_int_equal(out[1].rc, TD_OK);
    free(in);
}

static void test_empty_input(void **state)
{
    (void)state;
    struct outcome out[2];
    struct td_reader_opts o = {.format = TD_FORMAT_JSONL};
    assert_int_equal(read_all("", 0, &o, out, 2), 0);
    struct td_reader_opts c = {.format = TD_FORMAT_CSV};
    assert_int_equal(read_all("", 0, &c, out, 2), 0);
    /* a whole-file text message that is empty is still one (empty) message */
    struct td_reader_opts t = {.format = TD_FORMAT_TEXT};
    assert_int_equal(read_all("", 0, &t, out, 2), 1);
    assert_string_equal(out[0].text, "");
}

static void test_text_whole_file(void **state)
{
    (void)state;
    const char *in = "Dear MP,\n\nline two\n";
    struct td_reader_opts o = {0}; /* detect: plain text */
    struct outcome out[2];
    assert_int_equal(read_all(in, strlen(in), &o, out, 2), 1);
    assert_string_equal(out[0].text, in);
}

static void test_detect(void **state)
{
    (void)state;
#define D(name, s) td_format_detect(name, (const unsigned char *)(s), sizeof(s) - 1)
    assert_int_equal(D("x", "{\"text\":1}\n"), TD_FORMAT_JSONL);
    assert_int_equal(D("x.csv", "id,text\n"), TD_FORMAT_CSV);
    assert_int_equal(D("x", "From a@b Thu Nov 27 10:00:00 2026\n"), TD_FORMAT_MBOX);
    assert_int_equal(D("x", "From: a@b.org\nTo: c@d.org\nSubject: hi\n\nbody"), TD_FORMAT_EML);
    assert_int_equal(D("x.txt", "\x89PNG\r\n\x1a\n...."), TD_FORMAT_IMAGE);
    assert_int_equal(D("x", "%PDF-1.7"), TD_FORMAT_PDF);
    assert_int_equal(D("letter.txt", "Dear MP, you will regret this."), TD_FORMAT_TEXT);
#undef D
    assert_int_equal(td_format_from_name("jsonl"), TD_FORMAT_JSONL);
    assert_int_equal(td_format_from_name("nope"), -1);
}

static void test_missing_file(void **state)
{
    (void)state;
    struct td_reader *r = NULL;
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_reader_open("/nonexistent/x.jsonl", NULL, &r, &err), TD_ENOTFOUND);
    assert_string_equal(err.file, "/nonexistent/x.jsonl");
    assert_null(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsonl_bad_records_do_not_lose_neighbours),
        cmocka_unit_test(test_jsonl_custom_fields),
        cmocka_unit_test(test_csv_quotes_multiline_and_errors),
        cmocka_unit_test(test_csv_missing_text_column_is_fatal),
        cmocka_unit_test(test_csv_unterminated_quote_at_end),
        cmocka_unit_test(test_lines_and_oversized_line),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_text_whole_file),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
