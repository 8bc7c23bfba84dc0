#!/usr/bin/env bash
# Source rules a compiler does not check:
#  - no strcpy / sprintf / atoi / strtok (unbounded or unchecked on
#    untrusted data; use snprintf, strtol-family with checks, td_buf);
#  - every C file is clang-formatted.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fail=0
files=$(git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -v '^build' || true)
if bad=$(grep -nE '\b(strcpy|strcat|sprintf|vsprintf|atoi|atol|strtok|gets)\s*\(' $files); then
  echo "check-source: banned function (use the bounded/checked alternative):"
  echo "$bad"
  fail=1
fi
if command -v clang-format >/dev/null; then
  for f in $files; do
    if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
      echo "check-source: not clang-formatted: $f (run: clang-format -i $f)"
      fail=1
    fi
  done
fi
[ $fail = 0 ] && echo "check-source: ok ($(echo "$files" | wc -l) files)"
exit $fail
