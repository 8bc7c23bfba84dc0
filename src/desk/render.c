/*
 * render.c - typed rows (store.h) into the JSON the API returns.  Both
 * backends answer the same rows, so the shapes cannot drift apart between
 * them: there is no other copy of these rules (render.h says what they
 * are).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk/render.h"
#include "threatdesk/alert.h"
#include "threatdesk/taxonomy.h"

/* Member k: text (NULL or invalid UTF-8: left out), an integer. */
static void put_str(json_t *o, const char *k, const char *s)
{
    if (s)
        json_object_set_new(o, k, json_string(s));
}

static void put_strn(json_t *o, const char *k, const char *s, size_t n)
{
    if (s)
        json_object_set_new(o, k, json_stringn(s, n));
}

static void put_int(json_t *o, const char *k, int64_t v)
{
    json_object_set_new(o, k, json_integer((json_int_t)v));
}

/* A JSON-text column set under k; NULL or text that does not parse is
 * left out. */
static void put_json(json_t *o, const char *k, const char *txt)
{
    if (txt)
        json_object_set_new(o, k, json_loads(txt, JSON_DECODE_ANY, NULL));
}

/* A verdict's decision: the members a message row keeps in its columns,
 * in td_verdict_to_json's order, left out of the stored verdict text. */
static const char *const decision[4] = {"predicted", "severity", "flags", "model"};

static int is_decision(const char *k)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(k, decision[i]))
            return 1;
    return 0;
}

char *td__verdict_stored_text(json_t *v)
{
    for (int k = 0; k < 4; k++)
        json_object_del(v, decision[k]);
    return json_dumps(v, JSON_COMPACT);
}

/* Bit names in bit order (labels or flags), as td_verdict_to_json lists
 * them. */
static json_t *bit_names(unsigned bits, int count, const char *(*name)(int))
{
    json_t *a = json_array();
    for (int b = 0; a && b < count; b++)
        if ((bits & (1u << b)) && name(b))
            json_array_append_new(a, json_string(name(b)));
    return a;
}

static const char *label_name(int l)
{
    return td_label_name((enum td_label)l);
}

/* The verdict part of a message, in td_verdict_to_json's order: labels,
 * predicted, severity, flags, spans, reason, model, then the rest.  The
 * decision (predicted, severity, flags, model) is stored once, in the
 * row's columns (ingest.c leaves it out of the verdict text); a row
 * written before that still carries it in the text, and then the text's
 * own value is used, so old and new rows read the same.  A verdict text
 * that does not parse adds nothing, as before. */
static void merge_verdict(json_t *o, const struct td_store_message_row *r)
{
    json_t *v = r->verdict ? json_loads(r->verdict, JSON_DECODE_ANY, NULL) : NULL;
    if (!json_is_object(v)) {
        json_decref(v);
        return;
    }
    json_object_del(v, "severity_rank"); /* the store's sort key, not the API's */
    const char *sev = td_severity_name(r->severity);
    json_t *col[4] = {bit_names(r->labels, TD_LABEL_COUNT, label_name),
                      sev ? json_string(sev) : json_null(),
                      bit_names(r->flags, TD_FLAG_COUNT, td_flag_name),
                      json_string(r->model_version ? r->model_version : "")};
    json_t *n = json_object();
    /* one of the decision's members: the text's when it has it */
    for (int k = 0; k < 4; k++)
        if (json_object_get(v, decision[k])) {
            json_decref(col[k]);
            col[k] = json_incref(json_object_get(v, decision[k]));
        }
    if (json_object_get(v, "labels"))
        json_object_set(n, "labels", json_object_get(v, "labels"));
    for (int k = 0; k < 3; k++)
        json_object_set(n, decision[k], col[k]);
    int model_done = 0;
    const char *k;
    json_t *val;
    json_object_foreach(v, k, val)
    {
        if (!strcmp(k, "labels") || is_decision(k))
            continue;
        json_object_set(n, k, val);
        if (!strcmp(k, "reason")) {
            json_object_set(n, decision[3], col[3]);
            model_done = 1;
        }
    }
    if (!model_done)
        json_object_set(n, decision[3], col[3]);
    json_object_update(o, n);
    for (int i = 0; i < 4; i++)
        json_decref(col[i]);
    json_decref(n);
    json_decref(v);
}

/* A MESSAGE's members up to its verdict, in their order; the export's row
 * (full 0) leaves out client_key and text. */
