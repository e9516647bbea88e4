//! Preprocessing (seed Section 3.1): alignment on the 15-min grid, IQR outlier handling,
//! imputation, z-score scaling and sliding windows with targets.
//!
//! Order per batch ([`grid_batch`]):
//! 1. **Alignment.** Online rows go to grid step `round(t_h / 0.25)`; a step without a row
//!    is missing. Daily offline samples are cleaned and imputed as a daily table (below), then
//!    held on the grid from their sample time until the next sample (zero-order hold, so an
//!    offline value is never used before it was sampled; before the first sample the first
//!    value is used).
//! 2. **Outliers (IQR).** Per batch and channel, residuals from a running median (online: 9
//!    steps = 2 h; offline: 3 samples) are computed; a value whose residual lies outside
//!    `[Q1 − 3·IQR, Q3 + 3·IQR]` of that batch's residuals is removed (set missing) and
//!    imputed like a dropout. Trends and setpoint shifts do not trip it, spikes do.
//! 3. **Imputation.** A run of missing values of length ≤ [`SHORT_GAP_ONLINE_STEPS`] (2 h,
//!    online) or ≤ [`SHORT_GAP_OFFLINE_SAMPLES`] (1 day, offline) is filled by linear
//!    interpolation (nearest value at the ends of the record). Longer runs use kNN
//!    ([`KNN_K`] = 5): the rows of the same batch where the channel was observed, ranked by
//!    the RMS distance over the other channels observed in both rows (each channel divided by
//!    its batch standard deviation), and the mean of the k nearest. Rows with no shared
//!    observed channel fall back to linear interpolation. A channel missing from a whole
//!    batch stays missing and is scaled to 0 (the training mean).
//!    Imputation sees the whole record of a batch (an offline analysis step, as in the seed).
//! 4. **Scaling.** z-scores with means and standard deviations fitted on the training
//!    batches only ([`Scaler::fit`] takes the batches it is given; callers pass the training
//!    split), applied to every split.
//! 5. **Windows.** 24 h (96 steps) with a 6 h (24 steps) stride; input `(96, features)`;
//!    targets true titer (g/L) and GI (%) at a [`Horizon`] after the window's last step.

use crate::data::{OFFLINE_COLUMNS, ONLINE_COLUMNS, RawBatch};
use crate::error::{Result, TwinError};

/// Grid step, h.
pub const STEP_H: f64 = 0.25;
/// Window length, steps (24 h).
pub const WINDOW_STEPS: usize = 96;
/// Window stride, steps (6 h).
pub const STRIDE_STEPS: usize = 24;
/// Longest online gap filled by linear interpolation, steps (2 h).
pub const SHORT_GAP_ONLINE_STEPS: usize = 8;
/// Longest offline gap filled by linear interpolation, samples (1 day).
pub const SHORT_GAP_OFFLINE_SAMPLES: usize = 1;
/// Neighbours of the kNN imputer.
pub const KNN_K: usize = 5;
/// IQR multiplier of the outlier fence.
pub const IQR_K: f64 = 3.0;

/// The default input features: the seed's Table 1 (temperature, pH, DO, glucose, lactate,
/// VCD, titer) plus pCO2 and the elapsed culture time.
pub const DEFAULT_FEATURES: [&str; 9] =
    ["temp_c", "ph", "do_pct", "pco2_mmhg", "glucose_g_per_l", "lactate_g_per_l", "vcd_1e6_per_ml", "titer_g_per_l", "elapsed_d"];

/// Derived feature: hours since the offline sample that is held on the grid (0 before the
/// first sample). It tells a model how stale the zero-order-held offline values are.
pub const SAMPLE_AGE_FEATURE: &str = "sample_age_h";

/// Names of the two targets (model outputs), in order.
pub const TARGETS: [&str; 2] = ["titer_g_per_l", "gi_pct"];

/// When the targets are taken, relative to a window's last step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Horizon {
    /// At the window's last step (nowcast, the seed's setting).
    Now,
    /// This many hours after the last step (windows whose target lies past harvest are dropped).
    AheadH(u32),
    /// At harvest (the batch's last truth row).
    Harvest,
}

