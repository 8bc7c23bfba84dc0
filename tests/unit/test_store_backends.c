/*
 * test_store_backends.c - the core store ops answer the same on SQLite and
 * PostgreSQL (issue 11: same errors, order, paging and JSON shapes).
 *
 * One scenario of offices, users, keys, messages, senders, cases, links,
 * notes, evidence and audit entries is written through the ops of both
 * backends with fixed times, then every read the front doors render is
 * compared: the JSON of message_get, message_queue (filters and pages),
 * sender_get, case_get, case_list and evidence_get as sorted compact text,
 * the typed rows of office_list, user_list, apikey_list and
 * audit_for_object as lines, and the error codes of the refusals.  Ids
 * come out equal because both stores are fresh and every insert succeeds
 * (PostgreSQL spends an identity value on a refused insert, so the
 * refusals come last).  Skipped without TD_PG_DIR (no cluster).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_backend.h"
#include "threatdesk/buf.h"
#include "threatdesk/store.h"

#define NBACK 2

struct both {
    char dir[64], path[128], pgdb[64], url[1200];
    struct td_store *s[NBACK]; /* 0 SQLite, 1 PostgreSQL */
};

/* ---- typed rows as text ------------------------------------------------ */

static int office_line(void *ud, const struct td_store_office_row *r)
{
    return td_buf_printf(ud, "%" PRId64 "|%s|%" PRId64 "|%" PRId64 "\n", r->id, r->name, r->created,
                         r->users);
}

static int user_line(void *ud, const struct td_store_user_row *r)
{
    return td_buf_printf(ud, "%" PRId64 "|%s|%s|%s|%" PRId64 "|%d|%d\n", r->id, r->name, r->role,
                         r->office, r->created, r->must_change, r->disabled);
}

static int key_line(void *ud, const struct td_store_key_row *r)
{
    return td_buf_printf(ud, "%" PRId64 "|%s|%s|%" PRId64 "|%" PRId64 "|%s|%d|%" PRId64 "|%s\n",
                         r->id, r->user, r->label ? r->label : "-", r->created, r->issued_by,
                         r->issued_by_name ? r->issued_by_name : "-", r->revoked, r->revoked_by,
                         r->revoked_by_name ? r->revoked_by_name : "-");
}

static int event_line(void *ud, const struct td_store_event_row *r)
{
    return td_buf_printf(ud, "%" PRId64 "|%" PRId64 "|%s|%s|%s\n", r->id, r->time,
                         r->user ? r->user : "-", r->action, r->details);
}

#define S(x) ((x) ? (x) : "-")

static int message_line(struct td_buf *b, const struct td_store_message_row *r)
{
    for (size_t i = 0; i < r->ncases; i++)
        if (td_buf_printf(b, "case %" PRId64 " ", r->cases[i]))
            return -1;
    return td_buf_printf(
        b, "%" PRId64 "|%s|%s|%s|%s|%" PRId64 "|%" PRId64 "|%s|%s|%s|%s|%zu:%.*s|%s|%s\n", r->id,
        S(r->channel), S(r->sender), S(r->sender_name), S(r->subject), r->received, r->ingested,
        S(r->status), S(r->status_reason), S(r->client_key), S(r->message_id), r->text_len,
        (int)r->text_len, r->text ? r->text : "", S(r->verdict), S(r->attachments));
}

static int sender_lines(struct td_buf *b, const struct td_store_sender_row *r)
{
    int rc = td_buf_printf(b, "%s|%s|%" PRId64 "|%" PRId64 "|%" PRId64 "|%" PRId64 "|%" PRId64 "\n",
                           S(r->sender), S(r->display), r->messages, r->threats, r->worst_severity,
                           r->first_seen, r->last_seen);
    for (size_t i = 0; !rc && i < r->nrecent; i++)
        rc = message_line(b, &r->recent[i]);
    return rc;
}

static int evidence_line(struct td_buf *b, const struct td_store_evidence_row *r)
{
    return td_buf_printf(b, "%" PRId64 "|%" PRId64 "|%s|%s|%" PRId64 "|%s|%" PRId64 "|%s\n", r->id,
                         r->case_id, S(r->name), S(r->type), r->size, S(r->sha256), r->added,
                         S(r->added_by));
}

static int case_line(struct td_buf *b, const struct td_store_case_row *r)
{
    return td_buf_printf(
        b, "%" PRId64 "|%s|%s|%s|%s|%d:%" PRId64 "|%s|%s|%s|%s|%" PRId64 "|%s|%" PRId64 "\n", r->id,
        S(r->type), S(r->status), S(r->title), S(r->description), r->has_occurred, r->occurred,
        S(r->place), S(r->people), S(r->police_ref), S(r->assignee), r->created, S(r->created_by),
        r->updated);
}

