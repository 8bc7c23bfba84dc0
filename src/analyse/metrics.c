/* metrics.c - ROC-AUC, P/R/F1, best-F1 threshold and Platt scaling. */
#include "threatdesk/metrics.h"

#include <math.h>
#include <stdlib.h>

static const float *sort_key;

static int by_score(const void *a, const void *b)
{
    float x = sort_key[*(const size_t *)a], y = sort_key[*(const size_t *)b];
    return (x > y) - (x < y);
}

/* Mann-Whitney U with average ranks for ties. Not reentrant (qsort key). */
double td_roc_auc(const float *score, const unsigned char *truth, size_t n, size_t *scratch)
{
    size_t *ord = scratch ? scratch : malloc(n * sizeof *ord);
    if (!ord)
        return -2;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        ord[i] = i;
        pos += truth[i] != 0;
    }
    size_t neg = n - pos;
    double auc = -1;
    if (pos && neg) {
        sort_key = score;
        qsort(ord, n, sizeof *ord, by_score);
        double ranksum = 0;
        for (size_t i = 0; i < n;) {
            size_t j = i;
            while (j + 1 < n && score[ord[j + 1]] == score[ord[i]])
                j++;
            double avg = (double)(i + j) / 2.0 + 1.0;
            for (size_t k = i; k <= j; k++)
                if (truth[ord[k]])
                    ranksum += avg;
            i = j + 1;
        }
        auc = (ranksum - (double)pos * ((double)pos + 1) / 2.0) / ((double)pos * (double)neg);
    }
    if (!scratch)
        free(ord);
    return auc;
}

void td_prf_at(const float *score, const unsigned char *truth, size_t n, float threshold,
               struct td_prf *o)
{
    o->tp = o->fp = o->fn = o->tn = 0;
    for (size_t i = 0; i < n; i++) {
        int p = score[i] >= threshold;
        if (p && truth[i])
            o->tp++;
        else if (p)
            o->fp++;
        else if (truth[i])
            o->fn++;
        else
            o->tn++;
    }
    o->precision = o->tp + o->fp ? (double)o->tp / (double)(o->tp + o->fp) : 0;
    o->recall = o->tp + o->fn ? (double)o->tp / (double)(o->tp + o->fn) : 0;
    o->f1 = o->precision + o->recall > 0 ? 2 * o->precision * o->recall / (o->precision + o->recall)
                                         : 0;
}

float td_best_f1_threshold(const float *score, const unsigned char *truth, size_t n)
{
    return td_best_fbeta_threshold(score, truth, n, 1.0);
}

float td_best_fbeta_threshold(const float *score, const unsigned char *truth, size_t n, double beta)
{
    size_t *ord = malloc(n * sizeof *ord);
    if (!ord || n == 0) {
        free(ord);
        return 0.5f;
    }
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        ord[i] = i;
        pos += truth[i] != 0;
    }
    sort_key = score;
    qsort(ord, n, sizeof *ord, by_score);
    /* sweep from the top: predicting positive for everything >= score[k] */
    double best = -1;
    float thr = 0.5f;
    size_t tp = 0, fp = 0;
    for (size_t k = n; k-- > 0;) {
        if (truth[ord[k]])
            tp++;
        else
            fp++;
        if (k > 0 && score[ord[k - 1]] == score[ord[k]])
            continue;
        /* F-beta = (1+b^2) tp / ((1+b^2) tp + b^2 fn + fp), fn = pos - tp */
        double b2 = beta * beta;
        double f1 = pos ? (1 + b2) * (double)tp /
                              ((1 + b2) * (double)tp + b2 * (double)(pos - tp) + (double)fp)
                        : 0;
        if (f1 > best) {
            best = f1;
            /* midway to the next lower score, so the threshold generalises */
            thr = k > 0 ? (score[ord[k]] + score[ord[k - 1]]) / 2 : score[ord[k]];
        }
    }
    free(ord);
    if (thr <= 0.0f)
        thr = 0.01f;
    if (thr >= 1.0f)
        thr = 0.99f;
    return thr;
}

/* The negative log-likelihood of Platt's targets under p = sigmoid(a z + b),
 * computed without overflow for any a z + b. */
static double platt_loss(const float *z, const unsigned char *truth, size_t n, double hi, double lo,
                         double a, double b)
{
    double f = 0;
    for (size_t i = 0; i < n; i++) {
        double t = truth[i] ? hi : lo, v = a * z[i] + b;
        f += v >= 0 ? (1 - t) * v + log1p(exp(-v)) : -t * v + log1p(exp(v));
    }
    return f;
}

/* Newton's method with a backtracking line search (Lin, Lin and Weng 2007,
 * "A note on Platt's probabilistic outputs"): plain Newton diverges when
 * the scores nearly separate the classes, which a network's scores on a
 * synthetic split can. */
void td_platt_fit(const float *z, const unsigned char *truth, size_t n, float *pa, float *pb)
{
    double prior1 = 0, prior0 = 0;
    for (size_t i = 0; i < n; i++)
        truth[i] ? prior1++ : prior0++;
    double hi = (prior1 + 1) / (prior1 + 2), lo = 1 / (prior0 + 2);
    double a = 1, b = 0;
    double fval = platt_loss(z, truth, n, hi, lo, a, b);
    for (int it = 0; it < 100; it++) {
        double g1 = 0, g2 = 0, h11 = 1e-12, h22 = 1e-12, h21 = 0;
        for (size_t i = 0; i < n; i++) {
            double t = truth[i] ? hi : lo;
            double v = a * z[i] + b;
            double p = v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v));
            double d = p - t, w = p * (1 - p);
            g1 += d * z[i];
            g2 += d;
            h11 += w * z[i] * z[i];
            h22 += w;
            h21 += w * z[i];
        }
        if (fabs(g1) < 1e-5 && fabs(g2) < 1e-5)
            break;
        double det = h11 * h22 - h21 * h21;
        if (fabs(det) < 1e-300)
            break;
        double da = -(h22 * g1 - h21 * g2) / det, db = -(-h21 * g1 + h11 * g2) / det;
        double gd = g1 * da + g2 * db, step = 1;
        while (step >= 1e-10) {
            double na = a + step * da, nb = b + step * db;
            double nf = platt_loss(z, truth, n, hi, lo, na, nb);
            if (nf < fval + 1e-4 * step * gd) {
                a = na;
                b = nb;
                fval = nf;
                break;
            }
            step /= 2;
        }
        if (step < 1e-10)
            break; /* no descent along Newton's direction: converged */
    }
    *pa = (float)a;
    *pb = (float)b;
}
