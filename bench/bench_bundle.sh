#!/usr/bin/env bash
# bench_bundle.sh - the police evidence bundle of a big case (issue 10):
# one case holding N messages (default 500, analysed and filed through the
# HTTP desk) and EVIDENCE_MB of evidence (default 200, in 4 files of
# random bytes: nothing compresses).  Measured with /usr/bin/time -v:
#   threatdesk bundle       gather, stream originals and evidence into the
#                           tar, hash every member, PDF summary, sign
#   threatdesk verify-bundle   the offline check of the same file
#   baseline                plain `tar -cf` of the same originals and
#                           evidence files, then `sha256sum` of them (what
#                           a hand-made, unsigned bundle would cost)
# and GET /v1/cases/{id}/bundle's wall time through the server.  Peak RSS
# shows memory is bounded: it must stay far below the evidence's size.
# Then the CSV export's memory against its rows: `threatdesk export queue`
# of the N messages, and of CSV_ROWS (default 100,000) after the messages
# are copied in bulk with the sqlite3 shell (a bench-only store: its audit
# chain no longer vouches for those rows).
# Figures print to stdout and land in bench/out/bench_bundle.txt.
# Usage: bench/bench_bundle.sh [path/to/threatdesk]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-500}
EVIDENCE_MB=${EVIDENCE_MB:-200}
CSV_ROWS=${CSV_ROWS:-100000}
out="$root/bench/out"
mkdir -p "$out"
td=${1:-}
if [ -z "$td" ]; then
  "$root/scripts/build.sh" "$root/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
  td="$root/build-bench/threatdesk"
fi
export THREATDESK_HOME="$root" THREATDESK_LOGIN_BURST=100
. "$root/tests/integration/server_lib/common.sh"

start_server --max-body $((64 << 20)) --login-rate 600 --log-level error
api POST /v1/login "{\"username\":\"admin\",\"password\":\"$admin_password\"}"
A="Authorization: Bearer $(jq_py 'j["token"]')"

# N messages, e-mails with a few KB of body each
python3 - "$N" "$tmp/batch.json" <<'PY'
import json, sys, random
n = int(sys.argv[1]); random.seed(7)
words = "you will regret this we know where your office is the vote on friday council".split()
msgs = []
for i in range(n):
    body = " ".join(random.choice(words) for _ in range(400))
    raw = ("From: sender%d@example.org\r\nTo: mp@example.org\r\nSubject: message %d\r\n"
           "Message-ID: <%d@bench>\r\n\r\n%s\r\n" % (i % 37, i, i, body))
    msgs.append({"text": body, "channel": "email", "sender": "email:sender%d@example.org" % (i % 37),
                 "client_key": "b-%d" % i, "original": raw})
json.dump({"messages": msgs}, open(sys.argv[2], "w"))
PY
t0=$(date +%s.%N)
api POST /v1/messages:batch "@$tmp/batch.json" "$A"
[ "$(jq_py 'j["accepted"]')" = "$N" ] || { echo "batch: $(head -c 300 "$tmp/body")"; exit 1; }
api POST /v1/cases '{"type":"online_threat","title":"Bench: a long campaign"}' "$A"
case_id=$(jq_py 'j["id"]')
for i in $(seq 1 "$N"); do
  curl -s -o /dev/null -H "$A" -H 'Content-Type: application/json' \
    -d "{\"message_id\":$i}" "$base/v1/cases/$case_id/messages"
done
per=$((EVIDENCE_MB / 4))
for k in 1 2 3 4; do
  head -c $((per << 20)) /dev/urandom > "$tmp/ev$k.bin"
  code=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "$A" -H 'Content-Type: video/mp4' \
    --data-binary @"$tmp/ev$k.bin" "$base/v1/cases/$case_id/evidence?name=doorbell-camera-$k.mp4")
  [ "$code" = 201 ] || { echo "evidence upload: $code $(head -c 200 "$tmp/body")"; exit 1; }
  rm -f "$tmp/ev$k.bin"
done
echo "setup: case $case_id with $N messages and $EVIDENCE_MB MB of evidence in $(echo "$(date +%s.%N) - $t0" | bc) s"

# over HTTP (the server holds nothing but a 64 KiB piece at a time)
t0=$(date +%s.%N)
code=$(curl -s -o "$tmp/http.tar" -w '%{http_code}' -H "$A" "$base/v1/cases/$case_id/bundle")
http_s=$(echo "$(date +%s.%N) - $t0" | bc)
[ "$code" = 200 ] || { echo "GET bundle: $code"; exit 1; }
stop_server

measure() { # label command... -> "label wall_s peak_rss_MiB"
  local label=$1
  shift
  /usr/bin/time -v "$@" > "$tmp/m.out" 2> "$tmp/m.err" || { cat "$tmp/m.err"; exit 1; }
  local wall rss
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$tmp/m.err" |
    awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tmp/m.err")
  printf '%-44s %8.2f s %9.1f MiB\n' "$label" "$wall" "$(echo "$rss / 1024" | bc -l)"
}

# the same files for the baseline: originals out of the store, evidence as stored
mkdir -p "$tmp/orig"
sqlite3 "$db" "SELECT writefile('$tmp/orig/' || id || '.eml', original) FROM messages" > /dev/null
find "$data/evidence" -type f > "$tmp/files.txt"
find "$tmp/orig" -type f >> "$tmp/files.txt"
sync
{
  echo "bench_bundle: $N messages, $EVIDENCE_MB MB evidence ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(basename "$(dirname "$td")"))"
  printf '%-44s %10s %13s\n' "" "wall" "peak RSS"
  measure "threatdesk bundle (tar+hash+PDF+sign)" \
    "$td" bundle --office default "$case_id" -o "$tmp/b.tar" --db "$db" --data-dir "$data"
  measure "threatdesk verify-bundle" "$td" verify-bundle "$tmp/b.tar"
  measure "baseline: tar -cf of the same files" tar -cf "$tmp/base.tar" -T "$tmp/files.txt"
  measure "baseline: sha256sum of the same files" sh -c "xargs -d '\n' sha256sum < '$tmp/files.txt'"
  printf '%-44s %8.2f s\n' "GET /v1/cases/$case_id/bundle (curl, wall)" "$http_s"
  echo "bundle: $(stat -c %s "$tmp/b.tar") bytes; baseline tar: $(stat -c %s "$tmp/base.tar") bytes"
  measure "threatdesk export queue ($N rows)" \
    "$td" export queue --db "$db" --data-dir "$data" -o "$tmp/q1.csv"
  sqlite3 "$db" "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k
      WHERE i < ($CSV_ROWS + $N - 1) / $N - 1)
    INSERT INTO messages(office_id, client_key, message_id, channel, sender, sender_name, subject,
      text, original, received, ingested, ingested_by, severity, labels, flags, verdict,
      model_version, status)
    SELECT office_id, client_key || '-copy-' || k.i, message_id, channel, sender, sender_name,
      subject, text, original, received + k.i, ingested, ingested_by, severity, labels, flags,
      verdict, model_version, status FROM messages, k WHERE client_key NOT LIKE '%-copy-%'"
  rows=$(sqlite3 "$db" "SELECT count(*) FROM messages")
  measure "threatdesk export queue ($rows rows)" \
    "$td" export queue --db "$db" --data-dir "$data" -o "$tmp/q2.csv"
  echo "csv: $(($(wc -l < "$tmp/q1.csv") - 1)) and $(($(wc -l < "$tmp/q2.csv") - 1)) rows," \
    "$(stat -c %s "$tmp/q2.csv") bytes"
} | tee "$out/bench_bundle.txt"
