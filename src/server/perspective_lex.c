/*
 * perspective_lex.c - two small data files that comments:analyze needs and
 * the analyser does not provide:
 *
 *   data/perspective/profanity.txt   "<word> <weight>", '*' suffix = prefix
 *   data/perspective/languages.txt   "<code> <word> <word> ..."
 *
 * Both are matched against the words of the NORMALISED text (td_normalise:
 * NFKC, case folded, leet / censoring / stretching undone), so "F***ING"
 * and "fvcking" are "fucking" here too.  A word is a maximal run of letters
 * (ASCII letters and any non-ASCII UTF-8 character); an apostrophe ends a
 * word ("c'est" is "c" and "est").
 *
 * The language detector is deliberately plain: count, per language, how
 * many words of the text are among its function words.  It needs no model
 * and says "und" rather than guess from one word.  It is good at what the
 * endpoint needs (telling a French or Spanish comment from an English one
 * before scoring it with English-only models), not at telling Portuguese
 * from Galician.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/perspective_int.h"
#include "server/server_int.h"
#include "threatdesk/buf.h"
#include "threatdesk/text.h"

#define MAX_LANGS 32
#define WORD_MAX 64
#define FILE_MAX (1u << 20)

struct pword {
    char *w;
    double weight;
    int prefix; /* '*' suffix: matches words starting with w */
};

struct plang {
    char code[16];
    char **words; /* sorted */
    size_t n, cap;
};

struct td__plex {
    struct td_normaliser *nz;
    struct pword *prof; /* sorted by w */
    size_t nprof;
    struct plang langs[MAX_LANGS];
    size_t nlangs;
};

static int cmp_pword(const void *a, const void *b)
{
    return strcmp(((const struct pword *)a)->w, ((const struct pword *)b)->w);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_all(const char *path, struct td_buf *b, struct td_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        td_error_at(err, path, 0, 0);
        return td_error_set(err, TD_ENOTFOUND, "cannot open");
    }
    char tmp[8192];
    size_t n;
    int rc = TD_OK;
    while (!rc && (n = fread(tmp, 1, sizeof tmp, f)) > 0)
        rc = td_buf_append(b, tmp, n);
    fclose(f);
    if (!rc && !b->data)
        rc = td_buf_append(b, "", 0);
    if (rc) {
        td_error_at(err, path, 0, 0);
        return td_error_set(err, rc, "cannot read");
    }
    return TD_OK;
}

/* Next line of b from *pos, comment stripped, NUL-terminated in place. */
static char *next_line(struct td_buf *b, size_t *pos)
{
    if (*pos >= b->len)
        return NULL;
    char *s = b->data + *pos;
    char *nl = memchr(s, '\n', b->len - *pos);
    if (nl) {
        *nl = '\0';
        *pos = (size_t)(nl - b->data) + 1;
    } else {
        *pos = b->len;
    }
    char *hash = strchr(s, '#');
    if (hash)
        *hash = '\0';
    return s;
}

static int bad_line(struct td_error *err, const char *path, size_t line, const char *what)
{
    td_error_at(err, path, line, 0);
    return td_error_set(err, TD_EPARSE, "%s", what);
}

static int load_profanity(struct td__plex *p, const char *path, struct td_error *err)
{
    struct td_buf b;
    size_t pos = 0, line = 0, cap = 0;
    char *s;
    td_buf_init(&b, FILE_MAX);
    int rc = read_all(path, &b, err);
    while (!rc && (s = next_line(&b, &pos))) {
        char word[WORD_MAX + 1], extra[2];
        double w;
        line++;
        int k = sscanf(s, "%64s %lf %1s", word, &w, extra);
        if (k <= 0)
            continue;
        if (k != 2 || w < 0 || w > 1) {
            rc = bad_line(err, path, line, "expected \"<word> <weight 0..1>\"");
            break;
        }
        if (p->nprof == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct pword *np = realloc(p->prof, ncap * sizeof *np);
            if (!np) {
                rc = td_error_set(err, TD_ENOMEM, NULL);
                break;
            }
            p->prof = np;
            cap = ncap;
        }
        size_t n = strlen(word);
        int prefix = n > 1 && word[n - 1] == '*';
        if (prefix)
            word[--n] = '\0';
        struct pword *pw = &p->prof[p->nprof];
        if (!(pw->w = strdup(word))) {
            rc = td_error_set(err, TD_ENOMEM, NULL);
            break;
        }
        pw->weight = w;
        pw->prefix = prefix;
        p->nprof++;
    }
    td_buf_release(&b);
    if (!rc)
        qsort(p->prof, p->nprof, sizeof *p->prof, cmp_pword);
    return rc;
}

