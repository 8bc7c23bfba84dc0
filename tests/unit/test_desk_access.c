/*
 * test_desk_access.c - least privilege: two offices never see each other's
 * data through any read, and the role matrix (observer files but reads
 * nothing; police read only cases reported to police; only admins manage
 * users).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/desk_fixture.h"

struct world {
    struct fx f;
    struct td_actor a_admin, a_cw, a_obs, a_police, b_cw;
    int64_t a_msg, b_msg, a_case, a_reported_case, b_case, a_ev, b_ev;
};

static int64_t make_case(struct world *w, const struct td_actor *who, const char *title)
{
    struct td_error err;
    int64_t id = 0;
    json_t *c = json_pack("{s:s, s:s}", "type", "harassment", "title", title);
    td_error_clear(&err);
    assert_int_equal(td_desk_case_create(w->f.d, who, c, &id, &err), TD_OK);
    json_decref(c);
    return id;
}

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    struct td_error err;
    td_error_clear(&err);
    fx_open(&w->f);
    fx_actor(&w->f, "office-a", "a-admin", TD_ROLE_ADMIN, &w->a_admin);
    fx_actor(&w->f, "office-a", "a-cw", TD_ROLE_CASEWORKER, &w->a_cw);
    fx_actor(&w->f, "office-a", "a-obs", TD_ROLE_OBSERVER, &w->a_obs);
    fx_actor(&w->f, "office-a", "a-police", TD_ROLE_POLICE, &w->a_police);
    fx_actor(&w->f, "office-b", "b-cw", TD_ROLE_CASEWORKER, &w->b_cw);
    w->a_msg = fx_ingest(&w->f, &w->a_cw, "I know where you live and I will hurt you",
                         "email:x@example.org", "k1");
    w->b_msg = fx_ingest(&w->f, &w->b_cw, "Thank you for the letter about the bus route",
                         "email:x@example.org", "k1");
    w->a_case = make_case(w, &w->a_cw, "A: not reported");
    w->a_reported_case = make_case(w, &w->a_cw, "A: reported");
    w->b_case = make_case(w, &w->b_cw, "B: case");
    assert_int_equal(td_desk_case_set_status(w->f.d, &w->a_cw, w->a_reported_case,
                                             TD_CASE_STATUS_TRIAGED, NULL, &err),
                     TD_OK);
    assert_int_equal(td_desk_case_set_status(w->f.d, &w->a_cw, w->a_reported_case,
                                             TD_CASE_STATUS_REPORTED_TO_POLICE, "999 call", &err),
                     TD_OK);
    assert_int_equal(td_desk_evidence_add(w->f.d, &w->a_cw, w->a_case, "a.txt", "text/plain",
                                          "evidence A", 10, &w->a_ev, NULL, &err),
                     TD_OK);
    assert_int_equal(td_desk_evidence_add(w->f.d, &w->b_cw, w->b_case, "b.txt", "text/plain",
                                          "evidence B", 10, &w->b_ev, NULL, &err),
                     TD_OK);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    fx_close(&w->f);
    free(w);
    return 0;
}

/* The same idempotency key in two offices is two messages. */
static void test_keys_are_per_office(void **state)
{
    struct world *w = *state;
    assert_true(w->a_msg > 0 && w->b_msg > 0);
    assert_int_not_equal(w->a_msg, w->b_msg);
}

static void expect_ids(json_t *list, int64_t want, int64_t not_want)
{
    size_t i;
    json_t *x;
    int seen = 0;
    json_array_foreach(list, i, x)
    {
        int64_t id = json_integer_value(json_object_get(x, "id"));
        assert_int_not_equal(id, not_want);
        if (id == want)
            seen = 1;
    }
    assert_true(seen);
}

