/*
 * grammar.c - the explainable threat grammar (include/threatdesk/grammar.h).
 *
 * Data (never C tables): <dir>/rules.txt and <dir>/lexicons/<name>.txt, both
 * described in data/grammar/README.md.  In short, a rule line is
 *
 *   name  kind  labels  strength  flags  trigger  pattern...
 *
 * kind is label | detail | suppress; labels a comma list of label names or
 * "all"; flags "-" or a comma list of flag names; trigger "-" or a comma list
 * of @trigger word lists, one of which must occur for the rule to run; the
 * pattern (rest of the line) is PCRE2 in which {name} expands to a define
 * ("@define name pattern" lines) or to a lexicon file as (?:e1|e2|...).
 * An ASCII apostrophe in a pattern or lexicon entry also matches U+2019 (the
 * normaliser keeps curly apostrophes).
 *
 * Matching, per text:
 *   1. pre-filter: the text is cut into words and each word looked up in a
 *      hash table of trigger words ("@trigger name word word* <digit>
 *      <quote>" lines; word* is a prefix): one pass gives the set of
 *      triggers present, and a rule runs only when one of its triggers is
 *      (or when it has none).  Most messages contain no harm word at all,
 *      so most rules never run; a regex pre-filter holding every trigger
 *      alternative was measured 20x slower than the rules themselves;
 *   2. each rule whose trigger is present is run over the whole text, every
 *      non-overlapping match becoming a hit; detail rules run only when a
 *      threat or intimidation hit was found (details alone count for
 *      nothing, see 3);
 *   3. resolution: a LABEL hit overlapping a SUPPRESS hit of the same label
 *      is cancelled (removed: suppressor spans are tight - the negator up to
 *      the harm verb, the reported clause, the quotation, the figurative
 *      phrase - so a genuine threat elsewhere in the same text survives);
 *      score[l] is the strongest surviving hit; suppressed[l] is set when any
 *      suppressor for l matched (the caller damps the model with it);
 *      DETAIL hits count (and stay in the list) only when a threat or
 *      intimidation hit survived and the detail is not inside a threat
 *      suppressor's span ("he said he'd kill her tonight" raises no time).
 * Hits are returned sorted by start offset.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "analyse/grammar_int.h"
#include "threatdesk/buf.h"
#include "threatdesk/grammar.h"
#include "threatdesk/text.h"

#include <xxhash.h>

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#define LINE_MAX_BYTES (64u * 1024)  /* one rules/lexicon line */
#define PATTERN_MAX_BYTES (1u << 20) /* one expanded pattern */
#define MAX_RULES 1024               /* rules in rules.txt */
#define MAX_NAMES 512                /* lexicons + defines */
#define MAX_TRIGGERS 64              /* bits of a trigger mask */
#define MAX_TRIGGER_WORDS 16384      /* distinct trigger words */
#define MAX_TRIGGER_GROUPS 4         /* "a+b,c+d,..." in a rule's trigger field */
#define TOKEN_MAX 48                 /* longer words cannot be trigger words */
/* hits kept per text; the rest are dropped (resolve() is quadratic in them,
 * and an explanation needs no more) */
#define MAX_HITS 4096
#define MATCH_LIMIT 2000000u /* PCRE2 backtracking limit per match */
#define DEPTH_LIMIT 100000u  /* PCRE2 depth (backtracking memory) limit */
#define JIT_STACK_MAX (1024u * 1024)

struct rule {
    char *name;
    enum td_hit_kind kind;
    unsigned labels; /* bit per enum td_label */
    float strength;
    unsigned flags;
    uint64_t trig[MAX_TRIGGER_GROUPS]; /* run when every trigger of one group occurs */
    size_t ntrig;                      /* 0 = always run */
    pcre2_code *re;
};

/* A named, expanded pattern fragment: a lexicon file or an @define. */
struct named {
    char *name;
    char *pattern; /* lexicon: (?:e1|e2|...); define: (?:...) */
};

/* One trigger word (or prefix) in the open-addressing table. */
struct tword {
    char *word; /* NULL = empty slot */
    size_t len;
    uint64_t exact;  /* triggers listing the word itself */
    uint64_t prefix; /* triggers listing word* */
};

struct td_grammar {
    struct rule *rules;
    size_t nrules;
    char *triggers[MAX_TRIGGERS];
    size_t ntriggers;
    struct tword *table; /* size tmask + 1, a power of two */
    size_t tmask, nwords;
    uint64_t prefix_lens;                    /* bit L: some prefix entry has length L (< 64) */
    uint64_t digit_triggers, quote_triggers; /* <digit> and <quote> entries */
    /* first two / three letters of every prefix entry (bit sets indexed by
     * letter_ix): most words need no prefix look-up at all */
    unsigned char pfx2[(27 * 27 + 7) / 8];
    unsigned char pfx3[(27 * 27 * 27 + 7) / 8];
    /* @evidence: trigger lists one of whose words must occur inside a
     * suppressor's span for it to count against the label (0 = any) */
    uint64_t evidence[TD_LABEL_COUNT];
};

/* Per-result scratch: match data, a match context (limits) and a JIT
 * stack - one set per result, so one grammar serves many threads. */
struct scratch {
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *js;
};

/* ---- loading -------------------------------------------------------------- */

struct loader {
    const char *dir;
    char file[1024]; /* the file being read, for errors */
    size_t line;
    struct named names[MAX_NAMES];
    size_t nnames;
    struct td_error *err;
};

static int fail(struct loader *ld, int code, size_t byte, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct loader *ld, int code, size_t byte, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    td_error_set(ld->err, code, "%s", msg);
    td_error_at(ld->err, ld->file, ld->line, byte);
    return code;
}

