/*
 * main.c - `threatdesk <command> ...`: dispatch to a command from one table.
 * The CLI is a thin front door: commands parse arguments, call the library,
 * and are the only place that prints errors or chooses exit codes.
 */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
};

static const struct command commands[] = {
#define TD_COMMAND_ENTRY(name, help) {#name, td_cmd_##name, help},
    TD_COMMAND_MAP(TD_COMMAND_ENTRY)
#undef TD_COMMAND_ENTRY
};

/* Command names are C identifiers in the table ("erase_sender") and typed
 * with dashes ("erase-sender"); either spelling is accepted. */
static int same_name(const char *typed, const char *name)
{
    for (; *typed && *name; typed++, name++)
        if (*typed != *name && !(*typed == '-' && *name == '_'))
            return 0;
    return *typed == *name;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: threatdesk <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (commands[i].fn) {
            char name[32];
            snprintf(name, sizeof name, "%s", commands[i].name);
            for (char *p = name; *p; p++)
                if (*p == '_')
                    *p = '-';
            fprintf(f, "  %-12s %s\n", name, commands[i].help);
        }
    fprintf(f, "\n'threatdesk <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (!same_name(argv[1], commands[i].name))
            continue;
        if (!commands[i].fn) {
            fprintf(stderr, "threatdesk: '%s' is not built into this binary\n", argv[1]);
            return 2;
        }
        return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "threatdesk: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
