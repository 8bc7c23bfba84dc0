/*
 * alerts.c - the desk's side of alerts (desk.h "alerts"): rules and
 * recipients, the outbox written while a message is filed, the worker pass
 * that escalates and delivers, and acknowledgement.
 *
 * Delivery guarantee, and why it is "at least once, recognisably the same":
 * a delivery is claimed (leased) in one transaction, sent with no lock
 * held, and its outcome recorded in another.  If the process dies after
 * the receiver accepted but before the record commits, the lease runs out
 * and the delivery is sent again - with the same Message-ID / alert id, so
 * the receiver (or the person) can tell it is the same alert.  No sender
 * can do better across a crash without the receiver's help: SMTP has no
 * idempotent submit.  What is guaranteed: never lost, never a second alert
 * for the same message and rule (UNIQUE in the schema), and every attempt
 * on record.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "desk/desk_int.h"
#include "desk/render.h"
#include "threatdesk/alert.h"
#include "threatdesk/taxonomy.h"

#define RULES_MAX 64
#define LIST_DEFAULT 50
#define LIST_MAX 500
#define NAME_MAX_LEN 100

/* ---- roles and small helpers ---------------------------------------------- */

static int configures(const struct td_actor *a)
{
    return a && (a->role == TD_ROLE_ADMIN || a->role == TD_ROLE_SECURITY);
}

static int bad(struct td_error *err, const char *field, const char *why)
{
    td_error_field(err, field);
    return td_error_set(err, TD_EINVAL, "%s", why);
}

/* The minute of the office's day: the server's local time zone. */
static int minute_of_day(int64_t now)
{
    struct tm tm;
    time_t t = (time_t)now;
    if (!localtime_r(&t, &tm))
        return -1;
    return tm.tm_hour * 60 + tm.tm_min;
}

/* ---- the ack links' key ------------------------------------------------------ */

/* Under d->lock.  The key lives beside the evidence, 0600, made on first
 * use: a copy of the database alone cannot mint or read ack links. */
static int ack_key(struct td_desk *d, struct td_error *err)
{
    char path[1200];
    if (d->alert_key_loaded)
        return TD_OK;
    snprintf(path, sizeof path, "%s/alert-ack.key", d->data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        unsigned char k[32];
        randombytes_buf(k, sizeof k);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            int ok = write(fd, k, sizeof k) == (ssize_t)sizeof k && fsync(fd) == 0;
            close(fd);
            sodium_memzero(k, sizeof k);
            if (!ok)
                return td_error_set(err, TD_EIO, "%s: cannot write", path);
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0)
        return td_error_set(err, TD_EIO, "%s: %s", path, strerror(errno));
    ssize_t n = read(fd, d->alert_key, sizeof d->alert_key);
    close(fd);
    if (n != (ssize_t)sizeof d->alert_key)
        return td_error_set(err, TD_EIO, "%s: not a 32-byte key", path);
    d->alert_key_loaded = 1;
    return TD_OK;
}

/* "<id>-<64 hex>" into out[96]. */
static void ack_token(const struct td_desk *d, int64_t alert_id, char out[96])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char msg[40];
    int n = snprintf(msg, sizeof msg, "ack:%lld", (long long)alert_id);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, d->alert_key, sizeof d->alert_key);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, (unsigned long long)n);
    crypto_auth_hmacsha256_final(&st, mac);
    int k = snprintf(out, 96, "%lld-", (long long)alert_id);
    sodium_bin2hex(out + k, (size_t)(96 - k), mac, sizeof mac);
}

/* ---- filing: the outbox in the message's transaction ------------------------ */

struct matched {
    int64_t rule_id;
    unsigned channels;
    int64_t first; /* rota[0] */
};

struct match_ctx {
    int severity, minute;
    unsigned labels, flags;
    struct matched m[RULES_MAX];
    size_t n;
};

static int64_t rota_at(const char *rota, size_t i)
{
    json_t *a = json_loads(rota ? rota : "[]", 0, NULL);
    json_t *v = json_array_get(a, i);
    int64_t id = json_is_integer(v) ? json_integer_value(v) : 0;
    json_decref(a);
    return id;
}

/* A stored rule as the matcher reads it. */
static struct td_alert_rule rule_of(const struct td_store_alert_rule *r)
{
    return (struct td_alert_rule){
        .id = r->id,
        .min_severity = r->min_severity,
        .labels = r->labels,
        .flags = r->flags,
        .channels = r->channels,
        .quiet_start = r->quiet_start,
        .quiet_end = r->quiet_end,
        .escalate_min = r->escalate_minutes,
        .disclose = r->disclose,
    };
}

