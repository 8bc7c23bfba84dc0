#!/usr/bin/env bash
# alerts_delivery.sh - alerts end to end against real servers on loopback
# (issue 10): an aiosmtpd SMTP server and a webhook receiver that checks
# the HMAC signature and the replay window.
#   - rules and recipients over HTTP, with roles and header-injection checks
#   - a critical message alerts by e-mail and webhook: the mail carries the
#     tier, label, channel, sender and links - never the threat's words
#   - a message no rule matches makes no alert; quiet hours hold back a high
#     message but not a critical one
#   - nobody acknowledges: after escalate_minutes (minute_s = 1 s here) the
#     next person on the rota is told; the link acknowledges (audited) and
#     `threatdesk verify` still passes
#   - SIGKILL mid-delivery (the SMTP server stalls, or refuses): after a
#     restart the alert arrives, once by its id; every attempt is on record
# Usage: alerts_delivery.sh PATH/TO/threatdesk
td=${1:?usage: alerts_delivery.sh threatdesk-binary}
. "$(dirname "$0")/server_lib/common.sh"
. "$(dirname "$0")/alerts_lib/alerts.sh"
export TZ=UTC

secret="hook-secret-$RANDOM$RANDOM-0123456789"
start_sinks "$secret"
port=$(free_port)
fixed_base="http://127.0.0.1:$port"
write_alerts_config
# common.sh listens on port 0; alerts need a known address for their links
start_server_fixed() {
  : > "$tmp/out"
  "$td" serve --listen "127.0.0.1:$port" --db "$db" --data-dir "$data" \
    --alerts-config "$tmp/alerts.conf" --login-rate 1000 > "$tmp/out" 2>> "$tmp/server.log" &
  srv_pid=$!
  wait_for 'grep -q "^listening on " "$tmp/out"' 30 || { cat "$tmp/server.log"; exit 1; }
  base=$fixed_base
}

start_server --login-rate 1000 # first start: the one-time password is changed here
stop_server
start_server_fixed
api POST /v1/login "{\"username\":\"admin\",\"password\":\"$admin_password\"}"
A="Authorization: Bearer $(jq_py 'j["token"]')"
mkuser() { # name role -> T_<name>
  api POST /v1/users "{\"username\":\"$1\",\"role\":\"$2\",\"password\":\"pw-$1-123456\"}" "$A"
  api POST /v1/login "{\"username\":\"$1\",\"password\":\"pw-$1-123456\"}"
  eval "T_$1=\"Authorization: Bearer $(jq_py 'j["token"]')\""
}
mkuser cw caseworker
mkuser sec security
mkuser obs observer

# ---- configuration, roles, hostile input --------------------------------
api POST /v1/alert-recipients "{\"name\":\"alice\",\"email\":\"alice@office.example.org\",\"webhook_url\":\"http://127.0.0.1:$hook_port/hook\",\"webhook_secret\":\"$secret\"}" "$T_sec"
check "security adds a recipient with e-mail and webhook" '[ "$code" = 201 ]'
alice=$(jq_py 'j["id"]')
api POST /v1/alert-recipients '{"name":"bob","email":"bob@office.example.org"}' "$A"
check "admin adds a recipient" '[ "$code" = 201 ]'
bob=$(jq_py 'j["id"]')
api POST /v1/alert-recipients '{"name":"eve","email":"eve@x.org\r\nBcc: spy@evil.example"}' "$A"
check "CR/LF in an address -> 400 naming email" '[ "$code" = 400 ] && [ "$(jq_py "j[\"error\"][\"field\"]")" = email ]'
api POST /v1/alert-recipients '{"name":"hook","webhook_url":"http://127.0.0.1:1/x"}' "$A"
check "a webhook without a secret -> 400" '[ "$code" = 400 ] && [ "$(jq_py "j[\"error\"][\"field\"]")" = webhook_secret ]'
api POST /v1/alert-recipients '{"name":"ftp","webhook_url":"ftp://x.org/","webhook_secret":"0123456789abcdefg"}' "$A"
check "a non-http URL -> 400" '[ "$code" = 400 ]'
api POST /v1/alert-recipients '{"name":"carol","email":"carol@office.example.org"}' "$T_cw"
check "caseworker may not configure -> 403" '[ "$code" = 403 ]'
api GET /v1/alert-recipients "" "$T_cw"
check "caseworker lists recipients, never the secret" \
  '[ "$code" = 200 ] && ! grep -q "$secret" "$tmp/body" && [ "$(jq_py "j[\"recipients\"][0][\"webhook_secret\"]")" = True ]'

