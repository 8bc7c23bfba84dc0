/*
 * pages_cases.c - the security lead's cases, the police view, and the
 * canvasser's incident report.
 *
 *   GET  /cases                 board by status (police: only what was
 *                               reported to them - the desk's rule)
 *   GET  /cases/{id}            the case: facts, messages, evidence, notes
 *                               (police: shareable only), audit trail
 *   POST /cases/{id}/status     move it along the workflow
 *   POST /cases/{id}/notes      a note, internal or shareable with police
 *   POST /cases/{id}/evidence   the file's bytes as the body (app.js sends
 *                               them; X-File-Name names it)
 *   GET  /evidence/{id}         download, hash-checked by the desk, always
 *                               as an attachment (never rendered here)
 *   GET  /report, POST /report  the incident form (observers and staff);
 *                               answers the case number
 *   GET  /reports               "my reports": the list app.js keeps of what
 *                               this phone sent (observers cannot read
 *                               cases back from the desk)
 * Police get no forms, and the routes that change anything refuse them
 * (web.c's role gate) as the desk would.
 */
/* strptime() */
#define _XOPEN_SOURCE 700
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "web/web_int.h"

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int64_t jint(json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

static int is_staff(struct td__req *r)
{
    return (r->caller.role & TD__ROLES_STAFF) != 0;
}

/* ---- the board ---------------------------------------------------------- */

void td__w_cases(struct td__req *r)
{
    struct td_case_filter f;
    struct td_error err;
    json_t *out = NULL;
    td_case_filter_init(&f);
    f.limit = 500;
    const char *kind = td__query(r, "type");
    if (kind && *kind && (f.type = td_case_type_from_name(kind)) < 0) {
        td__web_error(r, 400, "That kind of incident is not one.");
        return;
    }
    /* the sender of any of its messages, and the day it was opened: a
     * mistake is told beside the form (a 400), never a 500 */
    char from_iso[11] = "", to_iso[11] = "";
    const char *problem = td__web_read_filters(r, &f.sender, &f.since, &f.until, from_iso, to_iso);
    td_error_clear(&err);
    int rc = problem ? TD_OK : td_desk_case_list(r->srv->desk, &r->actor, &f, &out, &err);
    if (rc != TD_OK) {
        td__web_desk_error(r, rc, &err);
        return;
    }
    struct td__html h;
    int police = !is_staff(r);
    td__page_begin(r, &h, police ? "Cases reported to police" : "Cases", "cases");
    td__html(&h,
             "<h1>%s</h1><form method=\"get\" action=\"/cases\" class=\"row-form\">"
             "<label for=\"ctype\">Kind</label><select id=\"ctype\" name=\"type\">"
             "<option value=\"\">every kind</option>",
             police ? "Cases reported to police" : "Cases");
    for (int k = 0; k < TD_CASE_TYPE_COUNT; k++)
        td__html(&h, "<option value=\"%s\"%R>%s</option>", td_case_type_name(k),
                 f.type == k ? " selected" : "", td__case_type_label(td_case_type_name(k)));
    td__html(&h,
             "</select><label for=\"csender\">Sender</label>"
             "<input id=\"csender\" name=\"sender\" value=\"%s\" "
             "placeholder=\"email:name@example.org\">"
             "<label for=\"cfrom\">Opened from</label>"
             "<input id=\"cfrom\" name=\"from\" type=\"date\" value=\"%s\">"
             "<label for=\"cto\">to</label>"
             "<input id=\"cto\" name=\"to\" type=\"date\" value=\"%s\">"
             "<button type=\"submit\">Show</button></form>",
             f.sender ? f.sender : "", from_iso, to_iso);
    if (problem) {
        td__html(&h, "<p class=\"problem\" role=\"alert\" id=\"filter-problem\">%s</p>", problem);
        td__page_end(r, &h, 400);
        return;
    }
    td__html(&h, "<div class=\"board\">");
    json_t *cases = json_object_get(out, "cases");
    for (int s = 0; s < TD_CASE_STATUS_COUNT; s++) {
        const char *w = td_case_status_name(s);
        if (police && (s == TD_CASE_STATUS_NEW || s == TD_CASE_STATUS_TRIAGED))
            continue;
        size_t n = 0, i;
        json_t *c;
        json_array_foreach(cases, i, c) n += !strcmp(jstr(c, "status"), w);
        td__html(&h,
                 "<section class=\"col\" aria-labelledby=\"col-%s\"><h2 id=\"col-%s\">%s "
                 "<span class=\"n\">%z</span></h2><ul>",
                 w, w, td__case_status_label(w), n);
        json_array_foreach(cases, i, c)
        {
            if (strcmp(jstr(c, "status"), w) != 0)
                continue;
            td__html(&h,
                     "<li class=\"card\"><a href=\"/cases/%I\">Case %I: %s</a>"
                     "<p class=\"meta\">%s, ",
                     jint(c, "id"), jint(c, "id"), jstr(c, "title"),
                     td__case_type_label(jstr(c, "type")));
            td__html_time(&h, jint(c, "created"), 1);
            td__html(&h, "</p></li>");
        }
        td__html(&h, "</ul></section>");
    }
    td__html(&h, "</div>");
    if (!json_array_size(cases))
        td__html(&h, "<p class=\"empty\">No cases yet.</p>");
    json_decref(out);
    td__page_end(r, &h, 200);
}

/* ---- one case ----------------------------------------------------------- */

static void status_form(struct td__req *r, struct td__html *h, int64_t id, const char *cur)
{
    int from = td_case_status_from_name(cur);
    int any = 0;
    for (int s = 0; s < TD_CASE_STATUS_COUNT; s++)
        any |= td_case_transition_allowed(from, s);
    if (!any)
        return;
    td__html(h, "<form method=\"post\" action=\"/cases/%I/status\" class=\"stack\">", id);
    td__page_csrf_field(r, h);
    td__html(h, "<label for=\"cstatus\">Move to</label><select id=\"cstatus\" name=\"status\">");
    for (int s = 0; s < TD_CASE_STATUS_COUNT; s++)
        if (td_case_transition_allowed(from, s))
            td__html(h, "<option value=\"%s\">%s</option>", td_case_status_name(s),
                     td__case_status_label(td_case_status_name(s)));
    td__html(h, "</select><label for=\"cpref\">Police reference (when reporting)</label>"
                "<input id=\"cpref\" name=\"police_ref\">"
                "<label for=\"creason\">Reason (optional)</label>"
                "<input id=\"creason\" name=\"reason\">"
                "<button type=\"submit\">Move</button></form>");
}

/* The people as one line: "a; b; c" (objects are shown as given). */
static void people_line(json_t *people, char *out, size_t size)
{
    size_t i, o = 0;
    json_t *x;
    out[0] = '\0';
    json_array_foreach(people, i, x)
    {
        if (!json_is_string(x))
            continue;
        int n = snprintf(out + o, size - o, "%s%s", o ? "; " : "", json_string_value(x));
        if (n < 0 || (size_t)n >= size - o)
            break;
        o += (size_t)n;
    }
}

static void details_form(struct td__req *r, struct td__html *h, int64_t id, json_t *c)
{
    char people[2048];
    json_t *place = json_object_get(c, "place");
    people_line(json_object_get(c, "people"), people, sizeof people);
    td__html(h,
             "<details class=\"panel\"><summary>Edit the details</summary>"
             "<form method=\"post\" action=\"/cases/%I/details\" class=\"stack\">",
             id);
    td__page_csrf_field(r, h);
    td__html(h,
             "<label for=\"dtitle\">Title</label><input id=\"dtitle\" name=\"title\" "
             "maxlength=\"300\" required value=\"%s\">"
             "<label for=\"dplace\">Where (address)</label><input id=\"dplace\" "
             "name=\"address\" value=\"%s\">"
             "<label for=\"dpeople\">People (separate with ;)</label><input id=\"dpeople\" "
             "name=\"people\" value=\"%s\">"
             "<label for=\"dassignee\">Assigned to (user name)</label><input id=\"dassignee\" "
             "name=\"assignee\" autocapitalize=\"none\" value=\"%s\">"
             "<label for=\"ddesc\">What happened</label><textarea id=\"ddesc\" "
             "name=\"description\" rows=\"4\">%s</textarea>"
             "<button type=\"submit\">Save details</button></form></details>",
             jstr(c, "title"), jstr(place, "address"), people, jstr(c, "assignee"),
             jstr(c, "description"));
}

void td__w_case(struct td__req *r)
{
    struct td_error err;
    json_t *c = NULL, *tl = NULL;
    int64_t id;
    if (!td__path_id(r, "id", &id)) {
        td__web_error(r, 404, "There is no such case.");
        return;
    }
    td_error_clear(&err);
    int rc = td_desk_case_get(r->srv->desk, &r->actor, id, &c, &err);
    if (rc == TD_OK)
        rc = td_desk_case_timeline(r->srv->desk, &r->actor, id, &tl, &err);
    if (rc != TD_OK) {
        json_decref(c);
        td__web_desk_error(r, rc, &err);
        return;
    }
    struct td__html h;
    char title[64];
    size_t i;
    json_t *x;
    snprintf(title, sizeof title, "Case %lld", (long long)id);
    td__page_begin(r, &h, title, "cases");
    json_t *place = json_object_get(c, "place");
    td__html(&h,
             "<p><a href=\"/cases\">All cases</a></p><h1>Case %I: %s</h1>"
             "<dl class=\"facts\"><dt>Status</dt><dd class=\"cstatus\">%s</dd>"
             "<dt>Kind</dt><dd>%s</dd><dt>Opened</dt><dd>",
             id, jstr(c, "title"), td__case_status_label(jstr(c, "status")),
             td__case_type_label(jstr(c, "type")));
    td__html_time(&h, jint(c, "created"), 1);
    td__html(&h, " by %s</dd>", jstr(c, "created_by"));
    if (jint(c, "occurred")) {
        td__html(&h, "<dt>Happened</dt><dd>");
        td__html_time(&h, jint(c, "occurred"), 0);
        td__html(&h, "</dd>");
    }
    if (*jstr(place, "address"))
        td__html(&h, "<dt>Where</dt><dd>%s</dd>", jstr(place, "address"));
    if (json_is_number(json_object_get(place, "lat")) &&
        json_is_number(json_object_get(place, "lon"))) {
        char pos[64];
        snprintf(pos, sizeof pos, "%.5f, %.5f", json_number_value(json_object_get(place, "lat")),
                 json_number_value(json_object_get(place, "lon")));
        td__html(&h, "<dt>Position (GPS)</dt><dd>%s</dd>", pos);
    }
    if (json_array_size(json_object_get(c, "people"))) {
        td__html(&h, "<dt>People</dt><dd>");
        json_array_foreach(json_object_get(c, "people"), i, x) if (json_is_string(x))
            td__html(&h, "%s%s", i ? "; " : "", json_string_value(x));
        td__html(&h, "</dd>");
    }
    if (*jstr(c, "assignee"))
        td__html(&h, "<dt>Assigned to</dt><dd>%s</dd>", jstr(c, "assignee"));
    if (*jstr(c, "police_ref"))
        td__html(&h, "<dt>Police reference</dt><dd>%s</dd>", jstr(c, "police_ref"));
    td__html(&h, "</dl>");
    if (*jstr(c, "description"))
        td__html(&h, "<h2>What happened</h2><p class=\"desc\">%s</p>", jstr(c, "description"));

    if (json_array_size(json_object_get(c, "messages"))) {
        td__html(&h, "<h2>Messages</h2><ul>");
        json_array_foreach(json_object_get(c, "messages"), i, x)
        {
            if (is_staff(r))
                td__html(&h, "<li><a href=\"/messages/%I\">Message %I</a>: %s (%s)</li>",
                         jint(x, "id"), jint(x, "id"),
                         *jstr(x, "subject") ? jstr(x, "subject") : jstr(x, "channel"),
                         jstr(x, "severity"));
            else
                td__html(&h, "<li>Message %I: <blockquote>%s</blockquote></li>", jint(x, "id"),
                         jstr(x, "text"));
        }
        td__html(&h, "</ul>");
    }

    td__html(&h, "<h2>Evidence</h2><ul id=\"evidence-list\">");
    json_array_foreach(json_object_get(c, "evidence"), i, x)
    {
        td__html(&h, "<li><a href=\"/evidence/%I\">%s</a> (%s, %I bytes, added ", jint(x, "id"),
                 *jstr(x, "name") ? jstr(x, "name") : "file", jstr(x, "type"), jint(x, "size"));
        td__html_time(&h, jint(x, "added"), 0);
        td__html(&h, ") <span class=\"hash\">SHA-256 %s</span></li>", jstr(x, "sha256"));
    }
    td__html(&h, "</ul>");
    if (is_staff(r)) {
        td__html(&h,
                 "<div class=\"drop\" id=\"evidence-drop\" data-case=\"%I\">"
                 "<label for=\"evidence-file\">Add evidence: drop files here or choose (a "
                 "phone offers its camera)</label>"
                 "<input type=\"file\" id=\"evidence-file\" multiple accept=\"image/*,"
                 "application/pdf,message/rfc822,text/plain\">"
                 "<p class=\"hint\" id=\"evidence-status\" role=\"status\"></p></div>",
                 id);
    }

    td__html(&h, "<h2>Notes</h2><ul class=\"notes\">");
    json_array_foreach(json_object_get(c, "notes"), i, x)
    {
        int share = td__json_flag(json_object_get(x, "shareable"));
        td__html(&h, "<li class=\"%s\"><span class=\"tag\">%s</span> %s - %s, ",
                 share ? "shareable" : "internal", share ? "shareable with police" : "internal",
                 jstr(x, "text"), jstr(x, "author"));
        td__html_time(&h, jint(x, "created"), 0);
        td__html(&h, "</li>");
    }
    td__html(&h, "</ul>");
    if (is_staff(r)) {
        td__html(&h, "<form method=\"post\" action=\"/cases/%I/notes\" class=\"stack\">", id);
        td__page_csrf_field(r, &h);
        td__html(&h, "<label for=\"note\">Add a note</label>"
                     "<textarea id=\"note\" name=\"text\" rows=\"3\" required></textarea>"
                     "<label class=\"check\"><input type=\"checkbox\" name=\"shareable\" "
                     "value=\"1\"> Shareable with police</label>"
                     "<button type=\"submit\">Add note</button></form>");
        status_form(r, &h, id, jstr(c, "status"));
        details_form(r, &h, id, c);
    }

    td__html(&h, "<h2>Audit trail</h2><ol class=\"timeline\">");
    json_array_foreach(json_object_get(tl, "events"), i, x)
    {
        td__html(&h, "<li>");
        td__html_time(&h, jint(x, "time"), 0);
        td__html(&h, " - <strong>%s</strong> by %s</li>", jstr(x, "action"),
                 *jstr(x, "user") ? jstr(x, "user") : "the operator");
    }
    td__html(&h, "</ol>");
    json_decref(c);
    json_decref(tl);
    td__page_end(r, &h, 200);
}

void td__w_case_status(struct td__req *r)
{
    struct td_error err;
    char st[64], reason[1100], pref[200];
    int64_t id;
    if (!td__path_id(r, "id", &id)) {
        td__web_error(r, 404, "There is no such case.");
        return;
    }
    const char *s = td__form(r, "status", st, sizeof st);
    int to = s ? td_case_status_from_name(s) : -1;
    if (to < 0) {
        td__web_error(r, 400, "Choose where the case moves to.");
        return;
    }
    const char *why = td__form(r, "reason", reason, sizeof reason);
    const char *ref = td__form(r, "police_ref", pref, sizeof pref);
    td_error_clear(&err);
    int rc = TD_OK;
    if (ref && *ref) {
        json_t *f = json_pack("{s:s}", "police_ref", ref);
        rc = f ? td_desk_case_update(r->srv->desk, &r->actor, id, f, &err) : TD_EINVAL;
        json_decref(f);
    }
    if (rc == TD_OK)
        rc = td_desk_case_set_status(r->srv->desk, &r->actor, id, (enum td_case_status)to,
                                     why && *why ? why : NULL, &err);
    if (rc != TD_OK) {
        td__web_desk_error(r, rc, &err);
        return;
    }
    char where[48];
    snprintf(where, sizeof where, "/cases/%lld", (long long)id);
    td__web_redirect(r, where);
}

/* POST /cases/{id}/details: title, address (the GPS position is kept),
 * people ("a; b"), assignee ("" = nobody), description. */
void td__w_case_details(struct td__req *r)
{
    struct td_error err;
    char title[400], addr[600], people[2100], who[140], desc[8200];
    json_t *c = NULL;
    int64_t id;
    if (!td__path_id(r, "id", &id)) {
        td__web_error(r, 404, "There is no such case.");
        return;
    }
    const char *t = td__form(r, "title", title, sizeof title);
    const char *a = td__form(r, "address", addr, sizeof addr);
    const char *p = td__form(r, "people", people, sizeof people);
    const char *w = td__form(r, "assignee", who, sizeof who);
    const char *d = td__form(r, "description", desc, sizeof desc);
    if (!t || !*t || !a || !p || !w || !d) {
        td__web_error(r, 400, "Fill in the title; keep the other fields within their size.");
        return;
    }
    td_error_clear(&err);
    int rc = td_desk_case_get(r->srv->desk, &r->actor, id, &c, &err);
    if (rc != TD_OK) {
        td__web_desk_error(r, rc, &err);
        return;
    }
    json_t *place = json_deep_copy(json_object_get(c, "place"));
    json_decref(c);
    if (!json_is_object(place)) {
        json_decref(place);
        place = json_object();
    }
    if (*a)
        json_object_set_new(place, "address", json_string(a));
    else
        json_object_del(place, "address");
    json_t *list = json_array();
    for (char *s = people, *end; *s;) {
        end = strchr(s, ';');
        if (end)
            *end = '\0';
        while (*s == ' ')
            s++;
        size_t n = strlen(s);
        while (n && s[n - 1] == ' ')
            s[--n] = '\0';
        if (*s)
            json_array_append_new(list, json_string(s));
        if (!end)
            break;
        s = end + 1;
    }
    json_t *f = json_pack("{s:s,s:s,s:o,s:o,s:o}", "title", t, "description", d, "place", place,
                          "people", list, "assignee", *w ? json_string(w) : json_null());
    rc = f ? td_desk_case_update(r->srv->desk, &r->actor, id, f, &err)
           : td_error_set(&err, TD_EINVAL, "the details are not text");
    json_decref(f);
    if (rc != TD_OK) {
        td__web_desk_error(r, rc, &err);
        return;
    }
    char where[48];
    snprintf(where, sizeof where, "/cases/%lld", (long long)id);
    td__web_redirect(r, where);
}

void td__w_case_note(struct td__req *r)
{
    struct td_error err;
    char text[8200], share[8];
    int64_t id;
    if (!td__path_id(r, "id", &id)) {
        td__web_error(r, 404, "There is no such case.");
        return;
    }
    const char *t = td__form(r, "text", text, sizeof text);
    if (!t || !*t) {
        td__web_error(r, 400, "Write the note first (at most 8000 characters).");
        return;
    }
    int shareable = td__form(r, "shareable", share, sizeof share) != NULL;
    td_error_clear(&err);
    int rc = td_desk_case_note(r->srv->desk, &r->actor, id, t, shareable, NULL, &err);
    if (rc != TD_OK) {
        td__web_desk_error(r, rc, &err);
        return;
    }
    char where[48];
    snprintf(where, sizeof where, "/cases/%lld", (long long)id);
    td__web_redirect(r, where);
}

/* Percent-decode the X-File-Name header (app.js encodeURIComponent()s it);
 * anything odd becomes '_'.  Never used as a path: the desk stores files
 * by hash. */
static void file_name(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; in && in[i] && o + 1 < size; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '%' && in[i + 1] && in[i + 2]) {
            char hex[3] = {in[i + 1], in[i + 2], 0};
            char *end;
            long v = strtol(hex, &end, 16);
            if (*end == '\0' && v >= 0x20) {
                c = (unsigned char)v;
                i += 2;
            }
        }
        out[o++] = (c < 0x20 || c == 0x7f) ? '_' : (char)c;
    }
    out[o] = '\0';
}

