-- 0009_queue_order.sql - the triage queue's order served by one index;
-- mirrors ../sqlite/0009_queue_order.sql (read its header for the why).
--
-- The queue's ORDER BY must name the column, not the expression, for this
-- index to serve it (PostgreSQL does not match (status = 'unreviewed')
-- against a column generated from it):
--     ORDER BY m.unreviewed DESC, m.severity DESC, m.received DESC, m.id DESC
-- and a page is then an index scan on messages_triage with office_id = $1,
-- no Sort node.
--
-- STORED (PostgreSQL 15 has no virtual generated columns); the same 0/1
-- values as SQLite's, so a row reads the same on both backends.  A migrate
-- tool must leave it out of its INSERT column list (GENERATED ALWAYS:
-- PostgreSQL computes it, and refuses a value).
--
-- The filter columns are INCLUDE columns here: they are only compared,
-- never ordered on, so they need not be in the B-tree's upper levels; an
-- index-only scan still reads them.  Same columns as SQLite's index.
ALTER TABLE messages ADD COLUMN unreviewed bigint NOT NULL
    GENERATED ALWAYS AS (CASE WHEN status = 'unreviewed' THEN 1 ELSE 0 END) STORED;
CREATE INDEX messages_triage ON messages(office_id, unreviewed DESC, severity DESC,
                                         received DESC, id DESC)
    INCLUDE (status, labels, channel, sender);
DROP INDEX IF EXISTS messages_web_triage;
