"""smtp_sink.py - a real SMTP server on loopback (aiosmtpd) for the alert
tests and bench: every DATA it receives is appended to LOG as one JSON line
{"t": time, "event": "accepted"|"refused"|"stalled", "message_id",
"alert_id", "rcpt", "body" (accepted only)}.

    python3 smtp_sink.py PORTFILE LOG [MODEFILE]

It binds 127.0.0.1 on a free port and writes the port to PORTFILE.  MODEFILE,
read at each DATA, makes it misbehave: "refuse" answers 451 (try later),
"stall" holds the DATA reply for 30 s and then accepts it (a server that
took the mail but whose 250 never reached a client killed meanwhile),
anything else accepts.
"""
import asyncio
import json
import os
import signal
import socket
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, log, modefile):
        self.log = log
        self.modefile = modefile

    def mode(self):
        try:
            with open(self.modefile) as f:
                return f.read().strip()
        except (OSError, TypeError):
            return "accept"

    def record(self, **kw):
        with open(self.log, "a") as f:
            f.write(json.dumps(kw) + "\n")

    async def handle_DATA(self, server, session, envelope):
        body = envelope.content.decode("utf-8", "replace")
        mid = aid = ""
        for line in body.split("\r\n"):
            if line.lower().startswith("message-id:"):
                mid = line.split(":", 1)[1].strip()
            if line.lower().startswith("x-threatdesk-alert-id:"):
                aid = line.split(":", 1)[1].strip()
            if line == "":
                break
        mode = self.mode()
        if mode == "refuse":
            self.record(t=time.time(), event="refused", message_id=mid, alert_id=aid,
                        rcpt=envelope.rcpt_tos)
            return "451 4.3.0 try again later"
        if mode == "stall":
            self.record(t=time.time(), event="stalled", message_id=mid, alert_id=aid,
                        rcpt=envelope.rcpt_tos)
            await asyncio.sleep(30)
        self.record(t=time.time(), event="accepted", message_id=mid, alert_id=aid,
                    rcpt=envelope.rcpt_tos, body=body)
        return "250 2.0.0 accepted"


def main():
    portfile, log = sys.argv[1], sys.argv[2]
    modefile = sys.argv[3] if len(sys.argv) > 3 else None
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    ctl = Controller(Sink(log, modefile), hostname="127.0.0.1", port=port)
    ctl.start()
    with open(portfile + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(portfile + ".tmp", portfile)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    while not stop:
        time.sleep(0.1)
    ctl.stop()


if __name__ == "__main__":
    main()
