/*
 * test_desk_cases.c - triage and cases: the queue's order and filters,
 * idempotent filing, message status, sender history, the case workflow,
 * field validation, links, notes and the timeline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "threatdesk/desk_export.h"
#include "unit/desk_fixture.h"
#include <time.h>

struct world {
    struct fx f;
    struct td_actor cw, cw2;
};

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    fx_open(&w->f);
    fx_actor(&w->f, "office-a", "cw", TD_ROLE_CASEWORKER, &w->cw);
    fx_actor(&w->f, "office-a", "sec", TD_ROLE_SECURITY, &w->cw2);
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

static int64_t id_at(json_t *o, const char *list, size_t i)
{
    return json_integer_value(json_object_get(json_array_get(json_object_get(o, list), i), "id"));
}

static void test_queue_order_and_filters(void **state)
{
    struct world *w = *state;
    struct td_error err;
    struct td_queue_filter q;
    json_t *o = NULL;
    td_error_clear(&err);
    int64_t low =
        fx_file(&w->f, &w->cw, "you idiot", "x:1", "a", TD_SEVERITY_LOW, 1u << TD_LABEL_ABUSE);
    int64_t crit = fx_file(&w->f, &w->cw, "dead by friday", "x:2", "b", TD_SEVERITY_CRITICAL,
                           1u << TD_LABEL_THREAT);
    int64_t none = fx_file(&w->f, &w->cw, "about the bins", "x:3", "c", TD_SEVERITY_NONE, 0);
    int64_t med = fx_file(&w->f, &w->cw, "go back home", "x:1", "d", TD_SEVERITY_MEDIUM,
                          1u << TD_LABEL_IDENTITY_HATE);
    /* reviewing the critical one moves it behind every unreviewed one */
    assert_int_equal(td_desk_message_set_status(w->f.d, &w->cw, crit, TD_MSG_REVIEWED, NULL, &err),
                     TD_OK);
    assert_int_equal(td_desk_queue(w->f.d, &w->cw, NULL, &o, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 4);
    assert_int_equal(id_at(o, "messages", 0), med);
    assert_int_equal(id_at(o, "messages", 1), low);
    assert_int_equal(id_at(o, "messages", 2), none);
    assert_int_equal(id_at(o, "messages", 3), crit);
    json_t *m0 = json_array_get(json_object_get(o, "messages"), 0);
    assert_string_equal(json_string_value(json_object_get(m0, "severity")), "medium");
    assert_string_equal(json_string_value(json_object_get(m0, "status")), "unreviewed");
    assert_string_equal(json_string_value(json_object_get(m0, "text")), "go back home");
    json_decref(o);

    td_queue_filter_init(&q);
    q.status = TD_MSG_UNREVIEWED;
    q.label = TD_LABEL_ABUSE;
    assert_int_equal(td_desk_queue(w->f.d, &w->cw, &q, &o, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 1);
    assert_int_equal(id_at(o, "messages", 0), low);
    json_decref(o);

    td_queue_filter_init(&q);
    q.sender = "x:1";
    assert_int_equal(td_desk_queue(w->f.d, &w->cw, &q, &o, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 2);
    json_decref(o);

    /* pagination */
    td_queue_filter_init(&q);
    q.limit = 3;
    assert_int_equal(td_desk_queue(w->f.d, &w->cw, &q, &o, &err), TD_OK);
    assert_int_equal(json_array_size(json_object_get(o, "messages")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "next_offset")), 3);
    json_decref(o);
    q.offset = 3;
    assert_int_equal(td_desk_queue(w->f.d, &w->cw, &q, &o, &err), TD_OK);
    assert_int_equal(json_array_size(json_object_get(o, "messages")), 1);
    assert_null(json_object_get(o, "next_offset"));
    json_decref(o);

    /* a reason is required to escalate or dismiss */
    assert_int_equal(td_desk_message_set_status(w->f.d, &w->cw, low, TD_MSG_DISMISSED, NULL, &err),
                     TD_EINVAL);
    assert_string_equal(err.field, "reason");
    assert_int_equal(
        td_desk_message_set_status(w->f.d, &w->cw, low, TD_MSG_DISMISSED, "banter", &err), TD_OK);
    assert_int_equal(td_desk_message_get(w->f.d, &w->cw, low, &o, &err), TD_OK);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "dismissed");
    assert_string_equal(json_string_value(json_object_get(o, "status_reason")), "banter");
    json_decref(o);
}

