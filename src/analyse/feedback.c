/*
 * feedback.c - an office's memory of decisions and the nearest-neighbour
 * adjustment of a verdict (feedback.h has the rule and why it is bounded).
 *
 * Storage: one contiguous array of unit vectors (n x dim floats) beside
 * the ids, decisions, labels and weights, grown by doubling up to
 * TD_FEEDBACK_MAX_ITEMS.  A query is a linear scan: an office's memory is
 * hundreds to a few thousand decisions, and 64-float dot products over a
 * few thousand rows cost microseconds, less than the analysis itself.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "threatdesk/feedback.h"

#define K_MAX 64u

struct td_feedback {
    struct td_feedback_params p;
    unsigned dim;
    size_t n, cap;
    float *raw;    /* n x dim, as given */
    float *vec;    /* n x dim: raw - center, of unit length (or all 0) */
    float *center; /* dim floats; all 0 until td_feedback_set_center() */
    int64_t *id;
    unsigned char *decision;
    unsigned *labels;
    float *weight;
};

static const char *const decision_names[] = {
#define TD_FEEDBACK_DECISION_STR(name, str) str,
    TD_FEEDBACK_DECISION_MAP(TD_FEEDBACK_DECISION_STR)
#undef TD_FEEDBACK_DECISION_STR
};

const char *td_feedback_decision_name(int d)
{
    return d >= 0 && d < TD_FEEDBACK_DECISION_COUNT ? decision_names[d] : NULL;
}

int td_feedback_decision_from_name(const char *name)
{
    for (int d = 0; name && d < TD_FEEDBACK_DECISION_COUNT; d++)
        if (!strcmp(name, decision_names[d]))
            return d;
    return -1;
}

void td_feedback_params_init(struct td_feedback_params *p)
{
    /* chosen on a simulated office (bench/bench_feedback.sh on synthetic
     * seed 3; the figures reported are seed 2's): see feedback.h */
    p->k = 4;
    p->min_sim = 0.7f;
    p->kappa = 8.0f;
    p->max_influence = 0.8f;
}

int td_feedback_new(const struct td_feedback_params *p, unsigned dim, struct td_feedback **out,
                    struct td_error *err)
{
    struct td_feedback_params d;
    *out = NULL;
    if (!p) {
        td_feedback_params_init(&d);
        p = &d;
    }
    if (dim == 0 || dim > TD_VERDICT_VEC)
        return td_error_set(err, TD_EINVAL, "feedback vectors of %u floats (1..%d)", dim,
                            TD_VERDICT_VEC);
    if (p->k == 0 || p->k > K_MAX || !(p->min_sim >= 0 && p->min_sim < 1) || !(p->kappa > 0) ||
        !(p->max_influence >= 0 && p->max_influence <= 1))
        return td_error_set(err, TD_EINVAL,
                            "feedback parameters out of range (k 1..%u, 0 <= min_sim < 1, "
                            "kappa > 0, 0 <= max_influence <= 1)",
                            K_MAX);
    struct td_feedback *fb = calloc(1, sizeof *fb);
    if (!fb)
        return td_error_set(err, TD_ENOMEM, NULL);
    fb->p = *p;
    fb->dim = dim;
    if (!(fb->center = calloc(dim, sizeof *fb->center))) {
        free(fb);
        return td_error_set(err, TD_ENOMEM, NULL);
    }
    *out = fb;
    return TD_OK;
}

void td_feedback_free(struct td_feedback *fb)
{
    if (!fb)
        return;
    free(fb->raw);
    free(fb->vec);
    free(fb->center);
    free(fb->id);
    free(fb->decision);
    free(fb->labels);
    free(fb->weight);
    free(fb);
}

size_t td_feedback_count(const struct td_feedback *fb)
{
    return fb ? fb->n : 0;
}

unsigned td_feedback_dim(const struct td_feedback *fb)
{
    return fb ? fb->dim : 0;
}

void td_feedback_thresholds(const struct td_analyser *a, float threshold[TD_LABEL_COUNT])
{
    for (int l = 0; l < TD_LABEL_COUNT; l++)
        threshold[l] = td_analyser_threshold(a, (enum td_label)l);
}

