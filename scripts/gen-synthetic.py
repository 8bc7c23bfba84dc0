#!/usr/bin/env python3
"""gen-synthetic.py - synthetic labelled training texts for the learned engine.

Threat STRUCTURES against HARD NEGATIVES, written the way post, email and
social replies to an MP's office are written.  Everything the texts are made
of (template families, filler lexicons, surface-noise tables, the class mix)
lives in data/synthetic/ (see data/synthetic/README.md); this script only
parses that grammar, samples it and writes JSON Lines.

    python3 scripts/gen-synthetic.py --seed 1 --n 30000 --out FILE.jsonl \
        [--data data/synthetic] [--split-seed S] [--quiet] [--cues LABEL]

Output: one JSON object a line
    {"text": ..., "labels": {"threat":0|1, "identity_hate":..., "abuse":...,
     "sexual":..., "intimidation":...}, "family": "<id>", "split": "train"|"val"}

Deterministic: the same seed, data and Python 3 give the same bytes (no use
of hash(), no iteration over sets; the split uses SHA-256).

The split is by template family: a seeded ~15 % of the families of every
group (by weight) go to "val", and so does a seeded ~15 % of the entries of every lexicon
with enough entries.  Train rows are built only from train families and train
entries, val rows only from val families and (where a lexicon has held-out
entries) held-out entries, so val measures generalisation to structures and
words the model never saw.  No two rows share a text (compared after
lower-casing and dropping punctuation and spaces).

Standard library only.
"""

import argparse
import hashlib
import json
import os
import random
import re
import sys

LABELS = ("threat", "identity_hate", "abuse", "sexual", "intimidation")
VAL_FRACTION = 0.15
MIN_SPLIT_LEXICON = 7       # lexicons smaller than this are not split
MAX_DEPTH = 12              # recursion limit for slot expansion
INS = "\x00"                # placeholder for an insertion point
MAX_STYLINGS = 2            # one unstyled text appears in at most 2 stylings


class DataError(Exception):
    pass


# --------------------------------------------------------------------------
# template parsing
#
#   {a}        an entry of lexicon a          {a|b}   of a or of b
#   [x]        x or nothing (50 %)            [x]30   x with probability 30 %
#   (x|y|z)    one of the alternatives        ^       an insertion point
#   ~(x)       x obfuscated (leet, spacing)   \c      the character c itself
#   \n         a line break

class Node:
    __slots__ = ("kind", "val", "kids", "p")

    def __init__(self, kind, val=None, kids=None, p=0.5):
        self.kind, self.val, self.kids, self.p = kind, val, kids, p


def parse_template(src, where):
    pos = 0

    def seq(stop):
        nonlocal pos
        out, buf = [], []

        def flush():
            if buf:
                out.append(Node("text", "".join(buf)))
                buf.clear()

        while pos < len(src):
            c = src[pos]
            if c in stop:
                break
            if c == "\\" and pos + 1 < len(src):
                nxt = src[pos + 1]
                buf.append("\n" if nxt == "n" else nxt)
                pos += 2
                continue
            if c == "{":
                end = src.find("}", pos)
                if end < 0:
                    raise DataError(f"{where}: unclosed {{")
                names = [n.strip() for n in src[pos + 1:end].split("|")]
                if not all(re.fullmatch(r"[a-z0-9_]+", n) for n in names):
                    raise DataError(f"{where}: bad slot {src[pos:end + 1]}")
                flush()
                out.append(Node("slot", names))
                pos = end + 1
                continue
            if c == "[":
                flush()
                pos += 1
                kids = seq("]")
                if pos >= len(src):
                    raise DataError(f"{where}: unclosed [")
                pos += 1
                m = re.match(r"\d{1,2}", src[pos:])
                p = 0.5
                if m:
                    p = int(m.group(0)) / 100.0
                    pos += len(m.group(0))
                out.append(Node("opt", kids=kids, p=p))
                continue
            if c == "(" or (c == "~" and src[pos + 1:pos + 2] == "("):
                obf = c == "~"
                flush()
                pos += 2 if obf else 1
                alts = [seq("|)")]
                while pos < len(src) and src[pos] == "|":
                    pos += 1
                    alts.append(seq("|)"))
                if pos >= len(src):
                    raise DataError(f"{where}: unclosed (")
                pos += 1
                node = Node("alt", kids=alts)
                out.append(Node("obf", kids=[node]) if obf else node)
                continue
            if c == "^":
                flush()
                out.append(Node("ins"))
                pos += 1
                continue
            if c in "])|}":
                raise DataError(f"{where}: stray {c!r} at {pos}")
            buf.append(c)
            pos += 1
        flush()
        return out

    nodes = seq("")
    if pos != len(src):
        raise DataError(f"{where}: trailing text at {pos}")
    return nodes


