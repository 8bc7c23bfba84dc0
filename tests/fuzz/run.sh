#!/usr/bin/env bash
# run.sh - build a libFuzzer driver of the ingest parsers with clang
# (ASan + UBSan) and run it on a copy of its seed corpus.
#   bash tests/fuzz/run.sh email|social|web [seconds]     (cwd: anywhere)
# Crashes are left as crash-* files in the current directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
what=${1:?email, social or web}
secs=${2:-60}
out=$(mktemp -d /tmp/td_fuzz.XXXXXX)
if [ "$what" = web ]; then
  # the web desk's form parser and escaping writer (compiled into the driver)
  clang -g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DTD_SOURCE_DIR="\"$root\"" \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root/include" -I"$root/src" "$root/tests/fuzz/fuzz_web.c" "$root/src/util/buf.c" \
    "$root/src/util/error.c" -o "$out/fuzz_web"
  mkdir -p "$out/corpus"
  printf 'csrf=ab&reason=Not+a%%20threat&text=%%zz' > "$out/corpus/form"
  printf '<script>"x" & \x27y\x27</script>' > "$out/corpus/html"
  exec "$out/fuzz_web" -max_total_time="$secs" -max_len=4096 "$out/corpus"
fi
srcs=("$root/src/ingest/email.c" "$root/src/ingest/email_text.c" "$root/src/ingest/email_maildir.c"
      "$root/src/ingest/social.c" "$root/src/ingest/sender.c" "$root/src/ingest/message.c"
      "$root/src/util/buf.c" "$root/src/util/error.c")
clang -g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DTD_SOURCE_DIR="\"$root\"" \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$root/include" -I"$root/src" $(pkg-config --cflags gmime-3.0 libxml-2.0 jansson) \
  "$root/tests/fuzz/fuzz_$what.c" "${srcs[@]}" -o "$out/fuzz_$what" \
  $(pkg-config --libs gmime-3.0 libxml-2.0 jansson libsodium libutf8proc)
mkdir -p "$out/corpus"
find "$root/tests/fixtures/$what" -type f -size -1000k -exec cp {} "$out/corpus/" \;
"$out/fuzz_$what" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=1024 "$out/corpus"
