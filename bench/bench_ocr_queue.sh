#!/usr/bin/env bash
# bench_ocr_queue.sh - scanned letters through the work queue: OCR jobs per
# second with 1 and 2 worker processes (and 1 process of 2 threads), with
# the OCR engine pool against the named baseline, a new Tesseract engine
# per job (`threatdesk worker --no-pool`, what the request path did before
# the queue: td_ocr_open per upload).
#
# Setup: N one-page letters (the OCR unit test's clean 300 dpi render of
# tests/fixtures/letters/threat.txt, 2480x1100 px) queued with
# `threatdesk worker --enqueue` into one store, copied fresh for every run.
# A run starts the worker processes with --once and times, from outside,
# until the last one exits: process start (analyser load, engines made),
# claims, OCR, analysis and filing of all N letters.  jobs/s = N / wall.
# "drain" is the workers' own figure without the process start (the
# slowest process's time from its threads' start to the queue found
# empty): what a long-running worker sustains.  Each run is made twice
# and the faster kept (the machine is shared).  Every run must file all N
# letters (checked from the workers' summaries).
#
# OMP_THREAD_LIMIT=1 (Tesseract's advice for throughput with several
# engines at once; on this small shared machine its OpenMP threads only
# contend).  The figures depend on the machine and its load: the bench
# prints CPUs and load average.
#
# Usage: bench/bench_ocr_queue.sh [LETTERS] [BUILD_DIR]
#   LETTERS    default 24
#   BUILD_DIR  default build-bench, configured here WITHOUT sanitizers
set -euo pipefail
n=${1:-24}
build=${2:-build-bench}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# -Werror off: GCC at -O2 sees a maybe-uninitialised in desk/cases.c that
# the sanitizer build does not; a benchmark build is not where to stop on it.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTD_SANITIZE=OFF -DTD_WERROR=OFF >/dev/null
cmake --build "$build" --target threatdesk test_ingest_ocr -j2 >/dev/null
td=$build/threatdesk
export THREATDESK_HOME=$root OMP_THREAD_LIMIT=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$build/test_ingest_ocr" --render clean "$tmp/letter.png"
files=()
for i in $(seq 1 "$n"); do
  cp "$tmp/letter.png" "$tmp/l$i.png"
  files+=("$tmp/l$i.png")
done
"$td" office add default --db "$tmp/tpl.db" --data-dir "$tmp/data" >/dev/null
"$td" worker --enqueue --db "$tmp/tpl.db" --data-dir "$tmp/data" "${files[@]}" >/dev/null

echo "bench_ocr_queue: $n letters, $(nproc --all) CPU(s), load $(cut -d' ' -f1-3 /proc/loadavg)," \
  "tesseract $(pkg-config --modversion tesseract), OMP_THREAD_LIMIT=1"
printf '%-34s %8s %8s %8s %8s %10s\n' "run" "wall s" "jobs/s" "drain s" "jobs/s" "OCR s/job"

# once LABEL PROCS THREADS [worker flags...]: one timed run; prints
# "wall drain ocr_per_job"
once() {
  local label=$1 procs=$2 threads=$3
  shift 3
  rm -f "$tmp"/run.db* "$tmp"/out.* && cp "$tmp/tpl.db" "$tmp/run.db"
  local t0 t1 pids=() p
  t0=$(date +%s.%N)
  for p in $(seq 1 "$procs"); do
    "$td" worker --once --quiet --threads "$threads" --name "w$p" --db "$tmp/run.db" \
      --data-dir "$tmp/data" "$@" >"$tmp/out.$p" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  t1=$(date +%s.%N)
  python3 - "$label" "$n" "$t0" "$t1" "$tmp"/out.* <<'PY'
import re, sys
label, n, t0, t1 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
filed = ocr = drain = 0.0
for path in sys.argv[5:]:
    text = open(path).read()
    m = re.search(r"worker: (\d+) jobs \((\d+) filed.* in ([0-9.]+) s: .*OCR ([0-9.]+) s", text)
    if not m:
        sys.exit("bench_ocr_queue: no summary in %s:\n%s" % (path, text))
    filed += int(m.group(2))
    drain = max(drain, float(m.group(3)))
    ocr += float(m.group(4))
if filed != n:
    sys.exit("bench_ocr_queue: %s filed %d of %d letters" % (label, filed, n))
print("%.3f %.3f %.3f" % (t1 - t0, drain, ocr / n))
PY
}

# run LABEL PROCS THREADS [worker flags...]: the faster of two runs
run() {
  local a b
  a=$(once "$@")
  b=$(once "$@")
  python3 - "$1" "$n" "$a" "$b" <<'PY'
import sys
label, n = sys.argv[1], int(sys.argv[2])
runs = [tuple(map(float, r.split())) for r in sys.argv[3:]]
wall, drain, ocr = min(runs)
print("%-34s %8.2f %8.2f %8.2f %8.2f %10.2f" % (label, wall, n / wall, drain, n / drain, ocr))
PY
}

run "1 worker, pool"                    1 1
run "1 worker, new engine per job"      1 1 --no-pool
run "2 workers, pool"                   2 1
run "2 workers, new engine per job"     2 1 --no-pool
run "1 worker x 2 threads, pool"        1 2
