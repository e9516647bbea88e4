//! The error type of the `sim` crate.

use crate::scenario::Diagnostic;

/// Everything that can go wrong in `sim`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The scenario is invalid; every problem is listed.
    #[error("{}", render_diagnostics(.0))]
    Scenario(Vec<Diagnostic>),
    /// The integration produced a non-finite or negative state.
    #[error("numerical failure at t = {t_h:.3} h: state `{state}` = {value} ({reason})")]
    Numeric { t_h: f64, state: &'static str, value: f64, reason: &'static str },
    /// The ODE solver gave up.
    #[error("solver failure at t = {t_h:.3} h: {message}")]
    Solver { t_h: f64, message: String },
    /// A scenario field refers to something unknown (e.g. a parameter override).
    #[error("{0}")]
    Invalid(String),
}

fn render_diagnostics(d: &[Diagnostic]) -> String {
    d.iter().map(|d| format!("{}: {}", d.path, d.message)).collect::<Vec<_>>().join("\n")
}

/// Result alias of the `sim` crate.
pub type Result<T> = std::result::Result<T, SimError>;
