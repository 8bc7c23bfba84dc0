/*
 * embed_train.c - skip-gram with negative sampling over subword rows
 * (Mikolov et al. 2013; Bojanowski et al. 2017, "Enriching word vectors
 * with subword information").
 *
 * 1. Read one message per line, normalise it exactly as td_analyse does,
 *    tokenise, and count every distinct word (an open-addressing table keyed
 *    by the word's 64-bit hash; the text is kept for the n-grams).
 * 2. Words seen min_count times or more form the vocabulary: only they are
 *    centres and contexts (fastText does the same); each keeps the list of
 *    its input rows (word row + n-gram rows, embed.h).
 * 3. For each centre (frequent words subsampled, word2vec's formula), the
 *    input vector is the mean of its rows; for each context within a random
 *    window, one positive and `negatives` noise words drawn from the
 *    unigram^0.75 table update the output vectors, and the summed gradient is
 *    added to every input row.  The learning rate decays linearly.
 * One thread and a seeded generator: the same input gives the same bytes.
 * Rows no word ever touched are zeroed before quantisation, so an unseen
 * n-gram adds nothing rather than noise.
 */
#include "threatdesk/embed.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define LINE_END UINT32_MAX
#define NEG_TABLE (1u << 23)
#define MAX_ROWS_PER_WORD 160

struct wentry {
    uint64_t h;
    uint64_t count;
    uint32_t off, len; /* text in the arena */
    int32_t vid;       /* vocabulary id, -1 below min_count */
};

struct wtable {
    struct wentry *e;
    size_t cap, n;
    char *arena;
    size_t alen, acap;
};

static uint64_t rng(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static float frand(uint64_t *s)
{
    return (float)(rng(s) >> 40) / (float)(1u << 24);
}

static int wt_grow(struct wtable *t)
{
    size_t nc = t->cap ? t->cap * 2 : (1u << 20);
    struct wentry *ne = calloc(nc, sizeof *ne);
    if (!ne)
        return TD_ENOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->e[i].count)
            continue;
        size_t j = t->e[i].h & (nc - 1);
        while (ne[j].count)
            j = (j + 1) & (nc - 1);
        ne[j] = t->e[i];
    }
    free(t->e);
    t->e = ne;
    t->cap = nc;
    return TD_OK;
}

/* Slot of the word, inserted (count 0 -> 1) if new; (size_t)-1 on OOM. */
static size_t wt_add(struct wtable *t, const char *w, size_t len)
{
    if ((t->n + 1) * 2 > t->cap && wt_grow(t))
        return (size_t)-1;
    uint64_t h = XXH3_64bits(w, len);
    if (h == 0)
        h = 1;
    size_t j = h & (t->cap - 1);
    while (t->e[j].count) {
        if (t->e[j].h == h) {
            t->e[j].count++;
            return j;
        }
        j = (j + 1) & (t->cap - 1);
    }
    if (t->alen + len > t->acap) {
        size_t nc = t->acap ? t->acap * 2 : (1u << 22);
        while (nc < t->alen + len)
            nc *= 2;
        char *na = realloc(t->arena, nc);
        if (!na)
            return (size_t)-1;
        t->arena = na;
        t->acap = nc;
    }
    memcpy(t->arena + t->alen, w, len);
    t->e[j].h = h;
    t->e[j].count = 1;
    t->e[j].off = (uint32_t)t->alen;
    t->e[j].len = (uint32_t)len;
    t->e[j].vid = -1;
    t->alen += len;
    t->n++;
    return j;
}

struct stream {
    uint32_t *tok; /* slot per token, LINE_END between messages */
    size_t n, cap, words;
};

static int st_push(struct stream *s, uint32_t v)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : (1u << 22);
        uint32_t *p = realloc(s->tok, nc * sizeof *p);
        if (!p)
            return TD_ENOMEM;
        s->tok = p;
        s->cap = nc;
    }
    s->tok[s->n++] = v;
    return TD_OK;
}

static float sigm(float x)
{
    if (x > 8)
        return 1.0f;
    if (x < -8)
        return 0.0f;
    return 1.0f / (1.0f + expf(-x));
}

int td_embed_pretrain(const struct td_embed_pretrain_opts *o, FILE **in, size_t nin,
                      struct td_embed **out, struct td_error *err)
{
    const unsigned D = o->dim ? o->dim : 48;
    const unsigned wbits = o->wbits ? o->wbits : 16, nbits = o->nbits ? o->nbits : 17;
    const unsigned epochs = o->epochs ? o->epochs : 2, window = o->window ? o->window : 5;
    const unsigned negs = o->negatives ? o->negatives : 5;
    const unsigned minc = o->min_count ? o->min_count : 5;
    const size_t maxtok = o->max_tokens ? o->max_tokens : 30000000;
    const float lr0 = o->lr > 0 ? o->lr : 0.05f;
    const double sub = o->subsample > 0 ? o->subsample : 1e-4;
    uint64_t rs = (o->seed ? o->seed : 1) * 0x9E3779B97F4A7C15ULL + 7;
    if (D > TD_EMBED_MAX_DIM || wbits < 8 || wbits > 24 || nbits < 8 || nbits > 24)
        return td_error_set(err, TD_EINVAL, "bad shape dim=%u wbits=%u nbits=%u", D, wbits, nbits);

