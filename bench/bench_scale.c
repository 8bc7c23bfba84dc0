/*
 * bench_scale.c - a party's deployment on one store, measured (issue 11,
 * "Scale, measured").
 *
 * Generates, through the public desk API only (so the same run works on
 * any store URL the desk opens):
 *   - OFFICES offices (default 650), each with a caseworker;
 *   - MESSAGES messages (default 5,000,000): office-000 gets BIG (default
 *     100,000), the rest share what is left evenly; batches of BATCH
 *     (default 500) messages per durable commit, the offices' batches
 *     interleaved as they would arrive (each office's next batch goes to
 *     whichever office is furthest behind its share), received times
 *     spread over four weeks;
 *   - REVIEWED status changes in the big office (reviewed, dismissed,
 *     escalated; one commit each, as a caseworker makes them);
 *   - CASES cases (default 50,000) spread in proportion to the messages,
 *     every second one linking a message of its office.
 * The verdicts are pre-made (td_desk_file_batch), not drawn by a model:
 * this measures the store and the desk, not the analyser (bench_desk.c
 * and bench_engine.sh measure that).  Severities follow a fixed mix
 * (60% none, 20% low, 10% medium, 7% high, 3% critical); a sender's
 * earlier threats still raise later verdicts, as in production.
 *
 * Then prints, for the big office:
 *   - the triage queue's first page (50 rows, as the desk renders it),
 *     p50/p99/max over QUERIES (default 200) calls, unfiltered and with
 *     each filter the desk offers; deep pages (page 50, 500, the last) and
 *     a walk down the whole queue by its cursor;
 *   - the case list (audited: one commit per call);
 *   - verify: the whole store (every office), and one office alone (a
 *     store of its own with BIG messages, the way an office runs SQLite);
 *   - SQLite only: the same page as raw SQL, the queue's query before
 *     migration 0009 (its ORDER BY on an expression, with 0007's index put
 *     back for the comparison) against the current one, same connection,
 *     same database, same run.
 *
 * Usage: bench_scale [--store URL] [--dir DIR] [--offices N] [--messages N]
 *          [--big N] [--cases N] [--batch N] [--reviewed N] [--queries N]
 *          [--baseline-queries N] [--no-baseline] [--no-one-office] [--keep]
 *          [--measure-only]
 *   --store  a store URL (default: sqlite:DIR/party.db; a postgres:// URL
 *            works once the desk opens one); DIR (default a new
 *            $TMPDIR/td-bench-scale-XXXXXX) holds the SQLite files and
 *            evidence; removed at the end unless --keep.
 *   --measure-only  generate nothing: measure the queue, the case list and
 *            the baseline again on the store a --keep run left in DIR.
 * bench/bench_scale.sh builds it (Release) and runs it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "threatdesk/analyse.h"
#include "threatdesk/desk.h"
#include "threatdesk/taxonomy.h"

/* The queue's SQL as the store runs it now (for the raw comparison). */
#include "store/sq_queue.h"

#define SPAN_S (28 * 86400) /* four weeks of a general election */
#define T0 1795000000       /* 2026-11-18 */

struct opts {
    const char *store, *dir;
    size_t offices, messages, big, cases, batch, reviewed, queries, bqueries;
    int baseline, one_office, keep, measure_only;
};

struct office {
    char name[32], user[32];
    struct td_actor actor;
    size_t want, done;  /* messages */
    int64_t sample[64]; /* some of its message ids, to link cases to */
    size_t nsample;
};

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

/* p50, p99 and max of n latencies (seconds), sorted in place, in ms. */
static void pct(double *v, size_t n, double *p50, double *p99, double *max)
{
    qsort(v, n, sizeof *v, cmp_d);
    *p50 = v[n / 2] * 1e3;
    *p99 = v[n * 99 / 100 < n ? n * 99 / 100 : n - 1] * 1e3;
    *max = v[n - 1] * 1e3;
}

static void fail(const char *what, const struct td_error *e)
{
    char buf[1024];
    fprintf(stderr, "bench_scale: %s: %s\n", what, td_error_format(e, buf, sizeof buf));
    exit(2);
}

static long rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

