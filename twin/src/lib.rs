//! # twin — data-driven twin of the fed-batch process
//!
//! Reproduces the CNN-LSTM titer/CQA surrogate method of the seed paper (Sections 2–4) on the
//! simulator's measured data:
//!
//! 1. [`data`]: load a `mabtwin dataset` folder (or one batch in the `mabtwin simulate` CSV
//!    format) through explicit path-taking functions — the only I/O of this crate.
//! 2. [`prep`]: align online (15 min) and offline (daily) data on the 15-min grid, flag
//!    outliers (IQR), impute gaps (linear / kNN), z-score scaling fitted on training batches
//!    only, 24 h windows (96 steps) with a 6 h stride and targets at a stated horizon.
//! 3. [`split`]: splits by batch (never by window), leave-one-scale-out and
//!    leave-one-cell-line-out.
//! 4. [`metrics`]: RMSE, MAE, R², DTS (the seed's dynamic trajectory similarity), interval
//!    coverage, grouped by phase, scale and cell line.
//! 5. [`baselines`]: MLR, random forest and SVR (smartcore) on window summary features.
//! 6. [`nn`]: CNN-LSTM (seed Table 2) and the FFNN / LSTM / CNN baselines in tch, training
//!    with early stopping, MC dropout, integrated gradients, safetensors + JSON sidecar.
//! 7. [`surrogate`]: [`sim::objective::Surrogate`] for a trained harvest-horizon model.
//! 8. [`tune`]: Bayesian hyper-parameter search (Gaussian process + expected improvement).
//!
//! Invariant: nothing here touches terminals, clocks or environment variables; progress is
//! reported through callbacks.
#![forbid(unsafe_code)]

pub mod baselines;
pub mod data;
pub mod error;
pub mod metrics;
pub mod nn;
pub mod pipeline;
pub mod prep;
pub mod split;
pub mod surrogate;
pub mod tune;

pub use error::{Result, TwinError};
