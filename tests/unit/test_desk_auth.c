/*
 * test_desk_auth.c - Argon2id passwords, sessions, API keys, login rate
 * limiting that survives a restart, first start, user management.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit/desk_fixture.h"

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    fx_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_close(*state);
    free(*state);
    return 0;
}

/* One text column of the first row of a query on the store. */
static void peek(struct fx *f, const char *sql, char *out, size_t size)
{
    assert_int_equal(fx_sql_text(f, sql, out, size), 0);
}

static void test_passwords_and_sessions(void **state)
{
    struct fx *f = *state;
    struct td_error err;
    struct td_actor a, b;
    char tok[TD_TOKEN_SIZE], buf[256];
    unsigned retry = 0;
    td_error_clear(&err);
    /* an office is made on purpose: a typo does not create one */
    assert_int_equal(td_desk_user_add(f->d, NULL, "ofice-a", "alice", TD_ROLE_CASEWORKER,
                                      "s3cret-enough", NULL, &err),
                     TD_ENOTFOUND);
    assert_string_equal(err.field, "office");
    peek(f, "SELECT count(*) FROM offices", buf, sizeof buf);
    assert_string_equal(buf, "0");
    assert_int_equal(td_desk_office_add(f->d, NULL, "office-a", NULL, &err), TD_OK);
    assert_int_equal(td_desk_office_add(f->d, NULL, "office-b", NULL, &err), TD_OK);
    assert_int_equal(td_desk_office_add(f->d, NULL, "office-a", NULL, &err), TD_EEXISTS);
    assert_int_equal(
        td_desk_user_add(f->d, NULL, "office-a", "alice", TD_ROLE_CASEWORKER, "short", NULL, &err),
        TD_EINVAL);
    assert_int_equal(td_desk_user_add(f->d, NULL, "office-a", "alice", TD_ROLE_CASEWORKER,
                                      "s3cret-enough", NULL, &err),
                     TD_OK);
    assert_int_equal(td_desk_user_add(f->d, NULL, "office-a", "alice", TD_ROLE_ADMIN,
                                      "another-pass", NULL, &err),
                     TD_EEXISTS);
    /* stored as an Argon2id string, never the password */
    peek(f, "SELECT pwhash FROM users WHERE name = 'alice'", buf, sizeof buf);
    assert_memory_equal(buf, "$argon2id$", 10);
    assert_null(strstr(buf, "s3cret-enough"));

    assert_int_equal(
        td_desk_login(f->d, "alice", "wrong-password", "10.0.0.1", tok, &a, &retry, &err),
        TD_EDENIED);
    assert_int_equal(retry, 0);
    assert_string_equal(tok, "");
    char wrong_pw_msg[512];
    snprintf(wrong_pw_msg, sizeof wrong_pw_msg, "%s", err.message);
    assert_int_equal(
        td_desk_login(f->d, "mallory", "s3cret-enough", "10.0.0.1", tok, &a, &retry, &err),
        TD_EDENIED);
    assert_string_equal(err.message, wrong_pw_msg); /* same answer for both */

    assert_int_equal(
        td_desk_login(f->d, "alice", "s3cret-enough", "10.0.0.1", tok, &a, &retry, &err), TD_OK);
    assert_int_equal(strlen(tok), 64);
    assert_string_equal(a.username, "alice");
    assert_string_equal(a.office, "office-a");
    assert_int_equal(a.role, TD_ROLE_CASEWORKER);
    /* the token itself is not in the store */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM sessions WHERE token_hash = '%s'", tok);
    peek(f, sql, buf, sizeof buf);
    assert_string_equal(buf, "0");

    assert_int_equal(td_desk_authenticate(f->d, tok, &b, &err), TD_OK);
    assert_int_equal(b.user_id, a.user_id);
    assert_int_equal(b.office_id, a.office_id);
    /* a role change applies to the live session */
    assert_int_equal(td_desk_user_role(f->d, NULL, "alice", TD_ROLE_SECURITY, &err), TD_OK);
    assert_int_equal(td_desk_authenticate(f->d, tok, &b, &err), TD_OK);
    assert_int_equal(b.role, TD_ROLE_SECURITY);
    assert_int_equal(td_desk_logout(f->d, tok, &err), TD_OK);
    assert_int_equal(td_desk_authenticate(f->d, tok, &b, &err), TD_EDENIED);
    assert_int_equal(td_desk_authenticate(f->d, "nonsense", &b, &err), TD_EDENIED);

    /* changing the password: the old one stops working, and so do the
     * sessions opened with it */
    assert_int_equal(
        td_desk_login(f->d, "alice", "s3cret-enough", "10.0.0.1", tok, &a, &retry, &err), TD_OK);
    assert_int_equal(td_desk_authenticate(f->d, tok, &b, &err), TD_OK);
    assert_int_equal(td_desk_user_passwd(f->d, &a, "alice", "brand-new-pass", &err), TD_OK);
    assert_int_equal(td_desk_authenticate(f->d, tok, &b, &err), TD_EDENIED);
    assert_int_equal(
        td_desk_login(f->d, "alice", "s3cret-enough", "10.0.0.1", tok, &a, &retry, &err),
        TD_EDENIED);
    assert_int_equal(
        td_desk_login(f->d, "alice", "brand-new-pass", "10.0.0.1", tok, &a, &retry, &err), TD_OK);
}

