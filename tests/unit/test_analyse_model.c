/*
 * test_analyse_model.c - features, the model file (save/load, corruption),
 * and the metrics used to choose thresholds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "threatdesk/features.h"
#include "threatdesk/metrics.h"
#include "threatdesk/model.h"

static void test_features_words_and_grams(void **state)
{
    (void)state;
    struct td_features f;
    td_features_init(&f);
    const char *t = "you will die, 'mp'";
    assert_int_equal(td_features_extract(t, strlen(t), 18, &f), TD_OK);
    assert_int_equal(f.nwords, 4);
    assert_int_equal(f.words[2].start, 9);
    assert_int_equal(f.words[2].end, 12);   /* "die" */
    assert_int_equal(f.words[3].start, 15); /* quotes trimmed: "mp" */
    assert_int_equal(f.words[3].end, 17);
    /* words: 4 unigrams + 3 bigrams; char grams of <you> (5 chars): 3+2+1,
     * <will> 4+3+2, <die> 3+2+1, <mp> 2+1+0 */
    assert_int_equal(f.n, 4 + 3 + 6 + 9 + 6 + 3);
    assert_true(fabsf(f.value - 1.0f / sqrtf((float)f.n)) < 1e-6f);
    for (size_t i = 0; i < f.n; i++)
        assert_true(f.idx[i] < (1u << 18));
    /* deterministic: same text, same buckets */
    uint32_t first[64];
    size_t n = f.n;
    memcpy(first, f.idx, n * sizeof *first);
    assert_int_equal(td_features_extract(t, strlen(t), 18, &f), TD_OK);
    assert_memory_equal(first, f.idx, n * sizeof *first);
    /* empty text: no features, no division by zero */
    assert_int_equal(td_features_extract("", 0, 18, &f), TD_OK);
    assert_int_equal(f.n, 0);
    assert_true(f.value == 0.0f);
    td_features_release(&f);
}

static char *tmp_path(void)
{
    char *p = strdup("/tmp/td_model_XXXXXX");
    int fd = mkstemp(p);
    assert_true(fd >= 0);
    close(fd);
    return p;
}

static struct td_model *sample_model(unsigned qbits)
{
    struct td_model *m = NULL;
    assert_int_equal(td_model_new(12, &m), TD_OK);
    m->qbits = qbits;
    snprintf(m->version, sizeof m->version, "test-%u", qbits);
    for (size_t i = 0; i < ((size_t)TD_LABEL_COUNT << 12); i++)
        m->w[i] = (float)((int)(i * 7919 % 2001) - 1000) / 250.0f;
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        m->trained[l] = l != TD_LABEL_INTIMIDATION;
        m->bias[l] = -1.5f + (float)l;
        m->platt_a[l] = 0.9f;
        m->platt_b[l] = -0.1f * (float)l;
        m->threshold[l] = 0.3f + 0.1f * (float)l;
    }
    m->meta = strdup("{\"k\":1}");
    return m;
}

static void roundtrip(unsigned qbits, float tolerance)
{
    struct td_model *m = sample_model(qbits);
    char *p = tmp_path();
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_model_save(m, p, &err), TD_OK);
    struct td_model *r = NULL;
    assert_int_equal(td_model_load(p, &r, &err), TD_OK);
    assert_string_equal(r->version, m->version);
    assert_string_equal(r->meta, "{\"k\":1}");
    assert_int_equal(r->bits, 12);
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        assert_int_equal(r->trained[l], m->trained[l]);
        assert_true(r->bias[l] == m->bias[l]);
        assert_true(r->threshold[l] == m->threshold[l]);
        assert_true(r->platt_a[l] == m->platt_a[l]);
    }
    float maxerr = 0;
    for (size_t i = 0; i < ((size_t)TD_LABEL_COUNT << 12); i++) {
        float e = fabsf(r->w[i] - m->w[i]);
        if (e > maxerr)
            maxerr = e;
    }
    assert_true(maxerr <= tolerance);
    assert_true(td_model_calibrate(r, TD_LABEL_INTIMIDATION, 5.0f) == 0.0f); /* untrained */
    td_model_free(r);
    td_model_free(m);
    unlink(p);
    free(p);
}

static void test_model_roundtrip_16(void **state)
{
    (void)state;
    roundtrip(16, 4.0f / 32767.0f * 0.5f + 1e-6f);
}

static void test_model_roundtrip_8(void **state)
{
    (void)state;
    roundtrip(8, 4.0f / 127.0f * 0.5f + 1e-6f);
}

