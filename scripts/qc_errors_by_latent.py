#!/usr/bin/env python3
"""Per-class recall of a `mabtwin qc eval` report by terciles of the render's latents.

Usage: python3 scripts/qc_errors_by_latent.py REPORT_DIR DATA_DIR
Joins REPORT_DIR/predictions.csv with DATA_DIR/labels.csv (a `mabtwin qc render
--task microcarrier` folder) on `file` and prints, for each bead class, its recall, what it is
taken for, and its recall in each tercile of blur_px, photons_at_background, n_particles,
dead_frac and coverage (edges: the class's own values at ranks n/3 and 2n/3; v <= edge 1, <= edge 2, above).
Standard library only; an analysis aid, not part of the product or of `make test`.
"""
import collections
import csv
import sys

if len(sys.argv) != 3:
    sys.exit(__doc__)
rep, data = sys.argv[1], sys.argv[2]
lab = {r['file']: r for r in csv.DictReader(open(f'{data}/labels.csv'))}
pred = list(csv.DictReader(open(f'{rep}/predictions.csv')))
rows = [(lab[p['file']], p) for p in pred]
def terc(vals):
    s = sorted(vals); n = len(s)
    return s[n//3], s[2*n//3]
for cls in ['contaminated', 'dead_dominant', 'good', 'under_confluent', 'aggregated']:
    sub = [(l, p) for l, p in rows if l['label'] == cls]
    ok = sum(p['predicted'] == cls for _, p in sub)
    conf = collections.Counter(p['predicted'] for _, p in sub if p['predicted'] != cls)
    print(f'{cls}: recall {ok/len(sub):.3f} (n {len(sub)}); mistaken for {dict(conf)}')
    for v in ['blur_px', 'photons_at_background', 'n_particles', 'dead_frac', 'coverage']:
        vals = [float(l[v]) for l, _ in sub]
        a, b = terc(vals)
        bins = [[], [], []]
        for l, p in sub:
            x = float(l[v]); k = 0 if x <= a else (1 if x <= b else 2)
            bins[k].append(p['predicted'] == cls)
        print(f'   {v:24s} edges {a:9.3f} {b:9.3f}  recall ' + ' / '.join(f'{sum(x)/max(1,len(x)):.2f}' for x in bins))
