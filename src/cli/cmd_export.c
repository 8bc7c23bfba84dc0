/*
 * cmd_export.c - CSV exports from the command line (report.h):
 *
 *   threatdesk export queue [--status S] [--label L] [--min-tier T]
 *                           [--channel C] [--sender KEY] [--since T] [--until T]
 *   threatdesk export cases [--status S] [--type T] [--assignee NAME]
 *
 * The CSV goes to standard output (or -o FILE).  Rows stream from the
 * store into an unlinked temporary file first and are copied out after
 * the desk's transaction ends, so a slow reader of the pipe never holds
 * the store; memory stays constant in the number of rows.  Acts as the
 * local operator of --office; takes --db, --data-dir and --home as
 * `verify` does.  Exit status: 0 written, 2 usage or failure.
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
#include "threatdesk/taxonomy.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: threatdesk export queue [--status S] [--label L] [--min-tier T]\n"
            "                               [--channel C] [--sender KEY] [--since T] [--until T]\n"
            "       threatdesk export cases [--status S] [--type T] [--assignee NAME]\n"
            "  writes CSV (RFC 4180; cells a spreadsheet would run as formulas are\n"
            "  prefixed with ') to standard output or -o FILE; times are RFC 3339\n"
            "  (2026-11-29T08:00:00Z) or epoch seconds\n"
            "options: --office NAME (default: default)  --db PATH  --data-dir DIR  --home DIR\n");
}

/* RFC 3339 "YYYY-MM-DDTHH:MM:SSZ" or "YYYY-MM-DD" (UTC), or epoch seconds. */
static int parse_time(const char *s, int64_t *out)
{
    struct tm tm;
    char *end, z = 0, extra = 0;
    memset(&tm, 0, sizeof tm);
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!errno && *s && !*end) {
        *out = v;
        return 0;
    }
    int n = sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z, &extra);
    if (!(n == 7 && z == 'Z') && !(n == 3 && strlen(s) == 10))
        return -1;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

struct out {
    FILE *f;
    int queue;
    int failed;
    struct td_error err;
};

static int row_cb(void *ud, const json_t *row)
{
    struct out *o = ud;
    int rc = o->queue ? td_report_queue_csv_row(o->f, row, &o->err)
                      : td_report_cases_csv_row(o->f, row, &o->err);
    if (rc)
        o->failed = 1;
    return rc != TD_OK;
}

int td_cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},      {"data-dir", required_argument, NULL, 'D'},
        {"home", required_argument, NULL, 'H'},    {"office", required_argument, NULL, 'O'},
        {"output", required_argument, NULL, 'o'},  {"status", required_argument, NULL, 's'},
        {"label", required_argument, NULL, 'l'},   {"min-tier", required_argument, NULL, 't'},
        {"channel", required_argument, NULL, 'c'}, {"sender", required_argument, NULL, 'S'},
        {"since", required_argument, NULL, 'a'},   {"until", required_argument, NULL, 'b'},
        {"type", required_argument, NULL, 'y'},    {"assignee", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *data = NULL, *home = NULL, *office = "default", *outp = NULL;
    const char *status = NULL, *label = NULL, *tier = NULL, *type = NULL, *since = NULL,
               *until = NULL;
    struct td_queue_filter q;
    struct td_case_filter cf;
    int c;
    td_queue_filter_init(&q);
    td_case_filter_init(&cf);
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
        case 's':
            status = optarg;
            break;
        case 'l':
            label = optarg;
            break;
        case 't':
            tier = optarg;
            break;
        case 'c':
            q.channel = optarg;
            break;
        case 'S':
            q.sender = optarg;
            break;
        case 'a':
            since = optarg;
            break;
        case 'b':
            until = optarg;
            break;
        case 'y':
            type = optarg;
            break;
        case 'A':
            cf.assignee = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    const char *what = optind + 1 == argc ? argv[optind] : "";
    int queue = !strcmp(what, "queue");
    if (!queue && strcmp(what, "cases")) {
        usage(stderr);
        return 2;
    }
    if (queue) {
        if ((status && (q.status = td_msg_status_from_name(status)) < 0) ||
            (label && (q.label = td_label_from_name(label)) < 0) ||
            (tier && (q.min_severity = td_severity_from_name(tier)) < 0) ||
            (since && parse_time(since, &q.since)) || (until && parse_time(until, &q.until)) ||
            type || cf.assignee) {
            td_cli_fail("export", "bad or unknown filter for the queue (see --help)");
            return 2;
        }
    } else if ((status && (cf.status = td_case_status_from_name(status)) < 0) ||
               (type && (cf.type = td_case_type_from_name(type)) < 0) || label || tier ||
               q.channel || q.sender || since || until) {
        td_cli_fail("export", "bad or unknown filter for cases (see --help)");
        return 2;
    }
    db = td_cli_db(db);
    struct td_desk *d = NULL;
    struct td_actor op;
    struct out o = {NULL, queue, 0, {0}};
    td_error_clear(&o.err);
    if (!(o.f = tmpfile())) {
        td_cli_fail("export", "temporary file: %s", strerror(errno));
        return 2;
    }
    if (td_cli_open_desk("export", db, data, home, &d)) {
        fclose(o.f);
        return 2;
    }
    int rc = td_desk_operator(d, office, &op, &o.err);
    if (!rc)
        rc = queue ? td_report_queue_csv_header(o.f, &o.err)
                   : td_report_cases_csv_header(o.f, &o.err);
    if (!rc)
        rc = queue ? td_desk_queue_export(d, &op, &q, row_cb, &o, &o.err)
                   : td_desk_case_rows(d, &op, &cf, row_cb, &o, &o.err);
    td_desk_close(d);
    if (!rc && o.failed)
        rc = TD_EIO;
    if (rc) {
        td_cli_error("export", &o.err);
        fclose(o.f);
        return 2;
    }
    /* Copy out, now that the store is released. */
    FILE *dst = outp ? fopen(outp, "wb") : stdout;
    if (!dst) {
        td_cli_fail("export", "%s: %s", outp, strerror(errno));
        fclose(o.f);
        return 2;
    }
    char buf[65536];
    size_t n;
    int bad = fflush(o.f) != 0 || fseek(o.f, 0, SEEK_SET) != 0;
    while (!bad && (n = fread(buf, 1, sizeof buf, o.f)) > 0)
        bad = fwrite(buf, 1, n, dst) != n;
    bad |= ferror(o.f);
    fclose(o.f);
    bad |= outp ? fclose(dst) != 0 : fflush(dst) != 0;
    if (bad) {
        td_cli_fail("export", "%s: write failed", outp ? outp : "standard output");
        return 2;
    }
    return 0;
}
