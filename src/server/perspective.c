/*
 * perspective.c - POST /v1alpha1/comments:analyze, the Perspective API
 * shape over threatdesk's own analysis, so tools written for Google's
 * hosted service can switch to a private, offline one by changing a URL.
 *
 * Request (the public v1alpha1 AnalyzeCommentRequest):
 *   {"comment": {"text": "...", "type": "PLAIN_TEXT"},
 *    "requestedAttributes": {"THREAT": {}, "TOXICITY": {"scoreThreshold": 0.5}},
 *    "languages": ["en"], "spanAnnotations": true, "doNotStore": true,
 *    "clientToken": "..."}
 * Response:
 *   {"attributeScores": {"THREAT": {
 *        "summaryScore": {"value": 0.93, "type": "PROBABILITY"},
 *        "spanScores": [{"begin": 0, "end": 42,
 *                        "score": {"value": 0.93, "type": "PROBABILITY"}}]}},
 *    "languages": ["en"], "clientToken": "..."}
 *
 * The mapping from our labels (documented in docs/openapi.yaml too):
 *   THREAT            = p(threat)
 *   IDENTITY_ATTACK   = p(identity_hate)
 *   INSULT            = p(abuse)
 *   SEXUALLY_EXPLICIT = p(sexual)
 *   FLIRTATION        = p(sexual)       (closest label we have; approximate)
 *   TOXICITY          = max(p(abuse), p(identity_hate), p(threat), p(sexual))
 *   PROFANITY         = the noisy-OR of the weights of the obscene words in
 *                       the normalised text (data/perspective/profanity.txt:
 *                       "You are a fucking idiot" 0.95, "You are an idiot"
 *                       no more than p(abuse) / 10 - an insult without an
 *                       obscenity is not profanity)
 *   SEVERE_TOXICITY   = max(p(threat), p(identity_hate), p(abuse)) scaled
 *                       by our severity tier: none .2, low .4, medium .6,
 *                       high .9, critical 1
 * A Perspective attribute we do not model (SPAM, which the npm client asks
 * for by default, ATTACK_ON_AUTHOR, the *_EXPERIMENTAL ones...) is refused
 * the way the real API refuses an attribute for a language it does not
 * serve: 400 INVALID_ARGUMENT "Attribute SPAM does not support request
 * languages: en" with a details[] entry of errorType
 * LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE.  A name Perspective does not know is
 * 400 INVALID_ARGUMENT "Unknown attribute".
 *
 * Languages: only English is modelled.  A request naming other languages is
 * refused as above; a request naming none has its language detected
 * (perspective_lex.c, data/perspective/languages.txt) and answered in
 * "detectedLanguages"; a comment detected as another language is refused
 * rather than scored as if it were English ("und", too little to tell, is
 * scored as English).
 *
 * comment.type HTML: the markup is turned into text by the e-mail reader's
 * converter (td_email_html_to_text: libxml2, entities decoded), and that text
 * is analysed; span offsets refer to it.
 *
 * Offsets: our spans are byte offsets into the UTF-8 text; Perspective's
 * begin/end are UTF-16 code units ("the UTF-16 codepoint range", end
 * exclusive) - what JavaScript's String.slice uses.  td__utf16_offset()
 * converts: a 4-byte UTF-8 sequence (outside the BMP) is two units, any
 * other character one.
 *
 * doNotStore: this endpoint never stores anything, whatever the flag says.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/perspective_int.h"
#include "server/server_int.h"
#include "threatdesk/analyse.h"
#include "threatdesk/email.h"

#define HTML_TEXT_MAX (1u << 20)
#define PROF_SPANS 64

enum attr_kind {
    A_TOXICITY,
    A_SEVERE_TOXICITY,
    A_IDENTITY_ATTACK,
    A_INSULT,
    A_PROFANITY,
    A_THREAT,
    A_SEXUALLY_EXPLICIT,
    A_FLIRTATION,
};

#define LB(l) (1u << TD_LABEL_##l)

static const struct {
    const char *name;
    enum attr_kind kind;
    unsigned span_labels; /* spans with these labels explain the attribute */
} attrs[] = {
    {"TOXICITY", A_TOXICITY, LB(ABUSE) | LB(IDENTITY_HATE) | LB(THREAT) | LB(SEXUAL)},
    {"SEVERE_TOXICITY", A_SEVERE_TOXICITY, LB(ABUSE) | LB(IDENTITY_HATE) | LB(THREAT)},
    {"IDENTITY_ATTACK", A_IDENTITY_ATTACK, LB(IDENTITY_HATE)},
    {"INSULT", A_INSULT, LB(ABUSE)},
    {"PROFANITY", A_PROFANITY, LB(ABUSE)},
    {"THREAT", A_THREAT, LB(THREAT)},
    {"SEXUALLY_EXPLICIT", A_SEXUALLY_EXPLICIT, LB(SEXUAL)},
    {"FLIRTATION", A_FLIRTATION, LB(SEXUAL)},
};
#define NATTRS (sizeof attrs / sizeof attrs[0])

