/*
 * analyser.c - the decision layer: normaliser + model + grammar -> verdict.
 *
 * How the two sources of evidence combine, per label:
 *   - the model gives a calibrated probability pm (0 for a label it was not
 *     trained on, e.g. intimidation, for which no public data exists);
 *   - the grammar gives a score g for structure it recognised (target +
 *     intent + harm), or marks the label suppressed when it recognised a
 *     frame that must not count (negation, a report or quotation of
 *     someone else's threat, counter-speech, figurative electoral
 *     language);
 *   - p = 1 - (1 - pm)(1 - g) (noisy-OR) when the grammar found evidence;
 *     p = pm * SUPPRESS_DAMP when it only found a suppressing frame, so
 *     "Labour will be slaughtered on Thursday" is not a threat however
 *     violent its words look to the n-gram model.
 * Labels are those with p at or above the model's validation-chosen
 * threshold.  The tier follows docs/product.md:
 *   critical  threat + time / place / means / family / address / past attack
 *   high      any other credible threat (grammar structure, or model >= 0.5);
 *             intimidation with private details (address)
 *   medium    identity hate, sexual harassment, intimidation; a possible
 *             threat (the model alone, below 0.5) for a person to review
 *   low       personal abuse, obscenity
 */
#include "threatdesk/analyse.h"
#include "cues.h"
#include "threatdesk/embed.h"
#include "threatdesk/grammar.h"
#include "threatdesk/nn.h"
#include "threatdesk/model.h"
#include "threatdesk/text.h"
#include "threatdesk/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define SUPPRESS_DAMP 0.3f
#define CREDIBLE_MODEL_THREAT 0.5f
#define MODEL_SPANS_PER_LABEL 3
#define MODEL_SPAN_MIN 0.05f
#define MODEL_SPAN_MIN_V2 0.3f
#define DEFAULT_THRESHOLD 0.5f
/* The network reads at most this many tokens of one text (about 100 KB of
 * prose: any letter); the linear part and the rules read all of it. */
#define NN_MAX_TOKENS 16384
/* A rule's match is shown as a reason when its cue moved the label's score
 * by at least this much (logit units); a network window when hiding it
 * drops the probability by at least NN_SPAN_DROP. */
#define CUE_SPAN_MIN 0.1f
#define NN_SPAN_DROP 0.02f
#define NN_SPAN_MAX_TOKENS 8
/* Per-thread cache of a word's vector and its three window projections:
 * words are Zipf-distributed, so a few thousand slots turn most of the
 * convolution into additions.  Direct-mapped by the word's hash. */
#define WCACHE_SLOTS 4096
/* Texts longer than this are read in windows (td_analyse), overlapping by
 * WINDOW_OVERLAP bytes.  64 KiB is a long letter (every shorter text is
 * read whole, as before) and under NN_MAX_TOKENS, so the network reads all
 * of every window.  Smaller windows were tried (2 KiB, about a page): on
 * synthetic long letters they found no more threats per false alarm. */
#define WINDOW_BYTES (64u * 1024u)
#define WINDOW_OVERLAP 2048u

struct td_analyser {
    struct td_normaliser *nz;
    struct td_grammar *grammar;
    struct td_model *model;
    char version[96];
};

struct td_analysis_ctx {
    const struct td_analyser *a;
    struct td_norm norm;
    struct td_features feats;
    struct td_grammar_result gr;
    struct td_grammar_result gd; /* details alone, when the network found a
                                    threat no rule structured */
    int use_gd;
    float *wscore; /* per-word model contribution, [wcap] */
    size_t wcap;
    /* the network's inputs and scratch (model format 2) */
    struct td_tokens tok;
    float *emb; /* [ecap] token vectors */
    size_t ecap;
    float *attr; /* [acap] per-token attribution */
    size_t acap;
    float cues[TD_NN_MAX_CUES], cattr[TD_NN_MAX_CUES];
    struct td_nn_work nw, nw2; /* nw2: the occlusion pass */
    float *proj;               /* [pcap] window projections, 3F per token */
    size_t pcap;
    uint64_t *wkey; /* [WCACHE_SLOTS] hash of the word in the slot, 0 empty */
    float *wvec;    /* [WCACHE_SLOTS][D + 3F] */
    float *saved;   /* [NN_SPAN_MAX_TOKENS * (D + 3F)] occlusion backup */
};

