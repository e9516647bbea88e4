//! Seeded training with early stopping and temperature calibration (spec §5).
//!
//! Recipes: `seed` (Adam, lr 1e-4, batch 32, cross-entropy, as in seed 000) and `fast`
//! (AdamW 2e-3 → one-cycle peak 4e-3 → cosine to 4e-5, weight decay 1e-4, batch 64, label
//! smoothing 0.05). Both stop early on validation loss (patience 8) and keep the best epoch;
//! `fast` does not stop while its learning rate is still rising (the first 30 % of the steps),
//! where validation loss is noisy by design.
//! Augmentation: a random one of the 8 dihedral transforms, gain ±10 %, offset ±0.1,
//! Gaussian noise σ 0.05. Per-epoch ChaCha8 streams drive shuffling and augmentation, and
//! `tch::manual_seed` is set before building the model, so the same seed and thread count give
//! identical weights on CPU. [`train_with_fresh`] can swap in a new training set before every
//! epoch after the first (`qc train --fresh-renders`: new renders each epoch).

use crate::error::{QcError, Result};
use crate::model::{Classifier, ModelMeta};
use crate::rng;
use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Reduction, Tensor, nn, nn::OptimizerConfig};

/// Training recipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Recipe {
    Seed,
    Fast,
}

impl Recipe {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "seed" => Ok(Recipe::Seed),
            "fast" => Ok(Recipe::Fast),
            _ => Err(QcError::UnknownName { kind: "recipe", name: s.into() }),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Recipe::Seed => "seed",
            Recipe::Fast => "fast",
        }
    }
    pub fn batch_size(self) -> usize {
        match self {
            Recipe::Seed => 32,
            Recipe::Fast => 64,
        }
    }
}

/// Training options.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub recipe: Recipe,
    pub max_epochs: usize,
    pub patience: usize,
    pub seed: u64,
    pub augment: bool,
    /// Weight classes by inverse frequency (imbalanced real data).
    pub class_weights: bool,
    pub device: Device,
}

/// A batch-ready data set: inputs `[n][c][s][s]` flattened, labels `[n]`, optional
/// auxiliary regression targets `[n][k]` flattened (standardised; empty for none, see
/// [`crate::model::NetConfig::aux_targets`]) and optional particle-count maps
/// `[n][s/8][s/8]` flattened ([`count_map`]; empty for none, see
/// [`crate::model::NetConfig::particle_map_weight`]).
#[derive(Debug, Clone, Default)]
pub struct Tensors {
    pub x: Vec<f32>,
    pub y: Vec<i64>,
    pub c: usize,
    pub s: usize,
    pub aux: Vec<f32>,
    pub count_maps: Vec<f32>,
}

/// Pixels per side of one particle-count map cell (the net's total stride where the map
/// head sits, [`crate::model::NetConfig::count_map_stage`]).
pub const COUNT_MAP_CELL_PX: usize = 8;

/// The particle-count map of an `size_px` square image: `[g][g]` row-major with
/// g = size_px / 8, each cell the number of `points` (pixel coordinates, origin at the
/// centre of the top-left pixel) whose nearest pixel lies in it. Points outside the image
/// count in the nearest border cell, as the label rule counts them. `size_px` must be a
/// multiple of 8.
pub fn count_map(points: &[(f32, f32)], size_px: usize) -> Vec<f32> {
    let g = size_px / COUNT_MAP_CELL_PX;
    let mut m = vec![0f32; g * g];
    let cell = |v: f32| (v.round().clamp(0.0, (size_px - 1) as f32) as usize) / COUNT_MAP_CELL_PX;
    for &(x, y) in points {
        m[cell(y) * g + cell(x)] += 1.0;
    }
    m
}

impl Tensors {
    pub fn n(&self) -> usize {
        self.y.len()
    }
    fn item(&self, i: usize) -> &[f32] {
        let d = self.c * self.s * self.s;
        &self.x[i * d..(i + 1) * d]
    }
}

/// Source pixel of output (x, y) under dihedral transform `t` ∈ 0..8 (rotation t % 4 by 90°,
/// then a horizontal flip if t ≥ 4) on an n x n image.
#[inline]
pub fn dihedral_src(t: u8, x: usize, y: usize, n: usize) -> (usize, usize) {
    let x = if t >= 4 { n - 1 - x } else { x };
    match t % 4 {
        0 => (x, y),
        1 => (n - 1 - y, x),
        2 => (n - 1 - x, n - 1 - y),
        _ => (y, n - 1 - x),
    }
}

