/*
 * normalise.c - td_normalise() pass 1 and the td_norm lifecycle.
 *
 * Pass 1 reads the original bytes once, left to right, and writes the
 * canonical form with, for every output byte, the original byte range of the
 * source character behind it (orig_start/orig_end).  Everything is decided
 * one source character at a time, so the map stays exact:
 *
 *   ASCII (fast path)  lower-cased by table; tab/newline/CR/FF/VT are white
 *                      space; other C0 controls and DEL are dropped.
 *   invalid UTF-8      the maximal invalid subpart becomes one U+FFFD (counted,
 *                      first offset kept); never fatal.
 *   white space        any Unicode space separator (and NEL, braille blank)
 *                      is white space.  Runs of white space become a single
 *                      ' ' mapped to the first character of the run; white
 *                      space at either end is dropped (the space is emitted
 *                      lazily, before the next visible character).
 *   invisibles         controls, format characters (ZWSP, bidi controls,
 *                      soft hyphen, BOM, tags) and default-ignorables are
 *                      dropped.  ZWJ/ZWNJ between two non-Latin characters
 *                      (Persian, Urdu, Indic, emoji sequences) are kept since
 *                      there they are spelling, not obfuscation.
 *   combining marks    stripped after Latin and Greek letters (kíll -> kill,
 *                      Zalgo text), where they are decoration; kept after
 *                      other scripts (Cyrillic й, Devanagari vowel signs),
 *                      where removing them would change the letter.  A
 *                      stripped mark extends the map of the letter before it,
 *                      so the letter's span covers its marks.
 *   other characters   utf8proc: compatibility decomposition + case folding
 *                      (+ mark stripping for Latin/Greek), then canonical
 *                      recomposition of that one character's result (so
 *                      Hangul and accented non-Latin letters come out
 *                      composed).  NFKC expansions (U+FB01 -> "fi") map every
 *                      output byte to the one source character.
 *   look-alikes        code points in confusables.txt that are not letters
 *                      of another script (small capitals, negative circled
 *                      letters, ...) are folded to ASCII here; letters of
 *                      other scripts are left for pass 2, which folds them
 *                      only inside mixed-script words.
 *
 * Per-character normalisation is not full-string NFKC (a decomposed "e" +
 * U+0301 in Cyrillic context would not be recomposed), which is the price of
 * an exact per-character map; for Latin text the result is the same because
 * the marks are stripped anyway.
 */
#include "text/text_int.h"

#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

/* Pass 1 never needs more than this factor of the input (NFKC expansions are
 * bounded; the worst, U+FDFA, turns 3 bytes into 33).  A limit keeps a
 * hostile text from growing the buffers without bound. */
#define OUT_FACTOR 4

/* Original offsets are at most TD_TEXT_MAX: they fit td_norm's uint32_t maps. */
_Static_assert(TD_TEXT_MAX <= UINT32_MAX, "original offsets must fit uint32_t");

enum { A_KEEP, A_SPACE, A_DROP };
static const unsigned char ascii_action[128] = {
    [0x00] = A_DROP,  [0x01] = A_DROP,  [0x02] = A_DROP,  [0x03] = A_DROP,  [0x04] = A_DROP,
    [0x05] = A_DROP,  [0x06] = A_DROP,  [0x07] = A_DROP,  [0x08] = A_DROP,  [0x09] = A_SPACE,
    [0x0A] = A_SPACE, [0x0B] = A_SPACE, [0x0C] = A_SPACE, [0x0D] = A_SPACE, [0x0E] = A_DROP,
    [0x0F] = A_DROP,  [0x10] = A_DROP,  [0x11] = A_DROP,  [0x12] = A_DROP,  [0x13] = A_DROP,
    [0x14] = A_DROP,  [0x15] = A_DROP,  [0x16] = A_DROP,  [0x17] = A_DROP,  [0x18] = A_DROP,
    [0x19] = A_DROP,  [0x1A] = A_DROP,  [0x1B] = A_DROP,  [0x1C] = A_DROP,  [0x1D] = A_DROP,
    [0x1E] = A_DROP,  [0x1F] = A_DROP,  [0x20] = A_SPACE, [0x7F] = A_DROP,
};

