//! Classification metrics in pure Rust (spec §6): accuracy, per-class precision/recall/F1,
//! Cohen's κ, one-vs-rest AUROC (Mann-Whitney, ties ½), ECE (15 equal-width bins on the
//! maximum probability), Brier score and the confusion matrix (rows = true class); accuracy
//! per tercile of a difficulty variable (blur σ, photons at background).
//!
//! # Shapes
//! `probs` is `[n][k]` (each row sums to 1), `y_true`/`y_pred` are `[n]` class indices.

use crate::error::{QcError, Result};
use serde::{Deserialize, Serialize};

/// Confusion matrix `[true][pred]`.
pub fn confusion(y_true: &[usize], y_pred: &[usize], k: usize) -> Result<Vec<Vec<u64>>> {
    if y_true.len() != y_pred.len() {
        return Err(QcError::LengthMismatch { what: "y_true vs y_pred", left: y_true.len(), right: y_pred.len() });
    }
    let mut m = vec![vec![0u64; k]; k];
    for (&t, &p) in y_true.iter().zip(y_pred) {
        if t >= k || p >= k {
            return Err(QcError::ClassOutOfRange { idx: t.max(p), n_classes: k });
        }
        m[t][p] += 1;
    }
    Ok(m)
}

/// Per-class precision, recall, F1 and support; `zero_division` flags a zero denominator
/// (the value is then 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: u64,
    pub zero_division: bool,
}

/// Per-class metrics from a confusion matrix.
pub fn per_class(cm: &[Vec<u64>]) -> Vec<ClassMetrics> {
    let k = cm.len();
    (0..k)
        .map(|c| {
            let tp = cm[c][c] as f64;
            let pred: f64 = (0..k).map(|r| cm[r][c] as f64).sum();
            let actual: f64 = cm[c].iter().map(|&v| v as f64).sum();
            let mut zero = false;
            let precision = if pred > 0.0 { tp / pred } else { zero = true; 0.0 };
            let recall = if actual > 0.0 { tp / actual } else { zero = true; 0.0 };
            let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
            ClassMetrics { precision, recall, f1, support: actual as u64, zero_division: zero }
        })
        .collect()
}

/// Accuracy from a confusion matrix.
pub fn accuracy(cm: &[Vec<u64>]) -> f64 {
    let n: u64 = cm.iter().flatten().sum();
    let d: u64 = (0..cm.len()).map(|i| cm[i][i]).sum();
    if n == 0 { 0.0 } else { d as f64 / n as f64 }
}

/// Cohen's κ = (p_o − p_e)/(1 − p_e), p_e = Σ row_i·col_i / N². Returns 0 when p_e = 1.
pub fn cohen_kappa(cm: &[Vec<u64>]) -> f64 {
    let k = cm.len();
    let n: f64 = cm.iter().flatten().map(|&v| v as f64).sum();
    if n == 0.0 {
        return 0.0;
    }
    let po = accuracy(cm);
    let pe: f64 = (0..k)
        .map(|i| {
            let row: f64 = cm[i].iter().map(|&v| v as f64).sum();
            let col: f64 = (0..k).map(|r| cm[r][i] as f64).sum();
            row * col
        })
        .sum::<f64>()
        / (n * n);
    if (1.0 - pe).abs() < 1e-15 { 0.0 } else { (po - pe) / (1.0 - pe) }
}

/// Binary AUROC by Mann-Whitney U with average ranks (ties count ½). `None` without both
/// positives and negatives.
pub fn auroc(scores: &[f64], positive: &[bool]) -> Result<Option<f64>> {
    if scores.len() != positive.len() {
        return Err(QcError::LengthMismatch { what: "scores vs labels", left: scores.len(), right: positive.len() });
    }
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return Ok(None);
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut ranks = vec![0.0f64; scores.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &t in &idx[i..=j] {
            ranks[t] = avg;
        }
        i = j + 1;
    }
    let rank_sum: f64 = (0..scores.len()).filter(|&t| positive[t]).map(|t| ranks[t]).sum();
    let u = rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Ok(Some(u / (n_pos as f64 * n_neg as f64)))
}

/// One-vs-rest AUROC per class (`None` where a class has no positives or no negatives).
pub fn auroc_ovr(probs: &[Vec<f64>], y_true: &[usize]) -> Result<Vec<Option<f64>>> {
    let k = probs.first().map(Vec::len).ok_or(QcError::Empty { what: "probabilities" })?;
    (0..k)
        .map(|c| {
            let s: Vec<f64> = probs.iter().map(|p| p[c]).collect();
            let pos: Vec<bool> = y_true.iter().map(|&t| t == c).collect();
            auroc(&s, &pos)
        })
        .collect()
}

