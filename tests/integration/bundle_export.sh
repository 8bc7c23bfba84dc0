#!/usr/bin/env bash
# bundle_export.sh - the police evidence bundle from outside, on loopback:
#   - GET /v1/cases/{id}/bundle: a tar that `threatdesk verify-bundle`
#     passes (with the office's public key given), whose e-mail original
#     and evidence file extract (GNU tar) byte-identical to what was sent,
#     evidence under its real name, the internal note absent, the shared
#     note present;
#   - who: police get their reported case (200) but not an unreported one
#     (404); an observer 403; another office 404;
#   - `threatdesk bundle --office ... CASE -o FILE` beside the running
#     server: the same office key, verify-bundle passes;
#   - tampering: one byte of the evidence changed -> verify-bundle exit 1
#     naming that file; one byte of the signature -> names the signature;
#   - audit: the timeline records case.export and case.bundle, and
#     `threatdesk verify` still finds the chain intact.
# Usage: bundle_export.sh PATH/TO/threatdesk   (from the repository root)
td=${1:?usage: bundle_export.sh threatdesk-binary}
. "$(dirname "$0")/server_lib/common.sh"
export THREATDESK_LOGIN_BURST=100
# fontconfig (under pango, for summary.pdf) keeps its cache until exit
export LSAN_OPTIONS="suppressions=$PWD/tests/fixtures/letters/lsan.supp:print_suppressions=0"

start_server --login-rate 600
api POST /v1/login "{\"username\":\"admin\",\"password\":\"$admin_password\"}"
A="Authorization: Bearer $(jq_py 'j["token"]')"
mkuser() { # name role -> sets token var T_<name>
  api POST /v1/users "{\"username\":\"$1\",\"role\":\"$2\",\"password\":\"pw-$1-123456\"}" "$A"
  api POST /v1/login "{\"username\":\"$1\",\"password\":\"pw-$1-123456\"}"
  check "$1 ($2) logs in" '[ "$code" = 200 ]'
  eval "T_$1=\"Authorization: Bearer $(jq_py 'j["token"]')\""
}
mkuser cw caseworker
mkuser pc police
mkuser obs observer

# ---- a case with an e-mail, evidence and notes ------------------------------
python3 - "$tmp/msg.json" <<'PY'
import json, sys
raw = ("From: Angry <angry@example.org>\r\nTo: mp@example.org\r\nSubject: Friday\r\n"
       "Message-ID: <x1@example.org>\r\n\r\nWe know where you live. You will be dead by Friday.\r\n")
open(sys.argv[1], "w").write(json.dumps({"text": "We know where you live. You will be dead by Friday.",
    "channel": "email", "sender": "email:angry@example.org", "client_key": "m-1",
    "original": raw}))
open(sys.argv[1] + ".eml", "w", newline="").write(raw)
PY
api POST /v1/messages "@$tmp/msg.json" "$T_cw"
check "message filed" '[ "$code" = 201 ]'
mid=$(jq_py 'j["id"]')
api POST /v1/cases '{"type":"online_threat","title":"Death threat by e-mail"}' "$T_cw"
case1=$(jq_py 'j["id"]')
api POST /v1/cases '{"type":"harassment","title":"Not reported yet"}' "$T_cw"
case2=$(jq_py 'j["id"]')
api POST "/v1/cases/$case1/messages" "{\"message_id\":$mid}" "$T_cw"
head -c 300000 /dev/urandom > "$tmp/photo.bin"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "$T_cw" -H 'Content-Type: image/jpeg' \
  --data-binary @"$tmp/photo.bin" "$base/v1/cases/$case1/evidence?name=Br%C3%BCcke%20photo.jpg")
check "evidence uploaded" '[ "$code" = 201 ]'
api POST "/v1/cases/$case1/notes" '{"text":"INTERNAL-ONLY-NOTE-7731","shareable":false}' "$T_cw"
api POST "/v1/cases/$case1/notes" '{"text":"SHARED-NOTE-4410","shareable":true}' "$T_cw"
api PATCH "/v1/cases/$case1" '{"status":"triaged"}' "$T_cw"
api PATCH "/v1/cases/$case1" '{"status":"reported_to_police","police_ref":"WYP-1"}' "$T_cw"
check "case reported to police" '[ "$code" = 200 ]'