def slots_of(nodes, acc):
    for n in nodes:
        if n.kind == "slot":
            acc.extend(n.val)
        elif n.kind in ("opt", "obf"):
            slots_of(n.kids, acc)
        elif n.kind == "alt":
            for a in n.kids:
                slots_of(a, acc)
    return acc


# --------------------------------------------------------------------------
# data loading

def parse_labels(spec, where):
    """'threat=1 abuse=?' -> dict; 'none' -> all 0.  Unlisted labels are '?'."""
    out = {l: "?" for l in LABELS}
    for tok in spec.split():
        if tok == "none":
            out = {l: 0 for l in LABELS}
            continue
        m = re.fullmatch(r"([a-z_]+)=([01?])", tok)
        if not m or m.group(1) not in LABELS:
            raise DataError(f"{where}: bad label {tok!r}")
        out[m.group(1)] = "?" if m.group(2) == "?" else int(m.group(2))
    return out


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            yield i, line.strip()


class Lexicon:
    def __init__(self, name):
        self.name = name
        self.entries = []        # parsed templates
        self.raw = []
        self.sets = []           # labels an entry of this lexicon raises
        self.nosplit = False
        self.train = []
        self.val = []


def load_lexicons(d):
    lex = {}
    ldir = os.path.join(d, "lexicons")
    for fn in sorted(os.listdir(ldir)):
        if not fn.endswith(".txt"):
            continue
        name = fn[:-4]
        L = Lexicon(name)
        path = os.path.join(ldir, fn)
        for i, line in read_lines(path):
            where = f"{path}:{i}"
            if line.startswith("@sets "):
                for l in line[6:].split():
                    if l not in LABELS:
                        raise DataError(f"{where}: unknown label {l}")
                    L.sets.append(l)
                continue
            if line == "@nosplit":
                L.nosplit = True
                continue
            if line.startswith("@"):
                raise DataError(f"{where}: unknown directive")
            if line in L.raw:
                raise DataError(f"{where}: duplicate entry {line!r}")
            L.raw.append(line)
            L.entries.append(parse_template(line, where))
        if not L.entries:
            raise DataError(f"{path}: empty lexicon")
        lex[name] = L
    return lex


class Family:
    def __init__(self, fid, where):
        self.id = fid
        self.where = where
        self.group = None
        self.labels = None
        self.weight = 1.0
        self.insert_p = 0.0
        self.insert_lex = "insert"
        self.kind = "short"
        self.templates = []
        self.raw = []


