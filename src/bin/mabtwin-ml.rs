//! `mabtwin-ml` — the part of the `mabtwin` CLI that links libtorch (image QC and the
//! surrogate). `mabtwin qc …` and `mabtwin twin …` run this binary, so every other subcommand
//! starts without loading libtorch (about 0.25 s per start) and `mabtwin` itself does not
//! link it. Run it directly or through `mabtwin`; the arguments are the same.
#![forbid(unsafe_code)]

#[path = "../cmd/mod.rs"]
#[allow(dead_code)] // shared with `mabtwin`; this binary uses `optimize` and scenario loading
mod cmd;
#[path = "../output.rs"]
#[allow(dead_code)] // shared with `mabtwin`; this binary uses part of it
mod output;
#[path = "../plot.rs"]
#[allow(dead_code)]
mod plot;
#[path = "../qc_cmd/mod.rs"]
mod qc_cmd;
#[path = "../twin_cmd/mod.rs"]
mod twin_cmd;
#[path = "../twin_plots.rs"]
mod twin_plots;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Machine-learning subcommands of mabtwin (linked against libtorch).
#[derive(Parser, Debug)]
#[command(name = "mabtwin", bin_name = "mabtwin", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Image quality control: render culture images, train/evaluate the CNN, classify
    /// your own images (PNG/JPEG), HyperScore.
    #[command(subcommand)]
    Qc(qc_cmd::QcCommand),
    /// Data-driven twin: train, evaluate, compare and tune the CNN-LSTM titer/CQA surrogate;
    /// predict a batch.
    #[command(subcommand)]
    Twin(twin_cmd::TwinCommand),
    /// Optimise setpoints over the trained surrogate (`--model surrogate:MODEL_DIR`) or the
    /// simulator; `mabtwin optimize --model surrogate:…` runs this. Same options as
    /// `mabtwin optimize`.
    Optimize(cmd::optimize::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Qc(c) => qc_cmd::run(c),
        Command::Twin(c) => twin_cmd::run(c),
        Command::Optimize(a) => cmd::optimize::run(a, twin_cmd::optimizer_model),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
