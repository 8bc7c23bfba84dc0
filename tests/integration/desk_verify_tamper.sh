#!/usr/bin/env bash
# desk_verify_tamper.sh - `threatdesk verify` against an attacker with the
# sqlite3 shell.  Builds a real store with the `user` command (every account
# change is an audit entry), checks that it verifies, that the append-only
# triggers refuse a plain UPDATE, then drops them, alters one audit row and
# expects verify to exit 1 naming that entry; then a deleted row.
#
#   bash tests/integration/desk_verify_tamper.sh path/to/threatdesk
set -euo pipefail
TD=${1:?usage: $0 path/to/threatdesk}
command -v sqlite3 >/dev/null || { echo "sqlite3 shell not installed" >&2; exit 1; }
dir=$(mktemp -d /tmp/td-verify-XXXXXX)
trap 'rm -rf "$dir"' EXIT
db=$dir/desk.db
opts=(--db "$db" --data-dir "$dir/data")
fail() { echo "FAIL: $*" >&2; exit 1; }

# Accounts: passwords come from stdin, never argv.
echo 'first-password-1' | "$TD" user add alice --office office-a --role caseworker "${opts[@]}" >/dev/null
echo 'second-password-2' | "$TD" user add bob --office office-b --role admin "${opts[@]}" >/dev/null
"$TD" user role alice security "${opts[@]}" >/dev/null
echo 'third-password-3' | "$TD" user passwd alice "${opts[@]}" >/dev/null
key=$("$TD" user key bob --label test "${opts[@]}")
[[ $key =~ ^[0-9a-f]{64}$ ]] || fail "user key printed '$key'"

# Refusals: unknown role, duplicate user, password on the command line.
set +e
echo 'x-password-9' | "$TD" user add carol --office o --role wizard "${opts[@]}" 2>/dev/null; rc1=$?
echo 'x-password-9' | "$TD" user add alice --office o --role observer "${opts[@]}" 2>/dev/null; rc2=$?
"$TD" user add dave --office o --role observer 'my-password' "${opts[@]}" </dev/null 2>/dev/null; rc3=$?
set -e
[[ $rc1 == 2 ]] || fail "unknown role: exit $rc1"
[[ $rc2 == 1 ]] || fail "duplicate user: exit $rc2"
[[ $rc3 == 2 ]] || fail "password in argv accepted: exit $rc3"

# Secrets are not in the file.
for s in first-password-1 third-password-3 "$key"; do
    if grep -aq -- "$s" "$db" "$db-wal" 2>/dev/null; then fail "secret '$s' stored in clear"; fi
done

out=$("$TD" verify "${opts[@]}") || fail "intact store did not verify: $out"
grep -q 'verify: intact' <<<"$out" || fail "no 'intact' line: $out"
entries=$(sqlite3 "$db" 'SELECT count(*) FROM audit')
(( entries >= 7 )) || fail "only $entries audit entries"

# The triggers refuse a plain edit.
if sqlite3 "$db" "UPDATE audit SET details = '{}' WHERE id = 3" 2>/dev/null; then
    fail "audit UPDATE was allowed"
fi
"$TD" verify "${opts[@]}" >/dev/null || fail "verify failed after a refused edit"

# The attacker drops the triggers and rewrites entry 3 (who got which role).
sqlite3 "$db" "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;
               UPDATE audit SET details = '{\"name\":\"mallory\"}' WHERE id = 3;"
set +e
out=$("$TD" verify "${opts[@]}"); rc=$?
set -e
[[ $rc == 1 ]] || fail "verify exit $rc after tampering (want 1): $out"
grep -q '^BROKEN audit entry 3: entry altered' <<<"$out" || fail "entry 3 not named: $out"
grep -q 'expected: [0-9a-f]\{64\}' <<<"$out" || fail "no expected hash: $out"

# Deleting a later row is reported at the gap.
sqlite3 "$db" "DELETE FROM audit WHERE id = 5;"
set +e
out=$("$TD" verify "${opts[@]}"); rc=$?
set -e
[[ $rc == 1 ]] || fail "verify exit $rc after a deletion"
grep -q '^BROKEN audit entry 6: missing entry' <<<"$out" || fail "deletion not named: $out"

# No store at all is an error, not a pass.
set +e
"$TD" verify --db "$dir/nope.db" --data-dir "$dir/data" >/dev/null 2>&1; rc=$?
set -e
[[ $rc == 2 ]] || fail "missing store: exit $rc"
echo "desk_verify_tamper: ok ($entries audit entries)"