static int page_lines(struct td_buf *b, const struct td_store_case_page *p)
{
    int rc = td_buf_printf(b, "total %" PRId64 "\n", p->total);
    for (size_t i = 0; !rc && i < p->n; i++)
        rc = case_line(b, &p->rows[i]);
    return rc;
}

static void same_text(const char *what, struct td_buf *b)
{
    td_buf_putc(&b[0], '\0');
    td_buf_putc(&b[1], '\0');
    if (strcmp(b[0].data, b[1].data) != 0)
        fprintf(stderr, "%s differs:\n--- sqlite\n%s--- postgres\n%s", what, b[0].data, b[1].data);
    assert_string_equal(b[0].data, b[1].data);
    td_buf_release(&b[0]);
    td_buf_release(&b[1]);
}

/* ---- the scenario ------------------------------------------------------ */

static void write_scenario(struct td_store *s)
{
    struct td_error err;
    int64_t a, b, alice, bob, id, c1, c2;
    int linked;
    td_error_clear(&err);
    assert_int_equal(s->ops->office_insert(s, "office-b", 50, &b, &err), TD_OK);
    assert_int_equal(s->ops->office_insert(s, "Office-a", 60, &a, &err), TD_OK);
    struct td_store_user u = {.office_id = a, .must_change = 1, .created = 70};
    snprintf(u.name, sizeof u.name, "alice");
    snprintf(u.role, sizeof u.role, "caseworker");
    snprintf(u.pwhash, sizeof u.pwhash, "$argon2id$x");
    assert_int_equal(s->ops->user_insert(s, &u, &alice, &err), TD_OK);
    snprintf(u.name, sizeof u.name, "Bob");
    snprintf(u.role, sizeof u.role, "admin");
    assert_int_equal(s->ops->user_insert(s, &u, &bob, &err), TD_OK);
    u.office_id = b;
    snprintf(u.name, sizeof u.name, "alice"); /* the same name in another office */
    assert_int_equal(s->ops->user_insert(s, &u, &id, &err), TD_OK);
    assert_int_equal(s->ops->apikey_insert(s, alice, "kh1", "laptop", 80, bob, &id, &err), TD_OK);
    assert_int_equal(s->ops->apikey_insert(s, bob, "kh2", NULL, 81, 0, &id, &err), TD_OK);
    int was = 0;
    int64_t who = 0;
    assert_int_equal(s->ops->apikey_revoke(s, a, id, 90, alice, &who, &was, &err), TD_OK);

    /* messages: severities, statuses, labels, senders, channels, times */
    static const struct {
        const char *sender, *channel, *status;
        int sev;
        unsigned labels;
        int64_t received;
    } m[] = {
        {"a@x.org", "email", NULL, 3, 1, 1000},        {"b@x.org", "email", "reviewed", 4, 3, 1001},
        {"a@x.org", "web", NULL, 1, 0, 1002},          {NULL, "letter", "escalated", 2, 4, 1003},
        {"c@x.org", "email", "dismissed", 0, 0, 1004}, {"a@x.org", "email", NULL, 3, 1, 1004},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        char key[16], verdict[160], orig[32];
        snprintf(key, sizeof key, "k%zu", i);
        snprintf(verdict, sizeof verdict,
                 "{\"severity\":%d,\"severity_rank\":%d,\"labels\":[\"l%u\"],\"prob\":{\"threat\":"
                 "0.25}}",
                 m[i].sev, m[i].sev, m[i].labels);
        snprintf(orig, sizeof orig, "raw bytes %zu", i);
        struct td_store_message msg = {.office_id = a,
                                       .client_key = key,
                                       .channel = m[i].channel,
                                       .sender = m[i].sender,
                                       .sender_name = m[i].sender ? "A Sender" : NULL,
                                       .subject = i % 2 ? "subject" : NULL,
                                       .text = "text of the message",
                                       .text_len = 19,
                                       .original = orig,
                                       .original_len = strlen(orig),
                                       .received = m[i].received,
                                       .ingested = 2000 + (int64_t)i,
                                       .severity = m[i].sev,
                                       .labels = m[i].labels,
                                       .verdict = verdict,
                                       .attachments =
                                           i == 1 ? "[{\"name\":\"a.png\",\"size\":3}]" : NULL};
        assert_int_equal(s->ops->message_insert(s, &msg, &id, &err), TD_OK);
        if (m[i].status)
            assert_int_equal(
                s->ops->message_set_status(s, a, id, m[i].status, "why", alice, 3000, &err), TD_OK);
        if (m[i].sender)
            assert_int_equal(s->ops->sender_record(s, a, m[i].sender, "A Sender", m[i].sev,
                                                   m[i].sev >= 3, m[i].received, &err),
                             TD_OK);
    }
    struct td_store_message other = {.office_id = b,
                                     .channel = "email",
                                     .sender = "a@x.org",
                                     .text = "other office",
                                     .text_len = 12,
                                     .original = "o",
                                     .original_len = 1,
                                     .received = 1000,
                                     .verdict = "{}"};
    assert_int_equal(s->ops->message_insert(s, &other, &id, &err), TD_OK);

    struct td_store_case c = {.office_id = a,
                              .type = "online_threat",
                              .status = "new",
                              .title = "threats by email",
                              .description = "several",
                              .occurred = 900,
                              .place = "{\"constituency\":\"Leeds\"}",
                              .people = "[\"someone\"]",
                              .assignee = alice,
                              .created = 4000,
                              .created_by = bob};
    assert_int_equal(s->ops->case_insert(s, &c, &c1, &err), TD_OK);
    c.title = "a letter";
    c.type = "harassment";
    c.occurred = INT64_MIN;
    c.place = c.people = c.description = NULL;
    c.assignee = 0;
    c.created = 4001;
    assert_int_equal(s->ops->case_insert(s, &c, &c2, &err), TD_OK);
    assert_int_equal(s->ops->case_link(s, a, c1, 1, 4100, &linked, &err), TD_OK);
    assert_int_equal(s->ops->case_link(s, a, c1, 6, 4100, &linked, &err), TD_OK);
    assert_int_equal(s->ops->case_link(s, a, c2, 4, 4101, &linked, &err), TD_OK);
    assert_int_equal(s->ops->case_link(s, a, c2, 1, 4101, &linked, &err), TD_OK);
    assert_int_equal(s->ops->note_insert(s, a, c1, alice, "called them", 1, 4200, &id, &err),
                     TD_OK);
    assert_int_equal(s->ops->note_insert(s, a, c1, 0, "internal", 0, 4201, &id, &err), TD_OK);
    struct td_store_evidence e = {.office_id = a,
                                  .case_id = c1,
                                  .name = "letter.png",
                                  .type = "image/png",
                                  .size = 21,
                                  .sha256 = "ab12",
                                  .added = 4300,
                                  .added_by = alice};
    assert_int_equal(s->ops->evidence_insert(s, &e, &id, &err), TD_OK);
    struct td_store_value v = {.kind = TD_STORE_TEXT, .text = "threats by e-mail"};
    assert_int_equal(s->ops->case_set(s, a, c1, "title", &v, 4400, &err), TD_OK);
    v = (struct td_store_value){.kind = TD_STORE_TEXT, .text = "WYP-1"};
    assert_int_equal(s->ops->case_set(s, a, c2, "police_ref", &v, 4401, &err), TD_OK);
    assert_int_equal(s->ops->case_set_status(s, a, c2, "new", "reported_to_police", 1, 4402, &err),
                     TD_OK);

    /* audit entries about case 1 (the store keeps what it is given) */
    assert_int_equal(s->ops->begin(s, &err), TD_OK);
    for (int i = 0; i < 3; i++) {
        struct td_audit_entry ae;
        int64_t last = 0;
        memset(&ae, 0, sizeof ae);
        assert_int_equal(s->ops->audit_head(s, a, &last, ae.prev_hash, &err), TD_OK);
        ae.id = last + 1;
        ae.time = 5000 + i;
        ae.office_id = a;
        ae.user_id = i ? alice : 0;
        snprintf(ae.action, sizeof ae.action, "case.read");
        snprintf(ae.object_type, sizeof ae.object_type, "case");
        ae.object_id = c1;
        ae.details = "{\"n\":1}";
        snprintf(ae.hash, sizeof ae.hash, "h%d", i);
        assert_int_equal(s->ops->audit_append(s, &ae, &err), TD_OK);
    }
    assert_int_equal(s->ops->commit(s, &err), TD_OK);
}