static void test_office_isolation_every_read(void **state)
{
    struct world *w = *state;
    struct td_error err;
    json_t *o = NULL;
    void *data = NULL;
    size_t len = 0;
    td_error_clear(&err);

    /* queue: each sees only its own */
    assert_int_equal(td_desk_queue(w->f.d, &w->a_cw, NULL, &o, &err), TD_OK);
    expect_ids(json_object_get(o, "messages"), w->a_msg, w->b_msg);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 1);
    json_decref(o);
    assert_int_equal(td_desk_queue(w->f.d, &w->b_cw, NULL, &o, &err), TD_OK);
    expect_ids(json_object_get(o, "messages"), w->b_msg, w->a_msg);
    json_decref(o);

    /* one message, its original */
    assert_int_equal(td_desk_message_get(w->f.d, &w->b_cw, w->a_msg, &o, &err), TD_ENOTFOUND);
    assert_null(o);
    assert_int_equal(td_desk_message_get(w->f.d, &w->a_cw, w->a_msg, &o, &err), TD_OK);
    json_decref(o);
    assert_int_equal(td_desk_message_original(w->f.d, &w->b_cw, w->a_msg, &data, &len, NULL, &err),
                     TD_ENOTFOUND);
    assert_null(data);

    /* the same sender key seen by both offices: each sees its own count */
    assert_int_equal(td_desk_sender(w->f.d, &w->b_cw, "email:x@example.org", 0, &o, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "messages")), 1);
    expect_ids(json_object_get(o, "recent"), w->b_msg, w->a_msg);
    json_decref(o);

    /* cases: get, list, timeline, evidence */
    assert_int_equal(td_desk_case_get(w->f.d, &w->b_cw, w->a_case, &o, &err), TD_ENOTFOUND);
    assert_int_equal(td_desk_case_timeline(w->f.d, &w->b_cw, w->a_case, &o, &err), TD_ENOTFOUND);
    assert_int_equal(td_desk_case_list(w->f.d, &w->b_cw, NULL, &o, &err), TD_OK);
    expect_ids(json_object_get(o, "cases"), w->b_case, w->a_case);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 1);
    json_decref(o);
    assert_int_equal(td_desk_evidence_get(w->f.d, &w->b_cw, w->a_ev, &o, &data, &len, &err),
                     TD_ENOTFOUND);
    assert_int_equal(td_desk_evidence_get(w->f.d, &w->a_cw, w->a_ev, NULL, &data, &len, &err),
                     TD_OK);
    assert_int_equal(len, 10);
    assert_memory_equal(data, "evidence A", 10);
    free(data);

    /* and no writes across the line either */
    assert_int_equal(
        td_desk_message_set_status(w->f.d, &w->b_cw, w->a_msg, TD_MSG_REVIEWED, NULL, &err),
        TD_ENOTFOUND);
    assert_int_equal(td_desk_case_link_message(w->f.d, &w->b_cw, w->b_case, w->a_msg, &err),
                     TD_ENOTFOUND);
    assert_int_equal(td_desk_case_note(w->f.d, &w->b_cw, w->a_case, "peek", 0, NULL, &err),
                     TD_ENOTFOUND);
    assert_int_equal(
        td_desk_evidence_add(w->f.d, &w->b_cw, w->a_case, NULL, NULL, "x", 1, NULL, NULL, &err),
        TD_ENOTFOUND);
    json_t *upd = json_pack("{s:s}", "title", "hijacked");
    assert_int_equal(td_desk_case_update(w->f.d, &w->b_cw, w->a_case, upd, &err), TD_ENOTFOUND);
    json_decref(upd);
    /* an admin of A cannot manage a user of B */
    assert_int_equal(td_desk_user_role(w->f.d, &w->a_admin, "b-cw", TD_ROLE_ADMIN, &err),
                     TD_ENOTFOUND);
}

