/*
 * test_store_plan.c - the triage queue is a walk down an index, not a sort
 * (issue 11, 0009_queue_order.sql).
 *
 * SQLite is asked, with EXPLAIN QUERY PLAN on the store's own query text
 * (store/sq_queue.h) and the parameters of each filter the desk uses bound,
 * how it runs the queue's page: through messages_triage and never with
 * "USE TEMP B-TREE FOR ORDER BY" (a sort of the whole office: 0.6-0.8 s at
 * 94,000 messages before 0009).  Asked on an empty store, on a filled one
 * without statistics and after ANALYZE, since the planner may change its
 * mind with what it knows.  The count must come from an index alone (the
 * unfiltered one from the narrow messages_queue).
 *
 * And the order itself, against a reference sort done here in C: pages
 * read with several page sizes and filters, after status changes (the
 * generated column `unreviewed` must follow status), concatenate to
 * exactly the reference order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/sq_queue.h"
#include "store/sq_stmt.h"
#include "store/store_int.h"
#include "threatdesk/store.h"

#define NMSG 600 /* in the office under test; others get some too */

struct ref {
    int64_t id;
    int unreviewed, severity;
    unsigned labels;
    int64_t received;
    const char *status;
    const char *channel;
};

struct t {
    char dir[64], db[128];
    struct td_store *s;
    int64_t office, other;
    struct ref msgs[NMSG];
};

static const char *const statuses[] = {"unreviewed", "reviewed", "escalated", "dismissed"};
static const char *const channels[] = {"email", "twitter", "webform"};

static uint64_t rng = 88172645463325252ull;
static unsigned next(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static int64_t insert(struct td_store *s, int64_t office, unsigned i, int severity, unsigned labels,
                      int64_t received, const char *channel)
{
    char key[32], text[64];
    snprintf(key, sizeof key, "k%lld-%u", (long long)office, i);
    snprintf(text, sizeof text, "message %u of office %lld", i, (long long)office);
    struct td_store_message m = {.office_id = office,
                                 .client_key = key,
                                 .channel = channel,
                                 .sender = "email:someone@example.org",
                                 .text = text,
                                 .text_len = strlen(text),
                                 .original = text,
                                 .original_len = strlen(text),
                                 .received = received,
                                 .ingested = received,
                                 .severity = severity,
                                 .labels = labels,
                                 .verdict = "{}"};
    struct td_error err;
    int64_t id = 0;
    assert_int_equal(s->ops->message_insert(s, &m, &id, &err), TD_OK);
    return id;
}

static int setup(void **state)
{
    struct t *t = calloc(1, sizeof *t);
    struct td_error err;
    assert_non_null(t);
    snprintf(t->dir, sizeof t->dir, "/tmp/td-plan-test-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->db, sizeof t->db, "%s/s.db", t->dir);
    assert_int_equal(td_store_open(t->db, NULL, &t->s, &err), TD_OK);
    assert_int_equal(t->s->ops->office_insert(t->s, "plan", 1, &t->office, &err), TD_OK);
    assert_int_equal(t->s->ops->office_insert(t->s, "other", 1, &t->other, &err), TD_OK);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;
    char cmd[128];
    td_store_close(t->s);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    assert_int_equal(system(cmd), 0);
    free(t);
    return 0;
}

/* Both offices filled; times repeat on purpose so that ties fall to the
 * id.  Every fourth message of the office gets a status other than
 * unreviewed through the store's own op. */
static void fill(struct t *t)
{
    struct td_error err;
    struct td_store *s = t->s;
    assert_int_equal(s->ops->begin(s, &err), TD_OK);
    for (unsigned i = 0; i < NMSG; i++) {
        struct ref *r = &t->msgs[i];
        r->severity = (int)next(5);
        r->labels = next(16);
        r->received = 1700000000 + next(40) * 60;
        r->channel = channels[next(3)];
        r->status = statuses[0];
        r->unreviewed = 1;
        r->id = insert(s, t->office, i, r->severity, r->labels, r->received, r->channel);
        insert(s, t->other, i, (int)next(5), next(16), 1700000000 + next(40) * 60,
               channels[next(3)]);
    }
    for (unsigned i = 0; i < NMSG; i += 4) {
        struct ref *r = &t->msgs[i];
        r->status = statuses[1 + next(3)];
        r->unreviewed = 0;
        assert_int_equal(
            s->ops->message_set_status(s, t->office, r->id, r->status, NULL, 0, 1700009999, &err),
            TD_OK);
    }
    assert_int_equal(s->ops->commit(s, &err), TD_OK);
}

static sqlite3 *db_of(struct td_store *s)
{
    return td__sq_conn(s)->db;
}

/* The plan of sql with f's parameters bound (and limit/offset when the
 * text has them), every detail line joined by '\n' into out. */
static void plan(struct td_store *s, const char *sql, const struct td_store_msg_query *f, char *out,
                 size_t size)
{
    char q[4096];
    sqlite3_stmt *st;
    snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
    assert_int_equal(sqlite3_prepare_v2(db_of(s), q, -1, &st, NULL), SQLITE_OK);
    td__sq_queue_bind(st, 1, f);
    if (sqlite3_bind_parameter_count(st) >= 10) {
        sqlite3_bind_int64(st, 9, 50);
        sqlite3_bind_int64(st, 10, (int64_t)f->offset);
    }
    size_t n = 0;
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 3);
        int k = snprintf(out + n, size - n, "%s\n", d ? d : "");
        assert_true(k > 0 && (size_t)k < size - n);
        n += (size_t)k;
    }
    assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
}

