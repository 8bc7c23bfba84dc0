#!/usr/bin/env bash
# server_desk.sh - the desk over HTTP, from outside, on loopback:
#   - first start prints a one-time admin password; login, /v1/me, logout;
#   - ingest: one message (201, then 200 duplicate by client key), a batch
#     with bad records refused one by one (422 naming index and field) while
#     the rest are stored; oversized body -> 413; malformed JSON -> 400
#     naming the byte;
#   - triage: queue order and filters, review / escalate / dismiss, sender
#     history;
#   - cases: create, workflow, notes, links, evidence up and down with its
#     SHA-256, timeline;
#   - roles: an observer files a report but cannot read the queue (403);
#     police see only cases reported to police;
#   - offices: a second office cannot see the first's data through ANY GET
#     route (every one answers 404 with the other office's ids, never data);
#   - audit: `threatdesk verify` passes, then fails after a row of the audit
#     log is altered with the sqlite3 shell;
#   - SIGTERM: clean exit, status 0.
# Usage: server_desk.sh PATH/TO/threatdesk   (from the repository root)
td=${1:?usage: server_desk.sh threatdesk-binary}
. "$(dirname "$0")/server_lib/common.sh"

# this test logs in a dozen users from one address in seconds; the login
# limiter has its own tests (server_login_flood, server_security)
export THREATDESK_LOGIN_BURST=100
start_server --max-body 65536 --login-rate 600
check "first start prints a one-time admin password" '[ -n "$admin_password" ]'

# ---- sessions ---------------------------------------------------------------
api POST /v1/login '{"username":"admin","password":"wrong-password"}'
check "wrong password -> 401" '[ "$code" = 401 ]'
api POST /v1/login "{\"username\":\"admin\",\"password\":\"$admin_password\"}"
check "admin logs in" '[ "$code" = 200 ]'
A="Authorization: Bearer $(jq_py 'j["token"]')"
api GET /v1/me "" "$A"
check "/v1/me says admin" '[ "$(jq_py "j[\"role\"]")" = admin ]'
api GET /v1/queue ""
check "no credentials -> 401" '[ "$code" = 401 ]'

mkuser() { # name role -> sets token var T_<name>
  api POST /v1/users "{\"username\":\"$1\",\"role\":\"$2\",\"password\":\"pw-$1-123456\"}" "$A"
  check "admin adds $1 ($2)" '[ "$code" = 201 ]'
  api POST /v1/login "{\"username\":\"$1\",\"password\":\"pw-$1-123456\"}"
  check "$1 logs in" '[ "$code" = 200 ]'
  eval "T_$1=\"Authorization: Bearer $(jq_py 'j["token"]')\""
}
mkuser cw caseworker
mkuser obs observer
mkuser pc police

# ---- ingest -----------------------------------------------------------------
api POST /v1/messages '{"text":"You will be smashed and killed within days.","channel":"post","sender":"post:anon-1","client_key":"k-1","received":"2026-11-20T09:00:00Z"}' "$T_cw"
check "single message -> 201 created" '[ "$code" = 201 ] && [ "$(jq_py "j[\"status\"]")" = created ]'
threat_id=$(jq_py 'j["id"]')
api POST /v1/messages '{"text":"You will be smashed and killed within days.","channel":"post","sender":"post:anon-1","client_key":"k-1"}' "$T_cw"
check "same client key -> 200 duplicate, same id" \
  '[ "$code" = 200 ] && [ "$(jq_py "j[\"status\"]")" = duplicate ] && [ "$(jq_py "j[\"id\"]")" = "$threat_id" ]'
api POST /v1/messages '{"channel":"post"}' "$T_cw"
check "message without text -> 400 naming field text" \
  '[ "$code" = 400 ] && [ "$(jq_py "j[\"error\"][\"field\"]")" = text ]'

cat > "$tmp/batch.json" <<'J'
{"messages": [
 {"text": "Thank you for your help with the planning appeal.", "sender": "email:kind@example.org", "channel": "email", "client_key": "b-0"},
 {"channel": "email", "client_key": "b-1"},
 {"text": "You lying traitor scum.", "sender": "email:rude@example.org", "channel": "email", "client_key": "b-2"},
 {"text": "We know where you live.", "received": "not a time", "client_key": "b-3"},
 {"text": "Someone should put a bullet in her.", "sender": "email:rude@example.org", "channel": "email", "client_key": "b-4"}
]}
J
api POST /v1/messages:batch "@$tmp/batch.json" "$T_cw"
check "batch with bad records -> 422" '[ "$code" = 422 ]'
check "error names the first bad record (index 1) and its field by full path" \
  '[ "$(jq_py "j[\"error\"][\"index\"]")" = 1 ] && [ "$(jq_py "j[\"error\"][\"field\"]")" = "messages[1].text" ]'