impl Horizon {
    /// Parse `now`, `24h`/`+24h`, `harvest`.
    pub fn parse(s: &str) -> Result<Horizon> {
        let s = s.trim().trim_start_matches('+');
        match s {
            "now" | "0h" => Ok(Horizon::Now),
            "harvest" => Ok(Horizon::Harvest),
            _ => s
                .strip_suffix('h')
                .and_then(|n| n.parse::<u32>().ok())
                .map(Horizon::AheadH)
                .ok_or_else(|| TwinError::Invalid(format!("horizon `{s}`: expected now, <hours>h or harvest"))),
        }
    }
    /// Label for reports.
    pub fn label(self) -> String {
        match self {
            Horizon::Now => "now".into(),
            Horizon::AheadH(h) => format!("+{h}h"),
            Horizon::Harvest => "harvest".into(),
        }
    }
}

/// Culture phase at a grid step, from the VCD curve (seed Figure 3 / Table 6 analog).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Before VCD first reaches 90 % of its peak.
    Growth,
    /// VCD at or above 90 % of its peak.
    Stationary,
    /// After the peak, VCD below 90 % of it.
    Decline,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Growth, Phase::Stationary, Phase::Decline];
    pub fn name(self) -> &'static str {
        match self {
            Phase::Growth => "growth",
            Phase::Stationary => "stationary",
            Phase::Decline => "decline",
        }
    }
}

/// Phase of every step of a VCD curve.
pub fn phases(vcd: &[f64]) -> Vec<Phase> {
    let (peak_i, peak) = vcd.iter().copied().enumerate().fold((0, f64::NEG_INFINITY), |(bi, b), (i, v)| if v > b { (i, v) } else { (bi, b) });
    vcd.iter()
        .enumerate()
        .map(|(i, &v)| {
            if v >= 0.9 * peak {
                Phase::Stationary
            } else if i < peak_i {
                Phase::Growth
            } else {
                Phase::Decline
            }
        })
        .collect()
}