static int grow(struct td_feedback *fb)
{
    size_t cap = fb->cap ? fb->cap * 2 : 64;
    if (cap > TD_FEEDBACK_MAX_ITEMS)
        cap = TD_FEEDBACK_MAX_ITEMS;
    float *v = realloc(fb->vec, cap * fb->dim * sizeof *v);
    if (!v)
        return TD_ENOMEM;
    fb->vec = v;
    if (!(v = realloc(fb->raw, cap * fb->dim * sizeof *v)))
        return TD_ENOMEM;
    fb->raw = v;
    int64_t *id = realloc(fb->id, cap * sizeof *id);
    if (!id)
        return TD_ENOMEM;
    fb->id = id;
    unsigned char *dc = realloc(fb->decision, cap);
    if (!dc)
        return TD_ENOMEM;
    fb->decision = dc;
    unsigned *lb = realloc(fb->labels, cap * sizeof *lb);
    if (!lb)
        return TD_ENOMEM;
    fb->labels = lb;
    float *w = realloc(fb->weight, cap * sizeof *w);
    if (!w)
        return TD_ENOMEM;
    fb->weight = w;
    fb->cap = cap;
    return TD_OK;
}

/* Euclidean length; 0 for a vector that cannot be normalised. */
static double length(const float *x, unsigned dim)
{
    double s = 0;
    for (unsigned i = 0; i < dim; i++)
        s += (double)x[i] * x[i];
    s = sqrt(s);
    return isfinite(s) ? s : 0;
}

/* out = (x - center) / |x - center|, or all 0 when x is the center. */
static void centre(const struct td_feedback *fb, const float *x, float *out)
{
    for (unsigned i = 0; i < fb->dim; i++)
        out[i] = x[i] - fb->center[i];
    double len = length(out, fb->dim);
    for (unsigned i = 0; i < fb->dim; i++)
        out[i] = len > 0 ? (float)(out[i] / len) : 0.0f;
}

int td_feedback_set_center(struct td_feedback *fb, const float *mean, unsigned dim,
                           struct td_error *err)
{
    if (mean && dim != fb->dim)
        return td_error_set(err, TD_EINVAL, "a centre of %u floats for a memory of %u", dim,
                            fb->dim);
    for (unsigned i = 0; i < fb->dim; i++) {
        if (mean && !isfinite(mean[i]))
            return td_error_set(err, TD_EINVAL, "a centre that is not finite");
        fb->center[i] = mean ? mean[i] : 0.0f;
    }
    for (size_t r = 0; r < fb->n; r++)
        centre(fb, fb->raw + r * fb->dim, fb->vec + r * fb->dim);
    return TD_OK;
}

int td_feedback_add(struct td_feedback *fb, int64_t id, const float *vec, unsigned dim,
                    enum td_feedback_decision decision, unsigned labels, float weight,
                    struct td_error *err)
{
    if ((int)decision < 0 || decision >= TD_FEEDBACK_DECISION_COUNT)
        return td_error_set(err, TD_EINVAL, "unknown feedback decision");
    if (dim != fb->dim)
        return td_error_set(err, TD_EINVAL, "a vector of %u floats for a memory of %u", dim,
                            fb->dim);
    if (!(weight > 0) || !isfinite(weight))
        return td_error_set(err, TD_EINVAL, "feedback weight must be positive");
    double len = length(vec, dim);
    if (!(len > 0))
        return td_error_set(err, TD_EINVAL, "a zero (or not finite) feedback vector");
    if (fb->n == fb->cap) {
        if (fb->cap >= TD_FEEDBACK_MAX_ITEMS)
            return td_error_set(err, TD_ETOOBIG, "the office's feedback memory is full (%u)",
                                TD_FEEDBACK_MAX_ITEMS);
        if (grow(fb))
            return td_error_set(err, TD_ENOMEM, NULL);
    }
    memcpy(fb->raw + fb->n * dim, vec, dim * sizeof *vec);
    centre(fb, fb->raw + fb->n * dim, fb->vec + fb->n * dim);
    fb->id[fb->n] = id;
    fb->decision[fb->n] = (unsigned char)decision;
    fb->labels[fb->n] =
        decision == TD_FEEDBACK_CONFIRMED ? labels & ((1u << TD_LABEL_COUNT) - 1) : 0;
    fb->weight[fb->n] = weight;
    fb->n++;
    return TD_OK;
}

size_t td_feedback_remove(struct td_feedback *fb, int64_t id)
{
    size_t w = 0, removed = 0;
    if (!fb)
        return 0;
    for (size_t r = 0; r < fb->n; r++) {
        if (fb->id[r] == id) {
            removed++;
            continue;
        }
        if (w != r) {
            memmove(fb->vec + w * fb->dim, fb->vec + r * fb->dim, fb->dim * sizeof *fb->vec);
            memmove(fb->raw + w * fb->dim, fb->raw + r * fb->dim, fb->dim * sizeof *fb->raw);
            fb->id[w] = fb->id[r];
            fb->decision[w] = fb->decision[r];
            fb->labels[w] = fb->labels[r];
            fb->weight[w] = fb->weight[r];
        }
        w++;
    }
    fb->n = w;
    return removed;
}

