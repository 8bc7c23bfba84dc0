/*
 * sqlite.c - the SQLite backend of store.h.
 *
 * One database file in WAL mode with foreign keys on, synchronous=FULL (a
 * committed transaction survives power loss: the desk acknowledges only
 * after commit), and a busy timeout so a second process (the `verify` or
 * `user` command beside a running server) waits instead of failing.
 *
 * Schema: data/migrations/sqlite/NNNN_name.sql, applied in order on open,
 * all pending ones inside ONE transaction, each recorded in schema_version;
 * reopening applies nothing (idempotent).
 *
 * Queries: prepared statements with bound parameters only.  The one place
 * a name is spliced into SQL is case_set(), and only from a fixed table of
 * column names (never from input).
 *
 * Reads answer typed rows (store.h): those with lists in the caller's
 * arena, the exports one row at a time to a callback.  The desk renders
 * the API's JSON from them (desk/render.c); nothing here builds JSON.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/sq_queue.h"
#include "store/migrations.h"
#include "store/sq_stmt.h"
#include "store/store_int.h"
#include "threatdesk/buf.h"
#include "threatdesk/taxonomy.h"

struct sq {
    struct td_store base; /* first: td_store * <-> struct sq * */
    struct td__sq c;      /* the connection and its cached statements */
};

static struct sq *SQ(struct td_store *s)
{
    return (struct sq *)s;
}

struct td__sq *td__sq_conn(struct td_store *s)
{
    return &SQ(s)->c;
}

/* ---- open, migrate, close ---------------------------------------------- */

static int sq_schema_version(struct td_store *s, int64_t *v, struct td_error *err)
{
    return td__sq_value(&SQ(s)->c, "schema_version",
                        "SELECT coalesce(max(version),0) FROM schema_version", NULL, 0, v, err);
}

static int migrate(struct sq *q, const char *home, struct td_error *err)
{
    struct td__migrations mig;
    int rc = TD_OK, in_tx = 0;
    sqlite3_stmt *seen = NULL;
    struct td_buf sql;
    td_buf_init(&sql, TD__MIGRATION_BYTES_MAX);
    if ((rc = td__migrations_list(home, "sqlite", &mig, err)))
        goto out;

    /* Foreign keys off while migrating (a no-op inside a transaction, so
     * before BEGIN): a migration may rebuild a table others reference, the
     * way SQLite documents it; foreign_key_check runs before the commit. */
    if ((rc = td__sq_exec(&q->c, "PRAGMA foreign_keys=OFF", err)))
        goto out;
    if ((rc = td__sq_exec(&q->c, "BEGIN IMMEDIATE", err)))
        goto out;
    in_tx = 1;
    if ((rc = td__sq_exec(&q->c,
                          "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                          "name TEXT NOT NULL, applied INTEGER NOT NULL)",
                          err)))
        goto out;
    /* Apply every migration not yet recorded, in number order, rather than
     * only those above the highest: features land on separate branches, so a
     * store may have met 0007 before 0006 arrives. */
    size_t applied = 0;
    if ((rc = td__sq_stmt(&q->c, "SELECT 1 FROM schema_version WHERE version = ?", &seen, err)))
        goto out;
    for (size_t i = 0; i < mig.n; i++) {
        long v = td__migration_number(mig.names[i]);
        sqlite3_reset(seen);
        sqlite3_bind_int64(seen, 1, v);
        int known = sqlite3_step(seen);
        if (known == SQLITE_ROW)
            continue;
        if (known != SQLITE_DONE) {
            rc = td_error_set(err, TD_ESTORE, "schema_version: %s", sqlite3_errmsg(q->c.db));
            goto out;
        }
        char path[1500];
        if ((rc = td__migration_read(&mig, i, &sql, path, sizeof path, err)))
            goto out;
        if ((rc = td__sq_exec(&q->c, sql.data ? sql.data : "", err))) {
            td_error_at(err, path, 0, 0);
            goto out;
        }
        sqlite3_stmt *st;
        if ((rc = td__sq_stmt(&q->c,
                              "INSERT INTO schema_version(version, name, applied) VALUES (?,?,?)",
                              &st, err)))
            goto out;
        sqlite3_bind_int64(st, 1, v);
        td__sq_bind_text(st, 2, mig.names[i]);
        sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
        if ((rc = td__sq_run(&q->c, st, "schema_version", err)))
            goto out;
        applied++;
    }
    /* a migration must not orphan rows; checked only when one ran, so that a
     * store whose rows were deleted behind the desk's back still opens and
     * `verify` can say which */
    if (applied) {
        sqlite3_stmt *st;
        if ((rc = td__sq_stmt(&q->c, "PRAGMA foreign_key_check", &st, err)))
            goto out;
        int r = sqlite3_step(st);
        td__sq_done(&q->c, st);
        if (r == SQLITE_ROW) {
            rc = td_error_set(err, TD_ESTORE, "migration left rows without their parent");
            goto out;
        }
    }
    rc = td__sq_exec(&q->c, "COMMIT", err);
    in_tx = 0;
