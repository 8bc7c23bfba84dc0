#!/usr/bin/env python3
"""long_letters.py - the "threat buried in a long letter" check, built from
the synthetic generator's output (scripts/gen-synthetic.py).

Each row is a letter of 3-14 paragraphs of plain grievance mail (train rows
of the neg.letter.* families, which gen-synthetic --context never uses as
context) with ONE row of a held-out (val) family inserted at a random place:
a threat for half the rows, a legitimate message (mostly hard negatives)
for the other half; the row's labels are the inserted row's.  Scored with
bench/engine_eval.py like any labelled set.

Usage: long_letters.py SYNTHETIC.jsonl OUT.jsonl [N] [SEED]
"""
import json, random, sys


def main():
    src, out = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1500
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 7)
    rows = [json.loads(l) for l in open(src, encoding="utf-8")]
    pad = [r["text"] for r in rows
           if r["split"] == "train" and r["family"].startswith("neg.letter.")]
    thr = [r for r in rows if r["split"] == "val" and r["labels"]["threat"]]
    neg = [r for r in rows if r["split"] == "val" and not any(r["labels"].values())]
    if len(pad) < 20 or not thr or not neg:
        sys.exit("long_letters: the synthetic file has too few pad, threat or val rows")
    with open(out, "w", encoding="utf-8") as f:
        for i in range(n):
            parts = rng.sample(pad, rng.randint(3, 14))
            ins = rng.choice(thr) if i % 2 == 0 else rng.choice(neg)
            parts.insert(rng.randint(0, len(parts)), ins["text"])
            f.write(json.dumps({"text": "\n\n".join(parts), "labels": ins["labels"],
                                "family": ins["family"]}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
