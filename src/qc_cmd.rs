#![allow(unreachable_pub)] // `pub` API for the hand-merged main.rs
//! `mabtwin qc …`: render, train, eval and classify (spec `qc.md` §10). File I/O and progress
//! bars live here; the `qc` crate does the work on buffers.

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use qc::render::{self, Difficulty, RenderConfig, Task};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `mabtwin qc` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum QcCommand {
    /// Render a class-balanced labelled image set (PNGs, labels.csv, spectral.npy, montage.png).
    Render {
        /// Task: microcarrier | trypan | nes.
        #[arg(long, default_value = "microcarrier")]
        task: String,
        /// Number of images.
        #[arg(long)]
        n: u64,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Do not write the spectral cube.
        #[arg(long)]
        no_spectral: bool,
        /// Difficulty preset: easy | default | hard.
        #[arg(long, default_value = "default")]
        difficulty: String,
        /// Rayon threads for rendering (output does not depend on it).
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Train a classifier on a render directory, `crops64/labels.csv` layout or class folders.
    Train {
        /// Data directory.
        #[arg(long)]
        data: PathBuf,
        /// Output model directory (model.safetensors + model.json).
        #[arg(long)]
        out: PathBuf,
        /// Task: microcarrier | trypan | nes (default: from render.json, else trypan).
        #[arg(long)]
        task: Option<String>,
        /// Ignore spectral cubes (grey channel only).
        #[arg(long)]
        no_spectral: bool,
        /// Architecture: compact | resnet50.
        #[arg(long, default_value = "compact")]
        arch: String,
        /// Recipe: fast | seed.
        #[arg(long, default_value = "fast")]
        recipe: String,
        /// Maximum epochs (early stopping on validation loss, see --patience; the best epoch is kept).
        #[arg(long, default_value_t = 30)]
        epochs: usize,
        /// Stop after this many epochs without a lower validation loss (spec: 8). A value of
        /// --epochs or more runs the whole learning-rate schedule and keeps the best epoch.
        #[arg(long, default_value_t = 8)]
        patience: usize,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Torch CPU threads.
        #[arg(long, default_value_t = 2)]
        threads: i32,
        /// Device: auto | cpu | cuda.
        #[arg(long, default_value = "auto")]
        device: String,
        /// Stem stride of the compact net (2 = fast default; 1 = spec's setting at 64 px).
        #[arg(long, default_value_t = 2)]
        stem_stride: i64,
        /// Networks in the model: 1 = a single network; N > 1 trains N diverse networks on
        /// the same split and averages their calibrated probabilities. Network k (0-based)
        /// varies the recipe in a cycle of three: k mod 3 = 0 as given, 1 with the other stem
        /// stride (2 <-> 1), 2 with the whole learning-rate schedule (patience = --epochs);
        /// its seed is --seed + k. Default: 3 for trypan crops that are not renders (real
        /// crops: grouped 3-fold check in BENCHMARKS.md), 1 otherwise.
        #[arg(long)]
        ensemble: Option<usize>,
    },
    /// Evaluate a model on a data set split; writes metrics.json, per_class.csv,
    /// confusion.csv/.png, rotation.csv and, for renders, difficulty.csv (accuracy per tercile
    /// of blur and of photons at background).
    Eval {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Split to evaluate (default: `test` if present, else `val`).
        #[arg(long)]
        split: Option<String>,
        #[arg(long, default_value_t = 2)]
        threads: i32,
    },
    /// QC of a simulated batch: render each culture day's bead images and trypan crops from
    /// the simulated state, classify them with the two models, and report class fractions,
    /// image viability, HyperScore and a pass/warn/fail verdict per day (report.csv,
    /// report.json, hyperscore.png).
    ///
    /// Example: mabtwin qc report baseline --bead-model models/bead --trypan-model models/trypan --out runs/qc
    Report {
        /// Scenario file (TOML) or built-in name.
        scenario: String,
        /// Microcarrier model (trained with --task microcarrier).
        #[arg(long)]
        bead_model: PathBuf,
        /// Trypan-blue model (trained with --task trypan, rendered or real crops).
        #[arg(long)]
        trypan_model: PathBuf,
        /// Bead images and trypan crops rendered per day.
        #[arg(long, default_value_t = 24)]
        images_per_day: usize,
        #[command(flatten)]
        day: DayRenderArgs,
    },
    /// QC of a finished `mabtwin simulate` run: read RUN_DIR/truth.csv, render each whole
    /// culture day's bead images and trypan crops from the true state, classify them, and
    /// write qc_daily.csv, qc_daily.json and hyperscore.png (class fractions, image viability,
    /// quality value V, HyperScore, pass/warn/fail with reasons).
    ///
    /// `--model` takes a microcarrier and/or a trypan model (its model.json says which); the
    /// view without one uses the shipped small model (models/qc/README.md), copied into
    /// OUT/models/.
    ///
    /// Example: mabtwin simulate baseline --out runs/b && mabtwin qc batch --run runs/b --out runs/b/qc
    Batch {
        /// Output folder of `mabtwin simulate` (truth.csv, scenario.toml).
        #[arg(long)]
        run: PathBuf,
        /// Model folder(s): at most one microcarrier and one trypan model.
        #[arg(long)]
        model: Vec<PathBuf>,
        /// Bead images rendered per day (spec: 32).
        #[arg(long, default_value_t = 32)]
        bead_images: usize,
        /// Trypan-blue crops rendered per day (spec: 64).
        #[arg(long, default_value_t = 64)]
        trypan_crops: usize,
        #[command(flatten)]
        day: DayRenderArgs,
    },
    /// Classify PNG/JPEG files or folders; prints (and with --out writes) file,class,probability.
    Classify {
        #[arg(long)]
        model: PathBuf,
        /// Files or folders (walked recursively for .png/.jpg/.jpeg, sorted).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// CSV output file.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Treat inputs of another size as errors instead of centre-crop + resize.
        #[arg(long)]
        strict_size: bool,
        #[arg(long, default_value_t = 2)]
        threads: i32,
    },
}

/// Rendering and output options shared by `qc report` and `qc batch`.
#[derive(clap::Args, Debug)]
pub struct DayRenderArgs {
    /// Seed of the renderer (the simulation keeps its own seed).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Difficulty preset of the rendered images: easy | default | hard.
    #[arg(long, default_value = "default")]
    difficulty: String,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// libtorch CPU threads.
    #[arg(long, default_value_t = 2)]
    threads: i32,
}

/// Run one `qc` subcommand; returns the process exit code. Errors here come from what the
/// user gave (model folder, data folder, device, options), so they exit with code 2 like
/// every other invalid input; per-file classification failures exit with 1.
pub fn run(cmd: QcCommand) -> Result<ExitCode> {
    match run_inner(cmd) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(ExitCode::from(2))
        }
    }
}