out:
    td__sq_done(&q->c, seen);
    if (in_tx)
        sqlite3_exec(q->c.db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_exec(q->c.db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
    td__migrations_free(&mig);
    td_buf_release(&sql);
    return rc;
}

static void sq_close(struct td_store *s)
{
    struct sq *q = SQ(s);
    td__sq_close(&q->c);
    sqlite3_close_v2(q->c.db);
    free(q);
}

/* ---- transactions ------------------------------------------------------ */

static int sq_begin(struct td_store *s, struct td_error *err)
{
    /* IMMEDIATE: take the write lock now, so the audit head read in this
     * transaction is still the head when the entry is appended. */
    return td__sq_exec(&SQ(s)->c, "BEGIN IMMEDIATE", err);
}

static int sq_commit(struct td_store *s, struct td_error *err)
{
    return td__sq_exec(&SQ(s)->c, "COMMIT", err);
}

static void sq_rollback(struct td_store *s)
{
    if (!sqlite3_get_autocommit(SQ(s)->c.db))
        sqlite3_exec(SQ(s)->c.db, "ROLLBACK", NULL, NULL, NULL);
}

/* Savepoint names come from the desk (fixed identifiers), checked here. */
static int sp(struct sq *q, const char *verb, const char *name, struct td_error *err)
{
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return td_error_set(err, TD_EINVAL, "bad savepoint name");
    char sql[128];
    snprintf(sql, sizeof sql, "%s %s", verb, name);
    return td__sq_exec(&q->c, sql, err);
}

static int sq_savepoint(struct td_store *s, const char *name, struct td_error *err)
{
    return sp(SQ(s), "SAVEPOINT", name, err);
}

static int sq_release(struct td_store *s, const char *name, struct td_error *err)
{
    return sp(SQ(s), "RELEASE", name, err);
}

static void sq_rollback_to(struct td_store *s, const char *name)
{
    struct td_error e;
    if (sp(SQ(s), "ROLLBACK TO", name, &e) == TD_OK)
        sp(SQ(s), "RELEASE", name, &e);
}

/* ---- offices and users -------------------------------------------------- */

static int sq_office_find(struct td_store *s, const char *name, int64_t *id, struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    sqlite3_stmt *st;
    int rc = td__sq_bound(c, "SELECT id FROM offices WHERE name = ?", &st,
                          TD__SQ_ARGS(TD__SQ_T(name)), err);
    if (rc)
        return rc;
    if ((rc = td__sq_row(c, st, "office", err)) == TD_OK)
        *id = sqlite3_column_int64(st, 0);
    else if (rc == TD_ENOTFOUND)
        td_error_set(err, TD_ENOTFOUND, "no office '%s'", name);
    td__sq_done(c, st);
    return rc;
}

static int sq_office_insert(struct td_store *s, const char *name, int64_t now, int64_t *id,
                            struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    int rc = td__sq_write(c, "office", "INSERT INTO offices(name, created) VALUES (?, ?)",
                          TD__SQ_ARGS(TD__SQ_T(name), TD__SQ_I(now)), err);
    if (!rc)
        *id = sqlite3_last_insert_rowid(c->db);
    return rc;
}

/* Hand each row of a bound statement to fill() and then cb (non-zero from
 * cb stops and is returned); the statement is given back. */
#define WALK_ROWS(c, st, what, row, fill, cb, ud, err)                                             \
    do {                                                                                           \
        int r_, rc_ = TD_OK;                                                                       \
        while ((r_ = td__sq_next((c), (st), (what), (err))) == 1) {                                \
            fill;                                                                                  \
            if ((rc_ = (cb)((ud), &(row))))                                                        \
                break;                                                                             \
        }                                                                                          \
        td__sq_done((c), (st));                                                                    \
        return rc_ ? rc_ : r_ < 0 ? r_ : TD_OK;                                                    \
    } while (0)

#define COL_TEXT(st, i) ((const char *)sqlite3_column_text((st), (i)))

static int sq_office_list(struct td_store *s,
                          int (*cb)(void *ud, const struct td_store_office_row *r), void *ud,
                          struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    struct td_store_office_row row;
    sqlite3_stmt *st;
    int rc = td__sq_stmt(c,
                         "SELECT o.id, o.name, o.created, "
                         "(SELECT count(*) FROM users u WHERE u.office_id = o.id) "
                         "FROM offices o ORDER BY o.name",
                         &st, err);
    if (rc)
        return rc;
    WALK_ROWS(c, st, "offices", row,
              (row = (struct td_store_office_row){.id = sqlite3_column_int64(st, 0),
                                                  .name = COL_TEXT(st, 1),
                                                  .created = sqlite3_column_int64(st, 2),
                                                  .users = sqlite3_column_int64(st, 3)}),
              cb, ud, err);
}

static int sq_user_count(struct td_store *s, int64_t *n, struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    sqlite3_stmt *st;
    int rc = td__sq_stmt(c, "SELECT count(*) FROM users", &st, err);
    return rc ? rc : td__sq_int(c, st, "users", n, err);
}

static int sq_user_insert(struct td_store *s, const struct td_store_user *u, int64_t *id,
                          struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    int rc = td__sq_write(c, "user",
                          "INSERT INTO users(office_id, name, role, pwhash, must_change, created) "
                          "VALUES (?,?,?,?,?,?)",
                          TD__SQ_ARGS(TD__SQ_I(u->office_id), TD__SQ_T(u->name), TD__SQ_T(u->role),
                                      TD__SQ_T(u->pwhash), TD__SQ_I(u->must_change),
                                      TD__SQ_I(u->created)),
                          err);
    if (rc == TD_OK)
        *id = sqlite3_last_insert_rowid(c->db);
    else if (rc == TD_EEXISTS)
        td_error_set(err, TD_EEXISTS, "user '%s' already exists in this office", u->name);
    return rc;
}

static void copy(char *dst, size_t size, const unsigned char *src)
{
    snprintf(dst, size, "%s", src ? (const char *)src : "");
}

void td__sq_audit_entry(sqlite3_stmt *st, struct td_audit_entry *e)
{
    memset(e, 0, sizeof *e);
    e->id = sqlite3_column_int64(st, 0);
    e->time = sqlite3_column_int64(st, 1);
    e->office_id = sqlite3_column_int64(st, 2);
    e->user_id = sqlite3_column_int64(st, 3);
    copy(e->action, sizeof e->action, sqlite3_column_text(st, 4));
    copy(e->object_type, sizeof e->object_type, sqlite3_column_text(st, 5));
    e->object_id = sqlite3_column_int64(st, 6);
    e->details = (char *)sqlite3_column_text(st, 7);
    copy(e->prev_hash, sizeof e->prev_hash, sqlite3_column_text(st, 8));
    copy(e->hash, sizeof e->hash, sqlite3_column_text(st, 9));
}

static int user_read(struct sq *q, sqlite3_stmt *st, struct td_store_user *u, struct td_error *err)
{
    int rc = td__sq_row(&q->c, st, "user", err);
    if (rc == TD_OK) {
        memset(u, 0, sizeof *u);
        u->id = sqlite3_column_int64(st, 0);
        u->office_id = sqlite3_column_int64(st, 1);
        copy(u->name, sizeof u->name, sqlite3_column_text(st, 2));
        copy(u->role, sizeof u->role, sqlite3_column_text(st, 3));
        copy(u->pwhash, sizeof u->pwhash, sqlite3_column_text(st, 4));
        u->must_change = sqlite3_column_int(st, 5);
        u->created = sqlite3_column_int64(st, 6);
        copy(u->office, sizeof u->office, sqlite3_column_text(st, 7));
        u->disabled = sqlite3_column_int(st, 8);
    }
    td__sq_done(&q->c, st);
    return rc;
}

#define USER_COLS                                                                                  \
    "SELECT u.id, u.office_id, u.name, u.role, u.pwhash, u.must_change, u.created, o.name, "       \
    "u.disabled FROM users u JOIN offices o ON o.id = u.office_id "

static int sq_user_find(struct td_store *s, int64_t office, const char *name,
                        struct td_store_user *out, struct td_error *err)
{
    struct sq *q = SQ(s);
    sqlite3_stmt *st;
    int64_t n = 0;
    int rc;
    /* Any office: the name must be unambiguous. */
    if (!office &&
        td__sq_value(&q->c, "users", "SELECT count(*) FROM users WHERE name = ?",
                     TD__SQ_ARGS(TD__SQ_T(name)), &n, NULL) == TD_OK &&
        n > 1) {
        td_error_field(err, "office");
        return td_error_set(err, TD_EINVAL,
                            "user name '%s' is used in more than one office: name the office",
                            name);
    }
    if ((rc = td__sq_bound(&q->c, USER_COLS "WHERE u.name = ?1 AND (?2 = 0 OR u.office_id = ?2)",
                           &st, TD__SQ_ARGS(TD__SQ_T(name), TD__SQ_I(office)), err)))
        return rc;
    return user_read(q, st, out, err);
}

static int sq_user_get(struct td_store *s, int64_t id, struct td_store_user *out,
                       struct td_error *err)
{
    struct sq *q = SQ(s);
    sqlite3_stmt *st;
    int rc = td__sq_bound(&q->c, USER_COLS "WHERE u.id = ?", &st, TD__SQ_ARGS(TD__SQ_I(id)), err);
    return rc ? rc : user_read(q, st, out, err);
}

static int sq_user_set_password(struct td_store *s, int64_t id, const char *pwhash, int must_change,
                                struct td_error *err)
{
    return td__sq_write1(&SQ(s)->c, "user",
                         "UPDATE users SET pwhash = ?, must_change = ? WHERE id = ?",
                         TD__SQ_ARGS(TD__SQ_T(pwhash), TD__SQ_I(must_change), TD__SQ_I(id)), err);
}

static int sq_user_set_role(struct td_store *s, int64_t id, const char *role, struct td_error *err)
{
    return td__sq_write1(&SQ(s)->c, "user", "UPDATE users SET role = ? WHERE id = ?",
                         TD__SQ_ARGS(TD__SQ_T(role), TD__SQ_I(id)), err);
}

static int sq_user_list(struct td_store *s, int64_t office,
                        int (*cb)(void *ud, const struct td_store_user_row *r), void *ud,
                        struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    struct td_store_user_row row;
    sqlite3_stmt *st;
    int rc = td__sq_bound(c,
                          "SELECT u.id, u.name, u.role, o.name, u.created, u.must_change, "
                          "u.disabled FROM users u JOIN offices o ON o.id = u.office_id "
                          "WHERE ?1 = 0 OR u.office_id = ?1 ORDER BY o.name, u.name",
                          &st, TD__SQ_ARGS(TD__SQ_I(office)), err);
    if (rc)
        return rc;
    WALK_ROWS(c, st, "users", row,
              (row = (struct td_store_user_row){.id = sqlite3_column_int64(st, 0),
                                                .name = COL_TEXT(st, 1),
                                                .role = COL_TEXT(st, 2),
                                                .office = COL_TEXT(st, 3),
                                                .created = sqlite3_column_int64(st, 4),
                                                .must_change = sqlite3_column_int(st, 5),
                                                .disabled = sqlite3_column_int(st, 6)}),
              cb, ud, err);
}

static int sq_user_set_disabled(struct td_store *s, int64_t id, int disabled, struct td_error *err)
{
    return td__sq_write1(&SQ(s)->c, "user", "UPDATE users SET disabled = ? WHERE id = ?",
                         TD__SQ_ARGS(TD__SQ_I(disabled ? 1 : 0), TD__SQ_I(id)), err);
}

static int sq_user_role_count(struct td_store *s, int64_t office, const char *role, int64_t *n,
                              struct td_error *err)
{
    return td__sq_value(&SQ(s)->c, "users",
                        "SELECT count(*) FROM users WHERE office_id = ? AND role = ? "
                        "AND disabled = 0",
                        TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_T(role)), n, err);
}

/* ---- sessions, keys, failed logins ------------------------------------- */

static int sq_session_insert(struct td_store *s, int64_t user, const char *th, int64_t created,
                             int64_t expires, int64_t *id, struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    int rc = td__sq_write(
        c, "session",
        "INSERT INTO sessions(token_hash, user_id, created, expires) VALUES (?,?,?,?)",
        TD__SQ_ARGS(TD__SQ_T(th), TD__SQ_I(user), TD__SQ_I(created), TD__SQ_I(expires)), err);
    if (rc)
        return rc;
    *id = sqlite3_last_insert_rowid(c->db);
    /* Expired sessions are useless: prune them as new ones open. */
    return td__sq_write(c, "session", "DELETE FROM sessions WHERE expires <= ?",
                        TD__SQ_ARGS(TD__SQ_I(created)), err);
}

static int sq_session_find(struct td_store *s, const char *th, int64_t now, int64_t *user,
                           int64_t *sid, struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    sqlite3_stmt *st;
    int rc = td__sq_bound(c,
                          "SELECT s.user_id, s.id FROM sessions s JOIN users u ON u.id = s.user_id "
                          "WHERE s.token_hash = ? AND s.expires > ? AND u.disabled = 0",
                          &st, TD__SQ_ARGS(TD__SQ_T(th), TD__SQ_I(now)), err);
    if (rc)
        return rc;
    if ((rc = td__sq_row(c, st, "session", err)) == TD_OK) {
        *user = sqlite3_column_int64(st, 0);
        *sid = sqlite3_column_int64(st, 1);
    }
    td__sq_done(c, st);
    return rc;
}

static int sq_session_delete(struct td_store *s, const char *th, struct td_error *err)
{
    return td__sq_write(&SQ(s)->c, "session", "DELETE FROM sessions WHERE token_hash = ?",
                        TD__SQ_ARGS(TD__SQ_T(th)), err);
}

