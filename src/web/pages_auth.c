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

static const char *jstr_(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int64_t jint_(json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

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

/* API keys: what connects the mailbox (and any other importer).  A new key
 * is shown once, on the page that made it; only its hash is stored. */
static void keys_section(struct td__req *r, struct td__html *h, const char *key)
{
    struct td_error err;
    json_t *out = NULL, *users = NULL;
    size_t i;
    json_t *k;
    td__html(h, "<h2 id=\"keys\">Connect the mailbox: API keys</h2><p>On the server, "
                "<kbd>threatdesk fetch --db</kbd> files the office's mail directly (see the "
                "README). A fetcher or form elsewhere posts to <kbd>/v1/messages</kbd> with a "
                "caseworker's key made here.</p>");
    if (key)
        td__html(h,
                 "<p class=\"note\" role=\"status\">The new key, shown this once: "
                 "<code id=\"new-key\">%s</code></p>",
                 key);
    td_error_clear(&err);
    if (td_desk_api_key_list(r->srv->desk, &r->actor, NULL, NULL, &out, &err) == TD_OK &&
        json_array_size(json_object_get(out, "keys"))) {
        td__html(h, "<ul class=\"keys-list\">");
        json_array_foreach(json_object_get(out, "keys"), i, k)
        {
            int revoked =
                json_object_get(k, "revoked") && !json_is_null(json_object_get(k, "revoked"));
            td__html(h, "<li>Key %I for %s: %s, made ", jint_(k, "id"), jstr_(k, "user"),
                     *jstr_(k, "label") ? jstr_(k, "label") : "no label");
            td__html_time(h, jint_(k, "created"), 0);
            if (revoked) {
                td__html(h, " (revoked)</li>");
                continue;
            }
            td__html(h, " <form method=\"post\" action=\"/keys/%I/revoke\" class=\"inline\">",
                     jint_(k, "id"));
            td__page_csrf_field(r, h);
            td__html(h,
                     "<button type=\"submit\" class=\"secondary\">Revoke <span "
                     "class=\"sr\">key %I</span></button></form></li>",
                     jint_(k, "id"));
        }
        td__html(h, "</ul>");
    }
    json_decref(out);
    td__html(h, "<form method=\"post\" action=\"/keys\" class=\"stack narrow\">");
    td__page_csrf_field(r, h);
    td__html(h, "<label for=\"ku\">For</label><select id=\"ku\" name=\"username\">");
    if (td_desk_user_list(r->srv->desk, &r->actor, &users, &err) == TD_OK)
        json_array_foreach(json_object_get(users, "users"), i, k)
        {
            if (!strcmp(jstr_(k, "role"), "caseworker") || !strcmp(jstr_(k, "role"), "security") ||
                !strcmp(jstr_(k, "role"), "admin"))
                td__html(h, "<option value=\"%s\">%s (%s)</option>", jstr_(k, "name"),
                         jstr_(k, "name"), jstr_(k, "role"));
        }
    json_decref(users);
    td__html(h,
             "</select><label for=\"kl\">Label</label><input id=\"kl\" name=\"label\" "
             "placeholder=\"office mailbox\"><button type=\"submit\">Make a key</button></form>");
}

static void staff_page_key(struct td__req *r, unsigned status, const char *note,
                           const char *problem, const char *key);

static const char *const role_options[][2] = {{"caseworker", "Caseworker"},
                                              {"security", "Security lead"},
                                              {"observer", "Canvasser / observer"},
                                              {"police", "Police liaison (read-only)"},
                                              {"admin", "Admin"}};

/* The role of someone else in the office, changed with the desk's own
 * td_desk_user_role (the last admin cannot be demoted: the desk says so). */
static void role_form(struct td__req *r, struct td__html *h, const char *name, const char *role)
{
    td__html(h, "<form method=\"post\" action=\"/staff/%U/role\" class=\"inline\">", name);
    td__page_csrf_field(r, h);
    td__html(h,
             "<label class=\"sr\" for=\"nr-%s\">Role of %s</label><select id=\"nr-%s\" "
             "name=\"role\">",
             name, name, name);
    for (size_t i = 0; i < sizeof role_options / sizeof role_options[0]; i++)
        td__html(h, "<option value=\"%s\"%R>%s</option>", role_options[i][0],
                 role && !strcmp(role, role_options[i][0]) ? " selected" : "", role_options[i][1]);
    td__html(h,
             "</select><button type=\"submit\" class=\"secondary\">Set role <span "
             "class=\"sr\">of %s</span></button></form>",
             name);
}

static void staff_page(struct td__req *r, unsigned status, const char *note, const char *problem)
{
    staff_page_key(r, status, note, problem, NULL);
}

static void staff_page_key(struct td__req *r, unsigned status, const char *note,
                           const char *problem, const char *key)
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
    /* A wide table scrolls on its own on a phone, not the page. */
    td__html(&h, "<div class=\"scroll\" role=\"region\" aria-label=\"Staff\" tabindex=\"0\">"
                 "<table><caption class=\"sr\">People who can log in</caption><thead><tr>"
                 "<th scope=\"col\">Name</th><th scope=\"col\">Role</th>"
                 "<th scope=\"col\">Since</th><th scope=\"col\">State</th>"
                 "<th scope=\"col\">Change</th></tr></thead><tbody>");
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(out, "users"), i, u)
    {
        td__html(&h, "<tr><td>%s</td><td>%s</td><td>",
                 json_string_value(json_object_get(u, "name")),
                 json_string_value(json_object_get(u, "role")));
        td__html_time(&h, (int64_t)json_integer_value(json_object_get(u, "created")), 0);
        int disabled = td__json_flag(json_object_get(u, "disabled"));
        const char *name = json_string_value(json_object_get(u, "name"));
        td__html(&h, "</td><td>%s</td><td>",
                 disabled                                           ? "disabled"
                 : td__json_flag(json_object_get(u, "must_change")) ? "one-time password"
                                                                    : "active");
        if (name && strcmp(name, r->actor.username) != 0) {
            role_form(r, &h, name, json_string_value(json_object_get(u, "role")));
            td__html(&h, "<form method=\"post\" action=\"/staff/%U/%s\" class=\"inline\">", name,
                     disabled ? "enable" : "disable");
            td__page_csrf_field(r, &h);
            td__html(&h,
                     "<button type=\"submit\" class=\"secondary\">%s <span class=\"sr\">%s"
                     "</span></button></form>",
                     disabled ? "Enable" : "Disable", name);
            td__html(&h, "<form method=\"post\" action=\"/staff/%U/password\" class=\"inline\">",
                     name);
            td__page_csrf_field(r, &h);
            td__html(&h,
                     "<label class=\"sr\" for=\"np-%s\">New password for %s</label>"
                     "<input id=\"np-%s\" name=\"password\" type=\"password\" minlength=\"8\" "
                     "autocomplete=\"new-password\" size=\"10\" required>"
                     "<button type=\"submit\" class=\"secondary\">Set password <span "
                     "class=\"sr\">of %s</span></button></form>",
                     name, name, name, name);
        }
        td__html(&h, "</td></tr>");
    }
    json_decref(out);
    td__html(&h, "</tbody></table></div><h2>Add someone</h2>"
                 "<form method=\"post\" action=\"/staff\" class=\"stack narrow\">");
    td__page_csrf_field(r, &h);
    td__html(&h,
             "<label for=\"su\">User name</label>"
             "<input id=\"su\" name=\"username\" required autocapitalize=\"none\">"
             "<label for=\"sr\">Role</label><select id=\"sr\" name=\"role\">"
             "<option value=\"caseworker\">Caseworker</option>"
             "<option value=\"security\">Security lead</option>"
             "<option value=\"observer\">Canvasser / observer</option>"
             "<option value=\"police\">Police liaison (read-only)</option>"
             "<option value=\"admin\">Admin</option></select>"
             "<label for=\"sp\">First password (give it in person; they can change it at /password)"
             "</label><input id=\"sp\" name=\"password\" type=\"password\" minlength=\"8\" "
             "autocomplete=\"new-password\" required>"
             "<button type=\"submit\">Add</button></form>");
    keys_section(r, &h, key);
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
    staff_page(r, 201, "Added. Give them their password in person.", NULL);
}