static json_t *message_head(const struct td_store_message_row *r, int full)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    put_int(o, "id", r->id);
    put_str(o, "channel", r->channel);
    put_str(o, "sender", r->sender);
    put_str(o, "sender_name", r->sender_name);
    put_str(o, "subject", r->subject);
    put_int(o, "received", r->received);
    put_int(o, "ingested", r->ingested);
    put_str(o, "status", r->status);
    put_str(o, "status_reason", r->status_reason);
    if (full)
        put_str(o, "client_key", r->client_key);
    put_str(o, "message_id", r->message_id);
    if (full)
        put_strn(o, "text", r->text, r->text_len);
    merge_verdict(o, r);
    return o;
}

json_t *td__render_message(const struct td_store_message_row *r)
{
    json_t *o = message_head(r, 1);
    if (!o)
        return NULL;
    put_json(o, "attachments", r->attachments);
    json_t *cases = json_array();
    for (size_t i = 0; cases && i < r->ncases; i++)
        json_array_append_new(cases, json_integer((json_int_t)r->cases[i]));
    json_object_set_new(o, "cases", cases);
    return o;
}

json_t *td__render_messages(const struct td_store_message_row *rows, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *o = td__render_message(&rows[i]);
        if (!o || json_array_append_new(a, o)) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

json_t *td__render_sender(const struct td_store_sender_row *r)
{
    json_t *o = json_object(), *recent = td__render_messages(r->recent, r->nrecent);
    if (!o || !recent) {
        json_decref(o);
        json_decref(recent);
        return NULL;
    }
    const char *ws = td_severity_name((int)r->worst_severity);
    put_str(o, "sender", r->sender);
    put_str(o, "display", r->display);
    put_int(o, "messages", r->messages);
    put_int(o, "threats", r->threats);
    put_str(o, "worst_severity", ws ? ws : "none");
    put_int(o, "first_seen", r->first_seen);
    put_int(o, "last_seen", r->last_seen);
    json_object_set_new(o, "recent", recent);
    return o;
}

json_t *td__render_evidence(const struct td_store_evidence_row *r, int with_case)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    put_int(o, "id", r->id);
    if (with_case)
        put_int(o, "case", r->case_id);
    put_str(o, "name", r->name);
    put_str(o, "type", r->type);
    put_int(o, "size", r->size);
    put_str(o, "sha256", r->sha256);
    put_int(o, "added", r->added);
    put_str(o, "added_by", r->added_by);
    return o;
}

json_t *td__render_case(const struct td_store_case_row *r)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    put_int(o, "id", r->id);
    put_str(o, "type", r->type);
    put_str(o, "status", r->status);
    put_str(o, "title", r->title);
    put_str(o, "description", r->description);
    if (r->has_occurred)
        put_int(o, "occurred", r->occurred);
    put_json(o, "place", r->place);
    put_json(o, "people", r->people);
    put_str(o, "police_ref", r->police_ref);
    put_str(o, "assignee", r->assignee);
    put_int(o, "created", r->created);
    put_str(o, "created_by", r->created_by);
    put_int(o, "updated", r->updated);
    return o;
}

static json_t *render_note(const struct td_store_note_row *r)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    put_int(o, "id", r->id);
    put_str(o, "text", r->text);
    put_str(o, "author", r->author);
    put_int(o, "created", r->created);
    put_int(o, "shareable", r->shareable);
    return o;
}

json_t *td__render_case_detail(const struct td_store_case_detail *d)
{
    json_t *o = td__render_case(&d->c), *ev = json_array(), *notes = json_array();
    json_t *msgs = td__render_messages(d->messages, d->nmessages);
    int bad = !o || !ev || !notes || !msgs;
    for (size_t i = 0; !bad && i < d->nevidence; i++)
        bad = json_array_append_new(ev, td__render_evidence(&d->evidence[i], 0)) != 0;
    for (size_t i = 0; !bad && i < d->nnotes; i++)
        bad = json_array_append_new(notes, render_note(&d->notes[i])) != 0;
    if (bad) {
        json_decref(o);
        json_decref(ev);
        json_decref(notes);
        json_decref(msgs);
        return NULL;
    }
    json_object_set_new(o, "messages", msgs);
    json_object_set_new(o, "evidence", ev);
    json_object_set_new(o, "notes", notes);
    return o;
}

json_t *td__render_page(const char *key, json_t *items, int64_t total, size_t limit, size_t offset)
{
    if (!items)
        return NULL;
    size_t n = json_array_size(items);
    json_t *o = json_pack("{s:o, s:I, s:I, s:I}", key, items, "total", (json_int_t)total, "limit",
                          (json_int_t)limit, "offset", (json_int_t)offset);
    if (o && (int64_t)(offset + n) < total)
        json_object_set_new(o, "next_offset", json_integer((json_int_t)(offset + n)));
    return o;
}

