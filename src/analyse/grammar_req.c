/*
 * grammar_req.c - the words a grammar rule requires, read off its pattern.
 *
 * Why: the pre-filter (grammar.c) runs a rule only when the words it needs
 * occur in the text.  Hand-written trigger lists were both too loose (a
 * rule that needs "do you in" ran on every text with "do") and incomplete
 * (a rule silently missed texts whose words were not listed).  Reading the
 * requirement off the expanded PCRE2 pattern makes it complete by
 * construction and as tight as the pattern.
 *
 * Words: the pre-filter cuts text into tokens, maximal runs of ASCII
 * letters and digits (lower-cased); every other byte separates.  A literal
 * run of letters/digits in a pattern yields
 *   an exact word   when both its ends are closed (next to a separator
 *                   character, \b, ^ or $ - \b next to a letter means the
 *                   other side is not \w, which is a separator here), and
 *   a prefix        when only its left end is closed ("kill" in \bkill\w*).
 *
 * The analysis, on a small parse tree of the pattern:
 *   1. bottom-up, context free: each node's exact set (every string it can
 *      match, over letters/digits and the markers S = separators, B = \b,
 *      ^, $, ? = anything; kept while small), whether it can match the
 *      empty string, whether every match starts / ends with a separator or
 *      boundary, and a bound on its match length;
 *   2. top-down with the context (is the character before / after the node
 *      a separator?): the requirement as clauses - each clause a set of
 *      words one of which must occur; all clauses must hold.  An exact set
 *      gives, per string, its words; a clause takes the rarest word of each
 *      string (word_freq.txt), a second clause the second rarest.  A
 *      concatenation needs the clauses of its parts; an alternation the
 *      union of its branches' best clauses; an optional part nothing.
 * Anything the parser does not know (backreferences, \p, inline options)
 * becomes "anything": it requires nothing and has no length bound, so the
 * result is always a necessary condition, only sometimes a weak one.
 *
 * Length bound: c0 + ks*Ls + kp*Lp bytes, where Ls is the text's longest
 * run without a space and Lp its longest run without . ! or ?; an
 * unbounded repeat of a class that excludes the space (\w+, [\w'-]+) is at
 * most Ls, one that excludes . ! and ? (a clause up to the end of the
 * sentence) at most Lp; anything else is unbounded.  grammar.c uses it to
 * run a rule only in windows around its words in a long text.
 */
#include "analyse/grammar_int.h"

#include <xxhash.h>

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SET_MAX 256 /* strings in an exact set */
#define STR_MAX 96  /* bytes in one exact string */
#define DEPTH_MAX 200
#define REP_INF UINT_MAX

enum nk { N_EMPTY, N_STR, N_LIT, N_ASSERT, N_LOOK, N_CAT, N_ALT, N_REP, N_UNKNOWN };

struct sset {
    char **s;
    size_t n;
    uint32_t *ht;     /* open addressing over s (index + 1; 0 empty) */
    size_t htcap;     /* a power of two, > 2 * n */
    struct chunk *ch; /* the strings live here: a few growing blocks, not a malloc each */
};

struct chunk {
    struct chunk *next;
    size_t used, cap;
    char data[];
};

static size_t slot_of(const struct sset *x, const char *b, size_t o)
{
    size_t h = (size_t)XXH3_64bits(b, o) & (x->htcap - 1);
    while (x->ht[h] && strcmp(x->s[x->ht[h] - 1], b) != 0)
        h = (h + 1) & (x->htcap - 1);
    return h;
}

/* Keep the table at most half full. */
static int sset_grow(struct sset *x)
{
    if (x->ht && 2 * (x->n + 1) < x->htcap)
        return 0;
    size_t cap = x->htcap ? x->htcap * 2 : 16;
    uint32_t *ht = calloc(cap, sizeof *ht);
    if (!ht)
        return 1;
    free(x->ht);
    x->ht = ht;
    x->htcap = cap;
    for (size_t i = 0; i < x->n; i++)
        x->ht[slot_of(x, x->s[i], strlen(x->s[i]))] = (uint32_t)(i + 1);
    return 0;
}

struct node {
    enum nk k;
    char sym;             /* N_STR: letter/digit, 'S' or '?'; N_ASSERT: 'B' '^' '$' or 0 */
    unsigned blen;        /* N_STR: bytes of one character at most */
    int nospace, nopunct; /* N_STR: never matches ' ' / never . ! ? */
    unsigned min, max;    /* N_REP */
    char *lit;            /* N_LIT: a run of plain characters, as exact-set symbols */
    struct node **kid;
    size_t nkid;
    /* pass 1 */
    struct sset *ex; /* NULL: not exact */
    int nullable, ssep, esep;
    struct td__len len;
};

/* ---- exact sets ------------------------------------------------------------ */

static void sset_free(struct sset *x)
{
    if (!x)
        return;
    while (x->ch) {
        struct chunk *c = x->ch;
        x->ch = c->next;
        free(c);
    }
    free(x->s);
    free(x->ht);
    free(x);
}

static struct sset *sset_new(void)
{
    return calloc(1, sizeof(struct sset));
}

/* Add a (normalised) string; 0 on success. */
static int sset_add(struct sset *x, const char *s, size_t n)
{
    char b[STR_MAX + 1];
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        /* runs of separators or of unknowns say no more than one */
        if (o && (c == 'S' || c == '?') && b[o - 1] == c)
            continue;
        if (o >= STR_MAX)
            return 1;
        b[o++] = c;
    }
    b[o] = '\0';
    if (sset_grow(x))
        return 1;
    size_t h = slot_of(x, b, o);
    if (x->ht[h])
        return 0;
    if (x->n >= SET_MAX)
        return 1;
    if (x->n % 64 == 0) {
        char **p = realloc(x->s, (x->n + 64) * sizeof *p);
        if (!p)
            return 1;
        x->s = p;
    }
    if (!x->ch || x->ch->used + o + 1 > x->ch->cap) {
        size_t cap = x->ch ? x->ch->cap * 2 : 128;
        if (cap < o + 1)
            cap = o + 1;
        struct chunk *c = malloc(sizeof *c + cap);
        if (!c)
            return 1;
        c->next = x->ch;
        c->used = 0;
        c->cap = cap;
        x->ch = c;
    }
    x->s[x->n] = x->ch->data + x->ch->used;
    x->ch->used += o + 1;
    memcpy(x->s[x->n++], b, o + 1);
    x->ht[h] = (uint32_t)x->n;
    return 0;
}

