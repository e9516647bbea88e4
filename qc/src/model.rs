//! The classifier: a compact ResNet-style CNN (default) or ResNet-50 (for CUDA), plus the
//! JSON sidecar and safetensors weights (spec §5).
//!
//! **Why not ResNet-50 by default.** ResNet-50 has 25.6 M parameters and ~0.75 G
//! multiply-adds at 96 px, about 20x the compute and 80x the parameters of the compact net
//! (~0.31 M parameters, ~37 M multiply-adds at 96 px with a stride-2 stem). On a 2-core CPU an
//! epoch would take minutes, inference would fall far below 500 images/s, ImageNet weights
//! cannot be downloaded here, and from scratch it overfits 10³–10⁴ images. `Arch::Resnet50`
//! (bottleneck [3, 4, 6, 3] with a C_in stem) is offered for GPUs.
//!
//! # Shapes
//! Input `[N, C, H, W]` f32 (C = 1 grey + 3 PCA channels when spectral), output logits `[N, K]`.

use crate::error::{QcError, Result};
use crate::image_ops::GreyImage;
use crate::pca::PcaBasis;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{Device, Kind, Tensor, nn, nn::ModuleT};

/// Sidecar format version.
pub const FORMAT_VERSION: u32 = 1;

/// Network architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Compact,
    Resnet50,
}

/// Architecture hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    pub arch: Arch,
    pub in_channels: i64,
    pub n_classes: i64,
    /// Stage widths (compact): 16/32/64/128 by default.
    pub widths: [i64; 4],
    /// BasicBlocks per stage (compact).
    pub blocks_per_stage: i64,
    /// Stem stride: 2 at 96 px, 1 at 64 px per spec (configurable).
    pub stem_stride: i64,
    /// Channels of a stride-1 3x3 convolution (+ BN + ReLU) at full resolution before the
    /// stem (compact only); 0 = none (the default, and every model saved before it existed).
    /// With a stride-2 stem it gives the first non-linear features every pixel (sub-pixel
    /// microbial particles) for a few percent more multiply-adds but, memory-bound at full
    /// resolution, 15 % (8 channels) to 35 % (16) of the 2-block net's inference rate
    /// (BENCHMARKS.md, session 16); `stem_stride 1` runs the whole net at full resolution.
    #[serde(default)]
    pub full_res_stem: i64,
    /// Space-to-depth stem (compact, stride 2 only): the stem's halving of the resolution is
    /// a lossless 2x2 pixel unshuffle (C channels at H×W → 4C at H/2×W/2) followed by a
    /// stride-1 3x3 convolution, instead of a stride-2 3x3 convolution that samples every
    /// second position. Every sub-pixel phase of a faint spot reaches the first filters.
    /// False for every model saved before it existed. Needs even image sides.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub space_to_depth: bool,
    pub dropout: f64,
    /// Auxiliary regression targets learned beside the classes during training (render
    /// latents such as `n_particles`, read from `labels.csv`); empty for none (the default,
    /// and every model saved before it existed). A linear head on the pooled features
    /// predicts each target standardised with its training mean and standard deviation. It
    /// shapes the features only: classification never reads it, so inference costs the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aux_targets: Vec<AuxTarget>,
    /// Weight of the auxiliary mean squared error (standardised units) in the training loss,
    /// beside the cross-entropy; 0 when there are no auxiliary targets.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub aux_weight: f64,
    /// Weight of the particle-count map loss (compact only; 0 = no map head, the default and
    /// every model saved before it existed). A 1x1 convolution on the features at 1/8 of the
    /// input resolution (the end of stage 3 with a stride-2 stem, stage 4 with stride 1)
    /// predicts how many microbial particles lie in each 8 x 8-pixel cell; training adds
    /// weight × the squared error summed over the cells (mean over images) to the
    /// cross-entropy. Dense, located supervision of the count behind the `contaminated`
    /// label, where the scalar `n_particles` target gives one number per image. Training only:
    /// classification never reads the head, so inference costs the same.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub particle_map_weight: f64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// One auxiliary regression target ([`NetConfig::aux_targets`]): a numeric `labels.csv`
/// column and the training rows' mean and standard deviation it is standardised with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuxTarget {
    pub column: String,
    pub mean: f64,
    pub std: f64,
}

impl AuxTarget {
    /// Standardisation fitted on `values` (the training rows); a constant column gets std 1.
    pub fn fit(column: &str, values: &[f64]) -> Self {
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sd = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
        let std = if sd > 1e-12 { sd } else { 1.0 };
        Self { column: column.to_string(), mean, std }
    }
    pub fn standardise(&self, v: f64) -> f64 {
        (v - self.mean) / self.std
    }
}

