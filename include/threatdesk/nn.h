/*
 * nn.h - the engine's neural part: a small convolutional network over
 * subword embeddings (embed.h), with the grammar's and normaliser's signals
 * (cues) as extra inputs.
 *
 *   tokens -> embeddings e_1..e_n (frozen, pretrained)
 *          -> convolution of width 3 (F filters, zero padding), ReLU,
 *             max over positions                        -> pool[F]
 *   x = [ pool ; mean of e ; cues[R] ]
 *   hid = ReLU(U x + c)                                 -> hid[H]
 *   z_deep[l] = V[l] . hid                             (one per label)
 *
 * The analyser adds z_deep to the linear model's score (model.h) and
 * calibrates the sum: one jointly trained "wide and deep" logit per label.
 * Word order matters through the convolution ("you will die" is not "will
 * you die"); similar words through the embeddings; rules through the cues,
 * whose weights are learned instead of hand-set.
 *
 * Max pooling makes explanations cheap and honest: each filter's value
 * comes from one window of three tokens, so the gradient of a label's score
 * with respect to the pooled values says which windows moved it
 * (td_nn_attribute), and the analyser confirms the strongest by occlusion.
 */
#ifndef THREATDESK_NN_H
#define THREATDESK_NN_H

#include <stddef.h>
#include <stdio.h>

#include "threatdesk/error.h"
#include "threatdesk/taxonomy.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_NN_WIDTH 3
#define TD_NN_MAX_CUES 96
#define TD_NN_CUE_NAME 40

struct td_nn {
    unsigned dim, filters, ncues, hidden;     /* D, F, R, H */
    float *conv_w;                            /* [WIDTH][D][F] */
    float *conv_b;                            /* [F] */
    float *hid_w;                             /* [H][F + D + R] */
    float *hid_b;                             /* [H] */
    float *out_w;                             /* [LABELS][H] */
    char cue[TD_NN_MAX_CUES][TD_NN_CUE_NAME]; /* cue names, in input order */
};

/* Scratch for one forward pass; caller-owned, reused (init/release). */
struct td_nn_work {
    float *pool; /* [F] */
    int *arg;    /* [F] position of each filter's maximum, -1 if none > 0 */
    float *x;    /* [F + D + R] */
    float *hid;  /* [H] */
    float *acc;  /* [F] */
    size_t cap_;
};

/* Zero-initialised (small random conv/hidden weights drawn from seed).
 * *out is yours: td_nn_free(). */
int td_nn_new(unsigned dim, unsigned filters, unsigned ncues, unsigned hidden, unsigned long seed,
              struct td_nn **out);
void td_nn_free(struct td_nn *m);
size_t td_nn_inputs(const struct td_nn *m); /* F + D + R */

void td_nn_work_init(struct td_nn_work *w);
void td_nn_work_release(struct td_nn_work *w);

/*
 * Forward pass: emb is n rows of D floats (token vectors), cues R floats.
 * z[l] receives the deep score of every label.  TD_OK or TD_ENOMEM.
 */
int td_nn_forward(const struct td_nn *m, const float *emb, size_t n, const float *cues,
                  struct td_nn_work *w, float z[TD_LABEL_COUNT]);

/*
 * The same forward pass split in two, for inference: td_nn_project gives a
 * token's three window projections (out[3F]), which depend on the token
 * alone and so can be cached per word; td_nn_forward_proj pools n such rows
 * (proj: n * 3F) and finishes with emb (n * D) for the mean vector.  Equal
 * to td_nn_forward up to float rounding.
 */
void td_nn_project(const struct td_nn *m, const float *e, float *out);
int td_nn_forward_proj(const struct td_nn *m, const float *proj, const float *emb, size_t n,
                       const float *cues, struct td_nn_work *w, float z[TD_LABEL_COUNT]);

/*
 * After td_nn_forward: how much each token and each cue moved label l's
 * score (gradient x input of the pooled filters, spread over each filter's
 * window; cues by gradient x value).  tok[n] and cue[R] are caller-owned.
 */
void td_nn_attribute(const struct td_nn *m, size_t n, const struct td_nn_work *w, int label,
                     float *tok, float *cue);

/* Gradients (training): the same shapes as the weights. */
struct td_nn_grad {
    float *conv_w, *conv_b, *hid_w, *hid_b, *out_w;
};
int td_nn_grad_new(const struct td_nn *m, struct td_nn_grad *g);
void td_nn_grad_release(struct td_nn_grad *g);
/* Accumulate into g the gradient of a loss whose derivative with respect to
 * z is dz[label], after td_nn_forward on the same input. */
void td_nn_backward(const struct td_nn *m, const float *emb, size_t n, const struct td_nn_work *w,
                    const float dz[TD_LABEL_COUNT], struct td_nn_grad *g);

/* Serialisation inside the model file (format in nn.c). */
int td_nn_write(const struct td_nn *m, FILE *f);
int td_nn_read(const unsigned char *p, size_t len, struct td_nn **out, size_t *used,
               struct td_error *err);

#ifdef __cplusplus
}
#endif
#endif
