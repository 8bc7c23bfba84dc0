-- 0007_web.sql - the web desk's queue (issue 9) at office scale; mirrors
-- ../sqlite/0007_web.sql: the count and the page's ids come from this
-- index alone, without reading the wide message rows.
CREATE INDEX IF NOT EXISTS messages_web_triage
    ON messages(office_id, status, severity, received, labels, channel, sender);