static struct sset *sset_one(const char *s)
{
    struct sset *x = sset_new();
    if (x && sset_add(x, s, strlen(s))) {
        sset_free(x);
        return NULL;
    }
    return x;
}

static struct sset *sset_cat(const struct sset *a, const struct sset *b)
{
    if (a->n * b->n > SET_MAX)
        return NULL;
    struct sset *x = sset_new();
    char buf[2 * STR_MAX + 2];
    for (size_t i = 0; x && i < a->n; i++)
        for (size_t j = 0; j < b->n; j++) {
            size_t la = strlen(a->s[i]), lb = strlen(b->s[j]);
            memcpy(buf, a->s[i], la);
            memcpy(buf + la, b->s[j], lb);
            if (sset_add(x, buf, la + lb)) {
                sset_free(x);
                return NULL;
            }
        }
    return x;
}

static int sset_union(struct sset *x, const struct sset *a)
{
    for (size_t i = 0; i < a->n; i++)
        if (sset_add(x, a->s[i], strlen(a->s[i])))
            return 1;
    return 0;
}

static int closes(char c)
{
    return c == 'S' || c == 'B' || c == '^' || c == '$';
}

static int is_tok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* ---- parsing --------------------------------------------------------------- */

struct parser {
    const char *p, *end;
    int depth;
    int bad; /* out of memory */
};

static struct node *mk(struct parser *ps, enum nk k)
{
    struct node *n = calloc(1, sizeof *n);
    if (!n)
        ps->bad = 1;
    else
        n->k = k;
    return n;
}

static void node_free(struct node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkid; i++)
        node_free(n->kid[i]);
    free(n->kid);
    free(n->lit);
    sset_free(n->ex);
    free(n);
}

static int add_kid(struct parser *ps, struct node *n, struct node *k)
{
    if (!k)
        return 1;
    /* capacity doubles (at powers of two): an alternation has hundreds of branches */
    struct node **p = n->nkid && (n->nkid & (n->nkid - 1))
                          ? n->kid
                          : realloc(n->kid, (n->nkid ? 2 * n->nkid : 1) * sizeof *p);
    if (!p) {
        ps->bad = 1;
        node_free(k);
        return 1;
    }
    n->kid = p;
    n->kid[n->nkid++] = k;
    return 0;
}

/* One character class as ASCII membership plus "may be non-ASCII". */
struct cls {
    unsigned char in[128];
    int nonascii;
};

static void cls_range(struct cls *c, int a, int z)
{
    for (int i = a; i <= z && i < 128; i++)
        if (i >= 0)
            c->in[i] = 1;
    if (z >= 128)
        c->nonascii = 1;
}

/* \w \d \s and their negations; 0 if e is not such an escape. */
static int cls_escape(struct cls *c, char e)
{
    switch (e) {
    case 'w':
        cls_range(c, 'a', 'z');
        cls_range(c, 'A', 'Z');
        cls_range(c, '0', '9');
        c->in['_'] = 1;
        c->nonascii = 1;
        return 1;
    case 'd':
        cls_range(c, '0', '9');
        c->nonascii = 1;
        return 1;
    case 's':
        cls_range(c, '\t', '\r');
        c->in[' '] = 1;
        c->nonascii = 1;
        return 1;
    case 'W':
    case 'D':
    case 'S':
    case 'h':
    case 'H':
    case 'v':
    case 'V':
    case 'N':
    case 'R':
    case 'X':
        cls_range(c, 0, 127); /* not worth precision: anything */
        c->nonascii = 1;
        return 1;
    case 'p':
    case 'P':
        cls_range(c, 0, 127);
        c->nonascii = 1;
        return 2; /* followed by {name} or a letter */
    }
    return 0;
}

static int escaped_char(char e)
{
    switch (e) {
    case 'n':
        return '\n';
    case 't':
        return '\t';
    case 'r':
        return '\r';
    case 'f':
        return '\f';
    case 'e':
        return 27;
    case 'a':
        return 7;
    }
    if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9'))
        return -1; /* an escape we do not model */
    return (unsigned char)e;
}

static struct node *str_node(struct parser *ps, const struct cls *c)
{
    struct node *n = mk(ps, N_STR);
    if (!n)
        return NULL;
    int tok = 0, single = -1, count = 0;
    for (int i = 0; i < 128; i++)
        if (c->in[i]) {
            count++;
            single = i;
            if ((i >= 'a' && i <= 'z') || (i >= 'A' && i <= 'Z') || (i >= '0' && i <= '9'))
                tok = 1;
        }
    if (!tok)
        n->sym = 'S';
    else if (count == 1 && !c->nonascii)
        n->sym = (char)(single >= 'A' && single <= 'Z' ? single + 32 : single);
    else
        n->sym = '?';
    n->blen = c->nonascii ? 4 : 1;
    n->nospace = !c->in[' '];
    n->nopunct = !c->in['.'] && !c->in['!'] && !c->in['?'];
    return n;
}

static struct node *unknown(struct parser *ps)
{
    return mk(ps, N_UNKNOWN);
}

static struct node *parse_alt(struct parser *ps);

