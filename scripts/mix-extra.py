#!/usr/bin/env python3
"""mix-extra.py - the extra training rows of `threatdesk train --extra`:
the synthetic rows, then the hand-written messages of data/handwritten/.

    python3 scripts/mix-extra.py --synthetic synthetic.jsonl --out extra.jsonl \
        [--handwritten data/handwritten] [--variants 1] [--weight 1] \
        [--val-out handval.jsonl]

A hand-written row is validation when the SHA-256 of its text is 0 modulo
4 (about a quarter; adding rows never moves an old one), training
otherwise.  Validation rows go in once with "split": "val" (the trainer
keeps them out of training) and, with --val-out, to a file of their own
for bench/engine_eval.py.  The trainer merges identical texts, so a
repeated row would count once; a training row weighs more either as up
to --variants surface forms (as written, lower case, lower case without
punctuation) or with a "weight", the times the trainer sees it per
epoch.  The shipped model: --variants 1 --weight 15
(scripts/train-engine.sh).  Standard library only; deterministic.
"""
import argparse
import glob
import hashlib
import json
import os
import re
import sys

LABELS = ("threat", "identity_hate", "abuse", "sexual", "intimidation")


def is_val(text):
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % 4 == 0


def variants(text, k):
    low = text.lower()
    forms = [text, low, re.sub(r"[.,;:!?']", "", low)]
    out = []
    for f in forms[:k]:
        if f not in out:
            out.append(f)
    return out


def read_rows(folder):
    rows = []
    for path in sorted(glob.glob(os.path.join(folder, "*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                try:
                    r = json.loads(line)
                    labels = {k: int(r["labels"][k]) for k in LABELS}
                    text = r["text"]
                except (ValueError, KeyError, TypeError) as e:
                    sys.exit(f"mix-extra: {path}:{n}: {e}")
                rows.append({"text": text, "labels": labels, "kind": r.get("kind", ""),
                             "tier": r.get("tier"), "id": r.get("id")})
    return rows


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--synthetic", required=True)
    ap.add_argument("--handwritten", default=os.path.join(here, "..", "data", "handwritten"))
    ap.add_argument("--variants", type=int, default=1, choices=(1, 2, 3))
    ap.add_argument("--out", required=True)
    ap.add_argument("--weight", type=int, default=1,
                    help="times per epoch each training form is seen (1-50)")
    ap.add_argument("--val-out")
    a = ap.parse_args()
    if not 1 <= a.weight <= 50:
        ap.error("--weight must be from 1 to 50")
    rows = read_rows(a.handwritten)
    ntrain = nval = nforms = 0
    with open(a.out, "w", encoding="utf-8") as o:
        with open(a.synthetic, encoding="utf-8") as s:
            for line in s:
                o.write(line)
        for r in rows:
            fam = "hand." + r["kind"]
            if is_val(r["text"]):
                nval += 1
                o.write(json.dumps({"text": r["text"], "labels": r["labels"], "family": fam,
                                    "split": "val"}) + "\n")
                continue
            ntrain += 1
            for t in variants(r["text"], a.variants):
                nforms += 1
                row = {"text": t, "labels": r["labels"], "family": fam, "split": "train"}
                if a.weight > 1:
                    row["weight"] = a.weight
                o.write(json.dumps(row) + "\n")
    if a.val_out:
        with open(a.val_out, "w", encoding="utf-8") as v:
            for r in rows:
                if is_val(r["text"]):
                    v.write(json.dumps({k: r[k] for k in ("id", "text", "labels", "tier", "kind")
                                        if r[k] is not None}) + "\n")
    print(f"mix-extra: {len(rows)} hand-written rows: {ntrain} training ({nforms} forms), "
          f"{nval} validation", file=sys.stderr)


if __name__ == "__main__":
    main()
