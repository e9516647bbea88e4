//! The networks (tch): the CNN-LSTM of the seed's Table 2 and the FFNN, LSTM-only and
//! CNN-only baselines; training with early stopping; MC dropout; integrated gradients;
//! safetensors weights with a JSON sidecar.
//!
//! **CNN-LSTM** (`Arch::CnnLstm`, defaults = seed Table 2/3):
//! ```text
//! x (B, 96, F) ─┬─ Conv1D k=3, 64 ─ BN ─ ReLU ─┐
//!               ├─ Conv1D k=5, 64 ─ BN ─ ReLU ─┼─ concat (B, 96, 192) ─ LSTM 128 ─ dropout 0.3
//!               └─ Conv1D k=7, 64 ─ BN ─ ReLU ─┘
//!   ─ LSTM 64 (last step) ─ dropout 0.3 ─ Dense 32 ReLU ─ Dense 2 (titer, GI; z-scored)
//! ```
//! The three branches run in parallel on the input with "same" padding so their outputs
//! align in time (the seed's Table 2 lists 94/90/84 steps, i.e. unpadded kernels; parallel
//! branches need equal lengths). Two single-layer LSTMs with functional dropout between them
//! (not `num_layers = 2`, whose dropout is fixed at construction), so MC dropout can switch
//! dropout on at inference with batch norm in eval mode.
//!
//! Optional (`ModelConfig::highway`, `--highway`, any architecture): a linear layer from the
//! last time step's inputs to the two outputs, added to the output above. Optional
//! (`ModelConfig::persistence`, `--persistence`): a fixed skip that adds the window's last held
//! titer assay to the titer output, so the network predicts the titer made since the assay.
//!
//! Everything before the first dropout is deterministic (and so are both skips); [`Model::predict_mc`] computes it
//! once per window and samples only the rest.

use crate::error::{Result, TwinError};
use crate::prep::{Scaler, WindowConfig, WindowSet};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use tch::nn::{self, OptimizerConfig, RNN};
use tch::{Device, Kind, Tensor};

/// Network families of the seed's Table 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    CnnLstm,
    Ffnn,
    Lstm,
    Cnn,
}

impl Arch {
    pub const ALL: [Arch; 4] = [Arch::Ffnn, Arch::Lstm, Arch::Cnn, Arch::CnnLstm];
    pub fn name(self) -> &'static str {
        match self {
            Arch::CnnLstm => "Proposed CNN-LSTM",
            Arch::Ffnn => "Feed-forward Neural Network",
            Arch::Lstm => "LSTM",
            Arch::Cnn => "CNN",
        }
    }
    pub fn key(self) -> &'static str {
        match self {
            Arch::CnnLstm => "cnn_lstm",
            Arch::Ffnn => "ffnn",
            Arch::Lstm => "lstm",
            Arch::Cnn => "cnn",
        }
    }
    pub fn parse(s: &str) -> Result<Arch> {
        Arch::ALL.into_iter().find(|a| a.key() == s.replace('-', "_")).ok_or_else(|| TwinError::Invalid(format!("architecture `{s}` (cnn_lstm, ffnn, lstm, cnn)")))
    }
}

/// Architecture hyper-parameters (seed Tables 2 and 3 as defaults).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelConfig {
    pub arch: Arch,
    pub n_features: usize,
    pub steps: usize,
    pub filters: usize,
    pub kernels: Vec<usize>,
    pub lstm1: usize,
    pub lstm2: usize,
    pub dense: usize,
    pub dropout: f64,
    /// A linear "highway" from the window's last time step (all features, z-scored) straight
    /// to the two outputs, added to the network's output (the autoregressive highway of
    /// LSTNet, Lai et al. 2018). The network then learns a correction to a linear read-out of
    /// the current state instead of carrying the held offline titer through the whole stack.
    /// Off in the seed's configuration and in models saved before it existed.
    #[serde(default)]
    pub highway: bool,
    /// Persistence skip: the titer output is the last held titer assay of the window (the
    /// `titer_g_per_l` input, un-scaled) plus what the network adds, so the network learns the
    /// titer made since that assay rather than the titer itself. A fixed, parameter-free
    /// term (no weights); it needs `titer_g_per_l` among the features. GI is unchanged. Off in
    /// the seed's configuration and in models saved before it existed.
    #[serde(default)]
    pub persistence: bool,
}

