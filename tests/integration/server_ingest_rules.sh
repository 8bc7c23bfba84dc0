#!/usr/bin/env bash
# server_ingest_rules.sh - issue 8 "Correctness found in use", from outside:
#   comments:analyze
#     - comment.type HTML is read as text, entities decoded
#       ("<p>I will <b>k&#105;ll</b> you</p>" scores THREAT like the plain text);
#     - PROFANITY is a profanity signal ("You are a fucking idiot" high, "You
#       are an idiot" low, while INSULT is high for both);
#     - without `languages`, French is detected and refused the way the real
#       API refuses a language ("detectedLanguages" answered for English);
#     - SPAM (the npm client's default) gets the real API's error shape;
#   POST /v1/messages
#     - unsupported content types -> 415, never parsed or stored;
#     - an Idempotency-Key reused for other text -> 409 naming the key;
#     - an mbox as message/rfc822 -> 400; as application/mbox -> one message
#       each (a repeated message a duplicate);
#     - empty original, white-space text, impossible dates -> 400 naming the
#       field; batch errors name messages[i].field;
#     - a stored e-mail lists its attachments;
#   evidence
#     - a NUL in the name -> 400; downloads carry the stored type and an RFC
#       6266 / 5987 Content-Disposition with the real (sanitised) name;
#   retention and erasure over HTTP, and `verify` passing afterwards.
# Usage: server_ingest_rules.sh PATH/TO/threatdesk   (from the repository root)
td=${1:?usage: server_ingest_rules.sh threatdesk-binary}
. "$(dirname "$0")/server_lib/common.sh"

start_server
api POST /v1/login "{\"username\":\"admin\",\"password\":\"$admin_password\"}"
check "admin logs in" '[ "$code" = 200 ]'
A="Authorization: Bearer $(jq_py 'j["token"]')"

score() { # ATTR -> the summary score of the last answer
  jq_py "j[\"attributeScores\"][\"$1\"][\"summaryScore\"][\"value\"]"
}
analyze() { # JSON-BODY
  api POST "/v1alpha1/comments:analyze" "$1" "$A"
}

# ---- comments:analyze --------------------------------------------------------
analyze '{"comment":{"text":"I will kill you"},"requestedAttributes":{"THREAT":{}},"languages":["en"]}'
plain=$(score THREAT)
analyze '{"comment":{"text":"<p>I will <b>k&#105;ll</b> you</p>","type":"HTML"},"requestedAttributes":{"THREAT":{}},"languages":["en"]}'
check "HTML comment -> 200" '[ "$code" = 200 ]'
html=$(score THREAT)
check "HTML is read as its text: THREAT $html vs plain $plain" \
  '[ "$(python3 -c "print(abs($html - $plain) < 0.02 and $html > 0.5)")" = True ]'

analyze '{"comment":{"text":"You are a fucking idiot"},"requestedAttributes":{"PROFANITY":{},"INSULT":{}},"languages":["en"],"spanAnnotations":true}'
p1=$(score PROFANITY)
check "a fucking idiot: PROFANITY $p1 >= 0.9" '[ "$(python3 -c "print($p1 >= 0.9)")" = True ]'
check "the profanity span is the obscene word" \
  '[ "$(jq_py "[(s[\"begin\"], s[\"end\"]) for s in j[\"attributeScores\"][\"PROFANITY\"][\"spanScores\"][1:]]")" = "[[10, 17]]" ]'
analyze '{"comment":{"text":"You are an idiot"},"requestedAttributes":{"PROFANITY":{},"INSULT":{}},"languages":["en"]}'
p2=$(score PROFANITY)
check "an idiot: PROFANITY $p2 < 0.2 (an insult, not profanity)" \
  '[ "$(python3 -c "print($p2 < 0.2)")" = True ]'

analyze '{"comment":{"text":"Je vais te tuer, tu ne mérites pas de vivre."},"requestedAttributes":{"THREAT":{}}}'
check "French without languages -> 400 INVALID_ARGUMENT" \
  '[ "$code" = 400 ] && [ "$(jq_py "j[\"error\"][\"status\"]")" = INVALID_ARGUMENT ]'