/// Macro mean over the defined entries.
pub fn macro_mean(v: &[Option<f64>]) -> Option<f64> {
    let d: Vec<f64> = v.iter().flatten().copied().collect();
    if d.is_empty() { None } else { Some(d.iter().sum::<f64>() / d.len() as f64) }
}

/// Expected calibration error with `n_bins` equal-width bins on the maximum probability.
pub fn ece(probs: &[Vec<f64>], y_true: &[usize], n_bins: usize) -> Result<f64> {
    if probs.len() != y_true.len() {
        return Err(QcError::LengthMismatch { what: "probs vs y_true", left: probs.len(), right: y_true.len() });
    }
    if probs.is_empty() {
        return Err(QcError::Empty { what: "probabilities" });
    }
    let mut conf = vec![0.0; n_bins];
    let mut acc = vec![0.0; n_bins];
    let mut cnt = vec![0usize; n_bins];
    for (p, &t) in probs.iter().zip(y_true) {
        let (arg, &m) = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).ok_or(QcError::Empty { what: "probability row" })?;
        let b = ((m * n_bins as f64) as usize).min(n_bins - 1);
        conf[b] += m;
        acc[b] += f64::from(u8::from(arg == t));
        cnt[b] += 1;
    }
    let n = probs.len() as f64;
    Ok((0..n_bins).filter(|&b| cnt[b] > 0).map(|b| (acc[b] - conf[b]).abs() / n).sum())
}

/// Multi-class Brier score: mean over samples of Σ_k (p_k − 1[k = y])².
pub fn brier(probs: &[Vec<f64>], y_true: &[usize]) -> f64 {
    if probs.is_empty() {
        return 0.0;
    }
    probs
        .iter()
        .zip(y_true)
        .map(|(p, &t)| p.iter().enumerate().map(|(k, &v)| (v - f64::from(u8::from(k == t))).powi(2)).sum::<f64>())
        .sum::<f64>()
        / probs.len() as f64
}

/// Arg-max per row.
pub fn argmax(probs: &[Vec<f64>]) -> Vec<usize> {
    probs.iter().map(|p| p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i).unwrap_or(0)).collect()
}

/// The full metric set for one evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub n: usize,
    pub classes: Vec<String>,
    pub accuracy: f64,
    pub kappa: f64,
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
    pub per_class: Vec<ClassMetrics>,
    pub auroc_per_class: Vec<Option<f64>>,
    /// Macro one-vs-rest AUROC; for binary tasks the AUROC of the second class
    /// (`dead`/`heterogeneous`).
    pub auroc: Option<f64>,
    pub ece: f64,
    pub brier: f64,
    pub confusion: Vec<Vec<u64>>,
}

/// Compute every metric.
pub fn report(probs: &[Vec<f64>], y_true: &[usize], classes: &[String]) -> Result<Report> {
    let k = classes.len();
    let y_pred = argmax(probs);
    let cm = confusion(y_true, &y_pred, k)?;
    let pc = per_class(&cm);
    let per = auroc_ovr(probs, y_true)?;
    let auc = if k == 2 { per.get(1).copied().flatten() } else { macro_mean(&per) };
    let m = |f: fn(&ClassMetrics) -> f64| pc.iter().map(f).sum::<f64>() / k.max(1) as f64;
    Ok(Report {
        n: y_true.len(),
        classes: classes.to_vec(),
        accuracy: accuracy(&cm),
        kappa: cohen_kappa(&cm),
        macro_precision: m(|c| c.precision),
        macro_recall: m(|c| c.recall),
        macro_f1: m(|c| c.f1),
        per_class: pc,
        auroc_per_class: per,
        auroc: auc,
        ece: ece(probs, y_true, 15)?,
        brier: brier(probs, y_true),
        confusion: cm,
    })
}

/// One tercile bin of a difficulty variable with the accuracy of the images in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DifficultyBin {
    /// 1, 2 or 3 (low, middle, high values of the variable).
    pub tercile: usize,
    /// Lower edge: the smallest value for tercile 1, else the previous tercile's upper edge
    /// (exclusive).
    pub lo: f64,
    /// Upper edge (inclusive): q(1/3), q(2/3) or the largest value.
    pub hi: f64,
    /// Images in the bin.
    pub n: usize,
    /// Correctly classified images in the bin.
    pub n_correct: usize,
    /// `n_correct / n`; `None` for an empty bin (possible with tied values).
    pub accuracy: Option<f64>,
}

/// Accuracy per tercile of one difficulty variable (spec §6: "accuracy against blur and
/// photon count").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TercileAccuracy {
    /// q(1/3) and q(2/3) of the values (linear interpolation between order statistics, as
    /// numpy's default: position p·(n − 1) of the sorted values).
    pub edges: [f64; 2],
    /// Bins: v ≤ q(1/3); q(1/3) < v ≤ q(2/3); v > q(2/3).
    pub bins: Vec<DifficultyBin>,
}

