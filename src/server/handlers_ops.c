/*
 * handlers_ops.c - operations endpoints: /healthz and /metrics.
 *
 * /healthz is public (a load balancer must reach it) and says nothing about
 * any office.  /metrics counts messages by severity - how many critical
 * threats an office receives is sensitive - so on the main listener it
 * needs an admin or security login; a Prometheus scraper gets it without
 * credentials on the separate metrics_listen address (http.c).
 */
#include <string.h>

#include "server/server_int.h"
#include "threatdesk/analyse.h"

void td__h_healthz(struct td__req *r)
{
    struct td_server *s = r->srv;
    json_t *o = json_object();
    int draining = atomic_load(&s->stopping);
    json_object_set_new(o, "status", json_string(draining ? "draining" : "ok"));
    json_object_set_new(o, "analyser", json_boolean(s->analyser != NULL));
    if (s->analyser)
        json_object_set_new(o, "model", json_string(td_analyser_model_version(s->analyser)));
    json_object_set_new(o, "desk", json_boolean(s->desk != NULL));
    td__reply(r, draining ? 503 : 200, o);
}

void td__h_metrics(struct td__req *r)
{
    struct td_server *s = r->srv;
    /* The scrape itself is in flight; report the others. */
    int inflight = atomic_load(&s->inflight) - 1;
    if (td__metrics_render(s->metrics, inflight < 0 ? 0 : inflight, &r->raw) != TD_OK) {
        td__reply_error(r, 500, NULL, -1, "metrics too large to render");
        return;
    }
    r->status = 200;
    r->raw_type = "text/plain; version=0.0.4; charset=utf-8";
}