impl ModelConfig {
    /// The seed's configuration for `arch` on `n_features` inputs over `steps` steps.
    pub fn seed_default(arch: Arch, n_features: usize, steps: usize) -> ModelConfig {
        ModelConfig { arch, n_features, steps, filters: 64, kernels: vec![3, 5, 7], lstm1: 128, lstm2: 64, dense: 32, dropout: 0.3, highway: false, persistence: false }
    }
    fn check(&self) -> Result<()> {
        if self.n_features == 0 || self.steps == 0 || self.filters == 0 || self.lstm1 == 0 || self.lstm2 == 0 || self.dense == 0 || self.kernels.is_empty() {
            return Err(TwinError::Invalid(format!("model sizes must be positive: {self:?}")));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(TwinError::Invalid(format!("dropout {} outside [0, 1)", self.dropout)));
        }
        if self.kernels.iter().any(|k| k % 2 == 0) {
            return Err(TwinError::Invalid("kernel sizes must be odd (same padding)".into()));
        }
        Ok(())
    }
}

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

/// The JSON sidecar of saved weights.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelMeta {
    pub format: String,
    pub model: ModelConfig,
    pub features: Vec<String>,
    pub targets: Vec<String>,
    pub window: WindowConfig,
    pub scaler: Scaler,
    pub target_scaler: Scaler,
    pub data_manifest_hash: String,
    /// Batch ids of the training, validation and test splits.
    pub split_batch_ids: Option<crate::split::Split>,
    pub train: Option<TrainSummary>,
    /// Held-out metrics written by the trainer (free form).
    pub metrics: serde_json::Value,
    /// Multipliers (titer, GI) of the MC-dropout interval half-widths, fitted on the
    /// validation batches so that 95 % of their windows fall inside (split-conformal, see
    /// [`fit_interval_scale`]). `None` (older models): raw MC-dropout quantiles.
    #[serde(default)]
    pub interval_scale: Option<[f64; 2]>,
}

/// Sidecar format tag.
pub const FORMAT: &str = "mabtwin-twin-1";

struct Net {
    cfg: ModelConfig,
    convs: Vec<(nn::Conv1D, nn::BatchNorm)>,
    lstm1: Option<nn::LSTM>,
    lstm2: Option<nn::LSTM>,
    ff_a: Option<nn::Linear>,
    ff_b: Option<nn::Linear>,
    fc1: nn::Linear,
    fc2: nn::Linear,
    highway: Option<nn::Linear>,
    /// Persistence skip `(titer feature index, a, b)`: adds `a·x[last, index] + b` to the
    /// z-scored titer output (set from the scalers by [`Model::set_persistence`]).
    persist: Option<(i64, f64, f64)>,
}

fn lstm_cfg() -> nn::RNNConfig {
    nn::RNNConfig { batch_first: true, ..Default::default() }
}

impl Net {
    fn new(p: &nn::Path, cfg: &ModelConfig) -> Net {
        let f = cfg.n_features as i64;
        let nf = cfg.filters as i64;
        let uses_conv = matches!(cfg.arch, Arch::CnnLstm | Arch::Cnn);
        let convs = if uses_conv {
            cfg.kernels
                .iter()
                .map(|&k| {
                    let k = k as i64;
                    let conv = nn::conv1d(p / format!("conv{k}"), f, nf, k, nn::ConvConfig { padding: k / 2, ..Default::default() });
                    let bn = nn::batch_norm1d(p / format!("bn{k}"), nf, Default::default());
                    (conv, bn)
                })
                .collect()
        } else {
            Vec::new()
        };
        let conv_out = nf * cfg.kernels.len() as i64;
        let (h1, h2) = (cfg.lstm1 as i64, cfg.lstm2 as i64);
        let (lstm1, lstm2) = match cfg.arch {
            Arch::CnnLstm => (Some(nn::lstm(p / "lstm1", conv_out, h1, lstm_cfg())), Some(nn::lstm(p / "lstm2", h1, h2, lstm_cfg()))),
            Arch::Lstm => (Some(nn::lstm(p / "lstm1", f, h1, lstm_cfg())), Some(nn::lstm(p / "lstm2", h1, h2, lstm_cfg()))),
            _ => (None, None),
        };
        let (ff_a, ff_b) = if cfg.arch == Arch::Ffnn {
            (
                Some(nn::linear(p / "ff_a", f * cfg.steps as i64, h1, Default::default())),
                Some(nn::linear(p / "ff_b", h1, h2, Default::default())),
            )
        } else {
            (None, None)
        };
        let head_in = match cfg.arch {
            Arch::CnnLstm | Arch::Lstm | Arch::Ffnn => h2,
            Arch::Cnn => 2 * conv_out,
        };
        let fc1 = nn::linear(p / "fc1", head_in, cfg.dense as i64, Default::default());
        let fc2 = nn::linear(p / "fc2", cfg.dense as i64, 2, Default::default());
        let highway = cfg.highway.then(|| nn::linear(p / "highway", f, 2, Default::default()));
        Net { cfg: cfg.clone(), convs, lstm1, lstm2, ff_a, ff_b, fc1, fc2, highway, persist: None }
    }

