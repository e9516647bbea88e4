//! Bayesian hyper-parameter optimisation (seed Section 3.3, Table 3) with egobox's EGO
//! (Gaussian-process surrogate, log expected improvement), minimising the validation MSE of
//! the CNN-LSTM.
//!
//! Search space (seed Table 3, plus kernel sets and batch size): each dimension is a
//! continuous `u ∈ [0, 1]` that EGO explores and [`decode`] maps to a level:
//!
//! | name | levels |
//! |---|---|
//! | filters | 32, 64, 128 |
//! | kernels | {3,5,7}, {3,5}, {5,7,9} |
//! | lstm1 | 64, 128, 256 |
//! | lstm2 | 32, 64, 128 |
//! | dropout | 0.1 – 0.5 (continuous) |
//! | learning rate | 1e-4 – 1e-2 (log-uniform) |
//! | batch size | 32, 64, 128 |
//!
//! The budget counts trainings: `n_doe = max(2, budget / 3)` initial Latin-hypercube points,
//! the rest EGO iterations.

use crate::error::{Result, TwinError};
use crate::nn::{Arch, Model, ModelConfig, TrainConfig, new_meta};
use crate::pipeline::Prepared;
use ndarray::{Array2, ArrayView2};
use std::cell::RefCell;

/// Dimension names of the search space, in order.
pub const DIMS: [&str; 7] = ["filters", "kernels", "lstm1", "lstm2", "dropout", "lr", "batch_size"];

fn level<T: Copy>(levels: &[T], u: f64) -> T {
    let i = ((u.clamp(0.0, 1.0) * levels.len() as f64) as usize).min(levels.len() - 1);
    levels[i]
}

/// Map a point of `[0, 1]^7` to a model and training configuration.
pub fn decode(u: &[f64], n_features: usize, steps: usize, base: &TrainConfig) -> (ModelConfig, TrainConfig) {
    let g = |i: usize| u.get(i).copied().unwrap_or(0.5);
    let kernels: [&[usize]; 3] = [&[3, 5, 7], &[3, 5], &[5, 7, 9]];
    let m = ModelConfig {
        filters: level(&[32, 64, 128], g(0)),
        kernels: level(&kernels, g(1)).to_vec(),
        lstm1: level(&[64, 128, 256], g(2)),
        lstm2: level(&[32, 64, 128], g(3)),
        dropout: 0.1 + 0.4 * g(4).clamp(0.0, 1.0),
        ..ModelConfig::seed_default(Arch::CnnLstm, n_features, steps)
    };
    let t = TrainConfig { lr: 10f64.powf(-4.0 + 2.0 * g(5).clamp(0.0, 1.0)), batch_size: level(&[32, 64, 128], g(6)), ..base.clone() };
    (m, t)
}

/// One training of the search.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Trial {
    pub index: usize,
    pub u: Vec<f64>,
    pub model: ModelConfig,
    pub train: TrainConfig,
    pub val_loss: f64,
    pub best_epoch: usize,
}

/// The search result: the best trial and every trial in order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TuneResult {
    pub best: Trial,
    pub trials: Vec<Trial>,
    pub n_doe: usize,
}

/// Run EGO for `budget` trainings of at most `base.epochs` epochs each on `prep`'s training
/// and validation windows. `on_trial` sees each trial as it finishes.
pub fn tune(prep: &Prepared, budget: usize, base: &TrainConfig, device: tch::Device, on_trial: &mut dyn FnMut(&Trial)) -> Result<TuneResult> {
    if budget < 3 {
        return Err(TwinError::Invalid(format!("tuning budget {budget}: at least 3 trainings")));
    }
    let nf = prep.features.len();
    let steps = prep.window.steps;
    let trials: RefCell<Vec<Trial>> = RefCell::new(Vec::new());
    let failure: RefCell<Option<TwinError>> = RefCell::new(None);
    let cb = RefCell::new(on_trial);
    let eval_one = |u: &[f64]| -> Result<f64> {
        let (mc, tc) = decode(u, nf, steps, base);
        let meta = new_meta(&prep.features, &prep.window, &prep.scaler, "tune");
        let mut m = Model::new(mc.clone(), meta, base.seed, device)?;
        let s = m.train(&prep.train, &prep.val, &tc, &mut |_| {})?;
        let t = Trial { index: trials.borrow().len(), u: u.to_vec(), model: mc, train: tc, val_loss: s.best_val_loss, best_epoch: s.best_epoch };
        (cb.borrow_mut())(&t);
        trials.borrow_mut().push(t);
        Ok(s.best_val_loss)
    };
    let f = |x: &ArrayView2<f64>| -> Array2<f64> {
        let mut y = Array2::zeros((x.nrows(), 1));
        for (i, row) in x.rows().into_iter().enumerate() {
            let u: Vec<f64> = row.to_vec();
            y[[i, 0]] = match eval_one(&u) {
                Ok(v) if v.is_finite() => v,
                Ok(_) => 1e3,
                Err(e) => {
                    failure.borrow_mut().get_or_insert(e);
                    1e3
                }
            };
        }
        y
    };
    let n_doe = (budget / 3).max(2);
    let xlimits = Array2::from_shape_fn((DIMS.len(), 2), |(_, j)| if j == 0 { 0.0 } else { 1.0 });
    let egor = egobox_ego::EgorBuilder::optimize(f)
        .configure(|c| c.n_doe(n_doe).max_iters(budget - n_doe).seed(base.seed))
        .min_within(&xlimits)
        .map_err(|e| TwinError::Invalid(format!("egobox: {e}")))?;
    let run = egor.run();
    if let Some(e) = failure.into_inner() {
        return Err(e);
    }
    run.map_err(|e| TwinError::Invalid(format!("egobox: {e}")))?;
    let trials = trials.into_inner();
    let best = trials.iter().min_by(|a, b| a.val_loss.total_cmp(&b.val_loss)).cloned().ok_or_else(|| TwinError::Data("no trial ran".into()))?;
    Ok(TuneResult { best, trials, n_doe })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_covers_the_table_3_levels() {
        let base = TrainConfig::default();
        let (m, t) = decode(&[0.0; 7], 9, 96, &base);
        assert_eq!((m.filters, m.lstm1, m.lstm2, t.batch_size), (32, 64, 32, 32));
        assert!((m.dropout - 0.1).abs() < 1e-12 && (t.lr - 1e-4).abs() < 1e-12);
        let (m, t) = decode(&[1.0; 7], 9, 96, &base);
        assert_eq!((m.filters, m.lstm1, m.lstm2, t.batch_size, m.kernels.clone()), (128, 256, 128, 128, vec![5, 7, 9]));
        assert!((m.dropout - 0.5).abs() < 1e-12 && (t.lr - 1e-2).abs() < 1e-12);
        let (m, _) = decode(&[0.5; 7], 9, 96, &base);
        assert_eq!((m.filters, m.lstm1, m.lstm2), (64, 128, 64));
    }
}
