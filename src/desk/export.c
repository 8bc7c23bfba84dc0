/*
 * export.c - the desk's side of the police evidence bundle and of reports
 * (desk_export.h): one audited, consistent read of a case with its
 * originals, audit proof and sender histories; the office's signing key;
 * streamed rows for CSV and the digest's figures.
 *
 * What leaves the office in a bundle is decided HERE, not by the bundle
 * writer: internal notes (shareable = 0) are dropped from the notes and
 * the timeline, and their audit entries keep their hashes but lose their
 * text ("withheld"), whoever exports - a bundle is made to be handed over.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "desk/desk_int.h"
#include "desk/render.h"
#include "threatdesk/desk_export.h"

#define SENDER_HISTORY 50

/* May the actor read case id?  (Lock held.)  As cases.c's visible(). */
static int can_read(struct td_desk *d, const struct td_actor *actor, int64_t id,
                    struct td_error *err)
{
    int reported = 0;
    char st[TD_STORE_NAME_SIZE];
    int64_t by = 0;
    if (!actor || actor->role == TD_ROLE_OBSERVER)
        return td__denied(err, "read cases");
    int rc = d->store->ops->case_head(d->store, actor->office_id, id, st, &by, &reported, err);
    if (rc)
        return rc;
    if (actor->role == TD_ROLE_POLICE && !reported)
        return td_error_set(err, TD_ENOTFOUND, "no such case");
    return TD_OK;
}

/* Notes that may leave the office. */
static json_t *shareable_notes(json_t *notes)
{
    json_t *keep = json_array(), *n;
    size_t i;
    json_array_foreach(notes, i, n) if (json_integer_value(json_object_get(n, "shareable")))
        json_array_append(keep, n);
    return keep;
}

static int is_internal_note(const char *action, const char *details)
{
    if (strcmp(action, "case.note"))
        return 0;
    json_t *d = json_loads(details ? details : "{}", 0, NULL);
    int internal = !json_is_true(json_object_get(d, "shareable"));
    json_decref(d);
    return internal;
}

struct audit_walk {
    json_t *list;
    int oom;
};

static int audit_entry(void *ud, const struct td_audit_entry *e)
{
    struct audit_walk *w = ud;
    int withheld = is_internal_note(e->action, e->details);
    json_t *o =
        json_pack("{s:I, s:I, s:I, s:I, s:s, s:s, s:I, s:s?, s:s, s:s}", "id", (json_int_t)e->id,
                  "time", (json_int_t)e->time, "office_id", (json_int_t)e->office_id, "user_id",
                  (json_int_t)e->user_id, "action", e->action, "object_type", e->object_type,
                  "object_id", (json_int_t)e->object_id, "details", withheld ? NULL : e->details,
                  "prev_hash", e->prev_hash, "hash", e->hash);
    if (o && withheld) {
        json_object_set_new(o, "details", json_null());
        json_object_set_new(o, "withheld", json_string("internal note"));
    }
    if (!o || json_array_append_new(w->list, o)) {
        w->oom = 1;
        return 1;
    }
    return 0;
}

static int by_id(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "id"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "id"));
    return x < y ? -1 : x > y;
}

/* The array sorted by "id" (a message's entries interleave with the
 * case's). */
static void sort_by_id(json_t *arr)
{
    size_t n = json_array_size(arr);
    if (n < 2)
        return;
    json_t **v = malloc(n * sizeof *v);
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(arr, i));
    qsort(v, n, sizeof *v, by_id);
    json_array_clear(arr);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, v[i]);
    free(v);
}

static json_t *timeline_shareable(json_t *ev)
{
    json_t *keep = json_array(), *e;
    size_t i;
    json_array_foreach(ev, i, e)
    {
        const char *act = json_string_value(json_object_get(e, "action"));
        json_t *det = json_object_get(e, "details");
        if (act && !strcmp(act, "case.note") && !json_is_true(json_object_get(det, "shareable")))
            continue;
        json_array_append(keep, e);
    }
    return keep;
}

/* The case as case_get renders it (the bundle carries the API's shapes). */
static int case_json(struct td_desk *d, const struct td_actor *actor, int64_t case_id, json_t **c,
                     struct td_error *err)
{
    struct td_store_case_detail row;
    struct td_store_arena ar = {0};
    int rc = d->store->ops->case_get(d->store, actor->office_id, case_id, &row, &ar, err);
    if (!rc && !(*c = td__render_case_detail(&row)))
        rc = td_error_set(err, TD_ENOMEM, NULL);
    td_store_arena_free(&ar);
    return rc;
}