void td_norm_init(struct td_norm *n)
{
    memset(n, 0, sizeof *n);
}

void td_norm_release(struct td_norm *n)
{
    if (!n)
        return;
    free(n->text);
    free(n->orig_start);
    free(n->orig_end);
    free(n->fixes);
    struct td__scratch *sc = n->priv_;
    if (sc) {
        free(sc->ev);
        free(sc);
    }
    td_norm_init(n);
}

static struct td__scratch *scratch(struct td_norm *n)
{
    if (!n->priv_)
        n->priv_ = calloc(1, sizeof(struct td__scratch));
    return n->priv_;
}

/* Every allocation of td_normalise() goes through here, so a test can make
 * the k-th one fail (td__norm_fail_after) and check the error paths. */
static void *norm_realloc(struct td_norm *n, void *p, size_t size)
{
    struct td__scratch *sc = n->priv_;
    if (sc && sc->fail_after > 0 && --sc->fail_after == 0)
        return NULL;
    return realloc(p, size);
}

int td__norm_fail_after(struct td_norm *n, long k)
{
    struct td__scratch *sc = scratch(n);
    if (!sc)
        return TD_ENOMEM;
    sc->fail_after = k;
    return TD_OK;
}

int td__scratch_event(struct td_norm *n, size_t pos, unsigned kind)
{
    struct td__scratch *sc = scratch(n);
    if (!sc)
        return TD_ENOMEM;
    if (sc->nev && sc->ev[sc->nev - 1].pos == pos && sc->ev[sc->nev - 1].kind == kind)
        return TD_OK;
    if (sc->nev == sc->evcap) {
        size_t cap = sc->evcap ? sc->evcap * 2 : 64;
        void *p = norm_realloc(n, sc->ev, cap * sizeof *sc->ev);
        if (!p)
            return TD_ENOMEM;
        sc->ev = p;
        sc->evcap = cap;
    }
    sc->ev[sc->nev].pos = pos;
    sc->ev[sc->nev].kind = kind;
    sc->nev++;
    return TD_OK;
}

int td__fix_push(struct td_norm *n, const struct td_fix *f)
{
    if (n->nfixes == n->fixcap_) {
        size_t cap = n->fixcap_ ? n->fixcap_ * 2 : 32;
        void *p = norm_realloc(n, n->fixes, cap * sizeof *n->fixes);
        if (!p)
            return TD_ENOMEM;
        n->fixes = p;
        n->fixcap_ = cap;
    }
    n->fixes[n->nfixes++] = *f;
    n->fix_kinds |= f->kinds;
    return TD_OK;
}

/* Make room for need output bytes (plus the NUL). */
static int reserve(struct td_norm *n, size_t need, size_t max)
{
    if (need > max)
        return TD_ETOOBIG; /* checked first: a reused buffer may be larger */
    if (need <= n->cap_)
        return TD_OK;
    size_t cap = n->cap_ ? n->cap_ : 256;
    while (cap < need)
        cap *= 2;
    if (cap > max)
        cap = max;
    char *t = norm_realloc(n, n->text, cap + 1);
    if (!t)
        return TD_ENOMEM;
    n->text = t;
    uint32_t *s = norm_realloc(n, n->orig_start, cap * sizeof *s);
    if (!s)
        return TD_ENOMEM;
    n->orig_start = s;
    uint32_t *e = norm_realloc(n, n->orig_end, cap * sizeof *e);
    if (!e)
        return TD_ENOMEM;
    n->orig_end = e;
    n->cap_ = cap;
    return TD_OK;
}