/* POST /staff/{name}/disable | enable | password | role: disabling ends every
 * session and revokes every key of the user at once (the desk's rule); a
 * user cannot disable itself. */
void td__w_staff_act(struct td__req *r)
{
    struct td_error err;
    const char *name = td__param(r, "name");
    const char *act = td__param(r, "action");
    int disable = !strcmp(act, "disable");
    int rc;
    td_error_clear(&err);
    if (!strcmp(act, "password")) {
        /* An admin resets a password: the user's sessions end and keys are
         * revoked (the desk's rule); they may choose their own at /password
         * after logging in with it. */
        char pass[1100];
        const char *p = td__form(r, "password", pass, sizeof pass);
        wipe_body(r);
        if (!p) {
            staff_page(r, 400, NULL, "Give the new password.");
            return;
        }
        rc = td_desk_user_passwd(r->srv->desk, &r->actor, name, p, &err);
        sodium_memzero(pass, sizeof pass);
        if (rc == TD_OK) {
            staff_page(r, 200, "Password set. Give it to them in person.", NULL);
            return;
        }
    } else if (!strcmp(act, "role")) {
        /* The API's PATCH /v1/users/{name} {"role"} path: the same desk call,
         * audited there as "user.role" with the old and new role. */
        char role[32];
        const char *ro = td__form(r, "role", role, sizeof role);
        int role_id = ro ? td_role_from_name(ro) : -1;
        if (role_id < 0) {
            staff_page(r, 400, NULL, "Choose a role.");
            return;
        }
        rc = td_desk_user_role(r->srv->desk, &r->actor, name, (enum td_role)role_id, &err);
        if (rc == TD_OK) {
            staff_page(r, 200, "Role changed. It applies from their next page.", NULL);
            return;
        }
    } else if (disable || !strcmp(act, "enable")) {
        rc = td_desk_user_set_disabled(r->srv->desk, &r->actor, name, disable, &err);
    } else {
        td__web_error(r, 404, "There is no such action.");
        return;
    }
    if (rc != TD_OK) {
        staff_page(r, td__http_status_for(rc), NULL,
                   err.message[0] ? err.message : "That did not work.");
        return;
    }
    td__web_redirect(r, "/staff");
}