static void test_login_rate_limit_survives_restart(void **state)
{
    struct fx *f = *state;
    struct td_error err;
    struct td_actor a;
    char tok[TD_TOKEN_SIZE];
    unsigned retry = 0;
    td_error_clear(&err);
    assert_int_equal(td_desk_office_add(f->d, NULL, "o", NULL, &err), TD_OK);
    assert_int_equal(
        td_desk_user_add(f->d, NULL, "o", "bob", TD_ROLE_CASEWORKER, "right-password", NULL, &err),
        TD_OK);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(
            td_desk_login(f->d, "bob", "guess-number-x", "192.0.2.7", tok, &a, &retry, &err),
            TD_EDENIED);
        assert_int_equal(retry, 0);
    }
    /* the sixth try is refused even with the right password */
    assert_int_equal(
        td_desk_login(f->d, "bob", "right-password", "192.0.2.7", tok, &a, &retry, &err),
        TD_EDENIED);
    assert_true(retry > 0 && retry <= 900);
    assert_string_equal(tok, "");
    /* a restart does not reset it */
    td_desk_close(f->d);
    fx_open_desk(f);
    retry = 0;
    assert_int_equal(
        td_desk_login(f->d, "bob", "right-password", "192.0.2.7", tok, &a, &retry, &err),
        TD_EDENIED);
    assert_true(retry > 0);
    /* another source is not locked out */
    assert_int_equal(
        td_desk_login(f->d, "bob", "right-password", "198.51.100.1", tok, &a, &retry, &err), TD_OK);
}

/* Servers in several processes share the lock-out: four processes each
 * guessing ten times get no more than the limit's password checks
 * between them (the rest are refused as locked out, unchecked). */
static void test_login_limit_holds_across_processes(void **state)
{
    struct fx *f = *state;
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_desk_office_add(f->d, NULL, "o", NULL, &err), TD_OK);
    assert_int_equal(td_desk_user_add(f->d, NULL, "o", "carol", TD_ROLE_CASEWORKER,
                                      "right-password", NULL, &err),
                     TD_OK);
    enum { PROCS = 4, TRIES = 10 };
    int fd[2], go[2];
    assert_int_equal(pipe(fd), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid[PROCS];
    for (int i = 0; i < PROCS; i++) {
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0) {
            /* a process of its own: its own connection, its own desk lock */
            struct td_desk_opts o;
            struct td_desk *d = NULL;
            struct td_error e;
            td_error_clear(&e);
            td_desk_opts_init(&o);
            o.db = f->db;
            o.data_dir = f->data;
            o.login_max_failures = 2; /* fewer than the processes: all four
                                       * start at once, so without a shared
                                       * lock each would count none before it */
            if (td_desk_open(&o, &d, &e) != TD_OK)
                _exit(2);
            /* start together: each waits until the parent closes "go" */
            char b;
            close(go[1]);
            if (read(go[0], &b, 1) != 0)
                _exit(4);
            int checked = 0;
            for (int k = 0; k < TRIES; k++) {
                struct td_actor a;
                char tok[TD_TOKEN_SIZE];
                unsigned retry = 0;
                td_error_clear(&e);
                int rc = td_desk_login(d, "carol", "guess", "192.0.2.9", tok, &a, &retry, &e);
                checked += rc == TD_EDENIED && retry == 0; /* a wrong password, not a lock-out */
            }
            td_desk_close(d);
            unsigned char c = (unsigned char)checked;
            _exit(write(fd[1], &c, 1) == 1 ? 0 : 3);
        }
    }
    close(fd[1]);
    close(go[0]);
    close(go[1]);
    int total = 0;
    for (int i = 0; i < PROCS; i++) {
        int st = 0;
        assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        unsigned char c = 0;
        assert_int_equal(read(fd[0], &c, 1), 1);
        total += c;
    }
    close(fd[0]);
    assert_true(total >= 1);
    assert_true(total <= 2);
}

