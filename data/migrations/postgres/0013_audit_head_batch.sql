-- 0013_audit_head_batch.sql - an office's audit head moves once per
-- transaction, not once per entry (issue 11: ingest throughput).
--
-- Before, td_audit_head_forward (0001_init.sql) let audit_heads move by
-- exactly one seq per UPDATE, so a batch of 500 messages updated its
-- office's one head row 500 times in one transaction.  The store now
-- inserts a transaction's entries first and moves the head once, to the
-- last of them, before SAVEPOINT, RELEASE and COMMIT
-- (src/store/pg_store.c, head_flush), while it holds the office's audit
-- lock.
--
-- Still refused: a head that moves backwards or stays (seq must grow),
-- one that changes office, and one that moves sideways: the new
-- (seq, hash) must be an entry of the office's chain, and its last one,
-- so the head keeps naming the chain's tail as verify compares them.  The
-- chain itself (audit, append-only) is what `threatdesk verify` checks.
--
-- An INSERT (an office's first head) is not checked, as before:
-- `threatdesk migrate` may start a head past a source's deleted tail.
--
-- SQLite keeps its sqlite_sequence as the head; ../sqlite/0013_audit_head_batch.sql
-- records the same version number and does nothing.
CREATE OR REPLACE FUNCTION td_audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.office_id <> OLD.office_id OR NEW.seq <= OLD.seq THEN
        RAISE EXCEPTION 'audit head moves forward only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM audit
                   WHERE office_id = NEW.office_id AND seq = NEW.seq AND hash = NEW.hash)
       OR EXISTS (SELECT 1 FROM audit WHERE office_id = NEW.office_id AND seq > NEW.seq) THEN
        RAISE EXCEPTION 'audit head must name the last entry of its chain'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
