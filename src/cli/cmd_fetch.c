/*
 * cmd_fetch.c - `threatdesk fetch imap[s]://host[:port]/MAILBOX`: pull the
 * mail that is new since the last run (imap.h), analyse each message and
 * print what scan prints: a ranked table, or with --json one object per
 * message as it arrives.
 *
 * Every message goes through the one pipeline (pipeline.h) that `scan`,
 * `import` and the server share.  With --db (and --data-dir, --office) it
 * is also filed into the desk, as the local operator, with the desk's
 * duplicate rules and sender history: mail fetched twice, or also imported
 * from an mbox, is one message.
 *
 * Credentials never come from the command line (they would sit in shell
 * history and in every `ps` listing).  In order of precedence:
 *   --config FILE                       an explicit config file
 *   THREATDESK_IMAP_USER / _PASSWORD    the environment
 *   $XDG_CONFIG_HOME/threatdesk/fetch.conf (default ~/.config/...)
 * A config file is JSON, {"user": "...", "password": "..."} with an
 * optional "state": "path", and must be owned by the user running fetch and
 * unreadable by anyone else (mode 0600 or stricter): anything looser is
 * refused, as ssh does with private keys.
 *
 * The state (last UID per mailbox) lives in --state FILE, else the config's
 * "state", else $XDG_STATE_HOME/threatdesk/imap-state.json (default
 * ~/.local/state/...).
 *
 * Exit status: 0 all fetched and analysed; 1 some messages were skipped or
 * failed; 2 usage, configuration, login or network failure.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/desk_open.h"
#include "cli/message_out.h"
#include "cli/triage_table.h"
#include "threatdesk/analyse.h"
#include "threatdesk/email.h"
#include "threatdesk/imap.h"
#include "threatdesk/message.h"
#include "threatdesk/pipeline.h"

struct fetch {
    struct td_analyser *an;
    struct td_analysis_ctx *ctx;
    struct td_pipeline *pipe;
    struct td_desk *desk; /* --db: filed into it */
    size_t max_original;
    int json;
    struct td_triage_table table;
    size_t seen, failed, duplicates, filed;
    size_t by_tier[TD_SEVERITY_COUNT];
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: threatdesk fetch [options] imap[s]://host[:port]/MAILBOX\n"
            "  --config FILE       credentials file (JSON, mode 0600): {\"user\", \"password\"}\n"
            "                      default: env THREATDESK_IMAP_USER/THREATDESK_IMAP_PASSWORD,\n"
            "                      then ~/.config/threatdesk/fetch.conf\n"
            "  --state FILE        where the last UID per mailbox is kept\n"
            "                      (default ~/.local/state/threatdesk/imap-state.json)\n"
            "  --limit N           fetch at most N new messages this run\n"
            "  --max-message BYTES skip (and report) larger messages (default 32 MiB)\n"
            "  --require-tls       imap://: refuse to log in without STARTTLS\n"
            "  --ca-file FILE      CA bundle for the server's certificate\n"
            "  --timeout SECONDS   per network operation (default 60)\n"
            "  --json              one JSON object per message, as fetched\n"
            "  --db PATH           also file every message into this desk (with --data-dir)\n"
            "  --data-dir DIR      the desk's evidence directory\n"
            "  --office NAME       the office messages are filed for (default \"default\")\n"
            "  --top N             rows in the ranked table (default 50)\n"
            "  --model FILE        model file (default <home>/models/threatdesk.model)\n"
            "  --home DIR          threatdesk home (data/, models/)\n"
            "There is no password option: credentials never go on the command line.\n");
}

/* ---- credentials ------------------------------------------------------------------ */

struct creds {
    char *user, *password, *state;
};

static void creds_free(struct creds *c)
{
    free(c->user);
    if (c->password) {
        explicit_bzero(c->password, strlen(c->password));
        free(c->password);
    }
    free(c->state);
    memset(c, 0, sizeof *c);
}

