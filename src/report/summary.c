/*
 * summary.c - summary.pdf, the page a police officer reads first
 * (report.h td_report_case_summary).
 *
 * Written for someone who has never seen threatdesk: it says what the
 * file is and what the automated assessment is (and is not), then the
 * incident, the timeline, each message with the words that drove its
 * assessment highlighted, the senders, the evidence and the hashes that
 * tie every page back to the signed manifest.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_int.h"

#define TEXT_SHOWN 6000 /* bytes of a message's text printed; the rest is in the original */

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s && *s ? s : NULL;
}

static const char *or_dash(const char *s)
{
    return s ? s : "-";
}

static void kv_time(struct td__doc *d, const char *key, const json_t *v)
{
    char t[64];
    if (!json_is_integer(v))
        return;
    td__doc_time(json_integer_value(v), t, sizeof t);
    td__doc_kv(d, key, t);
}

/* The text with each span the assessment rests on highlighted.  Spans are
 * byte ranges into the text; one is used only when the text there is what
 * the span says it is (and on UTF-8 boundaries), so a highlight can never
 * mark the wrong words. */
static char *highlighted(const char *text, size_t len, const json_t *spans, int *cut)
{
    size_t n = len > TEXT_SHOWN ? TEXT_SHOWN : len;
    while (n < len && n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
        n--;
    *cut = n < len;
    unsigned char *mark = calloc(n + 1, 1);
    GString *g = g_string_new(NULL);
    size_t i;
    json_t *s;
    json_array_foreach(spans, i, s)
    {
        json_int_t a = json_integer_value(json_object_get(s, "start"));
        json_int_t b = json_integer_value(json_object_get(s, "end"));
        const char *st = json_string_value(json_object_get(s, "text"));
        if (!mark || a < 0 || b <= a || (size_t)b > n || !st || strlen(st) != (size_t)(b - a) ||
            memcmp(text + a, st, (size_t)(b - a)) || ((unsigned char)text[a] & 0xC0) == 0x80 ||
            ((size_t)b < n && ((unsigned char)text[b] & 0xC0) == 0x80))
            continue;
        memset(mark + a, 1, (size_t)(b - a));
    }
    for (size_t p = 0; p < n;) {
        size_t q = p;
        int on = mark ? mark[p] : 0;
        while (q < n && (mark ? mark[q] : 0) == on)
            q++;
        char *e = td__doc_escape(text + p, (long)(q - p));
        if (on)
            g_string_append_printf(g, "<span background=\"#ffd84d\"><b>%s</b></span>", e);
        else
            g_string_append(g, e);
        g_free(e);
        p = q;
    }
    free(mark);
    return g_string_free(g, FALSE);
}

static void message(struct td__doc *d, size_t k, const json_t *m)
{
    char buf[512], t[64];
    json_int_t id = json_integer_value(json_object_get(m, "id"));
    td__doc_rule(d);
    td__doc_time(json_integer_value(json_object_get(m, "received")), t, sizeof t);
    snprintf(buf, sizeof buf, "Message %zu (desk id %" JSON_INTEGER_FORMAT ")", k + 1, id);
    td__doc_heading(d, buf, 3);
    td__doc_kv(d, "Received", t);
    td__doc_kv(d, "Channel", or_dash(str(m, "channel")));
    snprintf(buf, sizeof buf, "%s%s%s%s", or_dash(str(m, "sender")),
             str(m, "sender_name") ? " (" : "", or_dash(str(m, "sender_name")),
             str(m, "sender_name") ? ")" : "");
    if (!str(m, "sender_name"))
        snprintf(buf, sizeof buf, "%s", or_dash(str(m, "sender")));
    td__doc_kv(d, "Sender", buf);
    if (str(m, "subject"))
        td__doc_kv(d, "Subject", str(m, "subject"));
    const char *sev = or_dash(str(m, "severity"));
    char up[32];
    size_t i;
    for (i = 0; sev[i] && i + 1 < sizeof up; i++)
        up[i] = (char)(sev[i] >= 'a' && sev[i] <= 'z' ? sev[i] - 32 : sev[i]);
    up[i] = '\0';
    td__doc_kv(d, "Assessed tier", up);
    /* labels: the predicted ones with their probabilities */
    GString *g = g_string_new(NULL);
    json_t *p;
    json_array_foreach(json_object_get(m, "predicted"), i, p)
    {
        const char *ln = json_string_value(p);
        double pr = json_number_value(json_object_get(json_object_get(m, "labels"), ln));
        g_string_append_printf(g, "%s%s (%.2f)", i ? ", " : "", ln ? ln : "?", pr);
    }
    td__doc_kv(d, "Labels", g->len ? g->str : "none");
    g_string_truncate(g, 0);
    json_array_foreach(json_object_get(m, "flags"), i, p)
        g_string_append_printf(g, "%s%s", i ? ", " : "", or_dash(json_string_value(p)));
    td__doc_kv(d, "Flags", g->len ? g->str : "none");
    g_string_free(g, TRUE);
    if (str(m, "reason"))
        td__doc_kv(d, "Why", str(m, "reason"));
    snprintf(buf, sizeof buf, "%s%s%s", or_dash(str(m, "status")),
             str(m, "status_reason") ? ": " : "",
             str(m, "status_reason") ? str(m, "status_reason") : "");
    td__doc_kv(d, "Review status", buf);
    d->y += 3;
    const json_t *tx = json_object_get(m, "text");
    int cut = 0;
    char *h = highlighted(json_string_value(tx) ? json_string_value(tx) : "",
                          json_string_length(tx), json_object_get(m, "spans"), &cut);
    td__doc_markup(d, h, 10, 12, 3);
    g_free(h);
    if (cut)
        td__doc_text(d, "(text cut here; the whole message is in the original file below)", 8, 12,
                     3);
    td__doc_kv(d, "Original file", or_dash(str(m, "member")));
    td__doc_hash(d, "Original SHA-256", str(m, "original_sha256"));
    d->y += 4;
}

int td_report_case_summary(const json_t *x, void **pdf, size_t *len, struct td_error *err)
{
    struct td__doc d;
    char buf[600], t[64];
    const json_t *c = json_object_get(x, "case"), *e;
    size_t i;
    *pdf = NULL;
    *len = 0;
    snprintf(buf, sizeof buf, "threatdesk evidence bundle, case %" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(c, "id")));
    int rc = td__doc_open(&d, buf, err);
    if (rc)
        return rc;

    td__doc_heading(&d, "Evidence summary", 1);
    snprintf(buf, sizeof buf, "Case %" JSON_INTEGER_FORMAT ": %s",
             json_integer_value(json_object_get(c, "id")), or_dash(str(c, "title")));
    td__doc_heading(&d, buf, 2);
    td__doc_text(&d,
                 "This document summarises a case file exported from threatdesk, the system "
                 "the office below uses to sort the messages it receives. The tiers, labels and "
                 "highlighted words are the system's automated assessment, made to decide what "
                 "staff read first; they are not findings of fact. The files in this bundle are "
                 "the originals exactly as received; each is listed with its SHA-256 hash in "
                 "manifest.json, which the office has signed (manifest.sig, Ed25519). "
                 "README.txt says how to check that nothing has been altered.",
                 9, 0, 8);
    td__doc_kv(&d, "Office", or_dash(str(json_object_get(x, "office"), "name")));
    td__doc_time(json_integer_value(json_object_get(x, "exported")), t, sizeof t);
    snprintf(buf, sizeof buf, "%s by %s (%s)", t, or_dash(str(x, "exported_by")),
             or_dash(str(x, "exported_role")));
    td__doc_kv(&d, "Exported", buf);
    td__doc_kv(&d, "Police reference", or_dash(str(c, "police_ref")));
    td__doc_kv(&d, "Incident type", or_dash(str(c, "type")));
    td__doc_kv(&d, "Status", or_dash(str(c, "status")));
    kv_time(&d, "Occurred", json_object_get(c, "occurred"));
    const json_t *pl = json_object_get(c, "place");
    if (json_is_object(pl)) {
        snprintf(buf, sizeof buf, "%s%s%s", or_dash(str(pl, "address")),
                 str(pl, "constituency") ? ", constituency " : "",
                 str(pl, "constituency") ? str(pl, "constituency") : "");
        td__doc_kv(&d, "Place", buf);
    }
    kv_time(&d, "Opened", json_object_get(c, "created"));
    if (str(c, "description")) {
        td__doc_kv(&d, "Description", "");
        td__doc_text(&d, str(c, "description"), 9.5, 12, 4);
    }

    const json_t *msgs = json_object_get(x, "messages");
    snprintf(buf, sizeof buf, "Messages (%zu)", json_array_size(msgs));
    td__doc_heading(&d, buf, 2);
    td__doc_text(&d,
                 "Highlighted words are those the assessment rests on. Tiers, most serious "
                 "first: critical, high, medium, low, none.",
                 8.5, 0, 4);
    json_array_foreach(msgs, i, e) message(&d, i, e);

    td__doc_heading(&d, "Senders", 2);
    json_array_foreach(json_object_get(x, "senders"), i, e)
    {
        char a[64], b[64];
        td__doc_time(json_integer_value(json_object_get(e, "first_seen")), a, sizeof a);
        td__doc_time(json_integer_value(json_object_get(e, "last_seen")), b, sizeof b);
        snprintf(buf, sizeof buf,
                 "%s%s%s: %" JSON_INTEGER_FORMAT " message(s) to the office, %" JSON_INTEGER_FORMAT
                 " assessed as threats, worst tier %s; first %s, last %s",
                 or_dash(str(e, "sender")), str(e, "display") ? " / " : "",
                 str(e, "display") ? str(e, "display") : "",
                 json_integer_value(json_object_get(e, "messages")),
                 json_integer_value(json_object_get(e, "threats")),
                 or_dash(str(e, "worst_severity")), a, b);
        td__doc_text(&d, buf, 9.5, 0, 3);
    }
    if (!json_array_size(json_object_get(x, "senders")))
        td__doc_text(&d, "No sender is known for these messages.", 9.5, 0, 3);

    td__doc_heading(&d, "Timeline", 2);
    json_array_foreach(json_object_get(x, "timeline"), i, e)
    {
        td__doc_time(json_integer_value(json_object_get(e, "time")), t, sizeof t);
        snprintf(buf, sizeof buf, "%s  %s  by %s", t, or_dash(str(e, "action")),
                 or_dash(str(e, "user")));
        td__doc_text(&d, buf, 8.5, 0, 1);
    }

    td__doc_heading(&d, "Evidence files", 2);
    json_array_foreach(json_object_get(x, "evidence"), i, e)
    {
        snprintf(buf, sizeof buf, "%s (%s, %" JSON_INTEGER_FORMAT " bytes)",
                 or_dash(str(e, "name")), or_dash(str(e, "type")),
                 json_integer_value(json_object_get(e, "size")));
        td__doc_kv(&d, "File", buf);
        td__doc_kv(&d, "In this bundle", or_dash(str(e, "member")));
        td__doc_hash(&d, "SHA-256", str(e, "sha256"));
        d.y += 4;
    }
    if (!json_array_size(json_object_get(x, "evidence")))
        td__doc_text(&d, "No evidence files.", 9.5, 0, 3);

    td__doc_heading(&d, "Notes shared by the office", 2);
    json_array_foreach(json_object_get(x, "notes"), i, e)
    {
        td__doc_time(json_integer_value(json_object_get(e, "created")), t, sizeof t);
        snprintf(buf, sizeof buf, "%s, %s:", t, or_dash(str(e, "author")));
        td__doc_kv(&d, "Note", buf);
        td__doc_text(&d, or_dash(str(e, "text")), 9.5, 12, 4);
    }
    if (!json_array_size(json_object_get(x, "notes")))
        td__doc_text(&d, "None.", 9.5, 0, 3);

    td__doc_heading(&d, "Integrity", 2);
    const json_t *head = json_object_get(x, "chain_head");
    snprintf(buf, sizeof buf, "entry %" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(head, "id")));
    td__doc_kv(&d, "Office audit log at export", buf);
    td__doc_hash(&d, "Its hash", str(head, "hash"));
    td__doc_text(&d,
                 "Every action on this case is recorded in the office's hash-chained audit log; "
                 "audit.json holds the entries about this case and its messages with their "
                 "hashes. Internal notes of the office are not part of this bundle: their "
                 "entries appear with the text withheld.",
                 8.5, 0, 3);
    return td__doc_close(&d, pdf, len, err);
}
