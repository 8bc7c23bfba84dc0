/*
 * pg_messages.c - the PostgreSQL store's messages and senders: ingest,
 * the triage queue, reads, status, dedupe, erasure and retention walks
 * (the message ops of sqlite.c, op for op).  Every statement names its
 * office in its WHERE clause and runs under td__pgs_scope for it.
 */
#ifdef TD_HAVE_POSTGRES

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_store_int.h"
#include "threatdesk/taxonomy.h"

/* ---- messages ---------------------------------------------------------- */

/* The id and severity of the office's message that `sql` finds by one text
 * value ($2); TD_ENOTFOUND without error text when there is none (the usual
 * case for the duplicate checks that ask). */
static int id_severity(struct td_store *s, int64_t office, const char *sql, const char *value,
                       int64_t *id, int *severity, struct td_error *err)
{
    struct td__pga a = {0};
    PGresult *r;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    td__pga_i(&a, office);
    td__pga_t(&a, value);
    if ((rc = td__pgs_ex(s, sql, &a, &r, err)))
        return rc;
    if (PQntuples(r) < 1) {
        rc = TD_ENOTFOUND;
    } else {
        *id = td__pgs_coli(r, 0, 0);
        *severity = (int)td__pgs_coli(r, 0, 1);
    }
    PQclear(r);
    return rc;
}

int td__pgs_message_find_key(struct td_store *s, int64_t office, const char *key, int64_t *id,
                             int *severity, struct td_error *err)
{
    return id_severity(s, office,
                       "SELECT id, severity FROM messages WHERE office_id = $1::bigint "
                       "AND client_key = $2",
                       key, id, severity, err);
}

/* A message row's INSERT, its 19 columns and parameters; COL and VAL add
 * to them (the id taken ahead). */
#define MESSAGE_INSERT(COL, VAL)                                                                   \
    "INSERT INTO messages(office_id, client_key, message_id, channel, sender, "                    \
    "sender_name, subject, text, original, received, ingested, ingested_by, "                      \
    "severity, labels, flags, verdict, model_version, content_key, attachments" COL ") "           \
    "VALUES ($1::bigint, $2, $3, $4, $5, $6, $7, $8, $9::bytea, $10::bigint, "                     \
    "$11::bigint, $12::bigint, $13::bigint, $14::bigint, $15::bigint, $16, $17, "                  \
    "$18, $19" VAL ")"

int td__pgs_message_insert(struct td_store *s, const struct td_store_message *m, int64_t *id,
                           struct td_error *err)
{
    struct td__pga a = {0};
    char *text = NULL;
    int rc = td__pgs_scope(s, m->office_id, err);
    if (rc)
        return rc;
    /* PostgreSQL text cannot hold a NUL byte (valid UTF-8, which SQLite
     * keeps): refused rather than cut short, which verify would then
     * report as an altered text. */
    if (m->text && memchr(m->text, '\0', m->text_len)) {
        td_error_field(err, "text");
        return td_error_set(err, TD_EINVAL, "text holds a NUL byte, which PostgreSQL cannot store");
    }
    /* text_len is the text's length: a text parameter ends at its NUL */
    const char *t = m->text ? m->text : "";
    if (m->text && strlen(m->text) != m->text_len) {
        if (!(text = strndup(m->text, m->text_len)))
            return td_error_set(err, TD_ENOMEM, NULL);
        t = text;
    }
    td__pga_i(&a, m->office_id);
    td__pga_t(&a, m->client_key);
    td__pga_t(&a, m->message_id);
    td__pga_t(&a, m->channel);
    td__pga_t(&a, m->sender);
    td__pga_t(&a, m->sender_name);
    td__pga_t(&a, m->subject);
    td__pga_t(&a, t);
    td__pga_bin(&a, m->original, m->original_len);
    td__pga_i(&a, m->received);
    td__pga_i(&a, m->ingested);
    td__pga_i(&a, m->ingested_by);
    td__pga_i(&a, m->severity);
    td__pga_i(&a, m->labels);
    td__pga_i(&a, m->flags);
    td__pga_t(&a, m->verdict);
    td__pga_t(&a, m->model_version);
    td__pga_t(&a, m->content_key);
    td__pga_t(&a, m->attachments);
    /* Inside a transaction the id is taken ahead (td__pgs_message_id) and
     * the INSERT is sent ahead in the pipeline, not waited for: a failure
     * (a key or content filed by another writer since the lookup) comes
     * with the next statement, the batch's RELEASE or COMMIT, which
     * refuses the record or fails the pass as any held-back write does. */
    int64_t ahead = 0;
    if ((rc = td__pgs_message_id(s, m->reserve, &ahead, err))) {
        free(text);
        return rc;
    }
    if (ahead) {
        td__pga_i(&a, ahead);
        rc = td__pgs_defer(s, NULL, MESSAGE_INSERT(", id", ", $20::bigint"), &a, err);
        if (!rc)
            *id = ahead;
        free(text);
        return rc;
    }
    rc = td__pgs_insert_id(
        s, "message", MESSAGE_INSERT("", "") " ON CONFLICT DO NOTHING RETURNING id", &a, id, err);
    free(text);
    return rc;
}

