//! `mabtwin qc train`: one network or a diverse ensemble, progress bars, the sidecar's
//! validation figures and the training histories.

use super::*;

/// Epoch budget of `qc train`, and whether to fit class decision offsets after it.
#[derive(Debug, Clone, Copy)]
pub(super) struct TrainBudget {
    pub(super) epochs: usize,
    pub(super) patience: usize,
    /// Networks in the model (None: the task's default, see `default_ensemble`).
    pub(super) ensemble: Option<usize>,
    /// Fit class decision offsets on the validation split after training (`--fit-class-offsets`).
    pub(super) fit_class_offsets: bool,
    /// Rendered images to pretrain on before the data (`--pretrain-renders`; 0 = none).
    pub(super) pretrain_renders: u64,
    /// Epochs of that pretraining (`--pretrain-epochs`).
    pub(super) pretrain_epochs: usize,
    /// Train every epoch after the first on new renders (`--fresh-renders`).
    pub(super) fresh_renders: bool,
}

/// One [`qc::train::train_from`] run behind a progress bar of `opts.max_epochs` steps labelled
/// `label`; each epoch's line (prefixed with `prefix`) is printed above the bar, or to stderr
/// when the bar is hidden (not a terminal).
fn train_with_bar(label: &str, prefix: &str, meta: qc::model::ModelMeta, init: Option<&[(String, tch::Tensor)]>, tr: &qc::train::Tensors, va: &qc::train::Tensors, opts: &qc::train::TrainOptions, fresh: Option<qc::train::FreshData<'_>>) -> Result<qc::train::Trained> {
    let pb = bar(opts.max_epochs as u64, label);
    let trained = qc::train::train_with_fresh(meta, init, tr, va, opts, fresh, &mut |l| {
        pb.inc(1);
        let line = format!("{prefix}epoch {:>3}  train loss {:.4}  val loss {:.4}  val acc {:.4}  lr {:.2e}  {:.1} s", l.epoch, l.train_loss, l.val_loss, l.val_accuracy, l.lr, l.seconds);
        if pb.is_hidden() {
            eprintln!("{line}");
        } else {
            pb.println(line);
        }
    })?;
    pb.finish_and_clear();
    Ok(trained)
}

/// Pretrain one network shaped by `meta` on `n` class-balanced renders of `task` (seeded by
/// `seed`; render groups in the renderer's val split validate, the rest train) for `epochs`
/// epochs of the whole schedule, and return the weights of its best render-validation epoch
/// with a one-line description for the manifest. The real data's training then picks its own
/// best epoch on the real validation split.
fn pretrain_on_renders(meta: &qc::model::ModelMeta, task: Task, n: u64, epochs: usize, base: &qc::train::TrainOptions) -> Result<(qc::train::Weights, String)> {
    let size = task.size_px();
    let render_seed = base.seed ^ 0x9E7A_1A5E;
    let cfg = qc::render::RenderConfig { spectral: false, ..qc::render::RenderConfig::new(task) };
    let t0 = std::time::Instant::now();
    let renders = qc::render::render_set(&cfg, render_seed, 0, n).context("rendering the pretraining images")?;
    let (mut tr, mut va) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for r in renders {
        let Some(label) = r.label else { continue };
        let side = if qc::render::split_of_group(render_seed, r.group) == "val" { &mut va } else { &mut tr };
        side.0.push(r.image);
        side.1.push(label);
    }
    if tr.0.is_empty() || va.0.is_empty() {
        bail!("--pretrain-renders {n}: too few renders to have both training and validation groups (try 500 or more)");
    }
    let tr = qc::data::to_tensors(&tr.0, &tr.1, size, None, None)?;
    let va = qc::data::to_tensors(&va.0, &va.1, size, None, None)?;
    let mut m = meta.clone();
    m.manifest.early_stopping_on = "render val split (pretraining)".into();
    let opts = qc::train::TrainOptions { max_epochs: epochs, patience: epochs, class_weights: false, seed: render_seed, ..base.clone() };
    eprintln!("pretraining on {} rendered {} images ({} validate, render seed {render_seed}), {epochs} epochs", tr.n() + va.n(), task.name(), va.n());
    let trained = train_with_bar("pretrain", "pretrain ", m, None, &tr, &va, &opts, None)?;
    eprintln!("pretrained in {:.0} s (best render-val epoch {} of {})", t0.elapsed().as_secs_f64(), trained.best_epoch, trained.history.len());
    let what = format!(
        "{} rendered {} images (render seed {render_seed}, {} of them validating), {epochs} epochs, weights of epoch {} (render-val accuracy {:.4})",
        tr.n() + va.n(),
        task.name(),
        va.n(),
        trained.best_epoch,
        trained.history.get(trained.best_epoch.saturating_sub(1)).map_or(f64::NAN, |h| h.val_accuracy)
    );
    Ok((trained.model.weights(), what))
}

