/*
 * auth.c - who may do what: passwords, sessions, API keys, users, offices.
 *
 * Passwords: Argon2id through libsodium's crypto_pwhash_str (the hash
 * string carries its own salt and cost), at opts.pwhash_mem_kib and
 * opts.pwhash_ops (default 32 MiB, 3 passes).  Every hash and every check
 * takes one of opts.hash_slots slots first (hash_enter): a login flood
 * with rotating names queues on the slots - at most opts.hash_queue
 * waiters, each for at most opts.hash_wait_ms - and is otherwise refused
 * with TD_EBUSY, so memory stays at slots x cost however many arrive.
 * Sessions and API keys are 32 random bytes shown once as hex; the store
 * keeps only their SHA-256, so a copy of the database does not let anyone
 * in.
 *
 * Failed logins are counted per (user name, source) in the store: after
 * login_max_failures within login_window_s the pair is refused without
 * even checking the password until the window slides past, and a restart
 * does not reset it.  An attempt is counted BEFORE its password is checked
 * (outside the desk lock, so one slow Argon2id check does not stall every
 * other request) and uncounted on success.  Unknown names are checked
 * against a dummy hash so that a wrong name and a wrong password take the
 * same time.
 *
 * Names: unique within an office.  "office/name" names a user exactly;
 * plain "name" works where only one office uses it.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "desk/desk_int.h"

#define PW_MIN 8
#define PW_MAX 1024

/* ---- hashing slots ------------------------------------------------------ */

static int hash_enter(struct td_desk *d, struct td_error *err)
{
    int rc = TD_OK;
    pthread_mutex_lock(&d->hash_lock);
    if (d->hash_busy >= d->opts.hash_slots) {
        if (d->hash_waiting >= d->opts.hash_queue) {
            pthread_mutex_unlock(&d->hash_lock);
            return td_error_set(err, TD_EBUSY, "every password-hashing slot is busy");
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += d->opts.hash_wait_ms / 1000;
        until.tv_nsec += (long)(d->opts.hash_wait_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        d->hash_waiting++;
        while (d->hash_busy >= d->opts.hash_slots) {
            if (pthread_cond_timedwait(&d->hash_cond, &d->hash_lock, &until) == ETIMEDOUT &&
                d->hash_busy >= d->opts.hash_slots) {
                rc = td_error_set(err, TD_EBUSY, "no password-hashing slot came free in time");
                break;
            }
        }
        d->hash_waiting--;
    }
    if (!rc)
        d->hash_busy++;
    pthread_mutex_unlock(&d->hash_lock);
    return rc;
}

static void hash_leave(struct td_desk *d)
{
    pthread_mutex_lock(&d->hash_lock);
    d->hash_busy--;
    pthread_cond_signal(&d->hash_cond);
    pthread_mutex_unlock(&d->hash_lock);
}

static int pwhash(struct td_desk *d, const char *pw, size_t n, char out[TD_STORE_HASH_SIZE],
                  struct td_error *err)
{
    int rc = hash_enter(d, err);
    if (rc)
        return rc;
    if (crypto_pwhash_str(out, pw, n, d->opts.pwhash_ops, (size_t)d->opts.pwhash_mem_kib << 10))
        rc = td_error_set(err, TD_ENOMEM, "password hashing ran out of memory");
    hash_leave(d);
    return rc;
}

static int hash_password(struct td_desk *d, const char *pw, char out[TD_STORE_HASH_SIZE],
                         struct td_error *err)
{
    size_t n = strlen(pw);
    if (n < PW_MIN || n > PW_MAX) {
        td_error_field(err, "password");
        return td_error_set(err, TD_EINVAL, "a password must be %d to %d bytes", PW_MIN, PW_MAX);
    }
    return pwhash(d, pw, n, out, err);
}

/* ---- helpers -------------------------------------------------------------- */

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
    a->role = (enum td_role)td_role_from_name(u->role);
    a->must_change = u->must_change;
    snprintf(a->username, sizeof a->username, "%s", u->name);
    snprintf(a->office, sizeof a->office, "%s", u->office);
}

/* Look a user up by "name" or "office/name"; office_id non-zero confines
 * the look-up to that office (an admin's). */
static int find_user(struct td_desk *d, int64_t office_id, const char *qualified,
                     struct td_store_user *u, struct td_error *err)
{
    const char *slash = qualified ? strchr(qualified, '/') : NULL;
    if (!qualified || !*qualified)
        return td_error_set(err, TD_ENOTFOUND, "no user given");
    if (!slash)
        return d->store->ops->user_find(d->store, office_id, qualified, u, err);
    char office[128];
    int64_t oid;
    if ((size_t)(slash - qualified) >= sizeof office)
        return td_error_set(err, TD_ENOTFOUND, "no such user");
    memcpy(office, qualified, (size_t)(slash - qualified));
    office[slash - qualified] = '\0';
    int rc = d->store->ops->office_find(d->store, office, &oid, err);
    if (rc == TD_ENOTFOUND || (!rc && office_id && oid != office_id))
        return td_error_set(err, TD_ENOTFOUND, "no such user");
    if (rc)
        return rc;
    return d->store->ops->user_find(d->store, oid, slash + 1, u, err);
}

static int check_name(const char *name, const char *field, struct td_error *err)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= 128) {
        td_error_field(err, field);
        return td_error_set(err, TD_EINVAL, "a name must be 1 to 127 bytes");
    }
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '/') {
            td_error_field(err, field);
            return td_error_set(err, TD_EINVAL, "a name may not contain spaces, controls or '/'");
        }
    return TD_OK;
}

