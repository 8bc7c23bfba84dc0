/*
 * data.c - loading the normaliser's data files (data/text/README.md has the
 * formats) and the look-ups pass 1 and pass 2 use.
 *
 * All three files are small (hundreds of lines), so they are read whole,
 * validated line by line (an error names the file and the line), and turned
 * into sorted arrays: binary search is fast enough for the rare non-ASCII or
 * obfuscated word, and keeps the normaliser a few flat allocations that are
 * read-only after load (safe to share between threads).
 */
#include "text/text_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#define DATA_FILE_MAX (4u << 20) /* no data file is anywhere near this */

struct linefile {
    char path[1024];
    const char *name; /* base name, for messages */
    char *data;
    size_t len, pos, line;
};

static void linefile_close(struct linefile *lf)
{
    free(lf->data);
    lf->data = NULL;
}

static int linefile_open(struct linefile *lf, const char *dir, const char *name,
                         struct td_error *err)
{
    int rc = TD_OK;
    FILE *f = NULL;
    memset(lf, 0, sizeof *lf);
    lf->name = name;
    int w = snprintf(lf->path, sizeof lf->path, "%s/%s", dir, name);
    if (w < 0 || (size_t)w >= sizeof lf->path) {
        rc = td_error_set(err, TD_EINVAL, "data directory path too long");
        goto out;
    }
    f = fopen(lf->path, "rb");
    if (!f) {
        rc = td_error_set(err, errno == ENOENT ? TD_ENOTFOUND : TD_EIO, "cannot open: %s",
                          strerror(errno));
        td_error_at(err, lf->path, 0, 0);
        goto out;
    }
    lf->data = malloc(DATA_FILE_MAX + 1);
    if (!lf->data) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
        goto out;
    }
    lf->len = fread(lf->data, 1, DATA_FILE_MAX + 1, f);
    if (ferror(f)) {
        rc = td_error_set(err, TD_EIO, "read error");
        td_error_at(err, lf->path, 0, 0);
        goto out;
    }
    if (lf->len > DATA_FILE_MAX) {
        rc = td_error_set(err, TD_ETOOBIG, "data file larger than %u bytes", DATA_FILE_MAX);
        td_error_at(err, lf->path, 0, 0);
        goto out;
    }
    lf->data[lf->len] = '\0';
out:
    if (f)
        fclose(f);
    if (rc)
        linefile_close(lf);
    return rc;
}

/* Next line with comments ('#' to end of line) and surrounding blanks cut;
 * blank lines are skipped.  Returns 0 at end of file. */
static int linefile_next(struct linefile *lf, char **line)
{
    while (lf->pos < lf->len) {
        char *s = lf->data + lf->pos;
        char *nl = memchr(s, '\n', lf->len - lf->pos);
        char *e = nl ? nl : lf->data + lf->len;
        lf->pos = (size_t)(e - lf->data) + (nl ? 1 : 0);
        lf->line++;
        *e = '\0';
        char *hash = strchr(s, '#');
        if (hash)
            *hash = '\0';
        while (*s == ' ' || *s == '\t')
            s++;
        size_t n = strlen(s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
            s[--n] = '\0';
        if (n) {
            *line = s;
            return 1;
        }
    }
    return 0;
}

static int linefile_error(struct linefile *lf, struct td_error *err, const char *what)
{
    int rc = td_error_set(err, TD_EPARSE, "%s", what);
    td_error_at(err, lf->path, lf->line, 0);
    return rc;
}

/* Split off the next blank-separated field; NULL when none. */
static char *field(char **s)
{
    char *p = *s;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p)
        return NULL;
    char *start = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    if (*p)
        *p++ = '\0';
    *s = p;
    return start;
}

static int is_lower_word(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 'a' || s[i] > 'z')
            return 0;
    return 1;
}

static int cmp_conf(const void *a, const void *b)
{
    uint32_t x = ((const struct td__confusable *)a)->cp, y = ((const struct td__confusable *)b)->cp;
    return x < y ? -1 : x > y;
}