static const char *default_home(void)
{
    const char *h = getenv("THREATDESK_HOME");
    return h && *h ? h : TD_SOURCE_DIR;
}

int td_analyser_open(const char *home, const char *model_path, struct td_analyser **out,
                     struct td_error *err)
{
    int rc;
    char path[4096];
    if (!home)
        home = default_home();
    struct td_analyser *a = calloc(1, sizeof *a);
    if (!a)
        return td_error_set(err, TD_ENOMEM, NULL);
    snprintf(path, sizeof path, "%s/data/text", home);
    if ((rc = td_normaliser_load(path, &a->nz, err)) != TD_OK)
        goto fail;
    snprintf(path, sizeof path, "%s/data/grammar", home);
    if ((rc = td_grammar_load(path, &a->grammar, err)) != TD_OK)
        goto fail;
    if (!model_path) {
        snprintf(path, sizeof path, "%s/models/threatdesk.model", home);
        model_path = path;
    }
    if ((rc = td_model_load(model_path, &a->model, err)) != TD_OK)
        goto fail;
    snprintf(a->version, sizeof a->version, "%s", a->model->version);
    *out = a;
    return TD_OK;
fail:
    td_analyser_free(a);
    return rc;
}

void td_analyser_free(struct td_analyser *a)
{
    if (!a)
        return;
    td_normaliser_free(a->nz);
    td_grammar_free(a->grammar);
    td_model_free(a->model);
    free(a);
}

const char *td_analyser_model_version(const struct td_analyser *a)
{
    return a->version;
}

float td_analyser_threshold(const struct td_analyser *a, enum td_label l)
{
    return a->model->trained[l] ? a->model->threshold[l] : DEFAULT_THRESHOLD;
}

int td_analysis_ctx_new(const struct td_analyser *a, struct td_analysis_ctx **out)
{
    struct td_analysis_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return TD_ENOMEM;
    c->a = a;
    td_norm_init(&c->norm);
    td_features_init(&c->feats);
    td_grammar_result_init(&c->gr);
    td_grammar_result_init(&c->gd);
    td_tokens_init(&c->tok);
    td_nn_work_init(&c->nw);
    td_nn_work_init(&c->nw2);
    *out = c;
    return TD_OK;
}

void td_analysis_ctx_free(struct td_analysis_ctx *c)
{
    if (!c)
        return;
    td_norm_release(&c->norm);
    td_features_release(&c->feats);
    td_grammar_result_release(&c->gr);
    td_grammar_result_release(&c->gd);
    free(c->wscore);
    td_tokens_release(&c->tok);
    free(c->emb);
    free(c->attr);
    td_nn_work_release(&c->nw);
    td_nn_work_release(&c->nw2);
    free(c->proj);
    free(c->wkey);
    free(c->wvec);
    free(c->saved);
    free(c);
}

void td_verdict_init(struct td_verdict *v)
{
    memset(v, 0, sizeof *v);
}

void td_verdict_release(struct td_verdict *v)
{
    free(v->spans);
    memset(v, 0, sizeof *v);
}

/* A new span slot at the end of v->spans (uninitialised), or NULL. */
static struct td_span *push_span(struct td_verdict *v)
{
    if (v->nspans == v->cap_) {
        size_t ncap = v->cap_ ? v->cap_ * 2 : 16;
        struct td_span *p = realloc(v->spans, ncap * sizeof *p);
        if (!p)
            return NULL;
        v->spans = p;
        v->cap_ = ncap;
    }
    return &v->spans[v->nspans++];
}

static int add_span(struct td_verdict *v, const struct td_norm *n, size_t ns, size_t ne,
                    enum td_label label, enum td_source src, const char *rule, float weight)
{
    if (ne <= ns || ne > n->len)
        return TD_OK;
    struct td_span *s = push_span(v);
    if (!s)
        return TD_ENOMEM;
    td_norm_map(n, ns, ne, &s->start, &s->end);
    s->label = label;
    s->source = src;
    s->rule = rule;
    s->weight = weight;
    return TD_OK;
}

