//! Classical baselines of the seed's Table 5 (MLR, random forest, SVR) with smartcore, on the
//! same windows and splits as the networks.
//!
//! These models take a fixed-length vector, so each window is summarised per feature by its
//! last value, its mean and its change over the window (last − first): 3 × features inputs,
//! z-scored like the network inputs. Targets are z-scored with training statistics. One model
//! per target. Cost caps (documented, reported in `baselines.json`): the random forest (50
//! trees, depth ≤ 16, `m` = √inputs) trains on every training window by default (it used to
//! be capped at 6,000; on 500 batches the cap cost it 0.075 → 0.065 g/L, see BENCHMARKS.md,
//! and all 18,550 windows fit in about 2 s) and the
//! SVR (RBF, γ = 1/inputs, C = 10, ε = 0.05) on at most [`SVR_MAX_TRAIN`] windows by default
//! ([`BaselineCaps`] changes both; the CLI's `--rf-max-train` / `--svr-max-train`), drawn at
//! random (seeded) from the training windows; MLR uses all of them.

use crate::error::{Result, TwinError};
use crate::prep::{Scaler, WindowSet};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use smartcore::ensemble::random_forest_regressor::{RandomForestRegressor, RandomForestRegressorParameters};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::linear_regression::{LinearRegression, LinearRegressionParameters};
use smartcore::svm::Kernels;
use smartcore::svm::svr::{SVR, SVRParameters};

/// Most training windows the random forest sees by default: all of them.
pub const RF_MAX_TRAIN: usize = usize::MAX;
/// Most training windows the SVR sees by default (its SMO solver is quadratic in the sample count).
pub const SVR_MAX_TRAIN: usize = 2000;

/// How many training windows the random forest and the SVR may use (drawn at random, seeded,
/// when there are more). `usize::MAX` means all of them. MLR always uses every window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BaselineCaps {
    pub rf_max_train: usize,
    pub svr_max_train: usize,
}

impl Default for BaselineCaps {
    fn default() -> Self {
        BaselineCaps { rf_max_train: RF_MAX_TRAIN, svr_max_train: SVR_MAX_TRAIN }
    }
}

impl BaselineCaps {
    /// Caps from command-line values, where 0 means "no cap" (every training window).
    pub fn from_flags(rf_max_train: usize, svr_max_train: usize) -> Self {
        let cap = |n: usize| if n == 0 { usize::MAX } else { n };
        BaselineCaps { rf_max_train: cap(rf_max_train), svr_max_train: cap(svr_max_train) }
    }

    /// The cap of `kind` (`usize::MAX` for MLR).
    pub fn of(&self, kind: Baseline) -> usize {
        match kind {
            Baseline::Mlr => usize::MAX,
            Baseline::RandomForest => self.rf_max_train,
            Baseline::Svr => self.svr_max_train,
        }
    }

    /// Training windows `kind` actually uses out of `n_train`.
    pub fn used(&self, kind: Baseline, n_train: usize) -> usize {
        n_train.min(self.of(kind))
    }
}

/// The classical baselines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Baseline {
    Mlr,
    RandomForest,
    Svr,
}

impl Baseline {
    pub const ALL: [Baseline; 3] = [Baseline::Mlr, Baseline::RandomForest, Baseline::Svr];
    pub fn name(self) -> &'static str {
        match self {
            Baseline::Mlr => "Multiple Linear Regression",
            Baseline::RandomForest => "Random Forest",
            Baseline::Svr => "Support Vector Regression",
        }
    }
    pub fn key(self) -> &'static str {
        match self {
            Baseline::Mlr => "mlr",
            Baseline::RandomForest => "random_forest",
            Baseline::Svr => "svr",
        }
    }
}

/// Last value, mean and change of every feature of every window (`3 × n_features` columns).
pub fn summary_features(w: &WindowSet) -> Vec<Vec<f64>> {
    let (s, nf) = (w.steps, w.n_features);
    (0..w.len())
        .map(|i| {
            let x = &w.x[i * s * nf..(i + 1) * s * nf];
            let mut out = Vec::with_capacity(3 * nf);
            for c in 0..nf {
                let first = f64::from(x[c]);
                let last = f64::from(x[(s - 1) * nf + c]);
                let mean = (0..s).map(|t| f64::from(x[t * nf + c])).sum::<f64>() / s as f64;
                out.extend([last, mean, last - first]);
            }
            out
        })
        .collect()
}