/* POST /keys: {username, label} -> the page with the key shown once. */
void td__w_key_create(struct td__req *r)
{
    struct td_error err;
    char user[130], label[130], key[TD_TOKEN_SIZE];
    const char *u = td__form(r, "username", user, sizeof user);
    const char *l = td__form(r, "label", label, sizeof label);
    if (!u || !*u) {
        staff_page(r, 400, NULL, "Choose whose key it is.");
        return;
    }
    td_error_clear(&err);
    int rc =
        td_desk_api_key_create(r->srv->desk, &r->actor, u, l && *l ? l : NULL, key, NULL, &err);
    if (rc != TD_OK) {
        staff_page(r, td__http_status_for(rc), NULL,
                   err.message[0] ? err.message : "The key could not be made.");
        return;
    }
    staff_page_key(r, 201, NULL, NULL, key);
    sodium_memzero(key, sizeof key);
}

/* POST /keys/{id}/revoke */
void td__w_key_revoke(struct td__req *r)
{
    struct td_error err;
    int64_t id;
    if (!td__path_id(r, "id", &id)) {
        td__web_error(r, 404, "There is no such key.");
        return;
    }
    td_error_clear(&err);
    int rc = td_desk_api_key_revoke(r->srv->desk, &r->actor, id, &err);
    if (rc != TD_OK) {
        td__web_desk_error(r, rc, &err);
        return;
    }
    td__web_redirect(r, "/staff");
}