static int match_cb(void *ud, const struct td_store_alert_rule *r)
{
    struct match_ctx *c = ud;
    struct td_alert_rule ar = rule_of(r);
    if (c->n >= RULES_MAX ||
        !td_alert_rule_matches(&ar, c->severity, c->labels, c->flags, c->minute))
        return 0;
    c->m[c->n].rule_id = r->id;
    c->m[c->n].channels = r->channels;
    c->m[c->n].first = rota_at(r->rota, 0);
    c->n++;
    return 0;
}

/* An enabled rule as a batch keeps it (d->batch). */
struct td__rule_row {
    struct td_alert_rule ar;
    int64_t first;
};

struct keep_ctx {
    struct td__batch_reads *b;
    int nomem;
};

static int keep_cb(void *ud, const struct td_store_alert_rule *r)
{
    struct keep_ctx *k = ud;
    struct td__batch_reads *b = k->b;
    if (b->nrules == b->caprules) {
        size_t cap = b->caprules ? 2 * b->caprules : 16;
        struct td__rule_row *n = realloc(b->rules, cap * sizeof *n);
        if (!n) {
            k->nomem = 1;
            return 1; /* stops the load */
        }
        b->rules = n;
        b->caprules = cap;
    }
    struct td__rule_row *x = &b->rules[b->nrules++];
    x->ar = rule_of(r);
    x->first = rota_at(r->rota, 0);
    return 0;
}

/* The rules a message matches, from the batch's copy of the office's
 * rules (loaded at its first message that could alert): one query per
 * batch instead of one per message. */
static int match_batch(struct td_desk *d, int64_t office, struct match_ctx *c, struct td_error *err)
{
    struct td__batch_reads *b = &d->batch;
    if (b->rules_office != office) {
        struct keep_ctx k = {b, 0};
        b->nrules = 0;
        int rc = d->store->ops->alert_rule_load(d->store, office, keep_cb, &k, err);
        if (rc)
            return rc;
        if (k.nomem)
            return td_error_set(err, TD_ENOMEM, NULL);
        b->rules_office = office;
    }
    for (size_t i = 0; i < b->nrules && c->n < RULES_MAX; i++) {
        const struct td__rule_row *x = &b->rules[i];
        if (!td_alert_rule_matches(&x->ar, c->severity, c->labels, c->flags, c->minute))
            continue;
        c->m[c->n].rule_id = x->ar.id;
        c->m[c->n].channels = x->ar.channels;
        c->m[c->n].first = x->first;
        c->n++;
    }
    return TD_OK;
}

void td__batch_reads_end(struct td_desk *d)
{
    free(d->batch.rules);
    memset(&d->batch, 0, sizeof d->batch);
    d->batch.fb_office = d->batch.rules_office = -1;
}

int td__alerts_enqueue(struct td_desk *d, const struct td_actor *actor, int64_t message_id,
                       int severity, unsigned labels, unsigned flags, int64_t now, int64_t *browser,
                       size_t cap, size_t *n, size_t *made, struct td_error *err)
{
    struct td_store *s = d->store;
    struct match_ctx *c;
    int rc;
    *n = 0;
    *made = 0;
    if (severity <= TD_SEVERITY_NONE)
        return TD_OK; /* no rule alerts on nothing: skip the query */
    if (!(c = calloc(1, sizeof *c)))
        return td_error_set(err, TD_ENOMEM, NULL);
    c->severity = severity;
    c->labels = labels;
    c->flags = flags;
    c->minute = minute_of_day(now);
    if ((rc = d->batch.open ? match_batch(d, actor->office_id, c, err)
                            : s->ops->alert_rule_load(s, actor->office_id, match_cb, c, err)))
        goto out;
    for (size_t i = 0; i < c->n; i++) {
        int64_t id;
        int created = 0;
        size_t added = 0;
        if ((rc = s->ops->alert_insert(s, actor->office_id, message_id, c->m[i].rule_id, now, &id,
                                       &created, err)))
            goto out;
        if (!created)
            continue;
        (*made)++;
        if (c->m[i].first &&
            (rc = s->ops->alert_deliveries_add(s, actor->office_id, id, 0, c->m[i].first,
                                               c->m[i].channels, now, &added, err)))
            goto out;
        json_t *det = json_pack("{s:I, s:I, s:I}", "message", (json_int_t)message_id, "rule",
                                (json_int_t)c->m[i].rule_id, "deliveries", (json_int_t)added);
        rc = td__audit(d, actor, actor->office_id, "alert.create", "alert", id, det, err);
        json_decref(det);
        if (rc)
            goto out;
        if ((c->m[i].channels & TD_ALERT_BROWSER) && *n < cap)
            browser[(*n)++] = id;
    }
out:
    free(c);
    return rc;
}

