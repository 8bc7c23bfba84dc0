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
 * stdout carries exactly these lines for the operator: the one-time admin
 * password on first start, "listening on http(s)://HOST:PORT" (the real
 * port, useful with --listen 127.0.0.1:0) and, with --metrics-listen,
 * "metrics on http(s)://HOST:PORT".  Logs are JSON on stderr.
 *
 * Alerts: a worker thread sends the outbox (desk.h "alerts") from the
 * first second; where it sends is td_alert_config (alert.h) from
 * --alerts-config FILE (else $THREATDESK_ALERTS_CONFIG) and THREATDESK_SMTP_*
 * environment variables - never flags, so no secret is in argv.
 *
 * Scanned letters: uploads are queued (desk.h "scanned letters") and
 * --ocr-workers N threads (default 1, else $THREATDESK_OCR_WORKERS) OCR and
 * file them in this process, sharing N OCR engines made at start; 0 leaves
 * them all to `threatdesk worker` processes on the same store.
 *
 * Transport security: --tls-cert/--tls-key serve HTTPS; plain HTTP is
 * refused on a non-loopback address unless --insecure-http (a TLS proxy on
 * the same host).  --trusted-proxy ADDR believes X-Forwarded-For from that
 * proxy for the client address.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "threatdesk/alert.h"
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
               "  --max-connections N  concurrent connections (default 256)\n"
               "  --per-ip-connections N  concurrent connections from one address (default 32)\n"
               "  --request-deadline S a whole request must arrive within S seconds (default 20)\n"
               "  --login-rate N       login attempts a minute per client address (default 10)\n"
               "  --hash-slots N       Argon2id hashes at once (default 2)\n"
               "  --hash-queue N       logins waiting for a hashing slot (default 8; then 503)\n"
               "  --tls-cert FILE      PEM certificate (chain): serve HTTPS\n"
               "  --tls-key FILE       PEM private key\n"
               "  --insecure-http      allow plain HTTP on a non-loopback address\n"
               "  --trusted-proxy ADDR take the client address from X-Forwarded-For when the\n"
               "                       request comes from ADDR (a reverse proxy)\n"
               "  --metrics-listen HOST:PORT  /metrics without login on this address only\n"
               "                       (on the main address /metrics needs an admin login)\n"
               "  --log-level LEVEL    debug, info, warn, error (default info)\n"
               "  --perspective-open   comments:analyze without an API key\n"
               "  --alerts-config FILE alert delivery (smtp_url, smtp_user, base_url, ...;\n"
               "                       default $THREATDESK_ALERTS_CONFIG); secrets only there or\n"
               "                       in THREATDESK_SMTP_PASSWORD, never as flags\n"
               "  --ocr-workers N      threads that OCR and file queued scans in this process\n"
               "                       (default 1; 0: only `threatdesk worker` processes)\n"
               "Environment: THREATDESK_<KEY> for every key above (LISTEN, DB, DATA_DIR, ...).\n");
}