fn run_inner(cmd: QcCommand) -> Result<ExitCode> {
    match cmd {
        QcCommand::Render { task, n, seed, out, no_spectral, difficulty, threads } => {
            cmd_render(&task, n, seed, &out, no_spectral, &difficulty, threads)
        }
        QcCommand::Train { data, out, task, no_spectral, arch, recipe, epochs, patience, seed, threads, device, stem_stride, ensemble } => {
            cmd_train(&data, &out, task.as_deref(), no_spectral, &arch, &recipe, TrainBudget { epochs, patience, ensemble }, seed, threads, &device, stem_stride)
        }
        QcCommand::Eval { model, data, out, split, threads } => cmd_eval(&model, &data, &out, split.as_deref(), threads),
        QcCommand::Classify { model, paths, out, strict_size, threads } => cmd_classify(&model, &paths, out.as_deref(), strict_size, threads),
        QcCommand::Report { scenario, bead_model, trypan_model, images_per_day, day } => {
            let models = ReportModels { bead: &bead_model, trypan: &trypan_model };
            cmd_report(&scenario, models, images_per_day, &day)
        }
        QcCommand::Batch { run, model, bead_images, trypan_crops, day } => cmd_batch(&BatchArgs { run, models: model, bead_images, trypan_crops, day }),
    }
}

fn bar(len: u64, msg: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(msg.to_string());
    pb
}


fn cmd_render(task: &str, n: u64, seed: u64, out: &Path, no_spectral: bool, difficulty: &str, threads: usize) -> Result<ExitCode> {
    let task = Task::parse(task)?;
    let cfg = RenderConfig { task, difficulty: Difficulty::parse(difficulty)?, spectral: task.has_spectral() && !no_spectral };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build()?;
    std::fs::create_dir_all(out.join("images")).with_context(|| format!("creating {}", out.display()))?;
    let classes = task.classes();
    let size = task.size_px();
    let mut csv = String::new();
    let mut spectral: Vec<u8> = Vec::with_capacity(if cfg.spectral { n as usize * qc::render::spectral::N_BANDS * size * size } else { 0 });
    let mut montage_rows: Vec<Vec<Vec<u8>>> = vec![Vec::new(); classes.len()];
    let pb = bar(n, "render");
    let t0 = std::time::Instant::now();
    let mut render_s = 0.0;
    let chunk = 512u64;
    let mut start = 0u64;
    while start < n {
        let m = chunk.min(n - start);
        let tr = std::time::Instant::now();
        let imgs = pool.install(|| render::render_set(&cfg, seed, start, m))?;
        render_s += tr.elapsed().as_secs_f64();
        // PNG encoding and the atomic writes run on the same pool (each file independent).
        pool.install(|| {
            use rayon::prelude::*;
            imgs.par_iter().enumerate().try_for_each(|(k, r)| -> Result<()> {
                let file = format!("images/{:06}.png", start + k as u64);
                qc::io::write_file(&out.join(&file), &qc::io::encode_png_grey(&r.image)?)?;
                Ok(())
            })
        })?;
        for (k, r) in imgs.iter().enumerate() {
            let idx = start + k as u64;
            let file = format!("images/{idx:06}.png");
            if csv.is_empty() {
                csv.push_str("file,label,group,split");
                for (name, _) in &r.latents {
                    csv.push(',');
                    csv.push_str(name);
                }
                csv.push('\n');
            }
            let label = r.label.map(|l| classes[l]).unwrap_or("");
            csv.push_str(&format!("{file},{label},{},{}", r.group, render::split_of_group(seed, r.group)));
            for (_, v) in &r.latents {
                csv.push_str(&format!(",{v:.6}"));
            }
            csv.push('\n');
            if let Some(s) = &r.spectral {
                spectral.extend_from_slice(s);
            }
            if let Some(l) = r.label
                && montage_rows[l].len() < 8
            {
                montage_rows[l].push(r.image.to_u8());
            }
        }
        pb.inc(m);
        start += m;
    }
    pb.finish_and_clear();
    qc::io::write_file(&out.join("labels.csv"), csv.as_bytes())?;
    if cfg.spectral {
        let shape = [n as usize, qc::render::spectral::N_BANDS, size, size];
        qc::io::write_file(&out.join("spectral.npy"), &qc::io::encode_npy_u8(&spectral, &shape))?;
    }
    // Montage: one row per class (in class order), up to 8 images each, 2-px white gaps.
    let gap = 2;
    let (mw, mh) = (8 * (size + gap) + gap, classes.len() * (size + gap) + gap);
    let mut px = vec![255u8; mw * mh];
    for (ci, row) in montage_rows.iter().enumerate() {
        for (j, img) in row.iter().enumerate() {
            for y in 0..size {
                let dst = (gap + ci * (size + gap) + y) * mw + gap + j * (size + gap);
                px[dst..dst + size].copy_from_slice(&img[y * size..(y + 1) * size]);
            }
        }
    }
    qc::io::write_file(&out.join("montage.png"), &qc::io::encode_png_raw(&px, mw, mh, image::ExtendedColorType::L8)?)?;
    let meta = serde_json::json!({
        "format_version": 1,
        "generator": format!("mabtwin qc render {}", env!("CARGO_PKG_VERSION")),
        "config": cfg,
        "seed": seed,
        "n": n,
        "classes": classes,
        "group_size": render::GROUP_SIZE,
        "splits": "by group: 70 % train, 15 % val, 15 % test (hash of seed and group)",
        "montage": "rows are classes in the order of `classes`, up to 8 images each",
        "spectral": if cfg.spectral { serde_json::json!({"file": "spectral.npy", "dtype": "u8", "shape": "[N, 11, H, W]", "bands_nm": render::spectral::BANDS_NM}) } else { serde_json::Value::Null },
    });
    qc::io::write_file(&out.join("render.json"), serde_json::to_string_pretty(&meta)?.as_bytes())?;
    let total_s = t0.elapsed().as_secs_f64();
    eprintln!(
        "rendered {n} {} images in {total_s:.2} s ({:.0} images/s rendering only, {:.0} images/s including PNG writing) -> {}",
        task.name(),
        n as f64 / render_s.max(1e-9),
        n as f64 / total_s.max(1e-9),
        out.display()
    );
    let _ = std::io::stderr().flush();
    Ok(ExitCode::SUCCESS)
}

