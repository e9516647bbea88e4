#!/usr/bin/env python3
"""Ensembles of separately trained networks on grouped folds, by averaging their predictions.

Usage: scripts/qc_ensemble_folds.py FOLDS MEMBERS_A [MEMBERS_B]

FOLDS holds f0, f1, ... as written by scripts/qc_grouped_folds.py, and in each fold one
`mabtwin qc eval --split test` report per single-network member: fK/e0, fK/e1, ... (each
network trained with `qc train --ensemble 1` and its own temperature). MEMBERS_A (and
MEMBERS_B) are comma-separated member numbers, e.g. 0,1,2. For each set the script averages
the members' calibrated probabilities per held-out crop (what `qc train --ensemble N` does
inside one model), and prints the accuracy per fold and pooled over the folds. With two sets
it also prints the paired comparison on the pooled crops (only A right / only B right,
McNemar's z and two-sided normal p). Standard library only; an analysis aid, not part of the
product or of `make test`.
"""
import csv
import math
import os
import sys


def load(report):
    with open(os.path.join(report, "predictions.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    classes = [k[2:] for k in rows[0] if k.startswith("p_")]
    return {r["file"]: (r["label"], [float(r["p_" + c]) for c in classes]) for r in rows}, classes


def ensemble(fold_dir, members):
    tables = [load(os.path.join(fold_dir, f"e{m}")) for m in members]
    classes = tables[0][1]
    files = tables[0][0].keys()
    out = {}
    for f in files:
        label = tables[0][0][f][0]
        p = [sum(t[0][f][1][c] for t in tables) / len(tables) for c in range(len(classes))]
        out[f] = classes[max(range(len(p)), key=p.__getitem__)] == label
    return out


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    root = sys.argv[1]
    sets = [[int(m) for m in a.split(",")] for a in sys.argv[2:]]
    folds = sorted(d for d in os.listdir(root) if d.startswith("f") and d[1:].isdigit())
    pooled = [dict() for _ in sets]
    for fold in folds:
        fd = os.path.join(root, fold)
        if not all(os.path.exists(os.path.join(fd, f"e{m}", "predictions.csv")) for s in sets for m in s):
            print(f"{fold}: incomplete, skipped")
            continue
        line = []
        for i, s in enumerate(sets):
            ok = ensemble(fd, s)
            pooled[i].update({(fold, f): v for f, v in ok.items()})
            line.append(f"members {','.join(map(str, s))}: {sum(ok.values())}/{len(ok)} = {sum(ok.values()) / len(ok):.4f}")
        print(f"{fold}: " + "; ".join(line))
    for s, p in zip(sets, pooled):
        if p:
            print(f"pooled, members {','.join(map(str, s))}: {sum(p.values())}/{len(p)} = {sum(p.values()) / len(p):.4f}")
    if len(sets) == 2 and pooled[0]:
        a, b = pooled
        only_a = sum(a[k] and not b[k] for k in a)
        only_b = sum(b[k] and not a[k] for k in a)
        z = (only_a - only_b) / math.sqrt(only_a + only_b) if only_a + only_b else 0.0
        print(f"paired: only A right {only_a}, only B right {only_b}, McNemar z = {z:.2f}, p = {math.erfc(abs(z) / math.sqrt(2)):.3f}")


if __name__ == "__main__":
    main()
