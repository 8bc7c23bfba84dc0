/*
 * handlers_ingest.c - messages in.
 *
 *   POST /v1/messages          one message, by Content-Type:
 *       application/json       {"text", "channel", "sender", "received",
 *                               "subject", "message_id", "client_key", ...}
 *                              (the desk's JSON door, td_desk_ingest_json)
 *       message/rfc822         a raw email, parsed in memory by the
 *                              ingestion library (td_email_parse); a body
 *                              that starts with an mbox "From " line is
 *                              refused (400): send it as application/mbox
 *       application/mbox       an mbox file: every message in it, as one
 *                              batch (answered like :batch below)
 *       image/png|jpeg|tiff,   a scanned letter: kept and queued for OCR
 *       application/pdf        (desk.h "scanned letters"), answered
 *                              202 {"upload","job","status":"queued",
 *                              "location":"/v1/uploads/<id>"} before any
 *                              OCR; a worker files it later.  ?name= or
 *                              X-Filename names the file.  (A store
 *                              without the work queue: OCR'd in the
 *                              request, 201 as below.)
 *     201 {"id","status":"created","severity"} | 200 duplicate |
 *     400 refused, the error naming the field; 409 when the idempotency
 *     key was already used for a message with another text; 415 for any
 *     other Content-Type (text/plain, forms, XML...: never parsed as JSON)
 *     The idempotency key is "client_key" in JSON, or the Idempotency-Key
 *     header (any content type); without one, the Message-ID.
 *
 *   GET /v1/uploads/{id}       a scan's state: queued, processing, done
 *     ({"message": id}) or failed ({"error"}).
 *
 *   POST /v1/messages:batch    [msg, ...] or {"messages": [...]}, one
 *     transaction, one savepoint per record: bad records are refused one by
 *     one, the rest committed together.
 *     200 when every record was stored (or was a duplicate);
 *     422 when some were refused - the body still carries every record's
 *     result ("results": [{"index","status","id"|"field","reason"}]) and an
 *     "error" naming the FIRST refused record's index and field; the
 *     accepted records ARE stored.  Fields are named by their full path in
 *     the request: "messages[2].text".
 *
 * Acknowledgement: every 2xx (and the 422 above) is sent only after the
 * desk returned from a committed transaction, so an acknowledged id is
 * durable even if the process is killed the next instant.
 *
 * Scans go through a temporary file because the readers (reader.h) read
 * files; the file is unlinked before the answer.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server_int.h"
#include "threatdesk/email.h"
#include "threatdesk/reader.h"

#define MBOX_MAX 10000

/* Count and announce the records the desk created, from its typed
 * results (not by reading our own JSON answer back). */
static void count_ingested(struct td__req *r, const struct td_ingest_result *res, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (res[i].code == TD_OK && !res[i].duplicate) {
            td__metrics_ingested(r->srv->metrics, (int)res[i].severity);
            td__web_notify(r->srv, r->caller.office_id, res[i].id, (int)res[i].severity);
        }
}

static int need_desk(struct td__req *r)
{
    if (r->srv->desk)
        return 1;
    td__reply_error(r, 503, NULL, -1, "no desk attached to this server");
    return 0;
}