void td__alerts_notify(struct td_desk *d, int64_t office_id, const int64_t *ids, size_t n,
                       int64_t message_id, int severity)
{
    td__lock(d);
    td_alert_listener *cb = d->alert_listener;
    void *ud = d->alert_listener_ud;
    td__unlock(d);
    for (size_t i = 0; cb && i < n; i++)
        cb(ud, office_id, ids[i], message_id, severity);
}

void td_desk_set_alert_listener(struct td_desk *d, td_alert_listener *cb, void *ud)
{
    td__lock(d);
    d->alert_listener = cb;
    d->alert_listener_ud = ud;
    td__unlock(d);
}

/* ---- recipients and rules ----------------------------------------------------- */

static const char *opt_str(const json_t *o, const char *k, int *bad_type)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *bad_type = 1;
        return NULL;
    }
    return json_string_value(v);
}

static int check_name(const json_t *fields, const char **name, struct td_error *err)
{
    int bt = 0;
    *name = opt_str(fields, "name", &bt);
    if (bt || !*name || !**name || strlen(*name) > NAME_MAX_LEN || !td_alert_header_safe(*name))
        return bad(err, "name", "name is required: 1 to 100 characters, no control characters");
    return TD_OK;
}

static int known_keys(const json_t *o, const char *const *keys, size_t n, struct td_error *err)
{
    const char *k;
    json_t *v;
    if (!json_is_object(o))
        return td_error_set(err, TD_EINVAL, "expected a JSON object");
    json_object_foreach((json_t *)o, k, v)
    {
        size_t i;
        for (i = 0; i < n && strcmp(k, keys[i]); i++)
            ;
        if (i == n) {
            td_error_field(err, k);
            return td_error_set(err, TD_EINVAL, "unknown field '%s'", k);
        }
    }
    return TD_OK;
}

int td_desk_alert_recipient_add(struct td_desk *d, const struct td_actor *actor,
                                const json_t *fields, json_t **out, struct td_error *err)
{
    static const char *const keys[] = {"name", "email", "webhook_url", "webhook_secret"};
    const char *name, *email, *url, *secret;
    int bt = 0, rc;
    int64_t id = 0;
    *out = NULL;
    if (!configures(actor))
        return td__denied(err, "configure alerts");
    if ((rc = known_keys(fields, keys, 4, err)) || (rc = check_name(fields, &name, err)))
        return rc;
    email = opt_str(fields, "email", &bt);
    if (bt || (email && !td_alert_valid_email(email)))
        return bad(err, "email", "email must be one plain address (local@domain)");
    url = opt_str(fields, "webhook_url", &bt);
    if (bt || (url && !td_alert_valid_url(url)))
        return bad(err, "webhook_url", "webhook_url must be an http:// or https:// URL");
    secret = opt_str(fields, "webhook_secret", &bt);
    if (bt || (url && (!secret || strlen(secret) < 16 || strlen(secret) > 200)) ||
        (secret && !url) || (secret && !td_alert_header_safe(secret)))
        return bad(err, "webhook_secret",
                   "a webhook needs webhook_secret: 16 to 200 characters, shared with the "
                   "receiver");
    if (!email && !url)
        return bad(err, "email", "a recipient needs an email or a webhook_url");
    td__lock(d);
    if (!(rc = td__begin(d, err))) {
        rc = d->store->ops->alert_recipient_insert(d->store, actor->office_id, name, email, url,
                                                   secret, td__now(), &id, err);
        if (rc == TD_EEXISTS)
            td_error_field(err, "name");
        if (!rc) {
            json_t *det = json_pack("{s:s, s:b, s:b}", "name", name, "email", email != NULL,
                                    "webhook", url != NULL);
            rc = td__audit(d, actor, actor->office_id, "alert_recipient.create", "alert_recipient",
                           id, det, err);
            json_decref(det);
        }
        rc = td__end(d, rc, err);
    }
    td__unlock(d);
    if (!rc && !(*out = json_pack("{s:I}", "id", (json_int_t)id)))
        rc = td_error_set(err, TD_ENOMEM, NULL);
    return rc;
}

/* A text column as JSON: null when the store has none. */
static json_t *text_or_null(const char *t)
{
    return t ? json_string(t) : json_null();
}

