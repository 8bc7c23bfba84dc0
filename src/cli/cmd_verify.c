/*
 * cmd_verify.c - `threatdesk verify`: walk the audit chain and re-hash
 * every evidence file; print each break (what, which id, expected vs
 * found) and exit 1 if there is any, 0 when intact, 2 when the store
 * cannot be read.  The last line gives the chain's head hash: written down
 * somewhere else, it lets a later verify notice even a rewrite of the
 * whole chain.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/desk_open.h"
#include "threatdesk/desk.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: threatdesk verify [--db PATH|postgres://URL] [--data-dir DIR] [--home DIR]\n"
               "  checks every audit log entry's hash and link (one chain per office on\n"
               "  PostgreSQL), every evidence file's SHA-256,\n"
               "  and every message, case, note and evidence row against the audit chain;\n"
               "  exit 0 intact, 1 something was altered, added or removed, 2 error\n");
}

static int print_problem(void *ud, const struct td_verify_problem *p)
{
    (void)ud;
    /* "audit entry N", "evidence file N" for the file checks, else the
     * kind of row ("message 12", "case 3", "note 7", "evidence 2"). */
    const char *unit = !strcmp(p->kind, "audit") ? " entry"
                       : !strncmp(p->what, "file", 4) || !strncmp(p->what, "size differs", 12) ||
                               !strncmp(p->what, "row has", 7)
                           ? " file"
                           : "";
    printf("BROKEN %s%s %" PRId64 ": %s\n", p->kind, unit, p->id, p->what);
    if (p->expected[0] || p->found[0])
        printf("  expected: %s\n  found:    %s\n", p->expected, p->found);
    return 0;
}

int td_cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"data-dir", required_argument, NULL, 'D'},
        {"home", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *data = NULL, *home = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
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
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    db = td_cli_db(db);
    /* Opening would create an empty store, which verifies trivially. */
    if (td_cli_store_missing(db)) {
        td_cli_fail("verify", "%s: no such store", db);
        return 2;
    }
    struct td_desk *d = NULL;
    struct td_verify_stats st;
    struct td_error err;
    td_error_clear(&err);
    if (td_cli_open_desk("verify", db, data, home, &d))
        return 2;
    int rc = td_desk_verify(d, print_problem, NULL, &st, &err);
    td_desk_close(d);
    if (rc != TD_OK) {
        td_cli_error("verify", &err);
        return 2;
    }
    printf("audit: %zu entries; rows: %zu; evidence: %zu files; head %" PRId64 " %s\n",
           st.audit_entries, st.rows, st.evidence_files, st.head_id,
           st.head_hash[0] ? st.head_hash : "-");
    if (st.problems) {
        printf("verify: %zu problem%s found\n", st.problems, st.problems == 1 ? "" : "s");
        return 1;
    }
    printf("verify: intact\n");
    return 0;
}
