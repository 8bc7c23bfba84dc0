/*
 * embed.h - subword word embeddings: tokens of normalised text -> vectors.
 *
 * Why: a bag of hashed n-grams has no idea that "stab", "knife" and "shank"
 * are alike, or that "k1ll" (normalised to "kill") and "kil" are close.  A
 * word's vector here is the mean of one row for the word itself and one row
 * for each of its character 3..5-grams (of "<word>"), as fastText does, so a
 * word never seen in pretraining ("gonnae", "stabbin") still gets a vector
 * from its spelling.  The rows are pretrained in-house by skip-gram with
 * negative sampling (td_embed_pretrain) on informal unlabelled text plus the
 * text of the training corpora, and shipped quantised inside the model file
 * (model.h, format version 2).
 *
 * Row layout: 2^wbits rows addressed by a hash of the whole word, then
 * 2^nbits rows addressed by a hash of each character n-gram.  Separate
 * ranges keep frequent words from colliding with common n-grams.  Each row
 * is D signed 8-bit integers and one float scale (value = q * scale).
 *
 * Tokens (td_tokenise): maximal runs of ASCII letters and digits, inner
 * apostrophes, and non-ASCII letters; every emoji or pictographic symbol
 * (U+2190..U+2BFF, U+1F000 and up) is a token of its own, because "🔪🔪"
 * aimed at "you" is a message.  Other ASCII punctuation separates tokens.
 * @mentions and URLs are dropped: they teach the quirks of one corpus.
 */
#ifndef THREATDESK_EMBED_H
#define THREATDESK_EMBED_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "threatdesk/error.h"
#include "threatdesk/text.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_EMBED_MAX_DIM 128
#define TD_EMBED_MAX_WORD 48 /* longer tokens get no character n-grams */

struct td_token {
    uint32_t start, end; /* byte range in the normalised text */
};

/* Caller-owned token list, reused across calls. */
struct td_tokens {
    struct td_token *t;
    size_t n, cap;
};

void td_tokens_init(struct td_tokens *tk);
void td_tokens_release(struct td_tokens *tk);
/* Tokenise normalised text; at most `max` tokens (the rest are ignored).
 * TD_OK or TD_ENOMEM. */
int td_tokenise(const char *text, size_t len, size_t max, struct td_tokens *tk);

struct td_embed {
    unsigned dim;          /* D */
    unsigned wbits, nbits; /* 2^wbits word rows, then 2^nbits n-gram rows */
    int8_t *q;             /* [rows * dim], owned unless q_borrowed */
    int q_borrowed;        /* td_embed_view: q lies in the caller's buffer */
    float *scale;          /* [rows], owned */
};

/* Number of rows of e. */
size_t td_embed_rows(const struct td_embed *e);
void td_embed_free(struct td_embed *e);

/*
 * The rows that make up one token's vector: the word row first, then its
 * n-gram rows.  Writes at most `max` row indices into rows; returns how many
 * there are (the caller may pass max 0 to count).
 */
size_t td_embed_token_rows(unsigned wbits, unsigned nbits, const char *w, size_t len,
                           uint32_t *rows, size_t max);

/* The vector of one token (mean of its rows) into out[dim]. */
void td_embed_token(const struct td_embed *e, const char *w, size_t len, float *out);

/* ---- pretraining ---------------------------------------------------------- */

struct td_embed_pretrain_opts {
    const struct td_normaliser *nz; /* text is normalised as td_analyse does */
    unsigned dim;                   /* default 48 */
    unsigned wbits, nbits;          /* default 16, 17 */
    unsigned epochs;                /* default 2 */
    unsigned window;                /* default 5 */
    unsigned negatives;             /* default 5 */
    unsigned min_count;             /* words seen fewer times are not centres/contexts; 5 */
    size_t max_tokens;              /* stop reading after this many (0: 30 M) */
    float lr;                       /* default 0.05, decays linearly */
    double subsample;               /* frequent-word subsampling t, default 1e-4 */
    uint64_t seed;                  /* default 1; one thread, so deterministic */
    /* progress callback (may be NULL): tokens processed so far of total */
    void (*progress)(void *ud, size_t done, size_t total, float loss);
    void *ud;
};

/*
 * Pretrain from one message per line read from each of the `nin` streams.
 * *out is yours (td_embed_free).  Deterministic for the same input and
 * options.  Fails with TD_ENOMEM, TD_EIO, or TD_EINVAL for bad options.
 */
int td_embed_pretrain(const struct td_embed_pretrain_opts *o, FILE **in, size_t nin,
                      struct td_embed **out, struct td_error *err);

/* Serialised form (used inside the model file): see embed.c's header. */
int td_embed_write(const struct td_embed *e, FILE *f);
/* Parse from a buffer; *used gets the bytes consumed. */
int td_embed_read(const unsigned char *p, size_t len, struct td_embed **out, size_t *used,
                  struct td_error *err);
/* As td_embed_read, but the vectors are used where they lie in p (a mapped
 * model file) instead of copied: p must outlive *out and stay unchanged. */
int td_embed_view(const unsigned char *p, size_t len, struct td_embed **out, size_t *used,
                  struct td_error *err);
/* Save/load a standalone embeddings file (magic "TDEMBED\0" + the above + XXH3). */
int td_embed_save(const struct td_embed *e, const char *path, struct td_error *err);
int td_embed_load(const char *path, struct td_embed **out, struct td_error *err);

#ifdef __cplusplus
}
#endif
#endif
