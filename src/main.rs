//! `mabtwin` — command-line front end of the mabtwin digital twin for mAb production in
//! CHO fed-batch culture. Thin by design: argument parsing, files, progress bars and
//! plots live here; the science lives in the library crates.
#![forbid(unsafe_code)]

mod cmd;
mod output;
mod plot;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Digital twin for monoclonal-antibody production in CHO fed-batch culture.
///
/// Simulate a batch, check scenario files, generate training datasets and study
/// scale-up, all without a wet lab. Scenarios are TOML files (see `scenarios/`) or the
/// names of the built-in scenarios listed by `mabtwin scenario list`.
#[derive(Parser, Debug)]
#[command(name = "mabtwin", version, about, long_about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "Examples:
  mabtwin simulate baseline --out runs/base            # built-in seed baseline
  mabtwin simulate scenarios/temp_shift_33c.toml --out runs/shift --seed 7
  mabtwin scenario list
  mabtwin scenario check my_process.toml
  mabtwin dataset --n-batches 200 --seed 1 --out data/doe200
  mabtwin optimize baseline --vars temp_c,ph,do_pct,glucose_feed_g_per_l_per_day,seed_vcd_e6_per_ml --out runs/opt
  mabtwin scaleup baseline --volumes 50,200,500,2000 --rule constant-power-per-volume --out runs/scaleup
  mabtwin qc classify --model models/trypan my_images/ --out classes.csv";

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate one fed-batch run: truth, online (15 min) and offline (daily) data,
    /// summary.json and PNG plots.
    Simulate(cmd::simulate::Args),
    /// List, show or check scenario files.
    #[command(subcommand)]
    Scenario(cmd::scenario::ScenarioCommand),
    /// Generate a design-of-experiments dataset of simulated batches (surrogate training data).
    Dataset(cmd::dataset::Args),
    /// Run a process at several scales under a scale-up rule and compare.
    Scaleup(cmd::scaleup::Args),
    /// Optimise setpoints in silico (simulator or surrogate): bounds, constraints,
    /// multi-start, robust Monte Carlo, Pareto front, sensitivities, per-scale studies.
    Optimize(cmd::optimize::Args),
    /// Image quality control: render culture images, train/evaluate the CNN, classify
    /// your own images (PNG/JPEG), HyperScore. Runs `mabtwin-ml qc` (linked to libtorch);
    /// see `mabtwin qc --help`.
    #[command(disable_help_flag = true)]
    Qc {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Data-driven twin: train, evaluate, compare and tune the CNN-LSTM titer/CQA surrogate;
    /// predict a batch. Runs `mabtwin-ml twin` (linked to libtorch); see `mabtwin twin --help`.
    #[command(disable_help_flag = true)]
    Twin {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// The `make demo` job: simulate the embedded baseline and a scale-up study.
    Demo(cmd::demo::Args),
}

/// The raw command-line arguments after the subcommand `sub` (to forward them unchanged).
fn args_after(sub: &str) -> Vec<std::ffi::OsString> {
    std::env::args_os().skip(1).skip_while(|a| a != sub).skip(1).collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Simulate(a) => cmd::simulate::run(a),
        Command::Scenario(c) => cmd::scenario::run(c),
        Command::Dataset(a) => cmd::dataset::run(a),
        Command::Scaleup(a) => cmd::scaleup::run(a),
        // The surrogate needs libtorch: hand the whole command to `mabtwin-ml optimize`.
        Command::Optimize(a) if a.model.starts_with("surrogate:") => cmd::ml::forward("optimize", &args_after("optimize")),
        Command::Optimize(a) => cmd::optimize::run(a, cmd::optimize::simulator_model),
        Command::Qc { args } => cmd::ml::forward("qc", &args),
        Command::Twin { args } => cmd::ml::forward("twin", &args),
        Command::Demo(a) => cmd::demo::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
