/*
 * deobfuscate.c - td_normalise() pass 2: undo word-level obfuscation, in
 * place, and record a td_fix for every word changed.
 *
 * Input: pass 1's text (single-spaced, trimmed, case-folded) and its byte map.
 * The pass walks it word by word with a read cursor r and a write cursor w;
 * no rule ever makes a word longer (a leet symbol, a '*' or a confusable
 * becomes one ASCII letter no longer than itself; joining and squeezing
 * drop bytes), so w <= r always and the rewrite needs no second buffer.
 *
 * A word is first looked at byte by byte through a class table; plain words
 * ("hello", "world.") are copied as they are - the fast path for ordinary
 * text.  Only words with a leet character, a '*', a non-ASCII letter or a
 * run of three identical letters are decoded into code-point positions, each
 * with the set of letters it may stand for (a bit mask over a..z):
 *
 *   letter a-z      itself            '*'            any letter (censored)
 *   leet char       its readings      script letter  its confusable letter
 *   anything else   nothing (cannot be part of a lexicon word)
 *
 * and matched against the obfuscation lexicon (see data/text/README.md for
 * the rules and their order).  Matching tries every combination at once: a
 * lexicon word of the right length matches when each of its letters is in
 * the mask of its position; stretched letters give variants with each run
 * kept once or twice.  Leading/trailing non-letters are cut off one at a
 * time until a match is found (k!ll! -> kill!).
 *
 * Spaced letters: a run of >= 3 single-character words ("d i e") or a word
 * of >= 3 single characters joined by one repeated separator ("k.i.l.l") is
 * segmented into lexicon words by dynamic programming (most letters covered,
 * then fewest segments); segments become words, a space between two
 * segments maps back to the separator that stood there.
 *
 * Offsets: every output byte keeps the original range of the character it
 * came from; a letter kept for a squeezed run spans the whole run, so a fix
 * maps back from its first to its last original byte.
 */
#include "text/text_int.h"

#include <string.h>

#include <utf8proc.h>

#define MAXPOS 64 /* longer words are left alone */
#define ALL_LETTERS 0x3FFFFFFu

enum pkind { P_LETTER, P_CONF, P_LEET, P_STAR, P_OTHER };

struct pos {
    size_t b0, b1; /* bytes in the pass-1 text */
    size_t os, oe; /* original range */
    uint32_t cp;
    uint32_t mask; /* letters this position may stand for */
    const struct td__leet *leet;
    char conf;          /* confusable letter, or 0 */
    unsigned char kind; /* enum pkind */
};

struct p2 {
    const struct td_normaliser *nz;
    struct td_norm *n;
    struct td__scratch *sc;
    size_t ev; /* next event to attribute */
    size_t w;  /* write cursor */
    struct pos p[MAXPOS];
    size_t np;
};

/* ---- output ------------------------------------------------------------ */

static inline void put(struct p2 *s, char c, size_t os, size_t oe)
{
    s->n->text[s->w] = c;
    s->n->orig_start[s->w] = (uint32_t)os;
    s->n->orig_end[s->w] = (uint32_t)oe;
    s->w++;
}

/* Copy pass-1 bytes [b0, b1) to the write cursor (b0 >= w). */
static void copy_raw(struct p2 *s, size_t b0, size_t b1)
{
    size_t k = b1 - b0;
    if (s->w != b0) {
        memmove(s->n->text + s->w, s->n->text + b0, k);
        memmove(s->n->orig_start + s->w, s->n->orig_start + b0, k * sizeof *s->n->orig_start);
        memmove(s->n->orig_end + s->w, s->n->orig_end + b0, k * sizeof *s->n->orig_end);
    }
    s->w += k;
}

static void space(struct p2 *s, size_t os, size_t oe)
{
    if (s->w > 0 && s->n->text[s->w - 1] != ' ')
        put(s, ' ', os, oe);
}

