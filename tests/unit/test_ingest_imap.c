/*
 * test_ingest_imap.c - td_imap_fetch against a real Dovecot.
 *
 * The group setup starts Dovecot (tests/fixtures/imap/dovecot.sh) on
 * loopback at a free port with a generated user and password and an empty
 * Maildir; each test delivers messages into the Maildir the way an MTA does
 * and fetches them.  The tests share one server and one state file and run
 * in order: the mailbox's history is part of what is being tested.
 */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "threatdesk/imap.h"

#define HELPER TD_SOURCE_DIR "/tests/fixtures/imap/dovecot.sh"
#define USER "caseworker"

static char dir[] = "/tmp/td-imap-XXXXXX";
static char password[32];
static char url[128];
static char state[256];
static int up;

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

/* Write n messages (numbered from `first`) and deliver them. */
static void deliver(int first, int n)
{
    char files[4096] = "";
    size_t o = 0;
    for (int i = first; i < first + n; i++) {
        char path[300];
        snprintf(path, sizeof path, "%s/msg%d.eml", dir, i);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fprintf(f,
                "From: Sender %d <sender%d@example.org>\r\nTo: mp@example.org\r\n"
                "Subject: message %d\r\nMessage-ID: <m%d@example.org>\r\n"
                "Date: Sun, 29 Nov 2026 04:00:00 +0000\r\n\r\n"
                "Body of message %d. You will be smashed and killed within days.\r\n",
                i, i, i, i, i);
        fclose(f);
        o += (size_t)snprintf(files + o, sizeof files - o, " %s", path);
    }
    assert_int_equal(sh("bash %s deliver %s %s%s", HELPER, dir, USER, files), 0);
}

struct got {
    uint32_t uids[64];
    int numbers[64]; /* the "message N" of each */
    size_t n;
    int fail_at;      /* return TD_EIO for this message number */
    int expunge_next; /* delete message N+1 from the Maildir when N comes */
};

static int on_message(void *ud, const struct td_imap_msg *m, struct td_error *err)
{
    struct got *g = ud;
    const char *s = memmem(m->data, m->len, "Subject: message ", 17);
    assert_non_null(s);
    int num = (int)strtol(s + 17, NULL, 10);
    if (num == g->fail_at)
        return td_error_set(err, TD_EIO, "test refuses message %d", num);
    if (g->expunge_next) {
        /* someone deletes message num+1 in their mail client meanwhile */
        assert_int_equal(sh("grep -l 'Subject: message %d' %s/home/%s/Maildir/*/* | xargs rm -f",
                            num + 1, dir, USER),
                         0);
    }
    assert_true(g->n < 64);
    assert_non_null(memmem(m->data, m->len, "smashed and killed", 18));
    assert_non_null(strstr(m->mailbox, "/INBOX"));
    g->uids[g->n] = m->uid;
    g->numbers[g->n++] = num;
    return TD_OK;
}

static int skipped, skip_code;
static void on_skip(void *ud, uint32_t uid, const struct td_error *err)
{
    (void)ud;
    (void)uid;
    skip_code = err->code;
    skipped++;
}

static size_t max_messages; /* per run, 0: all */

static int fetch(struct got *g, struct td_imap_stats *st, size_t max_message)
{
    struct td_imap_opts o = {.url = url,
                             .user = USER,
                             .password = password,
                             .state_path = state,
                             .max_message = max_message,
                             .max_messages = max_messages,
                             .timeout = 20};
    struct td_error err;
    td_error_clear(&err);
    int rc = td_imap_fetch(&o, on_message, on_skip, g, st, &err);
    if (rc != TD_OK && rc != TD_EIO)
        print_message("td_imap_fetch: %s\n", err.message);
    return rc;
}

static int setup(void **state_)
{
    (void)state_;
    if (!mkdtemp(dir))
        return -1;
    /* a generated password: the test never depends on a fixed secret */
    unsigned char rnd[8];
    randombytes_buf(rnd, sizeof rnd);
    memcpy(password, "pw-", 3);
    sodium_bin2hex(password + 3, sizeof password - 3, rnd, sizeof rnd);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "TD_DOVECOT_OWNER=%d bash %s start %s %s %s", (int)getpid(), HELPER,
             dir, USER, password);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    int port = 0;
    if (fscanf(p, "%d", &port) != 1)
        port = 0;
    if (pclose(p) != 0 || port <= 0)
        return -1;
    up = 1;
    snprintf(url, sizeof url, "imap://127.0.0.1:%d/INBOX", port);
    snprintf(state, sizeof state, "%s/state.json", dir);
    return 0;
}

