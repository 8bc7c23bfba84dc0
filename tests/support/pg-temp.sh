#!/usr/bin/env bash
# pg-temp.sh - a throwaway PostgreSQL cluster for the tests (no Docker).
#
#   pg-temp.sh start DIR    initdb + pg_ctl start; print the owner's URL;
#                           DIR/{owner,app,worker,admin}_url hold the URLs
#   pg-temp.sh stop DIR     stop the server, remove its files and DIR
#                           (idempotent: nothing to stop is not an error)
#   pg-temp.sh run CMD...   start in a fresh DIR, export TD_PG_DIR,
#                           TD_PG_URL, TD_PG_APP_URL, TD_PG_WORKER_URL, run
#                           CMD and stop + remove whatever CMD did (trap)
#
# The cluster lives in a fresh mktemp directory under ${TMPDIR:-/tmp}, not
# in DIR: the server's unix socket path must stay under ~107 bytes, and as
# root the server runs as `postgres`, which must be able to reach its data
# (a build tree under /root is not reachable).  It listens on no TCP port,
# only on a unix socket in that 0700 directory, so `trust` authentication
# admits only the user who started it (and root).  fsync stays on: the
# tests that count audit entries must see what a real server would.
#
# Roles, as a deployment would have them (docs/postgres.md):
#   td_admin   bootstrap superuser (creates the rest; tests never use it
#              for the desk's work)
#   td_owner   owns the database and the tables; runs the migrations
#   td_app     LOGIN, member of threatdesk_app: DML only, subject to RLS
#   td_worker  LOGIN, member of threatdesk_worker: claims jobs of every
#              office
#
# PostgreSQL refuses to run as root, and CI runs as root: then initdb and
# pg_ctl run as the `postgres` user (Debian's package creates it) through
# runuser, and the temp directory is chowned to it.
set -euo pipefail

die() {
  echo "pg-temp: $*" >&2
  exit 1
}

# The newest Debian version directory, so a PostgreSQL upgrade needs no
# edit here; PG_BINDIR overrides.
find_bindir() {
  if [ -n "${PG_BINDIR:-}" ]; then
    echo "$PG_BINDIR"
    return
  fi
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then
    echo "$d"
    return
  fi
  d=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
  [ -x "$d/initdb" ] || die "no initdb found (apt-get install postgresql, or set PG_BINDIR)"
  echo "$d"
}

BIN=$(find_bindir)
RUNAS=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || die "running as root and there is no 'postgres' user to run the server"
  RUNAS=(runuser -u postgres --)
fi

# Stop the server of DIR (recorded in DIR/base) and remove everything.
stop() {
  local dir=$1 base=""
  [ -f "$dir/base" ] && base=$(cat "$dir/base")
  if [ -n "$base" ] && [ -d "$base/data" ]; then
    if [ -f "$base/data/postmaster.pid" ]; then
      "${RUNAS[@]}" "$BIN/pg_ctl" stop -D "$base/data" -m fast -w -t 30 >/dev/null 2>&1 ||
        "${RUNAS[@]}" "$BIN/pg_ctl" stop -D "$base/data" -m immediate -w -t 10 >/dev/null 2>&1 ||
        true
      # Last resort: a server that would not stop must not outlive the test.
      if [ -f "$base/data/postmaster.pid" ]; then
        local pid
        pid=$(head -n 1 "$base/data/postmaster.pid" 2>/dev/null || true)
        case "$pid" in '' | *[!0-9]*) ;; *) kill -9 "$pid" 2>/dev/null || true ;; esac
      fi
    fi
  fi
  # Only ever a directory this script made (mktemp's tdpg. prefix).
  case "$base" in */tdpg.*) rm -rf -- "$base" ;; esac
  rm -rf -- "$dir"
}