/* "$XDG_<var>/threatdesk/<name>", else "$HOME/<fallback>/threatdesk/<name>". */
static int xdg_path(const char *var, const char *fallback, const char *name, char *out, size_t size)
{
    const char *x = getenv(var);
    int n;
    if (x && *x == '/')
        n = snprintf(out, size, "%s/threatdesk/%s", x, name);
    else {
        const char *home = getenv("HOME");
        if (!home || !*home)
            return -1;
        n = snprintf(out, size, "%s/%s/threatdesk/%s", home, fallback, name);
    }
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* 0 ok, 1 file absent (only when !must_exist), 2 refused (message printed). */
static int read_config(const char *path, int must_exist, struct creds *c)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT && !must_exist)
            return 1;
        td_cli_fail("fetch", "%s: %s", path, strerror(errno));
        return 2;
    }
    if (st.st_uid != geteuid()) {
        td_cli_fail("fetch", "%s: refusing a credentials file owned by another user", path);
        return 2;
    }
    if (st.st_mode & 077) {
        td_cli_fail("fetch",
                    "%s: refusing a credentials file others can read (mode %04o); "
                    "chmod 600 %s",
                    path, (unsigned)(st.st_mode & 07777), path);
        return 2;
    }
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        td_cli_fail("fetch", "%s:%d: not valid JSON: %s", path, je.line, je.text);
        return 2;
    }
    const char *user = json_string_value(json_object_get(root, "user"));
    const char *pass = json_string_value(json_object_get(root, "password"));
    const char *state = json_string_value(json_object_get(root, "state"));
    if (!json_is_object(root) || !user || !pass) {
        td_cli_fail("fetch", "%s: needs string fields \"user\" and \"password\"", path);
        json_decref(root);
        return 2;
    }
    c->user = strdup(user);
    c->password = strdup(pass);
    c->state = state ? strdup(state) : NULL;
    json_decref(root);
    if (!c->user || !c->password || (state && !c->state)) {
        td_cli_fail("fetch", "out of memory");
        return 2;
    }
    return 0;
}

static int get_creds(const char *config, struct creds *c)
{
    if (config)
        return read_config(config, 1, c) == 0 ? 0 : 2;
    const char *u = getenv("THREATDESK_IMAP_USER"), *p = getenv("THREATDESK_IMAP_PASSWORD");
    if (u && *u && p) {
        c->user = strdup(u);
        c->password = strdup(p);
        return c->user && c->password ? 0 : 2;
    }
    char path[4096];
    if (xdg_path("XDG_CONFIG_HOME", ".config", "fetch.conf", path, sizeof path) == 0) {
        int rc = read_config(path, 0, c);
        if (rc == 0)
            return 0;
        if (rc == 2)
            return 2;
    }
    td_cli_fail("fetch", "no IMAP credentials: set THREATDESK_IMAP_USER and "
                         "THREATDESK_IMAP_PASSWORD, or write ~/.config/threatdesk/fetch.conf "
                         "(mode 0600), or pass --config FILE");
    return 2;
}

/* mkdir -p of the directories above path, mode 0700 (the state says what
 * mail the office received). */
static int make_parents(const char *path)
{
    char dir[4096];
    int n = snprintf(dir, sizeof dir, "%s", path);
    if (n <= 0 || (size_t)n >= sizeof dir)
        return -1;
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}

/* ---- output (the shape `scan` prints) ----------------------------------------------- */

static void print_table(const struct fetch *F, const struct td_imap_stats *st)
{
    printf("%zu new message%s:", F->seen, F->seen == 1 ? "" : "s");
    td_triage_table_print_tiers(F->by_tier);
    if (F->failed || st->skipped)
        printf("; %zu failed (see stderr)", F->failed + st->skipped);
    if (st->duplicates || F->duplicates)
        printf("; %zu already analysed", st->duplicates + F->duplicates);
    if (F->desk)
        printf("; %zu filed into the desk", F->filed);
    printf("\n");
    td_triage_table_print(&F->table);
}

/* ---- one message ---------------------------------------------------------------------- */

/*
 * The raw message becomes a td_message through the MIME reader
 * (td_email_parse: decoded text without quotes and signature, sender,
 * date, Message-ID; the original kept byte for byte).  source is the
 * mailbox URL with ;UIDVALIDITY and ;UID: a reference that finds the
 * message on the server again.
 */
static int to_message(const struct fetch *F, const struct td_imap_msg *im, struct td_message *m,
                      struct td_error *err)
{
    char source[1200];
    snprintf(source, sizeof source, "%s;UIDVALIDITY=%u/;UID=%u", im->mailbox,
             (unsigned)im->uidvalidity, (unsigned)im->uid);
    struct td_email_opts eo;
    td_email_opts_default(&eo);
    /* what --max-message lets through is kept whole */
    if (F->max_original > eo.max_original)
        eo.max_original = F->max_original;
    int rc = td_email_parse(im->data, im->len, source, &eo, m, err);
    if (rc != TD_OK)
        return rc;
    if (!m->channel && td_message_set(&m->channel, "email", 5) != TD_OK)
        return td_error_set(err, TD_ENOMEM, "message UID %u", (unsigned)im->uid);
    m->record = im->uid;
    return TD_OK;
}