/* Kinds of the pass-1 events inside pass-1 bytes [b0, b1]. */
static unsigned events(struct p2 *s, size_t b0, size_t b1)
{
    unsigned k = 0;
    while (s->ev < s->sc->nev && s->sc->ev[s->ev].pos <= b1) {
        const struct td__event *e = &s->sc->ev[s->ev];
        /* An invisible at a word's edge (a bidi mark, a stray control) hides
         * nothing; inside a word (ki<ZWSP>ll) it splits it. */
        if (e->kind == TD_FIX_INVISIBLE ? e->pos > b0 && e->pos < b1 : e->pos >= b0)
            k |= e->kind;
        s->ev++;
    }
    return k;
}

static int fix(struct p2 *s, size_t ws, unsigned kinds)
{
    if (!kinds || ws >= s->w)
        return TD_OK;
    struct td_fix f = {ws, s->w, s->n->orig_start[ws], s->n->orig_end[s->w - 1], kinds};
    return td__fix_push(s->n, &f);
}

/* ---- decoding a word into positions ----------------------------------- */

static int decode(struct p2 *s, size_t b0, size_t b1)
{
    const unsigned char *t = (const unsigned char *)s->n->text;
    s->np = 0;
    size_t i = b0;
    while (i < b1) {
        /* A letter stretched past three copies folds into the third, so
         * "nooooo...o" of any length fits; the third spans the rest. */
        if (s->np >= 3 && t[i] >= 'a' && t[i] <= 'z' && s->p[s->np - 1].cp == t[i] &&
            s->p[s->np - 2].cp == t[i] && s->p[s->np - 3].cp == t[i]) {
            s->p[s->np - 1].b1 = i + 1;
            s->p[s->np - 1].oe = s->n->orig_end[i];
            i++;
            continue;
        }
        if (s->np == MAXPOS)
            return 0;
        struct pos *q = &s->p[s->np++];
        memset(q, 0, sizeof *q);
        utf8proc_int32_t cp = t[i];
        size_t k = 1;
        if (cp >= 0x80) {
            utf8proc_ssize_t r = utf8proc_iterate(t + i, (utf8proc_ssize_t)(b1 - i), &cp);
            k = r > 0 ? (size_t)r : 1;
        }
        q->b0 = i;
        q->b1 = i + k;
        q->os = s->n->orig_start[i];
        q->oe = s->n->orig_end[i + k - 1];
        q->cp = (uint32_t)cp;
        const struct td__confusable *cf;
        if (cp >= 'a' && cp <= 'z') {
            q->kind = P_LETTER;
            q->mask = 1u << (cp - 'a');
        } else if (cp == '*') {
            q->kind = P_STAR;
            q->mask = ALL_LETTERS;
        } else if ((q->leet = td__leet_find(s->nz, (uint32_t)cp))) {
            q->kind = P_LEET;
            for (unsigned j = 0; j < q->leet->n; j++)
                q->mask |= 1u << (q->leet->to[j] - 'a');
        } else if (cp >= 0x80 && (cf = td__confusable_find(s->nz, (uint32_t)cp)) && cf->script) {
            q->kind = P_CONF;
            q->conf = cf->to[0];
            q->mask = 1u << (q->conf - 'a');
        } else {
            q->kind = P_OTHER;
        }
        i += k;
    }
    return 1;
}

/* Sentence punctuation that may follow a dotted word ("k.i.l.l!"). */
static int punct(const struct pos *q)
{
    return q->cp < 128 && q->cp && strchr(".,!?;:", (int)q->cp) != NULL;
}

static int is_letterish(const struct pos *q)
{
    return q->kind == P_LETTER || q->kind == P_CONF;
}

/* ---- lexicon matching --------------------------------------------------- */

struct match {
    long word;      /* lexicon index, -1 if none */
    unsigned score; /* lower is better */
    uint64_t runs;  /* bit r: run r kept twice */
};

struct run {
    size_t at, len; /* positions [at, at+len) hold one letter >= 3 times */
};

static size_t find_runs(const struct pos *p, size_t n, struct run *runs, size_t max)
{
    size_t nr = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        if (p[i].kind == P_LETTER)
            while (j < n && p[j].kind == P_LETTER && p[j].cp == p[i].cp)
                j++;
        if (j - i >= 3 && nr < max)
            runs[nr++] = (struct run){i, j - i};
        i = j;
    }
    return nr;
}

