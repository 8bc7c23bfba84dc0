/*
 * feedback.c - learning from the office, desk side (feedback.h has the
 * rule; feedback_int.h the calls the rest of the desk makes).
 *
 *   ingest          the analyser's vector is kept beside the message
 *                   (message_vectors), and the verdict is adjusted by the
 *                   office's live decisions before it is filed
 *   status change   reviewed / escalated / dismissed become a decision
 *                   row (with the vector kept at ingest), the earlier
 *                   decision about the message is revoked first; back to
 *                   unreviewed only revokes.  Audited ("feedback.add",
 *                   "feedback.revoke") in the status change's transaction
 *   revoke          td_desk_feedback_revoke: the row stops counting; the
 *                   audit log keeps both acts
 *
 * The cache: one memory per office and model, built from that office's
 * rows only (every store op names the office) and centred on the mean of
 * the office's latest MEAN_OF message vectors, checked against the rows'
 * stamp before each use so a revocation made by another process (the CLI
 * beside the server) is seen at the next message - at the next batch
 * inside an ingest batch, whose transaction changes no decision.  (The centre is
 * refreshed with the rows, not with every message: it moves slowly.)
 */
#include <stdlib.h>
#include <string.h>

#include "desk/desk_int.h"
#include "desk/feedback_int.h"
#include "desk/render.h"
#include "threatdesk/feedback.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX 500
/* The office's average mail: the mean of its latest this many vectors. */
#define MEAN_OF 5000
/* Fewer vectors than this are no average: the decided messages would be
 * most of it (and centred on itself, a lone message is like nothing). */
#define MEAN_MIN 50

struct td__fb_office {
    struct td__fb_office *next;
    int64_t office_id;
    char model[128];
    int64_t stamp[3];
    size_t stale; /* live rows drawn by another model */
    struct td_feedback *mem;
};

void td__feedback_cache_free(struct td_desk *d)
{
    struct td__fb_office *o = d->fb_cache, *n;
    for (; o; o = n) {
        n = o->next;
        td_feedback_free(o->mem);
        free(o);
    }
    d->fb_cache = NULL;
}

struct load_ctx {
    struct td_feedback *mem;
    struct td_error *err;
    int rc;
};

static int load_one(void *ud, const struct td_store_feedback *f)
{
    struct load_ctx *c = ud;
    if (!c->mem) {
        int rc = td_feedback_new(NULL, f->nvec, &c->mem, c->err);
        if (rc) {
            c->rc = rc;
            return 1;
        }
    }
    /* rows the memory cannot take (another size) are skipped, not fatal */
    struct td_error e;
    td_error_clear(&e);
    int rc = td_feedback_add(c->mem, f->id, f->vec, f->nvec, (enum td_feedback_decision)f->decision,
                             f->labels, f->weight, &e);
    if (rc == TD_ENOMEM || rc == TD_ETOOBIG) {
        *c->err = e;
        c->rc = rc;
        return 1;
    }
    return 0;
}

/* The office's memory for `model`, current with its rows. */
static int office_memory(struct td_desk *d, int64_t office_id, const char *model,
                         struct td__fb_office **out, struct td_error *err)
{
    int64_t stamp[3];
    struct td__fb_office *o;
    *out = NULL;
    for (o = d->fb_cache; o; o = o->next)
        if (o->office_id == office_id)
            break;
    /* an ingest batch checks the stamp at its first message only: its
     * transaction changes no decision (d->batch) */
    if (o && d->batch.open && d->batch.fb_office == office_id && !strcmp(o->model, model)) {
        *out = o;
        return TD_OK;
    }
    int rc = d->store->ops->feedback_stamp(d->store, office_id, stamp, err);
    if (rc)
        return rc;
    if (o && !strcmp(o->model, model) && !memcmp(o->stamp, stamp, sizeof stamp)) {
        if (d->batch.open)
            d->batch.fb_office = office_id;
        *out = o;
        return TD_OK;
    }
    if (!o) {
        if (!(o = calloc(1, sizeof *o)))
            return td_error_set(err, TD_ENOMEM, NULL);
        o->office_id = office_id;
        o->next = d->fb_cache;
        d->fb_cache = o;
    }
    td_feedback_free(o->mem);
    o->mem = NULL;
    o->model[0] = '\0'; /* not current until loaded */
    struct load_ctx c = {NULL, err, TD_OK};
    rc = d->store->ops->feedback_load(d->store, office_id, model, load_one, &c, &o->stale, err);
    if (!rc)
        rc = c.rc;
    if (rc) {
        td_feedback_free(c.mem);
        return rc;
    }
    if (c.mem) {
        /* similarity around the office's average mail (feedback.h) */
        float mean[TD_VERDICT_VEC];
        size_t count = 0;
        rc = d->store->ops->message_vector_mean(d->store, office_id, model, MEAN_OF, mean,
                                                td_feedback_dim(c.mem), &count, err);
        if (!rc && count >= MEAN_MIN)
            rc = td_feedback_set_center(c.mem, mean, td_feedback_dim(c.mem), err);
        if (rc) {
            td_feedback_free(c.mem);
            return rc;
        }
    }
    o->mem = c.mem;
    snprintf(o->model, sizeof o->model, "%s", model);
    memcpy(o->stamp, stamp, sizeof stamp);
    if (d->batch.open)
        d->batch.fb_office = office_id;
    *out = o;
    return TD_OK;
}

