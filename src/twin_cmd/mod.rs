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
use twin::nn::{Arch, McPrediction, Model, ModelConfig, StopOn, TrainConfig, default_device, fit_interval_scale, new_meta};
use twin::pipeline::{Evaluation, Prepared, evaluate, grid_all, prepare, windows_of};
use twin::prep::{DEFAULT_FEATURES, Horizon, WindowConfig, WindowSet, grid_batch, windows};
use twin::split::{Split, leave_group_out, random_split};

/// The `twin` subcommands.
mod baselines;
mod compare;
mod eval;
mod train;

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
    /// Is model A's titer RMSE resolvably lower than model B's? Paired bootstrap over whole
    /// batches of two `twin eval` reports of the same data.
    Compare(compare::CompareArgs),
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
    #[arg(long, default_value_t = 64)]
    pub(crate) batch_size: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub(crate) lr: f64,
    /// cnn_lstm, ffnn, lstm or cnn.
    #[arg(long, default_value = "cnn_lstm")]
    pub(crate) arch: String,
    #[command(flatten)]
    pub(crate) skips: Skips,
    #[command(flatten)]
    pub(crate) sizes: Sizes,
    #[command(flatten)]
    pub(crate) schedule: Schedule,
    /// MC-dropout passes over the validation batches used to calibrate the 95 % intervals
    /// (split-conformal scale of the half-widths, stored in model.json); 0 = no calibration.
    #[arg(long, default_value_t = 30)]
    pub(crate) calibration_passes: usize,
    /// Warm start a CNN-LSTM (with --conv-skip) from a CNN trained by `twin train --arch cnn`
    /// on the same data, features, split and options: the convolutions, highway and output
    /// layer start as the CNN's, the Dense layer's LSTM inputs at zero, so training starts
    /// from the CNN's predictions and adds the LSTMs as far as they help. Recorded in
    /// model.json (`init_from`).
    #[arg(long, value_name = "CNN_MODEL_DIR")]
    pub(crate) init_from: Option<PathBuf>,
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
    /// The model's training dataset, when --data is another (unseen) dataset: the baselines
    /// are then fitted on the model's training batches of it and scored on every batch of
    /// --data, beside the network, so a larger unseen test set can compare them (without
    /// it, an unseen dataset gets no baseline rows).
    #[arg(long)]
    pub(crate) train_data: Option<PathBuf>,
    /// Draws of the paired batch bootstrap that tells whether the network's titer RMSE is
    /// resolvably lower than each baseline's on these test batches (whole batches are
    /// resampled; seeded). 0 skips it.
    #[arg(long, default_value_t = 2000)]
    pub(crate) bootstrap_draws: usize,
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
    /// The optional skips, given to every network (FFNN, LSTM, CNN and CNN-LSTM alike).
    #[command(flatten)]
    pub(crate) skips: Skips,
    #[command(flatten)]
    pub(crate) schedule: Schedule,
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
    /// MC-dropout passes for the 95 % intervals (and the default point prediction).
    #[arg(long, default_value_t = 100)]
    pub(crate) mc_passes: usize,
    /// The point prediction: `mc-mean`, the mean of the MC-dropout passes (the centre of the
    /// intervals; on held-out batches it removes the eval-mode pass's low bias at high
    /// titers, BENCHMARKS.md session 11), or `eval`, the single eval-mode pass.
    #[arg(long, default_value = "mc-mean", value_parser = ["mc-mean", "eval"])]
    pub(crate) point: String,
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
        TwinCommand::Train(a) => train::train(a),
        TwinCommand::Eval(a) => eval::eval(a),
        TwinCommand::Baselines(a) => baselines::baselines(a),
        TwinCommand::Tune(a) => train::tune(a),
        TwinCommand::Predict(a) => eval::predict(a),
        TwinCommand::Compare(a) => compare::compare(a),
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

