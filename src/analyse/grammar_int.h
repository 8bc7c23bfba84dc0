/*
 * grammar_int.h - grammar internals shared with the tests and benches.
 */
#ifndef THREATDESK_GRAMMAR_INT_H
#define THREATDESK_GRAMMAR_INT_H

#include <stddef.h>
#include <stdint.h>

#include "threatdesk/grammar.h"

/* td_grammar_match() with the pre-filter switched off: every rule runs on
 * every text, over the whole text.  The result must equal
 * td_grammar_match()'s for every text: tests and benches compare the two to
 * catch a requirement or window that is wrong (a silent miss). */
int td__grammar_match_unfiltered(const struct td_grammar *g, const char *text, size_t len,
                                 struct td_grammar_result *r, struct td_error *err);

/* What the pre-filter knows about rule i (0-based, file order): its name,
 * the words it requires as text ("kill|stab* & you|u": '|' within a
 * clause, " & " between clauses; "" when it requires none) and whether its
 * match length is bounded (it can then run in windows of a long text).
 * Returns 0 past the last rule. */
int td__grammar_rule_info(const struct td_grammar *g, size_t i, const char **name, char *req,
                          size_t reqcap, int *bounded);

/* ---- requirement analysis (grammar_req.c) ---------------------------------- */

/* The pre-filter's tokens: runs of ASCII letters and digits; longer runs
 * are looked up by their first TD__TOKEN_MAX bytes (prefixes only). */
#define TD__TOKEN_MAX 48

/* A match-length bound: c0 + ks * Ls + kp * Lp bytes, where Ls is the
 * text's longest run without a space and Lp its longest run without any
 * of . ! ?; inf = no bound. */
struct td__len {
    size_t c0, ks, kp;
    int inf;
};

struct td__req_atom {
    char *word; /* letters/digits, lower case */
    size_t len;
    int prefix; /* 1: any token starting with word */
};

/* One of these atoms must occur. */
struct td__req_clause {
    struct td__req_atom *atoms;
    size_t natoms;
    unsigned long cost; /* sum of the atoms' frequencies: lower is rarer */
};

/* Every clause must hold for the pattern to match. */
/* The exact word condition as a formula, flattened in prefix order: an
 * AND / OR node is followed by its n children; size counts a node's whole
 * subtree (to skip it).  TRUE: no condition. */
enum td__fop { TD__F_TRUE, TD__F_ATOM, TD__F_AND, TD__F_OR };
struct td__fnode {
    uint8_t op;    /* enum td__fop */
    uint32_t n;    /* AND/OR: children; ATOM: index into td__req.fatoms */
    uint32_t size; /* nodes in the subtree, itself included */
    uint32_t aux;  /* grammar.c: OR nodes with an index (1 + its number), else 0 */
};

struct td__req {
    struct td__req_clause *clauses; /* a cheap necessary condition */
    size_t nclauses;
    struct td__fnode *form; /* the fuller condition: every string's words */
    size_t nform;
    struct td__req_atom *fatoms;
    size_t nfatoms;
    struct td__len len;
    int opaque; /* the pattern was not understood: no clause, no bound */
};

/* How common a word (prefix = 1: all words starting so) is; any scale. */
typedef unsigned long (*td__word_cost)(void *arg, const char *w, size_t n, int prefix);

/* Derive the requirement of pattern pat[0..len) (expanded PCRE2 source),
 * keeping at most max_clauses of the rarest clauses.  Fails only with
 * TD_ENOMEM; *out is yours (td__req_release). */
int td__req_derive(const char *pat, size_t len, td__word_cost cost, void *cost_arg,
                   size_t max_clauses, struct td__req *out);
void td__req_release(struct td__req *r);

/* ---- the requirement cache (grammar_reqcache.c) ---------------------------- */

/* Bump when grammar_req.c derives anything differently: it voids every
 * cached requirement (the unit tests catch a forgotten bump). */
#define TD__REQ_VERSION 1

struct td_buf;
struct td__reqcache;

/* One requirement as one line of text (no newline), and back.  Scanning
 * checks every count, word and formula link; TD_EPARSE if any is off. */
int td__req_format(const struct td__req *r, struct td_buf *b);
int td__req_scan(const char *s, size_t len, struct td__req *r);

/* What the entries were derived under: word_freq.txt's bytes (NULL: no
 * file), the analysis version and the clause limit. */
uint64_t td__reqcache_stamp(const char *freq, size_t len, size_t max_clauses);

/* Load a cache file written under `stamp`.  TD_ENOTFOUND: no file;
 * TD_EFORMAT: written under another stamp; TD_EPARSE: damaged. */
int td__reqcache_load(const char *path, uint64_t stamp, struct td__reqcache **out);

/* The cached requirement of pattern pat[0..len) into *r (yours:
 * td__req_release); TD_ENOTFOUND when the pattern is not cached. */
int td__reqcache_get(const struct td__reqcache *c, const char *pat, size_t len, struct td__req *r);
void td__reqcache_free(struct td__reqcache *c);

/* Writing one: the header, then an entry per rule. */
int td__reqcache_header(struct td_buf *b, uint64_t stamp);
int td__reqcache_entry(struct td_buf *b, const char *pat, size_t len, const struct td__req *r);

/* Loading with the cache's options: TD__GRAMMAR_NO_CACHE derives every
 * rule; a non-NULL `record` receives a fresh cache (header and entries,
 * derived, never read from the cache).  *misses (if not NULL): rules whose
 * requirement was derived. */
#define TD__GRAMMAR_NO_CACHE 1
int td__grammar_load_ex(const char *dir, unsigned flags, struct td_buf *record, size_t *misses,
                        struct td_grammar **out, struct td_error *err);

#endif
