/*
 * pg_store_int.h - inside the store module: what the files of the
 * PostgreSQL store (pg_store.c, pg_messages.c, pg_cases.c) share: bound
 * parameters, the statement helpers, and the ops each file gives to the
 * table in pg_store.c.  Only compiled with TD_HAVE_POSTGRES.
 */
#ifndef TD_STORE_PG_STORE_INT_H
#define TD_STORE_PG_STORE_INT_H

#ifdef TD_HAVE_POSTGRES

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "store/pg_ops.h"
#include "store/store_int.h"

#define TD__PGA_MAX 24

/* Bound parameters, $1, $2... in the order added: numbers are formatted
 * into the struct, text and bytes are borrowed for the call.  Never
 * spliced into SQL. */
struct td__pga {
    int n;
    int binary; /* a bytea parameter is among them */
    const char *v[TD__PGA_MAX];
    int len[TD__PGA_MAX];
    int fmt[TD__PGA_MAX];
    char num[TD__PGA_MAX][24];
};

/* text (NULL: SQL NULL) */
static inline void td__pga_t(struct td__pga *a, const char *s)
{
    a->v[a->n] = s;
    a->len[a->n] = 0;
    a->fmt[a->n] = 0;
    a->n++;
}

static inline void td__pga_i(struct td__pga *a, int64_t i)
{
    td__pga_t(a, td__pg_i64(a->num[a->n], i));
}

static inline void td__pga_null(struct td__pga *a)
{
    td__pga_t(a, NULL);
}

/* bytes for a bytea parameter (sent in binary) */
static inline void td__pga_bin(struct td__pga *a, const void *p, size_t n)
{
    a->v[a->n] = n ? p : "";
    a->len[a->n] = (int)n;
    a->fmt[a->n] = 1;
    a->binary = 1;
    a->n++;
}

/* Column i of row as text, NULL for SQL NULL. */
static inline const char *td__pgs_col(const PGresult *r, int row, int i)
{
    return PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
}

/* Column i of row as an integer (booleans 1/0, NULL 0). */
static inline int64_t td__pgs_coli(const PGresult *r, int row, int i)
{
    if (PQgetisnull(r, row, i))
        return 0;
    const char *s = PQgetvalue(r, row, i);
    if (s[0] == 't' && !s[1])
        return 1;
    if (s[0] == 'f' && !s[1])
        return 0;
    return (int64_t)strtoll(s, NULL, 10);
}

/* Column i of row as text copied into a read's arena, NULL for SQL NULL. */
static inline const char *td__pgs_col_copy(const PGresult *r, int row, int i,
                                           struct td_store_arena *ar)
{
    return PQgetisnull(r, row, i)
               ? NULL
               : td__arena_strn(ar, PQgetvalue(r, row, i), (size_t)PQgetlength(r, row, i));
}

static inline void td__pgs_copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

/* Run sql with a's parameters on the store's connection (td__pg_exec). */
int td__pgs_ex(struct td_store *s, const char *sql, const struct td__pga *a, PGresult **r,
               struct td_error *err);
/* A write nobody waits for: inside a transaction sent ahead
 * (td__pg_defer; its failure comes with the next statement, RELEASE or
 * COMMIT), outside one run at once.  what != NULL: it must change a row
 * (TD_ENOTFOUND "no such <what>"). */
int td__pgs_defer(struct td_store *s, const char *what, const char *sql, const struct td__pga *a,
                  struct td_error *err);
/* A statement that must change a row: TD_ENOTFOUND "no such <what>"
 * when it changed none (td__sq_write1). */
int td__pgs_ex1(struct td_store *s, const char *what, const char *sql, const struct td__pga *a,
                struct td_error *err);
/* One integer from row 0, column 0; 0 when there is no row (td__sq_value). */
int td__pgs_value(struct td_store *s, const char *sql, const struct td__pga *a, int64_t *out,
                  struct td_error *err);
/* INSERT ... RETURNING id (ON CONFLICT DO NOTHING where a UNIQUE may be
 * met): no row back is TD_EEXISTS "<what>: already exists", and the
 * desk's transaction stays usable, as after SQLite's constraint error. */
int td__pgs_insert_id(struct td_store *s, const char *what, const char *sql,
                      const struct td__pga *a, int64_t *id, struct td_error *err);
/* A bytea column (text form) as bytes; *out is the caller's (PQfreemem). */
int td__pgs_bytea(const PGresult *r, int row, int i, unsigned char **out, size_t *len,
                  struct td_error *err);

/* The columns of a td_store_message_row, in the order td__pgs_msg_row
 * reads them (sqlite.c's MSG_SELECT), shared by message, sender and case
 * reads: the case ids aggregated as "1,2" text. */
#define MSG_COLS                                                                                   \
    "SELECT m.id, m.channel, m.sender, m.sender_name, m.subject, m.received, m.ingested, "         \
    "m.status, m.status_reason, m.client_key, m.message_id, m.text, m.verdict, m.attachments, "    \
    "(SELECT string_agg(cm.case_id::text, ',') FROM case_messages cm "                             \
    "WHERE cm.message_id = m.id) AS cases, m.severity, m.labels, m.flags, m.model_version "        \
    "FROM messages m "

/* pg_messages.c: messages, senders, dedupe and erasure. */
int td__pgs_message_find_key(struct td_store *s, int64_t office, const char *key, int64_t *id,
                             int *severity, struct td_error *err);
/* pg_store.c: the next message id taken ahead from the messages'
 * sequence inside the open transaction, up to `want` (the records still
 * to file) taken in one statement when none is left; *id = 0 outside a
 * transaction (then the INSERT returns its id). */
