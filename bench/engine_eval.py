#!/usr/bin/env python3
"""engine_eval.py - score a labelled set with `threatdesk scan --json` and
print what the engine issue asks for, beside the label AUCs:

  threat ROC-AUC; share of threats at high or critical; share of legitimate
  messages (no label) at medium or above; precision and recall at each tier
  (predicted tier >= T against gold tier >= T, where the set has tiers).
  Rows with a "source" (the split `threatdesk train --dump-splits` writes)
  also get each label's AUC per source and its macro mean over the sources
  with at least MIN_POS positives: held-out public sets are scored one set at a time, and a
  pooled AUC also rewards knowing which set a text came from.

Usage: engine_eval.py THREATDESK MODEL FILE.jsonl [--json]
Rows: {"text", labels as top-level 0/1 fields or a "labels" object, and
optionally "severity" or "tier"}.  Prints one JSON object with --json.
"""
import json, subprocess, sys, tempfile

LABELS = ["threat", "identity_hate", "abuse", "sexual", "intimidation"]
TIERS = ["none", "low", "medium", "high", "critical"]
MIN_POS = 5  # fewer positives in a source give no AUC worth averaging


def auc(scores, truth):
    pos = [s for s, t in zip(scores, truth) if t]
    neg = [s for s, t in zip(scores, truth) if not t]
    if not pos or not neg:
        return None
    allv = sorted((s, i) for i, s in enumerate(scores))
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1][0] == allv[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[allv[k][1]] = (i + j) / 2 + 1
        i = j + 1
    rp = sum(r for r, t in zip(ranks, truth) if t)
    return (rp - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def main():
    td, model, path = sys.argv[1:4]
    as_json = "--json" in sys.argv
    rows = [json.loads(l) for l in open(path) if l.strip()]
    gold = []
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for i, r in enumerate(rows):
            lab = r.get("labels") if isinstance(r.get("labels"), dict) else r
            gold.append(({l: lab.get(l) for l in LABELS}, r.get("tier") or r.get("severity")))
            f.write(json.dumps({"id": str(i), "text": r["text"]}) + "\n")
        tmp = f.name
    out = subprocess.run([td, "scan", "--jsonl", "--json", "--model", model, tmp],
                         capture_output=True, text=True).stdout
    pred = [json.loads(l) for l in out.splitlines() if l.strip()]
    assert len(pred) == len(rows), "scan returned %d of %d" % (len(pred), len(rows))
    res = {"n": len(rows), "labels": {}}
    for l in LABELS:
        idx = [i for i, (g, _) in enumerate(gold) if g[l] is not None]
        if not idx:
            continue
        sc = [pred[i]["labels"][l] for i in idx]
        tr = [int(gold[i][0][l]) for i in idx]
        pr = [l in pred[i]["predicted"] for i in idx]
        tp = sum(1 for p, t in zip(pr, tr) if p and t)
        res["labels"][l] = {"n": len(idx), "pos": sum(tr), "auc": auc(sc, tr),
                            "precision": tp / max(1, sum(pr)), "recall": tp / max(1, sum(tr))}
    sources = sorted({r["source"] for r in rows if r.get("source")})
    if sources:
        res["macro"], res["by_source"] = {}, {}
        for l in LABELS:
            per = {}
            for s in sources:
                idx = [i for i, r in enumerate(rows)
                       if r.get("source") == s and gold[i][0][l] is not None]
                truth = [int(gold[i][0][l]) for i in idx]
                a = auc([pred[i]["labels"][l] for i in idx], truth)
                if a is not None and min(sum(truth), len(truth) - sum(truth)) >= MIN_POS:
                    per[s] = a
            if per:
                res["by_source"][l] = per
                res["macro"][l] = sum(per.values()) / len(per)
    thr = [i for i, (g, _) in enumerate(gold) if g["threat"] == 1]
    legit = [i for i, (g, _) in enumerate(gold) if all(not g[l] for l in LABELS)]
    sev = lambda i: TIERS.index(pred[i]["severity"])
    res["threats_high_or_critical"] = sum(sev(i) >= 3 for i in thr) / max(1, len(thr))
    res["threats_no_flag"] = sum(sev(i) == 0 for i in thr) / max(1, len(thr))
    res["legit_medium_or_above"] = sum(sev(i) >= 2 for i in legit) / max(1, len(legit))
    res["legit_any_flag"] = sum(sev(i) >= 1 for i in legit) / max(1, len(legit))
    res["n_threats"], res["n_legit"] = len(thr), len(legit)
    tiered = [i for i, (_, t) in enumerate(gold) if t in TIERS]
    if tiered:
        res["tiers"] = {}
        for T in range(1, 5):
            p = [i for i in tiered if sev(i) >= T]
            g = [i for i in tiered if TIERS.index(gold[i][1]) >= T]
            tp = len(set(p) & set(g))
            res["tiers"][TIERS[T] + "+"] = {"precision": tp / max(1, len(p)),
                                             "recall": tp / max(1, len(g)), "gold": len(g)}
        res["tier_exact"] = sum(sev(i) == TIERS.index(gold[i][1]) for i in tiered) / len(tiered)
    if as_json:
        print(json.dumps(res))
        return
    f = lambda v: "  -  " if v is None else "%.3f" % v
    print("%s on %s (%d rows)" % (model, path, len(rows)))
    for l, m in res["labels"].items():
        print("  %-14s n=%-5d pos=%-5d AUC %s  P %s  R %s" % (l, m["n"], m["pos"], f(m["auc"]),
                                                             f(m["precision"]), f(m["recall"])))
    for l, v in res.get("macro", {}).items():
        print("  %-14s macro AUC over %d sources %.3f (%s)" % (
            l, len(res["by_source"][l]), v,
            ", ".join("%s %.3f" % kv for kv in res["by_source"][l].items())))
    print("  threats at high/critical %.3f (%d threats; no flag at all %.3f)" %
          (res["threats_high_or_critical"], len(thr), res["threats_no_flag"]))
    print("  legitimate at medium+    %.3f (%d legitimate; any flag %.3f)" %
          (res["legit_medium_or_above"], len(legit), res["legit_any_flag"]))
    for k, v in res.get("tiers", {}).items():
        print("  tier %-9s P %.3f R %.3f (gold %d)" % (k, v["precision"], v["recall"], v["gold"]))
    if "tier_exact" in res:
        print("  exact tier agreement %.3f" % res["tier_exact"])


if __name__ == "__main__":
    main()
