//! The seed's pipeline end to end on a dataset: grid every batch, split by batch, fit the
//! scaler on the training batches, cut windows; and the grouped evaluation of predictions.

use crate::data::Dataset;
use crate::error::{Result, TwinError};
use crate::metrics::{Scores, score, score_where};
use crate::prep::{GridBatch, Phase, Scaler, WindowConfig, WindowSet, grid_batch, windows};
use crate::split::Split;
use std::collections::BTreeMap;

/// A dataset prepared for training and evaluation.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub features: Vec<String>,
    pub window: WindowConfig,
    /// Every batch on the grid, in dataset order (`WindowInfo::batch` indexes this).
    pub grids: Vec<GridBatch>,
    pub split: Split,
    /// Fitted on `split.train` only.
    pub scaler: Scaler,
    pub train: WindowSet,
    pub val: WindowSet,
    pub test: WindowSet,
}

impl Prepared {
    /// The split as batch ids (for the model sidecar).
    pub fn split_batch_ids(&self) -> Split {
        let ids = |v: &[usize]| v.iter().map(|&i| self.grids[i].meta.batch_id).collect();
        Split { train: ids(&self.split.train), val: ids(&self.split.val), test: ids(&self.split.test) }
    }
}

/// Grid every batch of `ds` (outliers, imputation, alignment).
pub fn grid_all(ds: &Dataset, features: &[String]) -> Result<Vec<GridBatch>> {
    ds.batches.iter().map(|b| grid_batch(b, features)).collect()
}

/// Windows of the batches `idx` of `grids`, with `WindowInfo::batch` pointing into `grids`.
pub fn windows_of(grids: &[GridBatch], idx: &[usize], scaler: &Scaler, window: &WindowConfig) -> Result<WindowSet> {
    let sel: Vec<&GridBatch> = idx.iter().map(|&i| &grids[i]).collect();
    let mut w = windows(&sel, scaler, window)?;
    for info in &mut w.info {
        info.batch = idx[info.batch];
    }
    Ok(w)
}

/// Split, fit the scaler on the training batches, window every split.
pub fn prepare(grids: Vec<GridBatch>, features: &[String], window: &WindowConfig, split: Split) -> Result<Prepared> {
    let n = grids.len();
    if split.train.iter().chain(&split.val).chain(&split.test).any(|&i| i >= n) {
        return Err(TwinError::Data("split refers to a batch outside the dataset".into()));
    }
    let train_refs: Vec<&GridBatch> = split.train.iter().map(|&i| &grids[i]).collect();
    let scaler = Scaler::fit(&train_refs)?;
    let train = windows_of(&grids, &split.train, &scaler, window)?;
    let val = windows_of(&grids, &split.val, &scaler, window)?;
    let test = windows_of(&grids, &split.test, &scaler, window)?;
    Ok(Prepared { features: features.to_vec(), window: window.clone(), grids, split, scaler, train, val, test })
}

/// Held-out scores of one model: both targets overall, titer by phase, cell line and scale,
/// by the culture day of the target and by the true titer's level.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Evaluation {
    pub titer: Scores,
    pub gi: Scores,
    pub titer_by_phase: BTreeMap<String, Scores>,
    pub titer_by_cell_line: BTreeMap<String, Scores>,
    pub titer_by_scale: BTreeMap<String, Scores>,
    /// By the culture day of the target time, in 2-day bins (`day 00–02` = [0, 2) d).
    pub titer_by_day: BTreeMap<String, Scores>,
    /// By the true titer at the target time, in 1 g/L bins (`0–1 g/L`, …, `4+ g/L`): where a
    /// model shrinks high titers towards the mean, the bias of the top bins shows it.
    pub titer_by_level: BTreeMap<String, Scores>,
}

/// The 2-day bin of a culture time (`day 00–02` for [0, 2) d), zero-padded so bins sort in time.
pub fn day_bin(t_h: f64) -> String {
    let d = ((t_h / 24.0).max(0.0) / 2.0).floor() as usize * 2;
    format!("day {d:02}–{:02}", d + 2)
}

