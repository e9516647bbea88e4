#![allow(unreachable_pub)] // `pub` API for the hand-merged main.rs
//! `mabtwin qc …`: render, train, eval and classify (spec `qc.md` §10). File I/O and progress
//! bars live here; the `qc` crate does the work on buffers.

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use qc::render::{self, Difficulty, RenderConfig, Task};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod eval;
mod report;
mod train;

use eval::{cmd_calibrate, cmd_classify, cmd_eval, print_offsets};
use report::{BatchArgs, ReportModels, cmd_batch, cmd_report};
use train::{NetShape, TrainBudget, cmd_train, parse_aux, parse_widths};

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
        /// Microcarrier only: draw latents up to the label thresholds (12 particles, dead
        /// fraction 0.30, coverage 0.5) instead of redrawing those within the spec's margin
        /// (±3 particles, ±0.05). For the spec's "margin 0" evaluation of a trained model:
        /// images on a class edge, which the training sets leave out.
        #[arg(long)]
        no_margin: bool,
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
        /// Stop after this many epochs without a lower validation loss (spec: 8); the fast
        /// recipe never stops while its learning rate still rises (the first 30 % of the
        /// steps). A value of --epochs or more runs the whole schedule and keeps the best epoch.
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
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(i64).range(1..=2))]
        stem_stride: i64,
        /// Stage widths of the compact net: four comma-separated channel counts, 4..=512 each
        /// (default 16,32,64,128). Wider stages add capacity at a cost in speed:
        /// `cargo run --release -p qc --example infer_speed` measures it (BENCHMARKS.md).
        #[arg(long, value_name = "W1,W2,W3,W4")]
        widths: Option<String>,
        /// Residual blocks per stage of the compact net, 1..=4 (default 1).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..=4))]
        blocks: i64,
        /// Channels of an extra stride-1 3x3 convolution at full resolution before the stride-2
        /// stem of the compact net: 0 = none (default), else 4..=64. It lets the first
        /// non-linear features see every pixel (faint, sub-pixel microbial particles); it
        /// costs 15 % (8) to 35 % (16 channels) of the 2-block net's inference rate, where
        /// --stem-stride 1 runs the whole net at full resolution (about 4x slower).
        #[arg(long, default_value_t = 0, value_parser = full_res_stem_channels)]
        full_res_stem: i64,
        /// Make the stride-2 stem of the compact net a space-to-depth stem: a lossless 2x2
        /// pixel unshuffle (4x the channels at half the resolution) and a stride-1 3x3
        /// convolution, so every sub-pixel phase of a faint spot reaches the first filters
        /// (a stride-2 convolution samples every second position). About the same cost as
        /// the default stem. Needs --stem-stride 2 and even image sides.
        #[arg(long)]
        space_to_depth: bool,
        /// Networks in the model: 1 = a single network; N > 1 trains N diverse networks on
        /// the same split and averages their calibrated probabilities. Network k (0-based)
        /// varies the recipe in a cycle of five: k mod 5 = 0 as given, 1 with the other stem
        /// stride (2 <-> 1), 2 with the whole learning-rate schedule (patience = --epochs), 3
        /// with one more residual block per stage, 4 with the other kind of stride-2 stem
        /// (space-to-depth <-> convolution); its seed is --seed + k. Default: 3 for trypan
        /// crops that are not renders, 1 otherwise. On the real crops' five grouped folds
        /// (BENCHMARKS.md) 3 networks scored 0.948 and 5 networks 0.951 pooled (3 crops of
        /// 1,222, not significant) for about 1.4x the inference time.
        #[arg(long)]
        ensemble: Option<usize>,
        /// Auxiliary training targets: comma-separated numeric columns of the data's
        /// labels.csv (a render's latents, e.g. n_particles,dead_frac,coverage: the quantities
        /// the microcarrier label rule thresholds). A second linear head learns them from the
        /// pooled features, standardised on the training rows, beside the classes; the class
        /// head never reads it, so inference costs the same. Default: none.
        #[arg(long, value_name = "COL,COL,...")]
        aux_targets: Option<String>,
        /// Weight of the auxiliary targets' mean squared error (standardised units) in the
        /// training loss, beside the cross-entropy; (0, 100], default 0.5. Needs --aux-targets.
        #[arg(long)]
        aux_weight: Option<f64>,
        /// Weight of a particle-count map loss: a 1x1 convolution on the compact net's
        /// features at 1/8 resolution learns how many microbial particles lie in each
        /// 8 x 8-pixel cell (from the render's particles.csv, rotated and flipped with the
        /// image), and weight x its squared error summed over the cells joins the loss. Dense
        /// supervision of the count behind the `contaminated` rule (>= 12 particles);
        /// training only, inference costs the same. Microcarrier renders only; [0, 100],
        /// default 0 (none).
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        particle_map_weight: f64,
        /// After training, fit class decision offsets on the validation split (as
        /// `qc calibrate` does): per-class shifts of the log-probabilities chosen to raise the
        /// smallest per-class precision or recall, the seed's per-class target, at most 0.5
        /// accuracy points below the plain argmax. Needs 10 validation images per class.
        #[arg(long)]
        fit_class_offsets: bool,
        /// Pretrain on N rendered images of the same task before training on the data (real
        /// crops only, grey models): the renderer draws N class-balanced images (seeded by
        /// --seed), one network learns them for --pretrain-epochs, and every network of the
        /// model then starts from its weights instead of a random start. 0 = no pretraining
        /// (default). The renders never enter validation, temperature or metrics. On the
        /// real trypan crops (5 grouped folds, BENCHMARKS.md) 4,000 renders gave no gain, so
        /// it is off by default; it is there for other real data sets and sim-to-real studies.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=200_000))]
        pretrain_renders: u64,
        /// Epochs of the pretraining on renders (the whole schedule is run; the weights of its best
        /// epoch on the renders' own validation groups are kept), 1..=50.
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(1..=50))]
        pretrain_epochs: u64,
        /// Renders only: from the second epoch on, train every epoch on newly rendered images
        /// (as many as the train split holds, same task, difficulty, spectral bands and label
        /// margin as the render's render.json, a new render seed per epoch and network)
        /// instead of the same train split again, so no image is seen twice. Validation,
        /// early stopping, temperature and the test split stay the data's own; the fresh
        /// renders never come from the data's seed, so they never contain its test images.
        /// Each epoch pays for its rendering (about 9 s per 10,000 bead images with spectral
        /// cubes on 2 cores, measured).
        #[arg(long)]
        fresh_renders: bool,
    },
    /// Fit a model's class decision offsets on a labelled split and rewrite its model.json
    /// (the weights stay as they are).
    ///
    /// A trained network takes the argmax of its calibrated probabilities; a class whose hard
    /// cases resemble another's (microcarrier `contaminated` beads with few particles) then
    /// keeps a high precision and a low recall. The offsets (one per class, added to the
    /// log-probabilities) are chosen on --split (default val: the split the model
    /// early-stopped on, never test) to raise the smallest per-class precision or recall,
    /// ties by accuracy, never more than 0.5 accuracy points below the plain argmax. `qc eval`
    /// then reports the metrics with the offsets and, beside them, without.
    ///
    /// Example: mabtwin qc calibrate --model models/qc/beads --data renders/mc24k
    Calibrate {
        /// Model folder (model.json is rewritten atomically).
        #[arg(long)]
        model: PathBuf,
        /// Labelled data folder the offsets are fitted on (the model's training render, so
        /// its `val` split is the one the model never trained on).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Split of --data to fit on: val (default) or train; test is refused.
        #[arg(long, default_value = "val")]
        split: String,
        /// Remove the offsets instead (back to the plain argmax).
        #[arg(long, conflicts_with = "data")]
        clear: bool,
        /// libtorch CPU threads.
        #[arg(long, default_value_t = 2)]
        threads: i32,
    },
    /// Evaluate a model on a data set split; writes metrics.json, per_class.csv,
    /// confusion.csv/.png, rotation.csv, predictions.csv and, for renders, difficulty.csv
    /// (accuracy per tercile of blur and of photons at background); for a model trained with
    /// --aux-targets, aux_predictions.csv and each target's RMSE, MAE and R² in metrics.json;
    /// for one trained with --particle-map-weight on data with particles.csv,
    /// particle_counts.csv (the map's count per image against the true one) and its fit.
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
        QcCommand::Render { task, n, seed, out, no_spectral, difficulty, threads, no_margin } => {
            cmd_render(&render_config(&task, no_spectral, &difficulty, no_margin)?, n, seed, &out, threads)
        }
        QcCommand::Train { data, out, task, no_spectral, arch, recipe, epochs, patience, seed, threads, device, stem_stride, widths, blocks, full_res_stem, space_to_depth, ensemble, aux_targets, aux_weight, particle_map_weight, fit_class_offsets, pretrain_renders, pretrain_epochs, fresh_renders } => {
            let aux = parse_aux(aux_targets.as_deref(), aux_weight)?;
            if !(particle_map_weight.is_finite() && (0.0..=100.0).contains(&particle_map_weight)) {
                bail!("--particle-map-weight {particle_map_weight} is outside [0, 100] (0 = no particle-count map)");
            }
            let shape = NetShape { stem_stride, widths: widths.as_deref().map(parse_widths).transpose()?, blocks, full_res_stem, space_to_depth, aux, particle_map_weight };
            cmd_train(&data, &out, task.as_deref(), no_spectral, &arch, &recipe, TrainBudget { epochs, patience, ensemble, fit_class_offsets, pretrain_renders, pretrain_epochs: pretrain_epochs as usize, fresh_renders }, seed, threads, &device, shape)
        }
        QcCommand::Calibrate { model, data, split, clear, threads } => cmd_calibrate(&model, data.as_deref(), &split, clear, threads),
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