static int find_attr(const char *name)
{
    for (size_t i = 0; i < NATTRS; i++)
        if (!strcmp(attrs[i].name, name))
            return (int)i;
    return -1;
}

/* Attributes the hosted Perspective API defines that we do not model.  They
 * are the API's vocabulary (like attrs[] above), not a lexicon. */
static int perspective_knows(const char *name)
{
    static const char *const other[] = {
        "SPAM",
        "ATTACK_ON_AUTHOR",
        "ATTACK_ON_COMMENTER",
        "INCOHERENT",
        "INFLAMMATORY",
        "LIKELY_TO_REJECT",
        "OBSCENE",
        "UNSUBSTANTIAL",
        "TOXICITY_EXPERIMENTAL",
        "SEVERE_TOXICITY_EXPERIMENTAL",
        "IDENTITY_ATTACK_EXPERIMENTAL",
        "INSULT_EXPERIMENTAL",
        "PROFANITY_EXPERIMENTAL",
        "THREAT_EXPERIMENTAL",
        "SEXUALLY_EXPLICIT_EXPERIMENTAL",
        "FLIRTATION_EXPERIMENTAL",
        "AFFINITY_EXPERIMENTAL",
        "COMPASSION_EXPERIMENTAL",
        "CURIOSITY_EXPERIMENTAL",
        "NUANCE_EXPERIMENTAL",
        "PERSONAL_STORY_EXPERIMENTAL",
        "REASONING_EXPERIMENTAL",
        "RESPECT_EXPERIMENTAL",
    };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        if (!strcmp(other[i], name))
            return 1;
    return 0;
}

json_t *td__perspective_language_error(const char *attribute, const char *language)
{
    char msg[200];
    snprintf(msg, sizeof msg, "Attribute %s does not support request languages: %s", attribute,
             language);
    return json_pack("{s:{s:i,s:s,s:s,s:[{s:s,s:s,s:{s:[s],s:s}}]}}", "error", "code", 400,
                     "status", "INVALID_ARGUMENT", "message", msg, "details", "@type",
                     "type.googleapis.com/google.commentanalyzer.v1alpha1.Error", "errorType",
                     "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE", "languageNotSupportedByAttributeError",
                     "detectedLanguages", language, "attribute", attribute);
}

void td__preq_release(struct td__preq *q)
{
    free(q->html_text);
    memset(q, 0, sizeof *q);
}

const struct td__plex *td__plex_get(struct td_server *s)
{
    pthread_mutex_lock(&s->pool_lock);
    if (!s->plex_tried) {
        struct td_error err;
        td_error_clear(&err);
        s->plex_tried = 1;
        if (td__plex_load(s->cfg.home, &s->plex, &err) != TD_OK) {
            char buf[600];
            td__log_event(s, TD__LOG_WARN, "perspective", td_error_format(&err, buf, sizeof buf));
        }
    }
    pthread_mutex_unlock(&s->pool_lock);
    return s->plex;
}

size_t td__utf16_offset(const char *text, size_t len, size_t byte)
{
    size_t units = 0, i = 0;
    if (byte > len)
        byte = len;
    while (i < byte) {
        unsigned char c = (unsigned char)text[i];
        size_t n = c < 0x80             ? 1
                   : (c & 0xE0) == 0xC0 ? 2
                   : (c & 0xF0) == 0xE0 ? 3
                   : (c & 0xF8) == 0xF0 ? 4
                                        : 1;
        /* Continuation bytes must follow; a broken sequence counts byte by
         * byte, one unit each (U+FFFD). */
        size_t ok = 1;
        while (ok < n && i + ok < len && ((unsigned char)text[i + ok] & 0xC0) == 0x80)
            ok++;
        if (ok < n)
            n = 1;
        units += n == 4 ? 2 : 1;
        i += n;
    }
    return units;
}

