/*
 * cmd_office.c - `threatdesk office`: the local operator creates offices.
 *
 *   threatdesk office add NAME
 *   threatdesk office list
 *
 * Offices are made on purpose: `user add --office` refuses an office that
 * does not exist, so a typo cannot create a new, empty office.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/desk_open.h"
#include "threatdesk/desk.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: threatdesk office add NAME\n"
               "       threatdesk office list\n"
               "options: --db PATH  --data-dir DIR  --home DIR\n");
}

int td_cmd_office(int argc, char **argv)
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
    if (!((!strcmp(verb, "add") && npos == 2) || (!strcmp(verb, "list") && npos == 1))) {
        usage(stderr);
        return 2;
    }
    struct td_desk *d = NULL;
    struct td_error err;
    json_t *out = NULL, *row;
    size_t i;
    int rc, status = 2;
    td_error_clear(&err);
    if (td_cli_open_desk("office", db, data, home, &d))
        return 2;
    if (!strcmp(verb, "add")) {
        rc = td_desk_office_add(d, NULL, argv[optind + 1], NULL, &err);
        if (!rc)
            printf("added office %s\n", argv[optind + 1]);
    } else {
        rc = td_desk_office_list(d, NULL, &out, &err);
        json_array_foreach(json_object_get(out, "offices"), i, row)
        {
            char *line = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (line)
                printf("%s\n", line);
            free(line);
        }
    }
    if (rc) {
        td_cli_error("office", &err);
        status = rc == TD_EEXISTS || rc == TD_EINVAL ? 1 : 2;
    } else {
        status = 0;
    }
    json_decref(out);
    td_desk_close(d);
    return status;
}