check "3 accepted, 2 refused" \
  '[ "$(jq_py "(j[\"accepted\"], j[\"refused\"])")" = "(3, 2)" ]'
check "record 3 refused naming messages[3].received" \
  '[ "$(jq_py "j[\"results\"][3][\"status\"] + \":\" + j[\"results\"][3][\"field\"]")" = "refused:messages[3].received" ]'
bullet_id=$(jq_py 'j["results"][4]["id"]')

head -c 70000 /dev/zero | tr '\0' a > "$tmp/big.txt"
api POST /v1/messages "@$tmp/big.txt" "$T_cw"
check "oversized body -> 413" '[ "$code" = 413 ] && [ "$(jq_py "j[\"error\"][\"status\"]")" = PAYLOAD_TOO_LARGE ]'
api POST /v1/messages '{"text": "hello" "channel": "x"}' "$T_cw"
# jansson reports the byte just past the unexpected token ("channel",
# bytes 17..25).
check "malformed JSON -> 400 naming the byte of the error" \
  '[ "$code" = 400 ] && [ "$(jq_py "16 <= j[\"error\"][\"byte\"] <= 26")" = True ]'

# ---- triage -----------------------------------------------------------------
api GET /v1/queue "" "$T_cw"
check "queue lists the 4 stored messages" '[ "$code" = 200 ] && [ "$(jq_py "len(j[\"messages\"])")" = 4 ]'
check "queue puts the most severe first" \
  '[ "$(jq_py "[m[\"severity\"] for m in j[\"messages\"]][0] in (\"critical\",\"high\")")" = True ]'
check "queue is ordered by severity" \
  '[ "$(jq_py "(lambda s: s == sorted(s, reverse=True))([[\"none\",\"low\",\"medium\",\"high\",\"critical\"].index(m[\"severity\"]) for m in j[\"messages\"]])")" = True ]'
api GET "/v1/queue?channel=email&limit=1" "" "$T_cw"
check "filter channel=email, limit 1, has a cursor" \
  '[ "$(jq_py "len(j[\"messages\"]) == 1 and j[\"messages\"][0][\"channel\"] == \"email\" and \"next_cursor\" in j")" = True ]'
api GET "/v1/queue?label=nonsense" "" "$T_cw"
check "bad filter -> 400 naming label" '[ "$code" = 400 ] && [ "$(jq_py "j[\"error\"][\"field\"]")" = label ]'
api GET "/v1/queue?sender=email:rude@example.org" "" "$T_cw"
check "filter by sender" '[ "$(jq_py "len(j[\"messages\"])")" = 2 ]'
api POST "/v1/messages/$threat_id:escalate" '{"reason":"death threat, police"}' "$T_cw"
check "escalate" '[ "$code" = 200 ] && [ "$(jq_py "j[\"status\"]")" = escalated ]'
api POST "/v1/messages/$threat_id:dismiss" '' "$T_cw"
check "dismiss without reason -> 400" '[ "$code" = 400 ]'
api GET "/v1/queue?status=escalated" "" "$T_cw"
check "queue status=escalated" '[ "$(jq_py "[m[\"id\"] for m in j[\"messages\"]]")" = "[$threat_id]" ]'
api GET "/v1/senders/email%3Arude%40example.org/history" "" "$T_cw"
check "sender history counts 2 messages" '[ "$code" = 200 ] && [ "$(jq_py "j[\"messages\"]")" = 2 ]'
api GET "/v1/messages/$threat_id/original" "" "$T_cw"
check "original kept exactly" 'grep -q "smashed and killed" "$tmp/body"'

# ---- cases ------------------------------------------------------------------
api POST /v1/cases '{"type":"online_threat","title":"Death threat by post","place":{"constituency":"Batley and Spen"}}' "$T_cw"
check "caseworker files a case" '[ "$code" = 201 ]'
case1=$(jq_py 'j["id"]')
api POST "/v1/cases/$case1/messages" "{\"message_id\":$threat_id}" "$T_cw"
check "link message" '[ "$code" = 200 ]'
api POST "/v1/cases/$case1/notes" '{"text":"Called the police liaison."}' "$T_cw"
check "add note" '[ "$code" = 201 ]'
printf 'photo bytes \x00\x01\x02' > "$tmp/photo.bin"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "$T_cw" -H 'Content-Type: image/jpeg' \
  --data-binary @"$tmp/photo.bin" "$base/v1/cases/$case1/evidence?name=photo.jpg")
check "evidence upload -> 201 with its SHA-256" \
  '[ "$code" = 201 ] && [ "$(jq_py "j[\"sha256\"]")" = "$(sha256sum "$tmp/photo.bin" | cut -d" " -f1)" ]'