static int lang_supported(const char *l)
{
    return (l[0] == 'e' || l[0] == 'E') && (l[1] == 'n' || l[1] == 'N') &&
           (l[2] == '\0' || l[2] == '-' || l[2] == '_');
}

static int language_refused(struct td__preq *q, json_t *ra, const char *lang, struct td_error *err)
{
    const char *attr = json_object_iter_key(json_object_iter(ra));
    snprintf(q->bad_attribute, sizeof q->bad_attribute, "%s", attr ? attr : "");
    snprintf(q->bad_language, sizeof q->bad_language, "%s", lang);
    td_error_field(err, "languages");
    return td_error_set(err, TD_EINVAL, "Attribute %s does not support request languages: %s",
                        q->bad_attribute, lang);
}

int td__perspective_check(json_t *req, struct td__preq *q, struct td_error *err)
{
    memset(q, 0, sizeof *q);
    if (!json_is_object(req)) {
        td_error_field(err, "");
        return td_error_set(err, TD_EINVAL, "request must be a JSON object");
    }
    json_t *comment = json_object_get(req, "comment");
    json_t *t = json_object_get(comment, "text");
    if (!json_is_object(comment) || !json_is_string(t)) {
        td_error_field(err, "comment.text");
        return td_error_set(err, TD_EINVAL, "comment.text is required and must be a string");
    }
    if (json_string_length(t) == 0) {
        td_error_field(err, "comment.text");
        return td_error_set(err, TD_EINVAL, "Comment must be non-empty.");
    }
    json_t *ctype = json_object_get(comment, "type");
    if (ctype && (!json_is_string(ctype) || (strcmp(json_string_value(ctype), "PLAIN_TEXT") &&
                                             strcmp(json_string_value(ctype), "HTML")))) {
        td_error_field(err, "comment.type");
        return td_error_set(err, TD_EINVAL, "comment.type must be PLAIN_TEXT or HTML");
    }
    json_t *ra = json_object_get(req, "requestedAttributes");
    if (!json_is_object(ra) || json_object_size(ra) == 0) {
        td_error_field(err, "requestedAttributes");
        return td_error_set(err, TD_EINVAL, "requestedAttributes must name at least one attribute");
    }
    json_t *langs = json_object_get(req, "languages");
    const char *first_lang = "en";
    if (langs) {
        size_t i;
        json_t *l;
        if (!json_is_array(langs)) {
            td_error_field(err, "languages");
            return td_error_set(err, TD_EINVAL, "languages must be an array of strings");
        }
        json_array_foreach(langs, i, l)
        {
            if (!json_is_string(l)) {
                td_error_field(err, "languages");
                return td_error_set(err, TD_EINVAL, "languages must be an array of strings");
            }
            if (i == 0)
                first_lang = json_string_value(l);
            if (!lang_supported(json_string_value(l)))
                return language_refused(q, ra, json_string_value(l), err);
        }
        q->has_languages = json_array_size(langs) > 0;
    }
    const char *name;
    json_t *conf;
    json_object_foreach(ra, name, conf)
    {
        if (find_attr(name) < 0) {
            if (perspective_knows(name)) {
                snprintf(q->bad_attribute, sizeof q->bad_attribute, "%s", name);
                snprintf(q->bad_language, sizeof q->bad_language, "%s", first_lang);
                td_error_field(err, "requestedAttributes");
                return td_error_set(err, TD_EINVAL,
                                    "Attribute %s does not support request languages: %s", name,
                                    first_lang);
            }
            td_error_field(err, "requestedAttributes");
            return td_error_set(err, TD_EINVAL, "Unknown attribute: %s", name);
        }
        if (!json_is_object(conf)) {
            td_error_field(err, "requestedAttributes");
            return td_error_set(err, TD_EINVAL, "requestedAttributes.%s must be an object", name);
        }
        json_t *st = json_object_get(conf, "scoreType");
        if (st && (!json_is_string(st) || strcmp(json_string_value(st), "PROBABILITY"))) {
            td_error_field(err, "requestedAttributes");
            return td_error_set(err, TD_EINVAL, "%s: only scoreType PROBABILITY is supported",
                                name);
        }
        json_t *th = json_object_get(conf, "scoreThreshold");
        if (th && (!json_is_number(th) || json_number_value(th) < 0 || json_number_value(th) > 1)) {
            td_error_field(err, "requestedAttributes");
            return td_error_set(err, TD_EINVAL, "%s: scoreThreshold must be a number in [0, 1]",
                                name);
        }
    }
    json_t *sa = json_object_get(req, "spanAnnotations");
    if (sa && !json_is_boolean(sa)) {
        td_error_field(err, "spanAnnotations");
        return td_error_set(err, TD_EINVAL, "spanAnnotations must be true or false");
    }
    json_t *dns = json_object_get(req, "doNotStore");
    if (dns && !json_is_boolean(dns)) {
        td_error_field(err, "doNotStore");
        return td_error_set(err, TD_EINVAL, "doNotStore must be true or false");
    }
    q->text = json_string_value(t);
    q->len = json_string_length(t);
    if (ctype && !strcmp(json_string_value(ctype), "HTML")) {
        size_t n = 0;
        int rc = td_email_html_to_text(q->text, q->len, HTML_TEXT_MAX, &q->html_text, &n, err);
        if (rc) {
            td_error_field(err, "comment.text");
            return rc;
        }
        q->html = 1;
        q->text = q->html_text;
        q->len = n;
        if (n == 0) {
            td_error_field(err, "comment.text");
            return td_error_set(err, TD_EINVAL,
                                "Comment must be non-empty (the HTML has no text).");
        }
    }
    return TD_OK;
}