static int setup(void **state)
{
    struct both *b = calloc(1, sizeof *b);
    struct td_error err;
    td_error_clear(&err);
    if (!getenv("TD_PG_DIR")) {
        free(b);
        *state = NULL;
        return 0;
    }
#ifdef TD_HAVE_POSTGRES
    setenv("TD_TEST_BACKEND", "postgres", 1);
    snprintf(b->dir, sizeof b->dir, "/tmp/td-backends-XXXXXX");
    assert_non_null(mkdtemp(b->dir));
    snprintf(b->path, sizeof b->path, "%s/s.db", b->dir);
    tb_store_new(b->url, sizeof b->url, b->path, b->pgdb);
    assert_int_equal(td_store_open(b->path, NULL, &b->s[0], &err), TD_OK);
    assert_int_equal(td_store_open(b->url, NULL, &b->s[1], &err), TD_OK);
    assert_string_equal(b->s[1]->ops->name, "postgres");
    for (int i = 0; i < NBACK; i++)
        write_scenario(b->s[i]);
#endif
    *state = b;
    return 0;
}

static int teardown(void **state)
{
    struct both *b = *state;
    char cmd[128];
    if (!b)
        return 0;
    for (int i = 0; i < NBACK; i++)
        td_store_close(b->s[i]);
    tb_store_drop(b->pgdb);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", b->dir);
    assert_int_equal(system(cmd), 0);
    free(b);
    return 0;
}

