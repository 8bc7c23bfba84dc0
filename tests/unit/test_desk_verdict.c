/*
 * test_desk_verdict.c - the verdict is stored once (issue 11): a message
 * row keeps its decision (severity, predicted labels, flags, model) in the
 * columns the queue sorts and filters on, and the verdict text holds only
 * the rest (probabilities, spans, reason).  The API's MESSAGE still shows
 * the whole verdict, in td_verdict_to_json's order, with the same values;
 * a row written before the change (the decision in its text too) reads as
 * it did.  Runs on both backends (pg/test_desk_verdict).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "desk/desk_int.h" /* d->store: to read the row as stored */
#include "unit/desk_fixture.h"

static const char text[] = "I will be at your surgery on Friday and you will pay";

static void verdict_of(struct td_verdict *v)
{
    td_verdict_init(v);
    v->severity = TD_SEVERITY_CRITICAL;
    v->labels = (1u << TD_LABEL_THREAT) | (1u << TD_LABEL_INTIMIDATION);
    v->flags = TD_FLAG(TIME_BOUND) | TD_FLAG(LOCATION);
    v->prob[TD_LABEL_THREAT] = 0.91f;
    v->prob[TD_LABEL_INTIMIDATION] = 0.4f;
    v->model_version = "test-model-1";
    snprintf(v->reason, sizeof v->reason, "threat 0.91 by grammar threat.direct");
}

/* The verdict members of a MESSAGE, in order, as one JSON object. */
static json_t *verdict_members(const json_t *msg, const json_t *like)
{
    json_t *o = json_object();
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)msg, k, val)
    {
        if (json_object_get(like, k))
            json_object_set(o, k, val);
    }
    return o;
}

static void same_keys_in_order(const json_t *a, const json_t *b)
{
    char *x = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *y = json_dumps(b, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_non_null(x);
    assert_non_null(y);
    assert_string_equal(x, y);
    free(x);
    free(y);
}

static void test_stored_once_rendered_whole(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    struct td_actor cw;
    fx_actor(&f, "office-a", "cw", TD_ROLE_CASEWORKER, &cw);
    struct td_message m;
    struct td_verdict v;
    struct td_ingest_result r;
    struct td_error err;
    td_error_clear(&err);
    td_message_init(&m);
    verdict_of(&v);
    td_message_set(&m.text, text, (size_t)-1);
    m.text_len = strlen(text);
    td_message_set(&m.channel, "email", (size_t)-1);
    m.time = (int64_t)time(NULL);
    if (td_desk_file(f.d, &cw, &m, NULL, &v, &r, &err) != TD_OK)
        fx_fail("file", &err);

    /* stored: the decision in the columns, not in the text */
    struct td_store *s = f.d->store;
    struct td_store_message_row row;
    struct td_store_arena ar = {0};
    assert_int_equal(s->ops->message_get(s, cw.office_id, r.id, &row, &ar, &err), TD_OK);
    assert_int_equal(row.severity, TD_SEVERITY_CRITICAL);
    assert_int_equal(row.labels, v.labels);
    assert_int_equal(row.flags, v.flags);
    assert_string_equal(row.model_version, "test-model-1");
    json_t *stored = json_loads(row.verdict, 0, NULL);
    assert_non_null(stored);
    assert_null(json_object_get(stored, "severity"));
    assert_null(json_object_get(stored, "predicted"));
    assert_null(json_object_get(stored, "flags"));
    assert_null(json_object_get(stored, "model"));
    assert_non_null(json_object_get(stored, "labels"));
    assert_non_null(json_object_get(stored, "reason"));
    json_decref(stored);
    td_store_arena_free(&ar);

    /* rendered: the whole verdict, td_verdict_to_json's members in its
     * order and with its values */
    json_t *whole = td_verdict_to_json(&v, text, strlen(text));
    json_t *msg = NULL;
    assert_int_equal(td_desk_message_get(f.d, &cw, r.id, &msg, &err), TD_OK);
    json_t *got = verdict_members(msg, whole);
    same_keys_in_order(got, whole);
    json_decref(got);
    json_decref(msg);

    /* a row written before: the whole verdict in its text, decision and
     * all; the text's own values are shown, in the same order */
    char *old = json_dumps(whole, JSON_COMPACT);
    struct td_store_message sm = {.office_id = cw.office_id,
                                  .client_key = "old-row",
                                  .channel = "email",
                                  .text = text,
                                  .text_len = strlen(text),
                                  .original = text,
                                  .original_len = strlen(text),
                                  .received = m.time,
                                  .ingested = m.time,
                                  .ingested_by = cw.user_id,
                                  .severity = TD_SEVERITY_CRITICAL,
                                  .labels = v.labels,
                                  .flags = v.flags,
                                  .verdict = old,
                                  .model_version = "test-model-1"};
    int64_t old_id = 0;
    assert_int_equal(s->ops->message_insert(s, &sm, &old_id, &err), TD_OK);
    assert_int_equal(td_desk_message_get(f.d, &cw, old_id, &msg, &err), TD_OK);
    got = verdict_members(msg, whole);
    same_keys_in_order(got, whole);
    json_decref(got);
    json_decref(msg);
    free(old);
    json_decref(whole);
    td_verdict_release(&v);
    td_message_release(&m);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stored_once_rendered_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