static struct plang *lang_for(struct td__plex *p, const char *code)
{
    for (size_t i = 0; i < p->nlangs; i++)
        if (!strcmp(p->langs[i].code, code))
            return &p->langs[i];
    if (p->nlangs == MAX_LANGS)
        return NULL;
    struct plang *l = &p->langs[p->nlangs++];
    snprintf(l->code, sizeof l->code, "%s", code);
    return l;
}

static int load_languages(struct td__plex *p, const char *path, struct td_error *err)
{
    struct td_buf b;
    size_t pos = 0, line = 0;
    char *s;
    td_buf_init(&b, FILE_MAX);
    int rc = read_all(path, &b, err);
    while (!rc && (s = next_line(&b, &pos))) {
        line++;
        char *save = NULL;
        char *code = strtok_r(s, " \t\r", &save);
        if (!code)
            continue;
        if (strlen(code) >= sizeof p->langs[0].code) {
            rc = bad_line(err, path, line, "language code too long");
            break;
        }
        struct plang *l = lang_for(p, code);
        if (!l) {
            rc = bad_line(err, path, line, "too many languages");
            break;
        }
        for (char *w; (w = strtok_r(NULL, " \t\r", &save));) {
            if (l->n == l->cap) {
                size_t ncap = l->cap ? l->cap * 2 : 64;
                char **nw = realloc(l->words, ncap * sizeof *nw);
                if (!nw) {
                    rc = td_error_set(err, TD_ENOMEM, NULL);
                    break;
                }
                l->words = nw;
                l->cap = ncap;
            }
            if (!(l->words[l->n] = strdup(w))) {
                rc = td_error_set(err, TD_ENOMEM, NULL);
                break;
            }
            l->n++;
        }
    }
    td_buf_release(&b);
    for (size_t i = 0; !rc && i < p->nlangs; i++)
        qsort(p->langs[i].words, p->langs[i].n, sizeof(char *), cmp_str);
    return rc;
}

void td__plex_free(struct td__plex *p)
{
    if (!p)
        return;
    td_normaliser_free(p->nz);
    for (size_t i = 0; i < p->nprof; i++)
        free(p->prof[i].w);
    free(p->prof);
    for (size_t i = 0; i < p->nlangs; i++) {
        for (size_t j = 0; j < p->langs[i].n; j++)
            free(p->langs[i].words[j]);
        free(p->langs[i].words);
    }
    free(p);
}

int td__plex_load(const char *home, struct td__plex **out, struct td_error *err)
{
    char path[4096];
    int rc;
    *out = NULL;
    if (!home || !*home) {
        home = getenv("THREATDESK_HOME");
        if (!home || !*home)
            home = TD_SOURCE_DIR;
    }
    struct td__plex *p = calloc(1, sizeof *p);
    if (!p)
        return td_error_set(err, TD_ENOMEM, NULL);
    snprintf(path, sizeof path, "%s/data/text", home);
    if ((rc = td_normaliser_load(path, &p->nz, err)))
        goto fail;
    snprintf(path, sizeof path, "%s/data/perspective/profanity.txt", home);
    if ((rc = load_profanity(p, path, err)))
        goto fail;
    snprintf(path, sizeof path, "%s/data/perspective/languages.txt", home);
    if ((rc = load_languages(p, path, err)))
        goto fail;
    *out = p;
    return TD_OK;
fail:
    td__plex_free(p);
    return rc;
}

/* ---- matching -------------------------------------------------------------- */

