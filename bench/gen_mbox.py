#!/usr/bin/env python3
"""Write a synthetic mbox for bench/bench_mbox.sh (generated at bench time,
never committed).

  gen_mbox.py N OUT.mbox

Deterministic (seeded).  The messages cycle through the MIME shapes an
office really gets: plain UTF-8, windows-1252 quoted-printable, base64
UTF-8, HTML only, multipart/alternative, a forwarded message/rfc822, and
every 50th message a 24 KiB base64 attachment; 2% are threats; bodies
contain ">From " escapes and quoted replies.
"""
import base64
import quopri
import random
import sys

WORDS = ("the council bypass vote surgery planning bins school hospital funding "
         "road housing library consultation budget meeting constituency letter "
         "thank you please reply urgent concerned resident parking tax").split()
THREATS = ["I am going to kill you. You will be smashed and killed within days.",
           "We know where you live and we will burn your house down on Friday.",
           "Someone should put a bullet in her before the election."]


def sentence(r):
    return " ".join(r.choice(WORDS) for _ in range(r.randint(6, 18))).capitalize() + "."


def body(r, i):
    paras = [" ".join(sentence(r) for _ in range(r.randint(2, 6))) for _ in range(r.randint(1, 4))]
    if i % 50 == 7:
        paras.insert(0, r.choice(THREATS))
    text = "\n\n".join(paras)
    if i % 9 == 0:
        text += "\n>From the last meeting minutes, nothing changed."
    if i % 4 == 0:
        text += "\n\nOn Mon, 2 Nov 2026 at 17:02, Jane Doe MP <jane@parliament.example> wrote:\n> " + sentence(r)
    return text + "\n"


def message(r, i):
    frm = "resident%d@example.org" % r.randint(1, 5000)
    hdr = ("From: Resident %d <%s>\nTo: Jane Doe MP <jane@parliament.example>\n"
           "Subject: %s\nDate: Tue, 03 Nov 2026 %02d:%02d:00 +0000\n"
           "Message-ID: <bench.%d@example.org>\nMIME-Version: 1.0\n"
           % (i, frm, sentence(r)[:40], (i // 60) % 24, i % 60, i))
    b = body(r, i)
    shape = i % 6
    if i % 50 == 3:
        att = base64.encodebytes(r.randbytes(24 * 1024)).decode()
        return (hdr + 'Content-Type: multipart/mixed; boundary="m%d"\n\n--m%d\n'
                "Content-Type: text/plain; charset=utf-8\n\n%s--m%d\n"
                "Content-Type: application/pdf; name=\"a.pdf\"\n"
                "Content-Disposition: attachment; filename=\"a.pdf\"\n"
                "Content-Transfer-Encoding: base64\n\n%s--m%d--\n" % (i, i, b, i, att, i))
    if shape == 0:
        return hdr + "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + b
    if shape == 1:
        qp = quopri.encodestring(b.replace("the", "the \u201ccaf\u00e9\u201d").encode("cp1252")).decode()
        return hdr + ("Content-Type: text/plain; charset=windows-1252\n"
                      "Content-Transfer-Encoding: quoted-printable\n\n") + qp
    if shape == 2:
        return hdr + ("Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: base64\n\n"
                      + base64.encodebytes(b.encode()).decode())
    html = "<html><head><style>p{}</style></head><body>" + "".join(
        "<p>%s</p>" % p.replace("&", "&amp;") for p in b.split("\n\n")) + "</body></html>\n"
    if shape == 3:
        return hdr + "Content-Type: text/html; charset=utf-8\n\n" + html
    if shape == 4:
        return (hdr + 'Content-Type: multipart/alternative; boundary="a%d"\n\n--a%d\n'
                "Content-Type: text/plain; charset=utf-8\n\n%s--a%d\n"
                "Content-Type: text/html; charset=utf-8\n\n%s--a%d--\n" % (i, i, b, i, html, i))
    return (hdr + 'Content-Type: multipart/mixed; boundary="f%d"\n\n--f%d\n'
            "Content-Type: text/plain\n\nForwarded for the log.\n--f%d\n"
            "Content-Type: message/rfc822\n\nFrom: someone@example.net\nSubject: fwd\n"
            "Content-Type: text/plain; charset=utf-8\n\n%s--f%d--\n" % (i, i, i, b, i))


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    r = random.Random(20261129)
    with open(out, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write("From resident@example.org Tue Nov  3 09:00:00 2026\n")
            f.write(message(r, i))
            f.write("\n")


if __name__ == "__main__":
    main()