fn err(model: &'static str) -> impl Fn(smartcore::error::Failed) -> TwinError {
    move |e| TwinError::Baseline { model, message: e.to_string() }
}

/// Fit `kind` on `train` and predict `test`: `n_test × [titer g/L, GI %]`.
pub fn fit_predict(kind: Baseline, train: &WindowSet, test: &WindowSet, seed: u64, caps: &BaselineCaps) -> Result<Vec<[f64; 2]>> {
    if train.is_empty() {
        return Err(TwinError::Data("no training windows".into()));
    }
    let mut xtr = summary_features(train);
    let xte = summary_features(test);
    let ytr_raw: Vec<[f64; 2]> = (0..train.len()).map(|i| [f64::from(train.y[2 * i]), f64::from(train.y[2 * i + 1])]).collect();
    let rows: Vec<&[f64]> = ytr_raw.iter().map(|r| r.as_slice()).collect();
    let ys = Scaler::fit_rows(&rows, 2);
    let mut ytr: Vec<[f64; 2]> = ytr_raw.iter().map(|r| [ys.z(0, r[0]), ys.z(1, r[1])]).collect();
    let cap = caps.of(kind);
    if xtr.len() > cap {
        let mut idx: Vec<usize> = (0..xtr.len()).collect();
        idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        idx.truncate(cap);
        idx.sort_unstable();
        xtr = idx.iter().map(|&i| xtr[i].clone()).collect();
        ytr = idx.iter().map(|&i| ytr[i]).collect();
    }
    let name = kind.key();
    let xm = DenseMatrix::from_2d_vec(&xtr).map_err(err(name))?;
    let xt = if xte.is_empty() { None } else { Some(DenseMatrix::from_2d_vec(&xte).map_err(err(name))?) };
    let mut out = vec![[0.0; 2]; xte.len()];
    let Some(xt) = xt else { return Ok(out) };
    let ninputs = xtr.first().map_or(1, Vec::len);
    for k in 0..2 {
        let y: Vec<f64> = ytr.iter().map(|r| r[k]).collect();
        let p: Vec<f64> = match kind {
            Baseline::Mlr => {
                let m = LinearRegression::fit(&xm, &y, LinearRegressionParameters::default()).map_err(err(name))?;
                m.predict(&xt).map_err(err(name))?
            }
            Baseline::RandomForest => {
                let params = RandomForestRegressorParameters::default()
                    .with_n_trees(50)
                    .with_max_depth(16)
                    .with_m(((ninputs as f64).sqrt().ceil() as usize).max(1))
                    .with_seed(seed);
                let m = RandomForestRegressor::fit(&xm, &y, params).map_err(err(name))?;
                m.predict(&xt).map_err(err(name))?
            }
            Baseline::Svr => {
                let params = SVRParameters::default().with_eps(0.05).with_c(10.0).with_kernel(Kernels::rbf().with_gamma(1.0 / ninputs as f64));
                let m = SVR::fit(&xm, &y, &params).map_err(err(name))?;
                m.predict(&xt).map_err(err(name))?
            }
        };
        for (o, v) in out.iter_mut().zip(p) {
            o[k] = ys.unz(k, v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_from_flags_treat_zero_as_every_window() {
        let c = BaselineCaps::from_flags(0, 500);
        assert_eq!(c.of(Baseline::RandomForest), usize::MAX);
        assert_eq!(c.used(Baseline::RandomForest, 12_345), 12_345);
        assert_eq!(c.used(Baseline::Svr, 12_345), 500);
        assert_eq!(c.used(Baseline::Svr, 300), 300);
        assert_eq!(c.used(Baseline::Mlr, 12_345), 12_345);
        assert_eq!(BaselineCaps::default(), BaselineCaps { rf_max_train: RF_MAX_TRAIN, svr_max_train: SVR_MAX_TRAIN });
    }
}