/// Quantile `p` of sorted values by linear interpolation at position p·(n − 1).
fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    let pos = p * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos - pos.floor());
    match sorted.get(i + 1) {
        Some(&next) => sorted[i] + frac * (next - sorted[i]),
        None => sorted[i],
    }
}

/// Bin `values` at their own terciles and count `correct` per bin. Pure; errors on empty or
/// mismatched input and on non-finite values.
pub fn accuracy_by_tercile(values: &[f64], correct: &[bool]) -> Result<TercileAccuracy> {
    if values.len() != correct.len() {
        return Err(QcError::LengthMismatch { what: "difficulty values vs correct flags", left: values.len(), right: correct.len() });
    }
    if values.is_empty() {
        return Err(QcError::Empty { what: "difficulty values" });
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(QcError::InvalidConfig("difficulty values must be finite".into()));
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let edges = [quantile_sorted(&sorted, 1.0 / 3.0), quantile_sorted(&sorted, 2.0 / 3.0)];
    let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
    let mut n = [0usize; 3];
    let mut n_correct = [0usize; 3];
    for (&v, &c) in values.iter().zip(correct) {
        let b = if v <= edges[0] { 0 } else if v <= edges[1] { 1 } else { 2 };
        n[b] += 1;
        n_correct[b] += usize::from(c);
    }
    let lo = [min, edges[0], edges[1]];
    let hi = [edges[0], edges[1], max];
    let bins = (0..3)
        .map(|b| DifficultyBin {
            tercile: b + 1,
            lo: lo[b],
            hi: hi[b],
            n: n[b],
            n_correct: n_correct[b],
            accuracy: (n[b] > 0).then(|| n_correct[b] as f64 / n[b] as f64),
        })
        .collect();
    Ok(TercileAccuracy { edges, bins })
}

/// Accuracy against the rendered images' imaging difficulty: per tercile of the blur σ and of
/// the expected photons at background (the `blur_px` and `photons_at_background` latents).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DifficultyReport {
    pub blur_px: TercileAccuracy,
    pub photons_at_background: TercileAccuracy,
}