static char *dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/*
 * Append fragment s[0..n) to b, making every ASCII apostrophe also match
 * U+2019: outside a character class ' becomes ['’], inside one ’ is added
 * next to it.  Backslash escapes are copied untouched.
 */
static int put_fragment(struct td_buf *b, const char *s, size_t n)
{
    static const char rsq[] = "\xe2\x80\x99"; /* U+2019 */
    int in_class = 0, rc = TD_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            rc = td_buf_append(b, s + i, 2);
            i++;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = 1;
            rc = td_buf_putc(b, c);
            /* a ']' right after '[' or '[^' is a literal */
            if (!rc && i + 1 < n && s[i + 1] == '^')
                rc = td_buf_putc(b, s[++i]);
            if (!rc && i + 1 < n && s[i + 1] == ']')
                rc = td_buf_putc(b, s[++i]);
            continue;
        }
        if (in_class && c == ']')
            in_class = 0;
        if (c == '\'') {
            if (in_class)
                rc = td_buf_printf(b, "'%s", rsq);
            else
                rc = td_buf_printf(b, "['%s]", rsq);
            continue;
        }
        rc = td_buf_putc(b, c);
    }
    return rc;
}

static const struct named *find_named(const struct loader *ld, const char *name)
{
    for (size_t i = 0; i < ld->nnames; i++)
        if (strcmp(ld->names[i].name, name) == 0)
            return &ld->names[i];
    return NULL;
}

static int valid_name(const char *s, size_t n)
{
    if (n == 0 || n > 64 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

/* Read one line (without its newline) into *line; 0 at EOF. */
static int read_line(struct loader *ld, FILE *f, char **line, size_t *cap, size_t *len)
{
    errno = 0;
    ssize_t n = getline(line, cap, f);
    if (n < 0) {
        if (ferror(f))
            return fail(ld, TD_EIO, 0, "read error: %s", strerror(errno));
        return 0;
    }
    ld->line++;
    if ((size_t)n > LINE_MAX_BYTES)
        return fail(ld, TD_ETOOBIG, 0, "line longer than %u bytes", LINE_MAX_BYTES);
    while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r'))
        n--;
    (*line)[n] = '\0';
    *len = (size_t)n;
    return 1;
}

struct entry {
    char *s;
    size_t n;
    size_t order;
};

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1; /* longest first */
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Load <dir>/lexicons/<name>.txt as a named alternation. */
static int load_lexicon(struct loader *ld, const char *name, const struct named **out)
{
    char saved_file[sizeof ld->file];
    size_t saved_line = ld->line;
    memcpy(saved_file, ld->file, sizeof saved_file);
    struct entry *ents = NULL;
    size_t nents = 0, capents = 0;
    char *line = NULL;
    size_t linecap = 0, len = 0;
    struct td_buf b;
    td_buf_init(&b, PATTERN_MAX_BYTES);
    int rc = TD_OK;
    FILE *f = NULL;

    if (ld->nnames >= MAX_NAMES) {
        rc = fail(ld, TD_ETOOBIG, 0, "more than 512 lexicons and defines (at %s)", name);
        goto out;
    }
    snprintf(ld->file, sizeof ld->file, "%s/lexicons/%s.txt", ld->dir, name);
    ld->line = 0;
    f = fopen(ld->file, "r");
    if (!f) {
        int e = errno;
        memcpy(ld->file, saved_file, sizeof saved_file);
        ld->line = saved_line;
        rc = fail(ld, e == ENOENT ? TD_ENOTFOUND : TD_EIO, 0,
                  "no define or lexicon named '%s' (lexicons/%s.txt missing)", name, name);
        goto out;
    }
    while ((rc = read_line(ld, f, &line, &linecap, &len)) == 1) {
        size_t a = 0, z = len;
        while (a < z && (line[a] == ' ' || line[a] == '\t'))
            a++;
        while (z > a && (line[z - 1] == ' ' || line[z - 1] == '\t'))
            z--;
        if (a == z || line[a] == '#')
            continue;
        if (nents == capents) {
            size_t nc = capents ? capents * 2 : 64;
            struct entry *p = realloc(ents, nc * sizeof *p);
            if (!p) {
                rc = TD_ENOMEM;
                goto out;
            }
            ents = p;
            capents = nc;
        }
        if (!(ents[nents].s = dupn(line + a, z - a))) {
            rc = TD_ENOMEM;
            goto out;
        }
        ents[nents].n = z - a;
        ents[nents].order = nents;
        nents++;
    }
    if (rc < 0)
        goto out;
    if (nents == 0) {
        rc = fail(ld, TD_EPARSE, 0, "lexicon '%s' has no entries", name);
        goto out;
    }
    /* longest first, so "string up" is tried before "string" */
    qsort(ents, nents, sizeof *ents, entry_cmp);
    rc = td_buf_append(&b, "(?:", 3);
    for (size_t i = 0; i < nents && !rc; i++) {
        if (i)
            rc = td_buf_putc(&b, '|');
        if (!rc)
            rc = put_fragment(&b, ents[i].s, ents[i].n);
    }
    if (!rc)
        rc = td_buf_putc(&b, ')');
    if (rc) {
        rc = fail(ld, rc, 0, "lexicon '%s' too large or out of memory", name);
        goto out;
    }
    struct named *nm = &ld->names[ld->nnames];
    if (!(nm->name = strdup(name))) {
        rc = TD_ENOMEM;
        goto out;
    }
    nm->pattern = td_buf_detach(&b, NULL);
    ld->nnames++;
    *out = nm;
    memcpy(ld->file, saved_file, sizeof saved_file);
    ld->line = saved_line;
    rc = TD_OK;
out:
    if (f)
        fclose(f);
    for (size_t i = 0; i < nents; i++)
        free(ents[i].s);
    free(ents);
    free(line);
    td_buf_release(&b);
    return rc;
}

static int lookup(struct loader *ld, const char *name, const struct named **out)
{
    if ((*out = find_named(ld, name)))
        return TD_OK;
    return load_lexicon(ld, name, out);
}

/* Expand {name} references of s[0..n) into b. */
static int expand(struct loader *ld, const char *s, size_t n, size_t col, struct td_buf *b)
{
    size_t lit = 0;
    int rc = TD_OK;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\') {
            i++;
            continue;
        }
        if (s[i] != '{')
            continue;
        size_t j = i + 1;
        while (j < n && s[j] != '}' && j - i < 80)
            j++;
        if (j >= n || s[j] != '}' || !valid_name(s + i + 1, j - i - 1))
            continue; /* a quantifier such as {0,3}: not a reference */
        char name[80];
        memcpy(name, s + i + 1, j - i - 1);
        name[j - i - 1] = '\0';
        const struct named *nm;
        if ((rc = put_fragment(b, s + lit, i - lit)))
            goto toobig;
        if ((rc = lookup(ld, name, &nm))) {
            if (ld->err)
                ld->err->byte = col + i;
            return rc;
        }
        if ((rc = td_buf_append(b, nm->pattern, strlen(nm->pattern))))
            goto toobig;
        lit = j + 1;
        i = j;
    }
    if ((rc = put_fragment(b, s + lit, n - lit)))
        goto toobig;
    return TD_OK;
toobig:
    return fail(ld, rc, col, "expanded pattern too large");
}

