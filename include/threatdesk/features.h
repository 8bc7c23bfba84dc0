/*
 * features.h - hashed n-gram features of normalised text.
 *
 * The feature set of the linear model (model.h), fastText-style: word
 * unigrams, word bigrams, and character n-grams of lengths 3..5 over each
 * word wrapped in '<' '>' (so prefixes and suffixes are their own grams),
 * each hashed with XXH3 (a different seed per kind) into 2^bits buckets.
 * Character grams make the model robust to spelling variants the
 * normaliser does not undo; bigrams catch "go back", "kill yourself".
 *
 * Every feature remembers the word it came from, so the model can say
 * which words drove a score (spans in the verdict).
 */
#ifndef THREATDESK_FEATURES_H
#define THREATDESK_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TD_FEAT_MAX_WORDS 4096  /* words beyond this are not featurised */
#define TD_FEAT_MAX_WORD_LEN 48 /* longer words get no char grams */

struct td_word {
    size_t start, end; /* byte range in the normalised text */
};

/* Caller-owned, reused across calls (td_features_init/_release). */
struct td_features {
    uint32_t *idx;  /* [n] bucket of each feature */
    uint16_t *word; /* [n] index into words of the (first) word it came from */
    size_t n;
    float value; /* the value of every feature: 1/sqrt(n) (L2-normalised) */
    struct td_word *words;
    size_t nwords;
    /* private */
    size_t cap_, wcap_;
};

void td_features_init(struct td_features *f);
void td_features_release(struct td_features *f);

/* Extract features of len bytes of normalised text into 2^bits buckets
 * (bits in 10..26).  Returns TD_OK or TD_ENOMEM. */
int td_features_extract(const char *text, size_t len, unsigned bits, struct td_features *f);

#ifdef __cplusplus
}
#endif
#endif