/* ---- the tiers ----------------------------------------------------------- */

/* The threat details that make a threat critical (analyser.c's list). */
#define CRITICAL_FLAGS                                                                             \
    (TD_FLAG(TIME_BOUND) | TD_FLAG(LOCATION) | TD_FLAG(MEANS) | TD_FLAG(FAMILY) |                  \
     TD_FLAG(ADDRESS) | TD_FLAG(PAST_ATTACK_REFERENCE))

/* The brief's tiers as the format-2 analyser applies them (a format-2
 * threat label is credible: its threshold was chosen on calibrated
 * probabilities).  Feedback only acts on format-2 verdicts. */
static enum td_severity tier_of(unsigned L, unsigned flags)
{
    if (L & (1u << TD_LABEL_THREAT))
        return (flags & CRITICAL_FLAGS) ? TD_SEVERITY_CRITICAL : TD_SEVERITY_HIGH;
    if ((L & (1u << TD_LABEL_INTIMIDATION)) && (flags & TD_FLAG(ADDRESS)))
        return TD_SEVERITY_HIGH;
    if (L &
        ((1u << TD_LABEL_IDENTITY_HATE) | (1u << TD_LABEL_SEXUAL) | (1u << TD_LABEL_INTIMIDATION)))
        return TD_SEVERITY_MEDIUM;
    if (L & (1u << TD_LABEL_ABUSE))
        return TD_SEVERITY_LOW;
    return TD_SEVERITY_NONE;
}

/* ---- the adjustment --------------------------------------------------------- */

struct hit {
    size_t i;
    float sim;
};

/* Append to the reason, cutting the engine's part when the suffix would not
 * fit: the caseworker must see that feedback moved the verdict. */
static void append_reason(struct td_verdict *v, const char *suffix)
{
    size_t cap = sizeof v->reason, n = strlen(v->reason), s = strlen(suffix);
    if (s >= cap)
        s = cap - 1;
    if (n + s >= cap)
        n = cap - 1 - s;
    memcpy(v->reason + n, suffix, s);
    v->reason[n + s] = '\0';
}

int td_feedback_adjust(const struct td_feedback *fb, const float threshold[TD_LABEL_COUNT],
                       struct td_verdict *v, struct td_feedback_effect *eff, struct td_error *err)
{
    struct td_feedback_effect local;
    (void)err;
    if (!eff)
        eff = &local;
    memset(eff, 0, sizeof *eff);
    eff->nearest = -1;
    memcpy(eff->prob_before, v->prob, sizeof eff->prob_before);
    eff->labels_before = v->labels;
    eff->severity_before = v->severity;
    if (v->nvec == 0) {
        eff->why = "the model gives no vectors (format 1): office feedback is not applied";
        return TD_OK;
    }
    if (!fb || fb->n == 0) {
        eff->why = "the office has no feedback yet";
        return TD_OK;
    }
    if (v->nvec != fb->dim) {
        eff->why = "the memory's vectors come from another model: office feedback is not applied";
        return TD_OK;
    }
    /* the k nearest above the floor, most similar first */
    const unsigned dim = fb->dim, k = fb->p.k;
    float q[TD_VERDICT_VEC];
    centre(fb, v->vec, q);
    if (!(length(q, dim) > 0)) {
        eff->why = "the message's vector is the office's average: nothing to compare";
        return TD_OK;
    }
    struct hit top[K_MAX];
    unsigned ntop = 0;
    for (size_t r = 0; r < fb->n; r++) {
        const float *x = fb->vec + r * dim;
        float s = 0;
        for (unsigned i = 0; i < dim; i++)
            s += q[i] * x[i];
        if (s > eff->nearest)
            eff->nearest = s;
        if (!(s >= fb->p.min_sim))
            continue;
        if (ntop == k && s <= top[k - 1].sim)
            continue;
        unsigned j = ntop < k ? ntop++ : k - 1;
        while (j > 0 && top[j - 1].sim < s) {
            top[j] = top[j - 1];
            j--;
        }
        top[j].i = r;
        top[j].sim = s;
    }
    if (ntop == 0) {
        eff->why = "no decision of this office is similar enough";
        return TD_OK;
    }