/* Split the next white-space separated field off *p. */
static int next_field(const char **p, const char **f, size_t *n)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return 0;
    *f = s;
    while (*s && *s != ' ' && *s != '\t')
        s++;
    *n = (size_t)(s - *f);
    *p = s;
    return 1;
}

static int field_is(const char *f, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(f, word, n) == 0;
}

/* Parse "threat,sexual" / "all" into a label bit set. */
static int parse_labels(const char *f, size_t n, unsigned *out)
{
    *out = 0;
    if (field_is(f, n, "all")) {
        *out = (1u << TD_LABEL_COUNT) - 1;
        return 1;
    }
    size_t a = 0;
    while (a < n) {
        size_t z = a;
        while (z < n && f[z] != ',')
            z++;
        char w[32];
        if (z - a == 0 || z - a >= sizeof w)
            return 0;
        memcpy(w, f + a, z - a);
        w[z - a] = '\0';
        int l = td_label_from_name(w);
        if (l < 0)
            return 0;
        *out |= 1u << l;
        a = z + 1;
    }
    return *out != 0;
}

static int parse_flags(const char *f, size_t n, unsigned *out)
{
    *out = 0;
    if (field_is(f, n, "-"))
        return 1;
    size_t a = 0;
    while (a < n) {
        size_t z = a;
        while (z < n && f[z] != ',')
            z++;
        int found = 0;
        for (int bit = 0; bit < TD_FLAG_COUNT; bit++) {
            const char *name = td_flag_name(bit);
            if (name && field_is(f + a, z - a, name)) {
                *out |= 1u << bit;
                found = 1;
            }
        }
        if (!found)
            return 0;
        a = z + 1;
    }
    return 1;
}

static int compile(struct loader *ld, const char *what, const char *pat, size_t len, size_t col,
                   pcre2_code **out)
{
    int ec = 0;
    PCRE2_SIZE eo = 0;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, len, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        char where[96];
        size_t from = eo > 30 ? eo - 30 : 0;
        size_t k = eo - from;
        if (k > sizeof where - 1)
            k = sizeof where - 1;
        memcpy(where, pat + from, k);
        where[k] = '\0';
        char m2[400];
        snprintf(m2, sizeof m2, "%s: %s, at offset %zu of the expanded pattern, after \"%s\"", what,
                 (const char *)msg, (size_t)eo, where);
        return fail(ld, TD_EPATTERN, col, "%s", m2);
    }
    /* JIT when the platform has it; the interpreter otherwise */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    *out = re;
    return TD_OK;
}

/* ---- trigger words ------------------------------------------------------------ */

static uint64_t word_hash(const char *w, size_t n)
{
    return (uint64_t)XXH3_64bits(w, n);
}

static struct tword *tword_slot(const struct td_grammar *g, const char *w, size_t n)
{
    size_t i = (size_t)word_hash(w, n) & g->tmask;
    while (g->table[i].word && !(g->table[i].len == n && memcmp(g->table[i].word, w, n) == 0))
        i = (i + 1) & g->tmask;
    return &g->table[i];
}

static int tword_grow(struct td_grammar *g)
{
    size_t ncap = g->table ? (g->tmask + 1) * 2 : 1024;
    struct tword *old = g->table;
    size_t ocap = g->table ? g->tmask + 1 : 0;
    g->table = calloc(ncap, sizeof *g->table);
    if (!g->table) {
        g->table = old;
        return TD_ENOMEM;
    }
    g->tmask = ncap - 1;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].word)
            *tword_slot(g, old[i].word, old[i].len) = old[i];
    free(old);
    return TD_OK;
}

static int trigger_index(struct td_grammar *g, struct loader *ld, const char *name, size_t n,
                         int create, int *out)
{
    for (size_t i = 0; i < g->ntriggers; i++)
        if (strlen(g->triggers[i]) == n && memcmp(g->triggers[i], name, n) == 0) {
            *out = (int)i;
            return TD_OK;
        }
    if (!create)
        return fail(ld, TD_ENOTFOUND, 0, "no @trigger named '%.*s' above this line", (int)n, name);
    if (g->ntriggers >= MAX_TRIGGERS)
        return fail(ld, TD_ETOOBIG, 0, "more than %d @trigger lists", MAX_TRIGGERS);
    if (!(g->triggers[g->ntriggers] = dupn(name, n)))
        return TD_ENOMEM;
    *out = (int)g->ntriggers++;
    return TD_OK;
}