/* ---- message rows ---------------------------------------------------------- */

void td__pgs_msg_row(const PGresult *r, int row, struct td_store_arena *ar,
                     struct td_store_message_row *m)
{
    m->id = td__pgs_coli(r, row, 0);
    m->channel = td__pgs_col_copy(r, row, 1, ar);
    m->sender = td__pgs_col_copy(r, row, 2, ar);
    m->sender_name = td__pgs_col_copy(r, row, 3, ar);
    m->subject = td__pgs_col_copy(r, row, 4, ar);
    m->received = td__pgs_coli(r, row, 5);
    m->ingested = td__pgs_coli(r, row, 6);
    m->status = td__pgs_col_copy(r, row, 7, ar);
    m->status_reason = td__pgs_col_copy(r, row, 8, ar);
    m->client_key = td__pgs_col_copy(r, row, 9, ar);
    m->message_id = td__pgs_col_copy(r, row, 10, ar);
    m->text = td__pgs_col_copy(r, row, 11, ar);
    m->text_len = m->text ? (size_t)PQgetlength(r, row, 11) : 0;
    m->verdict = td__pgs_col_copy(r, row, 12, ar);
    m->attachments = td__pgs_col_copy(r, row, 13, ar);
    td__arena_ids(ar, td__pgs_col(r, row, 14), 1, &m->cases, &m->ncases);
    m->severity = (int)td__pgs_coli(r, row, 15);
    m->labels = (unsigned)td__pgs_coli(r, row, 16);
    m->flags = (unsigned)td__pgs_coli(r, row, 17);
    m->model_version = td__pgs_col_copy(r, row, 18, ar);
}

int td__pgs_msg_rows(struct td_store *s, const char *sql, const struct td__pga *a,
                     struct td_store_arena *ar, struct td_store_message_row **rows, size_t *n,
                     struct td_error *err)
{
    PGresult *r;
    *rows = NULL;
    *n = 0;
    int rc = td__pgs_ex(s, sql, a, &r, err);
    if (rc)
        return rc;
    int nt = PQntuples(r);
    if (nt > 0 && (*rows = td__arena_array(ar, (size_t)nt, sizeof **rows)))
        for (int i = 0; i < nt; i++)
            td__pgs_msg_row(r, i, ar, &(*rows)[i]);
    PQclear(r);
    if (ar->oom)
        return td_error_set(err, TD_ENOMEM, NULL);
    *n = (size_t)nt;
    return TD_OK;
}

int td__pgs_message_get(struct td_store *s, int64_t office, int64_t id,
                        struct td_store_message_row *out, struct td_store_arena *ar,
                        struct td_error *err)
{
    struct td__pga a = {0};
    struct td_store_message_row *rows;
    size_t n;
    memset(out, 0, sizeof *out);
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    td__pga_i(&a, office);
    td__pga_i(&a, id);
    if ((rc = td__pgs_msg_rows(s, MSG_COLS "WHERE m.office_id = $1::bigint AND m.id = $2::bigint",
                               &a, ar, &rows, &n, err)))
        return rc;
    if (n < 1)
        return td_error_set(err, TD_ENOTFOUND, "no such message");
    *out = rows[0];
    return TD_OK;
}

