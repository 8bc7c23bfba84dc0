/*
 * test_analyse_engine.c - the whole engine as the CLI and the desk use it:
 * shipped model + grammar + normaliser -> verdict.  Checks the contract
 * (labels, tiers, flags, spans that point at the original bytes), the
 * decision rules of the brief, and bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "threatdesk/analyse.h"

struct fixture {
    struct td_analyser *a;
    struct td_analysis_ctx *c;
    struct td_verdict v;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct td_error err;
    td_error_clear(&err);
    if (td_analyser_open(NULL, NULL, &f->a, &err) != TD_OK) {
        char buf[1024];
        fprintf(stderr, "cannot open analyser: %s\n", td_error_format(&err, buf, sizeof buf));
        free(f);
        return -1;
    }
    if (td_analysis_ctx_new(f->a, &f->c) != TD_OK)
        return -1;
    td_verdict_init(&f->v);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    td_verdict_release(&f->v);
    td_analysis_ctx_free(f->c);
    td_analyser_free(f->a);
    free(f);
    return 0;
}

static const struct td_verdict *run(struct fixture *f, const char *text)
{
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_analyse(f->c, text, strlen(text), &f->v, &err), TD_OK);
    return &f->v;
}

#define HAS(v, l) (((v)->labels >> TD_LABEL_##l) & 1)

static void test_critical_threat_with_time(void **state)
{
    struct fixture *f = *state;
    const char *t = "You will be smashed and killed within days.";
    const struct td_verdict *v = run(f, t);
    assert_true(HAS(v, THREAT));
    assert_int_equal(v->severity, TD_SEVERITY_CRITICAL);
    assert_true(v->flags & TD_FLAG(TIME_BOUND));
    assert_true(v->prob[TD_LABEL_THREAT] >= td_analyser_threshold(f->a, TD_LABEL_THREAT));
    int grammar_span = 0;
    for (size_t i = 0; i < v->nspans; i++) {
        assert_true(v->spans[i].start < v->spans[i].end);
        assert_true(v->spans[i].end <= strlen(t));
        if (v->spans[i].source == TD_SOURCE_GRAMMAR && v->spans[i].label == TD_LABEL_THREAT)
            grammar_span = 1;
        if (i > 0)
            assert_true(v->spans[i - 1].start <= v->spans[i].start); /* ordered */
    }
    assert_true(grammar_span);
    assert_non_null(strstr(v->reason, "threat"));
}

static void test_plain_threat_is_high(void **state)
{
    struct fixture *f = *state;
    const struct td_verdict *v = run(f, "someone should put a bullet in her");
    assert_true(HAS(v, THREAT));
    assert_true(v->severity >= TD_SEVERITY_HIGH);
}

static void test_history_escalates_high_to_critical(void **state)
{
    struct fixture *f = *state;
    run(f, "I will hurt you");
    struct td_verdict *v = &f->v;
    assert_true(HAS(v, THREAT));
    assert_int_equal(v->severity, TD_SEVERITY_HIGH);
    td_verdict_apply_history(v, 0);
    assert_int_equal(v->severity, TD_SEVERITY_HIGH);
    td_verdict_apply_history(v, 2);
    assert_int_equal(v->severity, TD_SEVERITY_CRITICAL);
    assert_non_null(strstr(v->reason, "2 earlier threats"));
}

static void test_obfuscated_spans_point_at_original(void **state)
{
    struct fixture *f = *state;
    const char *t = "i'm gonna k1ll you";
    const struct td_verdict *v = run(f, t);
    assert_true(HAS(v, THREAT));
    assert_true(v->flags & TD_FLAG(OBFUSCATED));
    int found = 0;
    for (size_t i = 0; i < v->nspans; i++)
        if (v->spans[i].source == TD_SOURCE_NORMALISER) {
            /* the de-obfuscated word maps back to "k1ll" as written */
            assert_int_equal(v->spans[i].end - v->spans[i].start, 4);
            assert_memory_equal(t + v->spans[i].start, "k1ll", 4);
            found = 1;
        }
    assert_true(found);
}

static void test_must_not_fire(void **state)
{
    struct fixture *f = *state;
    static const char *const cases[] = {
        "We'll smash the Tories at the ballot box on Thursday",
        "Labour will be slaughtered in the polls",
        "Kill the bill!",
        "You shot yourself in the foot with that speech",
        "I would never hurt you, but I am very angry about the bus cuts",
        "He told me he would kill her, and I called the police",
        "Saying 'I hope you get stabbed' to an MP is disgusting",
        "Thank you for your help with my housing application",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct td_verdict *v = run(f, cases[i]);
        if (HAS(v, THREAT))
            fail_msg("threat fired on: %s (p=%.3f, %s)", cases[i], (double)v->prob[0], v->reason);
        assert_true(v->severity < TD_SEVERITY_HIGH);
    }
}