/* Cost of reading position q as letter c: 0 for the preferred reading. */
static unsigned cost(const struct pos *q, char c)
{
    if (q->kind != P_LEET)
        return 0;
    for (unsigned j = 0; j < q->leet->n; j++)
        if (q->leet->to[j] == c)
            return j;
    return 9;
}

static int tier(const struct td__word *w)
{
    return w->cls == TD__LEX_PROFANITY || w->cls == TD__LEX_SEXUAL || w->cls == TD__LEX_SLUR;
}

/*
 * Match positions p[0..n) against the lexicon.  Stars need a unique word
 * (within the first class tier that has any candidate); otherwise the
 * cheapest reading wins.
 */
static struct match lex_match(const struct td_normaliser *nz, const struct pos *p, size_t n)
{
    struct match best = {-1, ~0u, 0};
    struct run runs[4];
    size_t nr = find_runs(p, n, runs, 4);
    int stars = 0, letters = 0, digits = 0;
    for (size_t i = 0; i < n; i++) {
        stars += p[i].kind == P_STAR;
        letters += is_letterish(&p[i]);
        digits += p[i].kind == P_LEET && p[i].cp >= '0' && p[i].cp <= '9';
        if (p[i].kind == P_OTHER)
            return best;
    }
    /* More digits than letters is a number with a unit ("600k"), not a word. */
    if (!letters || digits > letters)
        return best;
    /* Censoring keeps the first letter ("f***", never "*hits", which is
     * emphasis); stars only at the end must be at least as many as the
     * letters ("f***", "sh**", but not "bitch**" or a footnote "word*"). */
    if (stars) {
        if (p[0].kind == P_STAR || n - (size_t)stars < 2)
            return best; /* "n***" could be anything */
        size_t last_letter = 0;
        for (size_t i = 0; i < n; i++)
            if (p[i].kind != P_STAR)
                last_letter = i;
        if (last_letter + 1 < n && (size_t)stars == n - 1 - last_letter &&
            (size_t)stars < last_letter + 1)
            return best;
    }
    long cand[2] = {-1, -1}; /* stars: the unique candidate per tier */
    uint64_t cruns[2] = {0, 0};
    int ncand[2] = {0, 0};
    const struct pos *seq[MAXPOS];
    for (uint64_t v = 0; v < (1u << nr); v++) {
        /* Build this variant: run r keeps 1 + bit r copies. */
        size_t m = 0, r = 0;
        for (size_t i = 0; i < n;) {
            if (r < nr && runs[r].at == i) {
                size_t keep = 1 + ((v >> r) & 1);
                for (size_t k = 0; k < keep; k++)
                    seq[m++] = &p[i + k];
                i += runs[r].len;
                r++;
            } else {
                seq[m++] = &p[i++];
            }
        }
        if (m < 2 || m > TD__LEX_MAXLEN)
            continue;
        for (size_t wi = nz->bylen[m]; wi < nz->bylen[m + 1]; wi++) {
            const struct td__word *w = &nz->lex[wi];
            unsigned sc = 0;
            size_t k;
            for (k = 0; k < m; k++) {
                if (!(seq[k]->mask & (1u << (w->w[k] - 'a'))))
                    break;
                sc += cost(seq[k], w->w[k]);
            }
            if (k < m)
                continue;
            if (stars) {
                int t = tier(w) ? 0 : 1;
                if (cand[t] != (long)wi) {
                    ncand[t]++;
                    cand[t] = (long)wi;
                    cruns[t] = v;
                }
            } else if (sc < best.score) {
                best.word = (long)wi;
                best.score = sc;
                best.runs = v;
            }
        }
    }
    if (stars) {
        int t = ncand[0] ? 0 : 1;
        best.word = ncand[t] == 1 ? cand[t] : -1;
        best.runs = cruns[t];
        best.score = 0;
    }
    return best;
}

