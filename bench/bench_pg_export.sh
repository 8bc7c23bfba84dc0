#!/usr/bin/env bash
# bench_pg_export.sh - the queue export (streamed) and the weekly digest of
# one office with N messages, on SQLite and on PostgreSQL side by side
# (bench_pg_export.c says what is measured).  PostgreSQL is a throwaway
# cluster (tests/support/pg-temp.sh); the desk runs as the app role.
#
# Usage: bench/bench_pg_export.sh [N=100000]
#        (BUILD=a build dir to reuse, default build-pg-bench, configured
#        Release here; JOBS=parallel compile jobs; OUT=dir for the work files)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-100000}
build=${BUILD:-"$root/build-pg-bench"}
out=${OUT:-"$build/pg-export-bench"}
export THREATDESK_HOME="$root"

if [ ! -f "$build/CMakeCache.txt" ]; then
  echo "== build (Release)" >&2
  # without -Werror: a bench measures; the warnings gate is the CI build's
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTD_WERROR=OFF >/dev/null
fi
cmake --build "$build" --target test_desk_alerts -j"${JOBS:-$(nproc)}" >/dev/null
# The desk's link line depends on which optional libraries CMake found
# (OCR, PDF, MIME...): take a desk test's, without the test and cmocka.
link=$(sed -e 's#^[^ ]* ##' -e 's#CMakeFiles/[^ ]*\.o##g' -e 's#-o test_desk_alerts##' \
  -e 's#[^ ]*libcmocka[^ ]*##' "$build/CMakeFiles/test_desk_alerts.dir/link.txt")
mkdir -p "$out"
# shellcheck disable=SC2086
(cd "$build" && cc -O2 -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -Wall -Wextra \
  -Werror -I"$root/include" $(pkg-config --cflags libpq jansson) \
  "$root/bench/bench_pg_export.c" -o "$out/bench_pg_export" $link)

rm -rf "$out/sqlite" && mkdir -p "$out/sqlite/data"
"$out/bench_pg_export" "$out/sqlite/desk.db" "$n" - "$out/sqlite/data"

rm -rf "$out/pg" && mkdir -p "$out/pg/data"
# The owner migrates (first open), the app role then does the work; the
# copies are written as the cluster's superuser.
bash "$root/tests/support/pg-temp.sh" run bash -c '
  set -e
  app=$(cat "$TD_PG_DIR/app_url"); admin=$(cat "$TD_PG_DIR/admin_url")
  "$1" "$TD_PG_URL" 0 - "$2/data-owner"
  "$1" "$app" "$3" "$admin" "$2/data"
' _ "$out/bench_pg_export" "$out/pg" "$n"
