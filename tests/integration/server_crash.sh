#!/usr/bin/env bash
# server_crash.sh - nothing acknowledged is lost when the server is killed
# with SIGKILL in the middle of batch ingest.
#
# A client posts batches of 20 messages (unique client keys) in a loop and
# keeps every answer.  Once three batches are acknowledged, the server gets
# SIGKILL at a random moment of the stream.
# It is restarted on the same store, and every message id that was
# acknowledged (a 200 answer, status created) must be there with its text;
# re-sending an acknowledged batch must answer "duplicate" for all of it.
# Usage: server_crash.sh PATH/TO/threatdesk   (from the repository root)
td=${1:?usage: server_crash.sh threatdesk-binary}
. "$(dirname "$0")/server_lib/common.sh"

start_server
api POST /v1/login "{\"username\":\"admin\",\"password\":\"$admin_password\"}"
A="Authorization: Bearer $(jq_py 'j["token"]')"
check "admin logs in" '[ "$code" = 200 ]'

mkdir -p "$tmp/acks"
client() {
  local n=0
  while :; do
    n=$((n + 1))
    python3 - "$n" > "$tmp/acks/req-$n.json" <<'PY'
import json, sys
n = int(sys.argv[1])
texts = ["You will be smashed and killed within days.", "Thank you for the help.",
         "You lying traitor scum.", "We know where you live."]
print(json.dumps({"messages": [{"text": "%s (batch %d item %d)" % (texts[i % 4], n, i),
                                "channel": "email", "sender": "email:s%d@example.org" % (i % 5),
                                "client_key": "crash-%d-%d" % (n, i)} for i in range(20)]}))
PY
    code=$(curl -s -o "$tmp/acks/resp-$n.json" -w '%{http_code}' -X POST \
      -H "$A" -H 'Content-Type: application/json' \
      --data-binary @"$tmp/acks/req-$n.json" "$base/v1/messages:batch")
    echo "$code" > "$tmp/acks/code-$n"
    [ "$code" = 000 ] && break
  done
}
client &
cpid=$!
# Kill once a few batches are acknowledged (however slow the machine), while
# the client is in the middle of the next one.
for _ in $(seq 1 600); do
  [ "$(grep -l 200 "$tmp"/acks/code-* 2>/dev/null | wc -l)" -ge 3 ] && break
  sleep 0.1
done
sleep 0.$((RANDOM % 10))
kill -KILL "$srv_pid"
wait "$srv_pid" 2>/dev/null
srv_pid=
wait "$cpid" 2>/dev/null

# Acknowledged = answered 200; every record in it created or duplicate.
python3 - "$tmp/acks" > "$tmp/acked.txt" <<'PY'
import glob, json, os, sys
d = sys.argv[1]
for f in sorted(glob.glob(os.path.join(d, "code-*"))):
    n = f.rsplit("-", 1)[1]
    if open(f).read().strip() != "200":
        continue
    resp = json.load(open(os.path.join(d, "resp-%s.json" % n)))
    req = json.load(open(os.path.join(d, "req-%s.json" % n)))
    for r in resp["results"]:
        assert r["status"] in ("created", "duplicate"), r
        print(r["id"], n, req["messages"][r["index"]]["text"].replace(" ", "_"))
PY
acked=$(wc -l < "$tmp/acked.txt")
batches=$(grep -l 200 "$tmp"/acks/code-* | wc -l)
echo "acknowledged before SIGKILL: $acked messages in $batches batches"
check "some batches were acknowledged before the kill" '[ "$acked" -ge 20 ]'

start_server
check "restart on the same store prints no new admin password" '[ -z "$admin_password" ]'
# The session token survives a restart (sessions live in the store).
missing=0
while read -r id n text; do
  api GET "/v1/messages/$id" "" "$A"
  if [ "$code" != 200 ] || [ "$(jq_py 'j["text"].replace(" ", "_")')" != "$text" ]; then
    missing=$((missing + 1))
    [ $missing -le 5 ] && echo "lost: id $id (batch $n): code $code"
  fi
done < "$tmp/acked.txt"
check "every acknowledged message survived SIGKILL ($missing lost of $acked)" '[ $missing = 0 ]'

first=$(cut -d' ' -f2 "$tmp/acked.txt" | head -1)
api POST /v1/messages:batch "@$tmp/acks/req-$first.json" "$A"
check "re-sending an acknowledged batch answers 20 duplicates" \
  '[ "$code" = 200 ] && [ "$(jq_py "j[\"duplicates\"]")" = 20 ]'
stop_server TERM
check "SIGTERM -> exit 0" '[ "$srv_rc" = 0 ]'
finish
