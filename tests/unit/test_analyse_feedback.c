/*
 * test_analyse_feedback.c - the office's nearest-neighbour memory
 * (feedback.h): adjustments move the right way, are bounded, leave
 * vector-less verdicts alone, and removing a decision gives back the
 * engine's verdict exactly.
 *
 * Verdicts are hand-made (vectors chosen so similarities are known), so
 * what is asserted does not move with the shipped model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "threatdesk/feedback.h"

#define DIM 16
#define T (1u << TD_LABEL_THREAT)
#define AB (1u << TD_LABEL_ABUSE)

static const float thr[TD_LABEL_COUNT] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f};

/* A unit vector along axis `a`, tilted toward axis `b` by `tilt` (cosine
 * with axis a: 1/sqrt(1+tilt^2)). */
static void axis(float *x, int a, int b, float tilt)
{
    memset(x, 0, DIM * sizeof *x);
    x[a] = 1.0f;
    if (b >= 0)
        x[b] = tilt;
}

/* A high threat (threat 0.80, abuse 0.30) with one threat span and one
 * abuse span, its vector along axis 0. */
static void threat_verdict(struct td_verdict *v)
{
    td_verdict_init(v);
    v->prob[TD_LABEL_THREAT] = 0.80f;
    v->prob[TD_LABEL_ABUSE] = 0.30f;
    v->labels = T;
    v->severity = TD_SEVERITY_HIGH;
    v->spans = calloc(2, sizeof *v->spans);
    assert_non_null(v->spans);
    v->spans[0] = (struct td_span){0, 4, TD_LABEL_THREAT, TD_SOURCE_MODEL, "nn.window", 1.0f};
    v->spans[1] = (struct td_span){5, 9, TD_LABEL_ABUSE, TD_SOURCE_LEXICON, "lex", 1.0f};
    v->nspans = 2;
    snprintf(v->reason, sizeof v->reason, "threat 0.80 by model nn.window");
    v->nvec = DIM;
    axis(v->vec, 0, -1, 0);
}

/* A memory with parameters the tests' arithmetic is written for (the
 * defaults are tuned for a model's geometry and may change): k 8, floor
 * 0.85, kappa 2, max influence 0.8. */
static struct td_feedback *memory(void)
{
    struct td_feedback *fb = NULL;
    struct td_feedback_params p = {8, 0.85f, 2.0f, 0.8f};
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_feedback_new(&p, DIM, &fb, &err), TD_OK);
    return fb;
}

static void add(struct td_feedback *fb, int64_t id, int a, int b, float tilt,
                enum td_feedback_decision d, unsigned labels)
{
    float x[DIM];
    struct td_error err;
    td_error_clear(&err);
    axis(x, a, b, tilt);
    assert_int_equal(td_feedback_add(fb, id, x, DIM, d, labels, 1.0f, &err), TD_OK);
}

static void test_no_vector_no_change(void **state)
{
    (void)state;
    struct td_feedback *fb = memory();
    add(fb, 1, 0, -1, 0, TD_FEEDBACK_DISMISSED, 0);
    struct td_verdict v, orig;
    threat_verdict(&v);
    v.nvec = 0; /* a format-1 model */
    orig = v;
    struct td_feedback_effect e;
    assert_int_equal(td_feedback_adjust(fb, thr, &v, &e, NULL), TD_OK);
    assert_false(e.applied);
    assert_non_null(e.why);
    assert_non_null(strstr(e.why, "format 1"));
    assert_memory_equal(&v, &orig, sizeof v);
    /* a vector of another size (another model) is left alone too */
    v.nvec = DIM / 2;
    orig = v;
    assert_int_equal(td_feedback_adjust(fb, thr, &v, &e, NULL), TD_OK);
    assert_false(e.applied);
    assert_memory_equal(&v, &orig, sizeof v);
    td_verdict_release(&v);
    td_feedback_free(fb);
}

