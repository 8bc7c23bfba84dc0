#!/usr/bin/env python3
"""Baseline helpers for bench/bench_scan.sh (not part of threatdesk itself).

  baselines.py fasttext-prep SPLIT.jsonl OUT_LABELLED.txt OUT_TEXT.txt
  baselines.py fasttext-auc  SPLIT.jsonl PREDICT_PROB_OUTPUT.txt
  baselines.py tfidf-lr      TRAIN.jsonl VAL.jsonl
  baselines.py make-corpus   SPLIT.jsonl N OUT.jsonl OUT.txt   (prints the text bytes)

AUCs are computed on the rows that annotate each label (a row of a dataset
that never asked about threats is not a threat negative), exactly as
`threatdesk eval` does.  Prints one JSON object.  make-corpus prints the
UTF-8 bytes of the N messages' text: the one figure every MB/s in
bench_scan.sh is divided by, whatever each tool reads (JSONL, cleaned lines).
"""
import json
import re
import sys

LABELS = ["threat", "identity_hate", "abuse", "sexual"]


def clean(text):
    return re.sub(r"\s+", " ", text).strip().lower()


def auc(scores, truth):
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    pos = sum(truth)
    neg = len(truth) - pos
    if not pos or not neg:
        return None
    return (sum(r for r, t in zip(ranks, truth) if t) - pos * (pos + 1) / 2) / (pos * neg)


def read(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def per_label_auc(gold, probs):
    out = {}
    for label in LABELS:
        s, y = [], []
        for g, p in zip(gold, probs):
            if label in g:
                s.append(p.get(label, 0.0))
                y.append(g[label])
        out[label] = auc(s, y)
    return out


def main():
    cmd = sys.argv[1]
    if cmd == "fasttext-prep":
        rows = read(sys.argv[2])
        with open(sys.argv[3], "w") as lab, open(sys.argv[4], "w") as txt:
            for d in rows:
                t = clean(d["text"])
                ls = [l for l in LABELS if d.get(l) == 1] or ["none"]
                lab.write(" ".join("__label__" + l for l in ls) + " " + t + "\n")
                txt.write(t + "\n")
    elif cmd == "fasttext-auc":
        gold = read(sys.argv[2])
        probs = []
        with open(sys.argv[3]) as f:
            for line in f:
                tok = line.split()
                probs.append({tok[i].replace("__label__", ""): float(tok[i + 1])
                              for i in range(0, len(tok) - 1, 2)})
        print(json.dumps(per_label_auc(gold, probs)))
    elif cmd == "tfidf-lr":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        train, val = read(sys.argv[2]), read(sys.argv[3])
        vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=500000)
        xt = vec.fit_transform([clean(d["text"]) for d in train])
        xv = vec.transform([clean(d["text"]) for d in val])
        probs = [dict() for _ in val]
        for label in LABELS:
            idx = [i for i, d in enumerate(train) if label in d]
            y = [train[i][label] for i in idx]
            clf = LogisticRegression(max_iter=1000, C=4.0)
            clf.fit(xt[idx], y)
            p = clf.predict_proba(xv)[:, 1]
            for i, v in enumerate(p):
                probs[i][label] = float(v)
        print(json.dumps(per_label_auc(val, probs)))
    elif cmd == "make-corpus":
        rows = read(sys.argv[2])
        n = int(sys.argv[3])
        nbytes = 0
        with open(sys.argv[4], "w") as js, open(sys.argv[5], "w") as txt:
            for i in range(n):
                t = rows[i % len(rows)]["text"]
                nbytes += len(t.encode("utf-8"))
                js.write(json.dumps({"id": "m%d" % i, "text": t}) + "\n")
                txt.write(clean(t) + "\n")
        print(nbytes)
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
