/*
 * router.c - THE route table and its matcher.
 *
 * Every endpoint the desk serves is one row below: method, path pattern,
 * handler, the roles allowed to call it.  Authentication and the role check
 * happen in http.c *before* the handler runs, from this table, so a handler
 * cannot forget them; office isolation is the desk's job (every desk call
 * takes the caller's office).
 *
 * /v1/login is public (it is how credentials are obtained) and rate-limited
 * per client address (guard.c) before the desk's per-name lock-out.
 *
 * Patterns are literal paths with {name} captures.  A capture matches one
 * or more bytes up to the next literal character of the pattern and never
 * crosses '/'.  That covers the Google "custom verb" style the API uses:
 *     /v1/messages/{id}:review   matches   /v1/messages/42:review
 * docs/openapi.yaml describes every row; tests/unit/test_server_router.c
 * checks that the two agree.
 */
#include <string.h>

#include "server/server_int.h"

#define STAFF TD__ROLES_STAFF
#define ALL TD__ROLES_ALL
#define ADMIN TD__ROLE_ADMIN

/* clang-format off */
#define CASE_READERS (STAFF | TD__ROLE_POLICE)
#define CASE_FILERS (STAFF | TD__ROLE_OBSERVER)
/* Counts of critical threats per office are not public: /metrics needs a
 * login here, or a separate metrics_listen address for a scraper. */
#define METRICS (TD__ROLE_ADMIN | TD__ROLE_SECURITY)
/* Who decides where alerts go: the office's admin and its security lead. */
#define ALERT_ADMINS (TD__ROLE_ADMIN | TD__ROLE_SECURITY)
const struct td__route td__routes[] = {
    /* operations */
    {"GET",   "/healthz",                     td__h_healthz,             TD__AUTH_NONE, 0},
    {"GET",   "/metrics",                     td__h_metrics,             METRICS,       0},
    /* Perspective-compatible analysis */
    {"POST",  "/v1alpha1/comments:analyze",   td__h_perspective_analyze, ALL,           1},
    /* sessions, users, keys */
    {"POST",  "/v1/login",                    td__h_login,               TD__AUTH_NONE, 0},
    {"POST",  "/v1/logout",                   td__h_logout,              ALL,           0},
    {"GET",   "/v1/me",                       td__h_me,                  ALL,           0},
    {"GET",   "/v1/users",                    td__h_users_list,          ADMIN,         0},
    {"POST",  "/v1/users",                    td__h_users_add,           ADMIN,         0},
    {"PATCH", "/v1/users/{name}",             td__h_users_patch,         ADMIN,         0},
    {"POST",  "/v1/keys",                     td__h_keys_create,         ADMIN,         0},
    {"GET",   "/v1/keys",                     td__h_keys_list,           ADMIN,         0},
    {"DELETE","/v1/keys/{id}",                td__h_key_revoke,          ADMIN,         0},
    {"GET",   "/v1/offices",                  td__h_offices_list,        ADMIN,         0},
    /* ingest */
    {"POST",  "/v1/messages",                 td__h_messages_post,       STAFF,         0},
    {"POST",  "/v1/messages:batch",           td__h_messages_batch,      STAFF,         0},
    {"GET",   "/v1/uploads/{id}",             td__h_upload_get,          STAFF,         0},
    /* triage */
    {"GET",   "/v1/queue",                    td__h_queue,               STAFF,         0},
    {"GET",   "/v1/messages/{id}",            td__h_message_get,         STAFF,         0},
    {"GET",   "/v1/messages/{id}/original",   td__h_message_original,    STAFF,         0},
    {"POST",  "/v1/messages/{id}:review",     td__h_message_review,      STAFF,         0},
    {"POST",  "/v1/messages/{id}:escalate",   td__h_message_escalate,    STAFF,         0},
    {"POST",  "/v1/messages/{id}:dismiss",    td__h_message_dismiss,     STAFF,         0},
    {"POST",  "/v1/messages/{id}:reopen",     td__h_message_reopen,      STAFF,         0},
    {"GET",   "/v1/senders/{key}/history",    td__h_sender_history,      STAFF,         0},
    /* learning from the office */
    {"GET",   "/v1/feedback",                 td__h_feedback_list,       STAFF,         0},
    {"DELETE","/v1/feedback/{id}",            td__h_feedback_revoke,     STAFF,         0},
    /* alerts (the ack link's token is its own credential) */
    {"GET",   "/v1/alert-recipients",         td__h_alert_recipients_list, STAFF,       0},
    {"POST",  "/v1/alert-recipients",         td__h_alert_recipients_add, ALERT_ADMINS, 0},
    {"GET",   "/v1/alert-rules",              td__h_alert_rules_list,    STAFF,         0},
    {"POST",  "/v1/alert-rules",              td__h_alert_rules_add,     ALERT_ADMINS,  0},
    {"GET",   "/v1/alerts",                   td__h_alerts_list,         STAFF,         0},
    {"POST",  "/v1/alerts/{id}:ack",          td__h_alert_ack,           STAFF,         0},
    {"GET",   "/v1/ack/{token}",              td__h_ack_page,            TD__AUTH_NONE, 0},
    {"POST",  "/v1/ack/{token}",              td__h_ack_post,            TD__AUTH_NONE, 0},
    /* retention and erasure (UK GDPR) */
    {"GET",   "/v1/retention",                td__h_retention_get,       STAFF,         0},
    {"PUT",   "/v1/retention",                td__h_retention_put,       ADMIN,         0},
    {"POST",  "/v1/retention:apply",          td__h_retention_apply,     ADMIN,         0},
    {"POST",  "/v1/senders/{key}:erase",      td__h_sender_erase,        ADMIN,         0},
    /* cases */
    {"POST",  "/v1/cases",                    td__h_cases_create,        CASE_FILERS,   0},
    {"GET",   "/v1/cases",                    td__h_cases_list,          CASE_READERS,  0},
    {"GET",   "/v1/cases/{id}",               td__h_case_get,            CASE_READERS,  0},
    {"PATCH", "/v1/cases/{id}",               td__h_case_patch,          STAFF,         0},
    {"POST",  "/v1/cases/{id}/messages",      td__h_case_link,           STAFF,         0},
    {"POST",  "/v1/cases/{id}/notes",         td__h_case_note,           STAFF,         0},
    {"GET",   "/v1/cases/{id}/timeline",      td__h_case_timeline,       CASE_READERS,  0},
    {"POST",  "/v1/cases/{id}/evidence",      td__h_case_evidence_add,   CASE_FILERS,   0},
    {"GET",   "/v1/evidence/{id}",            td__h_evidence_get,        CASE_READERS,  0},
    {"GET",   "/v1/evidence/{id}/content",    td__h_evidence_content,    CASE_READERS,  0},
    /* evidence bundles (police: their reported cases only) */
    {"GET",   "/v1/cases/{id}/bundle",        td__h_case_bundle,         CASE_READERS,  0},
    /* reports: CSV streamed from a temporary file */
    {"GET",   "/v1/queue.csv",                td__h_queue_csv,           STAFF,         0},
    {"GET",   "/v1/cases.csv",                td__h_cases_csv,           CASE_READERS,  0},
};
/* clang-format on */
const size_t td__nroutes = sizeof td__routes / sizeof td__routes[0];