api POST /v1/alert-rules "{\"name\":\"critical now\",\"min_tier\":\"critical\",\"channels\":[\"email\",\"webhook\",\"browser\"],\"rota\":[$alice,$bob],\"escalate_minutes\":2}" "$T_sec"
check "rule: critical -> alice, then bob after 2 minutes" '[ "$code" = 201 ]'
# quiet hours around the server's present minute (UTC)
qs=$(date -u -d '-60 min' +%H:%M); qe=$(date -u -d '+60 min' +%H:%M)
api POST /v1/alert-rules "{\"name\":\"high at night\",\"min_tier\":\"high\",\"labels\":[\"threat\"],\"channels\":[\"email\"],\"rota\":[$bob],\"quiet_hours\":{\"start\":\"$qs\",\"end\":\"$qe\"}}" "$A"
check "rule: high -> bob, quiet now" '[ "$code" = 201 ]'
api POST /v1/alert-rules '{"name":"bad","min_tier":"urgent","channels":["email"],"rota":[1]}' "$A"
check "unknown tier -> 400 naming min_tier" '[ "$code" = 400 ] && [ "$(jq_py "j[\"error\"][\"field\"]")" = min_tier ]'
api POST /v1/alert-rules '{"name":"bad","min_tier":"high","channels":["pager"],"rota":[1]}' "$A"
check "unknown channel -> 400" '[ "$code" = 400 ] && [ "$(jq_py "j[\"error\"][\"field\"]")" = channels ]'
api POST /v1/alert-rules '{"name":"bad","min_tier":"high","channels":["email"],"rota":[99999]}' "$A"
check "a recipient of no one -> 400 naming rota" '[ "$code" = 400 ] && [ "$(jq_py "j[\"error\"][\"field\"]")" = rota ]'
api POST /v1/alert-rules '{"name":"x","min_tier":"high","channels":["email"],"rota":[1]}' "$T_obs"
check "observer -> 403" '[ "$code" = 403 ]'
api GET /v1/alert-rules "" "$T_cw"
check "rules listed" '[ "$code" = 200 ] && [ "$(jq_py "len(j[\"rules\"])")" = 2 ] && [ "$(jq_py "j[\"rules\"][1][\"quiet_hours\"][\"start\"]")" = "$qs" ]'

# ---- what alerts and what does not ---------------------------------------
api POST /v1/messages '{"text":"Thanks for your help with my housing claim.","channel":"email","sender":"email:kind@example.org"}' "$T_cw"
check "harmless message filed" '[ "$code" = 201 ] && [ "$(jq_py "j[\"severity\"]")" = none ]'
api POST /v1/messages '{"text":"I am going to kill you, you traitor.","channel":"x","sender":"x:angry_one"}' "$T_cw"
check "high threat filed" '[ "$code" = 201 ] && [ "$(jq_py "j[\"severity\"]")" = high ]'
threat='We know where you live at 14 Elm Street and we will burn your house down on Friday night.'
api POST /v1/messages "{\"text\":\"$threat\",\"channel\":\"email\",\"sender\":\"email:menace@example.net\",\"subject\":\"for the MP\"}" "$T_cw"
check "critical threat filed" '[ "$code" = 201 ] && [ "$(jq_py "j[\"severity\"]")" = critical ]'
crit=$(jq_py 'j["id"]')
api GET /v1/alerts "" "$T_cw"
check "two alerts, both for the critical message (quiet hours held back the high one only)" \
  '[ "$(jq_py "sorted((a[\"message\"], a[\"rule_name\"]) for a in j[\"alerts\"])")" = "[[$crit, \"critical now\"], [$crit, \"high at night\"]]" ]'

wait_for '[ "$(smtp_count "\"alice@office.example.org\" in m[\"rcpt\"]")" -ge 1 ] && [ -s "$tmp/hook.jsonl" ]' 30
check "alice's mail arrived" '[ "$(smtp_count "\"alice@office.example.org\" in m[\"rcpt\"]")" = 1 ]'
check "bob's high-at-night mail arrived (critical passes quiet hours)" \
  'wait_for "[ \"\$(smtp_count \"\\\"bob@office.example.org\\\" in m[\\\"rcpt\\\"]\")\" -ge 1 ]" 20'
mail=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    m=json.loads(l)
    if m.get("event")=="accepted" and "alice@office.example.org" in m["rcpt"]: print(m["body"]); break' "$tmp/smtp.jsonl")
