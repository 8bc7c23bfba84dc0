/*
 * test_desk_uploads.c - scanned letters off the request path at the desk
 * (desk.h "scanned letters"): who may upload, what is refused before it is
 * kept, idempotency, office isolation of the status, and the worker's
 * failure paths - a file that is not a readable image fails for good at
 * once with its bytes kept; an OCR engine that cannot start is retried at
 * its time and failed after max_attempts.  (The successful path, with real
 * OCR and the analyser, is tests/integration/ocr_queue.sh.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "desk_fixture.h"

/* A PNG signature and the start of a header, cut short: accepted as a
 * PNG by its magic, unreadable by the OCR. */
static const unsigned char cut_png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0,   0,
                                        0,    13,  'I', 'H', 'D',  'R',  0,    0,    0x10};

static void str_eq(json_t *o, const char *k, const char *want)
{
    const char *v = json_string_value(json_object_get(o, k));
    if (!v || strcmp(v, want)) {
        print_error("%s: want \"%s\", got \"%s\"\n", k, want, v ? v : "(none)");
        fail();
    }
}

static json_t *status_of(struct fx *f, const struct td_actor *a, int64_t id)
{
    struct td_error err;
    json_t *o = NULL;
    td_error_clear(&err);
    assert_int_equal(td_desk_upload_get(f->d, a, id, &o, &err), TD_OK);
    return o;
}

static void test_accept_rules(void **state)
{
    (void)state;
    struct fx f;
    struct td_actor cw, obs, other;
    struct td_upload_result r, r2;
    struct td_error err;
    td_error_clear(&err);
    fx_open(&f);
    fx_actor(&f, "office-a", "cw", TD_ROLE_CASEWORKER, &cw);
    fx_actor(&f, "office-a", "obs", TD_ROLE_OBSERVER, &obs);
    fx_actor(&f, "office-b", "other", TD_ROLE_ADMIN, &other);

    assert_int_equal(
        td_desk_upload_accept(f.d, &obs, cut_png, sizeof cut_png, NULL, NULL, INT64_MIN, &r, &err),
        TD_EDENIED);
    assert_int_equal(td_desk_upload_accept(f.d, &cw, "Dear MP, not a scan at all", 26, "x.png",
                                           NULL, INT64_MIN, &r, &err),
                     TD_EFORMAT);
    assert_int_equal(td_desk_upload_accept(f.d, &cw, "", 0, NULL, NULL, INT64_MIN, &r, &err),
                     TD_EINVAL);
    assert_int_equal(td_desk_upload_accept(f.d, &cw, cut_png, sizeof cut_png, "a\nb.png", NULL,
                                           INT64_MIN, &r, &err),
                     TD_EINVAL);
    assert_string_equal(err.field, "name");
    assert_int_equal(
        td_desk_upload_accept(f.d, &cw, cut_png, sizeof cut_png, "scan.png", "k-1", 1000, &r, &err),
        TD_OK);
    assert_true(r.id > 0 && r.job_id > 0);
    assert_false(r.duplicate);
    assert_string_equal(r.state, "queued");
    /* the same key again: the same upload, no second job */
    assert_int_equal(td_desk_upload_accept(f.d, &cw, cut_png, sizeof cut_png, "scan.png", "k-1",
                                           1000, &r2, &err),
                     TD_OK);
    assert_true(r2.duplicate);
    assert_int_equal(r2.id, r.id);
    assert_int_equal(r2.job_id, 0);
    /* the same key in another office is that office's own upload */
    assert_int_equal(td_desk_upload_accept(f.d, &other, cut_png, sizeof cut_png, NULL, "k-1",
                                           INT64_MIN, &r2, &err),
                     TD_OK);
    assert_false(r2.duplicate);
    assert_int_not_equal(r2.id, r.id);

    json_t *o = status_of(&f, &cw, r.id);
    str_eq(o, "state", "queued");
    str_eq(o, "kind", "png");
    str_eq(o, "name", "scan.png");
    assert_int_equal(json_integer_value(json_object_get(o, "size")), sizeof cut_png);
    assert_int_equal(json_integer_value(json_object_get(o, "received")), 1000);
    json_decref(o);
    o = NULL;
    assert_int_equal(td_desk_upload_get(f.d, &other, r.id, &o, &err), TD_ENOTFOUND);
    assert_null(o);
    assert_int_equal(td_desk_upload_get(f.d, &obs, r.id, &o, &err), TD_EDENIED);
    fx_close(&f);
}

