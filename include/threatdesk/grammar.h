/*
 * grammar.h - the explainable threat grammar.
 *
 * Why: the public training sets hold few threats, and almost none aimed at
 * one named person the way letters to an MP are.  The grammar recognises the
 * structure of a threat - who is threatened (you, your family, staff,
 * canvassers, "this MP"), the harm (kill, stab, burn, acid, "six feet
 * under"), the intent or wish (will, gonna, 'll, should, deserve, hope,
 * "someone needs to") - and the detail that makes it urgent (a time, a place,
 * a family member, an address, a past attack on an MP).  It also recognises
 * what must NOT count: negation ("I would never hurt you"), reports and
 * quotations of someone else's threat, counter-speech condemning a threat,
 * and figurative electoral language ("smash them at the ballot box",
 * "slaughtered in the polls", "kill the bill").
 *
 * Patterns are PCRE2 (JIT-compiled) built from lexicon files under
 * data/grammar/ - no lexicon lives in C.  The grammar reads *normalised*
 * text (text.h: lower-case, de-obfuscated, single spaces) and reports byte
 * ranges in that text; the caller maps them to the original.
 */
#ifndef THREATDESK_GRAMMAR_H
#define THREATDESK_GRAMMAR_H

#include <stddef.h>

#include "threatdesk/error.h"
#include "threatdesk/taxonomy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a hit is. */
enum td_hit_kind {
    TD_HIT_LABEL,    /* evidence for `label` (a threat, intimidation, ...) */
    TD_HIT_DETAIL,   /* aggravating detail: sets `flags` (time, place, ...) */
    TD_HIT_SUPPRESS, /* negation / report / quotation / counter-speech /
                        figurative: evidence *against* `label` */
};

struct td_grammar_hit {
    size_t start, end; /* byte range in the normalised text */
    enum td_hit_kind kind;
    enum td_label label; /* the label supported (LABEL) or suppressed (SUPPRESS) */
    unsigned flags;      /* TD_FLAG(...) bits raised (DETAIL, and LABEL hits
                            that carry e.g. MEANS) */
    float strength;      /* 0..1: how strong the evidence is */
    const char *rule;    /* rule name, e.g. "threat.direct_future"; owned by
                            the grammar, valid while it lives */
};

/* Caller-owned, reusable across calls (td_grammar_result_init/_release). */
struct td_grammar_result {
    struct td_grammar_hit *hits;
    size_t nhits;
    unsigned flags;                 /* union of flags of DETAIL hits that are
                                       tied to a LABEL hit (see .c) */
    float score[TD_LABEL_COUNT];    /* 0..1 grammar evidence per label
                                       after suppression */
    int suppressed[TD_LABEL_COUNT]; /* 1 when a suppressor cancelled evidence */
    /* private */
    size_t cap_;
    void *scratch_;
};

struct td_grammar; /* opaque, immutable after load; shareable across threads
                      only with one result (and its match data) per thread */

int td_grammar_load(const char *dir, struct td_grammar **out, struct td_error *err);

/*
 * The requirement cache (dir/requirements.cache): the words each rule
 * needs, derived from its pattern once instead of at every start.
 * td_grammar_write_cache derives every rule and writes the file atomically;
 * td_grammar_check_cache sets *current to 1 when the file on disk is
 * exactly what a fresh derivation writes.  A missing or stale cache only
 * slows td_grammar_load down: rules it lacks are derived.
 */
int td_grammar_write_cache(const char *dir, struct td_error *err);
int td_grammar_check_cache(const char *dir, int *current, struct td_error *err);
void td_grammar_free(struct td_grammar *g);

void td_grammar_result_init(struct td_grammar_result *r);
void td_grammar_result_release(struct td_grammar_result *r);

/* Match the normalised text (len bytes, UTF-8).  Fills r (previous contents
 * are discarded).  Fails only on TD_ENOMEM or a PCRE2 resource limit. */
int td_grammar_match(const struct td_grammar *g, const char *text, size_t len,
                     struct td_grammar_result *r, struct td_error *err);

/*
 * Only the detail rules (time, place, family, address, means, past attack),
 * every hit kept and labelled threat, flags their union.  For a caller whose
 * own model has already decided the text is a threat: td_grammar_match
 * reports details only beside a threat rule's hit.
 */
int td_grammar_details(const struct td_grammar *g, const char *text, size_t len,
                       struct td_grammar_result *r, struct td_error *err);

#ifdef __cplusplus
}
#endif
#endif