impl NetConfig {
    /// The compact default. The stem has stride 2 at every input size: the spec's stride 1 at
    /// 64 px costs 4x the multiply-adds (64 M vs 16 M per crop) and made an epoch on the real
    /// crops too slow on 2 shared cores; `--stem-stride 1` restores it.
    pub fn compact(in_channels: i64, n_classes: i64, _size_px: usize) -> Self {
        Self {
            arch: Arch::Compact,
            in_channels,
            n_classes,
            widths: [16, 32, 64, 128],
            blocks_per_stage: 1,
            stem_stride: 2,
            full_res_stem: 0,
            space_to_depth: false,
            dropout: 0.2,
            aux_targets: Vec::new(),
            aux_weight: 0.0,
            particle_map_weight: 0.0,
        }
    }

    /// Index of the stage (0-based) after which the particle-count map head sits: the one
    /// whose output is at 1/8 of the input resolution (stem stride × 2^stage = 8).
    pub fn count_map_stage(&self) -> usize {
        if self.stem_stride == 1 { 3 } else { 2 }
    }

    /// Why this configuration cannot be built, if it cannot: stage widths 4..=512 channels,
    /// 1..=4 blocks per stage, stem stride 1 or 2, a full-resolution stem of 0 or 4..=64
    /// channels (compact only), dropout in [0, 1), at least one channel and two classes.
    /// `Net::new` assumes a configuration that passed this check.
    pub fn problem(&self) -> Option<String> {
        if let Some(w) = self.widths.iter().find(|w| !(4..=512).contains(*w)) {
            return Some(format!("stage width {w} is outside 4..=512 channels (widths {:?})", self.widths));
        }
        if !(1..=4).contains(&self.blocks_per_stage) {
            return Some(format!("{} blocks per stage is outside 1..=4", self.blocks_per_stage));
        }
        if !(1..=2).contains(&self.stem_stride) {
            return Some(format!("stem stride {} is not 1 or 2", self.stem_stride));
        }
        if self.full_res_stem != 0 && !(4..=64).contains(&self.full_res_stem) {
            return Some(format!("full-resolution stem of {} channels is neither 0 (none) nor in 4..=64", self.full_res_stem));
        }
        if self.full_res_stem != 0 && self.arch != Arch::Compact {
            return Some("a full-resolution stem is an option of the compact net only".into());
        }
        if self.space_to_depth && (self.arch != Arch::Compact || self.stem_stride != 2) {
            return Some("a space-to-depth stem is an option of the compact net with stem stride 2 only".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Some(format!("dropout {} is outside [0, 1)", self.dropout));
        }
        if self.aux_targets.len() > 16 {
            return Some(format!("{} auxiliary targets (at most 16)", self.aux_targets.len()));
        }
        if let Some(t) = self.aux_targets.iter().find(|t| !(t.mean.is_finite() && t.std.is_finite() && t.std > 0.0)) {
            return Some(format!("auxiliary target `{}` has mean {} and std {} (need finite, std > 0)", t.column, t.mean, t.std));
        }
        if !(self.aux_weight.is_finite() && self.aux_weight >= 0.0 && self.aux_weight <= 100.0) {
            return Some(format!("auxiliary weight {} is outside [0, 100]", self.aux_weight));
        }
        if !(self.particle_map_weight.is_finite() && self.particle_map_weight >= 0.0 && self.particle_map_weight <= 100.0) {
            return Some(format!("particle-map weight {} is outside [0, 100]", self.particle_map_weight));
        }
        if self.particle_map_weight > 0.0 && self.arch != Arch::Compact {
            return Some("a particle-count map head is an option of the compact net only".into());
        }
        if self.in_channels < 1 || self.n_classes < 2 {
            return Some(format!("{} input channels and {} classes (need ≥ 1 and ≥ 2)", self.in_channels, self.n_classes));
        }
        None
    }
}

/// Training/data manifest stored in the sidecar.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub source: String,
    /// FNV-1a 64 of labels.csv (or of the render config) for provenance.
    pub fingerprint: String,
    /// (split, class, count)
    pub counts: Vec<(String, String, usize)>,
    pub early_stopping_on: String,
    /// What the networks were pretrained on before the data (`qc train --pretrain-renders`),
    /// e.g. "4000 trypan renders, render seed …, 6 epochs"; absent when they started at random.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained_on: Option<String>,
}

/// `model.json`: everything needed to use the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    pub format_version: u32,
    pub task: String,
    pub classes: Vec<String>,
    pub net: NetConfig,
    pub input_size: usize,
    pub channels: Vec<String>,
    pub normalisation: String,
    pub pca: Option<PcaBasis>,
    pub temperature: f64,
    /// Class decision offsets b (one per class, natural-log units, empty = none): the model's
    /// probabilities are softmax(logits / T + b), i.e. each temperature-calibrated probability
    /// times exp(b_k), renormalised. Fitted on the validation split by
    /// [`crate::train::fit_class_offsets`] (`qc train --fit-class-offsets`, `qc calibrate`)
    /// to move the operating point towards the seed's per-class precision and recall
    /// targets; absent in models saved before offsets existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_log_offsets: Vec<f64>,
    /// How the class offsets were fitted (data, split, rule, figures before and after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_offsets_fit: Option<crate::operating_point::ClassOffsetRecord>,
    pub recipe: String,
    pub seed: u64,
    pub threads: i32,
    pub device: String,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub val_metrics: serde_json::Value,
    pub versions: serde_json::Value,
    pub manifest: Manifest,
    /// Further networks averaged with the primary one described above (an ensemble; empty for
    /// a single network and in models saved before ensembles existed). Every member shares
    /// the classes, input size, channels, normalisation and PCA basis above.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ensemble: Vec<MemberMeta>,
}

