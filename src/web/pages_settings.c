/*
 * pages_settings.c - the office's settings (admin): the retention period,
 * and the alert rules and their recipients, read-only.
 *
 * The retention period is set with td_desk_retention_set, the call PUT
 * /v1/retention makes, so it is checked (admin, own office, 0..max days)
 * and audited ("office.retention", with the old value) exactly as there.
 * Rules and recipients are listed with the calls GET /v1/alert-rules and
 * /v1/alert-recipients make; they are still made at the command line or
 * through /v1 (a recipient's webhook secret never reaches a page).
 */
#include <string.h>

#include "threatdesk/pipeline.h"
#include "web/web_int.h"

static const char *jstr_(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int64_t jint_(json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

/* The names in a JSON array of strings, comma-separated ("any" when empty). */
static void name_list(struct td__html *h, json_t *a, const char *none)
{
    size_t i;
    json_t *v;
    if (!json_array_size(a)) {
        td__html(h, "%s", none);
        return;
    }
    json_array_foreach(a, i, v) td__html(h, "%R%s", i ? ", " : "", json_string_value(v));
}

/* A recipient's name by id, from the list ("recipient N" when gone). */
static void recipient_name(struct td__html *h, json_t *recipients, int64_t id)
{
    size_t i;
    json_t *p;
    json_array_foreach(recipients, i, p) if (jint_(p, "id") == id)
    {
        td__html(h, "%s", jstr_(p, "name"));
        return;
    }
    td__html(h, "recipient %I", id);
}

/* A webhook is shown by its host only: the rest of a URL may carry a token. */
static void webhook_host(struct td__html *h, const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n); /* never user:password@ */
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    td__html_esc(h, p, n);
}

static void alerts_section(struct td__req *r, struct td__html *h)
{
    struct td_error err;
    json_t *rules = NULL, *recs = NULL;
    size_t i;
    json_t *x;
    td_error_clear(&err);
    int rc = td_desk_alert_recipient_list(r->srv->desk, &r->actor, &recs, &err);
    if (!rc)
        rc = td_desk_alert_rule_list(r->srv->desk, &r->actor, &rules, &err);
    td__html(h, "<h2 id=\"alerts\">Alerts</h2><p>Who is told when something serious arrives. "
                "Rules and recipients are made with <kbd>threatdesk alerts</kbd> on the "
                "server or through <kbd>/v1/alert-rules</kbd> (see the README); here they "
                "are shown only.</p>");
    if (rc) {
        td__html(h, "<p class=\"problem\">The alert settings could not be read (%s).</p>",
                 td_errname(rc));
        goto out;
    }
    json_t *rlist = json_object_get(recs, "recipients");
    json_t *ulist = json_object_get(rules, "rules");
    td__html(h, "<h3>Rules</h3>");
    if (!json_array_size(ulist))
        td__html(h, "<p class=\"empty\">No alert rules: nobody is told of anything.</p>");
    else
        td__html(
            h,
            "<div class=\"scroll\" role=\"region\" aria-label=\"Alert rules\" "
            "tabindex=\"0\"><table id=\"alert-rules\"><caption class=\"sr\">Alert rules</caption>"
            "<thead><tr><th scope=\"col\">Rule</th><th scope=\"col\">When</th>"
            "<th scope=\"col\">How</th><th scope=\"col\">Who, in order</th>"
            "<th scope=\"col\">State</th></tr></thead><tbody>");
    json_array_foreach(ulist, i, x)
    {
        td__html(h, "<tr><td>%s</td><td>%s or worse; labels: ", jstr_(x, "name"),
                 jstr_(x, "min_tier"));
        name_list(h, json_object_get(x, "labels"), "any");
        td__html(h, "; flags: ");
        name_list(h, json_object_get(x, "flags"), "none");
        json_t *q = json_object_get(x, "quiet_hours");
        if (q)
            td__html(h, "; quiet %s to %s (never for critical)", jstr_(q, "start"),
                     jstr_(q, "end"));
        td__html(h, "</td><td>");
        name_list(h, json_object_get(x, "channels"), "none");
        td__html(h, "</td><td><ol class=\"rota\">");
        size_t k;
        json_t *id;
        json_array_foreach(json_object_get(x, "rota"), k, id)
        {
            td__html(h, "<li>");
            recipient_name(h, rlist, (int64_t)json_integer_value(id));
            td__html(h, "</li>");
        }
        td__html(h, "</ol>");
        if (jint_(x, "escalate_minutes") > 0)
            td__html(h, "next one told after %I min without acknowledgement",
                     jint_(x, "escalate_minutes"));
        td__html(h, "</td><td>%s</td></tr>",
                 td__json_flag(json_object_get(x, "enabled")) ? "on" : "off");
    }
    if (json_array_size(ulist))
        td__html(h, "</tbody></table></div>");
    td__html(h, "<h3>Recipients</h3>");
    if (!json_array_size(rlist)) {
        td__html(h, "<p class=\"empty\">No recipients.</p>");
        goto out;
    }
    td__html(h, "<ul id=\"alert-recipients\">");
    json_array_foreach(rlist, i, x)
    {
        td__html(h, "<li><strong>%s</strong>", jstr_(x, "name"));
        if (*jstr_(x, "email"))
            td__html(h, ": e-mail %s", jstr_(x, "email"));
        if (*jstr_(x, "webhook_url")) {
            td__html(h, "%R webhook to ", *jstr_(x, "email") ? ";" : ":");
            webhook_host(h, jstr_(x, "webhook_url"));
        }
        td__html(h, "</li>");
    }
    td__html(h, "</ul>");
out:
    json_decref(rules);
    json_decref(recs);
}

static void settings_page(struct td__req *r, unsigned status, const char *note, const char *problem)
{
    struct td_error err;
    struct td__html h;
    int64_t days = 0;
    td_error_clear(&err);
    int rc = td_desk_retention_get(r->srv->desk, &r->actor, &days, &err);
    if (rc != TD_OK) {
        td__web_desk_error(r, rc, &err);
        return;
    }
    td__page_begin(r, &h, "Office settings", "settings");
    td__html(&h, "<h1>Settings of %s</h1>", r->actor.office);
    if (note)
        td__html(&h, "<p class=\"note\" role=\"status\">%s</p>", note);
    if (problem)
        td__html(&h, "<p class=\"problem\" role=\"alert\">%s</p>", problem);
    td__html(&h, "<h2 id=\"retention\">How long messages are kept</h2><p id=\"retention-now\">");
    if (days > 0)
        td__html(&h, "Messages no case holds are erased after <strong>%I days</strong>.", days);
    else
        td__html(&h, "No period is set: messages are <strong>kept</strong> until erased by "
                     "hand.");
    td__html(&h, "</p><p class=\"hint\">Erasure runs with <kbd>threatdesk retention --apply</kbd> "
                 "(or <kbd>POST /v1/retention:apply</kbd>); a message a case holds is always "
                 "kept.</p><form method=\"post\" action=\"/settings/retention\" "
                 "class=\"stack narrow\">");
    td__page_csrf_field(r, &h);
    td__html(&h,
             "<label for=\"days\">Keep messages for (days; 0 keeps them)</label>"
             "<input id=\"days\" name=\"retention_days\" type=\"number\" min=\"0\" "
             "inputmode=\"numeric\" required value=\"%I\">"
             "<button type=\"submit\">Save</button></form>",
             days);
    alerts_section(r, &h);
    td__page_end(r, &h, status);
}

void td__w_settings(struct td__req *r)
{
    settings_page(r, 200, NULL, NULL);
}

/* POST /settings/retention {retention_days}: PUT /v1/retention's call. */
void td__w_settings_retention(struct td__req *r)
{
    struct td_error err;
    char v[32];
    uint64_t days = 0;
    const char *s = td__form(r, "retention_days", v, sizeof v);
    if (!s || td__parse_u64(s, 1000000, &days) != 0) {
        settings_page(r, 400, NULL,
                      "Give the number of days as a whole number (0 keeps "
                      "messages).");
        return;
    }
    td_error_clear(&err);
    int rc = td_desk_retention_set(r->srv->desk, &r->actor, (int64_t)days, &err);
    if (rc != TD_OK) {
        if (rc == TD_EINVAL)
            settings_page(r, 400, NULL, err.message[0] ? err.message : "That cannot be set.");
        else
            td__web_desk_error(r, rc, &err);
        return;
    }
    settings_page(r, 200, "Saved.", NULL);
}