int td__pgs_message_original(struct td_store *s, int64_t office, int64_t id, void **data,
                             size_t *len, struct td_error *err)
{
    struct td__pga a = {0};
    PGresult *r;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    td__pga_i(&a, office);
    td__pga_i(&a, id);
    if ((rc = td__pgs_ex(s,
                         "SELECT original FROM messages WHERE office_id = $1::bigint "
                         "AND id = $2::bigint",
                         &a, &r, err)))
        return rc;
    if (PQntuples(r) < 1) {
        rc = td_error_set(err, TD_ENOTFOUND, "no such message");
    } else {
        unsigned char *b;
        size_t n;
        if (!(rc = td__pgs_bytea(r, 0, 0, &b, &n, err))) {
            /* the caller free()s: PQfreemem's memory is malloc's on every
             * platform but Windows; copy to be exact */
            *data = malloc(n ? n : 1);
            if (!*data)
                rc = td_error_set(err, TD_ENOMEM, NULL);
            else {
                if (n)
                    memcpy(*data, b, n);
                *len = n;
            }
            PQfreemem(b);
        }
    }
    PQclear(r);
    return rc;
}

/* The filter's WHERE, shared by the page query and the count: every
 * condition is a bound parameter, unused ones bound to "no filter". */
#define QUEUE_WHERE                                                                                \
    "WHERE m.office_id = $1::bigint AND ($2::text IS NULL OR m.status = $2) "                      \
    "AND ($3::int < 0 OR (m.labels & (1::bigint << $3::int)) <> 0) AND m.severity >= $4::bigint "  \
    "AND ($5::text IS NULL OR m.channel = $5) AND ($6::text IS NULL OR m.sender = $6) "            \
    "AND m.received >= $7::bigint AND m.received < $8::bigint "

#define QUEUE_ORDER                                                                                \
    "ORDER BY (m.status = 'unreviewed') DESC, m.severity DESC, m.received DESC, m.id DESC "

static void queue_args(struct td__pga *a, int64_t office, const struct td_store_msg_query *f)
{
    td__pga_i(a, office);
    td__pga_t(a, f->status);
    td__pga_i(a, f->label >= 0 && f->label < TD_LABEL_COUNT ? f->label : -1);
    td__pga_i(a, f->min_severity > 0 ? f->min_severity : 0);
    td__pga_t(a, f->channel);
    td__pga_t(a, f->sender);
    td__pga_i(a, f->since);
    td__pga_i(a, f->until);
}

int td__pgs_message_queue(struct td_store *s, int64_t office, const struct td_store_msg_query *f,
                          struct td_store_message_page *out, struct td_store_arena *ar,
                          struct td_error *err)
{
    struct td__pga a = {0};
    memset(out, 0, sizeof *out);
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    queue_args(&a, office, f);
    if ((rc = td__pgs_value(s, "SELECT count(*) FROM messages m " QUEUE_WHERE, &a, &out->total,
                            err)))
        return rc;
    td__pga_i(&a, (int64_t)f->limit);
    td__pga_i(&a, (int64_t)f->offset);
    /* The page's ids first, from the index alone, then the wide rows of
     * those ids only (as sqlite.c). */
    return td__pgs_msg_rows(s,
                            MSG_COLS
                            "WHERE m.id IN (SELECT m.id FROM messages m " QUEUE_WHERE QUEUE_ORDER
                            "LIMIT $9::bigint OFFSET $10::bigint) "
                            "AND m.office_id = $1::bigint " QUEUE_ORDER,
                            &a, ar, &out->rows, &out->n, err);
}

int td__pgs_message_set_status(struct td_store *s, int64_t office, int64_t id, const char *status,
                               const char *reason, int64_t by, int64_t when, struct td_error *err)
{
    struct td__pga a = {0};
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    td__pga_t(&a, status);
    td__pga_t(&a, reason);
    td__pga_i(&a, by);
    td__pga_i(&a, when);
    td__pga_i(&a, office);
    td__pga_i(&a, id);
    return td__pgs_ex1(
        s, "message",
        "UPDATE messages SET status = $1, status_reason = $2, status_by = $3::bigint, "
        "status_time = $4::bigint WHERE office_id = $5::bigint AND id = $6::bigint",
        &a, err);
}

/* ---- senders ----------------------------------------------------------- */

int td__pgs_sender_prior_threats(struct td_store *s, int64_t office, const char *sender,
                                 unsigned *n, struct td_error *err)
{
    struct td__pga a = {0};
    int64_t v = 0;
    int rc = td__pgs_senders_flush(s, err);
    if (!rc)
        rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    td__pga_i(&a, office);
    td__pga_t(&a, sender);
    rc = td__pgs_value(s, "SELECT threats FROM senders WHERE office_id = $1::bigint AND key = $2",
                       &a, &v, err);
    *n = (unsigned)v;
    return rc;
}