    fn conv_features(&self, x: &Tensor, bn_train: bool) -> Tensor {
        // x (B, T, F) → (B, F, T) for Conv1d; branches → (B, filters·branches, T).
        let xt = x.transpose(1, 2);
        let outs: Vec<Tensor> = self.convs.iter().map(|(c, bn)| xt.apply(c).apply_t(bn, bn_train).relu()).collect();
        Tensor::cat(&outs, 1)
    }

    /// The deterministic part (no dropout before it): `x (B, T, F)` → hidden features.
    fn prefix(&self, x: &Tensor, bn_train: bool) -> Tensor {
        match self.cfg.arch {
            Arch::CnnLstm => {
                let c = self.conv_features(x, bn_train).transpose(1, 2); // (B, T, C)
                self.lstm1.as_ref().map_or(c.shallow_clone(), |l| l.seq(&c).0) // (B, T, h1)
            }
            Arch::Lstm => self.lstm1.as_ref().map_or(x.shallow_clone(), |l| l.seq(x).0),
            Arch::Cnn => {
                let c = self.conv_features(x, bn_train); // (B, C, T)
                let last = c.select(2, -1);
                Tensor::cat(&[c.mean_dim(2, false, Kind::Float), last], 1) // (B, 2C)
            }
            Arch::Ffnn => {
                let flat = x.flatten(1, -1);
                self.ff_a.as_ref().map_or(flat.shallow_clone(), |l| flat.apply(l).relu()) // (B, h1)
            }
        }
    }

    /// The stochastic part: hidden features → (B, 2) z-scored outputs.
    fn head(&self, h: &Tensor, dropout_on: bool) -> Tensor {
        let p = self.cfg.dropout;
        let z = match self.cfg.arch {
            Arch::CnnLstm | Arch::Lstm => {
                let d = h.dropout(p, dropout_on);
                let o = self.lstm2.as_ref().map_or(d.shallow_clone(), |l| l.seq(&d).0);
                o.select(1, -1).dropout(p, dropout_on)
            }
            Arch::Cnn => h.dropout(p, dropout_on),
            Arch::Ffnn => {
                let d = h.dropout(p, dropout_on);
                let b = self.ff_b.as_ref().map_or(d.shallow_clone(), |l| d.apply(l).relu());
                b.dropout(p, dropout_on)
            }
        };
        z.apply(&self.fc1).relu().apply(&self.fc2)
    }

    /// The deterministic skip terms for `x (B, T, F)`: the highway and the persistence skip
    /// (None without either).
    fn skip(&self, x: &Tensor) -> Option<Tensor> {
        let last = x.select(1, -1);
        let highway = self.highway.as_ref().map(|l| last.apply(l));
        let persist = self.persist.map(|(k, a, b)| {
            let titer = last.select(1, k) * a + b; // (B)
            Tensor::stack(&[titer.shallow_clone(), titer.zeros_like()], 1) // (B, 2)
        });
        match (highway, persist) {
            (Some(h), Some(p)) => Some(h + p),
            (h, p) => h.or(p),
        }
    }