int td__feedback_apply(struct td_desk *d, int64_t office_id, struct td_verdict *v, int *applied,
                       struct td_error *err)
{
    struct td__fb_office *o;
    float thr[TD_LABEL_COUNT];
    *applied = 0;
    if (v->nvec == 0 || !v->model_version || !d->analyser)
        return TD_OK;
    int rc = office_memory(d, office_id, v->model_version, &o, err);
    if (rc || !o->mem)
        return rc;
    struct td_feedback_effect eff;
    td_feedback_thresholds(d->analyser, thr);
    if ((rc = td_feedback_adjust(o->mem, thr, v, &eff, err)))
        return rc;
    *applied = eff.applied;
    return TD_OK;
}

int td__feedback_keep_vector(struct td_desk *d, int64_t office_id, int64_t message_id,
                             const struct td_verdict *v, struct td_error *err)
{
    if (v->nvec == 0 || !v->model_version)
        return TD_OK;
    return d->store->ops->message_vector_put(d->store, office_id, message_id, v->model_version,
                                             v->vec, v->nvec, err);
}

/* The message's predicted labels as bits (from its stored verdict). */
static int predicted_labels(struct td_desk *d, int64_t office_id, int64_t message_id,
                            unsigned *labels, struct td_error *err)
{
    struct td_store_message_row row;
    struct td_store_arena ar = {0};
    json_t *m = NULL, *p, *x;
    size_t i;
    *labels = 0;
    int rc = d->store->ops->message_get(d->store, office_id, message_id, &row, &ar, err);
    /* the verdict's own names, as the message shows them */
    if (!rc && !(m = td__render_message(&row)))
        rc = td_error_set(err, TD_ENOMEM, NULL);
    td_store_arena_free(&ar);
    if (rc)
        return rc;
    p = json_object_get(m, "predicted");
    json_array_foreach(p, i, x)
    {
        int l = td_label_from_name(json_string_value(x));
        if (l >= 0)
            *labels |= 1u << l;
    }
    json_decref(m);
    return TD_OK;
}

static int audit_revoked(struct td_desk *d, const struct td_actor *actor, int64_t message_id,
                         json_t *ids, const char *why, struct td_error *err)
{
    size_t i;
    json_t *x;
    int rc = TD_OK;
    json_array_foreach(ids, i, x)
    {
        json_t *det = json_pack("{s:I, s:s}", "message", (json_int_t)message_id, "why", why);
        rc = td__audit(d, actor, actor->office_id, "feedback.revoke", "feedback",
                       json_integer_value(x), det, err);
        json_decref(det);
        if (rc)
            break;
    }
    return rc;
}

/* Each revoked row's id into a JSON array (ud). */
static int id_json(void *ud, int64_t id)
{
    return json_array_append_new((json_t *)ud, json_integer((json_int_t)id)) ? TD_ENOMEM : TD_OK;
}

int td__feedback_on_status(struct td_desk *d, const struct td_actor *actor, int64_t message_id,
                           enum td_msg_status status, const char **note, struct td_error *err)
{
    struct td_store *s = d->store;
    json_t *ids = json_array();
    int64_t now = td__now();
    *note = NULL;
    if (!ids)
        return td_error_set(err, TD_ENOMEM, NULL);
    /* a new decision replaces the old: revoke first */
    int rc = s->ops->feedback_revoke_message(s, actor->office_id, message_id, now, actor->user_id,
                                             id_json, ids, err);
    if (rc) {
        json_decref(ids);
        return rc == TD_ENOMEM ? td_error_set(err, TD_ENOMEM, NULL) : rc;
    }
    rc = audit_revoked(d, actor, message_id, ids, "status changed", err);
    json_decref(ids);
    if (rc || status == TD_MSG_UNREVIEWED)
        return rc;

