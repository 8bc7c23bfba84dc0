/*
 * cmd_alerts.c - `threatdesk alerts`: an office's alert recipients and
 * rules, its alerts, and one pass of the delivery worker, for the local
 * operator (desk.h "alerts"; the server offers the same over HTTP).
 *
 *   alerts recipient add --office O --name N [--email E] [--webhook-url U]
 *          the webhook's secret from $THREATDESK_WEBHOOK_SECRET, never argv
 *   alerts recipient list --office O
 *   alerts rule add --office O --name N --min-tier T --channels email,webhook
 *          --rota ID[,ID...] [--labels L,..] [--flags F,..] [--quiet HH:MM-HH:MM]
 *          [--escalate MINUTES] [--disclose minimal|subject]
 *   alerts rule list --office O
 *   alerts list --office O [--open]          one JSON object a line
 *   alerts ack --office O ID                 audited
 *   alerts run [--alerts-config FILE]        escalate and send what is due
 *          once (cron, or a desk whose server is down); SMTP settings from the
 *          file or THREATDESK_SMTP_* variables
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/desk_open.h"
#include "threatdesk/alert.h"
#include "threatdesk/desk.h"
#include "threatdesk/pipeline.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: threatdesk alerts recipient add --office O --name N [--email E] "
               "[--webhook-url URL]\n"
               "         (the webhook's secret from $THREATDESK_WEBHOOK_SECRET)\n"
               "       threatdesk alerts recipient list --office O\n"
               "       threatdesk alerts rule add --office O --name N --min-tier TIER --channels "
               "C[,C] --rota ID[,ID]\n"
               "         [--labels L[,L]] [--flags F[,F]] [--quiet HH:MM-HH:MM] [--escalate MIN]\n"
               "         [--disclose minimal|subject]\n"
               "       threatdesk alerts rule list --office O\n"
               "       threatdesk alerts list --office O [--open]\n"
               "       threatdesk alerts ack --office O ID\n"
               "       threatdesk alerts run [--alerts-config FILE]\n"
               "options: --db PATH  --data-dir DIR  --home DIR\n");
}

struct opts {
    const char *db, *data, *home, *office, *name, *email, *url, *tier, *channels, *rota, *labels,
        *flags, *quiet, *escalate, *disclose, *config;
    int open;
};

/* "a,b,c" -> a JSON array of strings (or of integers with ints). */
static json_t *csv_array(const char *s, int ints)
{
    json_t *a = json_array();
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", s ? s : "");
    char *p = buf;
    while (a && p && *p) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (ints) {
            char *end = NULL;
            long long v = strtoll(p, &end, 10);
            json_array_append_new(a, end && !*end && end != p ? json_integer(v) : json_string(p));
        } else {
            json_array_append_new(a, json_string(p));
        }
        p = comma ? comma + 1 : NULL;
    }
    return a;
}

static void print_rows(json_t *rows)
{
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        char *line = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (line)
            printf("%s\n", line);
        free(line);
    }
}

static int rule_fields(const struct opts *o, json_t **out, struct td_error *err)
{
    json_t *f = json_pack("{s:s?, s:s?, s:o, s:o}", "name", o->name, "min_tier", o->tier,
                          "channels", csv_array(o->channels, 0), "rota", csv_array(o->rota, 1));
    if (!f)
        return td_error_set(err, TD_ENOMEM, NULL);
    if (o->labels)
        json_object_set_new(f, "labels", csv_array(o->labels, 0));
    if (o->flags)
        json_object_set_new(f, "flags", csv_array(o->flags, 0));
    if (o->disclose)
        json_object_set_new(f, "disclose", json_string(o->disclose));
    if (o->escalate) {
        char *end = NULL;
        long long v = strtoll(o->escalate, &end, 10);
        json_object_set_new(f, "escalate_minutes",
                            end && !*end && end != o->escalate ? json_integer(v) : json_null());
        if (!end || *end || end == o->escalate) {
            json_decref(f);
            td_error_field(err, "escalate");
            return td_error_set(err, TD_EINVAL, "--escalate must be a number of minutes");
        }
    }
    if (o->quiet) {
        char a[16] = "", b[16] = "";
        const char *dash = strchr(o->quiet, '-');
        if (dash && dash - o->quiet < (long)sizeof a) {
            memcpy(a, o->quiet, (size_t)(dash - o->quiet));
            snprintf(b, sizeof b, "%s", dash + 1);
        }
        json_object_set_new(f, "quiet_hours", json_pack("{s:s, s:s}", "start", a, "end", b));
    }
    *out = f;
    return TD_OK;
}

static int run_once(struct td_desk *d, const struct opts *o, struct td_error *err)
{
    struct td_alert_config c;
    struct td_alert_run_stats st;
    int rc;
    td_alert_config_init(&c);
    if ((o->config && *o->config && (rc = td_alert_config_load_file(&c, o->config, err))) ||
        (rc = td_alert_config_apply_env(&c, err)))
        return rc;
    rc = td_desk_alerts_run(d, &c, 0, &st, err);
    sodium_memzero(&c, sizeof c);
    if (!rc)
        printf("escalated %zu, delivered %zu, retrying %zu, gave up %zu\n", st.escalated,
               st.delivered, st.retrying, st.gave_up);
    return rc;
}

