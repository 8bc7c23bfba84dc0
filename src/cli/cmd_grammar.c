/*
 * cmd_grammar.c - `threatdesk grammar cache|check`: keep the grammar's
 * requirement cache (data/grammar/requirements.cache) in step with its
 * rules.  Whoever edits data/grammar/ runs `grammar cache`; `grammar check`
 * exits 1 when the cache would change (the unit tests check the same).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "threatdesk/grammar.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: threatdesk grammar cache|check [--home DIR]\n"
               "  cache   derive every rule's required words and write\n"
               "          <home>/data/grammar/requirements.cache\n"
               "  check   exit 1 if that file is missing or out of date\n");
}

int td_cmd_grammar(int argc, char **argv)
{
    static const struct option opts[] = {
        {"home", required_argument, 0, 'H'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *home = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
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
    int write = optind == argc - 1 && strcmp(argv[optind], "cache") == 0;
    if (!write && !(optind == argc - 1 && strcmp(argv[optind], "check") == 0)) {
        usage(stderr);
        return 2;
    }
    char dir[4096];
    if ((size_t)snprintf(dir, sizeof dir, "%s/data/grammar", td_cli_home(home)) >= sizeof dir) {
        td_cli_fail("grammar", "home path too long");
        return 2;
    }
    struct td_error err;
    td_error_clear(&err);
    if (write) {
        if (td_grammar_write_cache(dir, &err)) {
            td_cli_error("grammar", &err);
            return 2;
        }
        printf("wrote %s/requirements.cache\n", dir);
        return 0;
    }
    int current = 0;
    if (td_grammar_check_cache(dir, &current, &err)) {
        td_cli_error("grammar", &err);
        return 2;
    }
    printf("%s/requirements.cache: %s\n", dir,
           current ? "current" : "out of date (run: threatdesk grammar cache)");
    return current ? 0 : 1;
}