/* {"id","name","email","webhook_url","webhook_secret": bool,"created"} */
static int recipient_json(void *ud, const struct td_store_recipient_row *r)
{
    json_t *o = json_pack("{s:I, s:o, s:o, s:o, s:b, s:I}", "id", (json_int_t)r->id, "name",
                          text_or_null(r->name), "email", text_or_null(r->email), "webhook_url",
                          text_or_null(r->webhook_url), "webhook_secret", r->has_secret, "created",
                          (json_int_t)r->created);
    return !o || json_array_append_new((json_t *)ud, o) ? TD_ENOMEM : TD_OK;
}

/* The names of the set bits, in bit order. */
static json_t *bit_names(unsigned bits, unsigned n, const char *(*name)(int))
{
    json_t *a = json_array();
    for (unsigned i = 0; a && i < n; i++)
        if (bits & (1u << i) && name((int)i))
            json_array_append_new(a, json_string(name((int)i)));
    return a;
}

static const char *channel_bit_name(int i)
{
    return td_alert_channel_name(1u << i);
}

/* {"id","name","min_tier","labels":[..],"flags":[..],"channels":[..],
 *  "quiet_hours"?:{"start","end"},"escalate_minutes","rota":[ids],
 *  "disclose","enabled","created","created_by"} */
static int rule_json(void *ud, const struct td_store_alert_rule *ru)
{
    json_t *rota = json_loads(ru->rota ? ru->rota : "[]", 0, NULL);
    const char *tier = td_severity_name(ru->min_severity);
    json_t *o = json_pack("{s:I, s:s?, s:s, s:o, s:o, s:o, s:i, s:o, s:s, s:b, s:I, s:I}", "id",
                          (json_int_t)ru->id, "name", ru->name, "min_tier", tier ? tier : "none",
                          "labels", bit_names(ru->labels, TD_LABEL_COUNT, td_label_name), "flags",
                          bit_names(ru->flags, TD_FLAG_COUNT, td_flag_name), "channels",
                          bit_names(ru->channels, 3, channel_bit_name), "escalate_minutes",
                          (int)ru->escalate_minutes, "rota", rota ? rota : json_array(), "disclose",
                          ru->disclose == TD_ALERT_DISCLOSE_SUBJECT ? "subject" : "minimal",
                          "enabled", ru->enabled, "created", (json_int_t)ru->created, "created_by",
                          (json_int_t)ru->created_by);
    if (o && ru->quiet_start >= 0) {
        char qs[32], qe[32];
        snprintf(qs, sizeof qs, "%02d:%02d", ru->quiet_start / 60, ru->quiet_start % 60);
        snprintf(qe, sizeof qe, "%02d:%02d", ru->quiet_end / 60, ru->quiet_end % 60);
        json_object_set_new(o, "quiet_hours", json_pack("{s:s, s:s}", "start", qs, "end", qe));
    }
    return !o || json_array_append_new((json_t *)ud, o) ? TD_ENOMEM : TD_OK;
}

static int list_recipients(struct td_desk *d, int64_t office, json_t *a, struct td_error *err)
{
    return d->store->ops->alert_recipient_list(d->store, office, recipient_json, a, err);
}

static int list_rules(struct td_desk *d, int64_t office, json_t *a, struct td_error *err)
{
    return d->store->ops->alert_rule_list(d->store, office, rule_json, a, err);
}

/* {key: [...]} of the office's alert settings, rows rendered by list. */
static int settings_list(struct td_desk *d, const struct td_actor *actor, const char *key,
                         int (*list)(struct td_desk *, int64_t, json_t *, struct td_error *),
                         json_t **out, struct td_error *err)
{
    json_t *a = json_array();
    *out = NULL;
    if (!td__is_staff(actor)) {
        json_decref(a);
        return td__denied(err, "read the office's alert settings");
    }
    if (!a)
        return td_error_set(err, TD_ENOMEM, NULL);
    td__lock(d);
    int rc = list(d, actor->office_id, a, err);
    td__unlock(d);
    if (rc == TD_ENOMEM)
        td_error_set(err, TD_ENOMEM, NULL);
    if (!rc && !(*out = json_pack("{s:O}", key, a)))
        rc = td_error_set(err, TD_ENOMEM, NULL);
    json_decref(a);
    return rc;
}

int td_desk_alert_recipient_list(struct td_desk *d, const struct td_actor *actor, json_t **out,
                                 struct td_error *err)
{
    return settings_list(d, actor, "recipients", list_recipients, out, err);
}

int td_desk_alert_rule_list(struct td_desk *d, const struct td_actor *actor, json_t **out,
                            struct td_error *err)
{
    return settings_list(d, actor, "rules", list_rules, out, err);
}

