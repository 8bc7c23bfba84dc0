/*
 * test_desk_feedback.c - learning from the office through the desk: a
 * caseworker's dismissal moves the next similar message of that office
 * (and of no other), revoking it gives the engine's verdict back, a new
 * status replaces the old decision, every act is audited, and a message
 * without a vector (format-1 model) teaches nothing and says so.
 *
 * Verdicts are hand-made with chosen vectors (td_desk_file), so what is
 * asserted does not move with the shipped model; the shipped analyser is
 * opened only for its thresholds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "desk/desk_int.h"
#include "unit/desk_fixture.h"

#define MODEL "test-model/2"

struct w {
    struct fx f;
    struct td_actor alice, carol, bob; /* alice, carol: office A; bob: office B */
};

static int setup(void **state)
{
    struct w *w = calloc(1, sizeof *w);
    struct td_error err;
    td_error_clear(&err);
    fx_open(&w->f);
    td_desk_close(w->f.d);
    if (td_analyser_open(NULL, NULL, &w->f.a, &err) != TD_OK)
        fx_fail("analyser", &err);
    fx_open_desk(&w->f);
    fx_actor(&w->f, "office-a", "alice", TD_ROLE_CASEWORKER, &w->alice);
    fx_actor(&w->f, "office-a", "carol", TD_ROLE_OBSERVER, &w->carol);
    fx_actor(&w->f, "office-b", "bob", TD_ROLE_CASEWORKER, &w->bob);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct w *w = *state;
    fx_close(&w->f);
    free(w);
    return 0;
}

/* File `text` with a high-threat verdict (threat 0.95) whose vector lies
 * along axis `ax` (nvec 0: no vector, as a format-1 model gives). */
static int64_t file_vec(struct w *w, const struct td_actor *a, const char *text, int ax,
                        unsigned nvec)
{
    struct td_message m;
    struct td_ingest_result r;
    struct td_verdict v;
    struct td_error err;
    td_error_clear(&err);
    td_message_init(&m);
    td_verdict_init(&v);
    v.prob[TD_LABEL_THREAT] = 0.95f;
    v.labels = 1u << TD_LABEL_THREAT;
    v.severity = TD_SEVERITY_HIGH;
    v.model_version = MODEL;
    snprintf(v.reason, sizeof v.reason, "threat 0.95 by model nn.window");
    v.nvec = nvec;
    for (unsigned i = 0; i < nvec; i++)
        v.vec[i] = (int)i == ax ? 1.0f : 0.01f;
    td_message_set(&m.text, text, (size_t)-1);
    m.text_len = strlen(text);
    td_message_set(&m.channel, "email", (size_t)-1);
    if (td_desk_file(w->f.d, a, &m, NULL, &v, &r, &err) != TD_OK)
        fx_fail("file", &err);
    td_message_release(&m);
    td_verdict_release(&v);
    return r.id;
}

/* The stored verdict of a message: threat probability, tier, reason. */
static void stored(struct w *w, const struct td_actor *a, int64_t id, double *threat, int *sev,
                   char *reason, size_t rsize)
{
    json_t *o = NULL;
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_desk_message_get(w->f.d, a, id, &o, &err), TD_OK);
    *threat = json_real_value(json_object_get(json_object_get(o, "labels"), "threat"));
    *sev = td_severity_from_name(json_string_value(json_object_get(o, "severity")));
    snprintf(reason, rsize, "%s", json_string_value(json_object_get(o, "reason")));
    json_decref(o);
}

/* How many audit entries of `action` are about feedback row `id`. */
static size_t audited(struct w *w, int64_t office, int64_t id, const char *action)
{
    json_t *ev = NULL, *e;
    struct td_error err;
    size_t i, n = 0;
    td_error_clear(&err);
    assert_int_equal(td__audit_events(w->f.d, office, "feedback", id, &ev, &err), TD_OK);
    json_array_foreach(ev, i, e)
    {
        if (!strcmp(json_string_value(json_object_get(e, "action")), action))
            n++;
    }
    json_decref(ev);
    return n;
}

/* The office's feedback rows (live, or all). */
static json_t *rows(struct w *w, const struct td_actor *a, int all)
{
    json_t *o = NULL;
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_desk_feedback_list(w->f.d, a, all, 0, 0, &o, &err), TD_OK);
    json_t *r = json_incref(json_object_get(o, "feedback"));
    json_decref(o);
    return r;
}