static void test_filing_is_idempotent_and_keeps_originals(void **state)
{
    struct world *w = *state;
    struct td_error err;
    struct td_message m;
    struct td_verdict v;
    struct td_ingest_result r;
    void *orig = NULL;
    size_t len = 0;
    char sha[65];
    static const char raw[] = "From: a@b\r\nMessage-ID: <1@b>\r\n\r\nI will find you\r\n\x01\xff";
    td_error_clear(&err);
    td_message_init(&m);
    td_verdict_init(&v);
    td_message_set(&m.text, "I will find you", (size_t)-1);
    m.text_len = strlen(m.text);
    td_message_set(&m.message_id, "<1@b>", (size_t)-1);
    m.original = malloc(sizeof raw - 1);
    memcpy(m.original, raw, sizeof raw - 1);
    m.original_len = sizeof raw - 1;
    v.severity = TD_SEVERITY_HIGH;
    v.labels = 1u << TD_LABEL_THREAT;
    assert_int_equal(td_desk_file(w->f.d, &w->cw, &m, NULL, &v, &r, &err), TD_OK);
    assert_int_equal(r.duplicate, 0);
    int64_t id = r.id;
    /* the same Message-ID again: the existing id, nothing new stored */
    assert_int_equal(td_desk_file(w->f.d, &w->cw, &m, NULL, &v, &r, &err), TD_OK);
    assert_int_equal(r.duplicate, 1);
    assert_int_equal(r.id, id);
    json_t *o = NULL;
    assert_int_equal(td_desk_queue(w->f.d, &w->cw, NULL, &o, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 1);
    json_decref(o);
    /* original bytes exactly, including the non-UTF-8 tail */
    assert_int_equal(td_desk_message_original(w->f.d, &w->cw, id, &orig, &len, sha, &err), TD_OK);
    assert_int_equal(len, sizeof raw - 1);
    assert_memory_equal(orig, raw, len);
    free(orig);
    /* invalid UTF-8 text is refused with a reason, not stored */
    td_message_set(&m.text, "bad \xc3\x28 text", (size_t)-1);
    m.text_len = strlen(m.text);
    td_message_set(&m.message_id, "<2@b>", (size_t)-1);
    assert_int_equal(td_desk_file(w->f.d, &w->cw, &m, NULL, &v, &r, &err), TD_EUTF8);
    assert_string_equal(r.field, "text");
    td_message_release(&m);
    td_verdict_release(&v);
}

static void test_sender_history_raises_repeat_threats(void **state)
{
    struct world *w = *state;
    struct td_error err;
    json_t *o = NULL;
    td_error_clear(&err);
    fx_file(&w->f, &w->cw, "first threat", "twitter:@x", "t1", TD_SEVERITY_HIGH,
            1u << TD_LABEL_THREAT);
    int64_t second = fx_file(&w->f, &w->cw, "second threat", "twitter:@x", "t2", TD_SEVERITY_HIGH,
                             1u << TD_LABEL_THREAT);
    assert_int_equal(td_desk_message_get(w->f.d, &w->cw, second, &o, &err), TD_OK);
    /* td_verdict_apply_history: a HIGH threat from a sender with an
     * earlier threat is critical */
    assert_string_equal(json_string_value(json_object_get(o, "severity")), "critical");
    json_decref(o);
    assert_int_equal(td_desk_sender(w->f.d, &w->cw, "twitter:@x", 0, &o, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "messages")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "threats")), 2);
    assert_string_equal(json_string_value(json_object_get(o, "worst_severity")), "critical");
    assert_int_equal(id_at(o, "recent", 0), second);
    json_decref(o);
    assert_int_equal(td_desk_sender(w->f.d, &w->cw, "twitter:@nobody", 0, &o, &err), TD_ENOTFOUND);
}

