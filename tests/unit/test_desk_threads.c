/*
 * test_desk_threads.c - one desk shared by many threads, as the server
 * shares it: concurrent filing, case changes and reads must leave every
 * record stored once and the audit chain unbroken (each entry links to the
 * one before, even when the writers interleave).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "unit/desk_fixture.h"

#define THREADS 4
#define PER_THREAD 40

struct job {
    struct fx *f;
    struct td_actor actor;
    int64_t case_id;
    int index;
    int failures;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    struct td_error err;
    char text[64], key[32];
    for (int i = 0; i < PER_THREAD; i++) {
        struct td_message m;
        struct td_verdict v;
        struct td_ingest_result r;
        td_error_clear(&err);
        td_message_init(&m);
        td_verdict_init(&v);
        snprintf(text, sizeof text, "message %d from thread %d", i / 2, j->index);
        /* every key twice, with the same bytes: the second must come back as
         * a duplicate (other bytes under a used key are a conflict) */
        snprintf(key, sizeof key, "t%d-%d", j->index, i / 2);
        td_message_set(&m.text, text, (size_t)-1);
        m.text_len = strlen(text);
        td_message_set(&m.sender, "email:same@example.org", (size_t)-1);
        v.severity = TD_SEVERITY_LOW;
        if (td_desk_file(j->f->d, &j->actor, &m, key, &v, &r, &err) != TD_OK ||
            r.duplicate != (i % 2))
            j->failures++;
        td_message_release(&m);
        td_verdict_release(&v);
        json_t *o = NULL;
        if (td_desk_case_get(j->f->d, &j->actor, j->case_id, &o, &err) != TD_OK)
            j->failures++;
        json_decref(o);
        if (td_desk_case_note(j->f->d, &j->actor, j->case_id, text, 0, NULL, &err) != TD_OK)
            j->failures++;
    }
    return NULL;
}

static void test_parallel_writers_keep_the_chain(void **state)
{
    struct fx f;
    struct td_error err;
    struct job jobs[THREADS];
    pthread_t th[THREADS];
    struct td_actor cw;
    int64_t case_id = 0;
    (void)state;
    td_error_clear(&err);
    fx_open(&f);
    fx_actor(&f, "office", "cw", TD_ROLE_CASEWORKER, &cw);
    json_t *c = json_pack("{s:s, s:s}", "type", "harassment", "title", "busy");
    assert_int_equal(td_desk_case_create(f.d, &cw, c, &case_id, &err), TD_OK);
    json_decref(c);
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (struct job){.f = &f, .actor = cw, .case_id = case_id, .index = i};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &jobs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].failures, 0);
    }
    json_t *o = NULL;
    assert_int_equal(td_desk_queue(f.d, &cw, NULL, &o, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), THREADS * PER_THREAD / 2);
    json_decref(o);
    assert_int_equal(td_desk_sender(f.d, &cw, "email:same@example.org", 1, &o, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "messages")), THREADS * PER_THREAD / 2);
    json_decref(o);
    struct td_verify_stats st;
    assert_int_equal(td_desk_verify(f.d, NULL, NULL, &st, &err), TD_OK);
    assert_int_equal(st.problems, 0);
    /* ingests + reads + notes + setup entries */
    assert_true(st.audit_entries >= (size_t)THREADS * PER_THREAD * 5 / 2);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parallel_writers_keep_the_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