static int is_letter(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

/* Calls fn for each word [s, e) of t; stops when fn returns non-zero. */
static void each_word(const char *t, size_t n,
                      int (*fn)(void *ud, const char *w, size_t wl, size_t s, size_t e), void *ud)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && !is_letter((unsigned char)t[i]))
            i++;
        size_t s = i;
        while (i < n && is_letter((unsigned char)t[i]))
            i++;
        if (i > s && i - s <= WORD_MAX && fn(ud, t + s, i - s, s, i))
            return;
    }
}

static const struct pword *find_prof(const struct td__plex *p, const char *w, size_t wl)
{
    char word[WORD_MAX + 1];
    memcpy(word, w, wl);
    word[wl] = '\0';
    /* Exact entries first (binary search), then prefix entries: the list
     * is small, so a linear pass over the prefixes is fine. */
    size_t lo = 0, hi = p->nprof;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(p->prof[mid].w, word);
        if (c == 0)
            return &p->prof[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    const struct pword *best = NULL;
    for (size_t i = 0; i < p->nprof; i++) {
        size_t k = strlen(p->prof[i].w);
        if (p->prof[i].prefix && k <= wl && !memcmp(p->prof[i].w, word, k) &&
            (!best || p->prof[i].weight > best->weight))
            best = &p->prof[i];
    }
    return best;
}

struct prof_walk {
    const struct td__plex *p;
    const struct td_norm *norm;
    double keep; /* product of (1 - weight) */
    struct td__pspan *spans;
    size_t max, n;
};

static int prof_word(void *ud, const char *w, size_t wl, size_t s, size_t e)
{
    struct prof_walk *pw = ud;
    const struct pword *hit = find_prof(pw->p, w, wl);
    if (!hit)
        return 0;
    pw->keep *= 1.0 - hit->weight;
    if (pw->n < pw->max) {
        size_t os, oe;
        td_norm_map(pw->norm, s, e, &os, &oe);
        pw->spans[pw->n].start = os;
        pw->spans[pw->n].end = oe;
        pw->n++;
    }
    return 0;
}

int td__plex_profanity(const struct td__plex *p, const char *text, size_t len, double *score,
                       struct td__pspan *spans, size_t max, size_t *nspans, struct td_error *err)
{
    struct td_norm norm;
    td_norm_init(&norm);
    *score = 0;
    *nspans = 0;
    int rc = td_normalise(p->nz, text, len, &norm, err);
    if (rc == TD_OK) {
        struct prof_walk pw = {p, &norm, 1.0, spans, max, 0};
        each_word(norm.text, norm.len, prof_word, &pw);
        *score = 1.0 - pw.keep;
        *nspans = pw.n;
    }
    td_norm_release(&norm);
    return rc;
}

struct lang_walk {
    const struct td__plex *p;
    size_t hits[MAX_LANGS];
};

static int lang_word(void *ud, const char *w, size_t wl, size_t s, size_t e)
{
    struct lang_walk *lw = ud;
    char word[WORD_MAX + 1];
    const char *key = word;
    memcpy(word, w, wl);
    word[wl] = '\0';
    for (size_t i = 0; i < lw->p->nlangs; i++)
        if (bsearch(&key, lw->p->langs[i].words, lw->p->langs[i].n, sizeof(char *), cmp_str))
            lw->hits[i]++;
    return 0;
}

const char *td__plex_language(const struct td__plex *p, const char *text, size_t len)
{
    struct td_norm norm;
    struct lang_walk lw;
    const char *answer = "und";
    memset(&lw, 0, sizeof lw);
    lw.p = p;
    td_norm_init(&norm);
    if (td_normalise(p->nz, text, len, &norm, NULL) == TD_OK) {
        each_word(norm.text, norm.len, lang_word, &lw);
        size_t en = 0, best = 0;
        int ien = -1, ibest = -1;
        for (size_t i = 0; i < p->nlangs; i++) {
            if (!strcmp(p->langs[i].code, "en")) {
                ien = (int)i;
                en = lw.hits[i];
            } else if (lw.hits[i] > best) {
                best = lw.hits[i];
                ibest = (int)i;
            }
        }
        if (ibest >= 0 && best >= 2 && best > en)
            answer = p->langs[ibest].code;
        else if (ien >= 0 && en > 0)
            answer = p->langs[ien].code;
    }
    td_norm_release(&norm);
    return answer;
}
