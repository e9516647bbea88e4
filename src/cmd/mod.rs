//! One module per subcommand, plus the scenario loading they share.

pub(crate) mod dataset;
pub(crate) mod demo;
pub(crate) mod ml;
pub(crate) mod optimize;
pub(crate) mod scaleup;
pub(crate) mod scenario;
pub(crate) mod simulate;

use anyhow::Result;
use sim::scenario::{Diagnostic, ValidScenario, builtin, parse_scenario};
use std::path::Path;

/// Exit code for invalid input (bad scenario file).
pub(crate) const EXIT_INVALID: u8 = 2;

/// A scenario loaded from a file or a built-in name, or the diagnostics that reject it.
pub(crate) enum Loaded {
    Ok { scenario: Box<ValidScenario>, warnings: Vec<Diagnostic> },
    Invalid(Vec<Diagnostic>),
}

/// Load `arg`: an existing file path, else the name of a built-in scenario.
pub(crate) fn load_scenario(arg: &str) -> Result<Loaded> {
    let path = Path::new(arg);
    let (src, label) = if path.exists() {
        let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {arg}: {e}"))?;
        let src = String::from_utf8(bytes).map_err(|e| anyhow::anyhow!("{arg}: not UTF-8 text ({e})"))?;
        (src, path.file_name().and_then(|n| n.to_str()).unwrap_or(arg).to_owned())
    } else if let Some(b) = builtin::find(arg) {
        (b.source.to_owned(), b.file_name.to_owned())
    } else {
        anyhow::bail!(
            "no such file or built-in scenario: {arg}\n  built-ins: {}",
            builtin::all().iter().map(|b| b.stem()).collect::<Vec<_>>().join(", ")
        );
    };
    Ok(match parse_scenario(&src, &label) {
        Ok((scenario, warnings)) => Loaded::Ok { scenario: Box::new(scenario), warnings },
        Err(errors) => Loaded::Invalid(errors),
    })
}

/// Print diagnostics to stderr.
pub(crate) fn print_diagnostics(d: &[Diagnostic]) {
    for x in d {
        eprintln!("{x}");
    }
}
