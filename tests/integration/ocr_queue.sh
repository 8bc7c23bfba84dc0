#!/usr/bin/env bash
# ocr_queue.sh - scanned letters off the request path, from outside:
#   - a scan POSTed to /v1/messages is answered 202 with its upload and job
#     before any OCR (the server runs no OCR worker here: --ocr-workers 0),
#     GET /v1/uploads/{id} says "queued", and nothing is in the triage
#     queue yet; the same Idempotency-Key again is the same upload (200);
#     text sent as image/png is refused at once (400);
#   - another office sees none of it (404);
#   - two `threatdesk worker --once` processes on the same store share the
#     queue: every job is done exactly once, the letters are filed as
#     "letter" messages with their OCR text and a threat verdict, and the
#     uploads say "done" with the message id;
#   - a worker that died between filing a letter and finishing its job: the
#     next one takes the job after the lease and does not file it twice;
#   - a damaged scan (a PNG cut short) fails for good with the reason and
#     keeps its bytes; the worker that met it exits 1;
#   - a server with its own OCR worker (the default) files a scan by
#     itself and counts it in /metrics.
# Usage: ocr_queue.sh PATH/TO/threatdesk   (from the repository root)
td=${1:?usage: ocr_queue.sh threatdesk-binary}
. "$(dirname "$0")/server_lib/common.sh"
# Tesseract's fontconfig keeps a cache until exit (see ocr_scan.sh).
export LSAN_OPTIONS="suppressions=$PWD/tests/fixtures/letters/lsan.supp:print_suppressions=0"
render="$(dirname "$td")/test_ingest_ocr"
if ! "$render" --render clean "$tmp/letter.png" >/dev/null 2>&1 ||
  ! "$render" --render pdf "$tmp/letter.pdf" >/dev/null 2>&1; then
  echo "FAIL: cannot render letters with $render (build the test_ingest_ocr target)"
  exit 1
fi
# A PNG cut short: its signature says PNG, so it is accepted and queued;
# the worker finds it undecodable.
head -c 3000 "$tmp/letter.png" > "$tmp/cut.png"

start_server --ocr-workers 0
api POST /v1/login "{\"username\":\"admin\",\"password\":\"$admin_password\"}"
A="Authorization: Bearer $(jq_py 'j["token"]')"

# ---- accepted and queued, not read ------------------------------------------------
code=$(curl -s -o "$tmp/body" -D "$tmp/h" -w '%{http_code}' -X POST -H "$A" \
  -H 'Content-Type: image/png' -H 'Idempotency-Key: scan-1' \
  --data-binary "@$tmp/letter.png" "$base/v1/messages?name=letter.png")
check "a scan -> 202 queued with its upload and job" \
  '[ "$code" = 202 ] && [ "$(jq_py "j[\"status\"]")" = queued ] && [ "$(jq_py "j[\"job\"] > 0")" = True ]'
up1=$(jq_py 'j["upload"]')
check "Location names the upload" 'grep -qi "^location: /v1/uploads/$up1" "$tmp/h"'
api GET "/v1/uploads/$up1" "" "$A"
check "the upload says queued, with its kind, name and size" \
  '[ "$(jq_py "(j[\"state\"], j[\"kind\"], j[\"name\"], j[\"size\"])")" = "('"'"'queued'"'"', '"'"'png'"'"', '"'"'letter.png'"'"', $(stat -c %s "$tmp/letter.png"))" ]'
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "$A" -H 'Content-Type: image/png' \
  -H 'Idempotency-Key: scan-1' --data-binary "@$tmp/letter.png" "$base/v1/messages")
check "the same Idempotency-Key again -> 200, the same upload" \
  '[ "$code" = 200 ] && [ "$(jq_py "j[\"upload\"]")" = "$up1" ] && [ "$(jq_py "j.get(\"duplicate\")")" = True ]'
api POST /v1/messages "@$tmp/letter.pdf" "$A" application/pdf
check "a PDF scan -> 202" '[ "$code" = 202 ]'
up2=$(jq_py 'j["upload"]')
api POST /v1/messages "@$tmp/cut.png" "$A" image/png
check "a damaged PNG is still accepted (202): the worker judges it" '[ "$code" = 202 ]'
up3=$(jq_py 'j["upload"]')
printf 'Dear MP,\nthis is not a scan at all.\n' > "$tmp/fake.png"
api POST /v1/messages "@$tmp/fake.png" "$A" image/png
check "text sent as image/png -> 400 at once" '[ "$code" = 400 ]'
api GET /v1/queue "" "$A"
check "nothing is in the triage queue before a worker ran" '[ "$(jq_py "j[\"total\"]")" = 0 ]'

# ---- another office -----------------------------------------------------------------
"$td" office add other --db "$db" --data-dir "$data" > /dev/null 2>&1
echo 'pw-other-123456' | "$td" user add boss --office other --role admin --db "$db" \
  --data-dir "$data" > /dev/null 2>&1
api POST /v1/login '{"username":"boss","password":"pw-other-123456"}'
B="Authorization: Bearer $(jq_py 'j["token"]')"
api GET "/v1/uploads/$up1" "" "$B"
check "another office's upload -> 404" '[ "$code" = 404 ]'

# ---- two worker processes ---------------------------------------------------------------
"$td" worker --once --name wa --db "$db" --data-dir "$data" > "$tmp/wa.out" 2> "$tmp/wa.err" &
pa=$!
"$td" worker --once --name wb --db "$db" --data-dir "$data" > "$tmp/wb.out" 2> "$tmp/wb.err" &
pb=$!
wait $pa; ra=$?
wait $pb; rb=$?
cat "$tmp/wa.out" "$tmp/wb.out"
check "workers exit 0/1 (1: the one that met the damaged scan) (got $ra $rb)" \
  '[ $((ra + rb)) = 1 ] && [ $ra -le 1 ] && [ $rb -le 1 ]'
