# alerts.sh - helpers for tests/integration/alerts_*.sh and bench_alerts.sh
# (sourced after server_lib/common.sh, which sets $tmp).
#
# start_sinks SECRET      an aiosmtpd server and a webhook receiver on
#                         loopback: $smtp_port, $hook_port; logs
#                         $tmp/smtp.jsonl, $tmp/hook.jsonl; behaviour from
#                         $tmp/smtp.mode and $tmp/hook.mode
# write_alerts_config     $tmp/alerts.conf for a server at $fixed_base
# wait_for CONDITION [S]  poll a shell condition for up to S seconds (20)
# smtp_count PYEXPR       accepted mails for which PYEXPR(m) holds

# aiosmtpd is a Debian package: the system interpreter has it even where
# another python3 comes first in PATH.
alerts_py=python3
for p in /usr/bin/python3 python3; do
  if "$p" -c 'import aiosmtpd' 2>/dev/null; then alerts_py=$p; break; fi
done
alerts_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sink_pids=()
alerts_cleanup() {
  local p
  for p in "${sink_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  cleanup
}
trap alerts_cleanup EXIT

start_sinks() {
  : > "$tmp/smtp.jsonl"; : > "$tmp/hook.jsonl"
  rm -f "$tmp/smtp.port" "$tmp/hook.port"
  echo accept > "$tmp/smtp.mode"; echo accept > "$tmp/hook.mode"
  "$alerts_py" "$alerts_lib/smtp_sink.py" "$tmp/smtp.port" "$tmp/smtp.jsonl" "$tmp/smtp.mode" \
    2>> "$tmp/sinks.log" &
  sink_pids+=($!)
  "$alerts_py" "$alerts_lib/webhook_sink.py" "$1" "$tmp/hook.port" "$tmp/hook.jsonl" \
    "$tmp/hook.mode" 2>> "$tmp/sinks.log" &
  sink_pids+=($!)
  wait_for '[ -s "$tmp/smtp.port" ] && [ -s "$tmp/hook.port" ]' 20 ||
    { echo "sinks did not start"; cat "$tmp/sinks.log"; exit 1; }
  smtp_port=$(cat "$tmp/smtp.port"); hook_port=$(cat "$tmp/hook.port")
}

# A port for the desk fixed before it starts, so alert links can name it.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

write_alerts_config() {
  cat > "$tmp/alerts.conf" <<CONF
# written by tests/integration/alerts_lib/alerts.sh
smtp_url = smtp://127.0.0.1:$smtp_port
smtp_tls = none
smtp_from = alerts@desk.example.org
base_url = $fixed_base
poll_ms = 100
backoff_base_s = 1
backoff_cap_s = 2
lease_s = 3
minute_s = 1
timeout_s = 60
CONF
}

wait_for() {
  local cond=$1 secs=${2:-20} i
  for i in $(seq 1 $((secs * 10))); do
    if eval "$cond"; then return 0; fi
    sleep 0.1
  done
  return 1
}

smtp_count() {
  python3 - "$tmp/smtp.jsonl" "$1" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("event") == "accepted" and eval(sys.argv[2], {"m": m}):
        n += 1
print(n)
PY
}