/* A class body after '['; ps->p at the first character inside. */
static struct node *parse_class(struct parser *ps)
{
    struct cls c;
    memset(&c, 0, sizeof c);
    int neg = 0;
    if (ps->p < ps->end && *ps->p == '^') {
        neg = 1;
        ps->p++;
    }
    int first = 1;
    while (ps->p < ps->end && (*ps->p != ']' || first)) {
        first = 0;
        unsigned char ch = (unsigned char)*ps->p;
        int lit = -1;
        if (ch == '[' && ps->p + 1 < ps->end && ps->p[1] == ':') {
            const char *e = strstr(ps->p, ":]");
            if (!e || e >= ps->end)
                return unknown(ps);
            cls_range(&c, 0, 127);
            c.nonascii = 1;
            ps->p = e + 2;
            continue;
        }
        if (ch == '\\' && ps->p + 1 < ps->end) {
            char e = ps->p[1];
            ps->p += 2;
            int k = cls_escape(&c, e);
            if (k == 2) {
                if (ps->p < ps->end && *ps->p == '{') {
                    const char *z = memchr(ps->p, '}', (size_t)(ps->end - ps->p));
                    if (!z)
                        return unknown(ps);
                    ps->p = z + 1;
                } else if (ps->p < ps->end) {
                    ps->p++;
                }
            }
            if (k)
                continue;
            if (e == 'x') { /* \x{...} or \xhh: a non-ASCII or ASCII char */
                cls_range(&c, 0, 127);
                c.nonascii = 1;
                if (ps->p < ps->end && *ps->p == '{') {
                    const char *z = memchr(ps->p, '}', (size_t)(ps->end - ps->p));
                    if (!z)
                        return unknown(ps);
                    ps->p = z + 1;
                }
                continue;
            }
            lit = escaped_char(e);
            if (lit < 0) {
                cls_range(&c, 0, 127);
                c.nonascii = 1;
                continue;
            }
        } else if (ch >= 0x80) {
            c.nonascii = 1;
            ps->p++;
            while (ps->p < ps->end && ((unsigned char)*ps->p & 0xC0) == 0x80)
                ps->p++;
            continue;
        } else {
            lit = ch;
            ps->p++;
        }
        /* a range a-z */
        if (ps->p + 1 < ps->end && *ps->p == '-' && ps->p[1] != ']') {
            ps->p++;
            unsigned char z = (unsigned char)*ps->p;
            if (z == '\\' && ps->p + 1 < ps->end) {
                int zz = escaped_char(ps->p[1]);
                ps->p += 2;
                if (zz < 0) {
                    cls_range(&c, 0, 127);
                    c.nonascii = 1;
                    continue;
                }
                cls_range(&c, lit, zz);
            } else if (z >= 0x80) {
                cls_range(&c, lit, 127);
                c.nonascii = 1;
                ps->p++;
                while (ps->p < ps->end && ((unsigned char)*ps->p & 0xC0) == 0x80)
                    ps->p++;
            } else {
                cls_range(&c, lit, z);
                ps->p++;
            }
            continue;
        }
        c.in[lit] = 1;
    }
    if (ps->p >= ps->end)
        return unknown(ps);
    ps->p++; /* ']' */
    if (neg) {
        for (int i = 0; i < 128; i++)
            c.in[i] = !c.in[i];
        c.nonascii = 1;
    }
    return str_node(ps, &c);
}

static struct node *parse_atom(struct parser *ps)
{
    unsigned char ch = (unsigned char)*ps->p;
    struct cls c;
    memset(&c, 0, sizeof c);
    if (ch == '(') {
        ps->p++;
        enum nk kind = N_CAT;
        if (ps->p < ps->end && *ps->p == '?') {
            const char *q = ps->p + 1;
            if (q < ps->end && (*q == ':' || *q == '>' || *q == '|')) {
                ps->p = q + 1;
            } else if (q < ps->end && (*q == '=' || *q == '!')) {
                kind = N_LOOK;
                ps->p = q + 1;
            } else if (q + 1 < ps->end && *q == '<' && (q[1] == '=' || q[1] == '!')) {
                kind = N_LOOK;
                ps->p = q + 2;
            } else if (q < ps->end && (*q == '<' || *q == 'P' || *q == '\'')) {
                /* a named group */
                while (ps->p < ps->end && *ps->p != '>' && *ps->p != '\'')
                    ps->p++;
                if (ps->p < ps->end)
                    ps->p++;
            } else {
                return NULL; /* inline options, callouts...: give up */
            }
        }
        if (++ps->depth > DEPTH_MAX)
            return NULL;
        struct node *inner = parse_alt(ps);
        ps->depth--;
        if (!inner || ps->p >= ps->end || *ps->p != ')') {
            node_free(inner);
            return NULL;
        }
        ps->p++;
        if (kind == N_LOOK) {
            node_free(inner); /* zero width: says nothing we use */
            return mk(ps, N_LOOK);
        }
        return inner;
    }
    if (ch == '[') {
        ps->p++;
        return parse_class(ps);
    }
    if (ch == '.') {
        ps->p++;
        cls_range(&c, 0, 127);
        c.nonascii = 1;
        return str_node(ps, &c);
    }
    if (ch == '^' || ch == '$') {
        ps->p++;
        struct node *n = mk(ps, N_ASSERT);
        if (n)
            n->sym = (char)ch;
        return n;
    }
    if (ch == '\\' && ps->p + 1 < ps->end) {
        char e = ps->p[1];
        ps->p += 2;
        if (e == 'b' || e == 'B' || e == 'A' || e == 'z' || e == 'Z' || e == 'G') {
            struct node *n = mk(ps, N_ASSERT);
            if (n)
                n->sym = e == 'b' ? 'B' : e == 'A' ? '^' : e == 'z' || e == 'Z' ? '$' : 0;
            return n;
        }
        int k = cls_escape(&c, e);
        if (k == 2)
            return NULL;
        if (k)
            return str_node(ps, &c);
        if (e == 'Q' || e == 'E' || e == 'K' || e == 'x' || e == 'g' || e == 'k' || e == 'c' ||
            e == 'o' || e == 'N')
            return NULL;
        int lit = escaped_char(e);
        if (lit < 0)
            return NULL; /* backreference and the like */
        c.in[lit] = 1;
        return str_node(ps, &c);
    }
    if (ch >= 0x80) {
        ps->p++;
        while (ps->p < ps->end && ((unsigned char)*ps->p & 0xC0) == 0x80)
            ps->p++;
        c.nonascii = 1; /* a separator for the tokeniser */
        struct node *n = str_node(ps, &c);
        if (n)
            n->blen = 4;
        return n;
    }
    ps->p++;
    c.in[ch] = 1;
    return str_node(ps, &c);
}