# the mail checks print $tmp/body when they fail: make it the mail for
# them (one run on a loaded machine failed the first and showed an API
# body), then put the API's answer back for the escalation below
cp "$tmp/body" "$tmp/body.api"
printf '%s' "$mail" > "$tmp/body"
# one check per line, so that a failure says which (one loaded CI run
# failed here and the printed mail was cut before its body)
check "the mail names the tier" 'echo "$mail" | grep -q "Tier: critical"'
check "the mail names the label" 'echo "$mail" | grep -q "Label: threat"'
check "the mail names the channel" 'echo "$mail" | grep -q "Came by: email"'
check "the mail names the sender" 'echo "$mail" | grep -q "Sender: email:menace@example.net"'
check "the mail carries no word of the threat, nor the subject (disclose minimal)" \
  '! echo "$mail" | grep -qi -e "Elm Street" -e "burn" -e "house" -e "for the MP"'
check "the mail links to the desk and to an ack page" \
  'echo "$mail" | grep -q "$fixed_base/v1/messages/$crit" && echo "$mail" | grep -q "$fixed_base/v1/ack/"'
check "a stable Message-ID per alert delivery" 'echo "$mail" | grep -q "^Message-ID: <td-alert-[0-9]*-[0-9]*@threatdesk>"'
mv "$tmp/body.api" "$tmp/body"
check "the webhook's signature verified" \
  '[ "$(python3 -c "import json,sys; print([json.loads(l)[\"verified\"] for l in open(sys.argv[1])])" "$tmp/hook.jsonl")" = "[True]" ]'
check "the webhook body has no threat text" '! grep -qi -e "Elm Street" -e "burn" "$tmp/hook.jsonl"'

# ---- escalation, then acknowledgement by link ------------------------------
aid=$(python3 -c 'import json,sys
j=json.load(open(sys.argv[1]))
print([a["id"] for a in j["alerts"] if a["rule_name"]=="critical now"][0])' "$tmp/body")
check "nobody acknowledged: after 2 (test) minutes bob is told, marked ESCALATED" \
  'wait_for "grep -q \"ESCALATED critical threat alert $aid\" \"$tmp/smtp.jsonl\"" 20'
api GET /v1/alerts "" "$T_cw"
check "the alert is at step 1 with its deliveries recorded delivered" \
  '[ "$(jq_py "[(a[\"step\"], sorted(set(d[\"state\"] for d in a[\"deliveries\"]))) for a in j[\"alerts\"] if a[\"id\"] == $aid]")" = "[[1, [\"delivered\"]]]" ]'
link=$(echo "$mail" | sed -n "s|^Acknowledge: ||p" | tr -d '\r')
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$link")
check "GET on the link only shows a button" '[ "$code" = 200 ] && grep -q "<form method=\"post\">" "$tmp/body"'
api GET /v1/alerts "" "$T_cw"
check "... and acknowledges nothing" '[ "$(jq_py "[a[\"state\"] for a in j[\"alerts\"] if a[\"id\"] == $aid]")" = "[\"open\"]" ]'
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST "$link")
check "POST on the link acknowledges" '[ "$code" = 200 ] && grep -q "Acknowledged" "$tmp/body"'
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST "${link%?}0")
code2=$(curl -s -o /dev/null -w '%{http_code}' -X POST "${link%?}1")
check "a forged token -> 404" '[ "$code" = 404 ] || [ "$code2" = 404 ]'
api GET /v1/alerts "" "$T_cw"
check "acknowledged via link" '[ "$(jq_py "[a[\"acknowledged\"][\"via\"] for a in j[\"alerts\"] if a[\"id\"] == $aid]")" = "[\"link\"]" ]'
other=$(jq_py "[a['id'] for a in j['alerts'] if a['id'] != $aid][0]")
api POST "/v1/alerts/$other:ack" "" "$T_cw"
check "caseworker acknowledges in the desk" '[ "$code" = 200 ]'
api POST "/v1/alerts/$other:ack" "" "$T_obs"
check "observer may not acknowledge -> 403" '[ "$code" = 403 ]'
api POST "/v1/alerts/987654:ack" "" "$T_cw"
check "unknown alert -> 404" '[ "$code" = 404 ]'

