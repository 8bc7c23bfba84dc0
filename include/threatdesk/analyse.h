/*
 * analyse.h - the analysis engine: one message text in, one explained
 * verdict out.
 *
 *   normalise (text.h) -> features + linear model (model.h)
 *                      -> threat grammar (grammar.h)
 *                      -> decide: labels, severity tier, flags, spans
 *
 * A `struct td_analyser` holds the immutable parts (normaliser data,
 * compiled grammar, model weights) and may be shared by many threads; each
 * thread owns one `struct td_analysis_ctx` of scratch buffers, so analysing
 * a message allocates nothing in the steady state.
 */
#ifndef THREATDESK_ANALYSE_H
#define THREATDESK_ANALYSE_H

#include <stddef.h>

#include <jansson.h>

#include "threatdesk/error.h"
#include "threatdesk/taxonomy.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_VERDICT_VEC 64

/* A reason for a label, pointing at the original bytes. */
struct td_span {
    size_t start, end; /* half-open byte range in the ORIGINAL text */
    enum td_label label;
    enum td_source source; /* model, grammar, lexicon, normaliser */
    const char *rule;      /* rule or feature name; static or owned by the
                              analyser (valid while it lives) */
    float weight;          /* contribution (model) or strength (grammar) */
};

struct td_verdict {
    float prob[TD_LABEL_COUNT]; /* calibrated probability per label */
    unsigned labels;            /* bit (1u << label) set when prob >= threshold */
    enum td_severity severity;
    unsigned flags;        /* TD_FLAG(...) bits */
    struct td_span *spans; /* [nspans], ordered by start */
    size_t nspans;
    const char *model_version; /* owned by the analyser */
    char reason[256];          /* one line for a person: why this tier */
    size_t invalid_utf8;       /* invalid sequences found in the input */
    int possible_threat;       /* threat label from the model alone, not sure
                                  enough to be credible: tier medium (format-1
                                  models only) */
    /* The network's picture of the message (its hidden layer, model format
     * 2; nvec 0 otherwise): messages the network sees alike are near here,
     * which is what an office's feedback memory searches (feedback.h). */
    float vec[TD_VERDICT_VEC];
    unsigned nvec;
    /* private */
    size_t cap_;
};

struct td_analyser;
struct td_analysis_ctx;

/*
 * Load data/ and models/ from `home` (NULL: $THREATDESK_HOME, else the
 * source tree the binary was built from).  `model_path` NULL means
 * <home>/models/threatdesk.model.  *out is yours: td_analyser_free().
 */
int td_analyser_open(const char *home, const char *model_path, struct td_analyser **out,
                     struct td_error *err);
void td_analyser_free(struct td_analyser *a);

/* Model version string, e.g. "td-linear-1/2026-11-29"; owned by a. */
const char *td_analyser_model_version(const struct td_analyser *a);
/* Decision threshold for a label (from the model file). */
float td_analyser_threshold(const struct td_analyser *a, enum td_label label);

/* Per-thread scratch.  *out is yours: td_analysis_ctx_free(). */
int td_analysis_ctx_new(const struct td_analyser *a, struct td_analysis_ctx **out);
void td_analysis_ctx_free(struct td_analysis_ctx *ctx);

void td_verdict_init(struct td_verdict *v);
void td_verdict_release(struct td_verdict *v);

/*
 * Analyse len bytes of text (any bytes: invalid UTF-8 is repaired and
 * counted, not fatal).  Fills v, replacing what it held.  Fails only with
 * TD_ENOMEM / TD_ETOOBIG.
 */
int td_analyse(struct td_analysis_ctx *ctx, const char *text, size_t len, struct td_verdict *v,
               struct td_error *err);

/*
 * The brief's rule "a threat from a sender with earlier threats is
 * critical": callers that know the sender's history (ingest, the desk) call
 * this after td_analyse().  Raises HIGH threats to CRITICAL when
 * prior_threats > 0 and says so in v->reason.
 */
void td_verdict_apply_history(struct td_verdict *v, unsigned prior_threats);

/* The label that set the tier (threat over intimidation with an address
 * over hate/sexual/intimidation over abuse; ties by probability), or the
 * most probable label when none is set. */
enum td_label td_verdict_top_label(const struct td_verdict *v);

/*
 * The verdict as JSON: {"labels": {...prob...}, "predicted": [...],
 * "severity", "flags": [...], "spans": [{start,end,label,source,rule,text}],
 * "reason", "model"}.  `text`/`len` (the original) fill each span's "text";
 * pass NULL to omit.  Returns a new reference (json_decref it), NULL on OOM.
 */
json_t *td_verdict_to_json(const struct td_verdict *v, const char *text, size_t len);

#ifdef __cplusplus
}
#endif
#endif