/// One further member of an ensemble: its own architecture settings, weights and temperature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberMeta {
    /// Weight file name, next to `model.json` (a plain file name, no path).
    pub weights: String,
    pub net: NetConfig,
    pub temperature: f64,
    pub seed: u64,
    /// Early-stopping patience it was trained with.
    pub patience: usize,
    pub epochs_run: usize,
    pub best_epoch: usize,
}

fn conv(p: nn::Path, cin: i64, cout: i64, k: i64, stride: i64) -> nn::Conv2D {
    nn::conv2d(p, cin, cout, k, nn::ConvConfig { stride, padding: k / 2, bias: false, ..Default::default() })
}

#[derive(Debug)]
struct Block {
    c1: nn::Conv2D,
    b1: nn::BatchNorm,
    c2: nn::Conv2D,
    b2: nn::BatchNorm,
    c3: Option<(nn::Conv2D, nn::BatchNorm)>,
    down: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl Block {
    fn basic(p: &nn::Path, cin: i64, cout: i64, stride: i64) -> Self {
        let down = (stride != 1 || cin != cout).then(|| (conv(p / "down", cin, cout, 1, stride), nn::batch_norm2d(p / "down_bn", cout, Default::default())));
        Self {
            c1: conv(p / "conv1", cin, cout, 3, stride),
            b1: nn::batch_norm2d(p / "bn1", cout, Default::default()),
            c2: conv(p / "conv2", cout, cout, 3, 1),
            b2: nn::batch_norm2d(p / "bn2", cout, Default::default()),
            c3: None,
            down,
        }
    }
    fn bottleneck(p: &nn::Path, cin: i64, width: i64, stride: i64) -> Self {
        let cout = width * 4;
        let down = (stride != 1 || cin != cout).then(|| (conv(p / "down", cin, cout, 1, stride), nn::batch_norm2d(p / "down_bn", cout, Default::default())));
        Self {
            c1: conv(p / "conv1", cin, width, 1, 1),
            b1: nn::batch_norm2d(p / "bn1", width, Default::default()),
            c2: conv(p / "conv2", width, width, 3, stride),
            b2: nn::batch_norm2d(p / "bn2", width, Default::default()),
            c3: Some((conv(p / "conv3", width, cout, 1, 1), nn::batch_norm2d(p / "bn3", cout, Default::default()))),
            down,
        }
    }
    fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut ys = xs.apply(&self.c1).apply_t(&self.b1, train).relu().apply(&self.c2).apply_t(&self.b2, train);
        if let Some((c3, b3)) = &self.c3 {
            ys = ys.relu().apply(c3).apply_t(b3, train);
        }
        let sc = match &self.down {
            Some((c, b)) => xs.apply(c).apply_t(b, train),
            None => xs.shallow_clone(),
        };
        (ys + sc).relu()
    }
}

/// The network.
#[derive(Debug)]
pub struct Net {
    /// Optional stride-1 convolution before the stem ([`NetConfig::full_res_stem`]).
    pre_stem: Option<(nn::Conv2D, nn::BatchNorm)>,
    stem: nn::Conv2D,
    /// [`NetConfig::space_to_depth`]: unshuffle 2x2 before the (then stride-1) stem.
    space_to_depth: bool,
    stem_bn: nn::BatchNorm,
    blocks: Vec<Block>,
    fc: nn::Linear,
    /// Auxiliary regression head ([`NetConfig::aux_targets`]), training only.
    aux: Option<nn::Linear>,
    /// Particle-count map head ([`NetConfig::particle_map_weight`]), training only: the
    /// index of the block it reads and its 1x1 convolution.
    count_map: Option<(usize, nn::Conv2D)>,
    dropout: f64,
}

/// What one forward pass gives: class logits `[n, K]`, the auxiliary head's standardised
/// target predictions `[n, len(aux_targets)]` and the particle-count map `[n, H/8, W/8]`,
/// each head only when the net has it.
#[derive(Debug)]
pub struct Heads {
    pub logits: Tensor,
    pub aux: Option<Tensor>,
    pub count_map: Option<Tensor>,
}