static int by_start(const void *x, const void *y)
{
    const struct td_span *a = x, *b = y;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    return (a->end > b->end) - (a->end < b->end);
}

/* How much a label alone weighs in the brief's tiers: the top label is the
 * one that set the tier, so a caseworker reading "abuse" never sees a HIGH. */
static int label_rank(const struct td_verdict *v, int l)
{
    switch (l) {
    case TD_LABEL_THREAT:
        return 4;
    case TD_LABEL_INTIMIDATION:
        return (v->flags & TD_FLAG(ADDRESS)) ? 3 : 2;
    case TD_LABEL_ABUSE:
        return 1;
    default:
        return 2;
    }
}

enum td_label td_verdict_top_label(const struct td_verdict *v)
{
    int best = -1;
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        if (v->labels && !(v->labels & (1u << l)))
            continue;
        if (best < 0 || (v->labels && label_rank(v, l) > label_rank(v, best)) ||
            ((!v->labels || label_rank(v, l) == label_rank(v, best)) && v->prob[l] > v->prob[best]))
            best = l;
    }
    return (enum td_label)(best < 0 ? 0 : best);
}

/* The most important label for the tier, in the brief's order.  A threat
 * is credible (high or critical) when the grammar recognised its structure
 * or the model alone is at least CREDIBLE_MODEL_THREAT sure; a threat label
 * from a less sure model alone is a possible threat: medium, for review. */
static enum td_severity tier(const struct td_verdict *v, int credible_threat)
{
    const unsigned critical_flags = TD_FLAG(TIME_BOUND) | TD_FLAG(LOCATION) | TD_FLAG(MEANS) |
                                    TD_FLAG(FAMILY) | TD_FLAG(ADDRESS) |
                                    TD_FLAG(PAST_ATTACK_REFERENCE);
    unsigned L = v->labels;
    if ((L & (1u << TD_LABEL_THREAT)) && credible_threat)
        return (v->flags & critical_flags) ? TD_SEVERITY_CRITICAL : TD_SEVERITY_HIGH;
    if (L & (1u << TD_LABEL_THREAT))
        return TD_SEVERITY_MEDIUM;
    if ((L & (1u << TD_LABEL_INTIMIDATION)) && (v->flags & TD_FLAG(ADDRESS)))
        return TD_SEVERITY_HIGH;
    if (L &
        ((1u << TD_LABEL_IDENTITY_HATE) | (1u << TD_LABEL_SEXUAL) | (1u << TD_LABEL_INTIMIDATION)))
        return TD_SEVERITY_MEDIUM;
    if (L & (1u << TD_LABEL_ABUSE))
        return TD_SEVERITY_LOW;
    return TD_SEVERITY_NONE;
}

/* Which reason to name first: a rule, then the network's window (its
 * weight is a probability drop, tested by occlusion), then an n-gram, and
 * a detail only when nothing else is there. */
static int span_rank(const struct td_span *s)
{
    if (s->source == TD_SOURCE_GRAMMAR && s->rule && strncmp(s->rule, "detail.", 7) == 0)
        return 0; /* a time or place makes a threat critical; it is not why it is one */
    if (s->source == TD_SOURCE_GRAMMAR)
        return 3;
    if (s->source == TD_SOURCE_MODEL && s->rule && strcmp(s->rule, "network.window") == 0)
        return 2;
    return 1;
}

