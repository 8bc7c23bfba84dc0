-- 0009_queue_order.sql - the triage queue's order served by one index
-- (issue 11, "Scale, measured").
--
-- The queue sorts unreviewed first, then severity, then newest received,
-- then id (store/sqlite.c QUEUE_ORDER).  It used to sort on the expression
-- (status = 'unreviewed'), which no index held: every page sorted the
-- whole office in a temp B-tree (0.6-0.8 s for the first page of an office
-- of 94,000 messages, 2.1 s deep in the cursor).
--
-- `unreviewed` is that expression as a column, and messages_triage is the
-- ORDER BY key for key, so a page is a walk down the index that stops
-- after offset + limit entries.  The column is GENERATED from status, not
-- written by the store: no writer (a backend, a migrate tool, a restore)
-- can let it disagree with status.  VIRTUAL because SQLite cannot add a
-- STORED column to a table that has rows; the index holds its value, so
-- reads never compute it.
--
-- After the ORDER BY key the index carries every column the queue filters
-- on (status, labels, channel, sender), so a filtered page and the count
-- are answered from the index without reading the wide rows (text,
-- original, verdict).  That makes messages_web_triage (0007), the same
-- columns without the order, redundant: dropped, one index less to write
-- per ingested message.
--
-- PostgreSQL: ../postgres/0009_queue_order.sql, same column, same order.
ALTER TABLE messages ADD COLUMN unreviewed INTEGER NOT NULL
    GENERATED ALWAYS AS (CASE WHEN status = 'unreviewed' THEN 1 ELSE 0 END) VIRTUAL;
CREATE INDEX messages_triage ON messages(office_id, unreviewed DESC, severity DESC,
                                         received DESC, id DESC,
                                         status, labels, channel, sender);
DROP INDEX IF EXISTS messages_web_triage;