static double maxd(double a, double b)
{
    return a > b ? a : b;
}

static double attr_value(enum attr_kind k, const struct td_verdict *v,
                         const struct td__profanity *prof)
{
    const float *p = v->prob;
    static const double severity_scale[TD_SEVERITY_COUNT] = {0.2, 0.4, 0.6, 0.9, 1.0};
    switch (k) {
    case A_THREAT:
        return p[TD_LABEL_THREAT];
    case A_IDENTITY_ATTACK:
        return p[TD_LABEL_IDENTITY_HATE];
    case A_INSULT:
        return p[TD_LABEL_ABUSE];
    case A_SEXUALLY_EXPLICIT:
    case A_FLIRTATION:
        return p[TD_LABEL_SEXUAL];
    case A_TOXICITY:
        return maxd(maxd(p[TD_LABEL_ABUSE], p[TD_LABEL_IDENTITY_HATE]),
                    maxd(p[TD_LABEL_THREAT], p[TD_LABEL_SEXUAL]));
    case A_PROFANITY:
        /* The lexicon decides; abuse alone (an insult without an obscene
         * word) is at most a tenth. */
        return maxd(prof ? prof->score : 0, p[TD_LABEL_ABUSE] / 10);
    case A_SEVERE_TOXICITY: {
        double m = maxd(maxd(p[TD_LABEL_THREAT], p[TD_LABEL_IDENTITY_HATE]), p[TD_LABEL_ABUSE]);
        int sev = v->severity >= 0 && v->severity < TD_SEVERITY_COUNT ? (int)v->severity : 0;
        return m * severity_scale[sev];
    }
    }
    return 0;
}

static json_t *score(double value)
{
    /* Six decimals: float probabilities carry no more, and the wire stays
     * readable. */
    if (value < 0)
        value = 0;
    if (value > 1)
        value = 1;
    value = round(value * 1e6) / 1e6;
    return json_pack("{s:f,s:s}", "value", value, "type", "PROBABILITY");
}