static void test_observer_files_but_reads_nothing(void **state)
{
    struct world *w = *state;
    struct td_error err;
    json_t *o = NULL;
    int64_t id = 0;
    td_error_clear(&err);
    id = make_case(w, &w->a_obs, "Shouting at the polling station door");
    assert_true(id > 0);
    json_t *assign = json_pack("{s:s, s:s, s:s}", "type", "intimidation_polling_station", "title",
                               "x", "assignee", "a-cw");
    assert_int_equal(td_desk_case_create(w->f.d, &w->a_obs, assign, NULL, &err), TD_EDENIED);
    assert_string_equal(err.field, "assignee");
    json_decref(assign);
    /* A photo with its own report is allowed; with another case it is not. */
    assert_int_equal(td_desk_evidence_add(w->f.d, &w->a_obs, id, "photo.jpg", "image/jpeg", "jpg",
                                          3, NULL, NULL, &err),
                     TD_OK);
    assert_int_equal(
        td_desk_evidence_add(w->f.d, &w->a_obs, w->a_case, NULL, NULL, "x", 1, NULL, NULL, &err),
        TD_EDENIED);
    assert_int_equal(td_desk_queue(w->f.d, &w->a_obs, NULL, &o, &err), TD_EDENIED);
    assert_null(o);
    assert_int_equal(td_desk_case_get(w->f.d, &w->a_obs, id, &o, &err), TD_EDENIED);
    assert_int_equal(td_desk_case_list(w->f.d, &w->a_obs, NULL, &o, &err), TD_EDENIED);
    assert_int_equal(td_desk_message_get(w->f.d, &w->a_obs, w->a_msg, &o, &err), TD_EDENIED);
    assert_int_equal(td_desk_sender(w->f.d, &w->a_obs, "email:x@example.org", 0, &o, &err),
                     TD_EDENIED);
    assert_int_equal(td_desk_evidence_get(w->f.d, &w->a_obs, w->a_ev, &o, NULL, NULL, &err),
                     TD_EDENIED);
    assert_int_equal(td_desk_case_timeline(w->f.d, &w->a_obs, id, &o, &err), TD_EDENIED);
    assert_int_equal(
        td_desk_message_set_status(w->f.d, &w->a_obs, w->a_msg, TD_MSG_DISMISSED, "no", &err),
        TD_EDENIED);
    struct td_message m;
    struct td_ingest_result r;
    td_message_init(&m);
    td_message_set(&m.text, "hello", 5);
    m.text_len = 5;
    assert_int_equal(td_desk_ingest(w->f.d, &w->a_obs, NULL, &m, NULL, &r, &err), TD_EDENIED);
    td_message_release(&m);
}

static void test_police_see_only_reported_cases(void **state)
{
    struct world *w = *state;
    struct td_error err;
    json_t *o = NULL;
    td_error_clear(&err);
    assert_int_equal(td_desk_case_list(w->f.d, &w->a_police, NULL, &o, &err), TD_OK);
    expect_ids(json_object_get(o, "cases"), w->a_reported_case, w->a_case);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 1);
    json_decref(o);
    assert_int_equal(td_desk_case_get(w->f.d, &w->a_police, w->a_case, &o, &err), TD_ENOTFOUND);
    assert_int_equal(td_desk_evidence_get(w->f.d, &w->a_police, w->a_ev, &o, NULL, NULL, &err),
                     TD_ENOTFOUND);
    assert_int_equal(td_desk_case_get(w->f.d, &w->a_police, w->a_reported_case, &o, &err), TD_OK);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "reported_to_police");
    json_decref(o);
    /* read-only */
    assert_int_equal(
        td_desk_case_note(w->f.d, &w->a_police, w->a_reported_case, "x", 0, NULL, &err),
        TD_EDENIED);
    assert_int_equal(td_desk_case_set_status(w->f.d, &w->a_police, w->a_reported_case,
                                             TD_CASE_STATUS_CLOSED, NULL, &err),
                     TD_EDENIED);
    assert_int_equal(td_desk_queue(w->f.d, &w->a_police, NULL, &o, &err), TD_EDENIED);
    json_t *c = json_pack("{s:s, s:s}", "type", "other", "title", "x");
    assert_int_equal(td_desk_case_create(w->f.d, &w->a_police, c, NULL, &err), TD_EDENIED);
    json_decref(c);
    /* the police view follows the case once it moves on */
    assert_int_equal(td_desk_case_set_status(w->f.d, &w->a_cw, w->a_reported_case,
                                             TD_CASE_STATUS_UNDER_INVESTIGATION, NULL, &err),
                     TD_OK);
    assert_int_equal(td_desk_case_get(w->f.d, &w->a_police, w->a_reported_case, &o, &err), TD_OK);
    json_decref(o);
}

