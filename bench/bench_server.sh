#!/usr/bin/env bash
# bench_server.sh - the HTTP desk under load on loopback, measured with wrk:
#   1. single-message analysis: POST /v1alpha1/comments:analyze (the
#      Perspective-compatible endpoint), one message per request;
#   2. batch ingest with durable commits: POST /v1/messages:batch, BATCH
#      messages per request (default 50), each committed to SQLite before
#      the 2xx;
# and the server's resident memory (VmRSS now, VmHWM peak) from /proc.
# Each run is bounded (DURATION seconds, default 10) with CONNS connections
# (default 8) on 2 wrk threads.  Figures print to stdout and land in
# bench/out/bench_server.txt.
# Usage: bench/bench_server.sh [path/to/threatdesk]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}
CONNS=${CONNS:-8}
BATCH=${BATCH:-50}
out="$root/bench/out"
mkdir -p "$out"
td=${1:-}
if [ -z "$td" ]; then
  "$root/scripts/build.sh" "$root/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
  td="$root/build-bench/threatdesk"
fi
command -v wrk >/dev/null || { echo "wrk is not installed (scripts/install-deps.sh)"; exit 2; }
export THREATDESK_HOME="$root"
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -TERM $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

"$td" serve --listen 127.0.0.1:0 --db "$tmp/desk.db" --data-dir "$tmp/data" \
  --perspective-open --log-level error > "$tmp/out" 2> "$tmp/log" &
pid=$!
for _ in $(seq 1 300); do grep -q '^listening on ' "$tmp/out" && break; sleep 0.1; done
base=$(sed -n 's/^listening on //p' "$tmp/out")
pw=$(sed -n 's/.*one-time password: //p' "$tmp/out")
[ -n "$base" ] || { echo "server did not start"; cat "$tmp/log"; exit 1; }

mem() { awk '/^VmRSS|^VmHWM/ {printf "%s %s %s  ", $1, $2, $3}' "/proc/$pid/status"; echo; }

# wrk --latency prints "Latency Distribution" with 50% and 99% lines.
summarise() {
  local name=$1 file=$2 per=$3
  local rps p50 p99 non2xx
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$file")
  p50=$(awk '$1 == "50%" {print $2}' "$file")
  p99=$(awk '$1 == "99%" {print $2}' "$file")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$file")
  printf "%-34s %10s req/s  %10s msg/s  p50 %8s  p99 %8s  non-2xx %s\n" "$name" "$rps" \
    "$(awk -v r="$rps" -v p="$per" 'BEGIN {printf "%.0f", r * p}')" "$p50" "$p99" "${non2xx:-0}"
}

{
  echo "threatdesk serve on $base, $(nproc) cores, wrk -t2 -c$CONNS -d${DURATION}s"
  echo "memory at start: $(mem)"

  wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$root/bench/wrk_perspective.lua" \
    "$base/v1alpha1/comments:analyze" > "$tmp/p.txt" 2> "$tmp/p.err"
  summarise "analysis (comments:analyze)" "$tmp/p.txt" 1
  echo "memory after analysis: $(mem)"

  curl -s -X POST -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$pw\"}" "$base/v1/login" > "$tmp/login.json"
  token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$tmp/login.json")
  # The one-time password must be changed before anything else.
  curl -s -o /dev/null -X PATCH -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
    -d '{"password":"bench-admin-password"}' "$base/v1/users/admin"
  curl -s -X POST -H 'Content-Type: application/json' \
    -d '{"username":"admin","password":"bench-admin-password"}' "$base/v1/login" > "$tmp/login.json"
  token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$tmp/login.json")
  TD_TOKEN=$token BATCH=$BATCH wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency \
    -s "$root/bench/wrk_batch.lua" "$base/v1/messages:batch" > "$tmp/b.txt" 2> "$tmp/b.err"
  summarise "batch ingest ($BATCH/req, durable)" "$tmp/b.txt" "$BATCH"
  echo "memory after ingest: $(mem)"
  stored=$(sqlite3 "$tmp/desk.db" 'select count(*) from messages' 2>/dev/null || echo '?')
  echo "messages in the store: $stored"
  if [ -s "$tmp/p.err" ] || [ -s "$tmp/b.err" ]; then
    echo "errors reported by wrk scripts (first lines):"
    head -3 "$tmp/p.err" "$tmp/b.err"
  fi
} | tee "$out/bench_server.txt"
