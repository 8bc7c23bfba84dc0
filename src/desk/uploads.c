/*
 * uploads.c - scanned letters off the request path (desk.h "scanned
 * letters"; store.h "the work queue"; migration 0012).
 *
 *   accept:  lock, begin; [client key seen: answer that upload]; insert the
 *            upload (bytes kept); add job ("ocr", payload_ref = upload id);
 *            audit "upload.accept"; commit.  One transaction: there is never
 *            a job without its letter nor a letter without its job.
 *   work:    claim (its own short write transaction) -> read the letter and
 *            mark it processing -> OCR, no lock held -> file it through
 *            td_desk_ingest (its own transaction: message, audit, alerts)
 *            -> mark the upload done and finish the job, in one transaction.
 *
 * A worker can die anywhere.  Before filing: the lease runs out and
 * another worker starts over.  After filing, before finishing: the next
 * worker files again under the same idempotency key ("upload:<id>", or the
 * client's own key), which answers the message already filed, so a letter
 * is never filed twice.
 *
 * Which failures are retried: OCR engine trouble (TD_EOCR), memory and
 * store errors may pass; a file that is not a readable image (TD_EFORMAT),
 * too big (TD_ETOOBIG), without text (TD_EINVAL from the filing) or under
 * a client key already used for another text (TD_EEXISTS) will not do
 * better next time, so it fails at once and keeps its bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <utf8proc.h>

#include "desk/desk_int.h"
#include "desk/pipeline_int.h"
#include "threatdesk/ocr.h"

#define NAME_MAX_BYTES 255
#define KEY_MAX_BYTES 200
#define DEFAULT_LEASE_S 600
#define DEFAULT_ATTEMPTS 3
#define DEFAULT_RETRY_S 30
#define JOB_KIND "ocr"

int td_desk_can_queue(const struct td_desk *d)
{
    const struct td_store_ops *o = d->store->ops;
    return o->job_add && o->job_claim && o->job_finish && o->upload_insert && o->upload_get &&
           o->upload_set;
}

static int need_queue(const struct td_desk *d, struct td_error *err)
{
    if (td_desk_can_queue(d))
        return TD_OK;
    return td_error_set(err, TD_EFORMAT, "the %s store has no work queue yet", d->store->ops->name);
}

/* Short, printable UTF-8 without control characters: a name or key shown
 * back to people and written into the audit log. */
static int clean_text(const char *s, size_t max, const char *field, struct td_error *err)
{
    size_t n = strlen(s);
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    if (n == 0 || n > max) {
        td_error_field(err, field);
        return td_error_set(err, TD_EINVAL, "%s must be 1..%zu bytes", field, max);
    }
    while (n > 0) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(p, (utf8proc_ssize_t)n, &c);
        if (k <= 0 || c < 0x20 || c == 0x7f) {
            td_error_field(err, field);
            return td_error_set(err, k <= 0 ? TD_EUTF8 : TD_EINVAL,
                                "%s must be UTF-8 without control characters", field);
        }
        p += k;
        n -= (size_t)k;
    }
    return TD_OK;
}

/* ---- accept ---------------------------------------------------------------- */

static int seen_cb(void *ud, const struct td_store_upload *u)
{
    struct td_upload_result *res = ud;
    res->id = u->id;
    res->message_id = u->message_id;
    snprintf(res->state, sizeof res->state, "%s", u->state ? u->state : "");
    return 0;
}

int td_desk_upload_accept(struct td_desk *d, const struct td_actor *actor, const void *bytes,
                          size_t len, const char *name, const char *client_key, int64_t received,
                          struct td_upload_result *res, struct td_error *err)
{
    int rc;
    memset(res, 0, sizeof *res);
    if (!td__is_staff(actor))
        return td__denied(err, "upload letters");
    if ((rc = need_queue(d, err)))
        return rc;
    if (!bytes || len == 0)
        return td_error_set(err, TD_EINVAL, "the upload is empty");
    if (len > TD_UPLOAD_MAX_BYTES)
        return td_error_set(err, TD_ETOOBIG, "the upload is %zu bytes; the limit is %zu", len,
                            TD_UPLOAD_MAX_BYTES);
    const char *kind = td_ocr_sniff(bytes, len);
    if (!kind)
        return td_error_set(err, TD_EFORMAT,
                            "not an image: no PNG, JPEG, TIFF or PDF signature in its first "
                            "bytes, whatever its name or type says");
    if (name && *name && (rc = clean_text(name, NAME_MAX_BYTES, "name", err)))
        return rc;
    if (client_key && *client_key &&
        (rc = clean_text(client_key, KEY_MAX_BYTES, "client_key", err)))
        return rc;
    if (name && !*name)
        name = NULL;
    if (client_key && !*client_key)
        client_key = NULL;