/// `dst = src` under dihedral transform `t` for an n x n single-channel map.
pub fn dihedral_into(dst: &mut [f32], src: &[f32], t: u8, n: usize) {
    for y in 0..n {
        for x in 0..n {
            let (sx, sy) = dihedral_src(t, x, y, n);
            dst[y * n + x] = src[sy * n + sx];
        }
    }
}

/// Augment one image into `dst`; returns the dihedral transform drawn (so a target map can
/// follow it).
fn augment_into(dst: &mut [f32], src: &[f32], c: usize, s: usize, r: &mut rand_chacha::ChaCha8Rng) -> u8 {
    let t: u8 = r.random_range(0..8);
    let gain: f32 = r.random_range(0.9..1.1);
    let off: f32 = r.random_range(-0.1..0.1);
    for (ch, (d, from)) in dst.chunks_mut(s * s).zip(src.chunks(s * s)).take(c).enumerate() {
        dihedral_into(d, from, t, s);
        // Noise is drawn pixel by pixel in output order, as before the dihedral step was shared.
        for v in d.iter_mut() {
            let noise: f32 = 0.05 * r.sample::<f32, _>(rand_distr::StandardNormal);
            *v = if ch == 0 { *v * gain + off + noise } else { *v + noise };
        }
    }
    t
}

/// One epoch's log line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    pub lr: f64,
    pub seconds: f64,
}

/// Result of training.
#[derive(Debug)]
pub struct Trained {
    pub model: Classifier,
    pub history: Vec<EpochLog>,
    pub best_epoch: usize,
    /// Variables copied from [`train_from`]'s `init` (0 without one).
    pub initialised: usize,
}

/// Fraction of the `fast` recipe's steps over which its learning rate rises to the peak.
const FAST_WARMUP_FRACTION: f64 = 0.3;

fn lr_at(recipe: Recipe, step: usize, total: usize) -> f64 {
    match recipe {
        Recipe::Seed => 1e-4,
        Recipe::Fast => {
            let f = step as f64 / total.max(1) as f64;
            if f < FAST_WARMUP_FRACTION {
                2e-3 + (4e-3 - 2e-3) * f / FAST_WARMUP_FRACTION
            } else {
                let g = (f - FAST_WARMUP_FRACTION) / (1.0 - FAST_WARMUP_FRACTION);
                4e-5 + 0.5 * (4e-3 - 4e-5) * (1.0 + (std::f64::consts::PI * g).cos())
            }
        }
    }
}

/// Early stopping after an epoch that did not improve: `patience` epochs since the best one,
/// and not while the `fast` recipe's learning rate is still rising (`step` steps done of
/// `total`): in session 16 a 60-epoch bead run stopped at epoch 23, with the rate at its
/// peak and the best epoch (15) inside the warm-up (BENCHMARKS.md, "Session 16").
fn should_stop(recipe: Recipe, step: usize, total: usize, epoch: usize, best_epoch: usize, patience: usize) -> bool {
    let warming_up = recipe == Recipe::Fast && (step as f64) < FAST_WARMUP_FRACTION * total as f64;
    !warming_up && epoch - best_epoch >= patience
}

/// Mean cross-entropy and accuracy of the model on `data` (eval mode, T = 1).
pub fn evaluate_loss(model: &Classifier, data: &Tensors) -> Result<(f64, f64)> {
    let logits = model.logits(&data.x, data.n(), 128)?;
    let y = Tensor::f_from_slice(&data.y)?;
    let loss = f64::try_from(logits.f_cross_entropy_loss::<Tensor>(&y, None, Reduction::Mean, -100, 0.0)?)?;
    let acc = f64::try_from(logits.f_argmax(-1, false)?.f_eq_tensor(&y)?.f_to_kind(Kind::Double)?.f_mean(Kind::Double)?)?;
    Ok((loss, acc))
}

/// Fit the temperature T ∈ [0.25, 10] minimising validation NLL (log-spaced grid, 200 points).
pub fn fit_temperature(logits: &Tensor, y: &[i64]) -> Result<f64> {
    let yt = Tensor::f_from_slice(y)?;
    let mut best = (f64::INFINITY, 1.0);
    for i in 0..200 {
        let t = 0.25 * (40.0f64).powf(i as f64 / 199.0);
        let nll = f64::try_from((logits / t).f_cross_entropy_loss::<Tensor>(&yt, None, Reduction::Mean, -100, 0.0)?)?;
        if nll < best.0 {
            best = (nll, t);
        }
    }
    Ok(best.1)
}

