//! `mabtwin` command-line interface.
mod qc_cmd;

use clap::Parser;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "mabtwin", version, about = "Digital twin for mAb production in CHO cells")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Image quality control (render, train, eval, classify).
    #[command(subcommand)]
    Qc(qc_cmd::QcCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Qc(cmd) => qc_cmd::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
