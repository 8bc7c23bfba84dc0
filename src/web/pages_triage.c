/*
 * pages_triage.c - the caseworker's day: the queue, one message, and what
 * is done with it (review, dismiss with a reason, escalate into a case).
 *
 *   GET  /queue?view=open|all&page=N   50 a page, most urgent first (the
 *                                      desk's order: unreviewed, severity,
 *                                      newest); counts from the same query
 *   GET  /messages/{id}                analysed text with the verdict's
 *                                      spans marked and named, the original
 *                                      bytes beside it, the sender's history
 *   POST /messages/{id}/review|dismiss|escalate|reopen|case
 *
 * Every read and change goes through the desk with the caller's actor, so
 * another office's id is "no such record" (404) exactly as in /v1.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "threatdesk/taxonomy.h"
#include "web/web_int.h"

#define PAGE_SIZE 50
#define PREVIEW 160
#define ORIGINAL_SHOWN ((size_t)64 << 10)

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int64_t jint(json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

/* Cut n bytes back to a UTF-8 character boundary. */
static size_t utf8_cut(const char *s, size_t n)
{
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static void severity_badge(struct td__html *h, const char *sev)
{
    td__html(h, "<span class=\"sev sev-%s\">%s</span>", sev, *sev ? sev : "none");
}

static void labels_list(struct td__html *h, json_t *m)
{
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(m, "predicted"), i, l)
        td__html(h, "<span class=\"tag\">%s</span>", json_string_value(l));
}

/* One queue row. */
static void queue_row(struct td__html *h, json_t *m)
{
    int64_t id = jint(m, "id");
    const char *text = jstr(m, "text");
    const char *subject = jstr(m, "subject");
    const char *who = *jstr(m, "sender_name") ? jstr(m, "sender_name") : jstr(m, "sender");
    size_t tl = strlen(text);
    size_t n = tl > PREVIEW ? utf8_cut(text, PREVIEW) : tl;
    td__html(h, "<li class=\"row st-%s sv-%s\" data-id=\"%I\">", jstr(m, "status"),
             jstr(m, "severity"), id);
    severity_badge(h, jstr(m, "severity"));
    td__html(h,
             "<a class=\"open\" href=\"/messages/%I\"><span class=\"who\">%s</span> "
             "<span class=\"subj\">%s</span></a><p class=\"preview\">",
             id, *who ? who : "unknown sender", *subject ? subject : "(no subject)");
    td__html_esc(h, text, n);
    td__html(h, "%R</p><p class=\"meta\"><span class=\"chan\">%s</span> ", n < tl ? "…" : "",
             jstr(m, "channel"));
    labels_list(h, m);
    td__html(h, " <span class=\"status\">%s</span> ", jstr(m, "status"));
    td__html_time(h, jint(m, "received"), 1);
    td__html(h, "</p></li>");
}

/* A channel name as a filter: short and plain, so it can go back into a
 * link as it is. */
static int plain_word(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= 32 || !((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') ||
                         s[n] == '_' || s[n] == '-'))
            return 0;
    return n > 0;
}

static void select_options(struct td__html *h, const char *id, const char *label, const char *any,
                           const char *cur, const char *(*name)(int), int count, int from)
{
    td__html(h,
             "<label for=\"%s\">%s</label><select id=\"%s\" name=\"%s\"><option value=\"\">%s"
             "</option>",
             id, label, id, id, any);
    for (int i = from; i < count; i++)
        td__html(h, "<option value=\"%s\"%R>%s</option>", name(i),
                 cur && !strcmp(cur, name(i)) ? " selected" : "", name(i));
    td__html(h, "</select>");
}

/* A sender key as a filter ("email:name@example.org", "twitter:@handle"):
 * printable ASCII or UTF-8, no spaces or controls, at most 200 bytes. */
static int sender_key_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= 200 || (unsigned char)s[n] <= ' ' || s[n] == 0x7f)
            return 0;
    return n > 0;
}

/* Append "&name=value" to a link, the value percent-encoded (all but
 * A-Z a-z 0-9 - . _ ~). */
