#!/usr/bin/env bash
# Retrain the shipped engine from scratch, reproducibly, in four steps:
#   1. synthetic rows      scripts/gen-synthetic.py (seed 1, 45,000)  -> $out/synthetic.jsonl
#                          + with HANDWRITTEN=1, the hand-written messages
#                          (data/handwritten/, each training row seen 15
#                          times an epoch; the candidate in the README, not
#                          the shipped model)                        -> $out/extra.jsonl
#   2. pretraining text    the training split of the public datasets, then
#                          the unlabelled corpora in ../shared/data/unlabelled
#   3. embeddings          threatdesk pretrain (skip-gram, subwords; 1 thread)
#   4. the model           threatdesk train --embeddings --extra -> models/threatdesk.model
# Usage: scripts/train-engine.sh [OUT_DIR]   (default build/train)
# Extra arguments for step 4 go in TRAIN_ARGS (e.g. TRAIN_ARGS=--no-cues for
# an ablation; MODEL=path writes the model elsewhere; BUILD_DIR=dir builds
# there instead of build-train).
# Steps 1-3 are skipped when their file is already in OUT_DIR. The
# embeddings are frozen in step 4, so the shipped model's own are exact:
#   threatdesk pretrain --from-model models/threatdesk.model --out OUT_DIR/embeddings.tdemb
# retrains the network without the ~35-minute pretraining.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$root/build/train"}
shared=${TD_SHARED_DATA:-"$root/../shared/data"}
model=${MODEL:-"$root/models/threatdesk.model"}
mkdir -p "$out"
bdir=${BUILD_DIR:-"$root/build-train"}
"$root/scripts/build.sh" "$bdir" -DCMAKE_BUILD_TYPE=Release >/dev/null
td="$bdir/threatdesk"
export THREATDESK_HOME="$root"

if [ ! -s "$out/synthetic.jsonl" ]; then
  echo "== 1. synthetic rows"
  python3 "$root/scripts/gen-synthetic.py" --seed 1 --n 45000 --out "$out/synthetic.jsonl"
fi

if [ ! -s "$out/embeddings.tdemb" ]; then
  echo "== 2. pretraining text (training split only: validation texts stay unseen)"
  # the training split of the datasets in pretrain-datasets.json (the seven
  # tweet/Gab/Reddit sets; see data/training/README.md), then the unlabelled
  # corpora whole: pretrain stops reading at --max-tokens
  "$td" train --data "$shared" --config "$root/data/training/pretrain-datasets.json" --epochs 1 \
    --out "$out/linear-only.model" --dump-splits "$out" >/dev/null
  python3 -c '
import json, sys
for line in open(sys.argv[1]):
    print(json.loads(line)["text"].replace("\n", " "))' "$out/train.jsonl" > "$out/pretrain.txt"
  xz -dc "$shared/unlabelled/tweeteval-nonhate.txt.xz" >> "$out/pretrain.txt"
  xz -dc "$shared/unlabelled/reddit-monthly-sample.txt.xz" >> "$out/pretrain.txt"
  echo "== 3. embeddings"
  "$td" pretrain --out "$out/embeddings.tdemb" --epochs 2 --max-tokens 30000000 "$out/pretrain.txt"
fi

# the hand-written rows' validation quarter always goes to
# $out/handval.jsonl (bench/engine_eval.py); it is never trained on
python3 "$root/scripts/mix-extra.py" --synthetic "$out/synthetic.jsonl" --variants 1 \
  --weight 15 --out "$out/extra-hand.jsonl" --val-out "$out/handval.jsonl"
if [ "${HANDWRITTEN:-0}" = 1 ]; then
  cp "$out/extra-hand.jsonl" "$out/extra.jsonl"
else
  cp "$out/synthetic.jsonl" "$out/extra.jsonl"
fi

echo "== 4. the model"
# shellcheck disable=SC2086
"$td" train --data "$shared" --embeddings "$out/embeddings.tdemb" --extra "$out/extra.jsonl" \
  --out "$model" ${TRAIN_ARGS:-}
