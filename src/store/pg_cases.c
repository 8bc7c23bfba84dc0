/*
 * pg_cases.c - the PostgreSQL store's cases, their links, notes and
 * evidence rows (the case ops of sqlite.c, op for op).  Every statement
 * names its office in its WHERE clause and runs under td__pgs_scope for
 * it; evidence_scan (verify) reads every office's.
 */
#ifdef TD_HAVE_POSTGRES

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_store_int.h"
#include "threatdesk/taxonomy.h"

/* ---- cases ------------------------------------------------------------- */

int td__pgs_case_insert(struct td_store *s, const struct td_store_case *c, int64_t *id,
                        struct td_error *err)
{
    struct td__pga a = {0};
    int rc = td__pgs_scope(s, c->office_id, err);
    if (rc)
        return rc;
    td__pga_i(&a, c->office_id);
    td__pga_t(&a, c->type);
    td__pga_t(&a, c->status);
    td__pga_t(&a, c->title);
    td__pga_t(&a, c->description);
    if (c->occurred == INT64_MIN)
        td__pga_null(&a);
    else
        td__pga_i(&a, c->occurred);
    td__pga_t(&a, c->place);
    td__pga_t(&a, c->people);
    td__pga_t(&a, c->police_ref);
    if (c->assignee)
        td__pga_i(&a, c->assignee);
    else
        td__pga_null(&a);
    td__pga_i(&a, c->created);
    td__pga_i(&a, c->created_by);
    return td__pgs_insert_id(
        s, "case",
        "INSERT INTO cases(office_id, type, status, title, description, occurred, "
        "place, people, police_ref, assignee, created, created_by, updated) "
        "VALUES ($1::bigint, $2, $3, $4, $5, $6::bigint, $7, $8, $9, $10::bigint, "
        "$11::bigint, $12::bigint, $11::bigint) RETURNING id",
        &a, id, err);
}

int td__pgs_case_head(struct td_store *s, int64_t office, int64_t id,
                      char status[TD_STORE_NAME_SIZE], int64_t *created_by, int *reported,
                      struct td_error *err)
{
    struct td__pga a = {0};
    PGresult *r;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    td__pga_i(&a, office);
    td__pga_i(&a, id);
    if ((rc = td__pgs_ex(
             s,
             "SELECT status, created_by, reported FROM cases WHERE office_id = $1::bigint "
             "AND id = $2::bigint",
             &a, &r, err)))
        return rc;
    if (PQntuples(r) < 1) {
        rc = td_error_set(err, TD_ENOTFOUND, "no such case");
    } else {
        td__pgs_copy(status, TD_STORE_NAME_SIZE, td__pgs_col(r, 0, 0));
        *created_by = td__pgs_coli(r, 0, 1);
        *reported = (int)td__pgs_coli(r, 0, 2);
    }
    PQclear(r);
    return rc;
}

#define CASE_COLS                                                                                  \
    "SELECT c.id, c.type, c.status, c.title, c.description, c.occurred, c.place AS place_json, "   \
    "c.people AS people_json, c.police_ref, a.name AS assignee, c.created, "                       \
    "cb.name AS created_by, c.updated FROM cases c "                                               \
    "LEFT JOIN users a ON a.id = c.assignee LEFT JOIN users cb ON cb.id = c.created_by "

/* EVIDENCE of desk.h: its columns in evidence_row's order. */
#define EVIDENCE_COLS                                                                              \
    "SELECT e.id, e.case_id, e.name, e.type, e.size, e.sha256, e.added, u.name "                   \
    "FROM evidence e LEFT JOIN users u ON u.id = e.added_by "

