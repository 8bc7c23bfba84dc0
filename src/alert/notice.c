/*
 * notice.c - what an alert says, for a mailbox and for a webhook.
 *
 * The notice carries what the office allows (alert.h): never the text of
 * the message.  Header values that would carry CR or LF are refused, not
 * cleaned - a sender handle built to inject "Bcc:" must fail loudly.  Body
 * lines replace control characters with '?', since a person reads them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "threatdesk/alert.h"
#include "threatdesk/taxonomy.h"

static const char *tier(int severity)
{
    const char *s = td_severity_name(severity);
    return s ? s : "unknown";
}

/* "critical threat (email) from email:bob@example.org" for chat bridges and
 * subject-less places; into out. */
static void summary(const struct td_alert_notice *n, char *out, size_t size)
{
    snprintf(out, size, "%s%s%s%s message (%s)%s%s", n->step ? "ESCALATED: " : "",
             tier(n->severity), n->label[0] ? " " : "", n->label, n->channel[0] ? n->channel : "?",
             n->sender[0] ? " from " : "", n->sender);
    /* one line, whatever the sender's handle holds */
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

int td_alert_webhook_body(const struct td_alert_notice *n, struct td_buf *out, struct td_error *err)
{
    char text[768];
    summary(n, text, sizeof text);
    json_t *o = json_pack("{s:s, s:I, s:I, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s}",
                          "id", n->key, "alert", (json_int_t)n->alert_id, "message",
                          (json_int_t)n->message_id, "step", n->step, "office", n->office, "rule",
                          n->rule, "severity", tier(n->severity), "label", n->label, "channel",
                          n->channel, "sender", n->sender, "received", (json_int_t)n->received,
                          "desk_url", n->desk_url, "ack_url", n->ack_url, "text", text);
    if (!o) /* a field that is not UTF-8 */
        return td_error_set(err, TD_EUTF8, "an alert field is not valid UTF-8");
    if (n->subject[0] && json_object_set_new(o, "subject", json_string(n->subject))) {
        json_decref(o);
        return td_error_set(err, TD_EUTF8, "the subject is not valid UTF-8");
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!s)
        return td_error_set(err, TD_ENOMEM, NULL);
    td_buf_reset(out);
    int rc = td_buf_append(out, s, strlen(s));
    free(s);
    return rc ? td_error_set(err, rc, "webhook body too large") : TD_OK;
}

int td_alert_webhook_sign(const char *secret, int64_t timestamp, const void *body, size_t len,
                          char out[72])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char ts[24];
    int n = snprintf(ts, sizeof ts, "%lld.", (long long)timestamp);
    crypto_auth_hmacsha256_state st;
    if (crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret)) ||
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, (unsigned long long)n) ||
        crypto_auth_hmacsha256_update(&st, body, len) || crypto_auth_hmacsha256_final(&st, mac))
        return TD_ECRYPTO;
    memcpy(out, "v1=", 3);
    sodium_bin2hex(out + 3, 72 - 3, mac, sizeof mac);
    sodium_memzero(&st, sizeof st);
    return TD_OK;
}

/* A body line: control characters become '?'. */
static int line(struct td_buf *b, const char *name, const char *value)
{
    int rc = td_buf_printf(b, "%s: ", name);
    for (const char *p = value; rc == TD_OK && *p; p++)
        rc = td_buf_putc(b, ((unsigned char)*p < 0x20 || *p == 0x7f) ? '?' : *p);
    return rc ? rc : td_buf_append(b, "\r\n", 2);
}

int td_alert_mail_render(const struct td_alert_notice *n, const char *from, const char *to,
                         int64_t now, struct td_buf *out, struct td_error *err)
{
    char date[64], text[768];
    struct tm tm;
    time_t t = (time_t)now;
    if (!td_alert_valid_email(to) || !td_alert_valid_email(from))
        return td_error_set(err, TD_EINVAL, "not an e-mail address");
    if (!td_alert_header_safe(n->key) || !td_alert_header_safe(n->office))
        return td_error_set(err, TD_EINVAL, "a header value holds CR, LF or a control character");
    if (!gmtime_r(&t, &tm) || !strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm))
        return td_error_set(err, TD_EINVAL, "no date");
    summary(n, text, sizeof text);
    td_buf_reset(out);
    /* The subject is ASCII words we chose (tier, label, alert id): the
     * sender's handle, which may be anything, stays in the body. */
    int rc = td_buf_printf(out,
                           "Date: %s\r\nFrom: threatdesk <%s>\r\nTo: <%s>\r\n"
                           "Message-ID: <%s@threatdesk>\r\n"
                           "Subject: [threatdesk] %s%s %s alert %lld\r\n"
                           "X-Threatdesk-Alert-Id: %s\r\n"
                           "Auto-Submitted: auto-generated\r\n"
                           "MIME-Version: 1.0\r\n"
                           "Content-Type: text/plain; charset=UTF-8\r\n"
                           "Content-Transfer-Encoding: 8bit\r\n\r\n",
                           date, from, to, n->key, n->step ? "ESCALATED " : "", tier(n->severity),
                           n->label[0] ? n->label : "message", (long long)n->alert_id, n->key);
    if (!rc)
        rc = td_buf_printf(out, "%s\r\n\r\n", text) || line(out, "Tier", tier(n->severity)) ||
             line(out, "Label", n->label[0] ? n->label : "-") ||
             line(out, "Came by", n->channel[0] ? n->channel : "-") ||
             line(out, "Sender", n->sender[0] ? n->sender : "unknown") ||
             line(out, "Office", n->office) || line(out, "Rule", n->rule);
    if (!rc && n->subject[0])
        rc = line(out, "Subject", n->subject);
    if (!rc && n->desk_url[0])
        rc = line(out, "Read it in the desk", n->desk_url);
    if (!rc && n->ack_url[0])
        rc = line(out, "Acknowledge", n->ack_url);
    if (!rc)
        rc = td_buf_printf(out, "\r\nThe message itself stays in the office's desk.\r\n");
    return rc ? td_error_set(err, TD_ETOOBIG, "alert mail too large") : TD_OK;
}
