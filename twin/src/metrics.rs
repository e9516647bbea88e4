//! Accuracy metrics (seed Table 4): RMSE, MAE, R², DTS, plus interval coverage.
//!
//! **DTS** (dynamic trajectory similarity), as the seed defines it: the mean over sliding
//! 24 h windows of the cosine similarity between the true and the predicted trajectory
//! vectors. Here a batch's trajectory is its sequence of predictions at the window ends
//! (every 6 h); each 24 h span of that sequence (5 points) is one window, sliding by one
//! point; the mean runs over all spans of all batches. Because titers are positive, raw
//! cosines sit close to 1 for any roughly increasing prediction; `dts_delta` applies the same
//! cosine to the increments within each span (the shape of the dynamics) and discriminates
//! much more. Both are reported.

/// Root mean squared error.
pub fn rmse(y: &[f64], p: &[f64]) -> f64 {
    (y.iter().zip(p).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / y.len().max(1) as f64).sqrt()
}

/// Mean absolute error.
pub fn mae(y: &[f64], p: &[f64]) -> f64 {
    y.iter().zip(p).map(|(a, b)| (a - b).abs()).sum::<f64>() / y.len().max(1) as f64
}

/// Coefficient of determination, `1 − SS_res / SS_tot` (NaN when the truth is constant).
pub fn r2(y: &[f64], p: &[f64]) -> f64 {
    let m = y.iter().sum::<f64>() / y.len().max(1) as f64;
    let ss_tot: f64 = y.iter().map(|a| (a - m).powi(2)).sum();
    let ss_res: f64 = y.iter().zip(p).map(|(a, b)| (a - b).powi(2)).sum();
    if ss_tot > 0.0 { 1.0 - ss_res / ss_tot } else { f64::NAN }
}

fn cosine(a: &[f64], b: &[f64]) -> Option<f64> {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na > 0.0 && nb > 0.0 { Some(dot / (na * nb)) } else { None }
}

/// DTS and its increment variant over trajectories: `(batch, t_h, true, pred)` points, any
/// order; spans of `span_h` hours. Returns `(dts, dts_delta)`; NaN when no span qualifies.
pub fn dts(points: &[(usize, f64, f64, f64)], span_h: f64) -> (f64, f64) {
    let mut pts = points.to_vec();
    pts.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let (mut s, mut n, mut sd, mut nd) = (0.0, 0usize, 0.0, 0usize);
    let mut start = 0;
    while start < pts.len() {
        let mut end = start;
        while end < pts.len() && pts[end].0 == pts[start].0 {
            end += 1;
        }
        let traj = &pts[start..end];
        for i in 0..traj.len() {
            let j = (i..traj.len()).take_while(|&j| traj[j].1 - traj[i].1 <= span_h + 1e-9).last().unwrap_or(i);
            if j == i || (j + 1 == traj.len() && i > 0 && traj[j].1 - traj[i].1 < span_h - 1e-9) {
                continue; // a span must cover the full 24 h (except when the whole record is shorter)
            }
            let w = &traj[i..=j];
            let yt: Vec<f64> = w.iter().map(|p| p.2).collect();
            let yp: Vec<f64> = w.iter().map(|p| p.3).collect();
            if let Some(c) = cosine(&yt, &yp) {
                s += c;
                n += 1;
            }
            let dt: Vec<f64> = yt.windows(2).map(|d| d[1] - d[0]).collect();
            let dp: Vec<f64> = yp.windows(2).map(|d| d[1] - d[0]).collect();
            if let Some(c) = cosine(&dt, &dp) {
                sd += c;
                nd += 1;
            }
        }
        start = end;
    }
    let f = |s: f64, n: usize| if n > 0 { s / n as f64 } else { f64::NAN };
    (f(s, n), f(sd, nd))
}

/// Fraction of `y` inside `[lo, hi]`.
pub fn coverage(y: &[f64], lo: &[f64], hi: &[f64]) -> f64 {
    let inside = y.iter().zip(lo.iter().zip(hi)).filter(|(v, (l, h))| *v >= *l && *v <= *h).count();
    inside as f64 / y.len().max(1) as f64
}

/// The scores of one target on one set of windows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Scores {
    pub n: usize,
    pub rmse: f64,
    pub mae: f64,
    /// Mean signed error, prediction − truth (negative: the model predicts too low).
    pub bias: f64,
    pub r2: f64,
    pub dts: f64,
    pub dts_delta: f64,
    /// Share of true values inside the 95 % interval (models with intervals only).
    pub ci95_coverage: Option<f64>,
    /// Mean width of the 95 % interval.
    pub ci95_mean_width: Option<f64>,
}