static void test_first_start_and_api_keys(void **state)
{
    struct fx *f = *state;
    struct td_error err;
    struct td_actor a, k;
    char pw[TD_PASSWORD_SIZE], pw2[TD_PASSWORD_SIZE], tok[TD_TOKEN_SIZE], key[TD_TOKEN_SIZE];
    int created = 0;
    unsigned retry;
    td_error_clear(&err);
    assert_int_equal(td_desk_first_start(f->d, pw, &created, &err), TD_OK);
    assert_int_equal(created, 1);
    assert_int_equal(strlen(pw), TD_PASSWORD_SIZE - 1);
    assert_int_equal(td_desk_first_start(f->d, pw2, &created, &err), TD_OK);
    assert_int_equal(created, 0);
    assert_string_equal(pw2, "");
    assert_int_equal(td_desk_login(f->d, "admin", pw, NULL, tok, &a, &retry, &err), TD_OK);
    assert_int_equal(a.role, TD_ROLE_ADMIN);
    assert_string_equal(a.office, "default");
    /* the one-time password must be replaced before anything else (the
     * front doors enforce it from this flag) */
    assert_int_equal(a.must_change, 1);
    struct td_actor again;
    assert_int_equal(td_desk_authenticate(f->d, tok, &again, &err), TD_OK);
    assert_int_equal(again.must_change, 1);
    assert_int_equal(td_desk_user_passwd(f->d, &a, "admin", "a-new-admin-pw", &err), TD_OK);
    assert_int_equal(td_desk_login(f->d, "admin", "a-new-admin-pw", NULL, tok, &a, &retry, &err),
                     TD_OK);
    assert_int_equal(a.must_change, 0);

    /* the admin adds a police liaison and issues it a key */
    assert_int_equal(
        td_desk_user_add(f->d, &a, NULL, "pc-smith", TD_ROLE_POLICE, "constable-pw", NULL, &err),
        TD_OK);
    assert_int_equal(td_desk_api_key_create(f->d, &a, "pc-smith", "liaison", key, NULL, &err),
                     TD_OK);
    assert_int_equal(td_desk_authenticate_key(f->d, key, &k, &err), TD_OK);
    assert_string_equal(k.username, "pc-smith");
    assert_int_equal(k.role, TD_ROLE_POLICE);
    assert_int_equal(k.office_id, a.office_id);
    key[0] = key[0] == 'a' ? 'b' : 'a';
    assert_int_equal(td_desk_authenticate_key(f->d, key, &k, &err), TD_EDENIED);
    /* a session token is not an API key */
    assert_int_equal(td_desk_authenticate_key(f->d, tok, &k, &err), TD_EDENIED);
}

/* The details of the last audit entry with this action. */
static void last_details(struct fx *f, const char *action, char *out, size_t size)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT details FROM audit WHERE action = '%s' ORDER BY id DESC LIMIT 1", action);
    peek(f, sql, out, size);
}

/* Issue 8 items 3 and 7: keys are listed and revoked, users disabled and
 * enabled (sessions and keys die at once), a password change revokes the
 * user's keys; every step is audited and names the credential used. */
