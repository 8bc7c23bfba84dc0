#!/usr/bin/env bash
# bench_scan.sh - threatdesk's engine against the baselines a user would
# reach for, trained on the same files, side by side in one run:
#   accuracy  per-label ROC-AUC on threatdesk's validation split for
#             threatdesk (full engine: model + grammar, `threatdesk eval`),
#             fastText (supervised, word bigrams, char n-grams 3-5, ova)
#             and TF-IDF + logistic regression (scikit-learn);
#   speed     messages/s and MB/s of `threatdesk scan --json` on N messages
#             (default 200,000) versus `fasttext predict-prob`, one core each;
#   memory    peak resident set of both.
# Usage: bench/bench_scan.sh [N]      Output also lands in bench/out/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-200000}
out="$root/bench/out"
mkdir -p "$out"
"$root/scripts/install-deps.sh"
# scikit-learn from Debian's package, for Debian's own interpreter (a
# python3 earlier on PATH, e.g. pyenv's, would not see it)
sk_py=/usr/bin/python3
if ! $sk_py -c "import sklearn" 2>/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-sklearn >/dev/null
fi
"$root/scripts/build.sh" "$root/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
td="$root/build-bench/threatdesk"
export THREATDESK_HOME="$root"
py="python3 $root/bench/baselines.py"

echo "== threatdesk train (same seed as the shipped model) -> validation split"
$td train --out "$out/retrained.model" --dump-splits "$out" | tail -n 9
if cmp -s "$out/retrained.model" "$root/models/threatdesk.model"; then
  echo "retrained model is byte-identical to models/threatdesk.model (reproducible)"
else
  echo "NOTE: retrained model differs from models/threatdesk.model"
fi

echo "== fastText baseline"
$py fasttext-prep "$out/train.jsonl" "$out/ft_train.txt" /dev/null
$py fasttext-prep "$out/val.jsonl" "$out/ft_val.txt" "$out/ft_val_text.txt"
t0=$(date +%s.%N)
fasttext supervised -input "$out/ft_train.txt" -output "$out/ft" -wordNgrams 2 -minn 3 -maxn 5 \
  -loss ova -thread 2 -verbose 0
t1=$(date +%s.%N)
fasttext predict-prob "$out/ft.bin" "$out/ft_val_text.txt" -1 > "$out/ft_val_pred.txt"
ft_auc=$($py fasttext-auc "$out/val.jsonl" "$out/ft_val_pred.txt")
echo "fastText trained in $(python3 -c "print(round($t1 - $t0, 1))") s"

echo "== TF-IDF + logistic regression baseline"
lr_auc=$($sk_py "$root/bench/baselines.py" tfidf-lr "$out/train.jsonl" "$out/val.jsonl")

echo "== threatdesk eval on the validation split"
$td eval --json "$out/val.jsonl" > "$out/td_eval.json" || true

echo "== throughput corpus: $N messages"
$py make-corpus "$out/val.jsonl" "$N" "$out/corpus.jsonl" "$out/corpus.txt"
bytes_js=$(stat -c %s "$out/corpus.jsonl")
bytes_txt=$(stat -c %s "$out/corpus.txt")

measure() { # label cmd... -> "seconds maxrss_kb"
  /usr/bin/time -f "%e %M" -o "$out/time.txt" "$@" > /dev/null
  cat "$out/time.txt"
}
read -r td_s td_kb < <(measure taskset -c 0 "$td" scan --json --jsonl "$out/corpus.jsonl")
read -r ft_s ft_kb < <(measure taskset -c 0 fasttext predict-prob "$out/ft.bin" "$out/corpus.txt" -1)

python3 - "$out/td_eval.json" "$ft_auc" "$lr_auc" "$N" "$td_s" "$td_kb" "$ft_s" "$ft_kb" \
  "$bytes_js" "$bytes_txt" <<'PY'
import json, sys
td = json.load(open(sys.argv[1]))["labels"]
ft, lr = json.loads(sys.argv[2]), json.loads(sys.argv[3])
n = int(sys.argv[4]); td_s, td_kb, ft_s, ft_kb = map(float, sys.argv[5:9])
bj, bt = int(sys.argv[9]), int(sys.argv[10])
f = lambda v: "  n/a " if v is None else "%.4f" % v
print()
print("ROC-AUC on the validation split   threatdesk   fastText   TF-IDF+LR")
for l in ["threat", "identity_hate", "abuse", "sexual"]:
    print("  %-31s %s      %s     %s" % (l, f(td.get(l, {}).get("roc_auc")), f(ft.get(l)), f(lr.get(l))))
print()
print("throughput, %d messages, one core    threatdesk scan --json   fasttext predict-prob" % n)
print("  seconds                           %10.2f               %10.2f" % (td_s, ft_s))
print("  messages/s                        %10.0f               %10.0f" % (n / td_s, n / ft_s))
print("  MB/s (of its own input)           %10.2f               %10.2f" % (bj / td_s / 1e6, bt / ft_s / 1e6))
print("  peak RSS (MiB)                    %10.1f               %10.1f" % (td_kb / 1024, ft_kb / 1024))
PY
