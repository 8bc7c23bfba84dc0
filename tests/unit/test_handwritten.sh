#!/usr/bin/env bash
# test_handwritten.sh - checks data/handwritten/ and scripts/mix-extra.py:
#   * every row is a JSON object with text, kind, a tier and all five labels
#     (each 0 or 1); no text occurs twice
#   * every tier follows the brief (docs: ../shared/docs/product.md): a
#     threat is high or critical, critical is a threat, low is abuse alone,
#     medium is identity hate, sexual or intimidation without a threat,
#     none has no label
#   * mix-extra is deterministic, keeps the synthetic rows first and whole,
#     puts each hand-written text on one side of the split only, and writes
#     the same validation rows to --val-out; --weight marks the training rows
#     only, and a weight out of range is refused
# Usage: bash tests/unit/test_handwritten.sh (ctest: "handwritten_data")
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 "$root/scripts/gen-synthetic.py" --seed 1 --n 300 --out "$tmp/s.jsonl" --quiet
python3 "$root/scripts/mix-extra.py" --synthetic "$tmp/s.jsonl" --out "$tmp/a.jsonl" \
  --variants 3 --val-out "$tmp/va.jsonl" 2>/dev/null
python3 "$root/scripts/mix-extra.py" --synthetic "$tmp/s.jsonl" --out "$tmp/b.jsonl" \
  --variants 3 2>/dev/null
cmp -s "$tmp/a.jsonl" "$tmp/b.jsonl" || { echo "FAIL: mix-extra is not deterministic"; exit 1; }
python3 "$root/scripts/mix-extra.py" --synthetic "$tmp/s.jsonl" --out "$tmp/c.jsonl" \
  --variants 1 2>/dev/null

python3 "$root/scripts/mix-extra.py" --synthetic "$tmp/s.jsonl" --out "$tmp/w.jsonl" \
  --variants 1 --weight 15 2>/dev/null
if python3 "$root/scripts/mix-extra.py" --synthetic "$tmp/s.jsonl" --out "$tmp/x.jsonl" \
  --weight 0 2>/dev/null; then
  echo "FAIL: --weight 0 accepted"; exit 1
fi

python3 - "$root/data/handwritten" "$tmp/s.jsonl" "$tmp/a.jsonl" "$tmp/va.jsonl" "$tmp/c.jsonl" "$tmp/w.jsonl" <<'PY'
import glob, json, os, sys

folder, synth, mixed, val, one, weighted = sys.argv[1:]
LABELS = ("threat", "identity_hate", "abuse", "sexual", "intimidation")
TIERS = ("none", "low", "medium", "high", "critical")
fails = []
texts = set()
n = 0
for path in sorted(glob.glob(os.path.join(folder, "*.jsonl"))):
    for i, line in enumerate(open(path, encoding="utf-8"), 1):
        where = f"{os.path.basename(path)}:{i}"
        try:
            r = json.loads(line)
        except ValueError as e:
            fails.append(f"{where}: not JSON ({e})")
            continue
        n += 1
        lab, tier = r.get("labels", {}), r.get("tier")
        if set(lab) != set(LABELS) or any(v not in (0, 1) for v in lab.values()):
            fails.append(f"{where}: labels must be the five, each 0 or 1")
            continue
        if not isinstance(r.get("text"), str) or not r["text"].strip() or not r.get("kind"):
            fails.append(f"{where}: needs a text and a kind")
        if tier not in TIERS:
            fails.append(f"{where}: tier {tier!r}")
            continue
        on = {k for k in LABELS if lab[k]}
        if lab["threat"] and tier not in ("high", "critical"):
            fails.append(f"{where}: a threat at {tier}")
        if tier == "critical" and not lab["threat"]:
            fails.append(f"{where}: critical without a threat")
        if (tier == "none") != (not on):
            fails.append(f"{where}: tier {tier} with labels {sorted(on)}")
        if tier == "low" and on != {"abuse"}:
            fails.append(f"{where}: low must be abuse alone, not {sorted(on)}")
        if tier == "medium" and (lab["threat"] or not on & {"identity_hate", "sexual", "intimidation"}):
            fails.append(f"{where}: medium with {sorted(on)}")
        if r["text"] in texts:
            fails.append(f"{where}: a text seen before")
        texts.add(r["text"])
if n < 900:
    fails.append(f"only {n} hand-written rows")

synth_lines = open(synth, encoding="utf-8").read().splitlines()
mixed_lines = open(mixed, encoding="utf-8").read().splitlines()
if mixed_lines[: len(synth_lines)] != synth_lines:
    fails.append("the synthetic rows are not first and whole")
hand = [json.loads(l) for l in mixed_lines[len(synth_lines):]]
trn = {r["text"].lower() for r in hand if r["split"] == "train"}
vl = [r["text"] for r in hand if r["split"] == "val"]
if any(t.lower() in trn for t in vl):
    fails.append("a validation text is also a training form")
if sorted(vl) != sorted(json.loads(l)["text"] for l in open(val, encoding="utf-8")):
    fails.append("--val-out differs from the validation rows")
if not (0.18 < len(vl) / n < 0.32):
    fails.append(f"validation share {len(vl) / n:.2f}")
ntrain = n - len(vl)
forms = sum(1 for r in hand if r["split"] == "train")
one_forms = sum(1 for l in open(one, encoding="utf-8").read().splitlines()[len(synth_lines):]
                if json.loads(l)["split"] == "train")
if one_forms != ntrain or not (2 * ntrain < forms <= 3 * ntrain):
    fails.append(f"forms: {one_forms} with --variants 1, {forms} with 3, for {ntrain} rows")
wrows = [json.loads(l) for l in open(weighted, encoding="utf-8").read().splitlines()[len(synth_lines):]]
if any((r.get("weight") == 15) != (r["split"] == "train") for r in wrows):
    fails.append("--weight 15: every training row and no validation row carries it")
for f in fails[:20]:
    print("FAIL:", f)
print(f"handwritten: {n} rows, {len(vl)} validation, {forms} training forms")
sys.exit(1 if fails else 0)
PY