/// Train a new classifier described by `meta` (its `net`, `classes`, `channels`, `input_size`).
/// `on_epoch` is called after every epoch (progress bars live in the caller).
pub fn train(meta: ModelMeta, train: &Tensors, val: &Tensors, opts: &TrainOptions, on_epoch: &mut dyn FnMut(&EpochLog)) -> Result<Trained> {
    train_from(meta, None, train, val, opts, on_epoch)
}

pub use crate::model::Weights;

/// [`train`], starting from `init`'s weights instead of a random initialisation where a
/// variable of the same name and shape exists (the rest, e.g. a head of another size, keeps
/// its random start). Used to pretrain on rendered images before the real ones
/// (`qc train --pretrain-renders`). Returns the number of variables taken from `init` in
/// [`Trained::initialised`].
pub fn train_from(meta: ModelMeta, init: Option<&[(String, Tensor)]>, train: &Tensors, val: &Tensors, opts: &TrainOptions, on_epoch: &mut dyn FnMut(&EpochLog)) -> Result<Trained> {
    train_with_fresh(meta, init, train, val, opts, None, on_epoch)
}

/// A source of fresh training images: called with the epoch number (2, 3, …) before that
/// epoch, it returns the set the epoch trains on instead of the given one (same size, channels
/// and side; with a particle-map head, with maps). Used by `qc train --fresh-renders`, where
/// every epoch after the first draws new renders, so the network never sees an image twice.
pub type FreshData<'a> = &'a mut dyn FnMut(usize) -> Result<Tensors>;

/// Check that `d` can be trained on by a model with `k` classes, `c` channels, side `s`.
fn check_set(name: &str, d: &Tensors, k: usize, c: usize, s: usize) -> Result<()> {
    if d.c != c || d.s != s || d.x.len() != d.n() * c * s * s {
        return Err(QcError::Shape { expected: format!("{name}: [n, {c}, {s}, {s}]"), got: format!("[{}, {}, {}, {}]", d.n(), d.c, d.s, d.s) });
    }
    if let Some(&bad) = d.y.iter().find(|&&v| v < 0 || v as usize >= k) {
        return Err(QcError::ClassOutOfRange { idx: bad.max(0) as usize, n_classes: k });
    }
    Ok(())
}