    /* similarity-weighted targets per label */
    double W = 0, t[TD_LABEL_COUNT] = {0}, wthreat_confirmed = 0;
    for (unsigned j = 0; j < ntop; j++) {
        size_t r = top[j].i;
        double sim = top[j].sim > 1 ? 1 : top[j].sim;
        double w = fb->weight[r] * (sim - fb->p.min_sim) / (1.0 - fb->p.min_sim);
        if (w <= 0)
            continue;
        W += w;
        for (int l = 0; l < TD_LABEL_COUNT; l++)
            if ((fb->labels[r] >> l) & 1u)
                t[l] += w;
        if ((fb->labels[r] >> TD_LABEL_THREAT) & 1u)
            wthreat_confirmed += w;
        eff->neighbours++;
        if (fb->labels[r])
            eff->confirmed++;
        else
            eff->dismissed++;
    }
    if (!(W > 0)) {
        eff->neighbours = eff->confirmed = eff->dismissed = 0;
        eff->why = "no decision of this office is similar enough";
        return TD_OK;
    }
    const double a = fb->p.max_influence * W / (W + fb->p.kappa);
    eff->influence = (float)a;
    eff->applied = 1;

    /* move the probabilities, re-derive the labels */
    unsigned L = 0;
    int moved = 0;
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        double target = t[l] / W;
        double p = v->prob[l] + a * (target - v->prob[l]);
        v->prob[l] = (float)(p < 0 ? 0 : p > 1 ? 1 : p);
        if (v->prob[l] > 0 && v->prob[l] >= threshold[l])
            L |= 1u << l;
        if (fabsf(v->prob[l] - eff->prob_before[l]) >
            fabsf(v->prob[moved] - eff->prob_before[moved]))
            moved = l;
    }
    v->labels = L;

    /* the tier, then the bounds */
    const enum td_severity before = eff->severity_before;
    enum td_severity scored = tier_of(L, v->flags), sev = scored;
    enum td_severity floor_down = before > TD_SEVERITY_NONE ? before - 1 : TD_SEVERITY_NONE;
    /* a confirmed threat among the neighbours: whatever else they say, a
     * message the engine put at medium or above stays there */
    int threat_neighbours = wthreat_confirmed > 0;
    if (sev < floor_down)
        sev = floor_down;
    if (threat_neighbours && before >= TD_SEVERITY_MEDIUM && sev < TD_SEVERITY_MEDIUM)
        sev = TD_SEVERITY_MEDIUM;
    /* never raised to critical: that takes the analyser's threat details */
    enum td_severity ceiling = before > TD_SEVERITY_HIGH ? before : TD_SEVERITY_HIGH;
    if (sev > ceiling)
        sev = ceiling;
    eff->held = sev > scored;
    v->severity = sev;
    /* a held threat without its label is a possible threat, for review */
    v->possible_threat = eff->held && !(L & (1u << TD_LABEL_THREAT)) &&
                         (eff->labels_before & (1u << TD_LABEL_THREAT));
    if (!eff->held && !(L & ((1u << TD_LABEL_THREAT) | (1u << TD_LABEL_INTIMIDATION))))
        v->flags &= ~(unsigned)CRITICAL_FLAGS; /* details count only for a threat */

    /* spans: a label the office talked the verdict out of has no reasons
     * left, unless a bound kept it in the queue for what the engine saw */
    if (!eff->held) {
        size_t w = 0;
        for (size_t i = 0; i < v->nspans; i++)
            if ((L >> v->spans[i].label) & 1u)
                v->spans[w++] = v->spans[i];
        v->nspans = w;
    }

    /* the reason: where the change came from */
    char sfx[200];
    int off = snprintf(sfx, sizeof sfx, "; office feedback:");
    if (eff->dismissed)
        off += snprintf(sfx + off, sizeof sfx - (size_t)off, " %u similar message%s dismissed",
                        eff->dismissed, eff->dismissed == 1 ? "" : "s");
    if (eff->confirmed)
        off += snprintf(sfx + off, sizeof sfx - (size_t)off, "%s %u similar message%s confirmed",
                        eff->dismissed ? "," : "", eff->confirmed, eff->confirmed == 1 ? "" : "s");
    off += snprintf(sfx + off, sizeof sfx - (size_t)off, " by this office: %s %.2f -> %.2f",
                    td_label_name(moved), (double)eff->prob_before[moved], (double)v->prob[moved]);
    if (eff->held)
        snprintf(sfx + off, sizeof sfx - (size_t)off, "; kept at %s for review",
                 td_severity_name(sev));
    append_reason(v, sfx);
    return TD_OK;
}