static void test_dissimilar_ignored(void **state)
{
    (void)state;
    struct td_feedback *fb = memory();
    /* cosine 0 and cosine 0.71 (tilt 1): both under the 0.85 floor */
    add(fb, 1, 1, -1, 0, TD_FEEDBACK_DISMISSED, 0);
    add(fb, 2, 0, 1, 1.0f, TD_FEEDBACK_DISMISSED, 0);
    struct td_verdict v;
    threat_verdict(&v);
    struct td_feedback_effect e;
    assert_int_equal(td_feedback_adjust(fb, thr, &v, &e, NULL), TD_OK);
    assert_false(e.applied);
    assert_float_equal(v.prob[TD_LABEL_THREAT], 0.80f, 0);
    assert_int_equal(v.severity, TD_SEVERITY_HIGH);
    assert_string_equal(v.reason, "threat 0.80 by model nn.window");
    td_verdict_release(&v);
    td_feedback_free(fb);
}

/* Dismissed neighbours lower the threat; one decision lowers it less than
 * three; however many, the tier falls by one at most. */
static void test_dismissals_lower_bounded(void **state)
{
    (void)state;
    struct td_feedback *one = memory(), *many = memory();
    add(one, 1, 0, 2, 0.1f, TD_FEEDBACK_DISMISSED, 0);
    for (int i = 0; i < 20; i++)
        add(many, i + 1, 0, 2, 0.05f * (float)(i % 3), TD_FEEDBACK_DISMISSED, 0);

    struct td_verdict v1, vm;
    struct td_feedback_effect e1, em;
    threat_verdict(&v1);
    threat_verdict(&vm);
    assert_int_equal(td_feedback_adjust(one, thr, &v1, &e1, NULL), TD_OK);
    assert_int_equal(td_feedback_adjust(many, thr, &vm, &em, NULL), TD_OK);
    assert_true(e1.applied && em.applied);
    assert_int_equal(e1.dismissed, 1);
    assert_int_equal(em.neighbours, 8); /* k */
    /* the right way, and more evidence moves it further */
    assert_true(v1.prob[TD_LABEL_THREAT] < 0.80f);
    assert_true(vm.prob[TD_LABEL_THREAT] < v1.prob[TD_LABEL_THREAT]);
    /* bounded influence: never below (1 - max_influence) of the engine */
    assert_true(vm.prob[TD_LABEL_THREAT] >= 0.80f * (1 - 0.8f) - 1e-6f);
    assert_true(e1.influence < em.influence);
    assert_true(em.influence <= 0.8f);
    /* one click: the threat stays a threat */
    assert_true(v1.labels & T);
    assert_int_equal(v1.severity, TD_SEVERITY_HIGH);
    /* many: the label goes, the tier only one step (high -> medium) */
    assert_false(vm.labels & T);
    assert_int_equal(vm.severity, TD_SEVERITY_MEDIUM);
    assert_true(em.held);
    assert_true(vm.possible_threat);
    assert_non_null(strstr(vm.reason, "8 similar messages dismissed by this office"));
    assert_non_null(strstr(vm.reason, "kept at medium for review"));
    assert_non_null(strstr(vm.reason, "threat 0.80 -> "));
    /* held: the engine's spans stay so the caseworker sees what it saw */
    assert_int_equal(vm.nspans, 2);
    td_verdict_release(&v1);
    td_verdict_release(&vm);
    td_feedback_free(one);
    td_feedback_free(many);
}

static void test_critical_stays_high(void **state)
{
    (void)state;
    struct td_feedback *fb = memory();
    for (int i = 0; i < 10; i++)
        add(fb, i + 1, 0, -1, 0, TD_FEEDBACK_DISMISSED, 0);
    struct td_verdict v;
    threat_verdict(&v);
    v.flags = TD_FLAG(TIME_BOUND);
    v.severity = TD_SEVERITY_CRITICAL;
    assert_int_equal(td_feedback_adjust(fb, thr, &v, NULL, NULL), TD_OK);
    assert_false(v.labels & T);
    assert_int_equal(v.severity, TD_SEVERITY_HIGH);
    assert_true(v.flags & TD_FLAG(TIME_BOUND)); /* held: the details stay */
    td_verdict_release(&v);
    td_feedback_free(fb);
}

