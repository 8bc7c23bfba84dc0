/*
 * web.c - the web desk's front: page routes, session cookie, CSRF, the role
 * gate, static files, the layout and the small helpers pages share.
 *
 * A request reaches td__web_dispatch when http.c found no API route and
 * the path is ours (td__web_owns).  Order of checks, for every page:
 *   1. static files (/static/<name>, /sw.js): public, cached by content;
 *   2. the page route (405 / 404 pages otherwise);
 *   3. public routes (the login form) run at once;
 *   4. the session cookie -> td_desk_authenticate (GET without one: 303 to
 *      /login; anything else 401);
 *   5. an account on its one-time password goes to /password;
 *   6. the route's role mask (403 page);
 *   7. a POST: Origin (when sent) must be this host, and the CSRF token
 *      must match the session's (403 page);
 *   8. the handler, whose desk calls take the actor (office isolation).
 * See web_int.h for the security model as a whole.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "web/web_int.h"

#define STAFF TD__ROLES_STAFF
#define ALL TD__ROLES_ALL
#define CASE_READERS (TD__ROLES_STAFF | TD__ROLE_POLICE)
#define CASE_FILERS (TD__ROLES_STAFF | TD__ROLE_OBSERVER)

/* clang-format off */
static const struct td__web_route routes[] = {
    {"GET",  "/",                         td__w_home,           ALL},
    {"GET",  "/login",                    td__w_login_form,     TD__AUTH_NONE},
    {"POST", "/login",                    td__w_login,          TD__AUTH_NONE},
    {"POST", "/logout",                   td__w_logout,         ALL},
    {"GET",  "/password",                 td__w_password_form,  ALL},
    {"POST", "/password",                 td__w_password,       ALL},
    {"GET",  "/staff",                    td__w_staff,          TD__ROLE_ADMIN},
    {"POST", "/staff",                    td__w_staff_add,      TD__ROLE_ADMIN},
    {"POST", "/staff/{name}/{action}",    td__w_staff_act,      TD__ROLE_ADMIN},
    {"POST", "/keys",                     td__w_key_create,     TD__ROLE_ADMIN},
    {"POST", "/keys/{id}/revoke",         td__w_key_revoke,     TD__ROLE_ADMIN},
    {"GET",  "/settings",                 td__w_settings,       TD__ROLE_ADMIN},
    {"POST", "/settings/retention",       td__w_settings_retention, TD__ROLE_ADMIN},
    {"GET",  "/queue",                    td__w_queue,          STAFF},
    {"GET",  "/events",                   td__w_events,         STAFF},
    {"GET",  "/messages/{id}",            td__w_message,        STAFF},
    {"GET",  "/messages/{id}/sender",     td__w_message_sender, STAFF},
    {"POST", "/messages/{id}/{action}",   td__w_message_act,    STAFF},
    {"GET",  "/cases",                    td__w_cases,          CASE_READERS},
    {"GET",  "/cases/{id}",               td__w_case,           CASE_READERS},
    {"POST", "/cases/{id}/status",        td__w_case_status,    STAFF},
    {"POST", "/cases/{id}/notes",         td__w_case_note,      STAFF},
    {"POST", "/cases/{id}/details",       td__w_case_details,   STAFF},
    {"POST", "/cases/{id}/evidence",      td__w_case_evidence,  CASE_FILERS},
    {"GET",  "/evidence/{id}",            td__w_evidence,       CASE_READERS},
    {"GET",  "/report",                   td__w_report_form,    CASE_FILERS},
    {"POST", "/report",                   td__w_report,         CASE_FILERS},
    {"GET",  "/reports",                  td__w_reports,        CASE_FILERS},
};
/* clang-format on */
#define NROUTES (sizeof routes / sizeof routes[0])

/* ---- static files ------------------------------------------------------- */

struct asset {
    const char *name; /* under web/static/ */
    const char *path; /* served at */
    const char *type;
    const char *cache;
    char *data;
    size_t len;
    char etag[48]; /* "\"<ver>\"" */
    char ver[33];  /* hex of the content hash, for ?v= */
};

/* app.css and app.js are linked with ?v=<etag>, so they may be cached for
 * good; sw.js must be revalidated (the browser checks it for updates). */
