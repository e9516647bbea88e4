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
//!
//! Layout: this module holds the architectures, the [`Model`] (prediction, save, load);
//! `train` the optimiser loop and early stopping; `uncertainty` MC dropout and the
//! conformal interval scale; `explain` integrated gradients.

use crate::error::{Result, TwinError};
use crate::prep::{Scaler, WindowConfig, WindowSet};
use std::path::Path;
use tch::nn::{self, RNN};
use tch::{Device, Kind, Tensor};

mod explain;
mod train;
mod uncertainty;

pub use explain::Attribution;
pub use train::{EpochLog, StopOn, TrainConfig, TrainSummary, LR_FLOOR_DIVISOR};
pub use uncertainty::{fit_interval_scale, McPrediction};

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
    /// Learn the titer on a log scale: the network's titer target is the z-score of
    /// `ln(1 + titer)` (titer in g/L) and its output is mapped back with `exp(·) − 1`, so the
    /// same error in z-units is a small error at a low titer and a larger one at a high titer
    /// (errors proportional to `1 + titer`), as assay errors are. GI stays linear. Off in the
    /// seed's configuration and in models saved before it existed.
    #[serde(default)]
    pub log_titer: bool,
    /// CNN-LSTM only: a convolutional skip around the LSTMs. The mean over the window and the
    /// last step of the parallel Conv1D branches (the CNN-only baseline's read-out) are
    /// concatenated with the second LSTM's last output before the dropout and Dense layers,
    /// so the recurrent stack adds to what the convolutions see directly instead of being the
    /// only path to the head. Off in the seed's configuration and in models saved before it
    /// existed.
    #[serde(default)]
    pub conv_skip: bool,
}

impl ModelConfig {
    /// The seed's configuration for `arch` on `n_features` inputs over `steps` steps.
    pub fn seed_default(arch: Arch, n_features: usize, steps: usize) -> ModelConfig {
        ModelConfig { arch, n_features, steps, filters: 64, kernels: vec![3, 5, 7], lstm1: 128, lstm2: 64, dense: 32, dropout: 0.3, highway: false, persistence: false, log_titer: false, conv_skip: false }
    }
    fn check(&self) -> Result<()> {
        if self.n_features == 0 || self.steps == 0 || self.filters == 0 || self.lstm1 == 0 || self.lstm2 == 0 || self.dense == 0 || self.kernels.is_empty() {
            return Err(TwinError::Invalid(format!("model sizes must be positive: {self:?}")));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(TwinError::Invalid(format!("dropout {} outside [0, 1)", self.dropout)));
        }
        if self.conv_skip && self.arch != Arch::CnnLstm {
            return Err(TwinError::Invalid(format!("the convolutional skip (conv_skip) is a CNN-LSTM option, not one of `{}`", self.arch.key())));
        }
        if self.kernels.iter().any(|k| k % 2 == 0) {
            return Err(TwinError::Invalid("kernel sizes must be odd (same padding)".into()));
        }
        Ok(())
    }
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
    /// Warm start: the trained CNN this network's convolutions and head started from
    /// ([`Model::init_from_cnn`]; `None`: random initialisation, as the seed trains).
    #[serde(default)]
    pub init_from: Option<WarmStart>,
}

/// Where a warm-started network's initial weights came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WarmStart {
    /// The donor model's folder, as given.
    pub model_dir: String,
    /// The donor's architecture and training outcome.
    pub donor: String,
    /// Variables copied from the donor (names in the weight file).
    pub copied: Vec<String>,
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
    /// Persistence skip: adds the held titer assay `x[last, index]`, in the titer target's
    /// z-units, to the titer output (set from the scalers by [`Model::set_persistence`]).
    persist: Option<Persist>,
}

/// The persistence skip's map from the z-scored held titer input `x` to the titer target's
/// z-units.
#[derive(Debug, Clone, Copy)]
enum Persist {
    /// Linear target: `a·x + b`.
    Linear { k: i64, a: f64, b: f64 },
    /// Log target (`log_titer`): `(ln(1 + max(0, x·sx + mx)) − my) / sy`.
    Log { k: i64, sx: f64, mx: f64, sy: f64, my: f64 },
}