static void test_model_corruption_detected(void **state)
{
    (void)state;
    struct td_model *m = sample_model(8);
    char *p = tmp_path();
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_model_save(m, p, &err), TD_OK);
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    fseek(f, 5000, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 5000, SEEK_SET);
    fputc(c ^ 0x40, f); /* one flipped bit in the weights */
    fclose(f);
    struct td_model *r = NULL;
    assert_int_equal(td_model_load(p, &r, &err), TD_EMODEL);
    assert_non_null(strstr(err.message, "checksum"));
    assert_string_equal(err.file, p);
    assert_null(r);
    /* truncated */
    assert_int_equal(truncate(p, 1000), 0);
    assert_int_equal(td_model_load(p, &r, &err), TD_EMODEL);
    /* not a model at all */
    f = fopen(p, "wb");
    fputs("this is not a model file, just some text that is long enough to pass the size check "
          "of the loader because it needs more bytes than the header of a model has; still more "
          "bytes follow here to make sure; and more; and more; and more; and more; and more; and "
          "more; and more and more and more and more and more and more and more and more.",
          f);
    fclose(f);
    assert_int_equal(td_model_load(p, &r, &err), TD_EMODEL);
    assert_int_equal(td_model_load("/nonexistent/model", &r, &err), TD_ENOTFOUND);
    td_model_free(m);
    unlink(p);
    free(p);
}

static void test_score_is_sum_of_weights(void **state)
{
    (void)state;
    struct td_model *m = sample_model(16);
    struct td_features f;
    td_features_init(&f);
    assert_int_equal(td_features_extract("kill the bill", 13, 12, &f), TD_OK);
    float z[TD_LABEL_COUNT];
    td_model_score(m, &f, z);
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        double acc = 0, words = 0;
        for (size_t i = 0; i < f.n; i++)
            acc += m->w[(size_t)f.idx[i] * TD_LABEL_COUNT + l];
        assert_true(fabs((double)z[l] - (m->bias[l] + f.value * acc)) < 1e-3);
        /* word contributions add up to the score without the bias */
        float ws[16];
        assert_true(f.nwords <= 16);
        td_model_word_scores(m, &f, (enum td_label)l, ws);
        for (size_t w = 0; w < f.nwords; w++)
            words += ws[w];
        assert_true(fabs(words - f.value * acc) < 1e-3);
    }
    td_features_release(&f);
    td_model_free(m);
}

static void test_metrics(void **state)
{
    (void)state;
    /* perfectly separated */
    float s1[] = {0.1f, 0.2f, 0.8f, 0.9f};
    unsigned char t1[] = {0, 0, 1, 1};
    assert_true(fabs(td_roc_auc(s1, t1, 4, NULL) - 1.0) < 1e-9);
    /* inverted */
    unsigned char t2[] = {1, 1, 0, 0};
    assert_true(fabs(td_roc_auc(s1, t2, 4, NULL) - 0.0) < 1e-9);
    /* ties count half: all equal -> 0.5 */
    float s3[] = {0.5f, 0.5f, 0.5f, 0.5f};
    assert_true(fabs(td_roc_auc(s3, t1, 4, NULL) - 0.5) < 1e-9);
    /* hand-computed: pos {0.6, 0.3}, neg {0.5, 0.2}: pairs won 3 of 4 */
    float s4[] = {0.6f, 0.3f, 0.5f, 0.2f};
    unsigned char t4[] = {1, 1, 0, 0};
    assert_true(fabs(td_roc_auc(s4, t4, 4, NULL) - 0.75) < 1e-9);
    /* one class missing */
    unsigned char t5[] = {0, 0, 0, 0};
    assert_true(td_roc_auc(s1, t5, 4, NULL) < 0);

    struct td_prf prf;
    td_prf_at(s4, t4, 4, 0.4f, &prf);
    assert_int_equal(prf.tp, 1);
    assert_int_equal(prf.fp, 1);
    assert_int_equal(prf.fn, 1);
    assert_int_equal(prf.tn, 1);
    assert_true(fabs(prf.f1 - 0.5) < 1e-9);
    float thr = td_best_f1_threshold(s1, t1, 4);
    assert_true(thr > 0.2f && thr <= 0.8f);

    /* Platt on separable-ish data gives a positive slope */
    float z[200];
    unsigned char y[200];
    for (int i = 0; i < 200; i++) {
        z[i] = (float)(i - 100) / 20.0f;
        y[i] = (i * 37 % 100) < i / 2; /* more positives as z grows */
    }
    float a, b;
    td_platt_fit(z, y, 200, &a, &b);
    assert_true(a > 0);

    /* scores so large that every sigmoid saturates at the start (the
     * curvature vanishes), and a fifth of them on the wrong side: the fit
     * must stay finite with a positive slope whose probabilities still
     * order the classes (a network's scores on the synthetic split once
     * drove the old unguarded Newton steps to a = -1.8e9) */
    for (int i = 0; i < 200; i++) {
        z[i] = i < 100 ? -500.0f - (float)i : 500.0f + (float)i;
        y[i] = (i >= 100) != (i % 5 == 0);
    }
    td_platt_fit(z, y, 200, &a, &b);
    assert_true(isfinite(a) && isfinite(b));
    assert_true(a > 0);
    double lo = 1 / (1 + exp(-(a * z[1] + b))), hi = 1 / (1 + exp(-(a * z[101] + b)));
    assert_true(hi > lo);
    assert_true(hi > 0.5 && lo < 0.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_features_words_and_grams),
        cmocka_unit_test(test_model_roundtrip_16),
        cmocka_unit_test(test_model_roundtrip_8),
        cmocka_unit_test(test_model_corruption_detected),
        cmocka_unit_test(test_score_is_sum_of_weights),
        cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
