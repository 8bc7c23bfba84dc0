/*
 * metrics.c - Prometheus counters for the desk, lock-free.
 *
 * Labels are bounded by construction: the route label is the route
 * *pattern* from the table ("/v1/cases/{id}"), never the raw path, and
 * statuses fall into a fixed list of slots, so a scanner hammering random
 * URLs cannot grow memory.  Every counter is a relaxed atomic; a scrape sees
 * each value at some recent instant, which is all Prometheus asks.
 *
 * Exposed (text format 0.0.4):
 *   threatdesk_http_requests_total{route,method,status}        counter
 *   threatdesk_http_request_duration_seconds{route} histogram
 *   threatdesk_http_requests_in_flight                          gauge
 *   threatdesk_messages_ingested_total{severity}                counter
 */
#include <stdlib.h>
#include <string.h>

#include "server/server_int.h"
#include "threatdesk/taxonomy.h"

static const unsigned status_slots[] = {200, 201, 202, 204, 400, 401, 403, 404,
                                        405, 409, 413, 415, 422, 429, 500, 503};
#define NSTATUS (sizeof status_slots / sizeof status_slots[0] + 1) /* + "other" */

/* Upper bounds in seconds. */
static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

struct route_stats {
    atomic_uint_fast64_t status[NSTATUS];
    atomic_uint_fast64_t bucket[NBUCKETS + 1]; /* last = +Inf */
    atomic_uint_fast64_t sum_ns;
    atomic_uint_fast64_t count;
};

struct td__metrics {
    size_t nroutes;
    struct route_stats *routes; /* [nroutes + 1]; the last is "unmatched" */
    atomic_uint_fast64_t ingested[TD_SEVERITY_COUNT];
};

struct td__metrics *td__metrics_new(size_t nroutes)
{
    struct td__metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->nroutes = nroutes;
    m->routes = calloc(nroutes + 1, sizeof *m->routes);
    if (!m->routes) {
        free(m);
        return NULL;
    }
    /* calloc'd memory is a valid zero for atomic_uint_fast64_t on every
     * platform we build for; atomic_init keeps the standard happy anyway. */
    for (size_t i = 0; i <= nroutes; i++) {
        for (size_t j = 0; j < NSTATUS; j++)
            atomic_init(&m->routes[i].status[j], 0);
        for (size_t j = 0; j <= NBUCKETS; j++)
            atomic_init(&m->routes[i].bucket[j], 0);
        atomic_init(&m->routes[i].sum_ns, 0);
        atomic_init(&m->routes[i].count, 0);
    }
    for (size_t i = 0; i < TD_SEVERITY_COUNT; i++)
        atomic_init(&m->ingested[i], 0);
    return m;
}

void td__metrics_free(struct td__metrics *m)
{
    if (!m)
        return;
    free(m->routes);
    free(m);
}

static size_t status_slot(unsigned status)
{
    for (size_t i = 0; i < NSTATUS - 1; i++)
        if (status_slots[i] == status)
            return i;
    return NSTATUS - 1;
}

void td__metrics_request(struct td__metrics *m, int route_index, unsigned status,
                         uint64_t duration_ns)
{
    if (!m)
        return;
    size_t ri =
        route_index < 0 || (size_t)route_index >= m->nroutes ? m->nroutes : (size_t)route_index;
    struct route_stats *rs = &m->routes[ri];
    atomic_fetch_add_explicit(&rs->status[status_slot(status)], 1, memory_order_relaxed);
    double secs = (double)duration_ns / 1e9;
    size_t b = 0;
    while (b < NBUCKETS && secs > buckets[b])
        b++;
    atomic_fetch_add_explicit(&rs->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rs->sum_ns, duration_ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&rs->count, 1, memory_order_relaxed);
}

void td__metrics_ingested(struct td__metrics *m, int severity)
{
    if (!m || severity < 0 || severity >= TD_SEVERITY_COUNT)
        return;
    atomic_fetch_add_explicit(&m->ingested[severity], 1, memory_order_relaxed);
}

static uint64_t load(atomic_uint_fast64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

int td__metrics_render(struct td__metrics *m, int inflight, struct td_buf *out)
{
    int rc = TD_OK;
#define P(...)                                                                                     \
    do {                                                                                           \
        if ((rc = td_buf_printf(out, __VA_ARGS__)) != TD_OK)                                       \
            return rc;                                                                             \
    } while (0)

    P("# HELP threatdesk_http_requests_total HTTP requests answered, by route pattern, "
      "method and status.\n# TYPE threatdesk_http_requests_total counter\n");
    for (size_t i = 0; i <= m->nroutes; i++) {
        const char *route = i < m->nroutes ? td__routes[i].pattern : "unmatched";
        const char *method = i < m->nroutes ? td__routes[i].method : "";
        for (size_t j = 0; j < NSTATUS; j++) {
            uint64_t v = load(&m->routes[i].status[j]);
            if (!v)
                continue;
            if (j < NSTATUS - 1)
                P("threatdesk_http_requests_total{route=\"%s\",method=\"%s\",status=\"%u\"} "
                  "%llu\n",
                  route, method, status_slots[j], (unsigned long long)v);
            else
                P("threatdesk_http_requests_total{route=\"%s\",method=\"%s\",status=\"other\"} "
                  "%llu\n",
                  route, method, (unsigned long long)v);
        }
    }

    P("# HELP threatdesk_http_request_duration_seconds Time from the request line to the "
      "response being queued.\n# TYPE threatdesk_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i <= m->nroutes; i++) {
        struct route_stats *rs = &m->routes[i];
        uint64_t count = load(&rs->count);
        if (!count)
            continue;
        const char *route = i < m->nroutes ? td__routes[i].pattern : "unmatched";
        const char *method = i < m->nroutes ? td__routes[i].method : "";
        uint64_t cum = 0;
        for (size_t b = 0; b < NBUCKETS; b++) {
            cum += load(&rs->bucket[b]);
            P("threatdesk_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\","
              "le=\"%g\"} %llu\n",
              route, method, buckets[b], (unsigned long long)cum);
        }
        cum += load(&rs->bucket[NBUCKETS]);
        P("threatdesk_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",le=\"+Inf\"}"
          " %llu\n",
          route, method, (unsigned long long)cum);
        P("threatdesk_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %.9f\n", route,
          method, (double)load(&rs->sum_ns) / 1e9);
        P("threatdesk_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} %llu\n",
          route, method, (unsigned long long)cum);
    }

    P("# HELP threatdesk_http_requests_in_flight Requests being handled now.\n"
      "# TYPE threatdesk_http_requests_in_flight gauge\n"
      "threatdesk_http_requests_in_flight %d\n",
      inflight);

    P("# HELP threatdesk_messages_ingested_total Messages committed to the store, by severity "
      "of their verdict.\n# TYPE threatdesk_messages_ingested_total counter\n");
    for (int s = 0; s < TD_SEVERITY_COUNT; s++)
        P("threatdesk_messages_ingested_total{severity=\"%s\"} %llu\n", td_severity_name(s),
          (unsigned long long)load(&m->ingested[s]));
#undef P
    return rc;
}