static void query_init(struct td_store_msg_query *f)
{
    memset(f, 0, sizeof *f);
    f->label = -1;
    f->since = INT64_MIN;
    f->until = INT64_MAX;
    f->limit = 50;
}

/* The filters the desk sends (td_queue_filter): none, each alone, and a
 * mix; deep offsets too. */
#define NVARIANTS 9
static void variant(int i, struct td_store_msg_query *f)
{
    query_init(f);
    switch (i) {
    case 1:
        f->status = "unreviewed";
        break;
    case 2:
        f->status = "escalated";
        break;
    case 3:
        f->label = 2;
        break;
    case 4:
        f->min_severity = 3;
        break;
    case 5:
        f->channel = "email";
        break;
    case 6:
        f->sender = "email:someone@example.org";
        break;
    case 7:
        f->since = 1700000600;
        f->until = 1700001800;
        break;
    case 8:
        f->status = "reviewed";
        f->label = 1;
        f->min_severity = 2;
        f->offset = 2500;
        break;
    default:
        f->offset = 0;
        break;
    }
}

static void assert_plans(struct td_store *s, const char *when)
{
    char p[4096];
    for (int i = 0; i < NVARIANTS; i++) {
        struct td_store_msg_query f;
        variant(i, &f);
        plan(s, td__sq_queue_page_sql, &f, p, sizeof p);
        if (!strstr(p, "INDEX messages_triage (office_id=?)") || strstr(p, "TEMP B-TREE")) {
            print_error("%s, filter variant %d: page plan\n%s", when, i, p);
            fail();
        }
        /* only the unfiltered queue may take the office-only count */
        assert_int_equal(td__sq_queue_unfiltered(&f), i == 0);
        plan(s, td__sq_queue_count_sql, &f, p, sizeof p);
        /* the count reads the index alone, never the wide rows */
        if (!strstr(p, "USING COVERING INDEX")) {
            print_error("%s, filter variant %d: count plan\n%s", when, i, p);
            fail();
        }
    }
}

static void assert_count_all_plan(struct td_store *s, const char *when)
{
    char p[4096];
    struct td_store_msg_query f;
    query_init(&f);
    plan(s, td__sq_queue_count_all_sql, &f, p, sizeof p);
    if (!strstr(p, "USING COVERING INDEX messages_queue (office_id=?)")) {
        print_error("%s: unfiltered count plan\n%s", when, p);
        fail();
    }
}

static void test_queue_plan_uses_the_index(void **state)
{
    struct t *t = *state;
    assert_plans(t->s, "empty store");
    fill(t);
    assert_plans(t->s, "filled, no statistics");
    assert_count_all_plan(t->s, "filled, no statistics");
    assert_int_equal(sqlite3_exec(db_of(t->s), "ANALYZE", NULL, NULL, NULL), SQLITE_OK);
    assert_plans(t->s, "after ANALYZE");
    assert_count_all_plan(t->s, "after ANALYZE");
}

/* The old ORDER BY, on the same store: the plan sorts.  Keeps the test
 * above honest (EXPLAIN QUERY PLAN does report the sort this looks for). */
static void test_old_order_sorts(void **state)
{
    struct t *t = *state;
    char p[4096];
    struct td_store_msg_query f;
    fill(t);
    query_init(&f);
    plan(t->s,
         "SELECT m.id FROM messages m " TD__SQ_QUEUE_WHERE
         "ORDER BY (m.status = 'unreviewed') DESC, m.severity DESC, m.received DESC, m.id DESC "
         "LIMIT ?9 OFFSET ?10",
         &f, p, sizeof p);
    assert_non_null(strstr(p, "USE TEMP B-TREE FOR ORDER BY"));
}