int td__pgs_message_id(struct td_store *s, size_t want, int64_t *id, struct td_error *err);
int td__pgs_message_insert(struct td_store *s, const struct td_store_message *m, int64_t *id,
                           struct td_error *err);
int td__pgs_message_get(struct td_store *s, int64_t office, int64_t id,
                        struct td_store_message_row *out, struct td_store_arena *ar,
                        struct td_error *err);
int td__pgs_message_original(struct td_store *s, int64_t office, int64_t id, void **data,
                             size_t *len, struct td_error *err);
int td__pgs_message_queue(struct td_store *s, int64_t office, const struct td_store_msg_query *f,
                          struct td_store_message_page *out, struct td_store_arena *ar,
                          struct td_error *err);
int td__pgs_message_set_status(struct td_store *s, int64_t office, int64_t id, const char *status,
                               const char *reason, int64_t by, int64_t when, struct td_error *err);
int td__pgs_sender_prior_threats(struct td_store *s, int64_t office, const char *sender,
                                 unsigned *n, struct td_error *err);
int td__pgs_sender_record(struct td_store *s, int64_t office, const char *sender,
                          const char *display, int severity, int is_threat, int64_t when,
                          struct td_error *err);
int td__pgs_sender_get(struct td_store *s, int64_t office, const char *sender, size_t limit,
                       struct td_store_sender_row *out, struct td_store_arena *ar,
                       struct td_error *err);
/* pg_messages.c: a row of MSG_COLS (in its column order) as a typed row,
 * strings copied into ar; and every row of a query of MSG_COLS. */
void td__pgs_msg_row(const PGresult *r, int row, struct td_store_arena *ar,
                     struct td_store_message_row *m);
int td__pgs_msg_rows(struct td_store *s, const char *sql, const struct td__pga *a,
                     struct td_store_arena *ar, struct td_store_message_row **rows, size_t *n,
                     struct td_error *err);
int td__pgs_message_find_content(struct td_store *s, int64_t office, const char *ck, int64_t *id,
                                 int *severity, struct td_error *err);
int td__pgs_message_ingest_lookup(struct td_store *s, int64_t office, const char *key,
                                  const char *content, const char *sender,
                                  struct td_store_ingest_lookup *out, struct td_error *err);
int td__pgs_message_walk(struct td_store *s, int64_t office, const char *sender, int64_t before,
                         int (*cb)(void *ud, int64_t id, const void *original, size_t len,
                                   int linked),
                         void *ud, struct td_error *err);
int td__pgs_message_delete(struct td_store *s, int64_t office, int64_t id, struct td_error *err);
int td__pgs_sender_delete(struct td_store *s, int64_t office, const char *sender,
                          struct td_error *err);

/* pg_cases.c: cases, notes and evidence. */
int td__pgs_case_insert(struct td_store *s, const struct td_store_case *c, int64_t *id,
                        struct td_error *err);
int td__pgs_case_head(struct td_store *s, int64_t office, int64_t id,
                      char status[TD_STORE_NAME_SIZE], int64_t *created_by, int *reported,
                      struct td_error *err);
int td__pgs_case_get(struct td_store *s, int64_t office, int64_t id,
                     struct td_store_case_detail *out, struct td_store_arena *ar,
                     struct td_error *err);
int td__pgs_case_set(struct td_store *s, int64_t office, int64_t id, const char *field,
                     const struct td_store_value *value, int64_t now, struct td_error *err);
int td__pgs_case_set_status(struct td_store *s, int64_t office, int64_t id, const char *from,
                            const char *to, int reported, int64_t now, struct td_error *err);
int td__pgs_case_list(struct td_store *s, int64_t office, const struct td_store_case_query *f,
                      struct td_store_case_page *out, struct td_store_arena *ar,
                      struct td_error *err);
int td__pgs_case_link(struct td_store *s, int64_t office, int64_t case_id, int64_t msg, int64_t now,
                      int *linked_new, struct td_error *err);
int td__pgs_note_insert(struct td_store *s, int64_t office, int64_t case_id, int64_t user,
                        const char *text, int shareable, int64_t now, int64_t *id,
                        struct td_error *err);
int td__pgs_evidence_insert(struct td_store *s, const struct td_store_evidence *e, int64_t *id,
                            struct td_error *err);
int td__pgs_evidence_get(struct td_store *s, int64_t office, int64_t id,
                         struct td_store_evidence_row *out, struct td_store_arena *ar,
                         struct td_error *err);
int td__pgs_evidence_scan(struct td_store *s,
                          int (*cb)(void *ud, int64_t id, const char *sha256, int64_t size),
                          void *ud, struct td_error *err);

/* pg_cases.c: the case list's filter, shared by case_list and case_export
 * (pg_export.c) so an export of a filtered list is that list: $1 office,
 * $2 status, $3 type, $4 assignee name, $5 police only, $6 sender, $7/$8
 * opened from/until; td__pgs_case_args() adds exactly those eight. */
#define TD__PGS_CASE_WHERE                                                                         \
    "WHERE c.office_id = $1::bigint AND ($2::text IS NULL OR c.status = $2) "                      \
    "AND ($3::text IS NULL OR c.type = $3) "                                                       \
    "AND ($4::text IS NULL OR a.name = $4) AND ($5::bigint = 0 OR c.reported = 1) "                \
    "AND ($6::text IS NULL OR EXISTS (SELECT 1 FROM case_messages cm JOIN messages m "             \
    "ON m.id = cm.message_id WHERE cm.case_id = c.id AND m.office_id = $1 AND m.sender = $6)) "    \
    "AND c.created >= $7::bigint AND c.created < $8::bigint "
void td__pgs_case_args(struct td__pga *a, int64_t office, const struct td_store_case_query *f);

#endif /* TD_HAVE_POSTGRES */
#endif
