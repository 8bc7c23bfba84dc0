/*
 * verdict_json.c - a verdict as the JSON object `scan --json`, the desk and
 * the server print (shape documented in analyse.h).  Kept apart from the
 * decision layer because it is the output path's hot spot, not a decision.
 */
#include "threatdesk/analyse.h"

#include <jansson.h>

json_t *td_verdict_to_json(const struct td_verdict *v, const char *text, size_t len)
{
    json_t *o = json_object();
    json_t *labels = json_object(), *pred = json_array(), *flags = json_array(),
           *spans = json_array();
    if (!o || !labels || !pred || !flags || !spans)
        goto fail;
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        /* four decimals: enough to rank, stable to print */
        double p = (double)(long)((double)v->prob[l] * 10000.0 + 0.5) / 10000.0;
        json_object_set_new(labels, td_label_name(l), json_real(p));
        if (v->labels & (1u << l))
            json_array_append_new(pred, json_string(td_label_name(l)));
    }
    for (int b = 0; b < TD_FLAG_COUNT; b++)
        if (v->flags & (1u << b))
            json_array_append_new(flags, json_string(td_flag_name(b)));
    for (size_t i = 0; i < v->nspans; i++) {
        const struct td_span *s = &v->spans[i];
        json_t *js = json_pack("{s:I,s:I,s:s,s:s,s:s}", "start", (json_int_t)s->start, "end",
                               (json_int_t)s->end, "label", td_label_name(s->label), "source",
                               td_source_name(s->source), "rule", s->rule ? s->rule : "");
        if (!js)
            goto fail;
        if (text && s->end <= len) {
            /* json_stringn refuses invalid UTF-8: such a span gets no "text" */
            json_t *t = json_stringn(text + s->start, s->end - s->start);
            if (t)
                json_object_set_new(js, "text", t);
        }
        json_array_append_new(spans, js);
    }
    json_object_set_new(o, "labels", labels);
    json_object_set_new(o, "predicted", pred);
    json_object_set_new(o, "severity", json_string(td_severity_name(v->severity)));
    json_object_set_new(o, "flags", flags);
    json_object_set_new(o, "spans", spans);
    json_object_set_new(o, "reason", json_string(v->reason));
    json_object_set_new(o, "model", json_string(v->model_version ? v->model_version : ""));
    if (v->invalid_utf8)
        json_object_set_new(o, "invalid_utf8", json_integer((json_int_t)v->invalid_utf8));
    if (v->possible_threat)
        json_object_set_new(o, "possible_threat", json_true());
    return o;
fail:
    json_decref(o);
    json_decref(labels);
    json_decref(pred);
    json_decref(flags);
    json_decref(spans);
    return NULL;
}
