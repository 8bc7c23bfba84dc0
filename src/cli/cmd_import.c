/*
 * cmd_import.c - `threatdesk import --db DB --data-dir DIR FILE...`: file
 * everything an office received - mbox, Maildir, .eml, social-media
 * exports, scanned letters, CSV / JSON Lines - into the desk, through the
 * one pipeline (pipeline.h) that `scan`, `fetch` and the server use: the
 * same canonical senders, duplicate rules and sender history.
 *
 * The messages are filed by the local operator (audited as user 0) into
 * --office (default "default"), each in its own transaction, acknowledged
 * only once committed: an import stopped half way can simply be run again
 * (what was filed comes back as duplicates).
 *
 * Output: a summary line (filed, duplicates, refused), refusals on stderr;
 * with --json one object per record: the message fields of `scan --json`
 * plus "status" ("created", "duplicate", "refused"), "desk_id" and the
 * severity, or an error object.
 *
 * Exit status: 0 every record filed or a duplicate; 1 some refused or
 * unreadable; 2 usage, desk or analyser failure.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/desk_open.h"
#include "cli/message_out.h"
#include "threatdesk/analyse.h"
#include "threatdesk/pipeline.h"
#include "threatdesk/reader.h"

struct import {
    struct td_pipeline *pipe;
    int json;
    size_t seen, filed, duplicates, refused;
    size_t by_tier[TD_SEVERITY_COUNT];
};

static void usage(FILE *f)
{
    fprintf(f, "usage: threatdesk import [options] FILE...   ('-': stdin)\n"
               "  --db PATH           the desk's store (default $THREATDESK_DB, threatdesk.db)\n"
               "  --data-dir DIR      evidence directory (default $THREATDESK_DATA_DIR)\n"
               "  --office NAME       the office the messages are filed for (default "
               "\"default\")\n"
               "  --format NAME       force a format: text lines jsonl csv eml mbox maildir\n"
               "                      twitter bluesky facebook image pdf (default: detect)\n"
               "  --text-field PATH   JSON field holding the text\n"
               "  --text-column NAME  CSV column holding the text\n"
               "  --max-record BYTES  refuse records larger than this (default 16 MiB)\n"
               "  --json              one JSON object per record\n"
               "  --model FILE        model file (default <home>/models/threatdesk.model)\n"
               "  --home DIR          threatdesk home (data/, models/)\n");
}

static void print_json(json_t *o)
{
    if (!o)
        return;
    json_dumpf(o, stdout, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(5));
    fputc('\n', stdout);
    json_decref(o);
}

static void error_json(const struct td_message *m, const struct td_error *err)
{
    json_t *o = json_pack("{s:s?,s:s,s:{s:s,s:s,s:s,s:I}}", "id", m && m->id ? m->id : NULL,
                          "status", "refused", "error", "code", td_errname(err->code), "message",
                          err->message[0] ? err->message : td_strerror(err->code), "file",
                          err->file, "line", (json_int_t)err->line);
    if (o && err->field[0])
        json_object_set_new(json_object_get(o, "error"), "field", json_string(err->field));
    print_json(o);
}

static int import_one(struct import *I, const char *path, const struct td_reader_opts *ro)
{
    struct td_error err;
    struct td_reader *r = NULL;
    td_error_clear(&err);
    if (td_reader_open(path, ro, &r, &err)) {
        td_cli_error("import", &err);
        if (I->json)
            error_json(NULL, &err);
        I->refused++;
        return TD_OK;
    }
    struct td_message m;
    struct td_verdict v;
    td_message_init(&m);
    td_verdict_init(&v);
    int rc, fatal = TD_OK;
    while ((rc = td_reader_next(r, &m, &err)) != TD_EOF) {
        struct td_pipeline_result pr;
        memset(&pr, 0, sizeof pr);
        I->seen++;
        if (rc == TD_OK) {
            rc = td_pipeline_process(I->pipe, &m, NULL, &v, &pr, &err);
            if (rc) { /* the store or memory failed: stop, nothing half-filed */
                td_cli_error("import", &err);
                fatal = rc;
                break;
            }
            rc = pr.code;
        }
        if (rc) {
            if (!err.file[0])
                td_error_at(&err, m.source ? m.source : path, m.record, 0);
            td_cli_error("import", &err);
            if (I->json)
                error_json(&m, &err);
            I->refused++;
            td_error_clear(&err);
            if (td_reader_failed(r))
                break;
            continue;
        }
        if (pr.duplicate)
            I->duplicates++;
        else {
            I->filed++;
            I->by_tier[v.severity]++;
        }
        if (I->json) {
            json_t *o = td_cli_message_json(&m);
            if (o) {
                json_object_set_new(o, "status",
                                    json_string(pr.duplicate ? "duplicate" : "created"));
                json_object_set_new(o, "desk_id", json_integer(pr.id));
                if (!pr.duplicate)
                    json_object_set_new(o, "severity", json_string(td_severity_name(v.severity)));
            }
            print_json(o);
        }
    }
    td_verdict_release(&v);
    td_message_release(&m);
    td_reader_close(r);
    return fatal;
}

