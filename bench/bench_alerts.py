"""bench_alerts.py - the ingest half of bench/bench_alerts.sh, and the
figures.

    bench_alerts.py ingest BASE TOKEN N RATE OUT.jsonl
        POST N critical threats (distinct senders and words, one request
        each, on one keep-alive connection; RATE per second, 0 = back to
        back), one line per message: {"id", "t0" (just before the request),
        "t1" (the 201 read), "severity"}
    bench_alerts.py report OUT.jsonl SMTP.jsonl DB
        join each mail the SMTP server accepted to its message (alert id ->
        message through the store) and print ingest -> delivery latency.
"""
import http.client
import json
import sqlite3
import sys
import time
from urllib.parse import urlparse

STREETS = ["Elm Street", "Mill Lane", "Church Road", "Station Road", "Park Avenue"]
DAYS = ["Friday night", "Saturday morning", "Monday at 9", "tonight", "next Tuesday"]


def ingest(base, token, n, rate, out):
    u = urlparse(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    hdr = {"Content-Type": "application/json", "Authorization": "Bearer " + token}
    start = time.time()
    with open(out, "w") as f:
        for i in range(n):
            if rate > 0:
                wait = start + i / rate - time.time()
                if wait > 0:
                    time.sleep(wait)
            text = ("We know where you live at %d %s and we will burn your house down %s."
                    % (i + 1, STREETS[i % 5], DAYS[(i // 5) % 5]))
            body = json.dumps({"text": text, "channel": "email",
                               "sender": "email:bench%d@example.net" % i})
            t0 = time.time()
            c.request("POST", "/v1/messages", body, hdr)
            r = c.getresponse()
            data = r.read()
            t1 = time.time()
            if r.status != 201:
                sys.exit("message %d: HTTP %d %s" % (i, r.status, data[:200]))
            j = json.loads(data)
            f.write(json.dumps({"id": j["id"], "t0": t0, "t1": t1,
                                "severity": j["severity"]}) + "\n")
    print("%d messages in %.1f s" % (n, time.time() - start))


def pct(xs, p):
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def report(out, smtp, db):
    sent = {}
    for line in open(out):
        m = json.loads(line)
        sent[m["id"]] = m
    con = sqlite3.connect(db)
    msg_of = dict(con.execute("SELECT id, message_id FROM alerts"))
    lat, seen = [], set()
    for line in open(smtp):
        m = json.loads(line)
        if m.get("event") != "accepted" or not m["alert_id"].startswith("td-alert-"):
            continue
        aid = int(m["alert_id"].split("-")[2])
        mid = msg_of.get(aid)
        if mid in sent and mid not in seen:
            seen.add(mid)
            lat.append(m["t"] - sent[mid]["t0"])
    crit = sum(1 for m in sent.values() if m["severity"] == "critical")
    ack = [m["t1"] - m["t0"] for m in sent.values()]
    print("messages %d, critical %d, alert mails received %d" % (len(sent), crit, len(lat)))
    print("ingest request (POST -> 201):   p50 %6.1f ms  p99 %6.1f ms"
          % (pct(ack, 50) * 1e3, pct(ack, 99) * 1e3))
    if lat:
        print("ingest -> SMTP delivery:       p50 %6.1f ms  p99 %6.1f ms  max %6.1f ms"
              % (pct(lat, 50) * 1e3, pct(lat, 99) * 1e3, max(lat) * 1e3))
    return 0 if len(lat) == crit else 1


if __name__ == "__main__":
    if sys.argv[1] == "ingest":
        ingest(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
    else:
        sys.exit(report(sys.argv[2], sys.argv[3], sys.argv[4]))
