/*
 * cmd_feedback.c - `threatdesk feedback`: what an office's caseworkers have
 * taught its engine (desk.h, "learning from the office"), for the local
 * operator.
 *
 *   threatdesk feedback list --office NAME [--all]     one JSON object a line
 *   threatdesk feedback revoke --office NAME ID        audited; a server on
 *                                                      the same store sees it
 *                                                      at its next message
 *
 * Decisions themselves are made where the messages are read (the desk's
 * review, escalate and dismiss calls).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/desk_open.h"
#include "threatdesk/desk.h"
#include "threatdesk/pipeline.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: threatdesk feedback list --office NAME [--all]\n"
               "       threatdesk feedback revoke --office NAME ID\n"
               "options: --db PATH  --data-dir DIR  --home DIR\n");
}

static int list(struct td_desk *d, const struct td_actor *op, int all, struct td_error *err)
{
    size_t offset = 0;
    for (;;) {
        json_t *out = NULL, *row;
        size_t i;
        int rc = td_desk_feedback_list(d, op, all, 500, offset, &out, err);
        if (rc)
            return rc;
        json_array_foreach(json_object_get(out, "feedback"), i, row)
        {
            char *line = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (line)
                printf("%s\n", line);
            free(line);
        }
        json_t *next = json_object_get(out, "next_offset");
        offset = json_is_integer(next) ? (size_t)json_integer_value(next) : 0;
        json_decref(out);
        if (!offset)
            return TD_OK;
    }
}

int td_cmd_feedback(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"data-dir", required_argument, NULL, 'D'},
        {"home", required_argument, NULL, 'H'},
        {"office", required_argument, NULL, 'o'},
        {"all", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *data = NULL, *home = NULL, *office = NULL;
    int c, all = 0;
    optind = 1;
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
        case 'o':
            office = optarg;
            break;
        case 'a':
            all = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    int npos = argc - optind;
    const char *verb = npos > 0 ? argv[optind] : "";
    int64_t id = 0;
    if (!office ||
        !((!strcmp(verb, "list") && npos == 1) || (!strcmp(verb, "revoke") && npos == 2))) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(verb, "revoke")) {
        char *end = NULL;
        long long v = strtoll(argv[optind + 1], &end, 10);
        if (!end || *end || v <= 0) {
            td_cli_fail("feedback", "'%s' is not a feedback id", argv[optind + 1]);
            return 2;
        }
        id = (int64_t)v;
    }
    struct td_desk *d = NULL;
    struct td_actor op;
    struct td_error err;
    td_error_clear(&err);
    if (td_cli_open_desk("feedback", db, data, home, &d))
        return 2;
    int rc = td_desk_operator(d, office, &op, &err);
    if (!rc && id) {
        rc = td_desk_feedback_revoke(d, &op, id, &err);
        if (!rc)
            printf("revoked feedback %lld of office %s\n", (long long)id, office);
    } else if (!rc) {
        rc = list(d, &op, all, &err);
    }
    if (rc)
        td_cli_error("feedback", &err);
    td_desk_close(d);
    return rc == TD_OK ? 0 : rc == TD_ENOTFOUND || rc == TD_EINVAL ? 1 : 2;
}
