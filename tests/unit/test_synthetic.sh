#!/usr/bin/env bash
# test_synthetic.sh - checks scripts/gen-synthetic.py (the synthetic training
# data generator, data/synthetic/):
#   * the same seed gives byte-identical output; a different seed differs
#   * every row is a JSON object with text, family, split and all five labels
#     (each 0 or 1)
#   * train and val share no family; no text occurs twice anywhere
#   * the label balance is within the bounds stated below
# Usage: bash tests/unit/test_synthetic.sh   (from anywhere; ctest runs it as
# "synthetic_generator")
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
gen="$root/scripts/gen-synthetic.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=${SYNTH_TEST_N:-8000}

python3 "$gen" --seed 1 --n "$n" --out "$tmp/a.jsonl" --quiet
python3 "$gen" --seed 1 --n "$n" --out "$tmp/b.jsonl" --quiet
python3 "$gen" --seed 2 --n "$n" --out "$tmp/c.jsonl" --quiet

if ! cmp -s "$tmp/a.jsonl" "$tmp/b.jsonl"; then
  echo "FAIL: same seed, different output"; exit 1
fi
if cmp -s "$tmp/a.jsonl" "$tmp/c.jsonl"; then
  echo "FAIL: seeds 1 and 2 gave the same output"; exit 1
fi
# --data given explicitly must mean the same thing as the default
python3 "$gen" --seed 1 --n 500 --out "$tmp/d.jsonl" --quiet --data "$root/data/synthetic"
if ! cmp -s "$tmp/d.jsonl" <(head -n 500 "$tmp/a.jsonl"); then
  echo "FAIL: --data data/synthetic differs from the default"; exit 1
fi
# a pinned --split-seed keeps the family split across generation seeds
python3 "$gen" --seed 5 --split-seed 1 --n 2000 --out "$tmp/e.jsonl" --quiet

python3 - "$n" "$tmp/a.jsonl" "$tmp/c.jsonl" "$tmp/e.jsonl" <<'PY'
import json, sys

n = int(sys.argv[1])
LABELS = ("threat", "identity_hate", "abuse", "sexual", "intimidation")
# Stated bounds (shares of all rows).  The mix asks for 35 % threat groups,
# 10 % intimidation, 10 % other positives, 45 % negatives; intimidation rows
# that also threaten count as threat, threat rows with an inserted insult
# also count as abuse.
BOUNDS = {
    "threat":        (0.30, 0.46),
    "intimidation":  (0.07, 0.16),
    "identity_hate": (0.015, 0.08),
    "abuse":         (0.04, 0.14),
    "sexual":        (0.01, 0.05),
    "all_zero":      (0.40, 0.52),   # real negatives: every label 0
    "val":           (0.04, 0.25),
}
fails = []

def load(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            try:
                r = json.loads(line)
            except ValueError as e:
                fails.append(f"{path}:{i}: not JSON: {e}")
                continue
            if not isinstance(r, dict) or set(r) != {"text", "labels", "family", "split"}:
                fails.append(f"{path}:{i}: wrong keys")
                continue
            if not isinstance(r["text"], str) or not r["text"].strip():
                fails.append(f"{path}:{i}: empty text")
            if not isinstance(r["labels"], dict) or set(r["labels"]) != set(LABELS) \
               or any(r["labels"][l] not in (0, 1) or isinstance(r["labels"][l], bool)
                      for l in LABELS):
                fails.append(f"{path}:{i}: labels must be all five, each 0 or 1")
                continue
            if r["split"] not in ("train", "val"):
                fails.append(f"{path}:{i}: split {r['split']!r}")
            if "\x00" in r["text"] or "{" in r["text"] or "}" in r["text"]:
                fails.append(f"{path}:{i}: unexpanded template: {r['text'][:80]!r}")
            rows.append(r)
    return rows

def check(path, rows, bounds):
    if len(rows) != n and bounds:
        fails.append(f"{path}: {len(rows)} rows, asked for {n}")
    fam_split = {}
    for r in rows:
        fam_split.setdefault(r["family"], set()).add(r["split"])
    both = sorted(f for f, s in fam_split.items() if len(s) > 1)
    if both:
        fails.append(f"{path}: families in train and val: {both[:5]}")
    texts = {}
    for r in rows:
        texts[r["text"]] = texts.get(r["text"], 0) + 1
    dups = [t for t, c in texts.items() if c > 1]
    if dups:
        fails.append(f"{path}: {len(dups)} texts occur twice, e.g. {dups[0][:80]!r}")
    if not bounds:
        return
    share = {l: sum(r["labels"][l] for r in rows) / len(rows) for l in LABELS}
    share["all_zero"] = sum(all(r["labels"][l] == 0 for l in LABELS) for r in rows) / len(rows)
    share["val"] = sum(r["split"] == "val" for r in rows) / len(rows)
    for k, (lo, hi) in BOUNDS.items():
        if not lo <= share[k] <= hi:
            fails.append(f"{path}: {k} share {share[k]:.3f} outside [{lo}, {hi}]")
    # val must hold threats, intimidation and negatives, not one class
    val = [r for r in rows if r["split"] == "val"]
    for l in ("threat", "intimidation"):
        if sum(r["labels"][l] for r in val) < 0.01 * len(val):
            fails.append(f"{path}: val has almost no {l}")
    if sum(all(r["labels"][l] == 0 for l in LABELS) for r in val) < 0.2 * len(val):
        fails.append(f"{path}: val has few negatives")
    print(f"{path}: " + " ".join(f"{k}={v:.3f}" for k, v in share.items())
          + f" families={len(fam_split)}")
    return fam_split

a = load(sys.argv[2]); fa = check(sys.argv[2], a, True)
c = load(sys.argv[3]); check(sys.argv[3], c, True)
e = load(sys.argv[4]); check(sys.argv[4], e, False)
# the pinned split seed gives the same val families as seed 1
va = {f for f, s in fa.items() if "val" in s}
ve = {r["family"] for r in e if r["split"] == "val"}
if not ve <= va or not ve:
    fails.append(f"--split-seed 1 with --seed 5 moved families: {sorted(ve - va)[:5]}")

if fails:
    for f in fails[:30]:
        print("FAIL:", f)
    sys.exit(1)
print("ok")
PY
