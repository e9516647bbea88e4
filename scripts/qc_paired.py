#!/usr/bin/env python3
"""Paired comparison of two `mabtwin qc eval` reports on the same images (McNemar).

Usage: python3 scripts/qc_paired.py REPORT_A REPORT_B
Joins REPORT_A/predictions.csv and REPORT_B/predictions.csv on `file` (they must hold the
same images) and prints each report's accuracy, the number of images only A gets right (a)
and only B gets right (b), McNemar's z = (a - b) / sqrt(a + b) and its two-sided normal
p-value, and the same counts per true class. Standard library only; an analysis aid, not
part of the product or of `make test`.
"""
import collections
import csv
import math
import sys

if len(sys.argv) != 3:
    sys.exit(__doc__)


def load(rep):
    return {r['file']: r for r in csv.DictReader(open(f'{rep}/predictions.csv'))}


A, B = load(sys.argv[1]), load(sys.argv[2])
if set(A) != set(B):
    sys.exit(f'the reports hold different images ({len(A)} and {len(B)}, {len(set(A) ^ set(B))} not in both)')
ok_a = {f: r['predicted'] == r['label'] for f, r in A.items()}
ok_b = {f: B[f]['predicted'] == B[f]['label'] for f in A}
n = len(A)
only_a = sum(ok_a[f] and not ok_b[f] for f in A)
only_b = sum(ok_b[f] and not ok_a[f] for f in A)
z = (only_a - only_b) / math.sqrt(only_a + only_b) if only_a + only_b else 0.0
p = math.erfc(abs(z) / math.sqrt(2))
print(f'n {n}: accuracy A {sum(ok_a.values()) / n:.4f}, B {sum(ok_b.values()) / n:.4f}')
print(f'only A right {only_a}, only B right {only_b}: McNemar z = {z:.2f}, two-sided p = {p:.3f}')
per = collections.defaultdict(lambda: [0, 0, 0])
for f, r in A.items():
    c = per[r['label']]
    c[0] += 1
    c[1] += ok_a[f] and not ok_b[f]
    c[2] += ok_b[f] and not ok_a[f]
for cls, (m, a, b) in sorted(per.items()):
    print(f'   {cls:18s} n {m:5d}  only A {a:4d}  only B {b:4d}')