static void verify_clean(struct w *w)
{
    struct td_verify_stats st;
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_desk_verify(w->f.d, NULL, NULL, &st, &err), TD_OK);
    assert_int_equal(st.problems, 0);
}

static void test_dismissal_teaches_its_office_only(void **state)
{
    struct w *w = *state;
    struct td_error err;
    td_error_clear(&err);
    double p;
    int sev;
    char reason[256];

    int64_t m1 = file_vec(w, &w->alice, "see you at the match, you're dead meat", 0, 32);
    assert_int_equal(td_desk_message_set_status(w->f.d, &w->alice, m1, TD_MSG_DISMISSED,
                                                "football banter from a friend", &err),
                     TD_OK);
    json_t *r = rows(w, &w->alice, 0);
    assert_int_equal(json_array_size(r), 1);
    json_t *row = json_array_get(r, 0);
    int64_t fid = json_integer_value(json_object_get(row, "id"));
    assert_int_equal(json_integer_value(json_object_get(row, "message")), m1);
    assert_string_equal(json_string_value(json_object_get(row, "decision")), "dismissed");
    assert_string_equal(json_string_value(json_object_get(row, "user")), "alice");
    json_decref(r);
    assert_int_equal(audited(w, w->alice.office_id, fid, "feedback.add"), 1);

    /* the office's next similar message is lowered, and says why */
    int64_t m2 = file_vec(w, &w->alice, "you're dead meat at the match on saturday", 0, 32);
    stored(w, &w->alice, m2, &p, &sev, reason, sizeof reason);
    assert_true(p < 0.95 - 0.05);
    assert_true(sev >= TD_SEVERITY_MEDIUM); /* one step down at most */
    assert_non_null(strstr(reason, "1 similar message dismissed by this office"));
    /* a message unlike it is not */
    int64_t m3 = file_vec(w, &w->alice, "i will find where you live", 5, 32);
    stored(w, &w->alice, m3, &p, &sev, reason, sizeof reason);
    assert_true(fabs(p - 0.95) < 1e-6);
    assert_null(strstr(reason, "office feedback"));

    /* office B: the same vector, untouched; B has no rows */
    int64_t b1 = file_vec(w, &w->bob, "see you at the match, you're dead meat", 0, 32);
    stored(w, &w->bob, b1, &p, &sev, reason, sizeof reason);
    assert_true(fabs(p - 0.95) < 1e-6);
    assert_int_equal(sev, TD_SEVERITY_HIGH);
    assert_null(strstr(reason, "office feedback"));
    r = rows(w, &w->bob, 1);
    assert_int_equal(json_array_size(r), 0);
    json_decref(r);
    /* ... and cannot revoke A's decision */
    assert_int_equal(td_desk_feedback_revoke(w->f.d, &w->bob, fid, &err), TD_ENOTFOUND);
    assert_int_equal(audited(w, w->alice.office_id, fid, "feedback.revoke"), 0);
    /* an observer reads no feedback */
    json_t *o = NULL;
    assert_int_equal(td_desk_feedback_list(w->f.d, &w->carol, 0, 0, 0, &o, &err), TD_EDENIED);
    assert_int_equal(td_desk_feedback_revoke(w->f.d, &w->carol, fid, &err), TD_EDENIED);

    /* revoking restores the engine's verdict for the next message */
    assert_int_equal(td_desk_feedback_revoke(w->f.d, &w->alice, fid, &err), TD_OK);
    assert_int_equal(audited(w, w->alice.office_id, fid, "feedback.revoke"), 1);
    int64_t m4 = file_vec(w, &w->alice, "dead meat at the match, mate", 0, 32);
    stored(w, &w->alice, m4, &p, &sev, reason, sizeof reason);
    assert_true(fabs(p - 0.95) < 1e-6);
    assert_int_equal(sev, TD_SEVERITY_HIGH);
    assert_string_equal(reason, "threat 0.95 by model nn.window");
    /* a second revoke changes nothing and audits nothing */
    assert_int_equal(td_desk_feedback_revoke(w->f.d, &w->alice, fid, &err), TD_OK);
    assert_int_equal(audited(w, w->alice.office_id, fid, "feedback.revoke"), 1);
    r = rows(w, &w->alice, 1);
    assert_int_equal(json_array_size(r), 1);
    assert_non_null(json_object_get(json_array_get(r, 0), "revoked"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(r, 0), "revoked_by")),
                        "alice");
    json_decref(r);
    verify_clean(w);
}

