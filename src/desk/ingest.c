/*
 * ingest.c - messages in.
 *
 * Order of work for a batch: (1) check and analyse every record OUTSIDE the
 * desk lock (analysis is the expensive part and needs no store); (2) take
 * the lock and ONE write transaction; per record: look up the idempotency
 * key, apply the sender's threat history to the verdict, insert the
 * message, its alerts (alerts.c: the outbox), count it against its sender,
 * append the audit entry.  First without savepoints; when a record fails,
 * that pass is rolled back and the batch runs again with a savepoint per
 * record, where a failing record rolls back to its savepoint and is
 * refused alone (records() says why); (3) commit - only then are the
 * results reported as stored.
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "desk/desk_int.h"
#include "desk/feedback_int.h"
#include "desk/pipeline_int.h"
#include "desk/render.h"

#define TEXT_MAX (4u << 20)
#define BATCH_MAX 10000

struct prepared {
    int code; /* TD_OK, or why this record is refused before the store */
    struct td_verdict own;
    struct td_verdict *v; /* &own, or the caller's (td_desk_file) */
    int analysed;
    struct td__ingest_keys keys; /* canonical sender, content key, attachments */
    /* alerts made with it for the browser channel, told after the commit */
    int64_t browser[TD__ALERTS_PER_MESSAGE];
    size_t nbrowser;
    size_t nalerts; /* alerts made with it (the worker is woken for them) */
};

static int refuse(struct td_ingest_result *res, struct td_error *err, int code, const char *field,
                  const char *reason)
{
    res->code = code;
    res->id = 0;
    snprintf(res->field, sizeof res->field, "%s", field ? field : "");
    snprintf(res->reason, sizeof res->reason, "%.255s", reason);
    if (field)
        td_error_field(err, field);
    return td_error_set(err, code, "%s", reason);
}

static int valid_utf8(const char *s, size_t n)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    while (n > 0) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(p, (utf8proc_ssize_t)n, &c);
        if (k <= 0)
            return 0;
        p += k;
        n -= (size_t)k;
    }
    return 1;
}

static int opt_utf8(const char *s)
{
    return !s || valid_utf8(s, strlen(s));
}

/* Step 1: checks and analysis, no lock. */
static int prepare(struct td_desk *d, struct td_analysis_ctx *ctx, const struct td_message *m,
                   struct prepared *p, struct td_ingest_result *res, struct td_error *err)
{
    memset(res, 0, sizeof *res);
    if (!d->analyser && !p->analysed)
        return refuse(res, err, TD_EINVAL, NULL, "no analyser loaded: cannot ingest");
    if (!m->text || m->text_len == 0)
        return refuse(res, err, TD_EINVAL, "text", "text is missing or empty");
    if (td__blank(m->text, m->text_len))
        return refuse(res, err, TD_EINVAL, "text", "text is only white space");
    /* The original is kept exactly or the message is refused: an empty one
     * would be stored as if it were what arrived. */
    if (m->original && m->original_len == 0)
        return refuse(res, err, TD_EINVAL, "original", "the original bytes are empty");
    if (m->original_withheld) {
        char why[256];
        snprintf(why, sizeof why, "the original could not be kept whole (%.200s)",
                 m->warning ? m->warning : "withheld by the reader");
        return refuse(res, err, TD_ETOOBIG, "original", why);
    }
    if (m->text_len > TEXT_MAX)
        return refuse(res, err, TD_ETOOBIG, "text", "text is larger than 4 MiB");
    if (!valid_utf8(m->text, m->text_len))
        return refuse(res, err, TD_EUTF8, "text", "text is not valid UTF-8");
    if (!opt_utf8(m->channel) || !opt_utf8(m->sender) || !opt_utf8(m->sender_name) ||
        !opt_utf8(m->subject) || !opt_utf8(m->message_id))
        return refuse(res, err, TD_EUTF8, NULL, "a header field is not valid UTF-8");
    int krc = td__ingest_keys(m, &p->keys, err);
    if (krc)
        return refuse(res, err, krc, NULL, "cannot compute the message's keys");
    if (ctx && !p->analysed) {
        int rc = td_analyse(ctx, m->text, m->text_len, p->v, err);
        if (rc)
            return refuse(res, err, rc, "text", "analysis failed");
        p->analysed = 1;
    }
    return TD_OK;
}