/* Parse "{n}", "{n,}", "{n,m}" at ps->p; 0 if it is not a quantifier. */
static int parse_braces(struct parser *ps, unsigned *mn, unsigned *mx)
{
    const char *q = ps->p + 1;
    unsigned a = 0, b;
    int da = 0;
    while (q < ps->end && *q >= '0' && *q <= '9' && a < 100000) {
        a = a * 10 + (unsigned)(*q++ - '0');
        da = 1;
    }
    if (!da || q >= ps->end)
        return 0;
    if (*q == '}') {
        *mn = *mx = a;
        ps->p = q + 1;
        return 1;
    }
    if (*q != ',')
        return 0;
    q++;
    if (q < ps->end && *q == '}') {
        *mn = a;
        *mx = REP_INF;
        ps->p = q + 1;
        return 1;
    }
    b = 0;
    int db = 0;
    while (q < ps->end && *q >= '0' && *q <= '9' && b < 100000) {
        b = b * 10 + (unsigned)(*q++ - '0');
        db = 1;
    }
    if (!db || q >= ps->end || *q != '}' || b < a)
        return 0;
    *mn = a;
    *mx = b;
    ps->p = q + 1;
    return 1;
}

/* A plain character: stands for itself, and no quantifier follows it. */
static int plain_at(const struct parser *ps, const char *q)
{
    unsigned char c = (unsigned char)*q;
    if (c >= 0x80 || c < 0x20 || strchr("\\^$.|?*+()[]{}", c))
        return 0;
    return q + 1 >= ps->end || !strchr("?*+{", q[1]);
}

/* A run of plain characters as one N_LIT node (fewer nodes, faster load). */
static struct node *parse_lit(struct parser *ps)
{
    const char *q = ps->p;
    while (q < ps->end && plain_at(ps, q))
        q++;
    struct node *n = mk(ps, N_LIT);
    if (!n)
        return NULL;
    size_t len = (size_t)(q - ps->p);
    if (!(n->lit = malloc(len + 1))) {
        ps->bad = 1;
        free(n);
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        char c = ps->p[i];
        n->lit[i] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? c
                    : c >= 'A' && c <= 'Z'                           ? (char)(c + 32)
                                                                     : 'S';
    }
    n->lit[len] = '\0';
    ps->p = q;
    return n;
}

static struct node *parse_cat(struct parser *ps)
{
    struct node *cat = mk(ps, N_CAT);
    if (!cat)
        return NULL;
    while (ps->p < ps->end && *ps->p != '|' && *ps->p != ')') {
        if (plain_at(ps, ps->p) && ps->p + 1 < ps->end && plain_at(ps, ps->p + 1)) {
            if (add_kid(ps, cat, parse_lit(ps))) {
                node_free(cat);
                return NULL;
            }
            continue;
        }
        struct node *a = parse_atom(ps);
        if (!a) {
            node_free(cat);
            return NULL;
        }
        for (;;) {
            unsigned mn, mx;
            if (ps->p >= ps->end)
                break;
            char q = *ps->p;
            if (q == '?') {
                mn = 0;
                mx = 1;
                ps->p++;
            } else if (q == '*') {
                mn = 0;
                mx = REP_INF;
                ps->p++;
            } else if (q == '+') {
                mn = 1;
                mx = REP_INF;
                ps->p++;
            } else if (q == '{' && parse_braces(ps, &mn, &mx)) {
                /* consumed */
            } else {
                break;
            }
            if (ps->p < ps->end && (*ps->p == '?' || *ps->p == '+'))
                ps->p++; /* lazy / possessive: same strings */
            struct node *r = mk(ps, N_REP);
            if (!r || add_kid(ps, r, a)) {
                node_free(r);
                node_free(cat);
                return NULL;
            }
            r->min = mn;
            r->max = mx;
            a = r;
        }
        if (add_kid(ps, cat, a)) {
            node_free(cat);
            return NULL;
        }
    }
    return cat;
}

static struct node *parse_alt(struct parser *ps)
{
    struct node *first = parse_cat(ps);
    if (!first || ps->p >= ps->end || *ps->p != '|')
        return first;
    struct node *alt = mk(ps, N_ALT);
    if (!alt || add_kid(ps, alt, first)) {
        node_free(alt);
        return NULL;
    }
    while (ps->p < ps->end && *ps->p == '|') {
        ps->p++;
        if (add_kid(ps, alt, parse_cat(ps))) {
            node_free(alt);
            return NULL;
        }
    }
    return alt;
}

/* ---- pass 1: exact sets, edges, lengths -------------------------------------- */

static struct td__len len_inf(void)
{
    struct td__len l = {0, 0, 0, 1};
    return l;
}

static struct td__len len_add(struct td__len a, struct td__len b)
{
    if (a.inf || b.inf)
        return len_inf();
    struct td__len l = {a.c0 + b.c0, a.ks + b.ks, a.kp + b.kp, 0};
    return l;
}

static struct td__len len_max(struct td__len a, struct td__len b)
{
    if (a.inf || b.inf)
        return len_inf();
    struct td__len l = {a.c0 > b.c0 ? a.c0 : b.c0, a.ks > b.ks ? a.ks : b.ks,
                        a.kp > b.kp ? a.kp : b.kp, 0};
    return l;
}

static struct td__len len_mul(struct td__len a, unsigned k)
{
    if (a.inf)
        return a;
    if (a.c0 > (1u << 30) / (k + 1u) || a.ks > (1u << 20) || a.kp > (1u << 20) || k > (1u << 20))
        return len_inf();
    struct td__len l = {a.c0 * k, a.ks * k, a.kp * k, 0};
    return l;
}

static int str_all(const struct sset *x, int (*pred)(char), int at_end)
{
    for (size_t i = 0; i < x->n; i++) {
        size_t n = strlen(x->s[i]);
        if (!n || !pred(x->s[i][at_end ? n - 1 : 0]))
            return 0;
    }
    return x->n > 0;
}

static int only_markers(const struct sset *x, int *all_sep)
{
    *all_sep = 1;
    for (size_t i = 0; i < x->n; i++)
        for (const char *c = x->s[i]; *c; c++) {
            if (*c != 'S' && *c != '?' && *c != 'B')
                return 0;
            if (*c == '?')
                *all_sep = 0;
        }
    return 1;
}

