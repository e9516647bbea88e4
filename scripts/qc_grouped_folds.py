#!/usr/bin/env python3
"""Grouped folds of a real-crop folder for an unbiased estimate of held-out accuracy.

Usage: scripts/qc_grouped_folds.py DATA OUT [K]

DATA is a folder in the `crops64/labels.csv` layout (e.g. the real trypan crops). For each
fold k in 0..K (default 5) this writes OUT/fk/labels.csv, a copy of DATA's labels in which
the `train` rows whose source_group has md5(source_group) mod K == k get split = test (the
held-out groups), and links OUT/fk/crops64 to DATA's crops. `val` is unchanged (early
stopping and temperature keep using it). Then, per fold:

    mabtwin qc train --task trypan --data OUT/fk --out OUT/fk/m
    mabtwin qc eval  --model OUT/fk/m --data OUT/fk --out OUT/fk/e --split test

Pooling the folds' held-out predictions covers every train crop once, never with a model
that saw its tile block (BENCHMARKS.md, "five grouped folds").
"""
import csv
import hashlib
import os
import sys


def fold_of(group: str, k: int) -> int:
    return int(hashlib.md5(group.encode("utf-8")).hexdigest(), 16) % k


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    data, out = os.path.abspath(sys.argv[1]), sys.argv[2]
    k = int(sys.argv[3]) if len(sys.argv) == 4 else 5
    with open(os.path.join(data, "crops64", "labels.csv"), newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    for fold in range(k):
        d = os.path.join(out, f"f{fold}")
        os.makedirs(os.path.join(d, "crops64"), exist_ok=True)
        n_test = 0
        with open(os.path.join(d, "crops64", "labels.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            for r in rows:
                r = dict(r)
                if r["split"] == "train" and fold_of(r["source_group"], k) == fold:
                    r["split"] = "test"
                    n_test += 1
                w.writerow(r)
        for cls in ("live", "dead"):
            link = os.path.join(d, "crops64", cls)
            if not os.path.lexists(link):
                os.symlink(os.path.join(data, "crops64", cls), link)
        print(f"fold {fold}: {n_test} held-out crops -> {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