void td__web_keep_param(char *out, size_t size, const char *name, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(out);
    int w = snprintf(out + n, size - n, "&%s=", name);
    if (w < 0 || (size_t)w >= size - n)
        return;
    n += (size_t)w;
    for (const unsigned char *p = (const unsigned char *)v; *p && n + 4 < size; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
}

/* The sender and from/to day filters of a list page (the queue, the cases
 * board) from the query string: *sender, *since, *until set only for what
 * is given (whole local days), from_iso/to_iso the days as YYYY-MM-DD for
 * the page's links.  NULL, or what is wrong in words for the page. */
const char *td__web_read_filters(struct td__req *r, const char **sender, int64_t *since,
                                 int64_t *until, char from_iso[11], char to_iso[11])
{
    const char *snd = td__query(r, "sender");
    const char *from = td__query(r, "from");
    const char *to = td__query(r, "to");
    int64_t day_start, day_end;
    if (snd && *snd) {
        if (!sender_key_ok(snd))
            return "That sender is not one: give it as the desk shows it, for example "
                   "email:name@example.org or twitter:@handle.";
        *sender = snd;
    }
    if (from && *from) {
        if (td__web_parse_day(from, &day_start, &day_end, from_iso) != 0)
            return "The 'from' date is not a date. Write it as day/month/year, for example "
                   "03/12/2026.";
        *since = day_start;
    }
    if (to && *to) {
        if (td__web_parse_day(to, &day_start, &day_end, to_iso) != 0)
            return "The 'to' date is not a date. Write it as day/month/year, for example "
                   "03/12/2026.";
        *until = day_end; /* the whole of that day */
    }
    if (from_iso[0] && to_iso[0] && *since >= *until)
        return "The 'from' date is after the 'to' date.";
    return NULL;
}

void td__w_queue(struct td__req *r)
{
    struct td_queue_filter f;
    struct td_error err;
    json_t *out = NULL;
    const char *view = td__query(r, "view");
    const char *sev = td__query(r, "severity");
    const char *lab = td__query(r, "label");
    const char *chan = td__query(r, "channel");
    int all = view && !strcmp(view, "all");
    uint64_t page = 1;
    const char *pg = td__query(r, "page");
    if (pg && (td__parse_u64(pg, 1000000, &page) != 0 || page == 0)) {
        td__web_error(r, 400, "That page number is not one.");
        return;
    }
    td_queue_filter_init(&f);
    f.status = all ? -1 : TD_MSG_UNREVIEWED;
    if (sev && *sev && (f.min_severity = td_severity_from_name(sev)) < 0) {
        td__web_error(r, 400, "That severity is not one.");
        return;
    }
    if (lab && *lab && (f.label = td_label_from_name(lab)) < 0) {
        td__web_error(r, 400, "That label is not one.");
        return;
    }
    if (chan && *chan && !plain_word(chan)) {
        td__web_error(r, 400, "That channel is not one.");
        return;
    }
    if (chan && *chan)
        f.channel = chan;
    /* Sender and dates: a mistake there is told on the page, beside the
     * form, with the list left out (a 400, never a 500).  The sender key
     * may travel in the query: the request log holds the path only
     * (log.c), never the query string. */
    char from_iso[11] = "", to_iso[11] = "";
    const char *problem = td__web_read_filters(r, &f.sender, &f.since, &f.until, from_iso, to_iso);
    f.limit = PAGE_SIZE;
    f.offset = (size_t)(page - 1) * PAGE_SIZE;
    td_error_clear(&err);
    int rc = problem ? TD_OK : td_desk_queue(r->srv->desk, &r->actor, &f, &out, &err);
    if (rc != TD_OK) {
        td__web_desk_error(r, rc, &err);
        return;
    }
    /* The filters again, for the page links (severity, label and channel
     * are from a fixed vocabulary or a plain word; the sender is encoded). */
    char keep[900];
    snprintf(keep, sizeof keep, "%s%s%s%s%s%s%s", all ? "&view=all" : "",
             f.min_severity > 0 ? "&severity=" : "", f.min_severity > 0 ? sev : "",
             f.label >= 0 ? "&label=" : "", f.label >= 0 ? lab : "", f.channel ? "&channel=" : "",
             f.channel ? f.channel : "");
    if (f.sender)
        td__web_keep_param(keep, sizeof keep, "sender", f.sender);
    if (from_iso[0])
        td__web_keep_param(keep, sizeof keep, "from", from_iso);
    if (to_iso[0])
        td__web_keep_param(keep, sizeof keep, "to", to_iso);
    int filtered = f.min_severity > 0 || f.label >= 0 || f.channel || f.sender || from_iso[0] ||
                   to_iso[0] || problem;
    int64_t total = jint(out, "total");
    struct td__html h;
    td__page_begin(r, &h, "Triage queue", "queue");
    td__html(&h,
             "<div class=\"bar\"><h1>Triage queue</h1>"
             "<p class=\"count\" id=\"queue-count\">%I %s</p>"
             "<p class=\"views\"><a href=\"/queue\"%R>To review</a> "
             "<a href=\"/queue?view=all\"%R>Everything</a></p>"
             "<p class=\"keys\">Keys: <kbd>j</kbd>/<kbd>k</kbd> move, <kbd>Enter</kbd> open, "
             "<kbd>?</kbd> help</p></div>",
             total, all ? (total == 1 ? "message" : "messages") : "to review",
             all ? "" : " aria-current=\"page\"", all ? " aria-current=\"page\"" : "");
    td__html(&h,
             "<details class=\"filters\"%R><summary>Filter</summary>"
             "<form method=\"get\" action=\"/queue\" class=\"row-form\">",
             filtered ? " open" : "");
    if (all)
        td__html(&h, "<input type=\"hidden\" name=\"view\" value=\"all\">");
    select_options(&h, "severity", "At least", "any severity", sev, td_severity_name,
                   TD_SEVERITY_COUNT, 1);
    select_options(&h, "label", "Label", "any label", lab, td_label_name, TD_LABEL_COUNT, 0);
    td__html(&h,
             "<label for=\"channel\">Channel</label><input id=\"channel\" name=\"channel\" "
             "size=\"10\" value=\"%s\">"
             "<label for=\"sender\">Sender</label><input id=\"sender\" name=\"sender\" "
             "size=\"24\" autocapitalize=\"none\" placeholder=\"email:name@example.org\" "
             "value=\"%s\">"
             "<label for=\"from\">From <span class=\"hint\">(dd/mm/yyyy)</span></label>"
             "<input id=\"from\" name=\"from\" type=\"date\" value=\"%s\">"
             "<label for=\"to\">To <span class=\"hint\">(dd/mm/yyyy)</span></label>"
             "<input id=\"to\" name=\"to\" type=\"date\" value=\"%s\">"
             "<button type=\"submit\">Show</button></form></details>",
             f.channel ? f.channel : "", td__query(r, "sender") ? td__query(r, "sender") : "",
             from_iso[0] ? from_iso : "", to_iso[0] ? to_iso : "");
    if (problem) {
        td__html(&h, "<p class=\"problem\" role=\"alert\" id=\"filter-problem\">%s</p>", problem);
        td__page_end(r, &h, 400);
        return;
    }
    td__html(&h, "<ol class=\"queue\" id=\"queue-list\" data-live=\"%s\" aria-label=\"Messages\">",
             page == 1 && !filtered ? "1" : "0");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(out, "messages"), i, m) queue_row(&h, m);
    td__html(&h, "</ol>");
    if (!json_array_size(json_object_get(out, "messages")))
        td__html(&h, "<p class=\"empty\">Nothing to review. New messages appear here as they "
                     "arrive.</p>");
    td__html(&h, "<nav class=\"pages\" aria-label=\"Pages\">");
    if (page > 1)
        td__html(&h, "<a href=\"/queue?page=%I%s\">Newer page</a> ", (int64_t)page - 1, keep);
    if (json_object_get(out, "next_offset"))
        td__html(&h, "<a href=\"/queue?page=%I%s\">Next page</a>", (int64_t)page + 1, keep);
    td__html(&h, "</nav>");
    json_decref(out);
    td__page_end(r, &h, 200);
}