ev1=$(jq_py 'j["id"]')
code=$(curl -s -o "$tmp/ev.bin" -D "$tmp/ev.h" -w '%{http_code}' -H "$T_cw" "$base/v1/evidence/$ev1/content")
check "evidence download is byte-identical" '[ "$code" = 200 ] && cmp -s "$tmp/ev.bin" "$tmp/photo.bin"'
check "X-Content-SHA256 header" 'grep -qi "x-content-sha256: $(sha256sum "$tmp/photo.bin" | cut -d" " -f1)" "$tmp/ev.h"'
api PATCH "/v1/cases/$case1" '{"status":"under_investigation"}' "$T_cw"
check "workflow refuses new -> under_investigation" '[ "$code" = 400 ] && [ "$(jq_py "j[\"error\"][\"field\"]")" = status ]'
api POST /v1/cases '{"type":"harassment","title":"Canvassers followed"}' "$T_cw"
case2=$(jq_py 'j["id"]')

# ---- roles ------------------------------------------------------------------
api GET /v1/queue "" "$T_obs"
check "observer cannot read the queue -> 403" '[ "$code" = 403 ]'
api POST /v1/cases '{"type":"intimidation_polling_station","title":"Voters shouted at outside the school","occurred":"2026-11-28T15:00:00Z"}' "$T_obs"
check "observer files an incident report" '[ "$code" = 201 ]'
api GET /v1/cases "" "$T_obs"
check "observer cannot list cases -> 403" '[ "$code" = 403 ]'
api GET /v1/cases "" "$T_pc"
check "police see no case before one is reported" '[ "$code" = 200 ] && [ "$(jq_py "len(j[\"cases\"])")" = 0 ]'
api GET "/v1/cases/$case1" "" "$T_pc"
check "police get 404 for an unreported case" '[ "$code" = 404 ]'
api PATCH "/v1/cases/$case1" '{"status":"triaged"}' "$T_cw"
check "new -> triaged" '[ "$code" = 200 ] && [ "$(jq_py "j[\"status\"]")" = triaged ]'
api PATCH "/v1/cases/$case1" '{"status":"reported_to_police","police_ref":"WYP-2026-1234"}' "$T_cw"
check "triaged -> reported_to_police with a police reference" \
  '[ "$code" = 200 ] && [ "$(jq_py "j[\"police_ref\"]")" = WYP-2026-1234 ]'
api GET /v1/cases "" "$T_pc"
check "police see exactly the escalated case" '[ "$(jq_py "[c[\"id\"] for c in j[\"cases\"]]")" = "[$case1]" ]'
api GET "/v1/cases/$case1" "" "$T_pc"
check "police read the escalated case with its evidence" \
  '[ "$code" = 200 ] && [ "$(jq_py "len(j[\"evidence\"])")" = 1 ]'
api GET "/v1/cases/$case2" "" "$T_pc"
check "police: the other case is 404" '[ "$code" = 404 ]'
api PATCH "/v1/cases/$case1" '{"title":"changed"}' "$T_pc"
check "police cannot change a case -> 403" '[ "$code" = 403 ]'
api GET /v1/queue "" "$T_pc"
check "police cannot read the queue -> 403" '[ "$code" = 403 ]'
api GET "/v1/cases/$case1/timeline" "" "$T_cw"
check "timeline has the note and the status changes" \
  '[ "$(jq_py "set(e[\"action\"] for e in j[\"events\"]) >= {\"case.create\", \"case.note\", \"case.status\", \"case.link\"}")" = True ]'
api GET "/v1/cases?sender=post%3Aanon-1" "" "$T_cw"
check "cases by the sender of a message they hold: only case 1" \
  '[ "$code" = 200 ] && [ "$(jq_py "[c[\"id\"] for c in j[\"cases\"]]")" = "[$case1]" ]'
api GET "/v1/cases?from=2999-01-01T00:00:00Z" "" "$T_cw"
check "cases opened after a future date: none" '[ "$code" = 200 ] && [ "$(jq_py "j[\"total\"]")" = 0 ]'
api GET "/v1/cases?to=yesterday" "" "$T_cw"
check "cases?to=junk -> 400 naming to" '[ "$code" = 400 ] && grep -q "\"to\"" "$tmp/body"'

# an upload of office 1 (a PNG signature only: kept and queued; the OCR
# fails it later), for the other office to be refused below
printf '\211PNG\r\n\032\n\0\0\0\rIHDR\0\0\020' > "$tmp/cut.png"
api POST "/v1/messages?name=Batley.png" "@$tmp/cut.png" "$T_cw" image/png
check "a scan is queued -> 202" '[ "$code" = 202 ]'
up1=$(jq_py 'j["upload"]')

# ---- a second office --------------------------------------------------------
# (offices are made on purpose: `user add --office` does not create one)
"$td" office add other --db "$db" --data-dir "$data" > /dev/null 2>&1
echo 'pw-other-123456' | "$td" user add boss --office other --role admin --db "$db" \
  --data-dir "$data" > "$tmp/useradd.txt" 2>&1
