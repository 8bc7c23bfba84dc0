#!/usr/bin/env bash
# ingest_scan.sh - `threatdesk scan` over the e-mail and social fixtures:
# formats detected from content (also on stdin), a bad record reported
# without stopping the batch, duplicates recognised, --format forcing,
# --by-sender linking, and the verdict on the threats.
# Usage: bash tests/integration/ingest_scan.sh <threatdesk binary>   (cwd = repo root)
set -u
TD=${1:?usage: ingest_scan.sh <threatdesk>}
export THREATDESK_HOME=${THREATDESK_HOME:-$PWD}
E=tests/fixtures/email
S=tests/fixtures/social
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # name, python expression over `recs` (list of JSON objects)
    if ! python3 - "$tmp/out.jsonl" "$2" <<'PY'; then echo "FAIL: $1"; fail=1; else echo "ok: $1"; fi
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {r.get("id"): r for r in recs}
ok = eval(sys.argv[2])
if not ok:
    for r in recs:
        print("  ", json.dumps(r)[:200], file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}

# 1. a batch of every e-mail shape, the junk file among them
"$TD" scan --json "$E"/*.eml "$E"/18_inbox.mbox "$E"/maildir >"$tmp/out.jsonl" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && echo "ok: exit 1 with a bad record" || { echo "FAIL: exit $rc"; fail=1; }
grep -q "20_not_email.eml" "$tmp/err" || { echo "FAIL: no error line for the junk file"; fail=1; }
check "junk file is one error record" \
  'sum(1 for r in recs if "error" in r and r["error"]["code"] == "TD_EPARSE") == 1'
check "every good e-mail analysed (17 eml + 2 mbox + 4 maildir)" \
  'sum(1 for r in recs if "severity" in r) == 23'
check "death threat in plain e-mail is a high/critical threat" \
  '"threat" in by["01.plain@example.net"]["predicted"] and by["01.plain@example.net"]["severity"] in ("high", "critical")'
check "an e-mail record carries its Subject, From and To (issue 8)" \
  'by["12.att@example.com"]["subject"] == "Leaflet" and by["12.att@example.com"]["from"] == {"name": "Tom Reed", "address": "tom.reed@example.com"} and "jane.doe.mp@parliament.example" in by["12.att@example.com"]["to"]'
check "... and its attachments: name, type, size, sha256" \
  '[(a["name"], a["type"], a["size"], len(a["sha256"])) for a in by["12.att@example.com"]["attachments"]] == [("leaflet.pdf", "application/pdf", 71, 64), ("caf\u00e9.png", "image/png", 1024, 64)]'
check "forwarded threat analysed" \
  '"threat" in by["11.fwd@parliament.example"]["predicted"]'
check "HTML-only threat analysed" \
  'by["09.html@example.com"]["severity"] in ("high", "critical")'
check "polite e-mails are not flagged" \
  'all(by[i]["severity"] == "none" for i in ("02.cp1252@example.org", "10.alt@example.com", "17.outlook@example.co.uk", "12.att@example.com"))'
check "repeated mbox message is a duplicate, not counted" \
  'sum(1 for r in recs if r.get("duplicate_of") == "18.a@example.net") == 1'
check "sender keys in the output" \
  'by["01.plain@example.net"]["sender"] == "email:markhollis@gmail.com"'
check "bad charset warned" \
  '"unknown charset" in by["14.bad@example.com"]["warning"]'

# 2. mbox on stdin: detected from content, spooled, parsed
"$TD" scan --json - <"$E/18_inbox.mbox" >"$tmp/out.jsonl" 2>"$tmp/err"
check "mbox from stdin" \
  'len(recs) == 3 and recs[0]["id"] == "18.a@example.net" and recs[2].get("duplicate_of") == "18.a@example.net"'
# an mbox under a misleading name
cp "$E/18_inbox.mbox" "$tmp/mail.txt"
"$TD" scan --json "$tmp/mail.txt" >"$tmp/out.jsonl" 2>"$tmp/err"
check "mbox named .txt detected from content" 'recs[0]["channel"] == "email"'
# --keep-duplicates analyses the repeat
"$TD" scan --json --keep-duplicates "$E/18_inbox.mbox" >"$tmp/out.jsonl" 2>"$tmp/err"
check "--keep-duplicates" 'sum(1 for r in recs if "severity" in r) == 3'

# 3. social exports
"$TD" scan --json "$S"/twitter_v2_mentions.json "$S"/twitter_archive_tweets.js \
  "$S"/bluesky_thread.json "$S"/facebook_comments.json "$S"/instagram_post_comments_1.json \
  >"$tmp/out.jsonl" 2>"$tmp/err"
check "channels detected" \
  '{r.get("channel") for r in recs if "severity" in r} == {"twitter", "bluesky", "facebook", "instagram"}'
check "tweet threat is a high/critical threat" \
  'by["1853412345678901234"]["severity"] in ("high", "critical") and "threat" in by["1853412345678901234"]["predicted"]'
check "bluesky threat" \
  '"threat" in by["at://did:plc:markhollis000000000000b/app.bsky.feed.post/3lbqmr7threat"]["predicted"]'
check "facebook entry without a comment is one error" \
  'sum(1 for r in recs if "error" in r) == 1'

# 4. --format forces; a mismatch is a clear error
"$TD" scan --json --format twitter "$S/bluesky_thread.json" >"$tmp/out.jsonl" 2>"$tmp/err"
grep -q "expected twitter JSON, found bluesky" "$tmp/err" && echo "ok: --format mismatch refused" || { echo "FAIL: --format mismatch"; fail=1; }
"$TD" scan --json "$S/malformed.json" "$S/twitter_v2_mentions.json" >"$tmp/out.jsonl" 2>"$tmp/err"
check "malformed JSON reported, next file still read" \
  'recs[0]["error"]["code"] == "TD_EPARSE" and sum(1 for r in recs if "severity" in r) == 3'

# 5. --by-sender: one person across e-mail and X, worst severity
"$TD" scan --json --by-sender "$E/01_plain_utf8.eml" "$E/18_inbox.mbox" \
  "$S/twitter_v2_mentions.json" >"$tmp/out.jsonl" 2>"$tmp/err"
check "by-sender links e-mail and X account" \
  'any(r.get("by_sender", {}).get("sender") == "email:markhollis@gmail.com" and r["by_sender"]["count"] == 3 and "twitter:@markhollis_" in r["by_sender"].get("aliases", "") and r["by_sender"]["worst_severity"] in ("high", "critical") for r in recs)'
"$TD" scan --by-sender "$E/01_plain_utf8.eml" "$S/twitter_v2_mentions.json" >"$tmp/table" 2>&1
grep -q "WORST" "$tmp/table" && grep -q "email:markhollis@gmail.com" "$tmp/table" ||
  { echo "FAIL: --by-sender table"; cat "$tmp/table"; fail=1; }

# 6. sender history: the second threat from the same sender is critical
printf 'From a@b Thu Nov  5 08:00:00 2026\nFrom: X <x@example.com>\nSubject: 1\nMessage-ID: <h1@x>\n\nI will kill you\n\nFrom a@b Thu Nov  5 08:01:00 2026\nFrom: X <X+tag@Example.com>\nSubject: 2\nMessage-ID: <h2@x>\n\nI will stab you\n' |
  "$TD" scan --json >"$tmp/out.jsonl" 2>"$tmp/err"
check "repeat threatener raised to critical" \
  'by["h1@x"]["severity"] == "high" and by["h2@x"]["severity"] == "critical" and "earlier threat" in by["h2@x"]["reason"]'

exit $fail
