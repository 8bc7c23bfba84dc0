-- 0013_audit_head_batch.sql - nothing to do on SQLite.  The PostgreSQL
-- twin (../postgres/0013_audit_head_batch.sql) lets an office's audit head
-- move by several entries in one UPDATE, once per transaction; SQLite's
-- head is sqlite_sequence, which it moves itself.  This file keeps the
-- version numbers of both backends equal.
SELECT 1;
