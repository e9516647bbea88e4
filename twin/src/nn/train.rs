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
    /// Decoupled weight decay (AdamW, Loshchilov & Hutter 2019) per step, relative to the
    /// learning rate; 0 = plain Adam as in the seed.
    #[serde(default)]
    pub weight_decay: f64,
    /// Exponential moving average of the weights (Polyak averaging) with this decay per
    /// step; the averaged weights are the ones validated, kept and saved. 0 = off (seed).
    /// The decay is warmed up as `min(d, (1 + k) / (10 + k))` over the first steps `k`.
    #[serde(default)]
    pub ema_decay: f64,
    /// What early stopping (and the plateau schedule) watches on the validation batches.
    #[serde(default)]
    pub stop_on: StopOn,
    /// Standard deviation of Gaussian noise added to the z-scored inputs of every training
    /// batch (a fresh draw per step; validation and prediction see clean inputs). 0 = off.
    #[serde(default)]
    pub input_noise: f64,
    /// Share of the titer term in the training loss: `w·MSE(titer) + (1 − w)·MSE(GI)` on the
    /// z-scored targets; the joint validation loss that early stopping watches is weighted
    /// the same way. 0.5 = the plain mean of both, as the seed trains (and as models saved
    /// before this setting existed were trained).
    #[serde(default = "half")]
    pub titer_weight: f64,
}

fn half() -> f64 {
    0.5
}

/// The validation loss that early stopping watches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopOn {
    /// The MSE of both z-scored targets (titer and GI), weighted as the training loss
    /// (`titer_weight`; the plain mean by default, as the seed trains).
    #[default]
    Joint,
    /// The titer MSE alone (the target the seed's Table 5 ranks models on).
    Titer,
}

impl StopOn {
    pub fn parse(s: &str) -> Result<StopOn> {
        match s {
            "joint" => Ok(StopOn::Joint),
            "titer" => Ok(StopOn::Titer),
            _ => Err(TwinError::Invalid(format!("stop-on `{s}`: expected joint or titer"))),
        }
    }
}

/// The learning rate is never decayed below `lr / LR_FLOOR_DIVISOR`.
pub const LR_FLOOR_DIVISOR: f64 = 64.0;

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig { epochs: 200, batch_size: 64, lr: 1e-3, patience: 20, seed: 1, lr_plateau_patience: 0, weight_decay: 0.0, ema_decay: 0.0, stop_on: StopOn::Joint, input_noise: 0.0, titer_weight: 0.5 }
    }
}

impl TrainConfig {
    /// Every setting in its range (named as the field, with the CLI flag in brackets).
    pub fn check(&self) -> Result<()> {
        let bad = |what: &str, v: f64, range: &str| Err(TwinError::Invalid(format!("{what} {v} is outside {range}")));
        if self.batch_size == 0 || self.epochs == 0 {
            return Err(TwinError::Invalid(format!("batch_size {} and epochs {} must be positive", self.batch_size, self.epochs)));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("lr (--lr)", self.lr, "(0, ∞)");
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return bad("ema_decay (--ema-decay)", self.ema_decay, "[0, 1)");
        }
        if !(0.0..1.0).contains(&self.weight_decay) {
            return bad("weight_decay (--weight-decay)", self.weight_decay, "[0, 1)");
        }
        if !(0.0..=5.0).contains(&self.input_noise) {
            return bad("input_noise (--input-noise)", self.input_noise, "[0, 5] (z-units)");
        }
        if !(0.0..=1.0).contains(&self.titer_weight) {
            return bad("titer_weight (--titer-weight)", self.titer_weight, "[0, 1]");
        }
        if self.titer_weight == 0.0 && self.stop_on == StopOn::Joint {
            return Err(TwinError::Invalid("titer_weight (--titer-weight) 0 leaves nothing of the titer in the joint loss".into()));
        }
        Ok(())
    }

    /// The weights of the (titer, GI) squared errors in the loss, scaled so that the default
    /// 0.5 gives each weight 1 (the plain mean over both targets).
    fn target_weights(&self) -> [f64; 2] {
        [2.0 * self.titer_weight, 2.0 * (1.0 - self.titer_weight)]
    }
}

/// Progress of one epoch (passed to the training callback).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    /// Mean training loss over the training windows (z-scored targets, dropout on; the
    /// targets weighted by `titer_weight`).
    pub train_loss: f64,
    /// MSE on the validation windows (eval mode), both targets, weighted as the training loss
    /// (the plain mean at the default `titer_weight` 0.5).
    pub val_loss: f64,
    /// MSE of the z-scored titer alone on the validation windows.
    #[serde(default)]
    pub val_titer_loss: f64,
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
    /// The best value of the watched validation loss (`config.stop_on`).
    pub best_val_loss: f64,
    pub stopped_early: bool,
    pub history: Vec<EpochLog>,
    pub n_train_windows: usize,
    pub n_val_windows: usize,
    pub parameters: i64,
}

/// Copies of every variable of `vs` (weights and batch-norm statistics).
fn snapshot(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    tch::no_grad(|| vs.variables().into_iter().map(|(k, v)| (k, v.detach().copy())).collect())
}

/// Write `snap` back into `vs`'s variables.
fn restore(vs: &nn::VarStore, snap: &[(String, Tensor)]) {
    let vars = vs.variables();
    tch::no_grad(|| {
        for (k, saved) in snap {
            if let Some(v) = vars.get(k) {
                let mut v = v.shallow_clone();
                v.copy_(saved);
            }
        }
    });
}

/// Exponential moving average of a network's floating-point variables.
struct Ema {
    decay: f64,
    steps: u64,
    pairs: Vec<(Tensor, Tensor)>, // (live variable, average)
}