/* One record through the JSON door.  in is borrowed. */
static void ingest_one_json(struct td__req *r, json_t *in)
{
    struct td_error err;
    json_t *out = NULL;
    const char *idem = td__header(r, "Idempotency-Key");
    if (!json_is_object(in)) {
        td__reply_error(r, 400, NULL, -1,
                        "expected one message object (use /v1/messages:batch for an array)");
        return;
    }
    if (idem && *idem && !json_object_get(in, "client_key"))
        json_object_set_new(in, "client_key", json_string(idem));
    /* Keep the original exactly as it came over the wire. */
    if (!json_object_get(in, "original"))
        json_object_set_new(in, "original", json_stringn(r->body.data, r->body.len));
    td_error_clear(&err);
    struct td_analysis_ctx *ctx = td__ctx_take(r->srv);
    struct td_ingest_result *results = NULL;
    size_t n = 0;
    int rc =
        td_desk_ingest_json_results(r->srv->desk, &r->actor, ctx, in, &out, &results, &n, &err);
    td__ctx_give(r->srv, ctx);
    if (rc != TD_OK) {
        td__reply_td_error(r, rc, &err);
        return;
    }
    /* The decision is read off the desk's typed result; the JSON row is
     * only the body sent back. */
    json_t *res = json_array_get(json_object_get(out, "results"), 0);
    if (n < 1 || !res) {
        td__reply_error(r, 500, NULL, 0, "the desk returned no result");
    } else if (results[0].code != TD_OK) {
        unsigned status = 400;
        if (results[0].code == TD_EEXISTS)
            status = 409; /* the idempotency key names another message */
        else if (results[0].code == TD_ETOOBIG)
            status = 413;
        td__reply_error(r, status, results[0].field[0] ? results[0].field : NULL, 0, "%s",
                        results[0].reason[0] ? results[0].reason : "refused");
    } else {
        count_ingested(r, results, n);
        td__reply(r, results[0].duplicate ? 200 : 201, json_incref(res));
    }
    json_decref(out);
    free(results);
}

/* Raw bytes into one message: an email parsed in memory by the e-mail
 * module; a scan through the reader table (which OCRs it), via a temporary
 * file because readers read files. */