    /// `head + skip`: the skip is computed once and reused across MC-dropout passes.
    fn with_skip(out: Tensor, skip: Option<&Tensor>) -> Tensor {
        match skip {
            Some(s) => out + s,
            None => out,
        }
    }

    fn forward(&self, x: &Tensor, bn_train: bool, dropout_on: bool) -> Tensor {
        Self::with_skip(self.head(&self.prefix(x, bn_train), dropout_on), self.skip(x).as_ref())
    }
}

/// A trained (or freshly initialised) network with its preprocessing parameters.
pub struct Model {
    vs: nn::VarStore,
    net: Net,
    pub meta: ModelMeta,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("meta", &self.meta).finish_non_exhaustive()
    }
}

/// The device training uses: CUDA when libtorch sees a GPU, else CPU.
pub fn default_device() -> Device {
    Device::cuda_if_available()
}

const CHUNK: usize = 1024;

fn x_tensor(w: &WindowSet, idx: &[usize], device: Device) -> Tensor {
    let per = w.steps * w.n_features;
    let mut buf = Vec::with_capacity(idx.len() * per);
    for &i in idx {
        buf.extend_from_slice(&w.x[i * per..(i + 1) * per]);
    }
    Tensor::from_slice(&buf).view([idx.len() as i64, w.steps as i64, w.n_features as i64]).to_device(device)
}

fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    Ok(Vec::<f32>::try_from(t.to_device(Device::Cpu).to_kind(Kind::Float).contiguous().flatten(0, -1))?)
}

impl Model {
    /// A new model with random weights (seeded by `tch::manual_seed(seed)`).
    pub fn new(cfg: ModelConfig, meta_base: ModelMeta, seed: u64, device: Device) -> Result<Model> {
        cfg.check()?;
        tch::manual_seed(seed as i64);
        let vs = nn::VarStore::new(device);
        let net = Net::new(&vs.root(), &cfg);
        let meta = ModelMeta { model: cfg, ..meta_base };
        let mut m = Model { vs, net, meta };
        m.set_persistence()?;
        Ok(m)
    }

    /// The input the persistence skip reads (the held titer assay).
    pub const PERSISTENCE_FEATURE: &'static str = "titer_g_per_l";