/// Where `--fresh-renders` draws from: the data's render configuration and seed, and what each
/// fresh set must carry.
struct FreshSource {
    cfg: qc::render::RenderConfig,
    render_seed: u64,
    n: usize,
    size: usize,
    pca: Option<qc::pca::PcaBasis>,
    with_map: bool,
}

impl FreshSource {
    /// The render seed of epoch `epoch` of the network trained with `train_seed`: a hash of the
    /// data's render seed, the network's seed and the epoch, never the data's own seed (whose
    /// groups hold the validation and test images).
    fn seed(&self, train_seed: u64, epoch: usize) -> u64 {
        let s = qc::rng::mix(&[self.render_seed, 0xF4E5_4E55, train_seed, epoch as u64]);
        if s == self.render_seed { s ^ 1 } else { s }
    }

    /// `n` new labelled renders (rendered and converted in chunks, so only one chunk's images
    /// and cubes are held at a time), as model inputs with their particle-count maps when the
    /// net has a map head.
    fn draw(&self, train_seed: u64, epoch: usize) -> qc::error::Result<qc::train::Tensors> {
        const CHUNK: usize = 2048;
        let seed = self.seed(train_seed, epoch);
        let mut out = qc::train::Tensors { c: 1 + if self.pca.is_some() { qc::pca::N_COMPONENTS } else { 0 }, s: self.size, ..Default::default() };
        out.x.reserve(self.n * out.c * self.size * self.size);
        let mut next = 0u64;
        while out.n() < self.n {
            let m = (self.n - out.n()).clamp(64, CHUNK) as u64;
            let renders = qc::render::render_set(&self.cfg, seed, next, m)?;
            next += m;
            let want = self.n - out.n();
            let (mut images, mut labels, mut cubes) = (Vec::new(), Vec::new(), Vec::new());
            for r in renders.into_iter().filter(|r| r.label.is_some()).take(want) {
                if self.with_map {
                    out.count_maps.extend(qc::train::count_map(&r.particles_px, self.size));
                }
                labels.extend(r.label);
                cubes.extend(r.spectral.filter(|_| self.pca.is_some()));
                images.push(r.image);
            }
            let cube_refs: Option<Vec<&[u8]>> = self.pca.as_ref().map(|_| cubes.iter().map(Vec::as_slice).collect());
            let t = qc::data::to_tensors(&images, &labels, self.size, self.pca.as_ref(), cube_refs.as_deref())?;
            out.x.extend_from_slice(&t.x);
            out.y.extend_from_slice(&t.y);
            if next > 4 * self.n as u64 + CHUNK as u64 {
                return Err(qc::error::QcError::Empty { what: "labelled fresh renders (the task excludes too many borderline images)" });
            }
        }
        Ok(out)
    }
}

