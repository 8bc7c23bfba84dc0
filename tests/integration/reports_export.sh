#!/usr/bin/env bash
# reports_export.sh - CSV reports from outside, on loopback:
#   - GET /v1/queue.csv: every message of the queue (as many rows as
#     /v1/queue's total), in its order, RFC 4180 (Python's csv module reads
#     back a display name with a comma and quotes, a subject with a
#     newline), formula cells ("=HYPERLINK(...)", "+44...", "@SUM") come
#     back with a leading apostrophe, and no message text;
#   - filters: ?severity=critical gives exactly the critical rows, ?sender=
#     that sender's; a bad filter -> 400 naming it;
#   - GET /v1/cases.csv: staff see every case, police only the reported one,
#     police get 403 for the queue, another office sees no row;
#   - `threatdesk export queue|cases` writes the same rows as HTTP, with
#     filters; a bad filter -> exit 2;
#   - `threatdesk report digest`: 3 A4 pages read back with poppler - the
#     charts are images (pdfimages), page 2 names the top sender and the
#     median review time, page 3 (to share) has no handle, name or text;
#     page 1 kept as a PNG in test-output/.
# Usage: reports_export.sh PATH/TO/threatdesk   (from the repository root)
td=${1:?usage: reports_export.sh threatdesk-binary}
. "$(dirname "$0")/server_lib/common.sh"
export THREATDESK_LOGIN_BURST=100
# fontconfig (under pango, for the PDFs) keeps its cache until exit
export LSAN_OPTIONS="suppressions=$PWD/tests/fixtures/letters/lsan.supp:print_suppressions=0"