static void write_reason(struct td_verdict *v, const struct td_norm *n)
{
    size_t off = 0;
    char *r = v->reason;
    const size_t cap = sizeof v->reason;
#define R_APPEND(...)                                                                              \
    do {                                                                                           \
        int k_ = snprintf(r + off, cap - off, __VA_ARGS__);                                        \
        if (k_ < 0 || (size_t)k_ >= cap - off) {                                                   \
            return;                                                                                \
        }                                                                                          \
        off += (size_t)k_;                                                                         \
    } while (0)
    if (!v->labels) {
        R_APPEND("no label reached its threshold");
        return;
    }
    enum td_label top = td_verdict_top_label(v);
    R_APPEND("%s %.2f", td_label_name(top), (double)v->prob[top]);
    /* the strongest grammar rule for the top label, else the model */
    const struct td_span *best = NULL;
    for (size_t i = 0; i < v->nspans; i++) {
        const struct td_span *s = &v->spans[i];
        if (s->label != top)
            continue;
        if (!best || span_rank(s) > span_rank(best) ||
            (span_rank(s) == span_rank(best) && s->weight > best->weight))
            best = s;
    }
    if (best)
        R_APPEND(" by %s %s", td_source_name(best->source), best->rule ? best->rule : "");
    if (v->possible_threat)
        R_APPEND("; possible threat: model only, below %.2f, review",
                 (double)CREDIBLE_MODEL_THREAT);
    for (int b = 0; b < TD_FLAG_COUNT; b++)
        if (v->flags & (1u << b))
            R_APPEND("%s%s", b == 0 || !(v->flags & ((1u << b) - 1)) ? "; " : ", ",
                     td_flag_name(b));
    (void)n;
#undef R_APPEND
}

/* ---- the network (model format 2) ------------------------------------------------ */

/* Tokens -> vectors and projections (cached per word) -> cues -> the
 * network's score per label. */
static int deep_score(struct td_analysis_ctx *c, float zd[TD_LABEL_COUNT])
{
    const struct td_model *m = c->a->model;
    const struct td_nn *nn = m->nn;
    const size_t D = m->embed->dim, P = (size_t)TD_NN_WIDTH * nn->filters, E = D + P;
    if (!c->wkey) {
        c->wkey = calloc(WCACHE_SLOTS, sizeof *c->wkey);
        c->wvec = malloc(WCACHE_SLOTS * E * sizeof *c->wvec);
        c->saved = malloc(NN_SPAN_MAX_TOKENS * E * sizeof *c->saved);
        if (!c->wkey || !c->wvec || !c->saved)
            return TD_ENOMEM;
    }
    if (td_tokenise(c->norm.text, c->norm.len, NN_MAX_TOKENS, &c->tok))
        return TD_ENOMEM;
    size_t n = c->tok.n;
    if (n * D > c->ecap) {
        float *e = realloc(c->emb, n * D * sizeof *e);
        if (!e)
            return TD_ENOMEM;
        c->emb = e;
        c->ecap = n * D;
    }
    if (n > c->acap) {
        float *at = realloc(c->attr, n * sizeof *at);
        float *pr = realloc(c->proj, n * P * sizeof *pr);
        if (at)
            c->attr = at;
        if (pr)
            c->proj = pr;
        if (!at || !pr)
            return TD_ENOMEM;
        c->acap = n;
    }
    for (size_t t = 0; t < n; t++) {
        const char *w = c->norm.text + c->tok.t[t].start;
        size_t wl = c->tok.t[t].end - c->tok.t[t].start;
        uint64_t h = XXH3_64bits(w, wl) | 1;
        size_t slot = h & (WCACHE_SLOTS - 1);
        float *ent = c->wvec + slot * E;
        if (c->wkey[slot] != h) {
            td_embed_token(m->embed, w, wl, ent);
            td_nn_project(nn, ent, ent + D);
            c->wkey[slot] = h;
        }
        memcpy(c->emb + t * D, ent, D * sizeof *ent);
        memcpy(c->proj + t * P, ent + D, P * sizeof *ent);
    }
    td__cues_compute(nn->cue, nn->ncues, &c->gr, &c->norm, n, c->cues);
    return td_nn_forward_proj(nn, c->proj, c->emb, n, c->cues, &c->nw, zd);
}

/*
 * Why the network said label l: the window of tokens whose filters carried
 * the score (attribution), confirmed by occlusion - the window's vectors are
 * zeroed and the text scored again; the span's weight is the probability
 * that hiding it removes.  Also the rule matches whose cues pushed the
 * label.
 */