impl Ema {
    fn new(vs: &nn::VarStore, decay: f64) -> Ema {
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, v)| v.is_floating_point()).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let pairs = tch::no_grad(|| vars.into_iter().map(|(_, v)| { let avg = v.detach().copy(); (v, avg) }).collect());
        Ema { decay, steps: 0, pairs }
    }

    fn update(&mut self) {
        let k = self.steps as f64;
        let d = self.decay.min((1.0 + k) / (10.0 + k));
        self.steps += 1;
        tch::no_grad(|| {
            for (v, avg) in &mut self.pairs {
                let _ = avg.lerp_(v, 1.0 - d);
            }
        });
    }

    /// Swap the live and the averaged values (call twice to undo).
    fn swap(&mut self) {
        tch::no_grad(|| {
            for (v, avg) in &mut self.pairs {
                let live = v.detach().copy();
                v.copy_(avg);
                avg.copy_(&live);
            }
        });
    }
}

impl Model {
    /// Validation MSE of (titer, GI), z-scored, eval mode.
    fn loss_eval(&self, x: &Tensor, y: &Tensor) -> [f64; 2] {
        tch::no_grad(|| {
            let n = x.size()[0];
            let mut sums = [0.0; 2];
            let mut s = 0;
            while s < n {
                let len = (CHUNK as i64).min(n - s);
                let out = self.net.forward(&x.narrow(0, s, len), false, false);
                let yb = y.narrow(0, s, len);
                for (k, sum) in sums.iter_mut().enumerate() {
                    *sum += out.select(1, k as i64).mse_loss(&yb.select(1, k as i64), tch::Reduction::Sum).double_value(&[]);
                }
                s += len;
            }
            sums.map(|v| v / n.max(1) as f64)
        })
    }

    /// Train with Adam (AdamW when `weight_decay > 0`) and MSE on z-scored targets; early
    /// stopping on `val` (the loss `stop_on` names) with the best weights restored — the
    /// weight average when `ema_decay > 0`. The target scaler is fitted here on `train`'s
    /// targets.
    pub fn train(&mut self, train: &WindowSet, val: &WindowSet, cfg: &TrainConfig, on_epoch: &mut dyn FnMut(&EpochLog)) -> Result<TrainSummary> {
        self.check_windows(train)?;
        self.check_windows(val)?;
        if train.is_empty() {
            return Err(TwinError::Data("no training windows".into()));
        }
        cfg.check()?;
        let rows: Vec<&[f32]> = train.y.chunks(2).collect();
        let rows64: Vec<Vec<f64>> = rows.iter().map(|r| vec![self.titer_to_target(f64::from(r[0])), f64::from(r[1])]).collect();
        let refs: Vec<&[f64]> = rows64.iter().map(Vec::as_slice).collect();
        self.meta.target_scaler = Scaler::fit_rows(&refs, 2);
        self.set_persistence()?;
        let device = self.device();
        let all: Vec<usize> = (0..train.len()).collect();
        let xtr = x_tensor(train, &all, device);
        let ytr = self.y_tensor(train)?;
        let vidx: Vec<usize> = (0..val.len()).collect();
        let (xva, yva) = (x_tensor(val, &vidx, device), self.y_tensor(val)?);
        let w = cfg.target_weights();
        // The seed's loss (the plain mean) stays exactly that at the default weight.
        let weights = (w != [1.0, 1.0]).then(|| Tensor::from_slice(&[w[0] as f32, w[1] as f32]).to_device(device));
        let joint = |l: [f64; 2]| 0.5 * (w[0] * l[0] + w[1] * l[1]);
        let mut opt = if cfg.weight_decay > 0.0 {
            nn::AdamW { wd: cfg.weight_decay, ..nn::AdamW::default() }.build(&self.vs, cfg.lr)?
        } else {
            nn::Adam::default().build(&self.vs, cfg.lr)?
        };
        let mut ema = (cfg.ema_decay > 0.0).then(|| Ema::new(&self.vs, cfg.ema_decay));
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
                let out = self.net.forward_train(&xb, cfg.input_noise);
                let loss = match &weights {
                    None => out.mse_loss(&yb, tch::Reduction::Mean),
                    Some(wt) => ((out - yb).square() * wt).mean(tch::Kind::Float),
                };
                opt.backward_step(&loss);
                if let Some(e) = ema.as_mut() {
                    e.update();
                }
                sum += loss.double_value(&[]) * chunk.len() as f64;
                n += chunk.len();
            }
            let train_loss = sum / n.max(1) as f64;
            // Validate (and keep) the averaged weights when averaging.
            if let Some(e) = ema.as_mut() {
                e.swap();
            }
            let (val_loss, val_titer_loss) = if val.is_empty() {
                (train_loss, train_loss)
            } else {
                let l = self.loss_eval(&xva, &yva);
                (joint(l), l[0])
            };
            let watched = match cfg.stop_on {
                StopOn::Joint => val_loss,
                StopOn::Titer => val_titer_loss,
            };
            let improved = best.as_ref().is_none_or(|b| watched < b.1);
            if improved {
                best = Some((epoch, watched, snapshot(&self.vs)));
                since_best = 0;
                since_decay = 0;
            } else {
                since_best += 1;
                since_decay += 1;
            }
            if let Some(e) = ema.as_mut() {
                e.swap();
            }
            let log = EpochLog { epoch, train_loss, val_loss, val_titer_loss, best_epoch: best.as_ref().map_or(epoch, |b| b.0), lr };
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
        if let Some((_, _, snap)) = &best {
            restore(&self.vs, snap);
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
