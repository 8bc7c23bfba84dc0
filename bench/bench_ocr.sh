#!/usr/bin/env bash
# bench_ocr.sh - OCR time per page for scanned letters.
#
# Renders an N-page PDF letter (12 pt DejaVu Serif, 2480x1100 px pages at
# 300 dpi, half of them embedded scans, half vector text) with the OCR
# unit-test binary, then times td_ocr_message() over it: poppler render +
# leptonica contrast/deskew + Tesseract LSTM, per page.  Engine start-up
# (loading eng.traineddata) is reported apart: it is paid once per process.
#
# Usage: bench/bench_ocr.sh [PAGES] [BUILD_DIR]
#   PAGES      default 6 (max 50)
#   BUILD_DIR  default build-bench, configured here WITHOUT sanitizers
#              (sanitizer builds are several times slower)
# Runs twice: with Tesseract's OpenMP threads as the environment leaves them,
# and with OMP_THREAD_LIMIT=1 (Tesseract's advice for throughput; on a
# small shared machine the threads mostly contend).
set -euo pipefail
pages=${1:-6}
build=${2:-build-bench}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTD_SANITIZE=OFF >/dev/null
cmake --build "$build" --target test_ingest_ocr -j2 >/dev/null
echo "bench_ocr: $(nproc) CPU(s), tesseract $(pkg-config --modversion tesseract), leptonica $(pkg-config --modversion lept), poppler $(pkg-config --modversion poppler-glib)"
echo "-- OMP_THREAD_LIMIT=${OMP_THREAD_LIMIT:-unset}"
"$build/test_ingest_ocr" --bench "$pages"
echo "-- OMP_THREAD_LIMIT=1"
OMP_THREAD_LIMIT=1 "$build/test_ingest_ocr" --bench "$pages"
