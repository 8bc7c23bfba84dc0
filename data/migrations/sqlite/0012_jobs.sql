-- 0012_jobs.sql - scanned letters off the request path (issue 11): the
-- upload is kept as it arrived and a job queued for it in the same
-- transaction; `threatdesk worker` processes (any number, on one database)
-- claim the jobs, OCR and analyse the letter and file it as a message.
--
-- jobs mirrors PostgreSQL's 0008_jobs.sql column for column, so a migrate
-- tool copies rows unchanged.  SQLite has no SKIP LOCKED: a claim is one
-- UPDATE ... RETURNING inside BEGIN IMMEDIATE (src/store/sqlite_jobs.c), so
-- claimers in several processes take the write lock one after the other
-- and never get the same row.  A claim is a lease: a worker killed mid-job
-- leaves the job `running` until lease_until, when it is due again.
--
-- payload_ref names what to work on (an upload id), never the bytes.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    office_id    INTEGER NOT NULL REFERENCES offices(id),
    kind         TEXT NOT NULL,
    payload_ref  TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued','running','done','failed')),
    claimed_by   TEXT,
    claimed_at   INTEGER,
    lease_until  INTEGER,
    attempts     INTEGER NOT NULL DEFAULT 0,
    available_at INTEGER NOT NULL,
    created      INTEGER NOT NULL,
    finished_at  INTEGER,
    last_error   TEXT
);
-- Only the claimable rows are indexed, so the index stays as small as the
-- backlog however many jobs are done.
CREATE INDEX jobs_due ON jobs(available_at, id) WHERE state = 'queued';
CREATE INDEX jobs_leased ON jobs(lease_until) WHERE state = 'running';
CREATE INDEX jobs_office ON jobs(office_id, id);

-- A scanned letter as it arrived, until (and after) a worker files it.
-- The bytes are kept whatever happens to the OCR, so a failed letter can be
-- read by a person and nothing acknowledged is lost.  state: queued (a job
-- is waiting), processing (a worker has it), done (message_id is the
-- filed message), failed (error says why; attempts how often it was tried).
CREATE TABLE uploads (
    id          INTEGER PRIMARY KEY,
    office_id   INTEGER NOT NULL REFERENCES offices(id),
    client_key  TEXT,
    kind        TEXT NOT NULL CHECK (kind IN ('png','jpeg','tiff','pdf')),
    name        TEXT,
    original    BLOB NOT NULL,
    sha256      TEXT NOT NULL,
    received    INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    created_by  INTEGER NOT NULL,
    state       TEXT NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued','processing','done','failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    message_id  INTEGER REFERENCES messages(id) ON DELETE SET NULL,
    error       TEXT,
    updated     INTEGER NOT NULL,
    UNIQUE (office_id, client_key)
);
CREATE INDEX uploads_office ON uploads(office_id, id);