static int deep_spans(struct td_analysis_ctx *c, struct td_verdict *v, int l, const float z[],
                      const float zd[])
{
    const struct td_model *m = c->a->model;
    const struct td_nn *nn = m->nn;
    const size_t n = c->tok.n;
    const unsigned D = m->embed->dim;
    int rc;
    td_nn_attribute(nn, n, &c->nw, l, c->attr, c->cattr);
    /* rule matches whose cue moved the score */
    for (size_t i = 0; i < c->gr.nhits; i++) {
        const struct td_grammar_hit *h = &c->gr.hits[i];
        if (h->kind != TD_HIT_LABEL || !h->rule)
            continue;
        int k = td__cues_find(nn->cue, nn->ncues, h->rule);
        if (k >= 0 && c->cattr[k] >= CUE_SPAN_MIN &&
            (rc = add_span(v, &c->norm, h->start, h->end, (enum td_label)l, TD_SOURCE_GRAMMAR,
                           h->rule, c->cattr[k])))
            return rc;
    }
    if (n == 0)
        return TD_OK;
    size_t best = 0;
    for (size_t t = 1; t < n; t++)
        if (c->attr[t] > c->attr[best])
            best = t;
    float top = c->attr[best];
    if (top <= 0)
        return TD_OK;
    size_t lo = best, hi = best;
    while (hi - lo + 1 < NN_SPAN_MAX_TOKENS) {
        float left = lo > 0 ? c->attr[lo - 1] : -1, right = hi + 1 < n ? c->attr[hi + 1] : -1;
        if (left < 0.25f * top && right < 0.25f * top)
            break;
        if (left >= right)
            lo--;
        else
            hi++;
    }
    /* occlusion: score the text with the window hidden (its vectors and
     * projections zeroed), in the second work buffer so the first keeps the
     * full text's activations for the next label */
    const size_t P = (size_t)TD_NN_WIDTH * nn->filters, k = hi - lo + 1;
    memcpy(c->saved, c->emb + lo * D, k * D * sizeof *c->saved);
    memcpy(c->saved + k * D, c->proj + lo * P, k * P * sizeof *c->saved);
    memset(c->emb + lo * D, 0, k * D * sizeof *c->emb);
    memset(c->proj + lo * P, 0, k * P * sizeof *c->proj);
    float zo[TD_LABEL_COUNT];
    rc = td_nn_forward_proj(nn, c->proj, c->emb, n, c->cues, &c->nw2, zo);
    memcpy(c->emb + lo * D, c->saved, k * D * sizeof *c->saved);
    memcpy(c->proj + lo * P, c->saved + k * D, k * P * sizeof *c->saved);
    if (rc)
        return rc;
    float p = td_model_calibrate(m, (enum td_label)l, z[l]);
    float po = td_model_calibrate(m, (enum td_label)l, z[l] - zd[l] + zo[l]);
    if (p - po >= NN_SPAN_DROP &&
        (rc = add_span(v, &c->norm, c->tok.t[lo].start, c->tok.t[hi].end, (enum td_label)l,
                       TD_SOURCE_MODEL, "network.window", p - po)))
        return rc;
    return TD_OK;
}

static int analyse_window(struct td_analysis_ctx *c, const char *text, size_t len,
                          struct td_verdict *v, struct td_error *err)
{
    const struct td_analyser *a = c->a;
    const struct td_model *m = a->model;
    int rc = td_featurise(a->nz, text, len, m->bits, &c->norm, &c->feats, err);
    if (rc)
        return rc;
    rc = td_grammar_match(a->grammar, c->norm.text, c->norm.len, &c->gr, err);
    if (rc)
        return rc;

    v->nspans = 0;
    v->nvec = 0;
    c->use_gd = 0;
    v->possible_threat = 0;
    v->labels = 0;
    v->flags = 0;
    v->reason[0] = '\0';
    v->model_version = a->version;
    v->invalid_utf8 = c->norm.invalid_utf8;

