/*
 * web_int.h - the inside of the web desk (not installed).
 *
 * The web desk is server-rendered HTML served by the same libmicrohttpd
 * server as the JSON API (http.c hands every path that is not /v1...,
 * /healthz or /metrics to td__web_dispatch).  Files:
 *
 *   html.c          the escaping writer every page is written with
 *   web.c           the page route table, the session cookie, CSRF, the
 *                   role gate, static files, the layout, form parsing, UK
 *                   dates
 *   pages_auth.c    log in / out, change the one-time password, staff (admin)
 *   pages_triage.c  the queue, a message, review / dismiss / escalate
 *   pages_cases.c   cases board, a case, notes, status, evidence, the
 *                   incident report form (observers)
 *   pages_settings.c the office's settings (admin): retention period,
 *                   alert rules and recipients (read-only)
 *   events.c        Server-Sent Events: new messages pushed to open queues
 *
 * Security model, in one place:
 *   - the session is the desk's own session token (td_desk_login), carried
 *     in a cookie "td_session" (HttpOnly, SameSite=Strict, Secure under
 *     TLS, Path=/), resolved by td_desk_authenticate on every request;
 *   - every POST carries a CSRF token, a keyed hash of the session token
 *     under a key made at server start (so it dies with the session), in a
 *     form field "csrf" or an X-CSRF-Token header; a POST whose Origin is
 *     present and not this server is refused too;
 *   - each page route names the roles that may open it (the API's own
 *     masks), checked before the handler, and every desk call takes the
 *     actor, so office isolation is the desk's exactly as for /v1;
 *   - pages carry a strict CSP with no inline script or style at all;
 *   - URLs carry ids only, never message text; the log line is http.c's
 *     (method, path, status), so no text reaches the log either.
 */
#ifndef TD_WEB_INT_H
#define TD_WEB_INT_H

#include <stdint.h>

#include "server/server_int.h"
#include "web/form.h"
#include "web/html.h"

/* The page cap: a page past 2 MiB is a bug (the queue is paginated). */
#define TD__PAGE_MAX ((size_t)2 << 20)

struct td__web_route {
    const char *method;
    const char *pattern; /* router.c's pattern syntax */
    td__handler *handler;
    unsigned roles; /* TD__AUTH_NONE: public */
};

/* The session's CSRF token (65 bytes with the NUL); "" without a session. */
void td__web_csrf(struct td__req *r, char out[65]);

/* Start a page: doctype, head, the nav for the caller's role; title is
 * escaped.  `nav` names the current section ("queue", "cases", ...). */
void td__page_begin(struct td__req *r, struct td__html *h, const char *title, const char *nav);
/* End it and answer `status` with it (500 when the writer failed). */
void td__page_end(struct td__req *r, struct td__html *h, unsigned status);
/* A hidden CSRF field for a form. */
void td__page_csrf_field(struct td__req *r, struct td__html *h);

/* Answer an error page (status 4xx/5xx; msg is plain text, escaped). */
void td__web_error(struct td__req *r, unsigned status, const char *msg);
/* Answer a desk error as a page: NOTFOUND 404, DENIED 403, INVAL 400... */
void td__web_desk_error(struct td__req *r, int rc, const struct td_error *err);
/* 303 See Other to a local path (must start with '/'). */
void td__web_redirect(struct td__req *r, const char *path);
/* 1 when the client asked for JSON (Accept: application/json): the
 * progressive-enhancement path of app.js. */
int td__web_wants_json(struct td__req *r);

/* A field of the urlencoded POST body, decoded into out (size bytes); NULL
 * when absent or longer than size-1. */
const char *td__form(struct td__req *r, const char *name, char *out, size_t size);
/* (form.h's td__form_parse does the parsing.) */

/* "Tue 3 Dec 2026, 14:05" in the server's local time (TZ=Europe/London). */
void td__uk_date(int64_t t, char *out, size_t size);
/* A day as a person enters it - UK "31/12/2026" or "3/1/2026" (not
 * "31/12/26": the century is not guessed) or the date input's
 * "2026-12-31" - into the local midnight that starts it and the one that
 * ends it (the server's TZ, Europe/London; a day may be 23 or 25 hours).
 * 0, or -1 when it is not a real date (31/02, month 13, years outside
 * 1970..9999).  iso (11 bytes, may be NULL) gets "YYYY-MM-DD". */
int td__web_parse_day(const char *s, int64_t *start, int64_t *end, char iso[11]);
/* The sender and from/to day filters of a list page from the query
 * (pages_triage.c): NULL, or what is wrong in words for the page. */
const char *td__web_read_filters(struct td__req *r, const char **sender, int64_t *since,
                                 int64_t *until, char from_iso[11], char to_iso[11]);
/* Append "&name=value" to a link, the value percent-encoded. */
void td__web_keep_param(char *out, size_t size, const char *name, const char *v);
/* "just now", "5 min ago", "3 h ago", "2 days ago" relative to now. */
void td__relative(int64_t t, int64_t now, char *out, size_t size);
/* <time datetime="ISO" title="UK date">relative</time> or the UK date. */
void td__html_time(struct td__html *h, int64_t t, int relative);

/* A store flag: JSON true, or an integer other than 0 (the store's rows
 * carry 0/1). */
int td__json_flag(const json_t *v);

/* Human names: "Reported to police", "Criminal damage", "Unreviewed". */
const char *td__case_status_label(const char *wire);
const char *td__case_type_label(const char *wire);

/* A report's own reference (the phone makes one per report): the case it
 * already became for this user, 0 when none; and remember a new one. */
int64_t td__web_ref_find(struct td_server *s, int64_t user, const char *ref);
void td__web_ref_add(struct td_server *s, int64_t user, const char *ref, int64_t case_id);

/* ---- page handlers ---- */
td__handler td__w_login_form, td__w_login, td__w_logout, td__w_password_form, td__w_password,
    td__w_home, td__w_staff, td__w_staff_add, td__w_staff_act, td__w_key_create, td__w_key_revoke;
td__handler td__w_queue, td__w_message, td__w_message_act, td__w_message_sender, td__w_events;
td__handler td__w_cases, td__w_case, td__w_case_status, td__w_case_note, td__w_case_details,
    td__w_case_evidence, td__w_evidence, td__w_report_form, td__w_report, td__w_reports;
td__handler td__w_settings, td__w_settings_retention;

#endif