static int sq_session_delete_user(struct td_store *s, int64_t user, struct td_error *err)
{
    struct sq *q = SQ(s);
    sqlite3_stmt *st;
    int rc = td__sq_stmt(&q->c, "DELETE FROM sessions WHERE user_id = ?", &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, user);
    return td__sq_run(&q->c, st, "session", err);
}

static int sq_apikey_insert(struct td_store *s, int64_t user, const char *kh, const char *label,
                            int64_t created, int64_t issued_by, int64_t *id, struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    int rc = td__sq_write(c, "api key",
                          "INSERT INTO api_keys(key_hash, user_id, label, created, issued_by) "
                          "VALUES (?,?,?,?,?)",
                          TD__SQ_ARGS(TD__SQ_T(kh), TD__SQ_I(user), TD__SQ_T(label),
                                      TD__SQ_I(created), TD__SQ_I(issued_by)),
                          err);
    if (rc == TD_OK)
        *id = sqlite3_last_insert_rowid(c->db);
    return rc;
}

static int sq_apikey_find(struct td_store *s, const char *kh, int64_t *user, int64_t *kid,
                          int64_t *issued_by, struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    sqlite3_stmt *st;
    int rc = td__sq_bound(c,
                          "SELECT k.user_id, k.id, coalesce(k.issued_by, -1) FROM api_keys k "
                          "JOIN users u ON u.id = k.user_id "
                          "WHERE k.key_hash = ? AND k.revoked IS NULL AND u.disabled = 0",
                          &st, TD__SQ_ARGS(TD__SQ_T(kh)), err);
    if (rc)
        return rc;
    if ((rc = td__sq_row(c, st, "api key", err)) == TD_OK) {
        *user = sqlite3_column_int64(st, 0);
        *kid = sqlite3_column_int64(st, 1);
        *issued_by = sqlite3_column_int64(st, 2);
    }
    td__sq_done(c, st);
    return rc;
}

static int sq_apikey_list(struct td_store *s, int64_t office, int64_t user,
                          int (*cb)(void *ud, const struct td_store_key_row *r), void *ud,
                          struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    struct td_store_key_row row;
    sqlite3_stmt *st;
    int rc =
        td__sq_bound(c,
                     "SELECT k.id, u.name, k.label, k.created, coalesce(k.issued_by, -1), "
                     "i.name, k.revoked IS NOT NULL, k.revoked, coalesce(k.revoked_by, -1), "
                     "r.name FROM api_keys k JOIN users u ON u.id = k.user_id "
                     "LEFT JOIN users i ON i.id = k.issued_by "
                     "LEFT JOIN users r ON r.id = k.revoked_by "
                     "WHERE u.office_id = ?1 AND (?2 = 0 OR k.user_id = ?2) ORDER BY k.id DESC",
                     &st, TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(user)), err);
    if (rc)
        return rc;
    WALK_ROWS(c, st, "api keys", row,
              (row = (struct td_store_key_row){.id = sqlite3_column_int64(st, 0),
                                               .user = COL_TEXT(st, 1),
                                               .label = COL_TEXT(st, 2),
                                               .created = sqlite3_column_int64(st, 3),
                                               .issued_by = sqlite3_column_int64(st, 4),
                                               .issued_by_name = COL_TEXT(st, 5),
                                               .revoked = sqlite3_column_int(st, 6),
                                               .revoked_at = sqlite3_column_int64(st, 7),
                                               .revoked_by = sqlite3_column_int64(st, 8),
                                               .revoked_by_name = COL_TEXT(st, 9)}),
              cb, ud, err);
}

static int sq_apikey_revoke(struct td_store *s, int64_t office, int64_t kid, int64_t when,
                            int64_t by, int64_t *user, int *was, struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    sqlite3_stmt *st;
    int rc = td__sq_bound(
        c,
        "SELECT k.user_id, k.revoked IS NOT NULL FROM api_keys k "
        "JOIN users u ON u.id = k.user_id WHERE k.id = ?1 AND (?2 = 0 OR u.office_id = ?2)",
        &st, TD__SQ_ARGS(TD__SQ_I(kid), TD__SQ_I(office)), err);
    if (rc)
        return rc;
    if ((rc = td__sq_row(c, st, "api key", err)) == TD_OK) {
        *user = sqlite3_column_int64(st, 0);
        *was = sqlite3_column_int(st, 1);
    } else if (rc == TD_ENOTFOUND) {
        td_error_set(err, TD_ENOTFOUND, "no such API key");
    }
    td__sq_done(c, st);
    if (rc || *was)
        return rc;
    return td__sq_write(c, "api key",
                        "UPDATE api_keys SET revoked = ?, revoked_by = ? WHERE id = ?",
                        TD__SQ_ARGS(TD__SQ_I(when), TD__SQ_I(by), TD__SQ_I(kid)), err);
}

static int sq_apikey_revoke_user(struct td_store *s, int64_t user, int64_t when, int64_t by,
                                 int (*cb)(void *ud, int64_t id), void *ud, struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    sqlite3_stmt *st;
    int rc =
        td__sq_bound(c, "SELECT id FROM api_keys WHERE user_id = ? AND revoked IS NULL ORDER BY id",
                     &st, TD__SQ_ARGS(TD__SQ_I(user)), err);
    if (rc)
        return rc;
    int r;
    while ((r = td__sq_next(c, st, "api key", err)) == 1 &&
           !(rc = cb(ud, sqlite3_column_int64(st, 0))))
        ;
    td__sq_done(c, st);
    if (rc || r < 0)
        return rc ? rc : r;
    return td__sq_write(c, "api key",
                        "UPDATE api_keys SET revoked = ?, revoked_by = ? "
                        "WHERE user_id = ? AND revoked IS NULL",
                        TD__SQ_ARGS(TD__SQ_I(when), TD__SQ_I(by), TD__SQ_I(user)), err);
}

static int sq_login_failures(struct td_store *s, const char *name, const char *source,
                             int64_t since, int64_t *count, int64_t *oldest, struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    sqlite3_stmt *st;
    int rc = td__sq_bound(c,
                          "SELECT count(*), coalesce(min(time), 0) FROM login_failures "
                          "WHERE name = ? AND source = ? AND time >= ?",
                          &st, TD__SQ_ARGS(TD__SQ_T(name), TD__SQ_T(source), TD__SQ_I(since)), err);
    if (rc)
        return rc;
    if ((rc = td__sq_row(c, st, "login_failures", err)) == TD_OK) {
        *count = sqlite3_column_int64(st, 0);
        *oldest = sqlite3_column_int64(st, 1);
    }
    td__sq_done(c, st);
    return rc;
}

static int sq_login_failure_add(struct td_store *s, const char *name, const char *source,
                                int64_t when, struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    int rc = td__sq_write(c, "login_failures",
                          "INSERT INTO login_failures(name, source, time) VALUES (?,?,?)",
                          TD__SQ_ARGS(TD__SQ_T(name), TD__SQ_T(source), TD__SQ_I(when)), err);
    if (rc)
        return rc;
    /* Failures older than a day count for no window the desk uses (the
     * longest sensible lock-out); keep the table small. */
    return td__sq_write(c, "login_failures", "DELETE FROM login_failures WHERE time < ?",
                        TD__SQ_ARGS(TD__SQ_I(when - 86400)), err);
}

static int sq_login_failure_clear(struct td_store *s, const char *name, const char *source,
                                  struct td_error *err)
{
    return td__sq_write(&SQ(s)->c, "login_failures",
                        "DELETE FROM login_failures WHERE name = ? AND source = ?",
                        TD__SQ_ARGS(TD__SQ_T(name), TD__SQ_T(source)), err);
}

/* ---- messages ---------------------------------------------------------- */

/* The id and severity of the office's message that `sql` finds by one text
 * value (?2); TD_ENOTFOUND without error text when there is none (the usual
 * case for the duplicate checks that ask). */
static int id_severity(struct td_store *s, int64_t office, const char *sql, const char *value,
                       int64_t *id, int *severity, struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    sqlite3_stmt *st;
    int rc = td__sq_bound(c, sql, &st, TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_T(value)), err);
    if (rc)
        return rc;
    if ((rc = td__sq_next(c, st, "message", err)) == 1) {
        *id = sqlite3_column_int64(st, 0);
        *severity = sqlite3_column_int(st, 1);
        rc = TD_OK;
    } else if (rc == 0) {
        rc = TD_ENOTFOUND;
    }
    td__sq_done(c, st);
    return rc;
}

static int sq_message_find_key(struct td_store *s, int64_t office, const char *key, int64_t *id,
                               int *severity, struct td_error *err)
{
    return id_severity(s, office,
                       "SELECT id, severity FROM messages WHERE office_id = ? AND client_key = ?",
                       key, id, severity, err);
}

