/*
 * grammar_reqcache.c - the derived rule requirements, kept on disk.
 *
 * Why: deriving every rule's requirement (grammar_req.c) costs about a
 * third of the engine's start-up, and its answer only changes when a
 * rule, word_freq.txt or the analysis itself changes.  So the shipped
 * grammar carries data/grammar/requirements.cache, written by
 * `threatdesk grammar cache`; the loader takes a rule's requirement from it
 * when the rule's expanded pattern is there and derives it otherwise.  A
 * stale or damaged cache therefore costs time, never correctness: a rule
 * edited since the cache was written is simply derived.  The unit tests
 * check that the shipped cache is complete and equal to a fresh
 * derivation, so a change that forgets to rewrite it fails there.
 *
 * File:  "# comment" lines, then the header
 *            threatdesk-req-cache <format> <stamp: 16 hex digits>
 *        then one line per rule
 *            <XXH3-128 of the pattern: 32 hex digits> <requirement>
 * The stamp hashes word_freq.txt, the analysis version and the clause
 * limit: any of them changing voids every entry.  The requirement is
 * space-separated fields:
 *     o <opaque> L <c0> <ks> <kp> <inf>
 *     C <nclauses> { <cost> <natoms> <atom>... }...
 *     F <nform> { <op> <n> <size> <aux> }...
 *     A <nfatoms> <atom>...
 * an atom being '=' (exact) or '*' (prefix) followed by its word.
 */
#include "analyse/grammar_int.h"
#include "threatdesk/buf.h"

#include <xxhash.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_FORMAT 1
#define CACHE_MAX_BYTES (16u << 20) /* a shipped cache is ~100 KB */
#define FIELD_MAX 100000            /* no count in a requirement comes near */

/* ---- one requirement as text --------------------------------------------------- */

static int put_atom(struct td_buf *b, const struct td__req_atom *a)
{
    return td_buf_printf(b, " %c%.*s", a->prefix ? '*' : '=', (int)a->len, a->word);
}

int td__req_format(const struct td__req *r, struct td_buf *b)
{
    int rc = td_buf_printf(b, "o %d L %zu %zu %zu %d C %zu", r->opaque, r->len.c0, r->len.ks,
                           r->len.kp, r->len.inf, r->nclauses);
    for (size_t i = 0; !rc && i < r->nclauses; i++) {
        const struct td__req_clause *c = &r->clauses[i];
        rc = td_buf_printf(b, " %lu %zu", c->cost, c->natoms);
        for (size_t k = 0; !rc && k < c->natoms; k++)
            rc = put_atom(b, &c->atoms[k]);
    }
    if (!rc)
        rc = td_buf_printf(b, " F %zu", r->form ? r->nform : 0);
    for (size_t i = 0; !rc && r->form && i < r->nform; i++)
        rc = td_buf_printf(b, " %u %" PRIu32 " %" PRIu32 " %" PRIu32, (unsigned)r->form[i].op,
                           r->form[i].n, r->form[i].size, r->form[i].aux);
    if (!rc)
        rc = td_buf_printf(b, " A %zu", r->form ? r->nfatoms : 0);
    for (size_t i = 0; !rc && r->form && i < r->nfatoms; i++)
        rc = put_atom(b, &r->fatoms[i]);
    return rc;
}

/* A cursor over one line: every read is bounded by end. */
struct cur {
    const char *p, *end;
    int bad;
};

static const char *field(struct cur *c, size_t *n)
{
    while (c->p < c->end && *c->p == ' ')
        c->p++;
    const char *s = c->p;
    while (c->p < c->end && *c->p != ' ')
        c->p++;
    *n = (size_t)(c->p - s);
    if (*n == 0)
        c->bad = 1;
    return s;
}

static void expect(struct cur *c, const char *tag)
{
    size_t n;
    const char *s = field(c, &n);
    if (n != strlen(tag) || memcmp(s, tag, n) != 0)
        c->bad = 1;
}

static unsigned long long number(struct cur *c, unsigned long long max)
{
    size_t n;
    const char *s = field(c, &n);
    unsigned long long v = 0;
    if (n == 0 || n > 20)
        c->bad = 1;
    for (size_t i = 0; i < n && !c->bad; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (s[i] < '0' || s[i] > '9' || d > max || v > (max - d) / 10)
            c->bad = 1;
        else
            v = v * 10 + d;
    }
    return c->bad ? 0 : v;
}

