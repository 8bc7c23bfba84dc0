/*
 * auth.c - who may do what: passwords, sessions, API keys, users.
 *
 * Passwords: Argon2id through libsodium's crypto_pwhash_str (the hash
 * string carries its own salt and cost), at the INTERACTIVE limits, so a
 * login costs ~64 MiB and a fraction of a second.  Sessions and API keys
 * are 32 random bytes shown once as hex; the store keeps only their
 * SHA-256, so a copy of the database does not let anyone in.
 *
 * Failed logins are counted per (user name, source) in the store: after
 * login_max_failures within login_window_s the pair is refused without
 * even checking the password until the window slides past, and a restart
 * does not reset it.  An attempt is counted BEFORE its password is checked
 * (outside the desk lock, so one slow Argon2id check does not stall every
 * other request) and uncounted on success.  Unknown names are checked against a dummy hash so
 * that a wrong name and a wrong password take the same time.
 */
#include <string.h>

#include <sodium.h>

#include "desk/desk_int.h"

#define PW_MIN 8
#define PW_MAX 1024

static int hash_password(const char *pw, char out[TD_STORE_HASH_SIZE], struct td_error *err)
{
    size_t n = strlen(pw);
    if (n < PW_MIN || n > PW_MAX) {
        td_error_field(err, "password");
        return td_error_set(err, TD_EINVAL, "a password must be %d to %d bytes", PW_MIN, PW_MAX);
    }
    if (crypto_pwhash_str(out, pw, n, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return td_error_set(err, TD_ENOMEM, "password hashing ran out of memory");
    return TD_OK;
}

static void new_secret(char hex[TD_TOKEN_SIZE], char hash[65])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(hex, TD_TOKEN_SIZE, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    td__sha256_hex(hex, strlen(hex), hash);
}

static void fill_actor(struct td_actor *a, const struct td_store_user *u)
{
    memset(a, 0, sizeof *a);
    a->user_id = u->id;
    a->office_id = u->office_id;
    a->role = (enum td_role)u->role;
    snprintf(a->username, sizeof a->username, "%s", u->name);
    snprintf(a->office, sizeof a->office, "%s", u->office);
}

/* Find or create an office (inside a transaction). */
static int office_get(struct td_desk *d, const struct td_actor *actor, const char *name,
                      int64_t *id, struct td_error *err)
{
    int rc = d->store->ops->office_find(d->store, name, id, err);
    if (rc != TD_ENOTFOUND)
        return rc;
    td_error_clear(err);
    if ((rc = d->store->ops->office_insert(d->store, name, td__now(), id, err)))
        return rc;
    json_t *det = json_pack("{s:s}", "name", name);
    rc = td__audit(d, actor, *id, "office.create", "office", *id, det, err);
    json_decref(det);
    return rc;
}

static int add_user(struct td_desk *d, const struct td_actor *actor, const char *office,
                    const char *username, enum td_role role, const char *pwhash, int must_change,
                    int64_t *id, struct td_error *err)
{
    struct td_store_user u;
    int64_t uid = 0;
    int rc;
    memset(&u, 0, sizeof u);
    if ((rc = office_get(d, actor, office, &u.office_id, err)))
        return rc;
    snprintf(u.name, sizeof u.name, "%s", username);
    u.role = role;
    snprintf(u.pwhash, sizeof u.pwhash, "%s", pwhash);
    u.must_change = must_change;
    u.created = td__now();
    if ((rc = d->store->ops->user_insert(d->store, &u, &uid, err)))
        return rc;
    json_t *det = json_pack("{s:s, s:s, s:s}", "name", username, "role", td_role_name(role),
                            "office", office);
    rc = td__audit(d, actor, u.office_id, "user.add", "user", uid, det, err);
    json_decref(det);
    if (!rc && id)
        *id = uid;
    return rc;
}

int td_desk_first_start(struct td_desk *d, char password[TD_PASSWORD_SIZE], int *created,
                        struct td_error *err)
{
    /* No 0/O, 1/l/I: the password is read off a terminal and typed. */
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    char hash[TD_STORE_HASH_SIZE];
    int64_t n;
    *created = 0;
    password[0] = '\0';
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    if ((rc = d->store->ops->user_count(d->store, &n, err)) || n > 0) {
        rc = td__end(d, rc, err);
        goto out;
    }
    for (size_t i = 0; i + 1 < TD_PASSWORD_SIZE; i++)
        password[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
    password[TD_PASSWORD_SIZE - 1] = '\0';
    rc = hash_password(password, hash, err);
    if (!rc)
        rc = add_user(d, NULL, "default", "admin", TD_ROLE_ADMIN, hash, 1, NULL, err);
    rc = td__end(d, rc, err);
    if (rc == TD_OK)
        *created = 1;
    else
        sodium_memzero(password, TD_PASSWORD_SIZE);
out:
    td__unlock(d);
    return rc;
}

int td_desk_login(struct td_desk *d, const char *username, const char *password, const char *source,
                  char token[TD_TOKEN_SIZE], struct td_actor *actor, unsigned *retry_after_s,
                  struct td_error *err)
{
    struct td_store_user u;
    char th[65], against[TD_STORE_HASH_SIZE];
    int64_t now = td__now(), count = 0, oldest = 0;
    int rc, known = 0;
    memset(&u, 0, sizeof u);
    if (retry_after_s)
        *retry_after_s = 0;
    token[0] = '\0';
    if (!username || !password || !*username)
        return td_error_set(err, TD_EINVAL, "user name and password required");
    if (!source || !*source)
        source = "local";

    /* Phase 1, locked: refuse a locked-out pair; otherwise count this
     * attempt as a failure NOW (committed), so parallel guesses cannot
     * slip past the limit while their passwords are being checked. */
    td__lock(d);
    if ((rc = td__begin(d, err)))
        goto unlock1;
    rc = d->store->ops->login_failures(d->store, username, source,
                                       now - (int64_t)d->opts.login_window_s, &count, &oldest, err);
    if (rc)
        goto end1;
    if (count >= (int64_t)d->opts.login_max_failures) {
        int64_t wait = oldest + (int64_t)d->opts.login_window_s - now;
        if (retry_after_s)
            *retry_after_s = (unsigned)(wait > 0 ? wait : 1);
        rc = td_error_set(err, TD_EDENIED, "too many failed logins; try again in %lld s",
                          (long long)(wait > 0 ? wait : 1));
        goto end1;
    }
    rc = d->store->ops->user_find(d->store, username, &u, err);
    if (rc && rc != TD_ENOTFOUND)
        goto end1;
    known = rc == TD_OK;
    td_error_clear(err);
    if (!known && !d->dummy_hash[0] &&
        crypto_pwhash_str(d->dummy_hash, "not a password", 14, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        rc = td_error_set(err, TD_ENOMEM, "password hashing ran out of memory");
        goto end1;
    }
    snprintf(against, sizeof against, "%s", known ? u.pwhash : d->dummy_hash);
    rc = d->store->ops->login_failure_add(d->store, username, source, now, err);
end1:
    rc = td__end(d, rc, err);
unlock1:
    td__unlock(d);
    if (rc)
        return rc;

    /* The expensive part (Argon2id, ~64 MiB) runs without the lock. */
    int ok = crypto_pwhash_str_verify(against, password, strlen(password)) == 0 && known;

    /* Phase 2, locked: a failure stays counted; a success clears the
     * pair's failures and opens a session. */
    td__lock(d);
    if ((rc = td__begin(d, err)))
        goto unlock2;
    if (!ok) {
        json_t *det = json_pack("{s:s, s:s}", "name", username, "source", source);
        rc = td__audit(d, NULL, known ? u.office_id : 0, "user.login_failed", "user",
                       known ? u.id : 0, det, err);
        json_decref(det);
        rc = td__end(d, rc, err);
        if (!rc)
            rc = td_error_set(err, TD_EDENIED, "wrong user name or password");
        goto unlock2;
    }
    if ((rc = d->store->ops->login_failure_clear(d->store, username, source, err)))
        goto end2;
    new_secret(token, th);
    if ((rc = d->store->ops->session_insert(d->store, u.id, th, now,
                                            now + (int64_t)d->opts.session_ttl_s, err)))
        goto end2;
    fill_actor(actor, &u);
    json_t *det = json_pack("{s:s, s:b}", "source", source, "must_change", u.must_change);
    rc = td__audit(d, actor, u.office_id, "user.login", "user", u.id, det, err);
    json_decref(det);
end2:
    rc = td__end(d, rc, err);
    if (rc)
        token[0] = '\0';
unlock2:
    td__unlock(d);
    return rc;
}

static int actor_of(struct td_desk *d, int64_t user_id, struct td_actor *actor,
                    struct td_error *err)
{
    struct td_store_user u;
    int rc = d->store->ops->user_get(d->store, user_id, &u, err);
    if (rc == TD_OK)
        fill_actor(actor, &u);
    return rc;
}

int td_desk_authenticate(struct td_desk *d, const char *token, struct td_actor *actor,
                         struct td_error *err)
{
    char th[65];
    int64_t uid;
    if (!token || strlen(token) != TD_TOKEN_SIZE - 1)
        return td_error_set(err, TD_EDENIED, "invalid session");
    td__sha256_hex(token, strlen(token), th);
    td__lock(d);
    int rc = d->store->ops->session_find(d->store, th, td__now(), &uid, err);
    if (!rc)
        rc = actor_of(d, uid, actor, err);
    td__unlock(d);
    if (rc == TD_ENOTFOUND)
        rc = td_error_set(err, TD_EDENIED, "invalid or expired session");
    return rc;
}

int td_desk_logout(struct td_desk *d, const char *token, struct td_error *err)
{
    char th[65];
    if (!token)
        return TD_OK;
    td__sha256_hex(token, strlen(token), th);
    td__lock(d);
    int rc = d->store->ops->session_delete(d->store, th, err);
    td__unlock(d);
    return rc;
}

int td_desk_authenticate_key(struct td_desk *d, const char *key, struct td_actor *actor,
                             struct td_error *err)
{
    char kh[65];
    int64_t uid;
    if (!key || strlen(key) != TD_TOKEN_SIZE - 1)
        return td_error_set(err, TD_EDENIED, "invalid API key");
    td__sha256_hex(key, strlen(key), kh);
    td__lock(d);
    int rc = d->store->ops->apikey_find(d->store, kh, &uid, err);
    if (!rc)
        rc = actor_of(d, uid, actor, err);
    td__unlock(d);
    if (rc == TD_ENOTFOUND)
        rc = td_error_set(err, TD_EDENIED, "invalid API key");
    return rc;
}

/* An admin acts within its office; the local operator (NULL) anywhere.
 * Looks the user up and checks it is in reach. */
static int target_user(struct td_desk *d, const struct td_actor *actor, const char *username,
                       struct td_store_user *u, struct td_error *err)
{
    if (actor && actor->role != TD_ROLE_ADMIN)
        return td__denied(err, "manage users");
    int rc = d->store->ops->user_find(d->store, username, u, err);
    if (rc == TD_ENOTFOUND || (!rc && actor && u->office_id != actor->office_id)) {
        td_error_field(err, "name");
        return td_error_set(err, TD_ENOTFOUND, "no user '%s'", username);
    }
    return rc;
}

int td_desk_api_key_create(struct td_desk *d, const struct td_actor *actor, const char *username,
                           const char *label, char key[TD_TOKEN_SIZE], int64_t *id,
                           struct td_error *err)
{
    struct td_store_user u;
    char kh[65];
    int64_t kid = 0;
    key[0] = '\0';
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    if ((rc = target_user(d, actor, username, &u, err)))
        goto end;
    new_secret(key, kh);
    if ((rc = d->store->ops->apikey_insert(d->store, u.id, kh, label, td__now(), &kid, err)))
        goto end;
    json_t *det =
        json_pack("{s:s, s:s?, s:I}", "name", username, "label", label, "key", (json_int_t)kid);
    rc = td__audit(d, actor, u.office_id, "apikey.create", "user", u.id, det, err);
    json_decref(det);
end:
    rc = td__end(d, rc, err);
    if (rc)
        key[0] = '\0';
    else if (id)
        *id = kid;
out:
    td__unlock(d);
    return rc;
}

static int check_name(const char *name, struct td_error *err)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= 128) {
        td_error_field(err, "name");
        return td_error_set(err, TD_EINVAL, "a name must be 1 to 127 bytes");
    }
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            td_error_field(err, "name");
            return td_error_set(err, TD_EINVAL, "a name may not contain spaces or controls");
        }
    return TD_OK;
}

int td_desk_user_add(struct td_desk *d, const struct td_actor *actor, const char *office,
                     const char *username, enum td_role role, const char *password, int64_t *id,
                     struct td_error *err)
{
    char hash[TD_STORE_HASH_SIZE];
    int rc;
    if (actor && actor->role != TD_ROLE_ADMIN)
        return td__denied(err, "manage users");
    if (actor && office && strcmp(office, actor->office) != 0)
        return td__denied(err, "add users to another office");
    if (actor)
        office = actor->office;
    if (!office)
        office = "default";
    if ((rc = check_name(username, err)) || (rc = check_name(office, err)))
        return rc;
    if ((int)role < 0 || role >= TD_ROLE_COUNT) {
        td_error_field(err, "role");
        return td_error_set(err, TD_EINVAL, "unknown role");
    }
    if (!password || (rc = hash_password(password, hash, err)))
        return password ? rc : td_error_set(err, TD_EINVAL, "password required");
    td__lock(d);
    if (!(rc = td__begin(d, err))) {
        rc = add_user(d, actor, office, username, role, hash, 0, id, err);
        rc = td__end(d, rc, err);
    }
    td__unlock(d);
    sodium_memzero(hash, sizeof hash);
    return rc;
}

int td_desk_user_passwd(struct td_desk *d, const struct td_actor *actor, const char *username,
                        const char *password, struct td_error *err)
{
    char hash[TD_STORE_HASH_SIZE];
    struct td_store_user u;
    int rc;
    if (!password)
        return td_error_set(err, TD_EINVAL, "password required");
    /* Everyone may change their own password; admins those of their office. */
    int self = actor && !strcmp(actor->username, username);
    if (actor && !self && actor->role != TD_ROLE_ADMIN)
        return td__denied(err, "change another user's password");
    if ((rc = hash_password(password, hash, err)))
        return rc;
    td__lock(d);
    if ((rc = td__begin(d, err)))
        goto out;
    if (self) {
        struct td_actor admin_view = *actor;
        admin_view.role = TD_ROLE_ADMIN;
        rc = target_user(d, &admin_view, username, &u, err);
    } else {
        rc = target_user(d, actor, username, &u, err);
    }
    if (!rc)
        rc = d->store->ops->user_set_password(d->store, u.id, hash, 0, err);
    /* A new password ends every session of that user: whoever knew the old
     * one must not stay logged in. */
    if (!rc)
        rc = d->store->ops->session_delete_user(d->store, u.id, err);
    json_t *det = json_pack("{s:s}", "name", username);
    if (!rc)
        rc = td__audit(d, actor, u.office_id, "user.passwd", "user", u.id, det, err);
    json_decref(det);
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    sodium_memzero(hash, sizeof hash);
    return rc;
}

int td_desk_user_role(struct td_desk *d, const struct td_actor *actor, const char *username,
                      enum td_role role, struct td_error *err)
{
    struct td_store_user u;
    if ((int)role < 0 || role >= TD_ROLE_COUNT) {
        td_error_field(err, "role");
        return td_error_set(err, TD_EINVAL, "unknown role");
    }
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    if (!(rc = target_user(d, actor, username, &u, err)))
        rc = d->store->ops->user_set_role(d->store, u.id, role, err);
    json_t *det = json_pack("{s:s, s:s, s:s}", "name", username, "from",
                            rc ? "" : td_role_name(u.role), "to", td_role_name(role));
    if (!rc)
        rc = td__audit(d, actor, u.office_id, "user.role", "user", u.id, det, err);
    json_decref(det);
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    return rc;
}

int td_desk_user_list(struct td_desk *d, const struct td_actor *actor, json_t **out,
                      struct td_error *err)
{
    json_t *users = NULL;
    *out = NULL;
    if (!actor || actor->role != TD_ROLE_ADMIN)
        return td__denied(err, "list users");
    td__lock(d);
    int rc = d->store->ops->user_list(d->store, actor->office_id, &users, err);
    td__unlock(d);
    if (!rc && !(*out = json_pack("{s:o}", "users", users)))
        rc = td_error_set(err, TD_ENOMEM, NULL);
    return rc;
}
