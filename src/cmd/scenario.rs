//! `mabtwin scenario list|show|check`.

use super::{EXIT_INVALID, Loaded, load_scenario, print_diagnostics};
use anyhow::Result;
use clap::Subcommand;
use sim::scenario::builtin;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub(crate) enum ScenarioCommand {
    /// List the built-in scenarios with one-line descriptions.
    List,
    /// Print a built-in scenario's TOML (a starting point for your own).
    Show {
        /// Built-in name, e.g. `baseline` or `temp_shift_33c`.
        name: String,
    },
    /// Validate a scenario file: exit 0 if valid (warnings printed), 2 with every error.
    Check {
        /// Scenario file (TOML) or built-in name.
        file: String,
    },
}

pub(crate) fn run(cmd: ScenarioCommand) -> Result<ExitCode> {
    match cmd {
        ScenarioCommand::List => {
            for b in builtin::all() {
                println!("{:<28} {}", b.stem(), b.description);
            }
            Ok(ExitCode::SUCCESS)
        }
        ScenarioCommand::Show { name } => match builtin::find(&name) {
            Some(b) => {
                print!("{}", b.source);
                Ok(ExitCode::SUCCESS)
            }
            None => {
                eprintln!("error: no built-in scenario `{name}`; see `mabtwin scenario list`");
                Ok(ExitCode::from(EXIT_INVALID))
            }
        },
        ScenarioCommand::Check { file } => match load_scenario(&file) {
            Ok(Loaded::Ok { warnings, scenario }) => {
                print_diagnostics(&warnings);
                println!("ok: {file} is a valid scenario ({})", scenario.get().name);
                Ok(ExitCode::SUCCESS)
            }
            Ok(Loaded::Invalid(errors)) => {
                print_diagnostics(&errors);
                Ok(ExitCode::from(EXIT_INVALID))
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                Ok(ExitCode::from(EXIT_INVALID))
            }
        },
    }
}