static unsigned letter_ix(unsigned char c)
{
    return c >= 'a' && c <= 'z' ? (unsigned)(c - 'a' + 1) : 0;
}

static unsigned ix2(const char *w)
{
    return letter_ix((unsigned char)w[0]) * 27 + letter_ix((unsigned char)w[1]);
}

static unsigned ix3(const char *w)
{
    return ix2(w) * 27 + letter_ix((unsigned char)w[2]);
}

/* "@trigger name word word* <digit> <quote> @list ..." (several lines may add to
 * one name).  Words are what the tokeniser yields from normalised text:
 * lower-case letters, digits, apostrophes, UTF-8 letters. */
static int parse_trigger(struct td_grammar *g, struct loader *ld, const char *line)
{
    const char *p = line + strlen("@trigger"), *f;
    size_t n;
    if (!next_field(&p, &f, &n) || !valid_name(f, n))
        return fail(ld, TD_EPARSE, 0, "@trigger needs a name [a-z_][a-z0-9_]*");
    int t = 0;
    int rc = trigger_index(g, ld, f, n, 1, &t);
    if (rc)
        return rc;
    const uint64_t bit = (uint64_t)1 << t;
    int any = 0;
    while (next_field(&p, &f, &n)) {
        any = 1;
        if (field_is(f, n, "<digit>")) {
            g->digit_triggers |= bit;
            continue;
        }
        if (field_is(f, n, "<quote>")) {
            g->quote_triggers |= bit;
            continue;
        }
        if (f[0] == '@') { /* every word of an earlier list */
            int src = 0;
            if ((rc = trigger_index(g, ld, f + 1, n - 1, 0, &src)))
                return rc;
            const uint64_t sb = (uint64_t)1 << src;
            for (size_t i = 0; g->table && i <= g->tmask; i++) {
                if (g->table[i].exact & sb)
                    g->table[i].exact |= bit;
                if (g->table[i].prefix & sb)
                    g->table[i].prefix |= bit;
            }
            if (g->digit_triggers & sb)
                g->digit_triggers |= bit;
            if (g->quote_triggers & sb)
                g->quote_triggers |= bit;
            continue;
        }
        int prefix = f[n - 1] == '*';
        size_t wl = n - (size_t)prefix;
        int ok = wl >= 1 && wl <= TOKEN_MAX && (!prefix || wl >= 2);
        for (size_t i = 0; ok && i < wl; i++) {
            unsigned char c = (unsigned char)f[i];
            ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '\'' || c >= 0x80;
        }
        if (!ok || (prefix && wl >= 64))
            return fail(ld, TD_EPARSE, (size_t)(f - line),
                        "trigger word '%.*s': lower-case letters, digits and ' only "
                        "(prefix* of 2-48), or <digit> / <quote>",
                        (int)n, f);
        if (g->nwords >= MAX_TRIGGER_WORDS)
            return fail(ld, TD_ETOOBIG, 0, "more than %d trigger words", MAX_TRIGGER_WORDS);
        if (!g->table || (g->nwords + 1) * 2 > g->tmask + 1)
            if ((rc = tword_grow(g)))
                return rc;
        struct tword *tw = tword_slot(g, f, wl);
        if (!tw->word) {
            if (!(tw->word = dupn(f, wl)))
                return TD_ENOMEM;
            tw->len = wl;
            g->nwords++;
        }
        if (prefix) {
            tw->prefix |= bit;
            g->prefix_lens |= (uint64_t)1 << wl;
            if (wl == 2)
                g->pfx2[ix2(f) / 8] |= (unsigned char)(1u << (ix2(f) % 8));
            else
                g->pfx3[ix3(f) / 8] |= (unsigned char)(1u << (ix3(f) % 8));
        } else {
            tw->exact |= bit;
        }
    }
    if (!any)
        return fail(ld, TD_EPARSE, 0, "@trigger %.*s lists no words", (int)n, f);
    return TD_OK;
}

/* "@evidence label list,list..." */
static int parse_evidence(struct td_grammar *g, struct loader *ld, const char *line)
{
    const char *p = line + strlen("@evidence"), *f;
    size_t n;
    char name[32];
    if (!next_field(&p, &f, &n) || n >= sizeof name)
        return fail(ld, TD_EPARSE, 0, "@evidence needs a label and trigger lists");
    memcpy(name, f, n);
    name[n] = '\0';
    int l = td_label_from_name(name);
    if (l < 0)
        return fail(ld, TD_EPARSE, (size_t)(f - line), "@evidence: unknown label '%s'", name);
    if (!next_field(&p, &f, &n))
        return fail(ld, TD_EPARSE, 0, "@evidence %s lists no triggers", name);
    size_t a = 0;
    while (a < n) {
        size_t z = a;
        while (z < n && f[z] != ',')
            z++;
        int t = 0;
        int rc = trigger_index(g, ld, f + a, z - a, 0, &t);
        if (rc)
            return rc;
        g->evidence[l] |= (uint64_t)1 << t;
        a = z + 1;
    }
    return TD_OK;
}

/* A rule's trigger field: "-", or groups separated by commas, each a list of
 * @trigger names joined by '+': the rule runs when every trigger of one group
 * occurs ("harm+intent,harm+wish"). */
static int parse_rule_triggers(struct td_grammar *g, struct loader *ld, const char *f, size_t n,
                               struct rule *ru)
{
    ru->ntrig = 0;
    if (field_is(f, n, "-"))
        return TD_OK;
    size_t a = 0;
    uint64_t group = 0;
    while (a <= n) {
        size_t z = a;
        while (z < n && f[z] != ',' && f[z] != '+')
            z++;
        int t = 0;
        int rc = trigger_index(g, ld, f + a, z - a, 0, &t);
        if (rc)
            return rc;
        group |= (uint64_t)1 << t;
        if (z == n || f[z] == ',') {
            if (ru->ntrig >= MAX_TRIGGER_GROUPS)
                return fail(ld, TD_EPARSE, 0, "more than %d trigger groups", MAX_TRIGGER_GROUPS);
            ru->trig[ru->ntrig++] = group;
            group = 0;
        }
        a = z + 1;
    }
    return TD_OK;
}