def load_families(d):
    fams = []
    fdir = os.path.join(d, "families")
    for fn in sorted(os.listdir(fdir)):
        if not fn.endswith(".txt"):
            continue
        path = os.path.join(fdir, fn)
        cur = None
        for i, line in read_lines(path):
            where = f"{path}:{i}"
            if line.startswith("@family "):
                cur = Family(line.split()[1], where)
                fams.append(cur)
                continue
            if cur is None:
                raise DataError(f"{where}: text before the first @family")
            if line.startswith("@"):
                key, _, val = line.partition(" ")
                val = val.strip()
                if key == "@group":
                    cur.group = val
                elif key == "@labels":
                    cur.labels = parse_labels(val, where)
                elif key == "@weight":
                    cur.weight = float(val)
                elif key == "@insert":
                    parts = val.split()
                    cur.insert_p = float(parts[0])
                    if len(parts) > 1:
                        cur.insert_lex = parts[1]
                elif key == "@kind":
                    cur.kind = val
                else:
                    raise DataError(f"{where}: unknown directive {key}")
                continue
            cur.raw.append(line)
            cur.templates.append(parse_template(line, where))
    ids = [f.id for f in fams]
    for f in fams:
        if ids.count(f.id) > 1:
            raise DataError(f"{f.where}: duplicate family {f.id}")
        if not f.group or f.labels is None or not f.templates:
            raise DataError(f"{f.where}: family {f.id} needs @group, @labels and templates")
    return fams


def load_kv_file(path):
    """'key value...' lines -> list of (key, [values])."""
    out = []
    for i, line in read_lines(path):
        parts = line.split("\t") if "\t" in line else line.split()
        out.append((parts[0], parts[1:], f"{path}:{i}"))
    return out


def load_mix(d):
    groups, styles, prefixes = {}, {}, {}
    for key, vals, where in load_kv_file(os.path.join(d, "mix.txt")):
        if key == "group":
            groups[vals[0]] = float(vals[1])
        elif key == "style":
            kind = vals[0]
            styles[kind] = []
            for tok in vals[1:]:
                name, _, w = tok.partition("=")
                styles[kind].append((name, float(w)))
        elif key == "prefix":
            prefixes[vals[0]] = (vals[1], float(vals[2]))
        else:
            raise DataError(f"{where}: unknown mix key {key}")
    return groups, styles, prefixes


def load_table(path):
    """'from<TAB>to1|to2' lines -> list of (from, [to...])."""
    out = []
    for i, line in read_lines(path):
        if "\t" not in line:
            raise DataError(f"{path}:{i}: needs a TAB")
        a, b = line.split("\t", 1)
        out.append((a.strip(), [x for x in b.strip().split("|")]))
    return out


# --------------------------------------------------------------------------
# the split

def u01(*parts):
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0 ** 64


def make_split(fams, lex, split_seed):
    # families: within each group, in seeded hash order, until ~15 % of the
    # group's weight (so the share of val rows does not hang on whether the
    # hash happened to pick small families); at least one, never all
    by_group = {}
    for f in fams:
        by_group.setdefault(f.group, []).append(f)
    val_fams = []
    for g in sorted(by_group):
        fs = sorted(by_group[g], key=lambda f: u01(split_seed, "family", f.id))
        if len(fs) < 3:
            continue
        total = sum(f.weight for f in fs)
        acc = 0.0
        for f in fs[:-1]:
            if acc >= VAL_FRACTION * total - 1e-9:
                break
            if acc + f.weight > 1.6 * VAL_FRACTION * total and acc > 0:
                continue            # would overshoot: try a smaller one
            val_fams.append(f.id)
            acc += f.weight
    # lexicon entries
    for L in lex.values():
        idx = list(range(len(L.entries)))
        if L.nosplit or len(idx) < MIN_SPLIT_LEXICON:
            L.train = L.val = idx
            continue
        idx.sort(key=lambda i: u01(split_seed, "entry", L.name, L.raw[i]))
        k = max(1, round(len(idx) * VAL_FRACTION))
        L.val = sorted(idx[:k])
        L.train = sorted(idx[k:])
    return set(val_fams)


# --------------------------------------------------------------------------
# generation