start_server --login-rate 600
api POST /v1/login "{\"username\":\"admin\",\"password\":\"$admin_password\"}"
A="Authorization: Bearer $(jq_py 'j["token"]')"
for u in cw:caseworker pc:police; do
  n=${u%%:*} r=${u#*:}
  api POST /v1/users "{\"username\":\"$n\",\"role\":\"$r\",\"password\":\"pw-$n-123456\"}" "$A"
  api POST /v1/login "{\"username\":\"$n\",\"password\":\"pw-$n-123456\"}"
  eval "T_$n=\"Authorization: Bearer $(jq_py 'j["token"]')\""
done

cat > "$tmp/batch.json" <<'J'
{"messages": [
 {"text": "You will be dead by Friday, we know where you live.", "channel": "email", "sender": "email:a@x.org", "sender_name": "=HYPERLINK(\"http://evil\",\"click\")", "subject": "two\nlines", "client_key": "c1"},
 {"text": "Thanks for the help with the bins.", "channel": "email", "sender": "email:b@x.org", "sender_name": "Smith, \"Bob\"", "client_key": "c2"},
 {"text": "You lying traitor scum.", "channel": "x", "sender": "x:troll", "sender_name": "+441234567", "client_key": "c3"},
 {"text": "Someone should put a bullet in her.", "channel": "x", "sender": "x:troll", "sender_name": "@SUM(A1)", "client_key": "c4"},
 {"text": "Lovely to see you at the fete.", "channel": "post", "sender": "post:kind", "client_key": "c5"}
]}
J
api POST /v1/messages:batch "@$tmp/batch.json" "$T_cw"
check "5 messages filed" '[ "$(jq_py "j[\"accepted\"]")" = 5 ]'

rows() { # csv-file python-expression over rows (list of dicts)
  python3 - "$1" "$2" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
print(eval(sys.argv[2], {"rows": rows}))
PY
}
code=$(curl -s -o "$tmp/q.csv" -D "$tmp/q.h" -w '%{http_code}' -H "$T_cw" "$base/v1/queue.csv")
check "queue.csv -> 200 text/csv" '[ "$code" = 200 ] && grep -qi "content-type: text/csv" "$tmp/q.h"'
api GET "/v1/queue?limit=500" "" "$T_cw"
ids=$(jq_py '[m["id"] for m in j["messages"]]')
check "every message of the queue, in its order" '[ "$(rows "$tmp/q.csv" "[int(r[\"id\"]) for r in rows]")" = "$ids" ]'
check "rows end CRLF (RFC 4180)" '[ "$(head -1 "$tmp/q.csv" | tail -c 2 | od -An -c | tr -d " ")" = "\r\n" ]'
check "a formula display name comes back as text with a leading apostrophe" \
  '[ "$(rows "$tmp/q.csv" "sorted(r[\"sender_name\"] for r in rows if r[\"sender_name\"]) == [chr(39) + \"+441234567\", chr(39) + \"=HYPERLINK(\\\"http://evil\\\",\\\"click\\\")\", chr(39) + \"@SUM(A1)\", \"Smith, \\\"Bob\\\"\"]")" = True ]'
check "a comma and quotes, a newline survive the round trip" \
  '[ "$(rows "$tmp/q.csv" "sorted(r[\"sender_name\"] for r in rows)[-1] + \"|\" + [r[\"subject\"] for r in rows if r[\"subject\"]][0]")" = "$(printf "Smith, \"Bob\"|two\nlines")" ]'
check "no message text in the CSV" '! grep -q "bullet\|dead by Friday" "$tmp/q.csv"'

curl -s -o "$tmp/qc.csv" -H "$T_cw" "$base/v1/queue.csv?severity=critical"
api GET "/v1/queue?severity=critical&limit=500" "" "$T_cw"
check "?severity=critical: exactly the critical messages" \
  '[ "$(rows "$tmp/qc.csv" "[int(r[\"id\"]) for r in rows if r[\"tier\"] == \"critical\"] == [int(r[\"id\"]) for r in rows] and len(rows)")" = "$(jq_py "len(j[\"messages\"])")" ]'
curl -s -o "$tmp/qs.csv" -H "$T_cw" "$base/v1/queue.csv?sender=x:troll"
check "?sender=x:troll: its two messages" '[ "$(rows "$tmp/qs.csv" "sorted(set(r[\"sender\"] for r in rows)) == [\"x:troll\"] and len(rows)")" = 2 ]'
api GET "/v1/queue.csv?severity=worst" "" "$T_cw"
check "bad filter -> 400 naming it" '[ "$code" = 400 ] && [ "$(jq_py "j[\"error\"][\"field\"]")" = severity ]'

# ---- cases -------------------------------------------------------------------
api POST /v1/cases '{"type":"online_threat","title":"Threat, by e-mail","place":{"constituency":"Batley and Spen"}}' "$T_cw"
c1=$(jq_py 'j["id"]')
api POST /v1/cases '{"type":"harassment","title":"=1+1"}' "$T_cw"
c2=$(jq_py 'j["id"]')
api PATCH "/v1/cases/$c1" '{"status":"triaged"}' "$T_cw"
api PATCH "/v1/cases/$c1" '{"status":"reported_to_police"}' "$T_cw"
curl -s -o "$tmp/c.csv" -H "$T_cw" "$base/v1/cases.csv"
check "cases.csv: both cases, titles intact or defused" \
  '[ "$(rows "$tmp/c.csv" "sorted(r[\"title\"] for r in rows) == [chr(39) + \"=1+1\", \"Threat, by e-mail\"]")" = True ]'
check "cases.csv carries the constituency" 'grep -q "Batley and Spen" "$tmp/c.csv"'
curl -s -o "$tmp/cp.csv" -H "$T_pc" "$base/v1/cases.csv"
check "police: only the reported case" '[ "$(rows "$tmp/cp.csv" "[int(r[\"id\"]) for r in rows]")" = "[$c1]" ]'
api GET /v1/queue.csv "" "$T_pc"
check "police: queue.csv -> 403" '[ "$code" = 403 ]'
curl -s -o "$tmp/cs.csv" -H "$T_cw" "$base/v1/cases.csv?status=reported_to_police"
check "cases.csv?status=reported_to_police" '[ "$(rows "$tmp/cs.csv" "[int(r[\"id\"]) for r in rows]")" = "[$c1]" ]'

"$td" office add other --db "$db" --data-dir "$data" > /dev/null 2>&1
echo 'pw-other-123456' | "$td" user add boss --office other --role admin --db "$db" --data-dir "$data" > /dev/null 2>&1
api POST /v1/login '{"username":"boss","password":"pw-other-123456"}'
B="Authorization: Bearer $(jq_py 'j["token"]')"
curl -s -o "$tmp/o.csv" -H "$B" "$base/v1/queue.csv"
check "another office: header only" '[ "$(rows "$tmp/o.csv" "len(rows)")" = 0 ] && ! grep -q "troll" "$tmp/o.csv"'

# ---- the CLI -------------------------------------------------------------------
"$td" export queue --db "$db" --data-dir "$data" > "$tmp/cli.csv" 2> "$tmp/cli.err"
rc=$?
check "export queue (rc=$rc) = queue.csv's rows" \
  '[ $rc = 0 ] && [ "$(rows "$tmp/cli.csv" "[r[\"id\"] for r in rows]")" = "$(rows "$tmp/q.csv" "[r[\"id\"] for r in rows]")" ]'
"$td" export queue --sender x:troll --min-tier high --db "$db" --data-dir "$data" -o "$tmp/cli2.csv"
check "export queue with filters, -o FILE" \
  '[ "$(rows "$tmp/cli2.csv" "all(r[\"sender\"] == \"x:troll\" and r[\"tier\"] in (\"high\", \"critical\") for r in rows)")" = True ]'
"$td" export cases --status reported_to_police --db "$db" --data-dir "$data" > "$tmp/cli3.csv"
check "export cases --status" '[ "$(rows "$tmp/cli3.csv" "[int(r[\"id\"]) for r in rows]")" = "[$c1]" ]'
"$td" export queue --min-tier worst --db "$db" --data-dir "$data" > /dev/null 2>&1
check "a bad filter -> exit 2" '[ $? = 2 ]'
# ---- the weekly digest ---------------------------------------------------------
api GET "/v1/queue?severity=critical&limit=1" "" "$T_cw"
crit=$(jq_py 'j["messages"][0]["id"]')
api POST "/v1/messages/$crit:review" '{"reason":"seen"}' "$T_cw"
check "a critical message reviewed (the digest's median)" '[ "$code" = 200 ]'
"$td" report digest --db "$db" --data-dir "$data" -o "$tmp/digest.pdf" > /dev/null 2>&1
rc=$?
check "report digest writes a PDF (rc=$rc)" '[ $rc = 0 ] && [ "$(pdfinfo "$tmp/digest.pdf" | sed -n "s/^Pages: *//p")" = 3 ]'
check "digest is A4" 'pdfinfo "$tmp/digest.pdf" | grep -q "595.* x 841.* pts (A4)"'
pdftotext -f 1 -l 1 "$tmp/digest.pdf" "$tmp/d1.txt"
pdftotext -f 2 -l 2 "$tmp/digest.pdf" "$tmp/d2.txt"
pdftotext -f 3 -l 3 "$tmp/digest.pdf" "$tmp/d3.txt"
check "page 1: the week and its charts' titles" \
  'grep -q "Weekly digest" "$tmp/d1.txt" && grep -q "5 messages this week" "$tmp/d1.txt" && grep -q "by tier" "$tmp/d1.txt" && grep -q "by label" "$tmp/d1.txt" && grep -q "by channel" "$tmp/d1.txt"'
check "the three charts are images in the PDF" '[ "$(pdfimages -list "$tmp/digest.pdf" | tail -n +3 | wc -l)" -ge 3 ]'
check "page 2: top senders by severity, cases, median review time" \
  'grep -q "x:troll" "$tmp/d2.txt" && grep -q "reported_to_police: 1" "$tmp/d2.txt" && grep -q "Median .* over 1 critical" "$tmp/d2.txt"'
check "page 3 is de-identified: counts, no handle, name or text" \
  'grep -q "de-identified" "$tmp/d3.txt" && grep -q "<3" "$tmp/d3.txt" && ! grep -qi "troll\|@\|post:kind\|Smith\|HYPERLINK\|bullet\|Friday" "$tmp/d3.txt"'
out=$(cd "$(dirname "$td")" && pwd)/test-output
mkdir -p "$out" && rm -f "$out/digest-page1.png"
pdftoppm -png -r 60 -f 1 -l 1 -singlefile "$tmp/digest.pdf" "$out/digest-page1"
check "digest page 1 rendered to $out/digest-page1.png" '[ -s "$out/digest-page1.png" ]'
"$td" report digest --week 2026-W99 --db "$db" --data-dir "$data" -o "$tmp/x.pdf" > /dev/null 2>&1
check "a bad --week -> exit 2" '[ $? = 2 ]'

stop_server
"$td" verify --db "$db" --data-dir "$data" > /dev/null 2>&1
check "exports are audited and the chain intact" '[ $? = 0 ] && sqlite3 "$db" "select count(*) from audit where action in (\"queue.export\", \"case.export_list\")" | grep -qv "^0$"'
finish
