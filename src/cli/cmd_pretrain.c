/*
 * cmd_pretrain.c - `threatdesk pretrain`: learn the subword embeddings
 * (embed.h) from unlabelled text, one message per line, and write them to an
 * embeddings file that `threatdesk train --embeddings` puts inside the model.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "threatdesk/embed.h"
#include "threatdesk/model.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: threatdesk pretrain [options] FILE... ('-' reads standard input)\n"
               "  --out FILE        embeddings to write (required)\n"
               "  --dim N           vector size (default 48)\n"
               "  --epochs N        passes over the text (default 2)\n"
               "  --max-tokens N    read at most N tokens (default 30000000)\n"
               "  --min-count N     rarer words are not trained as words (default 5)\n"
               "  --seed N          (default 1)\n"
               "  --home DIR        threatdesk home (data/text for the normaliser)\n"
               "  --from-model FILE no pretraining: write the embeddings a model carries\n"
               "                    (they are frozen in training, so retraining the network\n"
               "                    on them reproduces the model without the long pretrain)\n");
}

static void progress(void *ud, size_t done, size_t total, float loss)
{
    (void)ud;
    fprintf(stderr, "\rpretrain: %5.1f%%  loss %.4f", 100.0 * (double)done / (double)total,
            (double)loss);
    fflush(stderr);
}

static int from_model(const char *path, const char *outp)
{
    struct td_error err;
    td_error_clear(&err);
    struct td_model *m = NULL;
    int rc = td_model_load(path, &m, &err);
    if (!rc && !m->embed)
        rc = td_error_set(&err, TD_EMODEL, "a format-1 model carries no embeddings");
    if (!rc)
        rc = td_embed_save(m->embed, outp, &err);
    if (rc)
        td_cli_error("pretrain", &err);
    else
        fprintf(stderr, "pretrain: wrote %s (dim %u, %zu rows) from %s\n", outp, m->embed->dim,
                td_embed_rows(m->embed), path);
    td_model_free(m);
    return rc ? 2 : 0;
}

int td_cmd_pretrain(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},
                                         {"dim", required_argument, 0, 'd'},
                                         {"epochs", required_argument, 0, 'e'},
                                         {"max-tokens", required_argument, 0, 'm'},
                                         {"min-count", required_argument, 0, 'c'},
                                         {"seed", required_argument, 0, 's'},
                                         {"home", required_argument, 0, 'H'},
                                         {"from-model", required_argument, 0, 'F'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct td_embed_pretrain_opts po = {0};
    const char *outp = NULL, *home = NULL, *from = NULL;
    size_t v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            outp = optarg;
            break;
        case 'H':
            home = optarg;
            break;
        case 'F':
            from = optarg;
            break;
        case 'd':
            if (td_cli_size(optarg, TD_EMBED_MAX_DIM, &v) || v < 4)
                goto bad;
            po.dim = (unsigned)v;
            break;
        case 'e':
            if (td_cli_size(optarg, 100, &v) || v < 1)
                goto bad;
            po.epochs = (unsigned)v;
            break;
        case 'm':
            if (td_cli_size(optarg, (size_t)1 << 32, &v) || v < 1)
                goto bad;
            po.max_tokens = v;
            break;
        case 'c':
            if (td_cli_size(optarg, 1000000, &v) || v < 1)
                goto bad;
            po.min_count = (unsigned)v;
            break;
        case 's':
            if (td_cli_size(optarg, (size_t)-1, &v))
                goto bad;
            po.seed = v;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (outp && from && optind == argc)
        return from_model(from, outp);
    if (!outp || from || optind >= argc) {
        usage(stderr);
        return 2;
    }
    home = td_cli_home(home);
    struct td_error err;
    td_error_clear(&err);
    struct td_normaliser *nz = td_cli_open_normaliser("pretrain", home);
    if (!nz)
        return 2;
    size_t nin = (size_t)(argc - optind);
    FILE **in = calloc(nin, sizeof *in);
    int rc = in ? 0 : 2;
    for (size_t i = 0; !rc && i < nin; i++) {
        const char *p = argv[optind + (int)i];
        in[i] = strcmp(p, "-") == 0 ? stdin : fopen(p, "r");
        if (!in[i]) {
            td_cli_fail("pretrain", "%s: cannot open", p);
            rc = 2;
        }
    }
    struct td_embed *e = NULL;
    po.nz = nz;
    po.progress = isatty(2) ? progress : NULL;
    time_t t0 = time(NULL);
    if (!rc && (td_embed_pretrain(&po, in, nin, &e, &err) || td_embed_save(e, outp, &err))) {
        td_cli_error("pretrain", &err);
        rc = 2;
    }
    if (!rc)
        fprintf(stderr, "\npretrain: wrote %s (dim %u, %zu rows) in %ld s\n", outp, e->dim,
                td_embed_rows(e), (long)(time(NULL) - t0));
    for (size_t i = 0; in && i < nin; i++)
        if (in[i] && in[i] != stdin)
            fclose(in[i]);
    free(in);
    td_embed_free(e);
    td_normaliser_free(nz);
    return rc;
bad:
    td_cli_fail("pretrain", "invalid option value '%s' (see --help for ranges)", optarg);
    return 2;
}