# ---- the bundle over HTTP -----------------------------------------------------
code=$(curl -s -o "$tmp/b.tar" -D "$tmp/b.h" -w '%{http_code}' -H "$T_cw" "$base/v1/cases/$case1/bundle")
check "caseworker downloads the bundle" '[ "$code" = 200 ] && grep -qi "content-type: application/x-tar" "$tmp/b.h"'
mkdir -p "$tmp/x" && tar -xf "$tmp/b.tar" -C "$tmp/x" 2> "$tmp/tar.err"
check "GNU tar extracts it without a warning" '[ ! -s "$tmp/tar.err" ]'
d="$tmp/x/threatdesk-case-$case1"
pub=$(sed -n 's/^ed25519 //p' "$d/office-key.pub")
"$td" verify-bundle "$tmp/b.tar" --pubkey "$pub" > "$tmp/v.out" 2>&1
rc=$?
check "verify-bundle passes with the office key (rc=$rc)" '[ $rc = 0 ] && grep -q "intact" "$tmp/v.out"'
check "the e-mail extracts byte for byte" 'cmp -s "$d"/messages/001-message-*.eml "$tmp/msg.json.eml"'
check "the evidence extracts byte for byte under its real name" \
  'cmp -s "$d/evidence/001-1-Brücke photo.jpg" "$tmp/photo.bin"'
check "the internal note is not in the bundle" '! grep -q "INTERNAL-ONLY-NOTE-7731" "$tmp/b.tar"'
check "the shared note is" 'grep -q "SHARED-NOTE-4410" "$d/notes.json"'
check "evidence.json keeps the type" 'grep -q "image/jpeg" "$d/evidence.json"'

# the PDF summary, read back with poppler; page 1 kept as a PNG
out=$(cd "$(dirname "$td")" && pwd)/test-output
mkdir -p "$out"
pages=$(pdfinfo "$d/summary.pdf" 2>/dev/null | sed -n 's/^Pages: *//p')
check "summary.pdf is a PDF with pages ($pages)" '[ "${pages:-0}" -ge 1 ]'
check "summary.pdf is A4" 'pdfinfo "$d/summary.pdf" | grep -q "595.* x 841.* pts (A4)"'
pdftotext -layout "$d/summary.pdf" "$tmp/summary.txt"
esha=$(sha256sum "$tmp/msg.json.eml" | cut -d" " -f1)
psha=$(sha256sum "$tmp/photo.bin" | cut -d" " -f1)
check "the summary explains itself, names the case and the police reference" \
  'grep -q "Evidence summary" "$tmp/summary.txt" && grep -q "Death threat by e-mail" "$tmp/summary.txt" && grep -q "WYP-1" "$tmp/summary.txt"'
check "the summary shows the message, its sender, tier and labels" \
  'grep -q "dead by Friday" "$tmp/summary.txt" && grep -q "email:angry@example.org" "$tmp/summary.txt" && grep -q "Assessed tier" "$tmp/summary.txt" && grep -q "threat (0\.[0-9]*)" "$tmp/summary.txt"'
check "the summary carries the original's and the evidence's SHA-256" \
  'grep -q "$esha" "$tmp/summary.txt" && grep -q "$psha" "$tmp/summary.txt"'
check "the summary lists the evidence by its real name and the shared note only" \
  'grep -q "Brücke photo.jpg" "$tmp/summary.txt" && grep -q "SHARED-NOTE-4410" "$tmp/summary.txt" && ! grep -q "INTERNAL-ONLY" "$tmp/summary.txt"'
rm -f "$out/bundle-summary-page1.png"
pdftoppm -png -r 60 -f 1 -l 1 -singlefile "$d/summary.pdf" "$out/bundle-summary-page1"
check "page 1 rendered to $out/bundle-summary-page1.png" '[ -s "$out/bundle-summary-page1.png" ]'

code=$(curl -s -o "$tmp/p.tar" -w '%{http_code}' -H "$T_pc" "$base/v1/cases/$case1/bundle")
check "police download their reported case's bundle" '[ "$code" = 200 ]'
"$td" verify-bundle "$tmp/p.tar" --pubkey "$pub" > /dev/null 2>&1
check "police's bundle verifies" '[ $? = 0 ]'
api GET "/v1/cases/$case2/bundle" "" "$T_pc"
check "police: an unreported case -> 404" '[ "$code" = 404 ]'
api GET "/v1/cases/$case1/bundle" "" "$T_obs"
check "observer -> 403" '[ "$code" = 403 ]'

"$td" office add other --db "$db" --data-dir "$data" > /dev/null 2>&1
echo 'pw-other-123456' | "$td" user add boss --office other --role admin --db "$db" \
  --data-dir "$data" > /dev/null 2>&1
