#!/usr/bin/env bash
# bench_scan.sh - threatdesk's engine against the baselines a user would
# reach for, trained on the same files, side by side in one run:
#   accuracy  per-label ROC-AUC on threatdesk's validation split for
#             threatdesk (full engine, `threatdesk eval`), fastText with its
#             default supervised settings, fastText with word bigrams and
#             char 3-5 n-grams (one-vs-all), and TF-IDF + logistic
#             regression (scikit-learn);
#   speed     messages/s and MB/s on N messages (default 200,000), one core
#             each (taskset -c 0): `threatdesk scan --json` on JSON Lines and
#             `fasttext predict-prob` on one message per line.  Every MB/s is
#             divided by the SAME bytes: the UTF-8 bytes of the messages'
#             text (not threatdesk's JSONL, not fastText's cleaned lines);
#   memory    peak resident set (/usr/bin/time %M);
#   size      the model file on disk (models/threatdesk.model as shipped);
#   start-up  seconds to analyse one message from a fresh process (median
#             of three), which is what a desk or a one-off scan pays.
# Only the threatdesk CLI is used: whatever format models/threatdesk.model
# has, the benchmark does not look inside it.
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
model="$root/models/threatdesk.model"
export THREATDESK_HOME="$root"
py="python3 $root/bench/baselines.py"

echo "== the public datasets' training and validation split (the shipped model's seed)"
# the shipped model is retrained by scripts/train-engine.sh (deterministic);
# here only the split is needed, so the baselines train on the same texts
$td train --epochs 1 --out "$out/split-only.model" --dump-splits "$out" >/dev/null

echo "== fastText baselines (default; bigrams + char 3-5 n-grams, ova)"
$py fasttext-prep "$out/train.jsonl" "$out/ft_train.txt" /dev/null
$py fasttext-prep "$out/val.jsonl" "$out/ft_val.txt" "$out/ft_val_text.txt"
# name -> extra fasttext supervised arguments
declare -A ft_args=([ftdef]="" [ftng]="-wordNgrams 2 -minn 3 -maxn 5 -loss ova")
declare -A ft_auc
for ft in ftdef ftng; do
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086  # the arguments are meant to split
  fasttext supervised -input "$out/ft_train.txt" -output "$out/$ft" ${ft_args[$ft]} -thread 2 \
    -verbose 0
  t1=$(date +%s.%N)
  fasttext predict-prob "$out/$ft.bin" "$out/ft_val_text.txt" -1 > "$out/${ft}_val_pred.txt"
  ft_auc[$ft]=$($py fasttext-auc "$out/val.jsonl" "$out/${ft}_val_pred.txt")
  echo "fastText $ft trained in $(python3 -c "print(round($t1 - $t0, 1))") s"
done

echo "== TF-IDF + logistic regression baseline"
lr_auc=$($sk_py "$root/bench/baselines.py" tfidf-lr "$out/train.jsonl" "$out/val.jsonl")

echo "== threatdesk eval on the validation split"
$td eval --json "$out/val.jsonl" > "$out/td_eval.json" || true

echo "== throughput corpus: $N messages"
# corpus.jsonl for threatdesk, corpus.txt (fastText's cleaned lines) for
# fastText, and the one byte count every MB/s below is divided by
text_bytes=$($py make-corpus "$out/val.jsonl" "$N" "$out/corpus.jsonl" "$out/corpus.txt")
head -n 1 "$out/corpus.jsonl" > "$out/one.jsonl"
head -n 1 "$out/corpus.txt" > "$out/one.txt"

measure() { # cmd... -> "seconds maxrss_kb" (one core)
  /usr/bin/time -f "%e %M" -o "$out/time.txt" taskset -c 0 "$@" > /dev/null
  cat "$out/time.txt"
}
startup() { # cmd... -> median seconds of three fresh runs on one message
  for _ in 1 2 3; do measure "$@"; done | awk '{print $1}' | sort -n | sed -n 2p
}
read -r td_s td_kb < <(measure "$td" scan --json --jsonl "$out/corpus.jsonl")
td_start=$(startup "$td" scan --json --jsonl "$out/one.jsonl")
read -r ftdef_s ftdef_kb < <(measure fasttext predict-prob "$out/ftdef.bin" "$out/corpus.txt" -1)
ftdef_start=$(startup fasttext predict-prob "$out/ftdef.bin" "$out/one.txt" -1)
read -r ftng_s ftng_kb < <(measure fasttext predict-prob "$out/ftng.bin" "$out/corpus.txt" -1)
ftng_start=$(startup fasttext predict-prob "$out/ftng.bin" "$out/one.txt" -1)
sizes="$(stat -c %s "$model") $(stat -c %s "$out/ftdef.bin") $(stat -c %s "$out/ftng.bin")"

python3 - "$out/td_eval.json" "${ft_auc[ftdef]}" "${ft_auc[ftng]}" "$lr_auc" "$N" "$text_bytes" \
  "$td_s $td_kb $td_start" "$ftdef_s $ftdef_kb $ftdef_start" "$ftng_s $ftng_kb $ftng_start" \
  "$sizes" <<'PY'
import json, sys
td = json.load(open(sys.argv[1]))["labels"]
ftd, ftn, lr = (json.loads(a) for a in sys.argv[2:5])
n, nbytes = int(sys.argv[5]), int(sys.argv[6])
runs = [list(map(float, a.split())) for a in sys.argv[7:10]]
sizes = list(map(int, sys.argv[10].split()))
f = lambda v: "  n/a " if v is None else "%.4f" % v
print()
print("ROC-AUC on the validation split   threatdesk   fastText   fastText      TF-IDF+LR")
print("                                               default    ngrams,char")
for l in ["threat", "identity_hate", "abuse", "sexual"]:
    print("  %-31s %s       %s     %s        %s" % (l, f(td.get(l, {}).get("roc_auc")),
          f(ftd.get(l)), f(ftn.get(l)), f(lr.get(l))))
print()
print("%d messages, %.1f MB of message text, one core (taskset -c 0)" % (n, nbytes / 1e6))
print("                         threatdesk       fastText         fastText")
print("                         scan --json      default          bigrams+char 3-5")
row = lambda name, fmt, vals: print("  %-22s" % name + "".join(fmt % v for v in vals))
row("seconds", "%12.2f     ", [r[0] for r in runs])
row("messages/s", "%12.0f     ", [n / r[0] for r in runs])
row("MB/s (message text)", "%12.2f     ", [nbytes / r[0] / 1e6 for r in runs])
row("peak RSS (MiB)", "%12.1f     ", [r[1] / 1024 for r in runs])
row("model file (MB)", "%12.1f     ", [s / 1e6 for s in sizes])
row("start-up, 1 message (s)", "%11.3f     ", [r[2] for r in runs])
PY
