/*
 * cmd_report.c - printed reports from the command line (report.h):
 *
 *   threatdesk report digest [--week 2026-W48 | --since 2026-11-23] [-o digest.pdf]
 *
 * The weekly digest for the MP and the office manager: 7 days from the
 * Monday of the ISO week, or from --since (UTC midnight); without either,
 * the 7 days ending today (UTC).  Acts as the local operator of --office;
 * takes --db, --data-dir and --home as `verify` does.  Exit status: 0
 * written, 2 usage or failure.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/desk_open.h"
#include "threatdesk/desk_export.h"
#include "threatdesk/pipeline.h"
#include "threatdesk/report.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: threatdesk report digest [--week YYYY-Www | --since YYYY-MM-DD] [-o FILE]\n"
            "  the weekly digest PDF (default FILE digest.pdf): volume by tier, label and\n"
            "  channel per day, top senders, cases, median time to review a critical,\n"
            "  and a de-identified page of counts to share outside the office\n"
            "options: --office NAME (default: default)  --db PATH  --data-dir DIR  --home DIR\n");
}

static int64_t days_from_civil(int y, int m, int d)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    return (int64_t)timegm(&tm) / 86400;
}

/* ISO 8601 week: the Monday of the week that holds 4 January is week 1. */
static int parse_week(const char *s, int64_t *since)
{
    int y, w;
    char extra;
    if (sscanf(s, "%4d-W%2d%c", &y, &w, &extra) != 2 || w < 1 || w > 53 || y < 1970)
        return -1;
    int64_t jan4 = days_from_civil(y, 1, 4);
    int wday = (int)((jan4 + 3) % 7); /* 1970-01-01 was a Thursday: 0 = Monday */
    *since = (jan4 - wday + (int64_t)(w - 1) * 7) * 86400;
    return 0;
}

static int parse_day(const char *s, int64_t *since)
{
    int y, m, d;
    char extra;
    if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    *since = days_from_civil(y, m, d) * 86400;
    return 0;
}

int td_cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"data-dir", required_argument, NULL, 'D'},
        {"home", required_argument, NULL, 'H'},
        {"office", required_argument, NULL, 'O'},
        {"output", required_argument, NULL, 'o'},
        {"week", required_argument, NULL, 'w'},
        {"since", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *data = NULL, *home = NULL, *office = "default", *outp = "digest.pdf";
    int64_t since = ((int64_t)time(NULL) / 86400 - 6) * 86400;
    int c, bad = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'D':
            data = optarg;
            break;
        case 'H':
            home = optarg;
            break;
        case 'O':
            office = optarg;
            break;
        case 'o':
            outp = optarg;
            break;
        case 'w':
            bad |= parse_week(optarg, &since);
            break;
        case 's':
            bad |= parse_day(optarg, &since);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (bad || optind + 1 != argc || strcmp(argv[optind], "digest")) {
        usage(stderr);
        return 2;
    }
    struct td_desk *d = NULL;
    struct td_actor op;
    struct td_error err;
    json_t *g = NULL;
    void *pdf = NULL;
    size_t len = 0;
    td_error_clear(&err);
    if (td_cli_open_desk("report", td_cli_db(db), data, home, &d))
        return 2;
    int rc = td_desk_operator(d, office, &op, &err);
    if (!rc)
        rc = td_desk_digest(d, &op, since, since + 7 * 86400, &g, &err);
    td_desk_close(d);
    if (!rc)
        rc = td_report_digest(g, office, &pdf, &len, &err);
    json_decref(g);
    if (rc) {
        td_cli_error("report", &err);
        return 2;
    }
    FILE *f = strcmp(outp, "-") ? fopen(outp, "wb") : stdout;
    int ok = f && fwrite(pdf, 1, len, f) == len;
    if (f && f != stdout)
        ok &= fclose(f) == 0;
    free(pdf);
    if (!ok) {
        td_cli_fail("report", "%s: %s", outp, strerror(errno));
        return 2;
    }
    if (f != stdout)
        printf("digest: %s (%zu bytes)\n", outp, len);
    return 0;
}