static void print_error_json(const char *id, const struct td_error *err)
{
    json_t *o = json_pack("{s:s?,s:{s:s,s:s}}", "id", id, "error", "code", td_errname(err->code),
                          "message", err->message[0] ? err->message : td_strerror(err->code));
    if (!o)
        return;
    json_dumpf(o, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
    fputc('\n', stdout);
    json_decref(o);
}

static int on_message(void *ud, const struct td_imap_msg *im, struct td_error *err)
{
    struct fetch *F = ud;
    struct td_message m;
    struct td_verdict v;
    td_message_init(&m);
    td_verdict_init(&v);
    F->seen++;
    int rc = to_message(F, im, &m, err);
    if (rc != TD_OK && rc != TD_ENOMEM) {
        /* not a message at all: it will not parse better next time, so
         * report it as a failed record and go on */
        char id[32];
        snprintf(id, sizeof id, "imap-uid:%u", (unsigned)im->uid);
        td_cli_error("fetch", err);
        if (F->json)
            print_error_json(id, err);
        F->failed++;
        td_error_clear(err);
        rc = TD_OK;
        goto out;
    }
    struct td_pipeline_result pr;
    memset(&pr, 0, sizeof pr);
    if (rc == TD_OK)
        rc = td_pipeline_process(F->pipe, &m, NULL, &v, &pr, err);
    if (rc != TD_OK) {
        /* out of memory or the store failed: stop, and this message is
         * fetched again next time rather than lost */
        goto out;
    }
    if (pr.duplicate) {
        F->duplicates++;
        if (F->json) {
            json_t *o = json_pack("{s:s,s:s,s:I}", "id", m.id ? m.id : "", "duplicate_of",
                                  pr.dup_of, "uid", (json_int_t)im->uid);
            if (o)
                json_dumpf(o, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
            fputc('\n', stdout);
            json_decref(o);
        }
        goto out;
    }
    if (pr.code) {
        /* refused by the desk (a withheld original, ...): reported, and not
         * fetched again - it would be refused again */
        char id[32];
        snprintf(id, sizeof id, "imap-uid:%u", (unsigned)im->uid);
        td_cli_error("fetch", err);
        if (F->json)
            print_error_json(m.id ? m.id : id, err);
        F->failed++;
        td_error_clear(err);
        goto out;
    }
    if (F->desk)
        F->filed++;
    F->by_tier[v.severity]++;
    if (F->json) {
        json_t *o = td_verdict_to_json(&v, m.text, m.text_len);
        /* what a caseworker needs to find the mail in their own client */
        json_t *out = td_cli_message_json(&m);
        if (!o || !out) {
            json_decref(o);
            json_decref(out);
            rc = td_error_set(err, TD_ENOMEM, "JSON output");
            goto out;
        }
        json_object_set_new(out, "uid", json_integer(im->uid));
        if (F->desk)
            json_object_set_new(out, "desk_id", json_integer(pr.id));
        json_object_update(out, o);
        json_decref(o);
        json_dumpf(out, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
        fputc('\n', stdout);
        fflush(stdout);
        json_decref(out);
    } else {
        td_triage_table_add(&F->table, &m, &v);
    }
out:
    td_verdict_release(&v);
    td_message_release(&m);
    return rc;
}

static void on_skip(void *ud, uint32_t uid, const struct td_error *err)
{
    struct fetch *F = ud;
    char id[32];
    snprintf(id, sizeof id, "imap-uid:%u", (unsigned)uid);
    td_cli_error("fetch", err);
    if (F->json)
        print_error_json(id, err);
}

/* ---- the command ------------------------------------------------------------------------ */

int td_cmd_fetch(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},   {"state", required_argument, 0, 's'},
        {"limit", required_argument, 0, 'l'},    {"max-message", required_argument, 0, 'm'},
        {"require-tls", no_argument, 0, 'R'},    {"ca-file", required_argument, 0, 'A'},
        {"timeout", required_argument, 0, 'o'},  {"json", no_argument, 0, 'j'},
        {"top", required_argument, 0, 'n'},      {"model", required_argument, 0, 'M'},
        {"home", required_argument, 0, 'H'},     {"db", required_argument, 0, 'd'},
        {"data-dir", required_argument, 0, 'D'}, {"office", required_argument, 0, 'O'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *db = NULL, *data_dir = NULL, *office = "default";
    struct td_actor actor;
    struct td_imap_opts io = {0};
    struct fetch F = {0};
    struct creds cr = {0};
    size_t top = 50;
    const char *config = NULL, *state = NULL, *home = NULL, *model = NULL;
    int c, status = 2;
    size_t v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 's':
            state = optarg;
            break;
        case 'l':
            if (td_cli_positive("fetch", optarg, 100000000, "--limit takes a positive number", &v))
                return 2;
            io.max_messages = v;
            break;
        case 'm':
            if (td_cli_positive("fetch", optarg, (size_t)1 << 30,
                                "--max-message takes a byte count up to 1 GiB", &v))
                return 2;
            io.max_message = v;
            break;
        case 'R':
            io.require_tls = 1;
            break;
        case 'A':
            io.ca_file = optarg;
            break;
        case 'o':
            if (td_cli_positive("fetch", optarg, 3600, "--timeout takes 1 to 3600 seconds", &v))
                return 2;
            io.timeout = (long)v;
            break;
        case 'j':
            F.json = 1;
            break;
        case 'n':
            if (td_cli_positive("fetch", optarg, 1000000, "--top takes a number from 1 to 1000000",
                                &v))
                return 2;
            top = v;
            break;
        case 'M':
            model = optarg;
            break;
        case 'H':
            home = optarg;
            break;
        case 'd':
            db = optarg;
            break;
        case 'D':
            data_dir = optarg;
            break;
        case 'O':
            office = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    io.url = argv[optind];
    if (get_creds(config, &cr) != 0)
        goto out;
    io.user = cr.user;
    io.password = cr.password;

    char state_buf[4096];
    if (!state)
        state = cr.state;
    if (!state) {
        if (xdg_path("XDG_STATE_HOME", ".local/state", "imap-state.json", state_buf,
                     sizeof state_buf) != 0) {
            td_cli_fail("fetch", "no --state given and no $HOME to keep the state in");
            goto out;
        }
        state = state_buf;
    }
    if (make_parents(state) != 0) {
        td_cli_fail("fetch", "cannot create the directory for %s: %s", state, strerror(errno));
        goto out;
    }
    io.state_path = state;

    struct td_error err;
    td_error_clear(&err);
    if (td_cli_open_analyser("fetch", home, model, &F.an, &F.ctx))
        goto out;
    if (db || data_dir) {
        if (td_cli_open_desk("fetch", db, data_dir, home, &F.desk))
            goto out;
        if (td_desk_operator(F.desk, office, &actor, &err)) {
            td_cli_error("fetch", &err);
            goto out;
        }
    }
    struct td_pipeline_opts po = {0};
    po.ctx = F.ctx;
    po.desk = F.desk;
    po.actor = F.desk ? &actor : NULL;
    if (td_pipeline_new(&po, &F.pipe, &err)) {
        td_cli_error("fetch", &err);
        goto out;
    }
    F.max_original = io.max_message ? io.max_message : (size_t)32 << 20;
    if (td_triage_table_init(&F.table, top)) {
        td_cli_fail("fetch", "out of memory");
        goto out;
    }
    struct td_imap_stats st;
    int rc = td_imap_fetch(&io, on_message, on_skip, &F, &st, &err);
    if (!F.json)
        print_table(&F, &st);
    if (rc != TD_OK) {
        td_cli_error("fetch", &err);
        if (F.json)
            print_error_json(NULL, &err);
        status = 2;
    } else {
        status = st.skipped || F.failed ? 1 : 0;
    }
    if (st.uidvalidity_changed)
        fprintf(stderr,
                "threatdesk fetch: the mailbox was renumbered (UIDVALIDITY %u); it was read "
                "again and %zu message%s already analysed were skipped\n",
                (unsigned)st.uidvalidity, st.duplicates, st.duplicates == 1 ? "" : "s");
    fflush(stdout);
out:
    td_pipeline_free(F.pipe);
    td_desk_close(F.desk);
    td_triage_table_release(&F.table);
    td_analysis_ctx_free(F.ctx);
    td_analyser_free(F.an);
    creds_free(&cr);
    return status;
}