/// The optional extras of a network: skip terms and the titer's log scale (all off in the
/// seed's Table 2 network).
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
    /// Learn the titer on a log scale, ln(1 + titer): errors then scale with the titer
    /// (small near zero, larger at harvest) instead of being the same everywhere; the
    /// predictions are mapped back to g/L (never below −1, in practice ≥ 0). Off by default.
    #[arg(long)]
    pub(crate) log_titer: bool,
    /// CNN-LSTM only: feed the convolutions' read-out (window mean and last step) to the
    /// Dense head beside the LSTMs' output, a skip around the recurrent stack (`twin
    /// baselines` applies it to the CNN-LSTM alone). Off by default.
    #[arg(long)]
    pub(crate) conv_skip: bool,
}

/// The network's sizes, the seed's Table 3 hyper-parameters (defaults: its Table 2). `twin
/// tune` searches them; these flags train a chosen configuration (e.g. the tuner's
/// `best.json`) with the other `twin train` options.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct Sizes {
    /// Conv1D filters per branch (CNN-LSTM, CNN; seed 64, Table 3 range 32–128).
    #[arg(long)]
    pub(crate) filters: Option<usize>,
    /// Conv1D kernel sizes, one parallel branch each, odd (CNN-LSTM, CNN; seed 3,5,7).
    #[arg(long, value_delimiter = ',')]
    pub(crate) kernels: Option<Vec<usize>>,
    /// Units of the first LSTM (CNN-LSTM, LSTM; seed 128, Table 3 range 64–256), or the
    /// first hidden layer of the FFNN.
    #[arg(long)]
    pub(crate) lstm1: Option<usize>,
    /// Units of the second LSTM (seed 64, Table 3 range 32–128), or the FFNN's second hidden layer.
    #[arg(long)]
    pub(crate) lstm2: Option<usize>,
    /// Units of the Dense layer before the output (seed 32).
    #[arg(long)]
    pub(crate) dense: Option<usize>,
    /// Dropout rate, also used by MC dropout at inference (seed 0.3, Table 3 range 0.1–0.5; 0 = no dropout and no intervals).
    #[arg(long)]
    pub(crate) dropout: Option<f64>,
}

impl Sizes {
    /// `cfg` with the given sizes; a size the architecture does not use, or an impossible
    /// one, is an error naming its flag.
    pub(crate) fn apply(&self, mut cfg: ModelConfig) -> Result<ModelConfig> {
        let arch = cfg.arch;
        let uses_conv = matches!(arch, Arch::CnnLstm | Arch::Cnn);
        let uses_stack = arch != Arch::Cnn;
        let unused = |flag: &str| anyhow::anyhow!("--{flag} is not a size of --arch {} (conv sizes: cnn_lstm, cnn; LSTM/hidden sizes: cnn_lstm, lstm, ffnn)", arch.key());
        let positive = |flag: &str, v: usize| if v == 0 { Err(anyhow::anyhow!("--{flag} must be at least 1")) } else { Ok(v) };
        if let Some(v) = self.filters {
            if !uses_conv {
                return Err(unused("filters"));
            }
            cfg.filters = positive("filters", v)?;
        }
        if let Some(k) = &self.kernels {
            if !uses_conv {
                return Err(unused("kernels"));
            }
            if k.is_empty() || k.iter().any(|&k| k % 2 == 0 || k >= cfg.steps) {
                bail!("--kernels {k:?}: each kernel size must be odd and shorter than the {}-step window", cfg.steps);
            }
            cfg.kernels = k.clone();
        }
        for (flag, v, slot) in [("lstm1", self.lstm1, &mut cfg.lstm1), ("lstm2", self.lstm2, &mut cfg.lstm2)] {
            if let Some(v) = v {
                if !uses_stack {
                    return Err(unused(flag));
                }
                *slot = positive(flag, v)?;
            }
        }
        if let Some(v) = self.dense {
            cfg.dense = positive("dense", v)?;
        }
        if let Some(p) = self.dropout {
            if !(0.0..1.0).contains(&p) {
                bail!("--dropout {p} outside [0, 1)");
            }
            cfg.dropout = p;
        }
        Ok(cfg)
    }
}