static int rule_triggered(const struct rule *ru, uint64_t seen)
{
    if (ru->ntrig == 0)
        return 1;
    for (size_t k = 0; k < ru->ntrig; k++)
        if ((ru->trig[k] & seen) == ru->trig[k])
            return 1;
    return 0;
}

static int parse_define(struct loader *ld, const char *line)
{
    const char *p = line + strlen("@define"), *f;
    size_t n;
    if (!next_field(&p, &f, &n) || !valid_name(f, n))
        return fail(ld, TD_EPARSE, 0, "@define needs a name [a-z_][a-z0-9_]*");
    char name[80];
    memcpy(name, f, n);
    name[n] = '\0';
    if (find_named(ld, name))
        return fail(ld, TD_EPARSE, 0, "'%s' defined twice", name);
    if (ld->nnames >= MAX_NAMES)
        return fail(ld, TD_ETOOBIG, 0, "more than 512 lexicons and defines");
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p)
        return fail(ld, TD_EPARSE, 0, "@define %s has no pattern", name);
    struct td_buf b;
    td_buf_init(&b, PATTERN_MAX_BYTES);
    int rc = td_buf_append(&b, "(?:", 3);
    if (!rc)
        rc = expand(ld, p, strlen(p), (size_t)(p - line), &b);
    if (!rc)
        rc = td_buf_putc(&b, ')');
    if (!rc) {
        /* compile once to report a broken define where it is written */
        pcre2_code *re = NULL;
        char what[120];
        snprintf(what, sizeof what, "define %s", name);
        rc = compile(ld, what, b.data, b.len, (size_t)(p - line), &re);
        pcre2_code_free(re);
    }
    if (!rc) {
        struct named *nm = &ld->names[ld->nnames];
        if (!(nm->name = strdup(name))) {
            rc = TD_ENOMEM;
        } else {
            nm->pattern = td_buf_detach(&b, NULL);
            ld->nnames++;
        }
    }
    td_buf_release(&b);
    return rc;
}

static int parse_rule(struct td_grammar *g, struct loader *ld, const char *line)
{
    const char *p = line, *f[6];
    size_t n[6];
    for (int i = 0; i < 6; i++)
        if (!next_field(&p, &f[i], &n[i]))
            return fail(ld, TD_EPARSE, 0,
                        "expected: name kind labels strength flags trigger pattern");
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p)
        return fail(ld, TD_EPARSE, 0, "rule has no pattern");
    if (g->nrules >= MAX_RULES)
        return fail(ld, TD_ETOOBIG, 0, "more than 1024 rules");

    struct rule ru = {0};
    char tmp[64];
    if (n[1] >= sizeof tmp)
        n[1] = sizeof tmp - 1;
    if (field_is(f[1], n[1], "label"))
        ru.kind = TD_HIT_LABEL;
    else if (field_is(f[1], n[1], "detail"))
        ru.kind = TD_HIT_DETAIL;
    else if (field_is(f[1], n[1], "suppress"))
        ru.kind = TD_HIT_SUPPRESS;
    else
        return fail(ld, TD_EPARSE, (size_t)(f[1] - line), "kind must be label, detail or suppress");
    if (!parse_labels(f[2], n[2], &ru.labels))
        return fail(ld, TD_EPARSE, (size_t)(f[2] - line),
                    "labels: a comma list of threat, identity_hate, abuse, sexual, "
                    "intimidation, or all");
    memcpy(tmp, f[3], n[3] < sizeof tmp - 1 ? n[3] : sizeof tmp - 1);
    tmp[n[3] < sizeof tmp - 1 ? n[3] : sizeof tmp - 1] = '\0';
    char *end = NULL;
    errno = 0;
    ru.strength = strtof(tmp, &end);
    if (errno || end == tmp || *end || !(ru.strength >= 0.0f && ru.strength <= 1.0f))
        return fail(ld, TD_EPARSE, (size_t)(f[3] - line), "strength must be a number in 0..1");
    if (!parse_flags(f[4], n[4], &ru.flags))
        return fail(ld, TD_EPARSE, (size_t)(f[4] - line),
                    "flags: '-' or a comma list of time_bound, location, family, address, "
                    "past_attack_reference, obfuscated, means");
    if (ru.kind == TD_HIT_DETAIL && !ru.flags)
        return fail(ld, TD_EPARSE, (size_t)(f[4] - line), "a detail rule must raise a flag");
    int rc = parse_rule_triggers(g, ld, f[5], n[5], &ru);
    if (rc) {
        if (ld->err && !ld->err->byte)
            ld->err->byte = (size_t)(f[5] - line);
        return rc;
    }
    if (!(ru.name = dupn(f[0], n[0])))
        return TD_ENOMEM;
    struct td_buf b;
    td_buf_init(&b, PATTERN_MAX_BYTES);
    rc = expand(ld, p, strlen(p), (size_t)(p - line), &b);
    if (!rc) {
        char what[120];
        snprintf(what, sizeof what, "rule %s", ru.name);
        rc = compile(ld, what, b.data ? b.data : "", b.len, (size_t)(p - line), &ru.re);
    }
    td_buf_release(&b);
    if (rc) {
        free(ru.name);
        return rc;
    }
    g->rules[g->nrules++] = ru;
    return TD_OK;
}

