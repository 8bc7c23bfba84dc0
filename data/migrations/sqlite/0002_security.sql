-- 0002_security.sql - revocable credentials, per-office user names,
-- shareable notes (issue 8, "Security").
--
-- Run by sqlite.c with foreign keys OFF for the migration (the documented
-- way to rebuild a table that others reference) and a foreign_key_check
-- before the commit.

-- Users: a name is unique within its office, not across offices (a 409
-- must not reveal another office's staff); a user can be disabled.
CREATE TABLE users_new (
    id          INTEGER PRIMARY KEY,
    office_id   INTEGER NOT NULL REFERENCES offices(id),
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin','caseworker','security','observer','police')),
    pwhash      TEXT NOT NULL,           -- Argon2id, libsodium crypto_pwhash_str
    must_change INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL,
    disabled    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (office_id, name)
);
INSERT INTO users_new (id, office_id, name, role, pwhash, must_change, created)
    SELECT id, office_id, name, role, pwhash, must_change, created FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE INDEX users_name ON users(name);

-- Sessions get an id, so the audit log can name the session that acted
-- (the token itself is never stored).  Open sessions end with this
-- migration: everyone logs in again once.
DROP TABLE sessions;
CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    created    INTEGER NOT NULL,
    expires    INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

-- API keys: who issued each one (user id; 0 = the local operator; NULL =
-- issued before this migration) and who revoked it.
ALTER TABLE api_keys ADD COLUMN issued_by INTEGER;
ALTER TABLE api_keys ADD COLUMN revoked_by INTEGER;
CREATE INDEX api_keys_user ON api_keys(user_id);

-- Internal notes stay internal: police read a note only when it is marked
-- shareable.
ALTER TABLE notes ADD COLUMN shareable INTEGER NOT NULL DEFAULT 0;