void td__w_case_evidence(struct td__req *r)
{
    struct td_error err;
    char name[256], type[128];
    int64_t id, eid = 0;
    if (!td__path_id(r, "id", &id)) {
        td__web_error(r, 404, "There is no such case.");
        return;
    }
    td__content_type(r, type, sizeof type);
    if (!strncmp(type, "multipart/", 10) || !strcmp(type, "application/x-www-form-urlencoded")) {
        td__web_error(r, 415,
                      "Evidence is sent as the file itself (the page does this); "
                      "or use POST /v1/cases/{id}/evidence.");
        return;
    }
    if (!r->body.len) {
        td__web_error(r, 400, "The file is empty.");
        return;
    }
    file_name(td__header(r, "X-File-Name"), name, sizeof name);
    td_error_clear(&err);
    int rc = td_desk_evidence_add(r->srv->desk, &r->actor, id, *name ? name : NULL,
                                  *type ? type : NULL, r->body.data, r->body.len, &eid, NULL, &err);
    if (rc != TD_OK) {
        td__web_desk_error(r, rc, &err);
        return;
    }
    td__reply(r, 201, json_pack("{s:I}", "id", (json_int_t)eid));
}

void td__w_evidence(struct td__req *r)
{
    struct td_error err;
    json_t *meta = NULL;
    void *data = NULL;
    size_t len = 0;
    int64_t id;
    if (!td__path_id(r, "id", &id)) {
        td__web_error(r, 404, "There is no such file.");
        return;
    }
    td_error_clear(&err);
    int rc = td_desk_evidence_get(r->srv->desk, &r->actor, id, &meta, &data, &len, &err);
    if (rc != TD_OK) {
        td__web_desk_error(r, rc, &err);
    } else if (td_buf_append(&r->raw, data, len) != TD_OK) {
        td__web_error(r, 500, "That file is too large to send here.");
    } else {
        snprintf(r->sha256, sizeof r->sha256, "%s", jstr(meta, "sha256"));
        r->raw_type = "application/octet-stream";
        snprintf(r->disposition, sizeof r->disposition, "attachment; filename=\"evidence-%lld\"",
                 (long long)id);
        r->status = 200;
    }
    free(data);
    json_decref(meta);
}