check "three jobs done in all, each once" \
  '[ "$(cat "$tmp/wa.out" "$tmp/wb.out" | grep -c "^job ")" = 3 ] && [ "$(cat "$tmp/wa.out" "$tmp/wb.out" | sed -n "s/^job \([0-9]*\) .*/\1/p" | sort -u | wc -l)" = 3 ]'
check "no worker error on stderr" '! grep -v "^$" "$tmp/wa.err" "$tmp/wb.err" | grep -vi "suppress" | grep -q .'

for up in "$up1" "$up2"; do
  api GET "/v1/uploads/$up" "" "$A"
  check "upload $up is done with its message" \
    '[ "$(jq_py "j[\"state\"]")" = done ] && [ "$(jq_py "j[\"message\"] > 0")" = True ] && [ "$(jq_py "j[\"attempts\"]")" = 1 ]'
  mid=$(jq_py 'j["message"]')
  [ "$up" = "$up1" ] && mid1=$mid
  api GET "/v1/messages/$mid" "" "$A"
  check "message $mid: a letter with the OCR text and a threat verdict" \
    '[ "$(jq_py "j[\"channel\"]")" = letter ] && [ "$(jq_py "\"killed\" in j[\"text\"].lower()")" = True ] && [ "$(jq_py "\"threat\" in j[\"predicted\"]")" = True ] && [ "$(jq_py "j[\"severity\"] in (\"high\", \"critical\")")" = True ]'
done
curl -s -o "$tmp/orig.png" -H "$A" "$base/v1/messages/$mid1/original"
check "the filed letter keeps the scan byte for byte" 'cmp -s "$tmp/orig.png" "$tmp/letter.png"'
api GET "/v1/uploads/$up3" "" "$A"
check "the damaged scan failed for good, saying why, its bytes kept" \
  '[ "$(jq_py "j[\"state\"]")" = failed ] && [ "$(jq_py "\"truncated\" in j[\"error\"]")" = True ] && [ "$(jq_py "j[\"size\"]")" = 3000 ] && [ "$(jq_py "\"message\" in j")" = False ]'
api GET /v1/queue "" "$A"
check "the two letters are in the triage queue" '[ "$(jq_py "j[\"total\"]")" = 2 ]'
"$td" worker --once --db "$db" --data-dir "$data" > "$tmp/wc.out" 2>&1
check "a third worker finds nothing left to do" 'grep -q "^worker: 0 jobs" "$tmp/wc.out"'

# A worker that died after filing a letter and before finishing its job
# leaves the upload processing (its bytes still there) and the job running
# under its lease; once the lease has run out the next worker takes the job,
# reads the letter again, finds it filed under the upload's key and only
# finishes: the letter is not filed twice.
python3 - "$db" "$up1" "$mid1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
up, mid = int(sys.argv[2]), int(sys.argv[3])
db.execute("UPDATE uploads SET state = 'processing', message_id = NULL, "
           "original = (SELECT original FROM messages WHERE id = ?) WHERE id = ?", (mid, up))
db.execute("UPDATE jobs SET state = 'running', claimed_by = 'dead', lease_until = 1, "
           "finished_at = NULL WHERE payload_ref = ?", (str(up),))
db.commit()
PY
"$td" worker --once --db "$db" --data-dir "$data" > "$tmp/wd.out" 2>&1
check "the next worker finds the letter already filed" \
  'grep -q "filed message $mid1 (already filed)" "$tmp/wd.out"'
api GET "/v1/uploads/$up1" "" "$A"
check "the upload is done again with the same message, tried twice" \
  '[ "$(jq_py "(j[\"state\"], j[\"message\"], j[\"attempts\"])")" = "('"'"'done'"'"', $mid1, 2)" ]'
api GET /v1/queue "" "$A"
check "still two letters in the queue" '[ "$(jq_py "j[\"total\"]")" = 2 ]'
"$td" verify --db "$db" --data-dir "$data" > "$tmp/verify.out" 2>&1
vrc=$?
check "the audit chain verifies after the workers (rc=$vrc)" '[ $vrc = 0 ]'
stop_server

# ---- the server's own OCR worker --------------------------------------------------------
pw=$admin_password
start_server
admin_password=$pw
api POST /v1/login "{\"username\":\"admin\",\"password\":\"$admin_password\"}"
A="Authorization: Bearer $(jq_py 'j["token"]')"
api POST /v1/messages "@$tmp/letter.pdf" "$A" application/pdf
check "with --ocr-workers (default 1): 202" '[ "$code" = 202 ]'
up4=$(jq_py 'j["upload"]')
for i in $(seq 1 120); do
  api GET "/v1/uploads/$up4" "" "$A"
  [ "$(jq_py 'j["state"]')" = done ] && break
  sleep 0.5
done
check "the server filed it by itself" \
  '[ "$(jq_py "j[\"state\"]")" = done ] && [ "$(jq_py "j[\"message\"] > 0")" = True ]'
curl -s -o "$tmp/metrics" -H "$A" "$base/metrics"
check "/metrics counts the letter the server's worker filed" \
  'grep -Eq "^threatdesk_messages_ingested_total\{severity=\"(high|critical)\"\} [1-9]" "$tmp/metrics"'
stop_server
check "the server stops cleanly with its worker (rc=$srv_rc)" '[ "$srv_rc" = 0 ]'
finish