static int pass1(struct node *n)
{
    switch (n->k) {
    case N_EMPTY:
    case N_LOOK:
        n->ex = sset_one("");
        n->nullable = 1;
        break;
    case N_ASSERT: {
        char s[2] = {n->sym, 0};
        n->ex = sset_one(s);
        n->nullable = 1;
        break;
    }
    case N_STR: {
        char s[2] = {n->sym, 0};
        n->ex = sset_one(s);
        n->len.c0 = n->blen;
        break;
    }
    case N_LIT:
        n->ex = sset_one(n->lit);
        n->len.c0 = strlen(n->lit);
        break;
    case N_UNKNOWN:
        n->nullable = 1;
        n->len = len_inf();
        return 0;
    case N_CAT: {
        n->nullable = 1;
        struct sset *acc = sset_one("");
        for (size_t i = 0; i < n->nkid; i++) {
            struct node *k = n->kid[i];
            if (pass1(k))
                return 1;
            n->nullable &= k->nullable;
            n->len = len_add(n->len, k->len);
            if (acc && k->ex) {
                struct sset *x = sset_cat(acc, k->ex);
                sset_free(acc);
                acc = x;
            } else {
                sset_free(acc);
                acc = NULL;
            }
        }
        n->ex = acc;
        /* edges: the first part that cannot be empty decides (or a marker) */
        for (size_t i = 0; i < n->nkid; i++) {
            if (n->kid[i]->ssep) {
                n->ssep = 1;
                break;
            }
            if (!n->kid[i]->nullable)
                break;
            if (n->kid[i]->k != N_LOOK)
                break;
        }
        for (size_t i = n->nkid; i-- > 0;) {
            if (n->kid[i]->esep) {
                n->esep = 1;
                break;
            }
            if (!n->kid[i]->nullable || n->kid[i]->k != N_LOOK)
                break;
        }
        break;
    }
    case N_ALT: {
        struct sset *acc = sset_new();
        n->ssep = n->esep = 1;
        for (size_t i = 0; i < n->nkid; i++) {
            struct node *k = n->kid[i];
            if (pass1(k))
                return 1;
            n->nullable |= k->nullable;
            n->ssep &= k->ssep;
            n->esep &= k->esep;
            n->len = i ? len_max(n->len, k->len) : k->len;
            if (acc && (!k->ex || sset_union(acc, k->ex))) {
                sset_free(acc);
                acc = NULL;
            }
        }
        n->ex = acc;
        break;
    }
    case N_REP: {
        struct node *k = n->kid[0];
        if (pass1(k))
            return 1;
        n->nullable = n->min == 0 || k->nullable;
        n->ssep = n->min > 0 && k->ssep;
        n->esep = n->min > 0 && k->esep;
        if (n->max != REP_INF) {
            n->len = len_mul(k->len, n->max);
        } else if (k->k == N_STR && k->nospace) {
            n->len.ks = 1;
        } else if (k->k == N_STR && k->nopunct) {
            n->len.kp = 1;
        } else if (k->len.c0 == 0 && k->len.ks == 0 && k->len.kp == 0 && !k->len.inf) {
            n->len = k->len; /* only zero-width parts */
        } else {
            n->len = len_inf();
        }
        if (!k->ex)
            break;
        int all_sep;
        if (n->max == REP_INF || n->max > 8) {
            /* a run of separators or unknowns is one marker, however long */
            if (only_markers(k->ex, &all_sep)) {
                n->ex = sset_new();
                if (n->ex && ((n->min == 0 && sset_add(n->ex, "", 0)) ||
                              sset_add(n->ex, all_sep ? "S" : "?", 1))) {
                    sset_free(n->ex);
                    n->ex = NULL;
                }
            }
            break;
        }
        struct sset *pow = sset_one(""), *acc = sset_new();
        for (unsigned r = 0; pow && acc && r <= n->max; r++) {
            if (r >= n->min && sset_union(acc, pow)) {
                sset_free(acc);
                acc = NULL;
            }
            if (r < n->max) {
                struct sset *x = sset_cat(pow, k->ex);
                sset_free(pow);
                pow = x;
            }
        }
        sset_free(pow);
        n->ex = acc;
        break;
    }
    }
    if (n->ex && n->k != N_CAT && n->k != N_ALT) {
        n->ssep = str_all(n->ex, closes, 0);
        n->esep = str_all(n->ex, closes, 1);
    } else if (n->ex) {
        n->ssep |= str_all(n->ex, closes, 0);
        n->esep |= str_all(n->ex, closes, 1);
    }
    return 0;
}

/* ---- pass 2: clauses ---------------------------------------------------------- */

struct atom {
    char w[STR_MAX + 1];
    int prefix;
    unsigned long cost;
};

struct ctx {
    td__word_cost cost;
    void *cost_arg;
    struct td__req *out; /* clauses collected */
    size_t max_clauses;
    int bad;
};

static int atom_cmp(const void *a, const void *b)
{
    const struct td__req_atom *x = a, *y = b;
    if (x->prefix != y->prefix)
        return x->prefix - y->prefix;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->word, y->word, x->len);
}

static void clause_free(struct td__req_clause *c)
{
    for (size_t i = 0; i < c->natoms; i++)
        free(c->atoms[i].word);
    free(c->atoms);
    memset(c, 0, sizeof *c);
}

/* Sort and deduplicate a clause's atoms, and price it. */
static void clause_finish(struct ctx *cx, struct td__req_clause *c)
{
    if (c->natoms > 1)
        qsort(c->atoms, c->natoms, sizeof *c->atoms, atom_cmp);
    size_t o = 0;
    for (size_t i = 0; i < c->natoms; i++) {
        if (o && atom_cmp(&c->atoms[o - 1], &c->atoms[i]) == 0) {
            free(c->atoms[i].word);
            continue;
        }
        c->atoms[o++] = c->atoms[i];
    }
    c->natoms = o;
    c->cost = 0;
    for (size_t i = 0; i < c->natoms; i++)
        c->cost += cx->cost(cx->cost_arg, c->atoms[i].word, c->atoms[i].len, c->atoms[i].prefix);
}