int td__pgs_sender_record(struct td_store *s, int64_t office, const char *sender,
                          const char *display, int severity, int is_threat, int64_t when,
                          struct td_error *err)
{
    struct td__pga a = {0};
    /* inside a transaction: held back, one upsert for the transaction's
     * tallies (pg_store.c) */
    int rc = td__pgs_sender_hold(s, office, sender, display, severity, is_threat, when, err);
    if (rc != 1)
        return rc;
    if ((rc = td__pgs_scope(s, office, err)))
        return rc;
    td__pga_i(&a, office);
    td__pga_t(&a, sender);
    td__pga_t(&a, display);
    td__pga_i(&a, is_threat ? 1 : 0);
    td__pga_i(&a, severity);
    td__pga_i(&a, when);
    /* a tally nobody reads back in this call: sent ahead in a transaction */
    return td__pgs_defer(
        s, NULL,
        "INSERT INTO senders AS x(office_id, key, display, messages, threats, "
        "worst_severity, first_seen, last_seen) "
        "VALUES ($1::bigint, $2, $3, 1, $4::bigint, $5::bigint, $6::bigint, $6::bigint) "
        "ON CONFLICT (office_id, key) DO UPDATE SET "
        "display = coalesce(excluded.display, x.display), messages = x.messages + 1, "
        "threats = x.threats + excluded.threats, "
        "worst_severity = greatest(x.worst_severity, excluded.worst_severity), "
        "first_seen = least(x.first_seen, excluded.first_seen), "
        "last_seen = greatest(x.last_seen, excluded.last_seen)",
        &a, err);
}

int td__pgs_sender_get(struct td_store *s, int64_t office, const char *sender, size_t limit,
                       struct td_store_sender_row *out, struct td_store_arena *ar,
                       struct td_error *err)
{
    struct td__pga a = {0};
    PGresult *r;
    memset(out, 0, sizeof *out);
    int rc = td__pgs_senders_flush(s, err);
    if (!rc)
        rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    td__pga_i(&a, office);
    td__pga_t(&a, sender);
    if ((rc = td__pgs_ex(s,
                         "SELECT key, display, messages, threats, worst_severity, first_seen, "
                         "last_seen FROM senders WHERE office_id = $1::bigint AND key = $2",
                         &a, &r, err)))
        return rc;
    if (PQntuples(r) < 1) {
        PQclear(r);
        return td_error_set(err, TD_ENOTFOUND, "no such sender");
    }
    out->sender = td__pgs_col_copy(r, 0, 0, ar);
    out->display = td__pgs_col_copy(r, 0, 1, ar);
    out->messages = td__pgs_coli(r, 0, 2);
    out->threats = td__pgs_coli(r, 0, 3);
    out->worst_severity = td__pgs_coli(r, 0, 4);
    out->first_seen = td__pgs_coli(r, 0, 5);
    out->last_seen = td__pgs_coli(r, 0, 6);
    PQclear(r);
    td__pga_i(&a, (int64_t)limit);
    return td__pgs_msg_rows(s,
                            MSG_COLS "WHERE m.office_id = $1::bigint AND m.sender = $2 "
                                     "ORDER BY m.received DESC, m.id DESC LIMIT $3::bigint",
                            &a, ar, &out->recent, &out->nrecent, err);
}

/* ---- dedupe, retention, erasure ----------------------------------------- */

int td__pgs_message_find_content(struct td_store *s, int64_t office, const char *ck, int64_t *id,
                                 int *severity, struct td_error *err)
{
    return id_severity(s, office,
                       "SELECT id, severity FROM messages WHERE office_id = $1::bigint "
                       "AND content_key = $2 ORDER BY id LIMIT 1",
                       ck, id, severity, err);
}

/* Ingest's three reads in one statement (one round trip): the key's
 * message, the content's first message, the sender's threats; each as
 * message_find_key, message_find_content and sender_prior_threats ask.
 * A NULL parameter matches no row. */