static void test_only_admins_manage_users(void **state)
{
    struct world *w = *state;
    struct td_error err;
    json_t *o = NULL;
    char key[TD_TOKEN_SIZE];
    td_error_clear(&err);
    assert_int_equal(td_desk_user_add(w->f.d, &w->a_cw, NULL, "mallory", TD_ROLE_ADMIN,
                                      "password123", NULL, &err),
                     TD_EDENIED);
    assert_int_equal(td_desk_user_role(w->f.d, &w->a_cw, "a-cw", TD_ROLE_ADMIN, &err), TD_EDENIED);
    assert_int_equal(td_desk_user_list(w->f.d, &w->a_cw, &o, &err), TD_EDENIED);
    assert_int_equal(td_desk_api_key_create(w->f.d, &w->a_cw, "a-cw", NULL, key, NULL, &err),
                     TD_EDENIED);
    assert_int_equal(td_desk_user_add(w->f.d, &w->a_admin, "office-b", "mallory", TD_ROLE_ADMIN,
                                      "password123", NULL, &err),
                     TD_EDENIED);
    assert_int_equal(td_desk_user_list(w->f.d, &w->a_admin, &o, &err), TD_OK);
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(o, "users"), i, u)
        assert_string_equal(json_string_value(json_object_get(u, "office")), "office-a");
    assert_int_equal(json_array_size(json_object_get(o, "users")), 4);
    json_decref(o);
}

/* Issue 8: police never read internal notes (in the case or its
 * timeline); reading a message or its original is audited. */
static void test_police_read_only_shared_notes(void **state)
{
    struct world *w = *state;
    struct td_error err;
    json_t *o = NULL, *n;
    size_t i;
    td_error_clear(&err);
    assert_int_equal(td_desk_case_note(w->f.d, &w->a_cw, w->a_reported_case,
                                       "internal: the MP's home address is 12 Acacia Ave", 0, NULL,
                                       &err),
                     TD_OK);
    assert_int_equal(td_desk_case_note(w->f.d, &w->a_cw, w->a_reported_case,
                                       "shared: CCTV requested from the council", 1, NULL, &err),
                     TD_OK);
    assert_int_equal(td_desk_case_get(w->f.d, &w->a_police, w->a_reported_case, &o, &err), TD_OK);
    json_t *notes = json_object_get(o, "notes");
    assert_int_equal(json_array_size(notes), 1);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_array_get(notes, 0), "text")), "CCTV"));
    json_decref(o);
    assert_int_equal(td_desk_case_timeline(w->f.d, &w->a_police, w->a_reported_case, &o, &err),
                     TD_OK);
    char *dump = json_dumps(o, JSON_COMPACT);
    assert_null(strstr(dump, "Acacia"));
    assert_non_null(strstr(dump, "CCTV"));
    free(dump);
    json_decref(o);
    /* staff see both */
    assert_int_equal(td_desk_case_get(w->f.d, &w->a_cw, w->a_reported_case, &o, &err), TD_OK);
    int internal = 0;
    json_array_foreach(json_object_get(o, "notes"), i, n) internal +=
        json_integer_value(json_object_get(n, "shareable")) == 0;
    assert_true(internal >= 1);
    json_decref(o);

    /* message reads leave audit entries naming the message */
    void *data = NULL;
    size_t len = 0;
    assert_int_equal(td_desk_message_get(w->f.d, &w->a_cw, w->a_msg, &o, &err), TD_OK);
    json_decref(o);
    assert_int_equal(td_desk_message_original(w->f.d, &w->a_cw, w->a_msg, &data, &len, NULL, &err),
                     TD_OK);
    free(data);
    char sql[400], v[32];
    snprintf(sql, sizeof sql,
             "SELECT count(DISTINCT action) FROM audit WHERE object_type = 'message' AND "
             "object_id = %lld AND user_id = %lld AND action IN ('message.read', "
             "'message.original')",
             (long long)w->a_msg, (long long)w->a_cw.user_id);
    assert_int_equal(fx_sql_text(&w->f, sql, v, sizeof v), 0);
    assert_string_equal(v, "2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_are_per_office),
        cmocka_unit_test(test_office_isolation_every_read),
        cmocka_unit_test(test_observer_files_but_reads_nothing),
        cmocka_unit_test(test_police_see_only_reported_cases),
        cmocka_unit_test(test_only_admins_manage_users),
        cmocka_unit_test(test_police_read_only_shared_notes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