static void evidence_row(const PGresult *r, int row, struct td_store_arena *ar,
                         struct td_store_evidence_row *e)
{
    e->id = td__pgs_coli(r, row, 0);
    e->case_id = td__pgs_coli(r, row, 1);
    e->name = td__pgs_col_copy(r, row, 2, ar);
    e->type = td__pgs_col_copy(r, row, 3, ar);
    e->size = td__pgs_coli(r, row, 4);
    e->sha256 = td__pgs_col_copy(r, row, 5, ar);
    e->added = td__pgs_coli(r, row, 6);
    e->added_by = td__pgs_col_copy(r, row, 7, ar);
}

static void case_row(const PGresult *r, int row, struct td_store_arena *ar,
                     struct td_store_case_row *c)
{
    c->id = td__pgs_coli(r, row, 0);
    c->type = td__pgs_col_copy(r, row, 1, ar);
    c->status = td__pgs_col_copy(r, row, 2, ar);
    c->title = td__pgs_col_copy(r, row, 3, ar);
    c->description = td__pgs_col_copy(r, row, 4, ar);
    c->has_occurred = !PQgetisnull(r, row, 5);
    c->occurred = td__pgs_coli(r, row, 5);
    c->place = td__pgs_col_copy(r, row, 6, ar);
    c->people = td__pgs_col_copy(r, row, 7, ar);
    c->police_ref = td__pgs_col_copy(r, row, 8, ar);
    c->assignee = td__pgs_col_copy(r, row, 9, ar);
    c->created = td__pgs_coli(r, row, 10);
    c->created_by = td__pgs_col_copy(r, row, 11, ar);
    c->updated = td__pgs_coli(r, row, 12);
}

static void note_row(const PGresult *r, int row, struct td_store_arena *ar,
                     struct td_store_note_row *n)
{
    n->id = td__pgs_coli(r, row, 0);
    n->text = td__pgs_col_copy(r, row, 1, ar);
    n->author = td__pgs_col_copy(r, row, 2, ar);
    n->created = td__pgs_coli(r, row, 3);
    n->shareable = (int)td__pgs_coli(r, row, 4);
}

/* The rows of a query as an arena array of `size`-byte rows, each read
 * by row(). */
static int typed_rows(struct td_store *s, const char *sql, const struct td__pga *a,
                      struct td_store_arena *ar, size_t size,
                      void (*row)(const PGresult *r, int i, struct td_store_arena *ar, void *out),
                      void **rows, size_t *n, struct td_error *err)
{
    PGresult *r;
    *rows = NULL;
    *n = 0;
    int rc = td__pgs_ex(s, sql, a, &r, err);
    if (rc)
        return rc;
    int nt = PQntuples(r);
    if (nt > 0 && (*rows = td__arena_array(ar, (size_t)nt, size)))
        for (int i = 0; i < nt; i++)
            row(r, i, ar, (unsigned char *)*rows + (size_t)i * size);
    PQclear(r);
    if (ar->oom)
        return td_error_set(err, TD_ENOMEM, NULL);
    *n = (size_t)nt;
    return TD_OK;
}

static void case_row_v(const PGresult *r, int i, struct td_store_arena *ar, void *out)
{
    case_row(r, i, ar, out);
}

static void evidence_row_v(const PGresult *r, int i, struct td_store_arena *ar, void *out)
{
    evidence_row(r, i, ar, out);
}

static void note_row_v(const PGresult *r, int i, struct td_store_arena *ar, void *out)
{
    note_row(r, i, ar, out);
}

