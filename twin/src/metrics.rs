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
}
