/*
 * test_analyse_nn.c - the engine's learned parts: the tokeniser, subword
 * embeddings (rows, pretraining, files), the convolutional network
 * (gradients checked against finite differences, attribution, word order)
 * and the version-2 model file that carries them.
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

#include "threatdesk/embed.h"
#include "threatdesk/model.h"
#include "threatdesk/nn.h"
#include "threatdesk/text.h"

static const char *home(void)
{
    const char *h = getenv("THREATDESK_HOME");
    return h ? h : ".";
}

static void tok_is(const char *text, const struct td_tokens *tk, size_t i, const char *want)
{
    assert_true(i < tk->n);
    size_t l = tk->t[i].end - tk->t[i].start;
    if (l != strlen(want) || memcmp(text + tk->t[i].start, want, l) != 0)
        fail_msg("token %zu is '%.*s', want '%s'", i, (int)l, text + tk->t[i].start, want);
}

static void test_tokenise(void **state)
{
    (void)state;
    struct td_tokens tk;
    td_tokens_init(&tk);
    const char *t = "you'll die 🔪🔪 @user see https://x.co/a?b=1 ok... naïve 'mp'";
    assert_int_equal(td_tokenise(t, strlen(t), 100, &tk), TD_OK);
    assert_int_equal(tk.n, 8);
    tok_is(t, &tk, 0, "you'll");
    tok_is(t, &tk, 1, "die");
    tok_is(t, &tk, 2, "🔪"); /* each pictograph is a token of its own */
    tok_is(t, &tk, 3, "🔪");
    tok_is(t, &tk, 4, "see"); /* @mention and URL dropped */
    tok_is(t, &tk, 5, "ok");
    tok_is(t, &tk, 6, "naïve");
    tok_is(t, &tk, 7, "mp"); /* quotes are not part of a word */
    /* the cap */
    assert_int_equal(td_tokenise(t, strlen(t), 3, &tk), TD_OK);
    assert_int_equal(tk.n, 3);
    assert_int_equal(td_tokenise("", 0, 10, &tk), TD_OK);
    assert_int_equal(tk.n, 0);
    /* a truncated UTF-8 sequence at the end does not read past it */
    const char bad[] = {'a', 'b', ' ', (char)0xF0, (char)0x9F};
    assert_int_equal(td_tokenise(bad, sizeof bad, 10, &tk), TD_OK);
    assert_true(tk.n >= 1);
    for (size_t i = 0; i < tk.n; i++)
        assert_true(tk.t[i].end <= sizeof bad);
    td_tokens_release(&tk);
}

static void test_token_rows(void **state)
{
    (void)state;
    uint32_t a[200], b[200];
    size_t na = td_embed_token_rows(10, 12, "stabbing", 8, a, 200);
    size_t nb = td_embed_token_rows(10, 12, "stabbin", 7, b, 200);
    /* <stabbing>: 10 chars -> 8 + 7 + 6 grams, plus the word row */
    assert_int_equal(na, 1 + 8 + 7 + 6);
    assert_true(a[0] < (1u << 10));
    for (size_t i = 1; i < na; i++)
        assert_true(a[i] >= (1u << 10) && a[i] < (1u << 10) + (1u << 12));
    /* a misspelling shares most of its n-gram rows: why it gets a vector */
    size_t shared = 0;
    for (size_t i = 1; i < na; i++)
        for (size_t j = 1; j < nb; j++)
            if (a[i] == b[j]) {
                shared++;
                break;
            }
    assert_true(shared >= 9);
    /* counting only */
    assert_int_equal(td_embed_token_rows(10, 12, "stabbing", 8, NULL, 0), na);
    /* a word longer than TD_EMBED_MAX_WORD gets only its word row */
    char longw[80];
    memset(longw, 'a', sizeof longw);
    assert_int_equal(td_embed_token_rows(10, 12, longw, sizeof longw, a, 200), 1);
}

static float cosine(const float *x, const float *y, unsigned d)
{
    double xy = 0, xx = 0, yy = 0;
    for (unsigned k = 0; k < d; k++) {
        xy += x[k] * y[k];
        xx += x[k] * x[k];
        yy += y[k] * y[k];
    }
    return (float)(xy / (sqrt(xx * yy) + 1e-12));
}

/* A tiny corpus where "cat" and "dog" share contexts and "stocks" never
 * does: pretraining must place cat nearer dog than stocks, and do it the
 * same way twice. */
