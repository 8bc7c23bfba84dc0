/*
 * pages_auth.c - log in, log out, the one-time password, and the office's
 * staff (admin).
 *
 * Login reuses the API's path exactly: the per-address rate limit
 * (guard.c) before any hash, then td_desk_login with its per-user lock-out;
 * the session token it returns becomes the td_session cookie.  Passwords
 * are wiped from the request body once used.
 */
#include <string.h>

#include <sodium.h>

#include "web/web_int.h"

static void wipe_body(struct td__req *r)
{
    if (r->body.data)
        sodium_memzero(r->body.data, r->body.len);
}

static void set_session_cookie(struct td__req *r, const char *token, int clear)
{
    int tls = r->srv->cfg.tls_cert[0] != '\0';
    snprintf(r->set_cookie, sizeof r->set_cookie,
             "td_session=%s; Path=/; HttpOnly; SameSite=Strict%s%s", clear ? "" : token,
             tls ? "; Secure" : "", clear ? "; Max-Age=0" : "");
}

static void login_page(struct td__req *r, unsigned status, const char *problem, const char *user)
{
    struct td__html h;
    td__page_begin(r, &h, "Log in", "login");
    td__html(&h, "<h1>Log in to the desk</h1>");
    if (problem)
        td__html(&h, "<p class=\"problem\" role=\"alert\">%s</p>", problem);
    td__html(&h,
             "<form method=\"post\" action=\"/login\" class=\"stack narrow\">"
             "<label for=\"username\">User name</label>"
             "<input id=\"username\" name=\"username\" autocomplete=\"username\" required "
             "autocapitalize=\"none\" value=\"%s\">"
             "<label for=\"password\">Password</label>"
             "<input id=\"password\" name=\"password\" type=\"password\" "
             "autocomplete=\"current-password\" required>"
             "<button type=\"submit\">Log in</button></form>"
             "<p class=\"hint\">If your name is used in more than one office, write "
             "<kbd>office/name</kbd>.</p>",
             user ? user : "");
    td__page_end(r, &h, status);
}

void td__w_login_form(struct td__req *r)
{
    login_page(r, 200, NULL, NULL);
}

void td__w_login(struct td__req *r)
{
    char user[300], pass[1100], ip[64], token[TD_TOKEN_SIZE];
    struct td_actor actor;
    struct td_error err;
    unsigned retry = 0;
    if (!td__form(r, "username", user, sizeof user) ||
        !td__form(r, "password", pass, sizeof pass) || !*user || !*pass) {
        wipe_body(r);
        login_page(r, 400, "Enter your user name and password.", NULL);
        return;
    }
    wipe_body(r);
    td__client_address(r, ip, sizeof ip);
    if ((retry = td__limiter_take(r->srv->login_limiter, ip)) > 0) {
        sodium_memzero(pass, sizeof pass);
        r->retry_after = retry;
        login_page(r, 429, "Too many attempts from this address. Wait a minute and try again.",
                   user);
        return;
    }
    td_error_clear(&err);
    memset(&actor, 0, sizeof actor);
    int rc = td_desk_login(r->srv->desk, user, pass, ip, token, &actor, &retry, &err);
    sodium_memzero(pass, sizeof pass);
    if (rc == TD_EDENIED && retry > 0) {
        r->retry_after = retry;
        login_page(r, 429, "Too many failed attempts for this name. Try again later.", user);
    } else if (rc == TD_EDENIED) {
        login_page(r, 401, "That user name and password do not match.", user);
    } else if (rc == TD_EBUSY) {
        r->retry_after = 2;
        login_page(r, 503, "The desk is busy. Try again in a moment.", user);
    } else if (rc != TD_OK) {
        td__web_desk_error(r, rc, &err);
    } else {
        set_session_cookie(r, token, 0);
        sodium_memzero(token, sizeof token);
        td__web_redirect(r, actor.must_change ? "/password" : "/");
    }
}

