//! Class decision offsets: the operating point of a classifier, chosen on validation data.
//!
//! A network trained with cross-entropy and temperature-calibrated on validation NLL takes the
//! argmax of calibrated probabilities. That rule maximises expected accuracy under the
//! training class balance, not the seed's target, which is precision *and* recall ≥ 0.90 for
//! *every* class: a class whose hard cases look like another (the microcarrier
//! `contaminated` beads with few particles) ends with high precision and low recall. Adding a
//! per-class offset b_k to the log-probabilities (softmax(z / T + b)) moves that trade-off.
//!
//! [`fit_class_offsets`] chooses b on a labelled split the model did not train on (the
//! validation split): coordinate ascent over a grid of offsets maximising the smallest
//! per-class precision or recall, ties broken by accuracy, never accepting an accuracy more
//! than [`ACCURACY_SLACK`] below the offset-free one. The offsets start at zero and move only
//! on a strict improvement, so a model already at its best operating point keeps b = 0.
//! Honest use: fit on validation, report on a test split it never saw (`qc eval` prints both
//! the figures with and without the offsets).

use crate::error::{QcError, Result};
use serde::{Deserialize, Serialize};

/// Offsets tried per class: −2.0 to 2.0 in steps of 0.1 (a factor e^±2 ≈ 7.4 at most on
/// one class's probability relative to another's, before centring).
const GRID_STEPS: i32 = 20;
const GRID_STEP: f64 = 0.1;
/// Coordinate-ascent passes over the classes (it settles within two or three).
const PASSES: usize = 4;
/// The fit never accepts an accuracy more than this below the offset-free accuracy.
pub const ACCURACY_SLACK: f64 = 0.005;
/// Validation images needed per class: fewer make the per-class recall a coin toss.
pub const MIN_PER_CLASS: usize = 10;

/// Accuracy and the weakest per-class precision or recall of a decision rule on labelled data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    pub accuracy: f64,
    /// min over classes of min(precision, recall); a class never predicted has precision 0.
    pub min_precision_recall: f64,
    /// Which figure is the minimum, e.g. `contaminated recall`.
    pub weakest: String,
}

/// The result of [`fit_class_offsets`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassOffsetFit {
    /// One offset per class (natural-log units, mean zero; all zero when nothing improved).
    pub offsets: Vec<f64>,
    /// Images the fit saw.
    pub n: usize,
    /// The plain argmax on these images.
    pub before: OperatingPoint,
    /// With the offsets (fitted here: selection-biased, like every validation figure).
    pub after: OperatingPoint,
}

/// Where, with the data and split the offsets came from (stored in `model.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassOffsetRecord {
    pub data: String,
    pub split: String,
    pub rule: String,
    #[serde(flatten)]
    pub fit: ClassOffsetFit,
}

/// The rule [`fit_class_offsets`] follows, in words (stored beside the offsets).
pub const RULE: &str = "coordinate ascent over offsets in [-2, 2] step 0.1 maximising the smallest per-class precision or recall, ties by accuracy, accuracy at most 0.005 below the plain argmax";

/// Predicted class per row of `log_probs` with offsets `b`: argmax_k (ln p_k + b_k).
fn decide(log_probs: &[Vec<f64>], b: &[f64]) -> Vec<usize> {
    log_probs
        .iter()
        .map(|row| {
            let mut best = (f64::NEG_INFINITY, 0);
            for (k, (l, o)) in row.iter().zip(b).enumerate() {
                let v = l + o;
                if v > best.0 {
                    best = (v, k);
                }
            }
            best.1
        })
        .collect()
}

