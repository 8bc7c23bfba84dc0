-- 0014_message_ids.sql - nothing to do on SQLite.  The PostgreSQL twin
-- (../postgres/0014_message_ids.sql) lets the app role take message ids
-- from the messages' sequence ahead of a batch's INSERTs; SQLite's INSERT
-- answers its rowid without a round trip.  This file keeps the version
-- numbers of both backends equal.
SELECT 1;
