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

int td__parse_time(const json_t *v, int64_t *out, const char *field, struct td_error *err)
{
    if (json_is_integer(v)) {
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
                *out = (int64_t)timegm(&tm) - off;
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
    td_store_close(d->store);
    if (d->ctx)
        td_analysis_ctx_free(d->ctx);
    pthread_mutex_destroy(&d->lock);
    free(d);
}
