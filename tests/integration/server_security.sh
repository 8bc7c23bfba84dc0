#!/usr/bin/env bash
# server_security.sh - issue 8 security items 3, 6 and 8 over HTTP, on
# loopback:
#   - TLS: HTTPS with a throwaway certificate made here by openssl (curl
#     --cacert trusts it); plain HTTP on a non-loopback address refused at
#     start unless --insecure-http;
#   - the first-start admin must change the one-time password before
#     anything else (403 PASSWORD_CHANGE_REQUIRED, JSON);
#   - /metrics needs a login on the main address; --metrics-listen serves
#     it without one;
#   - API keys listed and revoked over the API (a revoked key stops at
#     once); a disabled user's session and key stop at once; offices and
#     users listed;
#   - --trusted-proxy: the login rate limit keys on X-Forwarded-For from
#     the proxy, and on the peer otherwise.
# Usage: server_security.sh PATH/TO/threatdesk
td=${1:?usage: server_security.sh threatdesk-binary}
. "$(dirname "$0")/server_lib/common.sh"
command -v openssl >/dev/null || { echo "openssl not installed"; exit 1; }

# ---- refusals at start --------------------------------------------------------
"$td" serve --listen 0.0.0.0:0 --db "$tmp/x.db" --data-dir "$tmp/x" >/dev/null 2>"$tmp/err" </dev/null
rc=$?
code=
check "plain HTTP on 0.0.0.0 refused at start (exit $rc)" \
  '[ "$rc" = 2 ] && grep -q "refusing plain HTTP on non-loopback" "$tmp/err"'
mkdir -m 777 "$tmp/shared"
"$td" serve --listen 127.0.0.1:0 --db "$tmp/y.db" --data-dir "$tmp/shared" >/dev/null 2>"$tmp/err" </dev/null
rc=$?
check "a world-writable data directory refused at start (exit $rc)" \
  '[ "$rc" = 2 ] && grep -q "writable by group or others" "$tmp/err"'

# ---- HTTPS ---------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 1 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
TD_KEEP_ONE_TIME=1 start_server --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" \
  --metrics-listen 127.0.0.1:0
check "prints an https:// address" '[ "${base#https://}" != "$base" ]'
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -m 10 --cacert "$tmp/cert.pem" "$base/healthz")
check "HTTPS /healthz with the certificate trusted" '[ "$code" = 200 ]'
code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 "${base/https:/http:}/healthz")
check "plain HTTP to the TLS port gets no answer" '[ "$code" = 000 ]'
code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 "$base/healthz")
check "an untrusted certificate is refused by curl" '[ "$code" = 000 ]'
tapi() { # like api, over TLS
  local method=$1 path=$2 body=${3-} auth=${4-}
  local args=(-s -m 20 --cacert "$tmp/cert.pem" -o "$tmp/body" -w '%{http_code}' -X "$method" -H 'Content-Type: application/json')
  [ -n "$auth" ] && args+=(-H "$auth")
  [ -n "$body" ] && args+=(--data-binary "$body")
  code=$(curl "${args[@]}" "$base$path")
}

# ---- the one-time password ------------------------------------------------------
tapi POST /v1/login "{\"username\":\"admin\",\"password\":\"$admin_password\"}"
check "admin logs in with the one-time password" '[ "$code" = 200 ]'
A="Authorization: Bearer $(jq_py 'j["token"]')"
tapi GET /v1/queue "" "$A"
check "anything else first: 403 PASSWORD_CHANGE_REQUIRED as JSON" \
  '[ "$code" = 403 ] && [ "$(jq_py "j[\"error\"][\"reason\"]")" = PASSWORD_CHANGE_REQUIRED ]'
tapi POST /v1/users '{"username":"cw","role":"caseworker","password":"pw-cw-123456"}' "$A"
check "not even adding a user" '[ "$code" = 403 ]'
tapi GET /v1/me "" "$A"
check "/v1/me is allowed" '[ "$code" = 200 ]'
tapi PATCH /v1/users/admin '{"password":"the-admins-own-pw"}' "$A"
check "changing it is allowed" '[ "$code" = 200 ]'
tapi POST /v1/login '{"username":"admin","password":"the-admins-own-pw"}'
A="Authorization: Bearer $(jq_py 'j["token"]')"
tapi GET /v1/queue "" "$A"
check "then everything works" '[ "$code" = 200 ]'

# ---- /metrics ---------------------------------------------------------------------
tapi GET /metrics
check "/metrics without a login -> 401" '[ "$code" = 401 ]'
tapi GET /metrics "" "$A"
check "/metrics with an admin login -> 200" '[ "$code" = 200 ] && grep -q threatdesk_http_requests_total "$tmp/body"'
mbase=$(sed -n 's/^metrics on //p' "$tmp/out")
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -m 10 --cacert "$tmp/cert.pem" "$mbase/metrics")
check "the metrics address serves it without a login" '[ "$code" = 200 ] && grep -q threatdesk_messages_ingested_total "$tmp/body"'
code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 --cacert "$tmp/cert.pem" "$mbase/v1/queue")
check "and nothing else" '[ "$code" = 404 ]'