int td_grammar_load(const char *dir, struct td_grammar **out, struct td_error *err)
{
    struct loader ld;
    memset(&ld, 0, sizeof ld);
    ld.dir = dir;
    ld.err = err;
    char *line = NULL;
    size_t linecap = 0, len = 0;
    FILE *f = NULL;
    int rc = TD_OK;
    *out = NULL;
    struct td_grammar *g = calloc(1, sizeof *g);
    if (!g || !(g->rules = calloc(MAX_RULES, sizeof *g->rules))) {
        rc = td_error_set(err, TD_ENOMEM, "grammar: out of memory");
        goto out;
    }
    snprintf(ld.file, sizeof ld.file, "%s/rules.txt", dir);
    if (!(f = fopen(ld.file, "r"))) {
        int e = errno;
        rc =
            fail(&ld, e == ENOENT ? TD_ENOTFOUND : TD_EIO, 0, "cannot open rules: %s", strerror(e));
        goto out;
    }
    while ((rc = read_line(&ld, f, &line, &linecap, &len)) == 1) {
        const char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            continue;
        if (strncmp(s, "@define", 7) == 0 && (s[7] == ' ' || s[7] == '\t'))
            rc = parse_define(&ld, s);
        else if (strncmp(s, "@trigger", 8) == 0 && (s[8] == ' ' || s[8] == '\t'))
            rc = parse_trigger(g, &ld, s);
        else if (strncmp(s, "@evidence", 9) == 0 && (s[9] == ' ' || s[9] == '\t'))
            rc = parse_evidence(g, &ld, s);
        else
            rc = parse_rule(g, &ld, s);
        if (rc) {
            if (rc == TD_ENOMEM)
                td_error_set(err, rc, "grammar: out of memory");
            goto out;
        }
    }
    if (rc < 0)
        goto out;
    if (g->nrules == 0) {
        rc = fail(&ld, TD_EPARSE, 0, "no rules");
        goto out;
    }
    *out = g;
    g = NULL;
    rc = TD_OK;
out:
    if (f)
        fclose(f);
    free(line);
    for (size_t i = 0; i < ld.nnames; i++) {
        free(ld.names[i].name);
        free(ld.names[i].pattern);
    }
    td_grammar_free(g);
    return rc;
}

void td_grammar_free(struct td_grammar *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->nrules; i++) {
        free(g->rules[i].name);
        pcre2_code_free(g->rules[i].re);
    }
    free(g->rules);
    for (size_t i = 0; i < g->ntriggers; i++)
        free(g->triggers[i]);
    if (g->table)
        for (size_t i = 0; i <= g->tmask; i++)
            free(g->table[i].word);
    free(g->table);
    free(g);
}

/* ---- results -------------------------------------------------------------- */

void td_grammar_result_init(struct td_grammar_result *r)
{
    memset(r, 0, sizeof *r);
}

void td_grammar_result_release(struct td_grammar_result *r)
{
    struct scratch *s = r->scratch_;
    if (s) {
        pcre2_match_data_free(s->md);
        pcre2_match_context_free(s->mc);
        pcre2_jit_stack_free(s->js);
        free(s);
    }
    free(r->hits);
    memset(r, 0, sizeof *r);
}

static int scratch_get(struct td_grammar_result *r, struct scratch **out)
{
    if (r->scratch_) {
        *out = r->scratch_;
        return TD_OK;
    }
    struct scratch *s = calloc(1, sizeof *s);
    if (!s)
        return TD_ENOMEM;
    s->md = pcre2_match_data_create(1, NULL);
    s->mc = pcre2_match_context_create(NULL);
    s->js = pcre2_jit_stack_create(32 * 1024, JIT_STACK_MAX, NULL);
    if (!s->md || !s->mc) {
        pcre2_match_data_free(s->md);
        pcre2_match_context_free(s->mc);
        pcre2_jit_stack_free(s->js);
        free(s);
        return TD_ENOMEM;
    }
    pcre2_set_match_limit(s->mc, MATCH_LIMIT);
    pcre2_set_depth_limit(s->mc, DEPTH_LIMIT);
    if (s->js) /* without one, JIT uses its small default stack */
        pcre2_jit_stack_assign(s->mc, NULL, s->js);
    r->scratch_ = s;
    *out = s;
    return TD_OK;
}

static int push_hit(struct td_grammar_result *r, const struct td_grammar_hit *h)
{
    if (r->nhits == r->cap_) {
        if (r->cap_ >= MAX_HITS)
            return TD_OK; /* enough evidence; further hits add nothing */
        size_t nc = r->cap_ ? r->cap_ * 2 : 16;
        struct td_grammar_hit *p = realloc(r->hits, nc * sizeof *p);
        if (!p)
            return TD_ENOMEM;
        r->hits = p;
        r->cap_ = nc;
    }
    r->hits[r->nhits++] = *h;
    return TD_OK;
}

static int match_error(struct td_error *err, int rc, const char *rule)
{
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(rc, msg, sizeof msg);
    int code = rc == PCRE2_ERROR_NOMEMORY ? TD_ENOMEM : TD_ETOOBIG;
    return td_error_set(err, code, "grammar rule %s: %s", rule, (const char *)msg);
}

/* Start of the next UTF-8 character after offset i. */
static size_t next_char(const char *t, size_t len, size_t i)
{
    i++;
    while (i < len && ((unsigned char)t[i] & 0xC0) == 0x80)
        i++;
    return i;
}

static int run_rule(const struct rule *ru, const char *text, size_t len, struct scratch *s,
                    struct td_grammar_result *r, struct td_error *err)
{
    size_t off = 0;
    while (off <= len) {
        int rc = pcre2_match(ru->re, (PCRE2_SPTR)text, len, off, PCRE2_NO_UTF_CHECK, s->md, s->mc);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0)
            return match_error(err, rc, ru->name);
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
        size_t a = ov[0], b = ov[1];
        if (b > a) {
            for (int l = 0; l < TD_LABEL_COUNT; l++) {
                if (!((ru->labels >> l) & 1))
                    continue;
                struct td_grammar_hit h = {
                    a, b, ru->kind, (enum td_label)l, ru->flags, ru->strength, ru->name};
                if ((rc = push_hit(r, &h)))
                    return td_error_set(err, rc, "grammar: out of memory");
            }
        }
        off = b > off ? b : next_char(text, len, off);
    }
    return TD_OK;
}

