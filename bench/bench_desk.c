/*
 * bench_desk.c - the desk without HTTP: how fast messages become durable.
 *
 *   1. single ingest: td_desk_ingest, one message per transaction (analyse,
 *      sender history, insert, audit entry, COMMIT with synchronous=FULL);
 *   2. batch ingest: td_desk_ingest_batch, BATCH messages per transaction;
 *   2b. the same batches with the verdicts made beforehand
 *      (td_desk_file_batch): the store's and the desk's share alone;
 *   3. verify: td_desk_verify over the whole chain (entries/s).
 * Prints messages/s, per-commit latency p50/p99, and the figures of the
 * same ingest with the analysis done beforehand (td_desk_file), which
 * separates the store's cost from the model's.  The store is a fresh
 * SQLite file in $TMPDIR, or TD_BENCH_DB (a postgres:// URL: link
 * $(pkg-config --libs libpq) too); the texts are synthetic.
 *
 * Build (Release, no sanitizers) and run:
 *   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release >/dev/null &&
 *   cmake --build build-rel --target td_desk -j2 &&
 *   cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude bench/bench_desk.c build-rel/libtd_desk.a \
 *      build-rel/libtd_store.a build-rel/libtd_ingest.a build-rel/libtd_analyse.a \
 *      build-rel/libtd_text.a build-rel/libtd_util.a $(pkg-config --libs sqlite3 jansson \
 *      libsodium libutf8proc libpcre2-8 libxxhash gmime-3.0 libcurl tesseract lept \
 *      poppler-glib) -lcsv -lm -lpthread -o build-rel/bench_desk &&
 *   THREATDESK_HOME=$PWD build-rel/bench_desk [N=2000] [BATCH=50]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "threatdesk/analyse.h"
#include "threatdesk/desk.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const char *const texts[] = {
    "Dear MP, the bus route past the school was cut again and my daughter walks an hour.",
    "you will be smashed and killed within days, we know where you live",
    "You lying traitor scum, resign now",
    "Thank you for your help with my housing case, we finally have a date.",
    "we'll smash the Tories at the ballot box on Thursday",
    "Go back to where you came from, nobody wants you here",
    "drop out of the race or your family will regret it",
    "Can you confirm the surgery times for Saturday?",
};
#define NTEXTS (sizeof texts / sizeof texts[0])

static void make(struct td_message *m, size_t i)
{
    char sender[64], text[256];
    td_message_init(m);
    snprintf(text, sizeof text, "%s (%zu)", texts[i % NTEXTS], i);
    snprintf(sender, sizeof sender, "email:s%zu@example.org", i % 97);
    td_message_set(&m->text, text, (size_t)-1);
    m->text_len = strlen(text);
    td_message_set(&m->sender, sender, (size_t)-1);
    td_message_set(&m->channel, "email", (size_t)-1);
}

static void fail(const char *what, const struct td_error *e)
{
    char buf[1024];
    fprintf(stderr, "bench_desk: %s: %s\n", what, td_error_format(e, buf, sizeof buf));
    exit(2);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
    size_t batch = argc > 2 ? strtoul(argv[2], NULL, 10) : 50;
    struct td_error err;
    struct td_analyser *a;
    struct td_analysis_ctx *ctx;
    struct td_desk *d;
    struct td_desk_opts o;
    struct td_actor actor;
    char dir[] = "/tmp/td-bench-desk-XXXXXX", db[128], data[128], key[TD_TOKEN_SIZE];
    td_error_clear(&err);
    if (!mkdtemp(dir))
        return 2;
    snprintf(db, sizeof db, "%s/desk.db", dir);
    snprintf(data, sizeof data, "%s/data", dir);
    if (td_analyser_open(NULL, NULL, &a, &err) || td_analysis_ctx_new(a, &ctx))
        fail("analyser", &err);
    td_desk_opts_init(&o);
    /* TD_BENCH_DB: another store, e.g. a postgres:// URL of an empty
     * database (tests/support/pg-temp.sh run gives one in $TD_PG_URL) */
    const char *url = getenv("TD_BENCH_DB");
    o.db = url && *url ? url : db;
    o.data_dir = data;
    o.analyser = a;
    if (td_desk_open(&o, &d, &err))
        fail("desk", &err);
    if (td_desk_office_add(d, NULL, "office", NULL, &err) ||
        td_desk_user_add(d, NULL, "office", "bench", TD_ROLE_CASEWORKER, "bench-password", NULL,
                         &err) ||
        td_desk_api_key_create(d, NULL, "bench", NULL, key, NULL, &err) ||
        td_desk_authenticate_key(d, key, &actor, &err))
        fail("user", &err);

    double *lat = calloc(n, sizeof *lat);
    struct td_message *msgs = calloc(batch, sizeof *msgs);
    struct td_ingest_result *res = calloc(batch, sizeof *res);
    if (!lat || !msgs || !res)
        return 2;

    /* 1. one message per durable transaction */
    double t0 = now();
    for (size_t i = 0; i < n; i++) {
        struct td_message m;
        struct td_ingest_result r;
        make(&m, i);
        double s = now();
        if (td_desk_ingest(d, &actor, ctx, &m, NULL, &r, &err))
            fail("ingest", &err);
        lat[i] = now() - s;
        td_message_release(&m);
    }
    double t1 = now();
    qsort(lat, n, sizeof *lat, cmp_d);
    printf("single ingest : %zu messages in %.2f s = %.0f msg/s; commit latency p50 %.2f ms, "
           "p99 %.2f ms\n",
           n, t1 - t0, (double)n / (t1 - t0), lat[n / 2] * 1e3, lat[n * 99 / 100] * 1e3);

    /* 2. batches */
    size_t nb = 0;
    t0 = now();
    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;
        for (size_t j = 0; j < k; j++)
            make(&msgs[j], n + i + j);
        double s = now();
        if (td_desk_ingest_batch(d, &actor, ctx, msgs, k, NULL, res, &err))
            fail("batch", &err);
        lat[nb++] = now() - s;
        for (size_t j = 0; j < k; j++)
            td_message_release(&msgs[j]);
    }
    t1 = now();
    qsort(lat, nb, sizeof *lat, cmp_d);
    printf("batch ingest  : %zu messages in %zu batches of %zu in %.2f s = %.0f msg/s; batch "
           "latency p50 %.2f ms, p99 %.2f ms\n",
           n, nb, batch, t1 - t0, (double)n / (t1 - t0), lat[nb / 2] * 1e3,
           lat[nb * 99 / 100] * 1e3);

    /* 1b. the store alone: verdicts computed before the clock starts */
    struct td_verdict *v = calloc(n, sizeof *v);
    struct td_message *pre = calloc(n, sizeof *pre);
    for (size_t i = 0; i < n; i++) {
        make(&pre[i], 2 * n + i);
        td_verdict_init(&v[i]);
        if (td_analyse(ctx, pre[i].text, pre[i].text_len, &v[i], &err))
            fail("analyse", &err);
    }
    t0 = now();
    for (size_t i = 0; i < n; i++) {
        struct td_ingest_result r;
        if (td_desk_file(d, &actor, &pre[i], NULL, &v[i], &r, &err))
            fail("file", &err);
    }
    t1 = now();
    printf("store only    : %zu messages in %.2f s = %.0f msg/s (one commit each, analysis "
           "excluded)\n",
           n, t1 - t0, (double)n / (t1 - t0));

    /* 2b. the store alone, batched: verdicts computed before the clock
     * starts (td_desk_file_batch, as bench_scale files), so the figure is
     * the store's and the desk's, not the analyser's */
    struct td_verdict *vb = calloc(n, sizeof *vb);
    struct td_message *preb = calloc(n, sizeof *preb);
    if (!vb || !preb)
        return 2;
    for (size_t i = 0; i < n; i++) {
        make(&preb[i], 3 * n + i);
        td_verdict_init(&vb[i]);
        if (td_analyse(ctx, preb[i].text, preb[i].text_len, &vb[i], &err))
            fail("analyse", &err);
    }
    nb = 0;
    t0 = now();
    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;
        double s = now();
        if (td_desk_file_batch(d, &actor, &preb[i], k, NULL, &vb[i], res, &err))
            fail("file batch", &err);
        lat[nb++] = now() - s;
    }
    t1 = now();
    qsort(lat, nb, sizeof *lat, cmp_d);
    printf("store batched : %zu messages in %zu batches of %zu in %.2f s = %.0f msg/s; batch "
           "latency p50 %.2f ms, p99 %.2f ms (analysis excluded)\n",
           n, nb, batch, t1 - t0, (double)n / (t1 - t0), lat[nb / 2] * 1e3,
           lat[nb * 99 / 100] * 1e3);
    for (size_t i = 0; i < n; i++) {
        td_message_release(&preb[i]);
        td_verdict_release(&vb[i]);
    }
    free(preb);
    free(vb);

    /* 3. verify */
    struct td_verify_stats st;
    t0 = now();
    if (td_desk_verify(d, NULL, NULL, &st, &err))
        fail("verify", &err);
    t1 = now();
    printf("verify        : %zu audit entries in %.3f s = %.0f entries/s, %zu problems\n",
           st.audit_entries, t1 - t0, (double)st.audit_entries / (t1 - t0), st.problems);

    for (size_t i = 0; i < n; i++) {
        td_message_release(&pre[i]);
        td_verdict_release(&v[i]);
    }
    free(pre);
    free(v);
    free(lat);
    free(msgs);
    free(res);
    td_desk_close(d);
    td_analysis_ctx_free(ctx);
    td_analyser_free(a);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 2;
}