static int page_messages(struct td_buf *b, const struct td_store_message_page *p)
{
    int rc = td_buf_printf(b, "total %" PRId64 "\n", p->total);
    for (size_t i = 0; !rc && i < p->n; i++)
        rc = message_line(b, &p->rows[i]);
    return rc;
}

/* The queue of both backends as lines, compared. */
#define BOTH_QUEUE(what, query, check)                                                             \
    do {                                                                                           \
        struct td_buf t_[NBACK];                                                                   \
        for (int i_ = 0; i_ < NBACK; i_++) {                                                       \
            struct td_store_message_page p;                                                        \
            struct td_store_arena ar = {0};                                                        \
            td_buf_init(&t_[i_], 1 << 20);                                                         \
            assert_int_equal(b->s[i_]->ops->message_queue(b->s[i_], a, (query), &p, &ar, &err),    \
                             TD_OK);                                                               \
            check;                                                                                 \
            assert_int_equal(page_messages(&t_[i_], &p), 0);                                       \
            td_store_arena_free(&ar);                                                              \
        }                                                                                          \
        same_text((what), t_);                                                                     \
    } while (0)

static void test_reads_alike(void **state)
{
    struct both *b = *state;
    struct td_error err;
    struct td_buf t[NBACK];
    if (!b)
        skip();
    td_error_clear(&err);
    int64_t a = 2; /* Office-a: inserted second */
    for (int i = 0; i < NBACK; i++) {
        td_buf_init(&t[i], 1 << 20);
        for (int64_t id = 1; id <= 6; id++) {
            struct td_store_message_row r;
            struct td_store_arena ar = {0};
            assert_int_equal(b->s[i]->ops->message_get(b->s[i], a, id, &r, &ar, &err), TD_OK);
            assert_int_equal(r.id, id);
            assert_int_equal(message_line(&t[i], &r), 0);
            if (id == 1) {
                /* in both cases, ascending; the verdict as stored */
                assert_int_equal(r.ncases, 2);
                assert_int_equal(r.cases[0], 1);
                assert_int_equal(r.cases[1], 2);
                assert_string_equal(r.sender, "a@x.org");
                assert_null(r.subject);
                assert_non_null(strstr(r.verdict, "\"severity_rank\":3"));
            } else if (id == 2) {
                assert_int_equal(r.ncases, 0);
                assert_string_equal(r.status, "reviewed");
                assert_string_equal(r.status_reason, "why");
                assert_string_equal(r.attachments, "[{\"name\":\"a.png\",\"size\":3}]");
            }
            td_store_arena_free(&ar);
        }
    }
    same_text("message_get", t);
    struct td_store_msg_query q = {
        .label = -1, .since = INT64_MIN, .until = INT64_MAX, .limit = 50};
    /* unreviewed first, then severity: 6 and 1 (3), 3 (1); then the rest */
    BOTH_QUEUE("queue", &q, {
        assert_int_equal(p.total, 6);
        assert_int_equal(p.n, 6);
        assert_int_equal(p.rows[0].id, 6);
        assert_int_equal(p.rows[1].id, 1);
        assert_int_equal(p.rows[2].id, 3);
    });
    q.limit = 2;
    q.offset = 2;
    BOTH_QUEUE("queue page 2", &q, {
        assert_int_equal(p.total, 6);
        assert_int_equal(p.n, 2);
        assert_int_equal(p.rows[0].id, 3);
    });
    q = (struct td_store_msg_query){
        .label = 0, .min_severity = 2, .since = 1000, .until = 1004, .limit = 50};
    BOTH_QUEUE("queue label/severity/time", &q, {});
    q = (struct td_store_msg_query){.status = "unreviewed",
                                    .channel = "email",
                                    .sender = "a@x.org",
                                    .label = -1,
                                    .since = INT64_MIN,
                                    .until = INT64_MAX,
                                    .limit = 50};
    BOTH_QUEUE("queue status/channel/sender", &q, { assert_int_equal(p.total, 2); });
}

