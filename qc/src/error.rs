//! The crate's single error type.

use std::path::PathBuf;

/// Every failure `qc` reports. Variants carry the offending numbers or paths.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QcError {
    /// A quality value outside [0, 1] or not finite (HyperScore input).
    #[error("quality value V = {value} is outside [0, 1] or not finite")]
    QualityOutOfRange { value: f64 },
    /// HyperScore parameters must satisfy β > 0 and κ > 0.
    #[error("invalid HyperScore parameters: beta = {beta}, kappa = {kappa} (both must be > 0)")]
    InvalidHyperParams { beta: f64, kappa: f64 },
    /// Inputs whose lengths must agree do not.
    #[error("length mismatch: {what}: {left} vs {right}")]
    LengthMismatch { what: &'static str, left: usize, right: usize },
    /// An empty input where at least one element is needed.
    #[error("empty input: {what}")]
    Empty { what: &'static str },
    /// A class index outside 0..n_classes.
    #[error("class index {idx} out of range for {n_classes} classes")]
    ClassOutOfRange { idx: usize, n_classes: usize },
    /// Unknown class or task name.
    #[error("unknown {kind} `{name}`")]
    UnknownName { kind: &'static str, name: String },
    /// An invalid configuration value.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// Image shape does not match what the model or function expects.
    #[error("shape mismatch: expected {expected}, got {got}")]
    Shape { expected: String, got: String },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// An image could not be decoded or encoded.
    #[error("{path}: cannot decode image: {reason}")]
    Image { path: PathBuf, reason: String },
    /// A malformed data file (labels.csv, npy, model.json ...).
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    /// JSON (de)serialisation failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// libtorch reported an error.
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
    /// Plot drawing failed.
    #[error("plot: {0}")]
    Plot(String),
    /// The spectral model needs a cube that is missing or malformed.
    #[error("model expects channels {channels:?}: {reason}")]
    Spectral { channels: Vec<String>, reason: String },
}

/// Crate result alias.
pub type Result<T> = std::result::Result<T, QcError>;

impl QcError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        QcError::Io { path: path.into(), source }
    }
    pub(crate) fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        QcError::Format { path: path.into(), reason: reason.into() }
    }
}