static int cmp_leet(const void *a, const void *b)
{
    uint32_t x = ((const struct td__leet *)a)->cp, y = ((const struct td__leet *)b)->cp;
    return x < y ? -1 : x > y;
}

static int cmp_word(const void *a, const void *b)
{
    const struct td__word *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->w, y->w, x->len);
}

/* Letters of other scripts: folded only inside mixed-script words. */
static int script_letter(uint32_t cp)
{
    return (cp >= 0x0370 && cp <= 0x058F) || (cp >= 0x10A0 && cp <= 0x10FF) ||
           (cp >= 0x13A0 && cp <= 0x13FF) || (cp >= 0x1F00 && cp <= 0x1FFF) ||
           (cp >= 0x2DE0 && cp <= 0x2DFF) || (cp >= 0xA640 && cp <= 0xA69F);
}

/* The case-folded, compatibility-decomposed form of cp if it is a single code
 * point, else 0.  Keys must already be in this form, since that is what pass
 * 1 looks up. */
static uint32_t folded(uint32_t cp)
{
    utf8proc_int32_t buf[8];
    int bc = 0;
    utf8proc_ssize_t n =
        utf8proc_decompose_char((utf8proc_int32_t)cp, buf, 8,
                                UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_DECOMPOSE, &bc);
    if (n < 1 || n > 8)
        return 0;
    n = utf8proc_normalize_utf32(buf, n, UTF8PROC_COMPOSE);
    return n == 1 ? (uint32_t)buf[0] : 0;
}

static int load_confusables(struct td_normaliser *nz, const char *dir, struct td_error *err)
{
    struct linefile lf;
    int rc = linefile_open(&lf, dir, "confusables.txt", err);
    if (rc)
        return rc;
    size_t cap = 0;
    char *line;
    while (linefile_next(&lf, &line)) {
        char *hex = field(&line), *to = field(&line);
        if (!hex || !to || field(&line)) {
            rc = linefile_error(&lf, err, "expected \"<codepoint-hex> <ascii>\"");
            goto out;
        }
        char *end;
        errno = 0;
        unsigned long cp = strtoul(hex, &end, 16);
        if (errno || *end || end == hex || cp < 0x80 || cp > 0x10FFFF ||
            !utf8proc_codepoint_valid((utf8proc_int32_t)cp)) {
            rc = linefile_error(&lf, err, "bad code point (want hex, 80..10FFFF)");
            goto out;
        }
        utf8proc_uint8_t enc[4];
        size_t enclen = (size_t)utf8proc_encode_char((utf8proc_int32_t)cp, enc);
        if (!is_lower_word(to, 1, enclen < 3 ? enclen : 3)) {
            rc = linefile_error(&lf, err,
                                "replacement must be 1..3 lower-case ASCII letters, no longer "
                                "than the code point's UTF-8 encoding");
            goto out;
        }
        uint32_t f = folded((uint32_t)cp);
        if (f != cp) {
            char msg[128];
            snprintf(msg, sizeof msg, "U+%04lX is not in case-folded NFKC form (use U+%04X)", cp,
                     (unsigned)f);
            rc = linefile_error(&lf, err, msg);
            goto out;
        }
        if (nz->nconf == cap) {
            cap = cap ? cap * 2 : 256;
            void *p = realloc(nz->conf, cap * sizeof *nz->conf);
            if (!p) {
                rc = td_error_set(err, TD_ENOMEM, NULL);
                goto out;
            }
            nz->conf = p;
        }
        struct td__confusable *c = &nz->conf[nz->nconf++];
        memset(c, 0, sizeof *c);
        c->cp = (uint32_t)cp;
        c->len = (uint8_t)strlen(to);
        memcpy(c->to, to, c->len);
        c->script = (uint8_t)script_letter(c->cp);
        if (c->script && c->len != 1) {
            rc = linefile_error(&lf, err, "a letter of another script folds to one letter");
            goto out;
        }
    }
    qsort(nz->conf, nz->nconf, sizeof *nz->conf, cmp_conf);
    for (size_t i = 1; i < nz->nconf; i++)
        if (nz->conf[i].cp == nz->conf[i - 1].cp) {
            rc = td_error_set(err, TD_EPARSE, "U+%04X listed twice", (unsigned)nz->conf[i].cp);
            td_error_at(err, lf.path, 0, 0);
            goto out;
        }
out:
    linefile_close(&lf);
    return rc;
}

