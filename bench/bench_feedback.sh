#!/usr/bin/env bash
# bench_feedback.sh - a simulated feedback run: an office's caseworkers
# decide on its past post, and the next mail is scored with and without
# the office's memory (feedback.h), side by side, in one run.
#
#   rows   scripts/gen-synthetic.py --seed 2 --split-seed 1 --n 12000: only
#          its rows of the held-out template families (never trained on by
#          a model trained on the seed-1 split, as the shipped one is), cut
#          in two by a hash of the text: "past" (decided on) and "new"; the
#          memory's defaults were chosen on seed 3 the same way, never on 2
#   model  $MODEL, else models/threatdesk.model when it is format 2 (it has
#          the vectors the memory needs), else a small format-2 model made
#          here once (cached in $OUT): subword embeddings pretrained on the
#          text (not the labels) of synthetic seed-1 rows, the network
#          trained on four public datasets only (davidson2017, the odd
#          YouTube THREAT videos, the Gab Hate Corpus training file,
#          implicit-hate stage 2) - a general model meeting an office's own
#          kind of mail, which is what feedback is for; never seed 2
#
# Usage: bench/bench_feedback.sh [SEED=2] [N=12000]
#        (OUT=dir for the work files, default build-fb-bench; BUILD=a
#        Release build dir to reuse, default $OUT/build; extra
#        arguments for the driver in ARGS, e.g. ARGS="--k 16")
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seed=${1:-2}
n=${2:-12000}
out=${OUT:-"$root/build-fb-bench"}
build=${BUILD:-"$out/build"}
mkdir -p "$out"
export THREATDESK_HOME="$root"
shared=${TD_SHARED_DATA:-"$root/../shared/data"}

echo "== build (Release)" >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTD_WERROR=ON >/dev/null
cmake --build "$build" --target threatdesk td_analyse -j"$(nproc)" >/dev/null
# shellcheck disable=SC2046
cc -O2 -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -I"$root/include" \
  "$root/bench/bench_feedback.c" "$build/libtd_analyse.a" "$build/libtd_text.a" \
  "$build/libtd_util.a" $(pkg-config --libs jansson libsodium libutf8proc libpcre2-8 libxxhash) \
  -lcsv -lm -lpthread -o "$out/bench_feedback"
td="$build/threatdesk"

format_of() { od -An -tu4 -j8 -N4 "$1" | tr -d ' '; }
model=${MODEL:-"$root/models/threatdesk.model"}
if [ -z "${MODEL:-}" ] && [ "$(format_of "$model")" != 2 ]; then
  model="$out/bench.model"
  if [ ! -s "$model" ]; then
    echo "== models/threatdesk.model is format 1 (no vectors): making a small format-2 model" >&2
    python3 "$root/scripts/gen-synthetic.py" --seed 1 --n 12000 --out "$out/syn1.jsonl" --quiet
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    print(json.loads(line)["text"].replace("\n", " "))' "$out/syn1.jsonl" > "$out/pretrain.txt"
    "$td" pretrain --out "$out/bench.tdemb" --dim 32 --epochs 2 --min-count 2 \
      "$out/pretrain.txt" >/dev/null
    python3 - "$root/data/training/datasets.json" "$out/datasets.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
keep = ("davidson2017", "youtube-threat-odd", "gab-hate-corpus", "implicit-hate-stg2")
d["datasets"] = [x for x in d["datasets"] if x["name"] in keep]
json.dump(d, open(sys.argv[2], "w"), indent=1)
EOF
    "$td" train --data "$shared" --config "$out/datasets.json" --embeddings "$out/bench.tdemb" \
      --epochs 4 --nn-epochs 3 --out "$model" >/dev/null
  fi
fi

# The office's mail: rows of the template families the shipped model never
# trained on (the seed-1 split's held-out families: --split-seed 1), cut in
# two by a hash of the text - the "past" its caseworkers decide on, the
# "new" mail that comes after. Same families in both halves: an office's
# mail repeats its own campaigns, which is what the memory is for.
rows="$out/office-seed$seed-n$n.jsonl"
if [ ! -s "$rows" ]; then
  python3 "$root/scripts/gen-synthetic.py" --seed "$seed" --split-seed 1 --n "$n" \
    --out "$out/synthetic-seed$seed-n$n.jsonl" --quiet
  python3 - "$out/synthetic-seed$seed-n$n.jsonl" "$rows" <<'EOF2'
import hashlib, json, sys
with open(sys.argv[2], "w") as o:
    for line in open(sys.argv[1]):
        d = json.loads(line)
        if d["split"] != "val":
            continue
        h = int(hashlib.sha256(d["text"].encode()).hexdigest(), 16)
        d["split"] = "past" if h % 2 else "new"
        o.write(json.dumps(d) + "\n")
EOF2
fi

echo "== bench_feedback $model $rows ${ARGS:-}" >&2
# shellcheck disable=SC2086
"$out/bench_feedback" "$model" "$rows" --past past --new new ${ARGS:-}