static FILE *toy_corpus(void)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    const char *pets[] = {"cat", "dog"}, *verbs[] = {"sat", "slept", "ate", "ran"};
    const char *money[] = {"stocks", "bonds"}, *mv[] = {"rose", "fell", "traded", "crashed"};
    for (int i = 0; i < 3000; i++) {
        fprintf(f, "the %s %s on the mat near the %s\n", pets[i % 2], verbs[i % 4],
                pets[(i / 2) % 2]);
        fprintf(f, "today %s %s sharply in the market as %s %s\n", money[i % 2], mv[i % 4],
                money[(i / 2) % 2], mv[(i / 3) % 4]);
    }
    rewind(f);
    return f;
}

static void test_pretrain(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/data/text", home());
    struct td_normaliser *nz = NULL;
    struct td_error err;
    assert_int_equal(td_normaliser_load(dir, &nz, &err), TD_OK);
    struct td_embed_pretrain_opts o = {0};
    o.nz = nz;
    o.dim = 16;
    o.wbits = 10;
    o.nbits = 12;
    o.epochs = 3;
    o.min_count = 2;
    o.subsample = 1; /* a toy corpus: keep every word */
    struct td_embed *e1 = NULL, *e2 = NULL;
    FILE *f = toy_corpus();
    assert_int_equal(td_embed_pretrain(&o, &f, 1, &e1, &err), TD_OK);
    rewind(f);
    assert_int_equal(td_embed_pretrain(&o, &f, 1, &e2, &err), TD_OK);
    fclose(f);
    size_t rows = td_embed_rows(e1);
    assert_int_equal(rows, 1024 + 4096);
    assert_memory_equal(e1->q, e2->q, rows * 16); /* deterministic */
    float cat[16], dog[16], stocks[16];
    td_embed_token(e1, "cat", 3, cat);
    td_embed_token(e1, "dog", 3, dog);
    td_embed_token(e1, "stocks", 6, stocks);
    float cd = cosine(cat, dog, 16), cs = cosine(cat, stocks, 16);
    if (!(cd > cs + 0.2f))
        fail_msg("cos(cat,dog)=%.3f not above cos(cat,stocks)=%.3f", (double)cd, (double)cs);
    /* a word never seen still gets a vector from its n-grams */
    float unseen[16];
    td_embed_token(e1, "catt", 4, unseen);
    float norm2 = 0;
    for (int k = 0; k < 16; k++)
        norm2 += unseen[k] * unseen[k];
    assert_true(norm2 > 0);

    /* the standalone file: round trip, and one flipped byte is refused */
    char path[] = "/tmp/td_emb_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(td_embed_save(e1, path, &err), TD_OK);
    struct td_embed *e3 = NULL;
    assert_int_equal(td_embed_load(path, &e3, &err), TD_OK);
    assert_memory_equal(e1->q, e3->q, rows * 16);
    assert_memory_equal(e1->scale, e3->scale, rows * sizeof(float));
    td_embed_free(e3);
    FILE *w = fopen(path, "r+b");
    assert_non_null(w);
    fseek(w, 100, SEEK_SET);
    int ch = fgetc(w);
    fseek(w, 100, SEEK_SET);
    fputc(ch ^ 0x40, w);
    fclose(w);
    e3 = NULL;
    assert_int_equal(td_embed_load(path, &e3, &err), TD_EMODEL);
    assert_null(e3);
    unlink(path);

    /* bad options are refused, not clamped */
    o.dim = 1000;
    rewind(f = toy_corpus());
    assert_int_equal(td_embed_pretrain(&o, &f, 1, &e3, &err), TD_EINVAL);
    fclose(f);
    td_embed_free(e1);
    td_embed_free(e2);
    td_normaliser_free(nz);
}

/* loss = sum_l c_l * z_l, so dL/dz = c: compare backward's gradient with
 * central differences of forward for weights in every layer */
static double loss_of(const struct td_nn *m, const float *emb, size_t n, const float *cues,
                      struct td_nn_work *w, const float *c)
{
    float z[TD_LABEL_COUNT];
    assert_int_equal(td_nn_forward(m, emb, n, cues, w, z), TD_OK);
    double s = 0;
    for (int l = 0; l < TD_LABEL_COUNT; l++)
        s += (double)c[l] * z[l];
    return s;
}