static int load_leet(struct td_normaliser *nz, const char *dir, struct td_error *err)
{
    struct linefile lf;
    int rc = linefile_open(&lf, dir, "leet.txt", err);
    if (rc)
        return rc;
    size_t cap = 0;
    char *line;
    while (linefile_next(&lf, &line)) {
        char *ch = field(&line);
        utf8proc_int32_t cp = -1;
        size_t chlen = ch ? strlen(ch) : 0;
        if (!ch || utf8proc_iterate((const utf8proc_uint8_t *)ch, (utf8proc_ssize_t)chlen, &cp) !=
                       (utf8proc_ssize_t)chlen) {
            rc = linefile_error(&lf, err, "first field must be exactly one UTF-8 character");
            goto out;
        }
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '*' || cp <= ' ') {
            rc = linefile_error(&lf, err, "a letter, '*' or a blank cannot be a leet character");
            goto out;
        }
        if (nz->nleet == cap) {
            cap = cap ? cap * 2 : 32;
            void *p = realloc(nz->leet, cap * sizeof *nz->leet);
            if (!p) {
                rc = td_error_set(err, TD_ENOMEM, NULL);
                goto out;
            }
            nz->leet = p;
        }
        struct td__leet *l = &nz->leet[nz->nleet];
        memset(l, 0, sizeof *l);
        l->cp = (uint32_t)cp;
        char *r;
        while ((r = field(&line))) {
            if (!is_lower_word(r, 1, 1) || l->n == TD__LEET_MAX) {
                rc = linefile_error(&lf, err,
                                    "readings must be single lower-case letters (at most 4)");
                goto out;
            }
            l->to[l->n++] = r[0];
        }
        if (!l->n) {
            rc = linefile_error(&lf, err, "expected \"<char> <letter> [<letter>...]\"");
            goto out;
        }
        nz->nleet++;
    }
    qsort(nz->leet, nz->nleet, sizeof *nz->leet, cmp_leet);
    memset(nz->leet_ascii, -1, sizeof nz->leet_ascii);
    for (size_t i = 0; i < nz->nleet; i++) {
        if (i && nz->leet[i].cp == nz->leet[i - 1].cp) {
            rc = td_error_set(err, TD_EPARSE, "U+%04X listed twice", (unsigned)nz->leet[i].cp);
            td_error_at(err, lf.path, 0, 0);
            goto out;
        }
        if (nz->leet[i].cp < 128) {
            if (i > 127) {
                rc = td_error_set(err, TD_EPARSE, "too many leet characters");
                goto out;
            }
            nz->leet_ascii[nz->leet[i].cp] = (int8_t)i;
        }
    }
out:
    linefile_close(&lf);
    return rc;
}

static const char *const class_names[] = {
    [TD__LEX_HARM] = "harm",     [TD__LEX_PROFANITY] = "profanity", [TD__LEX_SLUR] = "slur",
    [TD__LEX_SEXUAL] = "sexual", [TD__LEX_THREAT] = "threat",       [TD__LEX_TARGET] = "target",
};