class Gen:
    def __init__(self, lex, tables, rng):
        self.lex = lex
        self.rng = rng
        self.leet = tables["leet"]
        self.txt = tables["txtspeak"]
        self.typo_near = dict((a, b) for a, b in tables["keyboard"])
        self.used = set()

    # ---- expansion
    def expand(self, nodes, split, raised, depth=0):
        if depth > MAX_DEPTH:
            raise DataError("slot recursion too deep")
        rng = self.rng
        out = []
        for n in nodes:
            k = n.kind
            if k == "text":
                out.append(n.val)
            elif k == "slot":
                name = n.val[rng.randrange(len(n.val))]
                L = self.lex[name]
                pool = L.val if split == "val" else L.train
                # an entry once a text where the lexicon allows (letters
                # do not repeat a paragraph)
                for _ in range(4):
                    i = pool[rng.randrange(len(pool))]
                    if (name, i) not in self.used:
                        break
                self.used.add((name, i))
                e = L.entries[i]
                raised.update(L.sets)
                out.append(self.expand(e, split, raised, depth + 1))
            elif k == "opt":
                if rng.random() < n.p:
                    out.append(self.expand(n.kids, split, raised, depth))
            elif k == "alt":
                out.append(self.expand(n.kids[rng.randrange(len(n.kids))],
                                       split, raised, depth))
            elif k == "obf":
                out.append(self.obfuscate(self.expand(n.kids, split, raised, depth)))
            elif k == "ins":
                out.append(" " + INS + " ")
        return "".join(out)

    def obfuscate(self, s):
        """Leet, spacing or dots inside the words of s (threat words)."""
        rng = self.rng
        mode = rng.choice(("leet", "leet", "space", "dots", "mixed", "star"))
        words = s.split()
        out = []
        for w in words:
            if len(w) < 3 or rng.random() < 0.25:
                out.append(w)
                continue
            if mode in ("leet", "mixed"):
                chars = []
                for c in w:
                    subs = [t for a, t in self.leet if a == c.lower()]
                    if subs and rng.random() < 0.6:
                        chars.append(rng.choice(subs[0]))
                    else:
                        chars.append(c)
                if not any(c.isalpha() for c in chars):
                    chars[0] = w[0]         # keep it readable: one letter stays
                w2 = "".join(chars)
                if mode == "mixed" and rng.random() < 0.5:
                    w2 = " ".join(w2)
                out.append(w2)
            elif mode == "space":
                out.append(" ".join(w))
            elif mode == "dots":
                out.append(rng.choice((".", "-", "_", "*")).join(w))
            else:  # star: one vowel starred
                vs = [i for i, c in enumerate(w) if c in "aeiou"]
                if vs:
                    i = rng.choice(vs)
                    w = w[:i] + "*" + w[i + 1:]
                out.append(w)
        return " ".join(out)

    # ---- surface noise
    def style(self, text, style):
        rng = self.rng
        for part in style.split("+"):
            if part == "clean":
                text = sentence_case(text)
            elif part == "lower":
                text = text.lower()
            elif part == "nopunct":
                text = re.sub(r"[.,;:!?\"“”]+", " ", text)
                text = re.sub(r"(?<=\w)['’](?=\w)", "", text)
            elif part == "caps":
                text = text.upper()
                if rng.random() < 0.5:
                    text = text.rstrip(".") + rng.choice(("!!!", "!!", "!!!!!!", " !!"))
            elif part == "shout":      # a run of words in capitals
                ws = text.split(" ")
                if len(ws) > 3:
                    i = rng.randrange(len(ws) - 2)
                    j = min(len(ws), i + rng.randint(2, 6))
                    ws[i:j] = [w.upper() for w in ws[i:j]]
                    text = " ".join(ws)
            elif part == "txt":
                text = self.txtspeak(text)
            elif part == "typos":
                text = self.typos(text, rng.randint(1, 3))
            elif part == "runon":
                text = re.sub(r"[.;]\s+(\w)", lambda m: " " + m.group(1).lower(), text)
            elif part == "bang":
                text = re.sub(r"[.]?\s*$", rng.choice(("!", "!!", "!!!", "?!", " !!")), text, count=1)
            else:
                raise DataError(f"unknown style {part}")
        return text

    def txtspeak(self, text):
        rng = self.rng
        for a, bs in self.txt:
            pat = re.compile(r"(?<![\w'])" + re.escape(a) + r"(?![\w'])", re.I)

            def sub(m):
                return rng.choice(bs) if rng.random() < 0.7 else m.group(0)
            text = pat.sub(sub, text)
        return text.lower() if rng.random() < 0.8 else text

    def typos(self, text, k):
        rng = self.rng
        ws = text.split(" ")
        cand = [i for i, w in enumerate(ws) if len(w) >= 4 and w.isalpha()]
        for _ in range(min(k, len(cand))):
            i = rng.choice(cand)
            w = ws[i]
            if len(w) < 4:
                continue
            j = rng.randrange(1, len(w) - 2)
            op = rng.randrange(4)
            if op == 0:
                w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
            elif op == 1:
                w = w[:j] + w[j + 1:]
            elif op == 2:
                w = w[:j] + w[j] + w[j:]
            else:
                near = self.typo_near.get(w[j].lower())
                if near:
                    w = w[:j] + rng.choice(near[0]) + w[j + 1:]
            ws[i] = w
        return " ".join(ws)