    float z[TD_LABEL_COUNT], zd[TD_LABEL_COUNT] = {0};
    td_model_score(m, &c->feats, z);
    if (m->nn) {
        /* format 2: the rules are the network's cues, the sum of the linear
         * and the network score is calibrated as one; no hand-set mixing */
        if ((rc = deep_score(c, zd)) != TD_OK)
            goto oom;
        v->nvec = m->nn->hidden < TD_VERDICT_VEC ? m->nn->hidden : TD_VERDICT_VEC;
        memcpy(v->vec, c->nw.hid, v->nvec * sizeof *v->vec);
        for (int l = 0; l < TD_LABEL_COUNT; l++) {
            z[l] += zd[l];
            /* a label no data trained is the rules' alone */
            v->prob[l] =
                m->trained[l] ? td_model_calibrate(m, (enum td_label)l, z[l]) : c->gr.score[l];
            if (v->prob[l] > 0 && v->prob[l] >= td_analyser_threshold(a, (enum td_label)l))
                v->labels |= 1u << l;
        }
        /* a threat's details count wherever they stand in the text, also
         * when no threat rule matched (the network found the threat) */
        if (v->labels & ((1u << TD_LABEL_THREAT) | (1u << TD_LABEL_INTIMIDATION))) {
            int tied = 0;
            for (size_t i = 0; i < c->gr.nhits; i++)
                if (c->gr.hits[i].kind == TD_HIT_DETAIL) {
                    v->flags |= c->gr.hits[i].flags;
                    tied = 1;
                }
            if (!tied && c->gr.score[TD_LABEL_THREAT] <= 0 &&
                c->gr.score[TD_LABEL_INTIMIDATION] <= 0) {
                if ((rc = td_grammar_details(a->grammar, c->norm.text, c->norm.len, &c->gd, err)) !=
                    TD_OK)
                    return rc;
                v->flags |= c->gd.flags;
                c->use_gd = 1;
            }
        }
    }
    for (int l = 0; !m->nn && l < TD_LABEL_COUNT; l++) {
        float pm = td_model_calibrate(m, (enum td_label)l, z[l]);
        float g = c->gr.score[l];
        float p;
        if (g > 0)
            p = 1.0f - (1.0f - pm) * (1.0f - g);
        else if (c->gr.suppressed[l])
            p = pm * SUPPRESS_DAMP;
        else
            p = pm;
        v->prob[l] = p;
        if (p >= td_analyser_threshold(a, (enum td_label)l))
            v->labels |= 1u << l;
    }

    /* flags from the grammar count only for a labelled threat/intimidation
     * (the grammar already ties details to a threat hit) */
    if (v->labels & ((1u << TD_LABEL_THREAT) | (1u << TD_LABEL_INTIMIDATION)))
        v->flags |= c->gr.flags;

