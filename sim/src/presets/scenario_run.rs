//! `[model] preset = "insilicho" | "xing2010"` (spec `sim.md` §2.8): a scenario run through
//! one of the reference models, recorded like any other run (truth on the 15-min grid,
//! perfect online readings, daily offline rows equal to the truth, summary).
//!
//! The reference models have their own fixed parameters and far fewer states than the
//! platform model. What they do not compute is reported as not modelled, never invented:
//! NaN in the truth rows, empty online/offline readings, `null` in summary.json, and the
//! column names listed in [`crate::record::Summary::not_modelled`] ([`INSILICHO_NOT_MODELLED`],
//! [`XING2010_NOT_MODELLED`]). Both presets have no vessel, so the summary's kLa, tip speed,
//! mixing time and Kolmogorov scale are `null` too, and `summary.cell_line` names the preset.
//!
//! # Scenario → `insilicho` ([`super::insilicho::simulate`])
//!
//! | scenario field | InSiliCHO input |
//! |---|---|
//! | `duration_d` | output times 0, 0.25, …, 24·duration_d h |
//! | `vessel.nominal_volume_l` | V0 = 0.58 × nominal (the platform's initial fill) |
//! | `inoculum.vcd_e6_per_ml` | Xv0 = Xt0 (cells/L = 1e9 × 1e6/mL) |
//! | basal medium of the platform | glucose 33 mM, glutamine 8 mM at t = 0 |
//! | `setpoints.temp_c` | temperature |
//! | one `schedule` step with `temp_c` only | the temperature step (time, new value) |
//! | `setpoints.ph` | the constant pH (it scales growth) |
//! | at most one continuous feed with `volume_pct_of_initial`, `start_d = 0`, `end_d ≥ duration_d` | constant feed F = pct/100 · V0 / 24 L/h; `glucose_mm`, `glutamine_mm` (0 when absent, as for the platform) are the feed concentrations |
//!
//! Reported: volume, Xv, dead cells (Xt − Xv) and viability, glucose, glutamine, lactate
//! (the package's signed root, which can dip slightly below 0), ammonium, titer,
//! temperature, pH, feed volume; base is 0 (pH is a fixed input, no titrant).
//!
//! # Scenario → `xing2010` ([`super::xing2010::simulate`])
//!
//! A batch: X0 = `inoculum.vcd_e6_per_ml`, glucose 33 mM and glutamine 8 mM (the platform's
//! basal medium), constant volume V0 = 0.58 × nominal, output every 15 min to `duration_d`.
//! Reported: VCD, glucose, glutamine, lactate, ammonium, volume. The model has no dead
//! cells (so no viability), no product, and no temperature, pH or DO effects.
//!
//! # Ignored by both presets
//!
//! `inoculum.viability_pct` (the models start at 100 % viable), `setpoints.do_pct`,
//! `setpoints.ph_deadband`, the vessel's sparger, impeller, agitation and gassing, `sensors`
//! (readings are perfect and no samples are taken), `seed` (nothing is random), and
//! `model.rtol` (the presets integrate at rtol 1e-10, atol 1e-12). `xing2010` also ignores
//! `setpoints.temp_c` and `setpoints.ph`.
//!
//! # Rejected by validation ([`unsupported`])
//!
//! `fidelity = "prototype"`, faults, `random_fault.probability > 0`, variability,
//! cell-line parameter overrides, schedule steps the preset cannot follow, and feeds the
//! preset cannot represent (all feeds for `xing2010`; bolus, dosed or time-limited feeds or
//! more than one feed for `insilicho`).

use super::insilicho::{self, InsilichoParams, InsilichoPoint, InsilichoRun};
use super::xing2010::{self, XingParams, XingPoint};
use crate::error::{Result, SimError};
use crate::model::{GLUCOSE_G_PER_MOL, LACTATE_G_PER_MOL};
use crate::record::{BatchRecord, Event, Summary, TruthRow};
use crate::run::{self, Ledger, OUTPUT_INTERVAL_H};
use crate::scenario::{FeedKind, Fidelity, Preset, Scenario};
use crate::sensors;

