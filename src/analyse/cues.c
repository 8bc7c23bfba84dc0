/*
 * cues.c - grammar and normaliser signals as network inputs (cues.h).
 */
#include "cues.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const fixes[] = {"fix.leet",     "fix.spaced",     "fix.repeat",
                                    "fix.censored", "fix.confusable", "fix.invisible"};
#define NFIX (sizeof fixes / sizeof *fixes)

unsigned td__cues_fixed(char names[][TD_NN_CUE_NAME])
{
    unsigned n = 0;
    snprintf(names[n++], TD_NN_CUE_NAME, "len");
    for (size_t i = 0; i < NFIX; i++)
        snprintf(names[n++], TD_NN_CUE_NAME, "%s", fixes[i]);
    for (int l = 0; l < TD_LABEL_COUNT; l++)
        snprintf(names[n++], TD_NN_CUE_NAME, "score.%s", td_label_name(l));
    for (int l = 0; l < TD_LABEL_COUNT; l++)
        snprintf(names[n++], TD_NN_CUE_NAME, "suppressed.%s", td_label_name(l));
    return n;
}

int td__cues_find(const char names[][TD_NN_CUE_NAME], unsigned n, const char *name)
{
    for (unsigned k = 0; k < n; k++)
        if (strncmp(names[k], name, TD_NN_CUE_NAME - 1) == 0)
            return (int)k;
    return -1;
}

#define NFIXED TD_CUES_FIXED_LEN
_Static_assert(NFIX == 6, "cues.h counts six fix kinds");

void td__cues_learn(char names[][TD_NN_CUE_NAME], unsigned *n, const struct td_grammar_result *gr)
{
    for (size_t h = 0; h < gr->nhits && *n < TD_NN_MAX_CUES; h++) {
        const char *rule = gr->hits[h].rule;
        if (rule && td__cues_find(names + NFIXED, *n - NFIXED, rule) < 0)
            snprintf(names[(*n)++], TD_NN_CUE_NAME, "%s", rule);
    }
}

void td__cues_compute(const char names[][TD_NN_CUE_NAME], unsigned n,
                      const struct td_grammar_result *gr, const struct td_norm *norm, size_t ntok,
                      float *out)
{
    /* the fixed block is always first and always the same length */
    for (unsigned k = 0; k < n; k++)
        out[k] = 0;
    out[0] = fminf(logf(1.0f + (float)ntok) / 6.0f, 1.0f);
    for (size_t i = 0; i < NFIX; i++)
        out[1 + i] = (norm->fix_kinds >> i) & 1u ? 1.0f : 0.0f;
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        out[1 + NFIX + l] = gr->score[l];
        out[1 + NFIX + TD_LABEL_COUNT + l] = gr->suppressed[l] ? 1.0f : 0.0f;
    }
    for (size_t h = 0; h < gr->nhits; h++) {
        const char *rule = gr->hits[h].rule;
        int k = rule ? td__cues_find(names + NFIXED, n - NFIXED, rule) : -1;
        if (k < 0)
            continue;
        float s = gr->hits[h].strength > 0 ? gr->hits[h].strength : 1.0f;
        if (s > out[NFIXED + (unsigned)k])
            out[NFIXED + (unsigned)k] = s;
    }
}