/* Step 2 for one record, inside the transaction. */
static int store_one(struct td_desk *d, const struct td_actor *actor, const struct td_message *m,
                     const char *client_key, size_t reserve, struct prepared *p,
                     struct td_ingest_result *res, struct td_error *err)
{
    struct td_store *s = d->store;
    const char *key = client_key && *client_key ? client_key : m->message_id;
    int64_t now = td__now(), id;
    int sev, rc;
    char *vjson = NULL;
    json_t *vj = NULL;

    const char *sender = p->keys.has_sender ? p->keys.sender : NULL;
    /* The idempotency key's message, the same words' message and the
     * sender's history: one call (one round trip on PostgreSQL), though
     * the history is only used when the record is new. */
    struct td_store_ingest_lookup look;
    if ((rc = s->ops->message_ingest_lookup(s, actor->office_id, key,
                                            p->keys.has_content ? p->keys.content : NULL, sender,
                                            &look, err)))
        return rc;
    if (key && look.key_id) {
        id = look.key_id;
        sev = look.key_severity;
        if (client_key && *client_key) {
            /* The client's idempotency key names one request: the same key
             * with other bytes is a client bug, not a retry. */
            int conflict = 0;
            if ((rc = td__ingest_conflict(d, actor->office_id, id, m, &conflict, err)))
                return rc;
            if (conflict) {
                char why[256];
                snprintf(why, sizeof why,
                         "idempotency key '%.100s' was already used for a different message "
                         "(id %lld); use a new key for new content",
                         key, (long long)id);
                return refuse(res, err, TD_EEXISTS, "client_key", why);
            }
        }
        res->code = TD_OK;
        res->duplicate = 1;
        res->id = id;
        res->severity = (enum td_severity)sev;
        return TD_OK;
    }
    /* dedupe.h rule 2: the same words from the same sender. */
    if (p->keys.has_content && look.content_id) {
        res->code = TD_OK;
        res->duplicate = 1;
        res->id = look.content_id;
        res->severity = (enum td_severity)look.content_severity;
        return TD_OK;
    }
    if (!p->analysed) {
        if ((rc = td_analyse(d->ctx, m->text, m->text_len, p->v, err)))
            return refuse(res, err, rc, "text", "analysis failed");
        p->analysed = 1;
    }
    /* the office's own decisions (feedback.h), before the sender's history */
    int learnt = 0;
    if ((rc = td__feedback_apply(d, actor->office_id, p->v, &learnt, err)))
        return rc;
    if (sender)
        td_verdict_apply_history(p->v, look.prior_threats);
    if (!(vj = td_verdict_to_json(p->v, m->text, m->text_len)) ||
        !(vjson = td__verdict_stored_text(vj))) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
        goto out;
    }
    struct td_store_message sm = {
        .office_id = actor->office_id,
        .client_key = key,
        .message_id = m->message_id,
        .channel = m->channel && *m->channel ? m->channel : "api",
        .sender = sender,
        .sender_name = m->sender_name,
        .subject = m->subject,
        .text = m->text,
        .text_len = m->text_len,
        .original = m->original ? (const void *)m->original : (const void *)m->text,
        .original_len = m->original ? m->original_len : m->text_len,
        .received = m->time == INT64_MIN ? now : m->time,
        .ingested = now,
        .ingested_by = actor->user_id,
        .severity = (int)p->v->severity,
        .labels = p->v->labels,
        .flags = p->v->flags,
        .verdict = vjson,
        .model_version = p->v->model_version,
        .content_key = p->keys.has_content ? p->keys.content : NULL,
        .attachments = p->keys.attachments,
        .reserve = reserve,
    };
    if ((rc = s->ops->message_insert(s, &sm, &id, err)))
        goto out;
    if ((rc = td__feedback_keep_vector(d, actor->office_id, id, p->v, err)))
        goto out;
    if (sender && (rc = s->ops->sender_record(
                       s, actor->office_id, sender, m->sender_name, (int)p->v->severity,
                       (p->v->labels >> TD_LABEL_THREAT) & 1u, sm.received, err)))
        goto out;
    char sha[65], tsha[65];
    td__sha256_hex(sm.original, sm.original_len, sha);
    /* The text's hash too: verify checks both against the stored row. */
    td__sha256_hex(sm.text, sm.text_len, tsha);
    json_t *det = json_pack("{s:s, s:s, s:s?, s:s, s:s}", "channel", sm.channel, "severity",
                            td_severity_name(p->v->severity), "client_key", key, "sha256", sha,
                            "text_sha256", tsha);
    if (det && learnt)
        json_object_set_new(det, "feedback", json_true());
    rc = td__audit(d, actor, actor->office_id, "message.ingest", "message", id, det, err);
    json_decref(det);
    if (rc)
        goto out;
    /* The alert and its outbox rows commit with the message or not at all:
     * nothing filed can miss its alert, even across a crash. */
    if ((rc = td__alerts_enqueue(d, actor, id, (int)p->v->severity, p->v->labels, p->v->flags, now,
                                 p->browser, TD__ALERTS_PER_MESSAGE, &p->nbrowser, &p->nalerts,
                                 err)))
        goto out;
    res->code = TD_OK;
    res->id = id;
    res->severity = p->v->severity;