def sentence_case(text):
    return re.sub(r"(^|[.!?]\s+|\n\s*)([a-z])",
                  lambda m: m.group(1) + m.group(2).upper(), text)


def tidy(text):
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    text = re.sub(r" ([,.;:!?])", r"\1", text)
    text = re.sub(r",([,.!?])", r"\1", text)
    text = re.sub(r"\.\.(?!\.)", ".", text)
    return text.strip()


def dedup_key(text):
    return re.sub(r"[\W_]+", "", text.lower())


def weighted(rng, items):
    """items: list of (thing, weight) -> thing."""
    tot = sum(w for _, w in items)
    x = rng.random() * tot
    for thing, w in items:
        x -= w
        if x < 0:
            return thing
    return items[-1][0]


def make_text(gen, lex, f, split, raised):
    """One unstyled text of family f; labels raised by lexicons go in raised."""
    rng = gen.rng
    gen.used = set()
    t = f.templates[rng.randrange(len(f.templates))]
    text = gen.expand(t, split, raised)
    # insertion points: 0, 1 or 2 of them filled
    npts = text.count(INS)
    k = 0
    if npts and f.insert_p:
        r = rng.random()
        k = 2 if r < f.insert_p / 4 else (1 if r < f.insert_p else 0)
        k = min(k, npts)
    chosen = sorted(rng.sample(range(npts), k)) if k else []
    parts = text.split(INS)
    text = parts[0]
    for i, p in enumerate(parts[1:]):
        if i in chosen:
            L = lex[f.insert_lex]
            pool = L.val if split == "val" else L.train
            ins = gen.expand(L.entries[pool[rng.randrange(len(pool))]], split, raised)
            raised.update(L.sets)
            text += " " + ins + " "
        text += p
    return tidy(text)


# Families whose rows are plain correspondence with no label: the context
# that add_context() puts around other rows (angry but harmless included).
# neg.letter.* is left out on purpose: it is the padding of the long-letter
# check (bench/long_letters.py), which must not be text the model saw as
# context.
CONTEXT_FAMILIES = ("neg.casework", "neg.angry_letter", "neg.angry_policy",
                    "neg.praise", "neg.press_enquiry", "neg.campaign_chat",
                    "neg.office_internal", "neg.post.", "neg.hustings", "neg.crime_letter",
                    "neg.crime_policy", "neg.protest.notice", "neg.social_short", "neg.media")