/// Truth columns the `insilicho` preset does not compute.
pub const INSILICHO_NOT_MODELLED: [&str; 18] = [
    "gi_pct",
    "acidic_pct",
    "do_pct",
    "dissolved_o2_mm",
    "pco2_mmhg",
    "alkalinity_mm",
    "sodium_mm",
    "osmolality_mosm_per_kg",
    "contaminant_g_per_l",
    "mu_per_h",
    "death_rate_per_h",
    "qp_pg_per_cell_per_day",
    "our_mm_per_h",
    "kla_o2_per_h",
    "sparge_vvm",
    "agitation_rpm",
    "o2_fraction",
    "co2_fraction",
];

/// Truth columns the `xing2010` preset does not compute.
pub const XING2010_NOT_MODELLED: [&str; 24] = [
    "dead_cells_1e6_per_ml",
    "viability_pct",
    "titer_g_per_l",
    "gi_pct",
    "acidic_pct",
    "do_pct",
    "dissolved_o2_mm",
    "pco2_mmhg",
    "ph",
    "alkalinity_mm",
    "sodium_mm",
    "osmolality_mosm_per_kg",
    "temp_c",
    "temp_setpoint_eff_c",
    "contaminant_g_per_l",
    "mu_per_h",
    "death_rate_per_h",
    "qp_pg_per_cell_per_day",
    "our_mm_per_h",
    "kla_o2_per_h",
    "sparge_vvm",
    "agitation_rpm",
    "o2_fraction",
    "co2_fraction",
];

/// The inputs of one `xing2010` batch.
#[derive(Debug, Clone, PartialEq)]
pub struct XingInputs {
    pub params: XingParams,
    pub x0_1e6_per_ml: f64,
    pub glc0_mm: f64,
    pub gln0_mm: f64,
}

/// Simulate a scenario whose `model.preset` is a reference model.
pub(crate) fn simulate(s: &Scenario) -> Result<(BatchRecord, Ledger)> {
    let problems = unsupported(s);
    if let Some((_, message)) = problems.first() {
        return Err(SimError::Invalid(message.clone()));
    }
    let times_h = output_times_h(s.duration_d);
    let v0_l = initial_volume_l(s);
    let (truth, events, not_modelled) = match s.model.preset {
        Preset::Insilicho => {
            let (p, r) = insilicho_inputs(s)?;
            let points = insilicho::simulate(&p, &r, &times_h)?;
            let truth = points.iter().map(|pt| insilicho_row(pt, &r)).collect();
            (truth, temperature_step_event(&r), INSILICHO_NOT_MODELLED.as_slice())
        }
        Preset::Xing2010 => {
            let x = xing_inputs(s);
            let points = xing2010::simulate(&x.params, x.x0_1e6_per_ml, x.glc0_mm, x.gln0_mm, &times_h)?;
            (points.iter().map(|pt| xing_row(pt, v0_l)).collect(), Vec::new(), XING2010_NOT_MODELLED.as_slice())
        }
        Preset::Platform => return Err(SimError::Invalid("model.preset = \"platform\" is not a reference preset".to_owned())),
    };
    Ok(record(s, truth, events, not_modelled, v0_l))
}