fn pick_device(name: &str) -> Result<tch::Device> {
    let dev = match name {
        "auto" => tch::Device::cuda_if_available(),
        "cpu" => tch::Device::Cpu,
        "cuda" => {
            if !tch::Cuda::is_available() {
                bail!("--device cuda requested but CUDA is not available (libtorch_cuda not loaded)");
            }
            tch::Device::Cuda(0)
        }
        _ => bail!("unknown device `{name}` (auto | cpu | cuda)"),
    };
    eprintln!("device: {dev:?} (cuda available: {}, devices: {})", tch::Cuda::is_available(), tch::Cuda::device_count());
    Ok(dev)
}

struct Prepared {
    classes: Vec<String>,
    task: Task,
    set: qc::io::LabelledSet,
    y: Vec<usize>,
}

fn prepare(data: &Path, task: Option<&str>) -> Result<Prepared> {
    let set = qc::io::load_dataset(data).with_context(|| format!("loading data from {}", data.display()))?;
    for w in &set.warnings {
        eprintln!("warning: {w}");
    }
    let task = Task::parse(task.or(set.task.as_deref()).unwrap_or("trypan"))?;
    let classes: Vec<String> = task.classes().iter().map(|s| s.to_string()).collect();
    let y = set
        .labels
        .iter()
        .map(|l| classes.iter().position(|c| c == l).with_context(|| format!("label `{l}` is not a {} class {classes:?}", task.name())))
        .collect::<Result<Vec<_>>>()?;
    Ok(Prepared { classes, task, set, y })
}

fn cubes_of<'a>(set: &'a qc::io::LabelledSet, idx: &[usize], size: usize) -> Option<Vec<&'a [u8]>> {
    let per = qc::render::spectral::N_BANDS * size * size;
    set.spectral.as_ref().map(|sp| idx.iter().map(|&i| &sp[i * per..(i + 1) * per]).collect())
}

fn subset(p: &Prepared, split: &str, size: usize, pca: Option<&qc::pca::PcaBasis>) -> Result<(qc::train::Tensors, Vec<usize>)> {
    let idx: Vec<usize> = (0..p.y.len()).filter(|&i| p.set.splits[i] == split).collect();
    let imgs: Vec<qc::image_ops::GreyImage> = idx.iter().map(|&i| p.set.images[i].clone()).collect();
    let ys: Vec<usize> = idx.iter().map(|&i| p.y[i]).collect();
    let cubes = cubes_of(&p.set, &idx, size);
    Ok((qc::data::to_tensors(&imgs, &ys, size, pca, cubes.as_deref())?, idx))
}

/// Epoch budget of `qc train`.
#[derive(Debug, Clone, Copy)]
struct TrainBudget {
    epochs: usize,
    patience: usize,
    /// Networks in the model (None: the task's default, see `default_ensemble`).
    ensemble: Option<usize>,
}

/// Networks per model when `--ensemble` is not given: three for trypan crops that are not
/// renders (on the real crops a diverse three-network ensemble was more accurate than one
/// network on every held-out fold, BENCHMARKS.md), one otherwise (rendered trypan crops are
/// classified perfectly by one network; the other tasks were not measured with ensembles).
fn default_ensemble(task: Task, is_render: bool) -> usize {
    if task == Task::Trypan && !is_render { 3 } else { 1 }
}

/// The recipe of ensemble network `k` (0-based): `(stem stride, patience, seed)`. A cycle of
/// three: as given; the other stem stride; the whole learning-rate schedule. Network k has
/// seed + k: with one seed, "whole schedule" retraces network 0 until it stops and, when the
/// best epoch comes early, ends with the same weights.
fn member_recipe(k: usize, stem_stride: i64, budget: &TrainBudget, seed: u64) -> (i64, usize, u64) {
    let other = if stem_stride == 1 { 2 } else { 1 };
    let seed = seed + k as u64;
    match k % 3 {
        0 => (stem_stride, budget.patience, seed),
        1 => (other, budget.patience, seed),
        _ => (stem_stride, budget.epochs, seed),
    }
}