check "... the real API's message and errorType, detected fr" \
  '[ "$(jq_py "j[\"error\"][\"message\"]")" = "Attribute THREAT does not support request languages: fr" ] && [ "$(jq_py "j[\"error\"][\"details\"][0][\"errorType\"]")" = LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE ] && [ "$(jq_py "j[\"error\"][\"details\"][0][\"languageNotSupportedByAttributeError\"][\"detectedLanguages\"]")" = "[\"fr\"]" ]'
analyze '{"comment":{"text":"I know where you live and I will find you."},"requestedAttributes":{"THREAT":{}}}'
check "English without languages -> 200, detectedLanguages [en]" \
  '[ "$code" = 200 ] && [ "$(jq_py "j[\"detectedLanguages\"]")" = "[\"en\"]" ]'
analyze '{"comment":{"text":"hello there"},"requestedAttributes":{"TOXICITY":{},"SPAM":{}}}'
check "SPAM -> the real API's error shape" \
  '[ "$code" = 400 ] && [ "$(jq_py "j[\"error\"][\"message\"]")" = "Attribute SPAM does not support request languages: en" ] && [ "$(jq_py "j[\"error\"][\"details\"][0][\"languageNotSupportedByAttributeError\"][\"attribute\"]")" = SPAM ]'

# ---- content types ------------------------------------------------------------
for ct in text/plain application/x-www-form-urlencoded text/csv application/octet-stream; do
  api POST /v1/messages '{"text":"stored as JSON?"}' "$A" "$ct"
  check "$ct -> 415 JSON" '[ "$code" = 415 ] && [ "$(jq_py "j[\"error\"][\"status\"]")" = UNSUPPORTED_MEDIA_TYPE ]'
done
api POST /v1/messages:batch '[{"text":"stored as JSON?"}]' "$A" text/plain
check "batch as text/plain -> 415" '[ "$code" = 415 ]'
api GET /v1/queue "" "$A"
check "nothing of those was stored" '[ "$(jq_py "j[\"total\"]")" = 0 ]'

# ---- idempotency --------------------------------------------------------------
idem() { # KEY BODY
  code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "$A" -H "Content-Type: application/json" \
    -H "Idempotency-Key: $1" --data-binary "$2" "$base/v1/messages")
}
idem key-1 '{"text":"Please fix the potholes on Mill Lane.","channel":"email","sender":"a@example.org"}'
check "first use of a key -> 201" '[ "$code" = 201 ]'
first=$(jq_py 'j["id"]')
idem key-1 '{"text":"Please fix the potholes on Mill Lane.","channel":"email","sender":"a@example.org"}'
check "retry with the same body -> 200 duplicate" \
  '[ "$code" = 200 ] && [ "$(jq_py "j[\"status\"]")" = duplicate ] && [ "$(jq_py "j[\"id\"]")" = "$first" ]'
idem key-1 '{"text":"Something else entirely.","channel":"email","sender":"a@example.org"}'
check "same key, other text -> 409 naming the key" \
  '[ "$code" = 409 ] && [ "$(jq_py "j[\"error\"][\"field\"]")" = client_key ] && [ "$(jq_py "\"key-1\" in j[\"error\"][\"message\"]")" = True ]'

# ---- mbox ------------------------------------------------------------------------
mbox=tests/fixtures/email/18_inbox.mbox
api POST /v1/messages "@$mbox" "$A" message/rfc822
check "an mbox sent as message/rfc822 -> 400" '[ "$code" = 400 ] && [ "$(jq_py "\"application/mbox\" in j[\"error\"][\"message\"]")" = True ]'
api POST /v1/messages "@$mbox" "$A" application/mbox
check "application/mbox -> 200, three results" \
  '[ "$code" = 200 ] && [ "$(jq_py "len(j[\"results\"])")" = 3 ]'
check "two messages, the repeated one a duplicate" \
  '[ "$(jq_py "(j[\"accepted\"], j[\"duplicates\"])")" = "(2, 1)" ]'
mbox_id=$(jq_py 'j["results"][0]["id"]')
api GET "/v1/messages/$mbox_id" "" "$A"
check "each is its own message with its own subject" \
  '[ "$(jq_py "j[\"subject\"]")" = again ] && [ "$(jq_py "j[\"sender\"]")" = "email:markhollis@gmail.com" ]'