static int sq_message_insert(struct td_store *s, const struct td_store_message *m, int64_t *id,
                             struct td_error *err)
{
    struct sq *q = SQ(s);
    sqlite3_stmt *st;
    int rc =
        td__sq_stmt(&q->c,
                    "INSERT INTO messages(office_id, client_key, message_id, channel, sender, "
                    "sender_name, subject, text, original, received, ingested, ingested_by, "
                    "severity, labels, flags, verdict, model_version, content_key, attachments) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, m->office_id);
    td__sq_bind_text(st, 2, m->client_key);
    td__sq_bind_text(st, 3, m->message_id);
    td__sq_bind_text(st, 4, m->channel);
    td__sq_bind_text(st, 5, m->sender);
    td__sq_bind_text(st, 6, m->sender_name);
    td__sq_bind_text(st, 7, m->subject);
    sqlite3_bind_text(st, 8, m->text ? m->text : "", (int)m->text_len, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 9, m->original_len ? m->original : "", (int)m->original_len,
                      SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 10, m->received);
    sqlite3_bind_int64(st, 11, m->ingested);
    sqlite3_bind_int64(st, 12, m->ingested_by);
    sqlite3_bind_int(st, 13, m->severity);
    sqlite3_bind_int64(st, 14, m->labels);
    sqlite3_bind_int64(st, 15, m->flags);
    td__sq_bind_text(st, 16, m->verdict);
    td__sq_bind_text(st, 17, m->model_version);
    td__sq_bind_text(st, 18, m->content_key);
    td__sq_bind_text(st, 19, m->attachments);
    if ((rc = td__sq_run(&q->c, st, "message", err)) == TD_OK)
        *id = sqlite3_last_insert_rowid(q->c.db);
    return rc;
}

/* The columns of a td_store_message_row, in the order msg_row() reads
 * them; the case ids aggregated as "1,2" text. */
#define MSG_SELECT                                                                                 \
    "SELECT m.id, m.channel, m.sender, m.sender_name, m.subject, m.received, m.ingested, "         \
    "m.status, m.status_reason, m.client_key, m.message_id, m.text, m.verdict, m.attachments, "    \
    "(SELECT group_concat(cm.case_id) FROM case_messages cm WHERE cm.message_id = m.id) "          \
    "AS cases, m.severity, m.labels, m.flags, m.model_version "
#define MSG_COLS MSG_SELECT "FROM messages m "

/* A row of MSG_SELECT's columns, in their order, into r (strings copied
 * into the arena). */
static const char *col_str(sqlite3_stmt *st, int i, struct td_store_arena *ar)
{
    return td__arena_str(ar, (const char *)sqlite3_column_text(st, i));
}

static void msg_row(sqlite3_stmt *st, struct td_store_arena *ar, struct td_store_message_row *r)
{
    r->id = sqlite3_column_int64(st, 0);
    r->channel = col_str(st, 1, ar);
    r->sender = col_str(st, 2, ar);
    r->sender_name = col_str(st, 3, ar);
    r->subject = col_str(st, 4, ar);
    r->received = sqlite3_column_int64(st, 5);
    r->ingested = sqlite3_column_int64(st, 6);
    r->status = col_str(st, 7, ar);
    r->status_reason = col_str(st, 8, ar);
    r->client_key = col_str(st, 9, ar);
    r->message_id = col_str(st, 10, ar);
    const char *t = (const char *)sqlite3_column_text(st, 11);
    r->text_len = t ? (size_t)sqlite3_column_bytes(st, 11) : 0;
    r->text = td__arena_strn(ar, t, r->text_len);
    r->verdict = col_str(st, 12, ar);
    r->attachments = col_str(st, 13, ar);
    td__arena_ids(ar, (const char *)sqlite3_column_text(st, 14), 1, &r->cases, &r->ncases);
    r->severity = sqlite3_column_int(st, 15);
    r->labels = (unsigned)sqlite3_column_int64(st, 16);
    r->flags = (unsigned)sqlite3_column_int64(st, 17);
    r->model_version = col_str(st, 18, ar);
}

/* Every row of st (MSG_SELECT's columns) into an arena array (gives st back). */
static int msg_rows(struct sq *q, sqlite3_stmt *st, struct td_store_arena *ar,
                    struct td_store_message_row **rows, size_t *n, struct td_error *err)
{
    size_t cap = 0;
    void *slot;
    int rc;
    *rows = NULL;
    *n = 0;
    while ((rc = td__sq_next(&q->c, st, "message", err)) == 1) {
        if (td__arena_push(ar, (void **)rows, n, &cap, sizeof **rows, &slot)) {
            rc = TD_ENOMEM;
            break;
        }
        msg_row(st, ar, slot);
    }
    td__sq_done(&q->c, st);
    if (rc == TD_ENOMEM || ar->oom)
        return td_error_set(err, TD_ENOMEM, NULL);
    return rc;
}

static int sq_message_get(struct td_store *s, int64_t office, int64_t id,
                          struct td_store_message_row *out, struct td_store_arena *ar,
                          struct td_error *err)
{
    struct sq *q = SQ(s);
    sqlite3_stmt *st;
    memset(out, 0, sizeof *out);
    int rc = td__sq_bound(&q->c, MSG_COLS "WHERE m.office_id = ? AND m.id = ?", &st,
                          TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(id)), err);
    if (rc)
        return rc;
    if ((rc = td__sq_row(&q->c, st, "message", err)) == TD_OK)
        msg_row(st, ar, out);
    td__sq_done(&q->c, st);
    if (!rc && ar->oom)
        rc = td_error_set(err, TD_ENOMEM, NULL);
    return rc;
}

static int sq_message_original(struct td_store *s, int64_t office, int64_t id, void **data,
                               size_t *len, struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    sqlite3_stmt *st;
    int rc = td__sq_bound(c, "SELECT original FROM messages WHERE office_id = ? AND id = ?", &st,
                          TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(id)), err);
    if (rc)
        return rc;
    if ((rc = td__sq_row(c, st, "message", err)) == TD_OK) {
        const void *p = sqlite3_column_blob(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        *data = malloc(n ? n : 1);
        if (!*data) {
            rc = td_error_set(err, TD_ENOMEM, NULL);
        } else {
            if (n)
                memcpy(*data, p, n);
            *len = n;
        }
    }
    td__sq_done(c, st);
    return rc;
}

const char td__sq_queue_count_sql[] = "SELECT count(*) " TD__SQ_QUEUE_FROM TD__SQ_QUEUE_WHERE;
/* messages_queue (0001) is the narrowest index led by office_id: a third
 * of messages_triage's pages.  Named, as without statistics SQLite took
 * messages_content, whose 64-character keys make it the widest. */
const char td__sq_queue_count_all_sql[] =
    "SELECT count(*) FROM messages m INDEXED BY messages_queue WHERE m.office_id = ?1";

int td__sq_queue_unfiltered(const struct td_store_msg_query *f)
{
    return !f->status && (f->label < 0 || f->label >= TD_LABEL_COUNT) && f->min_severity <= 0 &&
           !f->channel && !f->sender && f->since == INT64_MIN && f->until == INT64_MAX;
}

/* The wide rows straight from the index walk: SQLite reads a row's text
 * and verdict only once it is past the offset, so a page reads
 * offset + limit index entries and limit rows.  (Before 0009 the order
 * needed a sort, and the page took its ids from a sorted subquery first
 * so as not to sort wide rows.) */
const char td__sq_queue_page_sql[] =
    MSG_SELECT TD__SQ_QUEUE_FROM TD__SQ_QUEUE_WHERE TD__SQ_QUEUE_ORDER "LIMIT ?9 OFFSET ?10";

void td__sq_queue_bind(sqlite3_stmt *st, int64_t office, const struct td_store_msg_query *f)
{
    sqlite3_bind_int64(st, 1, office);
    td__sq_bind_text(st, 2, f->status);
    sqlite3_bind_int(st, 3, f->label >= 0 && f->label < TD_LABEL_COUNT ? f->label : -1);
    sqlite3_bind_int(st, 4, f->min_severity > 0 ? f->min_severity : 0);
    td__sq_bind_text(st, 5, f->channel);
    td__sq_bind_text(st, 6, f->sender);
    sqlite3_bind_int64(st, 7, f->since);
    sqlite3_bind_int64(st, 8, f->until);
}

static int sq_message_queue(struct td_store *s, int64_t office, const struct td_store_msg_query *f,
                            struct td_store_message_page *out, struct td_store_arena *ar,
                            struct td_error *err)
{
    struct sq *q = SQ(s);
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    /* The queue as it opens, unfiltered, counts the office alone, on a
     * narrow index rather than the wide one the filters need. */
    int all = td__sq_queue_unfiltered(f);
    int rc =
        td__sq_stmt(&q->c, all ? td__sq_queue_count_all_sql : td__sq_queue_count_sql, &st, err);
    if (rc)
        return rc;
    if (all)
        sqlite3_bind_int64(st, 1, office);
    else
        td__sq_queue_bind(st, office, f);
    if ((rc = td__sq_int(&q->c, st, "queue", &out->total, err)))
        return rc;

    if ((rc = td__sq_stmt(&q->c, td__sq_queue_page_sql, &st, err)))
        return rc;
    td__sq_queue_bind(st, office, f);
    sqlite3_bind_int64(st, 9, (int64_t)f->limit);
    sqlite3_bind_int64(st, 10, (int64_t)f->offset);
    return msg_rows(q, st, ar, &out->rows, &out->n, err);
}

static int sq_message_set_status(struct td_store *s, int64_t office, int64_t id, const char *status,
                                 const char *reason, int64_t by, int64_t when, struct td_error *err)
{
    return td__sq_write1(&SQ(s)->c, "message",
                         "UPDATE messages SET status = ?, status_reason = ?, status_by = ?, "
                         "status_time = ? WHERE office_id = ? AND id = ?",
                         TD__SQ_ARGS(TD__SQ_T(status), TD__SQ_T(reason), TD__SQ_I(by),
                                     TD__SQ_I(when), TD__SQ_I(office), TD__SQ_I(id)),
                         err);
}