#[allow(clippy::too_many_arguments)]
fn cmd_train(data: &Path, out: &Path, task: Option<&str>, no_spectral: bool, arch: &str, recipe: &str, budget: TrainBudget, seed: u64, threads: i32, device: &str, stem_stride: i64) -> Result<ExitCode> {
    let TrainBudget { epochs, patience, .. } = budget;
    if epochs == 0 || patience == 0 {
        bail!("--epochs and --patience must be at least 1");
    }
    if budget.ensemble == Some(0) || budget.ensemble.is_some_and(|n| n > 12) {
        bail!("--ensemble must be between 1 and 12 networks");
    }
    tch::set_num_threads(threads);
    let dev = pick_device(device)?;
    let p = prepare(data, task)?;
    let size = p.task.size_px();
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
    let (tr, _) = subset(&p, "train", size, pca.as_ref())?;
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
    let meta = qc::model::ModelMeta {
        format_version: qc::model::FORMAT_VERSION,
        task: p.task.name().into(),
        classes: p.classes.clone(),
        net,
        input_size: size,
        channels,
        normalisation: "grey: per-image (x - mean)/(std + 1e-3) after luma 0.299/0.587/0.114 and centre-crop + triangle resize; pc: PCA basis below, unit variance, clipped to ±6".into(),
        pca,
        temperature: 1.0,
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
        let (stride, net_patience, net_seed) = member_recipe(k, stem_stride, &budget, seed);
        let mut m = meta.clone();
        m.net.stem_stride = stride;
        let opts = qc::train::TrainOptions { patience: net_patience, seed: net_seed, ..base_opts.clone() };
        let label = if n_nets > 1 { format!("net {}/{n_nets}", k + 1) } else { "epoch".into() };
        if n_nets > 1 {
            eprintln!("network {}/{n_nets}: stem stride {stride}, patience {net_patience}, seed {net_seed}", k + 1);
        }
        let pb = bar(epochs as u64, &label);
        let trained = qc::train::train(m, &tr, &va, &opts, &mut |l| {
            pb.inc(1);
            let line = format!("epoch {:>3}  train loss {:.4}  val loss {:.4}  val acc {:.4}  lr {:.2e}  {:.1} s", l.epoch, l.train_loss, l.val_loss, l.val_accuracy, l.lr, l.seconds);
            if pb.is_hidden() {
                eprintln!("{line}");
            } else {
                pb.println(line);
            }
        })?;
        pb.finish_and_clear();
        if n_nets > 1 {
            eprintln!("network {}/{n_nets}: best epoch {} of {}, T {:.2}", k + 1, trained.best_epoch, trained.history.len(), trained.model.meta.temperature);
        }
        histories.push(trained.history);
        match model.as_mut() {
            None => model = Some(trained.model),
            Some(primary) => primary.push_member(trained.model, net_patience)?,
        }
    }
    let mut model = model.context("no network trained")?;
    let probs = model.predict_proba(&va.x, va.n(), 128)?;
    let yv: Vec<usize> = va.y.iter().map(|&v| v as usize).collect();
    let rep = qc::metrics::report(&probs, &yv, &p.classes)?;
    let secs: Vec<f64> = histories.iter().flatten().map(|h| h.seconds).collect();
    model.meta.val_metrics = serde_json::json!({
        "accuracy": rep.accuracy, "kappa": rep.kappa, "macro_f1": rep.macro_f1, "auroc": rep.auroc, "ece": rep.ece,
        "note": "val was used for early stopping and temperature: these are selection-biased validation figures",
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

fn load_model(dir: &Path) -> Result<qc::model::Classifier> {
    if !dir.join("model.json").is_file() {
        bail!("{}: not a model directory (no model.json)", dir.display());
    }
    qc::model::Classifier::load(dir, tch::Device::cuda_if_available()).with_context(|| format!("loading model from {}", dir.display()))
}

fn cmd_eval(model_dir: &Path, data: &Path, out: &Path, split: Option<&str>, threads: i32) -> Result<ExitCode> {
    tch::set_num_threads(threads);
    let model = load_model(model_dir)?;
    let p = prepare(data, Some(&model.meta.task))?;
    let split = split.map(str::to_string).unwrap_or_else(|| if p.set.splits.iter().any(|s| s == "test") { "test".into() } else { "val".into() });
    let size = model.meta.input_size;
    let (ev, ev_idx) = subset(&p, &split, size, model.meta.pca.as_ref())?;
    if ev.n() == 0 {
        bail!("no `{split}` rows in {}", data.display());
    }
    if ev.c != model.n_channels() {
        bail!("model expects channels {:?}, data gives {} channel(s); render with spectral cubes or train with --no-spectral", model.meta.channels, ev.c);
    }
    std::fs::create_dir_all(out)?;
    let y: Vec<usize> = ev.y.iter().map(|&v| v as usize).collect();
    let probs = model.predict_proba(&ev.x, ev.n(), 64)?;
    let raw = model.predict_proba_uncalibrated(&ev.x, ev.n(), 64)?;
    let rep = qc::metrics::report(&probs, &y, &p.classes)?;
    let ece_raw = qc::metrics::ece(&raw, &y, 15)?;
    // Each network of an ensemble on its own (how much the average adds).
    let mut per_network = Vec::new();
    if model.n_networks() > 1 {
        for k in 0..model.n_networks() {
            per_network.push(qc::metrics::report(&model.network_proba(k, &ev.x, ev.n(), 64)?, &y, &p.classes)?.accuracy);
        }
    }
    let rot = qc::train::rotation_robustness(&model, &ev)?;
    // The same images through 8-view test-time augmentation, reported beside the plain figures
    // (classify does not use it: on real crops it did not help consistently, BENCHMARKS.md).
    let tta_probs = model.predict_proba_dihedral(&ev.x, ev.n(), 64)?;
    let tta = qc::metrics::report(&tta_probs, &y, &p.classes)?;
    let difficulty = match &p.set.difficulty {
        Some(d) => {
            let pick = |v: &[f64]| ev_idx.iter().map(|&i| v[i]).collect::<Vec<_>>();
            let correct: Vec<bool> = qc::metrics::argmax(&probs).iter().zip(&y).map(|(a, b)| a == b).collect();
            Some(qc::metrics::difficulty_report(&pick(&d.blur_px), &pick(&d.photons_at_background), &correct)?)
        }
        None => {
            println!(
                "difficulty.csv not written: {}'s labels.csv has no {}/{} columns (only renders record them)",
                data.display(),
                render::BLUR_PX,
                render::PHOTONS_AT_BACKGROUND
            );
            None
        }
    };
    // Throughput on up to 256 images: batch 64 vs batch 1, same process.
    let m = ev.n().min(256);
    let d = ev.c * size * size;
    let t = std::time::Instant::now();
    let _ = model.predict_proba(&ev.x[..m * d], m, 64)?;
    let ips64 = m as f64 / t.elapsed().as_secs_f64();
    let m1 = m.min(64);
    let t = std::time::Instant::now();
    let _ = model.predict_proba(&ev.x[..m1 * d], m1, 1)?;
    let ips1 = m1 as f64 / t.elapsed().as_secs_f64();
    let mut json = serde_json::json!({
        "model": model_dir.display().to_string(), "data": data.display().to_string(), "split": split,
        "metrics": rep, "ece_before_temperature": ece_raw, "temperature": model.meta.temperature,
        "networks": model.n_networks(), "accuracy_per_network": per_network,
        "rotation": rot,
        "dihedral_tta": {"accuracy": tta.accuracy, "kappa": tta.kappa, "macro_f1": tta.macro_f1, "auroc": tta.auroc, "ece": tta.ece,
            "note": "mean calibrated probability over the 8 rotations/flips of each image (reported only; qc classify uses one view)"},
        "throughput": {"threads": threads, "images_per_s_batch64": ips64, "images_per_s_batch1": ips1, "ratio_batch64_over_batch1": ips64 / ips1},
    });
    if let Some(d) = &difficulty {
        let mut v = serde_json::to_value(d)?;
        v["binning"] = DIFFICULTY_BINNING.into();
        json["difficulty"] = v;
        write_difficulty_csv(&out.join("difficulty.csv"), d)?;
    }
    qc::io::write_file(&out.join("metrics.json"), serde_json::to_string_pretty(&json)?.as_bytes())?;
    let mut pc = String::from("class,precision,recall,f1,support,zero_division\n");
    for (c, m) in p.classes.iter().zip(&rep.per_class) {
        pc.push_str(&format!("{c},{:.6},{:.6},{:.6},{},{}\n", m.precision, m.recall, m.f1, m.support, m.zero_division));
    }
    qc::io::write_file(&out.join("per_class.csv"), pc.as_bytes())?;
    let mut cm = format!("true\\pred,{}\n", p.classes.join(","));
    for (c, row) in p.classes.iter().zip(&rep.confusion) {
        cm.push_str(&format!("{c},{}\n", row.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",")));
    }
    qc::io::write_file(&out.join("confusion.csv"), cm.as_bytes())?;
    let title = format!("{} on {} ({split}, n = {}): accuracy {:.3}, kappa {:.3}", model.meta.task, data.display(), rep.n, rep.accuracy, rep.kappa);
    qc::io::write_file(&out.join("confusion.png"), &qc::plot::confusion_png(&rep.confusion, &p.classes, &title)?)?;
    let mut rc = String::from("angle_deg,accuracy\n");
    for (a, acc) in &rot.accuracy_by_angle {
        rc.push_str(&format!("{a},{acc:.6}\n"));
    }
    qc::io::write_file(&out.join("rotation.csv"), rc.as_bytes())?;
    if model.n_networks() > 1 {
        let accs: Vec<String> = per_network.iter().map(|a| format!("{a:.4}")).collect();
        println!("{}: ensemble of {} networks (calibrated probabilities averaged); each alone: accuracy {}", model_dir.display(), model.n_networks(), accs.join(" / "));
    }
    println!(
        "{split} n={}: accuracy {:.4}, kappa {:.4}, macro-F1 {:.4}, AUROC {}, ECE {:.4} (before T: {:.4}), rotation spread {:.1} pts, {:.0} img/s (batch 64) vs {:.0} img/s (batch 1)",
        rep.n, rep.accuracy, rep.kappa, rep.macro_f1, rep.auroc.map(|a| format!("{a:.4}")).unwrap_or("n/a".into()), rep.ece, ece_raw, rot.spread_points, ips64, ips1
    );
    println!(
        "{split} with test-time augmentation (mean over 8 rotations/flips; not used by classify): accuracy {:.4}, kappa {:.4}, AUROC {}, ECE {:.4}",
        tta.accuracy,
        tta.kappa,
        tta.auroc.map(|a| format!("{a:.4}")).unwrap_or("n/a".into()),
        tta.ece
    );
    if let Some(d) = &difficulty {
        let accs = |t: &qc::metrics::TercileAccuracy| {
            t.bins.iter().map(|b| b.accuracy.map_or("n/a".into(), |a| format!("{a:.3}"))).collect::<Vec<String>>().join(" / ")
        };
        println!(
            "accuracy by tercile (low / mid / high): blur_px {}; photons_at_background {} (difficulty.csv)",
            accs(&d.blur_px),
            accs(&d.photons_at_background)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// How `difficulty.csv` and metrics.json's `difficulty` bin the evaluated images.
const DIFFICULTY_BINNING: &str = "terciles of the evaluated images' values (linear interpolation): \
    tercile 1 is v <= q(1/3), 2 is q(1/3) < v <= q(2/3), 3 is v > q(2/3)";

/// `difficulty.csv`: one row per variable and tercile with its edges, count and accuracy
/// (empty for an empty bin).
fn write_difficulty_csv(path: &Path, d: &qc::metrics::DifficultyReport) -> Result<()> {
    let mut csv = String::from("variable,tercile,lo,hi,n,n_correct,accuracy\n");
    for (name, t) in [(render::BLUR_PX, &d.blur_px), (render::PHOTONS_AT_BACKGROUND, &d.photons_at_background)] {
        for b in &t.bins {
            let acc = b.accuracy.map(|a| format!("{a:.6}")).unwrap_or_default();
            csv.push_str(&format!("{name},{},{:.6},{:.6},{},{},{acc}\n", b.tercile, b.lo, b.hi, b.n, b.n_correct));
        }
    }
    qc::io::write_file(path, csv.as_bytes())?;
    Ok(())
}

fn cmd_classify(model_dir: &Path, paths: &[PathBuf], out: Option<&Path>, strict_size: bool, threads: i32) -> Result<ExitCode> {
    tch::set_num_threads(threads);
    let model = load_model(model_dir)?;
    if model.meta.pca.is_some() {
        bail!(
            "model expects channels {:?}: classify reads plain images only; pass a grey model (train with --no-spectral)",
            model.meta.channels
        );
    }
    let size = model.meta.input_size;
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            files.extend(qc::io::list_images(p)?);
        } else {
            files.push(p.clone());
        }
    }
    if files.is_empty() {
        bail!("no images found in {:?}", paths);
    }
    let mut ok_files = Vec::new();
    let mut x = Vec::new();
    let (mut n_failed, mut n_resized, mut n_colour) = (0usize, 0usize, 0usize);
    for f in &files {
        let loaded = qc::io::load_grey(f);
        let (img, colour) = match loaded {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: {e}");
                n_failed += 1;
                continue;
            }
        };
        let (a, info) = qc::io::adapt(&img, size, colour);
        if info.resized {
            if strict_size {
                eprintln!("error: {}: size {}x{} != {size}x{size} (--strict-size)", f.display(), img.width, img.height);
                n_failed += 1;
                continue;
            }
            n_resized += 1;
        }
        if info.much_larger {
            eprintln!("warning: {}: {}x{} is more than 4x the model size ({size}); probably not a single-cell crop", f.display(), img.width, img.height);
        }
        n_colour += usize::from(colour);
        x.extend(qc::model::build_input(&a, None)?);
        ok_files.push(f.clone());
    }
    if n_resized > 0 {
        eprintln!("warning: {n_resized} image(s) were not {size}x{size}: centre-cropped to square and resized (triangle filter)");
    }
    if n_colour > 0 {
        eprintln!("note: {n_colour} colour image(s) converted to grey (luma 0.299/0.587/0.114, alpha dropped)");
    }
    let mut csv = format!("file,class,probability{}\n", model.meta.classes.iter().map(|c| format!(",p_{c}")).collect::<String>());
    if !ok_files.is_empty() {
        let probs = model.predict_proba(&x, ok_files.len(), 64)?;
        for (f, p) in ok_files.iter().zip(&probs) {
            let k = qc::metrics::argmax(std::slice::from_ref(p))[0];
            let line = format!("{},{},{:.4}{}", f.display(), model.meta.classes[k], p[k], p.iter().map(|v| format!(",{v:.4}")).collect::<String>());
            println!("{line}");
            csv.push_str(&line);
            csv.push('\n');
        }
    }
    if let Some(o) = out {
        qc::io::write_file(o, csv.as_bytes())?;
    }
    if n_failed > 0 {
        eprintln!("{n_failed} of {} file(s) failed", files.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The two classifiers a batch report needs.
struct ReportModels<'a> {
    bead: &'a Path,
    trypan: &'a Path,
}

/// One day of a batch report: the simulator's truth next to what the images say.
#[derive(serde::Serialize)]
struct ReportDay {
    #[serde(flatten)]
    qc: qc::report::QcDayReport,
    true_vcd_1e6_per_ml: f64,
    true_viability_pct: f64,
    /// Share of the day's images whose predicted class equals the renderer's label.
    bead_label_agreement: f64,
    trypan_label_agreement: f64,
}

fn load_task_model(dir: &Path, task: Task) -> Result<qc::model::Classifier> {
    let m = load_model(dir)?;
    if m.meta.task != task.name() {
        bail!("{}: a `{}` model, but the report needs a `{}` model here", dir.display(), m.meta.task, task.name());
    }
    Ok(m)
}

/// Render `n` images of `task` for one culture day and classify them: (probabilities, agreement
/// of the predicted class with the renderer's label).
fn classify_day(model: &qc::model::Classifier, task: Task, state: &render::CultureState, seed: u64, n: usize, difficulty: Difficulty) -> Result<(Vec<Vec<f64>>, f64)> {
    let cfg = RenderConfig { task, difficulty, spectral: model.meta.pca.is_some() };
    let mut x = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let r = render::render_from_state(&cfg, state, seed, i as u64)?;
        let pca = match (&model.meta.pca, &r.spectral) {
            (Some(basis), Some(cube)) => Some((basis, cube.as_slice())),
            (None, _) => None,
            (Some(_), None) => bail!("the {} model needs spectral cubes the renderer did not produce", task.name()),
        };
        x.extend(qc::model::build_input(&r.image, pca)?);
        labels.push(r.label);
    }
    let probs = model.predict_proba(&x, n, 64)?;
    let pred = qc::metrics::argmax(&probs);
    let agree = pred.iter().zip(&labels).filter(|(p, l)| l.is_some_and(|l| l == **p)).count() as f64 / n.max(1) as f64;
    Ok((probs, agree))
}

fn cmd_report(scenario: &str, models: ReportModels<'_>, per_day: usize, day: &DayRenderArgs) -> Result<ExitCode> {
    use crate::cmd::{Loaded, load_scenario, print_diagnostics};
    let DayRenderArgs { seed, difficulty, out, threads } = day;
    let (seed, out) = (*seed, out.as_path());
    tch::set_num_threads(*threads);
    if per_day == 0 {
        bail!("--images-per-day must be at least 1");
    }
    let valid = match load_scenario(scenario)? {
        Loaded::Ok { scenario, warnings } => {
            print_diagnostics(&warnings);
            *scenario
        }
        Loaded::Invalid(errors) => {
            print_diagnostics(&errors);
            return Ok(ExitCode::from(2));
        }
    };
    let difficulty = Difficulty::parse(difficulty)?;
    let bead = load_task_model(models.bead, Task::Microcarrier)?;
    let trypan = load_task_model(models.trypan, Task::Trypan)?;
    let rec = sim::simulate(&valid)?;
    let pv = valid.get().vessel.power_per_volume_w_per_m3;
    let states: Vec<DayState> = rec
        .truth
        .iter()
        .filter(|r| is_whole_day(r.t_h))
        .map(|r| DayState { t_h: r.t_h, vcd_1e6_per_ml: r.vcd_1e6_per_ml, viability_pct: r.viability_pct, contaminant_g_per_l: r.contaminant_g_per_l })
        .collect();
    let counts = ImageCounts { bead: per_day, trypan: per_day };
    let days = report_days(&states, pv, (&bead, &trypan), counts, seed, difficulty, "qc report: days")?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_report(out, "report", &valid.get().name, &days)?;
    print_report(&valid.get().name, &days);
    println!("wrote {}/{{report.csv, report.json, hyperscore.png}}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// Whether `t_h` is a whole culture day (0, 24, 48, … h; truth.csv is written to 6 decimals).
fn is_whole_day(t_h: f64) -> bool {
    (t_h / 24.0 - (t_h / 24.0).round()).abs() < 1e-6
}

/// The true culture state of one day, as `truth.csv` records it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct DayState {
    t_h: f64,
    vcd_1e6_per_ml: f64,
    viability_pct: f64,
    contaminant_g_per_l: f64,
}

/// Images rendered per day and view.
#[derive(Debug, Clone, Copy)]
struct ImageCounts {
    bead: usize,
    trypan: usize,
}

/// Render and classify every day's images and build its report (the work shared by
/// `qc report` and `qc batch`).
fn report_days(
    states: &[DayState],
    power_per_volume_w_per_m3: f64,
    models: (&qc::model::Classifier, &qc::model::Classifier),
    counts: ImageCounts,
    seed: u64,
    difficulty: Difficulty,
    what: &str,
) -> Result<Vec<ReportDay>> {
    let pb = bar(states.len() as u64, what);
    let mut days = Vec::new();
    for row in states {
        let day = (row.t_h / 24.0).round() as u32;
        let state = render::CultureState {
            day,
            vcd_1e6_per_ml: row.vcd_1e6_per_ml,
            viability_frac: row.viability_pct / 100.0,
            contaminant_g_per_l: row.contaminant_g_per_l,
            power_per_volume_w_per_m3,
        };
        let (bead_probs, bead_agree) = classify_day(models.0, Task::Microcarrier, &state, seed, counts.bead, difficulty)?;
        let (trypan_probs, trypan_agree) = classify_day(models.1, Task::Trypan, &state, seed, counts.trypan, difficulty)?;
        let qc = qc::report::day_report(day, &bead_probs, &trypan_probs, qc::hyperscore::QualityWeights::default())?;
        days.push(ReportDay {
            qc,
            true_vcd_1e6_per_ml: row.vcd_1e6_per_ml,
            true_viability_pct: row.viability_pct,
            bead_label_agreement: bead_agree,
            trypan_label_agreement: trypan_agree,
        });
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(days)
}

/// The whole-day rows of a `simulate` run's `truth.csv` (t_h a multiple of 24 h).
fn read_truth_days(path: &Path) -> Result<Vec<DayState>> {
    let mut rd = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let header = rd.headers().with_context(|| format!("{}: no header", path.display()))?.clone();
    let col = |name: &str| {
        header.iter().position(|h| h == name).with_context(|| format!("{}: no `{name}` column (is this a `mabtwin simulate` truth.csv?)", path.display()))
    };
    let (ti, vi, ai, ci) = (col("t_h")?, col("vcd_1e6_per_ml")?, col("viability_pct")?, col("contaminant_g_per_l")?);
    let mut days = Vec::new();
    for (k, rec) in rd.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", path.display(), k + 2))?;
        let num = |i: usize, name: &str| -> Result<f64> {
            let v: f64 = rec.get(i).unwrap_or("").trim().parse().with_context(|| format!("{}: row {}: `{name}` is not a number", path.display(), k + 2))?;
            if !v.is_finite() {
                bail!("{}: row {}: `{name}` is not finite", path.display(), k + 2);
            }
            Ok(v)
        };
        let t_h = num(ti, "t_h")?;
        if !is_whole_day(t_h) {
            continue;
        }
        let s = DayState { t_h, vcd_1e6_per_ml: num(vi, "vcd_1e6_per_ml")?, viability_pct: num(ai, "viability_pct")?, contaminant_g_per_l: num(ci, "contaminant_g_per_l")? };
        if s.vcd_1e6_per_ml < 0.0 || !(0.0..=100.0).contains(&s.viability_pct) || s.contaminant_g_per_l < 0.0 {
            bail!("{}: row {}: state out of range (VCD ≥ 0, viability 0–100 %, contaminant ≥ 0)", path.display(), k + 2);
        }
        days.push(s);
    }
    if days.is_empty() {
        bail!("{}: no whole-day rows (t_h = 0, 24, 48, … h)", path.display());
    }
    Ok(days)
}

/// Name and P/V of the run's vessel, from the `scenario.toml` that `simulate` writes next to
/// truth.csv; without it (a truth.csv from elsewhere) the spec's default P/V with a warning.
fn run_scenario(run: &Path) -> Result<(String, f64)> {
    use crate::cmd::{Loaded, load_scenario, print_diagnostics};
    let path = run.join("scenario.toml");
    if !path.is_file() {
        eprintln!("warning: {} is missing: assuming P/V = {DEFAULT_POWER_PER_VOLUME_W_PER_M3} W/m³ (it sets how often beads aggregate)", path.display());
        let name = run.file_name().map_or_else(|| "run".to_string(), |n| n.to_string_lossy().to_string());
        return Ok((name, DEFAULT_POWER_PER_VOLUME_W_PER_M3));
    }
    match load_scenario(&path.display().to_string())? {
        Loaded::Ok { scenario, .. } => Ok((scenario.get().name.clone(), scenario.get().vessel.power_per_volume_w_per_m3)),
        Loaded::Invalid(errors) => {
            print_diagnostics(&errors);
            bail!("{}: not a valid scenario", path.display())
        }
    }
}

/// The spec's default agitation power per volume (sim.md §3).
const DEFAULT_POWER_PER_VOLUME_W_PER_M3: f64 = 20.0;

/// Arguments of `qc batch`.
pub struct BatchArgs {
    pub run: PathBuf,
    pub models: Vec<PathBuf>,
    pub bead_images: usize,
    pub trypan_crops: usize,
    pub day: DayRenderArgs,
}

fn cmd_batch(a: &BatchArgs) -> Result<ExitCode> {
    tch::set_num_threads(a.day.threads);
    if a.bead_images == 0 || a.trypan_crops == 0 {
        bail!("--bead-images and --trypan-crops must be at least 1");
    }
    if a.models.len() > 2 {
        bail!("--model takes at most two folders (one microcarrier, one trypan model)");
    }
    let difficulty = Difficulty::parse(&a.day.difficulty)?;
    let states = read_truth_days(&a.run.join("truth.csv"))?;
    let (name, pv) = run_scenario(&a.run)?;
    let (mut bead, mut trypan) = (None, None);
    for dir in &a.models {
        let m = load_model(dir)?;
        let slot = match m.meta.task.as_str() {
            t if t == Task::Microcarrier.name() => &mut bead,
            t if t == Task::Trypan.name() => &mut trypan,
            other => bail!("{}: a `{other}` model; qc batch takes a microcarrier and/or a trypan model", dir.display()),
        };
        if slot.is_some() {
            bail!("two `{}` models given with --model", m.meta.task);
        }
        *slot = Some(m);
    }
    let mut shipped = Vec::new();
    let mut shipped_model = |folder: &str, task: Task| -> Result<qc::model::Classifier> {
        let dir = a.day.out.join("models").join(folder);
        crate::cmd::demo::write_shipped_qc_model(folder, &dir)?;
        shipped.push(format!("{} ({})", task.name(), dir.display()));
        load_task_model(&dir, task)
    };
    let bead = match bead {
        Some(m) => m,
        None => shipped_model("beads", Task::Microcarrier)?,
    };
    let trypan = match trypan {
        Some(m) => m,
        None => shipped_model("trypan", Task::Trypan)?,
    };
    if !shipped.is_empty() {
        eprintln!("note: using the shipped small model(s) for {} (models/qc/README.md); pass --model to use your own", shipped.join(", "));
    }
    let counts = ImageCounts { bead: a.bead_images, trypan: a.trypan_crops };
    let days = report_days(&states, pv, (&bead, &trypan), counts, a.day.seed, difficulty, "qc batch: days")?;
    std::fs::create_dir_all(&a.day.out).with_context(|| format!("creating {}", a.day.out.display()))?;
    write_report(&a.day.out, "qc_daily", &name, &days)?;
    print_report(&name, &days);
    println!("wrote {}/{{qc_daily.csv, qc_daily.json, hyperscore.png}}", a.day.out.display());
    Ok(ExitCode::SUCCESS)
}

/// `{stem}.json`, `{stem}.csv` and `hyperscore.png` of a batch's days.
fn write_report(out: &Path, stem: &str, scenario: &str, days: &[ReportDay]) -> Result<()> {
    let json = serde_json::json!({ "scenario": scenario, "days": days });
    qc::io::write_file(&out.join(format!("{stem}.json")), serde_json::to_string_pretty(&json)?.as_bytes())?;
    let classes = Task::Microcarrier.classes();
    let mut csv = format!(
        "day,true_vcd_1e6_per_ml,true_viability_pct,image_viability_pct,{},quality_value,hyperscore,verdict,bead_label_agreement,trypan_label_agreement,reasons\n",
        classes.iter().map(|c| format!("frac_{c}")).collect::<Vec<_>>().join(",")
    );
    for d in days {
        let q = &d.qc;
        csv.push_str(&format!(
            "{},{:.4},{:.2},{:.2},{},{:.4},{:.2},{},{:.3},{:.3},\"{}\"\n",
            q.day,
            d.true_vcd_1e6_per_ml,
            d.true_viability_pct,
            100.0 * q.image_viability,
            q.class_fractions.iter().map(|(_, f)| format!("{f:.4}")).collect::<Vec<_>>().join(","),
            q.quality_value,
            q.hyperscore,
            q.verdict.as_str(),
            d.bead_label_agreement,
            d.trypan_label_agreement,
            q.reasons.join("; ").replace('"', "'"),
        ));
    }
    qc::io::write_file(&out.join(format!("{stem}.csv")), csv.as_bytes())?;
    use crate::plot::{Panel, Series, panels_png};
    let pts = |f: &dyn Fn(&ReportDay) -> f64| days.iter().map(|d| (f64::from(d.qc.day), f(d))).collect::<Vec<_>>();
    let panels = [
        Panel {
            title: "HyperScore per day".into(),
            x_label: "day".into(),
            y_label: "HyperScore".into(),
            series: vec![Series { label: "HyperScore".into(), points: pts(&|d| d.qc.hyperscore) }],
        },
        Panel {
            title: "Viability: simulator truth vs images".into(),
            x_label: "day".into(),
            y_label: "viability [%]".into(),
            series: vec![
                Series { label: "truth".into(), points: pts(&|d| d.true_viability_pct) },
                Series { label: "image (mean P(live))".into(), points: pts(&|d| 100.0 * d.qc.image_viability) },
            ],
        },
    ];
    panels_png(&out.join("hyperscore.png"), &panels, 2, 480, 340)
}

fn print_report(scenario: &str, days: &[ReportDay]) {
    println!("QC of simulated batch `{scenario}` (images rendered from each day's simulated state)");
    println!("{:>4} {:>9} {:>9} {:>9} {:>7} {:>10} {:>8}  {}", "day", "VCD e6/mL", "viab. %", "image %", "good %", "HyperScore", "verdict", "reasons");
    for d in days {
        let q = &d.qc;
        let good = q.class_fractions.first().map_or(0.0, |(_, f)| *f);
        println!(
            "{:>4} {:>9.2} {:>9.1} {:>9.1} {:>7.0} {:>10.1} {:>8}  {}",
            q.day,
            d.true_vcd_1e6_per_ml,
            d.true_viability_pct,
            100.0 * q.image_viability,
            100.0 * good,
            q.hyperscore,
            q.verdict.as_str(),
            q.reasons.join("; ")
        );
    }
    let n = days.len().max(1) as f64;
    println!(
        "mean agreement of predicted class with the renderer's label: beads {:.2}, trypan {:.2}",
        days.iter().map(|d| d.bead_label_agreement).sum::<f64>() / n,
        days.iter().map(|d| d.trypan_label_agreement).sum::<f64>() / n
    );
}
