#!/usr/bin/env bash
# server_perspective.sh - POST /v1alpha1/comments:analyze driven by the
# public Perspective JS client (@conversationai/perspectiveapi-js-client,
# tests/npm/) and by curl: the request/response shape, unknown attributes
# refused with 400, API keys (?key=, X-API-Key, wrong key -> 401), UTF-16
# span offsets, and nothing stored.
# Usage: server_perspective.sh PATH/TO/threatdesk   (from the repository root)
td=${1:?usage: server_perspective.sh threatdesk-binary}
. "$(dirname "$0")/server_lib/common.sh"

start_server
check "first start prints a one-time admin password" '[ -n "$admin_password" ]'

api POST /v1/login "{\"username\":\"admin\",\"password\":\"$admin_password\"}"
check "admin logs in" '[ "$code" = 200 ]'
token=$(jq_py 'j["token"]')
api POST /v1/keys '{"name":"perspective test"}' "Authorization: Bearer $token"
check "admin creates an API key" '[ "$code" = 201 ]'
key=$(jq_py 'j["key"]')

body='{"comment":{"text":"Listen carefully: you will be killed within days."},"requestedAttributes":{"THREAT":{},"TOXICITY":{}},"languages":["en"],"doNotStore":true}'
api POST "/v1alpha1/comments:analyze" "$body"
check "no key -> 401" '[ "$code" = 401 ]'
api POST "/v1alpha1/comments:analyze?key=wrong" "$body"
check "wrong key -> 401" '[ "$code" = 401 ]'
api POST "/v1alpha1/comments:analyze?key=$key" "$body"
check "?key= -> 200" '[ "$code" = 200 ]'
check "THREAT summaryScore is a probability over 0.5" \
  '[ "$(jq_py "j[\"attributeScores\"][\"THREAT\"][\"summaryScore\"][\"type\"] == \"PROBABILITY\" and j[\"attributeScores\"][\"THREAT\"][\"summaryScore\"][\"value\"] > 0.5")" = True ]'
api POST "/v1alpha1/comments:analyze" "$body" "X-API-Key: $key"
check "X-API-Key header -> 200" '[ "$code" = 200 ]'
api POST "/v1alpha1/comments:analyze" "${body/THREAT/SPAM}" "X-API-Key: $key"
check "unknown attribute -> 400 INVALID_ARGUMENT" \
  '[ "$code" = 400 ] && [ "$(jq_py "j[\"error\"][\"status\"]")" = INVALID_ARGUMENT ]'
api POST "/v1alpha1/comments:analyze" '{"comment":{"text":"hi"},' "X-API-Key: $key"
check "malformed JSON -> 400 naming the byte" \
  '[ "$code" = 400 ] && [ "$(jq_py "j[\"error\"][\"byte\"]")" -ge 20 ]'

# Nothing stored: the queue is still empty.
api GET /v1/queue "" "Authorization: Bearer $token"
check "analysis stores nothing" '[ "$code" = 200 ] && [ "$(jq_py "len(j[\"messages\"])")" = 0 ]'

# The real client library.
if [ ! -d tests/npm/node_modules/@conversationai/perspectiveapi-js-client ]; then
  (cd tests/npm && npm ci --no-audit --no-fund --loglevel=error > "$tmp/npm.txt" 2>&1) ||
    { bad "npm ci in tests/npm"; cat "$tmp/npm.txt"; }
fi
if TD_BASE="$base" TD_KEY="$key" node --test tests/npm/perspective_client.test.js \
    > "$tmp/node.txt" 2>&1; then
  ok
else
  bad "Perspective JS client tests"; cat "$tmp/node.txt"
fi
grep -E '^# (pass|fail)' "$tmp/node.txt" | tr '\n' ' '; echo

stop_server TERM
check "SIGTERM -> clean exit 0 (got $srv_rc)" '[ "$srv_rc" = 0 ]'
finish