/* ---- senders ----------------------------------------------------------- */

static int sq_sender_prior_threats(struct td_store *s, int64_t office, const char *sender,
                                   unsigned *n, struct td_error *err)
{
    int64_t v = 0;
    int rc = td__sq_value(&SQ(s)->c, "sender",
                          "SELECT threats FROM senders WHERE office_id = ? AND key = ?",
                          TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_T(sender)), &v, err);
    *n = (unsigned)v;
    return rc;
}

static int sq_sender_record(struct td_store *s, int64_t office, const char *sender,
                            const char *display, int severity, int is_threat, int64_t when,
                            struct td_error *err)
{
    return td__sq_write(&SQ(s)->c, "sender",
                        "INSERT INTO senders(office_id, key, display, messages, threats, "
                        "worst_severity, first_seen, last_seen) VALUES (?1,?2,?3,1,?4,?5,?6,?6) "
                        "ON CONFLICT(office_id, key) DO UPDATE SET "
                        "display = coalesce(excluded.display, display), messages = messages + 1, "
                        "threats = threats + excluded.threats, "
                        "worst_severity = max(worst_severity, excluded.worst_severity), "
                        "first_seen = min(first_seen, excluded.first_seen), "
                        "last_seen = max(last_seen, excluded.last_seen)",
                        TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_T(sender), TD__SQ_T(display),
                                    TD__SQ_I(is_threat ? 1 : 0), TD__SQ_I(severity),
                                    TD__SQ_I(when)),
                        err);
}

static int sq_sender_get(struct td_store *s, int64_t office, const char *sender, size_t limit,
                         struct td_store_sender_row *out, struct td_store_arena *ar,
                         struct td_error *err)
{
    struct sq *q = SQ(s);
    sqlite3_stmt *st;
    memset(out, 0, sizeof *out);
    int rc = td__sq_bound(&q->c,
                          "SELECT key, display, messages, threats, worst_severity, first_seen, "
                          "last_seen FROM senders WHERE office_id = ? AND key = ?",
                          &st, TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_T(sender)), err);
    if (rc)
        return rc;
    if ((rc = td__sq_row(&q->c, st, "sender", err)) == TD_OK) {
        out->sender = col_str(st, 0, ar);
        out->display = col_str(st, 1, ar);
        out->messages = sqlite3_column_int64(st, 2);
        out->threats = sqlite3_column_int64(st, 3);
        out->worst_severity = sqlite3_column_int64(st, 4);
        out->first_seen = sqlite3_column_int64(st, 5);
        out->last_seen = sqlite3_column_int64(st, 6);
    }
    td__sq_done(&q->c, st);
    if (rc)
        return rc;
    if ((rc = td__sq_bound(&q->c,
                           MSG_COLS "WHERE m.office_id = ? AND m.sender = ? "
                                    "ORDER BY m.received DESC, m.id DESC LIMIT ?",
                           &st, TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_T(sender), TD__SQ_I(limit)),
                           err)))
        return rc;
    return msg_rows(q, st, ar, &out->recent, &out->nrecent, err);
}

/* ---- cases ------------------------------------------------------------- */

static int sq_case_insert(struct td_store *s, const struct td_store_case *c, int64_t *id,
                          struct td_error *err)
{
    struct td__sq *cn = &SQ(s)->c;
    int rc = td__sq_write(
        cn, "case",
        "INSERT INTO cases(office_id, type, status, title, description, occurred, "
        "place, people, police_ref, assignee, created, created_by, updated) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        TD__SQ_ARGS(TD__SQ_I(c->office_id), TD__SQ_T(c->type), TD__SQ_T(c->status),
                    TD__SQ_T(c->title), TD__SQ_T(c->description),
                    c->occurred == INT64_MIN ? TD__SQ_NULL_ARG : TD__SQ_I(c->occurred),
                    TD__SQ_T(c->place), TD__SQ_T(c->people), TD__SQ_T(c->police_ref),
                    c->assignee ? TD__SQ_I(c->assignee) : TD__SQ_NULL_ARG, TD__SQ_I(c->created),
                    TD__SQ_I(c->created_by), TD__SQ_I(c->created)),
        err);
    if (rc == TD_OK)
        *id = sqlite3_last_insert_rowid(cn->db);
    return rc;
}

static int sq_case_head(struct td_store *s, int64_t office, int64_t id,
                        char status[TD_STORE_NAME_SIZE], int64_t *created_by, int *reported,
                        struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    sqlite3_stmt *st;
    int rc = td__sq_bound(
        c, "SELECT status, created_by, reported FROM cases WHERE office_id = ? AND id = ?", &st,
        TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(id)), err);
    if (rc)
        return rc;
    if ((rc = td__sq_row(c, st, "case", err)) == TD_OK) {
        copy(status, TD_STORE_NAME_SIZE, sqlite3_column_text(st, 0));
        *created_by = sqlite3_column_int64(st, 1);
        *reported = sqlite3_column_int(st, 2);
    }
    td__sq_done(c, st);
    return rc;
}

#define CASE_COLS                                                                                  \
    "SELECT c.id, c.type, c.status, c.title, c.description, c.occurred, c.place AS place_json, "   \
    "c.people AS people_json, c.police_ref, a.name AS assignee, c.created, "                       \
    "cb.name AS created_by, c.updated FROM cases c "                                               \
    "LEFT JOIN users a ON a.id = c.assignee LEFT JOIN users cb ON cb.id = c.created_by "

/* EVIDENCE of desk.h: its columns in evidence_row's order. */
#define EVIDENCE_COLS                                                                              \
    "SELECT e.id, e.case_id, e.name, e.type, e.size, e.sha256, e.added, u.name "                   \
    "FROM evidence e LEFT JOIN users u ON u.id = e.added_by "

static void evidence_row(sqlite3_stmt *st, struct td_store_arena *ar,
                         struct td_store_evidence_row *r)
{
    r->id = sqlite3_column_int64(st, 0);
    r->case_id = sqlite3_column_int64(st, 1);
    r->name = col_str(st, 2, ar);
    r->type = col_str(st, 3, ar);
    r->size = sqlite3_column_int64(st, 4);
    r->sha256 = col_str(st, 5, ar);
    r->added = sqlite3_column_int64(st, 6);
    r->added_by = col_str(st, 7, ar);
}

static void case_row(sqlite3_stmt *st, struct td_store_arena *ar, struct td_store_case_row *r)
{
    r->id = sqlite3_column_int64(st, 0);
    r->type = col_str(st, 1, ar);
    r->status = col_str(st, 2, ar);
    r->title = col_str(st, 3, ar);
    r->description = col_str(st, 4, ar);
    r->has_occurred = sqlite3_column_type(st, 5) != SQLITE_NULL;
    r->occurred = sqlite3_column_int64(st, 5);
    r->place = col_str(st, 6, ar);
    r->people = col_str(st, 7, ar);
    r->police_ref = col_str(st, 8, ar);
    r->assignee = col_str(st, 9, ar);
    r->created = sqlite3_column_int64(st, 10);
    r->created_by = col_str(st, 11, ar);
    r->updated = sqlite3_column_int64(st, 12);
}

/* Every row of st into an arena array of `size`-byte rows, each read by
 * row() (gives st back). */
static int typed_rows(struct sq *q, sqlite3_stmt *st, struct td_store_arena *ar, size_t size,
                      void (*row)(sqlite3_stmt *st, struct td_store_arena *ar, void *r),
                      void **rows, size_t *n, struct td_error *err)
{
    size_t cap = 0;
    void *slot;
    int rc;
    *rows = NULL;
    *n = 0;
    while ((rc = td__sq_next(&q->c, st, "rows", err)) == 1) {
        if (td__arena_push(ar, rows, n, &cap, size, &slot)) {
            rc = TD_ENOMEM;
            break;
        }
        row(st, ar, slot);
    }
    td__sq_done(&q->c, st);
    if (rc == TD_ENOMEM || ar->oom)
        return td_error_set(err, TD_ENOMEM, NULL);
    return rc;
}

static void case_row_v(sqlite3_stmt *st, struct td_store_arena *ar, void *r)
{
    case_row(st, ar, r);
}

static void evidence_row_v(sqlite3_stmt *st, struct td_store_arena *ar, void *r)
{
    evidence_row(st, ar, r);
}

static void note_row_v(sqlite3_stmt *st, struct td_store_arena *ar, void *v)
{
    struct td_store_note_row *r = v;
    r->id = sqlite3_column_int64(st, 0);
    r->text = col_str(st, 1, ar);
    r->author = col_str(st, 2, ar);
    r->created = sqlite3_column_int64(st, 3);
    r->shareable = sqlite3_column_int(st, 4);
}

