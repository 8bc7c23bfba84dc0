#!/usr/bin/env bash
# postgres_verify.sh - `threatdesk verify` on a postgres:// store (issue
# 11): the owner's first open migrates, the servers' app role then works on
# the migrated database, verify (as the app role, through row-level
# security, across offices) says intact and exits 0; after an entry of
# one office's chain is altered behind the desk's back (a superuser drops
# the append-only trigger), verify names that office's entry and exits 1.
# $1: the threatdesk binary.
set -uo pipefail
cd "$(dirname "$0")/../.."
td=${1:?usage: postgres_verify.sh THREATDESK}
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
  echo "SKIP: no PostgreSQL server binaries (scripts/install-deps.sh installs postgresql)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 700 "$work"
export TD="$td" WORK="$work" THREATDESK_HOME=$PWD
bash tests/support/pg-temp.sh run bash -c '
  fail=0
  ok() { echo "ok: $*"; }
  bad() { echo "FAIL: $*"; fail=1; }
  data="$WORK/data"
  admin=$(cat "$TD_PG_DIR/admin_url")
  "$TD" office add office-a --db "$TD_PG_URL" --data-dir "$data" >/dev/null &&
    ok "the owner opens (and migrates) a new database" || bad "office add as the owner"
  "$TD" office add office-b --db "$TD_PG_APP_URL" --data-dir "$data" >/dev/null &&
    ok "the app role opens the migrated database" || bad "office add as the app role"
  out=$("$TD" verify --db "$TD_PG_APP_URL" --data-dir "$data" 2>&1)
  rc=$?
  [ $rc = 0 ] && echo "$out" | grep -q "audit: 2 entries" && echo "$out" | grep -q intact &&
    ok "verify: both offices chains intact (exit 0)" || bad "verify intact: rc $rc: $out"
  psql "$admin" -XAqc "ALTER TABLE audit DISABLE TRIGGER audit_no_update;
    UPDATE audit SET details = '"'"'{}'"'"' WHERE seq = 1
      AND office_id = (SELECT id FROM offices WHERE name = '"'"'office-b'"'"')" >/dev/null ||
    bad "tamper"
  out=$("$TD" verify --db "$TD_PG_APP_URL" --data-dir "$data" 2>&1)
  rc=$?
  ob=$(psql "$admin" -XAtc "SELECT id FROM offices WHERE name = '"'"'office-b'"'"'")
  [ $rc = 1 ] && echo "$out" | grep -q "office $ob: entry altered" &&
    ok "verify: the altered entry of office-b is named (exit 1)" || bad "verify after tamper: rc $rc: $out"
  exit $fail
'