/// The 1 g/L bin of a titer (`0–1 g/L`, `1–2 g/L`, `2–3 g/L`, `3–4 g/L`, `4+ g/L`).
pub fn level_bin(titer_g_per_l: f64) -> String {
    let k = titer_g_per_l.max(0.0).floor() as usize;
    if k >= 4 { "4+ g/L".to_owned() } else { format!("{k}–{} g/L", k + 1) }
}

/// Score predictions (`[titer, GI]` per window of `set`) with optional 95 % bounds.
pub fn evaluate(set: &WindowSet, grids: &[GridBatch], pred: &[[f64; 2]], bounds: Option<(&[[f64; 2]], &[[f64; 2]])>) -> Evaluation {
    let traj: Vec<(usize, f64)> = set.info.iter().map(|i| (i.batch, i.target_t_h)).collect();
    let col = |v: &[[f64; 2]], k: usize| v.iter().map(|r| r[k]).collect::<Vec<f64>>();
    let (y0, y1) = (set.target(0), set.target(1));
    let (p0, p1) = (col(pred, 0), col(pred, 1));
    let b = bounds.map(|(lo, hi)| (col(lo, 0), col(hi, 0), col(lo, 1), col(hi, 1)));
    let i0 = b.as_ref().map(|b| (b.0.as_slice(), b.1.as_slice()));
    let i1 = b.as_ref().map(|b| (b.2.as_slice(), b.3.as_slice()));
    let mut by_phase = BTreeMap::new();
    let phases: Vec<Phase> = set.info.iter().map(|i| i.phase).collect();
    for ph in Phase::ALL {
        if let Some(s) = score_where(&phases, &ph, &y0, &p0, &traj, i0) {
            by_phase.insert(ph.name().to_owned(), s);
        }
    }
    let by_key = |keys: Vec<String>| {
        let mut uniq = keys.clone();
        uniq.sort();
        uniq.dedup();
        uniq.into_iter().filter_map(|k| score_where(&keys, &k, &y0, &p0, &traj, i0).map(|s| (k, s))).collect::<BTreeMap<_, _>>()
    };
    let group = |key: &dyn Fn(&GridBatch) -> String| by_key(set.info.iter().map(|i| key(&grids[i.batch])).collect());
    Evaluation {
        titer: score(&y0, &p0, &traj, i0),
        gi: score(&y1, &p1, &traj, i1),
        titer_by_phase: by_phase,
        titer_by_cell_line: group(&|g| g.meta.cell_line.clone()),
        titer_by_scale: group(&|g| format!("{} L", g.meta.nominal_volume_l)),
        titer_by_day: by_key(set.info.iter().map(|i| day_bin(i.target_t_h)).collect()),
        titer_by_level: by_key(y0.iter().map(|&y| level_bin(y)).collect()),
    }
}

#[cfg(test)]
mod bin_tests {
    use super::*;

    #[test]
    fn day_and_level_bins_sort_in_order_and_cover_the_edges() {
        assert_eq!(day_bin(0.0), "day 00–02");
        assert_eq!(day_bin(47.99), "day 00–02");
        assert_eq!(day_bin(48.0), "day 02–04");
        assert_eq!(day_bin(13.5 * 24.0), "day 12–14");
        let days: Vec<String> = [0.0, 60.0, 150.0, 250.0, 330.0].iter().map(|&t| day_bin(t)).collect();
        let mut sorted = days.clone();
        sorted.sort();
        assert_eq!(days, sorted, "bins sort in time");
        assert_eq!(level_bin(-0.01), "0–1 g/L");
        assert_eq!(level_bin(0.99), "0–1 g/L");
        assert_eq!(level_bin(3.0), "3–4 g/L");
        assert_eq!(level_bin(4.0), "4+ g/L");
        assert_eq!(level_bin(7.5), "4+ g/L");
        let levels: Vec<String> = [0.5, 1.5, 2.5, 3.5, 4.5].iter().map(|&y| level_bin(y)).collect();
        let mut sorted = levels.clone();
        sorted.sort();
        assert_eq!(levels, sorted, "bins sort by level");
    }
}