out:
    free(vjson);
    json_decref(vj);
    return rc;
}

/*
 * Step 2 for every record, inside the open transaction.
 *
 * isolate 0, the first pass: no savepoints.  A savepoint per record costs
 * more than its two statements on PostgreSQL: each record's writes then
 * belong to a subtransaction of its own, and their foreign-key locks on
 * the office's row pile up as a MultiXact that grows with every record
 * (GetMultiXactIdMembers was the server's dearest function in a batch of
 * 500).  The first record that fails stops the pass (*failed = 1), and the
 * caller rolls it all back and runs the isolating pass.  The pass ends with
 * one savepoint released, which makes a store that sends writes ahead
 * (PostgreSQL's pipeline) report them before the COMMIT.
 *
 * isolate 1: a savepoint per record; a failing record (at its RELEASE at
 * the latest, where writes sent ahead are answered) rolls back to it and
 * is refused alone.
 *
 * Returns what fails the whole batch (a savepoint that cannot be made).
 */
static int records(struct td_desk *d, const struct td_actor *actor, const struct td_message *msgs,
                   size_t n, const char *const *client_keys, struct prepared *p,
                   struct td_ingest_result *results, int isolate, int *failed, struct td_error *err)
{
    struct td_store *s = d->store;
    int rc = TD_OK;
    *failed = 0;
    /* the records still to file, this one included: the store may take
     * their ids ahead in one round trip (td_store_message.reserve) */
    size_t left = 0;
    for (size_t i = 0; i < n; i++)
        left += p[i].code == TD_OK;
    for (size_t i = 0; i < n && rc == TD_OK; i++) {
        struct td_error e;
        td_error_clear(&e);
        if (p[i].code)
            continue;
        if (isolate && (rc = s->ops->savepoint(s, "rec", err)))
            break;
        int r = store_one(d, actor, &msgs[i], client_keys ? client_keys[i] : NULL, left--, &p[i],
                          &results[i], &e);
        if (!isolate) {
            if (r != TD_OK) {
                *failed = 1;
                return TD_OK;
            }
            continue;
        }
        if (r == TD_OK)
            r = s->ops->release(s, "rec", &e);
        if (r != TD_OK) {
            p[i].nbrowser = p[i].nalerts = 0;
            s->ops->rollback_to(s, "rec");
            if (results[i].code == TD_OK) /* a store failure, not a refusal */
                refuse(&results[i], NULL, r, e.field[0] ? e.field : NULL, e.message);
            memset(&results[i].duplicate, 0, sizeof results[i].duplicate);
        }
    }
    if (!isolate) {
        struct td_error e;
        td_error_clear(&e);
        if (s->ops->savepoint(s, "done", &e) || s->ops->release(s, "done", &e))
            *failed = 1;
    }
    return rc;
}

/* The batch, with verdicts given (given != NULL: one per record, already
 * analysed) or to be computed. */
