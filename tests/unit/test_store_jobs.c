/*
 * test_store_jobs.c - the work queue (store.h "the work queue",
 * store/sqlite_jobs.c, store/pg_jobs.c) on the backend of test_backend.h
 * (pg/test_store_jobs: PostgreSQL, where claims use SKIP LOCKED): processes claiming at once never
 * share a job, a lease that runs out makes its job due again and the late worker can no longer
 * finish it, failures are retried at their time and then given up, and uploads stay within their
 * office.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_backend.h"
#include "threatdesk/store.h"

struct t {
    char dir[64], db[128], url[512], dbname[64];
    struct td_store *s;
    int64_t office, office2;
};

static int setup(void **state)
{
    struct t *t = calloc(1, sizeof *t);
    struct td_error err;
    td_error_clear(&err);
    snprintf(t->dir, sizeof t->dir, "/tmp/td-jobs-test-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->db, sizeof t->db, "%s/s.db", t->dir);
    tb_store_new(t->url, sizeof t->url, t->db, t->dbname);
    assert_int_equal(td_store_open(t->url, NULL, &t->s, &err), TD_OK);
    assert_int_equal(t->s->ops->office_insert(t->s, "a", 1, &t->office, &err), TD_OK);
    assert_int_equal(t->s->ops->office_insert(t->s, "b", 1, &t->office2, &err), TD_OK);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;
    char cmd[128];
    td_store_close(t->s);
    tb_store_drop(t->dbname);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    assert_int_equal(system(cmd), 0);
    free(t);
    return 0;
}

/* One number from raw SQL, as a shell on the store would read it. */
static int64_t count(const struct t *t, const char *sql)
{
    char v[32];
    if (tb_sql_text(t->url, t->dbname, sql, v, sizeof v) || !*v)
        return -1;
    return (int64_t)strtoll(v, NULL, 10);
}

#define NJOBS 240
#define NPROC 3

/* Several processes, each with its own connection, claim as fast as they
 * can until nothing is due: every job is claimed exactly once. */
