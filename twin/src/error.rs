//! The error type of the `twin` crate.

use std::path::PathBuf;

/// Everything that can go wrong in `twin`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TwinError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A CSV or JSON input is malformed.
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    /// The data do not allow the requested operation (too few batches, empty split, …).
    #[error("{0}")]
    Data(String),
    /// A saved model does not match the data or the code that loads it.
    #[error("model mismatch: {0}")]
    ModelMismatch(String),
    /// An invalid parameter.
    #[error("invalid parameter: {0}")]
    Invalid(String),
    /// libtorch reported an error.
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
    /// A smartcore baseline failed.
    #[error("baseline {model}: {message}")]
    Baseline { model: &'static str, message: String },
    /// The simulator failed (surrogate evaluation).
    #[error("simulator: {0}")]
    Sim(#[from] sim::SimError),
}

impl TwinError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        TwinError::Io { path: path.to_owned(), source }
    }
    pub(crate) fn format(path: &std::path::Path, message: impl Into<String>) -> Self {
        TwinError::Format { path: path.to_owned(), message: message.into() }
    }
}

/// Result alias of the `twin` crate.
pub type Result<T> = std::result::Result<T, TwinError>;
