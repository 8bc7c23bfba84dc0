#!/usr/bin/env bash
# Every test: install what is needed, check the source rules, build with
# warnings as errors under AddressSanitizer + UBSan, and run the unit and
# integration tests with ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/check-source.sh"
"$root/scripts/build.sh" "$root/build-test" -DTD_SANITIZE=ON -DTD_WERROR=ON
cd "$root/build-test"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --output-on-failure -j"$(nproc)" --timeout 1200
