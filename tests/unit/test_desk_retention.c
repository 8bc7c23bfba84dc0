/*
 * test_desk_retention.c - UK GDPR in the desk (issue 8, "Daily use"):
 * a data subject's erasure removes their messages that no case holds and
 * leaves a tombstone (the original's hash, the date, who) in the audit
 * chain; the per-office retention period erases older unlinked messages;
 * both are admin-only, and `verify` passes afterwards - while a row that
 * should have been erased but is back is reported.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <time.h>

#include "desk/desk_int.h" /* d->store: to file an upload as the OCR worker does */
#include "threatdesk/pipeline.h"
#include "unit/desk_fixture.h"

struct world {
    struct fx f;
    struct td_actor admin, cw, other_admin;
};

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    fx_open(&w->f);
    fx_actor(&w->f, "office-a", "boss", TD_ROLE_ADMIN, &w->admin);
    fx_actor(&w->f, "office-a", "cw", TD_ROLE_CASEWORKER, &w->cw);
    fx_actor(&w->f, "office-b", "bboss", TD_ROLE_ADMIN, &w->other_admin);
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

static size_t problems(struct world *w)
{
    struct td_verify_stats st;
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_desk_verify(w->f.d, NULL, NULL, &st, &err), TD_OK);
    return st.problems;
}

/* File text from sender, received `age` seconds ago; returns the id. */
static int64_t file_at(struct world *w, const char *text, const char *sender, int64_t age)
{
    struct td_message m;
    struct td_ingest_result r;
    struct td_verdict v;
    struct td_error err;
    td_error_clear(&err);
    td_message_init(&m);
    td_verdict_init(&v);
    v.severity = TD_SEVERITY_LOW;
    td_message_set(&m.text, text, (size_t)-1);
    m.text_len = strlen(text);
    td_message_set(&m.sender, sender, (size_t)-1);
    td_message_set(&m.channel, "email", (size_t)-1);
    m.time = (int64_t)time(NULL) - age;
    if (td_desk_file(w->f.d, &w->cw, &m, NULL, &v, &r, &err) != TD_OK)
        fx_fail("file", &err);
    td_message_release(&m);
    td_verdict_release(&v);
    return r.id;
}

static int64_t case_with(struct world *w, int64_t msg)
{
    struct td_error err;
    int64_t id = 0;
    td_error_clear(&err);
    json_t *f = json_pack("{s:s,s:s}", "type", "harassment", "title", "letters");
    assert_int_equal(td_desk_case_create(w->f.d, &w->cw, f, &id, &err), TD_OK);
    json_decref(f);
    assert_int_equal(td_desk_case_link_message(w->f.d, &w->cw, id, msg, &err), TD_OK);
    return id;
}

/* How many audit entries of this action are about message msg (and hold
 * sha, when given). */
static size_t entries(struct world *w, const char *action, int64_t msg, const char *sha)
{
    char sql[512], v[32];
    /* the test's own constants, spliced: the same SQL on both backends */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM audit WHERE action = '%s' AND object_type = 'message' "
             "AND object_id = %lld AND details LIKE '%%pest@example.org%%'",
             action, (long long)msg);
    /* the tombstone never names the sender */
    assert_int_equal(fx_sql_text(&w->f, sql, v, sizeof v), 0);
    assert_string_equal(v, "0");
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM audit WHERE action = '%s' AND object_type = 'message' "
             "AND object_id = %lld AND details LIKE '%%%s%%'",
             action, (long long)msg, sha ? sha : "");
    assert_int_equal(fx_sql_text(&w->f, sql, v, sizeof v), 0);
    return (size_t)strtoull(v, NULL, 10);
}