static int sq_case_get(struct td_store *s, int64_t office, int64_t id,
                       struct td_store_case_detail *out, struct td_store_arena *ar,
                       struct td_error *err)
{
    struct sq *q = SQ(s);
    sqlite3_stmt *st;
    memset(out, 0, sizeof *out);
    int rc = td__sq_bound(&q->c, CASE_COLS "WHERE c.office_id = ? AND c.id = ?", &st,
                          TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(id)), err);
    if (rc)
        return rc;
    if ((rc = td__sq_row(&q->c, st, "case", err)) == TD_OK)
        case_row(st, ar, &out->c);
    td__sq_done(&q->c, st);
    if (rc)
        return rc;

    /* Linked messages, evidence and notes: all filtered by office too. */
    if ((rc = td__sq_bound(&q->c,
                           MSG_COLS "JOIN case_messages cm2 ON cm2.message_id = m.id "
                                    "WHERE m.office_id = ? AND cm2.case_id = ? ORDER BY m.received",
                           &st, TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(id)), err)) ||
        (rc = msg_rows(q, st, ar, &out->messages, &out->nmessages, err)))
        return rc;
    if ((rc = td__sq_bound(&q->c,
                           EVIDENCE_COLS "WHERE e.office_id = ? AND e.case_id = ? ORDER BY e.id",
                           &st, TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(id)), err)) ||
        (rc = typed_rows(q, st, ar, sizeof *out->evidence, evidence_row_v, (void **)&out->evidence,
                         &out->nevidence, err)))
        return rc;
    if ((rc = td__sq_bound(&q->c,
                           "SELECT n.id, n.text, u.name, n.created, n.shareable FROM notes n "
                           "LEFT JOIN users u ON u.id = n.user_id "
                           "WHERE n.office_id = ? AND n.case_id = ? ORDER BY n.id",
                           &st, TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(id)), err)))
        return rc;
    return typed_rows(q, st, ar, sizeof *out->notes, note_row_v, (void **)&out->notes, &out->nnotes,
                      err);
}

/* The editable columns: the only names ever spliced into SQL. */
static const struct {
    const char *field;
    const char *sql;
} case_fields[] = {
    {"type", "UPDATE cases SET type = ?1, updated = ?2 WHERE office_id = ?3 AND id = ?4"},
    {"title", "UPDATE cases SET title = ?1, updated = ?2 WHERE office_id = ?3 AND id = ?4"},
    {"description",
     "UPDATE cases SET description = ?1, updated = ?2 WHERE office_id = ?3 AND id = ?4"},
    {"police_ref",
     "UPDATE cases SET police_ref = ?1, updated = ?2 WHERE office_id = ?3 AND id = ?4"},
    {"occurred", "UPDATE cases SET occurred = ?1, updated = ?2 WHERE office_id = ?3 AND id = ?4"},
    {"assignee", "UPDATE cases SET assignee = ?1, updated = ?2 WHERE office_id = ?3 AND id = ?4"},
    {"place", "UPDATE cases SET place = ?1, updated = ?2 WHERE office_id = ?3 AND id = ?4"},
    {"people", "UPDATE cases SET people = ?1, updated = ?2 WHERE office_id = ?3 AND id = ?4"},
};

static int sq_case_set(struct td_store *s, int64_t office, int64_t id, const char *field,
                       const struct td_store_value *value, int64_t now, struct td_error *err)
{
    const char *sql = NULL;
    for (size_t i = 0; i < sizeof case_fields / sizeof case_fields[0]; i++)
        if (!strcmp(case_fields[i].field, field))
            sql = case_fields[i].sql;
    if (!sql) {
        td_error_field(err, field);
        return td_error_set(err, TD_EINVAL, "not an editable case field");
    }
    struct td__sq_arg v = TD__SQ_NULL_ARG;
    if (value && value->kind == TD_STORE_INT)
        v = TD__SQ_I(value->i);
    else if (value && value->kind == TD_STORE_TEXT)
        v = TD__SQ_T(value->text);
    return td__sq_write1(&SQ(s)->c, "case", sql,
                         TD__SQ_ARGS(v, TD__SQ_I(now), TD__SQ_I(office), TD__SQ_I(id)), err);
}

static int sq_case_set_status(struct td_store *s, int64_t office, int64_t id, const char *from,
                              const char *to, int reported, int64_t now, struct td_error *err)
{
    /* WHERE status = from: a concurrent change makes this match nothing. */
    return td__sq_write1(&SQ(s)->c, "case",
                         "UPDATE cases SET status = ?1, updated = ?2, "
                         "reported = max(reported, ?6) "
                         "WHERE office_id = ?3 AND id = ?4 AND status = ?5",
                         TD__SQ_ARGS(TD__SQ_T(to), TD__SQ_I(now), TD__SQ_I(office), TD__SQ_I(id),
                                     TD__SQ_T(from), TD__SQ_I(reported ? 1 : 0)),
                         err);
}

void td__sq_case_bind(sqlite3_stmt *st, int64_t office, const struct td_store_case_query *f)
{
    sqlite3_bind_int64(st, 1, office);
    td__sq_bind_text(st, 2, f->status);
    td__sq_bind_text(st, 3, f->type);
    td__sq_bind_text(st, 4, f->assignee);
    sqlite3_bind_int(st, 5, f->police_only ? 1 : 0);
    td__sq_bind_text(st, 8, f->sender);
    sqlite3_bind_int64(st, 9, f->since);
    sqlite3_bind_int64(st, 10, f->until);
}

static int sq_case_list(struct td_store *s, int64_t office, const struct td_store_case_query *f,
                        struct td_store_case_page *out, struct td_store_arena *ar,
                        struct td_error *err)
{
    struct sq *q = SQ(s);
    sqlite3_stmt *st;
    memset(out, 0, sizeof *out);
    int rc = td__sq_stmt(
        &q->c,
        "SELECT count(*) FROM cases c LEFT JOIN users a ON a.id = c.assignee " TD__SQ_CASE_WHERE,
        &st, err);
    if (rc)
        return rc;
    td__sq_case_bind(st, office, f);
    if ((rc = td__sq_int(&q->c, st, "cases", &out->total, err)))
        return rc;
    if ((rc = td__sq_stmt(&q->c,
                          CASE_COLS TD__SQ_CASE_WHERE
                          "ORDER BY c.created DESC, c.id DESC LIMIT ?6 OFFSET ?7",
                          &st, err)))
        return rc;
    td__sq_case_bind(st, office, f);
    sqlite3_bind_int64(st, 6, (int64_t)f->limit);
    sqlite3_bind_int64(st, 7, (int64_t)f->offset);
    return typed_rows(q, st, ar, sizeof *out->rows, case_row_v, (void **)&out->rows, &out->n, err);
}

static int sq_case_link(struct td_store *s, int64_t office, int64_t case_id, int64_t msg,
                        int64_t now, int *linked_new, struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    int64_t linked = 0;
    /* The SELECT proves both belong to the office before linking. */
    int rc = td__sq_write(
        c, "link",
        "INSERT OR IGNORE INTO case_messages(case_id, message_id, linked) "
        "SELECT c.id, m.id, ?4 FROM cases c, messages m "
        "WHERE c.office_id = ?1 AND m.office_id = ?1 AND c.id = ?2 AND m.id = ?3",
        TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(case_id), TD__SQ_I(msg), TD__SQ_I(now)), err);
    if (rc)
        return rc;
    *linked_new = sqlite3_changes(c->db) > 0;
    if (*linked_new)
        return TD_OK;
    /* Nothing inserted: already linked, or an id of no case/message here. */
    td__sq_value(c, "link",
                 "SELECT 1 FROM case_messages cm JOIN cases c ON c.id = cm.case_id "
                 "WHERE c.office_id = ? AND cm.case_id = ? AND cm.message_id = ?",
                 TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(case_id), TD__SQ_I(msg)), &linked, NULL);
    return linked ? TD_OK : td_error_set(err, TD_ENOTFOUND, "no such case or message");
}

static int sq_note_insert(struct td_store *s, int64_t office, int64_t case_id, int64_t user,
                          const char *text, int shareable, int64_t now, int64_t *id,
                          struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    int rc =
        td__sq_write(c, "note",
                     "INSERT INTO notes(office_id, case_id, user_id, text, created, shareable) "
                     "VALUES (?,?,?,?,?,?)",
                     TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(case_id), TD__SQ_I(user),
                                 TD__SQ_T(text), TD__SQ_I(now), TD__SQ_I(shareable ? 1 : 0)),
                     err);
    if (rc == TD_OK)
        *id = sqlite3_last_insert_rowid(c->db);
    return rc;
}

/* ---- evidence ---------------------------------------------------------- */

static int sq_evidence_insert(struct td_store *s, const struct td_store_evidence *e, int64_t *id,
                              struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    int rc =
        td__sq_write(c, "evidence",
                     "INSERT INTO evidence(office_id, case_id, name, type, size, sha256, added, "
                     "added_by) VALUES (?,?,?,?,?,?,?,?)",
                     TD__SQ_ARGS(TD__SQ_I(e->office_id), TD__SQ_I(e->case_id), TD__SQ_T(e->name),
                                 TD__SQ_T(e->type), TD__SQ_I(e->size), TD__SQ_T(e->sha256),
                                 TD__SQ_I(e->added), TD__SQ_I(e->added_by)),
                     err);
    if (rc == TD_OK)
        *id = sqlite3_last_insert_rowid(c->db);
    return rc;
}

static int sq_evidence_get(struct td_store *s, int64_t office, int64_t id,
                           struct td_store_evidence_row *out, struct td_store_arena *ar,
                           struct td_error *err)
{
    struct sq *q = SQ(s);
    sqlite3_stmt *st;
    memset(out, 0, sizeof *out);
    int rc = td__sq_bound(&q->c, EVIDENCE_COLS "WHERE e.office_id = ? AND e.id = ?", &st,
                          TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(id)), err);
    if (rc)
        return rc;
    if ((rc = td__sq_row(&q->c, st, "evidence", err)) == TD_OK)
        evidence_row(st, ar, out);
    td__sq_done(&q->c, st);
    if (!rc && ar->oom)
        rc = td_error_set(err, TD_ENOMEM, NULL);
    return rc;
}