static void test_concurrent_claims_never_share(void **state)
{
    struct t *t = *state;
    struct td_error err;
    td_error_clear(&err);
    for (int i = 0; i < NJOBS; i++) {
        char ref[32];
        snprintf(ref, sizeof ref, "%d", i);
        assert_int_equal(
            t->s->ops->job_add(t->s, i % 2 ? t->office : t->office2, "ocr", ref, 100, NULL, &err),
            TD_OK);
    }
    char out[NPROC][160];
    pid_t pids[NPROC];
    for (int p = 0; p < NPROC; p++) {
        snprintf(out[p], sizeof out[p], "%s/claims.%d", t->dir, p);
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            struct td_store *s;
            struct td_error e;
            td_error_clear(&e);
            if (td_store_open(t->url, NULL, &s, &e))
                _exit(3);
            FILE *f = fopen(out[p], "w");
            char name[16];
            snprintf(name, sizeof name, "w%d", p);
            struct td_store_job j;
            int rc;
            while ((rc = s->ops->job_claim(s, name, 1000, 60, &j, &e)) == TD_OK) {
                fprintf(f, "%lld\n", (long long)j.id);
                if (s->ops->job_finish(s, j.id, name, 1, NULL, 1000, 0, &e))
                    _exit(4);
            }
            fclose(f);
            td_store_close(s);
            _exit(rc == TD_ENOTFOUND ? 0 : 5);
        }
    }
    for (int p = 0; p < NPROC; p++) {
        int st = 0;
        assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    int seen[NJOBS + 1];
    memset(seen, 0, sizeof seen);
    int total = 0;
    for (int p = 0; p < NPROC; p++) {
        FILE *f = fopen(out[p], "r");
        assert_non_null(f);
        long long id;
        while (fscanf(f, "%lld", &id) == 1) {
            assert_true(id >= 1 && id <= NJOBS);
            seen[id]++;
            total++;
        }
        fclose(f);
    }
    assert_int_equal(total, NJOBS);
    for (int i = 1; i <= NJOBS; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(count(t, "SELECT count(*) FROM jobs WHERE state = 'done' AND attempts = 1"),
                     NJOBS);
}

/* The oldest due job first; a job not yet due is not claimed. */
static void test_claim_order_and_due(void **state)
{
    struct t *t = *state;
    struct td_error err;
    struct td_store_job j;
    int64_t late, early;
    td_error_clear(&err);
    assert_int_equal(t->s->ops->job_add(t->s, t->office, "ocr", "late", 300, &late, &err), TD_OK);
    assert_int_equal(t->s->ops->job_add(t->s, t->office2, "ocr", "early", 200, &early, &err),
                     TD_OK);
    assert_int_equal(t->s->ops->job_claim(t->s, "w", 199, 60, &j, &err), TD_ENOTFOUND);
    assert_int_equal(t->s->ops->job_claim(t->s, "w", 250, 60, &j, &err), TD_OK);
    assert_int_equal(j.id, early);
    assert_int_equal(j.office_id, t->office2);
    assert_string_equal(j.payload_ref, "early");
    assert_string_equal(j.kind, "ocr");
    assert_int_equal(j.attempts, 1);
    assert_int_equal(t->s->ops->job_claim(t->s, "w", 250, 60, &j, &err), TD_ENOTFOUND);
    assert_int_equal(t->s->ops->job_claim(t->s, "w", 300, 60, &j, &err), TD_OK);
    assert_int_equal(j.id, late);
    /* bad arguments are refused, not stored */
    assert_int_equal(t->s->ops->job_add(t->s, t->office, "", "x", 1, NULL, &err), TD_EINVAL);
    assert_int_equal(t->s->ops->job_claim(t->s, "w", 300, 0, &j, &err), TD_EINVAL);
}

/* A worker that dies keeps its job until the lease runs out; then another
 * worker gets it (attempts 2), and the first can no longer finish it. */
static void test_lease_expiry(void **state)
{
    struct t *t = *state;
    struct td_error err;
    struct td_store_job j;
    int64_t id;
    td_error_clear(&err);
    assert_int_equal(t->s->ops->job_add(t->s, t->office, "ocr", "1", 100, &id, &err), TD_OK);
    assert_int_equal(t->s->ops->job_claim(t->s, "dies", 100, 30, &j, &err), TD_OK);
    assert_int_equal(j.id, id);
    assert_int_equal(t->s->ops->job_claim(t->s, "other", 129, 30, &j, &err), TD_ENOTFOUND);
    assert_int_equal(t->s->ops->job_claim(t->s, "other", 131, 30, &j, &err), TD_OK);
    assert_int_equal(j.id, id);
    assert_int_equal(j.attempts, 2);
    assert_int_equal(t->s->ops->job_finish(t->s, id, "dies", 1, NULL, 140, 0, &err), TD_ENOTFOUND);
    assert_non_null(strstr(err.message, "not held"));
    assert_int_equal(t->s->ops->job_finish(t->s, id, "other", 1, NULL, 140, 0, &err), TD_OK);
    assert_int_equal(t->s->ops->job_claim(t->s, "other", 10000, 30, &j, &err), TD_ENOTFOUND);
    assert_int_equal(count(t, "SELECT count(*) FROM jobs WHERE state = 'done' AND "
                              "claimed_by = 'other' AND finished_at = 140"),
                     1);
}

/* A failure with a retry time is due again at that time, with its error
 * kept; without one it is failed for good. */
static void test_retry_then_give_up(void **state)
{
    struct t *t = *state;
    struct td_error err;
    struct td_store_job j;
    int64_t id;
    td_error_clear(&err);
    assert_int_equal(t->s->ops->job_add(t->s, t->office, "ocr", "1", 100, &id, &err), TD_OK);
    assert_int_equal(t->s->ops->job_claim(t->s, "w", 100, 30, &j, &err), TD_OK);
    assert_int_equal(t->s->ops->job_finish(t->s, id, "w", 0, "tesseract fell over", 105, 200, &err),
                     TD_OK);
    assert_int_equal(
        count(t, "SELECT count(*) FROM jobs WHERE state = 'queued' AND "
                 "last_error = 'tesseract fell over' AND available_at = 200 AND lease_until "
                 "IS NULL AND claimed_by IS NULL"),
        1);
    assert_int_equal(t->s->ops->job_claim(t->s, "w", 199, 30, &j, &err), TD_ENOTFOUND);
    assert_int_equal(t->s->ops->job_claim(t->s, "w2", 200, 30, &j, &err), TD_OK);
    assert_int_equal(j.attempts, 2);
    assert_int_equal(t->s->ops->job_finish(t->s, id, "w2", 0, "again", 210, 0, &err), TD_OK);
    assert_int_equal(count(t, "SELECT count(*) FROM jobs WHERE state = 'failed' AND "
                              "last_error = 'again' AND finished_at = 210"),
                     1);
    assert_int_equal(t->s->ops->job_claim(t->s, "w", 1000000, 30, &j, &err), TD_ENOTFOUND);
}

/* A claim inside the caller's write transaction joins it (no nested
 * BEGIN) and is undone with it. */
static void test_claim_inside_transaction(void **state)
{
    struct t *t = *state;
    struct td_error err;
    struct td_store_job j;
    td_error_clear(&err);
    assert_int_equal(t->s->ops->job_add(t->s, t->office, "ocr", "1", 100, NULL, &err), TD_OK);
    assert_int_equal(t->s->ops->begin(t->s, &err), TD_OK);
    assert_int_equal(t->s->ops->job_claim(t->s, "w", 100, 30, &j, &err), TD_OK);
    t->s->ops->rollback(t->s);
    assert_int_equal(count(t, "SELECT count(*) FROM jobs WHERE state = 'queued'"), 1);
    assert_int_equal(t->s->ops->job_claim(t->s, "w", 100, 30, &j, &err), TD_OK);
    assert_int_equal(j.attempts, 1);
}

struct got {
    int n;
    int64_t id, attempts, message_id, len;
    char state[16], kind[8], key[32], error[64];
    int bytes_ok;
};

static int got_cb(void *ud, const struct td_store_upload *u)
{
    struct got *g = ud;
    g->n++;
    g->id = u->id;
    g->attempts = u->attempts;
    g->message_id = u->message_id;
    g->len = (int64_t)u->original_len;
    snprintf(g->state, sizeof g->state, "%s", u->state);
    snprintf(g->kind, sizeof g->kind, "%s", u->kind);
    snprintf(g->key, sizeof g->key, "%s", u->client_key ? u->client_key : "");
    snprintf(g->error, sizeof g->error, "%s", u->error ? u->error : "");
    g->bytes_ok = u->original && u->original_len == 5 && !memcmp(u->original, "%PDF-", 5);
    return 0;
}

static void test_uploads_office_scoped(void **state)
{
    struct t *t = *state;
    struct td_error err;
    struct got g;
    int64_t id;
    td_error_clear(&err);
    struct td_store_upload u = {.office_id = t->office,
                                .client_key = "k1",
                                .kind = "pdf",
                                .name = "a.pdf",
                                .original = "%PDF-",
                                .original_len = 5,
                                .sha256 = "00",
                                .received = 10,
                                .created = 11,
                                .created_by = 0};
    assert_int_equal(t->s->ops->upload_insert(t->s, &u, &id, &err), TD_OK);
    assert_int_equal(t->s->ops->upload_insert(t->s, &u, NULL, &err), TD_EEXISTS);
    memset(&g, 0, sizeof g);
    assert_int_equal(t->s->ops->upload_get(t->s, t->office, id, NULL, 1, got_cb, &g, &err), TD_OK);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.state, "queued");
    assert_string_equal(g.kind, "pdf");
    assert_true(g.bytes_ok);
    memset(&g, 0, sizeof g);
    assert_int_equal(t->s->ops->upload_get(t->s, t->office, 0, "k1", 0, got_cb, &g, &err), TD_OK);
    assert_int_equal(g.id, id);
    assert_int_equal(g.len, 5);
    assert_false(g.bytes_ok); /* not read unless asked */
    /* another office sees nothing and changes nothing */
    assert_int_equal(t->s->ops->upload_get(t->s, t->office2, id, NULL, 0, got_cb, &g, &err),
                     TD_ENOTFOUND);
    assert_int_equal(t->s->ops->upload_get(t->s, t->office2, 0, "k1", 0, got_cb, &g, &err),
                     TD_ENOTFOUND);
    assert_int_equal(t->s->ops->upload_set(t->s, t->office2, id, "failed", 1, "x", 0, 20, &err),
                     TD_ENOTFOUND);
    /* the same key in another office is another upload */
    u.office_id = t->office2;
    assert_int_equal(t->s->ops->upload_insert(t->s, &u, NULL, &err), TD_OK);
    /* failed keeps the bytes and the reason */
    assert_int_equal(
        t->s->ops->upload_set(t->s, t->office, id, "failed", 3, "no text", 0, 20, &err), TD_OK);
    memset(&g, 0, sizeof g);
    assert_int_equal(t->s->ops->upload_get(t->s, t->office, id, NULL, 1, got_cb, &g, &err), TD_OK);
    assert_string_equal(g.state, "failed");
    assert_string_equal(g.error, "no text");
    assert_int_equal(g.attempts, 3);
    assert_true(g.bytes_ok);
    /* an unknown state is refused by the schema */
    assert_int_not_equal(t->s->ops->upload_set(t->s, t->office, id, "lost", 3, NULL, 0, 20, &err),
                         TD_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrent_claims_never_share, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_order_and_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_then_give_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_inside_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uploads_office_scoped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
