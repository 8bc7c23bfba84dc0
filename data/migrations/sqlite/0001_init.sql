-- 0001_init.sql - the desk's first schema (SQLite).
--
-- Applied once, in a transaction, by src/store/sqlite.c when schema_version
-- has no row for 1.  Every office-owned table carries office_id, and every
-- query the store makes filters on it.  Times are integer seconds (UTC).

CREATE TABLE offices (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL
);

CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    office_id   INTEGER NOT NULL REFERENCES offices(id),
    name        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('admin','caseworker','security','observer','police')),
    pwhash      TEXT NOT NULL,           -- Argon2id, libsodium crypto_pwhash_str
    must_change INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL
);

-- Secrets are never stored: only the hex SHA-256 of a token or key.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    created    INTEGER NOT NULL,
    expires    INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id       INTEGER PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    user_id  INTEGER NOT NULL REFERENCES users(id),
    label    TEXT,
    created  INTEGER NOT NULL,
    revoked  INTEGER
);

-- Failed logins survive a restart, so a lock-out does too.
CREATE TABLE login_failures (
    id     INTEGER PRIMARY KEY,
    name   TEXT NOT NULL,
    source TEXT NOT NULL,
    time   INTEGER NOT NULL
);
CREATE INDEX login_failures_key ON login_failures(name, source, time);

CREATE TABLE messages (
    id            INTEGER PRIMARY KEY,
    office_id     INTEGER NOT NULL REFERENCES offices(id),
    client_key    TEXT,
    message_id    TEXT,
    channel       TEXT NOT NULL,
    sender        TEXT,
    sender_name   TEXT,
    subject       TEXT,
    text          TEXT NOT NULL,
    original      BLOB NOT NULL,         -- the bytes exactly as received
    received      INTEGER NOT NULL,
    ingested      INTEGER NOT NULL,
    ingested_by   INTEGER NOT NULL,
    severity      INTEGER NOT NULL,      -- enum td_severity: 0 none .. 4 critical
    labels        INTEGER NOT NULL,      -- predicted label bits
    flags         INTEGER NOT NULL,
    verdict       TEXT NOT NULL,         -- td_verdict_to_json()
    model_version TEXT,
    status        TEXT NOT NULL DEFAULT 'unreviewed'
                  CHECK (status IN ('unreviewed','reviewed','escalated','dismissed')),
    status_reason TEXT,
    status_by     INTEGER,
    status_time   INTEGER,
    UNIQUE (office_id, client_key)
);
-- The queue's order: unreviewed first, severity, newest.
CREATE INDEX messages_queue ON messages(office_id, status, severity DESC, received DESC);
CREATE INDEX messages_sender ON messages(office_id, sender, received DESC);

CREATE TABLE senders (
    office_id      INTEGER NOT NULL REFERENCES offices(id),
    key            TEXT NOT NULL,
    display        TEXT,
    messages       INTEGER NOT NULL DEFAULT 0,
    threats        INTEGER NOT NULL DEFAULT 0,
    worst_severity INTEGER NOT NULL DEFAULT 0,
    first_seen     INTEGER NOT NULL,
    last_seen      INTEGER NOT NULL,
    PRIMARY KEY (office_id, key)
);

CREATE TABLE cases (
    id          INTEGER PRIMARY KEY,
    office_id   INTEGER NOT NULL REFERENCES offices(id),
    type        TEXT NOT NULL CHECK (type IN ('online_threat','harassment','assault',
                  'criminal_damage','intimidation_polling_station','intimidation_meeting',
                  'disinformation','other')),
    status      TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new','triaged',
                  'reported_to_police','under_investigation','closed')),
    reported    INTEGER NOT NULL DEFAULT 0,  -- 1 once it reached reported_to_police
    title       TEXT NOT NULL,
    description TEXT,
    occurred    INTEGER,
    place       TEXT,                        -- JSON {constituency,address,lat,lon}
    people      TEXT,                        -- JSON array
    police_ref  TEXT,
    assignee    INTEGER REFERENCES users(id),
    created     INTEGER NOT NULL,
    created_by  INTEGER NOT NULL,
    updated     INTEGER NOT NULL
);
CREATE INDEX cases_office ON cases(office_id, created DESC);

CREATE TABLE case_messages (
    case_id    INTEGER NOT NULL REFERENCES cases(id),
    message_id INTEGER NOT NULL REFERENCES messages(id),
    linked     INTEGER NOT NULL,
    PRIMARY KEY (case_id, message_id)
);
CREATE INDEX case_messages_msg ON case_messages(message_id);

CREATE TABLE evidence (
    id        INTEGER PRIMARY KEY,
    office_id INTEGER NOT NULL REFERENCES offices(id),
    case_id   INTEGER NOT NULL REFERENCES cases(id),
    name      TEXT,
    type      TEXT,
    size      INTEGER NOT NULL,
    sha256    TEXT NOT NULL,                 -- file: <data_dir>/evidence/ab/cdef...
    added     INTEGER NOT NULL,
    added_by  INTEGER NOT NULL
);
CREATE INDEX evidence_case ON evidence(case_id);

CREATE TABLE notes (
    id        INTEGER PRIMARY KEY,
    office_id INTEGER NOT NULL REFERENCES offices(id),
    case_id   INTEGER NOT NULL REFERENCES cases(id),
    user_id   INTEGER NOT NULL,
    text      TEXT NOT NULL,
    created   INTEGER NOT NULL
);
CREATE INDEX notes_case ON notes(case_id);

-- The append-only, hash-chained audit log.  AUTOINCREMENT keeps the highest
-- id ever used in sqlite_sequence, which lets verify notice a deleted tail.
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    time        INTEGER NOT NULL,
    office_id   INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   INTEGER NOT NULL,
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_object ON audit(office_id, object_type, object_id);

-- Append-only in the database itself.  Someone with the sqlite3 shell can
-- drop these triggers; that is why `threatdesk verify` recomputes the chain.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only');
END;