    float vec[TD_VERDICT_VEC];
    unsigned n = 0;
    char model[128];
    rc = s->ops->message_vector_get(s, actor->office_id, message_id, model, sizeof model, vec,
                                    TD_VERDICT_VEC, &n, err);
    if (rc == TD_ENOTFOUND) {
        td_error_clear(err);
        *note = "not learnt: the message has no vector (its model is format 1)";
        return TD_OK;
    }
    if (rc)
        return rc;
    struct td_store_feedback f = {
        .office_id = actor->office_id,
        .message_id = message_id,
        .decision = status == TD_MSG_DISMISSED ? TD_FEEDBACK_DISMISSED : TD_FEEDBACK_CONFIRMED,
        .model = model,
        .vec = vec,
        .nvec = n,
        .weight = 1.0f,
        .user_id = actor->user_id,
        .created = now,
    };
    if (f.decision == TD_FEEDBACK_CONFIRMED) {
        if ((rc = predicted_labels(d, actor->office_id, message_id, &f.labels, err)))
            return rc;
        /* escalating says "treat this as a threat", whatever else the
         * engine saw in it */
        if (status == TD_MSG_ESCALATED)
            f.labels |= 1u << TD_LABEL_THREAT;
    }
    int64_t id = 0;
    if ((rc = s->ops->feedback_insert(s, &f, &id, err)))
        return rc;
    json_t *labels = json_array();
    for (int l = 0; labels && l < TD_LABEL_COUNT; l++)
        if ((f.labels >> l) & 1u)
            json_array_append_new(labels, json_string(td_label_name(l)));
    json_t *det =
        json_pack("{s:I, s:s, s:o*, s:s}", "message", (json_int_t)message_id, "decision",
                  td_feedback_decision_name(f.decision), "labels", labels, "model", model);
    if (!det)
        return td_error_set(err, TD_ENOMEM, NULL);
    rc = td__audit(d, actor, actor->office_id, "feedback.add", "feedback", id, det, err);
    json_decref(det);
    return rc;
}

/* ---- the public calls ---------------------------------------------------- */

static json_t *label_names(unsigned bits)
{
    json_t *a = json_array();
    for (int l = 0; a && l < TD_LABEL_COUNT; l++)
        if (((bits >> l) & 1u) && json_array_append_new(a, json_string(td_label_name(l)))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* {"id","message","decision","labels":[names],"model","weight","user",
 *  "created","revoked"?,"revoked_by"?} */
static int feedback_json(void *ud, const struct td_store_feedback_row *r)
{
    json_t *o = json_pack("{s:I, s:I, s:s, s:o, s:s, s:f, s:s, s:I}", "id", (json_int_t)r->id,
                          "message", (json_int_t)r->message_id, "decision", r->decision, "labels",
                          label_names(r->labels), "model", r->model, "weight", r->weight, "user",
                          r->user ? r->user : "(operator)", "created", (json_int_t)r->created);
    if (o && r->revoked &&
        (json_object_set_new(o, "revoked", json_integer((json_int_t)r->revoked_at)) ||
         json_object_set_new(o, "revoked_by",
                             json_string(r->revoked_by ? r->revoked_by : "(operator)")))) {
        json_decref(o);
        o = NULL;
    }
    return !o || json_array_append_new((json_t *)ud, o) ? TD_ENOMEM : TD_OK;
}

int td_desk_feedback_list(struct td_desk *d, const struct td_actor *actor, int all, size_t limit,
                          size_t offset, json_t **out, struct td_error *err)
{
    json_t *rows = NULL, *o = NULL;
    int64_t total = 0;
    *out = NULL;
    if (!td__is_staff(actor))
        return td__denied(err, "read the office's feedback");
    limit = limit == 0 ? PAGE_DEFAULT : limit > PAGE_MAX ? PAGE_MAX : limit;
    if (!(rows = json_array()))
        return td_error_set(err, TD_ENOMEM, NULL);
    td__lock(d);
    int rc = d->store->ops->feedback_list(d->store, actor->office_id, all, limit, offset,
                                          feedback_json, rows, &total, err);
    td__unlock(d);
    if (rc) {
        json_decref(rows);
        return rc == TD_ENOMEM ? td_error_set(err, TD_ENOMEM, NULL) : rc;
    }
    const char *model = d->analyser ? td_analyser_model_version(d->analyser) : NULL;
    o = json_pack("{s:o, s:I, s:I, s:I, s:s?}", "feedback", rows, "total", (json_int_t)total,
                  "limit", (json_int_t)limit, "offset", (json_int_t)offset, "model", model);
    if (!o)
        return td_error_set(err, TD_ENOMEM, NULL);
    if ((int64_t)(offset + limit) < total)
        json_object_set_new(o, "next_offset", json_integer((json_int_t)(offset + limit)));
    *out = o;
    return TD_OK;
}

int td_desk_feedback_revoke(struct td_desk *d, const struct td_actor *actor, int64_t id,
                            struct td_error *err)
{
    int64_t message_id = 0;
    int was = 0;
    if (!td__is_staff(actor))
        return td__denied(err, "revoke the office's feedback");
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    rc = d->store->ops->feedback_revoke(d->store, actor->office_id, id, td__now(), actor->user_id,
                                        &message_id, &was, err);
    if (!rc && !was) {
        json_t *det = json_pack("{s:I, s:s}", "message", (json_int_t)message_id, "why", "revoked");
        rc = td__audit(d, actor, actor->office_id, "feedback.revoke", "feedback", id, det, err);
        json_decref(det);
    }
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    return rc;
}