/* ---- the generated post ---------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static const char *const texts[] = {
    "Dear MP, the bus route past the school was cut again and my daughter walks an hour.",
    "Thank you for your help with my housing case, we finally have a date.",
    "Can you confirm the surgery times for Saturday? My mother needs a ramp.",
    "You lying traitor scum, resign now and take your party with you",
    "Go back to where you came from, nobody wants you here",
    "We know where your office is. Watch yourself on Friday.",
    "drop out of the race or your family will regret it",
    "I will come to your surgery with a knife and finish this",
    "Please raise the hospital parking charges in the chamber next week.",
    "Great speech at the hustings, the room was with you.",
};
#define NTEXTS (sizeof texts / sizeof texts[0])
static const char *const chans[] = {"email", "email", "webform", "twitter", "facebook", "letter"};
#define NCHANS (sizeof chans / sizeof chans[0])

/* The verdict mix, by template: which severity and labels each carries.
 * Polite post is most of it; abuse and threats the tail. */
static void verdict_for(size_t t, uint64_t r, struct td_verdict *v)
{
    td_verdict_init(v);
    unsigned p = (unsigned)(r % 100);
    enum td_severity sev = p < 60   ? TD_SEVERITY_NONE
                           : p < 80 ? TD_SEVERITY_LOW
                           : p < 90 ? TD_SEVERITY_MEDIUM
                           : p < 97 ? TD_SEVERITY_HIGH
                                    : TD_SEVERITY_CRITICAL;
    unsigned labels = 0;
    if (sev >= TD_SEVERITY_LOW)
        labels |= 1u << TD_LABEL_ABUSE;
    if (sev >= TD_SEVERITY_MEDIUM && t >= 4)
        labels |= 1u << TD_LABEL_INTIMIDATION;
    if (sev >= TD_SEVERITY_HIGH)
        labels |= 1u << TD_LABEL_THREAT;
    if (t == 4)
        labels |= 1u << TD_LABEL_IDENTITY_HATE;
    v->severity = sev;
    v->labels = labels;
    for (int l = 0; l < TD_LABEL_COUNT; l++)
        v->prob[l] = (labels >> l) & 1u ? 0.91f : 0.04f;
    v->model_version = "bench-premade";
    snprintf(v->reason, sizeof v->reason, "pre-made verdict (bench_scale)");
}

/* Message i of office o (k-th of that office). */
static void make(struct td_message *m, struct td_verdict *v, char *key, size_t keysz, size_t o,
                 size_t k, size_t gi, size_t total)
{
    char text[256], sender[64];
    uint64_t r = rnd();
    size_t t = (size_t)(r % NTEXTS);
    td_message_init(m);
    snprintf(text, sizeof text, "%s (#%zu-%zu)", texts[t], o, k);
    /* senders: a long tail, and a few who write every day */
    unsigned s =
        (unsigned)((r >> 20) % 10) < 3 ? (unsigned)((r >> 24) % 20) : (unsigned)((r >> 24) % 3000);
    snprintf(sender, sizeof sender, "email:s%u@example.org", s);
    td_message_set(&m->text, text, (size_t)-1);
    m->text_len = strlen(text);
    td_message_set(&m->sender, sender, (size_t)-1);
    td_message_set(&m->channel, chans[(r >> 40) % NCHANS], (size_t)-1);
    m->time = T0 + (int64_t)((double)gi / (double)total * SPAN_S) + (int64_t)((r >> 48) % 600);
    snprintf(key, keysz, "bench-%zu-%zu", o, k);
    verdict_for(t, r >> 8, v);
}

/* ---- phases ------------------------------------------------------------ */

static struct td_desk *open_desk(const char *store, const char *data)
{
    struct td_desk_opts o;
    struct td_desk *d;
    struct td_error err;
    td_error_clear(&err);
    td_desk_opts_init(&o);
    o.db = store;
    o.data_dir = data;
    /* the lightest Argon2id the desk accepts: 650 users are made here, and
     * logins are not what this measures */
    o.pwhash_mem_kib = 8192;
    o.pwhash_ops = 1;
    if (td_desk_open(&o, &d, &err))
        fail("desk open", &err);
    return d;
}

