//! `mabtwin scenario list|show|check`.

use super::{EXIT_INVALID, Loaded, load_scenario, print_diagnostics};
use anyhow::Result;
use clap::Subcommand;
use crate::output::write_atomic;
use sim::scenario::builtin;
use sim::scenario::doe_import::{DoeImportOptions, import_doe};
use std::path::PathBuf;
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
    /// Print the JSON Schema of scenario files (for editor completion and validation).
    Schema,
    /// Turn a DoE plan (CSV of the CHO cross-scale simulator format) into scenario files.
    ImportDoe {
        /// The plan (CSV).
        file: PathBuf,
        /// Map a plan scale to a mabtwin volume, e.g. `2L=50` (repeatable).
        #[arg(long, value_parser = parse_scale_map)]
        scale_map: Vec<(String, f64)>,
        /// Temperature after the plan's `temp_shift_time_h`, °C.
        #[arg(long, default_value_t = 33.0)]
        shift_temp_c: f64,
        /// Output folder for one `<BatchName>.toml` per run.
        #[arg(long)]
        out: PathBuf,
    },
}

fn parse_scale_map(s: &str) -> Result<(String, f64), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("expected LABEL=VOLUME_L, e.g. 2L=50, got {s:?}"))?;
    let v: f64 = v.parse().map_err(|_| format!("volume in {s:?} is not a number"))?;
    Ok((k.to_owned(), v))
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
        ScenarioCommand::Schema => {
            println!("{}", serde_json::to_string_pretty(&sim::scenario::json_schema())?);
            Ok(ExitCode::SUCCESS)
        }
        ScenarioCommand::ImportDoe { file, scale_map, shift_temp_c, out } => {
            let src = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let opts = DoeImportOptions { scale_map: scale_map.into_iter().collect(), shift_temp_c };
            let label = file.file_name().and_then(|n| n.to_str()).unwrap_or("plan.csv");
            match import_doe(&src, label, &opts) {
                Ok((runs, warnings)) => {
                    for w in warnings {
                        eprintln!("warning: {w}");
                    }
                    for r in &runs {
                        let toml = toml::to_string(r.scenario.get())?;
                        write_atomic(&out.join(format!("{}.toml", r.name)), toml.as_bytes())?;
                    }
                    println!("imported {} runs into {}/", runs.len(), out.display());
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    for e in errors {
                        eprintln!("error: {e}");
                    }
                    Ok(ExitCode::from(EXIT_INVALID))
                }
            }
        }
    }
}
