-- 0010_cross_office.sql - nothing to do on SQLite.  The PostgreSQL twin
-- (../postgres/0010_cross_office.sql) lets the cross-office jobs past
-- row-level security, which SQLite does not have; this file keeps the
-- version numbers of both backends equal.
SELECT 1;