    int64_t now = td__now();
    char sha[65], ref[24];
    td__sha256_hex(bytes, len, sha);
    struct td_store *s = d->store;
    td__lock(d);
    if ((rc = td__begin(d, err)))
        goto unlock;
    if (client_key) {
        rc = s->ops->upload_get(s, actor->office_id, 0, client_key, 0, seen_cb, res, err);
        if (rc == TD_OK) {
            res->duplicate = 1;
            goto end;
        }
        if (rc != TD_ENOTFOUND)
            goto end;
        td_error_clear(err);
    }
    struct td_store_upload u = {
        .office_id = actor->office_id,
        .client_key = client_key,
        .kind = kind,
        .name = name,
        .original = bytes,
        .original_len = len,
        .sha256 = sha,
        .received = received == INT64_MIN ? now : received,
        .created = now,
        .created_by = actor->user_id,
    };
    if ((rc = s->ops->upload_insert(s, &u, &res->id, err)))
        goto end;
    snprintf(ref, sizeof ref, "%lld", (long long)res->id);
    if ((rc = s->ops->job_add(s, actor->office_id, JOB_KIND, ref, now, &res->job_id, err)))
        goto end;
    json_t *det = json_pack("{s:s, s:I, s:s, s:I, s:s?, s:s?}", "kind", kind, "size",
                            (json_int_t)len, "sha256", sha, "job", (json_int_t)res->job_id, "name",
                            name, "client_key", client_key);
    if (!det) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
        goto end;
    }
    rc = td__audit(d, actor, actor->office_id, "upload.accept", "upload", res->id, det, err);
    json_decref(det);
    snprintf(res->state, sizeof res->state, "queued");
end:
    rc = td__end(d, rc, err);
    /* This process's worker threads, if any, need not wait for their poll. */
    if (!rc && !res->duplicate && d->ocr_workers)
        td__ocr_workers_wake(d->ocr_workers);
unlock:
    td__unlock(d);
    if (rc)
        memset(res, 0, sizeof *res);
    return rc;
}

/* ---- status ------------------------------------------------------------------ */

static int json_cb(void *ud, const struct td_store_upload *u)
{
    json_t **out = ud;
    json_t *o = json_pack("{s:I, s:s, s:s, s:s?, s:I, s:s, s:I, s:I, s:I}", "id", (json_int_t)u->id,
                          "state", u->state ? u->state : "", "kind", u->kind ? u->kind : "", "name",
                          u->name, "size", (json_int_t)u->original_len, "sha256",
                          u->sha256 ? u->sha256 : "", "received", (json_int_t)u->received,
                          "created", (json_int_t)u->created, "attempts", (json_int_t)u->attempts);
    if (!o)
        return TD_ENOMEM;
    if (u->message_id > 0)
        json_object_set_new(o, "message", json_integer(u->message_id));
    if (u->error)
        json_object_set_new(o, "error", json_string(u->error));
    *out = o;
    return 0;
}

int td_desk_upload_get(struct td_desk *d, const struct td_actor *actor, int64_t id, json_t **out,
                       struct td_error *err)
{
    int rc;
    *out = NULL;
    if (!td__is_staff(actor))
        return td__denied(err, "read uploads");
    if ((rc = need_queue(d, err)))
        return rc;
    td__lock(d);
    rc = d->store->ops->upload_get(d->store, actor->office_id, id, NULL, 0, json_cb, out, err);
    td__unlock(d);
    if (rc == TD_ENOTFOUND)
        return td_error_set(err, TD_ENOTFOUND, "no upload %lld", (long long)id);
    if (rc == TD_ENOMEM)
        return td_error_set(err, TD_ENOMEM, NULL);
    return rc;
}