static void check_grad(struct td_nn *m, float *wv, const float *gv, size_t count, const float *emb,
                       size_t n, const float *cues, struct td_nn_work *w, const float *c,
                       const char *what)
{
    size_t checked = 0;
    for (size_t i = 0; i < count && checked < 12; i += 1 + count / 13) {
        float keep = wv[i];
        const float h = 1e-3f;
        wv[i] = keep + h;
        double up = loss_of(m, emb, n, cues, w, c);
        wv[i] = keep - h;
        double down = loss_of(m, emb, n, cues, w, c);
        wv[i] = keep;
        double num = (up - down) / (2 * h);
        double diff = fabs(num - gv[i]);
        if (diff > 2e-2 * (1 + fabs(num)))
            fail_msg("%s[%zu]: backward %.5f, finite difference %.5f", what, i, (double)gv[i], num);
        checked++;
    }
    assert_true(checked > 0);
}

static void test_nn_gradients(void **state)
{
    (void)state;
    struct td_nn *m = NULL;
    assert_int_equal(td_nn_new(8, 6, 3, 5, 7, &m), TD_OK);
    for (int i = 0; i < TD_LABEL_COUNT * 5; i++)
        m->out_w[i] *= 10; /* init is small; make every path carry signal */
    const size_t n = 5;
    float emb[5 * 8], cues[3] = {0.5f, 0.0f, 1.0f};
    uint64_t s = 99;
    for (size_t i = 0; i < n * 8; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        emb[i] = (float)((s >> 33) % 2000) / 1000.0f - 1.0f;
    }
    struct td_nn_work w;
    td_nn_work_init(&w);
    struct td_nn_grad g;
    assert_int_equal(td_nn_grad_new(m, &g), TD_OK);
    const float c[TD_LABEL_COUNT] = {1.0f, -0.5f, 0.25f, 0.0f, 2.0f};
    float z[TD_LABEL_COUNT];
    assert_int_equal(td_nn_forward(m, emb, n, cues, &w, z), TD_OK);
    td_nn_backward(m, emb, n, &w, c, &g);
    check_grad(m, m->out_w, g.out_w, TD_LABEL_COUNT * 5, emb, n, cues, &w, c, "out_w");
    check_grad(m, m->hid_w, g.hid_w, 5 * td_nn_inputs(m), emb, n, cues, &w, c, "hid_w");
    check_grad(m, m->hid_b, g.hid_b, 5, emb, n, cues, &w, c, "hid_b");
    check_grad(m, m->conv_w, g.conv_w, TD_NN_WIDTH * 8 * 6, emb, n, cues, &w, c, "conv_w");
    check_grad(m, m->conv_b, g.conv_b, 6, emb, n, cues, &w, c, "conv_b");

    /* word order is read: reversing the tokens changes the scores */
    float rev[5 * 8], zr[TD_LABEL_COUNT];
    for (size_t t = 0; t < n; t++)
        memcpy(rev + t * 8, emb + (n - 1 - t) * 8, 8 * sizeof(float));
    assert_int_equal(td_nn_forward(m, rev, n, cues, &w, zr), TD_OK);
    float d = 0;
    for (int l = 0; l < TD_LABEL_COUNT; l++)
        d += fabsf(zr[l] - z[l]);
    assert_true(d > 1e-4f);
    /* no tokens: still a score (from the cues), no read of emb */
    assert_int_equal(td_nn_forward(m, NULL, 0, cues, &w, zr), TD_OK);
    td_nn_grad_release(&g);
    td_nn_work_release(&w);
    td_nn_free(m);
}

/* One filter tuned to a planted token, feeding the threat score: the
 * attribution must point at that token. */