/* Latin and Greek: marks on these letters are decoration (see header). */
static int latin_greek(uint32_t cp)
{
    return cp < 0x0250 || (cp >= 0x0370 && cp < 0x0400) || (cp >= 0x1E00 && cp < 0x2000) ||
           (cp >= 0x2C60 && cp < 0x2C80) || (cp >= 0xA720 && cp < 0xA800) ||
           (cp >= 0xAB30 && cp < 0xAB70) || (cp >= 0xFF00 && cp < 0xFF60);
}

/* Styled Latin letters that NFKC turns into plain ones: fullwidth,
 * mathematical alphanumerics, circled/parenthesised/squared letters.  Using
 * them is an obfuscation worth recording, unlike an "ﬁ" ligature. */
static int styled_latin(uint32_t cp)
{
    return (cp >= 0xFF21 && cp <= 0xFF5A) || (cp >= 0x1D400 && cp <= 0x1D7FF) ||
           (cp >= 0x249C && cp <= 0x24E9) || (cp >= 0x1F110 && cp <= 0x1F189);
}

static int is_space_cp(uint32_t cp, int cat)
{
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
           cat == UTF8PROC_CATEGORY_ZP || cp == 0x85 || cp == 0x2800;
}

/* Length of the maximal invalid subpart starting at s[0] (>= 1): a valid
 * lead byte followed by as many continuation bytes as it could still take. */
static size_t invalid_len(const unsigned char *s, size_t len)
{
    unsigned char b = s[0];
    size_t want = b >= 0xC2 && b <= 0xDF   ? 2
                  : b >= 0xE0 && b <= 0xEF ? 3
                  : b >= 0xF0 && b <= 0xF4 ? 4
                                           : 1;
    size_t k = 1;
    while (k < want && k < len && (s[k] & 0xC0) == 0x80) {
        /* Second-byte ranges that make the sequence overlong or a surrogate
         * end the subpart at the lead byte. */
        if (k == 1 && ((b == 0xE0 && s[1] < 0xA0) || (b == 0xED && s[1] > 0x9F) ||
                       (b == 0xF0 && s[1] < 0x90) || (b == 0xF4 && s[1] > 0x8F)))
            break;
        k++;
    }
    return k;
}

size_t td_utf8_valid_prefix(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(u + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0)
            break;
        i += (size_t)n;
    }
    return i;
}

struct p1 {
    struct td_norm *out;
    unsigned char *t;
    uint32_t *os, *oe;
    size_t o;
    int pend;              /* a space is owed before the next visible char */
    size_t pend_s, pend_e; /* its source range */
    uint32_t last_cp;      /* last code point emitted by the slow path */
    int strip_ctx;         /* marks after the last character are stripped */
};

static void p1_sync(struct p1 *p)
{
    p->t = (unsigned char *)p->out->text;
    p->os = p->out->orig_start;
    p->oe = p->out->orig_end;
}

static inline void p1_flush_space(struct p1 *p)
{
    if (p->pend) {
        p->t[p->o] = ' ';
        p->os[p->o] = (uint32_t)p->pend_s;
        p->oe[p->o] = (uint32_t)p->pend_e;
        p->o++;
        p->pend = 0;
    }
}

static inline void p1_space(struct p1 *p, size_t s, size_t e)
{
    if (!p->pend && p->o > 0) {
        p->pend = 1;
        p->pend_s = s;
        p->pend_e = e;
    }
    p->strip_ctx = 1;
}

static void p1_emit_cp(struct p1 *p, uint32_t cp, size_t s, size_t e)
{
    utf8proc_uint8_t enc[4];
    utf8proc_ssize_t k = utf8proc_encode_char((utf8proc_int32_t)cp, enc);
    p1_flush_space(p);
    for (utf8proc_ssize_t j = 0; j < k; j++) {
        p->t[p->o] = enc[j];
        p->os[p->o] = (uint32_t)s;
        p->oe[p->o] = (uint32_t)e;
        p->o++;
    }
}

