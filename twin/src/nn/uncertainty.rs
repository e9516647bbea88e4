//! MC-dropout uncertainty: stochastic forward passes, their quantiles, and the
//! split-conformal scale that calibrates the 95 % intervals on the validation batches.

use super::{Model, Net, x_tensor, to_vec, CHUNK};
use crate::error::{Result, TwinError};
use crate::prep::WindowSet;

impl Model {
    /// MC dropout: `passes` stochastic forward passes (dropout on, batch norm in eval mode,
    /// `tch::manual_seed(seed)` first). Per window and target: mean and the 2.5 %/97.5 %
    /// quantiles of the passes, raw units.
    pub fn predict_mc(&self, w: &WindowSet, passes: usize, seed: u64) -> Result<McPrediction> {
        self.check_windows(w)?;
        if passes < 2 {
            return Err(TwinError::Invalid("MC dropout needs at least 2 passes".into()));
        }
        tch::manual_seed(seed as i64);
        let mut res = McPrediction { mean: Vec::new(), lo: Vec::new(), hi: Vec::new(), std: Vec::new() };
        let idx: Vec<usize> = (0..w.len()).collect();
        for chunk in idx.chunks(CHUNK / 4) {
            let x = x_tensor(w, chunk, self.device());
            let samples: Vec<Vec<[f64; 2]>> = tch::no_grad(|| -> Result<Vec<Vec<[f64; 2]>>> {
                let h = self.net.prefix(&x, false);
                let skip = self.net.skip(&x);
                (0..passes).map(|_| Ok(self.unscale(&to_vec(&Net::with_skip(self.net.head(&h, true), skip.as_ref()))?))).collect()
            })?;
            for i in 0..chunk.len() {
                let mut m = [0.0; 2];
                let mut lo = [0.0; 2];
                let mut hi = [0.0; 2];
                let mut sd = [0.0; 2];
                for k in 0..2 {
                    let mut v: Vec<f64> = samples.iter().map(|s| s[i][k]).collect();
                    let mean = v.iter().sum::<f64>() / v.len() as f64;
                    sd[k] = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
                    v.sort_by(f64::total_cmp);
                    m[k] = mean;
                    lo[k] = quantile(&v, 0.025);
                    hi[k] = quantile(&v, 0.975);
                }
                res.mean.push(m);
                res.lo.push(lo);
                res.hi.push(hi);
                res.std.push(sd);
            }
        }
        Ok(res)
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len().saturating_sub(1)) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// MC-dropout summary per window: `[titer, GI]` each.
#[derive(Debug, Clone, PartialEq)]
pub struct McPrediction {
    pub mean: Vec<[f64; 2]>,
    pub lo: Vec<[f64; 2]>,
    pub hi: Vec<[f64; 2]>,
    pub std: Vec<[f64; 2]>,
}

impl McPrediction {
    /// The same prediction with each interval's two half-widths (mean − lo, hi − mean)
    /// multiplied by `scale[k]` for target k.
    pub fn scaled(&self, scale: [f64; 2]) -> McPrediction {
        let mut out = self.clone();
        for i in 0..self.mean.len() {
            for k in 0..2 {
                let m = self.mean[i][k];
                out.lo[i][k] = m - scale[k] * (m - self.lo[i][k]);
                out.hi[i][k] = m + scale[k] * (self.hi[i][k] - m);
            }
        }
        out
    }
}

/// Split-conformal scale of MC-dropout intervals: for target k, the smallest s such that
/// `[mean − s·(mean − lo), mean + s·(hi − mean)]` covers the observed value, per window;
/// returned is the ⌈(n + 1)·level⌉-th smallest of these (the conformal quantile), so that
/// on exchangeable new data the scaled interval covers with probability ≥ `level`. Windows
/// of one batch are correlated, so fit on held-out *batches* (the validation split) and check
/// the coverage on the test batches. Zero-width intervals count with a width floor of 1e-9.
pub fn fit_interval_scale(y: &[[f64; 2]], mc: &McPrediction, level: f64) -> Result<[f64; 2]> {
    let n = y.len();
    if n == 0 || mc.mean.len() != n || !(0.0..1.0).contains(&level) {
        return Err(TwinError::Invalid(format!("interval calibration needs matching, non-empty sets (got {n} targets, {} predictions) and 0 < level < 1", mc.mean.len())));
    }
    let mut out = [1.0; 2];
    for (k, o) in out.iter_mut().enumerate() {
        let mut scores: Vec<f64> = (0..n)
            .map(|i| {
                let (m, v) = (mc.mean[i][k], y[i][k]);
                if v >= m { (v - m) / (mc.hi[i][k] - m).max(1e-9) } else { (m - v) / (m - mc.lo[i][k]).max(1e-9) }
            })
            .collect();
        scores.sort_by(f64::total_cmp);
        let rank = ((n as f64 + 1.0) * level).ceil() as usize;
        *o = scores[rank.clamp(1, n) - 1];
    }
    Ok(out)
}

#[cfg(test)]
mod interval_tests {
    use super::*;

