#!/usr/bin/env bash
# server_feedback.sh - learning from the office over HTTP and the CLI:
# a dismissal through the API, the office's decisions listed and revoked
# (GET /v1/feedback, DELETE /v1/feedback/{id}), roles, another office's id
# answering 404, and `threatdesk feedback` over the same store.
#
# With a format-1 model (no vectors) a dismissal teaches nothing: the list
# stays empty.  With a format-2 model it holds the decision, which is then
# revoked.  Both are checked, whichever model is shipped.
# Usage: server_feedback.sh PATH/TO/threatdesk
td=${1:?usage: server_feedback.sh threatdesk-binary}
. "$(dirname "$0")/server_lib/common.sh"

format=$(od -An -tu4 -j8 -N4 "${THREATDESK_HOME:-.}/models/threatdesk.model" | tr -d ' ')
start_server
api POST /v1/login "{\"username\":\"admin\",\"password\":\"$admin_password\"}"
A="Authorization: Bearer $(jq_py 'j["token"]')"
mkuser() { # name role -> sets token var T_<name>
  api POST /v1/users "{\"username\":\"$1\",\"role\":\"$2\",\"password\":\"pw-$1-123456\"}" "$A"
  api POST /v1/login "{\"username\":\"$1\",\"password\":\"pw-$1-123456\"}"
  eval "T_$1=\"Authorization: Bearer $(jq_py 'j["token"]')\""
}
mkuser cw caseworker
mkuser obs observer

api POST /v1/messages '{"text":"see you at the match saturday, you are dead meat","channel":"email","sender":"email:mate@example.org"}' "$T_cw"
check "message filed" '[ "$code" = 201 ]'
mid=$(jq_py 'j["id"]')
api POST "/v1/messages/$mid:dismiss" '{"reason":"football banter from a friend"}' "$T_cw"
check "dismissed" '[ "$code" = 200 ]'

api GET /v1/feedback "" "$T_cw"
check "caseworker lists the office's feedback" '[ "$code" = 200 ] && [ "$(jq_py "type(j[\"feedback\"]).__name__")" = list ]'
n=$(jq_py 'j["total"]')
if [ "$format" = 2 ]; then
  check "format 2: the dismissal is remembered" \
    '[ "$n" = 1 ] && [ "$(jq_py "j[\"feedback\"][0][\"decision\"]")" = dismissed ] && [ "$(jq_py "j[\"feedback\"][0][\"message\"]")" = "$mid" ]'
  fid=$(jq_py 'j["feedback"][0]["id"]')
  api DELETE "/v1/feedback/$fid" "" "$T_cw"
  check "revoke -> 200" '[ "$code" = 200 ] && [ "$(jq_py "j[\"revoked\"]")" = True ]'
  api GET /v1/feedback "" "$T_cw"
  check "revoked: no live decision" '[ "$(jq_py "j[\"total\"]")" = 0 ]'
  api GET "/v1/feedback?all=1" "" "$T_cw"
  check "all=1 shows it revoked" '[ "$(jq_py "\"revoked\" in j[\"feedback\"][0]")" = True ]'
else
  check "format 1: nothing learnt" '[ "$n" = 0 ]'
fi
api GET "/v1/feedback?all=2" "" "$T_cw"
check "all=2 -> 400 naming all" '[ "$code" = 400 ] && [ "$(jq_py "j[\"error\"][\"field\"]")" = all ]'
api DELETE /v1/feedback/987654 "" "$T_cw"
check "unknown id -> 404" '[ "$code" = 404 ]'
api GET /v1/feedback "" "$T_obs"
check "observer -> 403" '[ "$code" = 403 ]'
api DELETE /v1/feedback/1 "" "$T_obs"
check "observer cannot revoke -> 403" '[ "$code" = 403 ]'
api GET /v1/feedback ""
check "no credentials -> 401" '[ "$code" = 401 ]'

stop_server
out=$("$td" feedback list --all --office default --db "$db" --data-dir "$data")
check "CLI lists the same rows" '[ "$(printf "%s" "$out" | grep -c "\"decision\"")" = "$n" ]'
"$td" feedback revoke 987654 --office default --db "$db" --data-dir "$data" 2>/dev/null
code=$?
check "CLI: unknown id -> exit 1" '[ "$code" = 1 ]'
finish