static int batch(struct td_desk *d, const struct td_actor *actor, struct td_analysis_ctx *ctx,
                 const struct td_message *msgs, size_t n, const char *const *client_keys,
                 struct td_verdict *given, struct td_ingest_result *results, struct td_error *err)
{
    struct prepared *p = NULL;
    struct td_verdict *saved = NULL;
    int *was = NULL;
    int rc = TD_OK;
    if (!td__is_staff(actor))
        return td__denied(err, "ingest messages");
    if (n > BATCH_MAX)
        return td_error_set(err, TD_ETOOBIG, "at most %d records per batch", BATCH_MAX);
    if (n == 0)
        return TD_OK;
    if (!(p = calloc(n, sizeof *p)))
        return td_error_set(err, TD_ENOMEM, NULL);
    for (size_t i = 0; i < n; i++) {
        struct td_error e;
        td_error_clear(&e);
        td_verdict_init(&p[i].own);
        p[i].v = given ? &given[i] : &p[i].own;
        p[i].analysed = given != NULL;
        p[i].code = prepare(d, ctx, &msgs[i], &p[i], &results[i], &e);
    }

    /* What store_one changes in a record's verdict (the office's feedback,
     * the sender's history) and whether it was analysed, as they are
     * before the store: the isolating pass starts again from these (a
     * verdict not yet drawn is drawn again). */
    if (!(saved = malloc(n * sizeof *saved)) || !(was = malloc(n * sizeof *was))) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        saved[i] = *p[i].v; /* shallow: store_one changes no pointer in it */
        was[i] = p[i].analysed;
    }

    td__lock(d);
    if ((rc = td__begin(d, err)))
        goto unlock;
    td__batch_reads_end(d); /* nothing read yet */
    d->batch.open = 1;
    int failed = 0;
    rc = records(d, actor, msgs, n, client_keys, p, results, 0, &failed, err);
    if (rc == TD_OK && failed) {
        /* A record failed: undo the whole pass and file the batch again
         * with a savepoint per record, so that one is refused alone. */
        d->store->ops->rollback(d->store);
        for (size_t i = 0; i < n; i++) {
            if (p[i].code)
                continue;
            if (was[i]) {
                *p[i].v = saved[i];
            } else if (p[i].analysed) { /* analysed in the first pass: again */
                td_verdict_release(&p[i].own);
                td_verdict_init(&p[i].own);
                p[i].analysed = 0;
            }
            p[i].nbrowser = p[i].nalerts = 0;
            memset(&results[i], 0, sizeof results[i]);
        }
        if ((rc = td__begin(d, err))) {
            td__batch_reads_end(d);
            for (size_t i = 0; i < n; i++)
                if (!p[i].code)
                    refuse(&results[i], NULL, rc, NULL, "the batch could not be committed");
            goto unlock;
        }
        rc = records(d, actor, msgs, n, client_keys, p, results, 1, &failed, err);
    }
    td__batch_reads_end(d);
    rc = td__end(d, rc, err);
    if (rc) /* nothing was stored after all */
        for (size_t i = 0; i < n; i++)
            if (results[i].code == TD_OK)
                refuse(&results[i], NULL, rc, NULL, "the batch could not be committed");
unlock:
    td__unlock(d);
    size_t made = 0;
    for (size_t i = 0; rc == TD_OK && i < n; i++)
        made += results[i].code == TD_OK ? p[i].nalerts : 0;
    if (made)
        td__alerts_wake(d);
    for (size_t i = 0; rc == TD_OK && i < n; i++)
        if (p[i].nbrowser && results[i].code == TD_OK)
            td__alerts_notify(d, actor->office_id, p[i].browser, p[i].nbrowser, results[i].id,
                              (int)results[i].severity);
out:
    for (size_t i = 0; i < n; i++) {
        td_verdict_release(&p[i].own);
        td__ingest_keys_release(&p[i].keys);
    }
    free(p);
    free(saved);
    free(was);
    return rc;
}

int td_desk_ingest_batch(struct td_desk *d, const struct td_actor *actor,
                         struct td_analysis_ctx *ctx, const struct td_message *msgs, size_t n,
                         const char *const *client_keys, struct td_ingest_result *results,
                         struct td_error *err)
{
    return batch(d, actor, ctx, msgs, n, client_keys, NULL, results, err);
}

int td_desk_file_batch(struct td_desk *d, const struct td_actor *actor,
                       const struct td_message *msgs, size_t n, const char *const *client_keys,
                       struct td_verdict *verdicts, struct td_ingest_result *results,
                       struct td_error *err)
{
    if (n && !verdicts)
        return td_error_set(err, TD_EINVAL, "no verdicts given");
    return batch(d, actor, NULL, msgs, n, client_keys, verdicts, results, err);
}