    fn mc(mean: &[f64], half: f64) -> McPrediction {
        McPrediction {
            mean: mean.iter().map(|&m| [m, m]).collect(),
            lo: mean.iter().map(|&m| [m - half, m - 2.0 * half]).collect(),
            hi: mean.iter().map(|&m| [m + half, m + 2.0 * half]).collect(),
            std: vec![[half, half]; mean.len()],
        }
    }

    #[test]
    fn conformal_scale_at_a_hand_computed_point() {
        // Means 0, half-widths 1 (titer) and 2 (GI); residuals 0.5, 1, 1.5, …, 9.5 (19 windows).
        let n = 19;
        let p = mc(&vec![0.0; n], 1.0);
        let y: Vec<[f64; 2]> = (1..=n).map(|i| [0.5 * i as f64, -0.5 * i as f64]).collect();
        let s = fit_interval_scale(&y, &p, 0.95).expect("fits");
        // ⌈20 · 0.95⌉ = 19th smallest score: 9.5 / 1 and 9.5 / 2.
        assert!((s[0] - 9.5).abs() < 1e-12 && (s[1] - 4.75).abs() < 1e-12, "{s:?}");
        // At level 0.5: ⌈10⌉ = 10th smallest: 5.0 / 1.
        let s = fit_interval_scale(&y, &p, 0.5).expect("fits");
        assert!((s[0] - 5.0).abs() < 1e-12, "{s:?}");
    }

    #[test]
    fn scaled_intervals_cover_the_calibration_set_at_the_level() {
        // Intervals that are 3x too narrow for the residuals get widened to ≥ 95 % coverage.
        let n = 400;
        let means: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
        let p = mc(&means, 0.1);
        let y: Vec<[f64; 2]> = (0..n).map(|i| {
            let r = 0.3 * ((i as f64 * 1.713).sin() * 1.9).clamp(-1.9, 1.9);
            [means[i] + r, means[i] - r]
        }).collect();
        let raw = crate::metrics::coverage(&y.iter().map(|v| v[0]).collect::<Vec<_>>(), &p.lo.iter().map(|v| v[0]).collect::<Vec<_>>(), &p.hi.iter().map(|v| v[0]).collect::<Vec<_>>());
        assert!(raw < 0.5, "raw coverage {raw}");
        let s = fit_interval_scale(&y, &p, 0.95).expect("fits");
        let c = p.scaled(s);
        let cov = crate::metrics::coverage(&y.iter().map(|v| v[0]).collect::<Vec<_>>(), &c.lo.iter().map(|v| v[0]).collect::<Vec<_>>(), &c.hi.iter().map(|v| v[0]).collect::<Vec<_>>());
        assert!((0.95..0.97).contains(&cov), "calibrated coverage {cov}");
        // Scaling keeps the mean and is the identity at 1.
        assert_eq!(p.scaled([1.0, 1.0]), p);
        assert!(fit_interval_scale(&[], &p, 0.95).is_err());
    }
}