/* Write lexicon word wi over positions p[0..n) using run variant v. */
static unsigned write_word(struct p2 *s, const struct pos *p, size_t n, long wi, uint64_t v)
{
    const char *w = s->nz->lex[wi].w;
    struct run runs[4];
    size_t nr = find_runs(p, n, runs, 4), r = 0, k = 0;
    unsigned kinds = 0;
    for (size_t i = 0; i < n;) {
        if (r < nr && runs[r].at == i) {
            size_t keep = 1 + ((v >> r) & 1), last = i + runs[r].len - 1;
            for (size_t j = 0; j < keep; j++)
                put(s, w[k++], p[i + j].os, j + 1 == keep ? p[last].oe : p[i + j].oe);
            kinds |= TD_FIX_REPEAT;
            i += runs[r].len;
            r++;
            continue;
        }
        const struct pos *q = &p[i++];
        kinds |= q->kind == P_LEET   ? TD_FIX_LEET
                 : q->kind == P_STAR ? TD_FIX_CENSORED
                 : q->kind == P_CONF ? TD_FIX_CONFUSABLE
                                     : 0;
        put(s, w[k++], q->os, q->oe);
    }
    return kinds;
}

/* ---- one word ------------------------------------------------------------ */

/* URLs, e-mail addresses and @mentions: names, not words. */
static int url_like(const char *t, size_t n)
{
    if (n >= 4 && !memcmp(t, "www.", 4))
        return 1;
    for (size_t i = 0; i + 2 < n; i++)
        if (t[i] == ':' && t[i + 1] == '/' && t[i + 2] == '/')
            return 1;
    const char *at = memchr(t, '@', n);
    if (!at)
        return 0;
    /* "@name" after punctuation (not "r@pe"), or "x@y.z". */
    unsigned char before = at > t ? (unsigned char)at[-1] : ' ';
    if (!((before >= 'a' && before <= 'z') || before >= 0x80 || (before >= '0' && before <= '9')))
        return 1;
    return memchr(at, '.', n - (size_t)(at - t)) != NULL;
}

/* Word with no lexicon match: the conservative rewrites (README rule 4). */
static unsigned write_fallback(struct p2 *s, const struct pos *p, size_t n)
{
    int ascii_letter = 0, roman = 1;
    size_t letters = 0;
    for (size_t i = 0; i < n; i++) {
        ascii_letter |= p[i].kind == P_LETTER;
        letters += is_letterish(&p[i]);
        if (is_letterish(&p[i]) && !(p[i].cp < 128 && strchr("ivxlcdm", (int)p[i].cp)))
            roman = 0;
    }
    unsigned kinds = 0;
    for (size_t i = 0; i < n;) {
        const struct pos *q = &p[i];
        /* Squeeze stretched letters, but not "xxx" (kisses), "kkk" (the
         * Klan: "demokkkrats"), a word that is all one letter ("AAA",
         * "zzz") or a Roman numeral ("VIII"). */
        if (q->kind == P_LETTER && q->cp != 'x' && !roman) {
            size_t j = i + 1;
            while (j < n && p[j].kind == P_LETTER && p[j].cp == q->cp)
                j++;
            int kkk = q->cp == 'k' && p[j - 1].b1 - q->b0 == 3; /* the Klan */
            if (j - i >= 3 && j - i < letters && !kkk) {
                put(s, (char)q->cp, q->os, p[j - 1].oe);
                kinds |= TD_FIX_REPEAT;
                i = j;
                continue;
            }
        }
        if (q->kind == P_CONF && ascii_letter) {
            put(s, q->conf, q->os, q->oe);
            kinds |= TD_FIX_CONFUSABLE;
        } else {
            copy_raw(s, q->b0, q->b1);
        }
        i++;
    }
    return kinds;
}

static int do_spaced(struct p2 *s, const struct pos *L, size_t k, const size_t *sep_os,
                     const size_t *sep_oe, size_t raw0, size_t raw1, unsigned ev);