/// Epochs, early stopping and regularisation of a network's training (the extras are off by
/// default, i.e. the seed's recipe).
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Schedule {
    /// Most epochs (early stopping with --patience usually ends sooner).
    #[arg(long, default_value_t = 200)]
    pub(crate) epochs: usize,
    /// Stop after this many epochs without a better validation loss (best weights restored).
    #[arg(long, default_value_t = 20)]
    pub(crate) patience: usize,
    /// Halve the learning rate after this many epochs without a better validation loss
    /// (0 = keep it constant; floor: the initial rate / 64).
    #[arg(long, default_value_t = 0)]
    pub(crate) lr_plateau_patience: usize,
    /// Decoupled weight decay (AdamW) per step, relative to the learning rate, e.g. 0.01;
    /// 0 = plain Adam (the seed).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) weight_decay: f64,
    /// Keep an exponential moving average of the weights with this decay per step (e.g.
    /// 0.999) and validate, keep and save the average; 0 = off (the seed).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) ema_decay: f64,
    /// Validation loss that early stopping and the plateau schedule watch: `joint` (titer and
    /// GI, the seed) or `titer`.
    #[arg(long, default_value = "joint")]
    pub(crate) stop_on: String,
    /// Add Gaussian noise with this standard deviation (z-units, e.g. 0.1) to the inputs of
    /// every training batch; 0 = off (the seed).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) input_noise: f64,
    /// Share of the titer in the loss: w·MSE(titer) + (1 − w)·MSE(GI) on z-scored targets
    /// (training loss and the joint validation loss). 0.5 = the plain mean (the seed); e.g. 0.9
    /// spends the network on the titer.
    #[arg(long, default_value_t = 0.5)]
    pub(crate) titer_weight: f64,
}

impl Schedule {
    /// The training settings (the seed's batch size and rate; weight seed `seed`).
    /// Checked here, before any data are read ([`TrainConfig::check`], which training also calls).
    pub(crate) fn config(&self, seed: u64) -> Result<TrainConfig> {
        let tc = TrainConfig {
            epochs: self.epochs,
            patience: self.patience,
            lr_plateau_patience: self.lr_plateau_patience,
            seed,
            weight_decay: self.weight_decay,
            ema_decay: self.ema_decay,
            stop_on: StopOn::parse(&self.stop_on)?,
            input_noise: self.input_noise,
            titer_weight: self.titer_weight,
            ..TrainConfig::default()
        };
        tc.check()?;
        Ok(tc)
    }
}