/// Everything in `s` that the scenario's preset cannot honour, as (field path, message).
/// Empty for `preset = "platform"`. Validation reports each entry as an error.
pub fn unsupported(s: &Scenario) -> Vec<(String, String)> {
    let preset = s.model.preset;
    if preset == Preset::Platform {
        return Vec::new();
    }
    let name = preset.as_str();
    let mut out = Vec::new();
    let mut push = |path: String, why: String| {
        let message = format!("{path}: {why}");
        out.push((path, message));
    };
    if s.model.fidelity == Fidelity::Prototype {
        push(
            "model.fidelity".to_owned(),
            format!("fidelity = \"prototype\" applies to preset = \"platform\" only; with preset = \"{name}\" use fidelity = \"default\""),
        );
    }
    if !s.faults.is_empty() {
        push("faults".to_owned(), format!("preset = \"{name}\" does not model faults; remove [[faults]]"));
    }
    if s.random_fault.probability > 0.0 {
        push("random_fault.probability".to_owned(), format!("preset = \"{name}\" does not model faults; set it to 0"));
    }
    if s.variability.enabled {
        push("variability.enabled".to_owned(), format!("preset = \"{name}\" has fixed parameters; batch variability applies to preset = \"platform\" only"));
    }
    if let Some(key) = s.cell_line.overrides.keys().next() {
        push(
            format!("cell_line.overrides.{key}"),
            format!("parameter overrides apply to preset = \"platform\" only; preset = \"{name}\" has its own fixed parameters"),
        );
    }
    for (path, why) in schedule_problems(s).into_iter().chain(feed_problems(s)) {
        push(path, why);
    }
    out
}

/// The `insilicho` parameters and run conditions of a scenario (mapping in the module docs).
pub fn insilicho_inputs(s: &Scenario) -> Result<(InsilichoParams, InsilichoRun)> {
    let v0_l = initial_volume_l(s);
    let mut params = InsilichoParams::default();
    let mut feed_l_per_h = 0.0;
    if let Some(f) = s.feeds.first() {
        let pct = f.volume_pct_of_initial.ok_or_else(|| SimError::Invalid("feeds[0].volume_pct_of_initial is required by preset = \"insilicho\"".to_owned()))?;
        feed_l_per_h = pct / 100.0 * v0_l / 24.0;
        params.feed_glc_mm = f.glucose_mm.unwrap_or(0.0);
        params.feed_gln_mm = f.glutamine_mm.unwrap_or(0.0);
    }
    let temp_step = s.schedule.first().and_then(|st| st.temp_c.map(|t| (st.at_d * 24.0, t)));
    let run = InsilichoRun {
        feed_l_per_h,
        temp_c: s.setpoints.temp_c,
        temp_step,
        ph: s.setpoints.ph,
        volume0_l: v0_l,
        xv0_cells_per_l: s.inoculum.vcd_e6_per_ml * 1e9,
        glc0_mm: run::BASAL_GLC_MM,
        gln0_mm: run::BASAL_GLN_MM,
    };
    Ok((params, run))
}

/// The `xing2010` inputs of a scenario (mapping in the module docs).
pub fn xing_inputs(s: &Scenario) -> XingInputs {
    XingInputs { params: XingParams::default(), x0_1e6_per_ml: s.inoculum.vcd_e6_per_ml, glc0_mm: run::BASAL_GLC_MM, gln0_mm: run::BASAL_GLN_MM }
}

/// 0, 0.25, 0.5, … h up to the run's end (which is added if it is off the grid).
pub fn output_times_h(duration_d: f64) -> Vec<f64> {
    let end_h = duration_d * 24.0;
    let n_steps = (end_h / OUTPUT_INTERVAL_H + 1e-9).floor() as u64;
    let mut times: Vec<f64> = (0..=n_steps).map(|k| k as f64 * OUTPUT_INTERVAL_H).collect();
    if times.last().is_some_and(|t| end_h - t > 1e-9) {
        times.push(end_h);
    }
    times
}

fn initial_volume_l(s: &Scenario) -> f64 {
    run::INITIAL_FILL_FRACTION * s.vessel.nominal_volume_l
}

fn schedule_problems(s: &Scenario) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, st) in s.schedule.iter().enumerate() {
        let p = format!("schedule[{i}]");
        if s.model.preset == Preset::Xing2010 {
            out.push((p, "preset = \"xing2010\" has no temperature, pH or DO effects and no feeds; remove the schedule".to_owned()));
            continue;
        }
        if i > 0 {
            out.push((p, "preset = \"insilicho\" takes at most one schedule step (one temperature step)".to_owned()));
            continue;
        }
        let others = [
            ("ramp_h", st.ramp_h.is_some()),
            ("ph", st.ph.is_some()),
            ("do_pct", st.do_pct.is_some()),
            ("glucose_g_per_l_per_d", st.glucose_g_per_l_per_d.is_some()),
            ("sparge_vvm", st.sparge_vvm.is_some()),
        ];
        for (field, _) in others.iter().filter(|(_, present)| *present) {
            out.push((format!("{p}.{field}"), "preset = \"insilicho\" follows a temperature step only; allowed in a schedule step: at_d, temp_c".to_owned()));
        }
        if st.temp_c.is_none() {
            out.push((format!("{p}.temp_c"), "preset = \"insilicho\" needs temp_c in its schedule step (a temperature step)".to_owned()));
        }
    }
    out
}

fn feed_problems(s: &Scenario) -> Vec<(String, String)> {
    let name = s.model.preset.as_str();
    let mut out = Vec::new();
    for (i, f) in s.feeds.iter().enumerate() {
        let p = format!("feeds[{i}]");
        let mut bad = |field: &str, why: &str| out.push((format!("{p}{field}"), format!("{why} (write `feeds = []` for a batch; without [[feeds]] the platform's default feed plan applies)")));
        if s.model.preset == Preset::Xing2010 {
            bad("", "preset = \"xing2010\" is a batch model without feeds");
            continue;
        }
        if i > 0 {
            bad("", "preset = \"insilicho\" takes at most one feed (a constant flow)");
            continue;
        }
        if f.kind != FeedKind::Continuous {
            bad(".kind", &format!("preset = \"{name}\" takes a constant flow only; expected kind = \"continuous\""));
            continue;
        }
        if f.volume_pct_of_initial.is_none() || f.glucose_g_per_l_per_d.is_some() || f.stock_glucose_g_per_l.is_some() {
            bad("", "preset = \"insilicho\" takes a feed given by volume_pct_of_initial (with glucose_mm, glutamine_mm), not a glucose dose");
        }
        if f.start_d != 0.0 {
            bad(".start_d", "preset = \"insilicho\" feeds at a constant rate from the start; expected start_d = 0");
        }
        if f.end_d < s.duration_d {
            bad(".end_d", "preset = \"insilicho\" feeds at a constant rate to the end; expected end_d ≥ duration_d");
        }
        if f.osmolality_mosm_per_kg.is_some() {
            bad(".osmolality_mosm_per_kg", "preset = \"insilicho\" has no osmolality");
        }
    }
    out
}

/// A truth row with every column not modelled (NaN) and no base, feed or samples.
fn unmodelled_row(t_h: f64) -> TruthRow {
    let nan = f64::NAN;
    TruthRow {
        t_h,
        volume_l: nan,
        vcd_1e6_per_ml: nan,
        dead_cells_1e6_per_ml: nan,
        viability_pct: nan,
        glucose_mm: nan,
        glucose_g_per_l: nan,
        glutamine_mm: nan,
        lactate_mm: nan,
        lactate_g_per_l: nan,
        ammonium_mm: nan,
        titer_g_per_l: nan,
        gi_pct: nan,
        acidic_pct: nan,
        do_pct: nan,
        dissolved_o2_mm: nan,
        pco2_mmhg: nan,
        ph: nan,
        alkalinity_mm: nan,
        sodium_mm: nan,
        osmolality_mosm_per_kg: nan,
        temp_c: nan,
        temp_setpoint_eff_c: nan,
        contaminant_g_per_l: nan,
        mu_per_h: nan,
        death_rate_per_h: nan,
        qp_pg_per_cell_per_day: nan,
        our_mm_per_h: nan,
        kla_o2_per_h: nan,
        sparge_vvm: nan,
        agitation_rpm: nan,
        o2_fraction: nan,
        co2_fraction: nan,
        base_rate_meq_per_l_per_h: 0.0,
        base_added_l: 0.0,
        continuous_feed_l: 0.0,
        bolus_feed_l: 0.0,
        sampled_l: 0.0,
    }
}