    int rc = TD_OK;
    struct wtable wt = {0};
    struct stream st = {0};
    struct td_norm norm;
    struct td_tokens tk;
    td_norm_init(&norm);
    td_tokens_init(&tk);
    char *line = NULL;
    size_t lcap = 0;
    uint32_t *vslot = NULL, *rowoff = NULL, *rowlist = NULL, *negt = NULL;
    uint64_t *vcount = NULL;
    float *win = NULL, *wout = NULL;
    unsigned char *touched = NULL;
    struct td_embed *e = NULL;

    /* 1. read, normalise, count */
    for (size_t f = 0; f < nin && st.words < maxtok; f++) {
        ssize_t got;
        while (st.words < maxtok && (got = getline(&line, &lcap, in[f])) >= 0) {
            if ((rc = td_normalise(o->nz, line, (size_t)got, &norm, err)) != TD_OK) {
                if (rc == TD_ETOOBIG)
                    continue; /* one huge line is skipped, not fatal */
                goto out;
            }
            if (td_tokenise(norm.text, norm.len, 4096, &tk))
                goto oom;
            if (tk.n == 0)
                continue;
            for (size_t i = 0; i < tk.n; i++) {
                size_t slot = wt_add(&wt, norm.text + tk.t[i].start, tk.t[i].end - tk.t[i].start);
                if (slot == (size_t)-1 || st_push(&st, (uint32_t)slot))
                    goto oom;
                st.words++;
            }
            if (st_push(&st, LINE_END))
                goto oom;
        }
        if (ferror(in[f])) {
            rc = td_error_set(err, TD_EIO, "read error on input %zu", f);
            goto out;
        }
    }
    /* 2. vocabulary, in slot order (deterministic) */
    size_t V = 0;
    for (size_t i = 0; i < wt.cap; i++)
        if (wt.e[i].count >= minc)
            wt.e[i].vid = (int32_t)V++;
    if (V < 2) {
        rc = td_error_set(err, TD_EINVAL, "%zu words seen %u+ times: too little text to pretrain",
                          V, minc);
        goto out;
    }
    vslot = malloc(V * sizeof *vslot);
    vcount = malloc(V * sizeof *vcount);
    rowoff = malloc((V + 1) * sizeof *rowoff);
    if (!vslot || !vcount || !rowoff)
        goto oom;
    size_t total_rows = 0;
    for (size_t i = 0; i < wt.cap; i++)
        if (wt.e[i].vid >= 0) {
            vslot[wt.e[i].vid] = (uint32_t)i;
            vcount[wt.e[i].vid] = wt.e[i].count;
        }
    for (size_t v = 0; v < V; v++) {
        const struct wentry *we = &wt.e[vslot[v]];
        size_t n = td_embed_token_rows(wbits, nbits, wt.arena + we->off, we->len, NULL, 0);
        total_rows += n < MAX_ROWS_PER_WORD ? n : MAX_ROWS_PER_WORD;
    }
    rowlist = malloc(total_rows * sizeof *rowlist);
    if (!rowlist)
        goto oom;
    size_t ro = 0;
    for (size_t v = 0; v < V; v++) {
        const struct wentry *we = &wt.e[vslot[v]];
        rowoff[v] = (uint32_t)ro;
        size_t n = td_embed_token_rows(wbits, nbits, wt.arena + we->off, we->len, rowlist + ro,
                                       MAX_ROWS_PER_WORD);
        ro += n < MAX_ROWS_PER_WORD ? n : MAX_ROWS_PER_WORD;
    }
    rowoff[V] = (uint32_t)ro;
    /* the stream in vocabulary ids; out-of-vocabulary tokens dropped */
    size_t kept = 0, nin_vocab = 0;
    for (size_t i = 0; i < st.n; i++) {
        uint32_t s = st.tok[i];
        if (s == LINE_END) {
            st.tok[kept++] = LINE_END;
        } else if (wt.e[s].vid >= 0) {
            st.tok[kept++] = (uint32_t)wt.e[s].vid;
            nin_vocab++;
        }
    }
    st.n = kept;
    /* unigram^0.75 noise table */
    negt = malloc(NEG_TABLE * sizeof *negt);
    if (!negt)
        goto oom;
    double zsum = 0;
    for (size_t v = 0; v < V; v++)
        zsum += pow((double)vcount[v], 0.75);
    {
        size_t k = 0;
        double acc = 0;
        for (size_t v = 0; v < V && k < NEG_TABLE; v++) {
            acc += pow((double)vcount[v], 0.75) / zsum;
            while (k < NEG_TABLE && (double)k / NEG_TABLE < acc)
                negt[k++] = (uint32_t)v;
        }
        while (k < NEG_TABLE)
            negt[k++] = (uint32_t)(V - 1);
    }