int td_cmd_import(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"data-dir", required_argument, 0, 'D'},
                                         {"office", required_argument, 0, 'o'},
                                         {"format", required_argument, 0, 'f'},
                                         {"text-field", required_argument, 0, 't'},
                                         {"text-column", required_argument, 0, 'T'},
                                         {"max-record", required_argument, 0, 'm'},
                                         {"json", no_argument, 0, 'j'},
                                         {"model", required_argument, 0, 'M'},
                                         {"home", required_argument, 0, 'H'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct td_reader_opts ro = {0};
    struct import I = {0};
    const char *db = NULL, *data = NULL, *office = "default", *home = NULL, *model = NULL;
    struct td_analyser *an = NULL;
    struct td_analysis_ctx *ctx = NULL;
    struct td_desk *desk = NULL;
    struct td_actor actor;
    struct td_error err;
    int c, status = 2;
    size_t v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'D':
            data = optarg;
            break;
        case 'o':
            office = optarg;
            break;
        case 'f': {
            int f = td_format_from_name(optarg);
            if (f < 0) {
                td_cli_fail("import", "unknown format '%s'", optarg);
                return 2;
            }
            ro.format = (enum td_format)f;
            break;
        }
        case 't':
            ro.text_field = optarg;
            break;
        case 'T':
            ro.text_column = optarg;
            break;
        case 'm':
            if (td_cli_positive("import", optarg, (size_t)1 << 30,
                                "--max-record takes a byte count up to 1 GiB", &v))
                return 2;
            ro.max_record = v;
            break;
        case 'j':
            I.json = 1;
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
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    td_error_clear(&err);
    if (td_cli_open_desk("import", db, data, home, &desk))
        return 2;
    if (td_desk_operator(desk, office, &actor, &err)) {
        td_cli_error("import", &err);
        goto out;
    }
    if (td_cli_open_analyser("import", home, model, &an, &ctx))
        goto out;
    struct td_pipeline_opts po = {0};
    po.ctx = ctx;
    po.desk = desk;
    po.actor = &actor;
    if (td_pipeline_new(&po, &I.pipe, &err)) {
        td_cli_error("import", &err);
        goto out;
    }
    int rc = TD_OK;
    for (int i = optind; i < argc && rc == TD_OK; i++)
        rc = import_one(&I, argv[i], &ro);
    if (!I.json) {
        printf("%zu record%s: %zu filed", I.seen, I.seen == 1 ? "" : "s", I.filed);
        for (int t = TD_SEVERITY_COUNT - 1; t >= 0; t--)
            if (I.by_tier[t])
                printf(", %zu %s", I.by_tier[t], td_severity_name(t));
        printf("; %zu duplicate%s; %zu refused\n", I.duplicates, I.duplicates == 1 ? "" : "s",
               I.refused);
    }
    fflush(stdout);
    status = rc ? 2 : I.refused ? 1 : 0;
out:
    td_pipeline_free(I.pipe);
    td_analysis_ctx_free(ctx);
    td_analyser_free(an);
    td_desk_close(desk);
    return status;
}
