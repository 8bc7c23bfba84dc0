/*
 * cmd_worker.c - `threatdesk worker`: OCR, analyse and file the scanned
 * letters queued by the server (desk.h "scanned letters").
 *
 * Any number of worker processes, on any number of machines that reach
 * the store, share its queue: a job is claimed by one worker at a time
 * under a lease (--lease), so a worker killed mid-letter delays that
 * letter by the lease and loses nothing.  Each process runs --threads
 * threads over one pool of --engines OCR engines made once at start (the
 * Tesseract start is paid once per engine, not once per letter);
 * --no-pool makes a new engine per letter instead, the old way, kept for
 * the benchmark (bench/bench_ocr_queue.sh).
 *
 * --once: work until nothing is due, then exit (cron, tests, benchmarks);
 * otherwise run until SIGTERM/SIGINT, each thread ending the letter it is
 * on.  --enqueue FILE...: queue scans as the local operator of --office
 * (what the server does for an upload) and exit, for piles of scans and
 * for tests.
 *
 * stdout: one line per job ("job J upload U office O: filed message M" or
 * "...: failed (will retry|for good): why") and a summary line with the
 * jobs per second.  Exit status: 0; 1 when some letter failed for good;
 * 2 usage, desk or analyser failure.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/desk_open.h"
#include "threatdesk/analyse.h"
#include "threatdesk/desk.h"
#include "threatdesk/pipeline.h"
#include "threatdesk/ocr.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: threatdesk worker [options]\n"
               "       threatdesk worker --enqueue [--office NAME] FILE...\n"
               "  --db PATH          the desk's store (default $THREATDESK_DB, threatdesk.db)\n"
               "  --data-dir DIR     evidence directory (default $THREATDESK_DATA_DIR)\n"
               "  --threads N        worker threads (default 1)\n"
               "  --engines N        OCR engines in the pool (default: one per thread)\n"
               "  --no-pool          a new OCR engine per letter (baseline; slower)\n"
               "  --once             work until nothing is due, then exit\n"
               "  --name NAME        this worker's name in the queue (default host:pid)\n"
               "  --lease SECONDS    how long a claim holds (default 600)\n"
               "  --attempts N       tries before a letter fails for good (default 3)\n"
               "  --retry SECONDS    wait before the first retry, doubling (default 30)\n"
               "  --poll-ms MS       idle wait between claims (default 1000)\n"
               "  --quiet            only the summary line\n"
               "  --enqueue          queue FILE... (scans) for --office and exit\n"
               "  --office NAME      the office --enqueue files for (default \"default\")\n"
               "  --model FILE       model file (default <home>/models/threatdesk.model)\n"
               "  --home DIR         threatdesk home (data/, models/)\n");
}

struct run {
    int quiet;
    unsigned long gave_up;
};

static void on_job(void *ud, const struct td_work_result *r)
{
    struct run *R = ud;
    if (r->outcome != TD_OK && r->gave_up)
        __atomic_add_fetch(&R->gave_up, 1, __ATOMIC_RELAXED);
    if (R->quiet)
        return;
    if (r->outcome == TD_OK)
        printf("job %lld upload %lld office %lld: filed message %lld%s (OCR %.2f s)\n",
               (long long)r->job_id, (long long)r->upload_id, (long long)r->office_id,
               (long long)r->message_id, r->duplicate ? " (already filed)" : "", r->ocr_seconds);
    else
        printf("job %lld upload %lld office %lld: failed %s: %s: %s\n", (long long)r->job_id,
               (long long)r->upload_id, (long long)r->office_id,
               r->gave_up ? "for good" : "(will retry)", td_errname(r->outcome), r->error);
    fflush(stdout);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --enqueue: each file kept and queued as the server would. */
static int enqueue(struct td_desk *desk, const char *office, char **files, int n)
{
    struct td_actor actor;
    struct td_error err;
    int bad = 0;
    td_error_clear(&err);
    if (td_desk_operator(desk, office, &actor, &err)) {
        td_cli_error("worker", &err);
        return 2;
    }
    for (int i = 0; i < n; i++) {
        FILE *f = fopen(files[i], "rb");
        char *buf = NULL;
        size_t len = 0, cap = 0;
        if (!f) {
            td_cli_fail("worker", "%s: cannot open", files[i]);
            bad = 1;
            continue;
        }
        for (;;) {
            if (len == cap) {
                if (cap >= TD_UPLOAD_MAX_BYTES + 1)
                    break; /* the desk refuses it with the figures */
                size_t ncap = cap ? cap * 2 : 65536;
                char *nb = realloc(buf, ncap);
                if (!nb)
                    break;
                buf = nb;
                cap = ncap;
            }
            size_t got = fread(buf + len, 1, cap - len, f);
            if (got == 0)
                break;
            len += got;
        }
        fclose(f);
        const char *base = strrchr(files[i], '/');
        struct td_upload_result res;
        td_error_clear(&err);
        if (td_desk_upload_accept(desk, &actor, buf, len, base ? base + 1 : files[i], NULL,
                                  INT64_MIN, &res, &err) != TD_OK) {
            td_error_at(&err, files[i], 0, 0);
            td_cli_error("worker", &err);
            bad = 1;
        } else {
            printf("%s: queued upload %lld job %lld\n", files[i], (long long)res.id,
                   (long long)res.job_id);
        }
        free(buf);
    }
    return bad;
}

