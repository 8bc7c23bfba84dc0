/*
 * metrics.h - the scores `train`, `eval` and the benchmark report: ROC-AUC,
 * precision / recall / F1 at a threshold, and Platt calibration.
 */
#ifndef THREATDESK_METRICS_H
#define THREATDESK_METRICS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ROC-AUC of scores against 0/1 truth (ties count half).  Returns -1 when
 * either class is absent.  `scratch` must hold n size_t (or be NULL: then it
 * allocates, returning -2 on OOM). */
double td_roc_auc(const float *score, const unsigned char *truth, size_t n, size_t *scratch);

struct td_prf {
    size_t tp, fp, fn, tn;
    double precision, recall, f1;
};
void td_prf_at(const float *score, const unsigned char *truth, size_t n, float threshold,
               struct td_prf *out);

/* The threshold in (0,1) maximising F1 (over the distinct scores). */
float td_best_f1_threshold(const float *score, const unsigned char *truth, size_t n);
/* The same for F-beta: beta < 1 weighs precision more (fewer false alarms). */
float td_best_fbeta_threshold(const float *score, const unsigned char *truth, size_t n,
                              double beta);

/* Fit p = 1/(1+exp(-(a*z+b))) to raw scores z by Platt's method (with his
 * target smoothing), by Newton iterations. */
void td_platt_fit(const float *z, const unsigned char *truth, size_t n, float *a, float *b);

#ifdef __cplusplus
}
#endif
#endif
