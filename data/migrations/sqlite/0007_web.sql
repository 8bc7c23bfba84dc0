-- 0007_web.sql - the web desk's queue (issue 9) at office scale.
--
-- The triage queue is counted and paged on every page load and every live
-- arrival.  Its filter (store/sqlite.c QUEUE_WHERE) reads office, status,
-- severity, received, labels, channel and sender; with all of them in one
-- index the count and the page's ids come from the index alone, without
-- reading the wide message rows (text, original, verdict).  Measured with
-- bench/bench_web.sh on 10,000 messages: the count went from 39 ms to
-- 1 ms, the page's ids from 74 ms to 14 ms.
CREATE INDEX IF NOT EXISTS messages_web_triage
    ON messages(office_id, status, severity, received, labels, channel, sender);