api POST /v1/login '{"username":"boss","password":"pw-other-123456"}'
B="Authorization: Bearer $(jq_py 'j["token"]')"
api GET "/v1/cases/$case1/bundle" "" "$B"
check "another office -> 404, nothing of the case" '[ "$code" = 404 ] && ! grep -q "Friday" "$tmp/body"'

# ---- the CLI, beside the running server --------------------------------------
"$td" bundle --office default "$case1" -o "$tmp/c.tar" --db "$db" --data-dir "$data" > "$tmp/c.out" 2>&1
rc=$?
check "threatdesk bundle writes the file (rc=$rc)" '[ $rc = 0 ] && [ -s "$tmp/c.tar" ]'
check "signed by the same office key" 'grep -q "$pub" "$tmp/c.out"'
"$td" verify-bundle "$tmp/c.tar" --pubkey "$pub" > /dev/null 2>&1
check "the CLI's bundle verifies" '[ $? = 0 ]'
"$td" bundle --office default "$case1" -o - --db "$db" --data-dir "$data" > "$tmp/s.tar" 2> "$tmp/s.err"
"$td" verify-bundle "$tmp/s.tar" --pubkey "$pub" > /dev/null 2>&1
check "bundle -o - writes a valid bundle to standard output" '[ $? = 0 ] && grep -q "standard output" "$tmp/s.err"'
"$td" verify-bundle "$tmp/no-such.tar" > /dev/null 2>&1
check "verify-bundle of a missing file -> exit 2" '[ $? = 2 ]'
head -c 5000 /dev/urandom > "$tmp/junk.tar"
"$td" verify-bundle "$tmp/junk.tar" > "$tmp/junk.out" 2>&1
check "verify-bundle of junk -> exit 1, not a tar" '[ $? = 1 ] && grep -q "FAIL archive" "$tmp/junk.out"'
"$td" bundle --office default 9999 -o "$tmp/none.tar" --db "$db" --data-dir "$data" > /dev/null 2>&1
rc=$?
check "no such case -> exit 1, no file left" '[ $rc = 1 ] && [ ! -e "$tmp/none.tar" ] && ! ls "$tmp"/none.tar.partial-* >/dev/null 2>&1'

# ---- tampering ----------------------------------------------------------------
flip() { # file offset
  python3 -c 'import sys; p=sys.argv[1]; o=int(sys.argv[2]); b=bytearray(open(p,"rb").read()); b[o]^=1; open(p,"wb").write(b)' "$1" "$2"
}
off=$(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); print(d.index(open(sys.argv[2],"rb").read()[:64]) + 1000)' "$tmp/b.tar" "$tmp/photo.bin")
cp "$tmp/b.tar" "$tmp/t1.tar" && flip "$tmp/t1.tar" "$off"
"$td" verify-bundle "$tmp/t1.tar" --pubkey "$pub" > "$tmp/t1.out" 2>&1
rc=$?
check "one byte of the evidence changed -> exit 1 naming the file (rc=$rc)" \
  '[ $rc = 1 ] && grep -q "FAIL file .*Brücke photo.jpg: contents differ" "$tmp/t1.out"'
off=$(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); print(d.rindex(b"ed25519 ") + 30)' "$tmp/b.tar")
cp "$tmp/b.tar" "$tmp/t2.tar" && flip "$tmp/t2.tar" "$off"
"$td" verify-bundle "$tmp/t2.tar" > "$tmp/t2.out" 2>&1
rc=$?
check "one byte of the signature changed -> exit 1, signature named (rc=$rc)" \
  '[ $rc = 1 ] && grep -q "FAIL signature" "$tmp/t2.out"'
"$td" verify-bundle "$tmp/b.tar" --pubkey "$(printf '%064d' 1)" > "$tmp/t3.out" 2>&1
check "another key given as the office's -> exit 1" '[ $? = 1 ] && grep -q "different key" "$tmp/t3.out"'

# ---- audit --------------------------------------------------------------------
api GET "/v1/cases/$case1/timeline" "" "$T_cw"
check "timeline records case.export and case.bundle" \
  '[ "$(jq_py "set(e[\"action\"] for e in j[\"events\"]) >= {\"case.export\", \"case.bundle\"}")" = True ]'
stop_server
"$td" verify --db "$db" --data-dir "$data" > "$tmp/verify.out" 2>&1
check "the audit chain is intact after the exports" '[ $? = 0 ]'
finish