static void make_offices(struct td_desk *d, struct office *of, size_t n)
{
    struct td_error err;
    char key[TD_TOKEN_SIZE];
    td_error_clear(&err);
    double t0 = now();
    for (size_t i = 0; i < n; i++) {
        snprintf(of[i].name, sizeof of[i].name, "office-%03zu", i);
        snprintf(of[i].user, sizeof of[i].user, "cw-%03zu", i);
        if (td_desk_office_add(d, NULL, of[i].name, NULL, &err) ||
            td_desk_user_add(d, NULL, of[i].name, of[i].user, TD_ROLE_CASEWORKER,
                             "bench-password-1", NULL, &err) ||
            td_desk_api_key_create(d, NULL, of[i].user, "bench", key, NULL, &err) ||
            td_desk_authenticate_key(d, key, &of[i].actor, &err))
            fail(of[i].name, &err);
    }
    fprintf(stderr, "offices       : %zu with a caseworker each in %.1f s\n", n, now() - t0);
}

/* File every office's messages; batches interleaved by share done. */
static void ingest(struct td_desk *d, struct office *of, size_t noff, size_t total, size_t bsz,
                   int64_t *big_ids, const char *label)
{
    struct td_error err;
    struct td_message *m = calloc(bsz, sizeof *m);
    struct td_verdict *v = calloc(bsz, sizeof *v);
    struct td_ingest_result *res = calloc(bsz, sizeof *res);
    char(*keys)[48] = calloc(bsz, sizeof *keys);
    const char **kp = calloc(bsz, sizeof *kp);
    size_t nlat = total / bsz + noff + 1, nb = 0, gi = 0, refused = 0, dup = 0, next_report = 0;
    double *lat = calloc(nlat, sizeof *lat);
    if (!m || !v || !res || !keys || !kp || !lat) {
        fprintf(stderr, "bench_scale: out of memory\n");
        exit(2);
    }
    td_error_clear(&err);
    double t0 = now();
    while (gi < total) {
        /* the office furthest behind its share */
        size_t o = SIZE_MAX;
        double best = 2;
        for (size_t i = 0; i < noff; i++)
            if (of[i].done < of[i].want) {
                double f = (double)of[i].done / (double)of[i].want;
                if (f < best) {
                    best = f;
                    o = i;
                }
            }
        size_t k = of[o].want - of[o].done < bsz ? of[o].want - of[o].done : bsz;
        for (size_t j = 0; j < k; j++) {
            make(&m[j], &v[j], keys[j], sizeof keys[j], o, of[o].done + j, gi + j, total);
            kp[j] = keys[j];
        }
        double s = now();
        if (td_desk_file_batch(d, &of[o].actor, m, k, kp, v, res, &err))
            fail("file batch", &err);
        lat[nb++] = now() - s;
        for (size_t j = 0; j < k; j++) {
            if (res[j].code)
                refused++;
            else if (res[j].duplicate)
                dup++;
            else {
                if (big_ids && o == 0)
                    big_ids[of[o].done + j] = res[j].id;
                if (of[o].nsample < 64 && (of[o].done + j) % 37 == 0)
                    of[o].sample[of[o].nsample++] = res[j].id;
            }
            td_message_release(&m[j]);
            td_verdict_release(&v[j]);
        }
        of[o].done += k;
        gi += k;
        if (gi >= next_report) {
            double el = now() - t0;
            fprintf(stderr, "  %s: %zu/%zu messages, %.0f s, %.0f msg/s, %ld MiB\n", label, gi,
                    total, el, (double)gi / el, rss_mib());
            next_report += total / 20 ? total / 20 : 1;
        }
    }
    double el = now() - t0, p50, p99, max;
    pct(lat, nb, &p50, &p99, &max);
    printf("ingest %-6s : %zu messages in %.1f s = %.0f msg/s (batches of %zu, one durable commit "
           "each; %zu batches, commit p50 %.1f ms, p99 %.1f ms, max %.1f ms; %zu refused, %zu "
           "duplicates)\n",
           label, total, el, (double)total / el, bsz, nb, p50, p99, max, refused, dup);
    fflush(stdout);
    free(m);
    free(v);
    free(res);
    free(keys);
    free(kp);
    free(lat);
}

