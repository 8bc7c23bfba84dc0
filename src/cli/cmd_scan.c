/*
 * cmd_scan.c - `threatdesk scan`: analyse messages from files or stdin.
 *
 * Default output is for a person: the messages ranked most urgent first
 * (severity, then probability), each with its tier, top label, a one-line
 * excerpt around the strongest reason, and the reason.  Only the top N are
 * kept (a bounded list), so the table costs constant memory too.
 * --json is for programs: one object per input record, in input order,
 * streamed.  A bad record yields an error object (and a line on stderr)
 * and scanning goes on; the exit status is 1 when any record failed.
 * Every message goes through the one pipeline (pipeline.h) that `fetch`,
 * `import` and the desk use: canonical sender, dedupe, analysis, sender
 * history.  A message seen before (same Message-ID, or same text from the
 * same sender: dedupe.h) is not analysed or counted again; --json reports
 * it as {"id", "duplicate_of"}.  --by-sender adds per-sender counts and
 * worst severity, senders linked across channels by sender.h's rules.
 * Within a run, a threat from a sender whose earlier messages were threats
 * is raised to critical (td_verdict_apply_history), as the desk does.
 * --json records carry what a caseworker reads first: subject, from, to
 * and the attachments (message_out.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/message_out.h"
#include "cli/triage_table.h"
#include "threatdesk/analyse.h"
#include "threatdesk/pipeline.h"
#include "threatdesk/reader.h"
#include "threatdesk/sender.h"

struct scan {
    struct td_analyser *an;
    struct td_analysis_ctx *ctx;
    int json;
    struct td_triage_table table;
    size_t seen, failed, duplicates;
    size_t by_tier[TD_SEVERITY_COUNT];
    struct td_pipeline *pipe;   /* dedupe and sender history of the run */
    struct td_senders *senders; /* the pipeline's tallies, for --by-sender */
};

static void usage(FILE *f)
{
    fprintf(f, "usage: threatdesk scan [options] [FILE...]   (no FILE or '-': stdin)\n"
               "  --lines             one message per line\n"
               "  --jsonl             JSON Lines (--text-field, --id-field; default text/id)\n"
               "  --csv               CSV with a header (--text-column, --id-column)\n"
               "  --format NAME       force a format: text lines jsonl csv eml mbox maildir\n"
               "                      twitter bluesky facebook image pdf (default: detect)\n"
               "  --text-field PATH   JSON field holding the text (dotted path allowed)\n"
               "  --id-field PATH     JSON field holding the id\n"
               "  --text-column NAME  CSV column holding the text\n"
               "  --id-column NAME    CSV column holding the id\n"
               "  --json              one JSON object per record, in input order\n"
               "  --top N             rows in the ranked table (default 50)\n"
               "  --by-sender         per-sender counts and worst severity\n"
               "  --keep-duplicates   analyse repeated messages again\n"
               "  --max-record BYTES  refuse records larger than this (default 16 MiB)\n"
               "  --model FILE        model file (default <home>/models/threatdesk.model)\n"
               "  --home DIR          threatdesk home (data/, models/)\n");
}