rc=$?
check "CLI adds an admin to a second office (rc=$rc)" '[ $rc = 0 ]'
api POST /v1/login '{"username":"boss","password":"pw-other-123456"}'
B="Authorization: Bearer $(jq_py 'j["token"]')"
check "the other office's admin logs in" '[ "$code" = 200 ]'
for path in "/v1/messages/$threat_id" "/v1/messages/$threat_id/original" \
    "/v1/messages/$bullet_id" "/v1/senders/email%3Arude%40example.org/history" \
    "/v1/cases/$case1" "/v1/cases/$case2" "/v1/cases/$case1/timeline" \
    "/v1/evidence/$ev1" "/v1/evidence/$ev1/content" "/v1/cases/$case1/bundle" \
    "/v1/uploads/$up1"; do
  api GET "$path" "" "$B"
  check "other office: GET $path -> 404" '[ "$code" = 404 ] && ! grep -q "smashed\|Batley\|photo\|rude" "$tmp/body"'
done
for path in "/v1/messages/$threat_id:review" "/v1/cases/$case1/notes" "/v1/cases/$case1/messages"; do
  api POST "$path" '{"reason":"x","text":"x","message_id":1}' "$B"
  check "other office: POST $path -> 404" '[ "$code" = 404 ]'
done
api PATCH "/v1/cases/$case1" '{"title":"hijacked"}' "$B"
check "other office: PATCH case -> 404" '[ "$code" = 404 ]'
for path in /v1/queue /v1/cases /v1/users /v1/keys /v1/offices /v1/queue.csv /v1/cases.csv; do
  api GET "$path" "" "$B"
  check "other office: GET $path shows none of office 1" \
    '[ "$code" = 200 ] && ! grep -q "smashed\|Batley\|rude\|\"cw\"\|Canvassers" "$tmp/body"'
done
# An alert's ack link is public (its token is the credential) and its GET
# only shows a button: it names no office and reads nothing
# (alerts_delivery.sh checks that a forged token acknowledges nothing).
api GET "/v1/ack/1-$(printf '0%.0s' $(seq 64))" ""
check "GET /v1/ack/{token} shows nothing of any office" \
  '[ "$code" = 200 ] && ! grep -q "smashed\|Batley\|rude\|other" "$tmp/body"'
# Every parameterised GET route in the table was tried above: keep in step.
routes=$(grep -oE '^\s+\{"GET", +"[^"]*\{[^"]*"' src/server/router.c | sed 's/.*"\(\/[^"]*\)"/\1/' | sort -u | wc -l)
check "all $routes parameterised GET routes covered" '[ "$routes" = 10 ]'

# ---- metrics, logs ----------------------------------------------------------
# (it needs a login: how many threats an office gets is not public)
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "$A" "$base/metrics")
check "/metrics counts ingested messages by severity" \
  'grep -qE "^threatdesk_messages_ingested_total\{severity=\"(high|critical)\"\} [1-9]" "$tmp/body"'
check "/metrics counts 403s on the queue route" \
  'grep -q "threatdesk_http_requests_total{route=\"/v1/queue\",method=\"GET\",status=\"403\"}" "$tmp/body"'
check "logs are JSON lines without message text or sender addresses" \
  'python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$tmp/server.log" && ! grep -q "killed within\|rude@example\|Batley" "$tmp/server.log"'

# ---- audit chain ------------------------------------------------------------
stop_server TERM
check "SIGTERM -> exit 0 (got $srv_rc)" '[ "$srv_rc" = 0 ]'
"$td" verify --db "$db" --data-dir "$data" > "$tmp/verify.txt" 2>&1
check "verify passes on the untouched store" '[ $? = 0 ]'
sqlite3 "$db" "UPDATE audit SET details = 'x' WHERE id = 1;" 2> "$tmp/sql.err"
check "the audit table refuses a plain UPDATE (trigger)" 'grep -q "append-only" "$tmp/sql.err"'
# A determined editor drops the trigger first; the chain still tells.
sqlite3 "$db" "DROP TRIGGER audit_no_update;
  UPDATE audit SET details = replace(details, 'reported_to_police', 'closed')
  WHERE id = (SELECT max(id) FROM audit WHERE action = 'case.status');"
check "the row was altered" '[ "$(sqlite3 "$db" "SELECT count(*) FROM audit WHERE action = '"'case.status'"' AND details LIKE '"'%\"closed\"%'"'")" = 1 ]'
"$td" verify --db "$db" --data-dir "$data" > "$tmp/verify.txt" 2>&1
rc=$?
check "verify fails after an audit row was altered (rc=$rc)" '[ $rc -ne 0 ]'
finish