int td_desk_case_export(struct td_desk *d, const struct td_actor *actor, int64_t case_id,
                        td_export_original_cb *cb, void *ud, json_t **out, struct td_error *err)
{
    json_t *c = NULL, *o = NULL, *msgs, *senders = NULL, *ev = NULL;
    struct audit_walk aw = {NULL, 0};
    int64_t head_id = 0;
    char head_hash[65] = "";
    *out = NULL;
    if (!actor || actor->role == TD_ROLE_OBSERVER)
        return td__denied(err, "export cases");
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto unlock;
    if ((rc = can_read(d, actor, case_id, err)) || (rc = case_json(d, actor, case_id, &c, err)))
        goto end;
    if (!(senders = json_array()) || !(aw.list = json_array())) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
        goto end;
    }
    if ((rc = d->store->ops->audit_walk_object(d->store, actor->office_id, "case", case_id,
                                               audit_entry, &aw, err)))
        goto end;
    msgs = json_object_get(c, "messages");
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        int64_t mid = json_integer_value(json_object_get(m, "id"));
        void *data = NULL;
        size_t len = 0;
        char sha[65];
        if ((rc = d->store->ops->message_original(d->store, actor->office_id, mid, &data, &len,
                                                  err)))
            goto end;
        td__sha256_hex(len ? data : "", len, sha);
        json_object_set_new(m, "original_sha256", json_string(sha));
        json_object_set_new(m, "original_size", json_integer((json_int_t)len));
        rc = cb ? cb(ud, i, m, data, len, err) : TD_OK;
        free(data);
        if (rc)
            goto end;
        if ((rc = d->store->ops->audit_walk_object(d->store, actor->office_id, "message", mid,
                                                   audit_entry, &aw, err)))
            goto end;
        /* Each sender's history once. */
        const char *snd = json_string_value(json_object_get(m, "sender"));
        int seen = !snd;
        for (size_t j = 0; !seen && j < i; j++)
            seen = json_equal(json_object_get(json_array_get(msgs, j), "sender"),
                              json_object_get(m, "sender"));
        if (!seen) {
            struct td_store_sender_row h;
            struct td_store_arena ar = {0};
            int r2 = d->store->ops->sender_get(d->store, actor->office_id, snd, SENDER_HISTORY, &h,
                                               &ar, err);
            json_t *hj = r2 == TD_OK ? td__render_sender(&h) : NULL;
            td_store_arena_free(&ar);
            if (r2 == TD_OK && (!hj || json_array_append_new(senders, hj)))
                r2 = td_error_set(err, TD_ENOMEM, NULL);
            if (r2 != TD_OK && r2 != TD_ENOTFOUND) {
                rc = r2;
                goto end;
            }
            td_error_clear(err);
        }
    }
    if (aw.oom) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
        goto end;
    }
    sort_by_id(aw.list);
    if ((rc = td__audit_events(d, actor->office_id, "case", case_id, &ev, err)))
        goto end;
    json_t *det = json_pack("{s:I, s:I}", "messages", (json_int_t)json_array_size(msgs), "evidence",
                            (json_int_t)json_array_size(json_object_get(c, "evidence")));
    rc = td__audit(d, actor, actor->office_id, "case.export", "case", case_id, det, err);
    json_decref(det);
    if (!rc)
        rc = d->store->ops->audit_head(d->store, actor->office_id, &head_id, head_hash, err);
end:
    rc = td__end(d, rc, err);
unlock:
    td__unlock(d);
    if (rc)
        goto out;
    json_t *tl = timeline_shareable(ev);
    json_t *notes = shareable_notes(json_object_get(c, "notes"));
    o = json_pack("{s:s, s:{s:I, s:s}, s:I, s:s, s:s, s:O, s:O, s:o, s:o, s:O, s:O, s:{s:I, s:s}}",
                  "format", "threatdesk-bundle-1", "office", "id", (json_int_t)actor->office_id,
                  "name", actor->office, "exported", (json_int_t)td__now(), "exported_by",
                  actor->username, "exported_role", td_role_name(actor->role), "messages",
                  json_object_get(c, "messages"), "evidence", json_object_get(c, "evidence"),
                  "notes", notes, "timeline", tl, "senders", senders, "audit", aw.list,
                  "chain_head", "id", (json_int_t)head_id, "hash", head_hash);
    if (!o) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
        goto out;
    }
    json_object_del(c, "messages");
    json_object_del(c, "evidence");
    json_object_del(c, "notes");
    json_object_set(o, "case", c);
    *out = o;