/// One batch on the 15-min grid after outlier handling and imputation.
#[derive(Debug, Clone, PartialEq)]
pub struct GridBatch {
    pub meta: crate::data::BatchMeta,
    /// Grid times, h.
    pub t_h: Vec<f64>,
    /// Feature values per step (`features` order of the config), raw units; NaN = channel absent.
    pub x: Vec<Vec<f64>>,
    /// True titer (g/L) and GI (%) per step; empty for user data without truth.
    pub truth: Vec<[f64; 2]>,
    /// Phase per step (from true VCD, else the held offline VCD).
    pub phase: Vec<Phase>,
    /// How many values the IQR fence removed.
    pub outliers_removed: usize,
    /// How many values were imputed (linear, kNN).
    pub imputed_linear: usize,
    pub imputed_knn: usize,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Linear-interpolated quantile of sorted data.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Remove outliers of one channel: residuals from a running median of `2·half + 1` values,
/// fence `[Q1 − k·IQR, Q3 + k·IQR]`. Returns how many were removed.
pub fn iqr_remove(values: &mut [Option<f64>], half: usize, k: f64) -> usize {
    let n = values.len();
    let mut resid: Vec<Option<f64>> = vec![None; n];
    for i in 0..n {
        let Some(v) = values[i] else { continue };
        let mut win: Vec<f64> = values[i.saturating_sub(half)..(i + half + 1).min(n)].iter().flatten().copied().collect();
        if win.len() >= 3 {
            resid[i] = Some(v - median(&mut win));
        }
    }
    let mut r: Vec<f64> = resid.iter().flatten().copied().collect();
    if r.len() < 4 {
        return 0;
    }
    r.sort_by(f64::total_cmp);
    let (q1, q3) = (quantile(&r, 0.25), quantile(&r, 0.75));
    let iqr = q3 - q1;
    let (lo, hi) = (q1 - k * iqr, q3 + k * iqr);
    let mut removed = 0;
    for i in 0..n {
        if let Some(x) = resid[i]
            && (x < lo || x > hi)
            && iqr > 0.0
        {
            values[i] = None;
            removed += 1;
        }
    }
    removed
}

/// Impute a rows × channels table in place (linear for runs ≤ `short_gap`, kNN beyond).
/// Returns `(linear, knn)` counts. Channels without any observation stay missing.
pub fn impute(table: &mut [Vec<Option<f64>>], short_gap: usize, k: usize) -> (usize, usize) {
    let n = table.len();
    if n == 0 {
        return (0, 0);
    }
    let nc = table[0].len();
    let observed: Vec<Vec<Option<f64>>> = table.to_vec();
    // Per-channel standard deviation over the batch (kNN distance scale).
    let sd: Vec<f64> = (0..nc)
        .map(|c| {
            let v: Vec<f64> = observed.iter().filter_map(|r| r[c]).collect();
            if v.len() < 2 {
                return 1.0;
            }
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let s = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
            if s > 1e-12 { s } else { 1.0 }
        })
        .collect();
    let (mut n_lin, mut n_knn) = (0, 0);
    for c in 0..nc {
        if observed.iter().all(|r| r[c].is_none()) {
            continue;
        }
        let mut i = 0;
        while i < n {
            if observed[i][c].is_some() {
                i += 1;
                continue;
            }
            let a = i;
            while i < n && observed[i][c].is_none() {
                i += 1;
            }
            let b = i; // run is a..b (exclusive)
            let left = a.checked_sub(1).and_then(|j| observed[j][c].map(|v| (j, v)));
            let right = if b < n { observed[b][c].map(|v| (b, v)) } else { None };
            let linear = |row: usize| -> f64 {
                match (left, right) {
                    (Some((j0, v0)), Some((j1, v1))) => v0 + (v1 - v0) * (row - j0) as f64 / (j1 - j0) as f64,
                    (Some((_, v)), None) | (None, Some((_, v))) => v,
                    (None, None) => f64::NAN,
                }
            };
            for row in a..b {
                let mut v = None;
                if b - a > short_gap {
                    v = knn_value(&observed, &sd, row, c, k);
                    if v.is_some() {
                        n_knn += 1;
                    }
                }
                let v = v.unwrap_or_else(|| {
                    n_lin += 1;
                    linear(row)
                });
                table[row][c] = Some(v);
            }
        }
    }
    (n_lin, n_knn)
}

fn knn_value(observed: &[Vec<Option<f64>>], sd: &[f64], row: usize, c: usize, k: usize) -> Option<f64> {
    let target = &observed[row];
    let mut cand: Vec<(f64, f64)> = Vec::new();
    for r in observed {
        let Some(val) = r[c] else { continue };
        let (mut s, mut m) = (0.0, 0usize);
        for d in 0..target.len() {
            if d == c {
                continue;
            }
            if let (Some(x), Some(y)) = (target[d], r[d]) {
                s += ((x - y) / sd[d]).powi(2);
                m += 1;
            }
        }
        if m > 0 {
            cand.push(((s / m as f64).sqrt(), val));
        }
    }
    if cand.is_empty() {
        return None;
    }
    cand.sort_by(|a, b| a.0.total_cmp(&b.0));
    let kk = k.min(cand.len());
    Some(cand[..kk].iter().map(|x| x.1).sum::<f64>() / kk as f64)
}

/// Where a feature comes from.
enum Source {
    Online(usize),
    Offline(usize),
    Elapsed,
    SampleAge,
}

fn source(name: &str) -> Result<Source> {
    if name == "elapsed_d" {
        return Ok(Source::Elapsed);
    }
    if name == SAMPLE_AGE_FEATURE {
        return Ok(Source::SampleAge);
    }
    if let Some(i) = ONLINE_COLUMNS.iter().position(|c| *c == name) {
        return Ok(Source::Online(i));
    }
    if let Some(i) = OFFLINE_COLUMNS.iter().position(|c| *c == name) {
        return Ok(Source::Offline(i));
    }
    Err(TwinError::Invalid(format!(
        "unknown feature `{name}` (known: {}, {}, elapsed_d, {SAMPLE_AGE_FEATURE})",
        ONLINE_COLUMNS.join(", "),
        OFFLINE_COLUMNS.join(", ")
    )))
}

/// Align, clean and impute one batch on the 15-min grid.
pub fn grid_batch(raw: &RawBatch, features: &[String]) -> Result<GridBatch> {
    let sources = features.iter().map(|f| source(f)).collect::<Result<Vec<_>>>()?;
    let t_max = raw.online.iter().map(|r| r.0).fold(f64::NEG_INFINITY, f64::max);
    if !t_max.is_finite() || t_max < 0.0 {
        return Err(TwinError::Data(format!("batch {}: no online data", raw.meta.batch_id)));
    }
    let n = (t_max / STEP_H).round() as usize + 1;
    let t_h: Vec<f64> = (0..n).map(|i| i as f64 * STEP_H).collect();
    // Online table on the grid.
    let mut on: Vec<Vec<Option<f64>>> = vec![vec![None; ONLINE_COLUMNS.len()]; n];
    for (t, v) in &raw.online {
        let i = (t / STEP_H).round();
        if i >= 0.0 && (i * STEP_H - t).abs() < 0.5 * STEP_H && (i as usize) < n {
            on[i as usize] = v.to_vec();
        }
    }
    let mut removed = 0;
    for c in 0..ONLINE_COLUMNS.len() {
        let mut col: Vec<Option<f64>> = on.iter().map(|r| r[c]).collect();
        removed += iqr_remove(&mut col, 4, IQR_K);
        for (r, v) in on.iter_mut().zip(col) {
            r[c] = v;
        }
    }
    let (mut lin, mut knn) = impute(&mut on, SHORT_GAP_ONLINE_STEPS, KNN_K);
    // Offline daily table.
    let mut off_rows: Vec<(f64, [Option<f64>; 9])> = raw.offline.clone();
    off_rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut off: Vec<Vec<Option<f64>>> = off_rows.iter().map(|r| r.1.to_vec()).collect();
    for c in 0..OFFLINE_COLUMNS.len() {
        let mut col: Vec<Option<f64>> = off.iter().map(|r| r[c]).collect();
        removed += iqr_remove(&mut col, 1, IQR_K);
        for (r, v) in off.iter_mut().zip(col) {
            r[c] = v;
        }
    }
    let (l2, k2) = impute(&mut off, SHORT_GAP_OFFLINE_SAMPLES, KNN_K);
    lin += l2;
    knn += k2;
    // Zero-order hold of offline rows on the grid.
    let mut held: Vec<usize> = Vec::with_capacity(n);
    let mut j = 0;
    for &t in &t_h {
        while j + 1 < off_rows.len() && off_rows[j + 1].0 <= t + 1e-9 {
            j += 1;
        }
        held.push(j);
    }
    let x: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            sources
                .iter()
                .map(|s| match s {
                    Source::Online(c) => on[i][*c].unwrap_or(f64::NAN),
                    Source::Offline(c) => off.get(held[i]).and_then(|r| r[*c]).unwrap_or(f64::NAN),
                    Source::Elapsed => t_h[i] / 24.0,
                    Source::SampleAge => off_rows.get(held[i]).map_or(f64::NAN, |r| (t_h[i] - r.0).max(0.0)),
                })
                .collect()
        })
        .collect();
    // Truth on the grid.
    let mut truth = Vec::new();
    let mut vcd = vec![f64::NAN; n];
    if !raw.truth.is_empty() {
        truth = vec![[f64::NAN; 2]; n];
        for &(t, y, g, v) in &raw.truth {
            let i = (t / STEP_H).round();
            if i >= 0.0 && (i as usize) < n && (i * STEP_H - t).abs() < 0.5 * STEP_H {
                truth[i as usize] = [y, g];
                vcd[i as usize] = v;
            }
        }
        // Fill any hole in the truth grid by carrying the last value (the simulator writes every step).
        for i in 1..n {
            if truth[i][0].is_nan() {
                truth[i] = truth[i - 1];
                vcd[i] = vcd[i - 1];
            }
        }
    } else {
        let vi = OFFLINE_COLUMNS.iter().position(|c| *c == "vcd_1e6_per_ml").unwrap_or(0);
        for i in 0..n {
            vcd[i] = off.get(held[i]).and_then(|r| r[vi]).unwrap_or(0.0);
        }
    }
    let phase = phases(&vcd);
    Ok(GridBatch { meta: raw.meta.clone(), t_h, x, truth, phase, outliers_removed: removed, imputed_linear: lin, imputed_knn: knn })
}