static int teardown(void **state_)
{
    (void)state_;
    if (up)
        sh("bash %s stop %s", HELPER, dir);
    sh("rm -rf %s", dir);
    return 0;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_first_fetch_gets_all(void **s)
{
    (void)s;
    deliver(1, 3);
    struct got g = {.fail_at = -1};
    struct td_imap_stats st;
    assert_int_equal(fetch(&g, &st, 0), TD_OK);
    assert_int_equal(g.n, 3);
    assert_int_equal(st.fetched, 3);
    for (size_t i = 0; i < g.n; i++)
        assert_true(i == 0 || g.uids[i] > g.uids[i - 1]); /* UID order */
    assert_int_equal(st.last_uid, g.uids[2]);
    assert_true(st.uidvalidity > 0);
    assert_false(st.uidvalidity_changed);
    /* the office's mail stays unread: no maildir file carries the S flag */
    char cur[300];
    snprintf(cur, sizeof cur, "%s/home/%s/Maildir/cur", dir, USER);
    DIR *d = opendir(cur);
    assert_non_null(d);
    int files = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        files++;
        const char *flags = strstr(e->d_name, ":2,");
        assert_true(flags == NULL || strchr(flags, 'S') == NULL);
    }
    closedir(d);
    assert_int_equal(files, 3);
}

static void test_second_fetch_gets_nothing(void **s)
{
    (void)s;
    struct got g = {.fail_at = -1};
    struct td_imap_stats st;
    assert_int_equal(fetch(&g, &st, 0), TD_OK);
    assert_int_equal(g.n, 0);
    assert_int_equal(st.new_uids, 0);
}

static void test_new_mail_only(void **s)
{
    (void)s;
    deliver(4, 2);
    struct got g = {.fail_at = -1};
    struct td_imap_stats st;
    assert_int_equal(fetch(&g, &st, 0), TD_OK);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.numbers[0] + g.numbers[1], 4 + 5);
}

static void test_callback_failure_is_retried(void **s)
{
    (void)s;
    deliver(6, 2);
    struct got g = {.fail_at = 7};
    struct td_imap_stats st;
    /* 6 is accepted, 7 refused: the run stops there */
    assert_int_equal(fetch(&g, &st, 0), TD_EIO);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.numbers[0], 6);
    /* next time 7 comes again, and only 7 */
    struct got g2 = {.fail_at = -1};
    assert_int_equal(fetch(&g2, &st, 0), TD_OK);
    assert_int_equal(g2.n, 1);
    assert_int_equal(g2.numbers[0], 7);
}

static void test_too_large_is_skipped(void **s)
{
    (void)s;
    deliver(8, 1);
    struct got g = {.fail_at = -1};
    struct td_imap_stats st;
    skipped = 0;
    assert_int_equal(fetch(&g, &st, 64), TD_OK); /* 64-byte cap */
    assert_int_equal(g.n, 0);
    assert_int_equal(skipped, 1);
    assert_int_equal(skip_code, TD_ETOOBIG);
    assert_int_equal(st.skipped, 1);
    /* reported once, not retried forever */
    assert_int_equal(fetch(&g, &st, 0), TD_OK);
    assert_int_equal(g.n, 0);
}

static void test_uidvalidity_change_no_duplicates(void **s)
{
    (void)s;
    assert_int_equal(sh("bash %s renumber %s %s 4242", HELPER, dir, USER), 0);
    deliver(9, 1);
    struct got g = {.fail_at = -1};
    struct td_imap_stats st;
    assert_int_equal(fetch(&g, &st, 0), TD_OK);
    assert_true(st.uidvalidity_changed);
    assert_int_equal(st.uidvalidity, 4242);
    /* 1..7 were analysed before and are recognised; 8 was skipped as too
     * large (so never seen) and comes now; 9 is new */
    assert_int_equal(st.duplicates, 7);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.numbers[0] + g.numbers[1], 8 + 9);
    assert_int_equal(fetch(&g, &st, 0), TD_OK);
    assert_int_equal(st.new_uids, 0);
}