static int64_t new_case(struct world *w, json_t *fields)
{
    struct td_error err;
    int64_t id = 0;
    td_error_clear(&err);
    assert_int_equal(td_desk_case_create(w->f.d, &w->cw, fields, &id, &err), TD_OK);
    json_decref(fields);
    return id;
}

/* td_desk_case_rows' callback: keep each row. */
static int collect_row(void *ud, const json_t *row)
{
    return json_array_append(ud, (json_t *)row) ? -1 : 0;
}

static void test_case_workflow(void **state)
{
    struct world *w = *state;
    struct td_error err;
    td_error_clear(&err);
    int64_t id = new_case(w, json_pack("{s:s, s:s}", "type", "criminal_damage", "title", "tyres"));
    /* new -> reported_to_police skips triage: refused */
    assert_int_equal(
        td_desk_case_set_status(w->f.d, &w->cw, id, TD_CASE_STATUS_REPORTED_TO_POLICE, NULL, &err),
        TD_EINVAL);
    assert_string_equal(err.field, "status");
    assert_int_equal(
        td_desk_case_set_status(w->f.d, &w->cw, id, TD_CASE_STATUS_UNDER_INVESTIGATION, NULL, &err),
        TD_EINVAL);
    static const enum td_case_status path[] = {
        TD_CASE_STATUS_TRIAGED, TD_CASE_STATUS_REPORTED_TO_POLICE,
        TD_CASE_STATUS_UNDER_INVESTIGATION, TD_CASE_STATUS_CLOSED, TD_CASE_STATUS_TRIAGED};
    for (size_t i = 0; i < sizeof path / sizeof path[0]; i++)
        assert_int_equal(td_desk_case_set_status(w->f.d, &w->cw, id, path[i], "next", &err), TD_OK);
    /* closed -> triaged (reopened); triaged -> new is not a move */
    assert_int_equal(td_desk_case_set_status(w->f.d, &w->cw, id, TD_CASE_STATUS_NEW, NULL, &err),
                     TD_EINVAL);
    /* the matrix itself */
    assert_true(td_case_transition_allowed(TD_CASE_STATUS_NEW, TD_CASE_STATUS_TRIAGED));
    assert_false(td_case_transition_allowed(TD_CASE_STATUS_CLOSED, TD_CASE_STATUS_NEW));
    assert_false(td_case_transition_allowed(TD_CASE_STATUS_NEW, TD_CASE_STATUS_NEW));
    assert_false(td_case_transition_allowed(-1, 99));
}