static void test_credentials_are_revocable(void **state)
{
    struct fx *f = *state;
    struct td_error err;
    struct td_actor admin, cw, who;
    char tok[TD_TOKEN_SIZE], atok[TD_TOKEN_SIZE], key[TD_TOKEN_SIZE], key2[TD_TOKEN_SIZE];
    char buf[1024];
    int64_t kid = 0, kid2 = 0;
    unsigned retry;
    json_t *o = NULL;
    td_error_clear(&err);
    assert_int_equal(td_desk_office_add(f->d, NULL, "o", NULL, &err), TD_OK);
    assert_int_equal(
        td_desk_user_add(f->d, NULL, "o", "boss", TD_ROLE_ADMIN, "boss-password", NULL, &err),
        TD_OK);
    assert_int_equal(
        td_desk_user_add(f->d, NULL, "o", "cw", TD_ROLE_CASEWORKER, "cw-password", NULL, &err),
        TD_OK);
    assert_int_equal(td_desk_login(f->d, "boss", "boss-password", NULL, atok, &admin, &retry, &err),
                     TD_OK);
    assert_true(admin.session_id > 0);

    /* the admin mints a key for the caseworker and acts with it: the audit
     * entry names the key and its issuer */
    assert_int_equal(td_desk_api_key_create(f->d, &admin, "cw", "mailer", key, &kid, &err), TD_OK);
    assert_int_equal(td_desk_authenticate_key(f->d, key, &who, &err), TD_OK);
    assert_int_equal(who.key_id, kid);
    assert_int_equal(who.key_issued_by, admin.user_id);
    json_t *c = json_pack("{s:s, s:s}", "type", "other", "title", "filed with a key");
    assert_int_equal(td_desk_case_create(f->d, &who, c, NULL, &err), TD_OK);
    json_decref(c);
    last_details(f, "case.create", buf, sizeof buf);
    char want[128];
    snprintf(want, sizeof want, "\"credential\":{\"issued_by\":%lld,\"key\":%lld}",
             (long long)admin.user_id, (long long)kid);
    assert_non_null(strstr(buf, want));
    last_details(f, "apikey.create", buf, sizeof buf);
    snprintf(want, sizeof want, "\"credential\":{\"session\":%lld}", (long long)admin.session_id);
    assert_non_null(strstr(buf, want));

    /* list and revoke */
    assert_int_equal(td_desk_api_key_list(f->d, &admin, NULL, NULL, &o, &err), TD_OK);
    assert_int_equal(json_array_size(json_object_get(o, "keys")), 1);
    json_t *k0 = json_array_get(json_object_get(o, "keys"), 0);
    assert_string_equal(json_string_value(json_object_get(k0, "user")), "cw");
    assert_string_equal(json_string_value(json_object_get(k0, "issued_by")), "boss");
    assert_null(json_object_get(k0, "revoked"));
    json_decref(o);
    assert_int_equal(td_desk_api_key_revoke(f->d, &who, kid, &err), TD_EDENIED);
    assert_int_equal(td_desk_api_key_revoke(f->d, &admin, kid, &err), TD_OK);
    assert_int_equal(td_desk_authenticate_key(f->d, key, &who, &err), TD_EDENIED);
    assert_int_equal(td_desk_api_key_revoke(f->d, &admin, kid + 100, &err), TD_ENOTFOUND);
    assert_int_equal(td_desk_api_key_list(f->d, &admin, NULL, "cw", &o, &err), TD_OK);
    k0 = json_array_get(json_object_get(o, "keys"), 0);
    assert_non_null(json_object_get(k0, "revoked"));
    assert_string_equal(json_string_value(json_object_get(k0, "revoked_by")), "boss");
    json_decref(o);
    last_details(f, "apikey.revoke", buf, sizeof buf);
    assert_non_null(strstr(buf, "\"name\":\"cw\""));

    /* disable: the session and a live key stop at once; login refused */
    assert_int_equal(td_desk_api_key_create(f->d, &admin, "cw", NULL, key2, &kid2, &err), TD_OK);
    assert_int_equal(td_desk_login(f->d, "cw", "cw-password", NULL, tok, &cw, &retry, &err), TD_OK);
    assert_int_equal(td_desk_user_set_disabled(f->d, &cw, "cw", 1, &err), TD_EDENIED);
    assert_int_equal(td_desk_user_set_disabled(f->d, &admin, "cw", 1, &err), TD_OK);
    assert_int_equal(td_desk_authenticate(f->d, tok, &who, &err), TD_EDENIED);
    assert_int_equal(td_desk_authenticate_key(f->d, key2, &who, &err), TD_EDENIED);
    assert_int_equal(td_desk_login(f->d, "cw", "cw-password", NULL, tok, &cw, &retry, &err),
                     TD_EDENIED);
    last_details(f, "user.disable", buf, sizeof buf);
    assert_non_null(strstr(buf, "keys_revoked"));
    assert_int_equal(td_desk_user_list(f->d, &admin, &o, &err), TD_OK);
    json_t *u;
    size_t i;
    int disabled_cw = 0;
    json_array_foreach(json_object_get(o, "users"), i, u) disabled_cw +=
        !strcmp(json_string_value(json_object_get(u, "name")), "cw") &&
        json_integer_value(json_object_get(u, "disabled")) == 1;
    assert_int_equal(disabled_cw, 1);
    json_decref(o);
    /* enable: logins work again; the revoked key stays revoked */
    assert_int_equal(td_desk_user_set_disabled(f->d, NULL, "cw", 0, &err), TD_OK);
    assert_int_equal(td_desk_login(f->d, "cw", "cw-password", NULL, tok, &cw, &retry, &err), TD_OK);
    assert_int_equal(td_desk_authenticate_key(f->d, key2, &who, &err), TD_EDENIED);
    last_details(f, "user.enable", buf, sizeof buf);
    assert_non_null(strstr(buf, "\"name\":\"cw\""));

    /* a password change ends the sessions AND revokes the user's keys */
    assert_int_equal(td_desk_api_key_create(f->d, &admin, "cw", NULL, key, &kid, &err), TD_OK);
    assert_int_equal(td_desk_authenticate_key(f->d, key, &who, &err), TD_OK);
    assert_int_equal(td_desk_user_passwd(f->d, &cw, "cw", "cw-password-2", &err), TD_OK);
    assert_int_equal(td_desk_authenticate(f->d, tok, &who, &err), TD_EDENIED);
    assert_int_equal(td_desk_authenticate_key(f->d, key, &who, &err), TD_EDENIED);
    last_details(f, "user.passwd", buf, sizeof buf);
    snprintf(want, sizeof want, "\"keys_revoked\":[%lld]", (long long)kid);
    assert_non_null(strstr(buf, want));

    /* the last admin of an office can be neither demoted nor disabled */
    assert_int_equal(td_desk_user_role(f->d, &admin, "boss", TD_ROLE_CASEWORKER, &err), TD_EINVAL);
    assert_string_equal(err.field, "role");
    assert_int_equal(td_desk_user_set_disabled(f->d, NULL, "boss", 1, &err), TD_EINVAL);
    assert_int_equal(td_desk_user_role(f->d, &admin, "cw", TD_ROLE_ADMIN, &err), TD_OK);
    assert_int_equal(td_desk_user_role(f->d, &admin, "boss", TD_ROLE_CASEWORKER, &err), TD_OK);
}

