/*
 * feedback.h - an office's memory of its caseworkers' decisions, and how it
 * moves a new verdict (issue 7, item 6: learning from the office).
 *
 * The memory is a list of items (vector, decision, labels, weight): the
 * network's picture of a message (td_verdict.vec, model format 2) and what
 * the office decided about it - CONFIRMED with a set of labels (reviewed or
 * escalated: the verdict's labels were right; an empty set means "looked at,
 * nothing there") or DISMISSED (a false alarm).  td_feedback_adjust() finds
 * the k stored items nearest to a new verdict's vector and moves the
 * verdict's probabilities toward their decisions:
 *
 *   neighbours  the k most similar items with cosine similarity >= min_sim
 *               (vectors centred on the office's average mail first:
 *               td_feedback_set_center)
 *   weight      w_i = item weight x (sim_i - min_sim) / (1 - min_sim): an
 *               item at the floor counts nothing, an identical one fully
 *   target      t_l = sum w_i y_il / W  (W = sum w_i; y_il = 1 when item i
 *               was confirmed with label l, else 0)
 *   influence   a = max_influence x W / (W + kappa): one weak neighbour
 *               moves little, many close ones up to max_influence, never
 *               all the way (the engine keeps a say)
 *   move        p_l' = p_l + a (t_l - p_l); labels re-derived from the
 *               analyser's thresholds, the tier from the brief's rules
 *               (the format-2 tiers of analyser.c, re-derived here)
 *
 * Bounds - why one click cannot silence a real threat:
 *   - DOWN by one tier at most: whatever the neighbours say, the tier ends
 *     no lower than one below the engine's own (critical -> high, a high
 *     threat -> medium, medium -> low).  Probabilities may fall further
 *     (the ranking and the metrics follow the office), but the queue keeps
 *     the message where a person will still look at it.  A dismissal is
 *     often about the sender or the context ("he's the councillor, it's
 *     banter"), not the words; a threat that merely looks like dismissed
 *     mail must not vanish from the queue.
 *   - Never below medium next to a confirmed threat: when any of the
 *     neighbours is a threat this office confirmed, a message the engine
 *     put at medium or above stays at medium or above, however many
 *     dismissals surround it.
 *   - UP only by the scores: raising is the safe direction (a false rise
 *     costs a look), so a label the neighbours push over its threshold sets
 *     the tier as usual, bounded only by max_influence; but never to
 *     critical (the threat details that make a tier critical come from the
 *     analyser's grammar, never from here).
 *   - No vector, no change: a verdict without a vector (nvec 0: a format-1
 *     model) or with a vector of another size than the memory's (another
 *     model) is left exactly as it is, and the effect says why.
 *
 * Explanations: an adjusted verdict's reason gets a span-less suffix such
 * as "; office feedback: 3 similar messages dismissed: threat 0.81 -> 0.52"
 * (and "; kept at medium for review" when a bound held).  Spans of labels
 * the adjustment removed are dropped; a label it added has no span, which
 * is why the suffix says where it came from.
 *
 * Reversibility: the memory holds decisions, never adjusted verdicts, and
 * td_feedback_adjust() starts from the engine's verdict each time, so
 * removing an item (td_feedback_remove) gives back exactly the verdict the
 * engine would give without it.
 *
 * Isolation is the caller's job: one memory per office (the desk keeps one
 * per office, loaded from that office's rows only).
 *
 * Threads: td_feedback_adjust() only reads the memory; adds and removes
 * need the caller's exclusion.
 */
#ifndef THREATDESK_FEEDBACK_H
#define THREATDESK_FEEDBACK_H

#include <stddef.h>
#include <stdint.h>

#include "threatdesk/analyse.h"
#include "threatdesk/error.h"
#include "threatdesk/taxonomy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the office decided (wire names: add, never rename). */
#define TD_FEEDBACK_DECISION_MAP(X)                                                                \
    X(CONFIRMED, "confirmed")                                                                      \
    X(DISMISSED, "dismissed")

enum td_feedback_decision {
#define TD_FEEDBACK_DECISION_ENUM(name, str) TD_FEEDBACK_##name,
    TD_FEEDBACK_DECISION_MAP(TD_FEEDBACK_DECISION_ENUM)
#undef TD_FEEDBACK_DECISION_ENUM
        TD_FEEDBACK_DECISION_COUNT
};

/* Wire names: NULL / -1 when unknown. */
const char *td_feedback_decision_name(int decision);
int td_feedback_decision_from_name(const char *name);

/* The most items one memory holds (TD_ETOOBIG beyond). */
#define TD_FEEDBACK_MAX_ITEMS 200000u

