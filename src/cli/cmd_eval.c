/*
 * cmd_eval.c - `threatdesk eval FILE.jsonl`: score a labelled JSON Lines
 * file (a "text" field plus 0/1 fields named after labels, and optionally
 * a "severity" field) with the full engine: model, grammar and decision,
 * at the shipped thresholds.  Prints per label ROC-AUC, precision, recall
 * and F1, and a severity confusion table when the file has severities.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "threatdesk/analyse.h"
#include "threatdesk/metrics.h"
#include "threatdesk/reader.h"

struct column {
    float *score;
    unsigned char *truth;
    unsigned char *pred;
    size_t n, cap;
};

static int col_push(struct column *c, float s, int t, int p)
{
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 1024;
        float *ns = realloc(c->score, ncap * sizeof *ns);
        if (!ns)
            return TD_ENOMEM;
        c->score = ns;
        unsigned char *nt = realloc(c->truth, ncap);
        if (!nt)
            return TD_ENOMEM;
        c->truth = nt;
        unsigned char *np = realloc(c->pred, ncap);
        if (!np)
            return TD_ENOMEM;
        c->pred = np;
        c->cap = ncap;
    }
    c->score[c->n] = s;
    c->truth[c->n] = (unsigned char)t;
    c->pred[c->n] = (unsigned char)p;
    c->n++;
    return TD_OK;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: threatdesk eval [options] FILE.jsonl\n"
               "  --text-field PATH  field holding the text (default text)\n"
               "  --json             print the scores as one JSON object\n"
               "  --model FILE       model file\n"
               "  --home DIR         threatdesk home\n");
}

int td_cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {{"text-field", required_argument, 0, 't'},
                                         {"json", no_argument, 0, 'j'},
                                         {"model", required_argument, 0, 'M'},
                                         {"home", required_argument, 0, 'H'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct td_reader_opts ro = {.format = TD_FORMAT_JSONL};
    const char *home = NULL, *model = NULL;
    int json_out = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            ro.text_field = optarg;
            break;
        case 'j':
            json_out = 1;
            break;
        case 'M':
            model = optarg;
            break;
        case 'H':
            home = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    struct td_error err;
    td_error_clear(&err);
    struct td_analyser *an = NULL;
    struct td_analysis_ctx *ctx = NULL;
    struct td_reader *r = NULL;
    if (td_cli_open_analyser("eval", home, model, &an, &ctx))
        return 2;
    if (td_reader_open(argv[optind], &ro, &r, &err)) {
        td_cli_error("eval", &err);
        td_analysis_ctx_free(ctx);
        td_analyser_free(an);
        return 2;
    }
    struct column cols[TD_LABEL_COUNT];
    memset(cols, 0, sizeof cols);
    size_t conf[TD_SEVERITY_COUNT][TD_SEVERITY_COUNT];
    memset(conf, 0, sizeof conf);
    size_t nsev = 0, failed = 0, n = 0;
    struct td_message m;
    struct td_verdict v;
    td_message_init(&m);
    td_verdict_init(&v);
    int rc, status = 0;
    while ((rc = td_reader_next(r, &m, &err)) != TD_EOF) {
        json_t *root = NULL;
        if (rc == TD_OK)
            rc = td_analyse(ctx, m.text, m.text_len, &v, &err);
        if (rc) {
            td_cli_error("eval", &err);
            failed++;
            if (td_reader_failed(r))
                break;
            continue;
        }
        n++;
        root = json_loadb(m.original, m.original_len, 0, NULL);
        for (int l = 0; l < TD_LABEL_COUNT; l++) {
            json_t *t = json_object_get(root, td_label_name(l));
            if (!t)
                continue; /* not annotated for this label */
            int truth = json_is_true(t) || (json_is_integer(t) && json_integer_value(t) != 0);
            if (col_push(&cols[l], v.prob[l], truth, (v.labels >> l) & 1)) {
                td_cli_fail("eval", "out of memory");
                json_decref(root);
                status = 2;
                goto out;
            }
        }
        int gold = td_severity_from_name(json_string_value(json_object_get(root, "severity")));
        if (gold >= 0) {
            conf[gold][v.severity]++;
            nsev++;
        }
        json_decref(root);
    }
    json_t *res = json_object();
    json_object_set_new(res, "records", json_integer((json_int_t)n));
    json_object_set_new(res, "failed", json_integer((json_int_t)failed));
    json_object_set_new(res, "model", json_string(td_analyser_model_version(an)));
    json_t *lab = json_object();
    if (!json_out) {
        printf("%zu records scored (%zu failed), model %s\n\n", n, failed,
               td_analyser_model_version(an));
        printf("%-14s %7s %6s %8s %6s %6s %6s %6s\n", "label", "n", "pos", "ROC-AUC", "thr", "P",
               "R", "F1");
    }
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        struct column *C = &cols[l];
        if (!C->n)
            continue;
        size_t pos = 0;
        for (size_t i = 0; i < C->n; i++)
            pos += C->truth[i];
        double auc = td_roc_auc(C->score, C->truth, C->n, NULL);
        float thr = td_analyser_threshold(an, (enum td_label)l);
        struct td_prf prf;
        /* P/R/F1 of the engine's decision (labels), which is prob >= thr */
        td_prf_at(C->score, C->truth, C->n, thr, &prf);
        json_object_set_new(lab, td_label_name(l),
                            json_pack("{s:I,s:I,s:f,s:f,s:f,s:f,s:f}", "n", (json_int_t)C->n, "pos",
                                      (json_int_t)pos, "roc_auc", auc, "threshold", (double)thr,
                                      "precision", prf.precision, "recall", prf.recall, "f1",
                                      prf.f1));
        if (!json_out) {
            if (auc < 0)
                printf("%-14s %7zu %6zu %8s %6.3f %6.3f %6.3f %6.3f\n", td_label_name(l), C->n, pos,
                       "n/a", (double)thr, prf.precision, prf.recall, prf.f1);
            else
                printf("%-14s %7zu %6zu %8.4f %6.3f %6.3f %6.3f %6.3f\n", td_label_name(l), C->n,
                       pos, auc, (double)thr, prf.precision, prf.recall, prf.f1);
        }
    }
    json_object_set_new(res, "labels", lab);
    if (nsev) {
        json_t *cj = json_object();
        if (!json_out) {
            printf("\nseverity confusion (rows: gold, columns: predicted), %zu records\n", nsev);
            printf("%-10s", "");
            for (int p = TD_SEVERITY_CRITICAL; p >= 0; p--)
                printf(" %8s", td_severity_name(p));
            printf("\n");
        }
        size_t agree = 0;
        for (int g = TD_SEVERITY_CRITICAL; g >= 0; g--) {
            json_t *row = json_object();
            if (!json_out)
                printf("%-10s", td_severity_name(g));
            for (int p = TD_SEVERITY_CRITICAL; p >= 0; p--) {
                if (!json_out)
                    printf(" %8zu", conf[g][p]);
                json_object_set_new(row, td_severity_name(p), json_integer((json_int_t)conf[g][p]));
            }
            agree += conf[g][g];
            if (!json_out)
                printf("\n");
            json_object_set_new(cj, td_severity_name(g), row);
        }
        if (!json_out)
            printf("exact tier agreement: %.3f\n", (double)agree / (double)nsev);
        json_object_set_new(res, "severity_confusion", cj);
    }
    if (json_out) {
        json_dumpf(res, stdout, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(5));
        printf("\n");
    }
    json_decref(res);
    status = failed ? 1 : 0;
out:
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        free(cols[l].score);
        free(cols[l].truth);
        free(cols[l].pred);
    }
    td_verdict_release(&v);
    td_message_release(&m);
    td_reader_close(r);
    td_analysis_ctx_free(ctx);
    td_analyser_free(an);
    return status;
}