static void test_nn_attribution(void **state)
{
    (void)state;
    struct td_nn *m = NULL;
    assert_int_equal(td_nn_new(4, 2, 0, 2, 1, &m), TD_OK);
    memset(m->conv_w, 0, TD_NN_WIDTH * 4 * 2 * sizeof(float));
    memset(m->conv_b, 0, 2 * sizeof(float));
    memset(m->hid_w, 0, 2 * td_nn_inputs(m) * sizeof(float));
    memset(m->hid_b, 0, 2 * sizeof(float));
    memset(m->out_w, 0, TD_LABEL_COUNT * 2 * sizeof(float));
    /* filter 0 fires on the centre token's dimension 0 */
    m->conv_w[(1 * 4 + 0) * 2 + 0] = 1.0f;
    m->hid_w[0 * td_nn_inputs(m) + 0] = 1.0f; /* hidden 0 = pool[0] */
    m->out_w[TD_LABEL_THREAT * 2 + 0] = 2.0f;
    float emb[6 * 4] = {0};
    emb[3 * 4 + 0] = 3.0f; /* token 3 is "the threat" */
    emb[1 * 4 + 1] = 5.0f; /* a loud token on another dimension */
    struct td_nn_work w;
    td_nn_work_init(&w);
    float z[TD_LABEL_COUNT], tok[6];
    assert_int_equal(td_nn_forward(m, emb, 6, NULL, &w, z), TD_OK);
    assert_true(fabsf(z[TD_LABEL_THREAT] - 6.0f) < 1e-5f);
    td_nn_attribute(m, 6, &w, TD_LABEL_THREAT, tok, NULL);
    size_t best = 0;
    for (size_t t = 1; t < 6; t++)
        if (tok[t] > tok[best])
            best = t;
    /* the window around token 3 carries all of it; token 1 nothing */
    assert_true(tok[3] > 0);
    assert_true(fabsf(tok[1]) < 1e-6f);
    assert_true(best >= 2 && best <= 4);
    float sum = 0;
    for (size_t t = 0; t < 6; t++)
        sum += tok[t];
    assert_true(fabsf(sum - 6.0f) < 1e-4f); /* gradient x input of a linear path */
    td_nn_work_release(&w);
    td_nn_free(m);
}

/* A version-2 model file carries the network and the embeddings and
 * scores the same after a round trip; truncation is refused. */
static void test_model_v2_file(void **state)
{
    (void)state;
    struct td_model *m = NULL;
    assert_int_equal(td_model_new(10, &m), TD_OK);
    m->qbits = 8;
    snprintf(m->version, sizeof m->version, "test-v2");
    for (int l = 0; l < TD_LABEL_COUNT; l++)
        m->trained[l] = 1;
    assert_int_equal(td_nn_new(8, 4, 2, 3, 5, &m->nn), TD_OK);
    snprintf(m->nn->cue[0], TD_NN_CUE_NAME, "len");
    snprintf(m->nn->cue[1], TD_NN_CUE_NAME, "threat.direct");
    m->embed = calloc(1, sizeof *m->embed);
    assert_non_null(m->embed);
    m->embed->dim = 8;
    m->embed->wbits = 8;
    m->embed->nbits = 8;
    size_t rows = td_embed_rows(m->embed);
    m->embed->q = malloc(rows * 8);
    m->embed->scale = malloc(rows * sizeof(float));
    for (size_t i = 0; i < rows * 8; i++)
        m->embed->q[i] = (int8_t)((i * 37) % 255 - 127);
    for (size_t i = 0; i < rows; i++)
        m->embed->scale[i] = 0.01f;
    char path[] = "/tmp/td_model2_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct td_error err;
    assert_int_equal(td_model_save(m, path, &err), TD_OK);
    struct td_model *r = NULL;
    assert_int_equal(td_model_load(path, &r, &err), TD_OK);
    assert_non_null(r->nn);
    assert_non_null(r->embed);
    assert_string_equal(r->nn->cue[1], "threat.direct");
    float e1[8], e2[8];
    td_embed_token(m->embed, "knife", 5, e1);
    td_embed_token(r->embed, "knife", 5, e2);
    assert_memory_equal(e1, e2, sizeof e1);
    float cues[2] = {0.3f, 1.0f}, z1[TD_LABEL_COUNT], z2[TD_LABEL_COUNT];
    struct td_nn_work w;
    td_nn_work_init(&w);
    assert_int_equal(td_nn_forward(m->nn, e1, 1, cues, &w, z1), TD_OK);
    assert_int_equal(td_nn_forward(r->nn, e2, 1, cues, &w, z2), TD_OK);
    assert_memory_equal(z1, z2, sizeof z1);
    td_nn_work_release(&w);
    td_model_free(r);
    /* cut the file short: refused by size or checksum, never half-loaded */
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fclose(f);
    assert_int_equal(truncate(path, sz - 100), 0);
    r = NULL;
    assert_int_equal(td_model_load(path, &r, &err), TD_EMODEL);
    assert_null(r);
    unlink(path);
    td_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenise),       cmocka_unit_test(test_token_rows),
        cmocka_unit_test(test_pretrain),       cmocka_unit_test(test_nn_gradients),
        cmocka_unit_test(test_nn_attribution), cmocka_unit_test(test_model_v2_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
