/*
 * events.c - live arrivals: Server-Sent Events from the ingest handlers to
 * the office's open queue pages.
 *
 * The bus is a ring of the last RING events, each {seq, office, message,
 * severity}, under one mutex and condition variable.  An ingest handler
 * (handlers_ingest.c) calls td__web_notify after the desk committed; every
 * open /events stream waits on the condition, wakes, and writes the events
 * of ITS office newer than the last it sent:
 *     event: message
 *     data: {"id": 42, "severity": "critical"}
 * Only ids and severities travel - never text, sender or subject: the page
 * fetches the queue rows it shows through the normal, checked page route.
 * A stream that falls more than RING events behind is told to reload
 * ("event: reload").  A comment line every 15 s keeps proxies from closing
 * an idle stream; the stream ends when the server drains.
 *
 * libmicrohttpd runs one thread per connection here, so the reader
 * callback may block; it waits at most 1 s at a time to notice shutdown.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "threatdesk/taxonomy.h"
#include "web/web_int.h"

#define RING 256

struct ev {
    uint64_t seq;
    int64_t office, message;
    int severity;
};

struct td__web_bus {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t seq; /* of the newest event; 0 = none yet */
    struct ev ring[RING];
};

struct td__web_bus *td__web_bus_of(struct td_server *s); /* web.c */

struct td__web_bus *td__web_bus_new(void)
{
    struct td__web_bus *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, &ca);
    pthread_condattr_destroy(&ca);
    return b;
}

void td__web_bus_free(struct td__web_bus *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cond);
    free(b);
}

void td__web_notify(struct td_server *s, int64_t office_id, int64_t message_id, int severity)
{
    struct td__web_bus *b = td__web_bus_of(s);
    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    b->seq++;
    b->ring[b->seq % RING] = (struct ev){b->seq, office_id, message_id, severity};
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

/* One open stream. */
struct stream {
    struct td_server *srv;
    int64_t office;
    uint64_t last; /* seq of the last event considered */
    uint64_t last_write_ns;
    int greeted;
};

static void stream_free(void *cls)
{
    free(cls);
}

/* Write what fits of src into buf; returns bytes or 0. */
static size_t put(char *buf, size_t max, const char *src)
{
    size_t n = strlen(src);
    if (n > max)
        return 0;
    memcpy(buf, src, n);
    return n;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *st = cls;
    struct td__web_bus *b = td__web_bus_of(st->srv);
    char line[160];
    (void)pos;
    if (!st->greeted) {
        st->greeted = 1;
        st->last_write_ns = td__now_ns();
        /* retry: how long the browser waits before reconnecting */
        return (ssize_t)put(buf, max, "retry: 2000\n: connected\n\n");
    }
    for (;;) {
        if (atomic_load(&st->srv->stopping) || !b)
            return MHD_CONTENT_READER_END_OF_STREAM;
        size_t out = 0;
        pthread_mutex_lock(&b->lock);
        if (b->seq == st->last) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&b->cond, &b->lock, &ts);
        }
        if (b->seq > st->last + RING) {
            /* Fell behind the ring: the page reloads its rows. */
            st->last = b->seq;
            out = put(buf, max, "event: reload\ndata: {}\n\n");
        }
        while (st->last < b->seq) {
            const struct ev *e = &b->ring[(st->last + 1) % RING];
            if (e->office == st->office) {
                const char *sev = td_severity_name(e->severity);
                int n = snprintf(line, sizeof line,
                                 "event: message\ndata: {\"id\":%lld,\"severity\":\"%s\"}\n\n",
                                 (long long)e->message, sev ? sev : "none");
                if (n < 0 || out + (size_t)n > max)
                    break; /* the rest goes in the next call */
                memcpy(buf + out, line, (size_t)n);
                out += (size_t)n;
            }
            st->last++;
        }
        pthread_mutex_unlock(&b->lock);
        if (out) {
            st->last_write_ns = td__now_ns();
            return (ssize_t)out;
        }
        if (td__now_ns() - st->last_write_ns > 15ull * 1000000000ull) {
            st->last_write_ns = td__now_ns();
            return (ssize_t)put(buf, max, ": keep-alive\n\n");
        }
    }
}

void td__w_events(struct td__req *r)
{
    struct td__web_bus *b = td__web_bus_of(r->srv);
    struct stream *st = calloc(1, sizeof *st);
    if (!st || !b) {
        free(st);
        td__web_error(r, 503, "Live updates are not available.");
        return;
    }
    st->srv = r->srv;
    st->office = r->caller.office_id;
    pthread_mutex_lock(&b->lock);
    st->last = b->seq; /* only what arrives from now on */
    pthread_mutex_unlock(&b->lock);
    r->stream = stream_read;
    r->stream_cls = st;
    r->stream_free = stream_free;
    r->status = 200;
}