/* A file the OCR cannot decode fails at once, for good, bytes kept. */
static void test_unreadable_fails_for_good(void **state)
{
    (void)state;
    struct fx f;
    struct td_actor cw;
    struct td_upload_result r;
    struct td_work_result w;
    struct td_error err;
    td_error_clear(&err);
    fx_open(&f);
    fx_actor(&f, "office-a", "cw", TD_ROLE_CASEWORKER, &cw);
    struct td_work_opts o = {.worker = "t1", .max_attempts = 3, .retry_s = 1};
    assert_int_equal(td_desk_work_one(f.d, &o, NULL, NULL, &w, &err), TD_OK);
    assert_true(w.idle);
    assert_int_equal(td_desk_upload_accept(f.d, &cw, cut_png, sizeof cut_png, "scan.png", NULL,
                                           INT64_MIN, &r, &err),
                     TD_OK);
    assert_int_equal(td_desk_work_one(f.d, &o, NULL, NULL, &w, &err), TD_OK);
    assert_false(w.idle);
    assert_int_equal(w.job_id, r.job_id);
    assert_int_equal(w.upload_id, r.id);
    assert_int_equal(w.outcome, TD_EFORMAT);
    assert_true(w.gave_up);
    json_t *s = status_of(&f, &cw, r.id);
    str_eq(s, "state", "failed");
    assert_non_null(strstr(json_string_value(json_object_get(s, "error")), "png"));
    assert_int_equal(json_integer_value(json_object_get(s, "attempts")), 1);
    assert_int_equal(json_integer_value(json_object_get(s, "size")), sizeof cut_png);
    assert_null(json_object_get(s, "message"));
    json_decref(s);
    /* nothing left to do */
    assert_int_equal(td_desk_work_one(f.d, &o, NULL, NULL, &w, &err), TD_OK);
    assert_true(w.idle);
    fx_close(&f);
}

/* An engine that cannot start (no language data) may pass: retried at its
 * time, not before, then failed after max_attempts. */
static void test_retry_then_fail(void **state)
{
    (void)state;
    struct fx f;
    struct td_actor cw;
    struct td_upload_result r;
    struct td_work_result w;
    struct td_error err;
    td_error_clear(&err);
    fx_open(&f);
    fx_actor(&f, "office-a", "cw", TD_ROLE_CASEWORKER, &cw);
    assert_int_equal(
        td_desk_upload_accept(f.d, &cw, cut_png, sizeof cut_png, NULL, NULL, INT64_MIN, &r, &err),
        TD_OK);
    char *saved = getenv("TESSDATA_PREFIX") ? strdup(getenv("TESSDATA_PREFIX")) : NULL;
    setenv("TESSDATA_PREFIX", "/nonexistent-tessdata", 1);
    struct td_work_opts o = {.worker = "t1", .max_attempts = 2, .retry_s = 1};
    assert_int_equal(td_desk_work_one(f.d, &o, NULL, NULL, &w, &err), TD_OK);
    assert_int_equal(w.outcome, TD_EOCR);
    assert_false(w.gave_up);
    json_t *s = status_of(&f, &cw, r.id);
    str_eq(s, "state", "queued");
    assert_non_null(strstr(json_string_value(json_object_get(s, "error")), "language data"));
    json_decref(s);
    /* not due again before its retry time */
    assert_int_equal(td_desk_work_one(f.d, &o, NULL, NULL, &w, &err), TD_OK);
    assert_true(w.idle);
    sleep(2);
    o.worker = "t2";
    assert_int_equal(td_desk_work_one(f.d, &o, NULL, NULL, &w, &err), TD_OK);
    assert_false(w.idle);
    assert_int_equal(w.outcome, TD_EOCR);
    assert_true(w.gave_up);
    s = status_of(&f, &cw, r.id);
    str_eq(s, "state", "failed");
    assert_int_equal(json_integer_value(json_object_get(s, "attempts")), 2);
    json_decref(s);
    if (saved)
        setenv("TESSDATA_PREFIX", saved, 1);
    else
        unsetenv("TESSDATA_PREFIX");
    free(saved);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_rules),
        cmocka_unit_test(test_unreadable_fails_for_good),
        cmocka_unit_test(test_retry_then_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
