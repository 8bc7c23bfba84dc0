/*
 * desk.c - opening the desk, its lock, and the helpers every desk file
 * shares (time, hashing, role predicates, transaction bracketing).
 */
#define _XOPEN_SOURCE 700 /* strptime */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "desk/desk_int.h"
#include "desk/feedback_int.h"

void td_desk_opts_init(struct td_desk_opts *o)
{
    memset(o, 0, sizeof *o);
}

void td_queue_filter_init(struct td_queue_filter *f)
{
    memset(f, 0, sizeof *f);
    f->status = -1;
    f->label = -1;
    f->min_severity = -1;
    f->since = INT64_MIN;
    f->until = INT64_MAX;
}

void td_case_filter_init(struct td_case_filter *f)
{
    memset(f, 0, sizeof *f);
    f->status = -1;
    f->type = -1;
    f->since = INT64_MIN;
    f->until = INT64_MAX;
}

int64_t td__now(void)
{
    return (int64_t)time(NULL);
}

void td__lock(struct td_desk *d)
{
    pthread_mutex_lock(&d->lock);
}

void td__unlock(struct td_desk *d)
{
    pthread_mutex_unlock(&d->lock);
}

int td__begin(struct td_desk *d, struct td_error *err)
{
    return d->store->ops->begin(d->store, err);
}

int td__end(struct td_desk *d, int rc, struct td_error *err)
{
    if (rc == TD_OK) {
        rc = d->store->ops->commit(d->store, err);
        if (rc == TD_OK)
            return TD_OK;
    }
    d->store->ops->rollback(d->store);
    return rc;
}

int td__is_staff(const struct td_actor *a)
{
    return a && (a->role == TD_ROLE_ADMIN || a->role == TD_ROLE_CASEWORKER ||
                 a->role == TD_ROLE_SECURITY);
}

int td__denied(struct td_error *err, const char *what)
{
    return td_error_set(err, TD_EDENIED, "your role may not %s", what);
}

void td__sha256_hex(const void *p, size_t n, char hex[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, p, n);
    sodium_bin2hex(hex, 65, h, sizeof h);
}

/* Times the desk keeps are of things that happened: not before 1970 (a
 * negative epoch is a bug upstream), not more than a day ahead of this
 * clock (a day allows for skewed clocks and time zones). */
static int time_in_range(int64_t t, const char *field, struct td_error *err)
{
    int64_t now = td__now();
    if (t >= 0 && t <= now + 86400)
        return TD_OK;
    td_error_field(err, field);
    return td_error_set(err, TD_EINVAL, "%s: %lld is %s; expected a time between 1970 and tomorrow",
                        field, (long long)t, t < 0 ? "before 1970" : "in the future");
}

int td__parse_time(const json_t *v, int64_t *out, const char *field, struct td_error *err)
{
    if (json_is_integer(v)) {
        if (time_in_range(json_integer_value(v), field, err))
            return TD_EINVAL;
        *out = json_integer_value(v);
        return TD_OK;
    }
    if (json_is_string(v)) {
        /* RFC 3339: 2026-11-29T08:00:00[.frac](Z|+hh:mm|-hh:mm) */
        const char *s = json_string_value(v);
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (p) {
            if (*p == '.')
                for (p++; *p >= '0' && *p <= '9'; p++)
                    ;
            long off = 0;
            if (*p == 'Z' || *p == 'z') {
                p++;
            } else if ((*p == '+' || *p == '-') && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' &&
                       p[2] <= '9' && p[3] == ':' && p[4] >= '0' && p[4] <= '9' && p[5] >= '0' &&
                       p[5] <= '9') {
                off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
                      ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
                if (*p == '-')
                    off = -off;
                p += 6;
            } else {
                p = NULL;
            }
            if (p && *p == '\0') {
                /* strptime takes 2026-02-30 and timegm rolls it into March:
                 * a date that does not come back the same does not exist. */
                struct tm want = tm, back;
                time_t t = timegm(&tm);
                if (!gmtime_r(&t, &back) || back.tm_year != want.tm_year ||
                    back.tm_mon != want.tm_mon || back.tm_mday != want.tm_mday ||
                    back.tm_hour != want.tm_hour || back.tm_min != want.tm_min) {
                    td_error_field(err, field);
                    return td_error_set(err, TD_EINVAL, "%s: '%.40s' is not a real date or time",
                                        field, s);
                }
                if (time_in_range((int64_t)t - off, field, err))
                    return TD_EINVAL;
                *out = (int64_t)t - off;
                return TD_OK;
            }
        }
    }
    td_error_field(err, field);
    return td_error_set(err, TD_EINVAL, "%s: expected seconds since the epoch or an RFC 3339 time",
                        field);
}

