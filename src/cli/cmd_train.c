/*
 * cmd_train.c - `threatdesk train`: train the shipped model from the public
 * datasets and print its validation scores.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "threatdesk/grammar.h"
#include "threatdesk/train.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: threatdesk train [options]\n"
               "  --data DIR        datasets folder (default <home>/../shared/data)\n"
               "  --config FILE     dataset map (default <home>/data/training/datasets.json)\n"
               "  --out FILE        model to write (default <home>/models/threatdesk.model)\n"
               "  --bits N          2^N hash buckets (default 18)\n"
               "  --epochs N        SGD epochs (default 10)\n"
               "  --l2 X            L2 shrinkage per step (default 0.002; 0 for none)\n"
               "  --lr X            initial learning rate (default 0.2)\n"
               "  --seed N          shuffle and split seed (default 1)\n"
               "  --init-seed N     initial weights and shuffle only (default: --seed):\n"
               "                    the same split, another training run\n"
               "  --qbits 8|16      weight quantisation in the file (default 8)\n"
               "  --version STR     model version string\n"
               "  --dump-splits DIR write DIR/train.jsonl and DIR/val.jsonl for baselines\n"
               "  --embeddings FILE pretrained subword embeddings (threatdesk pretrain):\n"
               "                    trains the network too (model format 2)\n"
               "  --extra FILE      extra labelled JSON Lines (e.g. synthetic rows)\n"
               "  --filters N       convolution filters (default 128)\n"
               "  --hidden N        hidden units (default 64)\n"
               "  --nn-epochs N     network epochs (default 6)\n"
               "  --no-wide         ablation: no linear n-gram part\n"
               "  --no-cues         ablation: no grammar cues\n"
               "  --rules-only      ablation: write an untrained model (the grammar decides)\n"
               "  --token-dropout N percent of words hidden per training example (default 20)\n"
               "  --cue-dropout N   percent of training examples without rule cues (default 0)\n"
               "  --swa N           average the network over its last N epochs (0 off)\n"
               "  --source-bias     one intercept per source while training (default: one)\n"
               "  --home DIR        threatdesk home (data/, models/)\n");
}

int td_cmd_train(int argc, char **argv)
{
    static const struct option opts[] = {{"data", required_argument, 0, 'd'},
                                         {"config", required_argument, 0, 'c'},
                                         {"out", required_argument, 0, 'o'},
                                         {"bits", required_argument, 0, 'b'},
                                         {"epochs", required_argument, 0, 'e'},
                                         {"lr", required_argument, 0, 'l'},
                                         {"l2", required_argument, 0, 'r'},
                                         {"seed", required_argument, 0, 's'},
                                         {"init-seed", required_argument, 0, 'S'},
                                         {"swa", required_argument, 0, 'A'},
                                         {"source-bias", no_argument, 0, 'B'},
                                         {"qbits", required_argument, 0, 'q'},
                                         {"version", required_argument, 0, 'v'},
                                         {"dump-splits", required_argument, 0, 'D'},
                                         {"home", required_argument, 0, 'H'},
                                         {"embeddings", required_argument, 0, 'E'},
                                         {"extra", required_argument, 0, 'x'},
                                         {"filters", required_argument, 0, 'F'},
                                         {"hidden", required_argument, 0, 'N'},
                                         {"nn-epochs", required_argument, 0, 'P'},
                                         {"no-wide", no_argument, 0, 'W'},
                                         {"no-cues", no_argument, 0, 'C'},
                                         {"rules-only", no_argument, 0, 'R'},
                                         {"token-dropout", required_argument, 0, 'T'},
                                         {"cue-dropout", required_argument, 0, 'U'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *data = NULL, *config = NULL, *outp = NULL, *home = NULL, *embp = NULL;
    int no_cues = 0, rules_only = 0;
    struct td_train_opts to = {0};
    to.qbits = 8;
    to.version = "td-linear-1";
    size_t v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            data = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 'o':
            outp = optarg;
            break;
        case 'H':
            home = optarg;
            break;
        case 'v':
            to.version = optarg;
            break;
        case 'D':
            to.dump_dir = optarg;
            break;
        case 'E':
            embp = optarg;
            break;
        case 'x':
            to.extra = optarg;
            break;
        case 'W':
            to.no_wide = 1;
            break;
        case 'C':
            no_cues = 1;
            break;
        case 'R':
            rules_only = 1;
            break;
        case 'T':
            if (td_cli_size(optarg, 90, &v) || v < 1)
                goto bad;
            to.token_dropout = (unsigned)v;
            break;
        case 'U':
            if (td_cli_size(optarg, 100, &v))
                goto bad;
            to.cue_dropout = (unsigned)v;
            break;
        case 'F':
            if (td_cli_size(optarg, 4096, &v) || v < 1)
                goto bad;
            to.filters = (unsigned)v;
            break;
        case 'N':
            if (td_cli_size(optarg, 4096, &v) || v < 1)
                goto bad;
            to.hidden = (unsigned)v;
            break;
        case 'P':
            if (td_cli_size(optarg, 1000, &v) || v < 1)
                goto bad;
            to.nn_epochs = (unsigned)v;
            break;
        case 'b':
            if (td_cli_size(optarg, 26, &v) || v < 10)
                goto bad;
            to.bits = (unsigned)v;
            break;
        case 'e':
            if (td_cli_size(optarg, 1000, &v) || v < 1)
                goto bad;
            to.epochs = (unsigned)v;
            break;
        case 's':
            if (td_cli_size(optarg, (size_t)-1, &v))
                goto bad;
            to.seed = v;
            break;
        case 'A':
            if (td_cli_size(optarg, 100, &v))
                goto bad;
            to.swa_epochs = v ? (int)v : -1;
            break;
        case 'B':
            to.source_bias = 1;
            break;
        case 'S':
            if (td_cli_size(optarg, (size_t)-1, &v))
                goto bad;
            to.init_seed = v;
            break;
        case 'q':
            if (td_cli_size(optarg, 16, &v) || (v != 8 && v != 16))
                goto bad;
            to.qbits = (unsigned)v;
            break;
        case 'r': {
            char *end;
            to.l2 = strtof(optarg, &end);
            if (*end || !(to.l2 >= 0 && to.l2 < 1))
                goto bad;
            if (to.l2 == 0)
                to.l2 = -1; /* explicit: none */
            break;
        }
        case 'l': {
            char *end;
            to.lr = strtof(optarg, &end);
            if (*end || !(to.lr > 0 && to.lr < 10))
                goto bad;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    home = td_cli_home(home);
    char pdata[4096], pconf[4096], pout[4096];
    if (!data) {
        const char *env = getenv("TD_SHARED_DATA");
        snprintf(pdata, sizeof pdata, "%s/../shared/data", home);
        data = env && *env ? env : pdata;
    }
    snprintf(pconf, sizeof pconf, "%s/data/training/datasets.json", home);
    snprintf(pout, sizeof pout, "%s/models/threatdesk.model", home);
    to.data_root = data;
    to.config = config ? config : pconf;
    outp = outp ? outp : pout;

    struct td_error err;
    td_error_clear(&err);
    struct td_normaliser *nz = td_cli_open_normaliser("train", home);
    if (!nz)
        return 2;
    to.nz = nz;
    struct td_model *m = NULL;
    struct td_embed *emb = NULL;
    struct td_grammar *gram = NULL;
    struct td_train_report rep;
    int rc = TD_OK;
    if (embp) {
        char pg[4096];
        snprintf(pg, sizeof pg, "%s/data/grammar", home);
        rc = td_embed_load(embp, &emb, &err);
        if (!rc && !no_cues)
            rc = td_grammar_load(pg, &gram, &err);
        to.embed = emb;
        to.grammar = gram;
        if (!to.version || strcmp(to.version, "td-linear-1") == 0)
            to.version = "td-deep-2";
    }
    if (rc == TD_OK && rules_only) {
        /* no label trained: the analyser's format-1 path gives the grammar's
         * score alone - the "rules only" row of the ablation */
        rc = td_model_new(10, &m);
        if (rc == TD_OK) {
            snprintf(m->version, sizeof m->version, "td-rules-only");
            rc = td_model_save(m, outp, &err);
        }
        if (rc == TD_OK)
            printf("wrote %s (rules only)\n", outp);
        td_model_free(m);
        td_grammar_free(gram);
        td_embed_free(emb);
        td_normaliser_free(nz);
        return rc ? 2 : 0;
    }
    if (rc == TD_OK)
        rc = td_train(&to, &m, &rep, &err);
    if (rc == TD_OK && emb) {
        m->embed = emb; /* the model file carries the embeddings it was trained with */
        emb = NULL;
    }
    if (rc == TD_OK)
        rc = td_model_save(m, outp, &err);
    td_grammar_free(gram);
    td_embed_free(emb);
    if (rc) {
        td_cli_error("train", &err);
        td_model_free(m);
        td_normaliser_free(nz);
        return 2;
    }
    printf("read %zu rows (%zu skipped), %zu distinct texts (%zu duplicates merged)\n",
           rep.rows_read, rep.rows_bad, rep.docs, rep.duplicates);
    printf("train %zu, validation %zu (seeded %u%% split)\n", rep.train_docs, rep.val_docs,
           to.val_percent ? to.val_percent : 10);
    for (int l = 0; l < TD_LABEL_COUNT; l++)
        if (rep.implied_negatives[l])
            printf("%zu texts annotated negative elsewhere made negatives of %s\n",
                   rep.implied_negatives[l], td_label_name(l));
    if (rep.swa_snapshots)
        printf("network: the mean of %lu weight snapshots (--swa)\n", rep.swa_snapshots);
    printf("\n");
    printf("%-14s %8s %7s %7s %6s %8s %6s %6s %6s %6s\n", "label", "train", "pos", "val", "pos",
           "ROC-AUC", "thr", "P", "R", "F1");
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        const struct td_train_label_report *R = &rep.label[l];
        if (R->unusable) {
            printf("%-14s %8zu %7zu %7zu %6zu %8.4f  (ranks validation backwards: rules only)\n",
                   td_label_name(l), R->train_n, R->train_pos, R->val_n, R->val_pos, R->auc);
            continue;
        }
        if (R->auc < 0) {
            printf("%-14s %8zu %7zu %7zu %6zu %8s  (no training data: rules only)\n",
                   td_label_name(l), R->train_n, R->train_pos, R->val_n, R->val_pos, "-");
            continue;
        }
        printf("%-14s %8zu %7zu %7zu %6zu %8.4f %6.3f %6.3f %6.3f %6.3f\n", td_label_name(l),
               R->train_n, R->train_pos, R->val_n, R->val_pos, R->auc, (double)R->threshold,
               R->precision, R->recall, R->f1);
    }
    if (rep.extra_rows) {
        printf("\nvalidation split by source (%zu extra rows, %zu of them validation)\n",
               rep.extra_rows, rep.extra_val);
        printf("%-14s %16s %16s\n", "label", "public: AUC/R", "extra: AUC/R");
        for (int l = 0; l < TD_LABEL_COUNT; l++)
            printf("%-14s %8.4f/%6.3f  %8.4f/%6.3f\n", td_label_name(l), rep.pub[l].auc,
                   rep.pub[l].recall, rep.ext[l].auc, rep.ext[l].recall);
    }
    printf("\nwrote %s (%s)\n", outp, m->version);
    td_model_free(m);
    td_normaliser_free(nz);
    return 0;
bad:
    td_cli_fail("train", "invalid option value '%s' (see --help for ranges)", optarg);
    return 2;
}
