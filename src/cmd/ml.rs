//! Forwarding of the libtorch-backed subcommands (`qc`, `twin`, and `optimize --model
//! surrogate:…`) to the sibling binary `mabtwin-ml`, so that `mabtwin` itself starts fast and links no libtorch.

use anyhow::{Context, Result};
use std::ffi::OsString;
use std::process::ExitCode;

/// Run `mabtwin-ml <sub> <args…>` from the folder of the running executable and return
/// its exit code.
pub(crate) fn forward(sub: &str, args: &[OsString]) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("locating the mabtwin executable")?;
    let ml = exe.with_file_name(format!("mabtwin-ml{}", std::env::consts::EXE_SUFFIX));
    if !ml.is_file() {
        anyhow::bail!("{} is missing: build it with `cargo build --release` (it is part of the mabtwin package)", ml.display());
    }
    let status = std::process::Command::new(&ml).arg(sub).args(args).status().with_context(|| format!("running {}", ml.display()))?;
    Ok(match status.code() {
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::from(1),
    })
}