# ---- SIGKILL while the SMTP server holds the mail (stall) ----------------------
echo stall > "$tmp/smtp.mode"
api POST /v1/messages '{"text":"You will be shot like Jo Cox, we know where your kids go to school.","channel":"x","sender":"x:second_menace"}' "$T_cw"
check "second critical filed" '[ "$code" = 201 ] && [ "$(jq_py "j[\"severity\"]")" = critical ]'
check "the SMTP server is holding the mail" 'wait_for "grep -q \"\\\"stalled\\\"\" \"$tmp/smtp.jsonl\"" 20'
stalled_id=$(python3 -c 'import json,sys
print([json.loads(l)["message_id"] for l in open(sys.argv[1]) if json.loads(l).get("event")=="stalled"][0])' "$tmp/smtp.jsonl")
stop_server KILL
echo accept > "$tmp/smtp.mode"
start_server_fixed
check "after the restart the alert arrives (same Message-ID)" \
  'wait_for "[ \"\$(smtp_count \"m[\\\"message_id\\\"] == \\\"$stalled_id\\\"\")\" -ge 1 ]" 30'
api GET /v1/alerts "" "$T_cw"
check "recorded delivered; the lost attempt is retried, not lost" \
  '[ "$(jq_py "sorted(set(d[\"state\"] for a in j[\"alerts\"] for d in a[\"deliveries\"] if \"<\" + \"td-alert-%d-%d@threatdesk>\" % (a[\"id\"], d[\"id\"]) == \"$stalled_id\"))")" = "[\"delivered\"]" ]'
check "one alert mail by its id (the receiver keys on Message-ID)" \
  '[ "$(python3 -c "import json,sys; print(len({json.loads(l)[\"message_id\"] for l in open(sys.argv[1]) if json.loads(l).get(\"event\")==\"accepted\" and json.loads(l)[\"message_id\"]==sys.argv[2]}))" "$tmp/smtp.jsonl" "$stalled_id")" = 1 ]'

# ---- SIGKILL after a refused attempt: exactly one copy arrives -----------------
echo refuse > "$tmp/smtp.mode"
api POST /v1/messages '{"text":"Someone should put a bullet in her head.","channel":"facebook","sender":"facebook:third_menace"}' "$T_cw"
check "third critical filed" '[ "$code" = 201 ] && [ "$(jq_py "j[\"severity\"]")" = critical ]'
check "the SMTP server refused the first attempt" 'wait_for "grep -q \"\\\"refused\\\"\" \"$tmp/smtp.jsonl\"" 20'
refused_id=$(python3 -c 'import json,sys
print([json.loads(l)["message_id"] for l in open(sys.argv[1]) if json.loads(l).get("event")=="refused"][0])' "$tmp/smtp.jsonl")
stop_server KILL
echo accept > "$tmp/smtp.mode"
start_server_fixed
check "after the restart it arrives" \
  'wait_for "[ \"\$(smtp_count \"m[\\\"message_id\\\"] == \\\"$refused_id\\\"\")\" -ge 1 ]" 30'
sleep 4 # longer than the lease: a second copy would have come by now
check "exactly once" '[ "$(smtp_count "m[\"message_id\"] == \"$refused_id\"")" = 1 ]'
api GET /v1/alerts "" "$T_cw"
check "every attempt on record: failed (451), then delivered" \
  '[ "$(jq_py "[[x[\"outcome\"] for x in d[\"attempt_log\"]] for a in j[\"alerts\"] for d in a[\"deliveries\"] if \"<td-alert-%d-%d@threatdesk>\" % (a[\"id\"], d[\"id\"]) == \"$refused_id\"][0][-1]")" = delivered ] && grep -q "451" "$tmp/body"'

# ---- a rule never makes two alerts for one message; the CLI; verify -------------
api POST /v1/messages "{\"text\":\"$threat\",\"channel\":\"email\",\"sender\":\"email:menace@example.net\"}" "$T_cw"
check "the same message again is a duplicate" '[ "$(jq_py "j[\"status\"]")" = duplicate ] || [ "$code" = 200 ]'
stop_server
n=$(sqlite3 "$db" "SELECT COUNT(*) FROM alerts WHERE message_id = $crit")
check "still two alerts for the first critical message (one per rule)" '[ "$n" = 2 ]'
out=$("$td" alerts list --office default --db "$db" --data-dir "$data" | wc -l)
check "threatdesk alerts list" '[ "$out" -ge 4 ]'
out=$("$td" alerts rule list --office default --db "$db" --data-dir "$data")
check "threatdesk alerts rule list" 'echo "$out" | grep -q "critical now"'
"$td" verify --db "$db" --data-dir "$data" > "$tmp/verify.out" 2>&1
vrc=$?
check "verify passes with the alerts' audit entries" '[ "$vrc" = 0 ]'
n=$(sqlite3 "$db" "SELECT COUNT(*) FROM audit WHERE action = 'alert.ack'")
check "both acknowledgements audited" '[ "$n" = 2 ]'
finish
