//! `model.json`: the serialisable description of a model (architecture settings, classes,
//! channels, normalisation, training manifest, ensemble members).

use crate::pca::PcaBasis;
use serde::{Deserialize, Serialize};

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
    /// How the training images were renewed each epoch (`qc train --fresh-renders`); absent
    /// when every epoch trained on the data's train split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fresh_renders: Option<String>,
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