int td_cmd_worker(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},       {"data-dir", required_argument, NULL, 'D'},
        {"threads", required_argument, NULL, 't'},  {"engines", required_argument, NULL, 'e'},
        {"no-pool", no_argument, NULL, 'N'},        {"once", no_argument, NULL, '1'},
        {"name", required_argument, NULL, 'n'},     {"lease", required_argument, NULL, 'l'},
        {"attempts", required_argument, NULL, 'a'}, {"retry", required_argument, NULL, 'r'},
        {"poll-ms", required_argument, NULL, 'p'},  {"quiet", no_argument, NULL, 'q'},
        {"enqueue", no_argument, NULL, 'E'},        {"office", required_argument, NULL, 'o'},
        {"model", required_argument, NULL, 'M'},    {"home", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *data = NULL, *home = NULL, *model = NULL, *office = "default";
    struct td_ocr_workers_config wc = {0};
    struct run R = {0};
    size_t v;
    int c, enq = 0, status = 2;
    struct td_desk *desk = NULL;
    struct td_analyser *an = NULL;
    struct td_analysis_ctx *ctx = NULL;
    struct td_ocr_workers *w = NULL;
    struct td_error err;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'D':
            data = optarg;
            break;
        case 't':
            if (td_cli_positive("worker", optarg, 64, "--threads must be 1..64", &v))
                return 2;
            wc.threads = (unsigned)v;
            break;
        case 'e':
            if (td_cli_positive("worker", optarg, 64, "--engines must be 1..64", &v))
                return 2;
            wc.engines = (unsigned)v;
            break;
        case 'N':
            wc.no_pool = 1;
            break;
        case '1':
            wc.once = 1;
            break;
        case 'n':
            wc.name = optarg;
            break;
        case 'l':
            if (td_cli_positive("worker", optarg, 86400, "--lease must be 1..86400 seconds", &v))
                return 2;
            wc.work.lease_s = (unsigned)v;
            break;
        case 'a':
            if (td_cli_positive("worker", optarg, 100, "--attempts must be 1..100", &v))
                return 2;
            wc.work.max_attempts = (unsigned)v;
            break;
        case 'r':
            if (td_cli_positive("worker", optarg, 86400, "--retry must be 1..86400 seconds", &v))
                return 2;
            wc.work.retry_s = (unsigned)v;
            break;
        case 'p':
            if (td_cli_positive("worker", optarg, 60000, "--poll-ms must be 1..60000", &v))
                return 2;
            wc.poll_ms = (unsigned)v;
            break;
        case 'q':
            R.quiet = 1;
            break;
        case 'E':
            enq = 1;
            break;
        case 'o':
            office = optarg;
            break;
        case 'M':
            model = optarg;
            break;
        case 'H':
            home = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (enq != (optind < argc)) {
        usage(stderr);
        return 2;
    }
    if (wc.name && strlen(wc.name) > 90) {
        td_cli_fail("worker", "--name is at most 90 bytes");
        return 2;
    }
    td_error_clear(&err);
    if (enq) {
        if (td_cli_open_desk("worker", db, data, home, &desk))
            return 2;
        status = enqueue(desk, office, argv + optind, argc - optind);
        td_desk_close(desk);
        return status;
    }

    /* The shutdown signals are taken by sigwait() below, not by a handler
     * in whichever thread: blocked before any thread exists. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (!wc.once)
        pthread_sigmask(SIG_BLOCK, &set, NULL);

    if (td_cli_open_analyser("worker", home, model, &an, &ctx))
        return 2;
    struct td_desk_opts o;
    td_desk_opts_init(&o);
    o.db = td_cli_db(db);
    o.data_dir = td_cli_data_dir(data);
    o.home = td_cli_home(home);
    o.analyser = an;
    if (td_desk_open(&o, &desk, &err) != TD_OK) {
        td_cli_error("worker", &err);
        goto out;
    }
    wc.on_job = on_job;
    wc.ud = &R;
    double t0 = now_s();
    if (td_desk_ocr_workers_start(desk, &wc, &w, &err) != TD_OK) {
        td_cli_error("worker", &err);
        goto out;
    }
    double t1 = now_s();
    if (wc.once) {
        td_desk_ocr_workers_wait(w);
    } else {
        int sig = 0;
        sigwait(&set, &sig);
    }
    double t2 = now_s();
    struct td_ocr_workers_stats st;
    struct td_error first;
    td_error_clear(&first);
    td_desk_ocr_workers_stats(w, &st, &first);
    td_desk_ocr_workers_stop(w);
    w = NULL;
    double wall = t2 - t1;
    printf("worker: %lu jobs (%lu filed, %lu failed for good, %lu to retry) in %.2f s: %.2f "
           "jobs/s; OCR %.2f s; %u thread%s, %s; start %.2f s\n",
           st.jobs, st.filed, st.failed, st.retried, wall, wall > 0 ? st.jobs / wall : 0.0,
           st.ocr_seconds, wc.threads ? wc.threads : 1, wc.threads > 1 ? "s" : "",
           wc.no_pool ? "a new engine per job" : "pooled engines", t1 - t0);
    if (st.errors) {
        td_cli_error("worker", &first);
        status = 2;
        goto out;
    }
    status = R.gave_up ? 1 : 0;
out:
    td_desk_ocr_workers_stop(w);
    td_desk_close(desk);
    td_analysis_ctx_free(ctx);
    td_analyser_free(an);
    return status;
}
