#!/usr/bin/env bash
# Build the libFuzzer harnesses in tests/fuzz/ with clang (ASan + UBSan) and
# run each for SECONDS (default 30).  Crashes are kept in build-fuzz/.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-30}
CC=clang cmake -S "$root" -B "$root/build-fuzz" -DTD_FUZZ=ON -DTD_WERROR=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=$(cd "$root/tests/fuzz" && ls fuzz_*.c | sed 's/\.c$//')
cmake --build "$root/build-fuzz" -j"$(nproc)" --target $targets >/dev/null
cd "$root/build-fuzz"
for f in $targets; do
  [ -x "$f" ] || continue
  mkdir -p "corpus-$f"
  echo "fuzz: $f for ${secs}s"
  ./"$f" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 "corpus-$f" 2>&1 \
    | grep -E "^(stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)" || true
  if compgen -G "crash-*" >/dev/null || compgen -G "leak-*" >/dev/null ||
     compgen -G "timeout-*" >/dev/null; then
    echo "fuzz: $f found a failure: $(ls crash-* leak-* timeout-* 2>/dev/null)"
    exit 1
  fi
done
echo "fuzz: no failures"
