#!/usr/bin/env bash
# bench_web.sh - the web desk's queue with 10,000 messages stored.
#   1. stores N messages (default 10000) through POST /v1/messages:batch
#      (analysed and committed, 1000 a request);
#   2. GET /queue (first page, 50 rows, rendered by the server) REPEAT
#      times with curl: median and 95th percentile of the whole response,
#      and its size; the same for a deep page (/queue?page=150);
#   3. the queue in Debian's chromium (playwright-core from tests/browser):
#      first contentful paint and load of /queue, median of REPEAT loads.
# The target (issue 9): first paint < 300 ms, page <= 150 KB.
# Figures print to stdout and land in bench/out/bench_web.txt.
# Usage: bench/bench_web.sh [path/to/threatdesk]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-10000}
REPEAT=${REPEAT:-20}
out="$root/bench/out"
mkdir -p "$out"
td=${1:-}
if [ -z "$td" ]; then
  "$root/scripts/build.sh" "$root/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
  td="$root/build-bench/threatdesk"
fi
export THREATDESK_HOME="$root"
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -TERM $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

"$td" serve --listen 127.0.0.1:0 --db "$tmp/desk.db" --data-dir "$tmp/data" \
  --log-level error > "$tmp/out" 2> "$tmp/log" &
pid=$!
for _ in $(seq 1 300); do grep -q '^listening on ' "$tmp/out" && break; sleep 0.1; done
base=$(sed -n 's/^listening on //p' "$tmp/out")
pw=$(sed -n 's/.*one-time password: //p' "$tmp/out")
[ -n "$base" ] || { echo "server did not start"; cat "$tmp/log"; exit 1; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
tok=$(curl -s -d "{\"username\":\"admin\",\"password\":\"$pw\"}" "$base/v1/login" | json '["token"]')
curl -s -o /dev/null -X PATCH -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
  -d '{"password":"bench-admin-pw-1"}' "$base/v1/users/admin"
tok=$(curl -s -d '{"username":"admin","password":"bench-admin-pw-1"}' "$base/v1/login" | json '["token"]')

# ---- 1. N messages -------------------------------------------------------------
python3 - "$N" "$tmp" <<'PY'
import json, random, sys
n, tmp = int(sys.argv[1]), sys.argv[2]
random.seed(9)
texts = ["Thank you for your help with the planning appeal, it meant a lot.",
         "When will the bins be collected on Elm Street? It has been three weeks.",
         "You lying traitor scum, everyone knows what you did.",
         "Someone should put a bullet in her before the election.",
         "I will kill you, I know where you live and I will come with a knife tonight.",
         "Please could you raise the bus route cuts in the chamber next week?",
         "We are watching your office. Every day. Think about that.",
         "Great speech at the school on Friday, the children loved it."]
chans = ["email", "twitter", "facebook", "webform"]
batch = []
k = 0
for i in range(n):
    batch.append({"text": "%s (#%d)" % (random.choice(texts), i), "channel": random.choice(chans),
                  "sender": "email:sender%d@example.org" % random.randrange(800),
                  "subject": "Message %d" % i, "client_key": "bench-%d" % i,
                  "received": 1796306700 - random.randrange(30 * 86400)})
    if len(batch) == 1000 or i == n - 1:
        json.dump({"messages": batch}, open("%s/batch%03d.json" % (tmp, k), "w"))
        batch, k = [], k + 1
PY
t0=$(date +%s.%N)
for f in "$tmp"/batch*.json; do
  code=$(curl -s -o "$tmp/b.json" -w '%{http_code}' -H "Authorization: Bearer $tok" \
    -H 'Content-Type: application/json' --data-binary "@$f" "$base/v1/messages:batch")
  [ "$code" = 200 ] || { echo "batch $f -> $code"; head -c 300 "$tmp/b.json"; exit 1; }
done
t1=$(date +%s.%N)
stored=$(curl -s -H "Authorization: Bearer $tok" "$base/v1/queue?status=all&limit=1" | json '["total"]')

# ---- 2. server-rendered queue, curl ----------------------------------------------
curl -s -c "$tmp/jar" -o /dev/null -d "username=admin&password=bench-admin-pw-1" "$base/login"
times() {
  for _ in $(seq 1 "$REPEAT"); do
    curl -s -b "$tmp/jar" -o "$tmp/page.html" -w '%{time_total}\n' "$base$1"
  done | sort -n | awk '{a[NR]=$1*1000} END {printf "median %.1f ms, p95 %.1f ms", a[int((NR+1)/2)], a[int(NR*0.95+0.5)]}'
}
q1=$(times /queue)
size1=$(wc -c < "$tmp/page.html")
rows=$(grep -o 'class="row ' "$tmp/page.html" | wc -l)
q150=$(times "/queue?page=150&view=all")

# ---- 3. chromium: first contentful paint ---------------------------------------
fcp="not measured (run npm ci in tests/browser)"
if [ -d "$root/tests/browser/node_modules/playwright-core" ]; then
  fcp=$(TD_BASE="$base" REPEAT="$REPEAT" NODE_PATH="$root/tests/browser/node_modules" node - <<'JS'
const { chromium } = require('playwright-core');
(async () => {
  const b = await chromium.launch({ executablePath: process.env.TD_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  const ctx = await b.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await ctx.newPage();
  await p.goto(process.env.TD_BASE + '/login');
  await p.fill('#username', 'admin'); await p.fill('#password', 'bench-admin-pw-1');
  await Promise.all([p.waitForNavigation(), p.click('button[type=submit]')]);
  const fcp = [], load = [], bytes = [];
  for (let i = 0; i < Number(process.env.REPEAT); i++) {
    await p.goto(process.env.TD_BASE + '/queue', { waitUntil: 'load' });
    await p.waitForFunction(() => performance.getEntriesByName('first-contentful-paint').length > 0,
      null, { timeout: 5000 }).catch(() => {});
    const m = await p.evaluate(() => {
      const e = performance.getEntriesByName('first-contentful-paint')[0];
      const n = performance.getEntriesByType('navigation')[0];
      return { fcp: e ? e.startTime : -1, load: n.loadEventEnd, bytes: n.decodedBodySize };
    });
    fcp.push(m.fcp); load.push(m.load); bytes.push(m.bytes);
  }
  const med = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
  console.log(`median ${med(fcp).toFixed(0)} ms (load ${med(load).toFixed(0)} ms; max FCP ${Math.max(...fcp).toFixed(0)} ms)`);
  await b.close();
})().catch((e) => { console.log('failed: ' + e.message); process.exit(0); });
JS
)
fi
css=$(curl -s "$base/static/app.css" | wc -c)
js=$(curl -s "$base/static/app.js" | wc -c)

{
  echo "bench_web: $stored messages stored ($N sent in batches of 1000 in $(awk "BEGIN {printf \"%.1f\", $t1 - $t0}") s)"
  echo "  GET /queue (first page, $rows rows, server-rendered): $q1"
  echo "  GET /queue?page=150 (rows 7451-7500 of everything):  $q150"
  echo "  queue page weight: HTML $size1 B + app.css $css B + app.js $js B = $((size1 + css + js)) B (target <= 153600)"
  echo "  chromium first contentful paint of /queue: $fcp (target < 300 ms)"
} | tee "$out/bench_web.txt"
# KEEP_DB=path keeps the store for a closer look (sqlite3 EXPLAIN QUERY PLAN).
[ -n "${KEEP_DB:-}" ] && cp "$tmp/desk.db" "$KEEP_DB"
exit 0