out:
    json_decref(c);
    json_decref(ev);
    json_decref(senders);
    json_decref(aw.list);
    return rc;
}

int td_desk_case_export_done(struct td_desk *d, const struct td_actor *actor, int64_t case_id,
                             const json_t *details, struct td_error *err)
{
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    if (!(rc = can_read(d, actor, case_id, err)))
        rc = td__audit(d, actor, actor->office_id, "case.bundle", "case", case_id, details, err);
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    return rc;
}

void td_desk_evidence_path(const struct td_desk *d, const char *sha256, char *path, size_t size)
{
    snprintf(path, size, "%s/evidence/%.2s/%s", d->data_dir, sha256,
             strlen(sha256) > 2 ? sha256 + 2 : "");
}

/* ---- the office key ------------------------------------------------------
 * File: "threatdesk-ed25519-1 <64 hex: the seed>\n".  The seed alone
 * makes the key pair (crypto_sign_seed_keypair). */

#define KEY_MAGIC "threatdesk-ed25519-1 "

static int key_read(const char *path, unsigned char pk[32], unsigned char sk[64],
                    struct td_error *err)
{
    char buf[128];
    unsigned char seed[32];
    struct stat sb;
    int fd = open(path, O_RDONLY | O_NOFOLLOW);
    if (fd < 0)
        return td_error_set(err, errno == ENOENT ? TD_ENOTFOUND : TD_EIO, "%s: %s", path,
                            strerror(errno));
    if (fstat(fd, &sb) != 0 || (sb.st_mode & 077)) {
        close(fd);
        return td_error_set(err, TD_EDENIED,
                            "%s: the office's signing key is readable by others (chmod 600 it, "
                            "and consider the key compromised)",
                            path);
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    size_t ml = strlen(KEY_MAGIC);
    if (n < (ssize_t)(ml + 64) || memcmp(buf, KEY_MAGIC, ml) ||
        sodium_hex2bin(seed, sizeof seed, buf + ml, 64, NULL, NULL, NULL) != 0)
        return td_error_set(err, TD_EFORMAT, "%s: not a threatdesk key file", path);
    sodium_memzero(buf, sizeof buf);
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(seed, sizeof seed);
    return TD_OK;
}

int td_desk_office_key(struct td_desk *d, int64_t office_id, unsigned char pk[32],
                       unsigned char sk[64], struct td_error *err)
{
    char dir[1100], path[1200], tmp[1300], line[128];
    unsigned char seed[32];
    snprintf(dir, sizeof dir, "%s/keys", d->data_dir);
    snprintf(path, sizeof path, "%s/office-%" PRId64 ".ed25519", dir, office_id);
    int rc = key_read(path, pk, sk, err);
    if (rc != TD_ENOTFOUND)
        return rc;
    td_error_clear(err);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return td_error_set(err, TD_EIO, "%s: %s", dir, strerror(errno));
    /* Write a complete file under a temporary name, then link() it into
     * place: link fails if another process got there first, and then both
     * use that one. */
    snprintf(tmp, sizeof tmp, "%s/.key-XXXXXX", dir);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return td_error_set(err, TD_EIO, "%s: %s", tmp, strerror(errno));
    randombytes_buf(seed, sizeof seed);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, seed, sizeof seed);
    int n = snprintf(line, sizeof line, "%s%s\n", KEY_MAGIC, hex);
    sodium_memzero(hex, sizeof hex);
    sodium_memzero(seed, sizeof seed);
    int ok = fchmod(fd, 0600) == 0 && write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    sodium_memzero(line, sizeof line);
    ok = close(fd) == 0 && ok;
    if (ok && link(tmp, path) != 0 && errno != EEXIST)
        ok = 0;
    int e = errno;
    unlink(tmp);
    if (!ok)
        return td_error_set(err, TD_EIO, "%s: %s", path, strerror(e));
    return key_read(path, pk, sk, err);
}

/* ---- reports ------------------------------------------------------------ */

/* The caller's row callback behind a store export: each typed row is
 * rendered, given to it and dropped; oom says the rendering failed (the
 * walk stops and the export is TD_ENOMEM). */
struct rows_to_json {
    int (*cb)(void *ud, const json_t *row);
    void *ud;
    int oom;
};

