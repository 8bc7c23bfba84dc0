/*
 * alert.h - telling someone at once when something serious arrives.
 *
 * This module knows nothing of storage: it decides whether a rule matches a
 * verdict (rules.c), how long to wait before the next attempt (backoff.c),
 * what an alert says (notice.c) and how it travels - e-mail over SMTP
 * (smtp.c, libcurl) and signed webhooks (webhook.c, libcurl + libsodium).
 * The desk (desk.h, "alerts") writes the outbox in the transaction that
 * files the message and runs the worker that calls these.
 *
 * What leaves the office: an alert carries the tier, the top label, the
 * channel the message came by, the sender's handle, the rule's name and a
 * link to the desk - never the text of the message (e-mail and SMS bridges
 * leave the office).  A rule with disclose "subject" adds the e-mail's
 * subject line; nothing adds the body.
 *
 * Webhook signature: the body is JSON; the headers
 *     X-Threatdesk-Timestamp: <unix seconds>
 *     X-Threatdesk-Signature: v1=<hex HMAC-SHA256(secret, timestamp "." body)>
 *     X-Threatdesk-Alert-Id:  <delivery key, the same on every retry>
 * A receiver recomputes the HMAC over the timestamp, a '.', and the raw
 * body bytes, compares in constant time, refuses a timestamp more than 300
 * seconds from its clock (replay), and drops an id it has seen (retries).
 *
 * Ownership: every string in these structs is a fixed array (plain data,
 * caller-owned); functions write errors into the caller's buffer and never
 * print.
 */
#ifndef THREATDESK_ALERT_H
#define THREATDESK_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include "threatdesk/buf.h"
#include "threatdesk/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Channels, a bit set (wire names "email", "webhook", "browser"). */
enum {
    TD_ALERT_EMAIL = 1u << 0,
    TD_ALERT_WEBHOOK = 1u << 1,
    TD_ALERT_BROWSER = 1u << 2, /* the desk's live channel (td_desk_set_alert_listener) */
};
#define TD_ALERT_CHANNELS_ALL (TD_ALERT_EMAIL | TD_ALERT_WEBHOOK | TD_ALERT_BROWSER)

/* How much of the message an alert may carry. */
enum td_alert_disclose {
    TD_ALERT_DISCLOSE_MINIMAL, /* tier, label, channel, sender handle, link */
    TD_ALERT_DISCLOSE_SUBJECT, /* ... and the e-mail's subject line */
};

/* Bounds on what a rule may say. */
#define TD_ALERT_ROTA_MAX 16
#define TD_ALERT_ESCALATE_MAX (7 * 24 * 60) /* minutes */

/* The matching part of a rule (plain data). */
struct td_alert_rule {
    int64_t id;
    int min_severity;      /* enum td_severity: this tier or above */
    unsigned labels;       /* any of these label bits; 0 = any label */
    unsigned flags;        /* all of these TD_FLAG bits */
    unsigned channels;     /* TD_ALERT_* */
    int quiet_start;       /* minute of the day, -1: no quiet hours */
    int quiet_end;         /* exclusive; may wrap past midnight */
    unsigned escalate_min; /* 0: no escalation */
    int disclose;          /* enum td_alert_disclose */
};

/* 1 when minute_of_day (0..1439) is inside the rule's quiet hours. */
int td_alert_quiet(const struct td_alert_rule *r, int minute_of_day);

/* 1 when a message with this verdict alerts under the rule at this minute
 * of the office's day: tier at least min_severity, one of the labels (when
 * any are named), every required flag, and outside quiet hours - which
 * never hold back a critical message. */
int td_alert_rule_matches(const struct td_alert_rule *r, int severity, unsigned labels,
                          unsigned flags, int minute_of_day);

/* Channel names <-> bits: "email" -> TD_ALERT_EMAIL; -1 / NULL when
 * unknown. */
int td_alert_channel_bit(const char *name);
const char *td_alert_channel_name(unsigned bit);

/*
 * Seconds to wait before attempt number `attempt` + 1, after `attempt`
 * failures (attempt >= 1): base * 2^(attempt-1), capped at cap, with
 * "equal jitter" - half of it fixed, the other half scaled by rnd
 * (0..UINT32_MAX, from randombytes_random()) - so a receiver that was down
 * is not hit by every alert at the same second when it comes back.  Never
 * less than 1.
 */
unsigned td_alert_backoff(unsigned attempt, unsigned base_s, unsigned cap_s, uint32_t rnd);

/* "HH:MM" -> minute of the day; -1 when it is not a time. */
int td_alert_parse_hhmm(const char *s);

/* Checks on what an operator types, before it is stored or sent. */
int td_alert_valid_email(const char *s); /* local@domain, no spaces, CR/LF or <>; <= 254 bytes */
int td_alert_valid_url(const char *s);   /* http:// or https://, no spaces or controls; <= 1024 */
/* 1 when s holds no byte a header value may not carry (CR, LF, NUL, other
 * controls): a value with one is refused, never cleaned. */