    /* spans of the network: rule cues and token windows that moved it */
    for (int l = 0; m->nn && l < TD_LABEL_COUNT; l++)
        if (((v->labels >> l) & 1) && (rc = deep_spans(c, v, l, z, zd)))
            goto oom;
    /* spans: grammar hits of labelled labels (format 1) and the details */
    for (size_t i = 0; i < c->gr.nhits; i++) {
        const struct td_grammar_hit *h = &c->gr.hits[i];
        int keep = 0;
        if (h->kind == TD_HIT_LABEL)
            keep = !m->nn && ((v->labels >> h->label) & 1);
        else if (h->kind == TD_HIT_DETAIL)
            keep = (h->flags & v->flags) != 0;
        if (keep && (rc = add_span(v, &c->norm, h->start, h->end, h->label, TD_SOURCE_GRAMMAR,
                                   h->rule, h->strength)))
            goto oom;
    }
    /* spans: the words that pushed the model's score most, per label; one
     * pass over the features accumulates every word's contribution */
    if (c->feats.nwords > c->wcap) {
        float *p = realloc(c->wscore, c->feats.nwords * sizeof *p);
        if (!p)
            goto oom;
        c->wscore = p;
        c->wcap = c->feats.nwords;
    }
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        if (!((v->labels >> l) & 1) || !m->trained[l])
            continue;
        td_model_word_scores(m, &c->feats, (enum td_label)l, c->wscore);
        size_t top[MODEL_SPANS_PER_LABEL];
        float topw[MODEL_SPANS_PER_LABEL];
        size_t ntop = 0;
        for (size_t w = 0; w < c->feats.nwords; w++) {
            float cw = c->wscore[w];
            /* with the network the linear part is one voice of two: only
             * words that moved its score clearly are shown */
            if (cw < (m->nn ? MODEL_SPAN_MIN_V2 : MODEL_SPAN_MIN))
                continue;
            size_t k = ntop < MODEL_SPANS_PER_LABEL ? ntop++ : MODEL_SPANS_PER_LABEL;
            if (k == MODEL_SPANS_PER_LABEL) {
                if (cw <= topw[k - 1])
                    continue;
                k--;
            }
            while (k > 0 && topw[k - 1] < cw) {
                top[k] = top[k - 1];
                topw[k] = topw[k - 1];
                k--;
            }
            top[k] = w;
            topw[k] = cw;
        }
        for (size_t k = 0; k < ntop; k++)
            if ((rc =
                     add_span(v, &c->norm, c->feats.words[top[k]].start, c->feats.words[top[k]].end,
                              (enum td_label)l, TD_SOURCE_MODEL, "model.ngram", topw[k])))
                goto oom;
    }
    for (size_t i = 0; c->use_gd && i < c->gd.nhits; i++) {
        const struct td_grammar_hit *h = &c->gd.hits[i];
        if ((h->flags & v->flags) && (rc = add_span(v, &c->norm, h->start, h->end, TD_LABEL_THREAT,
                                                    TD_SOURCE_GRAMMAR, h->rule, h->strength)))
            goto oom;
    }
    /* obfuscation: a de-obfuscated word inside a reason span */
    size_t nreason = v->nspans;
    for (size_t i = 0; i < c->norm.nfixes; i++) {
        const struct td_fix *f = &c->norm.fixes[i];
        if (f->kinds == TD_FIX_INVISIBLE || f->kinds == TD_FIX_REPEAT)
            continue; /* stray zero-widths and "sooooo" are not evasion */
        for (size_t s = 0; s < nreason; s++) {
            if (f->orig_start < v->spans[s].end && v->spans[s].start < f->orig_end) {
                v->flags |= TD_FLAG(OBFUSCATED);
                if ((rc = add_span(v, &c->norm, f->norm_start, f->norm_end, v->spans[s].label,
                                   TD_SOURCE_NORMALISER, "normalise.deobfuscated", 1.0f)))
                    goto oom;
                break;
            }
        }
    }
    if (v->nspans > 1) /* spans is NULL when there are none: qsort(NULL) is UB */
        qsort(v->spans, v->nspans, sizeof *v->spans, by_start);
    /* format 2: the threshold is chosen on calibrated probabilities, so a
     * threat label is a threat; no "model alone below 0.5" sub-tier */
    int credible = m->nn || c->gr.score[TD_LABEL_THREAT] > 0 ||
                   v->prob[TD_LABEL_THREAT] >= CREDIBLE_MODEL_THREAT;
    v->severity = tier(v, credible);
    if ((v->labels & (1u << TD_LABEL_THREAT)) && !credible)
        v->possible_threat = 1;
    write_reason(v, &c->norm);
    return TD_OK;
oom:
    return td_error_set(err, TD_ENOMEM, NULL);
}

/* ---- long texts: windows ----------------------------------------------------------- */

static int is_space(char ch)
{
    return ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r' || ch == '\f';
}

/* Where the window starting at `from` ends: WINDOW_BYTES on, moved back to
 * a whitespace in its last quarter, else to a UTF-8 character boundary. */
static size_t window_end(const char *t, size_t from, size_t len)
{
    if (len - from <= WINDOW_BYTES)
        return len;
    size_t cut = from + WINDOW_BYTES;
    for (size_t i = cut; i > cut - WINDOW_BYTES / 4; i--)
        if (is_space(t[i - 1]))
            return i;
    while (cut > from + 1 && ((unsigned char)t[cut] & 0xC0) == 0x80)
        cut--;
    return cut;
}

/* The next window starts WINDOW_OVERLAP before the last one ended, at a
 * word (or character) boundary: a phrase shorter than the overlap that
 * straddles a cut is read whole by one of the two windows. */
static size_t window_next(const char *t, size_t end)
{
    size_t s = end - WINDOW_OVERLAP;
    for (size_t i = s; i < end; i++)
        if (is_space(t[i]))
            return i + 1;
    while (s < end && ((unsigned char)t[s] & 0xC0) == 0x80)
        s++;
    return s;
}

/* Is span s (shifted) already in v->spans[from, to)?  Only the previous
 * window's spans can repeat a window's (in their overlap). */