static int parse_raw(struct td__req *r, enum td_format fmt, struct td_message *m,
                     struct td_error *err)
{
    struct td_reader *rd = NULL;
    char path[] = "/tmp/threatdesk-upload-XXXXXX";
    int rc;
    if (fmt == TD_FORMAT_EML) {
        struct td_email_opts eo;
        td_email_opts_default(&eo);
        eo.max_original = r->srv->cfg.max_body;
        return td_email_parse(r->body.data, r->body.len, NULL, &eo, m, err);
    }
    int fd = mkstemp(path);
    if (fd < 0)
        return td_error_set(err, TD_EIO, "cannot create a temporary file");
    size_t off = 0;
    while (off < r->body.len) {
        ssize_t w = write(fd, r->body.data + off, r->body.len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fd);
    if (off != r->body.len) {
        unlink(path);
        return td_error_set(err, TD_EIO, "cannot write a temporary file");
    }
    struct td_reader_opts ro = {0};
    ro.format = fmt;
    ro.max_record = r->srv->cfg.max_body;
    rc = td_reader_open(path, &ro, &rd, err);
    if (rc == TD_OK)
        rc = td_reader_next(rd, m, err);
    td_reader_close(rd);
    unlink(path);
    /* The reader's file name is our temporary file: not the client's
     * business. */
    if (err)
        err->file[0] = '\0';
    return rc;
}

static void ingest_one_raw(struct td__req *r, enum td_format fmt)
{
    struct td_error err;
    struct td_message m;
    struct td_ingest_result res;
    const char *idem = td__header(r, "Idempotency-Key");
    int rc;

    td_error_clear(&err);
    td_message_init(&m);
    memset(&res, 0, sizeof res);
    if (r->body.len == 0) {
        td__reply_error(r, 400, NULL, -1, "request body is empty");
        return;
    }
    rc = parse_raw(r, fmt, &m, &err);
    if (rc == TD_EOF) {
        td__reply_error(r, 400, NULL, -1, "no message found in the body");
        goto out;
    }
    if (rc != TD_OK) {
        td__reply_td_error(r, rc, &err);
        goto out;
    }
    if (!m.text || m.text_len == 0) {
        td__reply_error(r, 400, "text", -1, "no text could be read from the %s",
                        fmt == TD_FORMAT_EML ? "email" : "image");
        goto out;
    }
    td_error_clear(&err);
    struct td_analysis_ctx *ctx = td__ctx_take(r->srv);
    rc = td_desk_ingest(r->srv->desk, &r->actor, ctx, &m, idem && *idem ? idem : NULL, &res, &err);
    td__ctx_give(r->srv, ctx);
    if (rc != TD_OK) {
        if (res.field[0])
            td_error_field(&err, res.field);
        td__reply_td_error(r, rc, &err);
        goto out;
    }
    if (!res.duplicate) {
        td__metrics_ingested(r->srv->metrics, (int)res.severity);
        td__web_notify(r->srv, r->caller.office_id, res.id, (int)res.severity);
    }
    td__reply(r, res.duplicate ? 200 : 201,
              json_pack("{s:I,s:I,s:s,s:s,s:s}", "index", (json_int_t)0, "id", (json_int_t)res.id,
                        "status", res.duplicate ? "duplicate" : "created", "severity",
                        td_severity_name(res.severity), "channel", m.channel ? m.channel : ""));
out:
    td_message_release(&m);
}

/* A scan kept and queued (desk.h "scanned letters"): the answer comes
 * after the commit and before any OCR. */
static void queue_scan(struct td__req *r)
{
    struct td_error err;
    struct td_upload_result res;
    const char *idem = td__header(r, "Idempotency-Key");
    const char *name = td__query(r, "name");
    if (!name || !*name)
        name = td__header(r, "X-Filename");
    if (r->body.len == 0) {
        td__reply_error(r, 400, NULL, -1, "request body is empty");
        return;
    }
    td_error_clear(&err);
    int rc = td_desk_upload_accept(r->srv->desk, &r->actor, r->body.data, r->body.len, name,
                                   idem && *idem ? idem : NULL, INT64_MIN, &res, &err);
    if (rc != TD_OK) {
        td__reply_td_error(r, rc, &err);
        return;
    }
    char where[64];
    snprintf(where, sizeof where, "/v1/uploads/%lld", (long long)res.id);
    json_t *o = json_pack("{s:I, s:s, s:s}", "upload", (json_int_t)res.id, "status", res.state,
                          "location", where);
    if (o && res.job_id)
        json_object_set_new(o, "job", json_integer(res.job_id));
    if (o && res.message_id)
        json_object_set_new(o, "message", json_integer(res.message_id));
    if (o && res.duplicate)
        json_object_set_new(o, "duplicate", json_true());
    snprintf(r->location, sizeof r->location, "%s", where);
    td__reply(r, res.duplicate ? 200 : 202, o);
}

void td__h_upload_get(struct td__req *r)
{
    td__reply_get(r, td_desk_upload_get);
}

/* Name every refused record's field by its full path in the request
 * ("messages[2].text"), and answer 200 or 422 as the batch route does.
 * out is stolen. */
static void reply_batch(struct td__req *r, json_t *out, const struct td_ingest_result *typed,
                        size_t n, const char *what)
{
    json_t *results = json_object_get(out, "results");
    size_t i;
    json_t *res;
    /* typed[i] is results[i]'s record (the desk fills both in order) */
    json_array_foreach(results, i, res)
    {
        if (i >= n || typed[i].code == TD_OK)
            continue;
        const char *f = json_string_value(json_object_get(res, "field"));
        char path[160];
        if (f && *f)
            snprintf(path, sizeof path, "%s[%zu].%.100s", what, i, f);
        else
            snprintf(path, sizeof path, "%s[%zu]", what, i);
        json_object_set_new(res, "field", json_string(path));
    }
    count_ingested(r, typed, n);
    json_int_t refused = json_integer_value(json_object_get(out, "refused"));
    if (refused <= 0) {
        td__reply(r, 200, out);
        return;
    }
    json_array_foreach(results, i, res)
    {
        if (i >= n || typed[i].code == TD_OK)
            continue;
        const char *field = json_string_value(json_object_get(res, "field"));
        const char *reason = json_string_value(json_object_get(res, "reason"));
        char msg[400];
        snprintf(msg, sizeof msg,
                 "%lld of %zu records refused (first: %s: %s); the others were stored",
                 (long long)refused, json_array_size(results), field ? field : "?",
                 reason ? reason : "refused");
        json_t *e = json_pack("{s:i,s:s,s:s,s:I}", "code", 422, "status", "INVALID_ARGUMENT",
                              "message", msg, "index", (json_int_t)i);
        if (e && field)
            json_object_set_new(e, "field", json_string(field));
        json_object_set_new(out, "error", e);
        break;
    }
    td__reply(r, 422, out);
}

/* An mbox "From " envelope line at the start: not one RFC 5322 message. */
static int starts_as_mbox(const struct td__req *r)
{
    return r->body.len >= 5 && !memcmp(r->body.data, "From ", 5);
}

/* application/mbox: every message of the file, filed as one batch (the
 * desk's transaction and per-record savepoints).  The Idempotency-Key, when
 * given, becomes "<key>#<n>" for the n-th message; else each Message-ID. */
static void ingest_mbox(struct td__req *r)
{
    struct td_error err;
    struct td_reader *rd = NULL;
    struct td_message *msgs = NULL;
    char **keys = NULL;
    struct td_ingest_result *res = NULL;
    json_t *results = NULL;
    size_t n = 0, cap = 0, accepted = 0, dups = 0, nrefused = 0;
    char path[] = "/tmp/threatdesk-mbox-XXXXXX";
    const char *idem = td__header(r, "Idempotency-Key");
    int rc, fd = -1;
    td_error_clear(&err);
    if (r->body.len == 0 || !starts_as_mbox(r)) {
        td__reply_error(r, 400, NULL, -1,
                        "an mbox starts with a \"From \" line; this body does not");
        return;
    }
    if ((fd = mkstemp(path)) < 0) {
        td__reply_error(r, 500, NULL, -1, "cannot create a temporary file");
        return;
    }
    size_t off = 0;
    while (off < r->body.len) {
        ssize_t w = write(fd, r->body.data + off, r->body.len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fd);
    struct td_reader_opts ro = {0};
    ro.format = TD_FORMAT_MBOX;
    ro.max_record = r->srv->cfg.max_body;
    rc = off == r->body.len ? td_reader_open(path, &ro, &rd, &err) : TD_EIO;
    if (rc) {
        unlink(path);
        err.file[0] = '\0';
        td__reply_td_error(r, rc, &err);
        return;
    }
    if (!(results = json_array()))
        goto oom;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct td_message *nm = realloc(msgs, ncap * sizeof *nm);
            if (!nm)
                goto oom;
            msgs = nm;
            cap = ncap;
        }
        td_message_init(&msgs[n]);
        td_error_clear(&err);
        rc = td_reader_next(rd, &msgs[n], &err);
        if (rc == TD_EOF)
            break;
        if (n >= MBOX_MAX) {
            td_message_release(&msgs[n]);
            td__reply_error(r, 413, NULL, -1, "more than %d messages in one mbox", MBOX_MAX);
            goto out;
        }
        if (rc) {
            /* a message that does not parse is refused in place */
            td_message_release(&msgs[n]);
            if (!msgs[n].text && td_message_set(&msgs[n].text, NULL, 0))
                goto oom;
            if (td_message_set(&msgs[n].warning, err.message, (size_t)-1))
                goto oom;
        }
        n++;
        if (td_reader_failed(rd))
            break;
    }
    if (!(keys = calloc(n ? n : 1, sizeof *keys)) || !(res = calloc(n ? n : 1, sizeof *res)))
        goto oom;
    for (size_t i = 0; idem && *idem && i < n; i++) {
        char k[300];
        snprintf(k, sizeof k, "%.250s#%zu", idem, i);
        if (!(keys[i] = strdup(k)))
            goto oom;
    }
    td_error_clear(&err);
    struct td_analysis_ctx *ctx = td__ctx_take(r->srv);
    rc = td_desk_ingest_batch(r->srv->desk, &r->actor, ctx, msgs, n, (const char *const *)keys, res,
                              &err);
    td__ctx_give(r->srv, ctx);
    if (rc) {
        td__reply_td_error(r, rc, &err);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *o;
        if (res[i].code) {
            const char *why =
                msgs[i].warning && !msgs[i].text_len ? msgs[i].warning : res[i].reason;
            o = json_pack("{s:I,s:s,s:s,s:s,s:s?}", "index", (json_int_t)i, "status", "refused",
                          "code", td_errname(res[i].code), "field", res[i].field, "reason", why);
            nrefused++;
        } else {
            o = json_pack("{s:I,s:I,s:s,s:s,s:s?}", "index", (json_int_t)i, "id",
                          (json_int_t)res[i].id, "status",
                          res[i].duplicate ? "duplicate" : "created", "severity",
                          td_severity_name(res[i].severity), "message_id", msgs[i].message_id);
            if (res[i].duplicate)
                dups++;
            else
                accepted++;
        }
        if (!o || json_array_append_new(results, o))
            goto oom;
    }
    json_t *body = json_pack("{s:I,s:I,s:I,s:O}", "accepted", (json_int_t)accepted, "duplicates",
                             (json_int_t)dups, "refused", (json_int_t)nrefused, "results", results);
    if (!body)
        goto oom;
    reply_batch(r, body, res, n, "messages");
    goto out;
oom:
    td__reply_error(r, 500, NULL, -1, "out of memory");
out:
    td_reader_close(rd);
    unlink(path);
    for (size_t i = 0; i < n; i++) {
        td_message_release(&msgs[i]);
        if (keys)
            free(keys[i]);
    }
    free(msgs);
    free(keys);
    free(res);
    json_decref(results);
}

