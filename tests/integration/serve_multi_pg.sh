#!/usr/bin/env bash
# serve_multi_pg.sh - stateless servers (issue 11): two `threatdesk serve`
# processes on one postgres:// database (a throwaway cluster,
# tests/support/pg-temp.sh), each request sent to one or the other
# alternately, as a round-robin balancer would.  Everything a request
# leaves behind must live in the database, not in one process:
#   - a session made on A (API token, and the web desk's td_session
#     cookie) works on B, and a logout on B ends it on A;
#   - a user locked out by failed logins on A is locked out on B;
#   - an ingest with an Idempotency-Key sent to A then to B files one
#     message: B answers with A's message, not a duplicate;
#   - an alert raised by an ingest on A is delivered once, though both
#     servers run a delivery worker on the same outbox (webhook receiver
#     counts requests; the outbox row says delivered, one attempt).
# Both servers connect as the app role (DML only, under row-level
# security); the owner only migrates.  Exits 77 without PostgreSQL.
#
#   bash tests/integration/serve_multi_pg.sh path/to/threatdesk
set -uo pipefail
td=${1:?usage: serve_multi_pg.sh threatdesk-binary}
cd "$(dirname "$0")/../.."

if [ "${2:-}" != --inner ]; then
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
    echo "SKIP: no PostgreSQL server binaries (scripts/install-deps.sh installs postgresql)"
    exit 77
  fi
  command -v psql >/dev/null || { echo "psql not installed" >&2; exit 1; }
  exec bash tests/support/pg-temp.sh run bash "$0" "$td" --inner
fi

# ---- inside pg-temp.sh run ------------------------------------------------
. tests/integration/server_lib/common.sh
. tests/integration/alerts_lib/alerts.sh
admin_url=$(cat "$TD_PG_DIR/admin_url")
pq() { psql "$admin_url" -XAtqc "$1"; }
# the login limiter per address is per process by design (guard.c); the
# lock-out per user is the desk's, in the database
export THREATDESK_LOGIN_BURST=100

secret="hook-secret-$RANDOM$RANDOM-0123456789"
start_sinks "$secret"
port_a=$(free_port)
port_b=$(free_port)
fixed_base="http://127.0.0.1:$port_a"
write_alerts_config

# The owner applies the migrations once; the servers then open as td_app.
"$td" verify --db "$TD_PG_URL" --data-dir "$tmp/data" >/dev/null 2>"$tmp/migrate.err" ||
  { echo "migrating as the owner failed: $(cat "$tmp/migrate.err")"; exit 1; }

pids=()
start_one() { # NAME PORT
  "$td" serve --listen "127.0.0.1:$2" --db "$TD_PG_APP_URL" --data-dir "$tmp/data" \
    --alerts-config "$tmp/alerts.conf" --login-rate 1000 >"$tmp/out.$1" 2>>"$tmp/server.$1.log" &
  pids+=($!)
  wait_for 'grep -q "^listening on " "$tmp/out.'"$1"'"' 60 ||
    { echo "server $1 did not start:"; cat "$tmp/out.$1" "$tmp/server.$1.log"; exit 1; }
}
multi_cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  alerts_cleanup
}
trap multi_cleanup EXIT
start_one a "$port_a"
start_one b "$port_b"
A_URL=http://127.0.0.1:$port_a
B_URL=http://127.0.0.1:$port_b
on() { base=$1; shift; api "$@"; } # on URL METHOD PATH [BODY] [AUTH]

otp=$(sed -n "s/.*one-time password: //p" "$tmp/out.a" | head -1)
check "A made the admin on first start, B found it (no second one-time password)" \
  '[ -n "$otp" ] && ! grep -q "one-time password" "$tmp/out.b"'

# ---- sessions -------------------------------------------------------------
on "$A_URL" POST /v1/login "{\"username\":\"admin\",\"password\":\"$otp\"}"
check "admin logs in on A" '[ "$code" = 200 ]'
tok=$(jq_py 'j["token"]')
A="Authorization: Bearer $tok"
pw="admin-pw-$RANDOM$RANDOM"
on "$B_URL" PATCH /v1/users/admin "{\"password\":\"$pw\"}" "$A"
check "A's session changes the one-time password on B" '[ "$code" = 200 ]'
on "$A_URL" POST /v1/login "{\"username\":\"admin\",\"password\":\"$pw\"}"
A="Authorization: Bearer $(jq_py 'j["token"]')"
on "$B_URL" GET /v1/me "" "$A"
check "a session made on A works on B" '[ "$code" = 200 ] && [ "$(jq_py "j[\"role\"]")" = admin ]'
on "$A_URL" POST /v1/users '{"username":"cw","role":"caseworker","password":"pw-cw-123456"}' "$A"
check "admin adds a caseworker on A" '[ "$code" = 201 ]'
on "$B_URL" POST /v1/users '{"username":"sec","role":"security","password":"pw-sec-123456"}' "$A"
check "... and a security officer on B" '[ "$code" = 201 ]'
on "$B_URL" POST /v1/login '{"username":"cw","password":"pw-cw-123456"}'
check "the caseworker logs in on B" '[ "$code" = 200 ]'
CW="Authorization: Bearer $(jq_py 'j["token"]')"
on "$A_URL" POST /v1/login '{"username":"sec","password":"pw-sec-123456"}'
SEC="Authorization: Bearer $(jq_py 'j["token"]')"

# The web desk's cookie: logged in through A's form, a page from B.
code=$(curl -s -o "$tmp/body" -D "$tmp/login.h" -w '%{http_code}' -X POST \
  -H 'Content-Type: application/x-www-form-urlencoded' \
  --data-urlencode "username=cw" --data-urlencode "password=pw-cw-123456" "$A_URL/login")