impl Net {
    /// Build under `p` (call `tch::manual_seed` first for reproducible initialisation).
    pub fn new(p: &nn::Path, cfg: &NetConfig) -> Self {
        let mut blocks = Vec::new();
        match cfg.arch {
            Arch::Compact => {
                let pre_stem = (cfg.full_res_stem > 0).then(|| {
                    (conv(p / "pre_stem", cfg.in_channels, cfg.full_res_stem, 3, 1), nn::batch_norm2d(p / "pre_stem_bn", cfg.full_res_stem, Default::default()))
                });
                let stem_in = if pre_stem.is_some() { cfg.full_res_stem } else { cfg.in_channels };
                let stem = if cfg.space_to_depth {
                    conv(p / "stem", 4 * stem_in, cfg.widths[0], 3, 1)
                } else {
                    conv(p / "stem", stem_in, cfg.widths[0], 3, cfg.stem_stride)
                };
                let mut cin = cfg.widths[0];
                for (s, &w) in cfg.widths.iter().enumerate() {
                    for b in 0..cfg.blocks_per_stage.max(1) {
                        let stride = if s > 0 && b == 0 { 2 } else { 1 };
                        blocks.push(Block::basic(&(p / format!("s{s}b{b}")), cin, w, stride));
                        cin = w;
                    }
                }
                Self {
                    pre_stem,
                    stem,
                    space_to_depth: cfg.space_to_depth,
                    stem_bn: nn::batch_norm2d(p / "stem_bn", cfg.widths[0], Default::default()),
                    blocks,
                    fc: nn::linear(p / "fc", cin, cfg.n_classes, Default::default()),
                    aux: aux_head(p, cin, cfg),
                    count_map: (cfg.particle_map_weight > 0.0).then(|| {
                        let stage = cfg.count_map_stage();
                        let last_block = (stage + 1) * cfg.blocks_per_stage.max(1) as usize - 1;
                        let cmap = nn::conv2d(p / "count_map", cfg.widths[stage], 1, 1, Default::default());
                        (last_block, cmap)
                    }),
                    dropout: cfg.dropout,
                }
            }
            Arch::Resnet50 => {
                let stem = conv(p / "stem", cfg.in_channels, 64, 3, cfg.stem_stride);
                let mut cin = 64;
                for (s, (&n, &w)) in [3i64, 4, 6, 3].iter().zip(&[64i64, 128, 256, 512]).enumerate() {
                    for b in 0..n {
                        let stride = if s > 0 && b == 0 { 2 } else { 1 };
                        blocks.push(Block::bottleneck(&(p / format!("s{s}b{b}")), cin, w, stride));
                        cin = w * 4;
                    }
                }
                Self {
                    pre_stem: None,
                    stem,
                    space_to_depth: false,
                    stem_bn: nn::batch_norm2d(p / "stem_bn", 64, Default::default()),
                    blocks,
                    fc: nn::linear(p / "fc", cin, cfg.n_classes, Default::default()),
                    aux: aux_head(p, cin, cfg),
                    count_map: None,
                    dropout: cfg.dropout,
                }
            }
        }
    }
}

fn aux_head(p: &nn::Path, cin: i64, cfg: &NetConfig) -> Option<nn::Linear> {
    (!cfg.aux_targets.is_empty()).then(|| nn::linear(p / "aux", cin, cfg.aux_targets.len() as i64, Default::default()))
}

impl Net {
    /// Pooled features `[n, C]` before dropout and the classifier, and the particle-count
    /// map `[n, H/8, W/8]` when `with_map` and the net has that head.
    fn features(&self, xs: &Tensor, train: bool, with_map: bool) -> (Tensor, Option<Tensor>) {
        let mut h = match &self.pre_stem {
            Some((c, b)) => xs.apply(c).apply_t(b, train).relu(),
            None => xs.shallow_clone(),
        };
        if self.space_to_depth {
            h = h.pixel_unshuffle(2);
        }
        h = h.apply(&self.stem).apply_t(&self.stem_bn, train).relu();
        let mut map = None;
        for (i, b) in self.blocks.iter().enumerate() {
            h = b.forward(&h, train);
            if let Some((at, head)) = self.count_map.as_ref().filter(|_| with_map)
                && *at == i
            {
                map = Some(h.apply(head).squeeze_dim(1));
            }
        }
        (h.adaptive_avg_pool2d([1, 1]).flatten(1, -1), map)
    }

    /// Every head's output for `xs` (see [`Heads`]); the map head runs only here, and only
    /// when `with_map` (callers that do not read `count_map` skip it).
    pub fn forward_heads(&self, xs: &Tensor, train: bool, with_map: bool) -> Heads {
        let (f, count_map) = self.features(xs, train, with_map);
        let aux = self.aux.as_ref().map(|a| f.apply(a));
        Heads { logits: f.dropout(self.dropout, train).apply(&self.fc), aux, count_map }
    }
}

impl nn::ModuleT for Net {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.features(xs, train, false).0.dropout(self.dropout, train).apply(&self.fc)
    }
}