static int give(struct rows_to_json *x, json_t *o)
{
    if (!o) {
        x->oom = 1;
        return 1;
    }
    int stop = x->cb(x->ud, o);
    json_decref(o);
    return stop;
}

static int message_to_json(void *ud, const struct td_store_message_row *r)
{
    return give(ud, td__render_export_message(r));
}

static int case_to_json(void *ud, const struct td_store_case_export_row *r)
{
    return give(ud, td__render_export_case(r));
}

static int exported(struct rows_to_json *x, int rc, struct td_error *err)
{
    return !rc && x->oom ? td_error_set(err, TD_ENOMEM, NULL) : rc;
}

int td_desk_queue_export(struct td_desk *d, const struct td_actor *actor,
                         const struct td_queue_filter *f, int (*cb)(void *ud, const json_t *row),
                         void *ud, struct td_error *err)
{
    struct td_queue_filter fl;
    struct td_store_msg_query q;
    if (!td__is_staff(actor))
        return td__denied(err, "export the queue");
    if (f)
        fl = *f;
    else
        td_queue_filter_init(&fl);
    td__msg_query(&fl, &q);
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    struct rows_to_json x = {cb, ud, 0};
    rc = exported(
        &x, d->store->ops->message_export(d->store, actor->office_id, &q, message_to_json, &x, err),
        err);
    if (!rc)
        rc = td__audit(d, actor, actor->office_id, "queue.export", "office", actor->office_id, NULL,
                       err);
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    return rc;
}

int td_desk_case_rows(struct td_desk *d, const struct td_actor *actor,
                      const struct td_case_filter *f, int (*cb)(void *ud, const json_t *row),
                      void *ud, struct td_error *err)
{
    struct td_case_filter fl;
    struct td_store_case_query q;
    if (!actor || actor->role == TD_ROLE_OBSERVER)
        return td__denied(err, "read cases");
    if (f)
        fl = *f;
    else
        td_case_filter_init(&fl);
    td__case_query(&fl, actor->role == TD_ROLE_POLICE, &q);
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    struct rows_to_json x = {cb, ud, 0};
    rc = exported(
        &x, d->store->ops->case_export(d->store, actor->office_id, &q, case_to_json, &x, err), err);
    if (!rc)
        rc = td__audit(d, actor, actor->office_id, "case.export_list", "case", 0, NULL, err);
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    return rc;
}

/* One kind of digest row appended, rendered, to its list. */
struct digest_list {
    const char *kind;
    json_t *list;
    int oom;
};

static int append_row(void *ud, const struct td_store_digest_row *r)
{
    struct digest_list *l = ud;
    if (json_array_append_new(l->list, td__render_digest(l->kind, r)))
        l->oom = 1;
    return l->oom;
}

static int digest_kind(struct td_desk *d, int64_t office, const char *kind, int64_t since,
                       int64_t until, json_t *list, struct td_error *err)
{
    struct digest_list l = {kind, list, 0};
    int rc = d->store->ops->digest_rows(d->store, office, kind, since, until, append_row, &l, err);
    return !rc && l.oom ? td_error_set(err, TD_ENOMEM, NULL) : rc;
}

int td_desk_digest(struct td_desk *d, const struct td_actor *actor, int64_t since, int64_t until,
                   json_t **out, struct td_error *err)
{
    json_t *o = NULL;
    *out = NULL;
    if (!td__is_staff(actor))
        return td__denied(err, "read reports");
    if (!(o = json_pack("{s:[], s:[], s:[], s:[], s:I, s:I}", "volume", "senders", "cases",
                        "review_seconds", "since", (json_int_t)since, "until", (json_int_t)until)))
        return td_error_set(err, TD_ENOMEM, NULL);
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    int64_t off = actor->office_id;
    if (!(rc = digest_kind(d, off, "volume", since, until, json_object_get(o, "volume"), err)) &&
        !(rc = digest_kind(d, off, "senders", since, until, json_object_get(o, "senders"), err)) &&
        !(rc = digest_kind(d, off, "cases", since, until, json_object_get(o, "cases"), err)) &&
        !(rc = digest_kind(d, off, "review", since, until, json_object_get(o, "review_seconds"),
                           err))) {
        json_t *det =
            json_pack("{s:I, s:I}", "since", (json_int_t)since, "until", (json_int_t)until);
        rc = td__audit(d, actor, off, "report.digest", "office", off, det, err);
        json_decref(det);
    }
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    if (rc)
        json_decref(o);
    else
        *out = o;
    return rc;
}