static void test_erase_sender_leaves_tombstones_and_verifies(void **state)
{
    struct world *w = *state;
    struct td_error err;
    struct td_erase_stats st;
    json_t *o = NULL;
    td_error_clear(&err);
    int64_t a = file_at(w, "you again", "email:pest@example.org", 100);
    int64_t b = file_at(w, "and again", "Pest@Example.org", 50);
    int64_t kept = file_at(w, "the one the police have", "email:pest@example.org", 10);
    int64_t other = file_at(w, "thanks for the help", "email:kind@example.org", 10);
    case_with(w, kept);
    void *orig = NULL;
    size_t olen = 0;
    char sha_a[65];
    assert_int_equal(td_desk_message_original(w->f.d, &w->cw, a, &orig, &olen, sha_a, &err), TD_OK);
    free(orig);
    assert_int_equal(problems(w), 0);

    /* only an admin erases, and only in its own office */
    assert_int_equal(td_desk_erase_sender(w->f.d, &w->cw, "pest@example.org", &st, &err),
                     TD_EDENIED);
    assert_int_equal(td_desk_erase_sender(w->f.d, &w->other_admin, "pest@example.org", &st, &err),
                     TD_ENOTFOUND);

    assert_int_equal(td_desk_erase_sender(w->f.d, &w->admin, "PEST@example.org", &st, &err), TD_OK);
    assert_int_equal(st.erased, 2);
    assert_int_equal(st.kept, 1);
    assert_int_equal(td_desk_message_get(w->f.d, &w->cw, a, &o, &err), TD_ENOTFOUND);
    assert_int_equal(td_desk_message_get(w->f.d, &w->cw, b, &o, &err), TD_ENOTFOUND);
    assert_int_equal(td_desk_message_get(w->f.d, &w->cw, kept, &o, &err), TD_OK);
    json_decref(o);
    assert_int_equal(td_desk_message_get(w->f.d, &w->cw, other, &o, &err), TD_OK);
    json_decref(o);
    /* the tombstone: the original's hash, by the admin, dated by its entry */
    assert_int_equal(entries(w, "message.erase", a, sha_a), 1);
    assert_int_equal(entries(w, "message.erase", b, NULL), 1);
    assert_int_equal(entries(w, "message.erase", kept, NULL), 0);
    /* and the chain still verifies */
    assert_int_equal(problems(w), 0);

    /* nothing left to erase that is not held by a case */
    assert_int_equal(td_desk_erase_sender(w->f.d, &w->admin, "pest@example.org", &st, &err), TD_OK);
    assert_int_equal(st.erased, 0);
    assert_int_equal(st.kept, 1);
}

/* A scanned letter whose message is erased goes with it: its row keeps
 * the file name the office gave it (often the writer's name) and the
 * image's hash.  One held by a case stays, as its message does. */
static void test_erasure_takes_the_scanned_letter(void **state)
{
    struct world *w = *state;
    struct td_error err;
    struct td_erase_stats st;
    json_t *o = NULL;
    td_error_clear(&err);
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};
    int64_t gone = file_at(w, "a letter from a pest", "email:pest@example.org", 100);
    int64_t held = file_at(w, "the letter the police have", "email:pest@example.org", 10);
    case_with(w, held);
    struct td_upload_result u1, u2;
    assert_int_equal(td_desk_upload_accept(w->f.d, &w->cw, png, sizeof png, "jo-pest-letter.png",
                                           "scan-1", INT64_MIN, &u1, &err),
                     TD_OK);
    assert_int_equal(td_desk_upload_accept(w->f.d, &w->cw, png, sizeof png, "jo-pest-2.png",
                                           "scan-2", INT64_MIN, &u2, &err),
                     TD_OK);
    struct td_store *s = w->f.d->store;
    int64_t office = w->cw.office_id, now = (int64_t)time(NULL);
    assert_int_equal(s->ops->upload_set(s, office, u1.id, "done", 1, NULL, gone, now, &err), TD_OK);
    assert_int_equal(s->ops->upload_set(s, office, u2.id, "done", 1, NULL, held, now, &err), TD_OK);
    assert_int_equal(td_desk_upload_get(w->f.d, &w->cw, u1.id, &o, &err), TD_OK);
    json_decref(o);

    assert_int_equal(td_desk_erase_sender(w->f.d, &w->admin, "pest@example.org", &st, &err), TD_OK);
    assert_int_equal(st.erased, 1);
    assert_int_equal(td_desk_upload_get(w->f.d, &w->cw, u1.id, &o, &err), TD_ENOTFOUND);
    assert_int_equal(td_desk_upload_get(w->f.d, &w->cw, u2.id, &o, &err), TD_OK);
    json_t *m = json_object_get(o, "message");
    assert_true(json_is_integer(m) && json_integer_value(m) == held);
    json_decref(o);
    assert_int_equal(problems(w), 0);
}

