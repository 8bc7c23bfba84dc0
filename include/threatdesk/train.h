/*
 * train.h - train the linear model (model.h) from the public datasets.
 *
 * Reads the dataset map (data/training/datasets.json: which file, which
 * column is the text, which column values make which label, and which
 * labels each dataset annotates at all), normalises and featurises every
 * text exactly as td_analyse() does, holds back a seeded validation split
 * (by a hash of the text, so a text that occurs in two datasets lands in
 * one split), trains one logistic regression per label by SGD with a
 * linearly decaying learning rate - the loss of a label is only counted on
 * rows of datasets that annotate it - then fits Platt calibration and picks
 * the F1-best threshold per label on the validation split.
 *
 * Deterministic: the same data, options and seed give a byte-identical
 * model file.
 */
#ifndef THREATDESK_TRAIN_H
#define THREATDESK_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "threatdesk/embed.h"
#include "threatdesk/error.h"
#include "threatdesk/grammar.h"
#include "threatdesk/model.h"
#include "threatdesk/taxonomy.h"
#include "threatdesk/text.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most times per epoch an extra row may be seen (its "weight"). */
#define TD_TRAIN_MAX_WEIGHT 50

struct td_train_opts {
    const char *data_root;          /* folder holding the datasets (../shared/data) */
    const char *config;             /* the dataset map (JSON) */
    const struct td_normaliser *nz; /* the normaliser td_analyse uses */
    unsigned bits;                  /* hash buckets = 2^bits (default 18) */
    unsigned epochs;                /* default 10 */
    float lr;                       /* initial learning rate (default 0.2) */
    float l2;                       /* L2 shrinkage per step (default 0.002;
                                       negative: none) */
    uint64_t seed;                  /* shuffling and the split (default 1) */
    uint64_t init_seed;             /* the network's initial weights and the shuffle (0: seed), so
                                     * runs on one split measure the spread of training itself */
    unsigned val_percent;           /* validation share, default 10 */
    unsigned qbits;                 /* weight quantisation for the file: 8 or 16 */
    const char *version;            /* model version string */
    const char *dump_dir;           /* if set: write train.jsonl and val.jsonl
                                       (text + annotated labels) for baselines */
    /* ---- version 2: the network (all optional) ---- */
    const struct td_embed *embed;     /* pretrained embeddings; NULL: linear model only */
    const struct td_grammar *grammar; /* rules as cues; NULL: no cues */
    const char *extra;                /* JSON Lines of extra labelled rows
                                         ({"text","labels":{..},"split"} and an optional
                                         "weight": times seen per epoch, 1 to
                                         TD_TRAIN_MAX_WEIGHT), e.g. the synthetic
                                         generator's; NULL: none */
    unsigned filters;                 /* convolution filters (default 128) */
    unsigned hidden;                  /* hidden units (default 64) */
    unsigned nn_epochs;               /* default 6 */
    float nn_lr;                      /* Adam step (default 0.002) */
    int no_wide;                      /* ablation: the network without the linear part */
    size_t max_tokens;                /* tokens per text the network reads (default 400) */
    unsigned token_dropout;           /* % of tokens hidden per example (default 20) */
    unsigned cue_dropout;             /* % of examples trained without rule cues (0) */
    int swa_epochs;                   /* average the network's weights over its last N epochs
                                       * (stochastic weight averaging); 0 default, -1 off */
    int source_bias;                  /* 1: one intercept per source while training (the
                                       * datasets, the extra rows); 0 (default): one for all */
};

struct td_train_label_report {
    size_t train_n, train_pos, val_n, val_pos;
    double auc, precision, recall, f1;
    float threshold;
    int unusable; /* the model ranked validation backwards: label left to the rules */
};

struct td_train_report {
    size_t rows_read, rows_bad, docs, duplicates;
    size_t train_docs, val_docs;
    size_t extra_rows, extra_val; /* rows from opts->extra, of them validation */
    /* texts made negatives of a label by the config's "implied_negatives" */
    size_t implied_negatives[TD_LABEL_COUNT];
    unsigned long swa_snapshots; /* weight snapshots averaged (0: no averaging) */
    struct td_train_label_report label[TD_LABEL_COUNT];
    /* the same measures on the public datasets' split alone and on the
     * extra rows' split alone (auc -1: no such rows) */
    struct td_train_label_report pub[TD_LABEL_COUNT], ext[TD_LABEL_COUNT];
};

/* Train.  *out is yours (td_model_free).  err names the dataset file,
 * line and column of a problem in the data or the map. */
int td_train(const struct td_train_opts *opts, struct td_model **out, struct td_train_report *rep,
             struct td_error *err);

/* Featurise one text the way the analyser does (normalise -> features):
 * shared so that training and inference cannot drift apart. */
int td_featurise(const struct td_normaliser *nz, const char *text, size_t len, unsigned bits,
                 struct td_norm *norm, struct td_features *f, struct td_error *err);

#ifdef __cplusplus
}
#endif
#endif