/* Issue 8: a user name is unique within an office, not across offices. */
static void test_names_are_unique_per_office(void **state)
{
    struct fx *f = *state;
    struct td_error err;
    struct td_actor a, b;
    char tok[TD_TOKEN_SIZE];
    unsigned retry;
    td_error_clear(&err);
    assert_int_equal(td_desk_office_add(f->d, NULL, "north", NULL, &err), TD_OK);
    assert_int_equal(td_desk_office_add(f->d, NULL, "south", NULL, &err), TD_OK);
    assert_int_equal(
        td_desk_user_add(f->d, NULL, "north", "sam", TD_ROLE_ADMIN, "north-password", NULL, &err),
        TD_OK);
    assert_int_equal(
        td_desk_user_add(f->d, NULL, "south", "sam", TD_ROLE_ADMIN, "south-password", NULL, &err),
        TD_OK);
    assert_int_equal(td_desk_user_add(f->d, NULL, "south", "sam", TD_ROLE_CASEWORKER,
                                      "south-password", NULL, &err),
                     TD_EEXISTS);
    assert_int_equal(td_desk_user_add(f->d, NULL, "south", "a/b", TD_ROLE_CASEWORKER,
                                      "south-password", NULL, &err),
                     TD_EINVAL);
    /* a shared name logs in as office/name */
    assert_int_equal(
        td_desk_login(f->d, "north/sam", "north-password", NULL, tok, &a, &retry, &err), TD_OK);
    assert_string_equal(a.office, "north");
    assert_int_equal(
        td_desk_login(f->d, "south/sam", "south-password", NULL, tok, &b, &retry, &err), TD_OK);
    assert_string_equal(b.office, "south");
    assert_int_equal(td_desk_login(f->d, "sam", "north-password", NULL, tok, &a, &retry, &err),
                     TD_EDENIED);
    assert_int_equal(
        td_desk_login(f->d, "north/sam", "south-password", NULL, tok, &a, &retry, &err),
        TD_EDENIED);
    /* an admin reaches only its own office's sam */
    assert_int_equal(td_desk_user_passwd(f->d, &b, "sam", "south-password-2", &err), TD_OK);
    assert_int_equal(
        td_desk_login(f->d, "north/sam", "north-password", NULL, tok, &a, &retry, &err), TD_OK);
    assert_int_equal(td_desk_user_passwd(f->d, &b, "north/sam", "hijacked-pass", &err),
                     TD_ENOTFOUND);
    /* the operator must say which */
    assert_int_equal(td_desk_user_role(f->d, NULL, "sam", TD_ROLE_POLICE, &err), TD_EINVAL);
    assert_string_equal(err.field, "office");
}

