#!/usr/bin/env bash
# bench_mbox.sh - throughput of mbox ingestion + analysis.
#
#   threatdesk   `scan --json` over a generated mbox of N messages (default
#                100,000; gen_mbox.py, in /tmp, never committed): GMime
#                parse, charset/transfer decoding, HTML to text, quote
#                stripping, attachment SHA-256, de-duplication, analysis.
#   analysis     `scan --lines` over the same bodies as plain lines: the
#                engine alone, so the difference is the cost of ingestion.
#   baseline     Python's mailbox + email (policy.default, get_body) reading
#                the same file into text - parsing only, no analysis.
#   big          one message with a BIG_MB (default 200) MB attachment then
#                a small one: the attachment is hashed streaming, so peak RSS
#                stays near the figure of the runs above.
# Figures: messages/s, MB/s of input, peak RSS (memory must not grow with N).
# Usage: bench/bench_mbox.sh [threatdesk-binary] [N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
td=${1:-}
N=${2:-100000}
if [ -z "$td" ]; then
  cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$root/build-bench" --target threatdesk -j2 >/dev/null
  td="$root/build-bench/threatdesk"
fi
export THREATDESK_HOME="$root"
work=$(mktemp -d /tmp/td_bench_mbox.XXXXXX)
trap 'rm -rf "$work"' EXIT
mbox="$work/bench.mbox"
python3 "$root/bench/gen_mbox.py" "$N" "$mbox"
bytes=$(stat -c %s "$mbox")
mb=$(python3 -c "print(f'{$bytes/1e6:.1f}')")
echo "== $N messages, $mb MB ($mbox)"

run() { # label, messages, input bytes, command...  -> prints msgs/s, MB/s, RSS
  local label=$1 n=$2 inbytes=$3; shift 3
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>"$work/err" || true
  read -r secs rss < <(tail -n 1 "$work/time") # "Command exited..." may precede
  if ! grep -q '"severity"' "$work/out"; then
    echo "$label: failed: $(head -c 300 "$work/err")" >&2
    return 1
  fi
  python3 - "$label" "$secs" "$rss" "$n" "$inbytes" <<'PY'
import sys
label, secs, rss, n, b = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(f"{label:<34} {secs:8.2f} s {n/secs:10.0f} msg/s {b/1e6/secs:8.1f} MB/s  peak RSS {rss/1024:7.1f} MB")
PY
}

run "threatdesk scan (ingest+analysis)" "$N" "$bytes" "$td" scan --json "$mbox"
records=$(grep -c '"severity"' "$work/out" || true)
dups=$(grep -c '"duplicate_of"' "$work/out" || true)
errors=$(grep -c '"error"' "$work/out" || true)
threats=$(grep -c '"predicted":\[[^]]*"threat"' "$work/out" || true)
echo "   records analysed $records, duplicates $dups, errors $errors, labelled threat $threats"

# baseline: the first B messages (default 20,000: Python is slow) into text
# with Python's standard library; its output (one body per line) then feeds
# the engine-only run
B=$(( N < ${BASELINE_N:-20000} ? N : ${BASELINE_N:-20000} ))

python3 - "$mbox" "$work/bodies.txt" "$B" <<'PY'
import mailbox, email.policy, sys, time
limit = int(sys.argv[3])
t0 = time.time()
n = 0
nbytes = 0
with open(sys.argv[2], "w") as out:
    for msg in mailbox.mbox(sys.argv[1], factory=lambda f: email.message_from_binary_file(f, policy=email.policy.default)):
        if n == limit:
            break
        nbytes += len(msg.as_bytes())
        b = msg.get_body(preferencelist=("plain", "html"))
        text = b.get_content() if b is not None else ""
        out.write(" ".join(text.split()) + "\n")
        n += 1
dt = time.time() - t0
print(f"{'python mailbox+email (parse only)':<34} {dt:8.2f} s {n/dt:10.0f} msg/s {nbytes/1e6/dt:8.1f} MB/s  ({n} messages)")
PY
run "threatdesk scan --lines (analysis)" "$B" "$(stat -c %s "$work/bodies.txt")" \
  "$td" scan --json --lines "$work/bodies.txt"

# a huge attachment: memory must stay bounded
big="$work/big.mbox"
python3 - "$big" "${BIG_MB:-200}" <<'PY'
import sys
path, mb = sys.argv[1], int(sys.argv[2])
line = b"A" * 76 + b"\n"  # 57 zero bytes per line
with open(path, "wb") as f:
    f.write(b"From x@example.com Thu Nov  5 08:00:00 2026\nFrom: Big <big@example.com>\n"
            b"Subject: big\nMessage-ID: <big@example.com>\nMIME-Version: 1.0\n"
            b"Content-Type: multipart/mixed; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\n"
            b"see attached\n--B\nContent-Type: application/octet-stream\n"
            b"Content-Disposition: attachment; filename=\"big.bin\"\n"
            b"Content-Transfer-Encoding: base64\n\n")
    chunk = line * 10000
    for _ in range(mb * 1000000 // (57 * 10000)):
        f.write(chunk)
    f.write(b"\n--B--\n\nFrom y@example.com Thu Nov  5 08:01:00 2026\nFrom: Next <n@example.com>\n"
            b"Subject: next\n\nstill read\n")
PY
/usr/bin/time -f "%e %M" -o "$work/time" "$td" scan --json "$big" >"$work/out" 2>"$work/err" || true
read -r secs rss < <(tail -n 1 "$work/time")
warn=$(python3 -c "import json; r=json.loads(open('$work/out').readline()); print(r.get('warning',''))")
python3 - "$secs" "$rss" "$(stat -c %s "$big")" "$(grep -c '"severity"' "$work/out")" <<'PY'
import sys
secs, rss, b, n = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f"{'big attachment (' + str(round(b/1e6)) + ' MB mbox)':<34} {secs:8.2f} s {b/1e6/secs:10.1f} MB/s  peak RSS {rss/1024:7.1f} MB  messages {n}")
PY
echo "   first message: $warn"