static int clause_add_atom(struct td__req_clause *c, const char *w, size_t n, int prefix)
{
    struct td__req_atom *p = realloc(c->atoms, (c->natoms + 1) * sizeof *p);
    if (!p)
        return 1;
    c->atoms = p;
    char *s = malloc(n + 1);
    if (!s)
        return 1;
    memcpy(s, w, n);
    s[n] = '\0';
    c->atoms[c->natoms++] = (struct td__req_atom){s, n, prefix};
    return 0;
}

/* A list of clauses, all of which must hold. */
struct cnf {
    struct td__req_clause *c;
    size_t n;
};

static void cnf_free(struct cnf *f)
{
    for (size_t i = 0; i < f->n; i++)
        clause_free(&f->c[i]);
    free(f->c);
    f->c = NULL;
    f->n = 0;
}

static int clause_cmp(const void *a, const void *b)
{
    const struct td__req_clause *x = a, *y = b;
    return x->cost < y->cost ? -1 : x->cost > y->cost;
}

static int cnf_push(struct cnf *f, struct td__req_clause *c)
{
    struct td__req_clause *p = realloc(f->c, (f->n + 1) * sizeof *p);
    if (!p) {
        clause_free(c);
        return 1;
    }
    f->c = p;
    f->c[f->n++] = *c;
    memset(c, 0, sizeof *c);
    return 0;
}

/* Keep the k cheapest clauses (more only cost checking time). */
static void cnf_trim(struct cnf *f, size_t k)
{
    if (f->n > 1)
        qsort(f->c, f->n, sizeof *f->c, clause_cmp);
    while (f->n > k)
        clause_free(&f->c[--f->n]);
}

/* Words of one exact string: runs of letters/digits with closed ends. */
static size_t string_atoms(struct ctx *cx, const char *s, int lctx, int rctx, struct atom *a,
                           size_t max)
{
    size_t n = strlen(s), na = 0;
    for (size_t i = 0; i < n;) {
        if (!is_tok(s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && is_tok(s[j]))
            j++;
        int lc = i == 0 ? lctx : closes(s[i - 1]);
        int rc = j == n ? rctx : closes(s[j]);
        /* a prefix needs two letters; longer words than the tokeniser keeps
         * are left out (a string without any word makes no clause) */
        if (lc && j - i <= TD__TOKEN_MAX && na < max && (rc || j - i >= 2)) {
            memcpy(a[na].w, s + i, j - i);
            a[na].w[j - i] = '\0';
            a[na].prefix = !rc;
            a[na].cost = cx->cost(cx->cost_arg, a[na].w, j - i, !rc);
            na++;
        }
        i = j;
    }
    return na;
}

static int acost_cmp(const void *x, const void *y)
{
    const struct atom *a = x, *b = y;
    return a->cost < b->cost ? -1 : a->cost > b->cost;
}

/* Clauses from an exact set in context: per string its rarest word (and,
 * for a second clause, its second rarest). */
static int exact_clauses(struct ctx *cx, const struct sset *x, int lctx, int rctx, struct cnf *f)
{
    struct td__req_clause c[2];
    memset(c, 0, sizeof c);
    int have[2] = {1, 1};
    struct atom a[16];
    for (size_t i = 0; i < x->n; i++) {
        size_t na = string_atoms(cx, x->s[i], lctx, rctx, a, 16);
        if (na == 0) {
            have[0] = have[1] = 0;
            break;
        }
        qsort(a, na, sizeof *a, acost_cmp);
        for (int k = 0; k < 2; k++) {
            if (!have[k])
                continue;
            if ((size_t)k >= na) {
                have[k] = 0;
                continue;
            }
            if (clause_add_atom(&c[k], a[k].w, strlen(a[k].w), a[k].prefix))
                cx->bad = 1;
        }
    }
    int rc = 0;
    for (int k = 0; k < 2; k++) {
        if (have[k] && c[k].natoms && !cx->bad) {
            clause_finish(cx, &c[k]);
            rc |= cnf_push(f, &c[k]);
        } else {
            clause_free(&c[k]);
        }
    }
    return rc;
}

static int pass2(struct ctx *cx, const struct node *n, int lctx, int rctx, struct cnf *f);

/* Every non-empty string of x starts (at_end: ends) with a separator. */
static int nonempty_closed(const struct sset *x, int at_end)
{
    for (size_t i = 0; i < x->n; i++) {
        size_t n = strlen(x->s[i]);
        if (n && !closes(x->s[i][at_end ? n - 1 : 0]))
            return 0;
    }
    return 1;
}

/* Is the character before part i of concatenation n a separator?  A part
 * that may be empty passes the question on to the part before it. */
static int ctx_left(const struct node *n, size_t i, int lctx)
{
    while (i-- > 0) {
        const struct node *k = n->kid[i];
        if (k->esep) /* a separator, or \b / ^ (zero width, but a boundary) */
            return 1;
        if (!k->nullable)
            return 0;
        if (!k->ex || !nonempty_closed(k->ex, 1))
            return 0;
    }
    return lctx;
}

/* Is the character after part j - 1 (the first of part j) a separator? */
static int ctx_right(const struct node *n, size_t j, int rctx)
{
    for (; j < n->nkid; j++) {
        const struct node *k = n->kid[j];
        if (k->ssep)
            return 1;
        if (!k->nullable)
            return 0;
        if (!k->ex || !nonempty_closed(k->ex, 0))
            return 0;
    }
    return rctx;
}

/* Clauses of a concatenation: runs of exact parts are joined (so words
 * spanning parts are seen whole), the rest analysed with their context. */
static int cat_clauses(struct ctx *cx, const struct node *n, int lctx, int rctx, struct cnf *f)
{
    size_t i = 0;
    while (i < n->nkid) {
        const struct node *k = n->kid[i];
        int l = ctx_left(n, i, lctx);
        if (!k->ex) {
            int r = ctx_right(n, i + 1, rctx);
            if (pass2(cx, k, l, r, f))
                return 1;
            i++;
            continue;
        }
        struct sset *acc = sset_one("");
        size_t j = i;
        while (acc && j < n->nkid && n->kid[j]->ex) {
            struct sset *x = sset_cat(acc, n->kid[j]->ex);
            if (!x)
                break; /* too many strings: close the run here */
            sset_free(acc);
            acc = x;
            j++;
        }
        if (!acc)
            return 1;
        if (j == i) { /* one part alone is too big to join: analyse it alone */
            sset_free(acc);
            int r = ctx_right(n, i + 1, rctx);
            if (exact_clauses(cx, k->ex, l, r, f))
                return 1;
            i++;
            continue;
        }
        int r = ctx_right(n, j, rctx);
        int rc = exact_clauses(cx, acc, l, r, f);
        sset_free(acc);
        if (rc)
            return 1;
        i = j;
    }
    return 0;
}

static int pass2(struct ctx *cx, const struct node *n, int lctx, int rctx, struct cnf *f)
{
    if (cx->bad)
        return 1;
    if (n->ex)
        return exact_clauses(cx, n->ex, lctx, rctx, f);
    switch (n->k) {
    case N_CAT:
        return cat_clauses(cx, n, lctx, rctx, f);
    case N_REP:
        if (n->min == 0)
            return 0;
        return pass2(cx, n->kid[0], lctx, n->max == 1 ? rctx : rctx && n->kid[0]->ssep, f);
    case N_ALT: {
        /* one clause: the union of each branch's cheapest clause */
        struct td__req_clause u;
        memset(&u, 0, sizeof u);
        for (size_t i = 0; i < n->nkid; i++) {
            struct cnf b = {NULL, 0};
            if (pass2(cx, n->kid[i], lctx, rctx, &b)) {
                cnf_free(&b);
                clause_free(&u);
                return 1;
            }
            if (b.n == 0) {
                cnf_free(&b);
                clause_free(&u);
                return 0; /* a branch needs nothing: neither does the whole */
            }
            cnf_trim(&b, 1);
            for (size_t a = 0; a < b.c[0].natoms; a++)
                if (clause_add_atom(&u, b.c[0].atoms[a].word, b.c[0].atoms[a].len,
                                    b.c[0].atoms[a].prefix))
                    cx->bad = 1;
            cnf_free(&b);
        }
        if (cx->bad) {
            clause_free(&u);
            return 1;
        }
        clause_finish(cx, &u);
        return cnf_push(f, &u);
    }
    default:
        return 0;
    }
}

/* ---- pass 3: the formula ------------------------------------------------------ */

struct fb {
    struct ctx *cx;
    struct td__fnode *f;
    size_t n, cap;
    struct td__req_atom *atoms;
    size_t natoms, capatoms;
    int bad;
};

#define FORM_MAX 20000 /* nodes: past this a rule keeps only its clauses */

static size_t fb_push(struct fb *b, uint8_t op, uint32_t n)
{
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        struct td__fnode *p = nc <= FORM_MAX ? realloc(b->f, nc * sizeof *p) : NULL;
        if (!p) {
            b->bad = 1;
            return 0;
        }
        b->f = p;
        b->cap = nc;
    }
    b->f[b->n] = (struct td__fnode){op, n, 1, 0};
    return b->n++;
}