/* A caseworker works through part of the big office's post. */
static void review(struct td_desk *d, struct office *big, const int64_t *ids, size_t n,
                   size_t count)
{
    struct td_error err;
    double *lat = calloc(count ? count : 1, sizeof *lat);
    size_t done = 0, esc = 0, dis = 0;
    td_error_clear(&err);
    if (!lat)
        exit(2);
    double t0 = now();
    /* spread evenly over the office's post (exactly `count` of n) */
    for (size_t i = 0; i < n && done < count; i++) {
        if ((i * count) / n == ((i + 1) * count) / n)
            continue;
        uint64_t r = rnd();
        int st = (r >> 16) % 100 < 80   ? TD_MSG_REVIEWED
                 : (r >> 16) % 100 < 97 ? TD_MSG_DISMISSED
                                        : TD_MSG_ESCALATED;
        esc += st == TD_MSG_ESCALATED;
        dis += st == TD_MSG_DISMISSED;
        double s = now();
        if (td_desk_message_set_status(d, &big->actor, ids[i], (enum td_msg_status)st,
                                       "worked through by bench_scale", &err))
            fail("set status", &err);
        lat[done++] = now() - s;
    }
    double el = now() - t0, p50, p99, max;
    if (done) {
        pct(lat, done, &p50, &p99, &max);
        printf("status change : %zu in the big office (%zu dismissed, %zu escalated) in %.1f s; "
               "one commit each, p50 %.1f ms, p99 %.1f ms\n",
               done, dis, esc, el, p50, p99);
    }
    free(lat);
}

static void make_cases(struct td_desk *d, struct office *of, size_t noff, size_t total_msgs,
                       size_t ncases)
{
    struct td_error err;
    static const char *const types[] = {"online_threat", "harassment", "intimidation_meeting",
                                        "other"};
    size_t made = 0, linked = 0;
    double t0 = now();
    td_error_clear(&err);
    for (size_t o = 0; o < noff; o++) {
        size_t want = (size_t)((double)ncases * (double)of[o].want / (double)total_msgs + 0.5);
        if (o == noff - 1 && made + want < ncases)
            want = ncases - made;
        for (size_t i = 0; i < want; i++) {
            char title[96];
            int64_t id;
            snprintf(title, sizeof title, "Case %zu of %s", i, of[o].name);
            json_t *f = json_pack("{s:s, s:s, s:s}", "type", types[(o + i) % 4], "title", title,
                                  "description", "Opened by bench_scale.");
            if (!f || td_desk_case_create(d, &of[o].actor, f, &id, &err))
                fail("case create", &err);
            json_decref(f);
            if (i % 2 == 0 && of[o].nsample) {
                if (td_desk_case_link_message(d, &of[o].actor, id,
                                              of[o].sample[i / 2 % of[o].nsample], &err))
                    fail("case link", &err);
                linked++;
            }
            made++;
        }
    }
    double el = now() - t0;
    printf("cases         : %zu in %.1f s = %.0f cases/s, %zu linked to a message (one commit "
           "per create and per link)\n",
           made, el, (double)made / el, linked);
    fflush(stdout);
}

/* n calls of the queue with f, latency figures printed under `what`. */
static void queue_lat(struct td_desk *d, const struct td_actor *a, const struct td_queue_filter *f,
                      size_t n, const char *what)
{
    struct td_error err;
    double *lat = calloc(n, sizeof *lat), p50, p99, max;
    json_int_t total = 0;
    size_t rows = 0;
    td_error_clear(&err);
    if (!lat)
        exit(2);
    for (size_t i = 0; i < n; i++) {
        json_t *out;
        double s = now();
        if (td_desk_queue(d, a, f, &out, &err))
            fail("queue", &err);
        lat[i] = now() - s;
        total = json_integer_value(json_object_get(out, "total"));
        rows = json_array_size(json_object_get(out, "messages"));
        json_decref(out);
    }
    pct(lat, n, &p50, &p99, &max);
    printf("queue %-28s: p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  (%zu calls, %zu rows of %lld)\n",
           what, p50, p99, max, n, rows, (long long)total);
    fflush(stdout);
    free(lat);
}

