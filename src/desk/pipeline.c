/*
 * pipeline.c - the one way in (pipeline.h): canonical sender, dedupe,
 * analysis, sender history, filing.
 *
 * The desk half of the rules (what a message is filed under, which earlier
 * message it duplicates, whether an idempotency key is reused for other
 * bytes) is here as td__ingest_*, called by ingest.c for every batch the
 * desk takes - from the server as much as from the command line.  The run
 * half (memory of this run, analysis before filing) is td_pipeline_*.
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "desk/desk_int.h"
#include "desk/pipeline_int.h"
#include "threatdesk/dedupe.h"
#include "threatdesk/pipeline.h"
#include "threatdesk/sender.h"

/* ---- desk-side rules ------------------------------------------------------ */

int td__blank(const char *s, size_t n)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    while (n > 0) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(p, (utf8proc_ssize_t)n, &c);
        if (k <= 0)
            return 0; /* not UTF-8: not blank (and refused elsewhere) */
        utf8proc_category_t cat = utf8proc_category(c);
        int space = c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
                    cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
                    cat == UTF8PROC_CATEGORY_ZP || c == 0x200B || c == 0xFEFF;
        if (!space)
            return 0;
        p += k;
        n -= (size_t)k;
    }
    return 1;
}

static json_t *attachments_json(const struct td_message *m)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < m->nattachments; i++) {
        const struct td_attachment *at = &m->attachments[i];
        json_t *o = json_pack("{s:s?,s:s?,s:I,s:s}", "name", at->name, "type", at->type, "size",
                              (json_int_t)at->size, "sha256", at->sha256);
        if (!o) /* a name that is not UTF-8 */
            o = json_pack("{s:s?,s:I,s:s}", "type", at->type, "size", (json_int_t)at->size,
                          "sha256", at->sha256);
        if (!o || json_array_append_new(a, o)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

int td__ingest_keys(const struct td_message *m, struct td__ingest_keys *k, struct td_error *err)
{
    memset(k, 0, sizeof *k);
    int rc = td_sender_key_of(m, k->sender, sizeof k->sender);
    if (rc == TD_OK)
        k->has_sender = 1;
    else if (rc == TD_ENOMEM)
        return td_error_set(err, TD_ENOMEM, NULL);
    if (k->has_sender && m->text &&
        td_dedupe_content_key(k->sender, m->text, m->text_len, k->content) == TD_OK)
        k->has_content = 1;
    if (m->nattachments) {
        json_t *a = attachments_json(m);
        k->attachments = a ? json_dumps(a, JSON_COMPACT) : NULL;
        json_decref(a);
        if (!k->attachments)
            return td_error_set(err, TD_ENOMEM, NULL);
    }
    return TD_OK;
}

void td__ingest_keys_release(struct td__ingest_keys *k)
{
    free(k->attachments);
    k->attachments = NULL;
}

int td__ingest_conflict(struct td_desk *d, int64_t office_id, int64_t id,
                        const struct td_message *m, int *conflict, struct td_error *err)
{
    struct td_store_message_row row;
    struct td_store_arena ar = {0};
    *conflict = 0;
    int rc = d->store->ops->message_get(d->store, office_id, id, &row, &ar, err);
    if (!rc)
        *conflict = !row.text || row.text_len != m->text_len ||
                    (m->text_len && memcmp(row.text, m->text, m->text_len) != 0);
    td_store_arena_free(&ar);
    return rc;
}

/* ---- the operator ------------------------------------------------------------ */

int td_desk_operator(struct td_desk *d, const char *office, struct td_actor *out,
                     struct td_error *err)
{
    int64_t id = 0;
    memset(out, 0, sizeof *out);
    if (!office || !*office) {
        td_error_field(err, "office");
        return td_error_set(err, TD_EINVAL, "no office named");
    }
    td__lock(d);
    int rc = d->store->ops->office_find(d->store, office, &id, err);
    td__unlock(d);
    if (rc == TD_ENOTFOUND || (rc == TD_OK && id == 0)) {
        td_error_field(err, "office");
        return td_error_set(err, TD_ENOTFOUND, "no office '%.100s'", office);
    }
    if (rc)
        return rc;
    out->user_id = 0;
    out->office_id = id;
    out->role = TD_ROLE_ADMIN;
    snprintf(out->username, sizeof out->username, "%s", "(operator)");
    snprintf(out->office, sizeof out->office, "%s", office);
    return TD_OK;
}

/* ---- the run ------------------------------------------------------------------- */

struct td_pipeline {
    struct td_pipeline_opts o;
    struct td_dedupe *dedupe;   /* NULL with keep_duplicates */
    struct td_senders *senders; /* the run's tallies and history */
};

int td_pipeline_new(const struct td_pipeline_opts *o, struct td_pipeline **out,
                    struct td_error *err)
{
    *out = NULL;
    if (!o || !o->ctx)
        return td_error_set(err, TD_EINVAL, "the pipeline needs an analysis context");
    if (o->desk && !o->actor)
        return td_error_set(err, TD_EINVAL, "filing into a desk needs an actor");
    struct td_pipeline *p = calloc(1, sizeof *p);
    if (!p)
        return td_error_set(err, TD_ENOMEM, NULL);
    p->o = *o;
    if ((!o->keep_duplicates && td_dedupe_new(o->max_remembered, &p->dedupe)) ||
        td_senders_new(o->max_remembered, &p->senders)) {
        td_pipeline_free(p);
        return td_error_set(err, TD_ENOMEM, NULL);
    }
    *out = p;
    return TD_OK;
}

void td_pipeline_free(struct td_pipeline *p)
{
    if (!p)
        return;
    td_dedupe_free(p->dedupe);
    td_senders_free(p->senders);
    free(p);
}

struct td_senders *td_pipeline_senders(struct td_pipeline *p)
{
    return p->senders;
}

static int refused(struct td_pipeline_result *res, struct td_error *err, int code)
{
    res->code = code;
    snprintf(res->field, sizeof res->field, "%s", err ? err->field : "");
    snprintf(res->reason, sizeof res->reason, "%.255s",
             err && err->message[0] ? err->message : td_strerror(code));
    return TD_OK;
}

int td_pipeline_process(struct td_pipeline *p, struct td_message *m, const char *client_key,
                        struct td_verdict *v, struct td_pipeline_result *res, struct td_error *err)
{
    char key[512];
    int rc;
    memset(res, 0, sizeof *res);

    /* 1. one key per person, whatever the door */
    rc = td_sender_key_of(m, key, sizeof key);
    if (rc == TD_ENOMEM)
        return td_error_set(err, TD_ENOMEM, NULL);
    if (td_message_set(&m->sender, rc == TD_OK ? key : NULL, rc == TD_OK ? (size_t)-1 : 0))
        return td_error_set(err, TD_ENOMEM, NULL);

    /* 2. this run's memory: a repeat is not analysed again */
    if (p->dedupe) {
        const char *dup_of = NULL;
        rc = td_dedupe_check(p->dedupe, m, &dup_of);
        if (rc < 0)
            return td_error_set(err, TD_ENOMEM, NULL);
        if (rc == 1) {
            res->duplicate = 1;
            snprintf(res->dup_of, sizeof res->dup_of, "%s", dup_of ? dup_of : "");
            return TD_OK;
        }
    }

    /* 3. analysis, outside any desk lock (the desk refuses blank text: no
     * point analysing it first; a scan analyses whatever it is given) */
    if (p->o.desk && (!m->text || m->text_len == 0 || td__blank(m->text, m->text_len))) {
        td_error_field(err, "text");
        td_error_set(err, TD_EINVAL, "no text to analyse");
        return refused(res, err, TD_EINVAL);
    }
    if ((rc = td_analyse(p->o.ctx, m->text ? m->text : "", m->text_len, v, err))) {
        if (rc == TD_ENOMEM)
            return rc;
        return refused(res, err, rc);
    }

    /* 4 + 5: with a desk, its store is the memory and the history */
    if (p->o.desk) {
        struct td_ingest_result ir;
        rc = td_desk_file(p->o.desk, p->o.actor, m, client_key, v, &ir, err);
        if (rc == TD_ESTORE || rc == TD_ENOMEM || rc == TD_EIO)
            return rc;
        if (rc)
            return refused(res, err, rc);
        if (ir.duplicate) {
            res->duplicate = 1;
            res->id = ir.id;
            snprintf(res->dup_of, sizeof res->dup_of, "desk:%lld", (long long)ir.id);
            return TD_OK;
        }
        res->id = ir.id;
    } else {
        size_t prior = td_senders_threats(p->senders, m->sender);
        td_verdict_apply_history(v, prior > 1000u ? 1000u : (unsigned)prior);
    }
    res->analysed = 1;
    if (td_senders_add(p->senders, m, v->severity, (v->labels >> TD_LABEL_THREAT) & 1u))
        return td_error_set(err, TD_ENOMEM, NULL);
    return TD_OK;
}
