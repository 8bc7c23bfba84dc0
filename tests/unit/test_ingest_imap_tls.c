/*
 * test_ingest_imap_tls.c - td_imap_fetch over TLS against a real Dovecot
 * with a certificate made for this run (tests/fixtures/imap/dovecot.sh
 * start ... tls): imaps:// with the certificate trusted works; without it
 * the connection is refused (verification is on); imap:// with
 * require_tls upgrades through STARTTLS; and require_tls against a server
 * without TLS refuses to send the password at all.
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
#include <sodium.h>

#include "threatdesk/imap.h"

#define HELPER TD_SOURCE_DIR "/tests/fixtures/imap/dovecot.sh"
#define USER "security-lead"

static char dir[] = "/tmp/td-imaps-XXXXXX";
static char plain_dir[] = "/tmp/td-imapp-XXXXXX";
static char password[32], cert[300], state[300];
static int port, tls_port, plain_port;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static int count;
static int on_message(void *ud, const struct td_imap_msg *m, struct td_error *err)
{
    (void)ud;
    (void)err;
    assert_true(m->len > 0);
    count++;
    return TD_OK;
}

static int start(const char *d, const char *tls, int *p1, int *p2)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "TD_DOVECOT_OWNER=%d bash %s start %s %s %s %s", (int)getpid(),
             HELPER, d, USER, password, tls);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    int n = p2 ? fscanf(p, "%d %d", p1, p2) : fscanf(p, "%d", p1);
    return pclose(p) == 0 && n == (p2 ? 2 : 1) ? 0 : -1;
}

static int setup(void **s)
{
    (void)s;
    unsigned char rnd[8];
    randombytes_buf(rnd, sizeof rnd);
    memcpy(password, "pw-", 3);
    sodium_bin2hex(password + 3, sizeof password - 3, rnd, sizeof rnd);
    if (!mkdtemp(dir) || !mkdtemp(plain_dir))
        return -1;
    if (start(dir, "tls", &port, &tls_port) != 0 || start(plain_dir, "", &plain_port, NULL) != 0)
        return -1;
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(state, sizeof state, "%s/state.json", dir);
    char msg[300];
    snprintf(msg, sizeof msg, "%s/m.eml", dir);
    FILE *f = fopen(msg, "w");
    if (!f)
        return -1;
    fputs("From: a@example.org\r\nSubject: hi\r\n\r\nYou will be smashed.\r\n", f);
    fclose(f);
    return sh("bash %s deliver %s %s %s", HELPER, dir, USER, msg) == 0 ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    sh("bash %s stop %s; bash %s stop %s", HELPER, dir, HELPER, plain_dir);
    sh("rm -rf %s %s", dir, plain_dir);
    return 0;
}

static int fetch(const char *url, const char *ca, int require_tls, struct td_error *err)
{
    struct td_imap_opts o = {.url = url,
                             .user = USER,
                             .password = password,
                             .state_path = state,
                             .ca_file = ca,
                             .require_tls = require_tls,
                             .timeout = 20};
    td_error_clear(err);
    return td_imap_fetch(&o, on_message, NULL, NULL, NULL, err);
}

static void test_imaps_untrusted_refused(void **s)
{
    (void)s;
    char url[128];
    struct td_error err;
    snprintf(url, sizeof url, "imaps://localhost:%d/INBOX", tls_port);
    count = 0;
    assert_int_equal(fetch(url, NULL, 0, &err), TD_ENET);
    assert_int_equal(count, 0);
}

static void test_imaps_trusted(void **s)
{
    (void)s;
    char url[128];
    struct td_error err;
    snprintf(url, sizeof url, "imaps://localhost:%d/INBOX", tls_port);
    count = 0;
    int rc = fetch(url, cert, 0, &err);
    if (rc)
        print_message("%s\n", err.message);
    assert_int_equal(rc, TD_OK);
    assert_int_equal(count, 1);
}

static void test_starttls_required(void **s)
{
    (void)s;
    char url[128];
    struct td_error err;
    snprintf(url, sizeof url, "imap://localhost:%d/INBOX", port);
    count = 0;
    int rc = fetch(url, cert, 1, &err);
    if (rc)
        print_message("%s\n", err.message);
    assert_int_equal(rc, TD_OK);
    /* a different URL scheme/port is a different state key: read afresh */
    assert_int_equal(count, 1);
}

static void test_require_tls_without_tls(void **s)
{
    (void)s;
    char url[128];
    struct td_error err;
    snprintf(url, sizeof url, "imap://127.0.0.1:%d/INBOX", plain_port);
    assert_int_equal(fetch(url, NULL, 1, &err), TD_ENET);
    assert_non_null(strstr(err.message, "STARTTLS"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_imaps_untrusted_refused),
        cmocka_unit_test(test_imaps_trusted),
        cmocka_unit_test(test_starttls_required),
        cmocka_unit_test(test_require_tls_without_tls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
