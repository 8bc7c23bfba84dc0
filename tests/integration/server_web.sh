#!/usr/bin/env bash
# server_web.sh - the web desk (issue 9) in a real browser.
#
# Starts `threatdesk serve` on loopback with a temporary store, makes the
# office's people through the API (caseworker cw, security lead sec,
# observer obs, police pc) and a second office with its admin (boss), then
# runs tests/browser/web.test.js: Playwright (playwright-core from npm, no
# browser download) driving Debian's chromium, axe-core on every page.
# Screenshots (1280 and 360 px) go to <build dir>/web-shots/.
# Then checks from outside: the server's log holds no message text.
td=${1:?usage: server_web.sh path/to/threatdesk}
td=$(cd "$(dirname "$td")" && pwd)/$(basename "$td")
cd "$(dirname "$0")/../.."
. tests/integration/server_lib/common.sh

if ! command -v node >/dev/null || [ ! -x "${TD_CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "SKIP: node or chromium missing (scripts/install-deps.sh installs them)"
  exit 77
fi
if [ ! -d tests/browser/node_modules/playwright-core ] || [ ! -d tests/browser/node_modules/axe-core ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error > "$tmp/npm.txt" 2>&1) ||
    { cat "$tmp/npm.txt"; echo "FAIL: npm ci in tests/browser"; exit 1; }
fi

export TZ=Europe/London  # the server writes UK dates in local time
# Seven people log in within a minute from one address; the per-address
# limit itself is server_login_flood.sh's (the web form shares it).
export THREATDESK_LOGIN_RATE=600 THREATDESK_LOGIN_BURST=100
start_server
api POST /v1/login "{\"username\":\"admin\",\"password\":\"$admin_password\"}"
A="Authorization: Bearer $(jq_py 'j["token"]')"
pw="pw-web-$RANDOM$RANDOM"
# the admin too, for the staff page (PATCH ends its sessions)
api PATCH /v1/users/admin "{\"password\":\"$pw\"}" "$A"
api POST /v1/login "{\"username\":\"admin\",\"password\":\"$pw\"}"
A="Authorization: Bearer $(jq_py 'j["token"]')"
for u in cw:caseworker sec:security obs:observer pc:police; do
  api POST /v1/users "{\"username\":\"${u%%:*}\",\"role\":\"${u#*:}\",\"password\":\"$pw\"}" "$A"
  check "admin adds ${u%%:*}" '[ "$code" = 201 ]'
done
"$td" office add other --db "$db" --data-dir "$data" > /dev/null 2>&1
echo "$pw" | "$td" user add boss --office other --role admin --db "$db" --data-dir "$data" \
  > /dev/null 2>&1
check "a second office with its admin" '[ $? = 0 ]'
# Something already in the queue, less urgent than what arrives live.
api POST /v1/messages '{"text":"Thank you for the help with the planning appeal.","channel":"email","sender":"email:kind@example.org"}' "$A"
api POST /v1/messages '{"text":"You lying traitor scum.","channel":"twitter","sender":"twitter:@rude"}' "$A"
check "seed messages stored" '[ "$code" = 201 ]'

shots=$(dirname "$td")/web-shots
rm -rf "$shots"
if TD_BASE="$base" TD_PW="$pw" TD_SHOTS="$shots" \
    node --test --test-reporter=spec tests/browser/web.test.js > "$tmp/node.txt" 2>&1; then
  ok
else
  bad "browser tests (tests/browser/web.test.js)"
fi
cat "$tmp/node.txt"
# The role set on /staff is audited as PATCH /v1/users audits it: by the
# admin, "user.role" with the old and the new role (and nothing else moved).
role_audit=$(sqlite3 "$db" "SELECT a.action || ' ' || a.details FROM audit a JOIN users u ON u.id = a.user_id WHERE a.action = 'user.role' AND u.name = 'admin' AND a.details LIKE '%promo%'" 2>&1)
ret_audit=$(sqlite3 "$db" "SELECT a.action || ' ' || a.details FROM audit a JOIN users u ON u.id = a.user_id WHERE a.action = 'office.retention' AND u.name = 'admin'" 2>&1)
check "the retention set on /settings is audited as PUT /v1/retention does: $ret_audit" \
  '[ "$(echo "$ret_audit" | wc -l)" = 1 ] && echo "$ret_audit" | grep -q "\"retention_days\": *30.*\"was\": *0"'
check "the role change is audited: $role_audit" \
  'echo "$role_audit" | grep -q "user.role .*\"from\": *\"caseworker\".*\"to\": *\"security\""'
n=$(ls "$shots"/*.png 2>/dev/null | wc -l)
check "screenshots at 1280 and 360 px written ($n)" '[ "$n" -ge 18 ]'
big=$(find "$shots" -name '*.png' -size +300k | wc -l)
check "screenshots are small (none over 300 KB)" '[ "$big" = 0 ]'
# Live events over plain HTTP: a caseworker's stream gets ids and
# severities, never text; and an open stream does not hold up shutdown.
curl -s -c "$tmp/jar" -o /dev/null -d "username=cw&password=$pw" "$base/login"
curl -sN -b "$tmp/jar" "$base/events" > "$tmp/sse.txt" 2>/dev/null &
sse_pid=$!
for _ in $(seq 1 50); do grep -q connected "$tmp/sse.txt" && break; sleep 0.1; done
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/events")
check "/events without a session -> 401" '[ "$code" = 401 ]'
api POST /v1/login "{\"username\":\"cw\",\"password\":\"$pw\"}"
C="Authorization: Bearer $(jq_py 'j["token"]')"
api POST /v1/messages '{"text":"Someone should put a bullet in her.","channel":"email","sender":"email:sse@example.org"}' "$C"
sse_id=$(jq_py 'j["id"]')
for _ in $(seq 1 50); do grep -q "event: message" "$tmp/sse.txt" && break; sleep 0.1; done
check "the stream carries the new message's id and severity" \
  'grep -q "^data: {\"id\":$sse_id,\"severity\":\"critical\"}" "$tmp/sse.txt"'
check "and no text" '! grep -q "bullet" "$tmp/sse.txt"'
# Filed by another process (the importer a mail fetch would be): the
# stream's own look at the queue (every 5 s) tells the page.
echo "I will burn your office down tonight." > "$tmp/import.txt"
"$td" import --db "$db" --data-dir "$data" --format text "$tmp/import.txt" > /dev/null 2>&1
check "threatdesk import files a message beside the server" '[ $? = 0 ]'
for _ in $(seq 1 150); do grep -q "event: queue" "$tmp/sse.txt" && break; sleep 0.1; done
check "the stream tells of a message filed by another process (looks every 5 s)" \
  'grep -q "^event: queue" "$tmp/sse.txt"'
check "still no text" '! grep -q "burn" "$tmp/sse.txt"'
check "no message text in the server log" \
  '! grep -qi "knife\|kill you\|Oak Road\|traitor\|bullet" "$tmp/server.log"'
check "no sender key from the queue's sender filter in the server log (path only, no query)" \
  '! grep -q "rude" "$tmp/server.log"'
# Logging out ends the session's stream (at its next look, within 5 s).
csrf=$(curl -s -b "$tmp/jar" "$base/queue" | sed -n 's/.*name="csrf-token" content="\([0-9a-f]*\)".*/\1/p')
code=$(curl -s -o /dev/null -w '%{http_code}' -b "$tmp/jar" -d "csrf=$csrf" "$base/logout")
check "log out -> 303" '[ "$code" = 303 ]'
for _ in $(seq 1 150); do kill -0 "$sse_pid" 2>/dev/null || break; sleep 0.1; done
check "the logged-out stream has ended" '! kill -0 "$sse_pid" 2>/dev/null'
code=$(curl -s -o /dev/null -w '%{http_code}' -b "$tmp/jar" "$base/queue")
check "the old cookie opens nothing (303 to /login)" '[ "$code" = 303 ]'
curl -s -c "$tmp/jar" -o /dev/null -d "username=cw&password=$pw" "$base/login"
curl -sN -b "$tmp/jar" "$base/events" > "$tmp/sse2.txt" 2>/dev/null &
sse_pid=$!
for _ in $(seq 1 50); do grep -q connected "$tmp/sse2.txt" && break; sleep 0.1; done
t0=$(date +%s%N)
stop_server
t1=$(date +%s%N)
wait "$sse_pid" 2>/dev/null
check "shutdown with a live stream open: clean and prompt ($(((t1 - t0) / 1000000)) ms)" \
  '[ "$srv_rc" = 0 ] && [ $(((t1 - t0) / 1000000)) -lt 8000 ]'

# The login form goes through the API's per-address limit (default: bursts
# of 5) before any password is hashed.
unset THREATDESK_LOGIN_RATE THREATDESK_LOGIN_BURST
start_server
codes=
for i in 1 2 3 4 5 6 7; do
  codes="$codes $(curl -s -o /dev/null -w '%{http_code}' -d "username=nobody$i&password=x" "$base/login")"
done
check "the 6th and 7th logins from one address -> 429 ($codes)" '[ "$codes" = " 401 401 401 401 401 429 429" ]'
stop_server

# Under TLS the session cookie is also Secure.
if command -v openssl >/dev/null; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 1 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 > /dev/null 2>&1
  export THREATDESK_LOGIN_RATE=600 THREATDESK_LOGIN_BURST=100
  start_server --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem"
  curl -s -m 20 --cacert "$tmp/cert.pem" -D "$tmp/headers" -o /dev/null \
    -d "username=cw&password=$pw" "$base/login"
  check "https: the session cookie is HttpOnly, SameSite=Strict and Secure" \
    'grep -qi "^set-cookie: td_session=[0-9a-f]\{64\}; Path=/; HttpOnly; SameSite=Strict; Secure" "$tmp/headers"'
  stop_server
fi
finish