void td__h_messages_post(struct td__req *r)
{
    char ct[128];
    if (!need_desk(r))
        return;
    td__content_type(r, ct, sizeof ct);
    if (!strcmp(ct, "message/rfc822")) {
        if (starts_as_mbox(r)) {
            td__reply_error(r, 400, "Content-Type", -1,
                            "the body is an mbox (it starts with a \"From \" line), not one "
                            "message: send it as application/mbox");
            return;
        }
        ingest_one_raw(r, TD_FORMAT_EML);
        return;
    }
    if (!strcmp(ct, "application/mbox")) {
        ingest_mbox(r);
        return;
    }
    int image = !strcmp(ct, "image/png") || !strcmp(ct, "image/jpeg") || !strcmp(ct, "image/tiff");
    if (image || !strcmp(ct, "application/pdf")) {
        if (td_desk_can_queue(r->srv->desk))
            queue_scan(r);
        else
            ingest_one_raw(r, image ? TD_FORMAT_IMAGE : TD_FORMAT_PDF);
        return;
    }
    if (!strncmp(ct, "image/", 6)) {
        td__reply_error(r, 415, NULL, -1, "images must be PNG, JPEG or TIFF, not %s", ct);
        return;
    }
    if (ct[0] && strcmp(ct, "application/json")) {
        td__reply_error(r, 415, "Content-Type", -1,
                        "unsupported Content-Type %s: send application/json, message/rfc822, "
                        "application/mbox, image/png, image/jpeg, image/tiff or application/pdf",
                        ct);
        return;
    }
    json_t *in = td__body_json(r);
    if (!in)
        return;
    ingest_one_json(r, in);
    json_decref(in);
}