void td__w_logout(struct td__req *r)
{
    struct td_error err;
    td_error_clear(&err);
    td_desk_logout(r->srv->desk, r->caller.token, &err);
    set_session_cookie(r, "", 1);
    td__web_redirect(r, "/login");
}

void td__w_home(struct td__req *r)
{
    if (r->caller.role & TD__ROLES_STAFF)
        td__web_redirect(r, "/queue");
    else if (r->caller.role & TD__ROLE_POLICE)
        td__web_redirect(r, "/cases");
    else
        td__web_redirect(r, "/report");
}

static void password_page(struct td__req *r, unsigned status, const char *problem)
{
    struct td__html h;
    td__page_begin(r, &h, "Choose a password", "password");
    td__html(&h, "<h1>Choose your password</h1>");
    if (r->actor.must_change)
        td__html(&h, "<p>You logged in with a one-time password. Choose your own before "
                     "anything else.</p>");
    if (problem)
        td__html(&h, "<p class=\"problem\" role=\"alert\">%s</p>", problem);
    td__html(&h, "<form method=\"post\" action=\"/password\" class=\"stack narrow\">");
    td__page_csrf_field(r, &h);
    td__html(&h,
             "<input type=\"hidden\" name=\"username\" autocomplete=\"username\" value=\"%s\">"
             "<label for=\"password\">New password (at least 8 characters)</label>"
             "<input id=\"password\" name=\"password\" type=\"password\" minlength=\"8\" "
             "autocomplete=\"new-password\" required>"
             "<label for=\"again\">The same again</label>"
             "<input id=\"again\" name=\"again\" type=\"password\" minlength=\"8\" "
             "autocomplete=\"new-password\" required>"
             "<button type=\"submit\">Save password</button></form>",
             r->actor.username);
    td__page_end(r, &h, status);
}

void td__w_password_form(struct td__req *r)
{
    password_page(r, 200, NULL);
}

void td__w_password(struct td__req *r)
{
    char pass[1100], again[1100], ip[64], token[TD_TOKEN_SIZE], user[300];
    struct td_error err;
    struct td_actor actor;
    unsigned retry = 0;
    const char *p = td__form(r, "password", pass, sizeof pass);
    const char *a = td__form(r, "again", again, sizeof again);
    wipe_body(r);
    if (!p || !a || strcmp(p, a) != 0) {
        sodium_memzero(pass, sizeof pass);
        sodium_memzero(again, sizeof again);
        password_page(r, 400, "The two passwords are not the same.");
        return;
    }
    sodium_memzero(again, sizeof again);
    td_error_clear(&err);
    int rc = td_desk_user_passwd(r->srv->desk, &r->actor, r->actor.username, pass, &err);
    if (rc != TD_OK) {
        sodium_memzero(pass, sizeof pass);
        password_page(r, 400, err.message[0] ? err.message : "That password cannot be used.");
        return;
    }
    /* Changing it ended every session, this one too: log in again with it,
     * so the person carries on. */
    snprintf(user, sizeof user, "%s/%s", r->actor.office, r->actor.username);
    td__client_address(r, ip, sizeof ip);
    memset(&actor, 0, sizeof actor);
    rc = td_desk_login(r->srv->desk, user, pass, ip, token, &actor, &retry, &err);
    sodium_memzero(pass, sizeof pass);
    if (rc != TD_OK) {
        set_session_cookie(r, "", 1);
        td__web_redirect(r, "/login");
        return;
    }
    set_session_cookie(r, token, 0);
    sodium_memzero(token, sizeof token);
    td__web_redirect(r, "/");
}

/* ---- staff (admin) ------------------------------------------------------ */