/// Score predictions `p` against `y`; `traj` gives `(batch, t_h)` of each point for DTS and
/// `interval` the optional 95 % bounds.
pub fn score(y: &[f64], p: &[f64], traj: &[(usize, f64)], interval: Option<(&[f64], &[f64])>) -> Scores {
    let pts: Vec<(usize, f64, f64, f64)> = traj.iter().zip(y.iter().zip(p)).map(|(&(b, t), (&a, &c))| (b, t, a, c)).collect();
    let (d, dd) = dts(&pts, 24.0);
    Scores {
        n: y.len(),
        rmse: rmse(y, p),
        mae: mae(y, p),
        bias: y.iter().zip(p).map(|(a, b)| b - a).sum::<f64>() / y.len().max(1) as f64,
        r2: r2(y, p),
        dts: d,
        dts_delta: dd,
        ci95_coverage: interval.map(|(lo, hi)| coverage(y, lo, hi)),
        ci95_mean_width: interval.map(|(lo, hi)| lo.iter().zip(hi).map(|(a, b)| b - a).sum::<f64>() / lo.len().max(1) as f64),
    }
}

/// Score only the points whose `key` equals `k` (phase, cell line, scale, …).
pub fn score_where<K: PartialEq>(keys: &[K], k: &K, y: &[f64], p: &[f64], traj: &[(usize, f64)], interval: Option<(&[f64], &[f64])>) -> Option<Scores> {
    let idx: Vec<usize> = (0..y.len()).filter(|&i| keys[i] == *k).collect();
    if idx.is_empty() {
        return None;
    }
    let pick = |v: &[f64]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    let tr: Vec<(usize, f64)> = idx.iter().map(|&i| traj[i]).collect();
    let (lo, hi) = match interval {
        Some((l, h)) => (pick(l), pick(h)),
        None => (Vec::new(), Vec::new()),
    };
    Some(score(&pick(y), &pick(p), &tr, interval.map(|_| (lo.as_slice(), hi.as_slice()))))
}

/// Most draws the CLI accepts for the paired bootstrap (each draw is one f64 kept for the
/// quantiles; 2,000 is plenty for a 95 % interval).
pub const MAX_BOOTSTRAP_DRAWS: usize = 100_000;

/// A paired batch-bootstrap comparison of two models' RMSE on the same windows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PairedRmse {
    /// RMSE of model A minus RMSE of model B on all windows (negative: A is better).
    pub diff: f64,
    /// 2.5 % and 97.5 % quantiles of the difference over the bootstrap draws.
    pub lo95: f64,
    pub hi95: f64,
    /// Share of draws in which A's RMSE is lower than B's.
    pub share_a_better: f64,
    /// Groups (batches) resampled and draws made.
    pub n_groups: usize,
    pub n_draws: usize,
}

impl PairedRmse {
    /// `better`, `worse` or `not resolved` (the 95 % interval of A − B contains 0).
    pub fn verdict(&self) -> &'static str {
        if self.hi95 < 0.0 {
            "better"
        } else if self.lo95 > 0.0 {
            "worse"
        } else {
            "not resolved"
        }
    }
}