    /// (Re)derive the persistence skip's coefficients from the input and target scalers:
    /// with x = (titer − m_x)/s_x and z = (titer − m_y)/s_y, the held titer in target
    /// z-units is x·s_x/s_y + (m_x − m_y)/s_y.
    fn set_persistence(&mut self) -> Result<()> {
        if !self.meta.model.persistence {
            self.net.persist = None;
            return Ok(());
        }
        let k = self.meta.features.iter().position(|f| f == Self::PERSISTENCE_FEATURE).ok_or_else(|| {
            TwinError::Invalid(format!("the persistence skip needs `{}` among the features [{}]", Self::PERSISTENCE_FEATURE, self.meta.features.join(", ")))
        })?;
        let (sx, mx) = (self.meta.scaler.std[k], self.meta.scaler.mean[k]);
        let (sy, my) = (self.meta.target_scaler.std[0], self.meta.target_scaler.mean[0]);
        if !(sx.is_finite() && sy.is_finite() && mx.is_finite() && my.is_finite() && sy > 0.0) {
            return Err(TwinError::Invalid(format!("persistence skip: scalers not usable (titer input mean {mx}, std {sx}; target mean {my}, std {sy})")));
        }
        self.net.persist = Some((k as i64, sx / sy, (mx - my) / sy));
        Ok(())
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Number of trainable parameters.
    pub fn parameters(&self) -> i64 {
        self.vs.trainable_variables().iter().map(Tensor::numel).sum::<usize>() as i64
    }

    fn check_windows(&self, w: &WindowSet) -> Result<()> {
        if w.n_features != self.meta.model.n_features || w.steps != self.meta.model.steps {
            return Err(TwinError::ModelMismatch(format!(
                "the model takes windows of {} steps × {} features ({}), the data have {} × {}",
                self.meta.model.steps,
                self.meta.model.n_features,
                self.meta.features.join(", "),
                w.steps,
                w.n_features
            )));
        }
        Ok(())
    }

    /// Fail unless `features` are exactly the model's input features, in order.
    pub fn ensure_features(&self, features: &[String]) -> Result<()> {
        if features != self.meta.features.as_slice() {
            return Err(TwinError::ModelMismatch(format!("the model was trained on features [{}], got [{}]", self.meta.features.join(", "), features.join(", "))));
        }
        Ok(())
    }

    fn y_tensor(&self, w: &WindowSet) -> Result<Tensor> {
        let ts = &self.meta.target_scaler;
        let mut y = Vec::with_capacity(w.y.len());
        for c in w.y.chunks(2) {
            if !(c[0].is_finite() && c[1].is_finite()) {
                return Err(TwinError::Data("training windows need finite targets".into()));
            }
            y.push(ts.z(0, f64::from(c[0])) as f32);
            y.push(ts.z(1, f64::from(c[1])) as f32);
        }
        Ok(Tensor::from_slice(&y).view([w.len() as i64, 2]).to_device(self.device()))
    }

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

    fn unscale(&self, z: &[f32]) -> Vec<[f64; 2]> {
        let ts = &self.meta.target_scaler;
        z.chunks(2).map(|c| [ts.unz(0, f64::from(c[0])), ts.unz(1, f64::from(c[1]))]).collect()
    }

    /// Point predictions (eval mode: batch-norm running statistics, no dropout), raw units.
    pub fn predict(&self, w: &WindowSet) -> Result<Vec<[f64; 2]>> {
        self.check_windows(w)?;
        let mut out = Vec::with_capacity(w.len());
        let idx: Vec<usize> = (0..w.len()).collect();
        for chunk in idx.chunks(CHUNK) {
            let x = x_tensor(w, chunk, self.device());
            let z = tch::no_grad(|| self.net.forward(&x, false, false));
            out.extend(self.unscale(&to_vec(&z)?));
        }
        Ok(out)
    }

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

    /// Integrated gradients of output `target` (0 titer, 1 GI) for one window, against the
    /// all-zero input (the training mean in z-space), with `steps` points of the trapezoidal
    /// rule. Eval mode. Attributions are in the target's raw units (g/L or %), one per
    /// (time step, feature); they sum to `f(x) − f(baseline)` up to the quadrature error.
    pub fn integrated_gradients(&self, w: &WindowSet, window: usize, target: usize, steps: usize) -> Result<Attribution> {
        self.check_windows(w)?;
        if window >= w.len() || target > 1 || steps < 2 {
            return Err(TwinError::Invalid(format!("integrated gradients: window {window} of {}, target {target}, steps {steps}", w.len())));
        }
        let x = x_tensor(w, &[window], self.device()); // (1, T, F)
        let alphas = Tensor::linspace(0.0, 1.0, steps as i64, (Kind::Float, self.device())).view([steps as i64, 1, 1]);
        let path = (&alphas * &x).detach().set_requires_grad(true); // (m, T, F)
        let out = self.net.forward(&path, false, false).select(1, target as i64); // (m)
        let grads = Tensor::run_backward(&[out.sum(Kind::Float)], &[&path], false, false);
        let g = grads.into_iter().next().ok_or_else(|| TwinError::Data("no gradient".into()))?;
        // Trapezoid: (g0/2 + g1 + … + g_{m−2} + g_{m−1}/2) / (m − 1).
        let m = steps as i64;
        let inner = if m > 2 { g.narrow(0, 1, m - 2).sum_dim_intlist(0, false, Kind::Float) } else { g.get(0).zeros_like() };
        let avg = (inner + (g.get(0) + g.get(m - 1)) * 0.5) / (m - 1) as f64;
        let std = self.meta.target_scaler.std[target];
        let attr = (avg * x.get(0)) * std;
        let fx = tch::no_grad(|| out.get(m - 1).double_value(&[]));
        let f0 = tch::no_grad(|| out.get(0).double_value(&[]));
        let mean = self.meta.target_scaler.mean[target];
        Ok(Attribution {
            steps: w.steps,
            n_features: w.n_features,
            values: to_vec(&attr)?.into_iter().map(f64::from).collect(),
            f_x: fx * std + mean,
            f_baseline: f0 * std + mean,
        })
    }

    /// Save `model.safetensors` and `model.json` into `dir` (created if needed).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| TwinError::io(dir, e))?;
        self.vs.save(dir.join("model.safetensors"))?;
        let p = dir.join("model.json");
        let s = serde_json::to_string_pretty(&self.meta).map_err(|e| TwinError::format(&p, e.to_string()))?;
        std::fs::write(&p, s + "\n").map_err(|e| TwinError::io(&p, e))
    }