cookie=$(sed -n 's/^[Ss]et-[Cc]ookie: \(td_session=[^;]*\).*/\1/p' "$tmp/login.h" | head -1)
check "the web login on A sets the session cookie (code $code)" '[ -n "$cookie" ] && [ "$cookie" != "td_session=" ]'
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Cookie: $cookie" "$B_URL/queue")
check "B serves the queue page to A's cookie (code $code)" '[ "$code" = 200 ] && grep -qi "queue" "$tmp/body"'

# A logout on one server ends the session on the other.
on "$A_URL" POST /v1/login '{"username":"cw","password":"pw-cw-123456"}'
tmp_tok="Authorization: Bearer $(jq_py 'j["token"]')"
on "$B_URL" POST /v1/logout "" "$tmp_tok"
check "logout on B (code $code)" '[ "$code" = 200 ] || [ "$code" = 204 ]'
on "$A_URL" GET /v1/me "" "$tmp_tok"
check "... and A no longer knows that session" '[ "$code" = 401 ]'

# ---- lock-out ---------------------------------------------------------------
on "$A_URL" POST /v1/users '{"username":"target","role":"observer","password":"pw-target-123456"}' "$A"
for i in 1 2 3 4 5; do
  on "$A_URL" POST /v1/login '{"username":"target","password":"wrong-guess"}'
done
check "five wrong passwords on A are refused" '[ "$code" = 401 ] || [ "$code" = 429 ]'
on "$B_URL" POST /v1/login '{"username":"target","password":"pw-target-123456"}'
check "B refuses even the right password: locked out (code $code)" '[ "$code" = 429 ]'
on "$A_URL" POST /v1/login '{"username":"target","password":"pw-target-123456"}'
check "... and so does A" '[ "$code" = 429 ]'
n=$(pq "SELECT count(*) FROM login_failures WHERE name = 'target'")
check "the failures are in the database ($n)" '[ "$n" -ge 5 ]'

# ---- idempotency ------------------------------------------------------------
idem() { # URL
  base=$1
  code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "$CW" \
    -H 'Content-Type: application/json' -H 'Idempotency-Key: multi-key-1' \
    --data-binary '{"text":"Thank you for the letter about the bus route.","channel":"email","sender":"email:bus@example.org"}' \
    "$1/v1/messages")
}
idem "$A_URL"
check "ingest with an Idempotency-Key on A -> 201 created" \
  '[ "$code" = 201 ] && [ "$(jq_py "j[\"status\"]")" = created ]'
first=$(jq_py 'j["id"]')
idem "$B_URL"
check "the same key on B -> 200, A's message ($first), not a new one" \
  '[ "$code" = 200 ] && [ "$(jq_py "j[\"status\"]")" = duplicate ] && [ "$(jq_py "j[\"id\"]")" = "$first" ]'
n=$(pq "SELECT count(*) FROM messages WHERE client_key = 'multi-key-1'")
check "one message filed ($n)" '[ "$n" = 1 ]'

# ---- alerts -----------------------------------------------------------------
on "$B_URL" POST /v1/alert-recipients "{\"name\":\"alice\",\"webhook_url\":\"http://127.0.0.1:$hook_port/hook\",\"webhook_secret\":\"$secret\"}" "$SEC"
check "a webhook recipient (on B)" '[ "$code" = 201 ]'
alice=$(jq_py 'j["id"]')
on "$A_URL" POST /v1/alert-rules "{\"name\":\"critical now\",\"min_tier\":\"critical\",\"channels\":[\"webhook\"],\"rota\":[$alice]}" "$SEC"
check "a rule: critical -> alice's webhook (on A)" '[ "$code" = 201 ]'
threat='We know where you live at 14 Elm Street and we will burn your house down on Friday night.'
on "$A_URL" POST /v1/messages "{\"text\":\"$threat\",\"channel\":\"email\",\"sender\":\"email:menace@example.net\"}" "$CW"
check "a critical threat filed on A" '[ "$code" = 201 ] && [ "$(jq_py "j[\"severity\"]")" = critical ]'
crit=$(jq_py 'j["id"]')
wait_for '[ -s "$tmp/hook.jsonl" ]' 30
# both workers poll every 100 ms: give a second delivery time to happen
sleep 3
hooks=$(python3 -c 'import json,sys
print(sum(1 for l in open(sys.argv[1]) if json.loads(l).get("verified")))' "$tmp/hook.jsonl")
check "the webhook was called once, verified ($hooks)" '[ "$hooks" = 1 ]'
row=$(pq "SELECT d.state || ',' || d.attempts || ',' || (SELECT count(*) FROM alert_attempts t WHERE t.delivery_id = d.id)
          FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id WHERE a.message_id = $crit")
check "one outbox row: delivered, one attempt ($row)" '[ "$row" = "delivered,1,1" ]'
on "$B_URL" GET /v1/alerts "" "$CW"
check "B lists the one alert A raised" \
  '[ "$code" = 200 ] && [ "$(jq_py "[a[\"message\"] for a in j[\"alerts\"]]")" = "[$crit]" ]'

# ---- the chain the two servers wrote together -------------------------------
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
pids=()
"$td" verify --db "$TD_PG_URL" --data-dir "$tmp/data" >"$tmp/verify.out" 2>&1
check "verify: the audit chain both servers wrote is intact ($(tail -1 "$tmp/verify.out"))" \
  'grep -q "verify: intact" "$tmp/verify.out"'
finish