/* Confirmed threats nearby raise a message the engine let through by its
 * score: one decision is not enough for a label (nor a tier: raising goes
 * by the scores only), several are, and never to critical. */
static void test_confirmed_raise(void **state)
{
    (void)state;
    struct td_feedback *fb = memory();
    add(fb, 1, 0, 3, 0.1f, TD_FEEDBACK_CONFIRMED, T);
    struct td_verdict v;
    td_verdict_init(&v);
    v.prob[TD_LABEL_THREAT] = 0.10f;
    v.nvec = DIM;
    v.flags = TD_FLAG(TIME_BOUND); /* stale detail: must not make it critical */
    axis(v.vec, 0, -1, 0);
    snprintf(v.reason, sizeof v.reason, "no label reached its threshold");
    struct td_feedback_effect e;
    assert_int_equal(td_feedback_adjust(fb, thr, &v, &e, NULL), TD_OK);
    assert_true(e.applied);
    assert_int_equal(e.confirmed, 1);
    assert_true(v.prob[TD_LABEL_THREAT] > 0.10f);
    assert_true(v.prob[TD_LABEL_THREAT] < 0.5f); /* one decision: not a label yet */
    assert_int_equal(v.severity, TD_SEVERITY_NONE);
    assert_false(v.possible_threat);
    assert_non_null(strstr(v.reason, "1 similar message confirmed by this office"));

    /* three identical confirmations push it over the threshold: high, not
     * critical */
    add(fb, 2, 0, -1, 0, TD_FEEDBACK_CONFIRMED, T);
    add(fb, 3, 0, -1, 0, TD_FEEDBACK_CONFIRMED, T);
    add(fb, 4, 0, -1, 0, TD_FEEDBACK_CONFIRMED, T);
    td_verdict_init(&v);
    v.prob[TD_LABEL_THREAT] = 0.10f;
    v.nvec = DIM;
    v.flags = TD_FLAG(TIME_BOUND);
    axis(v.vec, 0, -1, 0);
    assert_int_equal(td_feedback_adjust(fb, thr, &v, &e, NULL), TD_OK);
    assert_true(v.labels & T);
    assert_int_equal(v.severity, TD_SEVERITY_HIGH);
    assert_false(v.possible_threat);
    /* other labels are pulled toward the confirmed set (none): stay 0 */
    assert_float_equal(v.prob[TD_LABEL_ABUSE], 0.0f, 1e-6f);
    td_feedback_free(fb);
}

/* A confirmed threat among the neighbours keeps a medium message at
 * medium, where the one-tier bound alone would let it fall to low. */
static void test_confirmed_threat_holds_medium(void **state)
{
    (void)state;
    struct td_feedback *fb = memory(), *dismissals = memory();
    for (int i = 0; i < 7; i++) {
        add(fb, i + 1, 0, -1, 0, TD_FEEDBACK_DISMISSED, 0);
        add(dismissals, i + 1, 0, -1, 0, TD_FEEDBACK_DISMISSED, 0);
    }
    add(fb, 8, 0, 4, 0.1f, TD_FEEDBACK_CONFIRMED, T);
    for (int with = 0; with < 2; with++) {
        struct td_verdict v;
        td_verdict_init(&v);
        v.prob[TD_LABEL_INTIMIDATION] = 0.60f;
        v.labels = 1u << TD_LABEL_INTIMIDATION;
        v.severity = TD_SEVERITY_MEDIUM;
        v.nvec = DIM;
        axis(v.vec, 0, -1, 0);
        struct td_feedback_effect e;
        assert_int_equal(td_feedback_adjust(with ? fb : dismissals, thr, &v, &e, NULL), TD_OK);
        assert_false(v.labels & (1u << TD_LABEL_INTIMIDATION));
        assert_int_equal(v.severity, with ? TD_SEVERITY_MEDIUM : TD_SEVERITY_LOW);
        assert_true(e.held);
    }
    td_feedback_free(fb);
    td_feedback_free(dismissals);
}

/* A label the office talked the verdict out of loses its spans (no hold:
 * abuse at low may fall to none). */