static void atom(struct cur *c, struct td__req_atom *a)
{
    size_t n;
    const char *s = field(c, &n);
    if (c->bad || n < 2 || n > 2 * TD__TOKEN_MAX + 1 || (s[0] != '=' && s[0] != '*')) {
        c->bad = 1;
        return;
    }
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9'))) {
            c->bad = 1;
            return;
        }
    if (!(a->word = malloc(n))) {
        c->bad = 1;
        return;
    }
    memcpy(a->word, s + 1, n - 1);
    a->word[n - 1] = '\0';
    a->len = n - 1;
    a->prefix = s[0] == '*';
}

int td__req_scan(const char *s, size_t len, struct td__req *r)
{
    memset(r, 0, sizeof *r);
    struct cur c = {s, s + len, 0};
    expect(&c, "o");
    r->opaque = (int)number(&c, 1);
    expect(&c, "L");
    r->len.c0 = (size_t)number(&c, SIZE_MAX);
    r->len.ks = (size_t)number(&c, SIZE_MAX);
    r->len.kp = (size_t)number(&c, SIZE_MAX);
    r->len.inf = (int)number(&c, 1);
    expect(&c, "C");
    size_t nc = (size_t)number(&c, FIELD_MAX);
    if (!c.bad && nc && !(r->clauses = calloc(nc, sizeof *r->clauses)))
        c.bad = 1;
    for (size_t i = 0; i < nc && !c.bad; i++) {
        struct td__req_clause *cl = &r->clauses[i];
        r->nclauses = i + 1;
        cl->cost = (unsigned long)number(&c, ULONG_MAX);
        size_t na = (size_t)number(&c, FIELD_MAX);
        if (!c.bad && na && !(cl->atoms = calloc(na, sizeof *cl->atoms)))
            c.bad = 1;
        for (size_t k = 0; k < na && !c.bad; k++) {
            cl->natoms = k + 1;
            atom(&c, &cl->atoms[k]);
        }
    }
    expect(&c, "F");
    size_t nf = (size_t)number(&c, FIELD_MAX);
    if (!c.bad && nf && !(r->form = calloc(nf, sizeof *r->form)))
        c.bad = 1;
    for (size_t i = 0; i < nf && !c.bad; i++) {
        r->nform = i + 1;
        unsigned op = (unsigned)number(&c, TD__F_OR);
        r->form[i].op = (uint8_t)op;
        r->form[i].n = (uint32_t)number(&c, UINT32_MAX);
        r->form[i].size = (uint32_t)number(&c, UINT32_MAX);
        r->form[i].aux = (uint32_t)number(&c, UINT32_MAX);
    }
    expect(&c, "A");
    size_t na = (size_t)number(&c, FIELD_MAX);
    if (!c.bad && na && !(r->fatoms = calloc(na, sizeof *r->fatoms)))
        c.bad = 1;
    for (size_t i = 0; i < na && !c.bad; i++) {
        r->nfatoms = i + 1;
        atom(&c, &r->fatoms[i]);
    }
    /* the formula must be one whole tree whose atoms exist, as derived */
    for (size_t i = 0; i < r->nform && !c.bad; i++) {
        const struct td__fnode *f = &r->form[i];
        if (f->size < 1 || f->size > r->nform - i || (f->op == TD__F_ATOM && f->n >= r->nfatoms))
            c.bad = 1;
    }
    if (!c.bad && r->nform && r->form[0].size != r->nform)
        c.bad = 1;
    while (c.p < c.end && *c.p == ' ')
        c.p++;
    if (c.bad || c.p != c.end) {
        td__req_release(r);
        return TD_EPARSE;
    }
    return TD_OK;
}

/* ---- the cache file ------------------------------------------------------------ */

struct td__reqcache {
    char *data; /* the file, NUL-terminated */
    struct entry {
        XXH128_hash_t key;
        const char *line; /* into data */
        size_t len;
    } * e;
    size_t n, mask; /* open addressing; mask + 1 a power of two */
};

uint64_t td__reqcache_stamp(const char *freq, size_t len, size_t max_clauses)
{
    char tail[64];
    int n = snprintf(tail, sizeof tail, "|%d|%d|%zu", CACHE_FORMAT, TD__REQ_VERSION, max_clauses);
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return 0;
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, freq ? freq : "", freq ? len : 0);
    XXH3_64bits_update(st, tail, (size_t)n);
    uint64_t h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return h;
}

