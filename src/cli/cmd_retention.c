/*
 * cmd_retention.c - UK GDPR from the command line (pipeline.h):
 *
 *   threatdesk retention --office NAME                 show the period
 *   threatdesk retention --office NAME --set DAYS      set it (0: keep)
 *   threatdesk retention --office NAME --apply         erase what is older
 *   threatdesk erase-sender --office NAME SENDER       a subject's erasure
 *
 * Messages a case holds are never erased (they are counted as kept).  Each
 * erased message leaves a tombstone in the audit chain (its original's
 * hash, the date, the operator), so `threatdesk verify` still passes.
 * All take --db, --data-dir and --home as `verify` does.
 *
 * Exit status: 0 done; 1 nothing from that sender; 2 usage or failure.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/desk_open.h"
#include "threatdesk/pipeline.h"

struct common {
    const char *db, *data, *home, *office;
};

static const struct option common_opts[] = {
    {"db", required_argument, NULL, 'd'},   {"data-dir", required_argument, NULL, 'D'},
    {"home", required_argument, NULL, 'H'}, {"office", required_argument, NULL, 'o'},
    {"set", required_argument, NULL, 's'},  {"apply", no_argument, NULL, 'a'},
    {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
};

/* Open the desk and act as the operator of --office. */
static int open_as(const char *cmd, const struct common *c, struct td_desk **d,
                   struct td_actor *actor)
{
    struct td_error err;
    td_error_clear(&err);
    if (td_cli_open_desk(cmd, c->db, c->data, c->home, d))
        return 2;
    if (td_desk_operator(*d, c->office, actor, &err)) {
        td_cli_error(cmd, &err);
        td_desk_close(*d);
        *d = NULL;
        return 2;
    }
    return 0;
}

static void retention_usage(FILE *f)
{
    fprintf(f, "usage: threatdesk retention --office NAME [--set DAYS | --apply]\n"
               "  (no --set/--apply: show the period; --set 0: keep messages until erased)\n"
               "options: --db PATH  --data-dir DIR  --home DIR\n");
}

int td_cmd_retention(int argc, char **argv)
{
    struct common c = {NULL, NULL, NULL, "default"};
    const char *set = NULL;
    int apply = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", common_opts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            c.db = optarg;
            break;
        case 'D':
            c.data = optarg;
            break;
        case 'H':
            c.home = optarg;
            break;
        case 'o':
            c.office = optarg;
            break;
        case 's':
            set = optarg;
            break;
        case 'a':
            apply = 1;
            break;
        case 'h':
            retention_usage(stdout);
            return 0;
        default:
            retention_usage(stderr);
            return 2;
        }
    }
    size_t days = 0;
    if (optind != argc || (set && apply) || (set && td_cli_size(set, 36500, &days) != 0)) {
        retention_usage(stderr);
        return 2;
    }
    struct td_desk *d = NULL;
    struct td_actor actor;
    struct td_error err;
    int status = 2;
    td_error_clear(&err);
    if (open_as("retention", &c, &d, &actor))
        return 2;
    if (set) {
        if (td_desk_retention_set(d, &actor, (int64_t)days, &err) == TD_OK) {
            if (days)
                printf("%s: messages no case holds are erased after %zu days (retention "
                       "--apply)\n",
                       c.office, days);
            else
                printf("%s: messages are kept until erased by hand\n", c.office);
            status = 0;
        }
    } else if (apply) {
        struct td_erase_stats st;
        if (td_desk_retention_apply(d, &actor, 0, &st, &err) == TD_OK) {
            printf("%s: %zu message%s erased (tombstones in the audit log); %zu held by cases "
                   "kept; %zu failed scan%s erased\n",
                   c.office, st.erased, st.erased == 1 ? "" : "s", st.kept, st.uploads,
                   st.uploads == 1 ? "" : "s");
            status = 0;
        }
    } else {
        int64_t n = 0;
        if (td_desk_retention_get(d, &actor, &n, &err) == TD_OK) {
            if (n)
                printf("%s: %lld days\n", c.office, (long long)n);
            else
                printf("%s: no retention period (messages are kept)\n", c.office);
            status = 0;
        }
    }
    if (status)
        td_cli_error("retention", &err);
    td_desk_close(d);
    return status;
}

static void erase_usage(FILE *f)
{
    fprintf(f, "usage: threatdesk erase-sender --office NAME SENDER\n"
               "  SENDER: an address, a handle or a sender key (email:a@b.org, twitter:@x)\n"
               "options: --db PATH  --data-dir DIR  --home DIR\n");
}

int td_cmd_erase_sender(int argc, char **argv)
{
    struct common c = {NULL, NULL, NULL, "default"};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", common_opts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            c.db = optarg;
            break;
        case 'D':
            c.data = optarg;
            break;
        case 'H':
            c.home = optarg;
            break;
        case 'o':
            c.office = optarg;
            break;
        case 'h':
            erase_usage(stdout);
            return 0;
        default:
            erase_usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        erase_usage(stderr);
        return 2;
    }
    struct td_desk *d = NULL;
    struct td_actor actor;
    struct td_erase_stats st;
    struct td_error err;
    td_error_clear(&err);
    if (open_as("erase-sender", &c, &d, &actor))
        return 2;
    int rc = td_desk_erase_sender(d, &actor, argv[optind], &st, &err);
    td_desk_close(d);
    if (rc) {
        td_cli_error("erase-sender", &err);
        return rc == TD_ENOTFOUND ? 1 : 2;
    }
    printf("%zu message%s erased (tombstones in the audit log)", st.erased,
           st.erased == 1 ? "" : "s");
    if (st.kept)
        printf("; %zu held by cases kept (evidence: erase them when the case allows)", st.kept);
    printf("\n");
    return 0;
}
