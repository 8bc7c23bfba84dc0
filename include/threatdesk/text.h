/*
 * text.h - UTF-8 validation and normalisation with a map back to the
 * original bytes.
 *
 * Why: abuse is written to evade filters ("k1ll", "d e a d", "f***ing",
 * Cyrillic look-alikes, zero-width joiners), but evidence must point at the
 * exact bytes the sender wrote.  td_normalise() turns the original text into
 * one canonical form that the model and the grammar read, and records for
 * every byte of that form which original bytes produced it, so any span found
 * in normalised text maps back to a byte range of the original.
 *
 * The canonical form: valid UTF-8; NFKC compatibility folding and Unicode
 * case folding (utf8proc); combining marks stripped (kíll -> kill); zero-width
 * and control characters removed (newlines and tabs become one space, and
 * runs of white space become one space); confusable letters folded to ASCII
 * (data file); leetspeak inside words decoded (k1ll, k!ll, ki11) choosing,
 * when a character is ambiguous, the reading found in the obfuscation lexicon;
 * letters spaced or dotted out joined (d e a d, k.i.l.l); runs of three or
 * more repeated letters squeezed (diiiie -> die, killlll -> kill) preferring a
 * lexicon word; censoring asterisks undone where exactly one lexicon word
 * fits (f***ing -> fucking).
 *
 * Data files (loaded once by td_normaliser_load, read-only afterwards, so one
 * normaliser may be shared by many threads):
 *   <dir>/confusables.txt   "<codepoint-hex> <ascii>" lines, '#' comments
 *   <dir>/leet.txt          "<char> <letters...>" readings in preference order
 *   <dir>/obfuscation-lexicon.txt   "<word> <class>" lines: words worth recovering
 * Formats and the exact de-obfuscation rules: data/text/README.md.
 */
#ifndef THREATDESK_TEXT_H
#define THREATDESK_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "threatdesk/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Hard limit on one text: larger inputs fail with TD_ETOOBIG. */
#define TD_TEXT_MAX (64u * 1024 * 1024)

/* Kinds of obfuscation undone (bit set). */
enum td_fix_kind {
    TD_FIX_LEET = 1u << 0,       /* digits/symbols used as letters */
    TD_FIX_SPACED = 1u << 1,     /* letters spaced or dotted out */
    TD_FIX_REPEAT = 1u << 2,     /* letters stretched (diiiie) */
    TD_FIX_CENSORED = 1u << 3,   /* asterisks restored (f***) */
    TD_FIX_CONFUSABLE = 1u << 4, /* homoglyphs from other scripts */
    TD_FIX_INVISIBLE = 1u << 5,  /* zero-width / control characters removed */
};

/* One de-obfuscated word: normalised byte range and original byte range. */
struct td_fix {
    size_t norm_start, norm_end; /* in td_norm.text */
    size_t orig_start, orig_end; /* in the original input */
    unsigned kinds;              /* enum td_fix_kind bits */
};

/*
 * The result of normalising one text.  Caller-owned; initialise once with
 * td_norm_init(), pass to td_normalise() as often as you like (buffers are
 * reused, so a scan loop does not allocate per message), free with
 * td_norm_release().
 */
struct td_norm {
    char *text; /* normalised UTF-8, NUL-terminated (read-only) */
    size_t len; /* bytes in text */
    /* [len]: original offset of the char behind byte i, and just past that
     * char.  32 bits suffice (an input is at most TD_TEXT_MAX bytes) and
     * halve the map: 9 bytes per normalised byte with the text, not 17. */
    uint32_t *orig_start;
    uint32_t *orig_end;
    struct td_fix *fixes; /* [nfixes]: de-obfuscated words, in text order */
    size_t nfixes;
    unsigned fix_kinds;        /* union of all fixes' kinds */
    size_t invalid_utf8;       /* number of invalid sequences replaced by U+FFFD */
    size_t first_invalid_byte; /* original offset of the first one */
    size_t orig_len;           /* length of the original input */
    /* private: capacities and reusable scratch (text module internals) */
    size_t cap_, fixcap_;
    void *priv_;
};

struct td_normaliser; /* opaque, immutable after load */

/* Load the data files from dir.  On success *out is yours: free it with
 * td_normaliser_free(). */
int td_normaliser_load(const char *dir, struct td_normaliser **out, struct td_error *err);
void td_normaliser_free(struct td_normaliser *nz);

void td_norm_init(struct td_norm *n);
void td_norm_release(struct td_norm *n);

/*
 * Normalise len bytes at src into out.  Invalid UTF-8 is not fatal: each bad
 * sequence becomes U+FFFD, is counted in out->invalid_utf8, and the result is
 * still TD_OK.  Fails only for TD_ENOMEM and TD_ETOOBIG (len > TD_TEXT_MAX).
 */
int td_normalise(const struct td_normaliser *nz, const char *src, size_t len, struct td_norm *out,
                 struct td_error *err);

/* Map a half-open normalised range [ns, ne) back to the original bytes.
 * ne > ns required; clamps to the text. */
void td_norm_map(const struct td_norm *n, size_t ns, size_t ne, size_t *os, size_t *oe);

/* Validate UTF-8: returns the number of bytes forming a valid prefix (== len
 * when all valid). */
size_t td_utf8_valid_prefix(const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif
