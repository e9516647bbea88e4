//! The summary of a run: final and peak values, productivity, vessel flags and fault labels.

use super::faults::fault_detail;
use super::{Runner, scenario_hash};
use crate::physics::{self, OperatingPoint};
use crate::record::{FaultLabel, Summary, TruthRow};
use crate::scenario::Scenario;

impl Runner<'_> {
    pub(super) fn summary(&self) -> Summary {
        let faults = self
            .faults
            .iter()
            .map(|w| FaultLabel { kind: w.fault.kind.as_str().to_owned(), start_h: w.start_h, end_h: w.end_h, detail: fault_detail(&w.fault) })
            .collect();
        summarize(self.scenario, &self.truth, Some(&self.model.vessel.geometry), faults)
    }
}

/// The summary of a run from its truth rows (every fidelity and preset).
///
/// A column that is NaN in any row (not modelled by a reference preset) gives NaN for the
/// summary fields derived from it. `geometry` is `None` for models without a vessel (the
/// reference presets): kLa, tip speed, mixing time and Kolmogorov scale are then NaN and
/// no vessel flags are raised.
pub(crate) fn summarize(s: &Scenario, rows: &[TruthRow], geometry: Option<&physics::Geometry>, faults: Vec<FaultLabel>) -> Summary {
    let last = rows.last();
    let fin = |f: fn(&TruthRow) -> f64| last.map_or(0.0, f);
    let has_nan = |f: fn(&TruthRow) -> f64| rows.iter().any(|r| f(r).is_nan());
    let peak = |f: fn(&TruthRow) -> f64| {
        if has_nan(f) { f64::NAN } else { rows.iter().map(f).fold(f64::NEG_INFINITY, f64::max).max(0.0) }
    };
    let argmax_day = |f: fn(&TruthRow) -> f64| {
        if has_nan(f) {
            return f64::NAN;
        }
        rows.iter().max_by(|a, b| f(a).total_cmp(&f(b))).map_or(0.0, |r| r.t_h / 24.0)
    };
    let ivcd: f64 = rows.windows(2).map(|w| 0.5 * (w[0].vcd_1e6_per_ml + w[1].vcd_1e6_per_ml) * (w[1].t_h - w[0].t_h) / 24.0).sum();
    let titer = fin(|r| r.titer_g_per_l);
    let daily_pco2 = (1..=(s.duration_d.floor() as usize))
        .map(|d| {
            let day_rows: Vec<f64> =
                rows.iter().filter(|r| r.t_h > (d - 1) as f64 * 24.0 && r.t_h <= d as f64 * 24.0).map(|r| r.pco2_mmhg).collect();
            day_rows.iter().sum::<f64>() / day_rows.len().max(1) as f64
        })
        .skip(1)
        .fold(0.0, max_or_nan);
    let mut flags = Vec::new();
    if let Some(g) = geometry {
        if g.tip_speed_m_per_s > 1.5 {
            flags.push(format!("tip speed {:.2} m/s exceeds 1.5 m/s", g.tip_speed_m_per_s));
        }
        if g.kolmogorov_um < 20.0 {
            flags.push(format!("Kolmogorov scale {:.1} µm is below 20 µm", g.kolmogorov_um));
        }
    }
    let vessel = |f: fn(&physics::Geometry) -> f64| geometry.map_or(f64::NAN, f);
    Summary {
        scenario: s.name.clone(),
        seed: s.seed,
        scenario_hash: scenario_hash(s),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        cell_line: s.cell_line.id.clone(),
        nominal_volume_l: s.vessel.nominal_volume_l,
        duration_d: s.duration_d,
        final_titer_g_per_l: titer,
        peak_vcd_e6_per_ml: peak(|r| r.vcd_1e6_per_ml),
        peak_vcd_day: argmax_day(|r| r.vcd_1e6_per_ml),
        ivcd_e6_cell_day_per_ml: ivcd,
        mean_productivity_g_per_l_per_day: titer / s.duration_d,
        specific_productivity_pg_per_cell_per_day: if ivcd.is_nan() || ivcd > 0.0 { titer / ivcd * 1000.0 } else { 0.0 },
        final_viability_pct: fin(|r| r.viability_pct),
        peak_lactate_g_per_l: peak(|r| r.lactate_g_per_l),
        peak_lactate_mm: peak(|r| r.lactate_mm),
        peak_lactate_day: argmax_day(|r| r.lactate_mm),
        peak_ammonium_mm: peak(|r| r.ammonium_mm),
        peak_osmolality_mosm_per_kg: peak(|r| r.osmolality_mosm_per_kg),
        peak_pco2_mmhg: peak(|r| r.pco2_mmhg),
        peak_daily_pco2_mmhg: daily_pco2,
        final_cqa: fin(|r| r.gi_pct),
        final_gi_pct: fin(|r| r.gi_pct),
        final_acidic_pct: fin(|r| r.acidic_pct),
        harvest_volume_l: fin(|r| r.volume_l),
        base_added_l: fin(|r| r.base_added_l),
        kla_o2_per_h: geometry.map_or(f64::NAN, |_| OperatingPoint::of(&s.vessel).kla_o2_per_h),
        tip_speed_m_per_s: vessel(|g| g.tip_speed_m_per_s),
        mixing_time_95_s: vessel(|g| g.mixing_time_95_s),
        kolmogorov_um: vessel(|g| g.kolmogorov_um),
        flags,
        faults,
        not_modelled: Vec::new(),
    }
}

/// `max` that propagates NaN (`f64::max` drops it).
fn max_or_nan(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}