/* A letter the OCR workers filed: counted and shown like any other. */
static void ocr_filed(void *ud, const struct td_work_result *r)
{
    if (r->outcome == TD_OK && !r->duplicate)
        td_server_filed(ud, r->office_id, r->message_id, r->severity);
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
        {"per-ip-connections", required_argument, NULL, 'i'},
        {"request-deadline", required_argument, NULL, 'R'},
        {"login-rate", required_argument, NULL, 'r'},
        {"hash-slots", required_argument, NULL, 's'},
        {"hash-queue", required_argument, NULL, 'q'},
        {"tls-cert", required_argument, NULL, 'C'},
        {"tls-key", required_argument, NULL, 'K'},
        {"insecure-http", no_argument, NULL, 'I'},
        {"trusted-proxy", required_argument, NULL, 'p'},
        {"metrics-listen", required_argument, NULL, 'M'},
        {"alerts-config", required_argument, NULL, 'A'},
        {"ocr-workers", required_argument, NULL, 'O'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct flag flags[40];
    size_t nflags = 0;
    const char *config = getenv("THREATDESK_CONFIG");
    const char *alerts_config = getenv("THREATDESK_ALERTS_CONFIG");
    struct td_alert_config acfg;
    struct td_alert_worker *worker = NULL;
    struct td_ocr_workers *ocr = NULL;
    const char *ocr_workers = getenv("THREATDESK_OCR_WORKERS");
    size_t nocr = 1;
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
        case 'A':
            alerts_config = optarg;
            continue;
        case 'O':
            ocr_workers = optarg;
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
        case 'I':
            flags[nflags].key = "insecure_http";
            flags[nflags++].value = "true";
            continue;
        case 'i':
            key = "per_ip_connections";
            break;
        case 'R':
            key = "request_deadline_s";
            break;
        case 'r':
            key = "login_rate";
            break;
        case 's':
            key = "hash_slots";
            break;
        case 'q':
            key = "hash_queue";
            break;
        case 'C':
            key = "tls_cert";
            break;
        case 'K':
            key = "tls_key";
            break;
        case 'p':
            key = "trusted_proxy";
            break;
        case 'M':
            key = "metrics_listen";
            break;
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
    if (ocr_workers && *ocr_workers && td_cli_size(ocr_workers, 64, &nocr) != 0) {
        td_cli_fail("serve", "--ocr-workers must be 0..64, not '%s'", ocr_workers);
        return 2;
    }
    if (config && *config && td_server_config_load_file(&cfg, config, &err) != TD_OK)
        goto fail;
    if (td_server_config_apply_env(&cfg, &err) != TD_OK)
        goto fail;
    for (size_t i = 0; i < nflags; i++)
        if (td_server_config_set(&cfg, flags[i].key, flags[i].value, &err) != TD_OK)
            goto fail;
    td_alert_config_init(&acfg);
    if (alerts_config && *alerts_config &&
        td_alert_config_load_file(&acfg, alerts_config, &err) != TD_OK)
        goto fail;
    if (td_alert_config_apply_env(&acfg, &err) != TD_OK)
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
    dopt.hash_slots = cfg.hash_slots;
    dopt.hash_queue = cfg.hash_queue;
    dopt.pwhash_mem_kib = cfg.pwhash_mem_kib;
    if (td_desk_open(&dopt, &desk, &err) != TD_OK)
        goto fail;
    char password[TD_PASSWORD_SIZE];
    int created = 0;
    if (td_desk_first_start(desk, password, &created, &err) != TD_OK)
        goto fail;
    if (created) {
        printf("first start: created user 'admin' with one-time password: %s\n"
               "(shown once; it must be changed before anything else: log in and\n"
               " PATCH /v1/users/admin {\"password\": ...}, or `threatdesk user passwd admin`)\n",
               password);
        fflush(stdout);
    }
    sodium_memzero(password, sizeof password);

    if (td_server_start(&cfg, an, desk, stderr, &srv, &err) != TD_OK)
        goto fail;
    /* After the listener: a port already in use fails before any alert is
     * sent by a second server on the same store. */
    if (td_desk_alert_worker_start(desk, &acfg, &worker, &err) != TD_OK)
        goto fail;
    if (nocr > 0) {
        struct td_ocr_workers_config oc = {
            .threads = (unsigned)nocr, .on_job = ocr_filed, .ud = srv};
        /* Without Tesseract's language data the desk still serves: scans
         * are kept and queued, and wait for a worker that can read them. */
        if (td_desk_ocr_workers_start(desk, &oc, &ocr, &err) != TD_OK) {
            td_cli_error("serve", &err);
            td_cli_fail("serve", "no OCR workers in this process: scans stay queued until "
                                 "`threatdesk worker` runs");
            td_error_clear(&err);
            ocr = NULL;
        }
    }
    const char *scheme = cfg.tls_cert[0] ? "https" : "http";
    printf("listening on %s://%.*s:%u\n", scheme, (int)(strrchr(cfg.listen, ':') - cfg.listen),
           cfg.listen, td_server_port(srv));
    if (cfg.metrics_listen[0])
        printf("metrics on %s://%.*s:%u\n", scheme,
               (int)(strrchr(cfg.metrics_listen, ':') - cfg.metrics_listen), cfg.metrics_listen,
               td_server_metrics_port(srv));
    fflush(stdout);

    int sig = 0;
    sigwait(&set, &sig);
    /* The OCR workers first: a letter they file still reaches the server's
     * metrics and web desks; uploads accepted meanwhile wait, queued. */
    td_desk_ocr_workers_stop(ocr);
    ocr = NULL;
    td_server_shutdown(srv);
    td_desk_alert_worker_stop(worker);
    worker = NULL;
    status = 0;
    goto out;
fail:
    td_cli_error("serve", &err);
out:
    td_desk_ocr_workers_stop(ocr);
    td_desk_alert_worker_stop(worker);
    sodium_memzero(&acfg, sizeof acfg);
    td_server_free(srv);
    td_desk_close(desk);
    td_analyser_free(an);
    return status;
}