static const struct asset asset_list[] = {
    {"app.css", "/static/app.css", "text/css; charset=utf-8", "public, max-age=31536000, immutable",
     NULL, 0, "", ""},
    {"app.js", "/static/app.js", "text/javascript; charset=utf-8",
     "public, max-age=31536000, immutable", NULL, 0, "", ""},
    {"sw.js", "/sw.js", "text/javascript; charset=utf-8", "no-cache", NULL, 0, "", ""},
};
#define NASSETS (sizeof asset_list / sizeof asset_list[0])

struct td__web_bus; /* events.c */
struct td__web_bus *td__web_bus_new(void);
void td__web_bus_free(struct td__web_bus *b);

/* Reports already filed, by the phone's own reference: a report whose
 * answer was lost on a bad connection is sent again with the same `ref`
 * and must not become a second case.  A ring of the last REFS, in memory
 * (a restart forgets them: the window that matters is minutes). */
#define REFS 1024
struct ref_entry {
    int64_t user;
    int64_t case_id;
    char ref[40];
};

struct td__web {
    struct td_server *srv;
    unsigned char csrf_key[crypto_generichash_KEYBYTES];
    struct asset assets[NASSETS];
    struct td__web_bus *bus;
    pthread_mutex_t ref_lock;
    struct ref_entry refs[REFS];
    size_t nref; /* entries written so far (the ring wraps) */
};

int64_t td__web_ref_find(struct td_server *s, int64_t user, const char *ref)
{
    struct td__web *w = s->web;
    int64_t found = 0;
    if (!ref || !*ref)
        return 0;
    pthread_mutex_lock(&w->ref_lock);
    size_t n = w->nref < REFS ? w->nref : REFS;
    for (size_t i = 0; i < n && !found; i++)
        if (w->refs[i].user == user && !strcmp(w->refs[i].ref, ref))
            found = w->refs[i].case_id;
    pthread_mutex_unlock(&w->ref_lock);
    return found;
}

void td__web_ref_add(struct td_server *s, int64_t user, const char *ref, int64_t case_id)
{
    struct td__web *w = s->web;
    if (!ref || !*ref || strlen(ref) >= sizeof w->refs[0].ref)
        return;
    pthread_mutex_lock(&w->ref_lock);
    struct ref_entry *e = &w->refs[w->nref++ % REFS];
    e->user = user;
    e->case_id = case_id;
    snprintf(e->ref, sizeof e->ref, "%s", ref);
    pthread_mutex_unlock(&w->ref_lock);
}

struct td__web_bus *td__web_bus_of(struct td_server *s)
{
    return s->web ? s->web->bus : NULL;
}

static void load_asset(struct asset *a, const char *home)
{
    char path[1200];
    struct td_buf b;
    char chunk[8192];
    size_t n;
    snprintf(path, sizeof path, "%s/web/static/%s", home, a->name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return; /* served as 404 */
    td_buf_init(&b, (size_t)1 << 20);
    int rc = TD_OK;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = td_buf_append(&b, chunk, n);
    fclose(f);
    if (rc || !b.data) {
        td_buf_release(&b);
        return;
    }
    unsigned char h[16];
    crypto_generichash(h, sizeof h, (const unsigned char *)b.data, b.len, NULL, 0);
    char hex[33];
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    snprintf(a->etag, sizeof a->etag, "\"%s\"", hex);
    snprintf(a->ver, sizeof a->ver, "%s", hex);
    a->data = td_buf_detach(&b, &a->len);
}

struct td__web *td__web_new(struct td_server *s, const char *home)
{
    struct td__web *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->srv = s;
    pthread_mutex_init(&w->ref_lock, NULL);
    randombytes_buf(w->csrf_key, sizeof w->csrf_key);
    w->bus = td__web_bus_new();
    if (!w->bus) {
        pthread_mutex_destroy(&w->ref_lock);
        free(w);
        return NULL;
    }
    for (size_t i = 0; i < NASSETS; i++) {
        w->assets[i] = asset_list[i];
        load_asset(&w->assets[i], home && *home ? home : TD_SOURCE_DIR);
    }
    return w;
}

void td__web_free(struct td__web *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < NASSETS; i++)
        free(w->assets[i].data);
    td__web_bus_free(w->bus);
    pthread_mutex_destroy(&w->ref_lock);
    sodium_memzero(w->csrf_key, sizeof w->csrf_key);
    free(w);
}