/* ---- work ---------------------------------------------------------------------- */

/* The letter, copied out of the store's row. */
struct letter {
    int64_t id, received, created_by, message_id;
    char *bytes;
    size_t len;
    char name[NAME_MAX_BYTES + 1];
    char key[KEY_MAX_BYTES + 16];
    char state[16];
};

static int letter_cb(void *ud, const struct td_store_upload *u)
{
    struct letter *l = ud;
    l->id = u->id;
    l->received = u->received;
    l->created_by = u->created_by;
    l->message_id = u->message_id;
    snprintf(l->name, sizeof l->name, "%s", u->name ? u->name : "");
    /* The client's key when it gave one, so a retry of the same letter by
     * JSON finds it too; else one made from the upload. */
    if (u->client_key)
        snprintf(l->key, sizeof l->key, "%s", u->client_key);
    else
        snprintf(l->key, sizeof l->key, "upload:%lld", (long long)u->id);
    snprintf(l->state, sizeof l->state, "%s", u->state ? u->state : "");
    if (u->original_len) {
        if (!(l->bytes = malloc(u->original_len)))
            return TD_ENOMEM;
        memcpy(l->bytes, u->original, u->original_len);
    }
    l->len = u->original_len;
    return 0;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Errors that will not go away by trying again. */
static int permanent(int code)
{
    return code == TD_EFORMAT || code == TD_ETOOBIG || code == TD_EINVAL || code == TD_EUTF8 ||
           code == TD_EDENIED || code == TD_EEXISTS;
}

/* The end of a job, in one transaction with its upload's new state. */
static int finish(struct td_desk *d, const struct td_work_opts *o, const struct td_store_job *job,
                  struct letter *l, struct td_work_result *res, struct td_error *err)
{
    struct td_store *s = d->store;
    int64_t now = td__now();
    int ok = res->outcome == TD_OK;
    unsigned max = o->max_attempts ? o->max_attempts : DEFAULT_ATTEMPTS;
    unsigned retry = o->retry_s ? o->retry_s : DEFAULT_RETRY_S;
    int64_t retry_at = 0;
    if (!ok) {
        res->gave_up = permanent(res->outcome) || job->attempts >= (int64_t)max || l->id == 0;
        if (!res->gave_up) {
            unsigned shift = job->attempts > 10 ? 10 : (unsigned)job->attempts - 1;
            retry_at = now + ((int64_t)retry << shift);
        }
    }
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto unlock;
    if (l->id) {
        const char *state = ok ? "done" : res->gave_up ? "failed" : "queued";
        rc = s->ops->upload_set(s, job->office_id, l->id, state, job->attempts,
                                ok ? NULL : res->error, ok ? res->message_id : 0, now, err);
    }
    if (!rc && !ok && res->gave_up && l->id) {
        struct td_actor wa = {.user_id = 0, .office_id = job->office_id, .role = TD_ROLE_ADMIN};
        json_t *det =
            json_pack("{s:s, s:s, s:I, s:s}", "error", res->error, "code", td_errname(res->outcome),
                      "attempts", (json_int_t)job->attempts, "worker", o->worker);
        rc = det ? td__audit(d, &wa, job->office_id, "upload.fail", "upload", l->id, det, err)
                 : td_error_set(err, TD_ENOMEM, NULL);
        json_decref(det);
    }
    if (!rc) {
        rc = s->ops->job_finish(s, job->id, o->worker, ok, ok ? NULL : res->error, now, retry_at,
                                err);
        /* Our lease ran out and another worker has the job.  A filed letter
         * stays filed (the other finds it a duplicate); a failure is the
         * other worker's to judge now, so ours is not recorded. */
        if (rc == TD_ENOTFOUND) {
            td_error_clear(err);
            if (!ok) {
                td__end(d, TD_ENOTFOUND, err); /* rolls back */
                td_error_clear(err);
                rc = TD_OK;
                goto unlock;
            }
            rc = TD_OK;
        }
    }
    rc = td__end(d, rc, err);
unlock:
    td__unlock(d);
    return rc;
}

static void fail_with(struct td_work_result *res, int code, const char *msg)
{
    res->outcome = code ? code : TD_EOCR;
    snprintf(res->error, sizeof res->error, "%.255s",
             msg && *msg ? msg : td_strerror(res->outcome));
}

int td_desk_work_one(struct td_desk *d, const struct td_work_opts *o, struct td_ocr_pool *pool,
                     struct td_analysis_ctx *ctx, struct td_work_result *res, struct td_error *err)
{
    struct td_store *s = d->store;
    struct td_store_job job;
    struct letter l;
    struct td_message m;
    struct td_error e;
    int rc;
    memset(res, 0, sizeof *res);
    memset(&l, 0, sizeof l);
    td_message_init(&m);
    if (!o || !o->worker || !*o->worker)
        return td_error_set(err, TD_EINVAL, "a worker needs a name");
    if ((rc = need_queue(d, err)))
        return rc;

    td__lock(d);
    rc = s->ops->job_claim(s, o->worker, td__now(), o->lease_s ? o->lease_s : DEFAULT_LEASE_S, &job,
                           err);
    td__unlock(d);
    if (rc == TD_ENOTFOUND) {
        td_error_clear(err);
        res->idle = 1;
        return TD_OK;
    }
    if (rc)
        return rc;
    res->job_id = job.id;
    res->office_id = job.office_id;

    /* What to work on: a decimal upload id, nothing else. */
    char *end = NULL;
    errno = 0;
    long long uid = strtoll(job.payload_ref, &end, 10);
    if (strcmp(job.kind, JOB_KIND) || errno || !end || *end || uid <= 0) {
        fail_with(res, TD_EFORMAT, "not a job this worker knows");
        goto done;
    }
    res->upload_id = uid;
    l.id = uid;

    td_error_clear(&e);
    td__lock(d);
    rc = s->ops->upload_get(s, job.office_id, uid, NULL, 1, letter_cb, &l, &e);
    if (rc == TD_OK && strcmp(l.state, "done") != 0)
        rc = s->ops->upload_set(s, job.office_id, uid, "processing", job.attempts, NULL, 0,
                                td__now(), &e);
    td__unlock(d);
    if (rc) {
        if (rc == TD_ENOTFOUND)
            l.id = 0; /* the upload is gone (erased): nothing to retry */
        fail_with(res, rc, rc == TD_ENOTFOUND ? "the upload is gone" : e.message);
        if (rc == TD_ENOMEM)
            fail_with(res, rc, "copying the upload");
        goto done;
    }
    if (!strcmp(l.state, "done")) {
        /* Filed by a worker that died before finishing the job. */
        res->message_id = l.message_id;
        res->duplicate = 1;
        goto done;
    }

    /* OCR, with no lock held: the slow part. */
    struct td_ocr *engine = NULL;
    td_error_clear(&e);
    double t0 = mono();
    if (pool)
        engine = td_ocr_pool_get(pool);
    else
        rc = td_ocr_open(NULL, &engine, &e);
    if (rc == TD_OK)
        rc = td_ocr_message(engine, l.bytes, l.len, l.name[0] ? l.name : NULL, &m, NULL, &e);
    if (pool)
        td_ocr_pool_put(pool, engine);
    else
        td_ocr_free(engine);
    res->ocr_seconds = mono() - t0;
    if (rc) {
        fail_with(res, rc, e.message);
        goto done;
    }
    if (!m.text || td__blank(m.text, m.text_len)) {
        fail_with(res, TD_EINVAL, "no text could be read from the letter");
        goto done;
    }
    m.time = l.received;

    /* File it as the uploader, in the upload's office. */
    struct td_actor as = {
        .user_id = l.created_by, .office_id = job.office_id, .role = TD_ROLE_CASEWORKER};
    snprintf(as.username, sizeof as.username, "%s", "(worker)");
    struct td_ingest_result ir;
    td_error_clear(&e);
    rc = td_desk_ingest(d, &as, ctx, &m, l.key, &ir, &e);
    if (rc) {
        fail_with(res, rc, e.message);
        goto done;
    }
    res->message_id = ir.id;
    res->duplicate = ir.duplicate;
    res->severity = (int)ir.severity;

done:
    rc = finish(d, o, &job, &l, res, err);
    td_message_release(&m);
    free(l.bytes);
    return rc;
}