/// Per-feature z-score parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scaler {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Scaler {
    /// Fit on every grid row of `train` (pass the training batches only). NaNs are skipped.
    pub fn fit(train: &[&GridBatch]) -> Result<Scaler> {
        let nf = train.first().and_then(|b| b.x.first()).map(Vec::len).ok_or_else(|| TwinError::Data("no training data to fit the scaler".into()))?;
        let mut rows: Vec<&[f64]> = Vec::new();
        for b in train {
            rows.extend(b.x.iter().map(Vec::as_slice));
        }
        Ok(Scaler::fit_rows(&rows, nf))
    }

    /// Fit on raw rows of width `nf`.
    pub fn fit_rows(rows: &[&[f64]], nf: usize) -> Scaler {
        let mut sum = vec![0.0; nf];
        let mut sq = vec![0.0; nf];
        let mut cnt = vec![0usize; nf];
        for r in rows {
            for (c, &v) in r.iter().enumerate().take(nf) {
                if v.is_finite() {
                    sum[c] += v;
                    sq[c] += v * v;
                    cnt[c] += 1;
                }
            }
        }
        let mut mean = vec![0.0; nf];
        let mut std = vec![1.0; nf];
        for c in 0..nf {
            if cnt[c] > 0 {
                mean[c] = sum[c] / cnt[c] as f64;
                let var = (sq[c] / cnt[c] as f64 - mean[c] * mean[c]).max(0.0);
                std[c] = if var.sqrt() > 1e-9 { var.sqrt() } else { 1.0 };
            }
        }
        Scaler { mean, std }
    }

    /// z-score of `v` in feature `c`; NaN (absent channel) maps to 0, the training mean.
    pub fn z(&self, c: usize, v: f64) -> f64 {
        if v.is_finite() { (v - self.mean[c]) / self.std[c] } else { 0.0 }
    }

    /// Back to raw units.
    pub fn unz(&self, c: usize, z: f64) -> f64 {
        z * self.std[c] + self.mean[c]
    }
}