static void test_abuse_is_low_and_hate_medium(void **state)
{
    struct fixture *f = *state;
    const struct td_verdict *v = run(f, "you stupid lying bitch");
    assert_true(HAS(v, ABUSE));
    assert_false(HAS(v, THREAT));
    assert_true(v->severity == TD_SEVERITY_LOW || v->severity == TD_SEVERITY_MEDIUM);
    v = run(f, "go back to Bangladesh, you don't belong here");
    assert_true(HAS(v, IDENTITY_HATE));
    assert_int_equal(v->severity, TD_SEVERITY_MEDIUM);
}

static void test_bad_input(void **state)
{
    struct fixture *f = *state;
    /* empty */
    const struct td_verdict *v = run(f, "");
    assert_int_equal(v->severity, TD_SEVERITY_NONE);
    assert_int_equal(v->labels, 0);
    /* invalid UTF-8 is counted, not fatal, and spans stay in range */
    const char bad[] = "you will die \xff\xfe\xc0\xaf tonight";
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_analyse(f->c, bad, sizeof bad - 1, &f->v, &err), TD_OK);
    assert_true(f->v.invalid_utf8 >= 2);
    for (size_t i = 0; i < f->v.nspans; i++)
        assert_true(f->v.spans[i].end <= sizeof bad - 1);
    /* NUL bytes inside the text */
    const char nul[] = "hello\0world you idiot";
    assert_int_equal(td_analyse(f->c, nul, sizeof nul - 1, &f->v, &err), TD_OK);
    /* a 10 MB text */
    size_t n = 10u * 1024 * 1024;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = "you will die tonight. "[i % 22];
    assert_int_equal(td_analyse(f->c, big, n, &f->v, &err), TD_OK);
    assert_true((f->v.labels >> TD_LABEL_THREAT) & 1);
    for (size_t i = 0; i < f->v.nspans; i++)
        assert_true(f->v.spans[i].end <= n);
    free(big);
}

/* A text longer than the analyser's window (64 KiB) is read in
 * overlapping windows: its spans point into the whole text, not into the
 * window (a threat only the second window holds is shown where it is),
 * stay ordered, and the overlap reports none twice; clean text stays
 * clean.  The text: repeated sentence A up to 60 KB, filler, repeated B
 * from 70 to 100 KB, filler to 300 KB. */
static void fill(char *t, size_t from, size_t to, const char *const *units, size_t nunits)
{
    for (size_t k = from, i = 0; k < to; i++) {
        const char *u = units[i % nunits];
        size_t m = strlen(u) < to - k ? strlen(u) : to - k;
        memcpy(t + k, u, m);
        k += m;
    }
}

static void test_long_text_windows(void **state)
{
    struct fixture *f = *state;
    static const char *const filler[] = {
        "The planning committee met on Tuesday to discuss the new bus route. ",
        "Thank you for your letter about the school crossing. ",
        "We have passed your concerns to the council's highways team. ",
    };
    static const char *const a[] = {"you will die tonight. "};
    static const char *const b[] = {"I am going to stab you. "};
    const size_t n = 300000;
    char *t = malloc(n + 1);
    assert_non_null(t);
    t[n] = '\0';
    fill(t, 0, n, filler, 3);
    const struct td_verdict *v = run(f, t);
    assert_false(HAS(v, THREAT));

    fill(t, 0, 60000, a, 1);
    fill(t, 70000, 100000, b, 1);
    v = run(f, t);
    assert_true(HAS(v, THREAT));
    int on_b = 0;
    for (size_t s = 0; s < v->nspans; s++) {
        const struct td_span *sp = &v->spans[s];
        assert_true(sp->start < sp->end && sp->end <= n);
        if (s > 0)
            assert_true(v->spans[s - 1].start <= sp->start);
        for (size_t o = 0; o < s; o++)
            assert_false(v->spans[o].start == sp->start && v->spans[o].end == sp->end &&
                         v->spans[o].label == sp->label && v->spans[o].source == sp->source &&
                         v->spans[o].rule == sp->rule);
        char word[64] = "";
        size_t wl = sp->end - sp->start < sizeof word - 1 ? sp->end - sp->start : sizeof word - 1;
        memcpy(word, t + sp->start, wl);
        word[wl] = '\0';
        if (sp->label == TD_LABEL_THREAT && strstr(word, "stab")) {
            assert_true(sp->start >= 70000 && sp->end <= 100000);
            on_b = 1;
        }
    }
    assert_true(on_b);
    free(t);
}

