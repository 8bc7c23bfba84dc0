/*
 * text_int.h - internals of the text module (not installed).
 *
 * The normaliser is immutable after td_normaliser_load(): three small tables
 * built from the data files in data/text/ (see data/text/README.md):
 *
 *   confusables  sorted by code point, binary-searched.  Each maps one
 *                case-folded code point to 1..3 ASCII letters no longer than
 *                the code point's own UTF-8 encoding, so folding never makes
 *                the text longer and can be done in place.  "Script"
 *                confusables (Greek, Cyrillic, Armenian, Cherokee letters)
 *                are folded only inside words that are visibly mixed-script
 *                or that become a lexicon word; the others (small capitals,
 *                negative circled letters, ...) are always folded.
 *   leet         readings of digits and symbols, in preference order.
 *   lexicon      the obfuscation lexicon, sorted for exact look-up, with a
 *                per-length index for pattern matching (leet/censor).
 *
 * td_normalise() runs in two passes over the same output buffers:
 *   pass 1 (normalise.c)   bytes -> valid, NFKC-case-folded, mark-stripped,
 *                          invisible-free, single-spaced text + offset map;
 *                          it notes where it removed invisibles or folded
 *                          look-alikes ("events").
 *   pass 2 (deobfuscate.c) word by word, in place (it never lengthens the
 *                          text): confusables in mixed words, leet, censor
 *                          asterisks, spaced/dotted letters, stretched
 *                          letters; it records a td_fix for every word it
 *                          changed or that carried an event.
 */
#ifndef TD_TEXT_INT_H
#define TD_TEXT_INT_H

#include "threatdesk/text.h"

#include <stdint.h>

#define TD__LEX_MAXLEN 31 /* longest lexicon word */
#define TD__LEET_MAX 4    /* readings per leet character */

enum td__lex_class {
    TD__LEX_HARM,
    TD__LEX_PROFANITY,
    TD__LEX_SLUR,
    TD__LEX_SEXUAL,
    TD__LEX_THREAT,
    TD__LEX_TARGET,
};

struct td__confusable {
    uint32_t cp;
    char to[4];     /* NUL-terminated ASCII */
    uint8_t len;    /* strlen(to) */
    uint8_t script; /* 1: letter of another script (folded only in context) */
};

struct td__leet {
    uint32_t cp;
    char to[TD__LEET_MAX + 1]; /* readings, one letter each, preferred first */
    uint8_t n;
};

struct td__word {
    char w[TD__LEX_MAXLEN + 1];
    uint8_t len;
    uint8_t cls; /* enum td__lex_class */
};

struct td_normaliser {
    struct td__confusable *conf;
    size_t nconf;
    struct td__leet *leet; /* sorted by cp */
    size_t nleet;
    int8_t leet_ascii[128]; /* index into leet[] for ASCII chars, -1 if none */
    struct td__word *lex;   /* sorted by (len, word) */
    size_t nlex;
    size_t bylen[TD__LEX_MAXLEN + 2]; /* lex[bylen[n] .. bylen[n+1]) have length n */
};

/* Look-ups (data.c).  NULL / -1 when absent. */
const struct td__confusable *td__confusable_find(const struct td_normaliser *nz, uint32_t cp);
const struct td__leet *td__leet_find(const struct td_normaliser *nz, uint32_t cp);
/* Index of the lexicon word equal to w[0..n), or -1. */
long td__lex_find(const struct td_normaliser *nz, const char *w, size_t n);

/* Pass-1 events: something was removed or folded at output offset pos. */
struct td__event {
    size_t pos;
    unsigned kind; /* TD_FIX_INVISIBLE or TD_FIX_CONFUSABLE */
};

/* Scratch reused across calls (hangs off td_norm.priv_). */
struct td__scratch {
    struct td__event *ev;
    size_t nev, evcap;
    long fail_after; /* tests: > 0 makes that allocation fail (see below) */
};

/* Fault injection for tests: the k-th allocation td_normalise() makes into n
 * from now on fails (k = 0: never). */
int td__norm_fail_after(struct td_norm *n, long k);

int td__scratch_event(struct td_norm *n, size_t pos, unsigned kind);
int td__fix_push(struct td_norm *n, const struct td_fix *f);

/* td_normalise() with an explicit size limit (tests use a small one). */
int td__normalise_limit(const struct td_normaliser *nz, const char *src, size_t len, size_t limit,
                        struct td_norm *out, struct td_error *err);

/* Pass 2, in place on out (normalise.c calls it). */
int td__deobfuscate(const struct td_normaliser *nz, struct td_norm *out);

#endif
