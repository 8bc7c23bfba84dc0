/*
 * nn.c - forward, backward and attribution of the convolutional part
 * (nn.h), and its serialised form:
 *
 *   u32 dim, filters, ncues, hidden
 *   ncues * 40 bytes   cue names, NUL-padded
 *   f32 conv_w[3*D*F], conv_b[F], hid_w[H*(F+D+R)], hid_b[H], out_w[L*H]
 *
 * All little-endian.  The weights are few (tens of thousands), so they stay
 * f32; the embeddings are what is quantised.
 *
 * The convolution is the hot loop: for every position and every input
 * dimension it adds one weight row of F floats, a loop the compiler turns
 * into SIMD.  The kernels (nn_kernels.h) are built twice, for AVX2+FMA and
 * for the baseline, and chosen by the CPU at run time, so one binary is
 * portable and fast.
 */
#include "threatdesk/nn.h"
#include "le.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) &&                             \
    !defined(__SANITIZE_ADDRESS__)
#define TD_SIMD_CLONES __attribute__((target_clones("arch=haswell", "default")))
#else
#define TD_SIMD_CLONES
#endif

size_t td_nn_inputs(const struct td_nn *m)
{
    return (size_t)m->filters + m->dim + m->ncues;
}

static uint64_t rng(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

/* uniform in [-a, a] */
static float urand(uint64_t *s, float a)
{
    return ((float)(rng(s) >> 40) / (float)(1u << 24) * 2.0f - 1.0f) * a;
}

static int alloc_weights(struct td_nn *m)
{
    size_t D = m->dim, F = m->filters, H = m->hidden, I = td_nn_inputs(m);
    m->conv_w = calloc(TD_NN_WIDTH * D * F, sizeof(float));
    m->conv_b = calloc(F, sizeof(float));
    m->hid_w = calloc(H * I, sizeof(float));
    m->hid_b = calloc(H, sizeof(float));
    m->out_w = calloc(TD_LABEL_COUNT * H, sizeof(float));
    return m->conv_w && m->conv_b && m->hid_w && m->hid_b && m->out_w ? TD_OK : TD_ENOMEM;
}

int td_nn_new(unsigned dim, unsigned filters, unsigned ncues, unsigned hidden, unsigned long seed,
              struct td_nn **out)
{
    if (!dim || dim > 512 || !filters || filters > 4096 || ncues > TD_NN_MAX_CUES || !hidden ||
        hidden > 4096)
        return TD_EINVAL;
    struct td_nn *m = calloc(1, sizeof *m);
    if (!m)
        return TD_ENOMEM;
    m->dim = dim;
    m->filters = filters;
    m->ncues = ncues;
    m->hidden = hidden;
    if (alloc_weights(m)) {
        td_nn_free(m);
        return TD_ENOMEM;
    }
    /* Glorot-uniform: keeps activations in range whatever the sizes */
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 3;
    size_t I = td_nn_inputs(m);
    float a = sqrtf(6.0f / (float)(TD_NN_WIDTH * dim + filters));
    for (size_t i = 0; i < (size_t)TD_NN_WIDTH * dim * filters; i++)
        m->conv_w[i] = urand(&s, a);
    a = sqrtf(6.0f / (float)(I + hidden));
    for (size_t i = 0; i < (size_t)hidden * I; i++)
        m->hid_w[i] = urand(&s, a);
    for (size_t i = 0; i < hidden; i++)
        m->hid_b[i] = 0.01f;
    a = sqrtf(6.0f / (float)(hidden + TD_LABEL_COUNT));
    for (size_t i = 0; i < (size_t)TD_LABEL_COUNT * hidden; i++)
        m->out_w[i] = urand(&s, a) * 0.1f;
    *out = m;
    return TD_OK;
}

void td_nn_free(struct td_nn *m)
{
    if (!m)
        return;
    free(m->conv_w);
    free(m->conv_b);
    free(m->hid_w);
    free(m->hid_b);
    free(m->out_w);
    free(m);
}

void td_nn_work_init(struct td_nn_work *w)
{
    memset(w, 0, sizeof *w);
}

void td_nn_work_release(struct td_nn_work *w)
{
    free(w->pool);
    free(w->arg);
    free(w->x);
    free(w->hid);
    free(w->acc);
    memset(w, 0, sizeof *w);
}

static int work_fit(const struct td_nn *m, struct td_nn_work *w)
{
    size_t need = td_nn_inputs(m) + m->hidden;
    if (w->cap_ >= need)
        return TD_OK;
    td_nn_work_release(w);
    size_t F = m->filters;
    w->pool = malloc(F * sizeof *w->pool);
    w->arg = malloc(F * sizeof *w->arg);
    w->acc = malloc(F * sizeof *w->acc);
    w->x = malloc(td_nn_inputs(m) * sizeof *w->x);
    w->hid = malloc(m->hidden * sizeof *w->hid);
    if (!w->pool || !w->arg || !w->acc || !w->x || !w->hid) {
        td_nn_work_release(w);
        return TD_ENOMEM;
    }
    w->cap_ = need;
    return TD_OK;
}

/* The kernels, built twice: with AVX2+FMA for CPUs that have them (chosen
 * at run time) and for the baseline x86-64 / any other CPU. */
#if defined(__GNUC__) && defined(__x86_64__)
#define TD_K(name) name##_avx2
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include "nn_kernels.h"
#pragma GCC pop_options
#undef TD_K
#define TD_HAVE_AVX2_KERNELS 1
#endif
#define TD_K(name) name##_base
#include "nn_kernels.h"
#undef TD_K

static int use_avx2(void)
{
#ifdef TD_HAVE_AVX2_KERNELS
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static void conv_pool(const float *W, const float *b, const float *emb, size_t n, size_t D,
                      size_t F, float *acc, float *pool, int *arg)
{
#ifdef TD_HAVE_AVX2_KERNELS
    if (use_avx2()) {
        conv_pool_avx2(W, b, emb, n, D, F, acc, pool, arg);
        return;
    }
#endif
    conv_pool_base(W, b, emb, n, D, F, acc, pool, arg);
}

static void project(const float *W, const float *e, size_t D, size_t F, float *out)
{
#ifdef TD_HAVE_AVX2_KERNELS
    if (use_avx2()) {
        project_avx2(W, e, D, F, out);
        return;
    }
#endif
    project_base(W, e, D, F, out);
}

static void pool_proj(const float *proj, const float *b, size_t n, size_t F, float *acc,
                      float *pool, int *arg)
{
#ifdef TD_HAVE_AVX2_KERNELS
    if (use_avx2()) {
        pool_proj_avx2(proj, b, n, F, acc, pool, arg);
        return;
    }
#endif
    pool_proj_base(proj, b, n, F, acc, pool, arg);
}

static float dot(const float *a, const float *b, size_t n)
{
#ifdef TD_HAVE_AVX2_KERNELS
    if (use_avx2())
        return dot_avx2(a, b, n);
#endif
    return dot_base(a, b, n);
}

/* Everything after the pooling: the mean vector, the cues, the hidden and
 * the output layer.  w->pool and w->arg are set. */
static void head(const struct td_nn *m, const float *mean, const float *cues, struct td_nn_work *w,
                 float z[TD_LABEL_COUNT])
{
    const size_t D = m->dim, F = m->filters, R = m->ncues, H = m->hidden, I = td_nn_inputs(m);
    memcpy(w->x, w->pool, F * sizeof *w->x);
    memcpy(w->x + F, mean, D * sizeof *w->x);
    if (R)
        memcpy(w->x + F + D, cues, R * sizeof *w->x);
    for (size_t h = 0; h < H; h++) {
        float a = m->hid_b[h] + dot(m->hid_w + h * I, w->x, I);
        w->hid[h] = a > 0 ? a : 0;
    }
    for (int l = 0; l < TD_LABEL_COUNT; l++)
        z[l] = dot(m->out_w + (size_t)l * H, w->hid, H);
}

static void mean_of(const float *emb, size_t n, size_t D, float *mean)
{
    for (size_t d = 0; d < D; d++)
        mean[d] = 0;
    for (size_t t = 0; t < n; t++)
        for (size_t d = 0; d < D; d++)
            mean[d] += emb[t * D + d];
    if (n)
        for (size_t d = 0; d < D; d++)
            mean[d] /= (float)n;
}

int td_nn_forward(const struct td_nn *m, const float *emb, size_t n, const float *cues,
                  struct td_nn_work *w, float z[TD_LABEL_COUNT])
{
    if (work_fit(m, w))
        return TD_ENOMEM;
    float mean[512];
    conv_pool(m->conv_w, m->conv_b, emb, n, m->dim, m->filters, w->acc, w->pool, w->arg);
    mean_of(emb, n, m->dim, mean);
    head(m, mean, cues, w, z);
    return TD_OK;
}

void td_nn_project(const struct td_nn *m, const float *e, float *out)
{
    const size_t D = m->dim, F = m->filters;
    for (size_t j = 0; j < TD_NN_WIDTH; j++)
        project(m->conv_w + j * D * F, e, D, F, out + j * F);
}

int td_nn_forward_proj(const struct td_nn *m, const float *proj, const float *emb, size_t n,
                       const float *cues, struct td_nn_work *w, float z[TD_LABEL_COUNT])
{
    if (work_fit(m, w))
        return TD_ENOMEM;
    float mean[512];
    pool_proj(proj, m->conv_b, n, m->filters, w->acc, w->pool, w->arg);
    mean_of(emb, n, m->dim, mean);
    head(m, mean, cues, w, z);
    return TD_OK;
}

/* d z[label] / d x[i] into dx[I] (through the hidden ReLU). */
static void grad_x(const struct td_nn *m, const struct td_nn_work *w,
                   const float dz[TD_LABEL_COUNT], float *dx, float *dh)
{
    const size_t H = m->hidden, I = td_nn_inputs(m);
    for (size_t h = 0; h < H; h++) {
        float g = 0;
        if (w->hid[h] > 0)
            for (int l = 0; l < TD_LABEL_COUNT; l++)
                g += dz[l] * m->out_w[(size_t)l * H + h];
        dh[h] = g;
    }
    for (size_t i = 0; i < I; i++)
        dx[i] = 0;
    for (size_t h = 0; h < H; h++) {
        if (dh[h] == 0)
            continue;
        const float *u = m->hid_w + h * I;
        for (size_t i = 0; i < I; i++)
            dx[i] += dh[h] * u[i];
    }
}

void td_nn_attribute(const struct td_nn *m, size_t n, const struct td_nn_work *w, int label,
                     float *tok, float *cue)
{
    const size_t F = m->filters, D = m->dim, R = m->ncues, I = td_nn_inputs(m);
    float dz[TD_LABEL_COUNT] = {0};
    dz[label] = 1.0f;
    float *dx = malloc(I * sizeof *dx), *dh = malloc(m->hidden * sizeof *dh);
    for (size_t t = 0; t < n; t++)
        tok[t] = 0;
    for (size_t k = 0; k < R; k++)
        cue[k] = 0;
    if (!dx || !dh)
        goto out;
    grad_x(m, w, dz, dx, dh);
    for (size_t f = 0; f < F; f++) {
        if (w->arg[f] < 0)
            continue;
        /* the filter's share of the score, spread over the real tokens of
         * its window */
        float c = dx[f] * w->pool[f];
        size_t t = (size_t)w->arg[f], lo = t ? t - 1 : 0, hi = t + 1 < n ? t + 1 : n - 1;
        float share = c / (float)(hi - lo + 1);
        for (size_t k = lo; k <= hi; k++)
            tok[k] += share;
    }
    for (size_t k = 0; k < R; k++)
        cue[k] = dx[F + D + k] * w->x[F + D + k];
out:
    free(dx);
    free(dh);
}

int td_nn_grad_new(const struct td_nn *m, struct td_nn_grad *g)
{
    size_t D = m->dim, F = m->filters, H = m->hidden, I = td_nn_inputs(m);
    g->conv_w = calloc(TD_NN_WIDTH * D * F, sizeof(float));
    g->conv_b = calloc(F, sizeof(float));
    g->hid_w = calloc(H * I, sizeof(float));
    g->hid_b = calloc(H, sizeof(float));
    g->out_w = calloc(TD_LABEL_COUNT * H, sizeof(float));
    if (g->conv_w && g->conv_b && g->hid_w && g->hid_b && g->out_w)
        return TD_OK;
    td_nn_grad_release(g);
    return TD_ENOMEM;
}

void td_nn_grad_release(struct td_nn_grad *g)
{
    free(g->conv_w);
    free(g->conv_b);
    free(g->hid_w);
    free(g->hid_b);
    free(g->out_w);
    memset(g, 0, sizeof *g);
}

void td_nn_backward(const struct td_nn *m, const float *emb, size_t n, const struct td_nn_work *w,
                    const float dz[TD_LABEL_COUNT], struct td_nn_grad *g)
{
    const size_t D = m->dim, F = m->filters, H = m->hidden, I = td_nn_inputs(m);
    float dh[4096], *dx = malloc(I * sizeof *dx);
    if (!dx)
        return;
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        if (dz[l] == 0)
            continue;
        for (size_t h = 0; h < H; h++)
            g->out_w[(size_t)l * H + h] += dz[l] * w->hid[h];
    }
    grad_x(m, w, dz, dx, dh);
    for (size_t h = 0; h < H; h++) {
        if (dh[h] == 0)
            continue;
        g->hid_b[h] += dh[h];
        float *gu = g->hid_w + h * I;
        for (size_t i = 0; i < I; i++)
            gu[i] += dh[h] * w->x[i];
    }
    /* only each filter's winning window gets a gradient (max pooling) */
    for (size_t f = 0; f < F; f++) {
        if (w->arg[f] < 0 || dx[f] == 0)
            continue;
        g->conv_b[f] += dx[f];
        size_t t = (size_t)w->arg[f];
        for (size_t j = 0; j < TD_NN_WIDTH; j++) {
            size_t pos = t + j;
            if (pos < 1 || pos - 1 >= n)
                continue;
            const float *e = emb + (pos - 1) * D;
            float *gw = g->conv_w + j * D * F + f;
            for (size_t d = 0; d < D; d++)
                gw[d * F] += dx[f] * e[d];
        }
    }
    free(dx);
}

/* ---- serialisation --------------------------------------------------------------- */

static int write_f32s(FILE *f, const float *v, size_t n)
{
    unsigned char b[4];
    for (size_t i = 0; i < n; i++) {
        td__put_f32(b, v[i]);
        if (fwrite(b, 1, 4, f) != 4)
            return TD_EIO;
    }
    return TD_OK;
}

int td_nn_write(const struct td_nn *m, FILE *f)
{
    unsigned char h[16];
    td__put_u32(h, m->dim);
    td__put_u32(h + 4, m->filters);
    td__put_u32(h + 8, m->ncues);
    td__put_u32(h + 12, m->hidden);
    if (fwrite(h, 1, 16, f) != 16)
        return TD_EIO;
    for (unsigned k = 0; k < m->ncues; k++)
        if (fwrite(m->cue[k], 1, TD_NN_CUE_NAME, f) != TD_NN_CUE_NAME)
            return TD_EIO;
    size_t D = m->dim, F = m->filters, H = m->hidden, I = td_nn_inputs(m);
    if (write_f32s(f, m->conv_w, TD_NN_WIDTH * D * F) || write_f32s(f, m->conv_b, F) ||
        write_f32s(f, m->hid_w, H * I) || write_f32s(f, m->hid_b, H) ||
        write_f32s(f, m->out_w, TD_LABEL_COUNT * H))
        return TD_EIO;
    return TD_OK;
}

static const unsigned char *read_f32s(const unsigned char *p, float *v, size_t n)
{
    for (size_t i = 0; i < n; i++, p += 4) {
        v[i] = td__get_f32(p);
        if (!isfinite(v[i]))
            return NULL;
    }
    return p;
}

int td_nn_read(const unsigned char *p, size_t len, struct td_nn **out, size_t *used,
               struct td_error *err)
{
    if (len < 16)
        return td_error_set(err, TD_EMODEL, "network: truncated header");
    unsigned D = td__get_u32(p), F = td__get_u32(p + 4), R = td__get_u32(p + 8),
             H = td__get_u32(p + 12);
    if (!D || D > 512 || !F || F > 4096 || R > TD_NN_MAX_CUES || !H || H > 4096)
        return td_error_set(err, TD_EMODEL, "network: unsupported shape D=%u F=%u R=%u H=%u", D, F,
                            R, H);
    size_t I = (size_t)F + D + R;
    size_t nw = (size_t)TD_NN_WIDTH * D * F + F + (size_t)H * I + H + (size_t)TD_LABEL_COUNT * H;
    size_t need = 16 + (size_t)R * TD_NN_CUE_NAME + 4 * nw;
    if (len < need)
        return td_error_set(err, TD_EMODEL, "network: %zu bytes, shape needs %zu", len, need);
    struct td_nn *m = calloc(1, sizeof *m);
    if (!m)
        return td_error_set(err, TD_ENOMEM, NULL);
    m->dim = D;
    m->filters = F;
    m->ncues = R;
    m->hidden = H;
    if (alloc_weights(m)) {
        td_nn_free(m);
        return td_error_set(err, TD_ENOMEM, NULL);
    }
    const unsigned char *q = p + 16;
    for (unsigned k = 0; k < R; k++, q += TD_NN_CUE_NAME) {
        memcpy(m->cue[k], q, TD_NN_CUE_NAME);
        m->cue[k][TD_NN_CUE_NAME - 1] = '\0';
    }
    if (!(q = read_f32s(q, m->conv_w, TD_NN_WIDTH * (size_t)D * F)) ||
        !(q = read_f32s(q, m->conv_b, F)) || !(q = read_f32s(q, m->hid_w, (size_t)H * I)) ||
        !(q = read_f32s(q, m->hid_b, H)) ||
        !(q = read_f32s(q, m->out_w, (size_t)TD_LABEL_COUNT * H))) {
        td_nn_free(m);
        return td_error_set(err, TD_EMODEL, "network: a weight is not a finite number");
    }
    *out = m;
    *used = need;
    return TD_OK;
}
