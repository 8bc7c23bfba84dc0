#!/usr/bin/env bash
# postgres_temp.sh - tests/support/pg-temp.sh, the throwaway PostgreSQL the
# PostgreSQL tests run against (issue 11): it starts (as root through the
# postgres user), the roles are what docs/postgres.md says (the app and
# worker roles are neither superusers nor exempt from row-level security),
# fsync is on, no TCP port is open, and it leaves nothing behind - after a
# passing command, a failing one, and a TERM (a test timeout).
# The argument (the threatdesk binary, as for every integration test) is
# not used.
set -uo pipefail
cd "$(dirname "$0")/../.."
pgt=tests/support/pg-temp.sh
fail=0
ok() { echo "ok: $*"; }
bad() {
  echo "FAIL: $*"
  fail=1
}

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
  echo "SKIP: no PostgreSQL server binaries (scripts/install-deps.sh installs postgresql)"
  exit 77
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# 1. a passing command sees a working cluster
bash $pgt run bash -c '
  set -e
  echo "$TD_PG_DIR" > '"$out"'/dir
  cat "$TD_PG_DIR/base" > '"$out"'/base
  case "$TD_PG_URL" in postgres://*) ;; *) echo "not a postgres:// URL: $TD_PG_URL"; exit 1;; esac
  psql "$TD_PG_APP_URL" -XAtc "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user" > '"$out"'/app
  psql "$TD_PG_WORKER_URL" -XAtc "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user" > '"$out"'/worker
  { psql "$TD_PG_URL" -XAtc "SHOW fsync"; psql "$TD_PG_URL" -XAtc "SHOW listen_addresses"; } | tr "\n" "|" > '"$out"'/conf
  ps -o user= -p "$(head -n 1 "$(cat "$TD_PG_DIR/base")/data/postmaster.pid")" > '"$out"'/user
' && ok "run: a passing command exits 0" || bad "run: a passing command failed"
[ "$(cat "$out/app")" = "f|f" ] && ok "td_app: not superuser, not BYPASSRLS" || bad "td_app roles: $(cat "$out/app")"
[ "$(cat "$out/worker")" = "f|f" ] && ok "td_worker: not superuser, not BYPASSRLS" || bad "td_worker: $(cat "$out/worker")"
[ "$(cat "$out/conf")" = "on||" ] && ok "fsync on, no TCP listener" || bad "settings: $(cat "$out/conf")"
if [ "$(id -u)" = 0 ]; then
  [ "$(tr -d ' ' <"$out/user")" = postgres ] && ok "as root the server runs as postgres" ||
    bad "server user: $(cat "$out/user")"
fi
base=$(cat "$out/base")
[ ! -e "$base" ] && [ ! -e "$(cat "$out/dir")" ] && ok "run: cleaned up after success" ||
  bad "run left $base or $(cat "$out/dir")"
pgrep -f -- "-D $base/data" >/dev/null && bad "a server of $base still runs"

# 2. a failing command: its status comes back, nothing is left
bash $pgt run bash -c 'cat "$TD_PG_DIR/base" > '"$out"'/base2; exit 3'
st=$?
[ $st = 3 ] && ok "run: the command's status (3) comes back" || bad "run: status $st, not 3"
base=$(cat "$out/base2")
[ ! -e "$base" ] && ok "run: cleaned up after a failure" || bad "run left $base after a failure"
pgrep -f -- "-D $base/data" >/dev/null && bad "a server of $base still runs after a failure"

# 3. TERM while the command runs (what a test timeout does)
bash $pgt run bash -c 'cat "$TD_PG_DIR/base" > '"$out"'/base3; sleep 120' &
w=$!
for _ in $(seq 1 300); do
  [ -s "$out/base3" ] && break
  sleep 0.1
done
kill -TERM $w
wait $w
base=$(cat "$out/base3" 2>/dev/null)
[ -n "$base" ] && [ ! -e "$base" ] && ok "run: cleaned up after TERM" || bad "run left '$base' after TERM"
[ -n "$base" ] && pgrep -f -- "-D $base/data" >/dev/null && bad "a server of $base still runs after TERM"

# 4. start/stop with a fixture directory, and stop is idempotent
fx="$out/fixture"
url=$(bash $pgt start "$fx") && ok "start printed $url" || bad "start failed"
psql "$(cat "$fx/app_url")" -XAtc "SELECT 1" >/dev/null && ok "the fixture's app URL connects" ||
  bad "cannot connect to the fixture"
base=$(cat "$fx/base")
bash $pgt stop "$fx" && bash $pgt stop "$fx" && ok "stop twice" || bad "stop failed"
[ ! -e "$base" ] && [ ! -e "$fx" ] && ok "stop removed the cluster" || bad "stop left $base"

[ $fail = 0 ] && echo "postgres_temp: all ok"
exit $fail
