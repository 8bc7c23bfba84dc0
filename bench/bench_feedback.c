/*
 * bench_feedback.c - a simulated office learning from its caseworkers
 * (feedback.h), measured on mail it has not seen.
 *
 *   rows      JSON Lines {"text", "labels": {label: 0/1}, "split"}: the rows
 *             of split PAST (default "train") are the office's past post, the
 *             rows of split NEW (default "val") the mail that comes next
 *   the past  every row is analysed and the simulated caseworker decides
 *             on every one, as the desk records it (desk.h): a true threat
 *             is reviewed when the engine labelled it a threat, else
 *             escalated (both: confirmed with the engine's labels plus
 *             threat); a flagged harmless message is dismissed; anything
 *             else is reviewed - confirmed with the labels the engine
 *             PREDICTED (the desk takes no corrections), or "nothing
 *             there" when it predicted none
 *   new mail  every row is analysed once; its verdict is scored as the
 *             engine gave it and again after td_feedback_adjust() with the
 *             office's memory, in the same run
 *   report    per label: ROC-AUC and precision / recall at the model's
 *             threshold, without and with the memory, side by side; the
 *             share of true threats at high or critical and of harmless
 *             messages at medium or above; and a revocation check (a memory
 *             emptied again gives back every engine verdict exactly)
 *
 * Nothing is tuned on the new mail: the memory's parameters are the
 * defaults of td_feedback_params_init() unless given on the command line
 * (chosen, if at all, on another seed's rows).
 *
 * Usage: bench_feedback MODEL ROWS [--past SPLIT] [--new SPLIT] [--k N]
 *                       [--min-sim X] [--kappa X] [--max-influence X]
 * (THREATDESK_HOME as for the analyser; bench/bench_feedback.sh builds
 * and runs it.)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "threatdesk/analyse.h"
#include "threatdesk/feedback.h"
#include "threatdesk/metrics.h"

struct row {
    unsigned truth;      /* label bits */
    int past;            /* 1: the office's past post; 0: new mail */
    struct td_verdict v; /* the engine's verdict */
};

static void die(const char *what, const struct td_error *err)
{
    char buf[512];
    fprintf(stderr, "bench_feedback: %s: %s\n", what,
            err ? td_error_format(err, buf, sizeof buf) : "failed");
    exit(2);
}

static int copy_verdict(struct td_verdict *dst, const struct td_verdict *src)
{
    *dst = *src;
    dst->spans = NULL;
    if (src->nspans) {
        if (!(dst->spans = malloc(src->nspans * sizeof *dst->spans)))
            return -1;
        memcpy(dst->spans, src->spans, src->nspans * sizeof *dst->spans);
    }
    return 0;
}

static int by_value(const void *x, const void *y)
{
    float a = *(const float *)x, b = *(const float *)y;
    return (a > b) - (a < b);
}