fn insilicho_row(pt: &InsilichoPoint, r: &InsilichoRun) -> TruthRow {
    let temp_c = match r.temp_step {
        Some((t_step_h, t_c)) if pt.t_h >= t_step_h => t_c,
        _ => r.temp_c,
    };
    let xt = pt.xt_1e6_per_ml;
    TruthRow {
        volume_l: pt.volume_l,
        vcd_1e6_per_ml: pt.xv_1e6_per_ml,
        dead_cells_1e6_per_ml: xt - pt.xv_1e6_per_ml,
        viability_pct: if xt > 0.0 { 100.0 * pt.xv_1e6_per_ml / xt } else { 0.0 },
        glucose_mm: pt.glucose_mm,
        glucose_g_per_l: pt.glucose_mm * GLUCOSE_G_PER_MOL / 1000.0,
        glutamine_mm: pt.glutamine_mm,
        lactate_mm: pt.lactate_mm,
        lactate_g_per_l: pt.lactate_mm * LACTATE_G_PER_MOL / 1000.0,
        ammonium_mm: pt.ammonia_mm,
        titer_g_per_l: pt.mab_mg_per_l / 1000.0,
        ph: r.ph,
        temp_c,
        temp_setpoint_eff_c: temp_c,
        continuous_feed_l: pt.volume_l - r.volume0_l,
        ..unmodelled_row(pt.t_h)
    }
}

fn xing_row(pt: &XingPoint, v0_l: f64) -> TruthRow {
    TruthRow {
        volume_l: v0_l,
        vcd_1e6_per_ml: pt.vcd_1e6_per_ml,
        glucose_mm: pt.glucose_mm,
        glucose_g_per_l: pt.glucose_mm * GLUCOSE_G_PER_MOL / 1000.0,
        glutamine_mm: pt.glutamine_mm,
        lactate_mm: pt.lactate_mm,
        lactate_g_per_l: pt.lactate_mm * LACTATE_G_PER_MOL / 1000.0,
        ammonium_mm: pt.ammonia_mm,
        ..unmodelled_row(pt.t_h)
    }
}

fn temperature_step_event(r: &InsilichoRun) -> Vec<Event> {
    r.temp_step
        .map(|(t_h, temp_c)| Event { t_h, kind: "setpoint".to_owned(), detail: format!("temp_c={temp_c}"), volume_l: 0.0 })
        .into_iter()
        .collect()
}

/// Perfect readings, the shared summary and the ledger of a preset run.
fn record(s: &Scenario, truth: Vec<TruthRow>, events: Vec<Event>, not_modelled: &[&str], v0_l: f64) -> (BatchRecord, Ledger) {
    let n_days = (s.duration_d + 1e-9).floor() as u32;
    let (online, offline) = sensors::perfect_readings(&truth, n_days, s.sensors.online_pco2);
    let summary = Summary {
        cell_line: s.model.preset.as_str().to_owned(),
        not_modelled: not_modelled.iter().map(|c| (*c).to_owned()).collect(),
        ..run::summarize(s, &truth, None, Vec::new())
    };
    let last = truth.last();
    let ledger = Ledger {
        initial_volume_l: v0_l,
        final_volume_l: last.map_or(v0_l, |r| r.volume_l),
        continuous_feed_l: last.map_or(0.0, |r| r.continuous_feed_l),
        ..Ledger::default()
    };
    (BatchRecord { truth, online, offline, events, summary }, ledger)
}
