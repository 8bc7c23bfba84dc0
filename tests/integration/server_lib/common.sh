# common.sh - helpers for tests/integration/server_*.sh (sourced, not run).
#
# start_server [serve flags...]   start `threatdesk serve` on 127.0.0.1 and a
#                                 free port (port 0, read back from stdout),
#                                 on a fresh store under $tmp; sets $base,
#                                 $srv_pid, $admin_password (first start).
#                                 The one-time password must be changed
#                                 before anything else, so on first start
#                                 this does it and $admin_password is the
#                                 new one ($one_time_password the printed
#                                 one); TD_KEEP_ONE_TIME=1 leaves it as is.
# stop_server [SIGNAL]            signal it (TERM) and wait.
# api METHOD PATH [BODY] [AUTH-HEADER] [CONTENT-TYPE]
#                                 curl the server; sets $code, body in $tmp/body.
# jq_py EXPR                      evaluate a Python expression over the last
#                                 body (bound to `j`); prints the result.
# check NAME CONDITION            count a pass or print FAIL.
# The caller sets td (the binary) and calls `finish` last.
set -uo pipefail
tmp=$(mktemp -d)
srv_pid=
cleanup() {
  if [ -n "${srv_pid:-}" ] && kill -0 "$srv_pid" 2>/dev/null; then
    kill -KILL "$srv_pid" 2>/dev/null
    wait "$srv_pid" 2>/dev/null
  fi
  if [ -n "${TD_KEEP_TMP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { if eval "$2"; then ok; else bad "$1 (code=$code body=$(head -c 300 "$tmp/body" 2>/dev/null))"; fi; }
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}

db=$tmp/desk.db
data=$tmp/data
start_server() {
  : > "$tmp/out"
  "$td" serve --listen 127.0.0.1:0 --db "$db" --data-dir "$data" "$@" \
    > "$tmp/out" 2>> "$tmp/server.log" &
  srv_pid=$!
  local i
  for i in $(seq 1 300); do
    if grep -q '^listening on ' "$tmp/out"; then break; fi
    if ! kill -0 "$srv_pid" 2>/dev/null; then
      echo "server exited early:"; cat "$tmp/out" "$tmp/server.log"; exit 1
    fi
    sleep 0.1
  done
  base=$(sed -n 's/^listening on //p' "$tmp/out" | head -1)
  [ -n "$base" ] || { echo "server did not start"; cat "$tmp/server.log"; exit 1; }
  admin_password=$(sed -n "s/.*one-time password: //p" "$tmp/out" | head -1)
  one_time_password=$admin_password
  if [ -n "$admin_password" ] && [ -z "${TD_KEEP_ONE_TIME:-}" ] && [ "${base#https}" = "$base" ]; then
    local t
    t=$(curl -s -m 30 -H 'Content-Type: application/json' \
      -d "{\"username\":\"admin\",\"password\":\"$admin_password\"}" "$base/v1/login" |
      python3 -c 'import json,sys; print(json.load(sys.stdin).get("token",""))' 2>/dev/null)
    admin_password="admin-pw-$RANDOM$RANDOM"
    curl -s -m 30 -o /dev/null -X PATCH -H 'Content-Type: application/json' -H "Authorization: Bearer $t" \
      -d "{\"password\":\"$admin_password\"}" "$base/v1/users/admin"
  fi
}
stop_server() {
  local sig=${1:-TERM}
  kill -"$sig" "$srv_pid" 2>/dev/null
  wait "$srv_pid" 2>/dev/null
  srv_rc=$?
  srv_pid=
}
api() {
  local method=$1 path=$2 body=${3-} auth=${4-} ctype=${5:-application/json}
  local args=(-s -o "$tmp/body" -w '%{http_code}' -X "$method" -H "Content-Type: $ctype")
  [ -n "$auth" ] && args+=(-H "$auth")
  if [ -n "$body" ]; then
    if [ "${body:0:1}" = "@" ]; then args+=(--data-binary "$body"); else args+=(--data-binary "$body"); fi
  fi
  code=$(curl "${args[@]}" "$base$path")
}
jq_py() {
  python3 - "$tmp/body" "$1" <<'PY'
import json, sys
try:
    j = json.load(open(sys.argv[1]))
except Exception:
    j = None
try:
    r = eval(sys.argv[2], {"j": j})
except Exception as e:
    r = "<error %s>" % e
print(r if not isinstance(r, (dict, list)) else json.dumps(r))
PY
}