/* The whole queue by its cursor, page after page. */
static void queue_walk(struct td_desk *d, const struct td_actor *a)
{
    struct td_error err;
    struct td_queue_filter f;
    size_t cap = 1 << 16, n = 0, rows = 0;
    double *lat = calloc(cap, sizeof *lat), p50, p99, max;
    td_error_clear(&err);
    td_queue_filter_init(&f);
    f.limit = 50;
    double t0 = now();
    for (;;) {
        json_t *out;
        double s = now();
        if (td_desk_queue(d, a, &f, &out, &err))
            fail("queue", &err);
        if (n < cap)
            lat[n++] = now() - s;
        rows += json_array_size(json_object_get(out, "messages"));
        json_t *next = json_object_get(out, "next_offset");
        if (!next) {
            json_decref(out);
            break;
        }
        f.offset = (size_t)json_integer_value(next);
        json_decref(out);
    }
    double el = now() - t0;
    pct(lat, n, &p50, &p99, &max);
    printf("queue %-28s: p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  (%zu pages, %zu rows, %.1f s)\n",
           "walk, every page by cursor", p50, p99, max, n, rows, el);
    fflush(stdout);
    free(lat);
}

static void case_lat(struct td_desk *d, const struct td_actor *a, size_t n)
{
    struct td_error err;
    struct td_case_filter f;
    double *lat = calloc(n, sizeof *lat), p50, p99, max;
    json_int_t total = 0;
    td_error_clear(&err);
    td_case_filter_init(&f);
    for (size_t i = 0; i < n; i++) {
        json_t *out;
        double s = now();
        if (td_desk_case_list(d, a, &f, &out, &err))
            fail("case list", &err);
        lat[i] = now() - s;
        total = json_integer_value(json_object_get(out, "total"));
        json_decref(out);
    }
    pct(lat, n, &p50, &p99, &max);
    printf("case list (first page)            : p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  (%zu "
           "calls, %lld cases; each audited, one commit)\n",
           p50, p99, max, n, (long long)total);
    fflush(stdout);
    free(lat);
}

static void verify(struct td_desk *d, const char *what)
{
    struct td_error err;
    struct td_verify_stats st;
    td_error_clear(&err);
    double t0 = now();
    if (td_desk_verify(d, NULL, NULL, &st, &err))
        fail("verify", &err);
    double el = now() - t0;
    printf("verify %-10s: %zu audit entries, %zu rows in %.1f s = %.0f entries/s, %zu problems; "
           "peak RSS so far %ld MiB\n",
           what, st.audit_entries, st.rows, el, (double)st.audit_entries / el, st.problems,
           rss_mib());
    fflush(stdout);
}

/* ---- the raw comparison (SQLite only) ---------------------------------- */

/* The queue's SQL before migration 0009, verbatim: an ORDER BY on an
 * expression no index held, the page's ids sorted first. */
#define OLD_WHERE                                                                                  \
    "WHERE m.office_id = ?1 AND (?2 IS NULL OR m.status = ?2) "                                    \
    "AND (?3 < 0 OR (m.labels & (1 << ?3)) != 0) AND m.severity >= ?4 "                            \
    "AND (?5 IS NULL OR m.channel = ?5) AND (?6 IS NULL OR m.sender = ?6) "                        \
    "AND m.received >= ?7 AND m.received < ?8 "
#define OLD_ORDER                                                                                  \
    "ORDER BY (m.status = 'unreviewed') DESC, m.severity DESC, m.received DESC, m.id DESC "
#define OLD_COLS                                                                                   \
    "SELECT m.id, m.channel, m.sender, m.sender_name, m.subject, m.received, m.ingested, "         \
    "m.status, m.status_reason, m.client_key, m.message_id, m.text, m.verdict, "                   \
    "m.attachments AS attachments_json, "                                                          \
    "(SELECT json_group_array(cm.case_id) FROM case_messages cm WHERE cm.message_id = m.id) "      \
    "AS cases_json FROM messages m "
static const char old_count[] = "SELECT count(*) FROM messages m " OLD_WHERE;
static const char old_page[] =
    OLD_COLS "WHERE m.id IN (SELECT m.id FROM messages m " OLD_WHERE OLD_ORDER
             "LIMIT ?9 OFFSET ?10) " OLD_ORDER;

