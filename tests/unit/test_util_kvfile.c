/*
 * test_util_kvfile.c - the "key = value" reader shared by the server's and
 * the alerts' configuration: pairs in order with comments, blanks and
 * spaces dropped; a bad line, an overlong line, a refused value or a
 * missing file stops the read and names the file and line; environment
 * overrides are THREATDESK_ + the key upper-cased and name the variable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "threatdesk/kvfile.h"

struct seen {
    char pairs[8][2][64];
    int n;
};

static int record(void *target, const char *key, const char *value, struct td_error *err)
{
    struct seen *s = target;
    if (strcmp(value, "refuse") == 0)
        return td_error_set(err, TD_EINVAL, "%s refused", key);
    assert_true(s->n < 8);
    snprintf(s->pairs[s->n][0], 64, "%s", key);
    snprintf(s->pairs[s->n][1], 64, "%s", value);
    s->n++;
    return TD_OK;
}

static void write_file(char *path, size_t size, const char *text)
{
    snprintf(path, size, "/tmp/td-kvfile-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int load(const char *text, struct seen *s, struct td_error *err)
{
    char path[64];
    write_file(path, sizeof path, text);
    memset(s, 0, sizeof *s);
    td_error_clear(err);
    int rc = td_kv_file_load(path, record, s, err);
    unlink(path);
    return rc;
}

static void test_pairs_in_order(void **state)
{
    (void)state;
    struct seen s;
    struct td_error err;
    assert_int_equal(load("# a comment\n\n  listen =  127.0.0.1:8080 \n"
                          "db=sqlite:/tmp/x.db\n\t# indented comment\nempty =\n"
                          "url = https://a/b?c=d",
                          &s, &err),
                     TD_OK);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.pairs[0][0], "listen");
    assert_string_equal(s.pairs[0][1], "127.0.0.1:8080");
    assert_string_equal(s.pairs[1][1], "sqlite:/tmp/x.db");
    assert_string_equal(s.pairs[2][0], "empty");
    assert_string_equal(s.pairs[2][1], "");
    /* the first '=' splits: a value may hold more, and the last line needs
     * no newline */
    assert_string_equal(s.pairs[3][1], "https://a/b?c=d");
}

static void test_errors_name_the_line(void **state)
{
    (void)state;
    struct seen s;
    struct td_error err;
    assert_int_equal(load("a = 1\n\nno equals sign here\nb = 2\n", &s, &err), TD_EPARSE);
    assert_int_equal(err.line, 3);
    assert_int_equal(s.n, 1); /* stopped there: b never set */
    assert_non_null(strstr(err.file, "td-kvfile-"));

    assert_int_equal(load("a = 1\nb = refuse\nc = 3\n", &s, &err), TD_EINVAL);
    assert_int_equal(err.line, 2);
    assert_string_equal(err.message, "b refused");
    assert_int_equal(s.n, 1);

    char big[3000];
    memset(big, 'x', sizeof big);
    memcpy(big, "a = 1\nk = ", 10);
    big[sizeof big - 2] = '\n';
    big[sizeof big - 1] = '\0';
    assert_int_equal(load(big, &s, &err), TD_ETOOBIG);
    assert_int_equal(err.line, 2);

    td_error_clear(&err);
    assert_int_equal(td_kv_file_load("/nonexistent/td.conf", record, &s, &err), TD_EIO);
    assert_string_equal(err.file, "/nonexistent/td.conf");
}

static void test_environment(void **state)
{
    (void)state;
    struct seen s;
    struct td_error err;
    const char *keys[] = {"max_body", "smtp_password", "not_set"};
    memset(&s, 0, sizeof s);
    td_error_clear(&err);
    unsetenv("THREATDESK_NOT_SET");
    setenv("THREATDESK_MAX_BODY", "4096", 1);
    setenv("THREATDESK_SMTP_PASSWORD", "s3cret", 1);
    assert_int_equal(td_kv_env_apply(keys, 3, record, &s, &err), TD_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.pairs[0][0], "max_body");
    assert_string_equal(s.pairs[0][1], "4096");
    assert_string_equal(s.pairs[1][1], "s3cret");
    setenv("THREATDESK_MAX_BODY", "refuse", 1);
    assert_int_equal(td_kv_env_apply(keys, 3, record, &s, &err), TD_EINVAL);
    assert_string_equal(err.file, "THREATDESK_MAX_BODY");
    unsetenv("THREATDESK_MAX_BODY");
    unsetenv("THREATDESK_SMTP_PASSWORD");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pairs_in_order),
        cmocka_unit_test(test_errors_name_the_line),
        cmocka_unit_test(test_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