static void staff_page(struct td__req *r, unsigned status, const char *note, const char *problem)
{
    struct td__html h;
    struct td_error err;
    json_t *out = NULL;
    td_error_clear(&err);
    int rc = td_desk_user_list(r->srv->desk, &r->actor, &out, &err);
    if (rc != TD_OK) {
        td__web_desk_error(r, rc, &err);
        return;
    }
    td__page_begin(r, &h, "Staff", "staff");
    td__html(&h, "<h1>Staff of %s</h1>", r->actor.office);
    if (note)
        td__html(&h, "<p class=\"note\" role=\"status\">%s</p>", note);
    if (problem)
        td__html(&h, "<p class=\"problem\" role=\"alert\">%s</p>", problem);
    td__html(&h, "<table><caption class=\"sr\">People who can log in</caption><thead><tr>"
                 "<th scope=\"col\">Name</th><th scope=\"col\">Role</th>"
                 "<th scope=\"col\">Since</th><th scope=\"col\">State</th></tr></thead><tbody>");
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(out, "users"), i, u)
    {
        td__html(&h, "<tr><td>%s</td><td>%s</td><td>",
                 json_string_value(json_object_get(u, "name")),
                 json_string_value(json_object_get(u, "role")));
        td__html_time(&h, (int64_t)json_integer_value(json_object_get(u, "created")), 0);
        td__html(&h, "</td><td>%s</td></tr>",
                 json_is_true(json_object_get(u, "disabled"))      ? "disabled"
                 : json_is_true(json_object_get(u, "must_change")) ? "one-time password"
                                                                   : "active");
    }
    json_decref(out);
    td__html(&h, "</tbody></table><h2>Add someone</h2>"
                 "<form method=\"post\" action=\"/staff\" class=\"stack narrow\">");
    td__page_csrf_field(r, &h);
    td__html(&h, "<label for=\"su\">User name</label>"
                 "<input id=\"su\" name=\"username\" required autocapitalize=\"none\">"
                 "<label for=\"sr\">Role</label><select id=\"sr\" name=\"role\">"
                 "<option value=\"caseworker\">Caseworker</option>"
                 "<option value=\"security\">Security lead</option>"
                 "<option value=\"observer\">Canvasser / observer</option>"
                 "<option value=\"police\">Police liaison (read-only)</option>"
                 "<option value=\"admin\">Admin</option></select>"
                 "<label for=\"sp\">One-time password (they choose their own at first login)"
                 "</label><input id=\"sp\" name=\"password\" type=\"password\" minlength=\"8\" "
                 "autocomplete=\"new-password\" required>"
                 "<button type=\"submit\">Add</button></form>"
                 "<h2>Connect the mailbox</h2><p>Run <kbd>threatdesk fetch</kbd> against the "
                 "office's IMAP inbox with an API key of a caseworker (see the README), or post "
                 "messages to <kbd>/v1/messages</kbd>.</p>");
    td__page_end(r, &h, status);
}

void td__w_staff(struct td__req *r)
{
    staff_page(r, 200, NULL, NULL);
}

void td__w_staff_add(struct td__req *r)
{
    char user[130], role[32], pass[1100];
    struct td_error err;
    const char *u = td__form(r, "username", user, sizeof user);
    const char *ro = td__form(r, "role", role, sizeof role);
    const char *p = td__form(r, "password", pass, sizeof pass);
    wipe_body(r);
    int role_id = ro ? td_role_from_name(ro) : -1;
    if (!u || !*u || !p || role_id < 0) {
        staff_page(r, 400, NULL, "Give a user name, a role and a password.");
        return;
    }
    td_error_clear(&err);
    int rc = td_desk_user_add(r->srv->desk, &r->actor, r->actor.office, u, (enum td_role)role_id, p,
                              NULL, &err);
    sodium_memzero(pass, sizeof pass);
    if (rc != TD_OK) {
        staff_page(r, td__http_status_for(rc), NULL,
                   err.message[0] ? err.message : "That person could not be added.");
        return;
    }
    staff_page(r, 201, "Added. Give them their one-time password in person.", NULL);
}