int td__pgs_case_get(struct td_store *s, int64_t office, int64_t id,
                     struct td_store_case_detail *out, struct td_store_arena *ar,
                     struct td_error *err)
{
    struct td__pga a = {0};
    struct td_store_case_row *c = NULL;
    size_t n = 0;
    memset(out, 0, sizeof *out);
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    td__pga_i(&a, office);
    td__pga_i(&a, id);
    if ((rc = typed_rows(s, CASE_COLS "WHERE c.office_id = $1::bigint AND c.id = $2::bigint", &a,
                         ar, sizeof *c, case_row_v, (void **)&c, &n, err)))
        return rc;
    if (n < 1)
        return td_error_set(err, TD_ENOTFOUND, "no such case");
    out->c = *c;
    /* Linked messages, evidence and notes: all filtered by office too. */
    if ((rc = td__pgs_msg_rows(s,
                               MSG_COLS
                               "JOIN case_messages cm2 ON cm2.message_id = m.id "
                               "WHERE m.office_id = $1::bigint AND cm2.case_id = $2::bigint "
                               "ORDER BY m.received, m.id",
                               &a, ar, &out->messages, &out->nmessages, err)) ||
        (rc = typed_rows(s,
                         EVIDENCE_COLS "WHERE e.office_id = $1::bigint AND e.case_id = $2::bigint "
                                       "ORDER BY e.id",
                         &a, ar, sizeof *out->evidence, evidence_row_v, (void **)&out->evidence,
                         &out->nevidence, err)))
        return rc;
    return typed_rows(s,
                      "SELECT n.id, n.text, u.name, n.created, n.shareable "
                      "FROM notes n LEFT JOIN users u ON u.id = n.user_id "
                      "WHERE n.office_id = $1::bigint AND n.case_id = $2::bigint ORDER BY n.id",
                      &a, ar, sizeof *out->notes, note_row_v, (void **)&out->notes, &out->nnotes,
                      err);
}

/* The editable columns: the only names ever spliced into SQL. */
static const struct {
    const char *field;
    const char *sql;
} case_fields[] = {
    {"type", "UPDATE cases SET type = $1::text, updated = $2::bigint "
             "WHERE office_id = $3::bigint AND id = $4::bigint"},
    {"title", "UPDATE cases SET title = $1::text, updated = $2::bigint "
              "WHERE office_id = $3::bigint AND id = $4::bigint"},
    {"description", "UPDATE cases SET description = $1::text, updated = $2::bigint "
                    "WHERE office_id = $3::bigint AND id = $4::bigint"},
    {"police_ref", "UPDATE cases SET police_ref = $1::text, updated = $2::bigint "
                   "WHERE office_id = $3::bigint AND id = $4::bigint"},
    {"occurred", "UPDATE cases SET occurred = $1::bigint, updated = $2::bigint "
                 "WHERE office_id = $3::bigint AND id = $4::bigint"},
    {"assignee", "UPDATE cases SET assignee = $1::bigint, updated = $2::bigint "
                 "WHERE office_id = $3::bigint AND id = $4::bigint"},
    {"place", "UPDATE cases SET place = $1::text, updated = $2::bigint "
              "WHERE office_id = $3::bigint AND id = $4::bigint"},
    {"people", "UPDATE cases SET people = $1::text, updated = $2::bigint "
               "WHERE office_id = $3::bigint AND id = $4::bigint"},
};

int td__pgs_case_set(struct td_store *s, int64_t office, int64_t id, const char *field,
                     const struct td_store_value *value, int64_t now, struct td_error *err)
{
    const char *sql = NULL;
    int is_int = 0;
    for (size_t i = 0; i < sizeof case_fields / sizeof case_fields[0]; i++)
        if (!strcmp(case_fields[i].field, field)) {
            sql = case_fields[i].sql;
            is_int = !strcmp(field, "occurred") || !strcmp(field, "assignee");
        }
    if (!sql) {
        td_error_field(err, field);
        return td_error_set(err, TD_EINVAL, "not an editable case field");
    }
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    struct td__pga a = {0};
    if (value && value->kind == TD_STORE_INT && is_int)
        td__pga_i(&a, value->i);
    else if (value && value->kind == TD_STORE_INT)
        td__pga_i(&a, value->i); /* a number into a text column, as SQLite would keep it */
    else if (value && value->kind == TD_STORE_TEXT && !is_int)
        td__pga_t(&a, value->text);
    else if (value && value->kind == TD_STORE_TEXT)
        return td_error_set(err, TD_EINVAL, "%s: not a number", field);
    else
        td__pga_null(&a);
    td__pga_i(&a, now);
    td__pga_i(&a, office);
    td__pga_i(&a, id);
    return td__pgs_ex1(s, "case", sql, &a, err);
}

