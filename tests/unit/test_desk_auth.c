/*
 * test_desk_auth.c - Argon2id passwords, sessions, API keys, login rate
 * limiting that survives a restart, first start, user management.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>

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

/* One text column of the first row of a query on the file. */
static void peek(struct fx *f, const char *sql, char *out, size_t size)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    out[0] = '\0';
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, size, "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_passwords_and_sessions(void **state)
{
    struct fx *f = *state;
    struct td_error err;
    struct td_actor a, b;
    char tok[TD_TOKEN_SIZE], buf[256];
    unsigned retry = 0;
    td_error_clear(&err);
    assert_int_equal(
        td_desk_user_add(f->d, NULL, "office-a", "alice", TD_ROLE_CASEWORKER, "short", NULL, &err),
        TD_EINVAL);
    assert_int_equal(td_desk_user_add(f->d, NULL, "office-a", "alice", TD_ROLE_CASEWORKER,
                                      "s3cret-enough", NULL, &err),
                     TD_OK);
    assert_int_equal(td_desk_user_add(f->d, NULL, "office-b", "alice", TD_ROLE_ADMIN,
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_passwords_and_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_rate_limit_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_start_and_api_keys, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