# ---- refused fields --------------------------------------------------------------------
api POST /v1/messages '{"text":"hello","original":""}' "$A"
check "empty original -> 400 naming original" '[ "$code" = 400 ] && [ "$(jq_py "j[\"error\"][\"field\"]")" = original ]'
api POST /v1/messages '{"text":"  \n\t  "}' "$A"
check "white-space text -> 400 naming text" '[ "$code" = 400 ] && [ "$(jq_py "j[\"error\"][\"field\"]")" = text ]'
for t in '"2026-02-30T10:00:00Z"' '"0000-01-01T00:00:00Z"' '"9999-01-01T00:00:00Z"' '-5'; do
  api POST /v1/messages "{\"text\":\"hello\",\"received\":$t}" "$A"
  check "received $t -> 400 naming received" '[ "$code" = 400 ] && [ "$(jq_py "j[\"error\"][\"field\"]")" = received ]'
done
api POST /v1/messages:batch '{"messages":[{"text":"fine, thanks"},{"text":"ok"},{"text":3}]}' "$A"
check "batch error names messages[2].text" \
  '[ "$code" = 422 ] && [ "$(jq_py "j[\"error\"][\"field\"]")" = "messages[2].text" ] && [ "$(jq_py "j[\"results\"][2][\"field\"]")" = "messages[2].text" ]'

# ---- attachments ------------------------------------------------------------------------
api POST /v1/messages "@tests/fixtures/email/12_attachments.eml" "$A" message/rfc822
check "an e-mail with attachments -> 201" '[ "$code" = 201 ]'
att_id=$(jq_py 'j["id"]')
api GET "/v1/messages/$att_id" "" "$A"
check "the stored message lists its attachments (name, type, size, sha256)" \
  '[ "$(jq_py "[[a[\"name\"], a[\"type\"], a[\"size\"] > 0, len(a[\"sha256\"])] for a in j[\"attachments\"]][0]")" = "[\"leaflet.pdf\", \"application/pdf\", true, 64]" ]'

# ---- evidence --------------------------------------------------------------------------
api POST /v1/cases '{"type":"online_threat","title":"letter"}' "$A"
case_id=$(jq_py 'j["id"]')
api POST "/v1/cases/$case_id/evidence?name=a%00b.png" "PNGDATA" "$A" image/png
check "a NUL in the name -> 400 naming name" '[ "$code" = 400 ] && [ "$(jq_py "j[\"error\"][\"field\"]")" = name ]'
api POST "/v1/cases/$case_id/evidence?name=..%2Fletter%20%22caf%C3%A9%22.png" "PNGDATA" "$A" image/png
check "evidence with a real name -> 201" '[ "$code" = 201 ]'
ev=$(jq_py 'j["id"]')
curl -s -D "$tmp/h" -o "$tmp/ev" -H "$A" "$base/v1/evidence/$ev/content"
check "download has the stored Content-Type" 'grep -qi "^content-type: image/png" "$tmp/h"'
check "download names the file (RFC 6266 + 5987), sanitised" \
  'grep -qi "^content-disposition: attachment; filename=\"letter _caf___\.png\"; filename\*=UTF-8'"''"'letter%20%22caf%C3%A9%22\.png" "$tmp/h"'
check "the bytes are the evidence" '[ "$(cat "$tmp/ev")" = PNGDATA ]'

# ---- retention and erasure over HTTP (UK GDPR) -------------------------------------
api POST "/v1/senders/Mark.Hollis%40gmail.com:erase" "" "$A"
check "erase a sender by any spelling -> 200, their message erased" \
  '[ "$code" = 200 ] && [ "$(jq_py "(j[\"erased\"], j[\"kept\"])")" = "(1, 0)" ]'
api GET "/v1/messages/$mbox_id" "" "$A"
check "the erased message is gone" '[ "$code" = 404 ]'
api PUT /v1/retention '{"retention_days": 1}' "$A"
check "PUT /v1/retention" '[ "$code" = 200 ]'
api GET /v1/retention "" "$A"
check "GET /v1/retention says 1 day" '[ "$(jq_py "j[\"retention_days\"]")" = 1 ]'
api POST /v1/retention:apply "" "$A"
check "retention:apply erases the older mail (the mbox is from November)" \
  '[ "$code" = 200 ] && [ "$(jq_py "j[\"erased\"] >= 1")" = True ]'

stop_server TERM
"$td" verify --db "$db" --data-dir "$data" >"$tmp/verify" 2>&1
check "verify passes after erasure and retention ($(tail -1 "$tmp/verify"))" '[ $? -eq 0 ]'
finish
