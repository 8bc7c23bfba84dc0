/*
 * audit.c - the append-only, hash-chained audit log.
 *
 * Entry n carries prev_hash = hash of entry n-1 (64 '0's for entry 1) and
 *     hash = hex SHA-256 of the canonical form
 *         "td-audit-1\n" then, as netstrings ("<len>:<bytes>,"), in order:
 *         id, time, office_id, user_id, action, object_type, object_id,
 *         details, prev_hash
 * Integers in decimal.  Netstrings make the form unambiguous: no choice of
 * field values can make two different entries serialise alike.  Ids are
 * consecutive (assigned by the desk inside the write transaction), so a
 * deleted entry shows as a gap and a broken link; a deleted TAIL shows
 * against SQLite's record of the highest id ever used.
 *
 * What this does not catch: someone who rewrites the whole chain from the
 * altered entry onward.  `verify` prints the head hash so an office can note
 * it elsewhere (a printed report, an email) and compare later.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "desk/desk_int.h"
#include "threatdesk/buf.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define DETAILS_MAX (1u << 20)

static int ns_str(struct td_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    int rc = td_buf_printf(b, "%zu:", n);
    if (!rc && n)
        rc = td_buf_append(b, s, n);
    return rc ? rc : td_buf_putc(b, ',');
}

static int ns_int(struct td_buf *b, int64_t v)
{
    char num[32];
    snprintf(num, sizeof num, "%" PRId64, v);
    return ns_str(b, num);
}

int td__audit_hash(const struct td_audit_entry *e, char out[65])
{
    struct td_buf b;
    td_buf_init(&b, DETAILS_MAX + 4096);
    int rc = td_buf_append(&b, "td-audit-1\n", 11);
    if (!rc)
        rc = ns_int(&b, e->id);
    if (!rc)
        rc = ns_int(&b, e->time);
    if (!rc)
        rc = ns_int(&b, e->office_id);
    if (!rc)
        rc = ns_int(&b, e->user_id);
    if (!rc)
        rc = ns_str(&b, e->action);
    if (!rc)
        rc = ns_str(&b, e->object_type);
    if (!rc)
        rc = ns_int(&b, e->object_id);
    if (!rc)
        rc = ns_str(&b, e->details);
    if (!rc)
        rc = ns_str(&b, e->prev_hash);
    if (!rc)
        td__sha256_hex(b.data, b.len, out);
    td_buf_release(&b);
    return rc;
}

int td__audit(struct td_desk *d, const struct td_actor *actor, int64_t office_id,
              const char *action, const char *object_type, int64_t object_id, const json_t *details,
              struct td_error *err)
{
    struct td_audit_entry e;
    int64_t last;
    int rc;
    memset(&e, 0, sizeof e);
    if ((rc = d->store->ops->audit_head(d->store, &last, e.prev_hash, err)))
        return rc;
    if (last == 0)
        snprintf(e.prev_hash, sizeof e.prev_hash, "%s", ZERO_HASH);
    e.id = last + 1;
    e.time = td__now();
    e.office_id = office_id;
    e.user_id = actor ? actor->user_id : 0;
    snprintf(e.action, sizeof e.action, "%s", action);
    snprintf(e.object_type, sizeof e.object_type, "%s", object_type);
    e.object_id = object_id;
    e.details = details ? json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (details && !e.details)
        return td_error_set(err, TD_ENOMEM, NULL);
    if (!e.details && !(e.details = strdup("{}")))
        return td_error_set(err, TD_ENOMEM, NULL);
    if (strlen(e.details) > DETAILS_MAX) {
        rc = td_error_set(err, TD_ETOOBIG, "audit details too large");
        goto out;
    }
    if ((rc = td__audit_hash(&e, e.hash))) {
        td_error_set(err, rc, "audit hash");
        goto out;
    }
    rc = d->store->ops->audit_append(d->store, &e, err);
out:
    free(e.details);
    return rc;
}

/* ---- verify ------------------------------------------------------------ */

struct walk {
    td_verify_cb *cb;
    void *ud;
    struct td_verify_stats *stats;
    int64_t prev_id;
    char prev_hash[65];
    int stop;
};

static int report(struct walk *w, const char *kind, int64_t id, const char *what,
                  const char *expected, const char *found)
{
    struct td_verify_problem p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.id = id;
    snprintf(p.what, sizeof p.what, "%s", what);
    snprintf(p.expected, sizeof p.expected, "%s", expected ? expected : "");
    snprintf(p.found, sizeof p.found, "%s", found ? found : "");
    w->stats->problems++;
    if (w->cb && w->cb(w->ud, &p))
        w->stop = 1;
    return w->stop;
}

static int walk_entry(void *ud, const struct td_audit_entry *e)
{
    struct walk *w = ud;
    char h[65];
    w->stats->audit_entries++;
    if (e->id != w->prev_id + 1) {
        char exp[32], got[32];
        snprintf(exp, sizeof exp, "id %" PRId64, w->prev_id + 1);
        snprintf(got, sizeof got, "id %" PRId64, e->id);
        if (report(w, "audit", e->id, "missing entry before this one", exp, got))
            return 1;
    }
    if (strcmp(e->prev_hash, w->prev_hash) != 0 &&
        report(w, "audit", e->id, "prev_hash does not match the previous entry", w->prev_hash,
               e->prev_hash))
        return 1;
    if (td__audit_hash(e, h) != TD_OK) {
        if (report(w, "audit", e->id, "entry too large to hash", "", ""))
            return 1;
    } else if (strcmp(h, e->hash) != 0 &&
               report(w, "audit", e->id, "entry altered: hash does not match its contents", h,
                      e->hash)) {
        return 1;
    }
    w->prev_id = e->id;
    /* Chain on the STORED hash, so one altered entry is reported once and
     * its successors are checked on their own. */
    snprintf(w->prev_hash, sizeof w->prev_hash, "%s", e->hash);
    return 0;
}

int td_desk_verify(struct td_desk *d, td_verify_cb *cb, void *ud, struct td_verify_stats *stats,
                   struct td_error *err)
{
    struct td_verify_stats local;
    struct walk w;
    int64_t max_ever = 0;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    memset(&w, 0, sizeof w);
    w.cb = cb;
    w.ud = ud;
    w.stats = stats;
    snprintf(w.prev_hash, sizeof w.prev_hash, "%s", ZERO_HASH);

    td__lock(d);
    int rc = d->store->ops->audit_scan(d->store, walk_entry, &w, &max_ever, err);
    if (!rc && !w.stop && max_ever > w.prev_id) {
        char exp[32], got[32];
        snprintf(exp, sizeof exp, "last id %" PRId64, max_ever);
        snprintf(got, sizeof got, "last id %" PRId64, w.prev_id);
        report(&w, "audit", w.prev_id + 1, "entries missing at the end of the log", exp, got);
    }
    stats->head_id = w.prev_id;
    snprintf(stats->head_hash, sizeof stats->head_hash, "%s", w.prev_id ? w.prev_hash : "");
    if (!rc && !w.stop)
        rc = td__evidence_verify(d, cb, ud, stats, err);
    td__unlock(d);
    return rc;
}