/* The shipped model is format 2: the network scores, its hidden layer is
 * the verdict's vector, and the reasons name what moved the score - a
 * window the network fired on (confirmed by occlusion) or a rule whose cue
 * carried weight - with a positive weight each. */
static void test_network_explains(void **state)
{
    struct fixture *f = *state;
    const char *t = "i am going to find you after the count and put you in the ground";
    const struct td_verdict *v = run(f, t);
    assert_non_null(strstr(v->model_version, "deep"));
    assert_true(v->nvec > 0);
    float norm = 0;
    for (unsigned i = 0; i < v->nvec; i++)
        norm += v->vec[i] * v->vec[i];
    assert_true(norm > 0);
    assert_true(HAS(v, THREAT));
    assert_false(v->possible_threat); /* no "model alone below 0.5" sub-tier */
    int explained = 0;
    for (size_t i = 0; i < v->nspans; i++) {
        const struct td_span *s = &v->spans[i];
        if (s->label != TD_LABEL_THREAT)
            continue;
        if ((s->source == TD_SOURCE_MODEL && s->rule && strcmp(s->rule, "network.window") == 0) ||
            s->source == TD_SOURCE_GRAMMAR) {
            assert_true(s->weight > 0);
            assert_true(s->end <= strlen(t));
            explained = 1;
        }
    }
    assert_true(explained);
    /* the same words in an order that means nothing score lower: the
     * network reads order, not a bag.  Over several threats, since one
     * reversed sentence can still read as menace ("ground the in you put") */
    static const char *const threats[] = {
        "i am going to find you after the count and put you in the ground",
        "we will burn your office down with you inside it",
        "you will be dead by election day",
        "i know where your kids go to school and i will hurt them",
        "someone should put a bullet in your head",
        "i am coming to your surgery on friday to stab you",
        "keep voting like that and you will end up in a ditch",
        "we are going to hang you from a lamp post traitor",
    };
    const size_t n = sizeof threats / sizeof threats[0];
    double ordered = 0, reversed = 0;
    size_t lower = 0;
    for (size_t i = 0; i < n; i++) {
        float p = run(f, threats[i])->prob[TD_LABEL_THREAT];
        /* the words in reverse order */
        char rev[256];
        size_t len = strlen(threats[i]), o = 0, end = len;
        for (size_t k = len + 1; k-- > 0;)
            if (k == 0 || threats[i][k - 1] == ' ') {
                memcpy(rev + o, threats[i] + k, end - k);
                o += end - k;
                if (k)
                    rev[o++] = ' ';
                end = k ? k - 1 : 0;
            }
        rev[o] = '\0';
        float q = run(f, rev)->prob[TD_LABEL_THREAT];
        ordered += p;
        reversed += q;
        lower += q < p;
    }
    assert_true(lower * 4 >= n * 3);                /* most reversed texts score lower */
    assert_true(ordered / n - reversed / n > 0.15); /* and by a clear margin */
}

static void test_json_contract(void **state)
{
    struct fixture *f = *state;
    const char *t = "We know where you live. 14 Orchard Close.";
    const struct td_verdict *v = run(f, t);
    json_t *o = td_verdict_to_json(v, t, strlen(t));
    assert_non_null(o);
    json_t *labels = json_object_get(o, "labels");
    assert_int_equal(json_object_size(labels), TD_LABEL_COUNT);
    for (int l = 0; l < TD_LABEL_COUNT; l++)
        assert_true(json_is_real(json_object_get(labels, td_label_name(l))));
    assert_true(json_is_string(json_object_get(o, "severity")));
    assert_true(json_is_array(json_object_get(o, "flags")));
    json_t *spans = json_object_get(o, "spans");
    assert_true(json_is_array(spans));
    size_t i;
    json_t *s;
    json_array_foreach(spans, i, s)
    {
        json_int_t a = json_integer_value(json_object_get(s, "start"));
        json_int_t b = json_integer_value(json_object_get(s, "end"));
        const char *txt = json_string_value(json_object_get(s, "text"));
        assert_non_null(txt);
        assert_int_equal((json_int_t)strlen(txt), b - a);
        assert_memory_equal(txt, t + a, (size_t)(b - a));
        assert_non_null(json_string_value(json_object_get(s, "rule")));
    }
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_critical_threat_with_time),
        cmocka_unit_test(test_plain_threat_is_high),
        cmocka_unit_test(test_history_escalates_high_to_critical),
        cmocka_unit_test(test_obfuscated_spans_point_at_original),
        cmocka_unit_test(test_must_not_fire),
        cmocka_unit_test(test_abuse_is_low_and_hate_medium),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_long_text_windows),
        cmocka_unit_test(test_json_contract),
        cmocka_unit_test(test_network_explains),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
