#!/usr/bin/env bash
# bench_scale.sh - a party's deployment on one store (issue 11): builds
# bench/bench_scale.c against a Release build and runs it.  Every argument
# goes to bench_scale (see its header), e.g.
#   bench/bench_scale.sh                          # the full party: 650 offices, 5M messages
#   bench/bench_scale.sh --messages 200000 --big 20000 --cases 2000   # a quick run
#   bench/bench_scale.sh --store postgres://...   # once the desk opens PostgreSQL
# BUILD: a Release build directory to use (default build-scale-rel).
# TMPDIR: where the generated store goes (the full run needs ~15 GB).
# Figures print to stdout and land in bench/out/bench_scale.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-"$root/build-scale-rel"}
out="$root/bench/out"
mkdir -p "$out"
export THREATDESK_HOME="$root"

echo "== build (Release) in $build" >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTD_WERROR=ON >/dev/null
cmake --build "$build" --target td_desk -j2 >/dev/null
pq=
if pkg-config --exists libpq && grep -q 'TD_POSTGRES:BOOL=ON' "$build/CMakeCache.txt"; then
  pq=$(pkg-config --libs libpq)
fi
# shellcheck disable=SC2046,SC2086
cc -O2 -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -I"$root/include" -I"$root/src" \
  "$root/bench/bench_scale.c" "$build/libtd_desk.a" "$build/libtd_store.a" \
  "$build/libtd_alert.a" "$build/libtd_ingest.a" "$build/libtd_analyse.a" "$build/libtd_text.a" \
  "$build/libtd_util.a" $(pkg-config --libs sqlite3 jansson libsodium libutf8proc libpcre2-8 \
  libxxhash gmime-3.0 libcurl tesseract lept poppler-glib libxml-2.0) $pq -lcsv -lm -lpthread \
  -o "$build/bench_scale"

echo "== bench_scale $* ($(nproc) cores; $(df -h "${TMPDIR:-/tmp}" | awk 'NR==2 {print $4}') free in ${TMPDIR:-/tmp})" >&2
"$build/bench_scale" "$@" | tee "$out/bench_scale.txt"