impl Persist {
    /// `x_last (B, F)` → the held titer in the target's z-units `(B)`.
    fn apply(self, x_last: &Tensor) -> Tensor {
        match self {
            Persist::Linear { k, a, b } => x_last.select(1, k) * a + b,
            Persist::Log { k, sx, mx, sy, my } => ((x_last.select(1, k) * sx + mx).clamp_min(0.0).log1p() - my) / sy,
        }
    }
}

/// What the deterministic part of a network hands its stochastic head: the hidden sequence
/// (or vector) and, with `conv_skip`, the convolutional read-out that bypasses the LSTMs.
struct Hidden {
    h: Tensor,
    side: Option<Tensor>,
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
            Arch::CnnLstm if cfg.conv_skip => h2 + 2 * conv_out,
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

    /// The convolutional read-out `c (B, C, T)` → `(B, 2C)`: the mean over the window and
    /// the last step (the CNN-only baseline's head input, and the CNN-LSTM's `conv_skip`).
    fn conv_summary(c: &Tensor) -> Tensor {
        Tensor::cat(&[c.mean_dim(2, false, Kind::Float), c.select(2, -1)], 1)
    }

    /// The deterministic part (no dropout before it): `x (B, T, F)` → hidden features.
    fn prefix(&self, x: &Tensor, bn_train: bool) -> Hidden {
        let h = |h: Tensor| Hidden { h, side: None };
        match self.cfg.arch {
            Arch::CnnLstm => {
                let c = self.conv_features(x, bn_train); // (B, C, T)
                let side = self.cfg.conv_skip.then(|| Self::conv_summary(&c)); // (B, 2C)
                let c = c.transpose(1, 2); // (B, T, C)
                Hidden { h: self.lstm1.as_ref().map_or(c.shallow_clone(), |l| l.seq(&c).0), side } // (B, T, h1)
            }
            Arch::Lstm => h(self.lstm1.as_ref().map_or(x.shallow_clone(), |l| l.seq(x).0)),
            Arch::Cnn => h(Self::conv_summary(&self.conv_features(x, bn_train))), // (B, 2C)
            Arch::Ffnn => {
                let flat = x.flatten(1, -1);
                h(self.ff_a.as_ref().map_or(flat.shallow_clone(), |l| flat.apply(l).relu())) // (B, h1)
            }
        }
    }

