#!/usr/bin/env bash
# bench_engine.sh - the engine's ablations, each trained from the same data
# and scored on three sets nobody trained on, in one run:
#   public   the seeded 10 % validation split of the public datasets
#   synth    the synthetic generator's validation split (held-out template
#            families and fillers)
#   political tests/fixtures/eval/political.jsonl (56 hand-written; a test)
#   blind     tests/fixtures/eval/blind-2026-12-02.jsonl (240 written to
#             politicians without sight of the engine; its first run on the
#             shipped engine is in the README; seen since)
#   hand      the validation quarter of data/handwritten (scripts/mix-extra.py)
#   blind2    tests/fixtures/eval/blind-2026-12-03.jsonl (240 more, by a
#             third writer; its first runs are in the README)
# Variants: rules only; linear n-grams (the v1 engine) without and with the
# synthetic rows; the full engine (embeddings + network + rule cues +
# linear part + synthetic rows: the shipped configuration); the full engine
# with the hand-written rows too (data/handwritten, weight 15), without any
# extra rows, without rule cues ("model only"), and without the linear part.
# Needs the embeddings and synthetic rows of scripts/train-engine.sh
# (run it first).  Usage: bench/bench_engine.sh [TRAIN_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tr=${1:-"$root/build/train"}
out="$root/bench/out/engine"
mkdir -p "$out"
shared=${TD_SHARED_DATA:-"$root/../shared/data"}
"$root/scripts/build.sh" "$root/build-train" -DCMAKE_BUILD_TYPE=Release >/dev/null
td="$root/build-train/threatdesk"
export THREATDESK_HOME="$root"
emb="$tr/embeddings.tdemb" syn="$tr/synthetic.jsonl" ext="$tr/extra-hand.jsonl"
[ -s "$emb" ] && [ -s "$syn" ] && [ -s "$ext" ] && [ -s "$tr/handval.jsonl" ] ||
  { echo "run scripts/train-engine.sh first" >&2; exit 2; }
cp "$tr/handval.jsonl" "$out/hand.jsonl"
cp "$root/tests/fixtures/eval/political.jsonl" "$out/political.jsonl"
cp "$root/tests/fixtures/eval/blind-2026-12-02.jsonl" "$out/blind.jsonl"
cp "$root/tests/fixtures/eval/blind-2026-12-03.jsonl" "$out/blind2.jsonl"

"$td" train --data "$shared" --epochs 1 --out "$out/split.model" --dump-splits "$out" >/dev/null
python3 -c '
import json, sys
with open(sys.argv[2], "w") as f:
    for l in open(sys.argv[1]):
        o = json.loads(l)
        if o["split"] == "val":
            f.write(json.dumps({"text": o["text"], "labels": o["labels"]}) + "\n")' "$syn" "$out/synth_val.jsonl"

train() { # name args...
  local name=$1; shift
  echo "== $name: threatdesk train $*" >&2
  "$td" train --data "$shared" --out "$out/$name.model" "$@" > "$out/$name.train.txt"
}
train rules --rules-only
train linear
train linear+synth --extra "$syn"
train full --embeddings "$emb" --extra "$syn"
train full+hand --embeddings "$emb" --extra "$ext"
train full-synth --embeddings "$emb"
train full-cues --embeddings "$emb" --extra "$syn" --no-cues
train full-linear --embeddings "$emb" --extra "$syn" --no-wide

printf '\n%-13s | %-23s | %-13s | %-20s | %-20s | %-20s | %-20s\n' "variant" "public: thr/hate/abuse" \
  "synth: thr/int" "political: A/H/L" "blind: A/H/L" "hand: A/H/L" "blind2: A/H/L"
echo "(AUC; A = threat AUC, H = threats at high or critical, L = legitimate at medium or above)"
for v in rules linear linear+synth full full+hand full-synth full-cues full-linear; do
  for set in val synth_val political blind hand blind2; do
    python3 "$root/bench/engine_eval.py" "$td" "$out/$v.model" "$out/$set.jsonl" --json > "$out/$v.$set.json"
  done
  python3 - "$v" "$out/$v".{val,synth_val,political,blind,hand,blind2}.json <<'PY'
import json, sys
v, a, b, c, d, e, k = sys.argv[1], *[json.load(open(p)) for p in sys.argv[2:8]]
g = lambda r, l: r["labels"].get(l, {}).get("auc")
f = lambda x: " n/a " if x is None else "%.3f" % x
h = lambda r: "%s %s %s" % (f(g(r, "threat")), f(r["threats_high_or_critical"]), f(r["legit_medium_or_above"]))
print("%-13s | %s %s %s | %s %s  | %s | %s | %s | %s" % (
    v, f(g(a, "threat")), f(g(a, "identity_hate")), f(g(a, "abuse")),
    f(g(b, "threat")), f(g(b, "intimidation")), h(c), h(d), h(e), h(k)))
PY
done