/// [`train_from`] where, if `fresh` is given, every epoch after the first trains on the set
/// `fresh(epoch)` returns (the first on `train`). The fresh set must have `train`'s size (the
/// learning-rate schedule counts its steps from it), channels and side; the previous fresh set
/// is dropped before the next is made, so at most two sets (`train` and one fresh) are held.
pub fn train_with_fresh(mut meta: ModelMeta, init: Option<&[(String, Tensor)]>, train: &Tensors, val: &Tensors, opts: &TrainOptions, mut fresh: Option<FreshData<'_>>, on_epoch: &mut dyn FnMut(&EpochLog)) -> Result<Trained> {
    let k = meta.classes.len();
    let (c, s) = (meta.channels.len(), meta.input_size);
    for (name, d) in [("train", train), ("val", val)] {
        check_set(name, d, k, c, s)?;
    }
    if train.n() == 0 || val.n() == 0 {
        return Err(QcError::Empty { what: "training or validation set" });
    }
    let n_aux = meta.net.aux_targets.len();
    if train.aux.len() != train.n() * n_aux {
        return Err(QcError::Shape { expected: format!("train auxiliary targets: [{}, {n_aux}] (one per row and net target)", train.n()), got: format!("{} values", train.aux.len()) });
    }
    if let Some(problem) = meta.net.problem() {
        return Err(QcError::InvalidConfig(problem));
    }
    let with_map = meta.net.particle_map_weight > 0.0;
    let g = s / COUNT_MAP_CELL_PX;
    if with_map && (s % COUNT_MAP_CELL_PX != 0 || train.count_maps.len() != train.n() * g * g) {
        return Err(QcError::Shape {
            expected: format!("train particle-count maps: [{}, {g}, {g}] (one per row; image side a multiple of {COUNT_MAP_CELL_PX})", train.n()),
            got: format!("{} values at {s} px", train.count_maps.len()),
        });
    }
    tch::manual_seed(opts.seed as i64);
    meta.recipe = opts.recipe.name().into();
    meta.seed = opts.seed;
    meta.device = format!("{:?}", opts.device);
    meta.threads = tch::get_num_threads();
    let mut model = Classifier::new(meta, opts.device);
    let initialised = match init {
        Some(w) => model.set_weights(w)?,
        None => 0,
    };
    let bs = opts.recipe.batch_size();
    let steps_per_epoch = train.n().div_ceil(bs);
    let total_steps = steps_per_epoch * opts.max_epochs;
    let mut opt = match opts.recipe {
        Recipe::Seed => nn::Adam::default().build(&model.vs, 1e-4)?,
        Recipe::Fast => nn::AdamW { wd: 1e-4, ..Default::default() }.build(&model.vs, 2e-3)?,
    };
    let smoothing = if opts.recipe == Recipe::Fast { 0.05 } else { 0.0 };
    let weights: Option<Tensor> = if opts.class_weights {
        let mut cnt = vec![0f64; k];
        train.y.iter().for_each(|&v| cnt[v as usize] += 1.0);
        let w: Vec<f32> = cnt.iter().map(|&n| if n > 0.0 { (train.n() as f64 / (k as f64 * n)) as f32 } else { 0.0 }).collect();
        Some(Tensor::f_from_slice(&w)?.f_to_device(opts.device)?)
    } else {
        None
    };
    let d = c * s * s;
    let mut history = Vec::new();
    let mut best: Option<(f64, usize, Weights)> = None;
    let mut step = 0usize;
    let mut order: Vec<usize> = (0..train.n()).collect();
    let mut buf = vec![0f32; bs * d];
    let mut map_buf = vec![0f32; if with_map { bs * g * g } else { 0 }];
    let mut fresh_set: Option<Tensors> = None;
    for epoch in 1..=opts.max_epochs {
        let t0 = std::time::Instant::now();
        if let Some(f) = fresh.as_mut().filter(|_| epoch > 1) {
            drop(fresh_set.take()); // free the previous fresh set before the next is made
            let set = f(epoch)?;
            check_set(&format!("fresh set of epoch {epoch}"), &set, k, c, s)?;
            if set.n() != train.n() || (with_map && set.count_maps.len() != set.n() * g * g) || set.aux.len() != set.n() * n_aux {
                return Err(QcError::Shape {
                    expected: format!("fresh set of epoch {epoch}: {} rows as the train set, with {} maps and {n_aux} auxiliary targets per row", train.n(), if with_map { "count" } else { "no" }),
                    got: format!("{} rows, {} map values, {} auxiliary values", set.n(), set.count_maps.len(), set.aux.len()),
                });
            }
            fresh_set = Some(set);
        }
        let train = fresh_set.as_ref().unwrap_or(train);
        let mut r = rng::stream(&[opts.seed, 0xE90C, epoch as u64]);
        order.sort_unstable();
        order.shuffle(&mut r);
        let mut loss_sum = 0.0;
        let mut lr = 0.0;
        for chunk in order.chunks(bs) {
            let m = chunk.len();
            for (j, &i) in chunk.iter().enumerate() {
                let t = if opts.augment { augment_into(&mut buf[j * d..(j + 1) * d], train.item(i), c, s, &mut r) } else {
                    buf[j * d..(j + 1) * d].copy_from_slice(train.item(i));
                    0
                };
                if with_map {
                    dihedral_into(&mut map_buf[j * g * g..(j + 1) * g * g], &train.count_maps[i * g * g..(i + 1) * g * g], t, g);
                }
            }
            let xb = Tensor::f_from_slice(&buf[..m * d])?.f_view([m as i64, c as i64, s as i64, s as i64])?.f_to_device(opts.device)?;
            let yv: Vec<i64> = chunk.iter().map(|&i| train.y[i]).collect();
            let yb = Tensor::f_from_slice(&yv)?.f_to_device(opts.device)?;
            lr = lr_at(opts.recipe, step, total_steps);
            opt.set_lr(lr);
            let heads = model.net.forward_heads(&xb, true, true);
            let ce = heads.logits.f_cross_entropy_loss(&yb, weights.as_ref(), Reduction::Mean, -100, smoothing)?;
            let ce = match heads.count_map {
                Some(map) => {
                    let mb = Tensor::f_from_slice(&map_buf[..m * g * g])?.f_view([m as i64, g as i64, g as i64])?.f_to_device(opts.device)?;
                    ce + map.f_mse_loss(&mb, Reduction::Sum)? * (model.meta.net.particle_map_weight / m as f64)
                }
                None => ce,
            };
            let loss = match heads.aux {
                Some(aux) => {
                    let av: Vec<f32> = chunk.iter().flat_map(|&i| train.aux[i * n_aux..(i + 1) * n_aux].iter().copied()).collect();
                    let ab = Tensor::f_from_slice(&av)?.f_view([m as i64, n_aux as i64])?.f_to_device(opts.device)?;
                    ce + aux.f_mse_loss(&ab, Reduction::Mean)? * model.meta.net.aux_weight
                }
                None => ce,
            };
            opt.backward_step(&loss);
            loss_sum += f64::try_from(&loss)? * m as f64;
            step += 1;
        }
        let (val_loss, val_acc) = evaluate_loss(&model, val)?;
        let log = EpochLog { epoch, train_loss: loss_sum / train.n() as f64, val_loss, val_accuracy: val_acc, lr, seconds: t0.elapsed().as_secs_f64() };
        on_epoch(&log);
        history.push(log);
        let improved = best.as_ref().is_none_or(|b| val_loss < b.0);
        if improved {
            best = Some((val_loss, epoch, model.weights()));
        } else if best.as_ref().is_some_and(|b| should_stop(opts.recipe, step, total_steps, epoch, b.1, opts.patience)) {
            break;
        }
    }
    let (_, best_epoch, snap) = best.ok_or(QcError::Empty { what: "epochs" })?;
    model.set_weights(&snap)?;
    // Temperature on the validation set.
    let logits = model.logits(&val.x, val.n(), 128)?;
    model.meta.temperature = fit_temperature(&logits, &val.y)?;
    model.meta.epochs_run = history.len();
    model.meta.best_epoch = best_epoch;
    Ok(Trained { model, history, best_epoch, initialised })
}

