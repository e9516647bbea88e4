//! Sensor models (spec `sim.md` §5): online probes every 15 min with offset, drift, random
//! walk, white noise, lag, quantisation, dropouts and spikes; daily offline assays with
//! relative and absolute error, missing samples, single-assay losses, gross outliers and
//! limits of quantification.

use crate::record::{OfflineRow, OnlineRow, TruthRow};
use crate::rng::{Stream, stream_rng};
use crate::scenario::SensorProfile;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Error model of one online signal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OnlineSpec {
    /// White noise σ (absolute, signal unit).
    pub noise_sd: f64,
    /// Relative white noise σ (fraction of the value).
    pub noise_rel_sd: f64,
    /// Per-run offset σ.
    pub offset_sd: f64,
    /// Per-run drift σ, signal unit per day.
    pub drift_sd_per_d: f64,
    /// Random-walk intensity, signal unit per √h.
    pub walk_per_sqrt_h: f64,
    /// Response time t90, s (first-order lag τ = t90/2.3).
    pub t90_s: f64,
    /// Quantisation step.
    pub quantum: f64,
}

/// Spec §5 table.
pub const TEMP: OnlineSpec =
    OnlineSpec { noise_sd: 0.02, noise_rel_sd: 0.0, offset_sd: 0.05, drift_sd_per_d: 0.0, walk_per_sqrt_h: 0.005, t90_s: 20.0, quantum: 0.01 };
pub const PH: OnlineSpec =
    OnlineSpec { noise_sd: 0.005, noise_rel_sd: 0.0, offset_sd: 0.02, drift_sd_per_d: 0.004, walk_per_sqrt_h: 0.001, t90_s: 15.0, quantum: 0.001 };
pub const DO: OnlineSpec =
    OnlineSpec { noise_sd: 0.3, noise_rel_sd: 0.0, offset_sd: 1.0, drift_sd_per_d: 0.07, walk_per_sqrt_h: 0.05, t90_s: 30.0, quantum: 0.1 };
pub const PCO2: OnlineSpec =
    OnlineSpec { noise_sd: 2.0, noise_rel_sd: 0.03, offset_sd: 0.0, drift_sd_per_d: 0.0, walk_per_sqrt_h: 0.0, t90_s: 360.0, quantum: 0.1 };
/// Relative per-run offset of the pCO2 probe (5 %).
pub const PCO2_OFFSET_REL_SD: f64 = 0.05;
pub const RPM_REL_SD: f64 = 0.003;
/// Mass-flow controllers: 0.5 % of full scale noise, 1 % FS offset.
pub const MFC_NOISE_FS: f64 = 0.005;
pub const MFC_OFFSET_FS: f64 = 0.01;
pub const LOAD_CELL_REL_SD: f64 = 0.002;

/// Online dropout and spike probabilities per reading.
pub const P_DROPOUT: f64 = 0.001;
pub const P_SPIKE: f64 = 0.0005;
/// Offline: whole sample missing, one assay missing, gross outlier.
pub const P_SAMPLE_MISSING: f64 = 0.02;
pub const P_ASSAY_MISSING: f64 = 0.01;
pub const P_OUTLIER: f64 = 0.01;

/// Multiplier of σ and drifts for a profile (0 = perfect sensors).
pub fn profile_factor(profile: SensorProfile) -> f64 {
    match profile {
        SensorProfile::None => 0.0,
        SensorProfile::Realistic => 1.0,
        SensorProfile::Degraded => 3.0,
    }
}

/// The random numbers one reading or assay consumes. Always drawn in full, so a stream's
/// sequence never depends on the values measured (same seed ⇒ same noise).
struct Draws {
    z1: f64,
    z2: f64,
    u_missing: f64,
    u_gross: f64,
    u_sign: f64,
    u_mag: f64,
}

impl Draws {
    fn new(rng: &mut ChaCha8Rng) -> Self {
        Self {
            z1: normal(rng, 1.0),
            z2: normal(rng, 1.0),
            u_missing: rng.random(),
            u_gross: rng.random(),
            u_sign: rng.random(),
            u_mag: rng.random(),
        }
    }

    /// A gross error of random sign and magnitude in [lo, hi].
    fn signed(&self, lo: f64, hi: f64) -> f64 {
        let sign = if self.u_sign < 0.5 { -1.0 } else { 1.0 };
        sign * (lo + (hi - lo) * self.u_mag)
    }
}

fn normal(rng: &mut ChaCha8Rng, sd: f64) -> f64 {
    if sd <= 0.0 {
        return 0.0;
    }
    Normal::new(0.0, sd).map(|n| n.sample(rng)).unwrap_or(0.0)
}

