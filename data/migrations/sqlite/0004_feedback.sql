-- 0004_feedback.sql - learning from the office (issue 7, item 6).
--
-- message_vectors: the network's picture of each message (td_verdict.vec,
-- model format 2) as the analyser gave it at ingest, so a caseworker's
-- decision later can be remembered with it; `model` says which model drew
-- it (vectors of different models are not comparable).  Derived from the
-- message: erased with it.
--
-- feedback: one row per decision a caseworker made about a message of
-- the office - decision 'confirmed' (reviewed or escalated; `labels` the
-- confirmed label bits, 0 for "nothing there") or 'dismissed' - with the
-- message's vector at the time.  Never updated but to revoke: revoked_at /
-- revoked_by are set and the row stops counting (reversible; the audit log
-- keeps both acts).  Every query names the office: one office's decisions
-- never reach another's memory.  Erased with the message it is about.
-- vector: little-endian IEEE-754 float32 x dim.

CREATE TABLE message_vectors (
    message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    office_id  INTEGER NOT NULL REFERENCES offices(id),
    model      TEXT NOT NULL,
    vector     BLOB NOT NULL
);

CREATE TABLE feedback (
    id          INTEGER PRIMARY KEY,
    office_id   INTEGER NOT NULL REFERENCES offices(id),
    message_id  INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    decision    TEXT NOT NULL CHECK (decision IN ('confirmed','dismissed')),
    labels      INTEGER NOT NULL DEFAULT 0,
    model       TEXT NOT NULL,
    vector      BLOB NOT NULL,
    weight      REAL NOT NULL DEFAULT 1.0,
    user_id     INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    revoked_at  INTEGER,
    revoked_by  INTEGER
);
CREATE INDEX feedback_office ON feedback(office_id, revoked_at, id);
CREATE INDEX feedback_message ON feedback(office_id, message_id);