static int do_word(struct p2 *s, size_t b0, size_t b1)
{
    size_t ws = s->w;
    unsigned ev = events(s, b0, b1);
    const char *t = s->n->text;
    if (url_like(t + b0, b1 - b0) || !decode(s, b0, b1)) {
        copy_raw(s, b0, b1);
        return fix(s, ws, ev);
    }
    struct pos *p = s->p;
    size_t n = s->np;

    /* Dotted letters: L s L s L ... with one separator, maybe trailing
     * punctuation. */
    size_t end = n;
    while (end > 0 && punct(&p[end - 1]))
        end--;
    if (end >= 5 && (end & 1) && (p[1].cp == '.' || p[1].cp == '-' || p[1].cp == '_')) {
        int ok = 1;
        for (size_t i = 0; i < end && ok; i++)
            ok = i & 1 ? p[i].cp == p[1].cp : p[i].kind != P_OTHER && p[i].kind != P_STAR;
        if (ok) {
            struct pos L[MAXPOS / 2 + 1];
            size_t so[MAXPOS / 2], se[MAXPOS / 2], k = 0;
            for (size_t i = 0; i < end; i += 2) {
                L[k] = p[i];
                if (i + 1 < end) {
                    so[k] = p[i + 1].os;
                    se[k] = p[i + 1].oe;
                }
                k++;
            }
            size_t tail0 = end < n ? p[end].b0 : b1;
            int rc = do_spaced(s, L, k, so, se, b0, tail0, ev);
            if (rc)
                return rc;
            copy_raw(s, tail0, b1);
            return TD_OK;
        }
    }

    /* Cut non-letters off the edges until the core matches the lexicon. */
    size_t lead = 0, trail = 0;
    while (lead < n && !is_letterish(&p[lead]))
        lead++;
    if (lead == n) { /* no letter at all: numbers, symbols */
        copy_raw(s, b0, b1);
        return fix(s, ws, ev);
    }
    while (!is_letterish(&p[n - 1 - trail]))
        trail++;
    /* Only leet characters and stars can belong to a word, so anything else
     * on an edge must be cut ("#tag", "(k1ll)"), and anything else between
     * the letters rules a match out.  At most 3 edge characters are tried as
     * letters on each side ($hoot, a$$). */
    size_t amin = lead, zmin = trail;
    while (amin > 0 && (p[amin - 1].kind == P_LEET || p[amin - 1].kind == P_STAR))
        amin--;
    while (zmin > 0 && (p[n - zmin].kind == P_LEET || p[n - zmin].kind == P_STAR))
        zmin--;
    if (lead - amin > 3)
        amin = lead - 3;
    if (trail - zmin > 3)
        zmin = trail - 3;
    int feature = amin < lead || zmin < trail;
    for (size_t i = lead; i < n - trail; i++) {
        if (p[i].kind == P_OTHER)
            goto fallback;
        feature |=
            p[i].kind != P_LETTER || (i >= 2 && p[i].cp == p[i - 1].cp && p[i].cp == p[i - 2].cp);
    }
    if (!feature)
        goto fallback;
    /* The cheapest reading over all cuts; ties go to the smaller cut, so
     * "killllll!" keeps its '!' rather than reading it as an 'l'. */
    struct match best = {-1, ~0u, 0};
    size_t ba = 0, bz = 0;
    for (size_t cut = amin + zmin; cut <= lead + trail; cut++) {
        for (size_t a = amin; a <= cut - zmin; a++) {
            size_t z = cut - a;
            if (a > lead || z > trail)
                continue;
            struct match m = lex_match(s->nz, p + a, n - a - z);
            if (m.word >= 0 && m.score < best.score) {
                best = m;
                ba = a;
                bz = z;
            }
        }
    }
    if (best.word >= 0) {
        /* Worth it only if something was obfuscated. */
        const struct td__word *w = &s->nz->lex[best.word];
        if (w->len == n - ba - bz && !memcmp(w->w, t + p[ba].b0, w->len))
            goto fallback;
        if (ba)
            copy_raw(s, b0, p[ba].b0);
        size_t cs = s->w;
        unsigned kinds = write_word(s, p + ba, n - ba - bz, best.word, best.runs);
        int rc = fix(s, cs, kinds | ev);
        if (!rc && bz)
            copy_raw(s, p[n - bz].b0, b1);
        return rc;
    }
fallback:
    return fix(s, ws, write_fallback(s, p, n) | ev);
}