/* ---- one message -------------------------------------------------------- */

struct span {
    size_t start, end;
    json_t *j;
};

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start ? 1 : 0;
}

/* The analysed text with each span in a <mark> that names what found it;
 * overlapping spans are clipped to the first. */
static void marked_text(struct td__html *h, const char *text, json_t *spans)
{
    size_t len = strlen(text), n = json_array_size(spans), k = 0;
    struct span *sp = n ? calloc(n, sizeof *sp) : NULL;
    for (size_t i = 0; sp && i < n; i++) {
        json_t *s = json_array_get(spans, i);
        int64_t a = jint(s, "start"), b = jint(s, "end");
        if (a < 0 || b <= a || (size_t)b > len)
            continue;
        sp[k++] = (struct span){(size_t)a, (size_t)b, s};
    }
    if (k)
        qsort(sp, k, sizeof *sp, span_cmp);
    size_t at = 0;
    for (size_t i = 0; i < k; i++) {
        size_t a = sp[i].start < at ? at : sp[i].start;
        if (a >= sp[i].end)
            continue;
        td__html_esc(h, text + at, a - at);
        const char *rule = jstr(sp[i].j, "rule");
        td__html(h, "<mark class=\"span lab-%s\" data-span=\"%z\" title=\"%s: %s%R%s\">",
                 jstr(sp[i].j, "label"), i, jstr(sp[i].j, "label"), jstr(sp[i].j, "source"),
                 *rule ? " " : "", rule);
        td__html_esc(h, text + a, sp[i].end - a);
        td__html(h, "<span class=\"why\"> [%s, %s%R%s]</span></mark>", jstr(sp[i].j, "label"),
                 jstr(sp[i].j, "source"), *rule ? " " : "", rule);
        at = sp[i].end;
    }
    td__html_esc(h, text + at, len - at);
    free(sp);
}

