/*
 * handlers_auth.c - login, logout, who am I, users and API keys.
 *
 *   POST  /v1/login          {"username","password","office"?} -> {"token","user"}
 *                            401 wrong name or password (one answer for
 *                            both); 429 + Retry-After when this client
 *                            address tries too often (checked before any
 *                            hashing) or the name is locked out; 503 +
 *                            Retry-After when every hashing slot is busy
 *   POST  /v1/logout         ends the session of the Bearer token
 *   GET   /v1/me             the caller
 *   GET   /v1/users          admin: users of the office
 *   POST  /v1/users          admin: {"username","role","password"}
 *   PATCH /v1/users/{name}   admin: {"role"?, "password"?, "disabled"?};
 *                            anyone on itself: {"password"}
 *   POST  /v1/keys           admin: {"username"? (default: self), "label"?}
 *                            -> {"key"} shown once
 *   GET   /v1/keys           admin: the office's keys (?username= filter)
 *   DELETE /v1/keys/{id}     admin: revoke a key at once
 *   GET   /v1/offices        admin: its office
 *
 * Passwords and tokens are wiped from the request buffers once used.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "server/server_int.h"

static json_t *actor_json(const struct td_actor *a)
{
    return json_pack("{s:I,s:s,s:s,s:I,s:s}", "id", (json_int_t)a->user_id, "name", a->username,
                     "role", td_role_name(a->role) ? td_role_name(a->role) : "?", "office_id",
                     (json_int_t)a->office_id, "office", a->office);
}

static void wipe_body(struct td__req *r)
{
    if (r->body.data)
        sodium_memzero(r->body.data, r->body.len);
}

void td__h_login(struct td__req *r)
{
    struct td_error err;
    struct td_actor actor;
    char token[TD_TOKEN_SIZE], ip[64];
    unsigned retry = 0;
    int bad = 0;
    if (!r->srv->desk) {
        td__reply_error(r, 503, NULL, -1, "no desk attached to this server");
        return;
    }
    json_t *in = td__body_json(r);
    if (!in)
        return;
    const char *user = td__json_str(r, in, "username", &bad);
    const char *pass = bad ? NULL : td__json_str(r, in, "password", &bad);
    const char *office = bad ? NULL : td__json_str(r, in, "office", &bad);
    char qualified[300];
    if (bad)
        goto out;
    if (!user || !pass) {
        td__reply_error(r, 400, user ? "password" : "username", -1, "%s is required",
                        user ? "password" : "username");
        goto out;
    }
    if (office && *office) {
        snprintf(qualified, sizeof qualified, "%.127s/%.127s", office, user);
        user = qualified;
    }
    /* Per client address, before the password costs a hash. */
    td__client_address(r, ip, sizeof ip);
    if ((retry = td__limiter_take(r->srv->login_limiter, ip)) > 0) {
        r->retry_after = retry;
        td__reply_error(r, 429, NULL, -1, "too many logins from %s; try again in %u s", ip, retry);
        goto out;
    }
    td_error_clear(&err);
    memset(&actor, 0, sizeof actor);
    int rc = td_desk_login(r->srv->desk, user, pass, ip, token, &actor, &retry, &err);
    if (rc == TD_EBUSY) {
        r->retry_after = 2;
        td__reply_error(r, 503, NULL, -1, "too many logins in progress; try again shortly");
    } else if (rc == TD_EDENIED && retry > 0) {
        r->retry_after = retry;
        td__reply_error(r, 429, NULL, -1, "too many failed logins; try again in %u s", retry);
    } else if (rc == TD_EDENIED) {
        td__reply_error(r, 401, NULL, -1, "wrong user name or password");
    } else if (rc != TD_OK) {
        td__reply_td_error(r, rc, &err);
    } else {
        r->actor = actor;
        r->caller.authenticated = 1;
        r->caller.user_id = actor.user_id;
        r->caller.office_id = actor.office_id;
        td__reply(r, 200, json_pack("{s:s,s:o}", "token", token, "user", actor_json(&actor)));
        sodium_memzero(token, sizeof token);
    }
out:
    if (pass)
        sodium_memzero((char *)pass, strlen(pass));
    json_decref(in);
    wipe_body(r);
}

void td__h_logout(struct td__req *r)
{
    struct td_error err;
    td_error_clear(&err);
    if (!r->caller.token[0]) {
        td__reply_error(r, 400, NULL, -1, "logout needs the session's Bearer token");
        return;
    }
    int rc = td_desk_logout(r->srv->desk, r->caller.token, &err);
    td__reply_desk(r, rc, &err, 200, json_pack("{s:b}", "logged_out", 1));
}

void td__h_me(struct td__req *r)
{
    td__reply(r, 200, actor_json(&r->actor));
}

void td__h_users_list(struct td__req *r)
{
    struct td_error err;
    json_t *out = NULL;
    td_error_clear(&err);
    int rc = td_desk_user_list(r->srv->desk, &r->actor, &out, &err);
    td__reply_desk(r, rc, &err, 200, out);
}

