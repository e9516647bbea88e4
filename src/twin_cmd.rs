//! `mabtwin twin …`: train, evaluate, compare and tune the data-driven twin (crate `twin`),
//! and predict one batch. Files, progress bars, clocks and plots live here; the pipeline,
//! models and metrics live in `twin`.

use crate::output::{write_atomic, write_json};
use crate::twin_plots::{plot_heatmap, plot_parity, plot_trajectories};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use twin::baselines::{Baseline, BaselineCaps, fit_predict};
use twin::data::{Dataset, load_batch, load_dataset};
use twin::metrics::Scores;
use twin::nn::{Arch, McPrediction, Model, ModelConfig, TrainConfig, default_device, fit_interval_scale, new_meta};
use twin::pipeline::{Evaluation, Prepared, evaluate, grid_all, prepare, windows_of};
use twin::prep::{DEFAULT_FEATURES, Horizon, WindowConfig, WindowSet, grid_batch, windows};
use twin::split::{Split, leave_group_out, random_split};

/// The `twin` subcommands.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum TwinCommand {
    /// Train a model (CNN-LSTM by default) on a `mabtwin dataset` folder; saves
    /// model.safetensors + model.json (architecture, features, scaler, data hash, split, metrics).
    Train(TrainArgs),
    /// Evaluate a model on held-out batches: metrics.json, table.md, trajectory/parity/attribution plots.
    Eval(EvalArgs),
    /// The seed's Table 5: MLR, random forest, SVR, FFNN, LSTM, CNN and CNN-LSTM on one split.
    Baselines(BaselinesArgs),
    /// Bayesian hyper-parameter search (egobox EGO) over the seed's Table 3 space.
    Tune(TuneArgs),
    /// Titer/GI trajectory with 95 % intervals for one batch (the `mabtwin simulate` CSV format).
    Predict(PredictArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub(crate) struct CommonArgs {
    /// Seed of the weights and the shuffling, and of the batch split unless --split-seed
    /// is given.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Seed of the train/validation/test split by batch (default: --seed). Give the same
    /// split seed and different --seed values to train several networks on one split.
    #[arg(long)]
    pub(crate) split_seed: Option<u64>,
    /// Share of batches held out for validation (early stopping).
    #[arg(long, default_value_t = 0.15)]
    pub(crate) val_frac: f64,
    /// Share of batches held out for the test.
    #[arg(long, default_value_t = 0.15)]
    pub(crate) test_frac: f64,
    /// Target horizon: `now` (window end), `24h`, `72h`, … or `harvest`.
    #[arg(long, default_value = "now")]
    pub(crate) horizon: String,
    /// Input features, comma-separated (default: the seed's Table 1 variables plus pCO2 and
    /// elapsed time). Any online or offline column of the dataset, `elapsed_d`, or
    /// `sample_age_h` (hours since the offline sample being held).
    #[arg(long, value_delimiter = ',')]
    pub(crate) features: Vec<String>,
    /// libtorch CPU threads.
    #[arg(long, default_value_t = 2)]
    pub(crate) threads: usize,
    /// Hide progress bars.
    #[arg(long)]
    pub(crate) quiet: bool,
}

impl CommonArgs {
    /// The seed that draws the batch split.
    pub(crate) fn split_seed(&self) -> u64 {
        self.split_seed.unwrap_or(self.seed)
    }
}

#[derive(clap::Args, Debug)]
pub(crate) struct TrainArgs {
    /// Dataset folder written by `mabtwin dataset`.
    #[arg(long)]
    pub(crate) data: PathBuf,
    /// Model folder to write.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Most epochs (early stopping with --patience usually ends sooner).
    #[arg(long, default_value_t = 200)]
    pub(crate) epochs: usize,
    #[arg(long, default_value_t = 20)]
    pub(crate) patience: usize,
    /// Halve the learning rate after this many epochs without a better validation loss
    /// (0 = keep it constant; floor: the initial rate / 64).
    #[arg(long, default_value_t = 0)]
    pub(crate) lr_plateau_patience: usize,
    #[arg(long, default_value_t = 64)]
    pub(crate) batch_size: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub(crate) lr: f64,
    /// cnn_lstm, ffnn, lstm or cnn.
    #[arg(long, default_value = "cnn_lstm")]
    pub(crate) arch: String,
    #[command(flatten)]
    pub(crate) skips: Skips,
    /// MC-dropout passes over the validation batches used to calibrate the 95 % intervals
    /// (split-conformal scale of the half-widths, stored in model.json); 0 = no calibration.
    #[arg(long, default_value_t = 30)]
    pub(crate) calibration_passes: usize,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

#[derive(clap::Args, Debug)]
pub(crate) struct EvalArgs {
    /// Model folder written by `mabtwin twin train`.
    #[arg(long)]
    pub(crate) model: PathBuf,
    /// Dataset folder. If it is the training dataset (same manifest hash), only the model's
    /// test batches are scored; otherwise every batch is unseen and scored.
    #[arg(long)]
    pub(crate) data: PathBuf,
    /// Report folder.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// MC-dropout passes for the 95 % intervals.
    #[arg(long, default_value_t = 100)]
    pub(crate) mc_passes: usize,
    /// Skip the MLR / random forest / SVR rows (trained on the model's training batches).
    #[arg(long)]
    pub(crate) no_baselines: bool,
    #[command(flatten)]
    pub(crate) caps: CapArgs,
    #[arg(long, default_value_t = 2)]
    pub(crate) threads: usize,
}

/// How much of the training data the costlier classical baselines get.
#[derive(clap::Args, Debug)]
pub(crate) struct CapArgs {
    /// Most training windows the random forest fits on (a seeded random draw when there are
    /// more; 0, the default, = every training window).
    #[arg(long, default_value_t = 0)]
    pub(crate) rf_max_train: usize,
    /// Most training windows the SVR fits on (0 = all; its solver is quadratic in the count,
    /// so all of a large dataset takes long).
    #[arg(long, default_value_t = twin::baselines::SVR_MAX_TRAIN)]
    pub(crate) svr_max_train: usize,
}

impl CapArgs {
    fn caps(&self) -> BaselineCaps {
        BaselineCaps::from_flags(self.rf_max_train, self.svr_max_train)
    }
}

/// `metrics.json → caps`: the windows each classical baseline was fitted on.
fn caps_json(caps: &BaselineCaps, n_train: usize) -> serde_json::Value {
    json!({
        "random_forest_max_train_windows": caps.used(Baseline::RandomForest, n_train),
        "svr_max_train_windows": caps.used(Baseline::Svr, n_train),
        "n_train_windows": n_train,
    })
}

#[derive(clap::Args, Debug)]
pub(crate) struct BaselinesArgs {
    #[arg(long)]
    pub(crate) data: PathBuf,
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Most epochs of each network.
    #[arg(long, default_value_t = 200)]
    pub(crate) epochs: usize,
    #[arg(long, default_value_t = 20)]
    pub(crate) patience: usize,
    /// Halve the learning rate after this many epochs without a better validation loss
    /// (0 = keep it constant; floor: the initial rate / 64).
    #[arg(long, default_value_t = 0)]
    pub(crate) lr_plateau_patience: usize,
    /// The optional skips, given to every network (FFNN, LSTM, CNN and CNN-LSTM alike).
    #[command(flatten)]
    pub(crate) skips: Skips,
    /// Also run leave-one-scale-out and leave-one-cell-line-out with the CNN-LSTM and MLR
    /// (the seed's Table 8 analog; one training per held-out group).
    #[arg(long)]
    pub(crate) leave_out: bool,
    /// Also save the CNN-LSTM of this comparison as a model folder (for `twin eval`).
    #[arg(long)]
    pub(crate) save_model: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) caps: CapArgs,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

#[derive(clap::Args, Debug)]
pub(crate) struct TuneArgs {
    #[arg(long)]
    pub(crate) data: PathBuf,
    /// Number of trainings.
    #[arg(long)]
    pub(crate) budget: usize,
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Most epochs per trial.
    #[arg(long, default_value_t = 30)]
    pub(crate) epochs: usize,
    #[arg(long, default_value_t = 10)]
    pub(crate) patience: usize,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

#[derive(clap::Args, Debug)]
pub(crate) struct PredictArgs {
    #[arg(long)]
    pub(crate) model: PathBuf,
    /// Online CSV of one batch (`mabtwin simulate`'s online.csv: t_h, temp_c, ph, do_pct,
    /// pco2_mmhg, volume_l; extra columns ignored).
    #[arg(long)]
    pub(crate) batch: PathBuf,
    /// Offline CSV (daily: t_h or day, vcd_1e6_per_ml, glucose_g_per_l, lactate_g_per_l,
    /// titer_g_per_l, …). Default: offline.csv next to --batch, if present.
    #[arg(long)]
    pub(crate) offline: Option<PathBuf>,
    #[arg(long, default_value_t = 100)]
    pub(crate) mc_passes: usize,
    /// Spacing of the predicted points, h.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) every_h: f64,
    /// Write the CSV here instead of standard output.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    #[arg(long, default_value_t = 2)]
    pub(crate) threads: usize,
}

/// Run a `twin` subcommand.
pub(crate) fn run(cmd: TwinCommand) -> Result<ExitCode> {
    match cmd {
        TwinCommand::Train(a) => train(a),
        TwinCommand::Eval(a) => eval(a),
        TwinCommand::Baselines(a) => baselines(a),
        TwinCommand::Tune(a) => tune(a),
        TwinCommand::Predict(a) => predict(a),
    }
}

fn setup(threads: usize) -> tch::Device {
    tch::set_num_threads(threads.max(1) as i32);
    let d = default_device();
    eprintln!(
        "device: {} (CUDA available: {}, GPUs: {}), {} CPU threads",
        match d {
            tch::Device::Cuda(i) => format!("cuda:{i}"),
            _ => "cpu".into(),
        },
        tch::Cuda::is_available(),
        tch::Cuda::device_count(),
        threads.max(1)
    );
    d
}

fn features(c: &CommonArgs) -> Vec<String> {
    if c.features.is_empty() { DEFAULT_FEATURES.iter().map(|s| s.to_string()).collect() } else { c.features.clone() }
}

fn load(data: &Path) -> Result<Dataset> {
    let t = Instant::now();
    let ds = load_dataset(data).with_context(|| format!("loading dataset {}", data.display()))?;
    eprintln!("loaded {} batches from {} in {:.1} s", ds.batches.len(), data.display(), t.elapsed().as_secs_f64());
    Ok(ds)
}

fn prepared(ds: &Dataset, c: &CommonArgs) -> Result<Prepared> {
    let t = Instant::now();
    let window = WindowConfig { horizon: Horizon::parse(&c.horizon)?, ..WindowConfig::default() };
    let features = features(c);
    let grids = grid_all(ds, &features)?;
    let split = random_split(grids.len(), c.val_frac, c.test_frac, c.split_seed())?;
    let p = prepare(grids, &features, &window, split)?;
    let (o, l, k): (usize, usize, usize) = p.grids.iter().fold((0, 0, 0), |a, g| (a.0 + g.outliers_removed, a.1 + g.imputed_linear, a.2 + g.imputed_knn));
    eprintln!(
        "preprocessed in {:.1} s: {} outliers removed, {} values imputed linearly, {} by kNN; batches train/val/test {}/{}/{}, windows {}/{}/{} (horizon {})",
        t.elapsed().as_secs_f64(),
        o,
        l,
        k,
        p.split.train.len(),
        p.split.val.len(),
        p.split.test.len(),
        p.train.len(),
        p.val.len(),
        p.test.len(),
        p.window.horizon.label()
    );
    Ok(p)
}

fn bar(len: usize, quiet: bool, label: &str) -> ProgressBar {
    let b = if quiet { ProgressBar::hidden() } else { ProgressBar::new(len as u64) };
    b.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] epoch {pos}/{len} {msg} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    b.set_prefix(label.to_owned());
    b
}

/// Train one network on `p` with a progress bar; returns the model and seconds.
/// The optional skip terms of a network (both off in the seed's Table 2 network).
#[derive(clap::Args, Debug, Clone, Copy)]
pub(crate) struct Skips {
    /// Add a linear highway from the last time step's inputs to the outputs (LSTNet's
    /// autoregressive highway): the network learns a correction to a linear read-out of the
    /// current state. Off by default.
    #[arg(long)]
    pub(crate) highway: bool,
    /// Add the window's last held titer assay (the `titer_g_per_l` input) to the titer
    /// output, so the network learns the titer made since that assay (a fixed skip, no
    /// weights; needs `titer_g_per_l` among the features). Off by default.
    #[arg(long)]
    pub(crate) persistence: bool,
}

fn train_model(p: &Prepared, arch: Arch, skips: Skips, tc: &TrainConfig, device: tch::Device, data_hash: &str, quiet: bool) -> Result<(Model, f64)> {
    let cfg = ModelConfig { highway: skips.highway, persistence: skips.persistence, ..ModelConfig::seed_default(arch, p.features.len(), p.window.steps) };
    let mut m = Model::new(cfg, new_meta(&p.features, &p.window, &p.scaler, data_hash), tc.seed, device)?;
    m.meta.split_batch_ids = Some(p.split_batch_ids());
    let b = bar(tc.epochs, quiet, arch.key());
    let t = Instant::now();
    let s = m.train(&p.train, &p.val, tc, &mut |e| {
        b.set_position(e.epoch as u64);
        b.set_message(format!("train {:.4} val {:.4} (best epoch {})", e.train_loss, e.val_loss, e.best_epoch));
    })?;
    b.finish_and_clear();
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "{}: {} parameters, {} epochs in {:.1} s ({:.2} s/epoch), best epoch {} (val MSE {:.4}, z-units){}",
        arch.key(),
        s.parameters,
        s.epochs_run,
        secs,
        secs / s.epochs_run.max(1) as f64,
        s.best_epoch,
        s.best_val_loss,
        if s.stopped_early { ", stopped early" } else { "" }
    );
    Ok((m, secs))
}

fn scores_json(s: &Scores, unit: &str) -> Value {
    let mut v = json!({
        format!("rmse_{unit}"): s.rmse,
        format!("mae_{unit}"): s.mae,
        "r2": s.r2,
        "dts": s.dts,
        "dts_delta": s.dts_delta,
        "n": s.n,
    });
    if let Some(c) = s.ci95_coverage {
        v["ci95_coverage"] = json!(c);
    }
    if let Some(w) = s.ci95_mean_width {
        v[format!("ci95_mean_width_{unit}")] = json!(w);
    }
    v
}

fn eval_json(e: &Evaluation) -> Value {
    let group = |m: &BTreeMap<String, Scores>| m.iter().map(|(k, s)| (k.clone(), scores_json(s, "g_per_l"))).collect::<serde_json::Map<_, _>>();
    let mut v = scores_json(&e.titer, "g_per_l");
    v["gi"] = scores_json(&e.gi, "pct");
    v["titer_by_phase"] = Value::Object(group(&e.titer_by_phase));
    v["titer_by_cell_line"] = Value::Object(group(&e.titer_by_cell_line));
    v["titer_by_scale"] = Value::Object(group(&e.titer_by_scale));
    v
}

fn row(name: &str, s: &Scores) -> String {
    let cov = s.ci95_coverage.map_or("–".to_owned(), |c| format!("{:.1} %", 100.0 * c));
    format!("| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {cov} |\n", s.rmse, s.mae, s.r2, s.dts, s.dts_delta)
}

const TABLE_HEAD: &str = "| Model | RMSE (g/L) | MAE (g/L) | R² | DTS | DTS (Δ) | 95 % coverage |\n|---|---|---|---|---|---|---|\n";

fn group_table(title: &str, m: &BTreeMap<String, Scores>) -> String {
    let mut s = format!("\n{title}\n\n{}", TABLE_HEAD.replacen("Model", "Group", 1));
    for (k, v) in m {
        s.push_str(&row(k, v));
    }
    s
}

fn train(a: TrainArgs) -> Result<ExitCode> {
    let device = setup(a.common.threads);
    let arch = Arch::parse(&a.arch)?;
    let ds = load(&a.data)?;
    let p = prepared(&ds, &a.common)?;
    let tc = TrainConfig { epochs: a.epochs, batch_size: a.batch_size, lr: a.lr, patience: a.patience, seed: a.common.seed, lr_plateau_patience: a.lr_plateau_patience };
    let (mut m, secs) = train_model(&p, arch, a.skips, &tc, device, &ds.manifest_hash, a.common.quiet)?;
    let t = Instant::now();
    let pred = m.predict(&p.test)?;
    let infer = t.elapsed().as_secs_f64();
    let ev = evaluate(&p.test, &p.grids, &pred, None);
    let mut calibration = Value::Null;
    if a.calibration_passes >= 2 && !p.val.is_empty() && m.meta.model.dropout > 0.0 {
        let t = Instant::now();
        let scale = calibrate(&m, &p.val, a.calibration_passes)?;
        m.meta.interval_scale = Some(scale);
        calibration = json!({"interval_scale": scale, "passes": a.calibration_passes, "fitted_on": "validation batches", "seconds": t.elapsed().as_secs_f64()});
    }
    m.meta.metrics = json!({
        "test": eval_json(&ev),
        "interval_calibration": calibration,
        "train_seconds": secs,
        "device": format!("{device:?}"),
        "test_inference_seconds": infer,
        "n_test_windows": p.test.len(),
    });
    m.save(&a.out).with_context(|| format!("saving the model to {}", a.out.display()))?;
    println!(
        "{} on {} held-out test batches ({} windows, horizon {}): titer RMSE {:.3} g/L, MAE {:.3} g/L, R² {:.3}, DTS {:.3}; GI RMSE {:.2} %; saved {}/model.{{safetensors,json}}",
        arch.name(),
        p.split.test.len(),
        p.test.len(),
        p.window.horizon.label(),
        ev.titer.rmse,
        ev.titer.mae,
        ev.titer.r2,
        ev.titer.dts,
        ev.gi.rmse,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Fit the split-conformal scale of the MC-dropout 95 % intervals on `val` (windows of
/// batches the model did not train on).
fn calibrate(model: &Model, val: &twin::prep::WindowSet, passes: usize) -> Result<[f64; 2]> {
    let mc = model.predict_mc(val, passes, 11)?;
    let y: Vec<[f64; 2]> = val.target(0).into_iter().zip(val.target(1)).map(|(a, b)| [a, b]).collect();
    Ok(fit_interval_scale(&y, &mc, 0.95)?)
}

/// The intervals a user gets: scaled by the model's calibration when it has one.
fn user_intervals(model: &Model, mc: McPrediction) -> McPrediction {
    match model.meta.interval_scale {
        Some(s) => mc.scaled(s),
        None => mc,
    }
}

/// Indices of the batches with the given ids.
fn indices(ds: &Dataset, ids: &[usize]) -> Vec<usize> {
    ds.batches.iter().enumerate().filter(|(_, b)| ids.contains(&b.meta.batch_id)).map(|(i, _)| i).collect()
}

fn eval(a: EvalArgs) -> Result<ExitCode> {
    let device = setup(a.threads);
    let model = Model::load(&a.model, device).with_context(|| format!("loading the model from {}", a.model.display()))?;
    let ds = load(&a.data)?;
    let grids = grid_all(&ds, &model.meta.features)?;
    let same_data = ds.manifest_hash == model.meta.data_manifest_hash;
    let (test_idx, train_idx) = match (&model.meta.split_batch_ids, same_data) {
        (Some(s), true) => (indices(&ds, &s.test), indices(&ds, &s.train)),
        _ => ((0..ds.batches.len()).collect(), Vec::new()),
    };
    if test_idx.is_empty() {
        bail!("no held-out batch to evaluate");
    }
    eprintln!(
        "{}: scoring {} batches ({})",
        a.data.display(),
        test_idx.len(),
        if same_data { "the model's held-out test split" } else { "a dataset the model never saw: every batch" }
    );
    let test = windows_of(&grids, &test_idx, &model.meta.scaler, &model.meta.window)?;
    let t = Instant::now();
    let pred = model.predict(&test)?;
    let t_point = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mc_raw = model.predict_mc(&test, a.mc_passes, 7)?;
    let t_mc = t.elapsed().as_secs_f64();
    eprintln!("inference: {} windows in {:.2} s; {} MC-dropout passes in {:.1} s", test.len(), t_point, a.mc_passes, t_mc);
    // A model trained before interval calibration existed: fit it now on its validation
    // batches when this is its own dataset (reported as such).
    let mut model = model;
    let mut calibration_source = if model.meta.interval_scale.is_some() { "model.json (fitted on the validation batches at training)" } else { "none (raw MC-dropout quantiles)" };
    if model.meta.interval_scale.is_none()
        && let (Some(s), true) = (&model.meta.split_batch_ids, same_data)
        && !s.val.is_empty()
    {
        let val = windows_of(&grids, &indices(&ds, &s.val), &model.meta.scaler, &model.meta.window)?;
        model.meta.interval_scale = Some(calibrate(&model, &val, a.mc_passes)?);
        calibration_source = "fitted now on the model's validation batches";
    }
    let mc = user_intervals(&model, mc_raw.clone());
    let ev = evaluate(&test, &grids, &pred, Some((&mc.lo, &mc.hi)));
    let raw_cov = |k: usize| twin::metrics::coverage(&test.target(k), &mc_raw.lo.iter().map(|v| v[k]).collect::<Vec<_>>(), &mc_raw.hi.iter().map(|v| v[k]).collect::<Vec<_>>());
    let (raw_titer, raw_gi) = (raw_cov(0), raw_cov(1));
    let key = model.meta.model.arch.key();
    let mut models = serde_json::Map::new();
    models.insert(key.to_owned(), eval_json(&ev));
    let mut table = format!(
        "# Held-out evaluation\n\nModel `{}` ({}), horizon `{}`, {} test batches, {} windows; 95 % intervals from {} MC-dropout passes.\n\n{TABLE_HEAD}",
        a.model.display(),
        model.meta.model.arch.name(),
        model.meta.window.horizon.label(),
        test_idx.len(),
        test.len(),
        a.mc_passes
    );
    let mut rows = vec![(model.meta.model.arch.name().to_owned(), ev.titer.clone())];
    let mut baseline_preds: Vec<(&'static str, Vec<[f64; 2]>)> = Vec::new();
    let mut caps = serde_json::Value::Null;
    if !a.no_baselines && !train_idx.is_empty() {
        let tr = windows_of(&grids, &train_idx, &model.meta.scaler, &model.meta.window)?;
        let fit_caps = a.caps.caps();
        caps = caps_json(&fit_caps, tr.len());
        for b in Baseline::ALL {
            let t = Instant::now();
            let p = fit_predict(b, &tr, &test, 1, &fit_caps)?;
            eprintln!("{}: {:.1} s", b.key(), t.elapsed().as_secs_f64());
            let e = evaluate(&test, &grids, &p, None);
            models.insert(b.key().to_owned(), eval_json(&e));
            rows.insert(0, (b.name().to_owned(), e.titer));
            baseline_preds.push((b.key(), p));
        }
    }
    for (n, s) in &rows {
        table.push_str(&row(n, s));
    }
    table.push_str(&group_table("Titer error by culture phase (Table 6 analog):", &ev.titer_by_phase));
    table.push_str(&group_table("By cell line (Table 8 analog):", &ev.titer_by_cell_line));
    table.push_str(&group_table("By scale:", &ev.titer_by_scale));
    let _ = writeln!(table, "\nGI (CQA): RMSE {:.2} %, MAE {:.2} %, R² {:.3}, 95 % coverage {:.1} %.", ev.gi.rmse, ev.gi.mae, ev.gi.r2, 100.0 * ev.gi.ci95_coverage.unwrap_or(f64::NAN));
    let _ = writeln!(
        table,
        "\n95 % intervals: calibration {calibration_source}; scale {}; coverage on the test batches titer {:.1} % (raw MC dropout {:.1} %), GI {:.1} % (raw {:.1} %).",
        model.meta.interval_scale.map_or("1 (none)".to_owned(), |s| format!("titer ×{:.2}, GI ×{:.2}", s[0], s[1])),
        100.0 * ev.titer.ci95_coverage.unwrap_or(f64::NAN),
        100.0 * raw_titer,
        100.0 * ev.gi.ci95_coverage.unwrap_or(f64::NAN),
        100.0 * raw_gi
    );
    // Integrated gradients over up to 16 test windows spread through the set.
    let nf = model.meta.features.len();
    let steps = model.meta.window.steps;
    let mut heat = vec![0.0; steps * nf];
    let mut worst_gap: f64 = 0.0;
    let picks: Vec<usize> = (0..16.min(test.len())).map(|i| i * test.len() / 16.min(test.len())).collect();
    let t = Instant::now();
    for &w in &picks {
        let at = model.integrated_gradients(&test, w, 0, 64)?;
        let gap = at.f_x - at.f_baseline;
        worst_gap = worst_gap.max((at.total() - gap).abs() / gap.abs().max(1e-6));
        for (h, v) in heat.iter_mut().zip(&at.values) {
            *h += v.abs();
        }
    }
    let per_feature: Vec<f64> = (0..nf).map(|c| (0..steps).map(|s| heat[s * nf + c]).sum()).collect();
    let total: f64 = per_feature.iter().sum::<f64>().max(1e-12);
    let mut ranking: Vec<(String, f64)> = model.meta.features.iter().cloned().zip(per_feature.iter().map(|v| v / total)).collect();
    ranking.sort_by(|a, b| b.1.total_cmp(&a.1));
    table.push_str("\nIntegrated-gradient importance for titer (share of Σ|attribution|, Table 6 analog):\n\n| Rank | Feature | Relative importance |\n|---|---|---|\n");
    for (i, (f, v)) in ranking.iter().enumerate() {
        let _ = writeln!(table, "| {} | {f} | {v:.3} |", i + 1);
    }
    let _ = writeln!(table, "\nIG completeness over {} windows: worst |Σ attributions − (f(x) − f(baseline))| / |f(x) − f(baseline)| = {:.4} (64-point trapezoid, {:.1} s).", picks.len(), worst_gap, t.elapsed().as_secs_f64());
    let metrics = json!({
        "models": models,
        "baseline_caps": caps,
        "model_dir": a.model.display().to_string(),
        "data": a.data.display().to_string(),
        "held_out": if same_data { "model test split" } else { "all batches (unseen dataset)" },
        "n_test_batches": test_idx.len(),
        "n_test_windows": test.len(),
        "horizon": model.meta.window.horizon.label(),
        "mc_passes": a.mc_passes,
        "interval_scale": model.meta.interval_scale,
        "interval_calibration": calibration_source,
        "ci95_coverage_raw_mc": {"titer": raw_titer, "gi": raw_gi},
        "ig_ranking_titer": ranking.iter().map(|(f, v)| json!({"feature": f, "relative_importance": v})).collect::<Vec<_>>(),
        "ig_completeness_worst_relative_gap": worst_gap,
        "inference_seconds": t_point,
        "mc_seconds": t_mc,
    });
    write_json(&a.out.join("metrics.json"), &metrics)?;
    write_atomic(&a.out.join("table.md"), table.as_bytes())?;
    write_atomic(&a.out.join("predictions.csv"), predictions_csv(&test, &pred, &mc, &baseline_preds).as_bytes())?;
    plot_trajectories(&a.out.join("trajectories.png"), &test, &grids, &pred, &mc)?;
    plot_parity(&a.out.join("parity.png"), &test.target(0), &pred.iter().map(|r| r[0]).collect::<Vec<_>>())?;
    plot_heatmap(&a.out.join("attribution_heatmap.png"), &heat, steps, &model.meta.features)?;
    print!("{table}");
    println!("wrote {}/{{metrics.json, table.md, predictions.csv, trajectories.png, parity.png, attribution_heatmap.png}}", a.out.display());
    Ok(ExitCode::SUCCESS)
}

/// One row per scored window: where it ends, the truth, the model's point prediction and
/// calibrated 95 % band, and each baseline's prediction (columns `<key>_titer_g_per_l`,
/// `<key>_gi_pct`), so that users can re-score, plot or combine models themselves.
fn predictions_csv(test: &WindowSet, pred: &[[f64; 2]], mc: &McPrediction, baselines: &[(&str, Vec<[f64; 2]>)]) -> String {
    let mut csv = String::from(
        "batch_id,t_end_h,target_t_h,phase,titer_true_g_per_l,titer_pred_g_per_l,titer_lo95_g_per_l,titer_hi95_g_per_l,gi_true_pct,gi_pred_pct,gi_lo95_pct,gi_hi95_pct",
    );
    for (k, _) in baselines {
        let _ = write!(csv, ",{k}_titer_g_per_l,{k}_gi_pct");
    }
    csv.push('\n');
    for (i, w) in test.info.iter().enumerate() {
        let _ = write!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            w.batch_id,
            w.t_end_h,
            w.target_t_h,
            w.phase.name(),
            test.y[2 * i],
            pred[i][0],
            mc.lo[i][0],
            mc.hi[i][0],
            test.y[2 * i + 1],
            pred[i][1],
            mc.lo[i][1],
            mc.hi[i][1]
        );
        for (_, p) in baselines {
            let _ = write!(csv, ",{},{}", p[i][0], p[i][1]);
        }
        csv.push('\n');
    }
    csv
}

fn baselines(a: BaselinesArgs) -> Result<ExitCode> {
    let device = setup(a.common.threads);
    let ds = load(&a.data)?;
    let p = prepared(&ds, &a.common)?;
    let tc = TrainConfig { epochs: a.epochs, patience: a.patience, seed: a.common.seed, lr_plateau_patience: a.lr_plateau_patience, ..TrainConfig::default() };
    let caps = a.caps.caps();
    let mut models = serde_json::Map::new();
    let mut timings = serde_json::Map::new();
    let mut table = format!(
        "# Model comparison (seed Table 5 analog)\n\n{} held-out test batches, {} windows, horizon `{}`, seed {}; every model on the same split and features.\n\n{TABLE_HEAD}",
        p.split.test.len(),
        p.test.len(),
        p.window.horizon.label(),
        a.common.seed
    );
    let mut cnn_lstm_eval = None;
    for b in Baseline::ALL {
        let t = Instant::now();
        let pred = fit_predict(b, &p.train, &p.test, a.common.seed, &caps)?;
        let secs = t.elapsed().as_secs_f64();
        eprintln!("{}: {:.1} s", b.key(), secs);
        let e = evaluate(&p.test, &p.grids, &pred, None);
        table.push_str(&row(b.name(), &e.titer));
        models.insert(b.key().into(), eval_json(&e));
        timings.insert(b.key().into(), json!(secs));
    }
    for arch in Arch::ALL {
        let (m, secs) = train_model(&p, arch, a.skips, &tc, device, &ds.manifest_hash, a.common.quiet)?;
        let pred = m.predict(&p.test)?;
        let e = evaluate(&p.test, &p.grids, &pred, None);
        table.push_str(&row(arch.name(), &e.titer));
        let mut j = eval_json(&e);
        j["epochs_run"] = json!(m.meta.train.as_ref().map_or(0, |s| s.epochs_run));
        j["parameters"] = json!(m.parameters());
        models.insert(arch.key().into(), j);
        timings.insert(arch.key().into(), json!(secs));
        if arch == Arch::CnnLstm {
            if let Some(dir) = &a.save_model {
                let mut m = m;
                m.meta.metrics = json!({"test": eval_json(&e), "train_seconds": secs});
                m.save(dir).with_context(|| format!("saving the model to {}", dir.display()))?;
                eprintln!("saved the CNN-LSTM to {}", dir.display());
            }
            cnn_lstm_eval = Some(e);
        }
    }
    if let Some(e) = &cnn_lstm_eval {
        table.push_str(&group_table("CNN-LSTM titer error by culture phase (Table 6 analog):", &e.titer_by_phase));
        table.push_str(&group_table("CNN-LSTM by cell line (random split):", &e.titer_by_cell_line));
        table.push_str(&group_table("CNN-LSTM by scale (random split):", &e.titer_by_scale));
    }
    let mut leave_out = serde_json::Map::new();
    if a.leave_out {
        table.push_str("\nLeave-one-group-out (Table 8 analog): the held-out group is never seen in training.\n\n| Held out | Model | RMSE (g/L) | MAE (g/L) | R² | DTS |\n|---|---|---|---|---|---|\n");
        let grids = p.grids.clone();
        for (kind, key) in [("cell line", 0), ("scale", 1)] {
            let groups: Vec<String> = grids.iter().map(|g| if key == 0 { g.meta.cell_line.clone() } else { format!("{} L", g.meta.nominal_volume_l) }).collect();
            let mut uniq = groups.clone();
            uniq.sort();
            uniq.dedup();
            for gname in uniq {
                let split: Split = leave_group_out(&groups, &gname, a.common.val_frac, a.common.split_seed())?;
                let q = prepare(grids.clone(), &p.features, &p.window, split)?;
                let mlr = evaluate(&q.test, &q.grids, &fit_predict(Baseline::Mlr, &q.train, &q.test, a.common.seed, &caps)?, None);
                let (m, _) = train_model(&q, Arch::CnnLstm, a.skips, &tc, device, &ds.manifest_hash, a.common.quiet)?;
                let e = evaluate(&q.test, &q.grids, &m.predict(&q.test)?, None);
                for (name, s) in [("CNN-LSTM", &e.titer), ("MLR", &mlr.titer)] {
                    let _ = writeln!(table, "| {kind} {gname} | {name} | {:.3} | {:.3} | {:.3} | {:.3} |", s.rmse, s.mae, s.r2, s.dts);
                }
                leave_out.insert(format!("{kind} {gname}"), json!({"cnn_lstm": eval_json(&e), "mlr": eval_json(&mlr)}));
            }
        }
    }
    let metrics = json!({
        "models": models,
        "train_seconds": timings,
        "leave_one_group_out": leave_out,
        "n_test_batches": p.split.test.len(),
        "n_test_windows": p.test.len(),
        "horizon": p.window.horizon.label(),
        "split_batch_ids": p.split_batch_ids(),
        "caps": caps_json(&caps, p.train.len()),
    });
    write_json(&a.out.join("metrics.json"), &metrics)?;
    write_atomic(&a.out.join("table.md"), table.as_bytes())?;
    print!("{table}");
    println!("wrote {}/{{metrics.json, table.md}}", a.out.display());
    Ok(ExitCode::SUCCESS)
}

fn tune(a: TuneArgs) -> Result<ExitCode> {
    let device = setup(a.common.threads);
    let ds = load(&a.data)?;
    let p = prepared(&ds, &a.common)?;
    let base = TrainConfig { epochs: a.epochs, patience: a.patience, seed: a.common.seed, ..TrainConfig::default() };
    let b = if a.common.quiet { ProgressBar::hidden() } else { ProgressBar::new(a.budget as u64) };
    b.set_style(ProgressStyle::with_template("tune [{bar:30}] trial {pos}/{len} {msg} ETA {eta}").unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "));
    let mut best = f64::INFINITY;
    let t = Instant::now();
    let r = twin::tune::tune(&p, a.budget, &base, device, &mut |tr| {
        best = best.min(tr.val_loss);
        b.inc(1);
        b.set_message(format!("val {:.4} (best {:.4})", tr.val_loss, best));
    })?;
    b.finish_and_clear();
    let mut csv = String::from("trial,val_loss,best_epoch,filters,kernels,lstm1,lstm2,dropout,lr,batch_size\n");
    for tr in &r.trials {
        let k: Vec<String> = tr.model.kernels.iter().map(|k| k.to_string()).collect();
        let _ = writeln!(csv, "{},{},{},{},{},{},{},{},{},{}", tr.index, tr.val_loss, tr.best_epoch, tr.model.filters, k.join(" "), tr.model.lstm1, tr.model.lstm2, tr.model.dropout, tr.train.lr, tr.train.batch_size);
    }
    write_atomic(&a.out.join("trials.csv"), csv.as_bytes())?;
    write_json(&a.out.join("best.json"), &json!({"best": r.best, "n_doe": r.n_doe, "budget": a.budget, "seconds": t.elapsed().as_secs_f64()}))?;
    let pts: Vec<(f64, f64)> = r.trials.iter().map(|t| (t.index as f64 + 1.0, t.val_loss)).collect();
    let mut run_best = f64::INFINITY;
    let best_line: Vec<(f64, f64)> = pts.iter().map(|&(i, v)| {
        run_best = run_best.min(v);
        (i, run_best)
    }).collect();
    crate::plot::panels_png(
        &a.out.join("convergence.png"),
        &[crate::plot::Panel {
            title: "Bayesian optimisation (EGO)".into(),
            x_label: "trial".into(),
            y_label: "validation MSE (z)".into(),
            series: vec![crate::plot::Series { label: "trial".into(), points: pts }, crate::plot::Series { label: "best so far".into(), points: best_line }],
        }],
        1,
        640,
        420,
    )?;
    println!(
        "{} trials ({} initial) in {:.0} s; best validation MSE {:.4}: filters {}, kernels {:?}, LSTM {}/{}, dropout {:.2}, lr {:.1e}, batch {}; wrote {}/{{best.json, trials.csv, convergence.png}}",
        r.trials.len(),
        r.n_doe,
        t.elapsed().as_secs_f64(),
        r.best.val_loss,
        r.best.model.filters,
        r.best.model.kernels,
        r.best.model.lstm1,
        r.best.model.lstm2,
        r.best.model.dropout,
        r.best.train.lr,
        r.best.train.batch_size,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn predict(a: PredictArgs) -> Result<ExitCode> {
    tch::set_num_threads(a.threads.max(1) as i32);
    let model = Model::load(&a.model, default_device()).with_context(|| format!("loading the model from {}", a.model.display()))?;
    let offline = a.offline.clone().or_else(|| {
        let p = a.batch.parent().unwrap_or(Path::new(".")).join("offline.csv");
        (p.exists() && p != a.batch).then_some(p)
    });
    let raw = load_batch(&a.batch, offline.as_deref())?;
    let g = grid_batch(&raw, &model.meta.features)?;
    let every = ((a.every_h / twin::prep::STEP_H).round() as usize).max(1);
    let cfg = WindowConfig { steps: model.meta.window.steps, stride: every, horizon: Horizon::Now };
    let w = windows(&[&g], &model.meta.scaler, &cfg)?;
    if w.is_empty() {
        bail!("the batch has {} h of data; the model needs at least {} h", g.t_h.last().copied().unwrap_or(0.0), model.meta.window.steps as f64 * twin::prep::STEP_H);
    }
    let pred = model.predict(&w)?;
    let mc = user_intervals(&model, model.predict_mc(&w, a.mc_passes, 7)?);
    let shift_h = match model.meta.window.horizon {
        Horizon::Now => Some(0.0),
        Horizon::AheadH(h) => Some(f64::from(h)),
        Horizon::Harvest => None,
    };
    let mut out = String::from("t_h,target_t_h,titer_g_per_l,titer_lo95_g_per_l,titer_hi95_g_per_l,gi_pct,gi_lo95_pct,gi_hi95_pct\n");
    for (i, info) in w.info.iter().enumerate() {
        let target = shift_h.map_or("harvest".to_owned(), |s| format!("{}", info.t_end_h + s));
        let _ = writeln!(out, "{},{},{:.4},{:.4},{:.4},{:.3},{:.3},{:.3}", info.t_end_h, target, pred[i][0], mc.lo[i][0], mc.hi[i][0], pred[i][1], mc.lo[i][1], mc.hi[i][1]);
    }
    match &a.out {
        Some(p) => write_atomic(p, out.as_bytes())?,
        None => print!("{out}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The objective model of `optimize` in `mabtwin-ml`: `surrogate:MODEL_DIR` loads a
/// harvest-horizon twin as a [`twin::surrogate::TwinSurrogate`]; anything else is left to
/// the simulator. `Err` is invalid input (exit 2).
pub(crate) fn optimizer_model(
    a: &crate::cmd::optimize::Args,
    robust: bool,
) -> std::result::Result<Box<dyn sim::objective::Surrogate>, String> {
    let Some(dir) = a.model.strip_prefix("surrogate:") else {
        return crate::cmd::optimize::simulator_model(a, robust);
    };
    let model = Model::load(Path::new(dir), default_device()).map_err(|e| format!("--model surrogate:{dir}: {e}"))?;
    let s = twin::surrogate::TwinSurrogate::new(model, a.surrogate_context_h).map_err(|e| format!("--model surrogate:{dir}: {e}"))?;
    Ok(Box::new(s))
}
