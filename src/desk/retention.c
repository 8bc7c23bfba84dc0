/*
 * retention.c - UK GDPR: how long an office keeps what it receives, and a
 * data subject's erasure (pipeline.h says what is promised).
 *
 * Only messages that no case holds are ever erased: a message linked to a
 * case is evidence in a matter that may go to the police (Art. 17(3)(e),
 * legal claims) and is counted as kept.  Each erased message leaves its
 * tombstone in the audit chain, in the same transaction as the delete:
 *
 *   action "message.expire" (retention) or "message.erase" (erasure),
 *   object message <id>, details {"sha256": <of the original>, "reason",
 *   "sender_sha256": <of the sender key, never the key itself>}
 *
 * A scanned letter the message was filed from (its upload row: the file
 * name the office gave it, the image's hash) is deleted with the message
 * by the store's message_delete; its bytes went to the message when it was
 * filed.  An upload that never became a message (OCR failed for good)
 * keeps its bytes for a person to read until the retention period has
 * passed; then it goes too, with its own tombstone:
 *
 *   action "upload.expire", object upload <id>, details {"sha256": <of
 *   the image>, "reason": "retention"}
 *
 * The entry's own time and user are the date and who.  `verify` (audit.c)
 * reads these entries and expects the row to be gone, so the chain still
 * verifies - and a row that should have gone but is still there is
 * reported.
 */
#include <stdlib.h>
#include <string.h>

#include "desk/desk_int.h"
#include "threatdesk/pipeline.h"
#include "threatdesk/sender.h"

#define RETENTION_MAX_DAYS 36500

static int admin_only(const struct td_actor *actor, struct td_error *err, const char *what)
{
    if (!actor || actor->role != TD_ROLE_ADMIN)
        return td__denied(err, what);
    return TD_OK;
}

int td_desk_retention_set(struct td_desk *d, const struct td_actor *actor, int64_t days,
                          struct td_error *err)
{
    int rc = admin_only(actor, err, "set the retention period");
    if (rc)
        return rc;
    if (days < 0 || days > RETENTION_MAX_DAYS) {
        td_error_field(err, "retention_days");
        return td_error_set(err, TD_EINVAL, "retention_days must be 0 (keep) to %d",
                            RETENTION_MAX_DAYS);
    }
    td__lock(d);
    if ((rc = td__begin(d, err)))
        goto out;
    int64_t before = 0;
    rc = d->store->ops->office_retention_get(d->store, actor->office_id, &before, err);
    if (!rc)
        rc = d->store->ops->office_retention_set(d->store, actor->office_id, days, err);
    if (!rc) {
        json_t *det =
            json_pack("{s:I,s:I}", "retention_days", (json_int_t)days, "was", (json_int_t)before);
        rc = td__audit(d, actor, actor->office_id, "office.retention", "office", actor->office_id,
                       det, err);
        json_decref(det);
    }
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    return rc;
}

int td_desk_retention_get(struct td_desk *d, const struct td_actor *actor, int64_t *days,
                          struct td_error *err)
{
    if (!actor || !td__is_staff(actor))
        return td__denied(err, "read the retention period");
    td__lock(d);
    int rc = d->store->ops->office_retention_get(d->store, actor->office_id, days, err);
    td__unlock(d);
    return rc;
}

/* ---- erasing --------------------------------------------------------------- */

struct victim {
    int64_t id;
    char sha256[65];
};

struct collect {
    struct victim *v;
    size_t n, cap;
    size_t kept;
    int oom;
};

static int collect_one(void *ud, int64_t id, const void *original, size_t len, int linked)
{
    struct collect *c = ud;
    if (linked) {
        c->kept++;
        return 0;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct victim *v = realloc(c->v, cap * sizeof *v);
        if (!v) {
            c->oom = 1;
            return 1;
        }
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n].id = id;
    td__sha256_hex(len ? original : "", len, c->v[c->n].sha256);
    c->n++;
    return 0;
}

/* An erased row's audited tombstone: the hash of what it held, why, and
 * (erasure) the hash of the sender's key, never the key. */
static int tombstone(struct td_desk *d, const struct td_actor *actor, const char *action,
                     const char *object, int64_t id, const char *sha256, const char *reason,
                     const char *sender_sha, struct td_error *err)
{
    json_t *det = json_pack("{s:s,s:s}", "sha256", sha256 ? sha256 : "", "reason", reason);
    if (det && sender_sha)
        json_object_set_new(det, "sender_sha256", json_string(sender_sha));
    int rc = det ? td__audit(d, actor, actor->office_id, action, object, id, det, err)
                 : td_error_set(err, TD_ENOMEM, NULL);
    json_decref(det);
    return rc;
}

/* Inside the caller's transaction: delete every unlinked message of
 * `sender` (NULL: anyone) received before `before`, each with its
 * tombstone. */