static uint32_t fb_atom(struct fb *b, const char *w, size_t n, int prefix)
{
    for (size_t i = b->natoms; i-- > 0 && b->natoms - i < 64;) /* recent ones repeat */
        if (b->atoms[i].len == n && b->atoms[i].prefix == prefix &&
            memcmp(b->atoms[i].word, w, n) == 0)
            return (uint32_t)i;
    if (b->natoms == b->capatoms) {
        size_t nc = b->capatoms ? b->capatoms * 2 : 64;
        struct td__req_atom *p = realloc(b->atoms, nc * sizeof *p);
        if (!p) {
            b->bad = 1;
            return 0;
        }
        b->atoms = p;
        b->capatoms = nc;
    }
    char *s = malloc(n + 1);
    if (!s) {
        b->bad = 1;
        return 0;
    }
    memcpy(s, w, n);
    s[n] = '\0';
    b->atoms[b->natoms] = (struct td__req_atom){s, n, prefix};
    return (uint32_t)b->natoms++;
}

struct kid {
    size_t at, size;
};

static int kid_cmp(const void *x, const void *y)
{
    const struct kid *a = x, *b = y;
    return a->size < b->size ? -1 : a->size > b->size ? 1 : a->at < b->at ? -1 : a->at > b->at;
}

/* Smallest children of an AND first: a missing single word fails it before
 * a large alternation is looked at (order does not change the value). */
static void fb_sort_and(struct fb *b, size_t at)
{
    struct td__fnode *f = b->f;
    size_t n = f[at].n, sz = f[at].size - 1;
    struct kid *k = malloc(n * sizeof *k);
    struct td__fnode *tmp = malloc(sz * sizeof *tmp);
    if (k && tmp) {
        size_t j = at + 1;
        for (size_t i = 0; i < n; i++) {
            k[i] = (struct kid){j, f[j].size};
            j += f[j].size;
        }
        qsort(k, n, sizeof *k, kid_cmp);
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            memcpy(tmp + o, f + k[i].at, k[i].size * sizeof *tmp);
            o += k[i].size;
        }
        memcpy(f + at + 1, tmp, sz * sizeof *tmp);
    }
    free(k);
    free(tmp);
}

/* Close AND/OR node at index at: count children, fold TRUE children. */
static void fb_close(struct fb *b, size_t at)
{
    if (b->bad)
        return;
    struct td__fnode *f = b->f;
    uint8_t op = f[at].op;
    size_t j = at + 1, o = at + 1, kids = 0;
    int any_true = 0;
    while (j < b->n) {
        size_t sz = f[j].size;
        if (f[j].op == TD__F_TRUE) {
            any_true = 1;
            j += sz;
            continue; /* TRUE in an AND says nothing */
        }
        memmove(&f[o], &f[j], sz * sizeof *f);
        o += sz;
        j += sz;
        kids++;
    }
    b->n = o;
    if ((op == TD__F_OR && any_true) || kids == 0) {
        b->n = at; /* an OR with a TRUE branch, or an empty AND: TRUE */
        fb_push(b, TD__F_TRUE, 0);
        return;
    }
    if (kids == 1) { /* one child: the child itself */
        memmove(&f[at], &f[at + 1], (b->n - at - 1) * sizeof *f);
        b->n--;
        return;
    }
    f[at].n = (uint32_t)kids;
    f[at].size = (uint32_t)(b->n - at);
    if (op == TD__F_AND && kids > 1)
        fb_sort_and(b, at);
}