static void test_retention_erases_old_unlinked_messages(void **state)
{
    struct world *w = *state;
    struct td_error err;
    struct td_erase_stats st;
    int64_t days = -1;
    json_t *o = NULL;
    td_error_clear(&err);
    int64_t old = file_at(w, "an old letter", "email:a@example.org", 40 * 86400);
    int64_t old_linked = file_at(w, "an old threat", "email:b@example.org", 40 * 86400);
    int64_t recent = file_at(w, "a new letter", "email:c@example.org", 5 * 86400);
    case_with(w, old_linked);
    /* scans that never became a message: one failed 40 days ago, one
     * failed 5 days ago, one still queued from 40 days ago */
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};
    int64_t t = (int64_t)time(NULL);
    struct td_upload_result u_old, u_new, u_queued;
    assert_int_equal(td_desk_upload_accept(w->f.d, &w->cw, png, sizeof png, "a-b-letter.png", "s1",
                                           t - 40 * 86400, &u_old, &err),
                     TD_OK);
    assert_int_equal(td_desk_upload_accept(w->f.d, &w->cw, png, sizeof png, NULL, "s2",
                                           t - 5 * 86400, &u_new, &err),
                     TD_OK);
    assert_int_equal(td_desk_upload_accept(w->f.d, &w->cw, png, sizeof png, NULL, "s3",
                                           t - 40 * 86400, &u_queued, &err),
                     TD_OK);
    struct td_store *s = w->f.d->store;
    assert_int_equal(
        s->ops->upload_set(s, w->cw.office_id, u_old.id, "failed", 3, "unreadable", 0, t, &err),
        TD_OK);
    assert_int_equal(
        s->ops->upload_set(s, w->cw.office_id, u_new.id, "failed", 3, "unreadable", 0, t, &err),
        TD_OK);

    /* no period: nothing is erased */
    assert_int_equal(td_desk_retention_get(w->f.d, &w->cw, &days, &err), TD_OK);
    assert_int_equal(days, 0);
    assert_int_equal(td_desk_retention_apply(w->f.d, &w->admin, 0, &st, &err), TD_OK);
    assert_int_equal(st.erased, 0);

    assert_int_equal(td_desk_retention_set(w->f.d, &w->cw, 30, &err), TD_EDENIED);
    assert_int_equal(td_desk_retention_set(w->f.d, &w->admin, -3, &err), TD_EINVAL);
    assert_int_equal(td_desk_retention_set(w->f.d, &w->admin, 30, &err), TD_OK);
    assert_int_equal(td_desk_retention_get(w->f.d, &w->cw, &days, &err), TD_OK);
    assert_int_equal(days, 30);
    /* per office: the other office keeps everything */
    assert_int_equal(td_desk_retention_get(w->f.d, &w->other_admin, &days, &err), TD_OK);
    assert_int_equal(days, 0);

    assert_int_equal(td_desk_retention_apply(w->f.d, &w->cw, 0, &st, &err), TD_EDENIED);
    assert_int_equal(td_desk_retention_apply(w->f.d, &w->admin, 0, &st, &err), TD_OK);
    assert_int_equal(st.erased, 1);
    assert_int_equal(st.kept, 1);
    assert_int_equal(td_desk_message_get(w->f.d, &w->cw, old, &o, &err), TD_ENOTFOUND);
    assert_int_equal(td_desk_message_get(w->f.d, &w->cw, old_linked, &o, &err), TD_OK);
    json_decref(o);
    assert_int_equal(td_desk_message_get(w->f.d, &w->cw, recent, &o, &err), TD_OK);
    json_decref(o);
    assert_int_equal(entries(w, "message.expire", old, NULL), 1);
    /* the failed scan past the period goes, with its tombstone; the recent
     * one and the one still waiting for a worker stay */
    assert_int_equal(st.uploads, 1);
    assert_int_equal(td_desk_upload_get(w->f.d, &w->cw, u_old.id, &o, &err), TD_ENOTFOUND);
    assert_int_equal(td_desk_upload_get(w->f.d, &w->cw, u_new.id, &o, &err), TD_OK);
    json_decref(o);
    assert_int_equal(td_desk_upload_get(w->f.d, &w->cw, u_queued.id, &o, &err), TD_OK);
    json_decref(o);
    char sql[256], v[32];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM audit WHERE action = 'upload.expire' AND object_type = 'upload' "
             "AND object_id = %lld AND details LIKE '%%retention%%'",
             (long long)u_old.id);
    assert_int_equal(fx_sql_text(&w->f, sql, v, sizeof v), 0);
    assert_string_equal(v, "1");
    assert_int_equal(problems(w), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_erase_sender_leaves_tombstones_and_verifies, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_erasure_takes_the_scanned_letter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_erases_old_unlinked_messages, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