int td_desk_file(struct td_desk *d, const struct td_actor *actor, const struct td_message *m,
                 const char *client_key, struct td_verdict *v, struct td_ingest_result *res,
                 struct td_error *err)
{
    const char *keys[1] = {client_key};
    int rc = batch(d, actor, NULL, m, 1, keys, v, res, err);
    if (rc)
        return rc;
    if (res->code) {
        if (res->field[0])
            td_error_field(err, res->field);
        return td_error_set(err, res->code, "%s", res->reason);
    }
    return TD_OK;
}

int td_desk_ingest(struct td_desk *d, const struct td_actor *actor, struct td_analysis_ctx *ctx,
                   const struct td_message *m, const char *client_key, struct td_ingest_result *res,
                   struct td_error *err)
{
    const char *keys[1] = {client_key};
    int rc = td_desk_ingest_batch(d, actor, ctx, m, 1, keys, res, err);
    if (rc)
        return rc;
    if (res->code) {
        if (res->field[0])
            td_error_field(err, res->field);
        return td_error_set(err, res->code, "%s", res->reason);
    }
    return TD_OK;
}

/* ---- the JSON door ----------------------------------------------------- */

static int get_str(const json_t *rec, const char *name, char **field, struct td_error *err)
{
    json_t *v = json_object_get(rec, name);
    if (!v || json_is_null(v))
        return TD_OK;
    if (!json_is_string(v)) {
        td_error_field(err, name);
        return td_error_set(err, TD_EINVAL, "%s must be a string", name);
    }
    return td_message_set(field, json_string_value(v), json_string_length(v));
}

static int from_json(const json_t *rec, struct td_message *m, char **client_key,
                     struct td_error *err)
{
    static const char *const known[] = {"text",        "channel",    "sender",
                                        "sender_name", "received",   "subject",
                                        "message_id",  "client_key", "original"};
    const char *k;
    json_t *v;
    int rc;
    if (!json_is_object(rec))
        return td_error_set(err, TD_EINVAL, "a record must be a JSON object");
    json_object_foreach((json_t *)rec, k, v)
    {
        size_t i;
        for (i = 0; i < sizeof known / sizeof known[0]; i++)
            if (!strcmp(k, known[i]))
                break;
        if (i == sizeof known / sizeof known[0]) {
            td_error_field(err, k);
            return td_error_set(err, TD_EINVAL, "unknown field '%s'", k);
        }
    }
    json_t *t = json_object_get(rec, "text");
    if (!json_is_string(t)) {
        td_error_field(err, "text");
        return td_error_set(err, TD_EINVAL, "text is required and must be a string");
    }
    if ((rc = td_message_set(&m->text, json_string_value(t), json_string_length(t))))
        return rc;
    m->text_len = json_string_length(t);
    if ((rc = get_str(rec, "channel", &m->channel, err)) ||
        (rc = get_str(rec, "sender", &m->sender, err)) ||
        (rc = get_str(rec, "sender_name", &m->sender_name, err)) ||
        (rc = get_str(rec, "subject", &m->subject, err)) ||
        (rc = get_str(rec, "message_id", &m->message_id, err)) ||
        (rc = get_str(rec, "client_key", client_key, err)) ||
        (rc = get_str(rec, "original", &m->original, err)))
        return rc;
    if (m->original)
        m->original_len = json_string_length(json_object_get(rec, "original"));
    json_t *r = json_object_get(rec, "received");
    if (r && !json_is_null(r) && (rc = td__parse_time(r, &m->time, "received", err)))
        return rc;
    return TD_OK;
}

int td_desk_ingest_json(struct td_desk *d, const struct td_actor *actor,
                        struct td_analysis_ctx *ctx, const json_t *in, json_t **out,
                        struct td_error *err)
{
    return td_desk_ingest_json_results(d, actor, ctx, in, out, NULL, NULL, err);
}