/* A ZWJ/ZWNJ is kept between two non-Latin characters. */
static int keep_joiner(struct p1 *p, const unsigned char *u, size_t len, size_t next)
{
    if (p->pend || p->o == 0 || p->t[p->o - 1] < 0x80 || p->last_cp < 0x0590 || next >= len)
        return 0;
    utf8proc_int32_t cp;
    if (utf8proc_iterate(u + next, (utf8proc_ssize_t)(len - next), &cp) <= 0)
        return 0;
    return cp >= 0x0590;
}

int td__normalise_limit(const struct td_normaliser *nz, const char *src, size_t len, size_t limit,
                        struct td_norm *out, struct td_error *err)
{
    int rc = TD_OK;
    const unsigned char *u = (const unsigned char *)src;
    if (limit > TD_TEXT_MAX) /* offsets beyond it would not fit the maps */
        limit = TD_TEXT_MAX;
    size_t max = limit * OUT_FACTOR + 64;

    out->len = 0;
    out->nfixes = 0;
    out->fix_kinds = 0;
    out->invalid_utf8 = 0;
    out->first_invalid_byte = 0;
    out->orig_len = len;
    if (len > limit) {
        rc = td_error_set(err, TD_ETOOBIG, "text of %zu bytes exceeds the %zu-byte limit", len,
                          limit);
        goto out;
    }
    struct td__scratch *sc = scratch(out);
    if (!sc)
        goto nomem;
    if ((rc = reserve(out, len + 8, max)))
        goto fail;
    sc->nev = 0;