static XXH128_hash_t pattern_key(const char *pat, size_t len)
{
    return XXH3_128bits(pat, len);
}

static int parse_hex(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = s[i] >= '0' && s[i] <= '9'   ? s[i] - '0'
                : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
                                             : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

static void put(struct td__reqcache *c, XXH128_hash_t k, const char *line, size_t len)
{
    size_t h = (size_t)k.low64 & c->mask;
    while (c->e[h].line && !XXH128_isEqual(c->e[h].key, k))
        h = (h + 1) & c->mask;
    c->e[h].key = k;
    c->e[h].line = line;
    c->e[h].len = len;
}

int td__reqcache_load(const char *path, uint64_t stamp, struct td__reqcache **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? TD_ENOTFOUND : TD_EIO;
    struct td_buf b;
    td_buf_init(&b, CACHE_MAX_BYTES);
    char chunk[65536];
    size_t got;
    int rc = TD_OK;
    while (!rc && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = td_buf_append(&b, chunk, got);
    if (!rc && ferror(f))
        rc = TD_EIO;
    fclose(f);
    if (!rc)
        rc = td_buf_putc(&b, '\0');
    if (rc) {
        td_buf_release(&b);
        return rc;
    }
    struct td__reqcache *c = calloc(1, sizeof *c);
    if (!c) {
        td_buf_release(&b);
        return TD_ENOMEM;
    }
    c->data = td_buf_detach(&b, NULL);
    size_t lines = 1;
    for (const char *p = c->data; *p; p++)
        lines += *p == '\n';
    size_t cap = 16;
    while (cap < 2 * lines)
        cap *= 2;
    if (!(c->e = calloc(cap, sizeof *c->e))) {
        td__reqcache_free(c);
        return TD_ENOMEM;
    }
    c->mask = cap - 1;
    int header = 0;
    char head[64];
    int hl =
        snprintf(head, sizeof head, "threatdesk-req-cache %d %016" PRIx64, CACHE_FORMAT, stamp);
    for (char *p = c->data; *p && rc == TD_OK;) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n == 0 || *p == '#') {
            /* comment or blank */
        } else if (!header) {
            /* another stamp: nothing here describes these rules */
            if (n != (size_t)hl || memcmp(p, head, n) != 0)
                rc = TD_EFORMAT;
            header = 1;
        } else {
            uint64_t hi, lo;
            if (n < 34 || p[32] != ' ' || parse_hex(p, 16, &hi) || parse_hex(p + 16, 16, &lo))
                rc = TD_EPARSE;
            else {
                XXH128_hash_t k = {.low64 = lo, .high64 = hi};
                put(c, k, p + 33, n - 33);
                c->n++;
            }
        }
        p = nl ? nl + 1 : p + n;
    }
    if (!rc && !header)
        rc = TD_EPARSE;
    if (rc) {
        td__reqcache_free(c);
        return rc;
    }
    *out = c;
    return TD_OK;
}

int td__reqcache_get(const struct td__reqcache *c, const char *pat, size_t len, struct td__req *r)
{
    if (!c)
        return TD_ENOTFOUND;
    XXH128_hash_t k = pattern_key(pat, len);
    size_t h = (size_t)k.low64 & c->mask;
    while (c->e[h].line) {
        if (XXH128_isEqual(c->e[h].key, k))
            return td__req_scan(c->e[h].line, c->e[h].len, r);
        h = (h + 1) & c->mask;
    }
    return TD_ENOTFOUND;
}

void td__reqcache_free(struct td__reqcache *c)
{
    if (!c)
        return;
    free(c->data);
    free(c->e);
    free(c);
}

int td__reqcache_header(struct td_buf *b, uint64_t stamp)
{
    return td_buf_printf(b,
                         "# Derived rule requirements (src/analyse/grammar_reqcache.c).\n"
                         "# Written by `threatdesk grammar cache`; do not edit.\n"
                         "threatdesk-req-cache %d %016" PRIx64 "\n",
                         CACHE_FORMAT, stamp);
}

int td__reqcache_entry(struct td_buf *b, const char *pat, size_t len, const struct td__req *r)
{
    XXH128_hash_t k = pattern_key(pat, len);
    int rc = td_buf_printf(b, "%016" PRIx64 "%016" PRIx64 " ", k.high64, k.low64);
    if (!rc)
        rc = td__req_format(r, b);
    if (!rc)
        rc = td_buf_putc(b, '\n');
    return rc;
}
