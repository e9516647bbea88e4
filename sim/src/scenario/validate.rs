//! Placeholder: replaced by the full validator.
use super::{Scenario, ValidScenario};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a scenario, with its location when known.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Dotted field path with indices, e.g. `feeds[1].end_d`.
    pub path: String,
    pub message: String,
}

/// Validate a parsed scenario: `Ok((valid, warnings))` or `Err(errors)` (all of them).
pub fn validate(s: Scenario) -> Result<(ValidScenario, Vec<Diagnostic>), Vec<Diagnostic>> {
    Ok((ValidScenario::new_unchecked(s), Vec::new()))
}

/// Parse and validate TOML source; `file` is used in messages only.
pub fn parse_scenario(src: &str, file: &str) -> Result<(ValidScenario, Vec<Diagnostic>), Vec<Diagnostic>> {
    let s: Scenario = toml::from_str(src).map_err(|e| {
        vec![Diagnostic {
            severity: Severity::Error,
            file: file.to_owned(),
            line: None,
            column: None,
            path: String::new(),
            message: e.to_string(),
        }]
    })?;
    validate(s)
}
