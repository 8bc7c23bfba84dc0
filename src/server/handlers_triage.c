/*
 * handlers_triage.c - the queue, one message, its original, review /
 * escalate / dismiss, and a sender's history.
 *
 *   GET  /v1/queue?status=&label=&severity=&channel=&sender=&from=&to=
 *                 &limit=&cursor=
 *        unreviewed first, then severity, then newest; `cursor` is the
 *        opaque "next_cursor" of the previous page
 *   GET  /v1/messages/{id}
 *   GET  /v1/messages/{id}/original     the bytes exactly as received,
 *                                       X-Content-SHA256 their hash
 *   POST /v1/messages/{id}:review | :escalate | :dismiss | :reopen
 *        {"reason": "..."} (required to escalate or dismiss)
 *   GET  /v1/senders/{key}/history?limit=
 *
 * Office isolation and roles are the desk's: another office's id answers
 * 404 exactly like a missing one.
 */
#include <stdlib.h>
#include <string.h>

#include "server/server_int.h"

/* Query argument as a time: RFC 3339 or epoch seconds. */
int td__query_time(struct td__req *r, const char *name, int64_t *out)
{
    const char *v = td__query(r, name);
    if (!v)
        return 1;
    if (td__parse_i64(v, out) == 0 || td__http_parse_time(v, out) == 0)
        return 1;
    td__reply_error(r, 400, name, -1, "%s must be RFC 3339 (2026-11-29T08:00:00Z) or epoch seconds",
                    name);
    return 0;
}

int td__queue_filter_query(struct td__req *r, struct td_queue_filter *f)
{
    const char *v;
    td_queue_filter_init(f);
    if ((v = td__query(r, "status")) && strcmp(v, "all") != 0) {
        if ((f->status = td_msg_status_from_name(v)) < 0) {
            td__reply_error(r, 400, "status", -1,
                            "status must be unreviewed, reviewed, escalated, dismissed or all");
            return 0;
        }
    }
    if ((v = td__query(r, "label")) && (f->label = td_label_from_name(v)) < 0) {
        td__reply_error(r, 400, "label", -1,
                        "label must be threat, identity_hate, abuse, sexual or intimidation");
        return 0;
    }
    if ((v = td__query(r, "severity")) && (f->min_severity = td_severity_from_name(v)) < 0) {
        td__reply_error(r, 400, "severity", -1,
                        "severity must be none, low, medium, high or critical");
        return 0;
    }
    f->channel = td__query(r, "channel");
    f->sender = td__query(r, "sender");
    return td__query_time(r, "from", &f->since) && td__query_time(r, "to", &f->until);
}

void td__h_queue(struct td__req *r)
{
    struct td_queue_filter f;
    struct td_error err;
    json_t *out = NULL;
    if (!td__queue_filter_query(r, &f) || !td__query_page(r, &f.limit, &f.offset))
        return;
    td_error_clear(&err);
    int rc = td_desk_queue(r->srv->desk, &r->actor, &f, &out, &err);
    if (rc == TD_OK)
        td__cursorise(out);
    td__reply_desk(r, rc, &err, 200, out);
}

void td__h_message_get(struct td__req *r)
{
    td__reply_get(r, td_desk_message_get);
}

void td__h_message_original(struct td__req *r)
{
    struct td_error err;
    void *data = NULL;
    size_t len = 0;
    int64_t id;
    if (!td__path_id(r, "id", &id))
        return;
    td_error_clear(&err);
    int rc = td_desk_message_original(r->srv->desk, &r->actor, id, &data, &len, r->sha256, &err);
    if (rc != TD_OK) {
        r->sha256[0] = '\0';
        td__reply_td_error(r, rc, &err);
    } else if (td_buf_append(&r->raw, data, len) != TD_OK) {
        r->sha256[0] = '\0';
        td__reply_error(r, 500, NULL, -1, "original too large to send");
    } else {
        r->status = 200;
        r->raw_type = "application/octet-stream";
    }
    free(data);
}

static void set_status(struct td__req *r, enum td_msg_status st)
{
    struct td_error err;
    int64_t id;
    int bad = 0;
    const char *reason = NULL;
    json_t *in = NULL;
    if (!td__path_id(r, "id", &id))
        return;
    if (r->body.len) {
        if (!(in = td__body_json(r)))
            return;
        if (!json_is_object(in)) {
            td__reply_error(r, 400, NULL, -1, "expected {\"reason\": \"...\"}");
            goto out;
        }
        reason = td__json_str(r, in, "reason", &bad);
        if (bad)
            goto out;
    }
    td_error_clear(&err);
    int rc = td_desk_message_set_status(r->srv->desk, &r->actor, id, st, reason, &err);
    td__reply_desk(r, rc, &err, 200,
                   json_pack("{s:I,s:s}", "id", (json_int_t)id, "status", td_msg_status_name(st)));
out:
    json_decref(in);
}

void td__h_message_review(struct td__req *r)
{
    set_status(r, TD_MSG_REVIEWED);
}

void td__h_message_escalate(struct td__req *r)
{
    set_status(r, TD_MSG_ESCALATED);
}

void td__h_message_dismiss(struct td__req *r)
{
    set_status(r, TD_MSG_DISMISSED);
}

void td__h_message_reopen(struct td__req *r)
{
    set_status(r, TD_MSG_UNREVIEWED);
}

void td__h_sender_history(struct td__req *r)
{
    struct td_error err;
    json_t *out = NULL;
    size_t limit = 0;
    if (!td__query_size(r, "limit", 500, &limit))
        return;
    td_error_clear(&err);
    int rc = td_desk_sender(r->srv->desk, &r->actor, td__param(r, "key"), limit, &out, &err);
    td__reply_desk(r, rc, &err, 200, out);
}
