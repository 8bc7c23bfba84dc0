-- 0003_ingest.sql - one pipeline for everything an office receives, and
-- UK GDPR retention and erasure (issue 8, "Daily use" and "Correctness").
--
-- content_key: dedupe.h's rule 2 key (the sender and the normalised text,
-- hashed), so the desk recognises the same words from the same sender
-- arriving twice, as `scan` does.  attachments: what the e-mail carried,
-- [{"name","type","size","sha256"}] as JSON text (the bytes stay in the
-- original).  retention_days: messages no case holds are erased after this
-- many days by `threatdesk retention --apply` (NULL: kept).

ALTER TABLE messages ADD COLUMN content_key TEXT;
ALTER TABLE messages ADD COLUMN attachments TEXT;
CREATE INDEX messages_content ON messages(office_id, content_key);
ALTER TABLE offices ADD COLUMN retention_days INTEGER;