static void test_spans_follow_labels(void **state)
{
    (void)state;
    struct td_feedback *fb = memory();
    for (int i = 0; i < 6; i++)
        add(fb, i + 1, 0, -1, 0, TD_FEEDBACK_CONFIRMED, T);
    struct td_verdict v;
    threat_verdict(&v);
    v.prob[TD_LABEL_ABUSE] = 0.55f;
    v.labels = T | AB;
    assert_int_equal(td_feedback_adjust(fb, thr, &v, NULL, NULL), TD_OK);
    assert_true(v.labels & T);
    assert_false(v.labels & AB);
    assert_true(v.prob[TD_LABEL_THREAT] > 0.80f);
    assert_int_equal(v.nspans, 1);
    assert_int_equal(v.spans[0].label, TD_LABEL_THREAT);
    td_verdict_release(&v);
    td_feedback_free(fb);
}

/* Removing the decision gives back exactly the engine's verdict. */
static void test_remove_restores(void **state)
{
    (void)state;
    struct td_feedback *fb = memory();
    for (int i = 0; i < 5; i++)
        add(fb, 7, 0, -1, 0, TD_FEEDBACK_DISMISSED, 0); /* one id, weight 5 */
    add(fb, 8, 1, -1, 0, TD_FEEDBACK_DISMISSED, 0);     /* elsewhere */
    struct td_verdict engine, v;
    threat_verdict(&engine);
    threat_verdict(&v);
    assert_int_equal(td_feedback_adjust(fb, thr, &v, NULL, NULL), TD_OK);
    assert_true(v.prob[TD_LABEL_THREAT] < engine.prob[TD_LABEL_THREAT]);
    td_verdict_release(&v);

    assert_int_equal(td_feedback_remove(fb, 7), 5);
    assert_int_equal(td_feedback_remove(fb, 7), 0);
    assert_int_equal(td_feedback_count(fb), 1);
    threat_verdict(&v);
    struct td_feedback_effect e;
    assert_int_equal(td_feedback_adjust(fb, thr, &v, &e, NULL), TD_OK);
    assert_false(e.applied);
    assert_memory_equal(v.prob, engine.prob, sizeof v.prob);
    assert_int_equal(v.labels, engine.labels);
    assert_int_equal(v.severity, engine.severity);
    assert_int_equal(v.nspans, engine.nspans);
    assert_string_equal(v.reason, engine.reason);
    td_verdict_release(&v);
    td_verdict_release(&engine);
    td_feedback_free(fb);
}

/* Two memories are two offices: one's decisions do not reach the other. */
static void test_memories_independent(void **state)
{
    (void)state;
    struct td_feedback *a = memory(), *b = memory();
    for (int i = 0; i < 5; i++)
        add(a, i + 1, 0, -1, 0, TD_FEEDBACK_DISMISSED, 0);
    struct td_verdict va, vb;
    threat_verdict(&va);
    threat_verdict(&vb);
    assert_int_equal(td_feedback_adjust(a, thr, &va, NULL, NULL), TD_OK);
    assert_int_equal(td_feedback_adjust(b, thr, &vb, NULL, NULL), TD_OK);
    assert_true(va.prob[TD_LABEL_THREAT] < 0.80f);
    assert_float_equal(vb.prob[TD_LABEL_THREAT], 0.80f, 0);
    td_verdict_release(&va);
    td_verdict_release(&vb);
    td_feedback_free(a);
    td_feedback_free(b);
}

/* Vectors that share a large common part (as ReLU activations do) look
 * alike to a raw cosine; centred on the office's average they do not. */
