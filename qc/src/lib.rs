//! Image quality control for the mabtwin digital twin (spec `qc.md`).
//!
//! Why this crate exists: each culture day the twin renders the images a QC lab would take
//! (microcarrier beads, trypan-blue crops, NES morphology fields), classifies them with a
//! compact CNN and turns the class mix into a verdict and the seed's HyperScore.
//!
//! Layout: [`render`] (deterministic procedural renderer + spectral cube), [`pca`] (spectral
//! PCA channels, fitted on training images only), [`model`] (compact ResNet in tch),
//! [`train`], [`operating_point`] (class decision offsets fitted on validation), [`metrics`]
//! (pure Rust), [`hyperscore`], [`report`] (per-day QC report),
//! [`io`] (PNG folders, labels.csv, npy). Rendering, PCA, metrics and HyperScore are pure.
#![forbid(unsafe_code)]

pub mod error;
pub mod image_ops;
pub mod io;
pub mod render;
pub mod rng;
pub mod hyperscore;
pub mod metrics;
pub mod pca;
pub mod model;
pub mod operating_point;
pub mod train;
pub mod data;
pub mod plot;
pub mod report;

pub use error::{QcError, Result};

#[cfg(test)]
mod tests {
    #[test]
    fn tch_smoke() {
        tch::set_num_threads(1);
        let t = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
        let s = f64::try_from(t.sum(tch::Kind::Float)).expect("scalar");
        assert_eq!(s, 6.0);
    }
}
