/*
 * cues.h - the rule and normaliser signals the network reads (internal to
 * analyse/).  The grammar no longer decides with hand-set strengths: each
 * of its rules, suppressors and details becomes one input ("cue") of the
 * network, whose weight is learned.
 *
 * Cue layout (names stored in the model, so training and inference agree):
 *   "len"                       log(1 + tokens) / 6: long letters differ
 *   "fix.<kind>"                a de-obfuscation of that kind happened
 *   "score.<label>"             the grammar's own evidence for the label
 *   "suppressed.<label>"        a suppressing frame cancelled evidence
 *   "<rule name>"               max strength of that rule's hits (rules,
 *                               suppressors and details alike), added in
 *                               order of first appearance in training
 */
#ifndef TD_ANALYSE_CUES_H
#define TD_ANALYSE_CUES_H

#include "threatdesk/grammar.h"
#include "threatdesk/nn.h"
#include "threatdesk/text.h"

/* The fixed block: "len", six "fix.*", then score.* and suppressed.* */
#define TD_CUES_FIXED_LEN (1 + 6 + 2 * TD_LABEL_COUNT)
#define TD_CUES_SCORE_AT (1 + 6)

/* Fill the fixed cue names; returns their count. */
unsigned td__cues_fixed(char names[][TD_NN_CUE_NAME]);

/* Index of a cue name among names[0..n), or -1. */
int td__cues_find(const char names[][TD_NN_CUE_NAME], unsigned n, const char *name);

/* Training: append the rule names of r's hits not yet in names (while
 * *n < TD_NN_MAX_CUES), in order of appearance. */
void td__cues_learn(char names[][TD_NN_CUE_NAME], unsigned *n, const struct td_grammar_result *gr);

/* The cue vector of one message into out[n]; hits of rules not among the
 * names are ignored. */
void td__cues_compute(const char names[][TD_NN_CUE_NAME], unsigned n,
                      const struct td_grammar_result *gr, const struct td_norm *norm, size_t ntok,
                      float *out);

#endif