static void test_centre(void **state)
{
    (void)state;
    struct td_feedback *fb = memory();
    struct td_error err;
    td_error_clear(&err);
    float x[DIM], mean[DIM];
    for (int i = 0; i < DIM; i++)
        x[i] = mean[i] = 1.0f;
    x[1] += 1.0f; /* the decided message: average + axis 1 */
    assert_int_equal(td_feedback_add(fb, 1, x, DIM, TD_FEEDBACK_DISMISSED, 0, 1, &err), TD_OK);
    struct td_verdict v;
    threat_verdict(&v);
    for (int i = 0; i < DIM; i++)
        v.vec[i] = 1.0f;
    v.vec[2] += 1.0f; /* the new one: average + axis 2 (raw cosine 0.95) */
    struct td_feedback_effect e;
    assert_int_equal(td_feedback_adjust(fb, thr, &v, &e, NULL), TD_OK);
    assert_true(e.applied); /* uncentred: "similar" */
    td_verdict_release(&v);

    assert_int_equal(td_feedback_set_center(fb, mean, DIM, &err), TD_OK);
    threat_verdict(&v);
    for (int i = 0; i < DIM; i++)
        v.vec[i] = 1.0f;
    v.vec[2] += 1.0f;
    assert_int_equal(td_feedback_adjust(fb, thr, &v, &e, NULL), TD_OK);
    assert_false(e.applied); /* centred: orthogonal */
    assert_float_equal(v.prob[TD_LABEL_THREAT], 0.80f, 0);
    td_verdict_release(&v);
    /* ... while a message that differs from the average the same way as
     * the decided one is still its neighbour */
    threat_verdict(&v);
    for (int i = 0; i < DIM; i++)
        v.vec[i] = 1.0f;
    v.vec[1] += 3.0f;
    assert_int_equal(td_feedback_adjust(fb, thr, &v, &e, NULL), TD_OK);
    assert_true(e.applied);
    assert_true(v.prob[TD_LABEL_THREAT] < 0.80f);
    td_verdict_release(&v);
    mean[0] = NAN;
    assert_int_equal(td_feedback_set_center(fb, mean, DIM, &err), TD_EINVAL);
    assert_int_equal(td_feedback_set_center(fb, mean, DIM - 1, &err), TD_EINVAL);
    td_feedback_free(fb);
}

static void test_bad_input(void **state)
{
    (void)state;
    struct td_feedback *fb = NULL;
    struct td_error err;
    td_error_clear(&err);
    struct td_feedback_params p;
    td_feedback_params_init(&p);
    p.min_sim = 1.0f;
    assert_int_equal(td_feedback_new(&p, DIM, &fb, &err), TD_EINVAL);
    assert_null(fb);
    assert_int_equal(td_feedback_new(NULL, 0, &fb, &err), TD_EINVAL);
    fb = memory();
    float zero[DIM] = {0}, x[DIM];
    axis(x, 0, -1, 0);
    assert_int_equal(td_feedback_add(fb, 1, zero, DIM, TD_FEEDBACK_DISMISSED, 0, 1, &err),
                     TD_EINVAL);
    assert_int_equal(td_feedback_add(fb, 1, x, DIM - 1, TD_FEEDBACK_DISMISSED, 0, 1, &err),
                     TD_EINVAL);
    assert_int_equal(td_feedback_add(fb, 1, x, DIM, TD_FEEDBACK_DISMISSED, 0, 0, &err), TD_EINVAL);
    assert_int_equal(td_feedback_add(fb, 1, x, DIM, (enum td_feedback_decision)9, 0, 1, &err),
                     TD_EINVAL);
    x[3] = NAN;
    assert_int_equal(td_feedback_add(fb, 1, x, DIM, TD_FEEDBACK_DISMISSED, 0, 1, &err), TD_EINVAL);
    assert_int_equal(td_feedback_count(fb), 0);
    assert_string_equal(td_feedback_decision_name(TD_FEEDBACK_DISMISSED), "dismissed");
    assert_int_equal(td_feedback_decision_from_name("confirmed"), TD_FEEDBACK_CONFIRMED);
    assert_int_equal(td_feedback_decision_from_name("maybe"), -1);
    td_feedback_free(fb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_vector_no_change),
        cmocka_unit_test(test_dissimilar_ignored),
        cmocka_unit_test(test_dismissals_lower_bounded),
        cmocka_unit_test(test_critical_stays_high),
        cmocka_unit_test(test_confirmed_raise),
        cmocka_unit_test(test_confirmed_threat_holds_medium),
        cmocka_unit_test(test_spans_follow_labels),
        cmocka_unit_test(test_remove_restores),
        cmocka_unit_test(test_memories_independent),
        cmocka_unit_test(test_centre),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
