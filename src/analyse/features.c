/*
 * features.c - hashed word and character n-grams (see features.h).
 *
 * Words are maximal runs of letters, digits, apostrophes and any non-ASCII
 * byte (so "don't", "naïve" and Arabic words stay whole); @mentions, URLs
 * and entity residue are skipped (skip_word).  Hashing: XXH3
 * 64-bit with a seed per feature kind, reduced to the bucket count by
 * masking (the count is a power of two).
 */
#include "threatdesk/features.h"
#include "threatdesk/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

enum { SEED_WORD = 0x7d1, SEED_BIGRAM = 0x7d2, SEED_CHAR = 0x7d3 };

void td_features_init(struct td_features *f)
{
    memset(f, 0, sizeof *f);
}

void td_features_release(struct td_features *f)
{
    free(f->idx);
    free(f->word);
    free(f->words);
    memset(f, 0, sizeof *f);
}

static int is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '\'' || c >= 0x80 ||
           (c >= 'A' && c <= 'Z');
}

/*
 * Words that carry no meaning of their own and would teach the model the
 * quirks of its training sets: @mentions (OLID writes every one as
 * "@USER"), URLs, HTML entity residue ("&amp;").  Advances *end past a URL.
 */
static int skip_word(const unsigned char *s, size_t len, size_t st, size_t *end)
{
    if (st > 0 && (s[st - 1] == '@' || s[st - 1] == '&'))
        return 1;
    size_t wl = *end - st;
    if ((wl == 4 || wl == 5) && memcmp(s + st, "http", 4) == 0 && *end + 3 <= len &&
        memcmp(s + *end, "://", 3) == 0) {
        size_t i = *end;
        while (i < len && s[i] != ' ')
            i++;
        *end = i;
        return 1;
    }
    return 0;
}

static int grow(struct td_features *f, size_t need)
{
    if (need <= f->cap_)
        return TD_OK;
    size_t ncap = f->cap_ ? f->cap_ : 256;
    while (ncap < need)
        ncap *= 2;
    uint32_t *idx = realloc(f->idx, ncap * sizeof *idx);
    if (!idx)
        return TD_ENOMEM;
    f->idx = idx;
    uint16_t *w = realloc(f->word, ncap * sizeof *w);
    if (!w)
        return TD_ENOMEM;
    f->word = w;
    f->cap_ = ncap;
    return TD_OK;
}

static void push(struct td_features *f, uint64_t h, uint32_t mask, size_t word)
{
    f->idx[f->n] = (uint32_t)(h & mask);
    f->word[f->n] = (uint16_t)word;
    f->n++;
}

int td_features_extract(const char *text, size_t len, unsigned bits, struct td_features *f)
{
    const unsigned char *s = (const unsigned char *)text;
    const uint32_t mask = (bits >= 32) ? 0xffffffffu : ((1u << bits) - 1);
    f->n = 0;
    f->nwords = 0;

    /* 1. words */
    for (size_t i = 0; i < len && f->nwords < TD_FEAT_MAX_WORDS;) {
        while (i < len && !is_word_byte(s[i]))
            i++;
        size_t st = i;
        while (i < len && is_word_byte(s[i]))
            i++;
        if (skip_word(s, len, st, &i))
            continue;
        /* trim apostrophes at the edges: 'you' -> you */
        size_t a = st, b = i;
        while (a < b && s[a] == '\'')
            a++;
        while (b > a && s[b - 1] == '\'')
            b--;
        if (b > a) {
            if (f->nwords == f->wcap_) {
                size_t ncap = f->wcap_ ? f->wcap_ * 2 : 64;
                struct td_word *w = realloc(f->words, ncap * sizeof *w);
                if (!w)
                    return TD_ENOMEM;
                f->words = w;
                f->wcap_ = ncap;
            }
            f->words[f->nwords].start = a;
            f->words[f->nwords].end = b;
            f->nwords++;
        }
    }

    /* 2. an upper bound on the features: per word 1 unigram + 1 bigram +
     * 3 char-gram lengths over (len + 2) positions */
    size_t need = 0;
    for (size_t w = 0; w < f->nwords; w++) {
        size_t wl = f->words[w].end - f->words[w].start;
        need += 2 + (wl <= TD_FEAT_MAX_WORD_LEN ? 3 * (wl + 2) : 0);
    }
    if (grow(f, need + 1))
        return TD_ENOMEM;

    unsigned char gram[TD_FEAT_MAX_WORD_LEN + 2];
    for (size_t w = 0; w < f->nwords; w++) {
        const unsigned char *ws = s + f->words[w].start;
        size_t wl = f->words[w].end - f->words[w].start;
        push(f, XXH3_64bits_withSeed(ws, wl, SEED_WORD), mask, w);
        if (w + 1 < f->nwords) {
            /* the bigram is hashed over "w1 w2" as written in the
             * normalised text, which has single spaces */
            size_t end = f->words[w + 1].end;
            size_t gap = f->words[w + 1].start - f->words[w].end;
            if (gap <= 3)
                push(f, XXH3_64bits_withSeed(ws, end - f->words[w].start, SEED_BIGRAM), mask, w);
        }
        if (wl > TD_FEAT_MAX_WORD_LEN)
            continue;
        gram[0] = '<';
        memcpy(gram + 1, ws, wl);
        gram[wl + 1] = '>';
        size_t gl = wl + 2;
        for (size_t n = 3; n <= 5; n++) {
            if (gl < n)
                break;
            for (size_t i = 0; i + n <= gl; i++) {
                /* do not start a gram inside a UTF-8 sequence */
                if ((gram[i] & 0xC0) == 0x80)
                    continue;
                push(f, XXH3_64bits_withSeed(gram + i, n, SEED_CHAR + (unsigned)n), mask, w);
            }
        }
    }
    f->value = f->n ? (float)(1.0 / sqrt((double)f->n)) : 0.0f;
    return TD_OK;
}