static void test_rows_and_refusals_alike(void **state)
{
    struct both *b = *state;
    struct td_error err;
    struct td_buf t[NBACK];
    if (!b)
        skip();
    td_error_clear(&err);
    int64_t a = 2;
    for (int i = 0; i < NBACK; i++)
        td_buf_init(&t[i], 1 << 20);
    for (int i = 0; i < NBACK; i++)
        assert_int_equal(b->s[i]->ops->office_list(b->s[i], office_line, &t[i], &err), TD_OK);
    same_text("office_list", t);
    for (int i = 0; i < NBACK; i++) {
        td_buf_init(&t[i], 1 << 20);
        assert_int_equal(b->s[i]->ops->user_list(b->s[i], 0, user_line, &t[i], &err), TD_OK);
    }
    same_text("user_list", t);
    for (int i = 0; i < NBACK; i++) {
        td_buf_init(&t[i], 1 << 20);
        assert_int_equal(b->s[i]->ops->apikey_list(b->s[i], a, 0, key_line, &t[i], &err), TD_OK);
    }
    same_text("apikey_list", t);
    for (int i = 0; i < NBACK; i++) {
        td_buf_init(&t[i], 1 << 20);
        assert_int_equal(
            b->s[i]->ops->audit_for_object(b->s[i], a, "case", 1, event_line, &t[i], &err), TD_OK);
    }
    same_text("audit_for_object", t);
    for (int i = 0; i < NBACK; i++) {
        struct td_store_sender_row r;
        struct td_store_arena ar = {0};
        td_buf_init(&t[i], 1 << 20);
        assert_int_equal(b->s[i]->ops->sender_get(b->s[i], a, "a@x.org", 2, &r, &ar, &err), TD_OK);
        /* typed fields, not only equal on both: the two newest of a@x.org */
        assert_string_equal(r.sender, "a@x.org");
        assert_int_equal(r.messages, 3);
        assert_int_equal(r.threats, 2);
        assert_int_equal(r.worst_severity, 3);
        assert_int_equal(r.first_seen, 1000);
        assert_int_equal(r.last_seen, 1004);
        assert_int_equal(r.nrecent, 2);
        assert_int_equal(r.recent[0].id, 6);
        assert_int_equal(r.recent[0].received, 1004);
        assert_int_equal(r.recent[1].id, 3);
        assert_string_equal(r.recent[1].channel, "web");
        assert_null(r.recent[1].subject);
        assert_non_null(r.recent[0].verdict);
        assert_int_equal(r.recent[0].text_len, strlen(r.recent[0].text));
        assert_int_equal(sender_lines(&t[i], &r), 0);
        td_store_arena_free(&ar);
        assert_null(ar.head);
        assert_int_equal(b->s[i]->ops->sender_get(b->s[i], a, "nobody", 2, &r, &ar, &err),
                         TD_ENOTFOUND);
        td_store_arena_free(&ar);
    }
    same_text("sender_get", t);
    for (int i = 0; i < NBACK; i++) {
        struct td_store_evidence_row r;
        struct td_store_arena ar = {0};
        td_buf_init(&t[i], 1 << 20);
        assert_int_equal(b->s[i]->ops->evidence_get(b->s[i], a, 1, &r, &ar, &err), TD_OK);
        assert_int_equal(r.id, 1);
        assert_int_equal(r.case_id, 1);
        assert_string_equal(r.sha256, "ab12");
        assert_string_equal(r.name, "letter.png");
        assert_int_equal(r.size, 21);
        assert_int_equal(evidence_line(&t[i], &r), 0);
        td_store_arena_free(&ar);
        /* another office's file is not there */
        assert_int_equal(b->s[i]->ops->evidence_get(b->s[i], 1, 1, &r, &ar, &err), TD_ENOTFOUND);
        td_store_arena_free(&ar);
    }
    same_text("evidence_get", t);
    for (int i = 0; i < NBACK; i++) {
        struct td_store *s = b->s[i];
        struct td_store_case_detail d;
        struct td_store_arena ar = {0};
        td_buf_init(&t[i], 1 << 20);
        for (int64_t id = 1; id <= 2; id++) {
            assert_int_equal(s->ops->case_get(s, a, id, &d, &ar, &err), TD_OK);
            assert_int_equal(d.c.id, id);
            assert_int_equal(case_line(&t[i], &d.c), 0);
            for (size_t k = 0; k < d.nmessages; k++)
                assert_int_equal(message_line(&t[i], &d.messages[k]), 0);
            for (size_t k = 0; k < d.nevidence; k++)
                assert_int_equal(evidence_line(&t[i], &d.evidence[k]), 0);
            for (size_t k = 0; k < d.nnotes; k++)
                assert_int_equal(td_buf_printf(&t[i], "note %" PRId64 "|%s|%s|%" PRId64 "|%d\n",
                                               d.notes[k].id, d.notes[k].text, S(d.notes[k].author),
                                               d.notes[k].created, d.notes[k].shareable),
                                 0);
            if (id == 1) {
                /* typed fields of case 1 as written */
                assert_string_equal(d.c.title, "threats by e-mail");
                assert_true(d.c.has_occurred);
                assert_int_equal(d.c.occurred, 900);
                assert_string_equal(d.c.place, "{\"constituency\":\"Leeds\"}");
                assert_string_equal(d.c.assignee, "alice");
                assert_string_equal(d.c.created_by, "Bob");
                assert_int_equal(d.nmessages, 2);
                assert_int_equal(d.messages[0].id, 1);
                assert_int_equal(d.messages[1].id, 6);
                assert_int_equal(d.nevidence, 1);
                assert_int_equal(d.nnotes, 2);
                assert_string_equal(d.notes[0].author, "alice");
                assert_int_equal(d.notes[0].shareable, 1);
                assert_null(d.notes[1].author);
                assert_int_equal(d.notes[1].shareable, 0);
            } else {
                assert_false(d.c.has_occurred);
                assert_null(d.c.place);
                assert_null(d.c.assignee);
            }
            td_store_arena_free(&ar);
        }
        struct td_store_case_page p;
        struct td_store_case_query cq = {.since = INT64_MIN, .until = INT64_MAX, .limit = 50};
        assert_int_equal(s->ops->case_list(s, a, &cq, &p, &ar, &err), TD_OK);
        assert_int_equal(p.total, 2);
        assert_int_equal(p.n, 2);
        assert_int_equal(p.rows[0].id, 2); /* newest first */
        assert_int_equal(page_lines(&t[i], &p), 0);
        td_store_arena_free(&ar);
        cq.limit = 1;
        assert_int_equal(s->ops->case_list(s, a, &cq, &p, &ar, &err), TD_OK);
        assert_int_equal(p.total, 2);
        assert_int_equal(p.n, 1);
        assert_int_equal(page_lines(&t[i], &p), 0);
        td_store_arena_free(&ar);
        cq = (struct td_store_case_query){
            .assignee = "alice", .since = INT64_MIN, .until = INT64_MAX, .limit = 50};
        assert_int_equal(s->ops->case_list(s, a, &cq, &p, &ar, &err), TD_OK);
        assert_int_equal(p.n, 1);
        assert_int_equal(p.rows[0].id, 1);
        assert_int_equal(page_lines(&t[i], &p), 0);
        td_store_arena_free(&ar);
        cq = (struct td_store_case_query){
            .sender = "b@x.org", .since = INT64_MIN, .until = INT64_MAX, .limit = 50};
        assert_int_equal(s->ops->case_list(s, a, &cq, &p, &ar, &err), TD_OK);
        assert_int_equal(page_lines(&t[i], &p), 0);
        td_store_arena_free(&ar);
        cq = (struct td_store_case_query){.police_only = 1,
                                          .status = "reported_to_police",
                                          .since = 0,
                                          .until = 5000,
                                          .limit = 50};
        assert_int_equal(s->ops->case_list(s, a, &cq, &p, &ar, &err), TD_OK);
        assert_int_equal(page_lines(&t[i], &p), 0);
        td_store_arena_free(&ar);
    }
    same_text("case_get and case_list", t);

    /* the refusals: same codes on both */
    for (int i = 0; i < NBACK; i++) {
        struct td_store *s = b->s[i];
        struct td_store_user u;
        struct td_store_arena ar = {0};
        int64_t id, n = -1;
        int sev;
        struct td_store_value v = {.kind = TD_STORE_TEXT, .text = "x"};
        struct td_store_message_row mr;
        assert_int_equal(s->ops->message_get(s, 1, 1, &mr, &ar, &err), TD_ENOTFOUND); /* office-b */
        struct td_store_case_detail cd;
        assert_int_equal(s->ops->case_get(s, 1, 1, &cd, &ar, &err), TD_ENOTFOUND);
        td_store_arena_free(&ar);
        assert_int_equal(s->ops->case_set(s, a, 1, "status", &v, 1, &err), TD_EINVAL);
        assert_int_equal(s->ops->case_set(s, 1, 1, "title", &v, 1, &err), TD_ENOTFOUND);
        assert_int_equal(s->ops->case_set_status(s, a, 1, "closed", "new", 0, 1, &err),
                         TD_ENOTFOUND);
        assert_int_equal(s->ops->message_find_key(s, 1, "k0", &id, &sev, &err), TD_ENOTFOUND);
        assert_int_equal(s->ops->user_find(s, 0, "alice", &u, &err), TD_EINVAL);
        assert_int_equal(s->ops->user_find(s, a, "alice", &u, &err), TD_OK);
        assert_string_equal(u.office, "Office-a");
        assert_int_equal(s->ops->user_role_count(s, a, "admin", &n, &err), TD_OK);
        assert_int_equal(n, 1);
        assert_int_equal(s->ops->message_delete(s, a, 1, &err), TD_ENOTFOUND); /* in a case */
        assert_int_equal(s->ops->message_delete(s, a, 3, &err), TD_OK);
        assert_int_equal(s->ops->message_get(s, a, 3, &mr, &ar, &err), TD_ENOTFOUND);
        assert_int_equal(s->ops->office_insert(s, "Office-a", 1, &id, &err), TD_EEXISTS);
        u.office_id = a;
        assert_int_equal(s->ops->user_insert(s, &u, &id, &err), TD_EEXISTS);
        int linked = 0;
        assert_int_equal(s->ops->case_link(s, a, 1, 999, 1, &linked, &err), TD_ENOTFOUND);
        assert_int_equal(s->ops->case_link(s, a, 1, 1, 1, &linked, &err), TD_OK);
        assert_int_equal(linked, 0);
    }
}