static int add_user(struct td_desk *d, const struct td_actor *actor, int64_t office_id,
                    const char *office, const char *username, enum td_role role,
                    const char *pwhash_str, int must_change, int64_t *id, struct td_error *err)
{
    struct td_store_user u;
    int64_t uid = 0;
    int rc;
    memset(&u, 0, sizeof u);
    u.office_id = office_id;
    snprintf(u.name, sizeof u.name, "%s", username);
    snprintf(u.role, sizeof u.role, "%s", td_role_name(role));
    snprintf(u.pwhash, sizeof u.pwhash, "%s", pwhash_str);
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

static int office_create(struct td_desk *d, const struct td_actor *actor, const char *name,
                         int64_t *id, struct td_error *err)
{
    int rc = d->store->ops->office_insert(d->store, name, td__now(), id, err);
    if (rc == TD_EEXISTS) {
        td_error_field(err, "office");
        return td_error_set(err, TD_EEXISTS, "office '%s' already exists", name);
    }
    if (rc)
        return rc;
    json_t *det = json_pack("{s:s}", "name", name);
    rc = td__audit(d, actor, *id, "office.create", "office", *id, det, err);
    json_decref(det);
    return rc;
}

/* ---- first start, login, sessions ------------------------------------------ */

int td_desk_first_start(struct td_desk *d, char password[TD_PASSWORD_SIZE], int *created,
                        struct td_error *err)
{
    /* No 0/O, 1/l/I: the password is read off a terminal and typed. */
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    char hash[TD_STORE_HASH_SIZE];
    int64_t n, oid;
    *created = 0;
    password[0] = '\0';
    td__lock(d);
    int rc = d->store->ops->user_count(d->store, &n, err);
    td__unlock(d);
    if (rc || n > 0)
        return rc;
    for (size_t i = 0; i + 1 < TD_PASSWORD_SIZE; i++)
        password[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
    password[TD_PASSWORD_SIZE - 1] = '\0';
    if ((rc = hash_password(d, password, hash, err)))
        goto out;
    td__lock(d);
    if ((rc = td__begin(d, err)))
        goto unlock;
    /* Checked again under the lock: two first starts make one admin. */
    if ((rc = d->store->ops->user_count(d->store, &n, err)) || n > 0) {
        rc = td__end(d, rc ? rc : TD_EEXISTS, err);
        rc = rc == TD_EEXISTS ? TD_OK : rc;
        password[0] = '\0';
        goto unlock;
    }
    rc = d->store->ops->office_find(d->store, "default", &oid, err);
    if (rc == TD_ENOTFOUND) {
        td_error_clear(err);
        rc = office_create(d, NULL, "default", &oid, err);
    }
    if (!rc)
        rc = add_user(d, NULL, oid, "default", "admin", TD_ROLE_ADMIN, hash, 1, NULL, err);
    rc = td__end(d, rc, err);
    if (rc == TD_OK)
        *created = 1;
unlock:
    td__unlock(d);
out:
    if (rc || !*created)
        sodium_memzero(password, TD_PASSWORD_SIZE);
    sodium_memzero(hash, sizeof hash);
    return rc;
}

int td_desk_login(struct td_desk *d, const char *username, const char *password, const char *source,
                  char token[TD_TOKEN_SIZE], struct td_actor *actor, unsigned *retry_after_s,
                  struct td_error *err)
{
    struct td_store_user u;
    char th[65], against[TD_STORE_HASH_SIZE];
    int64_t now = td__now(), count = 0, oldest = 0, sid = 0;
    int rc, known = 0;
    memset(&u, 0, sizeof u);
    if (retry_after_s)
        *retry_after_s = 0;
    token[0] = '\0';
    if (!username || !password || !*username)
        return td_error_set(err, TD_EINVAL, "user name and password required");
    if (strlen(password) > PW_MAX)
        return td_error_set(err, TD_EDENIED, "wrong user name or password");
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
    rc = find_user(d, 0, username, &u, err);
    if (rc && rc != TD_ENOTFOUND && rc != TD_EINVAL)
        goto end1;
    /* A disabled user is refused exactly like a wrong password. */
    known = rc == TD_OK && !u.disabled;
    td_error_clear(err);
    rc = d->store->ops->login_failure_add(d->store, username, source, now, err);
end1:
    rc = td__end(d, rc, err);
unlock1:
    td__unlock(d);
    if (rc)
        return rc;

    /* The expensive part (Argon2id) runs without the desk lock, in one of
     * the hashing slots. */
    if (!known && !d->dummy_hash[0]) {
        char dummy[TD_STORE_HASH_SIZE];
        if ((rc = pwhash(d, "not a password", 14, dummy, err)))
            return rc;
        td__lock(d);
        memcpy(d->dummy_hash, dummy, sizeof dummy);
        td__unlock(d);
    }
    td__lock(d);
    snprintf(against, sizeof against, "%s", known ? u.pwhash : d->dummy_hash);
    td__unlock(d);
    if ((rc = hash_enter(d, err)))
        return rc; /* the attempt stays counted: a flood still locks out */
    int ok = crypto_pwhash_str_verify(against, password, strlen(password)) == 0 && known;
    hash_leave(d);

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
                                            now + (int64_t)d->opts.session_ttl_s, &sid, err)))
        goto end2;
    fill_actor(actor, &u);
    actor->session_id = sid;
    json_t *det = json_pack("{s:s, s:b, s:I}", "source", source, "must_change", u.must_change,
                            "session", (json_int_t)sid);
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
    if (rc == TD_OK && u.disabled)
        rc = td_error_set(err, TD_ENOTFOUND, "user disabled");
    if (rc == TD_OK)
        fill_actor(actor, &u);
    return rc;
}