int td__pgs_message_ingest_lookup(struct td_store *s, int64_t office, const char *key,
                                  const char *content, const char *sender,
                                  struct td_store_ingest_lookup *out, struct td_error *err)
{
    struct td__pga a = {0};
    PGresult *r;
    memset(out, 0, sizeof *out);
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    td__pga_i(&a, office);
    td__pga_t(&a, key);
    td__pga_t(&a, content);
    td__pga_t(&a, sender);
    if ((rc = td__pgs_ex(s,
                         "SELECT k.id, k.severity, c.id, c.severity, x.threats FROM (SELECT 1) one "
                         "LEFT JOIN LATERAL (SELECT id, severity FROM messages "
                         "WHERE office_id = $1::bigint AND client_key = $2::text) k ON true "
                         "LEFT JOIN LATERAL (SELECT id, severity FROM messages "
                         "WHERE office_id = $1::bigint AND content_key = $3::text "
                         "ORDER BY id LIMIT 1) c ON true "
                         "LEFT JOIN LATERAL (SELECT threats FROM senders "
                         "WHERE office_id = $1::bigint AND key = $4::text) x ON true",
                         &a, &r, err)))
        return rc;
    if (PQntuples(r) == 1) {
        out->key_id = td__pgs_coli(r, 0, 0);
        out->key_severity = (int)td__pgs_coli(r, 0, 1);
        out->content_id = td__pgs_coli(r, 0, 2);
        out->content_severity = (int)td__pgs_coli(r, 0, 3);
        out->prior_threats = (unsigned)td__pgs_coli(r, 0, 4);
    }
    PQclear(r);
    /* this transaction's tallies of the sender, held back (pg_store.c) */
    out->prior_threats += (unsigned)td__pgs_sender_held_threats(s, office, sender);
    return TD_OK;
}

int td__pgs_message_walk(struct td_store *s, int64_t office, const char *sender, int64_t before,
                         int (*cb)(void *ud, int64_t id, const void *original, size_t len,
                                   int linked),
                         void *ud, struct td_error *err)
{
    struct td__pga a = {0};
    PGresult *r;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    td__pga_i(&a, office);
    td__pga_t(&a, sender);
    td__pga_i(&a, before);
    if ((rc = td__pgs_ex(
             s,
             "SELECT m.id, m.original, EXISTS (SELECT 1 FROM case_messages cm "
             "WHERE cm.message_id = m.id) FROM messages m WHERE m.office_id = $1::bigint "
             "AND ($2::text IS NULL OR m.sender = $2) AND m.received < $3::bigint "
             "ORDER BY m.received, m.id",
             &a, &r, err)))
        return rc;
    for (int i = 0; !rc && i < PQntuples(r); i++) {
        unsigned char *b;
        size_t n;
        if ((rc = td__pgs_bytea(r, i, 1, &b, &n, err)))
            break;
        int stop = cb(ud, td__pgs_coli(r, i, 0), b, n, (int)td__pgs_coli(r, i, 2));
        PQfreemem(b);
        if (stop)
            break;
    }
    PQclear(r);
    return rc;
}

int td__pgs_message_delete(struct td_store *s, int64_t office, int64_t id, struct td_error *err)
{
    struct td__pga a = {0};
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    td__pga_i(&a, office);
    td__pga_i(&a, id);
    /* the scanned letter it was read from first (see sqlite.c: the image
     * must not outlive the message); ON DELETE rows that hang off a
     * message (vectors, feedback, alerts) follow it by the schema's own
     * rules, as in SQLite. */
    PGresult *r = NULL;
    rc = td__pgs_ex(
        s,
        "DELETE FROM uploads WHERE office_id = $1::bigint AND message_id = $2::bigint "
        "AND NOT EXISTS (SELECT 1 FROM case_messages cm WHERE cm.message_id = $2::bigint)",
        &a, &r, err);
    PQclear(r);
    if (rc)
        return rc;
    return td__pgs_ex1(
        s, "message",
        "DELETE FROM messages WHERE office_id = $1::bigint AND id = $2::bigint "
        "AND NOT EXISTS (SELECT 1 FROM case_messages cm WHERE cm.message_id = messages.id)",
        &a, err);
}

int td__pgs_sender_delete(struct td_store *s, int64_t office, const char *sender,
                          struct td_error *err)
{
    struct td__pga a = {0};
    int rc = td__pgs_senders_flush(s, err);
    if (!rc)
        rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    td__pga_i(&a, office);
    td__pga_t(&a, sender);
    return td__pgs_ex(s, "DELETE FROM senders WHERE office_id = $1::bigint AND key = $2", &a, NULL,
                      err);
}

#else
typedef int td__pg_messages_disabled;
#endif /* TD_HAVE_POSTGRES */