/* A JSON array of names -> bits by `from_name`; TD_EINVAL naming field. */
static int name_bits(const json_t *o, const char *field, int (*from_name)(const char *),
                     unsigned *out, struct td_error *err)
{
    json_t *a = json_object_get(o, field), *v;
    size_t i;
    *out = 0;
    if (!a || json_is_null(a))
        return TD_OK;
    if (!json_is_array(a))
        return bad(err, field, "expected an array of names");
    json_array_foreach(a, i, v)
    {
        int b = json_is_string(v) ? from_name(json_string_value(v)) : -1;
        if (b < 0) {
            td_error_field(err, field);
            return td_error_set(err, TD_EINVAL, "%s[%zu] is not a known name", field, i);
        }
        *out |= 1u << b;
    }
    return TD_OK;
}

static int flag_from_name(const char *s)
{
    for (int i = 0; i < TD_FLAG_COUNT; i++)
        if (!strcmp(s, td_flag_name(i)))
            return i;
    return -1;
}

static int channel_from_name(const char *s)
{
    int b = td_alert_channel_bit(s);
    for (int i = 0; b > 0 && i < 3; i++)
        if (b == (1 << i))
            return i;
    return -1;
}

int td_desk_alert_rule_add(struct td_desk *d, const struct td_actor *actor, const json_t *fields,
                           json_t **out, struct td_error *err)
{
    static const char *const keys[] = {"name",     "min_tier",    "labels",           "flags",
                                       "channels", "quiet_hours", "escalate_minutes", "rota",
                                       "disclose"};
    struct td_store_alert_rule r;
    const char *name, *s;
    int bt = 0, rc;
    int64_t id = 0;
    char *rota = NULL;
    *out = NULL;
    memset(&r, 0, sizeof r);
    if (!configures(actor))
        return td__denied(err, "configure alerts");
    if ((rc = known_keys(fields, keys, sizeof keys / sizeof keys[0], err)) ||
        (rc = check_name(fields, &name, err)))
        return rc;
    r.name = name;
    s = opt_str(fields, "min_tier", &bt);
    if (bt || !s || (r.min_severity = td_severity_from_name(s)) <= TD_SEVERITY_NONE)
        return bad(err, "min_tier", "min_tier must be low, medium, high or critical");
    if ((rc = name_bits(fields, "labels", td_label_from_name, &r.labels, err)) ||
        (rc = name_bits(fields, "flags", flag_from_name, &r.flags, err)) ||
        (rc = name_bits(fields, "channels", channel_from_name, &r.channels, err)))
        return rc;
    if (!r.channels)
        return bad(err, "channels", "channels must name at least one of email, webhook, browser");
    r.quiet_start = r.quiet_end = -1;
    json_t *q = json_object_get(fields, "quiet_hours");
    if (q && !json_is_null(q)) {
        r.quiet_start = td_alert_parse_hhmm(json_string_value(json_object_get(q, "start")));
        r.quiet_end = td_alert_parse_hhmm(json_string_value(json_object_get(q, "end")));
        if (!json_is_object(q) || json_object_size(q) != 2 || r.quiet_start < 0 ||
            r.quiet_end < 0 || r.quiet_start == r.quiet_end)
            return bad(err, "quiet_hours",
                       "quiet_hours must be {\"start\": \"HH:MM\", \"end\": \"HH:MM\"}, different");
    }
    json_t *e = json_object_get(fields, "escalate_minutes");
    if (e && !json_is_null(e)) {
        if (!json_is_integer(e) || json_integer_value(e) < 0 ||
            json_integer_value(e) > TD_ALERT_ESCALATE_MAX)
            return bad(err, "escalate_minutes", "escalate_minutes must be 0 to 10080");
        r.escalate_minutes = (unsigned)json_integer_value(e);
    }
    s = opt_str(fields, "disclose", &bt);
    if (bt || (s && strcmp(s, "minimal") && strcmp(s, "subject")))
        return bad(err, "disclose", "disclose must be minimal or subject");
    r.disclose = s && !strcmp(s, "subject") ? TD_ALERT_DISCLOSE_SUBJECT : TD_ALERT_DISCLOSE_MINIMAL;
    json_t *ro = json_object_get(fields, "rota"), *v;
    size_t i, nrota = json_array_size(ro);
    if (!json_is_array(ro) || nrota == 0 || nrota > TD_ALERT_ROTA_MAX)
        return bad(err, "rota", "rota must list 1 to 16 recipient ids, first told first");
    if (r.escalate_minutes && nrota < 2)
        return bad(err, "rota", "escalation needs a second person on the rota");
    td__lock(d);
    if ((rc = td__begin(d, err)))
        goto unlock;
    json_array_foreach(ro, i, v)
    {
        unsigned ch = 0;
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            td_error_field(err, "rota");
            rc = td_error_set(err, TD_EINVAL, "rota[%zu] is not a recipient id", i);
            break;
        }
        rc = d->store->ops->alert_recipient_channels(d->store, actor->office_id,
                                                     json_integer_value(v), &ch, err);
        if (rc == TD_ENOTFOUND) {
            td_error_field(err, "rota");
            rc = td_error_set(err, TD_EINVAL, "rota[%zu]: no such recipient in this office", i);
        }
        if (rc)
            break;
        if (!(ch & r.channels) && !(r.channels & TD_ALERT_BROWSER)) {
            td_error_field(err, "rota");
            rc = td_error_set(err, TD_EINVAL,
                              "rota[%zu] cannot be reached on any of the rule's channels", i);
            break;
        }
    }
    if (!rc && !(rota = json_dumps(ro, JSON_COMPACT)))
        rc = td_error_set(err, TD_ENOMEM, NULL);
    if (!rc) {
        r.office_id = actor->office_id;
        r.rota = rota;
        r.created = td__now();
        r.created_by = actor->user_id;
        rc = d->store->ops->alert_rule_insert(d->store, &r, &id, err);
        if (rc == TD_EEXISTS)
            td_error_field(err, "name");
    }
    if (!rc) {
        json_t *det = json_deep_copy(fields);
        rc = td__audit(d, actor, actor->office_id, "alert_rule.create", "alert_rule", id, det, err);
        json_decref(det);
    }
    rc = td__end(d, rc, err);