/// Per-image standardisation of the grey channel: (x − mean)/(std + 1e-3).
pub fn standardise(img: &GreyImage) -> Vec<f32> {
    let n = img.data.len().max(1) as f32;
    let mean = img.data.iter().sum::<f32>() / n;
    let var = img.data.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let s = var.sqrt() + 1e-3;
    img.data.iter().map(|v| (v - mean) / s).collect()
}

/// Build one model input `[C][H][W]`: standardised grey, then PCA channels if `pca` is given.
pub fn build_input(img: &GreyImage, pca: Option<(&PcaBasis, &[u8])>) -> Result<Vec<f32>> {
    let mut x = standardise(img);
    if let Some((basis, cube)) = pca {
        x.extend(crate::pca::transform(basis, cube, img.width * img.height)?);
    }
    Ok(x)
}

/// The weights of one further ensemble member.
#[derive(Debug)]
pub struct Member {
    pub vs: nn::VarStore,
    pub net: Net,
}

/// A classifier: weights + sidecar. With `meta.ensemble` non-empty it is an ensemble: the
/// primary network (`vs`, `net`) plus `members`, whose calibrated probabilities are averaged.
#[derive(Debug)]
pub struct Classifier {
    pub vs: nn::VarStore,
    pub net: Net,
    pub meta: ModelMeta,
    /// Further members, in the order of `meta.ensemble`.
    pub members: Vec<Member>,
}

/// A weight-file name that stays inside the model folder.
fn check_weight_name(mj: &Path, name: &str) -> Result<()> {
    let plain = !name.is_empty() && !name.contains(['/', '\\']) && name != "." && name != ".." && name.ends_with(".safetensors");
    if plain { Ok(()) } else { Err(QcError::format(mj, format!("ensemble weight file `{name}` must be a plain `*.safetensors` file name next to model.json"))) }
}

/// Logits of `net` for `n` inputs `[n][c][s][s]` in batches of `batch` (eval mode).
fn net_logits(net: &Net, dev: Device, x: &[f32], n: usize, c: usize, s: usize, batch: usize) -> Result<Tensor> {
    batched(dev, x, n, c, s, batch, |t| Ok(net.forward_t(t, false)))
}

/// `f` over `n` inputs laid out `[n][C][S][S]` in `x`, in batches of `batch`, without
/// gradients, the outputs concatenated on the CPU.
fn batched(dev: Device, x: &[f32], n: usize, c: usize, s: usize, batch: usize, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    if x.len() != n * c * s * s {
        return Err(QcError::Shape { expected: format!("[{n}, {c}, {s}, {s}]"), got: format!("{} values", x.len()) });
    }
    let mut outs = Vec::new();
    tch::no_grad(|| -> Result<()> {
        for start in (0..n).step_by(batch.max(1)) {
            let m = batch.max(1).min(n - start);
            let t = Tensor::f_from_slice(&x[start * c * s * s..(start + m) * c * s * s])?
                .f_view([m as i64, c as i64, s as i64, s as i64])?
                .f_to_device(dev)?;
            outs.push(f(&t)?.f_to_device(Device::Cpu)?);
        }
        Ok(())
    })?;
    if outs.is_empty() {
        return Err(QcError::Empty { what: "inputs" });
    }
    Ok(Tensor::f_cat(&outs, 0)?)
}

impl Classifier {
    /// Fresh, randomly initialised classifier on `device` (a single network).
    pub fn new(meta: ModelMeta, device: Device) -> Self {
        let vs = nn::VarStore::new(device);
        let net = Net::new(&vs.root(), &meta.net);
        Self { vs, net, meta, members: Vec::new() }
    }

    /// Number of trainable parameters (all members of an ensemble).
    pub fn n_parameters(&self) -> i64 {
        let count = |vs: &nn::VarStore| vs.trainable_variables().iter().map(|t| t.numel() as i64).sum::<i64>();
        count(&self.vs) + self.members.iter().map(|m| count(&m.vs)).sum::<i64>()
    }

    /// Number of networks (1 for a single classifier).
    pub fn n_networks(&self) -> usize {
        1 + self.members.len()
    }

