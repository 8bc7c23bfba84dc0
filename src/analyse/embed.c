/*
 * embed.c - subword embeddings: tokeniser, lookup, serialisation (the
 * skip-gram pretraining is in embed_train.c).
 *
 * Serialised form (inside the model file, and after the magic of a
 * standalone embeddings file), little-endian:
 *
 *   u32 dim, u32 wbits, u32 nbits
 *   rows * dim   int8 q         (rows = 2^wbits + 2^nbits)
 *   rows         f32 scale      (value = q * scale)
 *
 * A standalone file is "TDEMBED\0", the above, and an XXH3-64 of every byte
 * before it.
 */
#include "threatdesk/embed.h"
#include "le.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

enum { SEED_EWORD = 0x3e1, SEED_EGRAM = 0x3e2 };
#define EMBED_MAGIC "TDEMBED"

void td_tokens_init(struct td_tokens *tk)
{
    memset(tk, 0, sizeof *tk);
}

void td_tokens_release(struct td_tokens *tk)
{
    free(tk->t);
    memset(tk, 0, sizeof *tk);
}

/* Length of the UTF-8 sequence starting with lead byte c (1 for a stray
 * continuation byte, so the scan always advances). */
static size_t u8len(unsigned char c)
{
    if (c < 0xC0)
        return 1;
    if (c < 0xE0)
        return 2;
    if (c < 0xF0)
        return 3;
    return 4;
}