unlock:
    td__unlock(d);
    free(rota);
    if (!rc && !(*out = json_pack("{s:I}", "id", (json_int_t)id)))
        rc = td_error_set(err, TD_ENOMEM, NULL);
    return rc;
}

/* ---- the office's alerts and acknowledgement ------------------------------------ */

int td_desk_alert_list(struct td_desk *d, const struct td_actor *actor, int open_only, size_t limit,
                       json_t **out, struct td_error *err)
{
    json_t *a = NULL;
    *out = NULL;
    if (!td__is_staff(actor))
        return td__denied(err, "read the office's alerts");
    if (limit == 0)
        limit = LIST_DEFAULT;
    if (limit > LIST_MAX)
        limit = LIST_MAX;
    struct td_store_alert_list l;
    struct td_store_arena ar = {0};
    td__lock(d);
    int rc = d->store->ops->alert_list(d->store, actor->office_id, open_only, limit, &l, &ar, err);
    td__unlock(d);
    if (!rc && (!(a = td__render_alerts(&l)) || !(*out = json_pack("{s:o}", "alerts", a))))
        rc = td_error_set(err, TD_ENOMEM, NULL);
    td_store_arena_free(&ar);
    return rc;
}

/* Under the lock: acknowledge and audit in one transaction. */
static int ack(struct td_desk *d, const struct td_actor *actor, int64_t office, int64_t id,
               const char *via, int *was, struct td_error *err)
{
    int64_t off = 0, msg = 0;
    int rc = td__begin(d, err);
    if (rc)
        return rc;
    rc = d->store->ops->alert_ack(d->store, office, id, actor ? actor->user_id : 0, via, td__now(),
                                  &off, &msg, was, err);
    if (!rc && !*was) {
        json_t *det = json_pack("{s:s, s:I}", "via", via, "message", (json_int_t)msg);
        rc = td__audit(d, actor, off, "alert.ack", "alert", id, det, err);
        json_decref(det);
    }
    return td__end(d, rc, err);
}

int td_desk_alert_ack(struct td_desk *d, const struct td_actor *actor, int64_t id,
                      struct td_error *err)
{
    int was = 0;
    if (!td__is_staff(actor))
        return td__denied(err, "acknowledge alerts");
    td__lock(d);
    int rc = ack(d, actor, actor->office_id, id, "desk", &was, err);
    td__unlock(d);
    return rc;
}

int td_desk_alert_ack_token(struct td_desk *d, const char *token, json_t **out,
                            struct td_error *err)
{
    char want[96];
    int was = 0, rc;
    *out = NULL;
    const char *dash = token ? strchr(token, '-') : NULL;
    char *end = NULL;
    long long id = dash ? strtoll(token, &end, 10) : 0;
    if (!dash || end != dash || id <= 0 || strlen(token) >= sizeof want)
        return td_error_set(err, TD_ENOTFOUND, "not an acknowledgement link");
    td__lock(d);
    if ((rc = ack_key(d, err)))
        goto out;
    ack_token(d, id, want);
    if (strlen(want) != strlen(token) || sodium_memcmp(want, token, strlen(want)) != 0) {
        rc = td_error_set(err, TD_ENOTFOUND, "not an acknowledgement link");
        goto out;
    }
    rc = ack(d, NULL, 0, id, "link", &was, err);
out:
    td__unlock(d);
    if (!rc && !(*out = json_pack("{s:I, s:b, s:b}", "alert", (json_int_t)id, "acknowledged", 1,
                                  "already", was)))
        rc = td_error_set(err, TD_ENOMEM, NULL);
    return rc;
}

