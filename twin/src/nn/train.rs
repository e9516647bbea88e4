//! Training: Adam (seed Section 3.3) with MSE on z-scored targets, an optional plateau
//! schedule, and early stopping on the validation batches with the best weights restored.

use super::{Model, x_tensor, CHUNK};
use crate::error::{Result, TwinError};
use crate::prep::{Scaler, WindowSet};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tch::nn::{self, OptimizerConfig};
use tch::Tensor;

/// Optimiser and stopping settings (seed Section 3.3 as defaults).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub patience: usize,
    pub seed: u64,
    /// Halve the learning rate after this many epochs without a better validation loss
    /// (0 = constant learning rate). The seed gives only the *initial* rate (1e-3).
    #[serde(default)]
    pub lr_plateau_patience: usize,
}

/// The learning rate is never decayed below `lr / LR_FLOOR_DIVISOR`.
pub const LR_FLOOR_DIVISOR: f64 = 64.0;

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig { epochs: 200, batch_size: 64, lr: 1e-3, patience: 20, seed: 1, lr_plateau_patience: 0 }
    }
}

/// Progress of one epoch (passed to the training callback).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    /// Mean MSE over the training windows (z-scored targets, dropout on).
    pub train_loss: f64,
    /// MSE on the validation windows (eval mode).
    pub val_loss: f64,
    pub best_epoch: usize,
    /// Learning rate used in this epoch.
    #[serde(default)]
    pub lr: f64,
}

/// What training did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainSummary {
    pub config: TrainConfig,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub best_val_loss: f64,
    pub stopped_early: bool,
    pub history: Vec<EpochLog>,
    pub n_train_windows: usize,
    pub n_val_windows: usize,
    pub parameters: i64,
}

impl Model {
    fn loss_eval(&self, x: &Tensor, y: &Tensor) -> f64 {
        tch::no_grad(|| {
            let n = x.size()[0];
            let mut total = 0.0;
            let mut s = 0;
            while s < n {
                let len = (CHUNK as i64).min(n - s);
                let out = self.net.forward(&x.narrow(0, s, len), false, false);
                total += out.mse_loss(&y.narrow(0, s, len), tch::Reduction::Sum).double_value(&[]);
                s += len;
            }
            total / (2 * n).max(1) as f64
        })
    }

    /// Train with Adam and MSE on z-scored targets; early stopping on `val` with the best
    /// weights restored. The target scaler is fitted here on `train`'s targets.
    pub fn train(&mut self, train: &WindowSet, val: &WindowSet, cfg: &TrainConfig, on_epoch: &mut dyn FnMut(&EpochLog)) -> Result<TrainSummary> {
        self.check_windows(train)?;
        self.check_windows(val)?;
        if train.is_empty() {
            return Err(TwinError::Data("no training windows".into()));
        }
        if cfg.batch_size == 0 || cfg.epochs == 0 || cfg.lr <= 0.0 {
            return Err(TwinError::Invalid(format!("training settings {cfg:?}")));
        }
        let rows: Vec<&[f32]> = train.y.chunks(2).collect();
        let rows64: Vec<Vec<f64>> = rows.iter().map(|r| r.iter().map(|&v| f64::from(v)).collect()).collect();
        let refs: Vec<&[f64]> = rows64.iter().map(Vec::as_slice).collect();
        self.meta.target_scaler = Scaler::fit_rows(&refs, 2);
        self.set_persistence()?;
        let device = self.device();
        let all: Vec<usize> = (0..train.len()).collect();
        let xtr = x_tensor(train, &all, device);
        let ytr = self.y_tensor(train)?;
        let vidx: Vec<usize> = (0..val.len()).collect();
        let (xva, yva) = (x_tensor(val, &vidx, device), self.y_tensor(val)?);
        let mut opt = nn::Adam::default().build(&self.vs, cfg.lr)?;
        tch::manual_seed(cfg.seed as i64);
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let mut best: Option<(usize, f64, Vec<(String, Tensor)>)> = None;
        let mut history = Vec::new();
        let mut since_best = 0;
        let mut stopped_early = false;
        let mut order = all.clone();
        let mut lr = cfg.lr;
        let mut since_decay = 0;
        for epoch in 1..=cfg.epochs {
            order.shuffle(&mut rng);
            let (mut sum, mut n) = (0.0, 0usize);
            for chunk in order.chunks(cfg.batch_size) {
                let idx = Tensor::from_slice(&chunk.iter().map(|&i| i as i64).collect::<Vec<_>>()).to_device(device);
                let xb = xtr.index_select(0, &idx);
                let yb = ytr.index_select(0, &idx);
                let out = self.net.forward(&xb, true, true);
                let loss = out.mse_loss(&yb, tch::Reduction::Mean);
                opt.backward_step(&loss);
                sum += loss.double_value(&[]) * chunk.len() as f64;
                n += chunk.len();
            }
            let train_loss = sum / n.max(1) as f64;
            let val_loss = if val.is_empty() { train_loss } else { self.loss_eval(&xva, &yva) };
            let improved = best.as_ref().is_none_or(|b| val_loss < b.1);
            if improved {
                let snap = tch::no_grad(|| self.vs.variables().into_iter().map(|(k, v)| (k, v.detach().copy())).collect());
                best = Some((epoch, val_loss, snap));
                since_best = 0;
                since_decay = 0;
            } else {
                since_best += 1;
                since_decay += 1;
            }
            let log = EpochLog { epoch, train_loss, val_loss, best_epoch: best.as_ref().map_or(epoch, |b| b.0), lr };
            if cfg.lr_plateau_patience > 0 && since_decay >= cfg.lr_plateau_patience && lr > cfg.lr / LR_FLOOR_DIVISOR {
                lr = (lr * 0.5).max(cfg.lr / LR_FLOOR_DIVISOR);
                opt.set_lr(lr);
                since_decay = 0;
            }
            on_epoch(&log);
            history.push(log);
            if since_best >= cfg.patience {
                stopped_early = true;
                break;
            }
        }
        let (best_epoch, best_val_loss) = best.as_ref().map_or((0, f64::NAN), |b| (b.0, b.1));
        if let Some((_, _, snap)) = best {
            let vars = self.vs.variables();
            tch::no_grad(|| {
                for (k, saved) in &snap {
                    if let Some(v) = vars.get(k) {
                        let mut v = v.shallow_clone();
                        v.copy_(saved);
                    }
                }
            });
        }
        let summary = TrainSummary {
            config: cfg.clone(),
            epochs_run: history.len(),
            best_epoch,
            best_val_loss,
            stopped_early,
            history,
            n_train_windows: train.len(),
            n_val_windows: val.len(),
            parameters: self.parameters(),
        };
        self.meta.train = Some(summary.clone());
        Ok(summary)
    }
}