/// Accuracy and weakest per-class precision/recall of `pred` against `y` (`classes` names
/// the classes for [`OperatingPoint::weakest`]).
pub fn operating_point(pred: &[usize], y: &[usize], classes: &[String]) -> OperatingPoint {
    let k = classes.len();
    let (mut tp, mut called, mut support) = (vec![0usize; k], vec![0usize; k], vec![0usize; k]);
    for (&p, &t) in pred.iter().zip(y) {
        if p < k && t < k {
            called[p] += 1;
            support[t] += 1;
            tp[t] += usize::from(p == t);
        }
    }
    let right: usize = tp.iter().sum();
    let mut weakest = (f64::INFINITY, String::new());
    for c in 0..k {
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        for (v, what) in [(ratio(tp[c], called[c]), "precision"), (ratio(tp[c], support[c]), "recall")] {
            if v < weakest.0 {
                weakest = (v, format!("{} {what}", classes[c]));
            }
        }
    }
    OperatingPoint { accuracy: if y.is_empty() { 0.0 } else { right as f64 / y.len() as f64 }, min_precision_recall: weakest.0.min(1.0), weakest: weakest.1 }
}

/// Fit per-class decision offsets on labelled probabilities (`probs[i]` sums to 1 over the
/// classes, `y[i]` the true class); see the module documentation for the rule.
pub fn fit_class_offsets(probs: &[Vec<f64>], y: &[usize], classes: &[String]) -> Result<ClassOffsetFit> {
    let k = classes.len();
    if k < 2 {
        return Err(QcError::InvalidConfig(format!("class offsets need at least 2 classes, got {k}")));
    }
    if probs.len() != y.len() || probs.iter().any(|r| r.len() != k) {
        return Err(QcError::Shape { expected: format!("{} rows of {k} probabilities", y.len()), got: format!("{} rows", probs.len()) });
    }
    if let Some(&bad) = y.iter().find(|&&c| c >= k) {
        return Err(QcError::ClassOutOfRange { idx: bad, n_classes: k });
    }
    let mut support = vec![0usize; k];
    y.iter().for_each(|&c| support[c] += 1);
    if let Some(c) = (0..k).find(|&c| support[c] < MIN_PER_CLASS) {
        return Err(QcError::InvalidConfig(format!(
            "class offsets need at least {MIN_PER_CLASS} labelled images of every class; `{}` has {} of {}",
            classes[c],
            support[c],
            y.len()
        )));
    }
    let log_probs: Vec<Vec<f64>> = probs.iter().map(|r| r.iter().map(|p| p.max(0.0).ln()).collect()).collect();
    let score = |b: &[f64]| operating_point(&decide(&log_probs, b), y, classes);
    let mut b = vec![0.0; k];
    let before = score(&b);
    let floor = before.accuracy - ACCURACY_SLACK;
    let better = |a: &OperatingPoint, than: &OperatingPoint| {
        a.accuracy >= floor && (a.min_precision_recall > than.min_precision_recall + 1e-12 || (a.min_precision_recall >= than.min_precision_recall - 1e-12 && a.accuracy > than.accuracy + 1e-12))
    };
    let mut best = before.clone();
    for _ in 0..PASSES {
        let mut moved = false;
        for c in 0..k {
            for step in -GRID_STEPS..=GRID_STEPS {
                let mut trial = b.clone();
                trial[c] = f64::from(step) * GRID_STEP;
                let s = score(&trial);
                if better(&s, &best) {
                    (b, best, moved) = (trial, s, true);
                }
            }
        }
        if !moved {
            break;
        }
    }
    let mean = b.iter().sum::<f64>() / k as f64;
    b.iter_mut().for_each(|v| *v = ((*v - mean) * 1e9).round() / 1e9);
    Ok(ClassOffsetFit { offsets: b, n: y.len(), before, after: best })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::apply_class_offsets;

    fn names(k: usize) -> Vec<String> {
        (0..k).map(|c| format!("c{c}")).collect()
    }

    #[test]
    fn operating_point_by_hand() {
        // 3 classes; c2 is called once, wrongly: precision 0 is the weakest figure.
        let y = [0, 0, 1, 1, 2, 2];
        let pred = [0, 0, 1, 2, 1, 1];
        let op = operating_point(&pred, &y, &names(3));
        assert!((op.accuracy - 3.0 / 6.0).abs() < 1e-12);
        assert_eq!(op.min_precision_recall, 0.0);
        assert_eq!(op.weakest, "c2 precision");
        let op = operating_point(&[0, 0, 1, 1, 2, 0], &y, &names(3));
        assert!((op.min_precision_recall - 0.5).abs() < 1e-12, "{op:?}");
        assert_eq!(op.weakest, "c2 recall");
    }

    /// Class 2 is under-called: half its images give it 0.40 beside 0.45 for class 0. An
    /// offset on class 2 recovers them without costing class 0, whose own images give class 2
    /// at most 0.10.
    #[test]
    fn offsets_recover_an_under_called_class() {
        let mut probs = Vec::new();
        let mut y = Vec::new();
        for i in 0..60 {
            let (row, label) = match i % 3 {
                0 => (vec![0.80, 0.10, 0.10], 0),
                1 => (vec![0.10, 0.85, 0.05], 1),
                _ if i % 2 == 0 => (vec![0.45, 0.15, 0.40], 2),
                _ => (vec![0.20, 0.10, 0.70], 2),
            };
            probs.push(row);
            y.push(label);
        }
        let classes = names(3);
        let fit = fit_class_offsets(&probs, &y, &classes).expect("fit");
        assert!((fit.before.accuracy - 50.0 / 60.0).abs() < 1e-12, "{fit:?}");
        assert_eq!(fit.before.weakest, "c2 recall");
        assert_eq!(fit.after.accuracy, 1.0, "{fit:?}");
        assert_eq!(fit.after.min_precision_recall, 1.0);
        assert!(fit.offsets[2] > fit.offsets[0] + (0.45f64 / 0.40).ln(), "{:?}", fit.offsets);
        assert!(fit.offsets.iter().sum::<f64>().abs() < 1e-6, "centred: {:?}", fit.offsets);
        // The model's rule (apply_class_offsets, then argmax) gives what the fit reported.
        let pred = crate::metrics::argmax(&apply_class_offsets(probs.clone(), &fit.offsets));
        assert_eq!(operating_point(&pred, &y, &classes), fit.after);
    }

    #[test]
    fn a_perfect_model_keeps_zero_offsets() {
        let probs: Vec<Vec<f64>> = (0..40).map(|i| if i % 2 == 0 { vec![0.9, 0.1] } else { vec![0.3, 0.7] }).collect();
        let y: Vec<usize> = (0..40).map(|i| i % 2).collect();
        let fit = fit_class_offsets(&probs, &y, &names(2)).expect("fit");
        assert_eq!(fit.offsets, vec![0.0, 0.0]);
        assert_eq!(fit.before, fit.after);
    }

    /// The accuracy floor: a rare class whose recall can only be bought with many errors on
    /// a frequent one keeps its low recall.
    #[test]
    fn accuracy_may_not_fall_more_than_the_slack() {
        let mut probs = Vec::new();
        let mut y = Vec::new();
        // 400 images of c0, all with p(c1) = 0.45; 20 of c1, all with p(c1) = 0.40.
        for _ in 0..400 {
            probs.push(vec![0.55, 0.45]);
            y.push(0);
        }
        for _ in 0..20 {
            probs.push(vec![0.60, 0.40]);
            y.push(1);
        }
        let fit = fit_class_offsets(&probs, &y, &names(2)).expect("fit");
        assert!(fit.after.accuracy >= fit.before.accuracy - ACCURACY_SLACK, "{fit:?}");
        assert_eq!(fit.after, fit.before, "no offset helps without breaking the floor: {fit:?}");
    }

    #[test]
    fn bad_inputs_are_errors() {
        let probs = vec![vec![0.5, 0.5]; 30];
        let y: Vec<usize> = (0..30).map(|i| usize::from(i < 5)).collect();
        let e = fit_class_offsets(&probs, &y, &names(2)).expect_err("too few").to_string();
        assert!(e.contains("at least 10") && e.contains("`c1` has 5 of 30"), "{e}");
        assert!(fit_class_offsets(&probs, &[0; 29], &names(2)).is_err());
        assert!(fit_class_offsets(&probs, &vec![2; 30], &names(2)).is_err());
        assert!(fit_class_offsets(&probs, &vec![0; 30], &names(1)).is_err());
    }
}