/* ---- the worker's pass ------------------------------------------------------------- */

struct esc {
    int64_t alert, office, next;
    int step;
    unsigned channels;
};

struct esc_list {
    struct esc e[100];
    size_t n;
};

static int esc_cb(void *ud, int64_t alert, int64_t office, int step, int64_t next,
                  unsigned channels)
{
    struct esc_list *l = ud;
    if (l->n < sizeof l->e / sizeof l->e[0])
        l->e[l->n++] = (struct esc){alert, office, next, step, channels};
    return 0;
}

static int escalate(struct td_desk *d, const struct td_alert_config *c, int64_t now,
                    struct td_alert_run_stats *st, struct td_error *err)
{
    struct esc_list *l = calloc(1, sizeof *l);
    if (!l)
        return td_error_set(err, TD_ENOMEM, NULL);
    td__lock(d);
    int rc = td__begin(d, err);
    if (!rc)
        rc = d->store->ops->alert_escalations(d->store, now, c->minute_s, esc_cb, l, err);
    for (size_t i = 0; !rc && i < l->n; i++) {
        int changed = 0;
        size_t added = 0;
        if ((rc = d->store->ops->alert_step(d->store, l->e[i].alert, l->e[i].step, now, &changed,
                                            err)) ||
            !changed)
            continue;
        if (l->e[i].next > 0 && (rc = d->store->ops->alert_deliveries_add(
                                     d->store, l->e[i].office, l->e[i].alert, l->e[i].step + 1,
                                     l->e[i].next, l->e[i].channels, now, &added, err)))
            break;
        json_t *det = json_pack("{s:i, s:I, s:I}", "step", l->e[i].step + 1, "recipient",
                                (json_int_t)l->e[i].next, "deliveries", (json_int_t)added);
        rc = td__audit(d, NULL, l->e[i].office, "alert.escalate", "alert", l->e[i].alert, det, err);
        json_decref(det);
        st->escalated++;
    }
    rc = td__end(d, rc, err);
    td__unlock(d);
    free(l);
    return rc;
}

struct jobs {
    struct td_store_alert_job *j;
    size_t n, cap;
};

static int job_cb(void *ud, const struct td_store_alert_job *j)
{
    struct jobs *js = ud;
    if (js->n < js->cap)
        js->j[js->n++] = *j;
    return 0;
}

static void notice_of(struct td_desk *d, const struct td_alert_config *c,
                      const struct td_store_alert_job *j, struct td_alert_notice *n)
{
    char token[96];
    memset(n, 0, sizeof *n);
    snprintf(n->key, sizeof n->key, "td-alert-%lld-%lld", (long long)j->alert_id,
             (long long)j->delivery_id);
    n->alert_id = j->alert_id;
    n->message_id = j->message_id;
    n->step = j->step;
    snprintf(n->office, sizeof n->office, "%s", j->office);
    snprintf(n->rule, sizeof n->rule, "%s", j->rule);
    n->severity = j->severity;
    snprintf(n->label, sizeof n->label, "%s", td_alert_top_label(j->labels));
    snprintf(n->channel, sizeof n->channel, "%s", j->msg_channel);
    snprintf(n->sender, sizeof n->sender, "%s", j->sender);
    if (j->disclose == TD_ALERT_DISCLOSE_SUBJECT)
        snprintf(n->subject, sizeof n->subject, "%s", j->subject);
    n->received = j->received;
    if (c->base_url[0]) {
        size_t b = strlen(c->base_url);
        int slash = b && c->base_url[b - 1] == '/';
        snprintf(n->desk_url, sizeof n->desk_url, "%.*s/v1/messages/%lld", (int)(slash ? b - 1 : b),
                 c->base_url, (long long)j->message_id);
        ack_token(d, j->alert_id, token);
        snprintf(n->ack_url, sizeof n->ack_url, "%.*s/v1/ack/%s", (int)(slash ? b - 1 : b),
                 c->base_url, token);
    }
}