static uint32_t u8cp(const unsigned char *s, size_t n)
{
    switch (n) {
    case 2:
        return (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    case 3:
        return (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    case 4:
        return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
               (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
    default:
        return s[0];
    }
}

/* Arrows, technical and pictographic symbols, dingbats, emoji: one token each. */
static int is_symbol_cp(uint32_t cp)
{
    return (cp >= 0x2190 && cp <= 0x2BFF) || cp >= 0x1F000;
}

static int is_word_ascii(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}

static int push(struct td_tokens *tk, size_t s, size_t e)
{
    if (tk->n == tk->cap) {
        size_t nc = tk->cap ? tk->cap * 2 : 64;
        struct td_token *p = realloc(tk->t, nc * sizeof *p);
        if (!p)
            return TD_ENOMEM;
        tk->t = p;
        tk->cap = nc;
    }
    tk->t[tk->n].start = (uint32_t)s;
    tk->t[tk->n].end = (uint32_t)e;
    tk->n++;
    return TD_OK;
}

int td_tokenise(const char *text, size_t len, size_t max, struct td_tokens *tk)
{
    const unsigned char *s = (const unsigned char *)text;
    tk->n = 0;
    size_t i = 0;
    while (i < len && tk->n < max) {
        unsigned char c = s[i];
        if (c < 0x80 && !is_word_ascii(c)) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t n = u8len(c);
            if (i + n > len)
                n = len - i;
            if (is_symbol_cp(u8cp(s + i, n))) {
                if (push(tk, i, i + n))
                    return TD_ENOMEM;
                i += n;
                continue;
            }
        }
        /* a word: letters, digits, non-ASCII non-symbols, inner apostrophes */
        size_t st = i;
        while (i < len) {
            c = s[i];
            if (c < 0x80) {
                if (is_word_ascii(c)) {
                    i++;
                } else if (c == '\'' && i > st && i + 1 < len && is_word_ascii(s[i + 1])) {
                    i++;
                } else {
                    break;
                }
            } else {
                size_t n = u8len(c);
                if (i + n > len)
                    n = len - i;
                if (is_symbol_cp(u8cp(s + i, n)))
                    break;
                i += n;
            }
        }
        /* @mentions and URLs carry one corpus's habits, not meaning */
        if (st > 0 && s[st - 1] == '@')
            continue;
        if (i - st >= 4 && memcmp(s + st, "http", 4) == 0 && i + 3 <= len &&
            memcmp(s + i, "://", 3) == 0) {
            while (i < len && s[i] != ' ')
                i++;
            continue;
        }
        if (push(tk, st, i))
            return TD_ENOMEM;
    }
    return TD_OK;
}

size_t td_embed_rows(const struct td_embed *e)
{
    return ((size_t)1 << e->wbits) + ((size_t)1 << e->nbits);
}

void td_embed_free(struct td_embed *e)
{
    if (!e)
        return;
    if (!e->q_borrowed)
        free(e->q);
    free(e->scale);
    free(e);
}

size_t td_embed_token_rows(unsigned wbits, unsigned nbits, const char *w, size_t len,
                           uint32_t *rows, size_t max)
{
    size_t n = 0;
    uint32_t wmask = (1u << wbits) - 1, nmask = (1u << nbits) - 1;
    if (n < max)
        rows[n] = (uint32_t)(XXH3_64bits_withSeed(w, len, SEED_EWORD) & wmask);
    n++;
    if (len > TD_EMBED_MAX_WORD)
        return n;
    /* "<word>" and the byte offset of each character in it */
    char buf[TD_EMBED_MAX_WORD + 2];
    size_t cs[TD_EMBED_MAX_WORD + 3], nc = 0;
    buf[0] = '<';
    memcpy(buf + 1, w, len);
    buf[len + 1] = '>';
    size_t bl = len + 2;
    for (size_t i = 0; i < bl; i += u8len((unsigned char)buf[i]))
        cs[nc++] = i;
    cs[nc] = bl;
    for (size_t g = 3; g <= 5; g++)
        for (size_t a = 0; a + g <= nc; a++) {
            if (n < max) {
                size_t b0 = cs[a], b1 = a + g < nc ? cs[a + g] : bl;
                if (b1 > bl)
                    b1 = bl;
                rows[n] = (1u << wbits) +
                          (uint32_t)(XXH3_64bits_withSeed(buf + b0, b1 - b0, SEED_EGRAM) & nmask);
            }
            n++;
        }
    return n;
}

/* out[d] += sc * q[d]: the int8 rows are dequantised on the fly.  Built
 * for AVX2 too and chosen at run time, like the network's kernels. */
#if defined(__GNUC__) && defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
static void axpy_q_avx2(float *restrict out, const int8_t *restrict q, float sc, unsigned d)
{
    for (unsigned k = 0; k < d; k++)
        out[k] += sc * (float)q[k];
}
#pragma GCC pop_options
#define TD_HAVE_AVX2_AXPY 1
#endif

static void axpy_q(float *restrict out, const int8_t *restrict q, float sc, unsigned d)
{
#ifdef TD_HAVE_AVX2_AXPY
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        axpy_q_avx2(out, q, sc, d);
        return;
    }
#endif
    for (unsigned k = 0; k < d; k++)
        out[k] += sc * (float)q[k];
}

void td_embed_token(const struct td_embed *e, const char *w, size_t len, float *out)
{
    uint32_t rows[4 * (TD_EMBED_MAX_WORD + 3)];
    size_t n = td_embed_token_rows(e->wbits, e->nbits, w, len, rows, sizeof rows / sizeof *rows);
    if (n > sizeof rows / sizeof *rows)
        n = sizeof rows / sizeof *rows;
    const unsigned d = e->dim;
    for (unsigned k = 0; k < d; k++)
        out[k] = 0;
    for (size_t r = 0; r < n; r++) {
        float sc = e->scale[rows[r]];
        if (sc == 0)
            continue; /* a row pretraining never touched: zero */
        axpy_q(out, e->q + (size_t)rows[r] * d, sc, d);
    }
    float inv = 1.0f / (float)n;
    for (unsigned k = 0; k < d; k++)
        out[k] *= inv;
}

/* ---- serialisation --------------------------------------------------------------- */

int td_embed_write(const struct td_embed *e, FILE *f)
{
    unsigned char h[12];
    td__put_u32(h, e->dim);
    td__put_u32(h + 4, e->wbits);
    td__put_u32(h + 8, e->nbits);
    size_t rows = td_embed_rows(e);
    if (fwrite(h, 1, sizeof h, f) != sizeof h || fwrite(e->q, 1, rows * e->dim, f) != rows * e->dim)
        return TD_EIO;
    unsigned char b[4];
    for (size_t r = 0; r < rows; r++) {
        td__put_f32(b, e->scale[r]);
        if (fwrite(b, 1, 4, f) != 4)
            return TD_EIO;
    }
    return TD_OK;
}

/* view: q points into p (which must outlive the embeddings) instead of a
 * copy; the scales are always converted (they are little-endian floats at
 * any alignment). */
static int embed_read(const unsigned char *p, size_t len, int view, struct td_embed **out,
                      size_t *used, struct td_error *err)
{
    if (len < 12)
        return td_error_set(err, TD_EMODEL, "embeddings: truncated header");
    unsigned dim = td__get_u32(p), wb = td__get_u32(p + 4), nb = td__get_u32(p + 8);
    if (dim == 0 || dim > TD_EMBED_MAX_DIM || wb < 8 || wb > 24 || nb < 8 || nb > 24)
        return td_error_set(err, TD_EMODEL,
                            "embeddings: unsupported shape dim=%u wbits=%u nbits=%u", dim, wb, nb);
    size_t rows = ((size_t)1 << wb) + ((size_t)1 << nb);
    size_t need = 12 + rows * dim + rows * 4;
    if (len < need)
        return td_error_set(err, TD_EMODEL, "embeddings: %zu bytes, shape needs %zu", len, need);
    struct td_embed *e = calloc(1, sizeof *e);
    if (!e)
        return td_error_set(err, TD_ENOMEM, NULL);
    e->dim = dim;
    e->wbits = wb;
    e->nbits = nb;
    e->q_borrowed = view;
    e->q = view ? (int8_t *)(uintptr_t)(p + 12) : malloc(rows * dim);
    e->scale = malloc(rows * sizeof *e->scale);
    if (!e->q || !e->scale) {
        td_embed_free(e);
        return td_error_set(err, TD_ENOMEM, NULL);
    }
    if (!view)
        memcpy(e->q, p + 12, rows * dim);
    const unsigned char *s = p + 12 + rows * dim;
    for (size_t r = 0; r < rows; r++)
        e->scale[r] = td__get_f32(s + 4 * r);
    *out = e;
    *used = need;
    return TD_OK;
}

int td_embed_read(const unsigned char *p, size_t len, struct td_embed **out, size_t *used,
                  struct td_error *err)
{
    return embed_read(p, len, 0, out, used, err);
}

int td_embed_view(const unsigned char *p, size_t len, struct td_embed **out, size_t *used,
                  struct td_error *err)
{
    return embed_read(p, len, 1, out, used, err);
}

int td_embed_save(const struct td_embed *e, const char *path, struct td_error *err)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return td_error_set(err, TD_EINVAL, "path too long");
    char *mem = NULL;
    size_t mlen = 0;
    FILE *m = open_memstream(&mem, &mlen);
    if (!m)
        return td_error_set(err, TD_ENOMEM, NULL);
    int rc = fwrite(EMBED_MAGIC, 1, 8, m) == 8 ? td_embed_write(e, m) : TD_EIO;
    if (fclose(m) != 0 || rc) {
        free(mem);
        return td_error_set(err, TD_ENOMEM, NULL);
    }
    unsigned char sum[8];
    td__put_u64(sum, XXH3_64bits(mem, mlen));
    td_error_at(err, path, 0, 0);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(mem);
        return td_error_set(err, TD_EIO, "cannot create: %s", strerror(errno));
    }
    int bad = fwrite(mem, 1, mlen, f) != mlen;
    bad |= fwrite(sum, 1, 8, f) != 8;
    bad |= fflush(f) != 0;
    bad |= fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    free(mem);
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return td_error_set(err, TD_EIO, "cannot write embeddings: %s", strerror(errno));
    }
    td_error_clear(err);
    return TD_OK;
}

