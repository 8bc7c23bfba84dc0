#!/usr/bin/env bash
# bench_alerts.sh - alert latency from ingest to SMTP delivery (issue 10):
# N critical threats (default 1,000) are posted to a running desk one
# request at a time, each rule-matched into an alert in its own
# transaction, and delivered by the server's worker to an aiosmtpd server
# on loopback, which records each arrival time.  Latency = arrival minus the
# moment just before the message's POST; p50 and p99 over the N alerts,
# once back to back (the worker behind a flood) and once paced at RATE
# messages a second (default 20: an office's worst hour is far below).
# Figures print to stdout and land in bench/out/bench_alerts.txt.
# Usage: bench/bench_alerts.sh [path/to/threatdesk]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-1000}
RATE=${RATE:-20}
out="$root/bench/out"
mkdir -p "$out"
td=${1:-}
if [ -z "$td" ]; then
  "$root/scripts/build.sh" "$root/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
  td="$root/build-bench/threatdesk"
fi
export THREATDESK_HOME="$root" TZ=UTC
. "$root/tests/integration/server_lib/common.sh"
. "$root/tests/integration/alerts_lib/alerts.sh"

run() { # label rate
  rm -rf "$tmp/desk.db"* "$tmp/data"
  start_sinks "unused-secret-0123456789"
  port=$(free_port)
  fixed_base="http://127.0.0.1:$port"
  write_alerts_config
  sed -i '/^poll_ms/d' "$tmp/alerts.conf" # the default poll: a commit wakes the worker
  start_server --login-rate 1000
  stop_server
  "$td" serve --listen "127.0.0.1:$port" --db "$db" --data-dir "$data" --log-level error \
    --alerts-config "$tmp/alerts.conf" > "$tmp/out" 2>> "$tmp/server.log" &
  srv_pid=$!
  base=$fixed_base
  wait_for 'grep -q "^listening on " "$tmp/out"' 30 || { cat "$tmp/server.log"; exit 1; }
  api POST /v1/login "{\"username\":\"admin\",\"password\":\"$admin_password\"}"
  token=$(jq_py 'j["token"]')
  A="Authorization: Bearer $token"
  api POST /v1/alert-recipients '{"name":"security lead","email":"security@office.example.org"}' "$A"
  api POST /v1/alert-rules "{\"name\":\"critical\",\"min_tier\":\"critical\",\"channels\":[\"email\"],\"rota\":[$(jq_py 'j["id"]')]}" "$A"
  [ "$code" = 201 ] || { echo "rule: $code $(cat "$tmp/body")"; exit 1; }
  python3 "$root/bench/bench_alerts.py" ingest "$base" "$token" "$N" "$2" "$tmp/sent.jsonl"
  want=$(grep -c '"critical"' "$tmp/sent.jsonl" || true)
  wait_for '[ "$(smtp_count "True")" -ge "$want" ]' 600 || echo "(timed out waiting for mail)"
  stop_server
  echo "== $1"
  python3 "$root/bench/bench_alerts.py" report "$tmp/sent.jsonl" "$tmp/smtp.jsonl" "$db"
  local p; for p in "${sink_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
  sink_pids=()
}

{
  echo "bench_alerts: $N critical messages, $(nproc) cores, $("$td" --version 2>/dev/null || echo threatdesk)"
  run "back to back (one client, as fast as the desk answers)" 0
  run "paced at $RATE messages/s" "$RATE"
} | tee "$out/bench_alerts.txt"