static int erase_where(struct td_desk *d, const struct td_actor *actor, const char *sender,
                       int64_t before, const char *action, const char *reason,
                       struct td_erase_stats *st, struct td_error *err)
{
    struct collect c = {0};
    char sender_sha[65] = "";
    int rc = d->store->ops->message_walk(d->store, actor->office_id, sender, before, collect_one,
                                         &c, err);
    if (!rc && c.oom)
        rc = td_error_set(err, TD_ENOMEM, NULL);
    if (sender)
        td__sha256_hex(sender, strlen(sender), sender_sha);
    for (size_t i = 0; !rc && i < c.n; i++) {
        if ((rc = d->store->ops->message_delete(d->store, actor->office_id, c.v[i].id, err)))
            break;
        rc = tombstone(d, actor, action, "message", c.v[i].id, c.v[i].sha256, reason,
                       sender ? sender_sha : NULL, err);
    }
    if (!rc) {
        st->erased += c.n;
        st->kept += c.kept;
    }
    free(c.v);
    return rc;
}

struct expire_ctx {
    struct td_desk *d;
    const struct td_actor *actor;
    struct td_erase_stats *st;
    struct td_error *err;
};

static int upload_tombstone(void *ud, int64_t id, const char *sha256)
{
    struct expire_ctx *x = ud;
    int rc =
        tombstone(x->d, x->actor, "upload.expire", "upload", id, sha256, "retention", NULL, x->err);
    if (!rc)
        x->st->uploads++;
    return rc;
}

int td_desk_retention_apply(struct td_desk *d, const struct td_actor *actor, int64_t now,
                            struct td_erase_stats *st, struct td_error *err)
{
    struct td_erase_stats local;
    int64_t days = 0;
    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    int rc = admin_only(actor, err, "apply the retention period");
    if (rc)
        return rc;
    if (now <= 0)
        now = td__now();
    td__lock(d);
    if ((rc = td__begin(d, err)))
        goto out;
    rc = d->store->ops->office_retention_get(d->store, actor->office_id, &days, err);
    if (!rc && days > 0) {
        int64_t before = now - days * 86400;
        rc = erase_where(d, actor, NULL, before, "message.expire", "retention", st, err);
        struct expire_ctx x = {d, actor, st, err};
        if (!rc)
            rc = d->store->ops->upload_expire(d->store, actor->office_id, before, upload_tombstone,
                                              &x, err);
        if (!rc) {
            json_t *det =
                json_pack("{s:I,s:I,s:I,s:I,s:I}", "retention_days", (json_int_t)days, "before",
                          (json_int_t)before, "erased", (json_int_t)st->erased, "kept",
                          (json_int_t)st->kept, "uploads", (json_int_t)st->uploads);
            rc = td__audit(d, actor, actor->office_id, "office.retention.apply", "office",
                           actor->office_id, det, err);
            json_decref(det);
        }
    }
    rc = td__end(d, rc, err);
    if (rc)
        memset(st, 0, sizeof *st);
out:
    td__unlock(d);
    return rc;
}

int td_desk_erase_sender(struct td_desk *d, const struct td_actor *actor, const char *sender,
                         struct td_erase_stats *st, struct td_error *err)
{
    struct td_erase_stats local;
    char key[512];
    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    int rc = admin_only(actor, err, "erase a sender's messages");
    if (rc)
        return rc;
    struct td_message m;
    td_message_init(&m);
    m.sender = (char *)sender;
    rc = sender && *sender ? td_sender_key_of(&m, key, sizeof key) : TD_EINVAL;
    if (rc) {
        td_error_field(err, "sender");
        return td_error_set(err, rc == TD_ENOMEM ? TD_ENOMEM : TD_EINVAL,
                            "not a sender: give an address, a handle or a sender key");
    }
    td__lock(d);
    if ((rc = td__begin(d, err)))
        goto out;
    rc = erase_where(d, actor, key, INT64_MAX, "message.erase", "erasure request", st, err);
    if (!rc && st->erased == 0 && st->kept == 0) {
        td_error_field(err, "sender");
        rc = td_error_set(err, TD_ENOTFOUND, "this office has no messages from %.200s", key);
    }
    /* The tallies go with the messages; while a case still holds some of
     * them, the tallies stay (they count what is kept). */
    if (!rc && st->kept == 0)
        rc = d->store->ops->sender_delete(d->store, actor->office_id, key, err);
    if (!rc) {
        char h[65];
        td__sha256_hex(key, strlen(key), h);
        json_t *det = json_pack("{s:s,s:I,s:I}", "sender_sha256", h, "erased",
                                (json_int_t)st->erased, "kept", (json_int_t)st->kept);
        rc = td__audit(d, actor, actor->office_id, "sender.erase", "office", actor->office_id, det,
                       err);
        json_decref(det);
    }
    rc = td__end(d, rc, err);
    if (rc)
        memset(st, 0, sizeof *st);
out:
    td__unlock(d);
    return rc;
}
