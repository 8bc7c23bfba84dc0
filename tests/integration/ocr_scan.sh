#!/usr/bin/env bash
# ocr_scan.sh - `threatdesk scan` on scanned letters, driven from outside.
#
# The letters are rendered now, not committed: the unit-test binary that
# sits beside threatdesk in the build directory draws them with cairo
# (test_ingest_ocr --render KIND OUT) from tests/fixtures/letters/threat.txt:
# a clean print, a scan skewed 4.5 degrees, a faint grey-on-grey copy, a
# TIFF and a two-page PDF.  Each must come out as a `letter` whose text has
# the threat and whose verdict is a threat at high or critical severity.
# A ".png" that is text is refused with a clear error while the rest of the
# batch is still analysed.
#
# Usage: ocr_scan.sh PATH/TO/threatdesk   (run from the repository root)
set -uo pipefail
td=${1:?usage: ocr_scan.sh threatdesk-binary}
render="$(dirname "$td")/test_ingest_ocr"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { if eval "$2"; then ok; else bad "$1"; fi; }

# poppler draws PDF text through fontconfig, whose cache is freed only by
# FcFini() (never called at exit); in a sanitizer build LeakSanitizer would
# report it.  Suppressed for that one library, for these runs only.
export LSAN_OPTIONS="suppressions=$PWD/tests/fixtures/letters/lsan.supp:print_suppressions=0"

if [ ! -x "$render" ]; then
  echo "FAIL: $render not built (cmake --build ... --target test_ingest_ocr)"
  exit 1
fi
for k in clean skewed faint tiff pdf; do
  ext=png
  [ $k = tiff ] && ext=tif
  [ $k = pdf ] && ext=pdf
  "$render" --render $k "$tmp/$k.$ext" || bad "rendering $k"
done
# named like an image, but text; and an image named like text
printf 'Dear MP,\nthis is not a scan at all.\n' >"$tmp/fake.png"
cp "$tmp/clean.png" "$tmp/scan-without-extension"

"$td" scan --json "$tmp/clean.png" "$tmp/skewed.png" "$tmp/fake.png" "$tmp/faint.png" \
  "$tmp/tiff.tif" "$tmp/pdf.pdf" "$tmp/scan-without-extension" >"$tmp/out.jsonl" 2>"$tmp/err.txt"
rc=$?
check "exit status 1 when one file failed (got $rc)" '[ $rc -eq 1 ]'
check "stderr names fake.png and says it is not an image" \
  'grep -q "fake.png.*not an image" "$tmp/err.txt"'
python3 - "$tmp/out.jsonl" <<'PY' || bad "JSON output (see above)"
import json, re, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 7, len(rows)
names = ["clean.png", "skewed.png", "fake.png", "faint.png", "tiff.tif", "pdf.pdf",
         "scan-without-extension"]
for name, r in zip(names, rows):
    if name == "fake.png":
        assert "error" in r and r["error"]["code"] == "TD_EFORMAT", r
        continue
    assert r["id"].endswith(name), (name, r["id"])
    assert r["channel"] == "letter", (name, r)
    pages = 2 if name == "pdf.pdf" else 1
    assert r["source"].endswith("#pages=%d" % pages), (name, r["source"])
    # the threat was read: its words are in the spans' text
    text = " ".join(s.get("text", "") for s in r["spans"]).lower()
    assert "threat" in r["predicted"], (name, r["predicted"], r["reason"])
    assert r["severity"] in ("high", "critical"), (name, r["severity"], r["reason"])
    assert re.search(r"smash|kill", text), (name, text)
print("ocr_scan: 6 letters read as threats, the fake refused")
PY
[ $? -eq 0 ] && ok

# a table for a person: the letter ranked with its tier
"$td" scan "$tmp/faint.png" >"$tmp/table.txt" 2>&1
check "table run exits 0" '[ $? -eq 0 ]'
check "table shows HIGH or CRITICAL" 'grep -Eq "HIGH|CRITICAL" "$tmp/table.txt"'

echo "ocr_scan: $pass passed, $fail failed"
[ $fail -eq 0 ]