static int load_lexicon(struct td_normaliser *nz, const char *dir, struct td_error *err)
{
    struct linefile lf;
    int rc = linefile_open(&lf, dir, "obfuscation-lexicon.txt", err);
    if (rc)
        return rc;
    size_t cap = 0;
    char *line;
    while (linefile_next(&lf, &line)) {
        char *w = field(&line), *cls = field(&line);
        if (!w || !cls || field(&line)) {
            rc = linefile_error(&lf, err, "expected \"<word> <class>\"");
            goto out;
        }
        if (!is_lower_word(w, 2, TD__LEX_MAXLEN)) {
            rc = linefile_error(&lf, err, "word must be 2..31 lower-case ASCII letters");
            goto out;
        }
        int c = -1;
        for (size_t i = 0; i < sizeof class_names / sizeof *class_names; i++)
            if (!strcmp(cls, class_names[i]))
                c = (int)i;
        if (c < 0) {
            rc = linefile_error(&lf, err,
                                "unknown class (harm, profanity, slur, sexual, threat, target)");
            goto out;
        }
        if (nz->nlex == cap) {
            cap = cap ? cap * 2 : 512;
            void *p = realloc(nz->lex, cap * sizeof *nz->lex);
            if (!p) {
                rc = td_error_set(err, TD_ENOMEM, NULL);
                goto out;
            }
            nz->lex = p;
        }
        struct td__word *x = &nz->lex[nz->nlex++];
        memset(x, 0, sizeof *x);
        x->len = (uint8_t)strlen(w);
        memcpy(x->w, w, x->len);
        x->cls = (uint8_t)c;
    }
    qsort(nz->lex, nz->nlex, sizeof *nz->lex, cmp_word);
    for (size_t i = 1; i < nz->nlex; i++)
        if (!cmp_word(&nz->lex[i], &nz->lex[i - 1])) {
            rc = td_error_set(err, TD_EPARSE, "word \"%s\" listed twice", nz->lex[i].w);
            td_error_at(err, lf.path, 0, 0);
            goto out;
        }
    size_t k = 0;
    for (size_t n = 0; n <= TD__LEX_MAXLEN + 1; n++) {
        while (k < nz->nlex && nz->lex[k].len < n)
            k++;
        nz->bylen[n] = k;
    }
out:
    linefile_close(&lf);
    return rc;
}

int td_normaliser_load(const char *dir, struct td_normaliser **out, struct td_error *err)
{
    int rc;
    *out = NULL;
    if (!dir)
        return td_error_set(err, TD_EINVAL, "no data directory");
    struct td_normaliser *nz = calloc(1, sizeof *nz);
    if (!nz)
        return td_error_set(err, TD_ENOMEM, NULL);
    if ((rc = load_confusables(nz, dir, err)) || (rc = load_leet(nz, dir, err)) ||
        (rc = load_lexicon(nz, dir, err)))
        goto out;
    *out = nz;
    nz = NULL;
out:
    td_normaliser_free(nz);
    return rc;
}

void td_normaliser_free(struct td_normaliser *nz)
{
    if (!nz)
        return;
    free(nz->conf);
    free(nz->leet);
    free(nz->lex);
    free(nz);
}

const struct td__confusable *td__confusable_find(const struct td_normaliser *nz, uint32_t cp)
{
    size_t lo = 0, hi = nz->nconf;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (nz->conf[mid].cp < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < nz->nconf && nz->conf[lo].cp == cp ? &nz->conf[lo] : NULL;
}

const struct td__leet *td__leet_find(const struct td_normaliser *nz, uint32_t cp)
{
    if (cp < 128)
        return nz->leet_ascii[cp] < 0 ? NULL : &nz->leet[(size_t)nz->leet_ascii[cp]];
    size_t lo = 0, hi = nz->nleet;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (nz->leet[mid].cp < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < nz->nleet && nz->leet[lo].cp == cp ? &nz->leet[lo] : NULL;
}

long td__lex_find(const struct td_normaliser *nz, const char *w, size_t n)
{
    if (n > TD__LEX_MAXLEN)
        return -1;
    size_t lo = nz->bylen[n], hi = nz->bylen[n + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(nz->lex[mid].w, w, n);
        if (c < 0)
            lo = mid + 1;
        else if (c > 0)
            hi = mid;
        else
            return (long)mid;
    }
    return -1;
}