int td_desk_ingest_json_results(struct td_desk *d, const struct td_actor *actor,
                                struct td_analysis_ctx *ctx, const json_t *in, json_t **out,
                                struct td_ingest_result **results_out, size_t *n_out,
                                struct td_error *err)
{
    const json_t *arr = in;
    json_t *single = NULL, *results = NULL;
    struct td_message *msgs = NULL;
    char **keys = NULL;
    struct td_ingest_result *res = NULL;
    int *parse_code = NULL;
    struct td_error *perr = NULL;
    size_t n, accepted = 0, dups = 0, refused = 0;
    int rc = TD_OK;
    *out = NULL;
    if (results_out)
        *results_out = NULL;
    if (n_out)
        *n_out = 0;

    if (!td__is_staff(actor))
        return td__denied(err, "ingest messages");
    if (json_is_object(in) && json_is_array(json_object_get(in, "messages")))
        arr = json_object_get(in, "messages");
    else if (json_is_object(in))
        arr = single = json_pack("[O]", in);
    if (!json_is_array(arr)) {
        json_decref(single);
        return td_error_set(err, TD_EINVAL,
                            "expected a record, an array of records or "
                            "{\"messages\": [...]}");
    }
    n = json_array_size(arr);
    if (n > BATCH_MAX) {
        json_decref(single);
        return td_error_set(err, TD_ETOOBIG, "at most %d records per batch", BATCH_MAX);
    }
    msgs = calloc(n ? n : 1, sizeof *msgs);
    keys = calloc(n ? n : 1, sizeof *keys);
    res = calloc(n ? n : 1, sizeof *res);
    parse_code = calloc(n ? n : 1, sizeof *parse_code);
    perr = calloc(n ? n : 1, sizeof *perr);
    if (!msgs || !keys || !res || !parse_code || !perr) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
        goto out;
    }
    /* Parse; records that fail are kept out of the batch (text NULL makes
     * prepare() refuse them, so mark them and replace the result after). */
    for (size_t i = 0; i < n; i++) {
        td_message_init(&msgs[i]);
        parse_code[i] = from_json(json_array_get(arr, i), &msgs[i], &keys[i], &perr[i]);
        if (parse_code[i]) {
            td_message_release(&msgs[i]); /* empty: refused by prepare() */
        }
    }
    if ((rc = td_desk_ingest_batch(d, actor, ctx, msgs, n, (const char *const *)keys, res, err)))
        goto out;
    if (!(results = json_array())) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *r;
        if (parse_code[i]) {
            r = json_pack("{s:I, s:s, s:s, s:s, s:s}", "index", (json_int_t)i, "status", "refused",
                          "code", td_errname(parse_code[i]), "field", perr[i].field, "reason",
                          perr[i].message);
            refused++;
            /* the typed outcome says the same as the JSON */
            memset(&res[i], 0, sizeof res[i]);
            res[i].code = parse_code[i];
            snprintf(res[i].field, sizeof res[i].field, "%s", perr[i].field);
            snprintf(res[i].reason, sizeof res[i].reason, "%s", perr[i].message);
        } else if (res[i].code) {
            r = json_pack("{s:I, s:s, s:s, s:s, s:s}", "index", (json_int_t)i, "status", "refused",
                          "code", td_errname(res[i].code), "field", res[i].field, "reason",
                          res[i].reason);
            refused++;
        } else {
            r = json_pack("{s:I, s:I, s:s, s:s}", "index", (json_int_t)i, "id",
                          (json_int_t)res[i].id, "status",
                          res[i].duplicate ? "duplicate" : "created", "severity",
                          td_severity_name(res[i].severity));
            if (res[i].duplicate)
                dups++;
            else
                accepted++;
        }
        if (!r || json_array_append_new(results, r)) {
            rc = td_error_set(err, TD_ENOMEM, NULL);
            goto out;
        }
    }
    *out = json_pack("{s:I, s:I, s:I, s:O}", "accepted", (json_int_t)accepted, "duplicates",
                     (json_int_t)dups, "refused", (json_int_t)refused, "results", results);
    if (!*out)
        rc = td_error_set(err, TD_ENOMEM, NULL);
    if (!rc && results_out) {
        *results_out = res; /* yours now */
        res = NULL;
        if (n_out)
            *n_out = n;
    }
out:
    for (size_t i = 0; msgs && i < n; i++) {
        td_message_release(&msgs[i]);
        if (keys)
            free(keys[i]);
    }
    free(msgs);
    free(keys);
    free(res);
    free(parse_code);
    free(perr);
    json_decref(results);
    json_decref(single);
    return rc;
}