/// Where a window came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WindowInfo {
    /// Index of the batch in the slice given to [`windows`].
    pub batch: usize,
    pub batch_id: usize,
    /// Grid index and time of the window's last step.
    pub end_step: usize,
    pub t_end_h: f64,
    /// Time the target refers to, h.
    pub target_t_h: f64,
    /// Phase at the target time.
    pub phase: Phase,
}

/// Windows of scaled inputs with raw targets.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSet {
    pub steps: usize,
    pub n_features: usize,
    /// `n × steps × n_features`, row-major, z-scored.
    pub x: Vec<f32>,
    /// `n × 2` targets in raw units (titer g/L, GI %); NaN without truth.
    pub y: Vec<f32>,
    pub info: Vec<WindowInfo>,
}

impl WindowSet {
    pub fn len(&self) -> usize {
        self.info.len()
    }
    pub fn is_empty(&self) -> bool {
        self.info.is_empty()
    }
    /// The windows at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> WindowSet {
        let w = self.steps * self.n_features;
        let mut x = Vec::with_capacity(idx.len() * w);
        let mut y = Vec::with_capacity(idx.len() * 2);
        let mut info = Vec::with_capacity(idx.len());
        for &i in idx {
            x.extend_from_slice(&self.x[i * w..(i + 1) * w]);
            y.extend_from_slice(&self.y[i * 2..i * 2 + 2]);
            info.push(self.info[i].clone());
        }
        WindowSet { steps: self.steps, n_features: self.n_features, x, y, info }
    }
    /// Target `k` (0 titer, 1 GI) of every window, f64.
    pub fn target(&self, k: usize) -> Vec<f64> {
        self.y.chunks(2).map(|c| f64::from(c[k])).collect()
    }
}

/// Window geometry and targets.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WindowConfig {
    pub steps: usize,
    pub stride: usize,
    pub horizon: Horizon,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig { steps: WINDOW_STEPS, stride: STRIDE_STEPS, horizon: Horizon::Now }
    }
}

