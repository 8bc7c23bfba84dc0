-- 0014_message_ids.sql - the app role may take message ids from the
-- messages' sequence (issue 11: ingest throughput).
--
-- Inside a batch's transaction the store takes the ids of the records it
-- may file in one statement (nextval, src/store/pg_store.c,
-- td__pgs_message_id) and sends each message's INSERT, with its id, ahead
-- in the pipeline instead of waiting for INSERT ... RETURNING id: one
-- waited round trip per message less.  An identity column's own default
-- needs no privilege on its sequence; an explicit nextval does.
DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SEQUENCE %s TO threatdesk_app',
                   pg_get_serial_sequence('messages', 'id'));
END
$$;