json_t *td__perspective_response(json_t *req, const struct td_verdict *v, const char *text,
                                 size_t len, const struct td__profanity *prof, const char *detected)
{
    json_t *out = json_object();
    json_t *scores = json_object();
    if (!out || !scores)
        goto oom;
    json_object_set_new(out, "attributeScores", scores);
    int spans_wanted = json_is_true(json_object_get(req, "spanAnnotations"));
    size_t total16 = td__utf16_offset(text, len, len);

    const char *name;
    json_t *conf;
    json_object_foreach(json_object_get(req, "requestedAttributes"), name, conf)
    {
        int ai = find_attr(name);
        if (ai < 0)
            continue; /* checked before; defensive */
        double value = attr_value(attrs[ai].kind, v, prof);
        json_t *th = json_object_get(conf, "scoreThreshold");
        if (th && value < json_number_value(th))
            continue; /* the real API omits attributes under the threshold */
        json_t *spans = json_array();
        json_t *a = json_object();
        if (!spans || !a) {
            json_decref(spans);
            json_decref(a);
            goto oom;
        }
        /* The whole text first, as the hosted API does. */
        json_array_append_new(spans, json_pack("{s:I,s:I,s:o}", "begin", (json_int_t)0, "end",
                                               (json_int_t)total16, "score", score(value)));
        if (spans_wanted && attrs[ai].kind == A_PROFANITY) {
            for (size_t i = 0; prof && i < prof->nspans; i++) {
                const struct td__pspan *sp = &prof->spans[i];
                if (sp->end <= sp->start || sp->end > len)
                    continue;
                json_array_append_new(
                    spans, json_pack("{s:I,s:I,s:o}", "begin",
                                     (json_int_t)td__utf16_offset(text, len, sp->start), "end",
                                     (json_int_t)td__utf16_offset(text, len, sp->end), "score",
                                     score(value)));
            }
        } else if (spans_wanted) {
            for (size_t i = 0; i < v->nspans; i++) {
                const struct td_span *sp = &v->spans[i];
                if (!(attrs[ai].span_labels & (1u << sp->label)))
                    continue;
                if (sp->end <= sp->start || sp->end > len)
                    continue;
                /* A span is a reason for its label; it carries that label's
                 * summary value (we do not score sub-spans separately). */
                json_array_append_new(
                    spans, json_pack("{s:I,s:I,s:o}", "begin",
                                     (json_int_t)td__utf16_offset(text, len, sp->start), "end",
                                     (json_int_t)td__utf16_offset(text, len, sp->end), "score",
                                     score(value)));
            }
        }
        json_object_set_new(a, "spanScores", spans);
        json_object_set_new(a, "summaryScore", score(value));
        json_object_set_new(scores, name, a);
    }
    json_t *langs = json_object_get(req, "languages");
    json_object_set_new(out, "languages",
                        json_is_array(langs) && json_array_size(langs) ? json_deep_copy(langs)
                                                                       : json_pack("[s]", "en"));
    if (detected)
        json_object_set_new(out, "detectedLanguages", json_pack("[s]", detected));
    json_t *tok = json_object_get(req, "clientToken");
    if (json_is_string(tok))
        json_object_set(out, "clientToken", tok);
    return out;
oom:
    json_decref(out);
    if (!out)
        json_decref(scores);
    return NULL;
}

void td__h_perspective_analyze(struct td__req *r)
{
    struct td_error err;
    struct td__preq q;
    struct td__pspan pspans[PROF_SPANS];
    struct td__profanity prof = {0, pspans, 0};
    const char *detected = NULL;
    td_error_clear(&err);
    memset(&q, 0, sizeof q);
    json_t *req = td__body_json(r);
    if (!req)
        return;
    if (td__perspective_check(req, &q, &err) != TD_OK) {
        if (q.bad_attribute[0]) {
            json_t *e = td__perspective_language_error(q.bad_attribute, q.bad_language);
            /* the desk's error shape names the field too */
            json_object_set_new(json_object_get(e, "error"), "field", json_string(err.field));
            td__reply(r, 400, e);
        } else
            td__reply_error(r, 400, err.field, -1, "%s", err.message);
        goto out;
    }
    const struct td__plex *lex = td__plex_get(r->srv);
    if (lex && !q.has_languages) {
        detected = td__plex_language(lex, q.text, q.len);
        if (strcmp(detected, "en") && strcmp(detected, "und")) {
            json_t *ra = json_object_get(req, "requestedAttributes");
            td__reply(r, 400,
                      td__perspective_language_error(json_object_iter_key(json_object_iter(ra)),
                                                     detected));
            goto out;
        }
    }
    if (lex && td__plex_profanity(lex, q.text, q.len, &prof.score, pspans, PROF_SPANS, &prof.nspans,
                                  &err) != TD_OK) {
        td__reply_td_error(r, err.code ? err.code : TD_ENOMEM, &err);
        goto out;
    }
    struct td_analysis_ctx *ctx = td__ctx_take(r->srv);
    if (!ctx) {
        r->retry_after = 5;
        td__reply_error(r, 503, NULL, -1, "the analyser is not loaded");
        goto out;
    }
    struct td_verdict v;
    td_verdict_init(&v);
    int rc = td_analyse(ctx, q.text, q.len, &v, &err);
    td__ctx_give(r->srv, ctx);
    if (rc != TD_OK) {
        td__reply_td_error(r, rc, &err);
    } else {
        json_t *resp =
            td__perspective_response(req, &v, q.text, q.len, lex ? &prof : NULL, detected);
        if (resp)
            td__reply(r, 200, resp);
        else
            td__reply_error(r, 500, NULL, -1, "out of memory");
    }
    td_verdict_release(&v);
out:
    td__preq_release(&q);
    json_decref(req);
}