def add_context(rows, p, rng):
    """Put unrelated plain sentences before and after a share p of the rows,
    labels unchanged.  A model trained on short texts only learns that a
    threat is a short text: one neutral sentence around "I am going to come
    to your surgery and stab you" took the shipped model from 0.74 to 0.11.
    Context comes from rows of the same split (val rows stay held out) and
    is added to every label (unlabelled rows more often), so that length is
    no cue and the context's own words stay evidence of ordinary mail."""
    pool = {"train": [], "val": []}
    for r in rows:
        if r["family"].startswith(CONTEXT_FAMILIES):
            pool[r["split"]].append(r["text"])
    for r in rows:
        src = pool[r["split"]]
        # unlabelled rows are wrapped 2.5 times as often: the context words
        # must stay evidence of ordinary mail, not of whatever they surround
        q = p if any(r["labels"].values()) else min(1.0, 2.5 * p)
        if len(src) < 20 or rng.random() >= q:
            continue
        most = 6 if rng.random() < 1 / 6 else 3
        before, after = rng.randint(0, most), rng.randint(0, most)
        if before + after == 0:
            before = 1
        sep = "\n\n" if rng.random() < 0.5 else " "
        parts = [rng.choice(src) for _ in range(before)] + [r["text"]] + \
                [rng.choice(src) for _ in range(after)]
        r["text"] = sep.join(parts)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default=os.path.join(here, "..", "data", "synthetic"))
    ap.add_argument("--split-seed", type=int, default=None,
                    help="seed of the family/entry split (default: --seed); "
                         "pin it to compare runs with different --seed")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--cues", metavar="LABEL",
                    help="after writing, list the words of train rows that are "
                         "most one-sided for LABEL (quirks a model could learn)")
    ap.add_argument("--context", type=float, default=0.0, metavar="P",
                    help="wrap a share P of the labelled rows (2.5 P of the others) in 1-6 "
                         "unrelated plain sentences of the same split (and "
                         "P/6 in up to 12, a long letter), so that a threat "
                         "is learnt as a threat also with other text around it")
    a = ap.parse_args()
    split_seed = a.seed if a.split_seed is None else a.split_seed

    try:
        lex = load_lexicons(a.data)
        fams = load_families(a.data)
        groups, styles, prefixes = load_mix(a.data)
        tables = {t: load_table(os.path.join(a.data, "noise", t + ".txt"))
                  for t in ("leet", "txtspeak", "keyboard")}
        # every slot must exist; every group in the mix must have families
        for f in fams:
            for t in f.templates:
                for s in slots_of(t, []):
                    if s not in lex:
                        raise DataError(f"{f.where}: {f.id}: no lexicon {s}")
            if f.insert_p and f.insert_lex not in lex:
                raise DataError(f"{f.where}: no lexicon {f.insert_lex}")
            if f.group not in groups:
                raise DataError(f"{f.where}: group {f.group} not in mix.txt")
            if f.kind not in styles:
                raise DataError(f"{f.where}: kind {f.kind} has no style line")
        for kind, (pl, _) in prefixes.items():
            if pl not in lex:
                raise DataError(f"mix.txt: prefix lexicon {pl} missing")
        for L in lex.values():
            for e in L.entries:
                for s in slots_of(e, []):
                    if s not in lex:
                        raise DataError(f"lexicon {L.name}: no lexicon {s}")
    except (DataError, OSError) as e:
        print(f"gen-synthetic: {e}", file=sys.stderr)
        return 2

    val_fams = make_split(fams, lex, split_seed)
    rng = random.Random(a.seed)
    gen = Gen(lex, tables, rng)
    group_items = [(g, w) for g, w in groups.items()
                   if any(f.group == g for f in fams)]
    fam_by_group = {g: [(f, f.weight) for f in fams if f.group == g]
                    for g, _ in group_items}
    seen = set()
    base_seen = {}
    exhausted = {}
    counts = {l: 0 for l in LABELS}
    nsplit = {"train": 0, "val": 0}
    rows = []
    fails = 0
    while len(rows) < a.n:
        # the group first, then up to 200 draws inside it, so a group whose
        # families run out of distinct texts keeps its share of the rows
        g = weighted(rng, group_items)
        for _ in range(200):
            f = weighted(rng, fam_by_group[g])
            split = "val" if f.id in val_fams else "train"
            raised = set()
            text = make_text(gen, lex, f, split, raised)
            base = dedup_key(text)
            if base_seen.get(base, 0) >= MAX_STYLINGS:
                fails += 1
                exhausted[f.id] = exhausted.get(f.id, 0) + 1
                continue
            text = tidy(gen.style(text, weighted(rng, styles[f.kind])))
            if f.kind in prefixes and rng.random() < prefixes[f.kind][1]:
                L = lex[prefixes[f.kind][0]]
                pool = L.val if split == "val" else L.train
                text = gen.expand(L.entries[pool[rng.randrange(len(pool))]],
                                  split, set()) + " " + text
            key = dedup_key(text)
            if not key or key in seen:
                fails += 1
                exhausted[f.id] = exhausted.get(f.id, 0) + 1
                continue
            break
        else:
            print(f"gen-synthetic: group {g} cannot make that many distinct texts",
                  file=sys.stderr)
            return 3
        base_seen[base] = base_seen.get(base, 0) + 1
        seen.add(key)
        labels = {}
        for l in LABELS:
            v = f.labels[l]
            labels[l] = (1 if l in raised else 0) if v == "?" else v
        for l in LABELS:
            counts[l] += labels[l]
        nsplit[split] += 1
        rows.append({"text": text, "labels": labels, "family": f.id, "split": split})
    if a.context > 0:
        add_context(rows, a.context, random.Random(a.seed * 7919 + 1))
    rows = [json.dumps(r, ensure_ascii=False) for r in rows]
    tmp = a.out + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as o:
        for r in rows:
            o.write(r + "\n")
    os.replace(tmp, a.out)
    if not a.quiet:
        print(f"gen-synthetic: {len(rows)} rows ({nsplit['train']} train, "
              f"{nsplit['val']} val) from {len(fams)} families "
              f"({len(val_fams)} val), {len(lex)} lexicons, "
              f"{sum(len(L.entries) for L in lex.values())} entries; "
              f"{fails} duplicates redrawn", file=sys.stderr)
        print("gen-synthetic: label counts " +
              " ".join(f"{l}={counts[l]}" for l in LABELS), file=sys.stderr)
        worst = sorted(exhausted.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        if worst and worst[0][1] > 0.2 * a.n / max(1, len(fams)):
            print("gen-synthetic: families redrawn most (small grammar): " +
                  ", ".join(f"{k}={v}" for k, v in worst), file=sys.stderr)
    if a.cues:
        if a.cues not in LABELS:
            print(f"gen-synthetic: --cues: unknown label {a.cues}", file=sys.stderr)
            return 2
        print_cues(rows, a.cues)
    return 0


def print_cues(rows, label):
    """Words (present/absent per row) whose train rows are almost all one
    class: the shortcuts a model could take.  Smoothed log odds, >= 100 rows."""
    import math
    pos, neg, P, N = {}, {}, 0, 0
    for r in rows:
        r = json.loads(r)
        if r["split"] != "train":
            continue
        ws = set(re.findall(r"[a-z0-9']+|[^\sa-z0-9']", r["text"].lower()))
        d = pos if r["labels"][label] else neg
        if r["labels"][label]:
            P += 1
        else:
            N += 1
        for w in ws:
            d[w] = d.get(w, 0) + 1
    out = []
    for w in sorted(set(pos) | set(neg)):
        p, n = pos.get(w, 0), neg.get(w, 0)
        if p + n < 100:
            continue
        out.append((math.log(((p + 1) / (P + 2)) / ((n + 1) / (N + 2))), w, p, n))
    out.sort()
    print(f"cues for {label}=0 (word rows1 rows0):", file=sys.stderr)
    print("  " + " ".join(f"{w}({p}/{n})" for _, w, p, n in out[:40]), file=sys.stderr)
    print(f"cues for {label}=1:", file=sys.stderr)
    print("  " + " ".join(f"{w}({p}/{n})" for _, w, p, n in reversed(out[-40:])),
          file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