/* The ?v= of an asset, for cache-busting links ("" when not loaded). */
static const char *asset_version(struct td__req *r, const char *name)
{
    for (size_t i = 0; i < NASSETS; i++)
        if (!strcmp(r->srv->web->assets[i].name, name))
            return r->srv->web->assets[i].ver;
    return "";
}

static int serve_asset(struct td__req *r)
{
    const struct asset *a = NULL;
    for (size_t i = 0; i < NASSETS; i++)
        if (!strcmp(r->path, r->srv->web->assets[i].path))
            a = &r->srv->web->assets[i];
    if (!a)
        return 0;
    if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD")) {
        snprintf(r->allow, sizeof r->allow, "GET");
        td__web_error(r, 405, "Only GET here.");
        return 1;
    }
    if (!a->data) {
        td__web_error(r, 404, "That file is not installed.");
        return 1;
    }
    snprintf(r->etag, sizeof r->etag, "%s", a->etag);
    r->cache = a->cache;
    const char *inm = td__header(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (inm && !strcmp(inm, a->etag)) {
        r->status = 304;
        return 1;
    }
    td_buf_reset(&r->raw);
    if (td_buf_append(&r->raw, a->data, a->len) != TD_OK) {
        td__web_error(r, 500, "Out of memory.");
        return 1;
    }
    r->raw_type = a->type;
    r->status = 200;
    return 1;
}

/* ---- ownership of paths ------------------------------------------------- */

int td__web_owns(const char *path)
{
    if (!path || path[0] != '/')
        return 0;
    if (!strncmp(path, "/v1", 3) || !strcmp(path, "/healthz") || !strcmp(path, "/metrics"))
        return 0;
    return 1;
}

/* ---- session and CSRF --------------------------------------------------- */

void td__web_csrf(struct td__req *r, char out[65])
{
    unsigned char h[32];
    out[0] = '\0';
    if (!r->caller.token[0])
        return;
    crypto_generichash(h, sizeof h, (const unsigned char *)r->caller.token, strlen(r->caller.token),
                       r->srv->web->csrf_key, sizeof r->srv->web->csrf_key);
    sodium_bin2hex(out, 65, h, sizeof h);
}

static int session(struct td__req *r)
{
    struct td_error err;
    const char *tok = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "td_session");
    if (!tok || !*tok || strlen(tok) >= sizeof r->caller.token || !r->srv->desk)
        return 0;
    td_error_clear(&err);
    memset(&r->actor, 0, sizeof r->actor);
    if (td_desk_authenticate(r->srv->desk, tok, &r->actor, &err) != TD_OK)
        return 0;
    r->caller.authenticated = 1;
    r->caller.user_id = r->actor.user_id;
    r->caller.office_id = r->actor.office_id;
    r->caller.role = 1u << r->actor.role;
    snprintf(r->caller.role_name, sizeof r->caller.role_name, "%s",
             td_role_name(r->actor.role) ? td_role_name(r->actor.role) : "?");
    snprintf(r->caller.token, sizeof r->caller.token, "%s", tok);
    return 1;
}

/* Origin, when the browser sent one, must name this server. */
static int origin_ok(struct td__req *r)
{
    const char *origin = td__header(r, "Origin");
    const char *host = td__header(r, MHD_HTTP_HEADER_HOST);
    if (!origin)
        return 1;
    const char *p = strstr(origin, "://");
    if (!p || !host)
        return 0;
    return !strcmp(p + 3, host);
}

static int csrf_ok(struct td__req *r)
{
    char want[65], got[65];
    td__web_csrf(r, want);
    const char *h = td__header(r, "X-CSRF-Token");
    const char *f = h ? h : td__form(r, "csrf", got, sizeof got);
    return want[0] && f && strlen(f) == 64 && sodium_memcmp(f, want, 64) == 0;
}