    /* 3. SGNS */
    size_t rows = ((size_t)1 << wbits) + ((size_t)1 << nbits);
    win = malloc(rows * D * sizeof *win);
    wout = calloc(V * D, sizeof *wout);
    touched = calloc(rows, 1);
    if (!win || !wout || !touched)
        goto oom;
    for (size_t i = 0; i < rows * D; i++)
        win[i] = (frand(&rs) - 0.5f) / (float)D;
    const double thr = sub * (double)nin_vocab;
    size_t totalw = (size_t)epochs * nin_vocab, done = 0;
    float h[TD_EMBED_MAX_DIM], g[TD_EMBED_MAX_DIM];
    double lsum = 0;
    size_t lcount = 0;
    for (unsigned ep = 0; ep < epochs; ep++) {
        size_t line_start = 0, line_end = 0;
        for (size_t i = 0; i < st.n; i++) {
            uint32_t w = st.tok[i];
            if (w == LINE_END) {
                line_start = i + 1;
                continue;
            }
            done++;
            if (o->progress && (done & 0xFFFFF) == 0) {
                o->progress(o->ud, done, totalw, lcount ? (float)(lsum / (double)lcount) : 0);
                lsum = 0;
                lcount = 0;
            }
            double f = (double)vcount[w];
            double keep = (sqrt(f / thr) + 1) * thr / f;
            if (keep < 1 && frand(&rs) > keep)
                continue;
            float lr = lr0 * (1.0f - (float)done / (float)totalw);
            if (lr < lr0 * 1e-4f)
                lr = lr0 * 1e-4f;
            const uint32_t *wr = rowlist + rowoff[w];
            size_t nr = rowoff[w + 1] - rowoff[w];
            for (unsigned k = 0; k < D; k++)
                h[k] = 0;
            for (size_t r = 0; r < nr; r++) {
                const float *x = win + (size_t)wr[r] * D;
                for (unsigned k = 0; k < D; k++)
                    h[k] += x[k];
            }
            float inv = 1.0f / (float)nr;
            for (unsigned k = 0; k < D; k++) {
                h[k] *= inv;
                g[k] = 0;
            }
            size_t b = 1 + (size_t)(rng(&rs) % window);
            if (line_end <= i) { /* first token of a message: find its end once */
                line_end = i;
                while (line_end < st.n && st.tok[line_end] != LINE_END)
                    line_end++;
            }
            size_t lo = i >= line_start + b ? i - b : line_start;
            size_t hi = i + b + 1 < line_end ? i + b + 1 : line_end;
            int any = 0;
            for (size_t c = lo; c < hi; c++) {
                if (c == i)
                    continue;
                uint32_t target = st.tok[c];
                for (unsigned s = 0; s <= negs; s++) {
                    uint32_t u = target;
                    float label = 1.0f;
                    if (s > 0) {
                        u = negt[rng(&rs) & (NEG_TABLE - 1)];
                        if (u == target)
                            continue;
                        label = 0.0f;
                    }
                    float *y = wout + (size_t)u * D;
                    float dot = 0;
                    for (unsigned k = 0; k < D; k++)
                        dot += h[k] * y[k];
                    float p = sigm(dot);
                    lsum += label > 0 ? -log(p + 1e-7) : -log(1 - p + 1e-7);
                    lcount++;
                    float gg = (label - p) * lr;
                    for (unsigned k = 0; k < D; k++) {
                        g[k] += gg * y[k];
                        y[k] += gg * h[k];
                    }
                }
                any = 1;
            }
            if (!any)
                continue;
            for (size_t r = 0; r < nr; r++) {
                float *x = win + (size_t)wr[r] * D;
                touched[wr[r]] = 1;
                for (unsigned k = 0; k < D; k++)
                    x[k] += g[k];
            }
        }
    }

    /* 4. quantise: per-row scale, untouched rows zero */
    e = calloc(1, sizeof *e);
    if (!e)
        goto oom;
    e->dim = D;
    e->wbits = wbits;
    e->nbits = nbits;
    e->q = calloc(rows * D, 1);
    e->scale = calloc(rows, sizeof *e->scale);
    if (!e->q || !e->scale)
        goto oom;
    for (size_t r = 0; r < rows; r++) {
        if (!touched[r])
            continue;
        const float *x = win + r * D;
        float mx = 0;
        for (unsigned k = 0; k < D; k++)
            if (fabsf(x[k]) > mx)
                mx = fabsf(x[k]);
        if (mx == 0)
            continue;
        e->scale[r] = mx / 127.0f;
        for (unsigned k = 0; k < D; k++)
            e->q[r * D + k] = (int8_t)lrintf(x[k] / e->scale[r]);
    }
    *out = e;
    e = NULL;
    goto out;
oom:
    rc = td_error_set(err, TD_ENOMEM, NULL);
out:
    td_embed_free(e);
    free(wt.e);
    free(wt.arena);
    free(st.tok);
    free(line);
    free(vslot);
    free(vcount);
    free(rowoff);
    free(rowlist);
    free(negt);
    free(win);
    free(wout);
    free(touched);
    td_norm_release(&norm);
    td_tokens_release(&tk);
    return rc;
}
