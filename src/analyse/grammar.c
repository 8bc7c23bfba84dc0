/*
 * grammar.c - the explainable threat grammar (include/threatdesk/grammar.h).
 *
 * Data (never C tables): <dir>/rules.txt and <dir>/lexicons/<name>.txt, both
 * described in data/grammar/README.md.  In short, a rule line is
 *
 *   name  kind  labels  strength  flags  trigger  pattern...
 *
 * kind is label | detail | suppress; labels a comma list of label names or
 * "all"; flags "-" or a comma list of flag names; trigger "-" (the words the
 * rule needs are derived from its pattern) or declared @trigger groups
 * (checked as well); the pattern (rest of the line) is PCRE2 in which
 * {name} expands to a define ("@define name pattern" lines) or to a lexicon
 * file as (?:e1|e2|...).  An ASCII apostrophe in a pattern or lexicon entry
 * also matches U+2019 (the normaliser keeps curly apostrophes).
 *
 * Matching, per text:
 *   1. pre-filter: the words each rule needs are read off its expanded
 *      pattern at load time (grammar_req.c): a few clauses ("one of these
 *      words") and a fuller formula (every alternative's words).  The text is
 *      cut once into tokens (runs of ASCII letters and digits) looked up in
 *      one hash table; a rule runs only when its clauses and formula hold.
 *      Suppressors run only where they could count (a hit of their label,
 *      or that label's @evidence words in the text), details only next to a
 *      threat or intimidation hit.  The requirement is necessary by
 *      construction, so the result is the same as running every rule (the
 *      tests check this on the datasets);
 *   2. each rule that passes runs over the whole text, every non-overlapping
 *      match becoming a hit - or, in a text of 4 KiB or more and for a rule
 *      whose match length is bounded, only in windows [w - max, w] around
 *      the tokens w of its rarest clause (the same matches, far less work);
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
#define MAX_CLAUSES 512              /* word lists: @trigger lists + derived clauses */
#define CW (MAX_CLAUSES / 64)        /* uint64_t words of a clause set */
#define MAX_RULE_CLAUSES 4           /* derived clauses kept per rule (the rarest) */
#define MAX_TRIGGER_WORDS 16384      /* distinct trigger words */
#define MAX_TRIGGER_GROUPS 4         /* "a+b,c+d,..." in a rule's trigger field */
#define TOKEN_MAX TD__TOKEN_MAX      /* longer words cannot be trigger words */
/* a text at least this long runs bounded rules only in windows around the
 * words they need (shorter texts: one pass is cheaper than the windows) */
#define WINDOW_MIN_TEXT 4096
#define MAX_FREQ_WORDS 65536 /* word_freq.txt lines */
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
    /* declared: run when every list of one group occurs (ntrig 0: no
     * declared groups) */
    uint64_t trig[MAX_TRIGGER_GROUPS][CW];
    size_t ntrig;
    uint64_t need[CW]; /* derived: every one of these clauses must occur */
    /* derived: the fuller word condition (grammar_int.h); ATOM nodes hold
     * atom ids (table row * 2 + prefix).  NULL: none */
    struct td__fnode *form;
    struct td__len len; /* bound on a match's length (windows) */
    char *req;          /* the derived clauses as text, for td__grammar_rule_info */
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
    uint32_t row; /* g->rows[row]: clauses listing the word itself ([0..CW)) and
                     listing word* ([CW..2CW)) */
};

/* word_freq.txt: how common words are, sorted by word for prefix sums. */
struct freq {
    char **w;
    unsigned long *cum; /* cum[i] = sum of counts of w[0..i) */
    size_t n;
    /* the analysis asks about the same words many times: a lossy cache of
     * answers, keyed by a hash of (word, prefix) */
    struct {
        uint64_t key;
        unsigned long cost;
    } memo[4096];
};

struct td_grammar {
    struct rule *rules;
    size_t nrules;
    /* clause c is the @trigger list triggers[c], or (triggers[c] == NULL) a
     * clause derived from a rule's pattern, ckey[c] its words as text */
    char *triggers[MAX_CLAUSES];
    char *ckey[MAX_CLAUSES];
    size_t ntriggers;
    size_t nw;           /* uint64_t words in use of a clause set: ceil(ntriggers / 64) */
    struct tword *table; /* size tmask + 1, a power of two */
    size_t tmask, nwords;
    uint64_t (*rows)[2 * CW];
    size_t nrows, caprows;
    uint64_t prefix_lens; /* bit L: some prefix entry has length L (< 64) */
    uint64_t always[CW];  /* lists no token can stand for: always present */
    uint64_t digit_triggers[CW], quote_triggers[CW]; /* <digit> and <quote> entries */
    /* first two / three letters of every prefix entry (bit sets indexed by
     * letter_ix): most words need no prefix look-up at all */
    unsigned char pfx2[(27 * 27 + 7) / 8];
    unsigned char pfx3[(27 * 27 * 27 + 7) / 8];
    /* @evidence: trigger lists one of whose words must occur inside a
     * suppressor's span for it to count against the label (0 = any) */
    uint64_t evidence[TD_LABEL_COUNT][CW];
    int has_evidence[TD_LABEL_COUNT];
    /* indexes of the large OR nodes of the rules' formulas (form_true) */
    struct orix *orix;
    size_t norix;
    size_t aw; /* uint64_t words of an atom set: atom ids < 64 * aw */
};

/* An OR node's children by their first (rarest) atom: a child can only be
 * true when that atom is present, so only the text's atoms are looked at. */
struct orix {
    uint64_t *first; /* atom ids that start some child */
    uint32_t *atom;  /* [npairs], sorted; off[i]: that child's offset from the OR node */
    uint32_t *off;
    size_t npairs;
    uint32_t *other; /* children without a first atom: always evaluated */
    size_t nother;
};

/* One token of a long text that is a trigger word: where, and its row. */
enum { OCC_PREFIX = 1, OCC_BOTH = 2 };
struct occ {
    uint32_t start;
    uint32_t row : 31; /* 8 bytes an entry: a 16 MB text has millions */
    uint32_t both : 1; /* 1: the exact half counts too (else only the prefix half) */
};

/* Per-result scratch: match data, a match context (limits) and a JIT
 * stack - one set per result, so one grammar serves many threads. */
