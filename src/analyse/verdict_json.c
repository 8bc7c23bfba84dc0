/*
 * verdict_json.c - a verdict as the JSON object `scan --json`, the desk and
 * the server print (shape documented in analyse.h).  Kept apart from the
 * decision layer because it is the output path's hot spot, not a decision.
 *
 * Why it is written this way: building jansson values was a third of
 * `scan --json` time.  json_pack parses its format string on every call, and
 * json_object_set_new / json_string validate every key and value as UTF-8.
 * Keys and the taxonomy, severity and source names here are fixed ASCII, so
 * they go in with the *_nocheck variants; only text that came from outside
 * (span text, the reason, the model version) is validated.  Probabilities
 * are rounded to four decimals here so that a dump with
 * JSON_REAL_PRECISION(5) or more prints them exactly ("0.0582", not
 * "0.058200000000000002").
 */
#include "threatdesk/analyse.h"

#include <jansson.h>
#include <string.h>

/* A fixed ASCII name (taxonomy, severity, source): no UTF-8 check needed. */
static json_t *name(const char *s)
{
    return json_stringn_nocheck(s, strlen(s));
}

/* Set a literal ASCII key; `v` is stolen (NULL is an allocation failure). */
static int put(json_t *o, const char *key, json_t *v)
{
    return v ? json_object_set_new_nocheck(o, key, v) : -1;
}

static json_t *span_json(const struct td_span *s, const char *text, size_t len)
{
    json_t *js = json_object();
    if (!js)
        return NULL;
    int rc = put(js, "start", json_integer((json_int_t)s->start));
    rc |= put(js, "end", json_integer((json_int_t)s->end));
    rc |= put(js, "label", name(td_label_name(s->label)));
    rc |= put(js, "source", name(td_source_name(s->source)));
    rc |= put(js, "rule", json_string(s->rule ? s->rule : ""));
    if (text && s->start <= s->end && s->end <= len) {
        /* json_stringn refuses invalid UTF-8: such a span gets no "text" */
        json_t *t = json_stringn(text + s->start, s->end - s->start);
        if (t)
            rc |= put(js, "text", t);
    }
    if (rc) {
        json_decref(js);
        return NULL;
    }
    return js;
}

json_t *td_verdict_to_json(const struct td_verdict *v, const char *text, size_t len)
{
    json_t *o = json_object();
    json_t *labels = json_object(), *pred = json_array(), *flags = json_array(),
           *spans = json_array();
    int rc = !o || !labels || !pred || !flags || !spans;
    for (int l = 0; l < TD_LABEL_COUNT && !rc; l++) {
        /* four decimals: enough to rank, stable to print */
        double p = (double)(long)((double)v->prob[l] * 10000.0 + 0.5) / 10000.0;
        rc |= put(labels, td_label_name(l), json_real(p));
        if (v->labels & (1u << l))
            rc |= json_array_append_new(pred, name(td_label_name(l)));
    }
    for (int b = 0; b < TD_FLAG_COUNT && !rc; b++)
        if (v->flags & (1u << b))
            rc |= json_array_append_new(flags, name(td_flag_name(b)));
    for (size_t i = 0; i < v->nspans && !rc; i++)
        rc |= json_array_append_new(spans, span_json(&v->spans[i], text, len));
    if (rc)
        goto fail;
    /* the object takes the four containers; from here only o is freed */
    rc = put(o, "labels", labels);
    rc |= put(o, "predicted", pred);
    rc |= put(o, "severity", name(td_severity_name(v->severity)));
    rc |= put(o, "flags", flags);
    rc |= put(o, "spans", spans);
    labels = pred = flags = spans = NULL;
    rc |= put(o, "reason", json_string(v->reason));
    rc |= put(o, "model", json_string(v->model_version ? v->model_version : ""));
    if (v->invalid_utf8)
        rc |= put(o, "invalid_utf8", json_integer((json_int_t)v->invalid_utf8));
    if (v->possible_threat)
        rc |= put(o, "possible_threat", json_true());
    if (rc)
        goto fail;
    return o;
fail:
    json_decref(o);
    json_decref(labels);
    json_decref(pred);
    json_decref(flags);
    json_decref(spans);
    return NULL;
}