/* A new status replaces the old decision; reopening only revokes. */
static void test_status_replaces_decision(void **state)
{
    struct w *w = *state;
    struct td_error err;
    td_error_clear(&err);
    double p;
    int sev;
    char reason[256];
    int64_t m1 = file_vec(w, &w->alice, "i know where your office is", 1, 32);
    assert_int_equal(
        td_desk_message_set_status(w->f.d, &w->alice, m1, TD_MSG_DISMISSED, "a neighbour", &err),
        TD_OK);
    assert_int_equal(td_desk_message_set_status(w->f.d, &w->alice, m1, TD_MSG_REVIEWED, NULL, &err),
                     TD_OK);
    json_t *r = rows(w, &w->alice, 0);
    assert_int_equal(json_array_size(r), 1);
    json_t *row = json_array_get(r, 0);
    assert_string_equal(json_string_value(json_object_get(row, "decision")), "confirmed");
    assert_string_equal(json_string_value(json_array_get(json_object_get(row, "labels"), 0)),
                        "threat");
    json_decref(r);
    r = rows(w, &w->alice, 1);
    assert_int_equal(json_array_size(r), 2);
    int64_t first = json_integer_value(json_object_get(json_array_get(r, 1), "id"));
    assert_int_equal(audited(w, w->alice.office_id, first, "feedback.add"), 1);
    assert_int_equal(audited(w, w->alice.office_id, first, "feedback.revoke"), 1);
    json_decref(r);

    /* confirmed: the next similar message keeps its threat, pulled up */
    int64_t m2 = file_vec(w, &w->alice, "we know where your office is", 1, 32);
    stored(w, &w->alice, m2, &p, &sev, reason, sizeof reason);
    assert_true(p > 0.95);
    assert_int_equal(sev, TD_SEVERITY_HIGH);
    assert_non_null(strstr(reason, "1 similar message confirmed by this office"));

    /* back to unreviewed: nothing live is left */
    assert_int_equal(
        td_desk_message_set_status(w->f.d, &w->alice, m1, TD_MSG_UNREVIEWED, NULL, &err), TD_OK);
    r = rows(w, &w->alice, 0);
    assert_int_equal(json_array_size(r), 0);
    json_decref(r);
    int64_t m3 = file_vec(w, &w->alice, "we know where the office is", 1, 32);
    stored(w, &w->alice, m3, &p, &sev, reason, sizeof reason);
    assert_true(fabs(p - 0.95) < 1e-6);
    verify_clean(w);
}

/* Without a vector (a format-1 model) a decision teaches nothing, and the
 * status's audit entry says so. */
static void test_no_vector_nothing_learnt(void **state)
{
    struct w *w = *state;
    struct td_error err;
    td_error_clear(&err);
    int64_t m1 = file_vec(w, &w->alice, "you will regret this", 0, 0);
    assert_int_equal(td_desk_message_set_status(w->f.d, &w->alice, m1, TD_MSG_DISMISSED,
                                                "a constituent's complaint", &err),
                     TD_OK);
    json_t *r = rows(w, &w->alice, 1);
    assert_int_equal(json_array_size(r), 0);
    json_decref(r);
    json_t *ev = NULL, *e;
    size_t i, notes = 0;
    assert_int_equal(td__audit_events(w->f.d, w->alice.office_id, "message", m1, &ev, &err), TD_OK);
    json_array_foreach(ev, i, e)
    {
        json_t *det = json_object_get(e, "details");
        const char *fb = json_string_value(json_object_get(det, "feedback"));
        if (!strcmp(json_string_value(json_object_get(e, "action")), "message.status") && fb &&
            strstr(fb, "format 1"))
            notes++;
    }
    json_decref(ev);
    assert_int_equal(notes, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dismissal_teaches_its_office_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_replaces_decision, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_vector_nothing_learnt, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