/* Issue 8 item 5: the store is private; a shared data directory is refused. */
static void test_store_files_are_private(void **state)
{
    struct fx *f = *state;
    struct td_error err;
    struct stat sb;
    char p[1300];
    td_error_clear(&err);
    assert_int_equal(td_desk_office_add(f->d, NULL, "o", NULL, &err), TD_OK); /* a write */
    if (f->pgdb[0]) /* no store file on PostgreSQL: only the data directory check */
        goto data_dir;
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", f->db, sfx[i]);
        assert_int_equal(stat(p, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
    }
    /* an existing world-readable store is tightened on open */
    td_desk_close(f->d);
    assert_int_equal(chmod(f->db, 0644), 0);
    fx_open_desk(f);
    assert_int_equal(stat(f->db, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
data_dir:
    /* a data directory others may write in is refused */
    td_desk_close(f->d);
    f->d = NULL;
    assert_int_equal(chmod(f->data, 0777), 0);
    struct td_desk_opts o;
    td_desk_opts_init(&o);
    o.db = f->db;
    o.data_dir = f->data;
    assert_int_equal(td_desk_open(&o, &f->d, &err), TD_EDENIED);
    assert_null(f->d);
    assert_non_null(strstr(err.message, "writable"));
    assert_int_equal(chmod(f->data, 0700), 0);
    fx_open_desk(f);
}

/* Issue 8 item 1: at most hash_slots Argon2id hashes at once; beyond the
 * queue, TD_EBUSY at once instead of another 32 MiB. */
struct hasher {
    struct td_desk *d;
    int rc;
};

static void *hash_one(void *arg)
{
    struct hasher *h = arg;
    struct td_error err;
    struct td_actor a;
    char tok[TD_TOKEN_SIZE];
    unsigned retry;
    td_error_clear(&err);
    h->rc = td_desk_login(h->d, "nobody", "some-password", NULL, tok, &a, &retry, &err);
    return NULL;
}

static void test_hashing_slots_are_bounded(void **state)
{
    struct fx *f = *state;
    struct td_desk_opts o;
    struct td_error err;
    struct td_desk *d = NULL;
    enum { N = 8 };
    pthread_t th[N];
    struct hasher h[N];
    int busy = 0, denied = 0;
    td_error_clear(&err);
    td_desk_opts_init(&o);
    o.db = f->db;
    o.data_dir = f->data;
    o.hash_slots = 1;
    o.hash_queue = 1;
    o.hash_wait_ms = 100;
    o.pwhash_mem_kib = 65536; /* slow enough that the others pile up */
    o.pwhash_ops = 4;
    o.login_max_failures = 100;
    assert_int_equal(td_desk_open(&o, &d, &err), TD_OK);
    for (int i = 0; i < N; i++) {
        h[i].d = d;
        assert_int_equal(pthread_create(&th[i], NULL, hash_one, &h[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        busy += h[i].rc == TD_EBUSY;
        denied += h[i].rc == TD_EDENIED;
    }
    td_desk_close(d);
    assert_int_equal(busy + denied, N);
    assert_true(busy >= 1);
    assert_true(denied >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_passwords_and_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_limit_holds_across_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_rate_limit_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_start_and_api_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credentials_are_revocable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_are_unique_per_office, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_files_are_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hashing_slots_are_bounded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