/// The renderer configuration of `qc render`'s flags.
fn render_config(task: &str, no_spectral: bool, difficulty: &str, no_margin: bool) -> Result<RenderConfig> {
    let task = Task::parse(task)?;
    if no_margin && task != Task::Microcarrier {
        bail!("--no-margin applies to --task microcarrier only (the {} label rule has no thresholds to keep away from)", task.name());
    }
    Ok(RenderConfig { task, difficulty: Difficulty::parse(difficulty)?, spectral: task.has_spectral() && !no_spectral, threshold_margin: !no_margin })
}

fn cmd_render(cfg: &RenderConfig, n: u64, seed: u64, out: &Path, threads: usize) -> Result<ExitCode> {
    let task = cfg.task;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build()?;
    std::fs::create_dir_all(out.join("images")).with_context(|| format!("creating {}", out.display()))?;
    let classes = task.classes();
    let size = task.size_px();
    let mut csv = String::new();
    // Microcarrier renders: one row per microbial particle (the count behind the label).
    let with_particles = task == Task::Microcarrier;
    let mut particles_csv = String::from("file,x_px,y_px\n");
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
        let imgs = pool.install(|| render::render_set(cfg, seed, start, m))?;
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
            for (x, y) in &r.particles_px {
                particles_csv.push_str(&format!("{file},{x:.3},{y:.3}\n"));
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
    if with_particles {
        qc::io::write_file(&out.join(qc::io::PARTICLES_CSV), particles_csv.as_bytes())?;
    }
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
        "particles": if with_particles { serde_json::json!({"file": qc::io::PARTICLES_CSV, "columns": "file,x_px,y_px: centre of each microbial particle (pixels, origin at the top-left pixel's centre); a file's row count is its n_particles"}) } else { serde_json::Value::Null },
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

/// `--full-res-stem`: 0 (none) or 4..=64 channels.
fn full_res_stem_channels(text: &str) -> std::result::Result<i64, String> {
    match text.trim().parse::<i64>() {
        Ok(v) if v == 0 || (4..=64).contains(&v) => Ok(v),
        _ => Err(format!("`{text}` is not 0 (no full-resolution stem) or a channel count in 4..=64")),
    }
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

fn load_model(dir: &Path) -> Result<qc::model::Classifier> {
    if !dir.join("model.json").is_file() {
        bail!("{}: not a model directory (no model.json)", dir.display());
    }
    qc::model::Classifier::load(dir, tch::Device::cuda_if_available()).with_context(|| format!("loading model from {}", dir.display()))
}

