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
 * ("event: reload").  Every 5 s a stream also looks at the queue itself
 * (poll_store) to catch what other processes filed ("event: queue").  A comment line every 15 s
 * keeps proxies from closing an idle stream; the stream ends when the server drains.
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
    /* The poll (see poll_store): the session it re-checks, and what the
     * queue looked like at the last look. */
    char token[72];
    uint64_t last_poll_ns;
    int64_t total, top;
};

#define POLL_NS (5ull * 1000000000ull)

/* Messages filed by another process (`threatdesk fetch`, `import`) never
 * pass the bus, so every POLL_NS the stream looks at the queue itself: the
 * number unreviewed and the one on top (one indexed count, one row).  The
 * session is checked again at the same time, so a stream of a user logged
 * out or disabled ends within POLL_NS.  Returns -1 to end the stream, 1
 * when the queue changed (top/sev filled), 0 otherwise. */
static int poll_store(struct stream *st, int64_t *top, int *sev)
{
    struct td_actor actor;
    struct td_error err;
    struct td_queue_filter f;
    json_t *out = NULL;
    td_error_clear(&err);
    if (!st->srv->desk || td_desk_authenticate(st->srv->desk, st->token, &actor, &err) != TD_OK)
        return -1;
    td_queue_filter_init(&f);
    f.status = TD_MSG_UNREVIEWED;
    f.limit = 1;
    if (td_desk_queue(st->srv->desk, &actor, &f, &out, &err) != TD_OK)
        return 0; /* busy or failing store: try again next time */
    json_t *m = json_array_get(json_object_get(out, "messages"), 0);
    int64_t total = (int64_t)json_integer_value(json_object_get(out, "total"));
    *top = m ? (int64_t)json_integer_value(json_object_get(m, "id")) : 0;
    *sev = m ? td_severity_from_name(json_string_value(json_object_get(m, "severity"))) : 0;
    json_decref(out);
    int changed = st->last_poll_ns && (total != st->total || *top != st->top);
    st->total = total;
    st->top = *top;
    st->last_poll_ns = td__now_ns();
    return changed;
}

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
        if (td__now_ns() - st->last_poll_ns > POLL_NS) {
            int64_t top = 0;
            int sev = 0;
            int p = poll_store(st, &top, &sev);
            if (p < 0)
                return MHD_CONTENT_READER_END_OF_STREAM;
            if (p > 0) {
                const char *sn = td_severity_name(sev);
                int n = snprintf(line, sizeof line,
                                 "event: queue\ndata: {\"top\":%lld,\"severity\":\"%s\"}\n\n",
                                 (long long)top, sn ? sn : "none");
                st->last_write_ns = td__now_ns();
                if (n > 0 && (size_t)n <= max) {
                    memcpy(buf, line, (size_t)n);
                    return (ssize_t)n;
                }
            }
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
    snprintf(st->token, sizeof st->token, "%s", r->caller.token);
    int64_t top;
    int sev;
    poll_store(st, &top, &sev); /* the baseline */
    pthread_mutex_lock(&b->lock);
    st->last = b->seq; /* only what arrives from now on */
    pthread_mutex_unlock(&b->lock);
    r->stream = stream_read;
    r->stream_cls = st;
    r->stream_free = stream_free;
    r->status = 200;
}
