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
 * against the store's record of the highest id ever used.  SQLite keeps
 * one chain per store; PostgreSQL one per office (ids count per office,
 * store audit_chains), and verify walks each office's chain alone.
 *
 * Rows: the entries also vouch for the rows they describe.  While walking
 * the chain, verify keeps what each entry says a row must hold - a
 * message's original and text (their SHA-256, recorded at ingest) and its
 * status; a case's type, title, description, police reference and status
 * (replaying create, update and status entries, last one wins); a note's
 * text (hashed); an evidence row's hash, size and case - and then reads
 * every such row (store verify_scan) and reports by id each one that
 * differs, each one whose entries exist but the row does not (deleted),
 * and each row no entry accounts for (inserted behind the desk's back).
 *
 * A message removed on purpose (UK GDPR erasure, retention) leaves an
 * entry "message.erase" or "message.expire" about it: verify then expects
 * the row to be gone, and reports it if it is still there.
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

int td_desk_audit_hash(const struct td_audit_entry *e, char out[65])
{
    return td__audit_hash(e, out);
}

/* One timeline event: {"id","time","user"?,"action","details"}; members
 * the row lacks (the operator has no user name; details that do not parse)
 * are left out, as the API always has. */
static int event_json(void *ud, const struct td_store_event_row *r)
{
    json_t *o = json_object();
    if (!o)
        return TD_ENOMEM;
    json_object_set_new(o, "id", json_integer((json_int_t)r->id));
    json_object_set_new(o, "time", json_integer((json_int_t)r->time));
    if (r->user)
        json_object_set_new(o, "user", json_string(r->user));
    if (r->action)
        json_object_set_new(o, "action", json_string(r->action));
    if (r->details) {
        json_t *det = json_loads(r->details, JSON_DECODE_ANY, NULL);
        if (det)
            json_object_set_new(o, "details", det);
    }
    return json_array_append_new((json_t *)ud, o) ? TD_ENOMEM : TD_OK;
}

int td__audit_events(struct td_desk *d, int64_t office_id, const char *object_type,
                     int64_t object_id, json_t **out, struct td_error *err)
{
    json_t *a = json_array();
    *out = NULL;
    if (!a)
        return td_error_set(err, TD_ENOMEM, NULL);
    int rc = d->store->ops->audit_for_object(d->store, office_id, object_type, object_id,
                                             event_json, a, err);
    if (rc) {
        json_decref(a);
        return rc == TD_ENOMEM ? td_error_set(err, TD_ENOMEM, NULL) : rc;
    }
    *out = a;
    return TD_OK;
}

int td__audit(struct td_desk *d, const struct td_actor *actor, int64_t office_id,
              const char *action, const char *object_type, int64_t object_id, const json_t *details,
              struct td_error *err)
{
    struct td_audit_entry e;
    int64_t last;
    int rc;
    memset(&e, 0, sizeof e);
    if ((rc = d->store->ops->audit_head(d->store, office_id, &last, e.prev_hash, err)))
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
    /* Name the credential that acted: a session, or a key and who issued
     * it (an admin writing with a key minted for someone else shows). */
    json_t *det = details && json_is_object(details)
                      ? json_copy((json_t *)details)
                      : (details ? json_incref((json_t *)details) : json_object());
    if (!det)
        return td_error_set(err, TD_ENOMEM, NULL);
    if (actor && json_is_object(det) && (actor->session_id || actor->key_id)) {
        json_t *cred = actor->key_id ? json_pack("{s:I, s:I}", "key", (json_int_t)actor->key_id,
                                                 "issued_by", (json_int_t)actor->key_issued_by)
                                     : json_pack("{s:I}", "session", (json_int_t)actor->session_id);
        json_object_set_new(det, "credential", cred);
    }
    e.details = json_dumps(det, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(det);
    if (!e.details)
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

/* What the chain says one field of one row must hold. */
struct expect {
    const char *kind; /* static: "message", "case", "note", "evidence" */
    int64_t id;
    const char *field; /* static */
    char *val;         /* NULL: SQL NULL */
    int64_t entry;     /* the audit entry that said so (last wins) */
    int seen;
};

struct walk {
    td_verify_cb *cb;
    void *ud;
    struct td_verify_stats *stats;
    int64_t prev_id;
    char prev_hash[65];
    int stop;
    struct expect *ex;
    size_t nex, capex;
    int oom;
    /* One chain per office (store audit_chains set): the office whose
     * chain is being walked, and the last id each walked chain ended at
     * (in office order, as audit_scan gives them). */
    struct td_store *per_office;
    int64_t office;
    int started;
    struct chain_end {
        int64_t office, last;
    } * ends;
    size_t nends, capends;
};

/* The value an erasure entry leaves: the row must not exist. */
#define ERASED "\001erased"

/* Fields whose stored value is compared by its SHA-256 (blobs and long
 * texts), and the one field per kind whose presence stands for the row. */
static int hashed_field(const char *kind, const char *field)
{
    return (!strcmp(kind, "message") && (!strcmp(field, "original") || !strcmp(field, "text"))) ||
           (!strcmp(kind, "note") && !strcmp(field, "text"));
}

static int row_field(const char *kind, const char *field)
{
    return (!strcmp(kind, "message") && !strcmp(field, "original")) ||
           (!strcmp(kind, "case") && !strcmp(field, "type")) ||
           (!strcmp(kind, "note") && !strcmp(field, "text")) ||
           (!strcmp(kind, "evidence") && !strcmp(field, "sha256"));
}

static void expect(struct walk *w, const char *kind, int64_t id, const char *field, const char *val,
                   int64_t entry)
{
    if (w->oom)
        return;
    if (w->nex == w->capex) {
        size_t cap = w->capex ? w->capex * 2 : 1024;
        struct expect *p = realloc(w->ex, cap * sizeof *p);
        if (!p) {
            w->oom = 1;
            return;
        }
        w->ex = p;
        w->capex = cap;
    }
    struct expect *e = &w->ex[w->nex];
    e->kind = kind;
    e->id = id;
    e->field = field;
    e->val = val ? strdup(val) : NULL;
    e->entry = entry;
    e->seen = 0;
    if (val && !e->val) {
        w->oom = 1;
        return;
    }
    w->nex++;
}

/* A JSON member as an expected value: strings as they are, null as NULL,
 * integers in decimal. */
static void expect_json(struct walk *w, const char *kind, int64_t id, const char *field,
                        const json_t *v, int64_t entry)
{
    char num[32];
    if (json_is_string(v)) {
        expect(w, kind, id, field, json_string_value(v), entry);
    } else if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%" PRId64, (int64_t)json_integer_value(v));
        expect(w, kind, id, field, num, entry);
    } else if (json_is_null(v)) {
        expect(w, kind, id, field, NULL, entry);
    }
}

/* Learn from one entry what rows must hold. */
static void learn(struct walk *w, const struct td_audit_entry *e)
{
    static const char *const case_fields[] = {"type", "title", "description", "police_ref"};
    const char *a = e->action;
    if (!strcmp(e->object_type, "message") &&
        (!strcmp(a, "message.erase") || !strcmp(a, "message.expire"))) {
        expect(w, "message", e->object_id, "original", ERASED, e->id);
        return;
    }
    if (strcmp(a, "message.ingest") && strcmp(a, "message.status") && strcmp(a, "case.create") &&
        strcmp(a, "case.update") && strcmp(a, "case.status") && strcmp(a, "case.note") &&
        strcmp(a, "evidence.add"))
        return;
    json_t *det = json_loads(e->details ? e->details : "{}", 0, NULL);
    if (!json_is_object(det)) {
        json_decref(det);
        return;
    }
    if (!strcmp(a, "message.ingest")) {
        expect_json(w, "message", e->object_id, "original", json_object_get(det, "sha256"), e->id);
        expect_json(w, "message", e->object_id, "text", json_object_get(det, "text_sha256"), e->id);
        expect(w, "message", e->object_id, "status", "unreviewed", e->id);
    } else if (!strcmp(a, "message.status")) {
        expect_json(w, "message", e->object_id, "status", json_object_get(det, "status"), e->id);
    } else if (!strcmp(a, "case.create") || !strcmp(a, "case.update")) {
        int create = !strcmp(a, "case.create");
        for (size_t i = 0; i < sizeof case_fields / sizeof case_fields[0]; i++) {
            json_t *v = json_object_get(det, case_fields[i]);
            if (v)
                expect_json(w, "case", e->object_id, case_fields[i], v, e->id);
            else if (create && i >= 2)
                expect(w, "case", e->object_id, case_fields[i], NULL, e->id);
        }
        if (create)
            expect(w, "case", e->object_id, "status", "new", e->id);
    } else if (!strcmp(a, "case.status")) {
        expect_json(w, "case", e->object_id, "status", json_object_get(det, "to"), e->id);
    } else if (!strcmp(a, "case.note")) {
        json_t *t = json_object_get(det, "text");
        int64_t nid = json_integer_value(json_object_get(det, "note"));
        if (json_is_string(t) && nid > 0) {
            char h[65];
            td__sha256_hex(json_string_value(t), json_string_length(t), h);
            expect(w, "note", nid, "text", h, e->id);
            char c[32];
            snprintf(c, sizeof c, "%" PRId64, e->object_id);
            expect(w, "note", nid, "case", c, e->id);
        }
    } else {
        int64_t eid = json_integer_value(json_object_get(det, "evidence"));
        if (eid > 0) {
            char c[32];
            expect_json(w, "evidence", eid, "sha256", json_object_get(det, "sha256"), e->id);
            expect_json(w, "evidence", eid, "size", json_object_get(det, "size"), e->id);
            snprintf(c, sizeof c, "%" PRId64, e->object_id);
            expect(w, "evidence", eid, "case", c, e->id);
        }
    }
    json_decref(det);
}

static int report(struct walk *w, const char *kind, int64_t id, const char *what,
                  const char *expected, const char *found)
{
    struct td_verify_problem p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.id = id;
    /* one chain per office: an entry's id alone does not say which */
    if (w->per_office && !strcmp(kind, "audit"))
        snprintf(p.what, sizeof p.what, "office %" PRId64 ": %s", w->office, what);
    else
        snprintf(p.what, sizeof p.what, "%s", what);
    snprintf(p.expected, sizeof p.expected, "%s", expected ? expected : "");
    snprintf(p.found, sizeof p.found, "%s", found ? found : "");
    w->stats->problems++;
    if (w->cb && w->cb(w->ud, &p))
        w->stop = 1;
    return w->stop;
}

/* The end of one office's chain: remembered, to compare with the store's
 * record of the highest id each office's chain ever reached. */
static void chain_end(struct walk *w)
{
    if (w->nends == w->capends) {
        size_t cap = w->capends ? w->capends * 2 : 64;
        struct chain_end *p = realloc(w->ends, cap * sizeof *p);
        if (!p) {
            w->oom = 1;
            return;
        }
        w->ends = p;
        w->capends = cap;
    }
    w->ends[w->nends].office = w->office;
    w->ends[w->nends].last = w->prev_id;
    w->nends++;
}

/* One office's highest id ever against where its chain ended: a deleted
 * tail shows, and so does a chain deleted whole (it never started). */
static int chain_check(void *ud, int64_t office, int64_t ever)
{
    struct walk *w = ud;
    size_t lo = 0, hi = w->nends;
    int64_t last = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->ends[mid].office == office) {
            last = w->ends[mid].last;
            break;
        }
        if (w->ends[mid].office < office)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (ever <= last)
        return 0;
    char exp[32], got[32];
    int64_t walking = w->office;
    snprintf(exp, sizeof exp, "last id %" PRId64, ever);
    snprintf(got, sizeof got, "last id %" PRId64, last);
    w->office = office; /* names the office in the report */
    int stop = report(w, "audit", last + 1, "entries missing at the end of the log", exp, got);
    w->office = walking;
    return stop;
}

static int walk_entry(void *ud, const struct td_audit_entry *e)
{
    struct walk *w = ud;
    char h[65];
    if (w->per_office && (!w->started || e->office_id != w->office)) {
        /* each office's chain starts from id 1 and the zero hash */
        if (w->started)
            chain_end(w);
        w->office = e->office_id;
        w->prev_id = 0;
        snprintf(w->prev_hash, sizeof w->prev_hash, "%s", ZERO_HASH);
    }
    w->started = 1;
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
    learn(w, e);
    return 0;
}

static int cmp_expect(const void *pa, const void *pb)
{
    const struct expect *a = pa, *b = pb;
    int c = strcmp(a->kind, b->kind);
    if (!c)
        c = a->id < b->id ? -1 : a->id > b->id;
    if (!c)
        c = strcmp(a->field, b->field);
    if (!c)
        c = a->entry < b->entry ? -1 : a->entry > b->entry;
    return c;
}

/* Sort, and keep only the last word on each (kind, id, field). */
static void settle(struct walk *w)
{
    size_t out = 0;
    if (!w->nex)
        return;
    qsort(w->ex, w->nex, sizeof *w->ex, cmp_expect);
    for (size_t i = 0; i < w->nex; i++) {
        if (i + 1 < w->nex && !strcmp(w->ex[i].kind, w->ex[i + 1].kind) &&
            w->ex[i].id == w->ex[i + 1].id && !strcmp(w->ex[i].field, w->ex[i + 1].field)) {
            free(w->ex[i].val);
            continue;
        }
        w->ex[out++] = w->ex[i];
    }
    w->nex = out;
}

static struct expect *find_expect(struct walk *w, const char *kind, int64_t id, const char *field)
{
    size_t lo = 0, hi = w->nex;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        struct expect *e = &w->ex[mid];
        int c = strcmp(kind, e->kind);
        if (!c)
            c = id < e->id ? -1 : id > e->id;
        if (!c)
            c = strcmp(field, e->field);
        if (!c)
            return e;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static void shorten(char *dst, size_t size, const char *s, size_t n)
{
    if (!s) {
        snprintf(dst, size, "(null)");
        return;
    }
    snprintf(dst, size, "%.*s%s", (int)(n < size - 4 ? n : size - 4), s, n < size - 4 ? "" : "...");
}

/* One stored field against what the chain says. */
static int check_row(void *ud, const char *kind, int64_t id, const char *field, const void *value,
                     size_t len)
{
    struct walk *w = ud;
    char h[65], what[160], exp[128], got[128];
    const char *have = value;
    size_t hlen = len;
    if (row_field(kind, field))
        w->stats->rows++;
    struct expect *e = find_expect(w, kind, id, field);
    if (!e) {
        if (row_field(kind, field)) {
            snprintf(what, sizeof what, "not in the audit log (added behind the desk's back)");
            return report(w, kind, id, what, "an audit entry", "none");
        }
        return 0; /* a field older entries did not record */
    }
    e->seen = 1;
    if (e->val && !strcmp(e->val, ERASED))
        return report(w, kind, id, "still present after its erasure", "no row", "a row");
    if (value && hashed_field(kind, field)) {
        td__sha256_hex(value, len, h);
        have = h;
        hlen = 64;
    }
    int same = (!e->val && !have) ||
               (e->val && have && strlen(e->val) == hlen && !memcmp(e->val, have, hlen));
    if (same)
        return 0;
    snprintf(what, sizeof what, "%s altered (differs from audit entry %" PRId64 ")", field,
             e->entry);
    shorten(exp, sizeof exp, e->val, e->val ? strlen(e->val) : 0);
    shorten(got, sizeof got, have, hlen);
    return report(w, kind, id, what, exp, got);
}

static int check_rows(struct td_desk *d, struct walk *w, struct td_error *err)
{
    settle(w);
    int rc = d->store->ops->verify_scan(d->store, check_row, w, err);
    for (size_t i = 0; !rc && !w->stop && i < w->nex; i++) {
        struct expect *e = &w->ex[i];
        if (e->seen || !row_field(e->kind, e->field) || (e->val && !strcmp(e->val, ERASED)))
            continue;
        char what[160], ent[32];
        snprintf(what, sizeof what, "missing: row deleted (audit entry %" PRId64 " recorded it)",
                 e->entry);
        snprintf(ent, sizeof ent, "entry %" PRId64, e->entry);
        report(w, e->kind, e->id, what, ent, "no row");
    }
    return rc;
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
    if (d->store->ops->audit_chains)
        w.per_office = d->store;

    td__lock(d);
    int rc = d->store->ops->audit_scan(d->store, walk_entry, &w, &max_ever, err);
    if (!rc && !w.stop && w.per_office) {
        if (w.started)
            chain_end(&w);
        if (!w.oom)
            rc = d->store->ops->audit_chains(d->store, chain_check, &w, err);
    }
    if (!rc && !w.stop && max_ever > w.prev_id) {
        char exp[32], got[32];
        snprintf(exp, sizeof exp, "last id %" PRId64, max_ever);
        snprintf(got, sizeof got, "last id %" PRId64, w.prev_id);
        report(&w, "audit", w.prev_id + 1, "entries missing at the end of the log", exp, got);
    }
    stats->head_id = w.prev_id;
    snprintf(stats->head_hash, sizeof stats->head_hash, "%s", w.prev_id ? w.prev_hash : "");
    if (!rc && w.oom)
        rc = td_error_set(err, TD_ENOMEM, "verify: out of memory");
    if (!rc && !w.stop)
        rc = check_rows(d, &w, err);
    if (!rc && !w.stop)
        rc = td__evidence_verify(d, cb, ud, stats, err);
    td__unlock(d);
    for (size_t i = 0; i < w.nex; i++)
        free(w.ex[i].val);
    free(w.ex);
    free(w.ends);
    return rc;
}