int main(int argc, char **argv)
{
    const char *past_split = "train", *new_split = "val";
    struct td_feedback_params fp;
    struct td_error err;
    td_error_clear(&err);
    td_feedback_params_init(&fp);
    if (argc < 3) {
        fprintf(stderr, "usage: bench_feedback MODEL ROWS [--past SPLIT] [--new SPLIT] [--k N] "
                        "[--min-sim X] [--kappa X] [--max-influence X]\n");
        return 2;
    }
    for (int i = 3; i + 1 < argc; i += 2) {
        char *end = NULL;
        if (!strcmp(argv[i], "--past"))
            past_split = argv[i + 1];
        else if (!strcmp(argv[i], "--new"))
            new_split = argv[i + 1];
        else if (!strcmp(argv[i], "--k"))
            fp.k = (unsigned)strtoul(argv[i + 1], &end, 10);
        else if (!strcmp(argv[i], "--min-sim"))
            fp.min_sim = strtof(argv[i + 1], &end);
        else if (!strcmp(argv[i], "--kappa"))
            fp.kappa = strtof(argv[i + 1], &end);
        else if (!strcmp(argv[i], "--max-influence"))
            fp.max_influence = strtof(argv[i + 1], &end);
        else {
            fprintf(stderr, "bench_feedback: unknown option %s\n", argv[i]);
            return 2;
        }
        if (end && *end) {
            fprintf(stderr, "bench_feedback: bad value for %s\n", argv[i]);
            return 2;
        }
    }

    struct td_analyser *a = NULL;
    struct td_analysis_ctx *ctx = NULL;
    if (td_analyser_open(NULL, argv[1], &a, &err))
        die("analyser", &err);
    if (td_analysis_ctx_new(a, &ctx))
        die("context", NULL);

    /* read and analyse every row */
    FILE *in = fopen(argv[2], "r");
    if (!in) {
        perror(argv[2]);
        return 2;
    }
    struct row *rows = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    char *line = NULL;
    size_t lcap = 0;
    while (getline(&line, &lcap, in) > 0) {
        lineno++;
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        const char *text = json_string_value(json_object_get(o, "text"));
        const char *split = json_string_value(json_object_get(o, "split"));
        json_t *labels = json_object_get(o, "labels");
        if (!text || !split || !json_is_object(labels)) {
            fprintf(stderr, "bench_feedback: %s:%zu: needs text, labels, split\n", argv[2], lineno);
            return 2;
        }
        int past = !strcmp(split, past_split);
        if (!past && strcmp(split, new_split) != 0) {
            json_decref(o);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            struct row *r = realloc(rows, cap * sizeof *r);
            if (!r)
                die("memory", NULL);
            rows = r;
        }
        struct row *r = &rows[n++];
        memset(r, 0, sizeof *r);
        r->past = past;
        for (int l = 0; l < TD_LABEL_COUNT; l++)
            if (json_integer_value(json_object_get(labels, td_label_name(l))) > 0)
                r->truth |= 1u << l;
        td_verdict_init(&r->v);
        if (td_analyse(ctx, text, strlen(text), &r->v, &err))
            die("analyse", &err);
        json_decref(o);
    }
    free(line);
    fclose(in);

    /* the office's past: the caseworker's decisions */
    struct td_feedback *mem = NULL;
    size_t npast = 0, nnew = 0, confirmed = 0, dismissed = 0, escalated = 0, reviewed_clear = 0;
    for (size_t i = 0; i < n; i++)
        rows[i].past ? npast++ : nnew++;
    if (n == 0 || rows[0].v.nvec == 0) {
        printf("the model gives no vectors (format 1): office feedback does nothing; "
               "use a format-2 model\n");
        return 1;
    }
    if (td_feedback_new(&fp, rows[0].v.nvec, &mem, &err))
        die("memory", &err);
    /* similarity around the office's average mail: every past message,
     * decided or not (the desk uses its latest 5000) */
    {
        double sum[TD_VERDICT_VEC] = {0};
        float mean[TD_VERDICT_VEC];
        const unsigned dim = rows[0].v.nvec;
        for (size_t i = 0; i < n; i++)
            for (unsigned d = 0; rows[i].past && d < dim; d++)
                sum[d] += rows[i].v.vec[d];
        for (unsigned d = 0; d < dim; d++)
            mean[d] = npast ? (float)(sum[d] / (double)npast) : 0.0f;
        if (!getenv("BENCH_NO_CENTRE") && td_feedback_set_center(mem, mean, dim, &err))
            die("centre", &err);
    }
    const unsigned threat = 1u << TD_LABEL_THREAT;
    for (size_t i = 0; i < n; i++) {
        struct row *r = &rows[i];
        if (!r->past)
            continue;
        int rc;
        if (r->truth & threat) {
            /* a threat: reviewed when the engine saw it, else escalated
             * (the desk adds the threat label to an escalation) */
            int seen = (r->v.labels & threat) != 0;
            rc = td_feedback_add(mem, (int64_t)i, r->v.vec, r->v.nvec, TD_FEEDBACK_CONFIRMED,
                                 r->v.labels | threat, 1.0f, &err);
            seen ? confirmed++ : escalated++;
        } else if (r->v.labels && !r->truth) {
            rc = td_feedback_add(mem, (int64_t)i, r->v.vec, r->v.nvec, TD_FEEDBACK_DISMISSED, 0,
                                 1.0f, &err);
            dismissed++;
        } else {
            /* reviewed: confirmed with what the engine predicted (the desk
             * takes no label corrections), "nothing there" when none */
            rc = td_feedback_add(mem, (int64_t)i, r->v.vec, r->v.nvec, TD_FEEDBACK_CONFIRMED,
                                 r->v.labels, 1.0f, &err);
            r->v.labels ? confirmed++ : reviewed_clear++;
        }
        if (rc)
            die("remember", &err);
    }

    /* new mail: the engine's verdict and the adjusted one */
    float *p0 = calloc(nnew * TD_LABEL_COUNT, sizeof *p0);
    float *p1 = calloc(nnew * TD_LABEL_COUNT, sizeof *p1);
    unsigned char *truth = calloc(nnew * TD_LABEL_COUNT, 1);
    size_t *scratch = calloc(nnew ? nnew : 1, sizeof *scratch);
    if (!p0 || !p1 || !truth || !scratch)
        die("memory", NULL);
    float *nearest = calloc(nnew ? nnew : 1, sizeof *nearest);
    if (!nearest)
        die("memory", NULL);
    float thr[TD_LABEL_COUNT];
    td_feedback_thresholds(a, thr);
    size_t j = 0, moved = 0, held = 0;
    size_t threats = 0, harmless = 0, thr_high[2] = {0}, harm_med[2] = {0};
    for (size_t i = 0; i < n; i++) {
        struct row *r = &rows[i];
        if (r->past)
            continue;
        struct td_verdict v;
        struct td_feedback_effect eff;
        if (copy_verdict(&v, &r->v))
            die("memory", NULL);
        td_feedback_adjust(mem, thr, &v, &eff, &err);
        moved += (size_t)eff.applied;
        nearest[j] = eff.nearest;
        held += (size_t)eff.held;
        for (int l = 0; l < TD_LABEL_COUNT; l++) {
            p0[l * nnew + j] = r->v.prob[l];
            p1[l * nnew + j] = v.prob[l];
            truth[l * nnew + j] = (r->truth >> l) & 1u;
        }
        if (r->truth & threat) {
            threats++;
            thr_high[0] += r->v.severity >= TD_SEVERITY_HIGH;
            thr_high[1] += v.severity >= TD_SEVERITY_HIGH;
        } else if (!r->truth) {
            harmless++;
            harm_med[0] += r->v.severity >= TD_SEVERITY_MEDIUM;
            harm_med[1] += v.severity >= TD_SEVERITY_MEDIUM;
        }
        td_verdict_release(&v);
        j++;
    }

    printf("model %s (vectors of %u floats)\n", td_analyser_model_version(a), rows[0].v.nvec);
    printf("office past: %zu messages (split %s), every one decided: %zu reviewed with labels, "
           "%zu reviewed clear, %zu dismissed, %zu escalated (threats the engine missed)\n",
           npast, past_split, confirmed, reviewed_clear, dismissed, escalated);
    printf("memory: k %u, min_sim %.3f, kappa %.2f, max_influence %.2f\n", fp.k, (double)fp.min_sim,
           (double)fp.kappa, (double)fp.max_influence);
    qsort(nearest, nnew, sizeof *nearest, by_value);
    printf("similarity of the nearest decision (centred cosine): p10 %.2f, median %.2f, p90 %.2f\n",
           nnew ? (double)nearest[nnew / 10] : 0, nnew ? (double)nearest[nnew / 2] : 0,
           nnew ? (double)nearest[nnew * 9 / 10] : 0);
    printf("new mail: %zu messages (split %s); %zu moved by the memory, %zu held by a bound\n\n",
           nnew, new_split, moved, held);
    printf("%-14s %5s | %-23s | %-23s\n", "", "", "      engine alone", "  engine + office memory");
    printf("%-14s %5s | %7s %7s %7s | %7s %7s %7s\n", "label", "pos", "ROC-AUC", "P@thr", "R@thr",
           "ROC-AUC", "P@thr", "R@thr");
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        size_t pos = 0;
        for (size_t k = 0; k < nnew; k++)
            pos += truth[l * nnew + k];
        if (pos == 0 || pos == nnew)
            continue;
        struct td_prf a0, a1;
        double auc0 = td_roc_auc(p0 + l * nnew, truth + l * nnew, nnew, scratch);
        double auc1 = td_roc_auc(p1 + l * nnew, truth + l * nnew, nnew, scratch);
        td_prf_at(p0 + l * nnew, truth + l * nnew, nnew, thr[l], &a0);
        td_prf_at(p1 + l * nnew, truth + l * nnew, nnew, thr[l], &a1);
        printf("%-14s %5zu | %7.3f %7.3f %7.3f | %7.3f %7.3f %7.3f\n", td_label_name(l), pos, auc0,
               a0.precision, a0.recall, auc1, a1.precision, a1.recall);
    }
    printf("\nthreats at high/critical:   %zu/%zu (%.1f%%) -> %zu/%zu (%.1f%%)\n", thr_high[0],
           threats, threats ? 100.0 * thr_high[0] / threats : 0, thr_high[1], threats,
           threats ? 100.0 * thr_high[1] / threats : 0);
    printf("harmless at medium or above: %zu/%zu (%.1f%%) -> %zu/%zu (%.1f%%)\n", harm_med[0],
           harmless, harmless ? 100.0 * harm_med[0] / harmless : 0, harm_med[1], harmless,
           harmless ? 100.0 * harm_med[1] / harmless : 0);

    /* revocation: every decision revoked -> the engine's verdicts exactly */
    for (size_t i = 0; i < n; i++)
        if (rows[i].past)
            td_feedback_remove(mem, (int64_t)i);
    size_t same = 0;
    for (size_t i = 0; i < n; i++) {
        struct row *r = &rows[i];
        if (r->past)
            continue;
        struct td_verdict v;
        if (copy_verdict(&v, &r->v))
            die("memory", NULL);
        td_feedback_adjust(mem, thr, &v, NULL, &err);
        same += !memcmp(v.prob, r->v.prob, sizeof v.prob) && v.labels == r->v.labels &&
                v.severity == r->v.severity && !strcmp(v.reason, r->v.reason);
        td_verdict_release(&v);
    }
    printf("every decision revoked: %zu/%zu verdicts identical to the engine's\n", same, nnew);

    for (size_t i = 0; i < n; i++)
        td_verdict_release(&rows[i].v);
    free(rows);
    free(p0);
    free(p1);
    free(truth);
    free(scratch);
    free(nearest);
    td_feedback_free(mem);
    td_analysis_ctx_free(ctx);
    td_analyser_free(a);
    return same == nnew ? 0 : 1;
}