static void test_case_fields_links_notes_timeline(void **state)
{
    struct world *w = *state;
    struct td_error err;
    json_t *o = NULL;
    td_error_clear(&err);
    int64_t msg = fx_ingest(&w->f, &w->cw, "the sledgehammer is for your door", "post:1", "p1");
    int64_t id = new_case(
        w, json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:f, s:f}, s:[s], s:s}", "type",
                     "criminal_damage", "title", "Front door attacked", "description",
                     "sledgehammer", "occurred", "2026-11-28T22:15:00Z", "place", "constituency",
                     "Batley and Spen", "address", "1 High St", "lat", 53.7, "lon", -1.63, "people",
                     "neighbour saw a man in a grey hoodie", "assignee", "sec"));
    assert_int_equal(td_desk_case_link_message(w->f.d, &w->cw, id, msg, &err), TD_OK);
    assert_int_equal(td_desk_case_link_message(w->f.d, &w->cw, id, msg, &err), TD_OK);
    assert_int_equal(td_desk_case_note(w->f.d, &w->cw, id, "crime ref requested", 0, NULL, &err),
                     TD_OK);
    json_t *upd = json_pack("{s:s}", "police_ref", "WY-2026-1234");
    assert_int_equal(td_desk_case_update(w->f.d, &w->cw, id, upd, &err), TD_OK);
    json_decref(upd);

    assert_int_equal(td_desk_case_get(w->f.d, &w->cw, id, &o, &err), TD_OK);
    assert_string_equal(json_string_value(json_object_get(o, "police_ref")), "WY-2026-1234");
    assert_string_equal(json_string_value(json_object_get(o, "assignee")), "sec");
    assert_string_equal(json_string_value(json_object_get(o, "created_by")), "cw");
    assert_int_equal(json_integer_value(json_object_get(o, "occurred")), 1795904100);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o, "place"), "constituency")),
        "Batley and Spen");
    assert_int_equal(json_array_size(json_object_get(o, "messages")), 1); /* linked once */
    assert_int_equal(id_at(o, "messages", 0), msg);
    assert_int_equal(json_array_size(json_object_get(o, "notes")), 1);
    json_decref(o);

    /* timeline: create, link, note, update, read - in order, from the audit log */
    assert_int_equal(td_desk_case_timeline(w->f.d, &w->cw, id, &o, &err), TD_OK);
    static const char *const want[] = {"case.create", "case.link", "case.note", "case.update",
                                       "case.read"};
    json_t *ev = json_object_get(o, "events");
    assert_int_equal(json_array_size(ev), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(ev, i), "action")),
                            want[i]);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(ev, 2), "details"), "text")),
                        "crime ref requested");
    json_decref(o);

    /* the message lists the case it belongs to */
    assert_int_equal(td_desk_message_get(w->f.d, &w->cw, msg, &o, &err), TD_OK);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(o, "cases"), 0)), id);
    json_decref(o);
}

