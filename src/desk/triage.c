/*
 * triage.c - the queue, one message, its original bytes, its status, and
 * the sender's history.  Staff only (admin, caseworker, security): an
 * observer files reports and reads nothing; police see cases, not the
 * office's post.
 */
#include <stdlib.h>
#include <string.h>

#include "desk/desk_int.h"
#include "desk/feedback_int.h"
#include "desk/render.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX 500

static size_t page(size_t limit)
{
    return limit == 0 ? PAGE_DEFAULT : limit > PAGE_MAX ? PAGE_MAX : limit;
}

int td_desk_queue(struct td_desk *d, const struct td_actor *actor, const struct td_queue_filter *f,
                  json_t **out, struct td_error *err)
{
    struct td_queue_filter q;
    *out = NULL;
    if (!td__is_staff(actor))
        return td__denied(err, "read the triage queue");
    if (f)
        q = *f;
    else
        td_queue_filter_init(&q);
    q.limit = page(q.limit);
    if (q.status >= TD_MSG_STATUS_COUNT) {
        td_error_field(err, "status");
        return td_error_set(err, TD_EINVAL, "unknown status");
    }
    struct td_store_msg_query sq;
    struct td_store_message_page pg;
    struct td_store_arena ar = {0};
    td__msg_query(&q, &sq);
    td__lock(d);
    int rc = d->store->ops->message_queue(d->store, actor->office_id, &sq, &pg, &ar, err);
    td__unlock(d);
    if (!rc && !(*out = td__render_queue(&pg, sq.limit, sq.offset)))
        rc = td_error_set(err, TD_ENOMEM, NULL);
    td_store_arena_free(&ar);
    return rc;
}

int td_desk_message_get(struct td_desk *d, const struct td_actor *actor, int64_t id, json_t **out,
                        struct td_error *err)
{
    json_t *o = NULL;
    *out = NULL;
    if (!td__is_staff(actor))
        return td__denied(err, "read messages");
    /* Who read a message is audited like a case read, in the same
     * transaction as the read. */
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    struct td_store_message_row row;
    struct td_store_arena ar = {0};
    if (!(rc = d->store->ops->message_get(d->store, actor->office_id, id, &row, &ar, err)) &&
        !(o = td__render_message(&row)))
        rc = td_error_set(err, TD_ENOMEM, NULL);
    td_store_arena_free(&ar);
    if (!rc)
        rc = td__audit(d, actor, actor->office_id, "message.read", "message", id, NULL, err);
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    if (rc)
        json_decref(o);
    else
        *out = o;
    return rc;
}

int td_desk_message_original(struct td_desk *d, const struct td_actor *actor, int64_t id,
                             void **data, size_t *len, char sha256[65], struct td_error *err)
{
    *data = NULL;
    *len = 0;
    if (!td__is_staff(actor))
        return td__denied(err, "read messages");
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    if (!(rc = d->store->ops->message_original(d->store, actor->office_id, id, data, len, err)))
        rc = td__audit(d, actor, actor->office_id, "message.original", "message", id, NULL, err);
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    if (rc) {
        free(*data);
        *data = NULL;
        *len = 0;
    } else if (sha256) {
        td__sha256_hex(*data, *len, sha256);
    }
    return rc;
}

int td_desk_message_set_status(struct td_desk *d, const struct td_actor *actor, int64_t id,
                               enum td_msg_status status, const char *reason, struct td_error *err)
{
    if (!td__is_staff(actor))
        return td__denied(err, "triage messages");
    if ((int)status < 0 || status >= TD_MSG_STATUS_COUNT) {
        td_error_field(err, "status");
        return td_error_set(err, TD_EINVAL, "unknown status");
    }
    if ((status == TD_MSG_ESCALATED || status == TD_MSG_DISMISSED) && (!reason || !*reason)) {
        td_error_field(err, "reason");
        return td_error_set(err, TD_EINVAL, "a reason is required to %s a message",
                            status == TD_MSG_ESCALATED ? "escalate" : "dismiss");
    }
    if (reason && strlen(reason) > 4096) {
        td_error_field(err, "reason");
        return td_error_set(err, TD_ETOOBIG, "reason longer than 4096 bytes");
    }
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    rc = d->store->ops->message_set_status(d->store, actor->office_id, id,
                                           td_msg_status_name(status), reason, actor->user_id,
                                           td__now(), err);
    const char *learnt = NULL; /* why the decision taught nothing, or NULL */
    if (!rc)
        rc = td__feedback_on_status(d, actor, id, status, &learnt, err);
    json_t *det = json_pack("{s:s, s:s?, s:s?}", "status", td_msg_status_name(status), "reason",
                            reason, "feedback", learnt);
    if (!rc)
        rc = td__audit(d, actor, actor->office_id, "message.status", "message", id, det, err);
    json_decref(det);
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    return rc;
}

int td_desk_sender(struct td_desk *d, const struct td_actor *actor, const char *sender,
                   size_t limit, json_t **out, struct td_error *err)
{
    *out = NULL;
    if (!td__is_staff(actor))
        return td__denied(err, "read sender history");
    if (!sender || !*sender) {
        td_error_field(err, "sender");
        return td_error_set(err, TD_EINVAL, "sender required");
    }
    struct td_store_sender_row row;
    struct td_store_arena ar = {0};
    td__lock(d);
    int rc =
        d->store->ops->sender_get(d->store, actor->office_id, sender, page(limit), &row, &ar, err);
    td__unlock(d);
    if (!rc && !(*out = td__render_sender(&row)))
        rc = td_error_set(err, TD_ENOMEM, NULL);
    td_store_arena_free(&ar);
    return rc;
}
