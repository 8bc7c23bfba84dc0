/*
 * nn_kernels.h - the network's inner loops, included by nn.c once per
 * instruction set with TD_K(name) naming that build's copy.  Written so the
 * compiler vectorises them: the innermost loops run over contiguous floats.
 * No include guard on purpose.
 */

/* acc[F] = b + sum over the window of W[j] e_{t+j-1} for every position t;
 * pool[f] = max(0, max over t), arg[f] its position (-1: never above 0). */
static void TD_K(conv_pool)(const float *restrict W, const float *restrict b,
                            const float *restrict emb, size_t n, size_t D, size_t F,
                            float *restrict acc, float *restrict pool, int *restrict arg)
{
    for (size_t f = 0; f < F; f++) {
        pool[f] = 0.0f;
        arg[f] = -1;
    }
    for (size_t t = 0; t < n; t++) {
        memcpy(acc, b, F * sizeof *acc);
        for (size_t j = 0; j < TD_NN_WIDTH; j++) {
            size_t pos = t + j;
            if (pos < 1 || pos - 1 >= n)
                continue; /* zero padding */
            const float *e = emb + (pos - 1) * D;
            const float *wj = W + j * D * F;
            for (size_t d = 0; d < D; d++) {
                const float ed = e[d];
                const float *restrict row = wj + d * F;
                for (size_t f = 0; f < F; f++)
                    acc[f] += ed * row[f];
            }
        }
        for (size_t f = 0; f < F; f++)
            if (acc[f] > pool[f]) {
                pool[f] = acc[f];
                arg[f] = (int)t;
            }
    }
}

static float TD_K(dot)(const float *restrict a, const float *restrict b, size_t n)
{
    /* eight partial sums: lets the compiler vectorise without -ffast-math */
    float s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += a[i + k] * b[i + k];
    float r = 0;
    for (; i < n; i++)
        r += a[i] * b[i];
    for (int k = 0; k < 8; k++)
        r += s[k];
    return r;
}

/* out[F] = W e for one window slot's weights W[D][F]. */
static void TD_K(project)(const float *restrict W, const float *restrict e, size_t D, size_t F,
                          float *restrict out)
{
    for (size_t f = 0; f < F; f++)
        out[f] = 0;
    for (size_t d = 0; d < D; d++) {
        const float ed = e[d];
        const float *restrict row = W + d * F;
        for (size_t f = 0; f < F; f++)
            out[f] += ed * row[f];
    }
}

/* The convolution from projections: proj is n rows of 3F (W_0 e_t, W_1 e_t,
 * W_2 e_t), so position t sums row t-1 slot 0, row t slot 1, row t+1 slot 2
 * - the same sum conv_pool computes, in the same order. */
static void TD_K(pool_proj)(const float *restrict proj, const float *restrict b, size_t n, size_t F,
                            float *restrict acc, float *restrict pool, int *restrict arg)
{
    for (size_t f = 0; f < F; f++) {
        pool[f] = 0.0f;
        arg[f] = -1;
    }
    const size_t row = TD_NN_WIDTH * F;
    for (size_t t = 0; t < n; t++) {
        memcpy(acc, b, F * sizeof *acc);
        for (size_t j = 0; j < TD_NN_WIDTH; j++) {
            size_t pos = t + j;
            if (pos < 1 || pos - 1 >= n)
                continue;
            const float *restrict p = proj + (pos - 1) * row + j * F;
            for (size_t f = 0; f < F; f++)
                acc[f] += p[f];
        }
        for (size_t f = 0; f < F; f++)
            if (acc[f] > pool[f]) {
                pool[f] = acc[f];
                arg[f] = (int)t;
            }
    }
}