/* ---- spaced letters ------------------------------------------------------ */

/*
 * L[0..k): the letters; sep_os/sep_oe[i]: the separator after L[i].
 * raw0..raw1: the pass-1 bytes of the whole run, copied as they are when
 * nothing is joined.
 */
static int do_spaced(struct p2 *s, const struct pos *L, size_t k, const size_t *sep_os,
                     const size_t *sep_oe, size_t raw0, size_t raw1, unsigned ev)
{
    /* best[i]: letters covered and segments used for L[0..i). */
    unsigned cov[MAXPOS + 1], segs[MAXPOS + 1];
    size_t from[MAXPOS + 1];
    long word[MAXPOS + 1];
    int letters = 0, all_plain = 1;
    for (size_t i = 0; i < k; i++) {
        letters += is_letterish(&L[i]);
        all_plain &= L[i].kind == P_LETTER;
    }
    cov[0] = segs[0] = 0;
    for (size_t j = 1; j <= k; j++) {
        cov[j] = cov[j - 1];
        segs[j] = segs[j - 1] + 1;
        from[j] = j - 1;
        word[j] = -1;
        for (size_t i = 0; i + 2 <= j; i++) {
            if (j - i > TD__LEX_MAXLEN)
                continue;
            struct match m = lex_match(s->nz, L + i, j - i);
            if (m.word < 0 || s->nz->lex[m.word].len != j - i)
                continue; /* no squeezing across spaced letters */
            unsigned c = cov[i] + (unsigned)(j - i), g = segs[i] + 1;
            if (c > cov[j] || (c == cov[j] && g < segs[j])) {
                cov[j] = c;
                segs[j] = g;
                from[j] = i;
                word[j] = m.word;
            }
        }
    }
    /* Nothing to join: leave the run exactly as written ("I a m", "1.2.3"). */
    if (letters < 2 || (cov[k] == 0 && (k < 4 || !all_plain))) {
        copy_raw(s, raw0, raw1);
        return fix(s, s->w - (raw1 - raw0), ev);
    }
    /* Recover the segmentation (backwards into a small stack). */
    size_t cut[MAXPOS + 1], nc = 0;
    for (size_t j = k; j > 0; j = from[j])
        cut[nc++] = j;
    /* Emit: lexicon words joined; uncovered letters joined as one word when
     * they form a run of >= 4 real letters, else kept apart. */
    size_t i = 0;
    while (nc > 0) {
        size_t j = cut[--nc];
        size_t ws = s->w;
        if (i > 0)
            space(s, sep_os[i - 1], sep_oe[i - 1]);
        ws = s->w;
        if (word[j] >= 0) {
            unsigned kinds = write_word(s, L + i, j - i, word[j], 0);
            int rc = fix(s, ws, kinds | TD_FIX_SPACED | ev);
            if (rc)
                return rc;
            i = j;
            continue;
        }
        /* Gather the uncovered stretch starting here. */
        size_t e = j;
        while (nc > 0 && word[cut[nc - 1]] < 0)
            e = cut[--nc];
        int plain = 1;
        for (size_t x = i; x < e; x++)
            plain &= L[x].kind == P_LETTER; /* not Russian "и а в" */
        if (e - i >= 4 && plain) {
            unsigned kinds = TD_FIX_SPACED;
            for (size_t x = i; x < e; x++) {
                put(s, L[x].kind == P_CONF ? L[x].conf : (char)L[x].cp, L[x].os, L[x].oe);
                if (L[x].kind == P_CONF)
                    kinds |= TD_FIX_CONFUSABLE;
            }
            int rc = fix(s, ws, kinds | ev);
            if (rc)
                return rc;
        } else {
            for (size_t x = i; x < e; x++) {
                if (x > i)
                    space(s, sep_os[x - 1], sep_oe[x - 1]);
                copy_raw(s, L[x].b0, L[x].b1);
            }
        }
        i = e;
    }
    return TD_OK;
}