void td__h_messages_batch(struct td__req *r)
{
    struct td_error err;
    char ct[128];
    json_t *out = NULL;
    struct td_ingest_result *typed = NULL;
    size_t n = 0;
    if (!need_desk(r))
        return;
    td__content_type(r, ct, sizeof ct);
    if (ct[0] && strcmp(ct, "application/json")) {
        td__reply_error(r, 415, "Content-Type", -1,
                        "unsupported Content-Type %s: a batch is application/json "
                        "(an mbox goes to POST /v1/messages as application/mbox)",
                        ct);
        return;
    }
    json_t *in = td__body_json(r);
    if (!in)
        return;
    json_t *arr = json_is_array(in) ? in : json_object_get(in, "messages");
    if (!json_is_array(arr)) {
        td__reply_error(r, 400, "messages", -1,
                        "expected an array of messages or {\"messages\": [...]}");
        goto done;
    }
    if (json_array_size(arr) == 0) {
        td__reply_error(r, 400, "messages", -1, "the batch is empty");
        goto done;
    }
    td_error_clear(&err);
    struct td_analysis_ctx *ctx = td__ctx_take(r->srv);
    int rc = td_desk_ingest_json_results(r->srv->desk, &r->actor, ctx, arr, &out, &typed, &n, &err);
    td__ctx_give(r->srv, ctx);
    if (rc != TD_OK) {
        td__reply_td_error(r, rc, &err);
        goto done;
    }
    reply_batch(r, out, typed, n, json_is_array(in) ? "" : "messages");
    out = NULL;
done:
    json_decref(out);
    json_decref(in);
    free(typed);
}
