-- 0005_alerts.sql - telling someone at once when something serious
-- arrives (issue 10, alerts).
--
-- alert_recipients: the people (or bridges) an office alerts, each with an
--   e-mail address and/or a webhook URL (+ its HMAC secret, which the API
--   never returns).
-- alert_rules: which messages alert (min tier; any of `labels`, 0 = any;
--   all of `flags`), on which channels (bits: 1 e-mail, 2 webhook,
--   4 browser), quiet hours [quiet_start, quiet_end) in minutes of the
--   office's day (NULL: none; they never hold back `critical`), and the
--   rota: a JSON array of recipient ids - step 0 is told first, and step
--   k+1 when nobody acknowledged within escalate_minutes.
-- alerts: one per (message, rule) - UNIQUE, so a message re-filed, a
--   retried request or a second worker can never make a second alert.
--   Written in the SAME transaction as the message.  `step` is the rota
--   position told last, at stepped_at; the next one is told when nobody
--   acknowledged within the rule's escalate_minutes of that.  The ack
--   link's token is an HMAC of the alert id under a key kept beside the
--   evidence (not in this file), so a copy of the database holds none.
-- alert_deliveries: the outbox - one per (alert, step, channel, target),
--   UNIQUE for the same reason.  pending -> sending (leased until
--   lease_until, so a worker killed mid-send leaves it due again) ->
--   delivered | pending (retry at next_attempt_at) | failed (gave up).
-- alert_attempts: every attempt, its outcome and why.
CREATE TABLE alert_recipients (
    id             INTEGER PRIMARY KEY,
    office_id      INTEGER NOT NULL REFERENCES offices(id),
    name           TEXT NOT NULL,
    email          TEXT,
    webhook_url    TEXT,
    webhook_secret TEXT,
    created        INTEGER NOT NULL,
    UNIQUE (office_id, name)
);

CREATE TABLE alert_rules (
    id               INTEGER PRIMARY KEY,
    office_id        INTEGER NOT NULL REFERENCES offices(id),
    name             TEXT NOT NULL,
    min_severity     INTEGER NOT NULL,
    labels           INTEGER NOT NULL DEFAULT 0,
    flags            INTEGER NOT NULL DEFAULT 0,
    channels         INTEGER NOT NULL,
    quiet_start      INTEGER,
    quiet_end        INTEGER,
    escalate_minutes INTEGER NOT NULL DEFAULT 0,
    rota             TEXT NOT NULL,
    disclose         TEXT NOT NULL DEFAULT 'minimal' CHECK (disclose IN ('minimal','subject')),
    enabled          INTEGER NOT NULL DEFAULT 1,
    created          INTEGER NOT NULL,
    created_by       INTEGER NOT NULL,
    UNIQUE (office_id, name)
);

CREATE TABLE alerts (
    id             INTEGER PRIMARY KEY,
    office_id      INTEGER NOT NULL REFERENCES offices(id),
    message_id     INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    rule_id        INTEGER NOT NULL REFERENCES alert_rules(id),
    created        INTEGER NOT NULL,
    step           INTEGER NOT NULL DEFAULT 0,
    stepped_at     INTEGER NOT NULL,
    acked_at       INTEGER,
    acked_by       INTEGER,
    acked_via      TEXT,
    UNIQUE (message_id, rule_id)
);
CREATE INDEX alerts_office ON alerts(office_id, id);
CREATE INDEX alerts_open ON alerts(acked_at, stepped_at);

CREATE TABLE alert_deliveries (
    id              INTEGER PRIMARY KEY,
    alert_id        INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    office_id       INTEGER NOT NULL REFERENCES offices(id),
    step            INTEGER NOT NULL,
    recipient_id    INTEGER NOT NULL REFERENCES alert_recipients(id),
    channel         TEXT NOT NULL CHECK (channel IN ('email','webhook')),
    target          TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending','sending','delivered','failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_error      TEXT,
    delivered_at    INTEGER,
    UNIQUE (alert_id, step, channel, target)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries(state, next_attempt_at);

CREATE TABLE alert_attempts (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES alert_deliveries(id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('delivered','failed','gave_up')),
    error       TEXT
);
CREATE INDEX alert_attempts_delivery ON alert_attempts(delivery_id, id);
