//! Seed 000's batch HyperScore (spec §7):
//! S(V) = 100·[1 + σ(β ln V + γ)]^κ with σ(z) = 1/(1 + e^(−z)), β = 5, γ = −ln 2, κ = 2.
//!
//! σ(β ln V + γ) is computed as V^β / (V^β + e^(−γ)) (= V⁵/(V⁵ + 2) by default), which is
//! exact and defined at V = 0. S rises monotonically from 100 (V = 0) to 177.78 (V = 1).
//! The seed's prose puts the midpoint at V ≈ 0.5, but σ = ½ only at V = 2^(1/5) ≈ 1.149; its
//! "typical batch 125" corresponds to V ≈ 0.768.

use crate::error::{QcError, Result};
use serde::{Deserialize, Serialize};

/// HyperScore parameters (β > 0, κ > 0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HyperParams {
    pub beta: f64,
    pub gamma: f64,
    pub kappa: f64,
}

impl HyperParams {
    /// The seed's parameters: β = 5, γ = −ln 2, κ = 2.
    pub const SEED: HyperParams = HyperParams { beta: 5.0, gamma: -std::f64::consts::LN_2, kappa: 2.0 };
}

/// HyperScore of a quality value `v` ∈ [0, 1] (dimensionless) with the seed's form.
///
/// # Errors
/// `QualityOutOfRange` for V < 0, V > 1 or non-finite; `InvalidHyperParams` unless β, κ > 0.
pub fn hyperscore(v: f64, p: HyperParams) -> Result<f64> {
    let s = sigma_term(v, p)?;
    Ok(100.0 * (1.0 + s).powf(p.kappa))
}

/// Named variant found in other sources: 100·[1 + σ(·)^κ] (range [100, 111.11]); not the default.
pub fn hyperscore_variant_inner_power(v: f64, p: HyperParams) -> Result<f64> {
    let s = sigma_term(v, p)?;
    Ok(100.0 * (1.0 + s.powf(p.kappa)))
}

fn sigma_term(v: f64, p: HyperParams) -> Result<f64> {
    if !(p.beta > 0.0) || !(p.kappa > 0.0) || !p.gamma.is_finite() {
        return Err(QcError::InvalidHyperParams { beta: p.beta, kappa: p.kappa });
    }
    if !v.is_finite() || !(0.0..=1.0).contains(&v) {
        return Err(QcError::QualityOutOfRange { value: v });
    }
    let vb = v.powf(p.beta);
    Ok(vb / (vb + (-p.gamma).exp()))
}

/// Weights of the per-day quality value V (spec §7); they must sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QualityWeights {
    pub good: f64,
    pub live: f64,
    pub confluence: f64,
}

impl Default for QualityWeights {
    fn default() -> Self {
        Self { good: 1.0 / 3.0, live: 1.0 / 3.0, confluence: 1.0 / 3.0 }
    }
}

/// V = w_g·mean P(good) + w_v·mean P(live) + w_c·mean(1 − P(under_confluent) − P(aggregated)),
/// each mean over that day's images (calibrated probabilities), clamped to [0, 1].
pub fn quality_value(mean_p_good: f64, mean_p_live: f64, mean_confluence_ok: f64, w: QualityWeights) -> Result<f64> {
    let sum = w.good + w.live + w.confluence;
    if (sum - 1.0).abs() > 1e-9 || w.good < 0.0 || w.live < 0.0 || w.confluence < 0.0 {
        return Err(QcError::InvalidConfig(format!("quality weights must be ≥ 0 and sum to 1 (sum {sum})")));
    }
    Ok((w.good * mean_p_good + w.live * mean_p_live + w.confluence * mean_confluence_ok).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_vectors() {
        let cases = [
            (1.0, 177.7778),
            (0.95, 163.5745),
            (0.9, 150.7850),
            (0.8, 130.1368),
            (0.7, 116.1051),
            (0.5, 103.1006),
            (0.1, 100.0010),
            (0.0, 100.0),
        ];
        for (v, s) in cases {
            let got = hyperscore(v, HyperParams::SEED).expect("valid");
            assert!((got - s).abs() < 5e-4, "V={v}: {got} vs {s}");
        }
    }

    #[test]
    fn seed_prose_points() {
        // "typical batch 125" ↔ V ≈ 0.768; the variant gives 105.1959 at V = 0.9.
        let s = hyperscore(0.768, HyperParams::SEED).expect("valid");
        assert!((s - 125.0).abs() < 0.5, "{s}");
        let var = hyperscore_variant_inner_power(0.9, HyperParams::SEED).expect("valid");
        assert!((var - 105.1959).abs() < 5e-4, "{var}");
    }

    #[test]
    fn monotone_and_errors() {
        let mut prev = 0.0;
        for i in 0..=100 {
            let s = hyperscore(i as f64 / 100.0, HyperParams::SEED).expect("valid");
            assert!(s >= prev);
            prev = s;
        }
        for bad in [-0.01, 1.01, f64::NAN, f64::INFINITY] {
            assert!(matches!(hyperscore(bad, HyperParams::SEED), Err(QcError::QualityOutOfRange { .. })));
        }
        let p = HyperParams { beta: 0.0, ..HyperParams::SEED };
        assert!(matches!(hyperscore(0.5, p), Err(QcError::InvalidHyperParams { .. })));
        let p = HyperParams { kappa: -1.0, ..HyperParams::SEED };
        assert!(matches!(hyperscore(0.5, p), Err(QcError::InvalidHyperParams { .. })));
    }

    #[test]
    fn quality_value_weights() {
        let v = quality_value(0.9, 0.6, 0.3, QualityWeights::default()).expect("valid");
        assert!((v - 0.6).abs() < 1e-12);
        let bad = QualityWeights { good: 0.5, live: 0.5, confluence: 0.5 };
        assert!(quality_value(0.9, 0.6, 0.3, bad).is_err());
    }
}
