#!/usr/bin/env bash
# server_ingest.sh - the other doors into POST /v1/messages and the session
# edges, from outside:
#   - a raw email (Content-Type message/rfc822) parsed by the ingestion
#     library: sender, subject, Message-ID; the same email again is a
#     duplicate by Message-ID; the original kept byte for byte;
#   - a scanned letter (image/png, rendered by test_ingest_ocr) queued (202)
#     and OCR'd into a "letter" by the server's worker; a text file sent as
#     image/png refused with 400;
#   - the Idempotency-Key header on JSON;
#   - an unsupported content type -> 415;
#   - login rate limiting -> 429 with Retry-After; logout ends the session.
# Usage: server_ingest.sh PATH/TO/threatdesk   (from the repository root)
td=${1:?usage: server_ingest.sh threatdesk-binary}
. "$(dirname "$0")/server_lib/common.sh"
# Tesseract's fontconfig keeps a cache until exit (see ocr_scan.sh).
export LSAN_OPTIONS="suppressions=$PWD/tests/fixtures/letters/lsan.supp:print_suppressions=0"
render="$(dirname "$td")/test_ingest_ocr"

start_server
api POST /v1/login "{\"username\":\"admin\",\"password\":\"$admin_password\"}"
A="Authorization: Bearer $(jq_py 'j["token"]')"

# ---- raw email ---------------------------------------------------------------
printf 'From: Angry Person <angry@example.org>\r\nTo: mp@example.org\r\nSubject: your surgery\r\nMessage-ID: <abc123@example.org>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWe know where you live. You will be killed within days.\r\n' > "$tmp/m.eml"
api POST /v1/messages "@$tmp/m.eml" "$A" message/rfc822
check "raw email -> 201 created on channel email" \
  '[ "$code" = 201 ] && [ "$(jq_py "j[\"channel\"]")" = email ]'
eml_id=$(jq_py 'j["id"]')
api POST /v1/messages "@$tmp/m.eml" "$A" message/rfc822
check "the same email again -> 200 duplicate (Message-ID)" \
  '[ "$code" = 200 ] && [ "$(jq_py "j[\"status\"]")" = duplicate ] && [ "$(jq_py "j[\"id\"]")" = "$eml_id" ]'
api GET "/v1/messages/$eml_id" "" "$A"
check "sender, subject and time come from the headers" \
  '[ "$(jq_py "(j[\"sender\"], j[\"subject\"], j[\"received\"])")" = "('"'"'email:angry@example.org'"'"', '"'"'your surgery'"'"', 1795773600)" ]'
curl -s -o "$tmp/orig.eml" -H "$A" "$base/v1/messages/$eml_id/original"
check "the original email is kept byte for byte" 'cmp -s "$tmp/orig.eml" "$tmp/m.eml"'

# ---- scanned letter --------------------------------------------------------------
if [ -x "$render" ] && "$render" --render clean "$tmp/letter.png" >/dev/null 2>&1; then
  # queued (202) and filed by the server's own OCR worker (ocr_queue.sh
  # covers the queue itself)
  api POST /v1/messages "@$tmp/letter.png" "$A" image/png
  check "scanned letter (PNG) -> 202 queued" '[ "$code" = 202 ] && [ "$(jq_py "j[\"status\"]")" = queued ]'
  up=$(jq_py 'j["upload"]')
  for i in $(seq 1 120); do
    api GET "/v1/uploads/$up" "" "$A"
    [ "$(jq_py 'j["state"]')" = done ] && break
    sleep 0.5
  done
  check "the server's OCR worker filed it" '[ "$(jq_py "j[\"state\"]")" = done ]'
  api GET "/v1/messages/$(jq_py 'j["message"]')" "" "$A"
  check "OCR'd text is stored as a letter" \
    '[ "$(jq_py "len(j[\"text\"]) > 20")" = True ] && [ "$(jq_py "j[\"channel\"]")" = letter ]'
else
  bad "cannot render a letter with $render (build the test_ingest_ocr target)"
fi
printf 'Dear MP,\nthis is not a scan at all.\n' > "$tmp/fake.png"
api POST /v1/messages "@$tmp/fake.png" "$A" image/png
check "text sent as image/png -> 400" '[ "$code" = 400 ]'
api POST /v1/messages '<xml/>' "$A" application/xml
check "unsupported content type -> 415" '[ "$code" = 415 ]'

# ---- Idempotency-Key header ----------------------------------------------------
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "$A" -H 'Idempotency-Key: idem-7' \
  -H 'Content-Type: application/json' -d '{"text":"Drop out of the race or else."}' "$base/v1/messages")
check "Idempotency-Key: first -> 201" '[ "$code" = 201 ]'
first=$(jq_py 'j["id"]')
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "$A" -H 'Idempotency-Key: idem-7' \
  -H 'Content-Type: application/json' -d '{"text":"Drop out of the race or else."}' "$base/v1/messages")
check "Idempotency-Key: repeat -> 200 same id" '[ "$code" = 200 ] && [ "$(jq_py "j[\"id\"]")" = "$first" ]'

# ---- logout, login rate limit -----------------------------------------------------
api POST /v1/logout "" "$A"
check "logout -> 200" '[ "$code" = 200 ]'
api GET /v1/queue "" "$A"
check "the logged-out token no longer works -> 401" '[ "$code" = 401 ]'
limited=0
for i in 1 2 3 4 5 6 7; do
  code=$(curl -s -o "$tmp/body" -D "$tmp/h" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' -d '{"username":"admin","password":"not-it-at-all"}' \
    "$base/v1/login")
  if [ "$code" = 429 ]; then limited=$i; break; fi
done
check "repeated failed logins -> 429 (at attempt $limited)" '[ "$limited" -ge 2 ]'
check "429 carries Retry-After" 'grep -qi "^retry-after: [1-9]" "$tmp/h"'
api POST /v1/login "{\"username\":\"admin\",\"password\":\"$admin_password\"}"
check "even the right password is refused while locked out -> 429" '[ "$code" = 429 ]'

stop_server TERM
check "SIGTERM -> exit 0 (got $srv_rc)" '[ "$srv_rc" = 0 ]'
finish