static void print_error_json(const struct td_message *m, const struct td_error *err)
{
    json_t *o = json_pack("{s:s?,s:{s:s,s:s,s:s,s:I,s:I}}", "id", m && m->id ? m->id : NULL,
                          "error", "code", td_errname(err->code), "message",
                          err->message[0] ? err->message : td_strerror(err->code), "file",
                          err->file, "line", (json_int_t)err->line, "byte", (json_int_t)err->byte);
    if (!o)
        return;
    if (err->field[0])
        json_object_set_new(json_object_get(o, "error"), "field", json_string(err->field));
    json_dumpf(o, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
    fputc('\n', stdout);
    json_decref(o);
}

static int scan_one(struct scan *S, const char *path, const struct td_reader_opts *ro)
{
    struct td_error err;
    td_error_clear(&err);
    struct td_reader *r = NULL;
    if (td_reader_open(path, ro, &r, &err)) {
        td_cli_error("scan", &err);
        if (S->json)
            print_error_json(NULL, &err);
        S->failed++;
        return 1;
    }
    struct td_message m;
    struct td_verdict v;
    td_message_init(&m);
    td_verdict_init(&v);
    int rc;
    while ((rc = td_reader_next(r, &m, &err)) != TD_EOF) {
        S->seen++;
        struct td_pipeline_result pr;
        memset(&pr, 0, sizeof pr);
        if (rc == TD_OK)
            rc = td_pipeline_process(S->pipe, &m, NULL, &v, &pr, &err);
        if (rc == TD_OK && pr.duplicate) {
            S->duplicates++;
            if (S->json) {
                json_t *o =
                    json_pack("{s:s,s:s}", "id", m.id ? m.id : "", "duplicate_of", pr.dup_of);
                if (o && m.source)
                    json_object_set_new(o, "source", json_string(m.source));
                if (o)
                    json_dumpf(o, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
                fputc('\n', stdout);
                json_decref(o);
            }
            continue;
        }
        if (rc == TD_OK && pr.code)
            rc = pr.code; /* refused: err says why */
        if (rc) {
            td_cli_error("scan", &err);
            if (S->json)
                print_error_json(&m, &err);
            S->failed++;
            td_error_clear(&err);
            if (td_reader_failed(r) || rc == TD_ENOMEM)
                break;
            continue;
        }
        S->by_tier[v.severity]++;
        if (S->json) {
            json_t *o = td_verdict_to_json(&v, m.text, m.text_len);
            if (!o) {
                td_cli_fail("scan", "out of memory");
                rc = TD_ENOMEM;
                break;
            }
            json_t *out = td_cli_message_json(&m);
            if (!out) {
                json_decref(o);
                td_cli_fail("scan", "out of memory");
                rc = TD_ENOMEM;
                break;
            }
            json_object_update(out, o);
            json_decref(o);
            /* dumped into one reused buffer (json_dumpf writes piecewise
             * through stdio); five digits print the 4-decimal probabilities
             * exactly instead of with 17 */
            static char *jb;
            static size_t jcap;
            const size_t jf = JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(5);
            size_t jn = json_dumpb(out, jb, jcap, jf);
            char *nb = jn > jcap ? realloc(jb, jn * 2) : NULL;
            if (nb) {
                jb = nb;
                jcap = jn * 2;
                jn = json_dumpb(out, jb, jcap, jf);
            }
            if (jn <= jcap)
                fwrite(jb, 1, jn, stdout);
            fputc('\n', stdout);
            json_decref(out);
        } else {
            td_triage_table_add(&S->table, &m, &v);
        }
    }
    td_verdict_release(&v);
    td_message_release(&m);
    td_reader_close(r);
    return 0;
}

static void print_table(const struct scan *S)
{
    printf("%zu message%s:", S->seen, S->seen == 1 ? "" : "s");
    td_triage_table_print_tiers(S->by_tier);
    if (S->duplicates)
        printf("; %zu duplicate%s not counted", S->duplicates, S->duplicates == 1 ? "" : "s");
    if (S->failed)
        printf("; %zu failed (see stderr)", S->failed);
    printf("\n");
    size_t nrows = S->table.nrows;
    if (nrows == 0)
        return;
    size_t flagged = S->seen - S->failed - S->by_tier[TD_SEVERITY_NONE];
    if (nrows < flagged || nrows < S->seen - S->failed)
        printf("showing the top %zu; --top N for more, --json for all\n", nrows);
    td_triage_table_print(&S->table);
}

/* --by-sender: one row (or JSON object) per person, worst first. */
static int print_senders(struct scan *S)
{
    td_senders_link(S->senders);
    struct td_sender_stat *st = NULL;
    size_t n = 0;
    if (td_senders_list(S->senders, &st, &n)) {
        td_cli_fail("scan", "out of memory");
        return 1;
    }
    if (!S->json)
        printf("\n%-8s %6s %7s  %-40s %s\n", "WORST", "COUNT", "THREATS", "SENDER", "ALSO");
    for (size_t i = 0; i < n; i++) {
        if (S->json) {
            json_t *o =
                json_pack("{s:s,s:s?,s:I,s:I,s:s}", "sender", st[i].key, "name", st[i].name,
                          "count", (json_int_t)st[i].count, "threats", (json_int_t)st[i].threats,
                          "worst_severity", td_severity_name(st[i].worst));
            if (o && st[i].aliases)
                json_object_set_new(o, "aliases", json_string(st[i].aliases));
            json_t *w = json_pack("{s:o}", "by_sender", o);
            if (w)
                json_dumpf(w, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
            fputc('\n', stdout);
            json_decref(w);
        } else {
            printf("%-8s %6zu %7zu  %-40s %s\n", td_severity_name(st[i].worst), st[i].count,
                   st[i].threats, st[i].key, st[i].aliases ? st[i].aliases : "");
        }
    }
    free(st);
    return 0;
}

int td_cmd_scan(int argc, char **argv)
{
    static const struct option opts[] = {{"lines", no_argument, 0, 'L'},
                                         {"jsonl", no_argument, 0, 'J'},
                                         {"csv", no_argument, 0, 'C'},
                                         {"format", required_argument, 0, 'f'},
                                         {"text-field", required_argument, 0, 't'},
                                         {"id-field", required_argument, 0, 'i'},
                                         {"text-column", required_argument, 0, 'T'},
                                         {"id-column", required_argument, 0, 'I'},
                                         {"json", no_argument, 0, 'j'},
                                         {"top", required_argument, 0, 'n'},
                                         {"by-sender", no_argument, 0, 'S'},
                                         {"keep-duplicates", no_argument, 0, 'D'},
                                         {"max-record", required_argument, 0, 'm'},
                                         {"model", required_argument, 0, 'M'},
                                         {"home", required_argument, 0, 'H'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct td_reader_opts ro = {0};
    struct scan S = {0};
    size_t top = 50;
    const char *home = NULL, *model = NULL;
    int c, by_sender = 0, keep_dups = 0;
    size_t v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
        switch (c) {
        case 'L':
            ro.format = TD_FORMAT_LINES;
            break;
        case 'J':
            ro.format = TD_FORMAT_JSONL;
            break;
        case 'C':
            ro.format = TD_FORMAT_CSV;
            break;
        case 'f': {
            int f = td_format_from_name(optarg);
            if (f < 0) {
                td_cli_fail("scan", "unknown format '%s'", optarg);
                return 2;
            }
            ro.format = (enum td_format)f;
            break;
        }
        case 't':
            ro.text_field = optarg;
            break;
        case 'i':
            ro.id_field = optarg;
            break;
        case 'T':
            ro.text_column = optarg;
            break;
        case 'I':
            ro.id_column = optarg;
            break;
        case 'j':
            S.json = 1;
            break;
        case 'n':
            if (td_cli_positive("scan", optarg, 1000000, "--top takes a number from 1 to 1000000",
                                &v))
                return 2;
            top = v;
            break;
        case 'm':
            if (td_cli_positive("scan", optarg, (size_t)1 << 30,
                                "--max-record takes a byte count up to 1 GiB", &v))
                return 2;
            ro.max_record = v;
            break;
        case 'M':
            model = optarg;
            break;
        case 'S':
            by_sender = 1;
            break;
        case 'D':
            keep_dups = 1;
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
    if (td_cli_open_analyser("scan", home, model, &S.an, &S.ctx))
        return 2;
    struct td_pipeline_opts po = {0};
    struct td_error perr;
    td_error_clear(&perr);
    po.ctx = S.ctx;
    po.keep_duplicates = keep_dups;
    if (td_triage_table_init(&S.table, top) || td_pipeline_new(&po, &S.pipe, &perr)) {
        td_cli_fail("scan", "out of memory");
        return 2;
    }
    S.senders = td_pipeline_senders(S.pipe);
    if (optind >= argc) {
        scan_one(&S, "-", &ro);
    } else {
        for (int i = optind; i < argc; i++)
            scan_one(&S, argv[i], &ro);
    }
    if (!S.json)
        print_table(&S);
    if (by_sender)
        print_senders(&S);
    fflush(stdout);
    td_triage_table_release(&S.table);
    td_pipeline_free(S.pipe);
    td_analysis_ctx_free(S.ctx);
    td_analyser_free(S.an);
    return S.failed ? 1 : 0;
}