static void span_legend(struct td__html *h, json_t *spans)
{
    size_t i;
    json_t *s;
    if (!json_array_size(spans)) {
        td__html(h, "<p>No passage was marked; the verdict rests on the message as a whole.</p>");
        return;
    }
    td__html(h, "<ul class=\"spans\">");
    json_array_foreach(spans, i, s)
    {
        const char *rule = jstr(s, "rule");
        td__html(h,
                 "<li><q>%s</q> - <strong>%s</strong>, found by the %s%R<span "
                 "class=\"rule\">%s</span></li>",
                 jstr(s, "text"), jstr(s, "label"), jstr(s, "source"), *rule ? " rule " : "", rule);
    }
    td__html(h, "</ul>");
}

static void sender_history(struct td__req *r, struct td__html *h, const char *sender, int64_t self)
{
    struct td_error err;
    json_t *out = NULL;
    td_error_clear(&err);
    td__html(h, "<section class=\"panel\" aria-labelledby=\"hist\"><h2 id=\"hist\">Sender "
                "history</h2>");
    if (!*sender || td_desk_sender(r->srv->desk, &r->actor, sender, 10, &out, &err) != TD_OK) {
        td__html(h, "<p>No history for this sender.</p></section>");
        return;
    }
    td__html(h, "<p><strong>%s</strong>: %I messages, %I threats, worst %s; first seen ",
             jstr(out, "sender"), jint(out, "messages"), jint(out, "threats"),
             jstr(out, "worst_severity"));
    td__html_time(h, jint(out, "first_seen"), 0);
    td__html(h, ".</p><ul class=\"history\">");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(out, "recent"), i, m)
    {
        if (jint(m, "id") == self)
            continue;
        td__html(h, "<li>");
        severity_badge(h, jstr(m, "severity"));
        td__html(h, " <a href=\"/messages/%I\">%s</a> <span class=\"chan\">%s</span> ",
                 jint(m, "id"), *jstr(m, "subject") ? jstr(m, "subject") : "(no subject)",
                 jstr(m, "channel"));
        td__html_time(h, jint(m, "received"), 0);
        td__html(h, "</li>");
    }
    td__html(h,
             "</ul><p><a href=\"/messages/%I/sender\">Everything from this sender</a></p>"
             "</section>",
             self);
    json_decref(out);
}

static void case_type_options(struct td__html *h, const char *selected)
{
    for (int t = 0; t < TD_CASE_TYPE_COUNT; t++) {
        const char *w = td_case_type_name(t);
        td__html(h, "<option value=\"%s\"%R>%s</option>", w,
                 selected && !strcmp(selected, w) ? " selected" : "", td__case_type_label(w));
    }
}

