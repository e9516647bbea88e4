#!/usr/bin/env python3
"""What a validation-chosen operating point for one class would give (offline analysis).

Usage: python3 scripts/qc_operating_point.py CLASS VAL_REPORT [TEST_REPORT ...]

Reads `predictions.csv` of `mabtwin qc eval` reports (`p_<class>` columns). For each factor k
on a fixed grid it multiplies p_CLASS by k and takes the argmax, and prints accuracy,
macro-F1, CLASS precision / recall and the smallest per-class precision or recall (the
seed's targets are per-class P and R >= 0.90). k is chosen on VAL_REPORT alone (an
`qc eval --split val` report: the split used for early stopping and temperature, never the
test split) as the grid value with the largest smallest-P-or-R; the test reports are then
scored at k = 1 (plain argmax, what `qc classify` does) and at the chosen k. Standard library
only; an analysis aid, not part of the product or of `make test`.
"""
import csv
import sys

GRID = [1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0]

if len(sys.argv) < 3:
    sys.exit(__doc__)


def load(report):
    with open(f"{report}/predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    classes = [c[2:] for c in rows[0] if c.startswith("p_")]
    return classes, [(r["label"], [float(r["p_" + c]) for c in classes]) for r in rows]


def score(classes, rows, target, k):
    ti = classes.index(target)
    tp = dict.fromkeys(classes, 0)
    pred = dict.fromkeys(classes, 0)
    sup = dict.fromkeys(classes, 0)
    right = 0
    for label, p in rows:
        q = list(p)
        q[ti] *= k
        guess = classes[max(range(len(q)), key=q.__getitem__)]
        right += guess == label
        sup[label] += 1
        pred[guess] += 1
        tp[label] += guess == label
    prec = {c: tp[c] / pred[c] if pred[c] else 0.0 for c in classes}
    rec = {c: tp[c] / sup[c] if sup[c] else 0.0 for c in classes}
    f1 = sum(2 * prec[c] * rec[c] / (prec[c] + rec[c]) if prec[c] + rec[c] else 0.0 for c in classes) / len(classes)
    return right / len(rows), f1, prec[target], rec[target], min(min(prec.values()), min(rec.values()))


def line(name, n, k, s):
    return f"{name:<28} n {n:>5}  k {k:>4}  accuracy {s[0]:.4f}  macro-F1 {s[1]:.4f}  P {s[2]:.3f}  R {s[3]:.3f}  min P/R {s[4]:.3f}"


target, val = sys.argv[1], sys.argv[2]
classes, vrows = load(val)
if target not in classes:
    sys.exit(f"unknown class {target!r}; the report has {classes}")
best = None
for k in GRID:
    s = score(classes, vrows, target, k)
    print(line(val + " (val)", len(vrows), k, s))
    if best is None or s[4] > best[1][4]:
        best = (k, s)
k = best[0]
print(f"chosen on validation: k = {k} (largest smallest per-class P or R)")
for rep in sys.argv[3:]:
    cl, rows = load(rep)
    if cl != classes:
        sys.exit(f"{rep}: classes {cl} differ from {classes}")
    print(line(rep, len(rows), 1.0, score(cl, rows, target, 1.0)))
    print(line(rep, len(rows), k, score(cl, rows, target, k)))