int td_desk_alerts_run(struct td_desk *d, const struct td_alert_config *c, size_t max,
                       struct td_alert_run_stats *st, struct td_error *err)
{
    struct jobs js = {0};
    int64_t now = td__now();
    int rc;
    memset(st, 0, sizeof *st);
    if (max == 0)
        max = 64;
    if ((rc = escalate(d, c, now, st, err)))
        return rc;
    if (!(js.j = calloc(max, sizeof *js.j)))
        return td_error_set(err, TD_ENOMEM, NULL);
    js.cap = max;
    td__lock(d);
    if (!(rc = ack_key(d, err)) && !(rc = td__begin(d, err))) {
        rc = d->store->ops->alert_claim(d->store, now, now + c->lease_s, max, job_cb, &js, err);
        rc = td__end(d, rc, err);
    }
    td__unlock(d);
    for (size_t i = 0; !rc && i < js.n; i++) {
        const struct td_store_alert_job *j = &js.j[i];
        struct td_alert_notice n;
        struct td_error e;
        td_error_clear(&e);
        notice_of(d, c, j, &n);
        int64_t t = td__now();
        int sent = !strcmp(j->channel, "email")
                       ? td_alert_smtp_send(c, j->target, &n, t, &e)
                       : td_alert_webhook_send(c, j->target, j->secret, &n, t, &e);
        unsigned attempt = j->attempts + 1;
        const char *outcome = sent == TD_OK                ? "delivered"
                              : attempt >= c->max_attempts ? "gave_up"
                                                           : "failed";
        int64_t next = td__now() + td_alert_backoff(attempt, c->backoff_base_s, c->backoff_cap_s,
                                                    randombytes_random());
        td__lock(d);
        if (!(rc = td__begin(d, err))) {
            rc = d->store->ops->alert_attempt(d->store, j->delivery_id, td__now(), outcome,
                                              sent == TD_OK ? NULL : e.message, next, err);
            rc = td__end(d, rc, err);
        }
        td__unlock(d);
        if (sent == TD_OK)
            st->delivered++;
        else if (attempt >= c->max_attempts)
            st->gave_up++;
        else
            st->retrying++;
    }
    sodium_memzero(js.j, js.cap * sizeof *js.j); /* webhook secrets */
    free(js.j);
    return rc;
}

/* ---- the worker thread -------------------------------------------------------------- */

struct td_alert_worker {
    struct td_desk *d;
    struct td_alert_config c;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop;
    int kick; /* work was committed: run now, not at the next poll */
};

static void *worker_main(void *arg)
{
    struct td_alert_worker *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        pthread_mutex_unlock(&w->lock);
        struct td_alert_run_stats st;
        struct td_error err;
        td_error_clear(&err);
        /* A failing pass (the store busy, the disk full) is tried again at
         * the next tick: the outbox keeps the work. */
        td_desk_alerts_run(w->d, &w->c, 64, &st, &err);
        int busy = st.delivered + st.retrying + st.gave_up == 64;
        pthread_mutex_lock(&w->lock);
        if (w->stop || busy || w->kick) {
            w->kick = 0;
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += w->c.poll_ms / 1000;
        ts.tv_nsec += (long)(w->c.poll_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!w->stop && !w->kick)
            if (pthread_cond_timedwait(&w->cond, &w->lock, &ts))
                break; /* the poll: escalations and retries fall due by the clock */
        w->kick = 0;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int td_desk_alert_worker_start(struct td_desk *d, const struct td_alert_config *c,
                               struct td_alert_worker **out, struct td_error *err)
{
    struct td_alert_worker *w = calloc(1, sizeof *w);
    *out = NULL;
    if (!w)
        return td_error_set(err, TD_ENOMEM, NULL);
    w->d = d;
    w->c = *c;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w)) {
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w);
        return td_error_set(err, TD_ENOMEM, "cannot start the alert worker");
    }
    td__lock(d);
    d->alert_worker = w;
    td__unlock(d);
    *out = w;
    return TD_OK;
}

/* Lock order: d->lock, then w->lock; the worker never holds w->lock while
 * it takes d->lock. */
void td__alerts_wake(struct td_desk *d)
{
    td__lock(d);
    struct td_alert_worker *w = d->alert_worker;
    if (w) {
        pthread_mutex_lock(&w->lock);
        w->kick = 1;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
    }
    td__unlock(d);
}

void td_desk_alert_worker_stop(struct td_alert_worker *w)
{
    if (!w)
        return;
    td__lock(w->d);
    if (w->d->alert_worker == w)
        w->d->alert_worker = NULL;
    td__unlock(w->d);
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    sodium_memzero(w->c.smtp_password, sizeof w->c.smtp_password);
    free(w);
}