int td__pgs_case_set_status(struct td_store *s, int64_t office, int64_t id, const char *from,
                            const char *to, int reported, int64_t now, struct td_error *err)
{
    struct td__pga a = {0};
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    td__pga_t(&a, to);
    td__pga_i(&a, now);
    td__pga_i(&a, office);
    td__pga_i(&a, id);
    td__pga_t(&a, from);
    td__pga_i(&a, reported ? 1 : 0);
    /* WHERE status = from: a concurrent change makes this match nothing. */
    return td__pgs_ex1(s, "case",
                       "UPDATE cases SET status = $1, updated = $2::bigint, "
                       "reported = greatest(reported, $6::bigint) "
                       "WHERE office_id = $3::bigint AND id = $4::bigint AND status = $5",
                       &a, err);
}

void td__pgs_case_args(struct td__pga *a, int64_t office, const struct td_store_case_query *f)
{
    td__pga_i(a, office);
    td__pga_t(a, f->status);
    td__pga_t(a, f->type);
    td__pga_t(a, f->assignee);
    td__pga_i(a, f->police_only ? 1 : 0);
    td__pga_t(a, f->sender);
    td__pga_i(a, f->since);
    td__pga_i(a, f->until);
}

int td__pgs_case_list(struct td_store *s, int64_t office, const struct td_store_case_query *f,
                      struct td_store_case_page *out, struct td_store_arena *ar,
                      struct td_error *err)
{
    struct td__pga a = {0};
    memset(out, 0, sizeof *out);
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    td__pgs_case_args(&a, office, f);
    if ((rc = td__pgs_value(s,
                            "SELECT count(*) FROM cases c LEFT JOIN users a ON a.id = "
                            "c.assignee " TD__PGS_CASE_WHERE,
                            &a, &out->total, err)))
        return rc;
    td__pga_i(&a, (int64_t)f->limit);
    td__pga_i(&a, (int64_t)f->offset);
    return typed_rows(s,
                      CASE_COLS TD__PGS_CASE_WHERE
                      "ORDER BY c.created DESC, c.id DESC LIMIT $9::bigint OFFSET $10::bigint",
                      &a, ar, sizeof *out->rows, case_row_v, (void **)&out->rows, &out->n, err);
}

int td__pgs_case_link(struct td_store *s, int64_t office, int64_t case_id, int64_t msg, int64_t now,
                      int *linked_new, struct td_error *err)
{
    struct td__pga a = {0};
    PGresult *r;
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    td__pga_i(&a, office);
    td__pga_i(&a, case_id);
    td__pga_i(&a, msg);
    td__pga_i(&a, now);
    /* The SELECT proves both belong to the office before linking. */
    if ((rc =
             td__pgs_ex(s,
                        "INSERT INTO case_messages(case_id, message_id, linked) "
                        "SELECT c.id, m.id, $4::bigint FROM cases c, messages m "
                        "WHERE c.office_id = $1::bigint AND m.office_id = $1 AND c.id = $2::bigint "
                        "AND m.id = $3::bigint ON CONFLICT DO NOTHING",
                        &a, &r, err)))
        return rc;
    *linked_new = strcmp(PQcmdTuples(r), "0") != 0 && *PQcmdTuples(r);
    PQclear(r);
    if (*linked_new)
        return TD_OK;
    /* Nothing inserted: already linked, or an id of no case/message here. */
    struct td__pga b = {0};
    int64_t linked = 0;
    td__pga_i(&b, office);
    td__pga_i(&b, case_id);
    td__pga_i(&b, msg);
    td__pgs_value(s,
                  "SELECT count(*) FROM case_messages cm JOIN cases c ON c.id = cm.case_id "
                  "WHERE c.office_id = $1::bigint AND cm.case_id = $2::bigint "
                  "AND cm.message_id = $3::bigint",
                  &b, &linked, err);
    return linked ? TD_OK : td_error_set(err, TD_ENOTFOUND, "no such case or message");
}

