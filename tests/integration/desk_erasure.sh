#!/usr/bin/env bash
# desk_erasure.sh - UK GDPR from the command line (issue 8, "Daily use"):
#   threatdesk erase-sender removes a sender's messages (any spelling of
#   them), leaves audited tombstones (hash, date, who) and `verify` still
#   passes; retention --set / --apply erases old messages no case holds.
# Usage: desk_erasure.sh PATH/TO/threatdesk   (from the repository root)
set -uo pipefail
td=${1:?usage: desk_erasure.sh threatdesk-binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { if eval "$2"; then ok; else bad "$1"; fi; }
D=(--db "$tmp/desk.db" --data-dir "$tmp/data")
q() { sqlite3 "$tmp/desk.db" "$1"; }

"$td" office add default "${D[@]}" >/dev/null 2>&1
"$td" import "${D[@]}" tests/fixtures/email/18_inbox.mbox tests/fixtures/email/maildir >/dev/null 2>&1
mark=$(q "SELECT count(*) FROM messages WHERE sender = 'email:markhollis@gmail.com'")
total=$(q "SELECT count(*) FROM messages")
check "Mark Hollis has messages to erase ($mark)" '[ "$mark" -ge 1 ]'

"$td" erase-sender "${D[@]}" --office default Mark.Hollis@gmail.com >"$tmp/out" 2>&1
check "erase-sender exits 0 ($(cat "$tmp/out"))" '[ $? -eq 0 ]'
check "it says how many were erased" 'grep -q "^$mark messages\? erased" "$tmp/out"'
check "none of their messages is left" \
  '[ "$(q "SELECT count(*) FROM messages WHERE sender = '"'"'email:markhollis@gmail.com'"'"'")" = 0 ]'
check "nobody else's is gone" '[ "$(q "SELECT count(*) FROM messages")" = $((total - mark)) ]'
check "their tallies are gone" \
  '[ "$(q "SELECT count(*) FROM senders WHERE key = '"'"'email:markhollis@gmail.com'"'"'")" = 0 ]'
check "one tombstone per message: hash, date, who - never the address" \
  '[ "$(q "SELECT count(*) FROM audit WHERE action = '"'"'message.erase'"'"' AND length(json_extract(details, '"'"'\$.sha256'"'"')) = 64 AND time > 0 AND user_id = 0 AND details NOT LIKE '"'"'%hollis%'"'"'")" = "$mark" ]'
"$td" verify "${D[@]}" >"$tmp/verify" 2>&1
check "verify passes after the erasure ($(tail -1 "$tmp/verify"))" '[ $? -eq 0 ]'
"$td" erase-sender "${D[@]}" --office default nobody@example.org >/dev/null 2>&1
check "erasing someone never heard from: exit 1" '[ $? -eq 1 ]'

"$td" retention "${D[@]}" --office default --set 1 >"$tmp/ret" 2>&1
check "retention --set 1" '[ $? -eq 0 ] && grep -q "after 1 days" "$tmp/ret"'
"$td" retention "${D[@]}" --office default >"$tmp/ret" 2>&1
check "retention shows 1 days" 'grep -q "default: 1 days" "$tmp/ret"'
before=$(q "SELECT count(*) FROM messages")
left=$(q "SELECT count(*) FROM messages WHERE received < strftime('%s', 'now') - 86400")
"$td" retention "${D[@]}" --office default --apply >"$tmp/ret" 2>&1
check "retention --apply erases the mail older than a day ($left: $(cat "$tmp/ret"))" \
  '[ $? -eq 0 ] && [ "$left" -gt 0 ] && grep -q ": $left messages\? erased" "$tmp/ret" && [ "$(q "SELECT count(*) FROM messages")" = $((before - left)) ]'
check "audited: each as message.expire, the run as office.retention.apply" \
  '[ "$(q "SELECT count(*) FROM audit WHERE action = '"'"'message.expire'"'"'")" = "$left" ] && [ "$(q "SELECT count(*) FROM audit WHERE action = '"'"'office.retention.apply'"'"'")" = 1 ]'
"$td" verify "${D[@]}" >"$tmp/verify" 2>&1
check "verify passes after retention" '[ $? -eq 0 ]'

echo "desk_erasure: $pass passed, $fail failed"
[ $fail -eq 0 ]