static int sq_evidence_scan(struct td_store *s,
                            int (*cb)(void *ud, int64_t id, const char *sha256, int64_t size),
                            void *ud, struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    sqlite3_stmt *st;
    int rc = td__sq_stmt(c, "SELECT id, sha256, size FROM evidence ORDER BY id", &st, err);
    if (rc)
        return rc;
    while ((rc = td__sq_next(c, st, "evidence", err)) == 1 &&
           !cb(ud, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
               sqlite3_column_int64(st, 2)))
        ;
    td__sq_done(c, st);
    return rc < 0 ? rc : TD_OK;
}

/* ---- audit ------------------------------------------------------------- */

static int sq_audit_head(struct td_store *s, int64_t office, int64_t *last_id, char last_hash[65],
                         struct td_error *err)
{
    (void)office; /* one chain per store: BEGIN IMMEDIATE serialises writers */
    struct td__sq *c = &SQ(s)->c;
    sqlite3_stmt *st;
    int rc = td__sq_stmt(c, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", &st, err);
    if (rc)
        return rc;
    *last_id = 0;
    last_hash[0] = '\0';
    if ((rc = td__sq_next(c, st, "audit", err)) == 1) {
        *last_id = sqlite3_column_int64(st, 0);
        copy(last_hash, 65, sqlite3_column_text(st, 1));
    }
    td__sq_done(c, st);
    return rc < 0 ? rc : TD_OK;
}

static int sq_audit_append(struct td_store *s, const struct td_audit_entry *e, struct td_error *err)
{
    return td__sq_write(&SQ(s)->c, "audit",
                        "INSERT INTO audit(id, time, office_id, user_id, action, object_type, "
                        "object_id, details, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        TD__SQ_ARGS(TD__SQ_I(e->id), TD__SQ_I(e->time), TD__SQ_I(e->office_id),
                                    TD__SQ_I(e->user_id), TD__SQ_T(e->action),
                                    TD__SQ_T(e->object_type), TD__SQ_I(e->object_id),
                                    TD__SQ_T(e->details ? e->details : "{}"),
                                    TD__SQ_T(e->prev_hash), TD__SQ_T(e->hash)),
                        err);
}

static int sq_audit_scan(struct td_store *s, int (*cb)(void *ud, const struct td_audit_entry *e),
                         void *ud, int64_t *max_id_ever, struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    sqlite3_stmt *st;
    struct td_audit_entry e;
    /* no row when nothing was ever appended: 0 then */
    td__sq_value(c, "audit", "SELECT seq FROM sqlite_sequence WHERE name = 'audit'", NULL, 0,
                 max_id_ever, NULL);
    int rc = td__sq_stmt(c,
                         "SELECT id, time, office_id, user_id, action, object_type, object_id, "
                         "details, prev_hash, hash FROM audit ORDER BY id",
                         &st, err);
    if (rc)
        return rc;
    while ((rc = td__sq_next(c, st, "audit", err)) == 1) {
        td__sq_audit_entry(st, &e);
        if (cb(ud, &e))
            break;
    }
    td__sq_done(c, st);
    return rc < 0 ? rc : TD_OK;
}

static int sq_audit_for_object(struct td_store *s, int64_t office, const char *type, int64_t id,
                               int (*cb)(void *ud, const struct td_store_event_row *r), void *ud,
                               struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    struct td_store_event_row row;
    sqlite3_stmt *st;
    int rc = td__sq_bound(
        c,
        "SELECT a.id, a.time, u.name, a.action, a.details "
        "FROM audit a LEFT JOIN users u ON u.id = a.user_id "
        "WHERE a.office_id = ? AND a.object_type = ? AND a.object_id = ? ORDER BY a.id",
        &st, TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_T(type), TD__SQ_I(id)), err);
    if (rc)
        return rc;
    WALK_ROWS(c, st, "audit", row,
              (row = (struct td_store_event_row){.id = sqlite3_column_int64(st, 0),
                                                 .time = sqlite3_column_int64(st, 1),
                                                 .user = COL_TEXT(st, 2),
                                                 .action = COL_TEXT(st, 3),
                                                 .details = COL_TEXT(st, 4)}),
              cb, ud, err);
}

/* ---- verify ------------------------------------------------------------ */

typedef int verify_cb(void *ud, const char *kind, int64_t id, const char *field, const void *value,
                      size_t len);

/* Emit every column of every row of sql: column 0 is the id, the others
 * are the fields (named by the columns). */
static int scan_rows(struct sq *q, const char *kind, const char *sql, verify_cb *cb, void *ud,
                     struct td_error *err)
{
    sqlite3_stmt *st;
    int rc = td__sq_stmt(&q->c, sql, &st, err), r, stop = 0;
    if (rc)
        return rc;
    int n = sqlite3_column_count(st);
    while (!stop && (r = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        for (int i = 1; i < n && !stop; i++) {
            const void *v = sqlite3_column_type(st, i) == SQLITE_BLOB
                                ? sqlite3_column_blob(st, i)
                                : (const void *)sqlite3_column_text(st, i);
            size_t len = (size_t)sqlite3_column_bytes(st, i);
            if (sqlite3_column_type(st, i) == SQLITE_NULL)
                v = NULL;
            else if (!v)
                v = "";
            stop = cb(ud, kind, id, sqlite3_column_name(st, i), v, len);
        }
    }
    if (!stop && r != SQLITE_DONE)
        rc = td__sq_fail(&q->c, st, kind, err);
    td__sq_done(&q->c, st);
    return rc;
}

static int sq_verify_scan(struct td_store *s, verify_cb *cb, void *ud, struct td_error *err)
{
    struct sq *q = SQ(s);
    int rc = scan_rows(q, "message", "SELECT id, original, text, status FROM messages ORDER BY id",
                       cb, ud, err);
    if (!rc)
        rc = scan_rows(q, "case",
                       "SELECT id, type, title, description, police_ref, status FROM cases "
                       "ORDER BY id",
                       cb, ud, err);
    if (!rc)
        rc = scan_rows(q, "note", "SELECT id, text, case_id AS \"case\" FROM notes ORDER BY id", cb,
                       ud, err);
    if (!rc)
        rc = scan_rows(q, "evidence",
                       "SELECT id, sha256, CAST(size AS TEXT) AS size, "
                       "CAST(case_id AS TEXT) AS \"case\" FROM evidence ORDER BY id",
                       cb, ud, err);
    return rc;
}

/* ---- dedupe, retention, erasure ----------------------------------------- */

static int sq_message_find_content(struct td_store *s, int64_t office, const char *ck, int64_t *id,
                                   int *severity, struct td_error *err)
{
    return id_severity(s, office,
                       "SELECT id, severity FROM messages WHERE office_id = ? AND content_key = ? "
                       "ORDER BY id LIMIT 1",
                       ck, id, severity, err);
}

/* Ingest's reads (store.h), one after the other: SQLite runs in the
 * process, a call costs no round trip. */
static int sq_message_ingest_lookup(struct td_store *s, int64_t office, const char *key,
                                    const char *content, const char *sender,
                                    struct td_store_ingest_lookup *out, struct td_error *err)
{
    int rc;
    memset(out, 0, sizeof *out);
    if (key && (rc = sq_message_find_key(s, office, key, &out->key_id, &out->key_severity, err))) {
        if (rc != TD_ENOTFOUND)
            return rc;
        out->key_id = 0;
        td_error_clear(err);
    }
    if (content && (rc = sq_message_find_content(s, office, content, &out->content_id,
                                                 &out->content_severity, err))) {
        if (rc != TD_ENOTFOUND)
            return rc;
        out->content_id = 0;
        td_error_clear(err);
    }
    return sender ? sq_sender_prior_threats(s, office, sender, &out->prior_threats, err) : TD_OK;
}

static int sq_message_walk(struct td_store *s, int64_t office, const char *sender, int64_t before,
                           int (*cb)(void *ud, int64_t id, const void *original, size_t len,
                                     int linked),
                           void *ud, struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    sqlite3_stmt *st;
    int rc = td__sq_bound(
        c,
        "SELECT m.id, m.original, EXISTS (SELECT 1 FROM case_messages cm "
        "WHERE cm.message_id = m.id) FROM messages m WHERE m.office_id = ?1 "
        "AND (?2 IS NULL OR m.sender = ?2) AND m.received < ?3 ORDER BY m.received, m.id",
        &st, TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_T(sender), TD__SQ_I(before)), err);
    if (rc)
        return rc;
    while ((rc = td__sq_next(c, st, "message", err)) == 1 &&
           !cb(ud, sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1),
               (size_t)sqlite3_column_bytes(st, 1), sqlite3_column_int(st, 2)))
        ;
    td__sq_done(c, st);
    return rc < 0 ? rc : TD_OK;
}