/* ---- the incident report ------------------------------------------------ */

static const char *const incident_types[] = {"intimidation_polling_station",
                                             "assault",
                                             "criminal_damage",
                                             "harassment",
                                             "disinformation",
                                             "intimidation_meeting",
                                             "online_threat",
                                             "other"};

static void report_page(struct td__req *r, unsigned status, const char *problem)
{
    struct td__html h;
    td__page_begin(r, &h, "Report an incident", "report");
    td__html(&h, "<h1>Report an incident</h1><p class=\"hint\">Short is fine. If you have no "
                 "signal it is kept on this phone and sent when you are back online.</p>"
                 "<p id=\"report-status\" class=\"note\" role=\"status\" aria-live=\"polite\">"
                 "</p>");
    if (problem)
        td__html(&h, "<p class=\"problem\" role=\"alert\">%s</p>", problem);
    td__html(&h, "<form method=\"post\" action=\"/report\" id=\"report-form\" class=\"stack\">");
    td__page_csrf_field(r, &h);
    td__html(&h, "<label for=\"rtype\">What happened</label><select id=\"rtype\" name=\"type\">");
    for (size_t i = 0; i < sizeof incident_types / sizeof incident_types[0]; i++)
        td__html(&h, "<option value=\"%s\">%s</option>", incident_types[i],
                 td__case_type_label(incident_types[i]));
    td__html(&h, "</select><label for=\"rdesc\">Tell us briefly</label>"
                 "<textarea id=\"rdesc\" name=\"description\" rows=\"4\" required></textarea>"
                 "<label for=\"rwhen\">When (leave empty for now)</label>"
                 "<input id=\"rwhen\" name=\"occurred\" type=\"datetime-local\">"
                 "<label for=\"rwhere\">Where (street, polling station...)</label>"
                 "<input id=\"rwhere\" name=\"address\" autocomplete=\"street-address\">"
                 "<button type=\"button\" id=\"rgps\" class=\"secondary\" hidden>Add my position "
                 "(asks your permission)</button>"
                 "<input type=\"hidden\" name=\"lat\" id=\"rlat\">"
                 "<input type=\"hidden\" name=\"lon\" id=\"rlon\">"
                 "<label for=\"rwho\">Who was involved (descriptions, names if known)</label>"
                 "<input id=\"rwho\" name=\"people\">"
                 "<label for=\"rphoto\">Photos</label>"
                 "<input id=\"rphoto\" type=\"file\" accept=\"image/*\" capture=\"environment\" "
                 "multiple>"
                 "<button type=\"submit\">Send report</button></form>");
    td__page_end(r, &h, status);
}