int td__pattern_match(const char *pat, const char *path, struct td__req *r)
{
    size_t np = 0;
    while (*pat) {
        if (*pat == '{') {
            const char *close = strchr(pat, '}');
            if (!close)
                return 0;
            const char *name = pat + 1;
            pat = close + 1;
            /* The capture runs to the next literal pattern char (or '/' or
             * end), and must be non-empty. */
            char stop = *pat;
            const char *start = path;
            while (*path && *path != '/' && *path != stop)
                path++;
            /* A custom verb stop (':') must be the LAST ':' in the segment,
             * so ids containing ':' (sender keys "email:a@b") still match. */
            if (stop == ':') {
                const char *seg_end = start;
                while (*seg_end && *seg_end != '/')
                    seg_end++;
                const char *last = NULL;
                for (const char *q = start; q < seg_end; q++)
                    if (*q == ':')
                        last = q;
                if (!last)
                    return 0;
                path = last;
            }
            size_t len = (size_t)(path - start);
            if (len == 0)
                return 0;
            if (r) {
                if (np >= TD__MAX_PARAMS || len >= sizeof r->params[0].value)
                    return 0;
                /* name points into the static pattern ("id}..."); td__param
                 * compares up to the '}'. */
                r->params[np].name = name;
                memcpy(r->params[np].value, start, len);
                r->params[np].value[len] = '\0';
            }
            np++;
            continue;
        }
        if (*pat != *path)
            return 0;
        pat++;
        path++;
    }
    if (*path)
        return 0;
    if (r)
        r->nparams = np;
    return 1;
}

const char *td__param(const struct td__req *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->nparams; i++)
        if (!strncmp(r->params[i].name, name, n) && r->params[i].name[n] == '}')
            return r->params[i].value;
    return "";
}

int td__route_match(struct td__req *r, const char *method, const char *path, int *path_known,
                    char *allow, size_t allow_size)
{
    size_t alen = 0;
    *path_known = 0;
    if (allow_size)
        allow[0] = '\0';
    for (size_t i = 0; i < td__nroutes; i++) {
        if (!td__pattern_match(td__routes[i].pattern, path, NULL))
            continue;
        if (!strcmp(td__routes[i].method, method) ||
            (!strcmp(method, "HEAD") && !strcmp(td__routes[i].method, "GET"))) {
            td__pattern_match(td__routes[i].pattern, path, r);
            return (int)i;
        }
        *path_known = 1;
        size_t ml = strlen(td__routes[i].method);
        if (alen + ml + 3 < allow_size) {
            if (alen) {
                memcpy(allow + alen, ", ", 2);
                alen += 2;
            }
            memcpy(allow + alen, td__routes[i].method, ml);
            alen += ml;
            allow[alen] = '\0';
        }
    }
    return -1;
}