    /// Load a model saved by [`Model::save`] onto `device`.
    pub fn load(dir: &Path, device: Device) -> Result<Model> {
        let p = dir.join("model.json");
        let bytes = std::fs::read(&p).map_err(|e| TwinError::io(&p, e))?;
        let meta: ModelMeta = serde_json::from_slice(&bytes).map_err(|e| TwinError::format(&p, e.to_string()))?;
        if meta.format != FORMAT {
            return Err(TwinError::ModelMismatch(format!("{}: format `{}`, expected `{FORMAT}`", p.display(), meta.format)));
        }
        if meta.features.len() != meta.model.n_features || meta.scaler.mean.len() != meta.features.len() {
            return Err(TwinError::ModelMismatch(format!("{}: {} features listed, the network takes {}", p.display(), meta.features.len(), meta.model.n_features)));
        }
        meta.model.check()?;
        let mut vs = nn::VarStore::new(device);
        let net = Net::new(&vs.root(), &meta.model);
        let w = dir.join("model.safetensors");
        // `VarStore::load` ignores tensors the network does not have, so a sidecar that
        // describes a smaller network (e.g. `highway: false` over highway weights) would load
        // silently; the weight file's names must be exactly the network's.
        let stored = Tensor::read_safetensors(&w).map_err(|e| TwinError::ModelMismatch(format!("{}: {e}", w.display())))?;
        let mut in_file: Vec<String> = stored.into_iter().map(|(name, _)| name).collect();
        let mut in_net: Vec<String> = vs.variables().into_keys().collect();
        in_file.sort();
        in_net.sort();
        if in_file != in_net {
            let extra: Vec<&String> = in_file.iter().filter(|n| !in_net.contains(n)).collect();
            let missing: Vec<&String> = in_net.iter().filter(|n| !in_file.contains(n)).collect();
            return Err(TwinError::ModelMismatch(format!("{}: the weights do not match the network described in {} (in the file only: {extra:?}; missing from the file: {missing:?})", w.display(), p.display())));
        }
        vs.load(&w).map_err(|e| TwinError::ModelMismatch(format!("{}: {e}", w.display())))?;
        let mut m = Model { vs, net, meta };
        m.set_persistence()?;
        Ok(m)
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

/// Integrated-gradient attributions of one window (`steps × n_features`, row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    pub steps: usize,
    pub n_features: usize,
    pub values: Vec<f64>,
    pub f_x: f64,
    pub f_baseline: f64,
}

impl Attribution {
    /// Sum of all attributions (completeness: ≈ `f_x − f_baseline`).
    pub fn total(&self) -> f64 {
        self.values.iter().sum()
    }
    /// Sum of |attribution| per feature over the window.
    pub fn per_feature_abs(&self) -> Vec<f64> {
        (0..self.n_features).map(|c| (0..self.steps).map(|t| self.values[t * self.n_features + c].abs()).sum()).collect()
    }
}

/// A sidecar skeleton for a new model (filled further by training).
pub fn new_meta(features: &[String], window: &WindowConfig, scaler: &Scaler, data_manifest_hash: &str) -> ModelMeta {
    ModelMeta {
        format: FORMAT.into(),
        model: ModelConfig::seed_default(Arch::CnnLstm, features.len(), window.steps),
        features: features.to_vec(),
        targets: crate::prep::TARGETS.iter().map(|s| s.to_string()).collect(),
        window: window.clone(),
        scaler: scaler.clone(),
        target_scaler: Scaler { mean: vec![0.0; 2], std: vec![1.0; 2] },
        data_manifest_hash: data_manifest_hash.into(),
        split_batch_ids: None,
        train: None,
        metrics: serde_json::Value::Null,
        interval_scale: None,
    }
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