int td_desk_authenticate(struct td_desk *d, const char *token, struct td_actor *actor,
                         struct td_error *err)
{
    char th[65];
    int64_t uid, sid = 0;
    if (!token || strlen(token) != TD_TOKEN_SIZE - 1)
        return td_error_set(err, TD_EDENIED, "invalid session");
    td__sha256_hex(token, strlen(token), th);
    td__lock(d);
    int rc = d->store->ops->session_find(d->store, th, td__now(), &uid, &sid, err);
    if (!rc)
        rc = actor_of(d, uid, actor, err);
    td__unlock(d);
    if (!rc)
        actor->session_id = sid;
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
    int64_t uid, kid = 0, by = -1;
    if (!key || strlen(key) != TD_TOKEN_SIZE - 1)
        return td_error_set(err, TD_EDENIED, "invalid API key");
    td__sha256_hex(key, strlen(key), kh);
    td__lock(d);
    int rc = d->store->ops->apikey_find(d->store, kh, &uid, &kid, &by, err);
    if (!rc)
        rc = actor_of(d, uid, actor, err);
    td__unlock(d);
    if (!rc) {
        actor->key_id = kid;
        actor->key_issued_by = by;
        /* A key is issued by an admin for an integration; the one-time
         * password of its user is the user's own business. */
        actor->must_change = 0;
    }
    if (rc == TD_ENOTFOUND)
        rc = td_error_set(err, TD_EDENIED, "invalid API key");
    return rc;
}