void td__web_dispatch(struct td__req *r)
{
    if (serve_asset(r))
        return;
    const struct td__web_route *rt = NULL;
    int path_known = 0;
    for (size_t i = 0; i < NROUTES; i++) {
        if (!td__pattern_match(routes[i].pattern, r->path, NULL))
            continue;
        path_known = 1;
        if (!strcmp(routes[i].method, r->method) ||
            (!strcmp(r->method, "HEAD") && !strcmp(routes[i].method, "GET"))) {
            rt = &routes[i];
            td__pattern_match(rt->pattern, r->path, r);
            break;
        }
    }
    if (!rt) {
        if (path_known) {
            td__web_error(r, 405, "That action is not possible here.");
            return;
        }
        td__web_error(r, 404, "There is no such page.");
        return;
    }
    int is_post = !strcmp(r->method, "POST");
    if (rt->roles == TD__AUTH_NONE) {
        if (is_post && !origin_ok(r)) {
            td__web_error(r, 403, "This form was sent from another site.");
            return;
        }
        rt->handler(r);
        return;
    }
    if (!session(r)) {
        if (!is_post && strcmp(rt->pattern, "/events") != 0) {
            td__web_redirect(r, "/login");
            return;
        }
        td__web_error(r, 401, "Your session has ended. Please log in again.");
        return;
    }
    if (is_post && (!origin_ok(r) || !csrf_ok(r))) {
        td__web_error(r, 403,
                      "This form has expired or was sent from another site. "
                      "Go back, reload the page and try again.");
        return;
    }
    if (r->actor.must_change && strcmp(rt->pattern, "/password") != 0 &&
        strcmp(rt->pattern, "/logout") != 0) {
        td__web_redirect(r, "/password");
        return;
    }
    if (!(rt->roles & r->caller.role)) {
        td__web_error(r, 403, "Your role cannot open this page.");
        return;
    }
    rt->handler(r);
}

/* ---- answers ------------------------------------------------------------ */

void td__web_redirect(struct td__req *r, const char *path)
{
    if (!path || path[0] != '/' || path[1] == '/')
        path = "/";
    snprintf(r->location, sizeof r->location, "%s", path);
    td_buf_reset(&r->raw);
    td_buf_printf(&r->raw, "See %s\n", path);
    r->raw_type = "text/plain; charset=utf-8";
    r->status = 303;
}

int td__web_wants_json(struct td__req *r)
{
    const char *a = td__header(r, MHD_HTTP_HEADER_ACCEPT);
    return a && !strncmp(a, "application/json", 16);
}

void td__web_error(struct td__req *r, unsigned status, const char *msg)
{
    if (td__web_wants_json(r)) {
        r->web = 1;
        td__reply_error(r, status, NULL, -1, "%s", msg);
        return;
    }
    struct td__html h;
    const char *title = status == 404   ? "Not found"
                        : status == 403 ? "Not allowed"
                        : status == 401 ? "Please log in"
                        : status >= 500 ? "Something went wrong"
                                        : "That did not work";
    td__page_begin(r, &h, title, "");
    td__html(&h, "<h1>%s</h1><p>%s</p><p><a href=\"/\">Back to the desk</a></p>", title, msg);
    td__page_end(r, &h, status);
}

void td__web_desk_error(struct td__req *r, int rc, const struct td_error *err)
{
    unsigned status = td__http_status_for(rc);
    char msg[700];
    if (status == 404)
        snprintf(msg, sizeof msg, "There is no such record in your office.");
    else if (status == 403)
        snprintf(msg, sizeof msg, "Your role cannot do that.");
    else if (status == 400 || status == 409)
        snprintf(msg, sizeof msg, "%s%s%s%s", err->message, err->field[0] ? " (field: " : "",
                 err->field, err->field[0] ? ")" : "");
    else
        snprintf(msg, sizeof msg, "The desk could not do that (%s). Try again shortly.",
                 td_errname(rc));
    td__web_error(r, status, msg);
}

/* ---- layout ------------------------------------------------------------- */