json_t *td__render_case_page(const struct td_store_case_page *p, size_t limit, size_t offset)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < p->n; i++)
        if (json_array_append_new(a, td__render_case(&p->rows[i]))) {
            json_decref(a);
            a = NULL;
        }
    return td__render_page("cases", a, p->total, limit, offset);
}

json_t *td__render_queue(const struct td_store_message_page *p, size_t limit, size_t offset)
{
    return td__render_page("messages", td__render_messages(p->rows, p->n), p->total, limit, offset);
}

/* Text or JSON null: the alert list shows every member, null when unset. */
static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *render_delivery(const struct td_store_alert_delivery_row *d)
{
    json_t *log = json_array();
    for (size_t i = 0; log && i < d->nlog; i++)
        if (json_array_append_new(log, json_pack("{s:I, s:o, s:o}", "at", (json_int_t)d->log[i].at,
                                                 "outcome", str_or_null(d->log[i].outcome), "error",
                                                 str_or_null(d->log[i].error)))) {
            json_decref(log);
            log = NULL;
        }
    return json_pack(
        "{s:I, s:i, s:I, s:o, s:o, s:o, s:i, s:I, s:o, s:o, s:o}", "id", (json_int_t)d->id, "step",
        d->step, "recipient", (json_int_t)d->recipient, "channel", str_or_null(d->channel),
        "target", str_or_null(d->target), "state", str_or_null(d->state), "attempts", d->attempts,
        "next_attempt_at", (json_int_t)d->next_attempt_at, "last_error", str_or_null(d->last_error),
        "delivered_at", d->delivered ? json_integer((json_int_t)d->delivered_at) : json_null(),
        "attempt_log", log);
}

static json_t *render_alert(const struct td_store_alert_row *r)
{
    const char *sev = td_severity_name(r->severity);
    json_t *dl = json_array();
    for (size_t i = 0; dl && i < r->ndeliveries; i++)
        if (json_array_append_new(dl, render_delivery(&r->deliveries[i]))) {
            json_decref(dl);
            dl = NULL;
        }
    json_t *o = json_pack("{s:I, s:I, s:I, s:o, s:s, s:s, s:I, s:i, s:s, s:o}", "id",
                          (json_int_t)r->id, "message", (json_int_t)r->message_id, "rule",
                          (json_int_t)r->rule_id, "rule_name", str_or_null(r->rule_name),
                          "severity", sev ? sev : "none", "label", td_alert_top_label(r->labels),
                          "created", (json_int_t)r->created, "step", r->step, "state",
                          r->acked    ? "acknowledged"
                          : r->failed ? "failed"
                                      : "open",
                          "deliveries", dl);
    if (o && r->acked &&
        json_object_set_new(o, "acknowledged",
                            json_pack("{s:I, s:I, s:o}", "at", (json_int_t)r->acked_at, "by",
                                      (json_int_t)r->acked_by, "via", str_or_null(r->acked_via)))) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

json_t *td__render_alerts(const struct td_store_alert_list *l)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < l->n; i++)
        if (json_array_append_new(a, render_alert(&l->rows[i]))) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

json_t *td__render_export_message(const struct td_store_message_row *r)
{
    json_t *o = message_head(r, 0);
    if (!o)
        return NULL;
    if (r->ncases) {
        /* a CSV cell: "3 1" (at most 20 characters an id and a space) */
        char *t = malloc(r->ncases * 21 + 1);
        size_t n = 0;
        if (!t) {
            json_decref(o);
            return NULL;
        }
        for (size_t i = 0; i < r->ncases; i++)
            n += (size_t)snprintf(t + n, 22, "%s%" PRId64, i ? " " : "", r->cases[i]);
        put_str(o, "cases", t);
        free(t);
    }
    return o;
}

json_t *td__render_export_case(const struct td_store_case_export_row *r)
{
    json_t *o = td__render_case(&r->c);
    if (!o)
        return NULL;
    put_int(o, "messages", r->messages);
    put_int(o, "evidence", r->evidence);
    return o;
}

json_t *td__render_digest(const char *kind, const struct td_store_digest_row *r)
{
    if (!strcmp(kind, "review"))
        return json_integer((json_int_t)r->seconds);
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (!strcmp(kind, "volume")) {
        put_int(o, "day", r->day);
        put_str(o, "channel", r->channel);
        put_int(o, "severity", r->severity);
        put_int(o, "labels", r->labels);
    } else if (!strcmp(kind, "senders")) {
        put_str(o, "sender", r->sender);
        put_str(o, "display", r->display);
        put_int(o, "n", r->n);
        put_int(o, "worst", r->worst);
        put_int(o, "threats", r->threats);
        return o;
    } else {
        put_str(o, "status", r->status);
    }
    put_int(o, "n", r->n);
    return o;
}