    /// Detached copies of the primary network's named variables (weights and batch-norm
    /// statistics), sorted by name: the best epoch's snapshot during training, or a start for
    /// another training (`train::train_from`).
    pub fn weights(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = self.vs.variables().into_iter().map(|(n, t)| (n, t.detach().copy())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Copy `w` into the primary network's variables of the same name and shape (others are
    /// left as they are) and return how many were copied.
    pub fn set_weights(&mut self, w: &[(String, Tensor)]) -> Result<usize> {
        let vars = self.vs.variables();
        tch::no_grad(|| -> Result<usize> {
            let mut copied = 0;
            for (n, t) in w {
                if let Some(dst) = vars.get(n).filter(|d| d.size() == t.size()) {
                    dst.shallow_clone().f_copy_(t)?;
                    copied += 1;
                }
            }
            Ok(copied)
        })
    }

    /// Add the trained `other` as a further ensemble member (trained with `patience`). It must
    /// take the same inputs and give the same classes.
    pub fn push_member(&mut self, other: Classifier, patience: usize) -> Result<()> {
        let (a, b) = (&self.meta, &other.meta);
        if a.classes != b.classes || a.input_size != b.input_size || a.channels != b.channels || a.pca != b.pca || a.task != b.task {
            return Err(QcError::Shape {
                expected: format!("a member for task {} with classes {:?}, {} px, channels {:?} and the same PCA basis", a.task, a.classes, a.input_size, a.channels),
                got: format!("task {}, classes {:?}, {} px, channels {:?}", b.task, b.classes, b.input_size, b.channels),
            });
        }
        let i = self.members.len() + 1;
        self.meta.ensemble.push(MemberMeta {
            weights: format!("member{i}.safetensors"),
            net: b.net.clone(),
            temperature: b.temperature,
            seed: b.seed,
            patience,
            epochs_run: b.epochs_run,
            best_epoch: b.best_epoch,
        });
        self.members.push(Member { vs: other.vs, net: other.net });
        Ok(())
    }

    /// Write `model.safetensors` (+ one `memberK.safetensors` per further ensemble member) and
    /// `model.json` into `dir` (created if needed).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| QcError::io(dir, e))?;
        // Weights first, each file atomically; model.json last marks a complete model.
        let write = |vs: &nn::VarStore, name: &str| -> Result<()> {
            let weights = dir.join(name);
            let tmp = crate::io::temp_path(&weights).with_extension("safetensors");
            vs.save(&tmp)?;
            std::fs::rename(&tmp, &weights).map_err(|e| QcError::io(&weights, e))
        };
        write(&self.vs, "model.safetensors")?;
        for (m, mm) in self.members.iter().zip(&self.meta.ensemble) {
            write(&m.vs, &mm.weights)?;
        }
        let json = serde_json::to_string_pretty(&self.meta)?;
        crate::io::write_file(&dir.join("model.json"), json.as_bytes())
    }

    /// Load from a model directory.
    pub fn load(dir: &Path, device: Device) -> Result<Self> {
        let mj = dir.join("model.json");
        let text = std::fs::read_to_string(&mj).map_err(|e| QcError::io(&mj, e))?;
        let meta: ModelMeta = serde_json::from_str(&text)?;
        if meta.format_version != FORMAT_VERSION {
            return Err(QcError::format(&mj, format!("format version {} (expected {FORMAT_VERSION})", meta.format_version)));
        }
        if let Some(why) = meta.net.problem() {
            return Err(QcError::format(&mj, format!("net: {why}")));
        }
        if let Some(why) = class_offsets_problem(&meta.class_log_offsets, meta.classes.len()) {
            return Err(QcError::format(&mj, format!("class_log_offsets: {why}")));
        }
        let mut members = Vec::new();
        for mm in &meta.ensemble {
            check_weight_name(&mj, &mm.weights)?;
            if let Some(why) = mm.net.problem() {
                return Err(QcError::format(&mj, format!("ensemble member `{}`: {why}", mm.weights)));
            }
            if mm.net.in_channels != meta.net.in_channels || mm.net.n_classes != meta.net.n_classes {
                return Err(QcError::format(&mj, format!("ensemble member `{}` takes {} channels / {} classes, the model {} / {}", mm.weights, mm.net.in_channels, mm.net.n_classes, meta.net.in_channels, meta.net.n_classes)));
            }
            if !(mm.temperature.is_finite() && mm.temperature > 0.0) {
                return Err(QcError::format(&mj, format!("ensemble member `{}`: temperature {} is not a positive number", mm.weights, mm.temperature)));
            }
            let mut vs = nn::VarStore::new(device);
            let net = Net::new(&vs.root(), &mm.net);
            vs.load(dir.join(&mm.weights))?;
            members.push(Member { vs, net });
        }
        let mut c = Self::new(meta, device);
        c.vs.load(dir.join("model.safetensors"))?;
        c.members = members;
        Ok(c)
    }

    /// Channels per input image.
    pub fn n_channels(&self) -> usize {
        self.meta.channels.len()
    }

    /// Logits of the primary network for `n` inputs laid out `[n][C][H][W]` in `x`, in
    /// batches of `batch` (eval mode). For an ensemble, probabilities come from
    /// [`Classifier::predict_proba`], not from these.
    pub fn logits(&self, x: &[f32], n: usize, batch: usize) -> Result<Tensor> {
        net_logits(&self.net, self.vs.device(), x, n, self.n_channels(), self.meta.input_size, batch)
    }

    /// The primary network's auxiliary-target predictions ([`NetConfig::aux_targets`]) in the
    /// targets' own units, `[n][k]`; an error when the model was trained without them.
    pub fn predict_aux(&self, x: &[f32], n: usize, batch: usize) -> Result<Vec<Vec<f64>>> {
        let targets = &self.meta.net.aux_targets;
        if targets.is_empty() {
            return Err(QcError::InvalidConfig("the model has no auxiliary targets (train with --aux-targets)".into()));
        }
        let (c, s) = (self.n_channels(), self.meta.input_size);
        let out = batched(self.vs.device(), x, n, c, s, batch, |t| {
            self.net.forward_heads(t, false, false).aux.ok_or_else(|| QcError::InvalidConfig("the network has no auxiliary head".into()))
        })?;
        let flat = Vec::<f32>::try_from(out.f_flatten(0, -1)?)?;
        Ok(flat.chunks(targets.len()).map(|row| row.iter().zip(targets).map(|(&v, t)| f64::from(v) * t.std + t.mean).collect()).collect())
    }

    /// The primary network's particle count per image: the sum of its particle-count map
    /// ([`NetConfig::particle_map_weight`]); an error when it was trained without that head.
    pub fn predict_particle_counts(&self, x: &[f32], n: usize, batch: usize) -> Result<Vec<f64>> {
        let (c, s) = (self.n_channels(), self.meta.input_size);
        let out = batched(self.vs.device(), x, n, c, s, batch, |t| {
            let map = self.net.forward_heads(t, false, true).count_map.ok_or_else(|| QcError::InvalidConfig("the model has no particle-count map (train with --particle-map-weight)".into()))?;
            Ok(map.f_sum_dim_intlist(&[1i64, 2][..], false, Kind::Float)?)
        })?;
        Ok(Vec::<f32>::try_from(out.f_flatten(0, -1)?)?.into_iter().map(f64::from).collect())
    }

    /// Logits and temperature of network `k` (0 = the primary network, k ≥ 1 the further
    /// ensemble members).
    fn network_logits(&self, k: usize, x: &[f32], n: usize, batch: usize) -> Result<(Tensor, f64)> {
        if k == 0 {
            return Ok((self.logits(x, n, batch)?, self.meta.temperature));
        }
        match (self.members.get(k - 1), self.meta.ensemble.get(k - 1)) {
            (Some(m), Some(mm)) => Ok((net_logits(&m.net, m.vs.device(), x, n, self.n_channels(), self.meta.input_size, batch)?, mm.temperature)),
            _ => Err(QcError::Shape { expected: format!("a network index below {}", self.n_networks()), got: k.to_string() }),
        }
    }

    /// Mean over the networks of softmax(logits / T), each with its own temperature when
    /// `calibrated`, else T = 1.
    fn mean_proba(&self, x: &[f32], n: usize, batch: usize, calibrated: bool) -> Result<Vec<Vec<f64>>> {
        mean_probs((0..self.n_networks()).map(|k| {
            let (l, t) = self.network_logits(k, x, n, batch)?;
            probs_from_logits(&l, if calibrated { t } else { 1.0 })
        }))
    }

    /// Calibrated probabilities of network `k` alone (0 = the primary network, k ≥ 1 the
    /// further ensemble members), `[n][K]`.
    pub fn network_proba(&self, k: usize, x: &[f32], n: usize, batch: usize) -> Result<Vec<Vec<f64>>> {
        let (l, t) = self.network_logits(k, x, n, batch)?;
        probs_from_logits(&l, t)
    }

    /// The model's probabilities, `[n][K]`: the calibrated softmax(logits / T) (for an
    /// ensemble the mean over the members) with the class decision offsets of
    /// [`ModelMeta::class_log_offsets`] applied (none: unchanged). What `qc classify`, `qc eval`
    /// and the reports use.
    pub fn predict_proba(&self, x: &[f32], n: usize, batch: usize) -> Result<Vec<Vec<f64>>> {
        Ok(apply_class_offsets(self.mean_proba(x, n, batch, true)?, &self.meta.class_log_offsets))
    }

    /// Temperature-calibrated probabilities without the class decision offsets, `[n][K]` (what
    /// the offsets are fitted on, and the "before" figures of `qc eval`).
    pub fn predict_proba_without_offsets(&self, x: &[f32], n: usize, batch: usize) -> Result<Vec<Vec<f64>>> {
        self.mean_proba(x, n, batch, true)
    }

    /// Set (or, with an empty slice, remove) the class decision offsets, checked as on load.
    pub fn set_class_offsets(&mut self, offsets: Vec<f64>) -> Result<()> {
        if let Some(why) = class_offsets_problem(&offsets, self.meta.classes.len()) {
            return Err(QcError::InvalidConfig(format!("class decision offsets: {why}")));
        }
        self.meta.class_log_offsets = offsets;
        Ok(())
    }

    /// Rewrite only `model.json` in `dir` (atomically), e.g. after new class offsets; the
    /// weight files stay as they are.
    pub fn save_meta(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(&self.meta)?;
        crate::io::write_file(&dir.join("model.json"), json.as_bytes())
    }

    /// Probabilities before temperature scaling (T = 1 for every network), `[n][K]`.
    pub fn predict_proba_uncalibrated(&self, x: &[f32], n: usize, batch: usize) -> Result<Vec<Vec<f64>>> {
        self.mean_proba(x, n, batch, false)
    }

    /// Test-time augmentation: the mean of the calibrated probabilities over the 8 dihedral
    /// transforms of each input (rotations by 0/90/180/270°, each with and without a
    /// horizontal flip; the same transforms training augments with), `[n][K]`. Eight times
    /// the cost of [`Classifier::predict_proba`]; the class is a consensus of the views, so a
    /// prediction no longer depends on how the image happens to be oriented.
    pub fn predict_proba_dihedral(&self, x: &[f32], n: usize, batch: usize) -> Result<Vec<Vec<f64>>> {
        let (c, s) = (self.n_channels(), self.meta.input_size);
        if x.len() != n * c * s * s {
            return Err(QcError::Shape { expected: format!("[{n}, {c}, {s}, {s}]"), got: format!("{} values", x.len()) });
        }
        let t = Tensor::f_from_slice(x)?.f_view([n as i64, c as i64, s as i64, s as i64])?;
        mean_probs((0..8i64).map(|k| {
            let r = t.f_rot90(k % 4, [2, 3])?;
            let r = if k >= 4 { r.f_flip([3])? } else { r };
            let v = Vec::<f32>::try_from(r.f_contiguous()?.f_flatten(0, -1)?)?;
            self.predict_proba(&v, n, batch)
        }))
    }
}

/// The element-wise mean of several `[n][K]` probability tables (ensemble members, test-time
/// views); the first error stops it.
fn mean_probs(parts: impl Iterator<Item = Result<Vec<Vec<f64>>>>) -> Result<Vec<Vec<f64>>> {
    let mut sum: Option<Vec<Vec<f64>>> = None;
    let mut count = 0usize;
    for p in parts {
        let p = p?;
        count += 1;
        match sum.as_mut() {
            None => sum = Some(p),
            Some(acc) => acc.iter_mut().zip(&p).for_each(|(a, b)| a.iter_mut().zip(b).for_each(|(x, y)| *x += y)),
        }
    }
    let mut out = sum.ok_or(QcError::Empty { what: "probability tables" })?;
    out.iter_mut().for_each(|row| row.iter_mut().for_each(|v| *v /= count as f64));
    Ok(out)
}

/// Largest magnitude accepted for a class decision offset (natural-log units: a factor of
/// e^10 on a probability is far beyond any sensible operating point).
pub const MAX_CLASS_LOG_OFFSET: f64 = 10.0;

/// Why `offsets` cannot be the class decision offsets of a `n_classes`-class model (`None`
/// when they can: empty, or one finite value per class within ±[`MAX_CLASS_LOG_OFFSET`]).
pub fn class_offsets_problem(offsets: &[f64], n_classes: usize) -> Option<String> {
    if offsets.is_empty() {
        return None;
    }
    if offsets.len() != n_classes {
        return Some(format!("{} values for {n_classes} classes (one per class, or none)", offsets.len()));
    }
    offsets
        .iter()
        .position(|b| !(b.is_finite() && b.abs() <= MAX_CLASS_LOG_OFFSET))
        .map(|i| format!("value {i} is {}; allowed: a finite number in [-{MAX_CLASS_LOG_OFFSET}, {MAX_CLASS_LOG_OFFSET}]", offsets[i]))
}

/// Each row's probabilities times exp(offset) per class, renormalised (softmax(z + b) from
/// softmax(z)); no offsets leave the rows as they are.
pub fn apply_class_offsets(mut probs: Vec<Vec<f64>>, offsets: &[f64]) -> Vec<Vec<f64>> {
    if offsets.is_empty() {
        return probs;
    }
    let w: Vec<f64> = offsets.iter().map(|b| b.exp()).collect();
    for row in &mut probs {
        row.iter_mut().zip(&w).for_each(|(p, w)| *p *= w);
        let sum: f64 = row.iter().sum();
        if sum > 0.0 {
            row.iter_mut().for_each(|p| *p /= sum);
        }
    }
    probs
}

/// softmax(logits / T) as nested vectors.
pub fn probs_from_logits(logits: &Tensor, temperature: f64) -> Result<Vec<Vec<f64>>> {
    let p = (logits / temperature).f_softmax(-1, Kind::Double)?;
    let k = p.size().get(1).copied().unwrap_or(0) as usize;
    let flat: Vec<f64> = Vec::<f64>::try_from(p.f_flatten(0, -1)?)?;
    Ok(flat.chunks(k.max(1)).map(<[f64]>::to_vec).collect())
}
