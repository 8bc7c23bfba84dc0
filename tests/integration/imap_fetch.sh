#!/usr/bin/env bash
# imap_fetch.sh - `threatdesk fetch` against a real Dovecot started here on
# loopback (tests/fixtures/imap/dovecot.sh) with a generated user, password
# and Maildir:
#   3 delivered -> fetch gets 3, the threat ranked high/critical
#   fetch again -> 0;  2 more delivered -> exactly those 2
#   credentials: env, a 0600 config file, a 0644 one refused, none refused,
#   a URL with a password refused, a wrong password a clear error (exit 2).
# Usage: imap_fetch.sh PATH/TO/threatdesk   (run from the repository root)
set -uo pipefail
td=${1:?usage: imap_fetch.sh threatdesk-binary}
helper="$PWD/tests/fixtures/imap/dovecot.sh"
tmp=$(mktemp -d)
srv="$tmp/srv"
mkdir -p "$srv" "$tmp/home"
# as root, Dovecot's auth process runs as the dovecot user and must reach
# the passwd file in $srv (mktemp -d makes $tmp 0700)
chmod 755 "$tmp"
trap 'bash "$helper" stop "$srv" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { if eval "$2"; then ok; else bad "$1"; fi; }

user=caseworker
password="pw-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"
if ! port=$(TD_DOVECOT_OWNER=$$ bash "$helper" start "$srv" "$user" "$password"); then
  echo "FAIL: dovecot did not start"
  exit 1
fi
url="imap://127.0.0.1:$port/INBOX"
# never touch the real user's config or state
export HOME="$tmp/home" XDG_CONFIG_HOME= XDG_STATE_HOME=
unset THREATDESK_IMAP_USER THREATDESK_IMAP_PASSWORD

n=0
mail() { # mail SUBJECT BODY -> delivered
  n=$((n + 1))
  printf 'From: Sender %d <s%d@example.org>\r\nTo: mp@example.org\r\nSubject: %s\r\nMessage-ID: <t%d.%s@example.org>\r\nDate: Sun, 29 Nov 2026 04:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n' \
    $n $n "$1" $n "$port" "$2" >"$tmp/m$n.eml"
  bash "$helper" deliver "$srv" "$user" "$tmp/m$n.eml"
}

cat >"$tmp/fetch.conf" <<EOF
{"user": "$user", "password": "$password"}
EOF
chmod 600 "$tmp/fetch.conf"
state="$tmp/state.json"
F=("$td" fetch --config "$tmp/fetch.conf" --state "$state")

# 1. first fetch: all three, analysed, as JSON Lines
mail "planning" "Thank you for your help with the planning appeal last month."
mail "you" "You will be smashed and killed within days. We know where you live."
mail "bins" "When will the bins on Station Road be collected?"
"${F[@]}" --json "$url" >"$tmp/out1.jsonl" 2>"$tmp/err1.txt"
rc=$?
check "first fetch exits 0 (got $rc: $(head -c 300 "$tmp/err1.txt"))" '[ $rc -eq 0 ]'
check "first fetch gets 3 messages" '[ "$(wc -l <"$tmp/out1.jsonl")" -eq 3 ]'
python3 - "$tmp/out1.jsonl" <<'PY' || bad "first fetch JSON (see above)"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["channel"] for r in rows] == ["email"] * 3, rows
uids = [r["uid"] for r in rows]
assert uids == sorted(uids) and len(set(uids)) == 3, uids
assert all(";UID=%d" % r["uid"] in r["source"] for r in rows)
assert rows[1]["subject"] == "you" and rows[1]["sender"].endswith("s2@example.org"), rows[1]
assert rows[1]["message_id"].startswith("t2."), rows[1]
threat = rows[1]
assert "threat" in threat["predicted"], threat
assert threat["severity"] in ("high", "critical"), threat["severity"]
for r in (rows[0], rows[2]):
    assert r["severity"] == "none", (r["severity"], r["reason"])
PY
[ $? -eq 0 ] && ok
check "state file written" '[ -s "$state" ]'

# 2. nothing new: nothing fetched
"${F[@]}" --json "$url" >"$tmp/out2.jsonl" 2>"$tmp/err2.txt"
rc=$?
check "second fetch exits 0 (got $rc)" '[ $rc -eq 0 ]'
check "second fetch gets 0 messages" '[ ! -s "$tmp/out2.jsonl" ]'

# 3. two more delivered: exactly those two
mail "again" "Drop out of the election or else. We have been filming your canvassers."
mail "thanks" "Thanks for coming to the school fair on Saturday."
"${F[@]}" --json "$url" >"$tmp/out3.jsonl" 2>"$tmp/err3.txt"
rc=$?
check "third fetch exits 0 (got $rc)" '[ $rc -eq 0 ]'
check "third fetch gets exactly 2" '[ "$(wc -l <"$tmp/out3.jsonl")" -eq 2 ]'
check "the 2 are the new ones" \
  'python3 -c "import json,sys; a={json.loads(l)[\"uid\"] for l in open(sys.argv[1])}; b={json.loads(l)[\"uid\"] for l in open(sys.argv[2])}; sys.exit(0 if len(b)==2 and not a&b and min(b)>max(a) else 1)" "$tmp/out1.jsonl" "$tmp/out3.jsonl"'