static void bind(sqlite3_stmt *st, int64_t office, const char *status, int label, int minsev,
                 const char *channel, size_t offset)
{
    sqlite3_bind_int64(st, 1, office);
    if (status)
        sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_int(st, 3, label);
    sqlite3_bind_int(st, 4, minsev);
    if (channel)
        sqlite3_bind_text(st, 5, channel, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 5);
    sqlite3_bind_null(st, 6);
    sqlite3_bind_int64(st, 7, INT64_MIN);
    sqlite3_bind_int64(st, 8, INT64_MAX);
    if (sqlite3_bind_parameter_count(st) >= 10) {
        sqlite3_bind_int64(st, 9, 50);
        sqlite3_bind_int64(st, 10, (int64_t)offset);
    }
}

/* count + page, the two statements one queue call runs; n times. */
static void raw_lat(sqlite3 *db, const char *count_sql, const char *page_sql, int64_t office,
                    const char *status, int label, int minsev, const char *channel, size_t offset,
                    size_t n, const char *what)
{
    sqlite3_stmt *c, *p;
    if (sqlite3_prepare_v2(db, count_sql, -1, &c, NULL) ||
        sqlite3_prepare_v2(db, page_sql, -1, &p, NULL)) {
        fprintf(stderr, "bench_scale: prepare: %s\n", sqlite3_errmsg(db));
        exit(2);
    }
    double *lat = calloc(n, sizeof *lat), p50, p99, max;
    size_t rows = 0;
    for (size_t i = 0; i < n; i++) {
        double s = now();
        bind(c, office, status, label, minsev, channel, 0);
        while (sqlite3_step(c) == SQLITE_ROW)
            ;
        sqlite3_reset(c);
        bind(p, office, status, label, minsev, channel, offset);
        rows = 0;
        while (sqlite3_step(p) == SQLITE_ROW) {
            /* read what the desk reads of a row */
            for (int k = 0; k < sqlite3_column_count(p); k++)
                (void)sqlite3_column_text(p, k);
            rows++;
        }
        sqlite3_reset(p);
        lat[i] = now() - s;
    }
    pct(lat, n, &p50, &p99, &max);
    printf("raw %-30s: p50 %8.2f ms  p99 %8.2f ms  max %8.2f ms  (%zu calls, %zu rows)\n", what,
           p50, p99, max, n, rows);
    fflush(stdout);
    sqlite3_finalize(c);
    sqlite3_finalize(p);
    free(lat);
}

static int64_t office_id(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st;
    int64_t id = -1;
    if (sqlite3_prepare_v2(db, "SELECT id FROM offices WHERE name = ?", -1, &st, NULL) == 0) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            id = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    return id;
}

static void baseline(const char *path, size_t n)
{
    sqlite3 *db;
    char *msg = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL)) {
        fprintf(stderr, "bench_scale: %s: %s\n", path, sqlite3_errmsg(db));
        exit(2);
    }
    sqlite3_busy_timeout(db, 60000);
    /* the page cache the store gives its connection (sqlite.c) */
    sqlite3_exec(db, "PRAGMA cache_size=-65536", NULL, NULL, NULL);
    int64_t big = office_id(db, "office-000");
    /* The old query as it ran: 0007's index, which 0009 drops, put back
     * for the comparison and taken away after. */
    double t0 = now();
    if (sqlite3_exec(db,
                     "CREATE INDEX IF NOT EXISTS messages_web_triage ON messages(office_id, "
                     "status, severity, received, labels, channel, sender)",
                     NULL, NULL, &msg)) {
        fprintf(stderr, "bench_scale: old index: %s\n", msg);
        exit(2);
    }
    printf("baseline      : 0007's messages_web_triage rebuilt for the comparison in %.1f s\n",
           now() - t0);
    struct {
        const char *what, *status;
        int label, minsev;
        const char *channel;
        size_t offset;
    } v[] = {
        {"first page", NULL, -1, 0, NULL, 0},
        {"page 50", NULL, -1, 0, NULL, 49 * 50},
        {"first page, status unreviewed", "unreviewed", -1, 0, NULL, 0},
        {"first page, label threat", NULL, TD_LABEL_THREAT, 0, NULL, 0},
        {"first page, severity >= high", NULL, -1, TD_SEVERITY_HIGH, NULL, 0},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char w[64];
        snprintf(w, sizeof w, "old  %s", v[i].what);
        raw_lat(db, old_count, old_page, big, v[i].status, v[i].label, v[i].minsev, v[i].channel,
                v[i].offset, n, w);
        snprintf(w, sizeof w, "new  %s", v[i].what);
        int all = !v[i].status && v[i].label < 0 && !v[i].minsev;
        raw_lat(db, all ? td__sq_queue_count_all_sql : td__sq_queue_count_sql,
                td__sq_queue_page_sql, big, v[i].status, v[i].label, v[i].minsev, v[i].channel,
                v[i].offset, n, w);
    }
    sqlite3_exec(db, "DROP INDEX IF EXISTS messages_web_triage", NULL, NULL, NULL);
    sqlite3_close(db);
}