static int sq_message_delete(struct td_store *s, int64_t office, int64_t id, struct td_error *err)
{
    /* the scanned letter it was read from first: the image holds everything
     * the message does (name, address, words) and must not outlive it; the
     * schema's ON DELETE SET NULL would keep it, unlinked, for ever */
    int rc = td__sq_write(&SQ(s)->c, "upload",
                          "DELETE FROM uploads WHERE office_id = ?1 AND message_id = ?2 AND NOT "
                          "EXISTS (SELECT 1 FROM case_messages cm WHERE cm.message_id = ?2)",
                          TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(id)), err);
    if (rc)
        return rc;
    return td__sq_write1(&SQ(s)->c, "message",
                         "DELETE FROM messages WHERE office_id = ? AND id = ? AND NOT EXISTS "
                         "(SELECT 1 FROM case_messages cm WHERE cm.message_id = messages.id)",
                         TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_I(id)), err);
}

static int sq_sender_delete(struct td_store *s, int64_t office, const char *sender,
                            struct td_error *err)
{
    return td__sq_write(&SQ(s)->c, "sender", "DELETE FROM senders WHERE office_id = ? AND key = ?",
                        TD__SQ_ARGS(TD__SQ_I(office), TD__SQ_T(sender)), err);
}

static int sq_office_retention_get(struct td_store *s, int64_t office, int64_t *days,
                                   struct td_error *err)
{
    struct td__sq *c = &SQ(s)->c;
    sqlite3_stmt *st;
    int rc = td__sq_bound(c, "SELECT coalesce(retention_days, 0) FROM offices WHERE id = ?", &st,
                          TD__SQ_ARGS(TD__SQ_I(office)), err);
    if (rc)
        return rc;
    if ((rc = td__sq_row(c, st, "office", err)) == TD_OK)
        *days = sqlite3_column_int64(st, 0);
    td__sq_done(c, st);
    return rc;
}

static int sq_office_retention_set(struct td_store *s, int64_t office, int64_t days,
                                   struct td_error *err)
{
    return td__sq_write1(&SQ(s)->c, "office", "UPDATE offices SET retention_days = ? WHERE id = ?",
                         TD__SQ_ARGS(days > 0 ? TD__SQ_I(days) : TD__SQ_NULL_ARG, TD__SQ_I(office)),
                         err);
}

/* ---- the table --------------------------------------------------------- */

static const struct td_store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .schema_version = sq_schema_version,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .savepoint = sq_savepoint,
    .release = sq_release,
    .rollback_to = sq_rollback_to,
    .office_find = sq_office_find,
    .office_insert = sq_office_insert,
    .office_list = sq_office_list,
    .user_set_disabled = sq_user_set_disabled,
    .user_role_count = sq_user_role_count,
    .apikey_list = sq_apikey_list,
    .apikey_revoke = sq_apikey_revoke,
    .apikey_revoke_user = sq_apikey_revoke_user,
    .verify_scan = sq_verify_scan,
    .user_count = sq_user_count,
    .user_insert = sq_user_insert,
    .user_find = sq_user_find,
    .user_get = sq_user_get,
    .user_set_password = sq_user_set_password,
    .user_set_role = sq_user_set_role,
    .user_list = sq_user_list,
    .session_insert = sq_session_insert,
    .session_find = sq_session_find,
    .session_delete = sq_session_delete,
    .apikey_insert = sq_apikey_insert,
    .apikey_find = sq_apikey_find,
    .login_failures = sq_login_failures,
    .login_failure_add = sq_login_failure_add,
    .login_failure_clear = sq_login_failure_clear,
    .message_find_key = sq_message_find_key,
    .message_insert = sq_message_insert,
    .message_get = sq_message_get,
    .message_original = sq_message_original,
    .message_queue = sq_message_queue,
    .message_set_status = sq_message_set_status,
    .sender_prior_threats = sq_sender_prior_threats,
    .sender_record = sq_sender_record,
    .sender_get = sq_sender_get,
    .case_insert = sq_case_insert,
    .case_head = sq_case_head,
    .case_get = sq_case_get,
    .case_set = sq_case_set,
    .case_set_status = sq_case_set_status,
    .case_list = sq_case_list,
    .case_link = sq_case_link,
    .note_insert = sq_note_insert,
    .evidence_insert = sq_evidence_insert,
    .evidence_get = sq_evidence_get,
    .evidence_scan = sq_evidence_scan,
    .audit_head = sq_audit_head,
    .audit_append = sq_audit_append,
    .audit_scan = sq_audit_scan,
    .audit_for_object = sq_audit_for_object,
    .session_delete_user = sq_session_delete_user,
    .message_find_content = sq_message_find_content,
    .message_ingest_lookup = sq_message_ingest_lookup,
    .message_walk = sq_message_walk,
    .message_delete = sq_message_delete,
    .sender_delete = sq_sender_delete,
    .office_retention_get = sq_office_retention_get,
    .office_retention_set = sq_office_retention_set,
    .message_vector_put = td__sq_message_vector_put,
    .message_vector_get = td__sq_message_vector_get,
    .message_vector_mean = td__sq_message_vector_mean,
    .feedback_insert = td__sq_feedback_insert,
    .feedback_revoke = td__sq_feedback_revoke,
    .feedback_revoke_message = td__sq_feedback_revoke_message,
    .feedback_list = td__sq_feedback_list,
    .feedback_load = td__sq_feedback_load,
    .feedback_stamp = td__sq_feedback_stamp,
    .alert_recipient_insert = td__sq_alert_recipient_insert,
    .alert_recipient_list = td__sq_alert_recipient_list,
    .alert_recipient_channels = td__sq_alert_recipient_channels,
    .alert_rule_insert = td__sq_alert_rule_insert,
    .alert_rule_list = td__sq_alert_rule_list,
    .alert_rule_load = td__sq_alert_rule_load,
    .alert_insert = td__sq_alert_insert,
    .alert_deliveries_add = td__sq_alert_deliveries_add,
    .alert_claim = td__sq_alert_claim,
    .alert_attempt = td__sq_alert_attempt,
    .alert_escalations = td__sq_alert_escalations,
    .alert_step = td__sq_alert_step,
    .alert_list = td__sq_alert_list,
    .alert_ack = td__sq_alert_ack,
    /* bundles and reports (sqlite_export.c) */
    .audit_walk_object = td__sq_audit_walk_object,
    .message_export = td__sq_message_export,
    .case_export = td__sq_case_export,
    .digest_rows = td__sq_digest_rows,
    /* the work queue and uploads (sqlite_jobs.c) */
    .job_add = td__sq_job_add,
    .job_claim = td__sq_job_claim,
    .job_finish = td__sq_job_finish,
    .upload_insert = td__sq_upload_insert,
    .upload_get = td__sq_upload_get,
    .upload_set = td__sq_upload_set,
    .upload_expire = td__sq_upload_expire,
};

/*
 * The store holds every message, sender and password hash, so it is
 * private to the account that runs the desk: the file is created 0600
 * here (SQLite would create it 0644 under the usual umask 022), and an
 * existing file and its -wal/-shm lose any group/other bits.  SQLite
 * creates -wal and -shm with the mode of the database file, so they are
 * 0600 as well.  open() with an explicit mode rather than umask(), which
 * is process-wide and would race with other threads.
 */
static int private_file(const char *path, struct td_error *err)
{
    char side[1100];
    if (!strcmp(path, ":memory:") || !strncmp(path, "file:", 5))
        return TD_OK;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return td_error_set(err, TD_ESTORE, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) == 0 && (sb.st_mode & 077) && fchmod(fd, sb.st_mode & 0700) != 0) {
        int e = errno;
        close(fd);
        return td_error_set(err, TD_ESTORE, "%s: cannot make it private: %s", path, strerror(e));
    }
    close(fd);
    for (int i = 0; i < 2; i++) {
        snprintf(side, sizeof side, "%s%s", path, i ? "-shm" : "-wal");
        if (stat(side, &sb) == 0 && (sb.st_mode & 077) && chmod(side, sb.st_mode & 0700) != 0)
            return td_error_set(err, TD_ESTORE, "%s: cannot make it private: %s", side,
                                strerror(errno));
    }
    return TD_OK;
}

int td__sqlite_open(const char *path, const char *home, struct td_store **out, struct td_error *err)
{
    struct sq *q = calloc(1, sizeof *q);
    int rc;
    if (!q)
        return td_error_set(err, TD_ENOMEM, NULL);
    q->base.ops = &sqlite_ops;
    if (!home || !*home) {
        home = getenv("THREATDESK_HOME");
        if (!home || !*home)
            home = TD_SOURCE_DIR;
    }
    if ((rc = private_file(path, err)))
        goto fail;
    if (sqlite3_open_v2(path, &q->c.db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        rc = td_error_set(err, TD_ESTORE, "%s: %s", path,
                          q->c.db ? sqlite3_errmsg(q->c.db) : "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(q->c.db, 10000);
    sqlite3_extended_result_codes(q->c.db, 1);
    if ((rc = td__sq_exec(
             &q->c,
             "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL; "
             /* 64 MiB of pages, taken only as they are read: an office of
              * 100,000 messages counts ~2,000 pages of messages_triage per
              * queue call, which the default 2 MiB could not keep between
              * calls, so each call read them all again from the OS
              * (bench/bench_scale.sh: first page p50 30 ms at 5M messages). */
             "PRAGMA cache_size=-65536;",
             err))) {
        td_error_at(err, path, 0, 0);
        goto fail;
    }
    if ((rc = migrate(q, home, err)))
        goto fail;
    *out = &q->base;
    return TD_OK;
fail:
    td__sq_close(&q->c);
    sqlite3_close_v2(q->c.db);
    free(q);
    return rc;
}