# 4. the table, credentials from the environment, default state under $HOME
mail "last" "I will find you and hurt you, traitor."
THREATDESK_IMAP_USER=$user THREATDESK_IMAP_PASSWORD=$password "$td" fetch "$url" \
  >"$tmp/table.txt" 2>"$tmp/err4.txt"
rc=$?
check "env-credential fetch exits 0 (got $rc: $(head -c 300 "$tmp/err4.txt"))" '[ $rc -eq 0 ]'
# a fresh default state: everything in the mailbox is new to it
check "table counts 6 new messages" 'grep -q "^6 new messages" "$tmp/table.txt"'
check "table ranks a high/critical message first" 'sed -n 4p "$tmp/table.txt" | grep -Eq "^1 +(CRITICAL|HIGH) "'
check "default state file is under \$HOME" '[ -s "$HOME/.local/state/threatdesk/imap-state.json" ]'

# 5. credentials are guarded
chmod 644 "$tmp/fetch.conf"
"${F[@]}" "$url" >/dev/null 2>"$tmp/err5.txt"
rc=$?
check "a world-readable config is refused (exit $rc)" '[ $rc -eq 2 ] && grep -q "chmod 600" "$tmp/err5.txt"'
chmod 600 "$tmp/fetch.conf"
"$td" fetch --state "$state" "$url" >/dev/null 2>"$tmp/err6.txt"
rc=$?
check "no credentials at all: exit 2 and says how to give them" \
  '[ $rc -eq 2 ] && grep -q "THREATDESK_IMAP_USER" "$tmp/err6.txt"'
"${F[@]}" "imap://$user:$password@127.0.0.1:$port/INBOX" >/dev/null 2>"$tmp/err7.txt"
rc=$?
check "a password in the URL is refused" '[ $rc -eq 2 ] && grep -q "credentials do not belong in the URL" "$tmp/err7.txt"'
"$td" fetch --password x "$url" >/dev/null 2>&1
check "there is no --password option" '[ $? -eq 2 ]'

# 6. wrong password: a clear error, non-zero exit, the password not echoed
THREATDESK_IMAP_USER=$user THREATDESK_IMAP_PASSWORD=wrong-password "$td" fetch --state "$state" \
  "$url" >/dev/null 2>"$tmp/err8.txt"
rc=$?
check "wrong password exits 2 (got $rc)" '[ $rc -eq 2 ]'
check "wrong password says the login was refused" 'grep -q "refused the login for user .caseworker." "$tmp/err8.txt"'
check "the password is not echoed" '! grep -q "wrong-password" "$tmp/err8.txt"'

# 7. nothing listening: a network error, exit 2
"${F[@]}" "imap://127.0.0.1:1/INBOX" >/dev/null 2>"$tmp/err9.txt"
check "connection refused exits 2" '[ $? -eq 2 ] && [ -s "$tmp/err9.txt" ]'

# 8. --db: the mail is filed into the desk, through the same pipeline as
#    `import` - fetched again from scratch, nothing is filed twice (issue 8)
desk=(--db "$tmp/desk.db" --data-dir "$tmp/desk-data")
"$td" office add default "${desk[@]}" >/dev/null 2>"$tmp/err10.txt"
"${F[@]}" --state "$tmp/state-desk1.json" "${desk[@]}" --json "$url" >"$tmp/out10.jsonl" 2>>"$tmp/err10.txt"
rc=$?
check "fetch --db exits 0 (got $rc: $(head -c 300 "$tmp/err10.txt"))" '[ $rc -eq 0 ]'
check "fetch --db files all 6, each with its desk id" \
  '[ "$(python3 -c "import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l).get(\"desk_id\", 0) > 0))" "$tmp/out10.jsonl")" = 6 ]'
"${F[@]}" --state "$tmp/state-desk2.json" "${desk[@]}" "$url" >"$tmp/out11.txt" 2>"$tmp/err11.txt"
check "fetched again from scratch: 6 already in the desk, none filed twice" \
  'grep -q "6 already analysed; 0 filed into the desk" "$tmp/out11.txt"'
check "the desk holds 6 messages under canonical sender keys" \
  '[ "$(sqlite3 "$tmp/desk.db" "SELECT count(*), sum(sender LIKE '"'"'email:s%@example.org'"'"') FROM messages")" = "6|6" ]'

echo "imap_fetch: $pass passed, $fail failed"
[ $fail -eq 0 ]