static int role_of(struct td__req *r, json_t *in, int *role)
{
    int bad = 0;
    const char *name = td__json_str(r, in, "role", &bad);
    if (bad)
        return -1;
    if (!name) {
        *role = -1;
        return 0;
    }
    *role = td_role_from_name(name);
    if (*role < 0) {
        td__reply_error(r, 400, "role", -1,
                        "role must be admin, caseworker, security, observer or police");
        return -1;
    }
    return 0;
}

void td__h_users_add(struct td__req *r)
{
    struct td_error err;
    int bad = 0, role;
    int64_t id = 0;
    json_t *in = td__body_json(r);
    if (!in)
        return;
    const char *user = td__json_str(r, in, "username", &bad);
    const char *pass = bad ? NULL : td__json_str(r, in, "password", &bad);
    if (bad || role_of(r, in, &role) != 0)
        goto out;
    if (!user || !pass || role < 0) {
        const char *f = !user ? "username" : !pass ? "password" : "role";
        td__reply_error(r, 400, f, -1, "%s is required", f);
        goto out;
    }
    td_error_clear(&err);
    int rc =
        td_desk_user_add(r->srv->desk, &r->actor, NULL, user, (enum td_role)role, pass, &id, &err);
    td__reply_desk(r, rc, &err, 201,
                   json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "username", user, "role",
                             td_role_name(role)));
out:
    if (pass)
        sodium_memzero((char *)pass, strlen(pass));
    json_decref(in);
    wipe_body(r);
}

void td__h_users_patch(struct td__req *r)
{
    struct td_error err;
    int bad = 0, role, rc = TD_OK;
    const char *user = td__param(r, "name");
    json_t *in = td__body_json(r);
    if (!in)
        return;
    const char *pass = td__json_str(r, in, "password", &bad);
    json_t *dis = json_object_get(in, "disabled");
    if (bad || role_of(r, in, &role) != 0)
        goto out;
    if (dis && !json_is_boolean(dis)) {
        td__reply_error(r, 400, "disabled", -1, "disabled must be true or false");
        goto out;
    }
    if (!pass && role < 0 && !dis) {
        td__reply_error(r, 400, NULL, -1, "nothing to change: give role, password or disabled");
        goto out;
    }
    td_error_clear(&err);
    if (role >= 0)
        rc = td_desk_user_role(r->srv->desk, &r->actor, user, (enum td_role)role, &err);
    if (rc == TD_OK && dis)
        rc = td_desk_user_set_disabled(r->srv->desk, &r->actor, user, json_is_true(dis), &err);
    if (rc == TD_OK && pass)
        rc = td_desk_user_passwd(r->srv->desk, &r->actor, user, pass, &err);
    td__reply_desk(r, rc, &err, 200, json_pack("{s:s,s:b}", "username", user, "updated", 1));
out:
    if (pass)
        sodium_memzero((char *)pass, strlen(pass));
    json_decref(in);
    wipe_body(r);
}

void td__h_keys_create(struct td__req *r)
{
    struct td_error err;
    char key[TD_TOKEN_SIZE];
    int64_t id = 0;
    int bad = 0;
    json_t *in = r->body.len ? td__body_json(r) : json_object();
    if (!in)
        return;
    const char *user = td__json_str(r, in, "username", &bad);
    const char *label = bad ? NULL : td__json_str(r, in, "label", &bad);
    if (bad)
        goto out;
    td_error_clear(&err);
    int rc = td_desk_api_key_create(r->srv->desk, &r->actor, user ? user : r->actor.username, label,
                                    key, &id, &err);
    td__reply_desk(r, rc, &err, 201,
                   rc == TD_OK ? json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "key", key,
                                           "username", user ? user : r->actor.username)
                               : NULL);
    sodium_memzero(key, sizeof key);
out:
    json_decref(in);
}

void td__h_keys_list(struct td__req *r)
{
    struct td_error err;
    json_t *out = NULL;
    td_error_clear(&err);
    int rc =
        td_desk_api_key_list(r->srv->desk, &r->actor, NULL, td__query(r, "username"), &out, &err);
    td__reply_desk(r, rc, &err, 200, out);
}

void td__h_key_revoke(struct td__req *r)
{
    struct td_error err;
    int64_t id;
    if (!td__path_id(r, "id", &id))
        return;
    td_error_clear(&err);
    int rc = td_desk_api_key_revoke(r->srv->desk, &r->actor, id, &err);
    td__reply_desk(r, rc, &err, 200, json_pack("{s:I,s:b}", "id", (json_int_t)id, "revoked", 1));
}

void td__h_offices_list(struct td__req *r)
{
    struct td_error err;
    json_t *out = NULL;
    td_error_clear(&err);
    int rc = td_desk_office_list(r->srv->desk, &r->actor, &out, &err);
    td__reply_desk(r, rc, &err, 200, out);
}
