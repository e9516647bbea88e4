#!/usr/bin/env python3
"""Per-class recall of a `mabtwin qc eval` report by terciles of the render's latents.

Usage: python3 scripts/qc_errors_by_latent.py REPORT_DIR DATA_DIR
Joins REPORT_DIR/predictions.csv with DATA_DIR/labels.csv (a `mabtwin qc render
--task microcarrier` folder) on `file` and prints, for each bead class, its recall, what it is
taken for, and its recall in each tercile of blur_px, photons_at_background, n_particles,
dead_frac, coverage, particle_snr and n_particles_snr_ge_3 (the last two: renders since session 18; edges: the class's own values at ranks n/3 and 2n/3; v <= edge 1, <= edge 2, above).
When REPORT_DIR has aux_predictions.csv (a model trained with --aux-targets) it also prints,
per class and target, the within-class correlation of predicted and true values and their
means on the images classified right and wrong.
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
LATENTS = ['blur_px', 'photons_at_background', 'n_particles', 'dead_frac', 'coverage',
           'particle_snr', 'n_particles_snr_ge_3']
def terc(vals):
    s = sorted(vals); n = len(s)
    return s[n//3], s[2*n//3]
for cls in ['contaminated', 'dead_dominant', 'good', 'under_confluent', 'aggregated']:
    sub = [(l, p) for l, p in rows if l['label'] == cls]
    ok = sum(p['predicted'] == cls for _, p in sub)
    conf = collections.Counter(p['predicted'] for _, p in sub if p['predicted'] != cls)
    print(f'{cls}: recall {ok/len(sub):.3f} (n {len(sub)}); mistaken for {dict(conf)}')
    for v in LATENTS:
        if v not in sub[0][0]:
            continue  # a render from before the column existed
        vals = [float(l[v]) for l, _ in sub]
        a, b = terc(vals)
        bins = [[], [], []]
        for l, p in sub:
            x = float(l[v]); k = 0 if x <= a else (1 if x <= b else 2)
            bins[k].append(p['predicted'] == cls)
        print(f'   {v:24s} edges {a:9.3f} {b:9.3f}  recall ' + ' / '.join(f'{sum(x)/max(1,len(x)):.2f}' for x in bins))

# A model trained with --aux-targets: how well its head predicts each latent within each class,
# and the mean true and predicted values on the images the classifier gets right and wrong.
import os
aux_path = f'{rep}/aux_predictions.csv'
if os.path.exists(aux_path):
    aux = list(csv.DictReader(open(aux_path)))
    ok = {p['file']: p['predicted'] == p['label'] for p in pred}
    targets = [c[:-5] for c in aux[0] if c.endswith('_true')]
    def corr(a, b):
        n = len(a); ma = sum(a) / n; mb = sum(b) / n
        cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
        va = sum((x - ma) ** 2 for x in a); vb = sum((y - mb) ** 2 for y in b)
        return cov / (va * vb) ** 0.5 if va > 0 and vb > 0 else float('nan')
    print('auxiliary head (aux_predictions.csv): within-class correlation; mean true / predicted on hits and misses')
    for cls in ['contaminated', 'dead_dominant', 'good', 'under_confluent', 'aggregated']:
        sub = [r for r in aux if r['label'] == cls]
        for t in targets:
            tv = [float(r[f'{t}_true']) for r in sub]; pv = [float(r[f'{t}_pred']) for r in sub]
            parts = []
            for name, want in [('hits', True), ('misses', False)]:
                s = [(a, b) for a, b, r in zip(tv, pv, sub) if ok[r['file']] == want]
                if s:
                    parts.append(f'{name} {len(s)}: {sum(a for a, _ in s) / len(s):.3f} / {sum(b for _, b in s) / len(s):.3f}')
            print(f'   {cls:16s} {t:12s} corr {corr(tv, pv):.2f}; ' + '; '.join(parts))

# Renders with the particle-visibility columns (session 18): mean particle count and visibility
# of contaminated hits and misses and of the other classes' images with particles, then
# contaminated recall by true and by visible (SNR >= 3) particle count.
if 'particle_snr' in rows[0][0]:
    def summary(name, sub):
        if not sub:
            return
        f = lambda k: [float(l[k]) for l, _ in sub]
        n_p, snr, vis = f('n_particles'), f('particle_snr'), f('n_particles_snr_ge_3')
        per = [s / max(n, 1) ** 0.5 for s, n in zip(snr, n_p)]
        mean = lambda v: sum(v) / len(v)
        print(f'   {name:40s} n {len(sub):4d}  particles {mean(n_p):5.1f}  particle_snr {mean(snr):5.1f}  SNR>=3 {mean(vis):5.1f}  per-particle SNR {mean(per):4.2f}')
    print('particle visibility (particle_snr, n_particles_snr_ge_3):')
    c = [(l, p) for l, p in rows if l['label'] == 'contaminated']
    o = [(l, p) for l, p in rows if l['label'] != 'contaminated' and float(l['n_particles']) > 0]
    summary('contaminated, found', [x for x in c if x[1]['predicted'] == 'contaminated'])
    summary('contaminated, missed', [x for x in c if x[1]['predicted'] != 'contaminated'])
    summary('other classes with particles, right', [x for x in o if x[1]['predicted'] == x[0]['label']])
    summary('other classes with particles, called contaminated', [x for x in o if x[1]['predicted'] == 'contaminated'])
    for col, width in [('n_particles', 5), ('n_particles_snr_ge_3', 4)]:
        bins = collections.defaultdict(lambda: [0, 0])
        for l, p in c:
            k = int(float(l[col])) // width * width
            bins[k][0] += p['predicted'] == 'contaminated'; bins[k][1] += 1
        print(f'   contaminated recall by {col} (bins of {width}): ' + ', '.join(f'{k}+: {a}/{b}' for k, (a, b) in sorted(bins.items())))
    # The other classes by particle count (0-8 with the margin; up to 11 in a --no-margin render).
    bins = collections.defaultdict(lambda: [0, 0])
    for l, p in rows:
        if l['label'] != 'contaminated':
            k = 'up to 8' if float(l['n_particles']) <= 8 else '9-11'
            bins[k][0] += p['predicted'] == l['label']; bins[k][1] += 1
    print('   other classes right, by particles: ' + ', '.join(f'{k}: {a}/{b}' for k, (a, b) in sorted(bins.items())))