static void action_forms(struct td__req *r, struct td__html *h, int64_t id, const char *status)
{
    td__html(h,
             "<section class=\"panel actions\" aria-labelledby=\"act\"><h2 id=\"act\">What "
             "next</h2><p>Status: <strong>%s</strong></p>",
             status);
    if (strcmp(status, "unreviewed") != 0) {
        td__html(h, "<form method=\"post\" action=\"/messages/%I/reopen\">", id);
        td__page_csrf_field(r, h);
        td__html(h, "<button type=\"submit\">Back to the queue</button></form>");
    } else {
        td__html(h, "<form method=\"post\" action=\"/messages/%I/review\" id=\"f-review\">", id);
        td__page_csrf_field(r, h);
        td__html(h, "<button type=\"submit\" aria-keyshortcuts=\"r\">Mark reviewed "
                    "<kbd>r</kbd></button></form>");
        td__html(h,
                 "<form method=\"post\" action=\"/messages/%I/dismiss\" id=\"f-dismiss\" "
                 "class=\"stack\">",
                 id);
        td__page_csrf_field(r, h);
        td__html(h, "<label for=\"dreason\">Reason to dismiss <kbd>d</kbd></label>"
                    "<input id=\"dreason\" name=\"reason\" required list=\"dreasons\" "
                    "aria-keyshortcuts=\"d\"><datalist id=\"dreasons\">"
                    "<option value=\"Not a threat: robust criticism\">"
                    "<option value=\"Spam\"><option value=\"Duplicate\"></datalist>"
                    "<button type=\"submit\">Dismiss</button></form>");
    }
    td__html(h,
             "<form method=\"post\" action=\"/messages/%I/escalate\" id=\"f-escalate\" "
             "class=\"stack\">",
             id);
    td__page_csrf_field(r, h);
    td__html(h, "<label for=\"ereason\">Why escalate <kbd>e</kbd></label>"
                "<input id=\"ereason\" name=\"reason\" required aria-keyshortcuts=\"e\">"
                "<label for=\"etype\">Kind of incident</label><select id=\"etype\" "
                "name=\"type\">");
    case_type_options(h, "online_threat");
    td__html(h, "</select><label class=\"check\"><input type=\"checkbox\" name=\"open_case\" "
                "value=\"1\" checked> Open a case for the security lead</label>"
                "<button type=\"submit\" class=\"danger\">Escalate</button></form>");
    td__html(h, "<form method=\"post\" action=\"/messages/%I/link\" class=\"stack\">", id);
    td__page_csrf_field(r, h);
    td__html(h, "<label for=\"lcase\">Add to an existing case (its number)</label>"
                "<input id=\"lcase\" name=\"case\" inputmode=\"numeric\" pattern=\"[0-9]+\" "
                "required><button type=\"submit\" class=\"secondary\">Add to case</button></form>"
                "</section>");
}

