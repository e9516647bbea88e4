//! The error type of the `optimizer` crate.

use sim::objective::Quantity;

/// Everything that can go wrong when setting up or running a study.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OptimizerError {
    /// A decision-variable name that is not known.
    #[error("unknown decision variable `{name}`; known: {known}")]
    UnknownVariable { name: String, known: String },
    /// The same variable was listed twice.
    #[error("decision variable `{name}` is listed twice")]
    DuplicateVariable { name: String },
    /// No decision variable was chosen.
    #[error("no decision variables: give at least one with --vars")]
    NoVariables,
    /// Bounds that are empty, inverted, not finite, or outside what the scenario validator accepts.
    #[error("bounds of `{name}` are invalid: {lower}..{upper} ({reason})")]
    InvalidBounds { name: String, lower: f64, upper: f64, reason: String },
    /// A variable that the scenario cannot carry (e.g. a glucose feed rate without a dosed feed).
    #[error("decision variable `{name}` does not apply to this scenario: {reason}")]
    NotApplicable { name: String, reason: String },
    /// An objective expression that does not parse.
    #[error("objective `{text}` is malformed: {reason}")]
    MalformedObjective { text: String, reason: String },
    /// A constraint that does not parse.
    #[error("constraint `{text}` is malformed: {reason} (expected e.g. `peak_pco2_mmhg<=120`)")]
    MalformedConstraint { text: String, reason: String },
    /// Constraints that no point can satisfy together.
    #[error("constraints contradict each other: {quantity} >= {at_least} and {quantity} <= {at_most}")]
    ContradictoryConstraints { quantity: &'static str, at_least: f64, at_most: f64 },
    /// The model does not predict a quantity an objective or constraint needs.
    #[error("model `{model}` does not predict `{}`, needed by the {role}", .quantity.name())]
    QuantityUnavailable { model: String, quantity: Quantity, role: &'static str },
    /// The baseline scenario cannot be evaluated.
    #[error("the baseline scenario cannot be evaluated: {0}")]
    Baseline(#[source] sim::SimError),
    /// A study setting out of range (number of starts, samples, evaluations, …).
    #[error("invalid setting: {0}")]
    InvalidSetting(String),
    /// Every evaluation of a study failed.
    #[error("no evaluation succeeded ({n_evaluations} tried); first failure: {first_error}")]
    NoFeasibleEvaluation { n_evaluations: usize, first_error: String },
    /// argmin reported an error that is not the evaluation budget running out.
    #[error("solver {solver} failed: {message}")]
    Solver { solver: &'static str, message: String },
}

/// Result alias of the `optimizer` crate.
pub type Result<T> = std::result::Result<T, OptimizerError>;
