#!/usr/bin/env bash
# migrate_postgres.sh - `threatdesk migrate --from sqlite:... --to
# postgres://...` (issue 11): an office built through the real server on
# SQLite (messages, a case with a linked message, a note, evidence) is
# copied into a throwaway PostgreSQL (tests/support/pg-temp.sh):
#   - migrate verifies the target and says how many entries it checked;
#   - `threatdesk verify --db postgres://...` finds the copy intact;
#   - every table holds as many rows as the source, ids kept, the evidence
#     file is in the target's data directory, identities moved past the
#     highest id;
#   - a second migrate into the same database is refused (exit 2, nothing
#     more copied);
#   - a source whose audit details were edited with sqlite3 is refused
#     (exit 1, the broken entry named) and nothing reaches the target.
# Exits 77 (skipped) without PostgreSQL server binaries.
#
#   bash tests/integration/migrate_postgres.sh path/to/threatdesk
set -uo pipefail
td=${1:?usage: migrate_postgres.sh threatdesk-binary}
cd "$(dirname "$0")/../.."

# ---- inside pg-temp.sh run: $3 is the directory with the source ---------
if [ "${2:-}" = --inner ]; then
  src=$3
  pass=0 fail=0
  ok() { pass=$((pass + 1)); }
  bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
  check() { if eval "$2"; then ok; else bad "$1"; fi; }
  admin=$(cat "$TD_PG_DIR/admin_url")
  # the admin is a superuser: it sees every office's rows past RLS
  pq() { psql "${2:-$admin}" -XAtqc "$1"; }
  sq() { sqlite3 "$src/desk.db" "$1"; }

  "$td" migrate --from "sqlite:$src/desk.db" --to "$TD_PG_URL" --data-dir "$src/data" \
    --to-data-dir "$src/pgdata" >"$src/m1.out" 2>"$src/m1.err"
  rc=$?
  check "migrate exits 0 (got $rc: $(cat "$src/m1.out" "$src/m1.err" | head -c 600))" '[ $rc = 0 ]'
  n_audit=$(sq "SELECT count(*) FROM audit")
  check "migrate reports the $n_audit entries it verified on the target" \
    'grep -q "^target: audit: $n_audit entries checked" "$src/m1.out"'
  "$td" verify --db "$TD_PG_URL" --data-dir "$src/pgdata" >"$src/v.out" 2>&1
  rc=$?
  check "threatdesk verify on the target: intact (rc $rc: $(head -c 400 "$src/v.out"))" \
    '[ $rc = 0 ] && grep -q "verify: intact" "$src/v.out"'
  for t in offices users sessions api_keys messages message_vectors senders cases case_messages \
    evidence notes feedback alert_recipients alert_rules alerts alert_deliveries alert_attempts \
    audit; do
    a=$(sq "SELECT count(*) FROM $t")
    b=$(pq "SELECT count(*) FROM $t")
    check "$t: $a rows in the source, $b in the target" '[ "$a" = "$b" ]'
  done
  check "the source holds what the test made (messages, a case, a note, evidence, feedback, an alert)" \
    '[ "$(sq "SELECT count(*) FROM messages")" -ge 3 ] && [ "$(sq "SELECT count(*) FROM notes")" = 1 ] && [ "$(sq "SELECT count(*) FROM evidence")" = 1 ] && [ "$(sq "SELECT count(*) FROM feedback")" -ge 1 ] && [ "$(sq "SELECT count(*) FROM alert_deliveries")" -ge 1 ]'
  a=$(sq "SELECT group_concat(x, ',') FROM (SELECT hex(original) AS x FROM messages ORDER BY id)")
  b=$(pq "SELECT string_agg(upper(encode(original, 'hex')), ',' ORDER BY id) FROM messages")
  check "originals byte for byte" '[ -n "$a" ] && [ "$a" = "$b" ]'
  a=$(sq "SELECT group_concat(x, ',') FROM (SELECT hex(vector) || ':' || cast(round(weight * 1000000) AS integer) AS x FROM feedback ORDER BY id)")
  b=$(pq "SELECT string_agg(upper(encode(vector, 'hex')) || ':' || round(weight * 1000000)::bigint, ',' ORDER BY id) FROM feedback")
  check "feedback vectors and weights as they were" '[ -n "$a" ] && [ "$a" = "$b" ]'
  a=$(sq "SELECT group_concat(id || ':' || hash, ',') FROM (SELECT id, hash FROM audit ORDER BY id)")
  b=$(pq "SELECT string_agg(seq || ':' || hash, ',' ORDER BY seq) FROM audit")
  check "audit: seq = the SQLite id, hashes unchanged" '[ -n "$a" ] && [ "$a" = "$b" ]'
  a=$(sq "SELECT group_concat(id, ',') FROM (SELECT id FROM messages ORDER BY id)")
  b=$(pq "SELECT string_agg(id::text, ',' ORDER BY id) FROM messages")
  check "message ids kept ($a)" '[ "$a" = "$b" ]'
  sha=$(sq "SELECT sha256 FROM evidence LIMIT 1")
  check "the evidence file is in the target's data directory" \
    'cmp -s "$src/data/evidence/${sha:0:2}/${sha:2}" "$src/pgdata/evidence/${sha:0:2}/${sha:2}"'
  maxm=$(sq "SELECT max(id) FROM messages")
  seqm=$(pq "SELECT pg_sequence_last_value(pg_get_serial_sequence('messages', 'id'))" "$TD_PG_URL")
  check "the messages identity moved past the highest id ($seqm >= $maxm)" \
    '[ -n "$seqm" ] && [ "$seqm" -ge "$maxm" ]'

  "$td" migrate --from "sqlite:$src/desk.db" --to "$TD_PG_URL" --data-dir "$src/data" \
    --to-data-dir "$src/pgdata" >"$src/m2.out" 2>"$src/m2.err"
  rc=$?
  check "a second migrate is refused (rc $rc: $(head -c 300 "$src/m2.err"))" \
    '[ $rc = 2 ] && grep -q "already holds office" "$src/m2.err"'
  check "... and copied nothing more" '[ "$(pq "SELECT count(*) FROM messages")" = "$(sq "SELECT count(*) FROM messages")" ]'

  # A fresh database for the tampered copy, so the first refusal above
  # (the office is there) cannot be what stops it.
  pq "CREATE DATABASE td_tampered OWNER td_owner" >/dev/null
  url2=${TD_PG_URL/\/threatdesk\?//td_tampered?}
  "$td" migrate --from "sqlite:$src/tampered.db" --to "$url2" --data-dir "$src/data" \
    --to-data-dir "$src/pgdata2" >"$src/m3.out" 2>"$src/m3.err"
  rc=$?
  check "a tampered source fails verification (rc $rc: $(cat "$src/m3.out" "$src/m3.err" | head -c 400))" \
    '[ $rc = 1 ] && grep -q "BROKEN audit 2" "$src/m3.out" && grep -q "does not verify" "$src/m3.err"'
  # (the source is checked first: the target was not even opened)
  n=$(pq "SELECT count(*) FROM offices" "${admin/\/threatdesk\?//td_tampered?}" 2>/dev/null || echo 0)
  check "... and nothing reached the target ($n offices)" '[ "$n" = 0 ]'
  # A clash inside the copy (a user of the target's other office has the
  # id one of ours keeps): the whole copy rolls back and the error names
  # the table and the row.
  pq "CREATE DATABASE td_clash OWNER td_owner" >/dev/null
  url3=${TD_PG_URL/\/threatdesk\?//td_clash?}
  admin3=${admin/\/threatdesk\?//td_clash?}
  "$td" verify --db "$url3" --data-dir "$src/pgdata3" >/dev/null 2>&1 # creates the schema
  uid=$(sq "SELECT min(id) FROM users")
  pq "INSERT INTO offices (id, name, created) VALUES (500, 'elsewhere', 0);
      INSERT INTO users (id, office_id, name, role, pwhash, created)
        VALUES ($uid, 500, 'someone-else', 'admin', 'x', 0)" "$admin3" >/dev/null
  "$td" migrate --from "sqlite:$src/desk.db" --to "$url3" --data-dir "$src/data" \
    --to-data-dir "$src/pgdata3" >/dev/null 2>"$src/m5.err"
  rc=$?
  check "a clash mid-copy: exit 2 naming the table and row (rc $rc: $(head -c 300 "$src/m5.err"))" \
    '[ $rc = 2 ] && grep -q "copying users row id=$uid" "$src/m5.err"'
  check "... and rolled back: the target holds only its own office" \
    '[ "$(pq "SELECT string_agg(name, chr(44)) FROM offices" "$admin3")" = elsewhere ] && [ "$(pq "SELECT count(*) FROM messages" "$admin3")" = 0 ]'
  "$td" migrate --from "sqlite:$src/desk.db" --to "$TD_PG_URL" --data-dir "$src/data" \
    --to-data-dir "$src/pgdata" --office no-such-office >/dev/null 2>"$src/m4.err"
  rc=$?
  check "--office naming no office: exit 2 (rc $rc)" '[ $rc = 2 ] && grep -q "no office" "$src/m4.err"'

  # Two offices in one SQLite file: one chain, the second office's entries
  # after the first's.  The first keeps its hashes; the second cannot, and
  # is refused unless --rechain re-hashes it into a chain of its own.
  pq "CREATE DATABASE td_multi OWNER td_owner" >/dev/null
  url4=${TD_PG_URL/\/threatdesk\?//td_multi?}
  admin4=${admin/\/threatdesk\?//td_multi?}
  mq() { sqlite3 "$src/multi.db" "$1"; }
  "$td" migrate --from "sqlite:$src/multi.db" --to "$url4" --data-dir "$src/data" \
    --to-data-dir "$src/pgdata4" >/dev/null 2>"$src/m6.err"
  rc=$?
  check "two offices in one chain, no --rechain: exit 2 saying why (rc $rc: $(head -c 300 "$src/m6.err"))" \
    '[ $rc = 2 ] && grep -q "interleaved" "$src/m6.err" && grep -q -- "--rechain" "$src/m6.err"'
  check "... nothing copied" '[ "$(pq "SELECT count(*) FROM offices" "$admin4")" = 0 ]'
  "$td" migrate --from "sqlite:$src/multi.db" --to "$url4" --data-dir "$src/data" \
    --to-data-dir "$src/pgdata4" --rechain >"$src/m7.out" 2>"$src/m7.err"
  rc=$?
  check "--rechain: copied and verified (rc $rc: $(cat "$src/m7.out" "$src/m7.err" | tail -c 400))" \
    '[ $rc = 0 ] && grep -q "copied and verified" "$src/m7.out"'
  o2=$(mq "SELECT id FROM offices WHERE name = 'second'")
  a=$(mq "SELECT group_concat(id || ':' || hash, ',') FROM (SELECT id, hash FROM audit WHERE office_id <> $o2 ORDER BY id)")
  b=$(pq "SELECT string_agg(seq || ':' || hash, ',' ORDER BY seq) FROM audit WHERE office_id <> $o2" "$admin4")
  check "the first office's entries keep their hashes" '[ -n "$a" ] && [ "$a" = "$b" ]'
  k=$(mq "SELECT count(*) FROM audit WHERE office_id = $o2")
  b=$(pq "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM audit WHERE office_id = $o2" "$admin4")
  check "the second office's $k entries are seq 1..$k in a chain of their own, then one more ($b)" \
    '[ "$b" = "$(seq -s, 1 $((k + 1)))" ]'
  head=$(mq "SELECT id || ':' || hash FROM audit ORDER BY id DESC LIMIT 1")
  last=$(pq "SELECT action || ' ' || details FROM audit WHERE office_id = $o2 ORDER BY seq DESC LIMIT 1" "$admin4")
  check "... the last says it was migrated and names the verified source head ($last)" \
    '[[ $last == "store.migrate "*"\"hash\":\"${head#*:}\",\"id\":${head%%:*}}"* ]]'
  "$td" verify --db "$url4" --data-dir "$src/pgdata4" >"$src/v4.out" 2>&1
  check "threatdesk verify: the re-chained store is intact" 'grep -q "verify: intact" "$src/v4.out"'
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit
fi

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
  echo "SKIP: no PostgreSQL server binaries (scripts/install-deps.sh installs postgresql)"
  exit 77
fi
command -v sqlite3 >/dev/null || { echo "sqlite3 shell not installed" >&2; exit 1; }
command -v psql >/dev/null || { echo "psql not installed" >&2; exit 1; }
. tests/integration/server_lib/common.sh

# ---- the source: an office filled through the server on SQLite ----------
start_server
api POST /v1/login "{\"username\":\"admin\",\"password\":\"$admin_password\"}"
check "admin logs in" '[ "$code" = 200 ]'
A="Authorization: Bearer $(jq_py 'j["token"]')"
# an alert rule first, so the threats raise alerts (and outbox rows: the
# webhook points at a closed port, so attempts fail and are recorded)
api POST /v1/alert-recipients '{"name":"alice","webhook_url":"http://127.0.0.1:9/hook","webhook_secret":"hook-secret-0123456789abcdef"}' "$A"
check "an alert recipient" '[ "$code" = 201 ]'
alice=$(jq_py 'j["id"]')
api POST /v1/alert-rules "{\"name\":\"critical now\",\"min_tier\":\"critical\",\"channels\":[\"webhook\"],\"rota\":[$alice]}" "$A"
check "an alert rule" '[ "$code" = 201 ]'
api POST /v1/messages '{"text":"We know where you live at 14 Elm Street and we will burn your house down on Friday night.","channel":"email","sender":"email:menace@example.net"}' "$A"
check "a critical threat raises an alert" '[ "$code" = 201 ] && [ "$(jq_py "j[\"severity\"]")" = critical ]'
api POST /v1/messages '{"text":"see you at the match saturday, you are dead meat","channel":"email","sender":"email:mate@example.org"}' "$A"
banter=$(jq_py 'j["id"]')
api POST "/v1/messages/$banter:dismiss" '{"reason":"football banter from a friend"}' "$A"
check "a dismissal teaches the engine (feedback)" '[ "$code" = 200 ]'
api POST /v1/messages '{"text":"You will be smashed and killed within days.","channel":"post","sender":"post:anon-1","client_key":"k-1","received":"2026-11-20T09:00:00Z"}' "$A"
check "a threat is filed" '[ "$code" = 201 ]'
threat=$(jq_py 'j["id"]')
api POST /v1/messages '{"text":"Thank you for your help with the housing letter.","channel":"email","sender":"email:kind@example.org","client_key":"k-2"}' "$A"
check "a second message" '[ "$code" = 201 ]'
api POST /v1/messages '{"text":"Please fix the potholes on Mill Lane.","channel":"email","sender":"email:roads@example.org","client_key":"k-3"}' "$A"
check "a third message" '[ "$code" = 201 ]'
api POST /v1/cases '{"type":"online_threat","title":"Death threat by post"}' "$A"
check "a case" '[ "$code" = 201 ]'
case1=$(jq_py 'j["id"]')
api POST "/v1/cases/$case1/messages" "{\"message_id\":$threat}" "$A"
check "the threat linked to it" '[ "$code" = 200 ]'
api POST "/v1/cases/$case1/notes" '{"text":"Called the police liaison."}' "$A"
check "a note" '[ "$code" = 201 ]'
printf 'photo bytes \x00\x01\x02' >"$tmp/photo.bin"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "$A" -H 'Content-Type: image/jpeg' \
  --data-binary @"$tmp/photo.bin" "$base/v1/cases/$case1/evidence?name=photo.jpg")
check "evidence" '[ "$code" = 201 ]'
stop_server
"$td" verify --db "$db" --data-dir "$data" >/dev/null
check "the source verifies" '[ $? = 0 ]'

# The same store with one audit entry's details edited behind the desk's
# back (the append-only trigger dropped first, as an attacker would).
cp "$db" "$tmp/tampered.db"
sqlite3 "$tmp/tampered.db" "DROP TRIGGER audit_no_update;
  UPDATE audit SET details = '{\"edited\":1}' WHERE id = 2;"

# A second office in the same file (an SQLite chain is one per file).
cp "$db" "$tmp/multi.db"
"$td" office add second --db "$tmp/multi.db" --data-dir "$data" >/dev/null
echo 'zoe-password-123' | "$td" user add zoe --office second --role caseworker \
  --db "$tmp/multi.db" --data-dir "$data" >/dev/null
"$td" verify --db "$tmp/multi.db" --data-dir "$data" >/dev/null
check "the two-office store verifies" '[ $? = 0 ]'

if bash tests/support/pg-temp.sh run bash "$0" "$td" --inner "$tmp"; then ok; else bad "the PostgreSQL part"; fi
finish
