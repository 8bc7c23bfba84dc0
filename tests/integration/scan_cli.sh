#!/usr/bin/env bash
# scan_cli.sh - `threatdesk scan` driven from outside: the output contract,
# every input form, bad input, and the ranking a caseworker sees.
# Usage: scan_cli.sh PATH/TO/threatdesk   (run from the repository root)
set -uo pipefail
td=${1:?usage: scan_cli.sh threatdesk-binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { if eval "$2"; then ok; else bad "$1"; fi; }
jq_py() { python3 -c "$1" "${@:2}"; }

# 1. JSON Lines with a broken record in the middle: one object per input
#    record, in order, the broken one an error object; exit status 1.
cat > "$tmp/in.jsonl" <<'J'
{"id": "a", "text": "You will be smashed and killed within days."}
{"id": "b", "text": "broken
{"id": "c", "text": "Thank you for your help with the planning appeal."}
{"id": "d"}
{"id": "e", "text": "We'll smash the Tories at the ballot box."}
J
"$td" scan --json "$tmp/in.jsonl" > "$tmp/out.jsonl" 2> "$tmp/err.txt"
rc=$?
check "exit status 1 when a record failed (got $rc)" '[ $rc -eq 1 ]'
check "stderr names file and line 2" 'grep -q "in.jsonl:2:" "$tmp/err.txt"'
check "stderr names field text on line 4" 'grep -q "in.jsonl:4:.*text" "$tmp/err.txt"'
jq_py '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 5, rows
assert [r.get("id") for r in rows] == ["a", None, "c", "d", "e"], [r.get("id") for r in rows]
assert "error" in rows[1] and rows[1]["error"]["line"] == 2 and rows[1]["error"]["code"] == "TD_EPARSE"
assert rows[3]["error"]["field"] == "text"
for r in (rows[0], rows[2], rows[4]):
    for k in ("id", "labels", "severity", "flags", "spans", "reason", "model"):
        assert k in r, (k, r)
    assert set(r["labels"]) == {"threat", "identity_hate", "abuse", "sexual", "intimidation"}
    assert all(0.0 <= p <= 1.0 for p in r["labels"].values())
a, c, e = rows[0], rows[2], rows[4]
assert "threat" in a["predicted"] and a["severity"] == "critical", a
assert "time_bound" in a["flags"], a
text = "You will be smashed and killed within days."
for s in a["spans"]:
    assert 0 <= s["start"] < s["end"] <= len(text.encode())
    assert s["text"] == text.encode()[s["start"]:s["end"]].decode(), s
    assert s["source"] in ("model", "grammar", "lexicon", "normaliser")
assert any(s["source"] == "grammar" and s["label"] == "threat" for s in a["spans"])
assert c["severity"] == "none" and c["predicted"] == [], c
assert "threat" not in e["predicted"], e
' "$tmp/out.jsonl" && ok || bad "JSON output contract"

# 2. stdin, --lines, blank lines skipped, ids are <stdin>:<line>
printf 'first message\n\nyou are a pathetic idiot\n' | "$td" scan --json --lines > "$tmp/l.jsonl"
check "--lines from stdin exits 0" '[ $? -eq 0 ]'
check "--lines: two records" '[ $(wc -l < "$tmp/l.jsonl") -eq 2 ]'
check "--lines ids carry line numbers" 'grep -q "\"id\":\"<stdin>:3\"" "$tmp/l.jsonl"'

# 3. CSV with --text-column and a multi-line quoted field
printf 'msg_id,body\n1,"hello\nthere"\n2,"I will kill you tonight"\n' > "$tmp/in.csv"
"$td" scan --json --csv --text-column body --id-column msg_id "$tmp/in.csv" > "$tmp/c.jsonl"
check "CSV exits 0" '[ $? -eq 0 ]'
check "CSV: record 2 is a critical threat" 'grep "\"id\":\"2\"" "$tmp/c.jsonl" | grep -q "\"severity\":\"critical\""'

# 4. invalid UTF-8 is repaired and counted, not fatal; offsets stay in range
printf 'you will die \xff\xfe tonight\n' > "$tmp/bad.txt"
"$td" scan --json "$tmp/bad.txt" > "$tmp/b.jsonl"
check "invalid UTF-8 exits 0" '[ $? -eq 0 ]'
check "invalid UTF-8 counted" 'grep -q "\"invalid_utf8\":" "$tmp/b.jsonl"'

# 5. a 10 MB line: refused by --max-record, neighbours kept
python3 -c "
import sys
sys.stdout.write('{\"id\":\"x\",\"text\":\"before\"}\n')
sys.stdout.write('{\"id\":\"big\",\"text\":\"' + 'a' * 10_000_000 + '\"}\n')
sys.stdout.write('{\"id\":\"y\",\"text\":\"after\"}\n')" > "$tmp/big.jsonl"
"$td" scan --json --max-record 1000000 "$tmp/big.jsonl" > "$tmp/big.out" 2>/dev/null
rc=$?
check "oversized record: exit 1" '[ $rc -eq 1 ]'
check "oversized record: neighbours kept" 'grep -q "\"id\":\"x\"" "$tmp/big.out" && grep -q "\"id\":\"y\"" "$tmp/big.out"'
check "oversized record: TD_ETOOBIG" 'grep -q TD_ETOOBIG "$tmp/big.out"'
"$td" scan --json "$tmp/big.jsonl" > "$tmp/big2.out"
check "10 MB record analysed under the default cap" '[ $? -eq 0 ] && [ $(wc -l < "$tmp/big2.out") -eq 3 ]'

# 6. empty input
: > "$tmp/empty.jsonl"
"$td" scan --json --jsonl "$tmp/empty.jsonl" > "$tmp/e.out"
check "empty input: exit 0, no output" '[ $? -eq 0 ] && [ ! -s "$tmp/e.out" ]'

# 7. a missing file: clear error, exit 1, other files still scanned
"$td" scan --json --text-column body --id-column msg_id /nonexistent.jsonl "$tmp/in.csv" \
  > "$tmp/m.out" 2> "$tmp/m.err"
rc=$?
check "missing file: exit 1" '[ $rc -eq 1 ]'
check "missing file named" 'grep -q "/nonexistent.jsonl" "$tmp/m.err"'
check "other file still scanned" '[ $(grep -c "\"severity\"" "$tmp/m.out") -eq 2 ]'

# 8. the table a person reads: critical first, the reason shown
"$td" scan examples/inbox.jsonl examples/letters/*.txt > "$tmp/table.txt"
check "table exits 0" '[ $? -eq 0 ]'
check "table: first row is CRITICAL" 'sed -n "/^#/{n;p;q}" "$tmp/table.txt" | grep -q CRITICAL'
check "table: reasons shown" 'grep -q "why:" "$tmp/table.txt"'
check "table: summary line counts messages" 'head -1 "$tmp/table.txt" | grep -q "^26 messages"'

# 9. usage errors
"$td" scan --format nonsense x 2>/dev/null
check "unknown format: exit 2" '[ $? -eq 2 ]'

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