/* ---- the order, against a reference ----------------------------------- */

static int cmp_ref(const void *a, const void *b)
{
    const struct ref *x = a, *y = b;
    if (x->unreviewed != y->unreviewed)
        return y->unreviewed - x->unreviewed;
    if (x->severity != y->severity)
        return y->severity - x->severity;
    if (x->received != y->received)
        return y->received > x->received ? 1 : -1;
    return y->id > x->id ? 1 : y->id < x->id ? -1 : 0;
}

static int match(const struct ref *r, const struct td_store_msg_query *f)
{
    return (!f->status || !strcmp(f->status, r->status)) &&
           (f->label < 0 || (r->labels >> f->label) & 1u) && r->severity >= f->min_severity &&
           (!f->channel || !strcmp(f->channel, r->channel)) && r->received >= f->since &&
           r->received < f->until;
}

/* Read the whole queue of f page by page (page size `limit`), following
 * next_offset, and compare with the reference. */
static void assert_pages(struct t *t, struct td_store_msg_query f, size_t limit)
{
    struct ref *want = malloc(sizeof t->msgs);
    size_t n = 0, got = 0;
    assert_non_null(want);
    for (size_t i = 0; i < NMSG; i++)
        if (match(&t->msgs[i], &f))
            want[n++] = t->msgs[i];
    qsort(want, n, sizeof *want, cmp_ref);
    f.limit = limit;
    f.offset = 0;
    for (;;) {
        struct td_store_message_page p;
        struct td_store_arena ar = {0};
        struct td_error err;
        assert_int_equal(t->s->ops->message_queue(t->s, t->office, &f, &p, &ar, &err), TD_OK);
        assert_int_equal(p.total, (int64_t)n);
        assert_true(p.n <= limit);
        for (size_t i = 0; i < p.n; i++) {
            assert_true(got < n);
            int64_t id = p.rows[i].id;
            if (id != want[got].id) {
                print_error("position %zu (page size %zu): id %lld, want %lld\n", got, limit,
                            (long long)id, (long long)want[got].id);
                fail();
            }
            assert_string_equal(p.rows[i].status, want[got].status);
            got++;
        }
        td_store_arena_free(&ar);
        if ((int64_t)got >= p.total)
            break;
        assert_int_equal(p.n, limit); /* a short page only at the end */
        f.offset = got;
    }
    assert_int_equal(got, n);
    free(want);
}

static void test_pages_follow_the_order(void **state)
{
    struct t *t = *state;
    struct td_error err;
    fill(t);
    for (int i = 0; i < NVARIANTS; i++) {
        struct td_store_msg_query f;
        variant(i, &f);
        assert_pages(t, f, 7);
        assert_pages(t, f, 50);
    }
    /* Back to unreviewed, and unreviewed to dismissed: the message moves
     * between the two halves of the queue at once. */
    struct td_store *s = t->s;
    for (unsigned i = 0; i < NMSG; i += 8) {
        struct ref *r = &t->msgs[i];
        r->status = statuses[0];
        r->unreviewed = 1;
        assert_int_equal(
            s->ops->message_set_status(s, t->office, r->id, r->status, NULL, 0, 1700099999, &err),
            TD_OK);
        r = &t->msgs[i + 1];
        r->status = "dismissed";
        r->unreviewed = 0;
        assert_int_equal(
            s->ops->message_set_status(s, t->office, r->id, r->status, NULL, 0, 1700099999, &err),
            TD_OK);
    }
    for (int i = 0; i < NVARIANTS; i++) {
        struct td_store_msg_query f;
        variant(i, &f);
        assert_pages(t, f, 13);
    }
    /* Another office's queue holds none of these. */
    struct td_store_msg_query f;
    struct td_store_message_page p;
    struct td_store_arena ar = {0};
    query_init(&f);
    f.limit = 500;
    assert_int_equal(s->ops->message_queue(s, t->other, &f, &p, &ar, &err), TD_OK);
    for (size_t i = 0; i < p.n; i++)
        for (size_t k = 0; k < NMSG; k++)
            assert_true(p.rows[i].id != t->msgs[k].id);
    td_store_arena_free(&ar);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queue_plan_uses_the_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_order_sorts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pages_follow_the_order, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