int td_embed_load(const char *path, struct td_embed **out, struct td_error *err)
{
    td_error_at(err, path, 0, 0);
    FILE *f = fopen(path, "rb");
    if (!f)
        return td_error_set(err, errno == ENOENT ? TD_ENOTFOUND : TD_EIO, "cannot open: %s",
                            strerror(errno));
    unsigned char *buf = NULL;
    int rc = TD_OK;
    long sz;
    if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = td_error_set(err, TD_EIO, "cannot size");
        goto out;
    }
    if (sz < 28 || sz > (1L << 30)) {
        rc = td_error_set(err, TD_EMODEL, "file size %ld is not that of an embeddings file", sz);
        goto out;
    }
    buf = malloc((size_t)sz);
    if (!buf) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
        goto out;
    }
    if (fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
        rc = td_error_set(err, TD_EIO, "short read");
        goto out;
    }
    if (memcmp(buf, EMBED_MAGIC, 8) != 0) {
        rc = td_error_set(err, TD_EMODEL, "bad magic: not an embeddings file");
        goto out;
    }
    if (td__get_u64(buf + sz - 8) != XXH3_64bits(buf, (size_t)sz - 8)) {
        rc = td_error_set(err, TD_EMODEL, "checksum mismatch: file truncated or corrupted");
        goto out;
    }
    size_t used = 0;
    rc = td_embed_read(buf + 8, (size_t)sz - 16, out, &used, err);
    if (!rc && used != (size_t)sz - 16) {
        td_embed_free(*out);
        *out = NULL;
        rc = td_error_set(err, TD_EMODEL, "trailing bytes after the embeddings");
    }
out:
    free(buf);
    fclose(f);
    return rc;
}