/* ---- users and keys ------------------------------------------------------ */

/* An admin acts within its office; the local operator (NULL) anywhere.
 * Looks the user up and checks it is in reach. */
static int target_user(struct td_desk *d, const struct td_actor *actor, const char *username,
                       struct td_store_user *u, struct td_error *err)
{
    if (actor && actor->role != TD_ROLE_ADMIN)
        return td__denied(err, "manage users");
    int rc = find_user(d, actor ? actor->office_id : 0, username, u, err);
    if (rc == TD_ENOTFOUND || (!rc && actor && u->office_id != actor->office_id)) {
        td_error_field(err, "name");
        return td_error_set(err, TD_ENOTFOUND, "no user '%s'", username);
    }
    return rc;
}

/* The last enabled admin of an office must stay one (lock held). */
static int keep_an_admin(struct td_desk *d, const struct td_store_user *u, const char *field,
                         struct td_error *err)
{
    int64_t n = 0;
    if (td_role_from_name(u->role) != TD_ROLE_ADMIN || u->disabled)
        return TD_OK;
    int rc = d->store->ops->user_role_count(d->store, u->office_id, td_role_name(TD_ROLE_ADMIN), &n,
                                            err);
    if (!rc && n <= 1) {
        td_error_field(err, field);
        rc = td_error_set(err, TD_EINVAL,
                          "'%s' is the last admin of office '%s': make another admin first",
                          u->name, u->office);
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
    if (label && strlen(label) > 200) {
        td_error_field(err, "label");
        return td_error_set(err, TD_EINVAL, "a label is at most 200 bytes");
    }
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    if ((rc = target_user(d, actor, username, &u, err)))
        goto end;
    if (u.disabled) {
        td_error_field(err, "name");
        rc = td_error_set(err, TD_EINVAL, "user '%s' is disabled", username);
        goto end;
    }
    new_secret(key, kh);
    if ((rc = d->store->ops->apikey_insert(d->store, u.id, kh, label, td__now(),
                                           actor ? actor->user_id : 0, &kid, err)))
        goto end;
    json_t *det =
        json_pack("{s:s, s:s?, s:I}", "name", u.name, "label", label, "key", (json_int_t)kid);
    rc = det ? td__audit(d, actor, u.office_id, "apikey.create", "user", u.id, det, err)
             : td_error_set(err, TD_EUTF8, "label is not valid UTF-8");
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

/* ---- the store's rows as the front doors' JSON ------------------------ */

/* A NULL column leaves its member out, as the API always has; so does text
 * json_string() refuses (not UTF-8), rather than emitting broken JSON. */
static void put_str(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, json_string(v));
}

static void put_int(json_t *o, const char *k, int64_t v)
{
    json_object_set_new(o, k, json_integer((json_int_t)v));
}

static int append(void *ud, json_t *o)
{
    return !o || json_array_append_new((json_t *)ud, o) ? TD_ENOMEM : TD_OK;
}

/* {"id","name","created","users"} */
static int office_json(void *ud, const struct td_store_office_row *r)
{
    json_t *o = json_object();
    if (o) {
        put_int(o, "id", r->id);
        put_str(o, "name", r->name);
        put_int(o, "created", r->created);
        put_int(o, "users", r->users);
    }
    return append(ud, o);
}

/* {"id","name","role","office","created","must_change","disabled"} */
static int user_json(void *ud, const struct td_store_user_row *r)
{
    json_t *o = json_object();
    if (o) {
        put_int(o, "id", r->id);
        put_str(o, "name", r->name);
        put_str(o, "role", r->role);
        put_str(o, "office", r->office);
        put_int(o, "created", r->created);
        put_int(o, "must_change", r->must_change);
        put_int(o, "disabled", r->disabled);
    }
    return append(ud, o);
}

/* Who issued or revoked a key: the local operator, a user's name, or
 * nothing when unknown (a key from before migration 0002) or gone. */
static void put_who(json_t *o, const char *k, int64_t id, const char *name)
{
    put_str(o, k, id == 0 ? "(operator)" : name);
}

/* {"id","user","label"?,"created","issued_by"?,"revoked"?,"revoked_by"?} */
static int key_json(void *ud, const struct td_store_key_row *r)
{
    json_t *o = json_object();
    if (o) {
        put_int(o, "id", r->id);
        put_str(o, "user", r->user);
        put_str(o, "label", r->label);
        put_int(o, "created", r->created);
        put_who(o, "issued_by", r->issued_by, r->issued_by_name);
        if (r->revoked)
            put_int(o, "revoked", r->revoked_at);
        put_who(o, "revoked_by", r->revoked_by, r->revoked_by_name);
    }
    return append(ud, o);
}

static int id_json(void *ud, int64_t id)
{
    return append(ud, json_integer((json_int_t)id));
}

/* A walk into a new JSON array *out (yours on TD_OK). */
#define ROWS_JSON(call, out, err)                                                                  \
    do {                                                                                           \
        if (!((out) = json_array())) {                                                             \
            rc = td_error_set((err), TD_ENOMEM, NULL);                                             \
            break;                                                                                 \
        }                                                                                          \
        if ((rc = (call)) == TD_ENOMEM)                                                            \
            td_error_set((err), TD_ENOMEM, NULL);                                                  \
        if (rc) {                                                                                  \
            json_decref(out);                                                                      \
            (out) = NULL;                                                                          \
        }                                                                                          \
    } while (0)

int td_desk_api_key_list(struct td_desk *d, const struct td_actor *actor, const char *office,
                         const char *username, json_t **out, struct td_error *err)
{
    struct td_store_user u;
    json_t *keys = NULL;
    int64_t oid = 0, uid = 0;
    int rc = TD_OK;
    *out = NULL;
    if (actor && actor->role != TD_ROLE_ADMIN)
        return td__denied(err, "list API keys");
    td__lock(d);
    if (username && *username) {
        if ((rc = target_user(d, actor, username, &u, err)))
            goto out;
        oid = u.office_id;
        uid = u.id;
    } else if (actor) {
        oid = actor->office_id;
    } else if (!office || (rc = d->store->ops->office_find(d->store, office, &oid, err))) {
        td_error_field(err, "office");
        rc = rc ? rc : td_error_set(err, TD_EINVAL, "name a user or an office");
        goto out;
    }
    ROWS_JSON(d->store->ops->apikey_list(d->store, oid, uid, key_json, keys, err), keys, err);
out:
    td__unlock(d);
    if (!rc && !(*out = json_pack("{s:o}", "keys", keys)))
        rc = td_error_set(err, TD_ENOMEM, NULL);
    return rc;
}

int td_desk_api_key_revoke(struct td_desk *d, const struct td_actor *actor, int64_t key_id,
                           struct td_error *err)
{
    int64_t uid = 0;
    int was = 0;
    struct td_store_user u;
    if (actor && actor->role != TD_ROLE_ADMIN)
        return td__denied(err, "revoke API keys");
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    if ((rc = d->store->ops->apikey_revoke(d->store, actor ? actor->office_id : 0, key_id,
                                           td__now(), actor ? actor->user_id : 0, &uid, &was, err)))
        goto end;
    if (was || (rc = d->store->ops->user_get(d->store, uid, &u, err)))
        goto end;
    json_t *det = json_pack("{s:I, s:s}", "key", (json_int_t)key_id, "name", u.name);
    rc = td__audit(d, actor, u.office_id, "apikey.revoke", "user", uid, det, err);
    json_decref(det);
end:
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    return rc;
}

int td_desk_office_add(struct td_desk *d, const struct td_actor *actor, const char *name,
                       int64_t *id, struct td_error *err)
{
    int64_t oid = 0;
    if (actor)
        return td__denied(err, "create offices (the operator does, with `threatdesk office add`)");
    int rc = check_name(name, "office", err);
    if (rc)
        return rc;
    td__lock(d);
    if (!(rc = td__begin(d, err))) {
        rc = office_create(d, actor, name, &oid, err);
        rc = td__end(d, rc, err);
    }
    td__unlock(d);
    if (!rc && id)
        *id = oid;
    return rc;
}

int td_desk_office_list(struct td_desk *d, const struct td_actor *actor, json_t **out,
                        struct td_error *err)
{
    json_t *all = NULL, *mine = NULL, *o;
    size_t i;
    *out = NULL;
    if (actor && actor->role != TD_ROLE_ADMIN)
        return td__denied(err, "list offices");
    int rc;
    td__lock(d);
    ROWS_JSON(d->store->ops->office_list(d->store, office_json, all, err), all, err);
    td__unlock(d);
    if (rc)
        return rc;
    if (actor) {
        mine = json_array();
        json_array_foreach(all, i, o) if (json_integer_value(json_object_get(o, "id")) ==
                                          actor->office_id) json_array_append(mine, o);
        json_decref(all);
        all = mine;
    }
    if (!(*out = json_pack("{s:o}", "offices", all)))
        return td_error_set(err, TD_ENOMEM, NULL);
    return TD_OK;
}

int td_desk_user_add(struct td_desk *d, const struct td_actor *actor, const char *office,
                     const char *username, enum td_role role, const char *password, int64_t *id,
                     struct td_error *err)
{
    char hash[TD_STORE_HASH_SIZE];
    int64_t oid = 0;
    int rc;
    if (actor && actor->role != TD_ROLE_ADMIN)
        return td__denied(err, "manage users");
    if (actor && office && strcmp(office, actor->office) != 0)
        return td__denied(err, "add users to another office");
    if (actor)
        office = actor->office;
    if (!office)
        office = "default";
    if ((rc = check_name(username, "name", err)) || (rc = check_name(office, "office", err)))
        return rc;
    if ((int)role < 0 || role >= TD_ROLE_COUNT) {
        td_error_field(err, "role");
        return td_error_set(err, TD_EINVAL, "unknown role");
    }
    /* The office must exist: a typo must not make a new, empty office. */
    td__lock(d);
    rc = d->store->ops->office_find(d->store, office, &oid, err);
    td__unlock(d);
    if (rc == TD_ENOTFOUND) {
        td_error_field(err, "office");
        return td_error_set(err, TD_ENOTFOUND,
                            "no office '%s' (create it first: threatdesk office add %s)", office,
                            office);
    }
    if (rc)
        return rc;
    if (!password)
        return td_error_set(err, TD_EINVAL, "password required");
    if ((rc = hash_password(d, password, hash, err)))
        return rc;
    td__lock(d);
    if (!(rc = td__begin(d, err))) {
        rc = add_user(d, actor, oid, office, username, role, hash, 0, id, err);
        rc = td__end(d, rc, err);
    }
    td__unlock(d);
    sodium_memzero(hash, sizeof hash);
    return rc;
}

/* End a user's sessions and revoke its keys (inside the transaction);
 * *keys gets the revoked ids. */
static int cut_off(struct td_desk *d, const struct td_actor *actor, int64_t uid, json_t **keys,
                   struct td_error *err)
{
    int rc = d->store->ops->session_delete_user(d->store, uid, err);
    if (!rc)
        ROWS_JSON(d->store->ops->apikey_revoke_user(
                      d->store, uid, td__now(), actor ? actor->user_id : 0, id_json, *keys, err),
                  *keys, err);
    return rc;
}

int td_desk_user_passwd(struct td_desk *d, const struct td_actor *actor, const char *username,
                        const char *password, struct td_error *err)
{
    char hash[TD_STORE_HASH_SIZE];
    struct td_store_user u;
    json_t *keys = NULL;
    int rc;
    if (!password)
        return td_error_set(err, TD_EINVAL, "password required");
    /* Everyone may change their own password; admins those of their office. */
    int self = actor && (!strcmp(actor->username, username) ||
                         (strchr(username, '/') &&
                          !strncmp(username, actor->office, strlen(actor->office)) &&
                          username[strlen(actor->office)] == '/' &&
                          !strcmp(username + strlen(actor->office) + 1, actor->username)));
    if (actor && !self && actor->role != TD_ROLE_ADMIN)
        return td__denied(err, "change another user's password");
    if ((rc = hash_password(d, password, hash, err)))
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
    /* A new password ends every session of that user and revokes its API
     * keys: whoever knew the old one must not stay in. */
    if (!rc)
        rc = cut_off(d, actor, u.id, &keys, err);
    if (!rc) {
        json_t *det = json_pack("{s:s, s:O}", "name", u.name, "keys_revoked", keys);
        rc = td__audit(d, actor, u.office_id, "user.passwd", "user", u.id, det, err);
        json_decref(det);
    }
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    json_decref(keys);
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
    if (!(rc = target_user(d, actor, username, &u, err)) && role != TD_ROLE_ADMIN)
        rc = keep_an_admin(d, &u, "role", err);
    if (!rc)
        rc = d->store->ops->user_set_role(d->store, u.id, td_role_name(role), err);
    json_t *det = json_pack("{s:s, s:s, s:s}", "name", username, "from", rc ? "" : u.role, "to",
                            td_role_name(role));
    if (!rc)
        rc = td__audit(d, actor, u.office_id, "user.role", "user", u.id, det, err);
    json_decref(det);
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    return rc;
}

int td_desk_user_set_disabled(struct td_desk *d, const struct td_actor *actor, const char *username,
                              int disabled, struct td_error *err)
{
    struct td_store_user u;
    json_t *keys = NULL;
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    if ((rc = target_user(d, actor, username, &u, err)))
        goto end;
    if (disabled && actor && u.id == actor->user_id) {
        td_error_field(err, "disabled");
        rc = td_error_set(err, TD_EINVAL, "you cannot disable yourself");
        goto end;
    }
    if (disabled && (rc = keep_an_admin(d, &u, "disabled", err)))
        goto end;
    if ((rc = d->store->ops->user_set_disabled(d->store, u.id, disabled, err)))
        goto end;
    if (disabled && (rc = cut_off(d, actor, u.id, &keys, err)))
        goto end;
    json_t *det = json_pack("{s:s, s:O?}", "name", u.name, "keys_revoked", keys);
    rc = td__audit(d, actor, u.office_id, disabled ? "user.disable" : "user.enable", "user", u.id,
                   det, err);
    json_decref(det);
end:
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    json_decref(keys);
    return rc;
}

int td_desk_user_list(struct td_desk *d, const struct td_actor *actor, json_t **out,
                      struct td_error *err)
{
    json_t *users = NULL;
    *out = NULL;
    if (actor && actor->role != TD_ROLE_ADMIN)
        return td__denied(err, "list users");
    int rc;
    td__lock(d);
    ROWS_JSON(
        d->store->ops->user_list(d->store, actor ? actor->office_id : 0, user_json, users, err),
        users, err);
    td__unlock(d);
    if (!rc && !(*out = json_pack("{s:o}", "users", users)))
        rc = td_error_set(err, TD_ENOMEM, NULL);
    return rc;
}
