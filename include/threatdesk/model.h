/*
 * model.h - the multi-label linear model and its file format.
 *
 * One logistic regression per label over hashed n-gram features
 * (features.h), with Platt-calibrated probabilities and a decision
 * threshold per label chosen on a held-back validation split.
 *
 * File format (all integers and floats little-endian), versions 1 and 2
 * (2 adds the deep part; the platt and threshold fields then calibrate the
 * sum of the linear and the network score):
 *
 *   offset  size  field
 *   0       8     magic "TDMODEL\0"
 *   8       4     u32 format version (1 or 2)
 *   12      4     u32 bits: 2^bits hash buckets
 *   16      4     u32 nlabels (5, in taxonomy.h order)
 *   20      4     u32 qbits: weight quantisation, 8 or 16
 *   24      64    model version string, NUL-padded
 *   88      40*n  per label: char name[16], u32 trained (0: no data, the
 *                 label's probability comes from rules only), f32 bias,
 *                 f32 scale (weight = q * scale), f32 platt_a, f32 platt_b
 *                 (p = 1/(1+exp(-(a*z+b)))), f32 threshold   [40 bytes]
 *           4     u32 meta_len
 *           m     meta: JSON text (training data, seed, validation scores)
 *           B     weights: 2^bits * nlabels signed integers of qbits bits,
 *                 bucket-major (w[bucket * nlabels + label])
 *   version 2 only:
 *           8     u64 D: length of the deep part
 *           D     the embeddings (embed.c) then the network (nn.c)
 *           8     u64 XXH3-64 of every byte before it
 *
 * The checksum makes a truncated or corrupted file fail to load instead of
 * scoring nonsense.
 */
#ifndef THREATDESK_MODEL_H
#define THREATDESK_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "threatdesk/embed.h"
#include "threatdesk/error.h"
#include "threatdesk/features.h"
#include "threatdesk/nn.h"
#include "threatdesk/taxonomy.h"

#ifdef __cplusplus
extern "C" {
#endif

struct td_model {
    unsigned bits;  /* 2^bits buckets */
    unsigned qbits; /* 8 or 16, used by td_model_save */
    char version[64];
    int trained[TD_LABEL_COUNT];
    float bias[TD_LABEL_COUNT];
    float platt_a[TD_LABEL_COUNT], platt_b[TD_LABEL_COUNT];
    float threshold[TD_LABEL_COUNT];
    float *w;   /* [2^bits * TD_LABEL_COUNT], owned */
    char *meta; /* JSON text, owned, may be NULL */
    /* version 2 (NULL in a version-1 file): the subword embeddings and the
     * network whose score is added to the linear one before calibration */
    struct td_embed *embed; /* owned */
    struct td_nn *nn;       /* owned */
    /* private: the mapped file td_model_load's embeddings point into */
    void *map_;
    size_t maplen_;
};

/* A zeroed model with 2^bits buckets; *out is yours: td_model_free(). */
int td_model_new(unsigned bits, struct td_model **out);
void td_model_free(struct td_model *m);

int td_model_load(const char *path, struct td_model **out, struct td_error *err);
/* Quantises to m->qbits; writes to a temporary file and renames it over
 * path, so a crash never leaves half a model. */
int td_model_save(const struct td_model *m, const char *path, struct td_error *err);

/* Raw scores z[label] (before calibration) of a feature vector. */
void td_model_score(const struct td_model *m, const struct td_features *f, float z[TD_LABEL_COUNT]);
/* Calibrated probability of a raw score. */
float td_model_calibrate(const struct td_model *m, enum td_label l, float z);
/* Contribution of every word to the raw score of label l: out[w] for each
 * of f->nwords words (caller-allocated).  They sum to z[l] - bias[l]. */
void td_model_word_scores(const struct td_model *m, const struct td_features *f, enum td_label l,
                          float *out);

#ifdef __cplusplus
}
#endif
#endif
