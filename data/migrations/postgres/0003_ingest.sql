-- 0003_ingest.sql - one pipeline for everything an office receives, and
-- UK GDPR retention and erasure; mirrors ../sqlite/0003_ingest.sql (see it
-- for what content_key, attachments and retention_days mean).

ALTER TABLE messages ADD COLUMN content_key text;
ALTER TABLE messages ADD COLUMN attachments text;
CREATE INDEX messages_content ON messages(office_id, content_key);
ALTER TABLE offices ADD COLUMN retention_days bigint;
