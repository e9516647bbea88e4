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
//!
//! # Layout
//! `meta.rs` (the `model.json` sidecar types), `net.rs` (the networks and their heads), this
//! file (input building, the [`Classifier`] with its ensemble, save/load and prediction, and
//! the class decision offsets).

use crate::error::{QcError, Result};
use crate::image_ops::GreyImage;
use crate::pca::PcaBasis;
use std::path::Path;
use tch::{Device, Kind, Tensor, nn, nn::ModuleT};

mod meta;
mod net;
pub use meta::*;
pub use net::*;

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

/// Named variables of a network (weights and batch-norm statistics), as
/// [`Classifier::weights`] returns them and [`Classifier::set_weights`] takes them.
pub type Weights = Vec<(String, Tensor)>;

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
    pub fn weights(&self) -> Weights {
        let mut out: Weights = self.vs.variables().into_iter().map(|(n, t)| (n, t.detach().copy())).collect();
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