/// Train one network on `p` with a progress bar (warm-started from `init`, a trained CNN and
/// its folder, when given); returns the model and seconds.
#[allow(clippy::too_many_arguments)]
fn train_model(p: &Prepared, arch: Arch, skips: Skips, sizes: &Sizes, tc: &TrainConfig, device: tch::Device, data_hash: &str, quiet: bool, init: Option<(&Model, &Path)>) -> Result<(Model, f64)> {
    let cfg = sizes.apply(ModelConfig { highway: skips.highway, persistence: skips.persistence, log_titer: skips.log_titer, conv_skip: skips.conv_skip && arch == Arch::CnnLstm, ..ModelConfig::seed_default(arch, p.features.len(), p.window.steps) })?;
    let mut m = Model::new(cfg, new_meta(&p.features, &p.window, &p.scaler, data_hash), tc.seed, device)?;
    m.meta.split_batch_ids = Some(p.split_batch_ids());
    if let Some((donor, dir)) = init {
        m.init_from_cnn(donor, dir)?;
        eprintln!("warm start from {} ({}): {} variables copied, the LSTM inputs of the first Dense layer set to zero", dir.display(), m.meta.init_from.as_ref().map_or("", |w| w.donor.as_str()), m.meta.init_from.as_ref().map_or(0, |w| w.copied.len()));
    }
    let b = bar(tc.epochs, quiet, arch.key());
    let t = Instant::now();
    // Without a terminal (a log file, nohup, CI) the bar is hidden: one line per epoch instead.
    let lines = !quiet && b.is_hidden();
    let s = m.train(&p.train, &p.val, tc, &mut |e| {
        b.set_position(e.epoch as u64);
        let msg = format!("train {:.4} val {:.4} (titer {:.4}, best epoch {}) lr {:.2e}", e.train_loss, e.val_loss, e.val_titer_loss, e.best_epoch, e.lr);
        if lines {
            eprintln!("{} epoch {:>3}/{}: {msg} {:.0} s", arch.key(), e.epoch, tc.epochs, t.elapsed().as_secs_f64());
        }
        b.set_message(msg);
    })?;
    b.finish_and_clear();
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "{}: {} parameters, {} epochs in {:.1} s ({:.2} s/epoch), best epoch {} ({} val MSE {:.4}, z-units){}",
        arch.key(),
        s.parameters,
        s.epochs_run,
        secs,
        secs / s.epochs_run.max(1) as f64,
        s.best_epoch,
        match tc.stop_on {
            StopOn::Joint => "joint",
            StopOn::Titer => "titer",
        },
        s.best_val_loss,
        if s.stopped_early { ", stopped early" } else { "" }
    );
    Ok((m, secs))
}

fn scores_json(s: &Scores, unit: &str) -> Value {
    let mut v = json!({
        format!("rmse_{unit}"): s.rmse,
        format!("mae_{unit}"): s.mae,
        format!("bias_{unit}"): s.bias,
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
    v["titer_by_day"] = Value::Object(group(&e.titer_by_day));
    v["titer_by_level"] = Value::Object(group(&e.titer_by_level));
    v
}

fn row(name: &str, s: &Scores) -> String {
    let cov = s.ci95_coverage.map_or("–".to_owned(), |c| format!("{:.1} %", 100.0 * c));
    format!("| {name} | {:.3} | {:.3} | {:+.3} | {:.3} | {:.3} | {:.3} | {cov} |\n", s.rmse, s.mae, s.bias, s.r2, s.dts, s.dts_delta)
}

const TABLE_HEAD: &str = "| Model | RMSE (g/L) | MAE (g/L) | Bias (g/L) | R² | DTS | DTS (Δ) | 95 % coverage |\n|---|---|---|---|---|---|---|---|\n";

fn group_table(title: &str, m: &BTreeMap<String, Scores>) -> String {
    let mut s = format!("\n{title}\n\n{}", TABLE_HEAD.replacen("Model", "Group", 1));
    for (k, v) in m {
        s.push_str(&row(k, v));
    }
    s
}

/// Titer RMSE and bias of every model by the true titer's level (rows: levels; a cell
/// `RMSE (bias)` in g/L): shows which model shrinks high titers towards the mean.
fn level_table(models: &[(&str, BTreeMap<String, Scores>)]) -> String {
    let mut levels: Vec<&String> = models.iter().flat_map(|(_, m)| m.keys()).collect();
    levels.sort();
    levels.dedup();
    let mut s = String::from("\nTiter RMSE (bias) in g/L by the true titer (bias < 0: predicted too low):\n\n| True titer | windows |");
    for (k, _) in models {
        let _ = write!(s, " {k} |");
    }
    s.push_str(&format!("\n|---|---|{}\n", "---|".repeat(models.len())));
    for l in levels {
        let n = models.iter().find_map(|(_, m)| m.get(l)).map_or(0, |v| v.n);
        let _ = write!(s, "| {l} | {n} |");
        for (_, m) in models {
            match m.get(l) {
                Some(v) => {
                    let _ = write!(s, " {:.3} ({:+.3}) |", v.rmse, v.bias);
                }
                None => s.push_str(" – |"),
            }
        }
        s.push('\n');
    }
    s
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
