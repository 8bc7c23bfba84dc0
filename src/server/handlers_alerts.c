/*
 * handlers_alerts.c - alerts (desk.h "alerts").
 *
 *   GET  /v1/alert-recipients        the office's recipients (never a secret)
 *   POST /v1/alert-recipients        add one (admin, security)
 *   GET  /v1/alert-rules             the office's rules
 *   POST /v1/alert-rules             add one (admin, security)
 *   GET  /v1/alerts?open=1&limit=    alerts with deliveries and attempts
 *   POST /v1/alerts/{id}:ack         acknowledge in the desk (audited)
 *   GET  /v1/ack/{token}             the link an alert carries: a page with
 *                                    one button - a GET changes nothing, so
 *                                    a mail scanner that follows links
 *                                    cannot acknowledge for a person
 *   POST /v1/ack/{token}             the button: acknowledge (audited)
 *
 * The ack routes need no login: the token (an HMAC of the alert id) is the
 * credential, and a wrong one answers 404 like any unknown path.
 */
#include <string.h>

#include "server/server_int.h"

void td__h_alert_recipients_list(struct td__req *r)
{
    struct td_error err;
    json_t *out = NULL;
    td_error_clear(&err);
    int rc = td_desk_alert_recipient_list(r->srv->desk, &r->actor, &out, &err);
    td__reply_desk(r, rc, &err, 200, out);
}

void td__h_alert_recipients_add(struct td__req *r)
{
    struct td_error err;
    json_t *out = NULL, *in = td__body_json(r);
    if (!in)
        return;
    td_error_clear(&err);
    int rc = td_desk_alert_recipient_add(r->srv->desk, &r->actor, in, &out, &err);
    json_decref(in);
    td__reply_desk(r, rc, &err, 201, out);
}

void td__h_alert_rules_list(struct td__req *r)
{
    struct td_error err;
    json_t *out = NULL;
    td_error_clear(&err);
    int rc = td_desk_alert_rule_list(r->srv->desk, &r->actor, &out, &err);
    td__reply_desk(r, rc, &err, 200, out);
}

void td__h_alert_rules_add(struct td__req *r)
{
    struct td_error err;
    json_t *out = NULL, *in = td__body_json(r);
    if (!in)
        return;
    td_error_clear(&err);
    int rc = td_desk_alert_rule_add(r->srv->desk, &r->actor, in, &out, &err);
    json_decref(in);
    td__reply_desk(r, rc, &err, 201, out);
}

void td__h_alerts_list(struct td__req *r)
{
    struct td_error err;
    json_t *out = NULL;
    size_t limit = 0;
    const char *open = td__query(r, "open");
    if (open && strcmp(open, "0") != 0 && strcmp(open, "1") != 0) {
        td__reply_error(r, 400, "open", -1, "open must be 0 or 1");
        return;
    }
    if (!td__query_size(r, "limit", 500, &limit))
        return;
    td_error_clear(&err);
    int rc =
        td_desk_alert_list(r->srv->desk, &r->actor, open && !strcmp(open, "1"), limit, &out, &err);
    td__reply_desk(r, rc, &err, 200, out);
}

void td__h_alert_ack(struct td__req *r)
{
    struct td_error err;
    int64_t id;
    if (!td__path_id(r, "id", &id))
        return;
    td_error_clear(&err);
    int rc = td_desk_alert_ack(r->srv->desk, &r->actor, id, &err);
    td__reply_desk(r, rc, &err, 200,
                   json_pack("{s:I,s:b}", "id", (json_int_t)id, "acknowledged", 1));
}

/* The token is [0-9]+-[0-9a-f]{64}: checked before it reaches the page. */
static int token_ok(const char *t)
{
    size_t n = strlen(t);
    if (n < 66 || n > 90)
        return 0;
    for (const char *p = t; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || *p == '-'))
            return 0;
    return 1;
}

static void html(struct td__req *r, unsigned status, const char *body)
{
    r->status = status;
    td_buf_reset(&r->raw);
    if (td_buf_printf(&r->raw,
                      "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"referrer\" "
                      "content=\"no-referrer\"><title>threatdesk alert</title></head><body>%s"
                      "</body></html>\n",
                      body) != TD_OK) {
        td__reply_error(r, 500, NULL, -1, "out of memory");
        return;
    }
    r->raw_type = "text/html; charset=utf-8";
}

void td__h_ack_page(struct td__req *r)
{
    const char *t = td__param(r, "token");
    char body[512];
    if (!token_ok(t)) {
        td__reply_error(r, 404, NULL, -1, "not an acknowledgement link");
        return;
    }
    /* The form posts back to this very path: the token is only ever in the
     * path the recipient already holds. */
    snprintf(body, sizeof body,
             "<p>Acknowledge this alert? Escalation to the next person stops.</p>"
             "<form method=\"post\"><button type=\"submit\">Acknowledge</button></form>");
    html(r, 200, body);
}

void td__h_ack_post(struct td__req *r)
{
    struct td_error err;
    json_t *out = NULL;
    const char *t = td__param(r, "token");
    if (!token_ok(t)) {
        td__reply_error(r, 404, NULL, -1, "not an acknowledgement link");
        return;
    }
    td_error_clear(&err);
    int rc = td_desk_alert_ack_token(r->srv->desk, t, &out, &err);
    if (rc) {
        td__reply_td_error(r, rc, &err);
        return;
    }
    int already = json_is_true(json_object_get(out, "already"));
    json_decref(out);
    html(r, 200,
         already ? "<p>This alert was already acknowledged.</p>"
                 : "<p>Acknowledged. Thank you.</p>");
}
