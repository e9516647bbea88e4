//! Scenario files: the serde format ([`spec`]), validation into a [`ValidScenario`]
//! with diagnostics that name the file, line, column, field path and allowed range
//! ([`validate`]), and the scenarios embedded in the binary ([`builtin`]).

pub mod builtin;
pub mod doe_import;
mod locate;
pub mod spec;
mod validate;

pub use spec::*;
pub use validate::{Diagnostic, Severity, parse_scenario, validate};

/// A scenario that passed validation: the only kind the simulator accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidScenario(Scenario);

impl ValidScenario {
    /// The validated scenario.
    pub fn get(&self) -> &Scenario {
        &self.0
    }

    /// The validated scenario, by value.
    pub fn into_inner(self) -> Scenario {
        self.0
    }

    /// Wrap without checking; only for `validate`.
    pub(crate) fn new_unchecked(s: Scenario) -> Self {
        Self(s)
    }
}