static int claimed(void *ud, const struct td_store_alert_job *j)
{
    int64_t *v = ud;
    v[++v[0]] = j->delivery_id;
    return 0;
}

static int alert_lines(struct td_buf *b, const struct td_store_alert_list *l)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < l->n; i++) {
        const struct td_store_alert_row *r = &l->rows[i];
        rc = td_buf_printf(b,
                           "%" PRId64 "|%" PRId64 "|%" PRId64 "|%s|%d|%u|%" PRId64 "|%d|%d|%" PRId64
                           "|%" PRId64 "|%s|%d\n",
                           r->id, r->message_id, r->rule_id, S(r->rule_name), r->severity,
                           r->labels, r->created, r->step, r->acked, r->acked_at, r->acked_by,
                           S(r->acked_via), r->failed);
        for (size_t k = 0; !rc && k < r->ndeliveries; k++) {
            const struct td_store_alert_delivery_row *d = &r->deliveries[k];
            rc = td_buf_printf(
                b, " %" PRId64 "|%d|%" PRId64 "|%s|%s|%s|%d|%" PRId64 "|%s|%d|%" PRId64 "\n", d->id,
                d->step, d->recipient, S(d->channel), S(d->target), S(d->state), d->attempts,
                d->next_attempt_at, S(d->last_error), d->delivered, d->delivered_at);
            for (size_t j = 0; !rc && j < d->nlog; j++)
                rc = td_buf_printf(b, "  %" PRId64 "|%s|%s\n", d->log[j].at, S(d->log[j].outcome),
                                   S(d->log[j].error));
        }
    }
    return rc;
}

