/*
 * auth.c - who is calling: credentials -> td__caller + td_actor.
 *
 * Credentials, in order:
 *   Authorization: Bearer <session token>   (from POST /v1/login)
 *   X-API-Key: <key>                        (issued by an admin)
 *   ?key=<key>                              only on routes marked key_auth
 *                                           (the Perspective endpoint, as
 *                                           the hosted API takes it)
 * On key_auth routes a Bearer credential may also be an API key.  The desk
 * resolves a credential to user, office and role; here we only find it and
 * answer 401 (with no hint whether the user exists) when it is missing or
 * wrong, 503 when no desk is attached.  `perspective_open` lets anonymous
 * callers use the Perspective route only.
 */
#include <string.h>

#include "server/server_int.h"

static void fill(struct td__req *r, const char *token)
{
    r->caller.authenticated = 1;
    r->caller.user_id = r->actor.user_id;
    r->caller.office_id = r->actor.office_id;
    r->caller.role = 1u << r->actor.role;
    snprintf(r->caller.role_name, sizeof r->caller.role_name, "%s",
             td_role_name(r->actor.role) ? td_role_name(r->actor.role) : "?");
    snprintf(r->caller.token, sizeof r->caller.token, "%s", token ? token : "");
}

int td__authenticate(struct td__req *r)
{
    struct td_server *s = r->srv;
    struct td_error err;
    const char *authz = td__header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *apikey = td__header(r, "X-API-Key");
    const char *qkey = r->route && r->route->key_auth ? td__query(r, "key") : NULL;
    const char *bearer = NULL;

    td_error_clear(&err);
    if (authz && !strncasecmp(authz, "Bearer ", 7)) {
        bearer = authz + 7;
        while (*bearer == ' ')
            bearer++;
    }
    if (!bearer && !apikey && !qkey) {
        if (r->route && r->route->key_auth && s->cfg.perspective_open) {
            r->caller.role = r->route->roles;
            snprintf(r->caller.role_name, sizeof r->caller.role_name, "anonymous");
            return 1;
        }
        td__reply_error(r, 401, NULL, -1,
                        "credentials required: Authorization: Bearer <token> or X-API-Key");
        return 0;
    }
    if (!s->desk) {
        r->retry_after = 5;
        td__reply_error(r, 503, NULL, -1, "no desk attached to this server");
        return 0;
    }
    memset(&r->actor, 0, sizeof r->actor);
    if (bearer && td_desk_authenticate(s->desk, bearer, &r->actor, &err) == TD_OK) {
        fill(r, bearer);
        return 1;
    }
    if (bearer && r->route && r->route->key_auth &&
        td_desk_authenticate_key(s->desk, bearer, &r->actor, &err) == TD_OK) {
        fill(r, NULL);
        return 1;
    }
    if (apikey && td_desk_authenticate_key(s->desk, apikey, &r->actor, &err) == TD_OK) {
        fill(r, NULL);
        return 1;
    }
    if (qkey && td_desk_authenticate_key(s->desk, qkey, &r->actor, &err) == TD_OK) {
        fill(r, NULL);
        return 1;
    }
    if (err.code != TD_OK && err.code != TD_EDENIED) {
        td__reply_td_error(r, err.code, &err);
        return 0;
    }
    td__reply_error(r, 401, NULL, -1, "invalid or expired credentials");
    return 0;
}
