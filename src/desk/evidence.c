/*
 * evidence.c - evidence files, content-addressed by SHA-256.
 *
 *   <data_dir>/evidence/ab/cdef0123...   (2 hex, then the other 62)
 *
 * Adding: hash the bytes, write them to a temporary file in the target
 * directory, fsync it, rename() it into place and fsync the directory -
 * all BEFORE the row that names it is committed, so a committed row never
 * points at a file that a crash could lose.  The same bytes added twice
 * share one file.  Reading back re-hashes the file and refuses bytes that
 * no longer match; `verify` re-hashes every file named by a row.
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

#define EVIDENCE_MAX ((size_t)256 << 20)

static void evidence_path(const struct td_desk *d, const char *sha, char *path, size_t size,
                          char *dir, size_t dsize)
{
    snprintf(dir, dsize, "%s/evidence/%.2s", d->data_dir, sha);
    snprintf(path, size, "%s/%s", dir, sha + 2);
}

/* Hash a file; TD_ENOTFOUND when absent.  *size gets its length. */
static int hash_file(const char *path, char hex[65], int64_t *size, struct td_error *err)
{
    crypto_hash_sha256_state st;
    unsigned char buf[65536], h[crypto_hash_sha256_BYTES];
    int64_t total = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return td_error_set(err, errno == ENOENT ? TD_ENOTFOUND : TD_EIO, "%s: %s", path,
                            strerror(errno));
    crypto_hash_sha256_init(&st);
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        crypto_hash_sha256_update(&st, buf, n);
        total += (int64_t)n;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return td_error_set(err, TD_EIO, "%s: read error", path);
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(hex, 65, h, sizeof h);
    *size = total;
    return TD_OK;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

static int write_evidence(struct td_desk *d, const char *sha, const void *data, size_t len,
                          struct td_error *err)
{
    char dir[1200], path[1300], tmp[1400], have[65];
    int64_t have_size;
    evidence_path(d, sha, path, sizeof path, dir, sizeof dir);
    /* Already there and intact: nothing to write. */
    if (hash_file(path, have, &have_size, NULL) == TD_OK && !strcmp(have, sha))
        return TD_OK;
    if (mkdir(dir, 0700) && errno != EEXIST)
        return td_error_set(err, TD_EIO, "%s: %s", dir, strerror(errno));
    snprintf(tmp, sizeof tmp, "%s/.tmp-XXXXXX", dir);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return td_error_set(err, TD_EIO, "%s: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto fail;
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0 || fsync_dir(dir) != 0)
        goto fail;
    return TD_OK;
fail:;
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return td_error_set(err, TD_EIO, "%s: %s", path, strerror(e));
}

int td_desk_evidence_add(struct td_desk *d, const struct td_actor *actor, int64_t case_id,
                         const char *name, const char *type, const void *data, size_t len,
                         int64_t *id, char sha256[65], struct td_error *err)
{
    char sha[65];
    int64_t eid = 0, created_by = 0;
    if (!actor || actor->role == TD_ROLE_POLICE)
        return td__denied(err, "add evidence");
    if (len > EVIDENCE_MAX)
        return td_error_set(err, TD_ETOOBIG, "evidence larger than 256 MiB");
    if (!data && len)
        return td_error_set(err, TD_EINVAL, "no data");
    if ((name && strlen(name) > 1000) || (type && strlen(type) > 200))
        return td_error_set(err, TD_EINVAL, "name or type too long");
    /* A name is shown and sent back as a download's file name: control
     * characters (a cut-short name, a header split) are refused. */
    for (const char *p = name; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            td_error_field(err, "name");
            return td_error_set(err, TD_EINVAL, "the file name contains a control character");
        }
    td__sha256_hex(len ? data : "", len, sha);

    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    /* Observers reach only the cases they filed; `visible` is for readers,
     * so check here with the staff rules or the filer rule. */
    char status[TD_STORE_NAME_SIZE];
    int reported;
    if ((rc = d->store->ops->case_head(d->store, actor->office_id, case_id, status, &created_by,
                                       &reported, err)))
        goto end;
    if (!td__is_staff(actor) &&
        !(actor->role == TD_ROLE_OBSERVER && created_by == actor->user_id)) {
        rc = td__denied(err, "add evidence to this case");
        goto end;
    }
    if ((rc = write_evidence(d, sha, data, len, err)))
        goto end;
    struct td_store_evidence e = {
        .office_id = actor->office_id,
        .case_id = case_id,
        .name = name,
        .type = type,
        .size = (int64_t)len,
        .sha256 = sha,
        .added = td__now(),
        .added_by = actor->user_id,
    };
    if ((rc = d->store->ops->evidence_insert(d->store, &e, &eid, err)))
        goto end;
    json_t *det = json_pack("{s:I, s:s, s:I, s:s?, s:s?}", "evidence", (json_int_t)eid, "sha256",
                            sha, "size", (json_int_t)len, "name", name, "type", type);
    rc = det ? td__audit(d, actor, actor->office_id, "evidence.add", "case", case_id, det, err)
             : td_error_set(err, TD_EUTF8, "name or type is not valid UTF-8");
    json_decref(det);
end:
    rc = td__end(d, rc, err);
    if (!rc) {
        if (id)
            *id = eid;
        if (sha256)
            memcpy(sha256, sha, 65);
    }
out:
    td__unlock(d);
    return rc;
}

int td_desk_evidence_get(struct td_desk *d, const struct td_actor *actor, int64_t evidence_id,
                         json_t **meta, void **data, size_t *len, struct td_error *err)
{
    char sha[65], dir[1200], path[1300], got[65];
    int64_t case_id = 0;
    json_t *m = NULL;
    void *buf = NULL;
    size_t n = 0;
    if (meta)
        *meta = NULL;
    if (data)
        *data = NULL;
    if (len)
        *len = 0;
    if (!actor || actor->role == TD_ROLE_OBSERVER)
        return td__denied(err, "read evidence");
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    struct td_store_evidence_row row;
    struct td_store_arena ar = {0};
    rc = d->store->ops->evidence_get(d->store, actor->office_id, evidence_id, &row, &ar, err);
    if (!rc) {
        case_id = row.case_id;
        snprintf(sha, sizeof sha, "%s", row.sha256 ? row.sha256 : "");
        if (meta && !(m = td__render_evidence(&row, 1)))
            rc = td_error_set(err, TD_ENOMEM, NULL);
    }
    td_store_arena_free(&ar);
    if (rc)
        goto end;
    char status[TD_STORE_NAME_SIZE];
    int reported;
    int64_t by;
    if ((rc = d->store->ops->case_head(d->store, actor->office_id, case_id, status, &by, &reported,
                                       err)))
        goto end;
    if (!td__is_staff(actor) && !(actor->role == TD_ROLE_POLICE && reported)) {
        rc = td_error_set(err, TD_ENOTFOUND, "no such evidence");
        goto end;
    }
    if (data) {
        evidence_path(d, sha, path, sizeof path, dir, sizeof dir);
        FILE *f = fopen(path, "rb");
        struct stat sb;
        if (!f || fstat(fileno(f), &sb) != 0 || (size_t)sb.st_size > EVIDENCE_MAX) {
            rc = td_error_set(err, TD_EIO, "%s: %s", path, f ? "too large" : strerror(errno));
            if (f)
                fclose(f);
            goto end;
        }
        n = (size_t)sb.st_size;
        buf = malloc(n ? n : 1);
        if (!buf || fread(buf, 1, n, f) != n) {
            rc = td_error_set(err, buf ? TD_EIO : TD_ENOMEM, "%s: read failed", path);
            fclose(f);
            goto end;
        }
        fclose(f);
        td__sha256_hex(buf, n, got);
        if (strcmp(got, sha) != 0) {
            rc = td_error_set(err, TD_ECRYPTO, "evidence %" PRId64 " was altered on disk",
                              evidence_id);
            goto end;
        }
    }
    json_t *det = json_pack("{s:I}", "evidence", (json_int_t)evidence_id);
    rc = td__audit(d, actor, actor->office_id, "evidence.read", "case", case_id, det, err);
    json_decref(det);
end:
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    if (rc) {
        json_decref(m);
        free(buf);
        return rc;
    }
    if (meta)
        *meta = m;
    else
        json_decref(m);
    if (data) {
        *data = buf;
        if (len)
            *len = n;
    }
    return TD_OK;
}

struct ev_walk {
    struct td_desk *d;
    td_verify_cb *cb;
    void *ud;
    struct td_verify_stats *stats;
    int stop;
};

static int ev_problem(struct ev_walk *w, int64_t id, const char *what, const char *exp,
                      const char *found)
{
    struct td_verify_problem p;
    memset(&p, 0, sizeof p);
    p.kind = "evidence";
    p.id = id;
    snprintf(p.what, sizeof p.what, "%s", what);
    snprintf(p.expected, sizeof p.expected, "%s", exp);
    snprintf(p.found, sizeof p.found, "%s", found);
    w->stats->problems++;
    if (w->cb && w->cb(w->ud, &p))
        w->stop = 1;
    return w->stop;
}

static int ev_check(void *ud, int64_t id, const char *sha, int64_t size)
{
    struct ev_walk *w = ud;
    char dir[1200], path[1300], got[65];
    int64_t got_size = 0;
    w->stats->evidence_files++;
    if (!sha || strlen(sha) != 64)
        return ev_problem(w, id, "row has no valid sha256", "64 hex digits", sha ? sha : "");
    evidence_path(w->d, sha, path, sizeof path, dir, sizeof dir);
    int rc = hash_file(path, got, &got_size, NULL);
    if (rc == TD_ENOTFOUND)
        return ev_problem(w, id, "file missing", path, "");
    if (rc)
        return ev_problem(w, id, "file unreadable", path, "");
    if (strcmp(got, sha) != 0)
        return ev_problem(w, id, "file altered: contents do not match the hash", sha, got);
    if (got_size != size) {
        char e[32], f[32];
        snprintf(e, sizeof e, "%" PRId64 " bytes", size);
        snprintf(f, sizeof f, "%" PRId64 " bytes", got_size);
        return ev_problem(w, id, "size differs from the row", e, f);
    }
    return 0;
}

int td__evidence_verify(struct td_desk *d, td_verify_cb *cb, void *ud,
                        struct td_verify_stats *stats, struct td_error *err)
{
    struct ev_walk w = {d, cb, ud, stats, 0};
    return d->store->ops->evidence_scan(d->store, ev_check, &w, err);
}