    /// The stochastic part: hidden features → (B, 2) z-scored outputs.
    fn head(&self, hidden: &Hidden, dropout_on: bool) -> Tensor {
        let p = self.cfg.dropout;
        let h = &hidden.h;
        let z = match self.cfg.arch {
            Arch::CnnLstm | Arch::Lstm => {
                let d = h.dropout(p, dropout_on);
                let o = self.lstm2.as_ref().map_or(d.shallow_clone(), |l| l.seq(&d).0).select(1, -1);
                let o = match &hidden.side {
                    Some(side) => Tensor::cat(&[o, side.shallow_clone()], 1),
                    None => o,
                };
                o.dropout(p, dropout_on)
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
        self.skip_of(x, x)
    }

    /// The skip terms with the highway read from `x_highway` and the persistence term from
    /// `x_persist` (the same tensor except in noisy training, see [`Net::forward_train`]).
    fn skip_of(&self, x_highway: &Tensor, x_persist: &Tensor) -> Option<Tensor> {
        let highway = self.highway.as_ref().map(|l| x_highway.select(1, -1).apply(l));
        let persist = self.persist.map(|p| {
            let titer = p.apply(&x_persist.select(1, -1)); // (B)
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

    /// A training forward pass (batch norm in training mode, dropout on) with Gaussian noise
    /// of standard deviation `noise` on the z-scored inputs of the learned layers; the fixed
    /// persistence term keeps reading the clean held assay.
    fn forward_train(&self, x: &Tensor, noise: f64) -> Tensor {
        if noise <= 0.0 {
            return self.forward(x, true, true);
        }
        let xn = x + x.randn_like() * noise;
        Self::with_skip(self.head(&self.prefix(&xn, true), true), self.skip_of(&xn, x).as_ref())
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
    /// z-units is x·s_x/s_y + (m_x − m_y)/s_y (with `log_titer`, z = (ln(1 + titer) − m_y)/s_y).
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
        let k = k as i64;
        self.net.persist = Some(if self.meta.model.log_titer { Persist::Log { k, sx, mx, sy, my } } else { Persist::Linear { k, a: sx / sy, b: (mx - my) / sy } });
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
            y.push(ts.z(0, self.titer_to_target(f64::from(c[0]))) as f32);
            y.push(ts.z(1, f64::from(c[1])) as f32);
        }
        Ok(Tensor::from_slice(&y).view([w.len() as i64, 2]).to_device(self.device()))
    }

    fn unscale(&self, z: &[f32]) -> Vec<[f64; 2]> {
        let ts = &self.meta.target_scaler;
        z.chunks(2).map(|c| [self.titer_from_target(ts.unz(0, f64::from(c[0]))), ts.unz(1, f64::from(c[1]))]).collect()
    }

    /// A titer (g/L) on the scale of the network's titer target: itself, or `ln(1 + titer)`
    /// with `log_titer` (a titer below 0, which no assay reports, counts as 0).
    pub(crate) fn titer_to_target(&self, titer_g_per_l: f64) -> f64 {
        if self.meta.model.log_titer { titer_g_per_l.max(0.0).ln_1p() } else { titer_g_per_l }
    }

    /// The inverse of [`Model::titer_to_target`].
    pub(crate) fn titer_from_target(&self, v: f64) -> f64 {
        if self.meta.model.log_titer { v.exp_m1() } else { v }
    }

    /// The network's z-scored output `z (…, 2)`, column `target`, in raw units as a tensor
    /// (differentiable; used by integrated gradients).
    pub(crate) fn raw_output(&self, z: &Tensor, target: usize) -> Tensor {
        let ts = &self.meta.target_scaler;
        let v = z.select(-1, target as i64) * ts.std[target] + ts.mean[target];
        if target == 0 && self.meta.model.log_titer { v.expm1() } else { v }
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


    /// Save `model.safetensors` and `model.json` into `dir` (created if needed).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| TwinError::io(dir, e))?;
        // Each file atomically (a temporary sibling, then a rename), the weights first:
        // model.json, written last, marks a complete model. The temporary names keep their
        // extension because `VarStore::save` picks the format by it.
        let tmp = |name: &str| dir.join(format!(".{}.tmp.{name}", std::process::id()));
        let (w, wt) = (dir.join("model.safetensors"), tmp("model.safetensors"));
        self.vs.save(&wt)?;
        std::fs::rename(&wt, &w).map_err(|e| TwinError::io(&w, e))?;
        let (p, pt) = (dir.join("model.json"), tmp("model.json"));
        let s = serde_json::to_string_pretty(&self.meta).map_err(|e| TwinError::format(&p, e.to_string()))?;
        std::fs::write(&pt, s + "\n").map_err(|e| TwinError::io(&pt, e))?;
        std::fs::rename(&pt, &p).map_err(|e| TwinError::io(&p, e))
    }

    /// Warm start from a trained CNN (`twin train --init-from`): this CNN-LSTM (with
    /// `conv_skip`) takes the donor's convolutional branches (weights and batch-norm
    /// statistics), highway and output layer as they are, and its first Dense layer's
    /// columns that read the convolutional read-out; the columns that read the LSTMs start
    /// at zero. Before training the network therefore computes exactly the donor's function,
    /// and the LSTMs enter only as far as training finds them useful. The donor must have
    /// been trained on the same features, window, input scaling, split and options.
    pub fn init_from_cnn(&mut self, donor: &Model, donor_dir: &Path) -> Result<()> {
        let (me, other) = (&self.meta.model, &donor.meta.model);
        let mismatch = |what: &str| TwinError::ModelMismatch(format!("warm start from {}: {what}", donor_dir.display()));
        if me.arch != Arch::CnnLstm || !me.conv_skip {
            return Err(mismatch("only a CNN-LSTM with the convolutional skip (conv_skip) can start from a CNN"));
        }
        if other.arch != Arch::Cnn {
            return Err(mismatch(&format!("the donor is a `{}`, not a `cnn`", other.arch.key())));
        }
        let shape = |c: &ModelConfig| (c.n_features, c.steps, c.filters, c.kernels.clone(), c.dense, c.highway, c.persistence, c.log_titer);
        if shape(me) != shape(other) {
            return Err(mismatch(&format!(
                "its sizes or options differ (filters {}, kernels {:?}, dense {}, highway {}, persistence {}, log titer {}; this network: {}, {:?}, {}, {}, {}, {})",
                other.filters, other.kernels, other.dense, other.highway, other.persistence, other.log_titer, me.filters, me.kernels, me.dense, me.highway, me.persistence, me.log_titer
            )));
        }
        // The scalers are compared to 1e-12 relative: a saved sidecar's floats may come back
        // one unit in the last place away from the ones just fitted.
        let close = |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-12 * (1.0 + x.abs().max(y.abs())));
        let (sa, sb) = (&donor.meta.scaler, &self.meta.scaler);
        if donor.meta.features != self.meta.features || donor.meta.window != self.meta.window || !close(&sa.mean, &sb.mean) || !close(&sa.std, &sb.std) {
            return Err(mismatch("it was trained on other features, windows or input scaling (train it on the same data with the same --features)"));
        }
        if donor.meta.data_manifest_hash != self.meta.data_manifest_hash {
            return Err(mismatch(&format!("it was trained on another dataset (manifest hash {} here {})", donor.meta.data_manifest_hash, self.meta.data_manifest_hash)));
        }
        if donor.meta.split_batch_ids != self.meta.split_batch_ids {
            return Err(mismatch("it was trained on another train/validation/test split (use the same data and --split-seed): its test batches could leak"));
        }
        let dst = self.vs.variables();
        let h2 = me.lstm2 as i64;
        let mut src: Vec<(String, Tensor)> = donor.vs.variables().into_iter().collect();
        src.sort_by(|a, b| a.0.cmp(&b.0));
        let mut copied = Vec::new();
        for (name, from) in &src {
            let to = dst.get(name).ok_or_else(|| mismatch(&format!("its variable `{name}` has no counterpart here")))?;
            let fits = if name == "fc1.weight" { to.size()[0] == from.size()[0] && to.size()[1] == h2 + from.size()[1] } else { to.size() == from.size() };
            if !fits {
                return Err(mismatch(&format!("variable `{name}` is {:?} there and {:?} here", from.size(), to.size())));
            }
            tch::no_grad(|| {
                if name == "fc1.weight" {
                    // Here (dense, h2 + 2C) = [reads the LSTM | reads the conv read-out]; there (dense, 2C).
                    let _ = to.narrow(1, 0, h2).zero_();
                    to.narrow(1, h2, from.size()[1]).copy_(from);
                } else {
                    to.shallow_clone().copy_(from);
                }
            });
            copied.push(name.clone());
        }
        // The head's weights are in the donor's target z-units (training refits the same
        // scaler from the same training windows).
        self.meta.target_scaler = donor.meta.target_scaler.clone();
        self.set_persistence()?;
        let t = donor.meta.train.as_ref();
        self.meta.init_from = Some(WarmStart {
            model_dir: donor_dir.display().to_string(),
            donor: match t {
                Some(t) => format!("{}, best epoch {} of {}, validation loss {:.4}", other.arch.key(), t.best_epoch, t.epochs_run, t.best_val_loss),
                None => format!("{}, untrained", other.arch.key()),
            },
            copied,
        });
        Ok(())
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
        init_from: None,
    }
}
