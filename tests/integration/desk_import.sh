#!/usr/bin/env bash
# desk_import.sh - `threatdesk import`: everything an office received filed
# into the desk through the one pipeline `scan`, `fetch` and the server use
# (issue 8, "Daily use"):
#   - mbox, .eml, Maildir and social exports filed, each message once (the
#     repeated mbox message is a duplicate, not filed);
#   - importing the same files again files nothing (the desk remembers);
#   - senders are canonical keys, so history counts a person once across
#     spellings (Gmail dots and +tags);
#   - the attachments of an e-mail are on the stored message;
#   - an original too large to keep whole is refused, never kept cut short;
#   - a typo'd office is refused, not created; `verify` passes afterwards.
# Usage: desk_import.sh PATH/TO/threatdesk   (from the repository root)
set -uo pipefail
td=${1:?usage: desk_import.sh threatdesk-binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { if eval "$2"; then ok; else bad "$1"; fi; }
E=tests/fixtures/email
S=tests/fixtures/social
D=(--db "$tmp/desk.db" --data-dir "$tmp/data")
q() { sqlite3 "$tmp/desk.db" "$1"; }

"$td" office add default "${D[@]}" >/dev/null 2>&1
"$td" import "${D[@]}" --office defualt "$E/01_plain_utf8.eml" >/dev/null 2>"$tmp/err0"
check "an office that does not exist is refused (exit 2)" '[ $? -eq 2 ] && grep -q defualt "$tmp/err0"'
check "... and not created" '[ "$(q "SELECT count(*) FROM offices WHERE name = '"'"'defualt'"'"'")" = 0 ]'

"$td" import "${D[@]}" "$E/18_inbox.mbox" "$E/12_attachments.eml" "$E/01_plain_utf8.eml" \
  "$E/maildir" "$S/twitter_archive_tweets.js" >"$tmp/out1" 2>"$tmp/err1"
rc=$?
check "import exits 0 (got $rc: $(head -c 300 "$tmp/err1"))" '[ $rc -eq 0 ]'
n1=$(q "SELECT count(*) FROM messages")
check "messages filed ($n1), the summary says so" 'grep -q "$n1 filed" "$tmp/out1"'
check "the repeated mbox message is one message" \
  '[ "$(q "SELECT count(*) FROM messages WHERE message_id = '"'"'18.a@example.net'"'"'")" = 1 ]'
check "the duplicate is reported, not filed" 'grep -Eq "[1-9][0-9]* duplicates?" "$tmp/out1"'
check "senders are canonical keys (Gmail dots removed)" \
  '[ "$(q "SELECT count(*) FROM senders WHERE key LIKE '"'"'%mark.hollis%'"'"'")" = 0 ] && [ "$(q "SELECT messages > 0 FROM senders WHERE key = '"'"'email:markhollis@gmail.com'"'"'")" = 1 ]'
mark=$(q "SELECT messages FROM senders WHERE key = 'email:markhollis@gmail.com'")
check "the e-mail's attachments are on the stored message" \
  '[ "$(q "SELECT json_extract(attachments, '"'"'\$[0].name'"'"') FROM messages WHERE message_id = '"'"'12.att@example.com'"'"'")" = leaflet.pdf ]'
check "originals kept exactly (the .eml byte for byte)" \
  '[ "$(q "SELECT hex(original) FROM messages WHERE message_id = '"'"'12.att@example.com'"'"'")" = "$(od -An -tx1 -v "$E/12_attachments.eml" | tr -d " \n" | tr a-f A-F)" ]'

"$td" import "${D[@]}" --json "$E/18_inbox.mbox" "$E/12_attachments.eml" "$E/01_plain_utf8.eml" \
  "$E/maildir" "$S/twitter_archive_tweets.js" >"$tmp/out2.jsonl" 2>"$tmp/err2"
check "importing again exits 0" '[ $? -eq 0 ]'
check "... files nothing new" '[ "$(q "SELECT count(*) FROM messages")" = "$n1" ]'
check "... every record a duplicate" \
  '! grep -v "\"status\":\"duplicate\"" "$tmp/out2.jsonl" | grep -q .'

# One person, another spelling: their history counts them once.
printf '{"id":"x1","text":"I will find you, you traitor","sender":"Mark.Hollis+mp@gmail.com"}\n' >"$tmp/more.jsonl"
"$td" import "${D[@]}" "$tmp/more.jsonl" >/dev/null 2>"$tmp/err3"
check "another spelling of a sender is the same sender" \
  '[ "$(q "SELECT messages FROM senders WHERE key = '"'"'email:markhollis@gmail.com'"'"'")" = $((mark + 1)) ]'

# An original too large to keep whole is refused, naming it - never filed
# cut short or with the text in its place (scan still analyses it).
n2=$(q "SELECT count(*) FROM messages")
"$td" import "${D[@]}" --max-record 1000 "$E/16_wide.eml" "$E/12_attachments.eml" >/dev/null 2>"$tmp/err4"
rc=$?
check "an over-size original: exit 1, the refusal names the original ($(head -c 200 "$tmp/err4"))" \
  '[ $rc -eq 1 ] && grep -q "field .original." "$tmp/err4" && grep -q "larger than the 1000-byte limit" "$tmp/err4"'
check "... and nothing of it was stored" '[ "$(q "SELECT count(*) FROM messages")" = "$n2" ]'

"$td" verify "${D[@]}" >"$tmp/verify" 2>&1
check "verify passes after the imports ($(tail -1 "$tmp/verify"))" '[ $? -eq 0 ]'

echo "desk_import: $pass passed, $fail failed"
[ $fail -eq 0 ]