# ---- keys, users, offices ------------------------------------------------------------
tapi POST /v1/users '{"username":"cw","role":"caseworker","password":"pw-cw-123456"}' "$A"
check "admin adds a caseworker" '[ "$code" = 201 ]'
tapi POST /v1/keys '{"username":"cw","label":"mail importer"}' "$A"
check "admin issues the caseworker a key" '[ "$code" = 201 ]'
key=$(jq_py 'j["key"]'); kid=$(jq_py 'j["id"]')
tapi GET /v1/queue "" "X-API-Key: $key"
check "the key works" '[ "$code" = 200 ]'
tapi GET /v1/keys "" "$A"
check "keys listed with user, label and issuer, never the key" \
  '[ "$code" = 200 ] && [ "$(jq_py "[(k[\"id\"], k[\"user\"], k[\"label\"], k[\"issued_by\"]) for k in j[\"keys\"]] == [($kid, \"cw\", \"mail importer\", \"admin\")]")" = True ] && ! grep -q "$key" "$tmp/body"'
tapi DELETE "/v1/keys/$kid" "" "$A"
check "admin revokes it" '[ "$code" = 200 ]'
tapi GET /v1/queue "" "X-API-Key: $key"
check "the revoked key stops at once" '[ "$code" = 401 ]'
tapi DELETE "/v1/keys/$((kid + 1000))" "" "$A"
check "an unknown key id -> 404" '[ "$code" = 404 ]'
tapi POST /v1/login '{"username":"cw","password":"pw-cw-123456"}'
C="Authorization: Bearer $(jq_py 'j["token"]')"
tapi POST /v1/keys '{"username":"cw"}' "$A"
key2=$(jq_py 'j["key"]')
tapi PATCH /v1/users/cw '{"disabled":true}' "$A"
check "admin disables the caseworker" '[ "$code" = 200 ]'
tapi GET /v1/queue "" "$C"
check "its session stops at once" '[ "$code" = 401 ]'
tapi GET /v1/queue "" "X-API-Key: $key2"
check "and its key" '[ "$code" = 401 ]'
tapi POST /v1/login '{"username":"cw","password":"pw-cw-123456"}'
check "and it cannot log in" '[ "$code" = 401 ]'
tapi PATCH /v1/users/admin '{"role":"caseworker"}' "$A"
check "the last admin cannot be demoted" '[ "$code" = 400 ] && [ "$(jq_py "j[\"error\"][\"field\"]")" = role ]'
tapi GET /v1/users "" "$A"
check "users listed, the disabled one marked" \
  '[ "$(jq_py "sorted((u[\"name\"], u[\"disabled\"]) for u in j[\"users\"]) == [(\"admin\", 0), (\"cw\", 1)]")" = True ]'
tapi GET /v1/offices "" "$A"
check "offices listed (its own)" '[ "$(jq_py "[o[\"name\"] for o in j[\"offices\"]] == [\"default\"]")" = True ]'
n=$(sqlite3 "$db" "SELECT count(*) FROM audit WHERE action IN ('apikey.create','apikey.revoke','user.disable') AND details LIKE '%\"credential\":{\"session\":%'")
check "each of these audited with the session that did it ($n)" '[ "$n" = 4 ]'
stop_server

# ---- --trusted-proxy ----------------------------------------------------------------
export THREATDESK_LOGIN_BURST=3
start_server --trusted-proxy 127.0.0.1 --login-rate 3
login_as() { # xff -> code
  curl -s -o /dev/null -w '%{http_code}' -m 10 -H 'Content-Type: application/json' ${1:+-H "X-Forwarded-For: 10.9.9.9, $1"} \
    -d '{"username":"nobody","password":"wrong-password"}' "$base/v1/login"
}
for i in 1 2 3 4 5; do last=$(login_as 198.51.100.7); done
check "the proxied client 198.51.100.7 is limited on its own address" '[ "$last" = 429 ]'
check "another client behind the same proxy is not" '[ "$(login_as 198.51.100.8)" = 401 ]'
src=$(sqlite3 "$db" "SELECT DISTINCT source FROM login_failures WHERE name = 'nobody' ORDER BY source" | tr '\n' ' ')
check "the desk records the forwarded addresses ($src)" '[ "$src" = "198.51.100.7 198.51.100.8 " ]'
stop_server
start_server --login-rate 3
for i in 1 2 3 4; do last=$(login_as 198.51.100.9); done
check "without --trusted-proxy X-Forwarded-For is ignored (peer limited)" '[ "$last" = 429 ]'
check "whatever address it claims" '[ "$(login_as 198.51.100.10)" = 429 ]'
stop_server
unset THREATDESK_LOGIN_BURST
finish