/* ---- main -------------------------------------------------------------- */

static size_t num(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s) {
        fprintf(stderr, "bench_scale: %s: not a number: %s\n", what, s);
        exit(2);
    }
    return (size_t)v;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_scale [--store URL] [--dir DIR] [--offices N] [--messages N] "
                    "[--big N] [--cases N] [--batch N] [--reviewed N] [--queries N] "
                    "[--baseline-queries N] [--no-baseline] [--no-one-office] [--keep] "
                    "[--measure-only]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct opts o = {.offices = 650,
                     .messages = 5000000,
                     .big = 100000,
                     .cases = 50000,
                     .batch = 500,
                     .reviewed = (size_t)-1,
                     .queries = 200,
                     .bqueries = 20,
                     .baseline = 1,
                     .one_office = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name, field)                                                                           \
    if (!strcmp(a, name)) {                                                                        \
        if (!val)                                                                                  \
            usage();                                                                               \
        o.field = num(val, name);                                                                  \
        i++;                                                                                       \
        continue;                                                                                  \
    }
        OPT("--offices", offices)
        OPT("--messages", messages)
        OPT("--big", big)
        OPT("--cases", cases)
        OPT("--batch", batch)
        OPT("--reviewed", reviewed)
        OPT("--queries", queries)
        OPT("--baseline-queries", bqueries)