/*
 * The pre-filter: cut the text into words (ASCII letters and digits, UTF-8
 * letters, apostrophes inside a word; U+2019 read as ') and OR together the
 * trigger bits of every word and of every listed prefix of it.  <digit>
 * triggers fire on any digit, <quote> triggers on a quote mark (" “ ” ‘, or
 * an apostrophe that opens a word).
 */
static uint64_t triggers_present(const struct td_grammar *g, const char *t, size_t len)
{
    enum { WORD, SEP, APOS };
    uint64_t seen = 0;
    char w[TOKEN_MAX];
    size_t wl = 0, i = 0;
    int too_long = 0;
    for (;;) {
        int kind = SEP;
        size_t adv = 1;
        char ch = 0;
        if (i < len) {
            unsigned char c = (unsigned char)t[i];
            if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
                kind = WORD;
                ch = (char)c;
                if (c <= '9')
                    seen |= g->digit_triggers;
            } else if (c >= 'A' && c <= 'Z') {
                kind = WORD;
                ch = (char)(c - 'A' + 'a');
            } else if (c == '\'') {
                kind = APOS;
            } else if (c == 0xE2 && i + 2 < len && (unsigned char)t[i + 1] == 0x80) {
                unsigned char d = (unsigned char)t[i + 2];
                adv = 3;
                if (d == 0x99) /* ’ */
                    kind = APOS;
                else if (d == 0x98 || d == 0x9C || d == 0x9D) /* ‘ “ ” */
                    seen |= g->quote_triggers;
            } else if (c == '"') {
                seen |= g->quote_triggers;
            } else if (c >= 0x80) {
                kind = WORD; /* a byte of a letter of another script */
                ch = (char)c;
            }
        }
        if (kind == APOS) {
            if (wl == 0) {
                seen |= g->quote_triggers; /* an apostrophe opening a word */
                kind = SEP;
            } else {
                kind = WORD;
                ch = '\'';
            }
        }
        if (kind == WORD) {
            if (wl < TOKEN_MAX)
                w[wl++] = ch;
            else
                too_long = 1;
        } else {
            while (wl > 0 && w[wl - 1] == '\'') /* a closing quote is not part of it */
                wl--;
            if (wl > 0 && !too_long && g->table) {
                const struct tword *tw = tword_slot(g, w, wl);
                if (tw->word)
                    seen |= tw->exact | tw->prefix;
                uint64_t lens = g->prefix_lens & ((((uint64_t)1) << wl) - 1);
                if (wl < 3 || !(g->pfx3[ix3(w) / 8] & (1u << (ix3(w) % 8))))
                    lens &= (uint64_t)1 << 2;
                if (wl < 3 || !(g->pfx2[ix2(w) / 8] & (1u << (ix2(w) % 8))))
                    lens &= ~((uint64_t)1 << 2);
                while (lens) {
                    size_t pl = (size_t)__builtin_ctzll(lens);
                    lens &= lens - 1;
                    tw = tword_slot(g, w, pl);
                    if (tw->word)
                        seen |= tw->prefix;
                }
            }
            wl = 0;
            too_long = 0;
        }
        if (i >= len)
            break;
        i += adv;
    }
    return seen;
}

static int overlaps(const struct td_grammar_hit *x, const struct td_grammar_hit *y)
{
    return x->start < y->end && y->start < x->end;
}

static int hit_cmp(const void *a, const void *b)
{
    const struct td_grammar_hit *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->label != y->label)
        return x->label < y->label ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/* Cancel, score, tie details, compact.  See the file header. */