void td__w_message(struct td__req *r)
{
    struct td_error err;
    json_t *m = NULL;
    void *orig = NULL;
    size_t olen = 0;
    int64_t id;
    if (!td__path_id(r, "id", &id)) {
        td__web_error(r, 404, "There is no such message in your office.");
        return;
    }
    td_error_clear(&err);
    int rc = td_desk_message_get(r->srv->desk, &r->actor, id, &m, &err);
    if (rc != TD_OK) {
        td__web_desk_error(r, rc, &err);
        return;
    }
    if (td_desk_message_original(r->srv->desk, &r->actor, id, &orig, &olen, NULL, &err) != TD_OK)
        orig = NULL;
    const char *subject = jstr(m, "subject");
    struct td__html h;
    char title[80];
    snprintf(title, sizeof title, "Message %lld", (long long)id);
    td__page_begin(r, &h, title, "queue");
    td__html(&h, "<p><a href=\"/queue\">Back to the queue</a></p><h1>");
    severity_badge(&h, jstr(m, "severity"));
    td__html(&h,
             " %s</h1><dl class=\"facts\"><dt>From</dt><dd>%s%R%s%R</dd>"
             "<dt>Channel</dt><dd>%s</dd><dt>Received</dt><dd>",
             *subject ? subject : "(no subject)", jstr(m, "sender_name"),
             *jstr(m, "sender_name") ? " &lt;" : "", jstr(m, "sender"),
             *jstr(m, "sender_name") ? "&gt;" : "", jstr(m, "channel"));
    td__html_time(&h, jint(m, "received"), 1);
    td__html(&h, "</dd><dt>Labels</dt><dd>");
    labels_list(&h, m);
    td__html(&h, "</dd><dt>Why</dt><dd>%s (model %s)</dd>", jstr(m, "reason"), jstr(m, "model"));
    json_t *att = json_object_get(m, "attachments");
    if (json_array_size(att)) {
        td__html(&h, "<dt>Attachments</dt><dd><ul>");
        size_t i;
        json_t *a;
        json_array_foreach(att, i, a) td__html(&h, "<li>%s (%s, %I bytes)</li>", jstr(a, "name"),
                                               jstr(a, "type"), jint(a, "size"));
        td__html(&h, "</ul></dd>");
    }
    json_t *cases = json_object_get(m, "cases");
    if (json_array_size(cases)) {
        td__html(&h, "<dt>Cases</dt><dd>");
        size_t i;
        json_t *c;
        json_array_foreach(cases, i, c)
            td__html(&h, "<a href=\"/cases/%I\">Case %I</a> ", (int64_t)json_integer_value(c),
                     (int64_t)json_integer_value(c));
        td__html(&h, "</dd>");
    }
    td__html(&h, "</dl><div class=\"side\"><section class=\"panel\" aria-labelledby=\"an\">"
                 "<h2 id=\"an\">Analysed text</h2><div class=\"text\" id=\"analysed\">");
    marked_text(&h, jstr(m, "text"), json_object_get(m, "spans"));
    td__html(&h, "</div><h3>What the engine marked</h3>");
    span_legend(&h, json_object_get(m, "spans"));
    td__html(&h, "</section><section class=\"panel\" aria-labelledby=\"or\"><h2 id=\"or\">"
                 "Original</h2><pre class=\"original\" tabindex=\"0\">");
    if (orig)
        td__html_esc(&h, orig, olen > ORIGINAL_SHOWN ? ORIGINAL_SHOWN : olen);
    if (olen > ORIGINAL_SHOWN)
        td__html(&h, "\n[... %z more bytes]", olen - ORIGINAL_SHOWN);
    td__html(&h, "</pre></section></div>");
    free(orig);
    action_forms(r, &h, id, jstr(m, "status"));
    sender_history(r, &h, jstr(m, "sender"), id);
    td__html(&h, "<p class=\"keys\">Keys: <kbd>r</kbd> reviewed, <kbd>d</kbd> dismiss, "
                 "<kbd>e</kbd> escalate, <kbd>j</kbd>/<kbd>k</kbd> next/previous, "
                 "<kbd>?</kbd> help</p>");
    json_decref(m);
    td__page_end(r, &h, 200);
}

/* ---- actions ------------------------------------------------------------ */

/* A case from a message: title from the subject (or sender), linked. */
static int case_from_message(struct td__req *r, int64_t mid, const char *type, const char *why,
                             int64_t *case_id, struct td_error *err)
{
    json_t *m = NULL;
    char title[300];
    int rc = td_desk_message_get(r->srv->desk, &r->actor, mid, &m, err);
    if (rc != TD_OK)
        return rc;
    const char *subject = jstr(m, "subject");
    if (*subject)
        snprintf(title, sizeof title, "%s", subject);
    else
        snprintf(title, sizeof title, "%s message from %s", jstr(m, "channel"),
                 *jstr(m, "sender") ? jstr(m, "sender") : "an unknown sender");
    json_t *fields =
        json_pack("{s:s,s:s,s:s}", "type", type, "title", title, "description", why ? why : "");
    json_decref(m);
    if (!fields)
        return td_error_set(err, TD_EINVAL, "the subject is not text");
    rc = td_desk_case_create(r->srv->desk, &r->actor, fields, case_id, err);
    json_decref(fields);
    if (rc == TD_OK)
        rc = td_desk_case_link_message(r->srv->desk, &r->actor, *case_id, mid, err);
    return rc;
}

static void done(struct td__req *r, const char *where, int64_t case_id)
{
    if (td__web_wants_json(r)) {
        td__reply(
            r, 200,
            json_pack("{s:b,s:s,s:I}", "ok", 1, "location", where, "case", (json_int_t)case_id));
        return;
    }
    td__web_redirect(r, where);
}