int td_desk_open(const struct td_desk_opts *o, struct td_desk **out, struct td_error *err)
{
    struct td_desk *d = NULL;
    int rc;
    *out = NULL;
    if (!o || !o->db || !o->data_dir)
        return td_error_set(err, TD_EINVAL, "desk needs a store and a data directory");
    if (sodium_init() < 0)
        return td_error_set(err, TD_ECRYPTO, "libsodium failed to initialise");
    if (!(d = calloc(1, sizeof *d)))
        return td_error_set(err, TD_ENOMEM, NULL);
    pthread_mutex_init(&d->lock, NULL);
    pthread_mutex_init(&d->hash_lock, NULL);
    pthread_cond_init(&d->hash_cond, NULL);
    d->opts = *o;
    d->opts.db = d->opts.data_dir = d->opts.home = NULL;
    if (!d->opts.session_ttl_s)
        d->opts.session_ttl_s = 12 * 3600;
    if (!d->opts.login_max_failures)
        d->opts.login_max_failures = 5;
    if (!d->opts.login_window_s)
        d->opts.login_window_s = 900;
    if (d->opts.login_window_s > 86400) /* the store keeps a day of failures */
        d->opts.login_window_s = 86400;
    if (!d->opts.hash_slots)
        d->opts.hash_slots = 2;
    if (!d->opts.hash_queue)
        d->opts.hash_queue = 8;
    if (!d->opts.hash_wait_ms)
        d->opts.hash_wait_ms = 10000;
    if (!d->opts.pwhash_mem_kib)
        d->opts.pwhash_mem_kib = 32768;
    if (!d->opts.pwhash_ops)
        d->opts.pwhash_ops = 3;
    if (d->opts.pwhash_mem_kib < 8192 || d->opts.pwhash_mem_kib > (1u << 20) ||
        d->opts.pwhash_ops < crypto_pwhash_OPSLIMIT_MIN || d->opts.pwhash_ops > 20) {
        rc =
            td_error_set(err, TD_EINVAL, "Argon2id cost out of range (8 MiB..1 GiB, 1..20 passes)");
        goto fail;
    }
    if ((size_t)snprintf(d->data_dir, sizeof d->data_dir, "%s", o->data_dir) >=
        sizeof d->data_dir) {
        rc = td_error_set(err, TD_EINVAL, "data directory path too long");
        goto fail;
    }
    char ev[1100];
    snprintf(ev, sizeof ev, "%s/evidence", d->data_dir);
    if ((mkdir(d->data_dir, 0700) && errno != EEXIST) || (mkdir(ev, 0700) && errno != EEXIST)) {
        rc = td_error_set(err, TD_EIO, "%s: %s", ev, strerror(errno));
        goto fail;
    }
    /* Whoever may write in the data directory can swap evidence files and
     * plant others: refuse to run on one that group or others can write. */
    for (int i = 0; i < 2; i++) {
        struct stat sb;
        const char *p = i ? ev : d->data_dir;
        if (stat(p, &sb) != 0) {
            rc = td_error_set(err, TD_EIO, "%s: %s", p, strerror(errno));
            goto fail;
        }
        if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
            td_error_field(err, "data_dir");
            rc = td_error_set(err, TD_EDENIED,
                              "%s is writable by group or others (mode %03o): chmod go-w it", p,
                              (unsigned)(sb.st_mode & 0777));
            goto fail;
        }
    }
    d->analyser = o->analyser;
    if (d->analyser && td_analysis_ctx_new(d->analyser, &d->ctx) != TD_OK) {
        rc = td_error_set(err, TD_ENOMEM, "analysis context");
        goto fail;
    }
    if ((rc = td_store_open(o->db, o->home, &d->store, err)))
        goto fail;
    *out = d;
    return TD_OK;
fail:
    td_desk_close(d);
    return rc;
}

void td_desk_close(struct td_desk *d)
{
    if (!d)
        return;
    td__feedback_cache_free(d);
    sodium_memzero(d->alert_key, sizeof d->alert_key);
    td_store_close(d->store);
    if (d->ctx)
        td_analysis_ctx_free(d->ctx);
    pthread_mutex_destroy(&d->lock);
    pthread_mutex_destroy(&d->hash_lock);
    pthread_cond_destroy(&d->hash_cond);
    free(d);
}
