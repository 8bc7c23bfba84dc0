#!/usr/bin/env bash
# desk_verify_tamper.sh - `threatdesk verify` against an attacker with the
# sqlite3 shell.  Builds a real store with the `user` command (every account
# change is an audit entry), checks that it verifies, that the append-only
# triggers refuse a plain UPDATE, then drops them, alters one audit row and
# expects verify to exit 1 naming that entry; then a deleted row.
# Then the rows the chain vouches for (issue 8): a desk filled over HTTP
# (messages, a case with a police reference, a note, evidence), and each of
# these edited or deleted with the sqlite3 shell while the chain stays
# intact - verify names every one by kind and id.
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

# Offices are made on purpose: a typo in --office is refused, not created.
set +e
echo 'first-password-1' | "$TD" user add alice --office ofice-a --role caseworker "${opts[@]}" >/dev/null 2>&1; rc0=$?
set -e
[[ $rc0 == 1 ]] || fail "user add with an unknown office: exit $rc0 (want 1)"
"$TD" office add office-a "${opts[@]}" >/dev/null
"$TD" office add office-b "${opts[@]}" >/dev/null
"$TD" office list "${opts[@]}" | grep -q '"name":"office-b"' || fail "office list"
[[ $(sqlite3 "$db" 'SELECT count(*) FROM offices') == 2 ]] || fail "a typo made an office"

# Accounts: passwords come from stdin, never argv.
echo 'first-password-1' | "$TD" user add alice --office office-a --role caseworker "${opts[@]}" >/dev/null
echo 'second-password-2' | "$TD" user add bob --office office-b --role admin "${opts[@]}" >/dev/null
"$TD" user role alice security "${opts[@]}" >/dev/null
echo 'third-password-3' | "$TD" user passwd alice "${opts[@]}" >/dev/null
key=$("$TD" user key bob --label test "${opts[@]}")
[[ $key =~ ^[0-9a-f]{64}$ ]] || fail "user key printed '$key'"

# Credentials are listed and revoked from the CLI too (issue 8).
"$TD" user list "${opts[@]}" | grep -q '"name":"alice"' || fail "user list"
keys=$("$TD" user key list bob "${opts[@]}")
grep -q '"label":"test"' <<<"$keys" || fail "user key list: $keys"
grep -q "$key" <<<"$keys" && fail "user key list shows the key itself"
kid=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$keys" | head -1)
key2=$("$TD" user key bob --label spare "${opts[@]}")
"$TD" user key revoke "$kid" "${opts[@]}" | grep -q "key $kid revoked" || fail "user key revoke"
"$TD" user key list bob "${opts[@]}" | grep "\"id\":$kid," | grep -q '"revoked":' || fail "key $kid not marked revoked"
"$TD" user disable alice "${opts[@]}" | grep -q 'disabled' || fail "user disable"
"$TD" user list "${opts[@]}" | grep '"name":"alice"' | grep -q '"disabled":1' || fail "alice not disabled"
"$TD" user enable alice "${opts[@]}" >/dev/null || fail "user enable"
set +e
"$TD" user disable bob "${opts[@]}" >/dev/null 2>&1; rc_last=$?
set -e
[[ $rc_last == 1 ]] || fail "the last admin of office-b was disabled (exit $rc_last)"
[[ -n $key2 ]] || fail "second key"

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
(( entries >= 11 )) || fail "only $entries audit entries"

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

# ---- rows against the chain -------------------------------------------------
db2=$dir/rows.db
data2=$dir/rows-data
"$TD" serve --listen 127.0.0.1:0 --db "$db2" --data-dir "$data2" >"$dir/out" 2>"$dir/log" &
pid=$!
trap 'kill -KILL $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 300); do grep -q '^listening on ' "$dir/out" && break; kill -0 $pid || fail "server died: $(cat "$dir/log")"; sleep 0.1; done
base=$(sed -n 's/^listening on //p' "$dir/out")
pw=$(sed -n 's/.*one-time password: //p' "$dir/out")
[[ -n $base && -n $pw ]] || fail "server did not start"
j() { curl -s -m 20 -H 'Content-Type: application/json' "$@"; }
token() { python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }
tok=$(j -d "{\"username\":\"admin\",\"password\":\"$pw\"}" "$base/v1/login" | token)
# The one-time password is replaced first (nothing else is allowed before).
j -X PATCH -H "Authorization: Bearer $tok" -d '{"password":"a-real-admin-password"}' "$base/v1/users/admin" >/dev/null
tok=$(j -d '{"username":"admin","password":"a-real-admin-password"}' "$base/v1/login" | token)
A="Authorization: Bearer $tok"
for i in 1 2 3 4; do
  j -H "$A" -d "{\"text\":\"message number $i\",\"client_key\":\"r$i\"}" "$base/v1/messages" >/dev/null
done
case_id=$(j -H "$A" -d '{"type":"online_threat","title":"letters","police_ref":"WYP-1"}' "$base/v1/cases" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
j -H "$A" -d '{"text":"called the police"}' "$base/v1/cases/$case_id/notes" >/dev/null
curl -s -m 20 -H "$A" -H 'Content-Type: image/png' --data-binary 'PNG bytes' "$base/v1/cases/$case_id/evidence?name=p.png" >/dev/null
kill -TERM $pid; wait $pid || true
ropts=(--db "$db2" --data-dir "$data2")
[[ $(sqlite3 "$db2" 'SELECT count(*) FROM messages') == 4 ]] || fail "4 messages not stored"
out=$("$TD" verify "${ropts[@]}") || fail "filled desk did not verify: $out"
[[ $(stat -c %a "$db2") == 600 ]] || fail "store mode $(stat -c %a "$db2"), want 600"

sqlite3 "$db2" "UPDATE messages SET text = 'nothing', original = CAST('nothing' AS BLOB) WHERE id = 1;
                UPDATE messages SET original = CAST('forged original' AS BLOB) WHERE id = 2;
                DELETE FROM messages WHERE id = 3;
                UPDATE cases SET police_ref = 'WYP-2' WHERE id = $case_id;
                UPDATE notes SET text = 'nothing happened';
                DELETE FROM evidence;"
set +e
out=$("$TD" verify "${ropts[@]}"); rc=$?
set -e
[[ $rc == 1 ]] || fail "verify exit $rc after editing rows (want 1): $out"
for want in '^BROKEN message 1: original altered' '^BROKEN message 1: text altered' \
            '^BROKEN message 2: original altered' '^BROKEN message 3: missing' \
            "^BROKEN case $case_id: police_ref altered" '^BROKEN note 1: text altered' \
            '^BROKEN evidence 1: missing'; do
  grep -q "$want" <<<"$out" || fail "verify did not report '$want': $out"
done
if grep -q '^BROKEN audit' <<<"$out"; then fail "the chain itself was not touched: $out"; fi
grep -q 'expected: WYP-1' <<<"$out" || fail "police reference values not shown: $out"
echo "desk_verify_tamper: ok ($entries audit entries)"