/*
 * The defaults were chosen on a simulated office (bench/bench_feedback.sh
 * on the synthetic generator's seed 3; the figures it reports are seed
 * 2's) with a stand-in format-2 model: its centred vectors put most
 * messages' nearest decision above 0.97, so only a tight floor picks out
 * real neighbours, and a large kappa keeps a handful of them from
 * overruling the engine.  They depend on the model's geometry: choose them
 * again (on a split that is not reported) when the shipped model changes.
 */
struct td_feedback_params {
    unsigned k;          /* neighbours consulted (default 4, max 64) */
    float min_sim;       /* cosine floor, 0..1 (default 0.7) */
    float kappa;         /* evidence mass at which the influence is half its
                            cap (default 8) */
    float max_influence; /* cap on the pull toward the neighbours, 0..1
                            (default 0.8) */
};

/* The defaults above. */
void td_feedback_params_init(struct td_feedback_params *p);

struct td_feedback;

/*
 * A new, empty memory for vectors of `dim` floats (1..TD_VERDICT_VEC).
 * `p` NULL: the defaults; out-of-range parameters: TD_EINVAL.  *out is
 * yours: td_feedback_free().
 */
int td_feedback_new(const struct td_feedback_params *p, unsigned dim, struct td_feedback **out,
                    struct td_error *err);
void td_feedback_free(struct td_feedback *fb);

/*
 * Remember one decision.  `id` is the caller's (the desk's feedback row
 * id); `vec` (dim floats, borrowed: copied and normalised) must be the
 * memory's size and not all zero (TD_EINVAL); `labels` is the confirmed
 * label bits (ignored for DISMISSED); weight > 0 (1 for one decision).
 * TD_ETOOBIG when the memory holds TD_FEEDBACK_MAX_ITEMS, TD_ENOMEM.
 */
int td_feedback_add(struct td_feedback *fb, int64_t id, const float *vec, unsigned dim,
                    enum td_feedback_decision decision, unsigned labels, float weight,
                    struct td_error *err);

/*
 * Compare vectors around `mean` (dim floats, borrowed: copied; NULL: around
 * 0): similarity is then the cosine of (x - mean) and (y - mean).  The
 * network's hidden layer is non-negative (ReLU), so the raw cosine of any
 * two messages is high and says little; centred on the average of the
 * office's mail it says how alike two messages are in the ways they
 * differ from ordinary mail.  Items already held are re-centred.
 * TD_EINVAL for another size or a value that is not finite.
 */
int td_feedback_set_center(struct td_feedback *fb, const float *mean, unsigned dim,
                           struct td_error *err);

/* Forget the item(s) with this id; returns how many were removed. */
size_t td_feedback_remove(struct td_feedback *fb, int64_t id);

size_t td_feedback_count(const struct td_feedback *fb);
unsigned td_feedback_dim(const struct td_feedback *fb);

/* The analyser's decision thresholds, the input td_feedback_adjust() needs
 * to re-derive labels. */
void td_feedback_thresholds(const struct td_analyser *a, float threshold[TD_LABEL_COUNT]);

/* What an adjustment did (caller-owned plain data). */
struct td_feedback_effect {
    int applied;         /* 1: neighbours moved the verdict */
    const char *why;     /* static: why nothing was applied, or NULL */
    unsigned neighbours; /* items that counted */
    unsigned confirmed;  /* ... of which confirmed with a label */
    unsigned dismissed;  /* ... of which dismissed (or confirmed with none) */
    float influence;     /* a, the pull toward the neighbours */
    float nearest;       /* similarity of the nearest item, above the floor or
                            not (-1: none compared) */
    float prob_before[TD_LABEL_COUNT];
    unsigned labels_before;
    enum td_severity severity_before;
    int held; /* a bound kept the tier above what the scores give */
};

/*
 * Move v toward the decisions of its nearest stored neighbours (the rule
 * and its bounds are at the top of this file).  `threshold` is the
 * analyser's per label (td_feedback_thresholds).  fb NULL or empty, a
 * verdict without a vector, or no neighbour above the floor: v is left
 * unchanged and eff->why says which.  Recomputes v->labels, severity,
 * possible_threat and flags, drops spans of labels no longer set, and
 * appends to v->reason.  eff may be NULL.  Never fails today (TD_OK); the
 * int return is for the future.
 */
int td_feedback_adjust(const struct td_feedback *fb, const float threshold[TD_LABEL_COUNT],
                       struct td_verdict *v, struct td_feedback_effect *eff, struct td_error *err);

#ifdef __cplusplus
}
#endif
#endif
