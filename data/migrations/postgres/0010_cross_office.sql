-- 0010_cross_office.sql - the cross-office jobs under row-level security
-- (issue 11).  The alert delivery worker, escalations, the retention
-- sweep and `threatdesk verify` read and write every office's rows; the
-- store asks for that with td__pgs_scope(office < 0), which sets
-- threatdesk.office_id to '*' (src/store/pg_store.c).
--
-- '*' is admitted by an extra permissive policy, all_offices, on every
-- table that has an office_only policy (permissive policies are OR'ed).
-- It gives a caller no power it lacked: any role may set the setting to
-- any office id anyway.  RLS here is the second wall against a query that
-- forgets its office filter; the one-office ops never ask for '*', so a
-- forgotten filter in them still sees its own office only.
--
-- SQLite has no RLS: ../sqlite/0010_cross_office.sql records the same
-- version number and does nothing, so both backends answer the same
-- schema version.

-- '*' (and '') name no single office: td_current_office() is NULL then,
-- instead of failing to cast '*' to bigint.  Still a plain SQL function
-- PostgreSQL inlines, so office_id = td_current_office() keeps its index.
CREATE OR REPLACE FUNCTION td_current_office() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN current_setting('threatdesk.office_id', true) IN ('', '*') THEN NULL
                      ELSE current_setting('threatdesk.office_id', true)::bigint END $$;

CREATE FUNCTION td_all_offices() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('threatdesk.office_id', true) = '*', false) $$;

DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT DISTINCT tablename FROM pg_policies
             WHERE schemaname = current_schema() AND policyname = 'office_only'
    LOOP
        EXECUTE format('CREATE POLICY all_offices ON %I USING (td_all_offices()) '
                       'WITH CHECK (td_all_offices())', t.tablename);
    END LOOP;
END
$$;
