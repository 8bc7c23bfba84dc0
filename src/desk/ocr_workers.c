/*
 * ocr_workers.c - threads that run td_desk_work_one() in a loop over one
 * desk, sharing one OCR engine pool (desk.h "td_desk_ocr_workers").
 *
 * Each thread owns an analysis context and a name "<prefix>/<n>" (the
 * jobs' claimed_by); the pool holds `engines` Tesseract engines made once
 * at start, lent one job at a time.  The store is reached through the
 * desk's lock, so the threads share one connection; only the claim, the
 * letter's read and the finish take it, each briefly - OCR and analysis
 * run unlocked, in parallel.
 *
 * Idle: a thread that found nothing due sleeps poll_ms (woken early by
 * stop) before it claims again; with `once` it stops instead.  Stop lets
 * each thread end the job it is on: a job is never abandoned half way by
 * a clean stop (a killed process leaves it to its lease).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "desk/desk_int.h"
#include "threatdesk/ocr.h"

#define MAX_THREADS 64
#define DEFAULT_POLL_MS 1000

struct td_ocr_workers {
    struct td_desk *desk;
    struct td_ocr_workers_config cfg;
    char prefix[96];
    struct td_ocr_pool *pool; /* NULL: an engine per job (cfg.no_pool) */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    unsigned nthreads, started;
    pthread_t threads[MAX_THREADS];
    struct td_analysis_ctx *ctx[MAX_THREADS];
    struct td_ocr_workers_stats stats;
    struct td_error first_error; /* the first store failure, if any */
};

struct thread_arg {
    struct td_ocr_workers *w;
    unsigned n;
};

static void add_stats(struct td_ocr_workers *w, const struct td_work_result *r, int rc,
                      const struct td_error *e)
{
    pthread_mutex_lock(&w->lock);
    if (rc) {
        w->stats.errors++;
        if (!w->first_error.code)
            w->first_error = *e;
    } else if (!r->idle) {
        w->stats.jobs++;
        w->stats.ocr_seconds += r->ocr_seconds;
        if (r->outcome == TD_OK)
            w->stats.filed++;
        else if (r->gave_up)
            w->stats.failed++;
        else
            w->stats.retried++;
    }
    pthread_mutex_unlock(&w->lock);
}

static void *run(void *ud)
{
    struct thread_arg *a = ud;
    struct td_ocr_workers *w = a->w;
    unsigned n = a->n;
    free(a);
    char name[128];
    snprintf(name, sizeof name, "%s/%u", w->prefix, n);
    struct td_work_opts o = w->cfg.work;
    o.worker = name;
    unsigned poll = w->cfg.poll_ms ? w->cfg.poll_ms : DEFAULT_POLL_MS;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        int stop = w->stopping;
        pthread_mutex_unlock(&w->lock);
        if (stop)
            break;
        struct td_work_result r;
        struct td_error e;
        td_error_clear(&e);
        int rc = td_desk_work_one(w->desk, &o, w->pool, w->ctx[n], &r, &e);
        add_stats(w, &r, rc, &e);
        if (rc == TD_OK && !r.idle) {
            if (w->cfg.on_job)
                w->cfg.on_job(w->cfg.ud, &r);
            continue;
        }
        /* once: nothing due, or the store failed (the caller reports it) */
        if (w->cfg.once)
            break;
        /* Nothing due, or the store failed (busy, gone): wait and retry. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += poll / 1000;
        until.tv_nsec += (long)(poll % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&w->lock);
        if (!w->stopping)
            pthread_cond_timedwait(&w->wake, &w->lock, &until);
        pthread_mutex_unlock(&w->lock);
    }
    return NULL;
}

static void release(struct td_ocr_workers *w)
{
    for (unsigned i = 0; i < w->nthreads; i++)
        td_analysis_ctx_free(w->ctx[i]);
    td_ocr_pool_free(w->pool);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

int td_desk_ocr_workers_start(struct td_desk *d, const struct td_ocr_workers_config *c,
                              struct td_ocr_workers **out, struct td_error *err)
{
    *out = NULL;
    unsigned threads = c->threads ? c->threads : 1;
    unsigned engines = c->engines ? c->engines : threads;
    if (threads > MAX_THREADS || engines > MAX_THREADS)
        return td_error_set(err, TD_EINVAL, "at most %d worker threads and engines", MAX_THREADS);
    if (!d->analyser)
        return td_error_set(err, TD_EINVAL, "no analyser loaded: the workers cannot analyse");
    struct td_ocr_workers *w = calloc(1, sizeof *w);
    if (!w)
        return td_error_set(err, TD_ENOMEM, NULL);
    w->desk = d;
    w->cfg = *c;
    w->nthreads = threads;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    if (c->name && *c->name) {
        snprintf(w->prefix, sizeof w->prefix, "%.95s", c->name);
    } else {
        char host[64] = "";
        if (gethostname(host, sizeof host - 1) != 0)
            snprintf(host, sizeof host, "host");
        snprintf(w->prefix, sizeof w->prefix, "%.63s:%ld", host, (long)getpid());
    }
    w->cfg.name = NULL; /* not kept: copied into prefix */
    int rc = TD_OK;
    for (unsigned i = 0; i < threads; i++)
        if (td_analysis_ctx_new(d->analyser, &w->ctx[i]) != TD_OK) {
            rc = td_error_set(err, TD_ENOMEM, "analysis context for worker thread %u", i);
            goto fail;
        }
    if (!c->no_pool && (rc = td_ocr_pool_open(NULL, engines, &w->pool, err)))
        goto fail;
    for (unsigned i = 0; i < threads; i++) {
        struct thread_arg *a = malloc(sizeof *a);
        if (!a) {
            rc = td_error_set(err, TD_ENOMEM, NULL);
            break;
        }
        a->w = w;
        a->n = i;
        if (pthread_create(&w->threads[i], NULL, run, a) != 0) {
            free(a);
            rc = td_error_set(err, TD_ENOMEM, "cannot start worker thread %u", i);
            break;
        }
        w->started++;
    }
    if (rc) {
        td_desk_ocr_workers_stop(w);
        return rc;
    }
    /* The first set in the process is the one an accepted upload wakes. */
    td__lock(d);
    if (!d->ocr_workers)
        d->ocr_workers = w;
    td__unlock(d);
    *out = w;
    return TD_OK;
fail:
    release(w);
    return rc;
}

void td_desk_ocr_workers_wait(struct td_ocr_workers *w)
{
    if (!w)
        return;
    for (unsigned i = 0; i < w->started; i++)
        pthread_join(w->threads[i], NULL);
    w->started = 0;
}

void td_desk_ocr_workers_stats(struct td_ocr_workers *w, struct td_ocr_workers_stats *s,
                               struct td_error *first_error)
{
    pthread_mutex_lock(&w->lock);
    *s = w->stats;
    if (first_error)
        *first_error = w->first_error;
    pthread_mutex_unlock(&w->lock);
}

void td__ocr_workers_wake(struct td_ocr_workers *w)
{
    pthread_mutex_lock(&w->lock);
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

void td_desk_ocr_workers_stop(struct td_ocr_workers *w)
{
    if (!w)
        return;
    td__lock(w->desk);
    if (w->desk->ocr_workers == w)
        w->desk->ocr_workers = NULL;
    td__unlock(w->desk);
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    td_desk_ocr_workers_wait(w);
    release(w);
}