static void fb_exact(struct fb *b, const struct sset *x, int lctx, int rctx)
{
    size_t top = fb_push(b, TD__F_OR, 0);
    struct atom a[16];
    for (size_t i = 0; i < x->n && !b->bad; i++) {
        size_t na = string_atoms(b->cx, x->s[i], lctx, rctx, a, 16);
        if (na == 0) {
            fb_push(b, TD__F_TRUE, 0);
            break;
        }
        qsort(a, na, sizeof *a, acost_cmp); /* rarest first: fails fast */
        size_t and = fb_push(b, TD__F_AND, 0);
        for (size_t k = 0; k < na && !b->bad; k++)
            fb_push(b, TD__F_ATOM, fb_atom(b, a[k].w, strlen(a[k].w), a[k].prefix));
        fb_close(b, and);
    }
    fb_close(b, top);
}

static void fb_node(struct fb *b, const struct node *n, int lctx, int rctx)
{
    if (b->bad)
        return;
    if (n->ex) {
        fb_exact(b, n->ex, lctx, rctx);
        return;
    }
    switch (n->k) {
    case N_CAT: {
        size_t top = fb_push(b, TD__F_AND, 0);
        size_t i = 0;
        while (i < n->nkid && !b->bad) {
            const struct node *k = n->kid[i];
            int l = ctx_left(n, i, lctx);
            if (!k->ex) {
                int r = ctx_right(n, i + 1, rctx);
                fb_node(b, k, l, r);
                i++;
                continue;
            }
            struct sset *acc = sset_one("");
            size_t j = i;
            while (acc && j < n->nkid && n->kid[j]->ex) {
                struct sset *x = sset_cat(acc, n->kid[j]->ex);
                if (!x)
                    break;
                sset_free(acc);
                acc = x;
                j++;
            }
            if (!acc) {
                b->bad = 1;
                break;
            }
            if (j == i) {
                sset_free(acc);
                fb_exact(b, k->ex, l, ctx_right(n, i + 1, rctx));
                i++;
                continue;
            }
            fb_exact(b, acc, l, ctx_right(n, j, rctx));
            sset_free(acc);
            i = j;
        }
        fb_close(b, top);
        return;
    }
    case N_ALT: {
        size_t top = fb_push(b, TD__F_OR, 0);
        for (size_t i = 0; i < n->nkid && !b->bad; i++)
            fb_node(b, n->kid[i], lctx, rctx);
        fb_close(b, top);
        return;
    }
    case N_REP:
        if (n->min > 0) {
            fb_node(b, n->kid[0], lctx, n->max == 1 ? rctx : rctx && n->kid[0]->ssep);
            return;
        }
        break;
    default:
        break;
    }
    fb_push(b, TD__F_TRUE, 0);
}

/* ---- entry ------------------------------------------------------------------ */

int td__req_derive(const char *pat, size_t len, td__word_cost cost, void *cost_arg,
                   size_t max_clauses, struct td__req *out)
{
    memset(out, 0, sizeof *out);
    struct parser ps = {pat, pat + len, 0, 0};
    struct node *root = parse_alt(&ps);
    if (ps.bad) {
        node_free(root);
        return TD_ENOMEM;
    }
    if (!root || ps.p != ps.end) {
        /* not understood: no requirement, no bound (always safe) */
        node_free(root);
        out->len = len_inf();
        out->opaque = 1;
        return TD_OK;
    }
    if (pass1(root)) {
        node_free(root);
        return TD_ENOMEM;
    }
    out->len = root->len;
    struct ctx cx = {cost, cost_arg, out, max_clauses, 0};
    struct cnf f = {NULL, 0};
    int rc = pass2(&cx, root, 0, 0, &f);
    struct fb fbld = {&cx, NULL, 0, 0, NULL, 0, 0, 0};
    if (!rc)
        fb_node(&fbld, root, 0, 0);
    if (fbld.bad || rc) {
        /* too big (or no memory): the clauses alone will do */
        for (size_t i = 0; i < fbld.natoms; i++)
            free(fbld.atoms[i].word);
        free(fbld.atoms);
        free(fbld.f);
    } else {
        out->form = fbld.f;
        out->nform = fbld.n;
        out->fatoms = fbld.atoms;
        out->nfatoms = fbld.natoms;
    }
    node_free(root);
    if (rc || cx.bad) {
        cnf_free(&f);
        return TD_ENOMEM;
    }
    /* drop duplicates, keep the cheapest few */
    cnf_trim(&f, (size_t)-1);
    size_t o = 0;
    for (size_t i = 0; i < f.n; i++) {
        int dup = 0;
        for (size_t j = 0; j < o && !dup; j++) {
            const struct td__req_clause *a = &f.c[i], *b = &f.c[j];
            if (a->natoms != b->natoms)
                continue;
            dup = 1;
            for (size_t k = 0; k < a->natoms && dup; k++)
                dup = atom_cmp(&a->atoms[k], &b->atoms[k]) == 0;
        }
        if (dup)
            clause_free(&f.c[i]);
        else
            f.c[o++] = f.c[i];
    }
    f.n = o;
    cnf_trim(&f, max_clauses);
    out->clauses = f.c;
    out->nclauses = f.n;
    return TD_OK;
}

void td__req_release(struct td__req *r)
{
    for (size_t i = 0; i < r->nfatoms; i++)
        free(r->fatoms[i].word);
    free(r->fatoms);
    free(r->form);
    for (size_t i = 0; i < r->nclauses; i++)
        clause_free(&r->clauses[i]);
    free(r->clauses);
    memset(r, 0, sizeof *r);
}