    struct p1 p = {.out = out, .strip_ctx = 1};
    p1_sync(&p);
    size_t i = 0;
    while (i < len) {
        unsigned char b = u[i];
        if (b < 0x80) {
            /* ASCII fast path: output never outruns input here. */
            switch (ascii_action[b]) {
            case A_KEEP:
                p1_flush_space(&p);
                p.t[p.o] = (unsigned char)(b >= 'A' && b <= 'Z' ? b + 32 : b);
                p.os[p.o] = (uint32_t)i;
                p.oe[p.o] = (uint32_t)(i + 1);
                p.o++;
                p.strip_ctx = 1;
                break;
            case A_SPACE:
                p1_space(&p, i, i + 1);
                break;
            default:
                if ((rc = td__scratch_event(out, p.o, TD_FIX_INVISIBLE)))
                    goto nomem;
            }
            i++;
            continue;
        }

        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(u + i, (utf8proc_ssize_t)(len - i), &cp);
        /* Room for: the owed space, this character's worst expansion
         * (18 code points of 4 bytes), and the rest of the input at 1:1. */
        if ((rc = reserve(out, p.o + 1 + 18 * 4 + (len - i), max)))
            goto fail;
        p1_sync(&p);
        if (n <= 0) {
            size_t k = invalid_len(u + i, len - i);
            if (out->invalid_utf8++ == 0)
                out->first_invalid_byte = i;
            p1_emit_cp(&p, 0xFFFD, i, i + k);
            p.last_cp = 0xFFFD;
            p.strip_ctx = 0;
            i += k;
            continue;
        }
        size_t e = i + (size_t)n;
        const utf8proc_property_t *pr = utf8proc_get_property(cp);
        int cat = pr->category;

        if (is_space_cp((uint32_t)cp, cat)) {
            p1_space(&p, i, e);
        } else if ((cp == 0x200C || cp == 0x200D) && keep_joiner(&p, u, len, e)) {
            p1_emit_cp(&p, (uint32_t)cp, i, e);
        } else if (pr->ignorable || cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF) {
            /* Variation selectors decorate emoji; a BOM opens files. */
            int quiet = (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xE0100 && cp <= 0xE01EF) ||
                        (cp == 0xFEFF && p.o == 0);
            if (!quiet && (rc = td__scratch_event(out, p.o, TD_FIX_INVISIBLE)))
                goto nomem;
        } else if (cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC ||
                   cat == UTF8PROC_CATEGORY_ME) {
            int attached = !p.pend && p.o > 0 && p.oe[p.o - 1] == i;
            if (!attached || p.t[p.o - 1] < 0x80 || p.strip_ctx) {
                if (attached) {
                    /* Widen the letter's span over its stripped mark. */
                    size_t k = p.o, s0 = p.os[p.o - 1];
                    while (k > 0 && p.os[k - 1] == s0)
                        p.oe[--k] = (uint32_t)e;
                }
            } else {
                p1_emit_cp(&p, (uint32_t)cp, i, e);
                p.last_cp = (uint32_t)cp;
            }
        } else {
            utf8proc_int32_t buf[32];
            int bc = 0;
            utf8proc_option_t opt = UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_DECOMPOSE;
            if (latin_greek((uint32_t)cp))
                opt |= UTF8PROC_STRIPMARK;
            utf8proc_ssize_t m = utf8proc_decompose_char(cp, buf, 32, opt, &bc);
            if (m < 0 || m > 32) {
                buf[0] = cp;
                m = 1;
            }
            if (m > 1)
                m = utf8proc_normalize_utf32(buf, m, UTF8PROC_COMPOSE);
            int styled = styled_latin((uint32_t)cp);
            for (utf8proc_ssize_t k = 0; k < m; k++) {
                uint32_t c = (uint32_t)buf[k];
                if (c == ' ') {
                    p1_space(&p, i, e);
                    continue;
                }
                if (c < 0x80) {
                    if (styled && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) &&
                        (rc = td__scratch_event(out, p.o + (p.pend ? 1 : 0), TD_FIX_CONFUSABLE)))
                        goto nomem;
                    p1_emit_cp(&p, c, i, e);
                    continue;
                }
                const struct td__confusable *cf = td__confusable_find(nz, c);
                if (cf && !cf->script) {
                    if ((rc = td__scratch_event(out, p.o + (p.pend ? 1 : 0), TD_FIX_CONFUSABLE)))
                        goto nomem;
                    for (unsigned j = 0; j < cf->len; j++)
                        p1_emit_cp(&p, (unsigned char)cf->to[j], i, e);
                } else {
                    p1_emit_cp(&p, c, i, e);
                }
            }
            if (m > 0) {
                p.last_cp = (uint32_t)buf[m - 1];
                p.strip_ctx = latin_greek((uint32_t)buf[0]);
            }
        }
        i = e;
    }
    out->len = p.o;
    out->text[out->len] = '\0';
    if ((rc = td__deobfuscate(nz, out)))
        goto nomem;
    return TD_OK;
nomem:
    rc = TD_ENOMEM;
fail:
    if (rc == TD_ETOOBIG)
        td_error_set(err, rc, "normalised text would exceed %zu bytes", max);
    else
        td_error_set(err, rc, NULL);
out:
    out->len = 0;
    out->nfixes = 0;
    if (out->text)
        out->text[0] = '\0';
    return rc;
}

int td_normalise(const struct td_normaliser *nz, const char *src, size_t len, struct td_norm *out,
                 struct td_error *err)
{
    return td__normalise_limit(nz, src, len, TD_TEXT_MAX, out, err);
}

void td_norm_map(const struct td_norm *n, size_t ns, size_t ne, size_t *os, size_t *oe)
{
    if (n->len == 0) {
        *os = *oe = 0;
        return;
    }
    if (ns >= n->len)
        ns = n->len - 1;
    if (ne > n->len)
        ne = n->len;
    if (ne <= ns)
        ne = ns + 1;
    *os = n->orig_start[ns];
    *oe = n->orig_end[ne - 1];
    if (*oe < *os)
        *oe = *os;
}
