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
start_server
api POST /v1/login "{\"username\":\"admin\",\"password\":\"$admin_password\"}"
A="Authorization: Bearer $(jq_py 'j["token"]')"
pw="pw-web-$RANDOM$RANDOM"
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
n=$(ls "$shots"/*.png 2>/dev/null | wc -l)
check "screenshots at 1280 and 360 px written ($n)" '[ "$n" -ge 18 ]'
big=$(find "$shots" -name '*.png' -size +300k | wc -l)
check "screenshots are small (none over 300 KB)" '[ "$big" = 0 ]'
check "no message text in the server log" \
  '! grep -qi "knife\|kill you\|Oak Road\|traitor" "$tmp/server.log"'
stop_server
finish