static void resolve(const struct td_grammar *g, const char *text, struct td_grammar_result *r)
{
    const unsigned tie_labels = (1u << TD_LABEL_THREAT) | (1u << TD_LABEL_INTIMIDATION);
    unsigned survived = 0;
    /* a suppressor counts against its label when it cancelled a label hit,
     * or when its span holds evidence for the label (@evidence): "he said
     * he'd be late" is a report, but of nothing that matters */
    for (size_t i = 0; i < r->nhits; i++) {
        struct td_grammar_hit *s = &r->hits[i];
        if (s->kind != TD_HIT_SUPPRESS)
            continue;
        int counts =
            g->evidence[s->label] == 0 ||
            (triggers_present(g, text + s->start, s->end - s->start) & g->evidence[s->label]) != 0;
        for (size_t j = 0; !counts && j < r->nhits; j++)
            counts = r->hits[j].kind == TD_HIT_LABEL && r->hits[j].label == s->label &&
                     overlaps(&r->hits[j], s);
        if (counts)
            r->suppressed[s->label] = 1;
        else
            s->strength = -1.0f; /* strength < 0 marks a hit to drop */
    }
    for (size_t i = 0; i < r->nhits; i++) {
        struct td_grammar_hit *h = &r->hits[i];
        if (h->kind != TD_HIT_LABEL)
            continue;
        for (size_t j = 0; j < r->nhits; j++) {
            const struct td_grammar_hit *s = &r->hits[j];
            if (s->kind == TD_HIT_SUPPRESS && s->label == h->label && overlaps(h, s)) {
                h->strength = -1.0f;
                break;
            }
        }
        if (h->strength < 0)
            continue;
        survived |= 1u << h->label;
        if (h->strength > r->score[h->label])
            r->score[h->label] = h->strength;
        if ((tie_labels >> h->label) & 1)
            r->flags |= h->flags;
    }
    enum td_label tie_to =
        survived & (1u << TD_LABEL_THREAT) ? TD_LABEL_THREAT : TD_LABEL_INTIMIDATION;
    for (size_t i = 0; i < r->nhits; i++) {
        struct td_grammar_hit *h = &r->hits[i];
        if (h->kind != TD_HIT_DETAIL)
            continue;
        int keep = (survived & tie_labels) != 0;
        for (size_t j = 0; keep && j < r->nhits; j++) {
            const struct td_grammar_hit *s = &r->hits[j];
            if (s->kind == TD_HIT_SUPPRESS && s->strength >= 0 && s->label == TD_LABEL_THREAT &&
                overlaps(h, s))
                keep = 0;
        }
        if (!keep) {
            h->strength = -1.0f;
            continue;
        }
        h->label = tie_to;
        r->flags |= h->flags;
    }
    size_t o = 0;
    for (size_t i = 0; i < r->nhits; i++)
        if (r->hits[i].strength >= 0)
            r->hits[o++] = r->hits[i];
    r->nhits = o;
    if (r->nhits > 1) /* hits may still be NULL: qsort wants a valid base */
        qsort(r->hits, r->nhits, sizeof *r->hits, hit_cmp);
    /* the same rule name over the same span twice (two lines of one rule,
     * e.g. threat.direct with {harm} and with {harm_full}) is one hit */
    o = 0;
    for (size_t i = 0; i < r->nhits; i++) {
        const struct td_grammar_hit *h = &r->hits[i];
        int dup = 0;
        for (size_t j = o; j-- > 0 && r->hits[j].start == h->start;)
            if (r->hits[j].end == h->end && r->hits[j].kind == h->kind &&
                r->hits[j].label == h->label && strcmp(r->hits[j].rule, h->rule) == 0) {
                dup = 1;
                break;
            }
        if (!dup)
            r->hits[o++] = *h;
    }
    r->nhits = o;
}

static int match(const struct td_grammar *g, const char *text, size_t len,
                 struct td_grammar_result *r, int use_triggers, struct td_error *err)
{
    r->nhits = 0;
    r->flags = 0;
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        r->score[l] = 0.0f;
        r->suppressed[l] = 0;
    }
    if (!g || (!text && len))
        return td_error_set(err, TD_EINVAL, "grammar: no grammar or no text");
    if (len == 0)
        return TD_OK;
    size_t valid = td_utf8_valid_prefix(text, len);
    if (valid != len) {
        td_error_set(err, TD_EUTF8, "grammar: text is not valid UTF-8 (normalise it first)");
        td_error_at(err, NULL, 0, valid);
        return TD_EUTF8;
    }
    struct scratch *s;
    int rc = scratch_get(r, &s);
    if (rc)
        return td_error_set(err, rc, "grammar: out of memory");

    const uint64_t seen = use_triggers ? triggers_present(g, text, len) : ~(uint64_t)0;
    const unsigned tie_labels = (1u << TD_LABEL_THREAT) | (1u << TD_LABEL_INTIMIDATION);
    int need_details = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            /* details only matter beside a threat or intimidation hit */
            for (size_t i = 0; i < r->nhits && !need_details; i++)
                need_details =
                    r->hits[i].kind == TD_HIT_LABEL && ((tie_labels >> r->hits[i].label) & 1);
            if (!need_details)
                break;
        }
        for (size_t i = 0; i < g->nrules; i++) {
            const struct rule *ru = &g->rules[i];
            if ((ru->kind == TD_HIT_DETAIL) != pass)
                continue;
            if (!rule_triggered(ru, seen))
                continue;
            if ((rc = run_rule(ru, text, len, s, r, err)))
                return rc;
        }
    }
    resolve(g, text, r);
    return TD_OK;
}

int td_grammar_match(const struct td_grammar *g, const char *text, size_t len,
                     struct td_grammar_result *r, struct td_error *err)
{
    return match(g, text, len, r, 1, err);
}

int td__grammar_match_unfiltered(const struct td_grammar *g, const char *text, size_t len,
                                 struct td_grammar_result *r, struct td_error *err)
{
    return match(g, text, len, r, 0, err);
}

/* Details alone (grammar.h): the detail rules over the whole text, every
 * hit kept - for a caller whose learned model found a threat that no
 * threat rule structured ("i'm going to come to your surgery on friday and
 * stab you"), so that its time and place still make it critical. */
int td_grammar_details(const struct td_grammar *g, const char *text, size_t len,
                       struct td_grammar_result *r, struct td_error *err)
{
    r->nhits = 0;
    r->flags = 0;
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        r->score[l] = 0.0f;
        r->suppressed[l] = 0;
    }
    if (!g || (!text && len))
        return td_error_set(err, TD_EINVAL, "grammar: no grammar or no text");
    if (len == 0)
        return TD_OK;
    if (td_utf8_valid_prefix(text, len) != len)
        return td_error_set(err, TD_EUTF8, "grammar: text is not valid UTF-8 (normalise it first)");
    struct scratch *s;
    int rc = scratch_get(r, &s);
    if (rc)
        return td_error_set(err, rc, "grammar: out of memory");
    const uint64_t seen = triggers_present(g, text, len);
    for (size_t i = 0; i < g->nrules; i++) {
        const struct rule *ru = &g->rules[i];
        if (ru->kind != TD_HIT_DETAIL || !rule_triggered(ru, seen))
            continue;
        if ((rc = run_rule(ru, text, len, s, r, err)))
            return rc;
    }
    for (size_t i = 0; i < r->nhits; i++) {
        r->hits[i].label = TD_LABEL_THREAT;
        r->flags |= r->hits[i].flags;
    }
    if (r->nhits > 1)
        qsort(r->hits, r->nhits, sizeof *r->hits, hit_cmp);
    return TD_OK;
}