struct nav_item {
    const char *key, *href, *label;
    unsigned roles;
};
static const struct nav_item nav_items[] = {
    {"queue", "/queue", "Queue", STAFF},
    {"cases", "/cases", "Cases", CASE_READERS},
    {"report", "/report", "Report an incident", CASE_FILERS},
    {"reports", "/reports", "My reports", TD__ROLE_OBSERVER},
    {"staff", "/staff", "Staff", TD__ROLE_ADMIN},
    {"settings", "/settings", "Settings", TD__ROLE_ADMIN},
};

void td__page_begin(struct td__req *r, struct td__html *h, const char *title, const char *nav)
{
    char csrf[65];
    td__html_init(h, TD__PAGE_MAX);
    td__web_csrf(r, csrf);
    td__html(h,
             "<!doctype html>\n<html lang=\"en-GB\"><head><meta charset=\"utf-8\">"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
             "<title>%s - threatdesk</title>"
             "<link rel=\"stylesheet\" href=\"/static/app.css?v=%s\">"
             "<script src=\"/static/app.js?v=%s\" defer></script>",
             title, asset_version(r, "app.css"), asset_version(r, "app.js"));
    if (csrf[0])
        td__html(h, "<meta name=\"csrf-token\" content=\"%s\">", csrf);
    td__html(h,
             "</head><body data-role=\"%s\" data-page=\"%s\">"
             "<a class=\"skip\" href=\"#main\">Skip to content</a>"
             "<header class=\"top\"><a class=\"brand\" href=\"/\">threatdesk</a>",
             r->caller.authenticated ? r->caller.role_name : "", nav ? nav : "");
    if (r->caller.authenticated && !r->actor.must_change) {
        td__html(h, "<nav aria-label=\"Main\"><ul>");
        for (size_t i = 0; i < sizeof nav_items / sizeof nav_items[0]; i++) {
            if (!(nav_items[i].roles & r->caller.role))
                continue;
            int cur = nav && !strcmp(nav, nav_items[i].key);
            td__html(h, "<li><a href=\"%s\"%R>%s</a></li>", nav_items[i].href,
                     cur ? " aria-current=\"page\"" : "", nav_items[i].label);
        }
        td__html(h, "</ul></nav>");
    }
    if (r->caller.authenticated) {
        td__html(h,
                 "<div class=\"who\"><span>%s (%s, %s)</span>"
                 "<form method=\"post\" action=\"/logout\">",
                 r->actor.username, r->caller.role_name, r->actor.office);
        td__page_csrf_field(r, h);
        td__html(h, "<button type=\"submit\" class=\"link\">Log out</button></form></div>");
    }
    td__html(h, "</header><main id=\"main\">");
}

void td__page_csrf_field(struct td__req *r, struct td__html *h)
{
    char csrf[65];
    td__web_csrf(r, csrf);
    td__html(h, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", csrf);
}

void td__page_end(struct td__req *r, struct td__html *h, unsigned status)
{
    td__html(h, "</main><div id=\"live\" class=\"live\" role=\"status\" aria-live=\"polite\"></div>"
                "</body></html>\n");
    if (h->rc) {
        td__html_release(h);
        td_buf_reset(&r->raw);
        td_buf_printf(&r->raw, "<!doctype html><title>Error</title><p>The page could not be "
                               "written.</p>");
        r->raw_type = "text/html; charset=utf-8";
        r->status = 500;
        return;
    }
    td_buf_release(&r->raw);
    r->raw = h->out; /* the request owns the page now */
    td_buf_init(&h->out, 0);
    r->raw_type = "text/html; charset=utf-8";
    r->status = status;
}

/* ---- forms -------------------------------------------------------------- */

const char *td__form(struct td__req *r, const char *name, char *out, size_t size)
{
    char ct[128];
    if (!r->body.data ||
        strcmp(td__content_type(r, ct, sizeof ct), "application/x-www-form-urlencoded") != 0)
        return NULL;
    return td__form_parse(r->body.data, r->body.len, name, out, size);
}

/* ---- dates -------------------------------------------------------------- */

void td__uk_date(int64_t t, char *out, size_t size)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!localtime_r(&tt, &tm) || !strftime(out, size, "%a %-d %b %Y, %H:%M", &tm))
        snprintf(out, size, "?");
}