/// Paired bootstrap of RMSE(A) − RMSE(B) that resamples whole **groups** (batches) with
/// replacement, because windows of one batch are strongly correlated: resampling windows
/// would make the interval far too narrow. `group[i]` names the batch of window `i`; both
/// models are scored on the same resampled windows in each draw (paired), so the interval
/// is that of the difference, not of two independent RMSEs. Seeded: the same inputs give the
/// same interval. `None` when there are no windows or the lengths differ.
pub fn paired_rmse_bootstrap(y: &[f64], a: &[f64], b: &[f64], group: &[usize], n_draws: usize, seed: u64) -> Option<PairedRmse> {
    use rand::{Rng, SeedableRng};
    if y.is_empty() || a.len() != y.len() || b.len() != y.len() || group.len() != y.len() || n_draws == 0 {
        return None;
    }
    // Per group: squared errors of A and B, and the window count.
    let mut ids: Vec<usize> = group.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut sums = vec![(0.0f64, 0.0f64, 0usize); ids.len()];
    for i in 0..y.len() {
        let g = ids.binary_search(&group[i]).ok()?;
        sums[g].0 += (a[i] - y[i]).powi(2);
        sums[g].1 += (b[i] - y[i]).powi(2);
        sums[g].2 += 1;
    }
    let diff_of = |sa: f64, sb: f64, n: usize| (sa / n as f64).sqrt() - (sb / n as f64).sqrt();
    let total = sums.iter().fold((0.0, 0.0, 0), |t, s| (t.0 + s.0, t.1 + s.1, t.2 + s.2));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut draws = Vec::with_capacity(n_draws);
    for _ in 0..n_draws {
        let (mut sa, mut sb, mut n) = (0.0, 0.0, 0);
        for _ in 0..sums.len() {
            let s = sums[rng.random_range(0..sums.len())];
            sa += s.0;
            sb += s.1;
            n += s.2;
        }
        draws.push(diff_of(sa, sb, n));
    }
    draws.sort_by(f64::total_cmp);
    let q = |p: f64| draws[((p * (n_draws - 1) as f64).round() as usize).min(n_draws - 1)];
    Some(PairedRmse {
        diff: diff_of(total.0, total.1, total.2),
        lo95: q(0.025),
        hi95: q(0.975),
        share_a_better: draws.iter().filter(|d| **d < 0.0).count() as f64 / n_draws as f64,
        n_groups: sums.len(),
        n_draws,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_hand_computed_values() {
        let y = [1.0, 2.0, 3.0, 4.0];
        let p = [1.5, 2.0, 2.0, 4.0];
        // errors 0.5, 0, −1, 0 → MSE = 1.25/4, MAE = 1.5/4; SS_tot = 5 → R² = 1 − 1.25/5.
        assert!((rmse(&y, &p) - (1.25f64 / 4.0).sqrt()).abs() < 1e-12);
        assert!((mae(&y, &p) - 0.375).abs() < 1e-12);
        assert!((r2(&y, &p) - 0.75).abs() < 1e-12);
        assert!(r2(&[1.0, 1.0], &[1.0, 2.0]).is_nan());
        assert!((coverage(&y, &[0.0, 2.5, 0.0, 4.0], &[2.0, 3.0, 3.0, 4.0]) - 0.75).abs() < 1e-12);
        // Bias = mean(p − y) = (0.5 + 0 − 1 + 0) / 4.
        let traj = [(0, 0.0), (0, 6.0), (0, 12.0), (0, 18.0)];
        assert!((score(&y, &p, &traj, None).bias + 0.125).abs() < 1e-12);
    }

    #[test]
    fn dts_is_the_mean_cosine_over_24h_spans() {
        // One batch, points every 6 h for 30 h → spans starting at 0 h and 6 h (5 points each).
        let t = [0.0, 6.0, 12.0, 18.0, 24.0, 30.0];
        let yt = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let same: Vec<_> = t.iter().zip(yt).map(|(&t, y)| (0, t, y, 2.0 * y)).collect();
        let (d, dd) = dts(&same, 24.0);
        assert!((d - 1.0).abs() < 1e-12 && (dd - 1.0).abs() < 1e-12, "scaled copies are parallel");
        // Hand-computed: span [1..5] vs constant 1 → cos = 15 / (sqrt(55)·sqrt(5)).
        let flat: Vec<_> = t.iter().zip(yt).map(|(&t, y)| (0, t, y, 1.0)).collect();
        let c0 = 15.0 / (55f64.sqrt() * 5f64.sqrt());
        let c1 = 20.0 / (90f64.sqrt() * 5f64.sqrt());
        let (d, dd) = dts(&flat, 24.0);
        assert!((d - (c0 + c1) / 2.0).abs() < 1e-12, "{d}");
        assert!(dd.is_nan(), "flat prediction has zero increments");
        let opposite: Vec<_> = t.iter().zip(yt).map(|(&t, y)| (0, t, y, 10.0 - y)).collect();
        assert!((dts(&opposite, 24.0).1 + 1.0).abs() < 1e-12);
    }

    #[test]
    fn paired_bootstrap_resamples_batches_and_gives_a_verdict() {
        // 20 batches of 5 windows; A errs by 0.1 everywhere, B by 0.2: A is better in every draw.
        let group: Vec<usize> = (0..100).map(|i| i / 5).collect();
        let y: Vec<f64> = (0..100).map(|i| i as f64 * 0.01).collect();
        let a: Vec<f64> = y.iter().map(|v| v + 0.1).collect();
        let b: Vec<f64> = y.iter().map(|v| v - 0.2).collect();
        let r = paired_rmse_bootstrap(&y, &a, &b, &group, 500, 1).expect("some");
        assert!((r.diff + 0.1).abs() < 1e-12 && (r.lo95 + 0.1).abs() < 1e-9 && (r.hi95 + 0.1).abs() < 1e-9, "{r:?}");
        assert_eq!((r.share_a_better, r.verdict(), r.n_groups), (1.0, "better", 20));
        // Swapped: worse. Identical: a zero-width interval at 0, not resolved.
        assert_eq!(paired_rmse_bootstrap(&y, &b, &a, &group, 500, 1).expect("some").verdict(), "worse");
        let same = paired_rmse_bootstrap(&y, &a, &a, &group, 500, 1).expect("some");
        assert_eq!((same.diff, same.lo95, same.hi95, same.verdict()), (0.0, 0.0, 0.0, "not resolved"));
        // Deterministic given the seed.
        let mixed: Vec<f64> = y.iter().enumerate().map(|(i, v)| if i % 10 < 5 { v + 0.3 } else { *v }).collect();
        let r1 = paired_rmse_bootstrap(&y, &a, &mixed, &group, 300, 7).expect("some");
        assert_eq!(r1, paired_rmse_bootstrap(&y, &a, &mixed, &group, 300, 7).expect("some"));
        // Half the batches carry all of B's error (0.3; RMSE 0.212 overall, A 0.1): each draw
        // picks a different share of them, so the interval keeps that between-batch spread.
        assert!(r1.lo95 < r1.diff && r1.diff < r1.hi95, "{r1:?}");
        assert!(r1.hi95 - r1.lo95 > 0.05, "batch resampling keeps the between-batch spread: {r1:?}");
        // Bad input: None, not a panic.
        assert!(paired_rmse_bootstrap(&[], &[], &[], &[], 10, 1).is_none());
        assert!(paired_rmse_bootstrap(&y, &a[..10], &b, &group, 10, 1).is_none());
        assert!(paired_rmse_bootstrap(&y, &a, &b, &group, 0, 1).is_none());
    }
}