static int dispatch(struct td_desk *d, const struct td_actor *op, const struct opts *o,
                    const char *verb, const char *what, const char *arg, struct td_error *err)
{
    json_t *out = NULL, *in = NULL;
    int rc = TD_EINVAL;
    if (!strcmp(verb, "recipient") && !strcmp(what, "add")) {
        const char *secret = getenv("THREATDESK_WEBHOOK_SECRET");
        in = json_pack("{s:s?, s:s?, s:s?, s:s?}", "name", o->name, "email", o->email,
                       "webhook_url", o->url, "webhook_secret", o->url ? secret : NULL);
        rc = in ? td_desk_alert_recipient_add(d, op, in, &out, err)
                : td_error_set(err, TD_EINVAL, "an option is not valid UTF-8");
        if (!rc)
            printf("recipient %lld\n", (long long)json_integer_value(json_object_get(out, "id")));
    } else if (!strcmp(verb, "recipient") && !strcmp(what, "list")) {
        if (!(rc = td_desk_alert_recipient_list(d, op, &out, err)))
            print_rows(json_object_get(out, "recipients"));
    } else if (!strcmp(verb, "rule") && !strcmp(what, "add")) {
        if (!(rc = rule_fields(o, &in, err)) &&
            !(rc = td_desk_alert_rule_add(d, op, in, &out, err)))
            printf("rule %lld\n", (long long)json_integer_value(json_object_get(out, "id")));
    } else if (!strcmp(verb, "rule") && !strcmp(what, "list")) {
        if (!(rc = td_desk_alert_rule_list(d, op, &out, err)))
            print_rows(json_object_get(out, "rules"));
    } else if (!strcmp(verb, "list")) {
        if (!(rc = td_desk_alert_list(d, op, o->open, 500, &out, err)))
            print_rows(json_object_get(out, "alerts"));
    } else if (!strcmp(verb, "ack")) {
        char *end = NULL;
        long long id = strtoll(arg ? arg : "", &end, 10);
        if (!arg || !end || *end || id <= 0)
            rc = td_error_set(err, TD_EINVAL, "'%s' is not an alert id", arg ? arg : "");
        else if (!(rc = td_desk_alert_ack(d, op, id, err)))
            printf("acknowledged alert %lld of office %s\n", id, o->office);
    }
    json_decref(in);
    json_decref(out);
    return rc;
}

int td_cmd_alerts(int argc, char **argv)
{
    static const struct option lo[] = {
        {"db", required_argument, NULL, 'd'},
        {"data-dir", required_argument, NULL, 'D'},
        {"home", required_argument, NULL, 'H'},
        {"office", required_argument, NULL, 'o'},
        {"name", required_argument, NULL, 'n'},
        {"email", required_argument, NULL, 'e'},
        {"webhook-url", required_argument, NULL, 'u'},
        {"min-tier", required_argument, NULL, 't'},
        {"channels", required_argument, NULL, 'c'},
        {"rota", required_argument, NULL, 'r'},
        {"labels", required_argument, NULL, 'l'},
        {"flags", required_argument, NULL, 'f'},
        {"quiet", required_argument, NULL, 'q'},
        {"escalate", required_argument, NULL, 'E'},
        {"disclose", required_argument, NULL, 'x'},
        {"alerts-config", required_argument, NULL, 'A'},
        {"open", no_argument, NULL, 'O'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct opts o;
    int c;
    memset(&o, 0, sizeof o);
    o.config = getenv("THREATDESK_ALERTS_CONFIG");
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.db = optarg;
            break;
        case 'D':
            o.data = optarg;
            break;
        case 'H':
            o.home = optarg;
            break;
        case 'o':
            o.office = optarg;
            break;
        case 'n':
            o.name = optarg;
            break;
        case 'e':
            o.email = optarg;
            break;
        case 'u':
            o.url = optarg;
            break;
        case 't':
            o.tier = optarg;
            break;
        case 'c':
            o.channels = optarg;
            break;
        case 'r':
            o.rota = optarg;
            break;
        case 'l':
            o.labels = optarg;
            break;
        case 'f':
            o.flags = optarg;
            break;
        case 'q':
            o.quiet = optarg;
            break;
        case 'E':
            o.escalate = optarg;
            break;
        case 'x':
            o.disclose = optarg;
            break;
        case 'A':
            o.config = optarg;
            break;
        case 'O':
            o.open = 1;
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
    const char *what = npos > 1 ? argv[optind + 1] : "";
    int nested = !strcmp(verb, "recipient") || !strcmp(verb, "rule");
    int ok = (nested && npos == 2 && (!strcmp(what, "add") || !strcmp(what, "list"))) ||
             (!strcmp(verb, "list") && npos == 1) || (!strcmp(verb, "ack") && npos == 2) ||
             (!strcmp(verb, "run") && npos == 1);
    if (!ok || (strcmp(verb, "run") && !o.office)) {
        usage(stderr);
        return 2;
    }
    struct td_desk *d = NULL;
    struct td_actor op;
    struct td_error err;
    int rc;
    td_error_clear(&err);
    if (td_cli_open_desk("alerts", o.db, o.data, o.home, &d))
        return 2;
    if (!strcmp(verb, "run"))
        rc = run_once(d, &o, &err);
    else if (!(rc = td_desk_operator(d, o.office, &op, &err)))
        rc = dispatch(d, &op, &o, verb, what, !strcmp(verb, "ack") ? what : NULL, &err);
    if (rc)
        td_cli_error("alerts", &err);
    td_desk_close(d);
    return rc == TD_OK ? 0 : rc == TD_ENOTFOUND || rc == TD_EINVAL || rc == TD_EEXISTS ? 1 : 2;
}