struct scratch {
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *js;
    struct occ *occ; /* long texts: trigger-word tokens, in text order */
    size_t nocc, capocc;
    size_t *win; /* windows of match starts: [a0, z0, a1, z1, ...] */
    size_t capwin;
    uint64_t *aseen; /* atoms (row * 2 + prefix) present in the text */
    size_t capaseen; /* in uint64_t words */
    uint32_t *alist; /* the same atoms as a list */
    size_t nalist, capalist;
};

/* ---- loading -------------------------------------------------------------- */

struct loader {
    const char *dir;
    char file[1024]; /* the file being read, for errors */
    size_t line;
    struct named names[MAX_NAMES];
    size_t nnames;
    struct td_error *err;
    /* requirements: from the cache when it has the rule, else derived with
     * the word frequencies (loaded on the first derivation) */
    struct td__reqcache *cache;
    struct td_buf *record; /* not NULL: write a fresh cache here */
    struct freq *freq;
    size_t misses;
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

/* Rules are compiled with PCRE2_USE_OFFSET_LIMIT: in a long text a rule runs
 * only in windows, and the offset limit stops a search at a window's end. */
static int compile(struct loader *ld, const char *what, const char *pat, size_t len, size_t col,
                   uint32_t opts, pcre2_code **out)
{
    int ec = 0;
    PCRE2_SIZE eo = 0;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pat, len, PCRE2_UTF | PCRE2_UCP | opts, &ec, &eo, NULL);
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

static void set_bit(uint64_t *set, size_t c)
{
    set[c / 64] |= (uint64_t)1 << (c % 64);
}

static int has_bit(const uint64_t *set, size_t c)
{
    return (int)((set[c / 64] >> (c % 64)) & 1);
}

static int trigger_index(struct td_grammar *g, struct loader *ld, const char *name, size_t n,
                         int create, int *out)
{
    for (size_t i = 0; i < g->ntriggers; i++)
        if (g->triggers[i] && strlen(g->triggers[i]) == n && memcmp(g->triggers[i], name, n) == 0) {
            *out = (int)i;
            return TD_OK;
        }
    if (!create)
        return fail(ld, TD_ENOTFOUND, 0, "no @trigger named '%.*s' above this line", (int)n, name);
    if (g->ntriggers >= MAX_CLAUSES)
        return fail(ld, TD_ETOOBIG, 0, "more than %d @trigger lists and derived clauses",
                    MAX_CLAUSES);
    if (!(g->triggers[g->ntriggers] = dupn(name, n)))
        return TD_ENOMEM;
    *out = (int)g->ntriggers++;
    g->nw = (g->ntriggers + 63) / 64;
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

#define NO_CLAUSE ((size_t)-1)

/* Enter word w[0..wl) (a prefix when prefix) into clause c (NO_CLAUSE: into
 * the table only); *rowp (if set) gets its row. */
static int add_word_row(struct td_grammar *g, const char *w, size_t wl, int prefix, size_t c,
                        uint32_t *rowp)
{
    int rc;
    if (g->nwords >= MAX_TRIGGER_WORDS)
        return TD_ETOOBIG;
    if (!g->table || (g->nwords + 1) * 2 > g->tmask + 1)
        if ((rc = tword_grow(g)))
            return rc;
    struct tword *tw = tword_slot(g, w, wl);
    if (!tw->word) {
        if (g->nrows == g->caprows) {
            size_t nc = g->caprows ? g->caprows * 2 : 256;
            void *p = realloc(g->rows, nc * sizeof *g->rows);
            if (!p)
                return TD_ENOMEM;
            g->rows = p;
            g->caprows = nc;
        }
        memset(g->rows[g->nrows], 0, sizeof g->rows[0]);
        if (!(tw->word = dupn(w, wl)))
            return TD_ENOMEM;
        tw->len = wl;
        tw->row = (uint32_t)g->nrows++;
        g->nwords++;
    }
    if (rowp)
        *rowp = tw->row;
    if (prefix) {
        if (c != NO_CLAUSE)
            set_bit(g->rows[tw->row] + CW, c);
        g->prefix_lens |= (uint64_t)1 << wl;
        if (wl == 2)
            g->pfx2[ix2(w) / 8] |= (unsigned char)(1u << (ix2(w) % 8));
        else
            g->pfx3[ix3(w) / 8] |= (unsigned char)(1u << (ix3(w) % 8));
    } else if (c != NO_CLAUSE) {
        set_bit(g->rows[tw->row], c);
    }
    return TD_OK;
}

static int add_word(struct td_grammar *g, const char *w, size_t wl, int prefix, size_t c)
{
    return add_word_row(g, w, wl, prefix, c, NULL);
}

static int tok_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
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
    int any = 0;
    while (next_field(&p, &f, &n)) {
        any = 1;
        if (field_is(f, n, "<digit>")) {
            set_bit(g->digit_triggers, (size_t)t);
            continue;
        }
        if (field_is(f, n, "<quote>")) {
            set_bit(g->quote_triggers, (size_t)t);
            continue;
        }
        if (f[0] == '@') { /* every word of an earlier list */
            int src = 0;
            if ((rc = trigger_index(g, ld, f + 1, n - 1, 0, &src)))
                return rc;
            for (size_t i = 0; i < g->nrows; i++)
                for (size_t h = 0; h < 2; h++)
                    if (has_bit(g->rows[i] + h * CW, (size_t)src))
                        set_bit(g->rows[i] + h * CW, (size_t)t);
            if (has_bit(g->digit_triggers, (size_t)src))
                set_bit(g->digit_triggers, (size_t)t);
            if (has_bit(g->quote_triggers, (size_t)src))
                set_bit(g->quote_triggers, (size_t)t);
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
        if ((rc = add_word(g, f, wl, prefix, (size_t)t)))
            return rc == TD_ETOOBIG
                       ? fail(ld, rc, 0, "more than %d trigger words", MAX_TRIGGER_WORDS)
                       : rc;
        /* A word with an apostrophe or a non-ASCII letter is several tokens
         * to the text pre-filter (which cuts at anything but a-z0-9): enter
         * its first run of letters/digits too, so the list still fires. */
        size_t a = 0;
        while (a < wl && !tok_char((unsigned char)f[a]))
            a++;
        size_t z = a;
        while (z < wl && tok_char((unsigned char)f[z]))
            z++;
        if (a == 0 && z == wl)
            continue; /* a plain word */
        int sub_prefix = z == wl && prefix;
        if (z == a || (sub_prefix && z - a < 2)) {
            /* no token can stand for it: the list always counts as present */
            set_bit(g->always, (size_t)t);
            continue;
        }
        if ((rc = add_word(g, f + a, z - a, sub_prefix, (size_t)t)))
            return rc == TD_ETOOBIG
                       ? fail(ld, rc, 0, "more than %d trigger words", MAX_TRIGGER_WORDS)
                       : rc;
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
        set_bit(g->evidence[l], (size_t)t);
        g->has_evidence[l] = 1;
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
    uint64_t group[CW] = {0};
    while (a <= n) {
        size_t z = a;
        while (z < n && f[z] != ',' && f[z] != '+')
            z++;
        int t = 0;
        int rc = trigger_index(g, ld, f + a, z - a, 0, &t);
        if (rc)
            return rc;
        set_bit(group, (size_t)t);
        if (z == n || f[z] == ',') {
            if (ru->ntrig >= MAX_TRIGGER_GROUPS)
                return fail(ld, TD_EPARSE, 0, "more than %d trigger groups", MAX_TRIGGER_GROUPS);
            memcpy(ru->trig[ru->ntrig++], group, sizeof group);
            memset(group, 0, sizeof group);
        }
        a = z + 1;
    }
    return TD_OK;
}

static int subset(const uint64_t *need, const uint64_t *seen, size_t nw)
{
    uint64_t miss = 0;
    for (size_t i = 0; i < nw; i++)
        miss |= need[i] & ~seen[i];
    return miss == 0;
}

static int intersects(const uint64_t *a, const uint64_t *b, size_t nw)
{
    uint64_t any = 0;
    for (size_t i = 0; i < nw; i++)
        any |= a[i] & b[i];
    return any != 0;
}

static int rule_triggered(const struct td_grammar *g, const struct rule *ru, const uint64_t *seen)
{
    if (!subset(ru->need, seen, g->nw))
        return 0;
    if (ru->ntrig == 0)
        return 1;
    for (size_t k = 0; k < ru->ntrig; k++)
        if (subset(ru->trig[k], seen, g->nw))
            return 1;
    return 0;
}

/* ---- word frequencies (word_freq.txt) ------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void freq_release(struct freq *fq)
{
    for (size_t i = 0; i < fq->n; i++)
        free(fq->w[i]);
    free(fq->w);
    free(fq->cum);
    memset(fq, 0, sizeof *fq);
}

/* "<word> <count>" lines; the file is optional (all words then cost the
 * same, and clauses are kept in pattern order). */
static int freq_load(struct loader *ld, struct freq *fq)
{
    char path[sizeof ld->file];
    snprintf(path, sizeof path, "%s/word_freq.txt", ld->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return TD_OK;
    char *line = NULL;
    size_t cap = 0, got = 0, capw = 0;
    int rc = TD_OK;
    char **w = NULL;
    unsigned long *cnt = NULL;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0 && got < MAX_FREQ_WORDS) {
        if (n == 0 || line[0] == '#' || line[0] == '\n')
            continue;
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        char *end = NULL;
        errno = 0;
        unsigned long c = strtoul(sp + 1, &end, 10);
        if (errno || end == sp + 1)
            continue;
        if (got == capw) {
            capw = capw ? capw * 2 : 1024;
            char **nw = realloc(w, capw * sizeof *nw);
            unsigned long *nc = nw ? realloc(cnt, capw * sizeof *nc) : NULL;
            if (nw)
                w = nw;
            if (!nw || !nc) {
                rc = TD_ENOMEM;
                break;
            }
            cnt = nc;
        }
        /* the count rides after the word's NUL, so sorting keeps them together */
        size_t wl = (size_t)(sp - line);
        if (!(w[got] = malloc(wl + 1 + sizeof c))) {
            rc = TD_ENOMEM;
            break;
        }
        memcpy(w[got], line, wl);
        w[got][wl] = '\0';
        memcpy(w[got] + wl + 1, &c, sizeof c);
        got++;
    }
    free(line);
    fclose(f);
    free(cnt);
    if (rc) {
        for (size_t i = 0; i < got; i++)
            free(w[i]);
        free(w);
        return rc;
    }
    if (got > 1)
        qsort(w, got, sizeof *w, cmp_str);
    fq->cum = calloc(got + 1, sizeof *fq->cum);
    if (!fq->cum) {
        for (size_t i = 0; i < got; i++)
            free(w[i]);
        free(w);
        return TD_ENOMEM;
    }
    for (size_t i = 0; i < got; i++) {
        unsigned long c;
        memcpy(&c, w[i] + strlen(w[i]) + 1, sizeof c);
        fq->cum[i + 1] = fq->cum[i] + c;
    }
    fq->w = w;
    fq->n = got;
    return TD_OK;
}

/* First index whose word is >= key[0..n) (by bytes; shorter first). */
static size_t freq_lower(const struct freq *fq, const char *key, size_t n)
{
    size_t lo = 0, hi = fq->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strncmp(fq->w[mid], key, n);
        if (c < 0 || (c == 0 && strlen(fq->w[mid]) < n))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static unsigned long word_cost_uncached(const struct freq *fq, const char *w, size_t n, int prefix)
{
    if (!fq->cum)
        return prefix; /* no word_freq.txt: all words alike */
    size_t i = freq_lower(fq, w, n);
    if (!prefix)
        return i < fq->n && strlen(fq->w[i]) == n && strncmp(fq->w[i], w, n) == 0
                   ? fq->cum[i + 1] - fq->cum[i]
                   : 0;
    size_t j = i;
    while (j < fq->n && strncmp(fq->w[j], w, n) == 0)
        j++;
    return fq->cum[j] - fq->cum[i] + 1;
}

static unsigned long word_cost(void *arg, const char *w, size_t n, int prefix)
{
    struct freq *fq = arg;
    /* only the choice of clauses depends on it: a rare collision is harmless */
    uint64_t key = (uint64_t)XXH3_64bits_withSeed(w, n, (uint64_t)(prefix != 0)) | 1u;
    size_t slot = (size_t)(key >> 8) % (sizeof fq->memo / sizeof fq->memo[0]);
    if (fq->memo[slot].key == key)
        return fq->memo[slot].cost;
    unsigned long c = word_cost_uncached(fq, w, n, prefix);
    fq->memo[slot].key = key;
    fq->memo[slot].cost = c;
    return c;
}

/* Enter the derived requirement of rule ru: each clause becomes (or
 * shares) a clause id whose words go into the table. */
static int add_requirement(struct td_grammar *g, struct loader *ld, struct rule *ru,
                           const char *pat, size_t len)
{
    struct td__req rq;
    int rc = ld->cache ? td__reqcache_get(ld->cache, pat, len, &rq) : TD_ENOTFOUND;
    if (rc != TD_OK) {
        if (!ld->freq) {
            if (!(ld->freq = calloc(1, sizeof *ld->freq)))
                return TD_ENOMEM;
            if ((rc = freq_load(ld, ld->freq)))
                return rc;
        }
        ld->misses++;
        if ((rc = td__req_derive(pat, len, word_cost, ld->freq, MAX_RULE_CLAUSES, &rq)))
            return rc;
        if (ld->record && (rc = td__reqcache_entry(ld->record, pat, len, &rq))) {
            td__req_release(&rq);
            return rc;
        }
    }
    ru->len = rq.len;
    struct td_buf all;
    td_buf_init(&all, PATTERN_MAX_BYTES);
    for (size_t k = 0; k < rq.nclauses && !rc; k++) {
        const struct td__req_clause *c = &rq.clauses[k];
        struct td_buf key;
        td_buf_init(&key, PATTERN_MAX_BYTES);
        for (size_t a = 0; a < c->natoms && !rc; a++)
            rc = td_buf_printf(&key, "%s%s%s", a ? "|" : "", c->atoms[a].word,
                               c->atoms[a].prefix ? "*" : "");
        if (!rc)
            rc = td_buf_printf(&all, "%s%s", k ? " & " : "", key.data ? key.data : "");
        size_t id = g->ntriggers;
        for (size_t i = 0; !rc && i < g->ntriggers; i++)
            if (g->ckey[i] && key.data && strcmp(g->ckey[i], key.data) == 0)
                id = i;
        if (!rc && id == g->ntriggers) {
            if (g->ntriggers >= MAX_CLAUSES) {
                /* out of clause ids: the rule keeps fewer clauses (weaker,
                 * still a necessary condition) */
                td_buf_release(&key);
                continue;
            }
            g->ckey[id] = td_buf_detach(&key, NULL);
            g->ntriggers++;
            g->nw = (g->ntriggers + 63) / 64;
            for (size_t a = 0; a < c->natoms && !rc; a++)
                rc = add_word(g, c->atoms[a].word, c->atoms[a].len, c->atoms[a].prefix, id);
            if (rc == TD_ETOOBIG)
                rc = fail(ld, rc, 0, "more than %d trigger words", MAX_TRIGGER_WORDS);
        }
        td_buf_release(&key);
        if (!rc)
            set_bit(ru->need, id);
    }
    if (!rc)
        ru->req = td_buf_detach(&all, NULL);
    td_buf_release(&all);
    /* the formula: its atoms become table words, its ATOM nodes their ids */
    for (size_t i = 0; !rc && rq.form && i < rq.nform; i++) {
        if (rq.form[i].op != TD__F_ATOM)
            continue;
        const struct td__req_atom *a = &rq.fatoms[rq.form[i].n];
        uint32_t row = 0;
        rc = add_word_row(g, a->word, a->len, a->prefix, NO_CLAUSE, &row);
        if (rc == TD_ETOOBIG) {
            /* out of table room: keep the clauses only */
            rc = TD_OK;
            free(rq.form);
            rq.form = NULL;
            break;
        }
        rq.form[i].n = row * 2 + (uint32_t)(a->prefix != 0);
    }
    if (!rc && rq.form && rq.form[0].op != TD__F_TRUE) {
        ru->form = rq.form;
        rq.form = NULL;
    }
    td__req_release(&rq);
    return rc;
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
        rc = compile(ld, what, b.data, b.len, (size_t)(p - line), 0, &re);
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
        rc = compile(ld, what, b.data ? b.data : "", b.len, (size_t)(p - line),
                     PCRE2_USE_OFFSET_LIMIT, &ru.re);
    }
    if (!rc)
        rc = add_requirement(g, ld, &ru, b.data ? b.data : "", b.len);
    td_buf_release(&b);
    if (rc) {
        free(ru.name);
        free(ru.req);
        free(ru.form);
        pcre2_code_free(ru.re);
        return rc;
    }
    g->rules[g->nrules++] = ru;
    return TD_OK;
}

struct pair {
    uint32_t atom, off;
};

static int pair_cmp(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    return x->atom < y->atom ? -1 : x->atom > y->atom;
}

/* Index one OR node (at f) of a formula; 0 on success. */
static int index_or(struct td_grammar *g, struct td__fnode *f)
{
    if (g->norix % 64 == 0) {
        struct orix *p = realloc(g->orix, (g->norix + 64) * sizeof *p);
        if (!p)
            return TD_ENOMEM;
        g->orix = p;
    }
    struct orix *x = &g->orix[g->norix];
    memset(x, 0, sizeof *x);
    struct pair *pr = malloc(f->n * sizeof *pr);
    x->first = calloc(g->aw ? g->aw : 1, sizeof *x->first);
    x->other = malloc(f->n * sizeof *x->other);
    x->atom = malloc(f->n * sizeof *x->atom);
    x->off = malloc(f->n * sizeof *x->off);
    if (!pr || !x->first || !x->other || !x->atom || !x->off) {
        free(pr);
        free(x->first);
        free(x->other);
        free(x->atom);
        free(x->off);
        return TD_ENOMEM;
    }
    const struct td__fnode *k = f + 1;
    for (uint32_t c = 0; c < f->n; c++) {
        uint32_t off = (uint32_t)(k - f);
        const struct td__fnode *a = k->op == TD__F_ATOM                           ? k
                                    : k->op == TD__F_AND && k[1].op == TD__F_ATOM ? k + 1
                                                                                  : NULL;
        if (a) {
            pr[x->npairs++] = (struct pair){a->n, off};
            x->first[a->n / 64] |= (uint64_t)1 << (a->n % 64);
        } else {
            x->other[x->nother++] = off;
        }
        k += k->size;
    }
    qsort(pr, x->npairs, sizeof *pr, pair_cmp);
    for (size_t i = 0; i < x->npairs; i++) {
        x->atom[i] = pr[i].atom;
        x->off[i] = pr[i].off;
    }
    free(pr);
    f->aux = (uint32_t)++g->norix;
    return TD_OK;
}

/* After loading: the atom-set width, and an index for every OR node with
 * more than a few children (a lexicon alternation has hundreds). */
static int index_formulas(struct td_grammar *g)
{
    g->aw = (2 * g->nrows + 63) / 64;
    for (size_t r = 0; r < g->nrules; r++) {
        struct td__fnode *f = g->rules[r].form;
        for (size_t i = 0; f && i < f[0].size; i++)
            if (f[i].op == TD__F_OR && f[i].n > 3 && index_or(g, &f[i]))
                return TD_ENOMEM;
    }
    return TD_OK;
}

/* The cache's stamp for this grammar directory: word_freq.txt's bytes
 * (bounded like the loader bounds them) and the analysis version. */
static int cache_stamp(const char *dir, uint64_t *stamp)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/word_freq.txt", dir);
    struct td_buf b;
    td_buf_init(&b, 64u << 20);
    int rc = TD_OK;
    FILE *f = fopen(path, "rb");
    if (f) {
        char chunk[65536];
        size_t got;
        while (!rc && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
            rc = td_buf_append(&b, chunk, got);
        if (!rc && ferror(f))
            rc = TD_EIO;
        fclose(f);
    } else if (errno != ENOENT) {
        rc = TD_EIO;
    }
    if (!rc)
        *stamp = td__reqcache_stamp(f ? b.data : NULL, b.len, MAX_RULE_CLAUSES);
    td_buf_release(&b);
    return rc;
}

int td_grammar_load(const char *dir, struct td_grammar **out, struct td_error *err)
{
    return td__grammar_load_ex(dir, 0, NULL, NULL, out, err);
}

/* A fresh cache for dir into b (derived, the file not read). */
static int fresh_cache(const char *dir, struct td_buf *b, struct td_error *err)
{
    struct td_grammar *g = NULL;
    td_buf_init(b, 64u << 20);
    int rc = td__grammar_load_ex(dir, TD__GRAMMAR_NO_CACHE, b, NULL, &g, err);
    td_grammar_free(g);
    if (rc)
        td_buf_release(b);
    return rc;
}

int td_grammar_write_cache(const char *dir, struct td_error *err)
{
    struct td_buf b;
    int rc = fresh_cache(dir, &b, err);
    if (rc)
        return rc;
    char path[1100], tmp[1110];
    snprintf(path, sizeof path, "%s/requirements.cache", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    td_error_at(err, path, 0, 0);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = td_error_set(err, TD_EIO, "cannot write: %s", strerror(errno));
    } else {
        int bad = fwrite(b.data, 1, b.len, f) != b.len;
        bad |= fclose(f) != 0;
        if (bad || rename(tmp, path) != 0) {
            rc = td_error_set(err, TD_EIO, "cannot write: %s", strerror(errno));
            remove(tmp);
        }
    }
    td_buf_release(&b);
    return rc;
}

int td_grammar_check_cache(const char *dir, int *current, struct td_error *err)
{
    struct td_buf b, disk;
    *current = 0;
    int rc = fresh_cache(dir, &b, err);
    if (rc)
        return rc;
    char path[1100];
    snprintf(path, sizeof path, "%s/requirements.cache", dir);
    td_buf_init(&disk, b.len + 1);
    FILE *f = fopen(path, "rb");
    if (f) {
        char chunk[65536];
        size_t got;
        while (!rc && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
            rc = td_buf_append(&disk, chunk, got);
        fclose(f);
        /* longer than the fresh one: not current either */
        if (rc == TD_ETOOBIG)
            rc = TD_OK;
        else if (!rc)
            *current = disk.len == b.len && memcmp(disk.data, b.data, b.len) == 0;
    }
    td_buf_release(&b);
    td_buf_release(&disk);
    return rc ? td_error_set(err, rc, "%s: cannot read", path) : TD_OK;
}

int td__grammar_load_ex(const char *dir, unsigned flags, struct td_buf *record, size_t *misses,
                        struct td_grammar **out, struct td_error *err)
{
    struct loader ld;
    memset(&ld, 0, sizeof ld);
    ld.dir = dir;
    ld.err = err;
    ld.record = record;
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
    if (record || !(flags & TD__GRAMMAR_NO_CACHE)) {
        uint64_t stamp = 0;
        snprintf(ld.file, sizeof ld.file, "%s/word_freq.txt", dir);
        if ((rc = cache_stamp(dir, &stamp))) {
            rc = fail(&ld, rc, 0, "cannot read: %s", strerror(errno));
            goto out;
        }
        if (record && (rc = td__reqcache_header(record, stamp))) {
            td_error_set(err, rc, "grammar: out of memory");
            goto out;
        }
        /* no cache, another stamp or a damaged file: every rule is derived
         * (slower start, same grammar) */
        char cpath[sizeof ld.file];
        snprintf(cpath, sizeof cpath, "%s/requirements.cache", dir);
        if (!record && !(flags & TD__GRAMMAR_NO_CACHE))
            (void)td__reqcache_load(cpath, stamp, &ld.cache);
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
    if ((rc = index_formulas(g))) {
        td_error_set(err, rc, "grammar: out of memory");
        goto out;
    }
    if (misses)
        *misses = ld.misses;
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
    td__reqcache_free(ld.cache);
    if (ld.freq) {
        freq_release(ld.freq);
        free(ld.freq);
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
        free(g->rules[i].req);
        free(g->rules[i].form);
        pcre2_code_free(g->rules[i].re);
    }
    free(g->rules);
    for (size_t i = 0; i < g->ntriggers; i++) {
        free(g->triggers[i]);
        free(g->ckey[i]);
    }
    free(g->rows);
    for (size_t i = 0; i < g->norix; i++) {
        free(g->orix[i].first);
        free(g->orix[i].atom);
        free(g->orix[i].off);
        free(g->orix[i].other);
    }
    free(g->orix);
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
        free(s->occ);
        free(s->win);
        free(s->aseen);
        free(s->alist);
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

static int push_match(const struct rule *ru, size_t a, size_t b, struct td_grammar_result *r,
                      struct td_error *err)
{
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        if (!((ru->labels >> l) & 1))
            continue;
        struct td_grammar_hit h = {a,       b, ru->kind, (enum td_label)l, ru->flags, ru->strength,
                                   ru->name};
        if (push_hit(r, &h))
            return td_error_set(err, TD_ENOMEM, "grammar: out of memory");
    }
    return TD_OK;
}

/*
 * Every non-overlapping match of ru whose start lies in one of the windows
 * win[0..nwin) ([a, z] pairs, sorted, disjoint; one window [0, len] is the
 * whole text).  The subject is always the whole text, so \b and lookbehinds
 * see what is really there, and the offset limit stops each search at its
 * window's end.  The search offset carries over from window to window, so
 * when every possible match starts inside a window the matches are exactly
 * those of one pass over the whole text.
 */
static int run_rule(const struct rule *ru, const char *text, size_t len, const size_t *win,
                    size_t nwin, struct scratch *s, struct td_grammar_result *r,
                    struct td_error *err)
{
    size_t off = 0;
    int rc = TD_OK;
    for (size_t w = 0; w < nwin && rc == TD_OK; w++) {
        size_t a = win[2 * w], z = win[2 * w + 1];
        /* a search must start on a character (NO_UTF_CHECK): back up to one */
        while (a > 0 && a < len && ((unsigned char)text[a] & 0xC0) == 0x80)
            a--;
        if (off < a)
            off = a;
        pcre2_set_offset_limit(s->mc, z >= len ? PCRE2_UNSET : (PCRE2_SIZE)z);
        while (off <= len && off <= z) {
            int m =
                pcre2_match(ru->re, (PCRE2_SPTR)text, len, off, PCRE2_NO_UTF_CHECK, s->md, s->mc);
            if (m == PCRE2_ERROR_NOMATCH)
                break;
            if (m < 0) {
                rc = match_error(err, m, ru->name);
                break;
            }
            const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
            size_t ms = ov[0], me = ov[1];
            if (me > ms && (rc = push_match(ru, ms, me, r, err)))
                break;
            off = me > off ? me : next_char(text, len, off);
        }
    }
    pcre2_set_offset_limit(s->mc, PCRE2_UNSET);
    return rc;
}

/* Text statistics for the length bounds (see grammar_int.h). */
struct tstats {
    size_t ls, lp; /* longest run without ' ', without any of . ! ? */
};

static int occ_push(struct scratch *s, size_t start, uint32_t row, int how)
{
    if (s->nocc == s->capocc) {
        size_t nc = s->capocc ? s->capocc * 2 : 1024;
        struct occ *p = realloc(s->occ, nc * sizeof *p);
        if (!p)
            return TD_ENOMEM;
        s->occ = p;
        s->capocc = nc;
    }
    s->occ[s->nocc++] = (struct occ){(uint32_t)start, row & 0x7FFFFFFFu, how == OCC_BOTH};
    return TD_OK;
}

static void or_into(uint64_t *seen, const uint64_t *row, size_t nw)
{
    for (size_t i = 0; i < nw; i++)
        seen[i] |= row[i];
}

/*
 * The pre-filter's tokeniser.  Two modes:
 *   text (old = 0)  tokens are runs of ASCII letters and digits; every
 *                   other byte separates.  What the derived clauses assume
 *                   (grammar_req.c), and a superset of what old mode finds
 *                   for the plain words of the @evidence lists.
 *   span (old = 1)  the historical word: letters, digits, UTF-8 bytes and
 *                   apostrophes inside a word (U+2019 read as ').  Used for
 *                   the @evidence check inside a suppressor's span, whose
 *                   meaning is unchanged.
 * Both OR the clause bits of every word and listed prefix into seen;
 * <digit> lists fire on a digit, <quote> lists on a quote mark (" “ ” ‘ or
 * an apostrophe: in text mode any apostrophe, a superset).  With s set
 * (long texts) every token that is a trigger word is recorded with its
 * offset, and st gets the run lengths.
 */
struct g_tok {
    const struct td_grammar *g;
    uint64_t *seen;
    uint64_t *aseen;   /* NULL: atoms not wanted */
    struct scratch *a; /* with aseen: where the atom list goes */
    struct scratch *s; /* NULL: no occurrences recorded */
};

/* Mark atom id present (and list it the first time). */
static int atom_seen(const struct g_tok *tk, uint32_t id)
{
    uint64_t bit = (uint64_t)1 << (id % 64);
    if (tk->aseen[id / 64] & bit)
        return TD_OK;
    tk->aseen[id / 64] |= bit;
    struct scratch *s = tk->a;
    if (s->nalist == s->capalist) {
        size_t nc = s->capalist ? s->capalist * 2 : 64;
        uint32_t *p = realloc(s->alist, nc * sizeof *p);
        if (!p)
            return TD_ENOMEM;
        s->alist = p;
        s->capalist = nc;
    }
    s->alist[s->nalist++] = id;
    return TD_OK;
}

/* Look word w[0..wl) up (full: the whole token; else its first TOKEN_MAX
 * bytes, good for prefixes only) as a word and by each listed prefix
 * length shorter than it. */
static int lookup_word(const struct g_tok *tk, const char *w, size_t wl, int full, size_t start)
{
    const struct td_grammar *g = tk->g;
    if (full) {
        const struct tword *tw = tword_slot(g, w, wl);
        if (tw->word) { /* the word itself, or a prefix entry equal to it */
            or_into(tk->seen, g->rows[tw->row], g->nw);
            or_into(tk->seen, g->rows[tw->row] + CW, g->nw);
            if (tk->aseen && (atom_seen(tk, tw->row * 2) || atom_seen(tk, tw->row * 2 + 1)))
                return TD_ENOMEM;
            if (tk->s && occ_push(tk->s, start, tw->row, OCC_BOTH))
                return TD_ENOMEM;
        }
    }
    uint64_t lens = g->prefix_lens & ((((uint64_t)1) << (full ? wl : wl + 1)) - 1);
    if (wl < 3 || !(g->pfx3[ix3(w) / 8] & (1u << (ix3(w) % 8))))
        lens &= (uint64_t)1 << 2;
    if (wl < 3 || !(g->pfx2[ix2(w) / 8] & (1u << (ix2(w) % 8))))
        lens &= ~((uint64_t)1 << 2);
    while (lens) {
        size_t pl = (size_t)__builtin_ctzll(lens);
        lens &= lens - 1;
        const struct tword *tw = tword_slot(g, w, pl);
        if (tw->word) {
            or_into(tk->seen, g->rows[tw->row] + CW, g->nw);
            if (tk->aseen && atom_seen(tk, tw->row * 2 + 1))
                return TD_ENOMEM;
            if (tk->s && occ_push(tk->s, start, tw->row, OCC_PREFIX))
                return TD_ENOMEM;
        }
    }
    return TD_OK;
}

static int tokenise(const struct td_grammar *g, const char *t, size_t len, int old, uint64_t *seen,
                    uint64_t *aseen, struct scratch *rec_atoms, struct scratch *rec,
                    struct tstats *st)
{
    enum { WORD, SEP, APOS };
    struct g_tok tk = {g, seen, aseen, aseen ? rec_atoms : NULL, rec};
    for (size_t i = 0; i < g->nw; i++)
        seen[i] |= g->always[i];
    char w[TOKEN_MAX];
    size_t wl = 0, ws = 0, i = 0, toklen = 0, run_s = 0, run_p = 0;
    int digit = 0, quote = 0;
    if (st)
        st->ls = st->lp = 0;
    for (;;) {
        int kind = SEP;
        size_t adv = 1;
        char ch = 0;
        if (i < len) {
            unsigned char c = (unsigned char)t[i];
            if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
                kind = WORD;
                ch = (char)c;
                digit |= c <= '9';
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
                    quote = 1;
            } else if (c == '"') {
                quote = 1;
            } else if (c >= 0x80 && old) {
                kind = WORD; /* a byte of a letter of another script */
                ch = (char)c;
            }
            if (st) {
                run_s = c == ' ' ? 0 : run_s + 1;
                run_p = c == '.' || c == '!' || c == '?' ? 0 : run_p + 1;
                if (run_s > st->ls)
                    st->ls = run_s;
                if (run_p > st->lp)
                    st->lp = run_p;
                /* a multi-byte step counts all its bytes */
                for (size_t k = 1; k < adv && i + k < len; k++) {
                    run_s++;
                    run_p++;
                }
                if (run_s > st->ls)
                    st->ls = run_s;
                if (run_p > st->lp)
                    st->lp = run_p;
            }
        }
        if (kind == APOS) {
            if (!old) {
                quote = 1;
                kind = SEP;
            } else if (wl == 0) {
                quote = 1; /* an apostrophe opening a word */
                kind = SEP;
            } else {
                kind = WORD;
                ch = '\'';
            }
        }
        if (kind == WORD) {
            if (toklen == 0)
                ws = i;
            if (wl < TOKEN_MAX)
                w[wl++] = ch;
            toklen++;
        } else {
            if (old)
                while (wl > 0 && w[wl - 1] == '\'') { /* a closing quote is not part of it */
                    wl--;
                    toklen--;
                }
            if (wl > 0 && g->table) {
                /* too long to be a word in the table: still a prefix of one
                 * (old mode ignores such words, as it always did) */
                if (toklen <= TOKEN_MAX || !old) {
                    int rc = lookup_word(&tk, w, wl, toklen <= TOKEN_MAX, ws);
                    if (rc)
                        return rc;
                }
            }
            wl = 0;
            toklen = 0;
        }
        if (i >= len)
            break;
        i += adv;
    }
    if (digit)
        or_into(seen, g->digit_triggers, g->nw);
    if (quote)
        or_into(seen, g->quote_triggers, g->nw);
    return TD_OK;
}

/* Evaluate a rule's word formula (grammar_int.h) on the atoms present. */
static int form_true(const struct td_grammar *g, const struct td__fnode *f, const struct scratch *s)
{
    switch (f->op) {
    case TD__F_ATOM:
        return (int)((s->aseen[f->n / 64] >> (f->n % 64)) & 1);
    case TD__F_AND:
    case TD__F_OR: {
        if (f->aux) { /* an indexed OR: only children whose first atom is here */
            const struct orix *x = &g->orix[f->aux - 1];
            for (size_t i = 0; i < x->nother; i++)
                if (form_true(g, f + x->other[i], s))
                    return 1;
            for (size_t k = 0; k < s->nalist; k++) {
                uint32_t id = s->alist[k];
                if (!((x->first[id / 64] >> (id % 64)) & 1))
                    continue;
                size_t lo = 0, hi = x->npairs;
                while (lo < hi) {
                    size_t mid = (lo + hi) / 2;
                    if (x->atom[mid] < id)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                for (; lo < x->npairs && x->atom[lo] == id; lo++)
                    if (form_true(g, f + x->off[lo], s))
                        return 1;
            }
            return 0;
        }
        const struct td__fnode *k = f + 1;
        for (uint32_t i = 0; i < f->n; i++) {
            int v = form_true(g, k, s);
            if (v != (f->op == TD__F_AND))
                return v;
            k += k->size;
        }
        return f->op == TD__F_AND;
    }
    default:
        return 1;
    }
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
        int counts = !g->has_evidence[s->label];
        if (!counts) {
            uint64_t seen[CW] = {0};
            /* only fails for lack of memory, which span mode never needs */
            (void)tokenise(g, text + s->start, s->end - s->start, 1, seen, NULL, NULL, NULL, NULL);
            counts = intersects(seen, g->evidence[s->label], g->nw);
        }
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

static int occ_has(const struct td_grammar *g, const struct occ *o, size_t c)
{
    return has_bit(g->rows[o->row] + CW, c) || (o->both && has_bit(g->rows[o->row], c));
}

/*
 * Windows for rule ru in a long text: every match contains a token of each
 * required clause (grammar_req.c) and is at most `max` bytes long, so it
 * starts in [tok - max, tok] for some token tok of the clause with the
 * fewest occurrences here.  Returns the number of windows (0: run over the
 * whole text instead).
 */
static size_t windows(const struct td_grammar *g, const struct rule *ru, struct scratch *s,
                      const char *text, size_t len, size_t max, int *nomem)
{
    /* the rarest required clause in this text */
    size_t best = (size_t)-1, bestn = (size_t)-1;
    for (size_t c = 0; c < g->ntriggers; c++) {
        if (!has_bit(ru->need, c))
            continue;
        size_t n = 0;
        for (size_t k = 0; k < s->nocc && n < bestn; k++)
            n += occ_has(g, &s->occ[k], c);
        if (n < bestn) {
            bestn = n;
            best = c;
        }
    }
    if (best == (size_t)-1)
        return 0;
    size_t nwin = 0;
    for (size_t k = 0; k < s->nocc; k++) {
        const struct occ *o = &s->occ[k];
        if (!occ_has(g, o, best))
            continue;
        size_t a = o->start > max ? o->start - max : 0, z = o->start;
        /* Tighter when no repeat can cross a space (kp == 0): every space
         * in a match is one of its fixed characters, so a match holds at
         * most c0 spaces and starts after the (c0 + 1)-th space before the
         * token.  (One long URL elsewhere no longer widens every window.) */
        if (ru->len.kp == 0) {
            size_t lo = nwin ? s->win[2 * nwin - 1] : 0, spaces = 0, i = z;
            if (lo < a)
                lo = a;
            while (i > lo && spaces <= ru->len.c0)
                spaces += text[--i] == ' ';
            if (spaces > ru->len.c0)
                a = i + 1;
            else if (i > a)
                a = i;
        }
        if (nwin && a <= s->win[2 * nwin - 1] + 1) {
            if (z > s->win[2 * nwin - 1])
                s->win[2 * nwin - 1] = z;
            continue;
        }
        if (2 * (nwin + 1) > s->capwin) {
            size_t nc = s->capwin ? s->capwin * 2 : 256;
            size_t *p = realloc(s->win, nc * sizeof *p);
            if (!p) {
                *nomem = 1;
                return 0;
            }
            s->win = p;
            s->capwin = nc;
        }
        s->win[2 * nwin] = a;
        s->win[2 * nwin + 1] = z;
        nwin++;
    }
    (void)len;
    if (nwin == 0) { /* cannot happen when the rule was triggered */
        s->win[0] = 1;
        s->win[1] = 0;
        return 1;
    }
    return nwin;
}

static int match(const struct td_grammar *g, const char *text, size_t len,
                 struct td_grammar_result *r, int use_triggers, int details_only,
                 struct td_error *err)
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

    uint64_t seen[CW];
    memset(seen, 0xff, sizeof seen);
    const int long_text = use_triggers && len >= WINDOW_MIN_TEXT;
    struct tstats st = {len, len};
    s->nocc = 0;
    if (use_triggers) {
        memset(seen, 0, sizeof seen);
        size_t aw = g->aw;
        if (aw > s->capaseen) {
            uint64_t *p = realloc(s->aseen, aw * sizeof *p);
            if (!p)
                return td_error_set(err, TD_ENOMEM, "grammar: out of memory");
            s->aseen = p;
            s->capaseen = aw;
        }
        if (aw)
            memset(s->aseen, 0, aw * sizeof *s->aseen);
        s->nalist = 0;
        if ((rc = tokenise(g, text, len, 0, seen, s->aseen, s, long_text ? s : NULL,
                           long_text ? &st : NULL)))
            return td_error_set(err, rc, "grammar: out of memory");
    }
    const unsigned tie_labels = (1u << TD_LABEL_THREAT) | (1u << TD_LABEL_INTIMIDATION);
    /* label rules first, then the suppressors (which can only matter next
     * to a label hit or evidence), then details (only next to a threat or
     * intimidation hit) */
    static const enum td_hit_kind order[3] = {TD_HIT_LABEL, TD_HIT_SUPPRESS, TD_HIT_DETAIL};
    unsigned hit_labels = 0;
    size_t whole[2] = {0, len};
    for (int pass = details_only ? 2 : 0; pass < 3; pass++) {
        if (pass == 1)
            for (size_t i = 0; i < r->nhits; i++)
                hit_labels |= 1u << r->hits[i].label;
        if (pass == 2 && !details_only && !(hit_labels & tie_labels))
            break;
        for (size_t i = 0; i < g->nrules; i++) {
            const struct rule *ru = &g->rules[i];
            if (ru->kind != order[pass])
                continue;
            if (use_triggers && !rule_triggered(g, ru, seen))
                continue;
            if (use_triggers && ru->form && !form_true(g, ru->form, s))
                continue;
            if (use_triggers && pass == 1) {
                /* a suppressor counts only against a label that was hit, or
                 * with that label's evidence in its span (resolve()) */
                int could = 0;
                for (int l = 0; l < TD_LABEL_COUNT && !could; l++)
                    could = ((ru->labels >> l) & 1) &&
                            (!g->has_evidence[l] || ((hit_labels >> l) & 1) ||
                             intersects(seen, g->evidence[l], g->nw));
                if (!could)
                    continue;
            }
            const size_t *win = whole;
            size_t nwin = 1;
            if (long_text && !ru->len.inf) {
                size_t max = ru->len.c0 + ru->len.ks * st.ls + ru->len.kp * st.lp;
                int nomem = 0;
                size_t n = max < len / 2 || ru->len.kp == 0
                               ? windows(g, ru, s, text, len, max, &nomem)
                               : 0;
                if (nomem)
                    return td_error_set(err, TD_ENOMEM, "grammar: out of memory");
                if (n) {
                    win = s->win;
                    nwin = n;
                }
            }
            if ((rc = run_rule(ru, text, len, win, nwin, s, r, err)))
                return rc;
        }
    }
    if (!details_only)
        resolve(g, text, r);
    return TD_OK;
}

int td_grammar_match(const struct td_grammar *g, const char *text, size_t len,
                     struct td_grammar_result *r, struct td_error *err)
{
    return match(g, text, len, r, 1, 0, err);
}

int td__grammar_match_unfiltered(const struct td_grammar *g, const char *text, size_t len,
                                 struct td_grammar_result *r, struct td_error *err)
{
    return match(g, text, len, r, 0, 0, err);
}

/* Details alone (grammar.h): the detail rules over the text, every hit
 * kept - for a caller whose learned model found a threat that no threat
 * rule structured ("i'm going to come to your surgery on friday and stab
 * you"), so that its time and place still make it critical. */
int td_grammar_details(const struct td_grammar *g, const char *text, size_t len,
                       struct td_grammar_result *r, struct td_error *err)
{
    int rc = match(g, text, len, r, 1, 1, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < r->nhits; i++) {
        r->hits[i].label = TD_LABEL_THREAT;
        r->flags |= r->hits[i].flags;
    }
    if (r->nhits > 1)
        qsort(r->hits, r->nhits, sizeof *r->hits, hit_cmp);
    return TD_OK;
}

int td__grammar_rule_info(const struct td_grammar *g, size_t i, const char **name, char *req,
                          size_t reqcap, int *bounded)
{
    if (!g || i >= g->nrules)
        return 0;
    const struct rule *ru = &g->rules[i];
    *name = ru->name;
    if (reqcap)
        snprintf(req, reqcap, "%s", ru->req ? ru->req : "");
    *bounded = !ru->len.inf;
    return 1;
}