/// The stochastic state of one online channel over a run.
#[derive(Debug, Clone)]
pub struct OnlineChannel {
    spec: OnlineSpec,
    factor: f64,
    rng: ChaCha8Rng,
    /// Per-run offset b0 and drift d (per hour): the deterministic part the loops see.
    pub offset: f64,
    pub drift_per_h: f64,
    walk: f64,
    lagged: Option<f64>,
    last_t_h: f64,
    /// Multiplier of the white noise (do_probe_failure `noisy`).
    pub noise_multiplier: f64,
}

impl OnlineChannel {
    pub fn new(seed: u64, stream: Stream, spec: OnlineSpec, profile: SensorProfile) -> Self {
        let factor = profile_factor(profile);
        let mut rng = stream_rng(seed, stream);
        let offset = normal(&mut rng, spec.offset_sd * factor);
        let drift_per_h = normal(&mut rng, spec.drift_sd_per_d * factor) / 24.0;
        Self { spec, factor, rng, offset, drift_per_h, walk: 0.0, lagged: None, last_t_h: 0.0, noise_multiplier: 1.0 }
    }

    /// The deterministic measurement error at `t_h` (what the loops see).
    pub fn bias(&self, t_h: f64) -> f64 {
        self.offset + self.drift_per_h * t_h
    }

    /// A reading at `t_h` of true value `truth`, with `extra_bias` from faults or
    /// re-standardisation. Advances the random walk, lag and noise. `None` = dropout.
    pub fn read(&mut self, t_h: f64, truth: f64, extra_bias: f64) -> Option<f64> {
        let dt = (t_h - self.last_t_h).max(0.0);
        self.last_t_h = t_h;
        if self.factor == 0.0 {
            // A perfect channel reads the truth; its stream is private to this channel and
            // every later reading also returns here, so no draw is needed.
            return Some(truth + extra_bias);
        }
        let d = Draws::new(&mut self.rng);
        self.walk += self.spec.walk_per_sqrt_h * self.factor * dt.sqrt() * d.z1;
        let tau_h = self.spec.t90_s / 2.3 / 3600.0;
        let lagged = match self.lagged {
            Some(prev) if dt > 0.0 => prev + (truth - prev) * (1.0 - (-dt / tau_h).exp()),
            Some(prev) => prev,
            None => truth,
        };
        self.lagged = Some(lagged);
        if d.u_missing < P_DROPOUT {
            return None;
        }
        let sd = (self.spec.noise_sd + self.spec.noise_rel_sd * truth.abs()) * self.factor * self.noise_multiplier;
        let mut y = lagged + self.bias(t_h) + extra_bias + self.walk + sd * d.z2;
        if d.u_gross < P_SPIKE {
            y += d.signed(5.0, 10.0) * sd;
        }
        Some(quantise(y, self.spec.quantum))
    }
}

fn quantise(y: f64, q: f64) -> f64 {
    if q > 0.0 { (y / q).round() * q } else { y }
}

/// True values at an offline sample time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OfflineTruth {
    pub day: u32,
    pub t_h: f64,
    pub vcd_1e6_per_ml: f64,
    pub viability_pct: f64,
    pub glucose_g_per_l: f64,
    pub lactate_g_per_l: f64,
    pub glutamine_mm: f64,
    pub ammonium_mm: f64,
    pub osmolality_mosm_per_kg: f64,
    pub titer_g_per_l: f64,
    pub ph: f64,
    pub pco2_mmhg: f64,
    pub gi_pct: f64,
    pub acidic_pct: f64,
    /// Whether glycan assays are run on this day (days 7, 10 and harvest).
    pub gi_assay: bool,
    pub acidic_assay: bool,
}

/// The offline laboratory: assay errors and sample mishaps.
#[derive(Debug, Clone)]
pub struct OfflineLab {
    factor: f64,
    rng: ChaCha8Rng,
    /// Bias between the offline blood-gas analysers, pH units (± 0.02).
    ph_instrument_bias: f64,
}

/// One assay: relative σ, absolute σ, limit of quantification.
struct Assay {
    name: &'static str,
    rel_sd: f64,
    abs_sd: f64,
    loq: f64,
}

impl OfflineLab {
    pub fn new(seed: u64, profile: SensorProfile) -> Self {
        let factor = profile_factor(profile);
        let mut rng = stream_rng(seed, Stream::Offline);
        let ph_instrument_bias = (rng.random::<f64>() * 2.0 - 1.0) * 0.02 * factor;
        Self { factor, rng, ph_instrument_bias }
    }