static void test_expunged_meanwhile(void **s)
{
    (void)s;
    deliver(10, 2);
    struct got g = {.fail_at = -1, .expunge_next = 1};
    struct td_imap_stats st;
    skipped = 0;
    assert_int_equal(fetch(&g, &st, 0), TD_OK);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.numbers[0], 10);
    assert_int_equal(skipped, 1);
    assert_int_equal(skip_code, TD_ENOTFOUND);
    g.expunge_next = 0;
    assert_int_equal(fetch(&g, &st, 0), TD_OK);
    assert_int_equal(st.new_uids, 0);
}

/* --limit: a run takes at most N, the next run the rest, none twice */
static void test_limit_per_run(void **s)
{
    (void)s;
    deliver(12, 3);
    struct got g = {.fail_at = -1}, g2 = {.fail_at = -1};
    struct td_imap_stats st;
    max_messages = 2;
    assert_int_equal(fetch(&g, &st, 0), TD_OK);
    assert_int_equal(st.new_uids, 3);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.numbers[0] + g.numbers[1], 12 + 13);
    assert_int_equal(fetch(&g2, &st, 0), TD_OK);
    max_messages = 0;
    assert_int_equal(g2.n, 1);
    assert_int_equal(g2.numbers[0], 14);
}

static void test_wrong_password(void **s)
{
    (void)s;
    struct td_imap_opts o = {
        .url = url, .user = USER, .password = "not-the-password", .state_path = state};
    struct td_error err;
    struct got g = {.fail_at = -1};
    td_error_clear(&err);
    assert_int_equal(td_imap_fetch(&o, on_message, NULL, &g, NULL, &err), TD_EDENIED);
    assert_non_null(strstr(err.message, "refused the login"));
    assert_non_null(strstr(err.message, USER));
    assert_null(strstr(err.message, "not-the-password"));
}

static void test_bad_options(void **s)
{
    (void)s;
    struct td_error err;
    struct got g = {.fail_at = -1};
    struct td_imap_opts o = {.url = "imap://u:secret@127.0.0.1:1/INBOX",
                             .user = USER,
                             .password = password,
                             .state_path = state};
    assert_int_equal(td_imap_fetch(&o, on_message, NULL, &g, NULL, &err), TD_EINVAL);
    assert_non_null(strstr(err.message, "credentials"));
    o.url = "http://127.0.0.1/INBOX";
    assert_int_equal(td_imap_fetch(&o, on_message, NULL, &g, NULL, &err), TD_EINVAL);
    o.url = "imap://127.0.0.1:1/IN\"BOX";
    assert_int_equal(td_imap_fetch(&o, on_message, NULL, &g, NULL, &err), TD_EINVAL);
    o.url = url;
    o.password = NULL;
    assert_int_equal(td_imap_fetch(&o, on_message, NULL, &g, NULL, &err), TD_EINVAL);
    /* nothing listens on port 1: a network error, not a crash */
    o.url = "imap://127.0.0.1:1/INBOX";
    o.password = password;
    assert_int_equal(td_imap_fetch(&o, on_message, NULL, &g, NULL, &err), TD_ENET);
}

static void test_state_file_guarded(void **s)
{
    (void)s;
    struct td_error err;
    struct got g = {.fail_at = -1};
    char bad[300], lock[300];
    snprintf(bad, sizeof bad, "%s/bad.json", dir);
    FILE *f = fopen(bad, "w");
    fputs("{\"version\": 1, \"mailboxes\": [", f);
    fclose(f);
    struct td_imap_opts o = {.url = url, .user = USER, .password = password, .state_path = bad};
    td_error_clear(&err);
    assert_int_equal(td_imap_fetch(&o, on_message, NULL, &g, NULL, &err), TD_EPARSE);
    assert_string_equal(err.file, bad);
    /* a second fetch while one holds the lock is refused */
    snprintf(lock, sizeof lock, "%s.lock", state);
    int fd = open(lock, O_RDWR | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    o.state_path = state;
    assert_int_equal(td_imap_fetch(&o, on_message, NULL, &g, NULL, &err), TD_EEXISTS);
    close(fd);
    assert_int_equal(td_imap_fetch(&o, on_message, NULL, &g, NULL, &err), TD_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_fetch_gets_all),
        cmocka_unit_test(test_second_fetch_gets_nothing),
        cmocka_unit_test(test_new_mail_only),
        cmocka_unit_test(test_callback_failure_is_retried),
        cmocka_unit_test(test_too_large_is_skipped),
        cmocka_unit_test(test_uidvalidity_change_no_duplicates),
        cmocka_unit_test(test_expunged_meanwhile),
        cmocka_unit_test(test_limit_per_run),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_state_file_guarded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