void td__w_message_act(struct td__req *r)
{
    struct td_error err;
    int64_t id, case_id = 0;
    char reason[1100], type[64], opencase[8], where[64];
    const char *act = td__param(r, "action");
    if (!td__path_id(r, "id", &id)) {
        td__web_error(r, 404, "There is no such message in your office.");
        return;
    }
    const char *why = td__form(r, "reason", reason, sizeof reason);
    if (why && !*why)
        why = NULL;
    td_error_clear(&err);
    int rc;
    snprintf(where, sizeof where, "/messages/%lld", (long long)id);
    if (!strcmp(act, "review")) {
        rc = td_desk_message_set_status(r->srv->desk, &r->actor, id, TD_MSG_REVIEWED, why, &err);
        snprintf(where, sizeof where, "/queue");
    } else if (!strcmp(act, "dismiss")) {
        if (!why) {
            td__web_error(r, 400, "Say why it is dismissed.");
            return;
        }
        rc = td_desk_message_set_status(r->srv->desk, &r->actor, id, TD_MSG_DISMISSED, why, &err);
        snprintf(where, sizeof where, "/queue");
    } else if (!strcmp(act, "reopen")) {
        rc = td_desk_message_set_status(r->srv->desk, &r->actor, id, TD_MSG_UNREVIEWED, why, &err);
    } else if (!strcmp(act, "link")) {
        char cs[24];
        const char *c = td__form(r, "case", cs, sizeof cs);
        if (!c || td__parse_i64(c, &case_id) != 0 || case_id <= 0) {
            td__web_error(r, 400, "Give the case number.");
            return;
        }
        rc = td_desk_case_link_message(r->srv->desk, &r->actor, case_id, id, &err);
        snprintf(where, sizeof where, "/cases/%lld", (long long)case_id);
    } else if (!strcmp(act, "escalate") || !strcmp(act, "case")) {
        int esc = !strcmp(act, "escalate");
        if (esc && !why) {
            td__web_error(r, 400, "Say why it is escalated.");
            return;
        }
        const char *t = td__form(r, "type", type, sizeof type);
        if (!t || td_case_type_from_name(t) < 0)
            t = "online_threat";
        int open = !esc || td__form(r, "open_case", opencase, sizeof opencase) != NULL;
        rc = esc ? td_desk_message_set_status(r->srv->desk, &r->actor, id, TD_MSG_ESCALATED, why,
                                              &err)
                 : TD_OK;
        if (rc == TD_OK && open) {
            rc = case_from_message(r, id, t, why, &case_id, &err);
            if (rc == TD_OK)
                snprintf(where, sizeof where, "/cases/%lld", (long long)case_id);
        }
    } else {
        td__web_error(r, 404, "There is no such action.");
        return;
    }
    if (rc != TD_OK) {
        td__web_desk_error(r, rc, &err);
        return;
    }
    done(r, where, case_id);
}

/* GET /messages/{id}/sender: everything the office had from the sender of
 * one message.  Addressed by the message, so no address appears in a URL
 * (or the request log). */
void td__w_message_sender(struct td__req *r)
{
    struct td_error err;
    json_t *m = NULL, *out = NULL;
    int64_t id;
    if (!td__path_id(r, "id", &id)) {
        td__web_error(r, 404, "There is no such message in your office.");
        return;
    }
    td_error_clear(&err);
    int rc = td_desk_message_get(r->srv->desk, &r->actor, id, &m, &err);
    if (rc == TD_OK && !*jstr(m, "sender"))
        rc = td_error_set(&err, TD_ENOTFOUND, "no sender");
    if (rc == TD_OK)
        rc = td_desk_sender(r->srv->desk, &r->actor, jstr(m, "sender"), 200, &out, &err);
    json_decref(m);
    if (rc != TD_OK) {
        td__web_desk_error(r, rc, &err);
        return;
    }
    struct td__html h;
    td__page_begin(r, &h, "Sender", "queue");
    td__html(&h,
             "<p><a href=\"/messages/%I\">Back to the message</a></p><h1>%s</h1>"
             "<dl class=\"facts\"><dt>Name</dt><dd>%s</dd><dt>Messages</dt><dd>%I</dd>"
             "<dt>Threats</dt><dd>%I</dd><dt>Worst</dt><dd>%s</dd><dt>First seen</dt><dd>",
             id, jstr(out, "sender"), *jstr(out, "display") ? jstr(out, "display") : "unknown",
             jint(out, "messages"), jint(out, "threats"), jstr(out, "worst_severity"));
    td__html_time(&h, jint(out, "first_seen"), 0);
    td__html(&h, "</dd><dt>Last seen</dt><dd>");
    td__html_time(&h, jint(out, "last_seen"), 0);
    td__html(&h, "</dd></dl><h2>Recent messages, every channel</h2><ol class=\"queue\">");
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(out, "recent"), i, x) queue_row(&h, x);
    td__html(&h, "</ol>");
    json_decref(out);
    td__page_end(r, &h, 200);
}