void td__w_report_form(struct td__req *r)
{
    report_page(r, 200, NULL);
}

/* datetime-local ("2026-12-03T14:05") in the server's local time -> epoch. */
static int local_time(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%Y-%m-%dT%H:%M", &tm);
    if (!end || (*end && *end != ':'))
        return -1;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = (int64_t)t;
    return 0;
}

void td__w_report(struct td__req *r)
{
    struct td_error err;
    char type[64], desc[8200], when[40], addr[600], people[1100], lat[40], lon[40], title[200];
    int64_t id = 0, occurred = 0;
    char refbuf[40];
    const char *ref = td__form(r, "ref", refbuf, sizeof refbuf);
    int64_t again = td__web_ref_find(r->srv, r->caller.user_id, ref);
    if (again && td__web_wants_json(r)) {
        /* sent again after a lost answer: the case it already is */
        td__reply(
            r, 200,
            json_pack("{s:I,s:s,s:b}", "case", (json_int_t)again, "title", "", "duplicate", 1));
        return;
    }
    const char *t = td__form(r, "type", type, sizeof type);
    const char *d = td__form(r, "description", desc, sizeof desc);
    if (!t || td_case_type_from_name(t) < 0)
        t = "other";
    if (!d || !*d) {
        report_page(r, 400, "Say briefly what happened.");
        return;
    }
    const char *w = td__form(r, "occurred", when, sizeof when);
    if (w && *w && local_time(w, &occurred) != 0) {
        report_page(r, 400, "That time is not one (use the picker).");
        return;
    }
    /* The title: the first line of the account, cut at a character. */
    size_t n = strcspn(d, "\r\n");
    if (n > 80) {
        n = 80;
        while (n > 0 && ((unsigned char)d[n] & 0xC0) == 0x80)
            n--;
    }
    snprintf(title, sizeof title, "%s: %.*s", td__case_type_label(t), (int)n, d);
    json_t *f = json_pack("{s:s,s:s,s:s}", "type", t, "title", title, "description", d);
    json_t *place = json_object();
    const char *a = td__form(r, "address", addr, sizeof addr);
    if (a && *a)
        json_object_set_new(place, "address", json_string(a));
    const char *la = td__form(r, "lat", lat, sizeof lat), *lo = td__form(r, "lon", lon, sizeof lon);
    if (la && lo && *la && *lo) {
        char *e1, *e2;
        double x = strtod(la, &e1), y = strtod(lo, &e2);
        if (!*e1 && !*e2 && x >= -90 && x <= 90 && y >= -180 && y <= 180) {
            json_object_set_new(place, "lat", json_real(x));
            json_object_set_new(place, "lon", json_real(y));
        }
    }
    if (f && json_object_size(place))
        json_object_set(f, "place", place);
    json_decref(place);
    const char *p = td__form(r, "people", people, sizeof people);
    if (f && p && *p)
        json_object_set_new(f, "people", json_pack("[s]", p));
    if (f && occurred)
        json_object_set_new(f, "occurred", json_integer((json_int_t)occurred));
    td_error_clear(&err);
    int rc = f ? td_desk_case_create(r->srv->desk, &r->actor, f, &id, &err)
               : td_error_set(&err, TD_EINVAL, "the report is not text");
    json_decref(f);
    if (rc != TD_OK) {
        if (td__web_wants_json(r))
            td__reply_td_error(r, rc, &err);
        else
            report_page(r, td__http_status_for(rc),
                        err.message[0] ? err.message : "The report could not be filed.");
        return;
    }
    td__web_ref_add(r->srv, r->caller.user_id, ref, id);
    if (td__web_wants_json(r)) {
        td__reply(r, 201, json_pack("{s:I,s:s}", "case", (json_int_t)id, "title", title));
        return;
    }
    struct td__html h;
    td__page_begin(r, &h, "Report received", "report");
    td__html(&h,
             "<h1>Report received</h1><p class=\"note\" role=\"status\">Thank you. Your "
             "case number is <strong class=\"case-no\">%I</strong>. The security lead has "
             "it.</p><p><a href=\"/report\">Report something else</a></p>",
             id);
    td__page_end(r, &h, 201);
}

void td__w_reports(struct td__req *r)
{
    struct td__html h;
    td__page_begin(r, &h, "My reports", "reports");
    td__html(&h, "<h1>My reports</h1><p class=\"hint\">What this phone has sent, and what is "
                 "waiting for a signal. The desk does not show reports back to the person who "
                 "filed them; the security lead follows them up.</p>"
                 "<ul id=\"my-reports\"><li>Nothing yet.</li></ul>");
    td__page_end(r, &h, 200);
}