int td__pgs_note_insert(struct td_store *s, int64_t office, int64_t case_id, int64_t user,
                        const char *text, int shareable, int64_t now, int64_t *id,
                        struct td_error *err)
{
    struct td__pga a = {0};
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    td__pga_i(&a, office);
    td__pga_i(&a, case_id);
    td__pga_i(&a, user);
    td__pga_t(&a, text);
    td__pga_i(&a, now);
    td__pga_i(&a, shareable ? 1 : 0);
    return td__pgs_insert_id(
        s, "note",
        "INSERT INTO notes(office_id, case_id, user_id, text, created, shareable) "
        "VALUES ($1::bigint, $2::bigint, $3::bigint, $4, $5::bigint, $6::bigint) "
        "RETURNING id",
        &a, id, err);
}

/* ---- evidence ---------------------------------------------------------- */

int td__pgs_evidence_insert(struct td_store *s, const struct td_store_evidence *e, int64_t *id,
                            struct td_error *err)
{
    struct td__pga a = {0};
    int rc = td__pgs_scope(s, e->office_id, err);
    if (rc)
        return rc;
    td__pga_i(&a, e->office_id);
    td__pga_i(&a, e->case_id);
    td__pga_t(&a, e->name);
    td__pga_t(&a, e->type);
    td__pga_i(&a, e->size);
    td__pga_t(&a, e->sha256);
    td__pga_i(&a, e->added);
    td__pga_i(&a, e->added_by);
    return td__pgs_insert_id(
        s, "evidence",
        "INSERT INTO evidence(office_id, case_id, name, type, size, sha256, added, "
        "added_by) VALUES ($1::bigint, $2::bigint, $3, $4, $5::bigint, $6, "
        "$7::bigint, $8::bigint) RETURNING id",
        &a, id, err);
}

int td__pgs_evidence_get(struct td_store *s, int64_t office, int64_t id,
                         struct td_store_evidence_row *out, struct td_store_arena *ar,
                         struct td_error *err)
{
    struct td__pga a = {0};
    PGresult *r;
    memset(out, 0, sizeof *out);
    int rc = td__pgs_scope(s, office, err);
    if (rc)
        return rc;
    td__pga_i(&a, office);
    td__pga_i(&a, id);
    if ((rc = td__pgs_ex(s, EVIDENCE_COLS "WHERE e.office_id = $1::bigint AND e.id = $2::bigint",
                         &a, &r, err)))
        return rc;
    if (PQntuples(r) < 1)
        rc = td_error_set(err, TD_ENOTFOUND, "no such evidence");
    else
        evidence_row(r, 0, ar, out);
    PQclear(r);
    if (!rc && ar->oom)
        rc = td_error_set(err, TD_ENOMEM, NULL);
    return rc;
}

int td__pgs_evidence_scan(struct td_store *s,
                          int (*cb)(void *ud, int64_t id, const char *sha256, int64_t size),
                          void *ud, struct td_error *err)
{
    PGresult *r;
    /* verify: every office's evidence */
    int rc = td__pgs_scope(s, -1, err);
    if (rc ||
        (rc = td__pgs_ex(s, "SELECT id, sha256, size FROM evidence ORDER BY id", NULL, &r, err)))
        return rc;
    for (int i = 0; i < PQntuples(r); i++)
        if (cb(ud, td__pgs_coli(r, i, 0), td__pgs_col(r, i, 1), td__pgs_coli(r, i, 2)))
            break;
    PQclear(r);
    return TD_OK;
}

#else
typedef int td__pg_cases_disabled;
#endif /* TD_HAVE_POSTGRES */