/* alert_list's typed rows: alerts newest first, their deliveries and
 * attempt logs, the same on both backends. */
static void test_alert_rows_alike(void **state)
{
    struct both *b = *state;
    struct td_error err;
    struct td_buf t[NBACK];
    if (!b)
        skip();
    td_error_clear(&err);
    int64_t a = 2;
    for (int i = 0; i < NBACK; i++) {
        struct td_store *s = b->s[i];
        int64_t r1, r2, rule, al[2], v[16] = {0}, off, msg;
        size_t added;
        int created, was;
        assert_int_equal(
            s->ops->alert_recipient_insert(s, a, "ann", "ann@x.org", NULL, NULL, 10, &r1, &err),
            TD_OK);
        assert_int_equal(s->ops->alert_recipient_insert(s, a, "hook", NULL, "https://h.example/x",
                                                        "sec", 11, &r2, &err),
                         TD_OK);
        struct td_store_alert_rule ru = {.office_id = a,
                                         .name = "threats",
                                         .min_severity = 1,
                                         .quiet_start = -1,
                                         .quiet_end = -1,
                                         .rota = "[1,2]",
                                         .created = 12};
        assert_int_equal(s->ops->alert_rule_insert(s, &ru, &rule, &err), TD_OK);
        for (int k = 0; k < 2; k++) {
            assert_int_equal(
                s->ops->alert_insert(s, a, k + 1, rule, 100 + k, &al[k], &created, &err), TD_OK);
            assert_int_equal(s->ops->alert_deliveries_add(s, a, al[k], 0, r1, 3, 100, &added, &err),
                             TD_OK);
        }
        assert_int_equal(s->ops->alert_deliveries_add(s, a, al[1], 1, r2, 3, 101, &added, &err),
                         TD_OK);
        assert_int_equal(s->ops->alert_claim(s, 200, 300, 10, claimed, v, &err), TD_OK);
        assert_int_equal(v[0], 3);
        assert_int_equal(s->ops->alert_attempt(s, v[1], 201, "delivered", NULL, 0, &err), TD_OK);
        assert_int_equal(s->ops->alert_attempt(s, v[2], 202, "gave_up", "boom", 0, &err), TD_OK);
        assert_int_equal(s->ops->alert_attempt(s, v[3], 203, "failed", "later", 400, &err), TD_OK);
        assert_int_equal(s->ops->alert_ack(s, a, al[0], 1, "link", 500, &off, &msg, &was, &err),
                         TD_OK);

        struct td_store_alert_list l;
        struct td_store_arena ar = {0};
        td_buf_init(&t[i], 1 << 20);
        assert_int_equal(s->ops->alert_list(s, a, 0, 50, &l, &ar, &err), TD_OK);
        assert_int_equal(l.n, 2);
        assert_int_equal(l.rows[0].id, al[1]); /* newest first */
        assert_int_equal(l.rows[0].message_id, 2);
        assert_string_equal(l.rows[0].rule_name, "threats");
        assert_int_equal(l.rows[0].severity, 4); /* message 2's */
        assert_false(l.rows[0].acked);
        assert_true(l.rows[0].failed);
        assert_int_equal(l.rows[0].ndeliveries, 2);
        assert_int_equal(l.rows[0].deliveries[0].nlog, 1);
        assert_string_equal(l.rows[0].deliveries[0].log[0].outcome, "gave_up");
        assert_string_equal(l.rows[0].deliveries[1].channel, "webhook");
        assert_null(l.rows[1].deliveries[0].last_error);
        assert_true(l.rows[1].deliveries[0].delivered);
        assert_true(l.rows[1].acked);
        assert_int_equal(l.rows[1].acked_at, 500);
        assert_string_equal(l.rows[1].acked_via, "link");
        assert_int_equal(alert_lines(&t[i], &l), 0);
        td_store_arena_free(&ar);
        assert_int_equal(s->ops->alert_list(s, a, 1, 50, &l, &ar, &err), TD_OK);
        assert_int_equal(l.n, 1); /* open only */
        assert_int_equal(alert_lines(&t[i], &l), 0);
        td_store_arena_free(&ar);
        assert_int_equal(s->ops->alert_list(s, 1, 0, 50, &l, &ar, &err), TD_OK);
        assert_int_equal(l.n, 0); /* office-b has none */
        td_store_arena_free(&ar);
    }
    same_text("alert_list", t);
}