#undef OPT
        if (!strcmp(a, "--store") && val) {
            o.store = val;
            i++;
        } else if (!strcmp(a, "--dir") && val) {
            o.dir = val;
            i++;
        } else if (!strcmp(a, "--no-baseline")) {
            o.baseline = 0;
        } else if (!strcmp(a, "--no-one-office")) {
            o.one_office = 0;
        } else if (!strcmp(a, "--measure-only")) {
            o.measure_only = 1;
        } else if (!strcmp(a, "--keep")) {
            o.keep = 1;
        } else {
            usage();
        }
    }
    if (o.offices < 2 || o.big == 0 || o.big >= o.messages || o.batch == 0 || o.batch > 10000 ||
        o.queries == 0 || o.bqueries == 0 || o.messages - o.big < o.offices - 1) {
        fprintf(stderr, "bench_scale: need 2+ offices, 0 < big < messages, every other office "
                        "a message, 1 <= batch <= 10000\n");
        return 2;
    }
    if (o.reviewed == (size_t)-1)
        o.reviewed = o.big / 5;
    if (o.reviewed > o.big)
        o.reviewed = o.big;

    char tmpl[256], dir[256], db[300], data[300], url[320];
    if (o.dir) {
        snprintf(dir, sizeof dir, "%s", o.dir);
        if (mkdir(dir, 0700) && errno != EEXIST) {
            perror(dir);
            return 2;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(tmpl, sizeof tmpl, "%s/td-bench-scale-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(tmpl)) {
            perror(tmpl);
            return 2;
        }
        snprintf(dir, sizeof dir, "%s", tmpl);
    }
    snprintf(db, sizeof db, "%s/party.db", dir);
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(url, sizeof url, "sqlite:%s", db);
    const char *store = o.store ? o.store : url;
    int sqlite = !strncmp(store, "sqlite:", 7) || !strstr(store, "://");
    const char *sqlite_path = !strncmp(store, "sqlite:", 7) ? store + 7 : store;

    printf("bench_scale: store %s; %zu offices, %zu messages (office-000: %zu), %zu cases, "
           "batches of %zu; %zu status changes; %zu queries per figure; pre-made verdicts (no "
           "model)\n",
           store, o.offices, o.messages, o.big, o.cases, o.batch, o.reviewed, o.queries);
    fflush(stdout);

    double start = now();
    struct office *of = calloc(o.offices, sizeof *of);
    int64_t *big_ids = calloc(o.big, sizeof *big_ids);
    if (!of || !big_ids)
        return 2;
    size_t rest = o.messages - o.big, others = o.offices - 1;
    of[0].want = o.big;
    for (size_t i = 1; i < o.offices; i++)
        of[i].want = rest / others + (i - 1 < rest % others);

    struct td_desk *d = open_desk(store, data);
    if (o.measure_only) {
        /* a store a previous run kept: a new caseworker of its big office */
        struct td_error err;
        char key[TD_TOKEN_SIZE];
        td_error_clear(&err);
        snprintf(of[0].user, sizeof of[0].user, "cw-m%ld", (long)time(NULL));
        if (td_desk_user_add(d, NULL, "office-000", of[0].user, TD_ROLE_CASEWORKER,
                             "bench-password-1", NULL, &err) ||
            td_desk_api_key_create(d, NULL, of[0].user, "bench", key, NULL, &err) ||
            td_desk_authenticate_key(d, key, &of[0].actor, &err))
            fail("measure-only: office-000 of the kept store", &err);
        o.one_office = 0;
    } else {
        make_offices(d, of, o.offices);
        ingest(d, of, o.offices, o.messages, o.batch, big_ids, "party");
        review(d, &of[0], big_ids, o.big, o.reviewed);
        make_cases(d, of, o.offices, o.messages, o.cases);
    }

    /* the big office's desk, as its caseworkers see it */
    const struct td_actor *a = &of[0].actor;
    struct td_queue_filter f;
    td_queue_filter_init(&f);
    queue_lat(d, a, &f, o.queries, "first page");
    f.offset = 49 * 50;
    queue_lat(d, a, &f, o.queries, "page 50");
    f.offset = 499 * 50;
    queue_lat(d, a, &f, o.queries, "page 500");
    f.offset = o.big > 50 ? o.big - 50 : 0;
    queue_lat(d, a, &f, o.queries, "last page");
    td_queue_filter_init(&f);
    f.status = TD_MSG_UNREVIEWED;
    queue_lat(d, a, &f, o.queries, "first page, status unreviewed");
    f.status = TD_MSG_ESCALATED;
    queue_lat(d, a, &f, o.queries, "first page, status escalated");
    td_queue_filter_init(&f);
    f.label = TD_LABEL_THREAT;
    queue_lat(d, a, &f, o.queries, "first page, label threat");
    td_queue_filter_init(&f);
    f.min_severity = TD_SEVERITY_HIGH;
    queue_lat(d, a, &f, o.queries, "first page, severity >= high");
    td_queue_filter_init(&f);
    f.channel = "letter";
    queue_lat(d, a, &f, o.queries, "first page, channel letter");
    td_queue_filter_init(&f);
    f.sender = "email:s3@example.org";
    queue_lat(d, a, &f, o.queries, "first page, one sender");
    td_queue_filter_init(&f);
    f.since = T0 + SPAN_S / 2;
    f.until = T0 + SPAN_S / 2 + 7 * 86400;
    queue_lat(d, a, &f, o.queries, "first page, one week");
    queue_walk(d, a);
    case_lat(d, a, o.queries);
    if (!o.measure_only)
        verify(d, "all");
    td_desk_close(d);

    if (sqlite && o.baseline)
        baseline(sqlite_path, o.bqueries);

    if (o.one_office) {
        /* One office alone in its own store: its chain is its own. */
        char db1[320], data1[320];
        snprintf(db1, sizeof db1, "sqlite:%s/one-office.db", dir);
        snprintf(data1, sizeof data1, "%s/data-one", dir);
        struct td_desk *d1 = open_desk(db1, data1);
        struct office one;
        memset(&one, 0, sizeof one);
        make_offices(d1, &one, 1);
        one.want = o.big;
        ingest(d1, &one, 1, o.big, o.batch, NULL, "office");
        verify(d1, "one office");
        td_desk_close(d1);
    }

    struct stat sb;
    if (sqlite && stat(sqlite_path, &sb) == 0)
        printf("store size    : %.2f GB (%s)\n", (double)sb.st_size / 1e9, sqlite_path);
    printf("run           : %.1f min in all\n", (now() - start) / 60);
    free(of);
    free(big_ids);
    if (!o.keep) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            return 2;
    } else {
        printf("kept          : %s\n", dir);
    }
    return 0;
}