    fn assay(&mut self, a: &Assay, truth: f64, flags: &mut Vec<String>) -> Option<f64> {
        let d = Draws::new(&mut self.rng);
        if self.factor == 0.0 {
            return Some(truth);
        }
        if d.u_missing < P_ASSAY_MISSING {
            flags.push(format!("missing:{}", a.name));
            return None;
        }
        let mut y = truth * (1.0 + a.rel_sd * self.factor * d.z1) + a.abs_sd * self.factor * d.z2;
        if d.u_gross < P_OUTLIER {
            if a.name == "ph" {
                // A gross pH error is an offset (e.g. an unequilibrated sample), not a ratio.
                y += d.signed(0.1, 0.25);
            } else {
                y *= 1.0 + d.signed(0.2, 0.5);
            }
            flags.push(format!("outlier:{}", a.name));
        }
        if y < a.loq {
            flags.push(format!("<LOQ:{}", a.name));
            return None;
        }
        Some(y)
    }

    /// Measure one daily sample.
    pub fn measure(&mut self, t: &OfflineTruth) -> OfflineRow {
        let u_missing: f64 = self.rng.random();
        let mut flags = Vec::new();
        let assays = [
            Assay { name: "vcd", rel_sd: 0.06, abs_sd: 0.0, loq: 0.0 },
            Assay { name: "viability", rel_sd: 0.0, abs_sd: 1.5, loq: 0.0 },
            Assay { name: "glucose", rel_sd: 0.025, abs_sd: 0.0, loq: 0.0 },
            Assay { name: "lactate", rel_sd: 0.025, abs_sd: 0.0, loq: 0.0 },
            Assay { name: "glutamine", rel_sd: 0.06, abs_sd: 0.0, loq: 0.0 },
            Assay { name: "ammonium", rel_sd: 0.08, abs_sd: 0.0, loq: 0.1 },
            Assay { name: "osmolality", rel_sd: 0.0, abs_sd: 3.0, loq: 0.0 },
            Assay { name: "titer", rel_sd: 0.03, abs_sd: 0.0, loq: 0.05 },
            Assay { name: "ph", rel_sd: 0.0, abs_sd: 0.01, loq: 0.0 },
            Assay { name: "pco2", rel_sd: 0.05, abs_sd: 0.0, loq: 0.0 },
            Assay { name: "gi", rel_sd: 0.0, abs_sd: 1.0, loq: 0.0 },
            Assay { name: "acidic", rel_sd: 0.0, abs_sd: 1.0, loq: 0.0 },
        ];
        let truths = [
            t.vcd_1e6_per_ml,
            t.viability_pct,
            t.glucose_g_per_l,
            t.lactate_g_per_l,
            t.glutamine_mm,
            t.ammonium_mm,
            t.osmolality_mosm_per_kg,
            t.titer_g_per_l,
            t.ph + self.ph_instrument_bias,
            t.pco2_mmhg,
            t.gi_pct,
            t.acidic_pct,
        ];
        let mut v = [None; 12];
        for (i, (a, truth)) in assays.iter().zip(truths).enumerate() {
            v[i] = self.assay(a, truth, &mut flags);
        }
        // LOQ applies with perfect sensors too (invariant 8 compares above-LOQ values).
        if self.factor == 0.0 {
            for (i, a) in assays.iter().enumerate() {
                if let Some(y) = v[i]
                    && y < a.loq
                {
                    flags.push(format!("<LOQ:{}", a.name));
                    v[i] = None;
                }
            }
        }
        let missing = self.factor > 0.0 && u_missing < P_SAMPLE_MISSING;
        if missing {
            v = [None; 12];
            flags = vec!["missing".to_owned()];
        }
        if !t.gi_assay {
            v[10] = None;
        }
        if !t.acidic_assay {
            v[11] = None;
        }
        let clamp_pct = |x: Option<f64>| x.map(|y| y.clamp(0.0, 100.0));
        OfflineRow {
            day: t.day,
            t_h: t.t_h,
            vcd_1e6_per_ml: v[0].map(|y| y.max(0.0)),
            viability_pct: clamp_pct(v[1]),
            glucose_g_per_l: v[2].map(|y| y.max(0.0)),
            lactate_g_per_l: v[3].map(|y| y.max(0.0)),
            glutamine_mm: v[4].map(|y| y.max(0.0)),
            ammonium_mm: v[5],
            osmolality_mosm_per_kg: v[6],
            titer_g_per_l: v[7],
            ph_offline: v[8],
            pco2_offline_mmhg: v[9].map(|y| y.max(0.0)),
            gi_pct: clamp_pct(v[10]),
            acidic_pct: clamp_pct(v[11]),
            flags: flags.join(";"),
        }
    }
}

