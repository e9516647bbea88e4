//! Per batch-day QC report (spec §1, §3, §7): class fractions, image viability, quality value
//! V, HyperScore and a `pass | warn | fail` verdict with reasons.

use crate::error::{QcError, Result};
use crate::hyperscore::{HyperParams, QualityWeights, hyperscore, quality_value};
use serde::{Deserialize, Serialize};

/// Verdict of one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
}

impl Verdict {
    /// The name used everywhere (CSV, JSON, stdout): `pass`, `warn` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One day's report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QcDayReport {
    pub day: u32,
    pub n_bead_images: usize,
    pub n_trypan_crops: usize,
    /// Fractions of predicted microcarrier classes, in class order.
    pub class_fractions: Vec<(String, f64)>,
    /// Mean P(live) over the trypan crops (image-derived viability).
    pub image_viability: f64,
    pub quality_value: f64,
    pub hyperscore: f64,
    pub verdict: Verdict,
    pub reasons: Vec<String>,
}

/// Build a day's report from calibrated probabilities: `bead_probs` `[n][5]` in the
/// microcarrier class order, `trypan_probs` `[m][2]` (`live`, `dead`).
pub fn day_report(day: u32, bead_probs: &[Vec<f64>], trypan_probs: &[Vec<f64>], w: QualityWeights) -> Result<QcDayReport> {
    if bead_probs.is_empty() || trypan_probs.is_empty() {
        return Err(QcError::Empty { what: "day images" });
    }
    let classes = crate::render::Task::Microcarrier.classes();
    if bead_probs.iter().any(|p| p.len() != classes.len()) || trypan_probs.iter().any(|p| p.len() != 2) {
        return Err(QcError::Shape { expected: "[n][5] bead and [m][2] trypan probabilities".into(), got: "other".into() });
    }
    let pred = crate::metrics::argmax(bead_probs);
    let n = bead_probs.len() as f64;
    let frac: Vec<f64> = (0..classes.len()).map(|c| pred.iter().filter(|&&p| p == c).count() as f64 / n).collect();
    let mean = |f: &dyn Fn(&Vec<f64>) -> f64, v: &[Vec<f64>]| v.iter().map(f).sum::<f64>() / v.len() as f64;
    let p_good = mean(&|p| p[0], bead_probs);
    let conf_ok = mean(&|p| (1.0 - p[1] - p[2]).clamp(0.0, 1.0), bead_probs);
    let p_live = mean(&|p| p[0], trypan_probs);
    let v = quality_value(p_good, p_live, conf_ok, w)?;
    let mut reasons = Vec::new();
    let mut verdict = Verdict::Pass;
    if frac[4] >= 0.05 {
        reasons.push(format!("contaminated {:.0} % ≥ 5 %", 100.0 * frac[4]));
        verdict = Verdict::Fail;
    }
    if frac[3] >= 0.5 {
        reasons.push(format!("dead_dominant {:.0} % ≥ 50 %", 100.0 * frac[3]));
        verdict = Verdict::Fail;
    }
    if verdict != Verdict::Fail {
        let mut warn = Vec::new();
        if frac[3] >= 0.2 {
            warn.push(format!("dead_dominant {:.0} % ≥ 20 %", 100.0 * frac[3]));
        }
        if frac[2] >= 0.3 {
            warn.push(format!("aggregated {:.0} % ≥ 30 %", 100.0 * frac[2]));
        }
        if day >= 4 && frac[0] < 0.5 {
            warn.push(format!("good {:.0} % < 50 % from day 4", 100.0 * frac[0]));
        }
        if !warn.is_empty() {
            verdict = Verdict::Warn;
            reasons.extend(warn);
        }
    }
    Ok(QcDayReport {
        day,
        n_bead_images: bead_probs.len(),
        n_trypan_crops: trypan_probs.len(),
        class_fractions: classes.iter().map(|c| c.to_string()).zip(frac).collect(),
        image_viability: p_live,
        quality_value: v,
        hyperscore: hyperscore(v, HyperParams::SEED)?,
        verdict,
        reasons,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_hot(c: usize, k: usize) -> Vec<f64> {
        (0..k).map(|i| if i == c { 1.0 } else { 0.0 }).collect()
    }

    #[test]
    fn verdict_names_match_their_serde_names() {
        for v in [Verdict::Pass, Verdict::Warn, Verdict::Fail] {
            assert_eq!(serde_json::to_value(v).expect("json").as_str(), Some(v.as_str()));
            assert_eq!(v.to_string(), v.as_str());
        }
    }

    #[test]
    fn verdicts_follow_the_rules() {
        let live = vec![one_hot(0, 2); 10];
        let good = vec![one_hot(0, 5); 20];
        let r = day_report(5, &good, &live, QualityWeights::default()).expect("ok");
        assert_eq!(r.verdict, Verdict::Pass);
        assert!((r.quality_value - 1.0).abs() < 1e-12);
        assert!((r.hyperscore - 177.7778).abs() < 1e-3);
        let mut beads = good.clone();
        beads[0] = one_hot(4, 5); // 1 of 20 = 5 % contaminated
        assert_eq!(day_report(5, &beads, &live, QualityWeights::default()).expect("ok").verdict, Verdict::Fail);
        let mut beads = good.clone();
        for b in beads.iter_mut().take(4) {
            *b = one_hot(3, 5); // 20 % dead-dominant
        }
        assert_eq!(day_report(5, &beads, &live, QualityWeights::default()).expect("ok").verdict, Verdict::Warn);
        let under = vec![one_hot(1, 5); 20];
        assert_eq!(day_report(2, &under, &live, QualityWeights::default()).expect("ok").verdict, Verdict::Pass, "early under-confluence is normal");
        assert_eq!(day_report(4, &under, &live, QualityWeights::default()).expect("ok").verdict, Verdict::Warn);
        assert!(day_report(1, &[], &live, QualityWeights::default()).is_err());
    }
}