start() {
  local dir=$1
  # A fixture dir left by a killed run: stop its server first.
  [ -e "$dir" ] && stop "$dir"
  mkdir -p "$dir"
  local base
  base=$(mktemp -d "${TMPDIR:-/tmp}/tdpg.XXXXXX")
  echo "$base" >"$dir/base"
  # Whatever fails from here on, leave nothing running or on disk.
  trap 'st=$?; if [ $st != 0 ]; then [ -f "$base/log" ] && tail -n 20 "$base/log" >&2; stop "$dir"; fi' EXIT
  [ ${#RUNAS[@]} -gt 0 ] && chown postgres: "$base"
  chmod 700 "$base"

  "${RUNAS[@]}" "$BIN/initdb" -D "$base/data" -U td_admin --auth=trust -E UTF8 --locale=C \
    >"$base/initdb.log" 2>&1 || {
    cat "$base/initdb.log" >&2
    die "initdb failed"
  }
  cat >>"$base/data/postgresql.conf" <<EOF
# pg-temp.sh
listen_addresses = ''
unix_socket_directories = '$base'
unix_socket_permissions = 0700
fsync = on
synchronous_commit = on
max_connections = 50
EOF
  "${RUNAS[@]}" "$BIN/pg_ctl" start -D "$base/data" -l "$base/log" -w -t 60 >/dev/null ||
    die "pg_ctl start failed"

  local admin="host=$base user=td_admin dbname=postgres"
  "$BIN/psql" "$admin" -X -q -v ON_ERROR_STOP=1 >/dev/null <<'EOF'
CREATE ROLE threatdesk_app NOLOGIN;
CREATE ROLE threatdesk_worker NOLOGIN;
CREATE ROLE td_owner LOGIN NOSUPERUSER NOCREATEROLE NOBYPASSRLS;
CREATE ROLE td_app LOGIN NOSUPERUSER NOBYPASSRLS IN ROLE threatdesk_app;
CREATE ROLE td_worker LOGIN NOSUPERUSER NOBYPASSRLS IN ROLE threatdesk_worker;
CREATE DATABASE threatdesk OWNER td_owner;
EOF
  echo "postgres:///threatdesk?host=$base&user=td_owner" >"$dir/owner_url"
  echo "postgres:///threatdesk?host=$base&user=td_app" >"$dir/app_url"
  echo "postgres:///threatdesk?host=$base&user=td_worker" >"$dir/worker_url"
  echo "postgres:///threatdesk?host=$base&user=td_admin" >"$dir/admin_url"
  trap - EXIT
  cat "$dir/owner_url"
}

cmd=${1:-}
shift || true
case "$cmd" in
start)
  [ $# = 1 ] || die "usage: pg-temp.sh start DIR"
  start "$1"
  ;;
stop)
  [ $# = 1 ] || die "usage: pg-temp.sh stop DIR"
  stop "$1"
  ;;
run)
  [ $# -ge 1 ] || die "usage: pg-temp.sh run CMD [ARGS...]"
  dir=$(mktemp -d "${TMPDIR:-/tmp}/tdpg-run.XXXXXX")
  rmdir "$dir"
  # start cleans up after itself when it fails; from then on this trap
  # does (EXIT covers normal ends and errors; INT/TERM exit through it).
  start "$dir" >/dev/null
  child=
  trap 'stop "$dir"' EXIT
  # CMD runs in the background and we `wait`: bash runs a trap only once
  # the foreground command ends, so a TERM (a test timeout) would otherwise
  # wait for CMD before cleaning up.
  trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; exit 130' INT
  trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; exit 143' TERM
  export TD_PG_DIR=$dir
  TD_PG_URL=$(cat "$dir/owner_url")
  TD_PG_APP_URL=$(cat "$dir/app_url")
  TD_PG_WORKER_URL=$(cat "$dir/worker_url")
  export TD_PG_URL TD_PG_APP_URL TD_PG_WORKER_URL
  set +e
  "$@" &
  child=$!
  wait "$child"
  st=$?
  set -e
  exit $st
  ;;
*)
  die "usage: pg-temp.sh start DIR | stop DIR | run CMD [ARGS...]"
  ;;
esac
