/*
 * cmd_serve.c - `threatdesk serve`: the HTTP desk.
 *
 * Configuration, lowest precedence first: built-in defaults, the config
 * file (--config FILE, else $THREATDESK_CONFIG), environment variables
 * (THREATDESK_LISTEN, THREATDESK_DB, THREATDESK_DATA_DIR, ...), then the
 * flags below.  The analyser and the desk are opened before the socket, so
 * a bad model or store fails fast with exit status 2.
 *
 * Signals: SIGTERM and SIGINT are blocked in every thread and taken here
 * with sigwait(), so shutdown runs in ordinary code: stop accepting, let
 * in-flight requests finish, close the store.  Handlers acknowledge only
 * after commit, so even SIGKILL loses nothing acknowledged.
 *
 * stdout carries exactly two kinds of line for the operator: the one-time
 * admin password on first start, and "listening on http://HOST:PORT" (the
 * real port, useful with --listen 127.0.0.1:0).  Logs are JSON on stderr.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "threatdesk/analyse.h"
#include "threatdesk/desk.h"
#include "threatdesk/server.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: threatdesk serve [options]\n"
               "  --config FILE        key = value file (default $THREATDESK_CONFIG)\n"
               "  --listen HOST:PORT   address to listen on (default 127.0.0.1:8080; port 0 =\n"
               "                       any free port, printed on stdout)\n"
               "  --db PATH            the store (default threatdesk.db)\n"
               "  --data-dir DIR       evidence files (default threatdesk-data)\n"
               "  --home DIR           threatdesk home (data/, models/)\n"
               "  --model FILE         model file\n"
               "  --max-body BYTES     request body cap (default 16 MiB)\n"
               "  --max-connections N  concurrent connections (default 64)\n"
               "  --log-level LEVEL    debug, info, warn, error (default info)\n"
               "  --perspective-open   comments:analyze without an API key\n"
               "Environment: THREATDESK_<KEY> for every key above (LISTEN, DB, DATA_DIR, ...).\n");
}

struct flag {
    const char *key;
    const char *value;
};

int td_cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"db", required_argument, NULL, 'd'},
        {"data-dir", required_argument, NULL, 'D'},
        {"home", required_argument, NULL, 'H'},
        {"model", required_argument, NULL, 'm'},
        {"max-body", required_argument, NULL, 'b'},
        {"max-connections", required_argument, NULL, 'n'},
        {"log-level", required_argument, NULL, 'L'},
        {"perspective-open", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct flag flags[16];
    size_t nflags = 0;
    const char *config = getenv("THREATDESK_CONFIG");
    struct td_server_config cfg;
    struct td_error err;
    struct td_analyser *an = NULL;
    struct td_desk *desk = NULL;
    struct td_server *srv = NULL;
    int status = 2, c;

    td_error_clear(&err);
    td_server_config_init(&cfg);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *key = NULL;
        switch (c) {
        case 'c':
            config = optarg;
            continue;
        case 'l':
            key = "listen";
            break;
        case 'd':
            key = "db";
            break;
        case 'D':
            key = "data_dir";
            break;
        case 'H':
            key = "home";
            break;
        case 'm':
            key = "model";
            break;
        case 'b':
            key = "max_body";
            break;
        case 'n':
            key = "max_connections";
            break;
        case 'L':
            key = "log_level";
            break;
        case 'P':
            flags[nflags].key = "perspective_open";
            flags[nflags++].value = "true";
            continue;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (nflags < sizeof flags / sizeof flags[0]) {
            flags[nflags].key = key;
            flags[nflags++].value = optarg;
        }
    }
    if (optind < argc) {
        td_cli_fail("serve", "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    if (config && *config && td_server_config_load_file(&cfg, config, &err) != TD_OK)
        goto fail;
    if (td_server_config_apply_env(&cfg, &err) != TD_OK)
        goto fail;
    for (size_t i = 0; i < nflags; i++)
        if (td_server_config_set(&cfg, flags[i].key, flags[i].value, &err) != TD_OK)
            goto fail;

    /* Block the shutdown signals before any thread exists, so every thread
     * inherits the mask and only sigwait() below sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (td_analyser_open(td_cli_home(cfg.home[0] ? cfg.home : NULL),
                         cfg.model[0] ? cfg.model : NULL, &an, &err) != TD_OK)
        goto fail;

    struct td_desk_opts dopt;
    td_desk_opts_init(&dopt);
    dopt.db = cfg.db;
    dopt.data_dir = cfg.data_dir;
    dopt.home = td_cli_home(cfg.home[0] ? cfg.home : NULL);
    dopt.analyser = an;
    if (td_desk_open(&dopt, &desk, &err) != TD_OK)
        goto fail;
    char password[TD_PASSWORD_SIZE];
    int created = 0;
    if (td_desk_first_start(desk, password, &created, &err) != TD_OK)
        goto fail;
    if (created) {
        printf("first start: created user 'admin' with one-time password: %s\n"
               "(shown once; change it with `threatdesk user passwd admin`)\n",
               password);
        fflush(stdout);
    }
    sodium_memzero(password, sizeof password);

    if (td_server_start(&cfg, an, desk, stderr, &srv, &err) != TD_OK)
        goto fail;
    printf("listening on http://%.*s:%u\n", (int)(strrchr(cfg.listen, ':') - cfg.listen),
           cfg.listen, td_server_port(srv));
    fflush(stdout);

    int sig = 0;
    sigwait(&set, &sig);
    td_server_shutdown(srv);
    status = 0;
    goto out;
fail:
    td_cli_error("serve", &err);
out:
    td_server_free(srv);
    td_desk_close(desk);
    td_analyser_free(an);
    return status;
}