/// The render configuration and seed recorded in a render folder's render.json.
fn render_source(data: &Path) -> Result<(qc::render::RenderConfig, u64)> {
    let path = data.join("render.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("--fresh-renders needs a render folder; reading {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let cfg: qc::render::RenderConfig = serde_json::from_value(v.get("config").cloned().unwrap_or_default()).with_context(|| format!("{}: field `config` is not a render configuration", path.display()))?;
    let seed = v.get("seed").and_then(serde_json::Value::as_u64).with_context(|| format!("{}: field `seed` (an unsigned integer) is missing", path.display()))?;
    Ok((cfg, seed))
}

/// Networks per model when `--ensemble` is not given: three for trypan crops that are not
/// renders (on the real crops a diverse three-network ensemble was more accurate than one
/// network on every held-out fold, BENCHMARKS.md), one otherwise (rendered trypan crops are
/// classified perfectly by one network; the other tasks were not measured with ensembles).
fn default_ensemble(task: Task, is_render: bool) -> usize {
    if task == Task::Trypan && !is_render { 3 } else { 1 }
}

/// How ensemble network `k` differs from the given recipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MemberRecipe {
    stem_stride: i64,
    patience: usize,
    seed: u64,
    /// Residual blocks per stage (compact net).
    blocks: i64,
    /// Space-to-depth stem instead of a strided convolution (compact net, stride 2 only).
    space_to_depth: bool,
}

/// The recipe of ensemble network `k` (0-based), a cycle of five: as given; the other stem
/// stride; the whole learning-rate schedule; one more residual block per stage (at most 4);
/// the other kind of stride-2 stem (space-to-depth <-> strided convolution; as given where
/// the stem stride is 1, the arch is not compact or the image side is odd). Network k has
/// seed + k: with one seed, "whole schedule" retraces network 0 until it stops and, when the
/// best epoch comes early, ends with the same weights. On the real trypan crops (five
/// grouped folds, BENCHMARKS.md) the last two variants added to the first three raised the
/// pooled held-out accuracy.
fn member_recipe(k: usize, base: &NetShape, compact: bool, even_side: bool, budget: &TrainBudget, seed: u64) -> MemberRecipe {
    let given = MemberRecipe { stem_stride: base.stem_stride, patience: budget.patience, seed: seed + k as u64, blocks: base.blocks, space_to_depth: base.space_to_depth };
    match k % 5 {
        0 => given,
        // A stride-1 member keeps full resolution: no unshuffle there.
        1 => MemberRecipe { stem_stride: if base.stem_stride == 1 { 2 } else { 1 }, space_to_depth: false, ..given },
        2 => MemberRecipe { patience: budget.epochs, ..given },
        3 if compact => MemberRecipe { blocks: (base.blocks + 1).min(4), ..given },
        4 if compact && base.stem_stride == 2 && even_side => MemberRecipe { space_to_depth: !base.space_to_depth, ..given },
        _ => given,
    }
}

/// The net's shape flags: `--stem-stride`, `--widths`, `--blocks`, `--full-res-stem`,
/// `--space-to-depth`, and
/// the auxiliary head (`--aux-targets`, `--aux-weight`).
#[derive(Debug, Clone)]
pub(super) struct NetShape {
    pub stem_stride: i64,
    /// `None`: the default widths.
    pub widths: Option<[i64; 4]>,
    pub blocks: i64,
    /// `--full-res-stem`: channels of a stride-1 convolution before the stem (0 = none).
    pub full_res_stem: i64,
    /// `--space-to-depth`: a pixel-unshuffle stem instead of a stride-2 convolution.
    pub space_to_depth: bool,
    /// `--aux-targets` columns and `--aux-weight`; `None` without auxiliary targets.
    pub aux: Option<(Vec<String>, f64)>,
    /// `--particle-map-weight` (0 = no particle-count map head).
    pub particle_map_weight: f64,
}

/// Default `--aux-weight`.
const DEFAULT_AUX_WEIGHT: f64 = 0.5;

/// `--aux-targets COL,...` and `--aux-weight W`: distinct non-empty column names, at most 16,
/// and a weight in (0, 100]; a weight without targets is an error.
pub(super) fn parse_aux(targets: Option<&str>, weight: Option<f64>) -> Result<Option<(Vec<String>, f64)>> {
    let Some(text) = targets else {
        if weight.is_some() {
            bail!("--aux-weight needs --aux-targets (the labels.csv columns to learn)");
        }
        return Ok(None);
    };
    let cols: Vec<String> = text.split(',').map(|c| c.trim().to_string()).collect();
    if cols.iter().any(String::is_empty) {
        bail!("--aux-targets: `{text}` has an empty column name (give comma-separated labels.csv columns, e.g. n_particles,dead_frac)");
    }
    if let Some(dup) = cols.iter().enumerate().find(|(i, c)| cols[..*i].contains(c)).map(|(_, c)| c) {
        bail!("--aux-targets: column `{dup}` is given twice");
    }
    if cols.len() > 16 {
        bail!("--aux-targets: {} columns (at most 16)", cols.len());
    }
    let w = weight.unwrap_or(DEFAULT_AUX_WEIGHT);
    if !(w.is_finite() && w > 0.0 && w <= 100.0) {
        bail!("--aux-weight {w} is outside (0, 100]");
    }
    Ok(Some((cols, w)))
}

/// `--widths W1,W2,W3,W4`: four channel counts, each 4..=512.
pub(super) fn parse_widths(text: &str) -> Result<[i64; 4]> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() != 4 {
        bail!("--widths takes four comma-separated channel counts (one per stage), e.g. 24,48,96,192; got `{text}`");
    }
    let mut w = [0i64; 4];
    for (slot, part) in w.iter_mut().zip(&parts) {
        *slot = match part.parse::<i64>() {
            Ok(v) if (4..=512).contains(&v) => v,
            _ => bail!("--widths: `{part}` is not a channel count in 4..=512 (got `{text}`)"),
        };
    }
    Ok(w)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn cmd_train(data: &Path, out: &Path, task: Option<&str>, no_spectral: bool, arch: &str, recipe: &str, budget: TrainBudget, seed: u64, threads: i32, device: &str, shape: NetShape) -> Result<ExitCode> {
    let TrainBudget { epochs, patience, .. } = budget;
    if epochs == 0 || patience == 0 {
        bail!("--epochs and --patience must be at least 1");
    }
    let stem_stride = shape.stem_stride;
    if arch != "compact" && (shape.widths.is_some() || shape.blocks != 1 || shape.full_res_stem != 0 || shape.space_to_depth || shape.particle_map_weight > 0.0) {
        bail!("--widths, --blocks, --full-res-stem, --space-to-depth and --particle-map-weight shape the compact net; --arch {arch} has its own fixed stages");
    }
    if shape.space_to_depth && stem_stride != 2 {
        bail!("--space-to-depth replaces the stride-2 stem; it cannot be combined with --stem-stride {stem_stride}");
    }
    if budget.ensemble == Some(0) || budget.ensemble.is_some_and(|n| n > 12) {
        bail!("--ensemble must be between 1 and 12 networks");
    }
    tch::set_num_threads(threads);
    let dev = pick_device(device)?;
    let p = prepare(data, task)?;
    let size = p.task.size_px();
    if shape.space_to_depth && size % 2 != 0 {
        bail!("--space-to-depth needs even image sides; the {} task is {size} px", p.task.name());
    }
    if shape.particle_map_weight > 0.0 {
        if p.set.particles.is_none() {
            bail!(
                "--particle-map-weight needs the particle positions of a microcarrier render ({} has no {}; renders write it since session 19: render again with `mabtwin qc render --task microcarrier`)",
                data.display(),
                qc::io::PARTICLES_CSV
            );
        }
        if size % qc::train::COUNT_MAP_CELL_PX != 0 {
            bail!("--particle-map-weight needs an image side that is a multiple of {} px (the {} task is {size} px)", qc::train::COUNT_MAP_CELL_PX, p.task.name());
        }
    }
    let train_idx: Vec<usize> = (0..p.y.len()).filter(|&i| p.set.splits[i] == "train").collect();
    let use_spectral = !no_spectral && p.set.spectral.is_some();
    let pca = if use_spectral {
        let all: Vec<usize> = (0..p.y.len()).collect();
        let cubes = cubes_of(&p.set, &all, size).context("spectral cubes")?;
        let is_train: Vec<bool> = all.iter().map(|i| train_idx.contains(i)).collect();
        Some(qc::pca::fit_on_split(&cubes, &is_train, size * size, seed)?)
    } else {
        None
    };
    let (mut tr, tr_idx) = subset(&p, "train", size, pca.as_ref())?;
    let (va, _) = subset(&p, "val", size, pca.as_ref())?;
    if tr.n() == 0 || va.n() == 0 {
        bail!("need both `train` and `val` rows in {} (got {} train, {} val)", data.display(), tr.n(), va.n());
    }
    let mut channels = vec!["grey".to_string()];
    if pca.is_some() {
        channels.extend(["pc1", "pc2", "pc3"].map(String::from));
    }
    let mut net = qc::model::NetConfig::compact(channels.len() as i64, p.classes.len() as i64, size);
    net.stem_stride = stem_stride;
    net.blocks_per_stage = shape.blocks;
    net.full_res_stem = shape.full_res_stem;
    net.space_to_depth = shape.space_to_depth;
    if let Some(w) = shape.widths {
        net.widths = w;
    }
    if let Some((cols, weight)) = &shape.aux {
        let mut columns = Vec::new();
        for col in cols {
            let Some(v) = p.set.numeric_column(col) else {
                let have: Vec<&str> = p.set.numeric_columns.iter().map(|(n, _)| n.as_str()).collect();
                bail!(
                    "--aux-targets: {} has no numeric labels.csv column `{col}` (numeric columns: {})",
                    data.display(),
                    if have.is_empty() { "none; only renders record latents".to_string() } else { have.join(", ") }
                );
            };
            columns.push(tr_idx.iter().map(|&i| v[i]).collect::<Vec<f64>>());
        }
        net.aux_targets = cols.iter().zip(&columns).map(|(c, v)| qc::model::AuxTarget::fit(c, v)).collect();
        net.aux_weight = *weight;
        tr.aux = (0..tr.n()).flat_map(|r| net.aux_targets.iter().zip(&columns).map(move |(t, v)| t.standardise(v[r]) as f32)).collect();
        eprintln!(
            "auxiliary targets (weight {weight}): {}",
            net.aux_targets.iter().map(|t| format!("{} (mean {:.3}, std {:.3})", t.column, t.mean, t.std)).collect::<Vec<_>>().join(", ")
        );
    }
    if let Some(points) = p.set.particles.as_ref().filter(|_| shape.particle_map_weight > 0.0) {
        net.particle_map_weight = shape.particle_map_weight;
        tr.count_maps = tr_idx.iter().flat_map(|&i| qc::train::count_map(&points[i], size)).collect();
        let n_pts: usize = tr_idx.iter().map(|&i| points[i].len()).sum();
        eprintln!("particle-count map (weight {}): {n_pts} particles over {} training images, {}x{} cells of {} px", shape.particle_map_weight, tr.n(), size / 8, size / 8, qc::train::COUNT_MAP_CELL_PX);
    }
    net.arch = match arch {
        "compact" => qc::model::Arch::Compact,
        "resnet50" => qc::model::Arch::Resnet50,
        _ => bail!("unknown --arch `{arch}` (compact | resnet50)"),
    };
    let mut counts = Vec::new();
    for split in ["train", "val", "test"] {
        for (ci, c) in p.classes.iter().enumerate() {
            let n = (0..p.y.len()).filter(|&i| p.set.splits[i] == split && p.y[i] == ci).count();
            if n > 0 {
                counts.push((split.to_string(), c.clone(), n));
            }
        }
    }
    let mut meta = qc::model::ModelMeta {
        format_version: qc::model::FORMAT_VERSION,
        task: p.task.name().into(),
        classes: p.classes.clone(),
        net,
        input_size: size,
        channels,
        normalisation: "grey: per-image (x - mean)/(std + 1e-3) after luma 0.299/0.587/0.114 and centre-crop + triangle resize; pc: PCA basis below, unit variance, clipped to ±6".into(),
        pca,
        temperature: 1.0,
        class_log_offsets: Vec::new(),
        class_offsets_fit: None,
        recipe: recipe.into(),
        seed,
        threads,
        device: String::new(),
        epochs_run: 0,
        best_epoch: 0,
        val_metrics: serde_json::Value::Null,
        versions: serde_json::json!({"mabtwin": env!("CARGO_PKG_VERSION"), "tch": "0.24.0", "libtorch": "2.11.0"}),
        manifest: qc::model::Manifest {
            source: p.set.source.clone(),
            fingerprint: p.set.labels_fingerprint.clone(),
            counts,
            early_stopping_on: format!("val split (validation loss, patience {patience}); temperature fitted on val"),
            pretrained_on: None,
            fresh_renders: None,
        },
        ensemble: Vec::new(),
    };
    let base_opts = qc::train::TrainOptions {
        recipe: qc::train::Recipe::parse(recipe)?,
        max_epochs: epochs,
        patience,
        seed,
        augment: true,
        class_weights: p.set.task.is_none(),
        device: dev,
    };
    let n_nets = budget.ensemble.unwrap_or_else(|| default_ensemble(p.task, p.set.task.is_some()));
    let init = if budget.pretrain_renders > 0 {
        if p.set.task.is_some() {
            bail!("--pretrain-renders is for real images; {} is already a render (train on it directly, or render more)", data.display());
        }
        if meta.channels.len() != 1 || meta.net.arch != qc::model::Arch::Compact {
            bail!("--pretrain-renders needs a grey-only compact net (the data give channels {:?}, --arch {arch}); add --no-spectral", meta.channels);
        }
        let (w, what) = pretrain_on_renders(&meta, p.task, budget.pretrain_renders, budget.pretrain_epochs, &base_opts)?;
        meta.manifest.pretrained_on = Some(what);
        Some(w)
    } else {
        None
    };
    let fresh = if budget.fresh_renders {
        if p.set.task.is_none() {
            bail!("--fresh-renders draws new renders each epoch; {} is not a render folder (no render.json task)", data.display());
        }
        if shape.aux.is_some() {
            bail!("--fresh-renders cannot be combined with --aux-targets (the targets are labels.csv columns of the data's own images)");
        }
        let (mut cfg, render_seed) = render_source(data)?;
        if cfg.task != p.task {
            bail!("--fresh-renders: render.json's task is {} but the model is trained for {}", cfg.task.name(), p.task.name());
        }
        cfg.spectral = meta.pca.is_some();
        let source = FreshSource { cfg, render_seed, n: tr.n(), size, pca: meta.pca.clone(), with_map: meta.net.particle_map_weight > 0.0 };
        meta.manifest.fresh_renders = Some(format!(
            "epochs 2 onward: {} new {} renders per epoch (difficulty {:?}, label margin {}), render seed = hash(data render seed {render_seed}, network seed, epoch)",
            source.n,
            p.task.name(),
            source.cfg.difficulty,
            source.cfg.threshold_margin
        ));
        eprintln!("fresh renders: every epoch after the first trains on {} new renders", source.n);
        Some(source)
    } else {
        None
    };
    eprintln!(
        "training {} ({} train, {} val, channels {:?}, recipe {}, ≤ {epochs} epochs, {threads} threads{})",
        p.task.name(),
        tr.n(),
        va.n(),
        meta.channels,
        recipe,
        if n_nets > 1 { format!(", ensemble of {n_nets} networks") } else { String::new() }
    );
    let t0 = std::time::Instant::now();
    let mut model: Option<qc::model::Classifier> = None;
    let mut histories = Vec::new();
    for k in 0..n_nets {
        let r = member_recipe(k, &shape, meta.net.arch == qc::model::Arch::Compact, size % 2 == 0, &budget, seed);
        let mut m = meta.clone();
        m.net.stem_stride = r.stem_stride;
        m.net.blocks_per_stage = r.blocks;
        m.net.space_to_depth = r.space_to_depth;
        let opts = qc::train::TrainOptions { patience: r.patience, seed: r.seed, ..base_opts.clone() };
        let label = if n_nets > 1 { format!("net {}/{n_nets}", k + 1) } else { "epoch".into() };
        if n_nets > 1 {
            let stem = if r.space_to_depth { "space-to-depth" } else { "convolution" };
            eprintln!("network {}/{n_nets}: stem stride {} ({stem}), {} block(s) per stage, patience {}, seed {}", k + 1, r.stem_stride, r.blocks, r.patience, r.seed);
        }
        let mut draw = fresh.as_ref().map(|f| move |epoch: usize| f.draw(r.seed, epoch));
        let trained = train_with_bar(&label, "", m, init.as_deref(), &tr, &va, &opts, draw.as_mut().map(|d| d as qc::train::FreshData<'_>))?;
        if n_nets > 1 {
            eprintln!("network {}/{n_nets}: best epoch {} of {}, T {:.2}", k + 1, trained.best_epoch, trained.history.len(), trained.model.meta.temperature);
        }
        histories.push(trained.history);
        match model.as_mut() {
            None => model = Some(trained.model),
            Some(primary) => primary.push_member(trained.model, r.patience)?,
        }
    }
    let mut model = model.context("no network trained")?;
    let mut probs = model.predict_proba(&va.x, va.n(), 128)?;
    let yv: Vec<usize> = va.y.iter().map(|&v| v as usize).collect();
    if budget.fit_class_offsets {
        let fit = qc::operating_point::fit_class_offsets(&probs, &yv, &p.classes).context("--fit-class-offsets")?;
        print_offsets(&p.classes, &fit, "val");
        model.set_class_offsets(fit.offsets.clone())?;
        model.meta.class_offsets_fit = Some(qc::operating_point::ClassOffsetRecord { data: data.display().to_string(), split: "val".into(), rule: qc::operating_point::RULE.to_string(), fit });
        probs = model.predict_proba(&va.x, va.n(), 128)?;
    }
    let rep = qc::metrics::report(&probs, &yv, &p.classes)?;
    let secs: Vec<f64> = histories.iter().flatten().map(|h| h.seconds).collect();
    model.meta.val_metrics = serde_json::json!({
        "accuracy": rep.accuracy, "kappa": rep.kappa, "macro_f1": rep.macro_f1, "auroc": rep.auroc, "ece": rep.ece,
        "note": "val was used for early stopping, temperature and any class offsets: these are selection-biased validation figures",
        "networks": n_nets,
        "mean_epoch_s": secs.iter().sum::<f64>() / secs.len().max(1) as f64,
        "train_wall_s": t0.elapsed().as_secs_f64(),
    });
    model.save(out)?;
    for (k, h) in histories.iter().enumerate() {
        let name = if k == 0 { "history.json".to_string() } else { format!("history_member{k}.json") };
        qc::io::write_file(&out.join(name), serde_json::to_string_pretty(h)?.as_bytes())?;
    }
    eprintln!(
        "best epoch {} of {}{} (mean {:.1} s/epoch, {:.0} s total, {} parameters); val: accuracy {:.4}, kappa {:.4}, AUROC {}, ECE {:.4}, T {:.2} -> {}",
        model.meta.best_epoch,
        histories[0].len(),
        if n_nets > 1 { format!(" for network 1 of {n_nets}") } else { String::new() },
        secs.iter().sum::<f64>() / secs.len().max(1) as f64,
        t0.elapsed().as_secs_f64(),
        model.n_parameters(),
        rep.accuracy,
        rep.kappa,
        rep.auroc.map(|a| format!("{a:.4}")).unwrap_or("n/a".into()),
        rep.ece,
        model.meta.temperature,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::{FreshSource, MemberRecipe, NetShape, Task, TrainBudget, member_recipe, parse_widths};

    fn shape(stem_stride: i64, blocks: i64, space_to_depth: bool) -> NetShape {
        NetShape { stem_stride, widths: None, blocks, full_res_stem: 0, space_to_depth, aux: None, particle_map_weight: 0.0 }
    }

    #[test]
    fn fresh_render_seeds_differ_by_epoch_and_network_and_draws_are_reproducible() {
        let cfg = qc::render::RenderConfig { spectral: false, ..qc::render::RenderConfig::new(Task::Trypan) };
        let src = FreshSource { cfg, render_seed: 22, n: 40, size: Task::Trypan.size_px(), pca: None, with_map: false };
        let seeds: Vec<u64> = [(0, 2), (0, 3), (1, 2), (1, 3)].iter().map(|&(net, epoch)| src.seed(net, epoch)).collect();
        for (i, a) in seeds.iter().enumerate() {
            assert_ne!(*a, 22, "never the data's own render seed");
            assert!(seeds[i + 1..].iter().all(|b| b != a), "{seeds:?}");
        }
        let a = src.draw(0, 2).expect("draw");
        assert_eq!((a.n(), a.c, a.s, a.x.len()), (40, 1, 64, 40 * 64 * 64));
        assert!(a.y.iter().all(|&v| (0..2).contains(&v)) && a.count_maps.is_empty());
        let again = src.draw(0, 2).expect("draw");
        assert_eq!((&a.x, &a.y), (&again.x, &again.y), "same network and epoch: same images");
        let other = src.draw(0, 3).expect("draw");
        assert_ne!(a.x, other.x, "the next epoch draws new images");
    }

    #[test]
    fn ensemble_members_cycle_through_five_recipes() {
        let budget = TrainBudget { epochs: 30, patience: 8, ensemble: Some(6), fit_class_offsets: false, pretrain_renders: 0, pretrain_epochs: 6, fresh_renders: false };
        let r = |k, base: &NetShape, compact, even| member_recipe(k, base, compact, even, &budget, 10);
        let m = |stem_stride, patience, seed, blocks, space_to_depth| MemberRecipe { stem_stride, patience, seed, blocks, space_to_depth };
        let base = shape(2, 1, false);
        let got: Vec<MemberRecipe> = (0..6).map(|k| r(k, &base, true, true)).collect();
        assert_eq!(got, [m(2, 8, 10, 1, false), m(1, 8, 11, 1, false), m(2, 30, 12, 1, false), m(2, 8, 13, 2, false), m(2, 8, 14, 1, true), m(2, 8, 15, 1, false)]);
        // From a space-to-depth stem: the stride-1 member has none, member 4 goes back to a convolution.
        let s2d = shape(2, 4, true);
        assert_eq!(r(1, &s2d, true, true), m(1, 8, 11, 4, false));
        assert_eq!(r(3, &s2d, true, true), m(2, 8, 13, 4, true), "at most 4 blocks");
        assert_eq!(r(4, &s2d, true, true), m(2, 8, 14, 4, false));
        // Where a variant does not apply, the member keeps the given recipe (its own seed).
        let stride1 = shape(1, 1, false);
        assert_eq!(r(1, &stride1, true, true), m(2, 8, 11, 1, false));
        assert_eq!(r(4, &stride1, true, true), m(1, 8, 14, 1, false));
        assert_eq!(r(4, &base, true, false), m(2, 8, 14, 1, false), "odd image side");
        assert_eq!(r(3, &base, false, true), m(2, 8, 13, 1, false), "not the compact net");
        assert_eq!(r(4, &base, false, true), m(2, 8, 14, 1, false), "not the compact net");
    }

    #[test]
    fn widths_parse_four_counts_in_range() {
        assert_eq!(parse_widths("24,48,96,192").expect("ok"), [24, 48, 96, 192]);
        assert_eq!(parse_widths(" 4, 8 ,16,512").expect("ok"), [4, 8, 16, 512]);
        for (bad, says) in [("16,32,64", "four comma-separated"), ("16,32,64,128,256", "four comma-separated"), ("16,32,x,128", "`x` is not"), ("3,32,64,128", "`3` is not"), ("16,32,64,513", "`513` is not"), ("", "four comma-separated")] {
            let e = parse_widths(bad).expect_err(bad).to_string();
            assert!(e.contains(says) && e.contains("--widths"), "{bad}: {e}");
        }
    }
}