/// Perfect sensors (prototype fidelity and reference presets): every online row equals the
/// truth of its 15-min row and every whole day gets an offline row equal to the truth, with
/// GI assayed on days 7, 10 and harvest (`n_days`) and acidic variants at harvest. A truth
/// value that is NaN (not modelled, see [`crate::record::Summary::not_modelled`]) becomes
/// an empty reading.
pub(crate) fn perfect_readings(truth: &[TruthRow], n_days: u32, online_pco2: bool) -> (Vec<OnlineRow>, Vec<OfflineRow>) {
    let online = truth.iter().map(|row| perfect_online_row(row, online_pco2)).collect();
    let offline = truth
        .iter()
        .filter_map(|row| {
            let day = (row.t_h / 24.0).round();
            ((row.t_h - day * 24.0).abs() < 1e-6).then(|| perfect_offline_row(row, day as u32, n_days))
        })
        .collect();
    (online, offline)
}

/// `None` for a value the model does not compute (NaN).
fn known(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
}

fn perfect_online_row(row: &TruthRow, online_pco2: bool) -> OnlineRow {
    OnlineRow {
        t_h: row.t_h,
        temp_c: known(row.temp_c),
        ph: known(row.ph),
        do_pct: known(row.do_pct),
        pco2_mmhg: if online_pco2 { known(row.pco2_mmhg) } else { None },
        agitation_rpm: known(row.agitation_rpm),
        sparge_l_per_min: known(row.sparge_vvm * row.volume_l),
        o2_fraction: known(row.o2_fraction),
        co2_fraction: known(row.co2_fraction),
        volume_l: known(row.volume_l),
        base_added_l: row.base_added_l,
        feed_commanded_l: row.continuous_feed_l + row.bolus_feed_l,
    }
}

fn perfect_offline_row(row: &TruthRow, day: u32, n_days: u32) -> OfflineRow {
    OfflineRow {
        day,
        t_h: row.t_h,
        vcd_1e6_per_ml: known(row.vcd_1e6_per_ml),
        viability_pct: known(row.viability_pct),
        glucose_g_per_l: known(row.glucose_g_per_l),
        lactate_g_per_l: known(row.lactate_g_per_l),
        glutamine_mm: known(row.glutamine_mm),
        ammonium_mm: known(row.ammonium_mm),
        osmolality_mosm_per_kg: known(row.osmolality_mosm_per_kg),
        titer_g_per_l: known(row.titer_g_per_l),
        ph_offline: known(row.ph),
        pco2_offline_mmhg: known(row.pco2_mmhg),
        gi_pct: if day == 7 || day == 10 || day == n_days { known(row.gi_pct) } else { None },
        acidic_pct: if day == n_days { known(row.acidic_pct) } else { None },
        flags: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_profile_reads_truth() {
        let mut c = OnlineChannel::new(1, Stream::OnlinePh, PH, SensorProfile::None);
        for k in 0..100 {
            assert_eq!(c.read(k as f64 * 0.25, 7.0, 0.0), Some(7.0));
        }
        assert_eq!(c.bias(100.0), 0.0);
    }

    #[test]
    fn realistic_noise_has_the_spec_scale() {
        let mut c = OnlineChannel::new(3, Stream::OnlineDo, DO, SensorProfile::Realistic);
        let xs: Vec<f64> = (1..2000).filter_map(|k| c.read(k as f64 * 0.25, 40.0, 0.0)).collect();
        let diffs: Vec<f64> = xs.windows(2).map(|w| w[1] - w[0]).collect();
        let sd = (diffs.iter().map(|d| d * d).sum::<f64>() / diffs.len() as f64).sqrt();
        // Successive differences: √2·0.3 plus walk and quantisation, spikes aside.
        assert!(sd > 0.3 && sd < 1.0, "{sd}");
    }

    #[test]
    fn degraded_is_noisier_than_realistic() {
        let spread = |p| {
            let mut c = OnlineChannel::new(5, Stream::OnlineTemp, TEMP, p);
            let xs: Vec<f64> = (1..500).filter_map(|k| c.read(k as f64 * 0.25, 37.0, 0.0)).collect();
            let m = xs.iter().sum::<f64>() / xs.len() as f64;
            xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64
        };
        assert!(spread(SensorProfile::Degraded) > spread(SensorProfile::Realistic));
    }
}

