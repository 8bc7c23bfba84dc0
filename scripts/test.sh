#!/usr/bin/env bash
# Every test: install what is needed, check the source rules, build with
# warnings as errors under AddressSanitizer + UBSan, and run the unit and
# integration tests with ctest.  First, the optimised build of the main
# command exactly as scripts/run.sh makes it (-O2), warnings as errors:
# GCC's -O2 warnings (format truncation, maybe-uninitialised) are not the
# sanitizer build's, and twice they broke the main command while every
# test passed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/check-source.sh"
"$root/scripts/build.sh" "$root/build" -DTD_WERROR=ON   # as scripts/run.sh builds it
"$root/scripts/build.sh" "$root/build-test" -DTD_SANITIZE=ON -DTD_WERROR=ON
cd "$root/build-test"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --output-on-failure -j"$(nproc)" --timeout 1200