/// [`accuracy_by_tercile`] of both difficulty variables.
pub fn difficulty_report(blur_px: &[f64], photons_at_background: &[f64], correct: &[bool]) -> Result<DifficultyReport> {
    Ok(DifficultyReport {
        blur_px: accuracy_by_tercile(blur_px, correct)?,
        photons_at_background: accuracy_by_tercile(photons_at_background, correct)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Hand-computed: cm = [[20, 5], [10, 15]], N = 50.
    // p_o = 35/50 = 0.7; rows 25, 25; cols 30, 20; p_e = (25·30 + 25·20)/2500 = 0.5;
    // κ = (0.7 − 0.5)/(1 − 0.5) = 0.4.
    // class 0: P = 20/30, R = 20/25 = 0.8, F1 = 2·(2/3)(0.8)/(2/3 + 0.8) = 0.727272…
    // class 1: P = 15/20 = 0.75, R = 15/25 = 0.6, F1 = 0.666666…
    #[test]
    fn kappa_and_prf_by_hand() {
        let mut yt = vec![];
        let mut yp = vec![];
        for (t, p, n) in [(0, 0, 20), (0, 1, 5), (1, 0, 10), (1, 1, 15)] {
            for _ in 0..n {
                yt.push(t);
                yp.push(p);
            }
        }
        let cm = confusion(&yt, &yp, 2).expect("ok");
        assert_eq!(cm, vec![vec![20, 5], vec![10, 15]]);
        assert!((accuracy(&cm) - 0.7).abs() < 1e-12);
        assert!((cohen_kappa(&cm) - 0.4).abs() < 1e-12);
        let pc = per_class(&cm);
        assert!((pc[0].precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((pc[0].recall - 0.8).abs() < 1e-12);
        assert!((pc[0].f1 - 8.0 / 11.0).abs() < 1e-12);
        assert!((pc[1].f1 - 2.0 / 3.0).abs() < 1e-12);
        let macro_f1 = (pc[0].f1 + pc[1].f1) / 2.0;
        assert!((macro_f1 - (8.0 / 11.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn zero_division_flagged() {
        let cm = vec![vec![3, 0], vec![2, 0]];
        let pc = per_class(&cm);
        assert!(pc[1].zero_division);
        assert_eq!(pc[1].precision, 0.0);
        assert_eq!(pc[1].f1, 0.0);
    }

    // Positives {0.8, 0.4, 0.4}, negatives {0.4, 0.1}. Pairs: 0.8 beats both (2); each 0.4
    // ties 0.4 (½) and beats 0.1 (1) → 1.5 each; total 5 of 6 pairs → AUROC = 5/6.
    #[test]
    fn auroc_with_ties_by_hand() {
        let s = [0.8, 0.4, 0.4, 0.4, 0.1];
        let p = [true, true, true, false, false];
        let a = auroc(&s, &p).expect("ok").expect("defined");
        assert!((a - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(auroc(&[0.1, 0.2], &[true, true]).expect("ok"), None);
        let perfect = auroc(&[0.9, 0.1], &[true, false]).expect("ok").expect("defined");
        assert_eq!(perfect, 1.0);
    }

    // Four samples, max probs 0.9 (right), 0.9 (wrong), 0.6 (right), 0.55 (wrong).
    // Bin of 0.9 (bin 13): acc 0.5, conf 0.9 → |0.5 − 0.9|·2/4 = 0.2.
    // 0.6 → bin 9: |1 − 0.6|/4 = 0.1. 0.55 → bin 8: |0 − 0.55|/4 = 0.1375. ECE = 0.4375.
    #[test]
    fn ece_by_hand() {
        let probs = vec![vec![0.9, 0.1], vec![0.9, 0.1], vec![0.4, 0.6], vec![0.55, 0.45]];
        let y = [0, 1, 1, 1];
        let e = ece(&probs, &y, 15).expect("ok");
        assert!((e - 0.4375).abs() < 1e-12, "{e}");
        // Brier: (0.01+0.01) + (0.81+0.81) + (0.16+0.16) + (0.3025+0.3025) = 2.565 / 4
        assert!((brier(&probs, &y) - 2.565 / 4.0).abs() < 1e-12);
    }

    #[test]
    fn report_binary_uses_second_class_auroc() {
        let probs = vec![vec![0.9, 0.1], vec![0.2, 0.8], vec![0.6, 0.4], vec![0.3, 0.7]];
        let y = [0, 1, 1, 0];
        let r = report(&probs, &y, &["live".into(), "dead".into()]).expect("ok");
        // scores for class 1: pos {0.8, 0.4}, neg {0.1, 0.7}: pairs 0.8>0.1,0.8>0.7,0.4>0.1 → 3/4
        assert_eq!(r.auroc, Some(0.75));
        assert_eq!(r.accuracy, 0.5);
        assert!(confusion(&[0, 3], &[0, 0], 2).is_err());
    }

    // Values 1..8 (shuffled): q(1/3) at position 7/3 = 2.333 of the sorted values → 3 + 1/3;
    // q(2/3) at 14/3 = 4.667 → 5 + 2/3. Bins {1, 2, 3}, {4, 5}, {6, 7, 8}.
    // Correct flags by value: 1 T, 2 T, 3 T | 4 F, 5 T | 6 F, 7 T, 8 F → 3/3, 1/2, 1/3.
    #[test]
    fn accuracy_by_tercile_by_hand() {
        let v = [5.0, 1.0, 8.0, 3.0, 6.0, 2.0, 7.0, 4.0];
        let c = [true, true, false, true, false, true, true, false];
        let t = accuracy_by_tercile(&v, &c).expect("ok");
        assert!((t.edges[0] - 10.0 / 3.0).abs() < 1e-12, "{:?}", t.edges);
        assert!((t.edges[1] - 17.0 / 3.0).abs() < 1e-12, "{:?}", t.edges);
        let got: Vec<(usize, usize, usize)> = t.bins.iter().map(|b| (b.tercile, b.n, b.n_correct)).collect();
        assert_eq!(got, vec![(1, 3, 3), (2, 2, 1), (3, 3, 1)]);
        assert_eq!(t.bins[0].accuracy, Some(1.0));
        assert_eq!(t.bins[1].accuracy, Some(0.5));
        assert!((t.bins[2].accuracy.expect("non-empty") - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!((t.bins[0].lo, t.bins[2].hi), (1.0, 8.0));
        assert_eq!((t.bins[1].lo, t.bins[1].hi), (t.edges[0], t.edges[1]));
        // Tied values all fall in the first bin; the others are empty (accuracy None).
        let t = accuracy_by_tercile(&[2.0, 2.0, 2.0], &[true, false, true]).expect("ok");
        assert_eq!(t.edges, [2.0, 2.0]);
        assert_eq!(t.bins.iter().map(|b| b.n).collect::<Vec<_>>(), vec![3, 0, 0]);
        assert_eq!(t.bins[1].accuracy, None);
        assert!(accuracy_by_tercile(&[], &[]).is_err());
        assert!(accuracy_by_tercile(&[1.0], &[true, false]).is_err());
        assert!(accuracy_by_tercile(&[f64::NAN], &[true]).is_err());
        let r = difficulty_report(&v, &v.map(|x| -x), &c).expect("ok");
        assert_eq!(r.photons_at_background.bins[0].n_correct, 1, "high values of v (6, 7, 8) are the low photons");
    }
}