/// Accuracy at exact 0/90/180/270° rotations (`Tensor::rot90`), the spread (max − min, in
/// points) and consistency (share of images predicted alike under all four).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RotationReport {
    pub accuracy_by_angle: Vec<(u32, f64)>,
    pub spread_points: f64,
    pub consistency: f64,
}

/// Rotation robustness of `model` on `data`.
pub fn rotation_robustness(model: &Classifier, data: &Tensors) -> Result<RotationReport> {
    let n = data.n();
    let (c, s) = (data.c as i64, data.s as i64);
    let x = Tensor::f_from_slice(&data.x)?.f_view([n as i64, c, s, s])?;
    let mut preds: Vec<Vec<usize>> = Vec::new();
    let mut accs = Vec::new();
    for k in 0..4i64 {
        let xr = x.f_rot90(k, [2, 3])?.f_contiguous()?;
        let v: Vec<f32> = Vec::<f32>::try_from(xr.f_flatten(0, -1)?)?;
        let p = model.predict_proba_uncalibrated(&v, n, 128)?;
        let am = crate::metrics::argmax(&p);
        let acc = am.iter().zip(&data.y).filter(|(a, b)| **a as i64 == **b).count() as f64 / n.max(1) as f64;
        accs.push(((k * 90) as u32, acc));
        preds.push(am);
    }
    let max = accs.iter().map(|a| a.1).fold(f64::MIN, f64::max);
    let min = accs.iter().map(|a| a.1).fold(f64::MAX, f64::min);
    let consistent = (0..n).filter(|&i| preds.iter().all(|p| p[i] == preds[0][i])).count();
    Ok(RotationReport { accuracy_by_angle: accs, spread_points: 100.0 * (max - min), consistency: consistent as f64 / n.max(1) as f64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_stopping_waits_for_the_end_of_the_fast_warm_up() {
        // 100 steps: the fast recipe's rate rises over the first 30.
        assert!(!should_stop(Recipe::Fast, 29, 100, 12, 3, 8), "rate still rising");
        assert!(should_stop(Recipe::Fast, 30, 100, 12, 3, 8));
        assert!(!should_stop(Recipe::Fast, 50, 100, 12, 5, 8), "only 7 epochs since the best");
        // The seed recipe has a constant rate: patience alone decides.
        assert!(should_stop(Recipe::Seed, 1, 100, 12, 3, 8));
        assert!(!should_stop(Recipe::Seed, 1, 100, 10, 3, 8));
    }

    #[test]
    fn count_map_counts_points_per_8_px_cell_and_clamps_outside_ones() {
        let m = count_map(&[(0.0, 0.0), (7.4, 7.0), (7.6, 0.0), (95.0, 40.0), (-3.0, 100.0), (20.2, 9.9)], 96);
        assert_eq!(m.len(), 144);
        assert_eq!(m.iter().sum::<f32>(), 6.0, "every point counts once");
        assert_eq!(m[0], 2.0, "(0, 0) and (7.4, 7.0) round to pixels 0..=7");
        assert_eq!(m[1], 1.0, "7.6 rounds to pixel 8: the next cell");
        assert_eq!(m[5 * 12 + 11], 1.0, "x 95 -> cell 11, y 40 -> cell 5");
        assert_eq!(m[11 * 12], 1.0, "outside the image: the nearest border cell");
        assert_eq!(m[12 + 2], 1.0, "(20.2, 9.9) -> pixel (20, 10) -> cell (2, 1)");
        assert!(count_map(&[], 64).iter().all(|&v| v == 0.0) && count_map(&[], 64).len() == 64);
    }

    /// The map follows the image: transforming a one-point image and its map with the same
    /// dihedral transform gives the map of the transformed image's point, for all 8.
    #[test]
    fn dihedral_transforms_move_count_maps_with_their_images() {
        let (n, g) = (96, 12);
        for &(px, py) in &[(3usize, 70usize), (50, 9), (95, 0), (40, 41)] {
            let mut img = vec![0f32; n * n];
            img[py * n + px] = 1.0;
            let map = count_map(&[(px as f32, py as f32)], n);
            for t in 0..8u8 {
                let mut timg = vec![0f32; n * n];
                dihedral_into(&mut timg, &img, t, n);
                let at = timg.iter().position(|&v| v == 1.0).expect("the point moves, it is not lost");
                let expected = count_map(&[((at % n) as f32, (at / n) as f32)], n);
                let mut tmap = vec![0f32; g * g];
                dihedral_into(&mut tmap, &map, t, g);
                assert_eq!(tmap, expected, "point ({px}, {py}), transform {t}");
            }
        }
    }

    /// `augment_into` (dihedral step shared with the count maps) gives the same pixels and the
    /// same random draws as the per-pixel formulation it replaced, so trainings are unchanged.
    #[test]
    fn augmentation_matches_the_per_pixel_reference() {
        use rand::{Rng, SeedableRng};
        let (c, s) = (3usize, 10usize);
        let src: Vec<f32> = (0..c * s * s).map(|i| (i as f32 * 0.37).sin()).collect();
        for seed in 0..16u64 {
            let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut got = vec![0f32; src.len()];
            let t = augment_into(&mut got, &src, c, s, &mut r);
            let after: u64 = r.random();
            let mut q = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let tr: u8 = q.random_range(0..8);
            let gain: f32 = q.random_range(0.9..1.1);
            let off: f32 = q.random_range(-0.1..0.1);
            let mut want = vec![0f32; src.len()];
            for ch in 0..c {
                for y in 0..s {
                    for x in 0..s {
                        let (sx, sy) = dihedral_src(tr, x, y, s);
                        let v = src[ch * s * s + sy * s + sx];
                        let noise: f32 = 0.05 * q.sample::<f32, _>(rand_distr::StandardNormal);
                        want[ch * s * s + y * s + x] = if ch == 0 { v * gain + off + noise } else { v + noise };
                    }
                }
            }
            assert_eq!((t, got), (tr, want), "seed {seed}");
            assert_eq!(after, q.random::<u64>(), "seed {seed}: same number of draws");
        }
    }

    #[test]
    fn the_fast_rate_peaks_at_the_end_of_the_warm_up() {
        assert_eq!(lr_at(Recipe::Fast, 0, 100), 2e-3);
        assert!((lr_at(Recipe::Fast, 30, 100) - 4e-3).abs() < 1e-12);
        assert!(lr_at(Recipe::Fast, 29, 100) < lr_at(Recipe::Fast, 30, 100));
        assert!(lr_at(Recipe::Fast, 31, 100) < lr_at(Recipe::Fast, 30, 100));
        assert!((lr_at(Recipe::Fast, 100, 100) - 4e-5).abs() < 1e-12);
    }
}