/* n digits exactly, as an int; -1 otherwise. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int td__web_parse_day(const char *s, int64_t *start, int64_t *end, char iso[11])
{
    int d, m, y;
    size_t n = s ? strlen(s) : 0;
    if (n == 10 && s[4] == '-' && s[7] == '-') {
        y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
    } else if (n >= 8 && n <= 10) {
        /* d/m/yyyy with one or two digits for the day and the month */
        const char *p = s;
        size_t a = strcspn(p, "/");
        if (a < 1 || a > 2 || p[a] != '/')
            return -1;
        d = digits(p, (int)a);
        p += a + 1;
        size_t b = strcspn(p, "/");
        if (b < 1 || b > 2 || p[b] != '/' || strlen(p + b + 1) != 4)
            return -1;
        m = digits(p, (int)b);
        y = digits(p + b + 1, 4);
    } else {
        return -1;
    }
    if (d < 1 || d > 31 || m < 1 || m > 12 || y < 1970 || y > 9999)
        return -1;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    /* mktime rolls 31/02 over into March: a real date comes back unchanged */
    if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != m - 1 || tm.tm_year != y - 1900)
        return -1;
    struct tm next = {0};
    next.tm_year = y - 1900;
    next.tm_mon = m - 1;
    next.tm_mday = d + 1;
    next.tm_isdst = -1;
    time_t t2 = mktime(&next);
    if (t2 == (time_t)-1)
        return -1;
    *start = (int64_t)t;
    *end = (int64_t)t2;
    if (iso)
        snprintf(iso, 11, "%04d-%02d-%02d", y, m, d);
    return 0;
}

void td__relative(int64_t t, int64_t now, char *out, size_t size)
{
    int64_t d = now - t;
    if (d < 0)
        d = 0;
    if (d < 60)
        snprintf(out, size, "just now");
    else if (d < 3600)
        snprintf(out, size, "%lld min ago", (long long)(d / 60));
    else if (d < 86400)
        snprintf(out, size, "%lld h ago", (long long)(d / 3600));
    else if (d < 2 * 86400)
        snprintf(out, size, "yesterday");
    else
        snprintf(out, size, "%lld days ago", (long long)(d / 86400));
}

void td__html_time(struct td__html *h, int64_t t, int relative)
{
    char uk[64], iso[32], rel[32];
    struct tm tm;
    time_t tt = (time_t)t;
    if (t <= 0) {
        td__html(h, "unknown");
        return;
    }
    td__uk_date(t, uk, sizeof uk);
    if (!gmtime_r(&tt, &tm) || !strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm))
        iso[0] = '\0';
    if (relative) {
        td__relative(t, (int64_t)time(NULL), rel, sizeof rel);
        td__html(h, "<time datetime=\"%s\" title=\"%s\">%s</time> <span class=\"uk\">%s</span>",
                 iso, uk, rel, uk);
    } else {
        td__html(h, "<time datetime=\"%s\">%s</time>", iso, uk);
    }
}

int td__json_flag(const json_t *v)
{
    return json_is_true(v) || (json_is_integer(v) && json_integer_value(v) != 0);
}

/* ---- names -------------------------------------------------------------- */

const char *td__case_status_label(const char *w)
{
    static const char *const map[][2] = {{"new", "New"},
                                         {"triaged", "Triaged"},
                                         {"reported_to_police", "Reported to police"},
                                         {"under_investigation", "Under investigation"},
                                         {"closed", "Closed"}};
    for (size_t i = 0; w && i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i][0], w))
            return map[i][1];
    return w ? w : "";
}

const char *td__case_type_label(const char *w)
{
    static const char *const map[][2] = {
        {"online_threat", "Online threat"},
        {"harassment", "Harassment"},
        {"assault", "Assault"},
        {"criminal_damage", "Criminal damage"},
        {"intimidation_polling_station", "Intimidation at a polling station"},
        {"intimidation_meeting", "Intimidation at a meeting"},
        {"disinformation", "Fake leaflet or disinformation"},
        {"other", "Other (followed, filmed, ...)"}};
    for (size_t i = 0; w && i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i][0], w))
            return map[i][1];
    return w ? w : "";
}