static int have_span(const struct td_verdict *v, size_t from, size_t to, const struct td_span *s)
{
    for (size_t i = from; i < to; i++) {
        const struct td_span *o = &v->spans[i];
        if (o->start == s->start && o->end == s->end && o->label == s->label &&
            o->source == s->source && o->rule == s->rule)
            return 1;
    }
    return 0;
}

/* How much a window's verdict says: its tier, then its top probability. */
static int more_decisive(const struct td_verdict *w, const struct td_verdict *best)
{
    if (w->severity != best->severity)
        return w->severity > best->severity;
    return w->prob[td_verdict_top_label(w)] > best->prob[td_verdict_top_label(best)];
}

/* Fold window w (its offsets relative to `off`) into the message's verdict. */
static int merge_window(struct td_verdict *v, const struct td_verdict *w, size_t off, int first,
                        size_t prev_from)
{
    size_t prev_to = v->nspans;
    if (first || more_decisive(w, v)) {
        v->severity = w->severity;
        memcpy(v->reason, w->reason, sizeof v->reason);
        memcpy(v->vec, w->vec, sizeof v->vec);
        v->nvec = w->nvec;
    }
    for (int l = 0; l < TD_LABEL_COUNT; l++)
        if (first || w->prob[l] > v->prob[l])
            v->prob[l] = w->prob[l];
    v->labels |= w->labels;
    v->flags |= w->flags;
    v->possible_threat |= w->possible_threat;
    v->invalid_utf8 += w->invalid_utf8;
    v->model_version = w->model_version;
    for (size_t i = 0; i < w->nspans; i++) {
        struct td_span s = w->spans[i];
        s.start += off;
        s.end += off;
        if (have_span(v, prev_from, prev_to, &s))
            continue;
        struct td_span *slot = push_span(v);
        if (!slot)
            return TD_ENOMEM;
        *slot = s;
    }
    return TD_OK;
}

/*
 * A text longer than WINDOW_BYTES is read in overlapping windows, each
 * analysed as a message of its own, and the verdict is the most severe
 * window's: the probability of each label is its highest in any window
 * (a threat buried on page nine of a letter is as much a threat), labels,
 * flags and spans are the union.  Memory is bounded by the window, not the
 * text (a 16 MB text needed 37 bytes of scratch per byte read whole), and
 * every window is read whole by the network, which stops at NN_MAX_TOKENS.  A
 * threat's time or place counts when it stands in the threat's window.
 */
int td_analyse(struct td_analysis_ctx *c, const char *text, size_t len, struct td_verdict *v,
               struct td_error *err)
{
    if (len <= WINDOW_BYTES)
        return analyse_window(c, text, len, v, err);
    struct td_verdict w;
    td_verdict_init(&w);
    v->nspans = 0;
    v->labels = 0;
    v->flags = 0;
    v->possible_threat = 0;
    v->invalid_utf8 = 0;
    int rc = TD_OK;
    size_t prev = 0; /* where the previous window's spans begin */
    for (size_t from = 0, first = 1; from < len && !rc; first = 0) {
        size_t end = window_end(text, from, len), here = v->nspans;
        if ((rc = analyse_window(c, text + from, end - from, &w, err)))
            break;
        if ((rc = merge_window(v, &w, from, (int)first, prev)))
            rc = td_error_set(err, TD_ENOMEM, NULL);
        prev = here;
        if (end == len)
            break;
        from = window_next(text, end);
    }
    td_verdict_release(&w);
    /* a window's spans can reach into the next one's overlap */
    if (!rc && v->nspans > 1)
        qsort(v->spans, v->nspans, sizeof *v->spans, by_start);
    return rc;
}

void td_verdict_apply_history(struct td_verdict *v, unsigned prior_threats)
{
    if (prior_threats == 0 || !(v->labels & (1u << TD_LABEL_THREAT)) ||
        v->severity != TD_SEVERITY_HIGH)
        return;
    v->severity = TD_SEVERITY_CRITICAL;
    size_t n = strlen(v->reason);
    snprintf(v->reason + n, sizeof v->reason - n, "; sender has %u earlier threat%s", prior_threats,
             prior_threats == 1 ? "" : "s");
}