static void test_case_field_validation(void **state)
{
    struct world *w = *state;
    struct td_error err;
    int64_t id = 0;
    static const struct {
        const char *json;
        const char *field;
    } bad[] = {
        {"{\"title\":\"x\"}", "type"},
        {"{\"type\":\"online_threat\"}", "title"},
        {"{\"type\":\"arson\",\"title\":\"x\"}", "type"},
        {"{\"type\":\"other\",\"title\":\"\"}", "title"},
        {"{\"type\":\"other\",\"title\":\"x\",\"occured\":1}", "occured"},
        {"{\"type\":\"other\",\"title\":\"x\",\"occurred\":\"yesterday\"}", "occurred"},
        {"{\"type\":\"other\",\"title\":\"x\",\"place\":{\"lat\":91,\"lon\":0}}", "place"},
        {"{\"type\":\"other\",\"title\":\"x\",\"place\":{\"lat\":50}}", "place"},
        {"{\"type\":\"other\",\"title\":\"x\",\"assignee\":\"nobody\"}", "assignee"},
        {"{\"type\":\"other\",\"title\":\"x\",\"people\":[1]}", "people"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *c = json_loads(bad[i].json, 0, NULL);
        assert_non_null(c);
        td_error_clear(&err);
        assert_int_equal(td_desk_case_create(w->f.d, &w->cw, c, &id, &err), TD_EINVAL);
        assert_string_equal(err.field, bad[i].field);
        json_decref(c);
    }
    /* nothing half-made was left behind */
    json_t *o = NULL;
    assert_int_equal(td_desk_case_list(w->f.d, &w->cw, NULL, &o, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 0);
    json_decref(o);
}

static void test_case_list_filters(void **state)
{
    struct world *w = *state;
    struct td_error err;
    struct td_case_filter q;
    json_t *o = NULL;
    td_error_clear(&err);
    int64_t a = new_case(w, json_pack("{s:s, s:s}", "type", "assault", "title", "leafleting"));
    int64_t b = new_case(w, json_pack("{s:s, s:s, s:s}", "type", "disinformation", "title",
                                      "fake leaflet", "assignee", "sec"));
    int64_t c = new_case(w, json_pack("{s:s, s:s}", "type", "assault", "title", "canvasser"));
    assert_int_equal(td_desk_case_set_status(w->f.d, &w->cw, c, TD_CASE_STATUS_TRIAGED, NULL, &err),
                     TD_OK);
    td_case_filter_init(&q);
    q.type = TD_CASE_ASSAULT;
    assert_int_equal(td_desk_case_list(w->f.d, &w->cw, &q, &o, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 2);
    assert_int_equal(id_at(o, "cases", 0), c); /* newest first */
    assert_int_equal(id_at(o, "cases", 1), a);
    json_decref(o);
    q.status = TD_CASE_STATUS_NEW;
    assert_int_equal(td_desk_case_list(w->f.d, &w->cw, &q, &o, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 1);
    assert_int_equal(id_at(o, "cases", 0), a);
    json_decref(o);
    td_case_filter_init(&q);
    q.assignee = "sec";
    assert_int_equal(td_desk_case_list(w->f.d, &w->cw, &q, &o, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 1);
    assert_int_equal(id_at(o, "cases", 0), b);
    json_decref(o);
    /* by the sender of a message it holds: only c holds one from post:9 */
    int64_t m = fx_ingest(&w->f, &w->cw, "the sledgehammer is for your door", "post:9", "p9");
    int64_t m2 = fx_ingest(&w->f, &w->cw, "see you at the count", "post:8", "p8");
    assert_int_equal(td_desk_case_link_message(w->f.d, &w->cw, c, m, &err), TD_OK);
    assert_int_equal(td_desk_case_link_message(w->f.d, &w->cw, a, m2, &err), TD_OK);
    td_case_filter_init(&q);
    q.sender = "post:9";
    assert_int_equal(td_desk_case_list(w->f.d, &w->cw, &q, &o, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 1);
    assert_int_equal(id_at(o, "cases", 0), c);
    json_decref(o);
    /* the export of that list is that list (the CSV of a filtered view) */
    json_t *rows = json_array();
    assert_int_equal(td_desk_case_rows(w->f.d, &w->cw, &q, collect_row, rows, &err), TD_OK);
    assert_int_equal(json_array_size(rows), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "id")), c);
    json_decref(rows);
    q.sender = "post:nobody";
    assert_int_equal(td_desk_case_list(w->f.d, &w->cw, &q, &o, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 0);
    json_decref(o);
    /* by the time it was opened: all three now, none from tomorrow, none
     * before yesterday's end */
    td_case_filter_init(&q);
    int64_t now = (int64_t)time(NULL);
    q.since = now - 3600;
    q.until = now + 3600;
    assert_int_equal(td_desk_case_list(w->f.d, &w->cw, &q, &o, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 3);
    json_decref(o);
    q.since = now + 86400;
    q.until = INT64_MAX;
    assert_int_equal(td_desk_case_list(w->f.d, &w->cw, &q, &o, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 0);
    json_decref(o);
    rows = json_array();
    assert_int_equal(td_desk_case_rows(w->f.d, &w->cw, &q, collect_row, rows, &err), TD_OK);
    assert_int_equal(json_array_size(rows), 0);
    json_decref(rows);
    q.since = INT64_MIN;
    q.until = now - 86400;
    assert_int_equal(td_desk_case_list(w->f.d, &w->cw, &q, &o, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 0);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queue_order_and_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filing_is_idempotent_and_keeps_originals, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sender_history_raises_repeat_threats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_case_workflow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_case_fields_links_notes_timeline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_case_field_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_case_list_filters, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