static int export_message_line(void *ud, const struct td_store_message_row *r)
{
    /* what the export reads and what it leaves out */
    assert_null(r->text);
    assert_null(r->client_key);
    assert_null(r->attachments);
    assert_non_null(r->verdict);
    return message_line(ud, r);
}

static int export_case_line(void *ud, const struct td_store_case_export_row *r)
{
    assert_null(r->c.description);
    assert_null(r->c.people);
    if (r->c.id == 1) {
        assert_int_equal(r->messages, 2);
        assert_int_equal(r->evidence, 1);
    }
    return case_line(ud, &r->c) ||
           td_buf_printf(ud, " %" PRId64 " %" PRId64 "\n", r->messages, r->evidence);
}

static int digest_line(void *ud, const struct td_store_digest_row *r)
{
    return td_buf_printf(ud,
                         "%" PRId64 "|%s|%" PRId64 "|%" PRId64 "|%s|%s|%" PRId64 "|%" PRId64
                         "|%s|%" PRId64 "|%" PRId64 "\n",
                         r->day, S(r->channel), r->severity, r->labels, S(r->sender), S(r->display),
                         r->worst, r->threats, S(r->status), r->n, r->seconds);
}

static int count_stop(void *ud, const struct td_store_message_row *r)
{
    (void)r;
    return ++*(int *)ud == 2; /* non-zero stops the walk: not an error */
}

/* The exports stream typed rows, the same on both backends. */
static void test_export_rows_alike(void **state)
{
    struct both *b = *state;
    struct td_error err;
    struct td_buf t[NBACK];
    if (!b)
        skip();
    td_error_clear(&err);
    int64_t a = 2;
    static const char *kinds[] = {"volume", "senders", "cases", "review"};
    for (int i = 0; i < NBACK; i++) {
        struct td_store *s = b->s[i];
        struct td_store_msg_query q = {
            .label = -1, .since = INT64_MIN, .until = INT64_MAX, .limit = 1};
        struct td_store_case_query cq = {.since = INT64_MIN, .until = INT64_MAX, .limit = 1};
        int n = 0;
        td_buf_init(&t[i], 1 << 20);
        /* the limit is the page's, not the export's: all six */
        assert_int_equal(s->ops->message_export(s, a, &q, export_message_line, &t[i], &err), TD_OK);
        assert_int_equal(s->ops->message_export(s, a, &q, count_stop, &n, &err), TD_OK);
        assert_int_equal(n, 2);
        assert_int_equal(s->ops->case_export(s, a, &cq, export_case_line, &t[i], &err), TD_OK);
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            assert_int_equal(td_buf_printf(&t[i], "%s\n", kinds[k]), 0);
            assert_int_equal(
                s->ops->digest_rows(s, a, kinds[k], 0, 100000, digest_line, &t[i], &err), TD_OK);
        }
        assert_int_equal(s->ops->digest_rows(s, a, "nonsense", 0, 1, digest_line, &t[i], &err),
                         TD_EINVAL);
    }
    /* 6 messages, 2 cases */
    assert_non_null(strstr(t[0].data, "case 1 case 2 1|email|a@x.org"));
    same_text("exports", t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reads_alike, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows_and_refusals_alike, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_rows_alike, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_rows_alike, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