/* A word that is one letter, leet character or confusable. */
static int single(const struct td_normaliser *nz, const char *t, size_t b0, size_t b1)
{
    unsigned char c = (unsigned char)t[b0];
    if (b1 - b0 == 1)
        return (c >= 'a' && c <= 'z') || td__leet_find(nz, c) != NULL;
    if (c < 0x80 || b1 - b0 > 4)
        return 0;
    utf8proc_int32_t cp;
    if (utf8proc_iterate((const utf8proc_uint8_t *)t + b0, (utf8proc_ssize_t)(b1 - b0), &cp) !=
        (utf8proc_ssize_t)(b1 - b0))
        return 0;
    const struct td__confusable *cf = td__confusable_find(nz, (uint32_t)cp);
    return (cf && cf->script) || td__leet_find(nz, (uint32_t)cp) != NULL;
}

static int do_run(struct p2 *s, const size_t *tb, const size_t *te, size_t k)
{
    struct pos L[MAXPOS];
    size_t so[MAXPOS], se[MAXPOS];
    unsigned ev = 0;
    for (size_t i = 0; i < k; i++) {
        ev |= events(s, tb[i], te[i]);
        decode(s, tb[i], te[i]);
        L[i] = s->p[0];
        so[i] = s->n->orig_start[te[i] < s->n->len ? te[i] : te[i] - 1];
        se[i] = s->n->orig_end[te[i] < s->n->len ? te[i] : te[i] - 1];
    }
    return do_spaced(s, L, k, so, se, tb[0], te[k - 1], ev);
}

/* ---- the pass ------------------------------------------------------------ */

/* Byte classes for the plain-word test. */
static int plain_word(const struct td_normaliser *nz, const unsigned char *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = t[i];
        if (c >= 0x80 || c == '*' || nz->leet_ascii[c] >= 0)
            return 0;
        if (i >= 2 && c >= 'a' && c <= 'z' && c == t[i - 1] && c == t[i - 2])
            return 0;
        if ((c == '.' || c == '-' || c == '_') && i + 2 < n && t[i + 2] == c)
            return 0; /* maybe dotted letters */
    }
    return 1;
}

int td__deobfuscate(const struct td_normaliser *nz, struct td_norm *out)
{
    struct p2 s = {.nz = nz, .n = out, .sc = out->priv_};
    const char *t = out->text;
    size_t len = out->len, r = 0;
    size_t tb[MAXPOS], te[MAXPOS];
    int rc = TD_OK;
    while (r < len) {
        if (t[r] == ' ') {
            space(&s, out->orig_start[r], out->orig_end[r]);
            r++;
            continue;
        }
        size_t b0 = r;
        const char *sp = memchr(t + r, ' ', len - r);
        size_t b1 = sp ? (size_t)(sp - t) : len;

        /* A run of >= 3 single-character words? */
        if (single(nz, t, b0, b1)) {
            size_t k = 0;
            tb[k] = b0;
            te[k++] = b1;
            while (k < MAXPOS && te[k - 1] < len) {
                size_t nb = te[k - 1] + 1;
                const char *sp2 = memchr(t + nb, ' ', len - nb);
                size_t ne = sp2 ? (size_t)(sp2 - t) : len;
                size_t ce = ne; /* "d i e!": the last may end a sentence */
                while (ce > nb + 1 && strchr(".,!?;:", t[ce - 1]))
                    ce--;
                if (!single(nz, t, nb, ce))
                    break;
                tb[k] = nb;
                te[k++] = ce;
                if (ce < ne)
                    break;
            }
            if (k >= 3) {
                if ((rc = do_run(&s, tb, te, k)))
                    return rc;
                r = te[k - 1];
                continue; /* trailing punctuation follows as a word */
            }
        }
        if (plain_word(nz, (const unsigned char *)t + b0, b1 - b0)) {
            size_t ws = s.w;
            copy_raw(&s, b0, b1);
            if ((rc = fix(&s, ws, events(&s, b0, b1))))
                return rc;
        } else if ((rc = do_word(&s, b0, b1))) {
            return rc;
        }
        r = b1;
    }
    out->len = s.w;
    out->text[out->len] = '\0';
    return TD_OK;
}
