"""webhook_sink.py - a webhook receiver on loopback that checks what
alert.h promises: X-Threatdesk-Signature is v1=HMAC-SHA256(secret,
timestamp + "." + raw body), the timestamp is within 300 s of its clock,
and X-Threatdesk-Alert-Id matches the body's id.  Each request becomes one
JSON line in LOG {"t", "id", "verified", "why", "body"}; it answers 200 when
verified, 401 otherwise (and 503 while MODEFILE says "refuse").

    python3 webhook_sink.py SECRET PORTFILE LOG [MODEFILE]
"""
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET, PORTFILE, LOG = sys.argv[1].encode(), sys.argv[2], sys.argv[3]
MODEFILE = sys.argv[4] if len(sys.argv) > 4 else None


def check(headers, raw):
    ts = headers.get("X-Threatdesk-Timestamp", "")
    sig = headers.get("X-Threatdesk-Signature", "")
    if not ts.isdigit() or abs(time.time() - int(ts)) > 300:
        return False, "timestamp missing or outside the 300 s window"
    want = "v1=" + hmac.new(SECRET, ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, sig):
        return False, "bad signature"
    try:
        body = json.loads(raw)
    except ValueError:
        return False, "body is not JSON"
    if body.get("id") != headers.get("X-Threatdesk-Alert-Id"):
        return False, "alert id header and body disagree"
    return True, ""


class H(BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        mode = ""
        if MODEFILE:
            try:
                with open(MODEFILE) as f:
                    mode = f.read().strip()
            except OSError:
                pass
        ok, why = check(self.headers, raw)
        with open(LOG, "a") as f:
            f.write(json.dumps({"t": time.time(), "id": self.headers.get("X-Threatdesk-Alert-Id"),
                                "verified": ok, "why": why, "refused": mode == "refuse",
                                "body": raw.decode("utf-8", "replace")}) + "\n")
        self.send_response(503 if mode == "refuse" else 200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


srv = HTTPServer(("127.0.0.1", 0), H)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