/// Cut windows from grid batches (already cleaned) and z-score them with `scaler`.
/// Windows start at step 0 and every `stride` steps; with `horizon` past the end they are
/// dropped. Batches without truth give NaN targets.
pub fn windows(batches: &[&GridBatch], scaler: &Scaler, cfg: &WindowConfig) -> Result<WindowSet> {
    if cfg.steps == 0 || cfg.stride == 0 {
        return Err(TwinError::Invalid("window steps and stride must be positive".into()));
    }
    let nf = scaler.mean.len();
    let mut set = WindowSet { steps: cfg.steps, n_features: nf, x: Vec::new(), y: Vec::new(), info: Vec::new() };
    for (bi, b) in batches.iter().enumerate() {
        if b.x.first().map(Vec::len) != Some(nf) {
            return Err(TwinError::ModelMismatch(format!("batch {} has {} features, the scaler {}", b.meta.batch_id, b.x.first().map_or(0, Vec::len), nf)));
        }
        let n = b.x.len();
        let mut s = 0;
        while s + cfg.steps <= n {
            let e = s + cfg.steps - 1;
            let ti = match cfg.horizon {
                Horizon::Now => Some(e),
                Horizon::AheadH(h) => Some(e + (f64::from(h) / STEP_H).round() as usize).filter(|&i| i < n),
                Horizon::Harvest => Some(n - 1),
            };
            let Some(ti) = ti else { break };
            for r in &b.x[s..=e] {
                for (c, &v) in r.iter().enumerate() {
                    set.x.push(scaler.z(c, v) as f32);
                }
            }
            let y = b.truth.get(ti).copied().unwrap_or([f64::NAN; 2]);
            set.y.extend([y[0] as f32, y[1] as f32]);
            set.info.push(WindowInfo { batch: bi, batch_id: b.meta.batch_id, end_step: e, t_end_h: b.t_h[e], target_t_h: b.t_h[ti], phase: b.phase[ti] });
            s += cfg.stride;
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::BatchMeta;

    fn meta(id: usize) -> BatchMeta {
        BatchMeta { batch_id: id, cell_line: "A".into(), nominal_volume_l: 50.0, duration_d: 2.0 }
    }

    /// A synthetic batch: 48 h of online data with a dropout, daily samples, truth.
    pub(crate) fn synthetic(id: usize, level: f64) -> RawBatch {
        let mut online = Vec::new();
        let mut truth = Vec::new();
        for i in 0..=192 {
            let t = i as f64 * 0.25;
            let missing = (20..23).contains(&i);
            let v = |x: f64| if missing { None } else { Some(x) };
            online.push((t, [v(37.0 + level), v(7.0), v(40.0 + (t * 0.1).sin()), Some(50.0), Some(100.0)]));
            truth.push((t, 0.01 * t * level, 80.0 - 0.1 * t, 1.0 + t / 24.0));
        }
        let offline = (0..=2)
            .map(|d| {
                let t = d as f64 * 24.0;
                (t, [Some(1.0 + d as f64), Some(95.0), Some(5.0), Some(1.0), Some(4.0), Some(2.0), Some(300.0), Some(0.01 * t * level), Some(80.0)])
            })
            .collect();
        RawBatch { meta: meta(id), online, offline, truth }
    }

    fn feats() -> Vec<String> {
        DEFAULT_FEATURES.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn alignment_holds_offline_values_from_their_sample_time() {
        let g = grid_batch(&synthetic(0, 1.0), &feats()).expect("grid");
        assert_eq!(g.t_h.len(), 193);
        let vcd = DEFAULT_FEATURES.iter().position(|f| *f == "vcd_1e6_per_ml").expect("vcd");
        assert_eq!(g.x[0][vcd], 1.0);
        assert_eq!(g.x[95][vcd], 1.0, "day-0 sample held until day 1");
        assert_eq!(g.x[96][vcd], 2.0, "day-1 sample from 24 h on");
        assert_eq!(g.x[192][vcd], 3.0);
        let el = DEFAULT_FEATURES.iter().position(|f| *f == "elapsed_d").expect("elapsed");
        assert_eq!(g.x[96][el], 1.0);
        assert_eq!(g.truth[96][0], 0.24);
    }

    #[test]
    fn sample_age_counts_hours_since_the_held_sample() {
        let f = vec!["titer_g_per_l".to_string(), SAMPLE_AGE_FEATURE.to_string()];
        let g = grid_batch(&synthetic(0, 1.0), &f).expect("grid");
        let age: Vec<f64> = g.x.iter().map(|r| r[1]).collect();
        assert_eq!(age[0], 0.0);
        assert_eq!(age[95], 23.75, "last step before the day-1 sample");
        assert_eq!(age[96], 0.0, "the day-1 sample resets it");
        assert_eq!(age[100], 1.0);
        assert_eq!(age[192], 0.0);
        let err = grid_batch(&synthetic(0, 1.0), &["sample_age".to_string()]).expect_err("unknown");
        assert!(err.to_string().contains(SAMPLE_AGE_FEATURE), "{err}");
    }

    #[test]
    fn short_gaps_are_interpolated_linearly() {
        let mut t: Vec<Vec<Option<f64>>> = vec![vec![Some(0.0)], vec![None], vec![None], vec![Some(3.0)], vec![None]];
        let (lin, knn) = impute(&mut t, 2, 5);
        assert_eq!((lin, knn), (3, 0));
        assert_eq!(t.iter().map(|r| r[0].expect("filled")).collect::<Vec<_>>(), vec![0.0, 1.0, 2.0, 3.0, 3.0]);
    }

    #[test]
    fn long_gaps_use_the_nearest_rows_in_the_other_channels() {
        // Channel 0 follows channel 1 exactly (y = 10·x); rows 3..7 miss channel 0.
        let xs = [0.0, 1.0, 2.0, 5.0, 6.0, 7.0, 8.0, 2.1, 5.1, 6.1, 7.1, 8.1];
        let mut t: Vec<Vec<Option<f64>>> = xs.iter().enumerate().map(|(i, &x)| vec![if (3..7).contains(&i) { None } else { Some(10.0 * x) }, Some(x)]).collect();
        let (lin, knn) = impute(&mut t, 2, 1);
        assert_eq!((lin, knn), (0, 4));
        // Row 3 (x=5) takes the value of its nearest observed row (x=5.1): 51.
        assert!((t[3][0].expect("filled") - 51.0).abs() < 1e-9);
        assert!((t[6][0].expect("filled") - 81.0).abs() < 1e-9);
    }

    #[test]
    fn iqr_removes_spikes_but_not_trends_or_steps() {
        // Trend 0.1 per step, a +5 step at 50, pseudo-random noise in ±0.25, one spike.
        let mut v: Vec<Option<f64>> = (0..100).map(|i| Some(i as f64 * 0.1 + if i >= 50 { 5.0 } else { 0.0 } + ((i * 7919) % 13) as f64 / 13.0 * 0.5 - 0.25)).collect();
        v[30] = Some(50.0);
        let removed = iqr_remove(&mut v, 4, IQR_K);
        assert_eq!(removed, 1);
        assert_eq!(v[30], None);
    }

    #[test]
    fn scaler_uses_only_the_batches_it_is_given() {
        let a = grid_batch(&synthetic(0, 1.0), &feats()).expect("grid");
        let b = grid_batch(&synthetic(1, 3.0), &feats()).expect("grid");
        let s_a = Scaler::fit(&[&a]).expect("fit");
        let s_ab = Scaler::fit(&[&a, &b]).expect("fit");
        // Temperature is 38 in batch a and 40 in batch b: fitting on a alone must not see b.
        assert!((s_a.mean[0] - 38.0).abs() < 1e-9, "{}", s_a.mean[0]);
        assert!((s_ab.mean[0] - 39.0).abs() < 1e-9);
        let w = windows(&[&b], &s_a, &WindowConfig::default()).expect("windows");
        // Batch b's temperature is 2 training standard deviations… (std floor 1 for constant a) away.
        assert!((w.x[0] - 2.0).abs() < 1e-6, "{}", w.x[0]);
    }

    #[test]
    fn windows_have_the_stated_geometry_and_targets() {
        let g = grid_batch(&synthetic(0, 1.0), &feats()).expect("grid");
        let s = Scaler::fit(&[&g]).expect("fit");
        let w = windows(&[&g], &s, &WindowConfig::default()).expect("windows");
        // 193 steps, 96-step windows every 24 steps: starts 0, 24, 48, 72, 96 → 5 windows.
        assert_eq!(w.len(), 5);
        assert_eq!(w.x.len(), 5 * 96 * 9);
        assert_eq!(w.info[1].end_step, 24 + 95);
        assert!((w.y[2] as f64 - g.truth[119][0]).abs() < 1e-6);
        let ahead = windows(&[&g], &s, &WindowConfig { horizon: Horizon::AheadH(24), ..WindowConfig::default() }).expect("windows");
        assert_eq!(ahead.len(), 1, "only the first window has a target 24 h later");
        assert_eq!(ahead.info[0].target_t_h, 95.0 * 0.25 + 24.0);
        let harvest = windows(&[&g], &s, &WindowConfig { horizon: Horizon::Harvest, ..WindowConfig::default() }).expect("windows");
        assert!(harvest.info.iter().all(|i| i.target_t_h == 48.0));
        assert_eq!(Horizon::parse("+72h").expect("parse"), Horizon::AheadH(72));
    }

    #[test]
    fn phases_follow_the_vcd_curve() {
        let p = phases(&[1.0, 5.0, 9.5, 10.0, 9.2, 8.0]);
        assert_eq!(p, vec![Phase::Growth, Phase::Growth, Phase::Stationary, Phase::Stationary, Phase::Stationary, Phase::Decline]);
    }
}