int td_alert_header_safe(const char *s);

/* ---- delivery configuration ---------------------------------------------
 * Secrets (SMTP password) come from a file or the environment, never from
 * the command line (where `ps` shows them).  Precedence: defaults < file <
 * environment (THREATDESK_<KEY> upper-cased, e.g. THREATDESK_SMTP_PASSWORD). */
struct td_alert_config {
    char smtp_url[512];      /* smtp://host:587 (STARTTLS) or smtps://host:465; "" = no mail */
    char smtp_tls[16];       /* "starttls" (required), "tls" (smtps), "try", "none" (loopback) */
    char smtp_user[256];     /* "" = no AUTH */
    char smtp_password[256]; /* never printed */
    char smtp_from[256];     /* envelope and From: address */
    char smtp_ca[1024];      /* CA bundle file for the server's certificate ("" = system) */
    char base_url[512];      /* the desk as recipients reach it: links are <base_url>/... */
    unsigned max_attempts;   /* then the delivery is failed (default 8) */
    unsigned backoff_base_s; /* first retry after about this (default 5) */
    unsigned backoff_cap_s;  /* never wait longer than this (default 900) */
    unsigned timeout_s;      /* one attempt's whole time (default 20) */
    unsigned lease_s;        /* a claimed delivery is due again after this if its worker died
                                (default 120) */
    unsigned minute_s;       /* seconds in an escalation "minute" (default 60; tests shorten) */
    unsigned poll_ms;        /* the worker looks for due work this often (default 500) */
};

void td_alert_config_init(struct td_alert_config *c);
/* One key ("smtp_url", "smtp_tls", "smtp_user", "smtp_password",
 * "smtp_from", "smtp_ca", "base_url", "max_attempts", "backoff_base_s",
 * "backoff_cap_s", "timeout_s", "lease_s", "minute_s", "poll_ms");
 * TD_EINVAL names it in err->field. */
int td_alert_config_set(struct td_alert_config *c, const char *key, const char *value,
                        struct td_error *err);
/* key = value lines, '#' comments (the server config's format). */
int td_alert_config_load_file(struct td_alert_config *c, const char *path, struct td_error *err);
int td_alert_config_apply_env(struct td_alert_config *c, struct td_error *err);

/* ---- what an alert says ------------------------------------------------- */

/* Everything a notice may say, filled by the desk from the outbox row. */
struct td_alert_notice {
    char key[96]; /* idempotency key: "td-alert-<alert>-<delivery>", stable across retries */
    int64_t alert_id;
    int64_t message_id;
    int step; /* 0: first told; k: escalated k times */
    char office[128];
    char rule[128];
    int severity;      /* enum td_severity */
    char label[32];    /* the top label's wire name, "" when none */
    char channel[64];  /* the message's channel ("email", "api", "x", ...) */
    char sender[256];  /* the canonical sender handle, "" when unknown */
    char subject[256]; /* only with disclose "subject"; else "" */
    int64_t received;
    char desk_url[768]; /* <base_url>/v1/messages/<id> (or "" without base_url) */
    char ack_url[768];  /* <base_url>/v1/ack/<token> */
};

/* The top label of a bit set, in the order a person should hear it
 * (threat, intimidation, sexual, identity_hate, abuse); "" for none. */
const char *td_alert_top_label(unsigned labels);

/* The webhook body (JSON, compact): {"id","alert","message","step",
 * "office","rule","severity","label","channel","sender","subject"?,
 * "received","desk_url","ack_url","text"} - "text" a one-line summary
 * for chat bridges.  Into out (reset first). */
int td_alert_webhook_body(const struct td_alert_notice *n, struct td_buf *out,
                          struct td_error *err);

/* The signature header's value "v1=<64 hex>" for timestamp and body. */
int td_alert_webhook_sign(const char *secret, int64_t timestamp, const void *body, size_t len,
                          char out[72]);

/* The whole RFC 5322 message for `to` (headers, blank line, text body):
 * Message-ID <key@threatdesk> so a retried mail is recognisably the same.
 * TD_EINVAL when a header value would carry CR/LF or `to` is not an
 * address. */
int td_alert_mail_render(const struct td_alert_notice *n, const char *from, const char *to,
                         int64_t now, struct td_buf *out, struct td_error *err);

/* ---- delivery ----------------------------------------------------------- */

/* Send one mail.  TD_OK when the server accepted it (250 after DATA);
 * TD_ENET / TD_EINVAL otherwise, with the reason in err (never the
 * password). */
int td_alert_smtp_send(const struct td_alert_config *c, const char *to,
                       const struct td_alert_notice *n, int64_t now, struct td_error *err);

/* POST the signed body to url.  TD_OK on a 2xx answer; TD_ENET otherwise
 * (err says the status or the transport error). */
int td_alert_webhook_send(const struct td_alert_config *c, const char *url, const char *secret,
                          const struct td_alert_notice *n, int64_t now, struct td_error *err);

#ifdef __cplusplus
}
#endif
#endif
