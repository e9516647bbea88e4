//! The batch runner: builds the event plan of a validated scenario, integrates the model
//! piecewise between events (outputs every 15 min, samples, boluses, setpoint changes,
//! fault edges) with adaptive Dopri5, and records truth, online and offline data.
//!
//! Split by concept: `plan` (the event plan), `integrate` (piecewise integration and
//! segment inputs), `faults` (fault windows and their effects), `recording` (truth,
//! online and offline rows), `feeds` (boluses) and `summary`. This file holds the
//! public API, the `Runner` and its constructor, the main loop and the event dispatch.

mod faults;
mod feeds;
mod integrate;
mod plan;
mod recording;
mod summary;

pub(crate) use feeds::bolus_dose;
pub(crate) use summary::summarize;

use crate::error::{Result, SimError};
use crate::model::{CultureModel, MeasuredBias, SegmentInputs, StateVec, VesselModel, ix};
use crate::params::KineticParams;
use crate::physics;
use crate::record::{BatchRecord, Event, OfflineRow, OnlineRow, TruthRow};
use crate::rng::{Stream, stream_rng};
use crate::scenario::{DoFailureMode, FaultKind, Fidelity, Preset, Scenario, Signal, ValidScenario};
use crate::sensors::{self, OfflineLab, OnlineChannel};
use faults::{FaultWindow, fault_defaults, random_fault};
use plan::Action;
use rand::Rng;
use rand_distr::{Distribution, Normal};

/// Output interval of truth and online data.
pub const OUTPUT_INTERVAL_H: f64 = 0.25;
/// Initial fill as a fraction of the nominal volume.
pub const INITIAL_FILL_FRACTION: f64 = 0.58;
/// Initial medium (basal): glucose, glutamine, lactate, ammonium, bicarbonate, mM.
pub const BASAL_GLC_MM: f64 = 33.0;
pub const BASAL_GLN_MM: f64 = 8.0;
pub const BASAL_LAC_MM: f64 = 0.5;
pub const BASAL_AMM_MM: f64 = 0.3;
pub const BASAL_HCO3_MM: f64 = 18.0;
pub const BASAL_OSM_MOSM_PER_KG: f64 = 300.0;
/// Tolerance below zero before a concentration counts as a numerical failure.
pub const NEGATIVE_TOLERANCE: f64 = 1e-6;

/// Amounts added by boluses and removed by samples (for the mass-balance invariants).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Ledger {
    pub bolus_l: f64,
    pub sampled_l: f64,
    pub glc_bolus_mmol: f64,
    pub gln_bolus_mmol: f64,
    pub glc_sampled_mmol: f64,
    pub gln_sampled_mmol: f64,
    pub lac_sampled_mmol: f64,
    pub amm_sampled_mmol: f64,
    pub p_sampled_mg: f64,
    pub cells_sampled_e9: f64,
    /// From the solver's accumulators at the end of the run.
    pub base_l: f64,
    pub continuous_feed_l: f64,
    pub glc_continuous_mmol: f64,
    pub glc_used_mmol: f64,
    pub p_made_mg: f64,
    pub initial_volume_l: f64,
    pub final_glc_mmol: f64,
    pub final_p_mg: f64,
    pub final_volume_l: f64,
    /// Cells (viable + dead) × volume at the start and end, grown and lysed, 1e9 cells.
    pub initial_cells_e9: f64,
    pub final_cells_e9: f64,
    pub cells_grown_e9: f64,
    pub cells_lysed_e9: f64,
    /// Work done by the ODE solver over the run (zero for the reference presets and the
    /// prototype fidelity, which use their own integrators).
    pub solver: SolverStats,
}

/// Dopri5 work summed over the integration segments of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SolverStats {
    pub rhs_evaluations: u64,
    pub accepted_steps: u64,
    pub rejected_steps: u64,
    pub segments: u64,
}

impl SolverStats {
    fn add(&mut self, s: &crate::dopri5::Stats) {
        self.rhs_evaluations += u64::from(s.num_eval);
        self.accepted_steps += u64::from(s.accepted_steps);
        self.rejected_steps += u64::from(s.rejected_steps);
        self.segments += 1;
    }
}

/// The solver state plus everything outside the ODE that changes at events.
struct Runner<'a> {
    scenario: &'a Scenario,
    model: CultureModel,
    y: StateVec,
    t_h: f64,
    v0_l: f64,
    ledger: Ledger,
    faults: Vec<FaultWindow>,
    active: Vec<bool>,
    frozen: Vec<Option<f64>>,
    /// Current supplement rate per feed index (g/L/d), after schedule changes.
    glucose_rate: Vec<Option<f64>>,
    ph_correction: f64,
    temp: OnlineChannel,
    ph: OnlineChannel,
    dox: OnlineChannel,
    pco2: OnlineChannel,
    misc_rng: rand_chacha::ChaCha8Rng,
    lab: OfflineLab,
    last_glucose_g_per_l: Option<f64>,
    bolus_commanded_l: f64,
    truth: Vec<TruthRow>,
    online: Vec<OnlineRow>,
    offline: Vec<OfflineRow>,
    events: Vec<Event>,
    mfc_offset: f64,
    initial_cells_e9: f64,
    /// Initial step of the next segment, h (0: let Dopri5 estimate it).
    h_warm: f64,
    solver_stats: SolverStats,
    integrator: Integrator,
}

/// Which Dopri5 integrates the segments: ours ([`crate::dopri5`], the default) or
/// `ode_solvers`' (the bit-for-bit reference, [`simulate_with_reference_integrator`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Integrator {
    Own,
    OdeSolvers,
}

/// Simulate a validated scenario with its own seed.
pub fn simulate(scenario: &ValidScenario) -> Result<BatchRecord> {
    simulate_with_ledger(scenario).map(|(r, _)| r)
}

/// Simulate and also return the bolus/sample ledger (used by the invariant tests).
pub fn simulate_with_ledger(scenario: &ValidScenario) -> Result<(BatchRecord, Ledger)> {
    simulate_using(scenario, Integrator::Own)
}

/// [`simulate_with_ledger`] with `ode_solvers`' Dopri5 instead of [`crate::dopri5`]: the
/// reference the own integrator is tested against (results must be bit-identical). Slower;
/// not for production use.
#[doc(hidden)]
pub fn simulate_with_reference_integrator(scenario: &ValidScenario) -> Result<(BatchRecord, Ledger)> {
    simulate_using(scenario, Integrator::OdeSolvers)
}

fn simulate_using(scenario: &ValidScenario, integrator: Integrator) -> Result<(BatchRecord, Ledger)> {
    let s = scenario.get();
    if s.model.preset != Preset::Platform {
        return crate::presets::scenario_run::simulate(s);
    }
    if s.model.fidelity == Fidelity::Prototype {
        return crate::prototype::simulate(s);
    }
    let mut runner = Runner::new(s)?;
    runner.integrator = integrator;
    let plan = runner.plan();
    let mut idx = 0;
    while idx < plan.len() {
        let t_next = plan[idx].0;
        runner.integrate_to(t_next)?;
        while idx < plan.len() && plan[idx].0 == t_next {
            runner.act(plan[idx].1)?;
            idx += 1;
        }
    }
    let summary = runner.summary();
    let y = runner.y;
    let ledger = Ledger {
        base_l: y[ix::CUM_BASE_L],
        continuous_feed_l: y[ix::CUM_CONT_L],
        glc_continuous_mmol: y[ix::CUM_GLC_IN],
        glc_used_mmol: y[ix::CUM_GLC_USED],
        p_made_mg: y[ix::CUM_P_MADE],
        initial_volume_l: runner.v0_l,
        final_glc_mmol: y[ix::GLC] * y[ix::V],
        final_p_mg: y[ix::P] * y[ix::V],
        final_volume_l: y[ix::V],
        initial_cells_e9: runner.initial_cells_e9,
        final_cells_e9: (y[ix::XV] + y[ix::XD]) * y[ix::V],
        cells_grown_e9: y[ix::CUM_GROWTH],
        cells_lysed_e9: y[ix::CUM_LYSIS],
        solver: runner.solver_stats,
        ..runner.ledger
    };
    Ok((
        BatchRecord { truth: runner.truth, online: runner.online, offline: runner.offline, events: runner.events, summary },
        ledger,
    ))
}

/// Kinetic parameters of a scenario: cell line, overrides, batch variability.
pub fn scenario_params(s: &Scenario) -> Result<KineticParams> {
    let mut p = KineticParams::for_line(&s.cell_line.id)
        .ok_or_else(|| SimError::Invalid(format!("unknown cell line `{}`", s.cell_line.id)))?;
    if s.model.fidelity == Fidelity::Prototype {
        p = p.with_prototype_values();
    }
    for (name, value) in &s.cell_line.overrides {
        p.set(name, *value).map_err(|e| SimError::Invalid(e.to_string()))?;
    }
    if s.variability.enabled {
        let mut rng = stream_rng(s.seed, Stream::Variability);
        let mut ln = |cv: f64| -> f64 {
            let sd = (1.0 + cv * cv).ln().sqrt();
            Normal::new(-sd * sd / 2.0, sd).map(|n| n.sample(&mut rng).exp()).unwrap_or(1.0)
        };
        p.mu_max_per_h *= ln(s.variability.mu_max_cv);
        let qp = ln(s.variability.qp_cv);
        p.alpha_mg_per_e9 *= qp;
        p.beta_mg_per_e9_h *= qp;
        p.y_x_glc_e9_per_mmol *= ln(s.variability.yield_cv);
    }
    Ok(p)
}

impl<'a> Runner<'a> {
    fn new(s: &'a Scenario) -> Result<Self> {
        let params = scenario_params(s)?;
        let vessel = VesselModel::new(&s.vessel);
        let v0_l = INITIAL_FILL_FRACTION * s.vessel.nominal_volume_l;
        let duration_h = s.duration_d * 24.0;
        let mut faults: Vec<FaultWindow> = s
            .faults
            .iter()
            .cloned()
            .chain(random_fault(s))
            .map(|f| {
                let start_h = f.start_d * 24.0;
                let dur = f.duration_h.or_else(|| fault_defaults(f.kind).filter(|_| f.kind != FaultKind::SensorDrift));
                let end_h = dur.map_or(duration_h, |d| (start_h + d).min(duration_h));
                FaultWindow { fault: f, start_h, end_h }
            })
            .collect();
        // Contamination never cures: its effect lasts to the end of the run.
        for w in &mut faults {
            if w.fault.kind == FaultKind::Contamination {
                w.end_h = duration_h;
            }
        }
        let n_faults = faults.len();
        let profile = s.sensors.profile;
        let temp0 = s.setpoints.temp_c;
        let s_o2 = physics::s_o2_mm_per_atm(temp0);
        let via = (s.inoculum.viability_pct / 100.0).clamp(1e-6, 1.0);
        let xv0 = s.inoculum.vcd_e6_per_ml;
        let mut y = StateVec::zeros();
        y[ix::V] = v0_l;
        y[ix::XV] = xv0;
        y[ix::XD] = xv0 * (1.0 - via) / via;
        y[ix::GLC] = BASAL_GLC_MM;
        y[ix::GLN] = BASAL_GLN_MM;
        y[ix::LAC] = BASAL_LAC_MM;
        y[ix::AMM] = BASAL_AMM_MM;
        y[ix::ALK] = BASAL_HCO3_MM;
        y[ix::NA] = BASAL_HCO3_MM;
        y[ix::OSM_F] = BASAL_OSM_MOSM_PER_KG
            - (BASAL_GLC_MM + BASAL_GLN_MM + BASAL_LAC_MM + BASAL_AMM_MM + 2.0 * BASAL_HCO3_MM);
        y[ix::CO2] = BASAL_HCO3_MM / 10f64.powf(s.setpoints.ph - 6.1);
        y[ix::DO] = s.setpoints.do_pct / 100.0 * physics::Y_O2_AIR * s_o2;
        y[ix::T_L] = temp0;
        y[ix::T_AD] = temp0;
        let n_outputs = (s.duration_d * 24.0 / OUTPUT_INTERVAL_H) as usize + 2;
        let model = CultureModel::new(
            params,
            vessel,
            SegmentInputs {
                temp_sp_c: temp0,
                temp_ramp: None,
                temp_override_c: None,
                ph_sp: s.setpoints.ph,
                ph_deadband: s.setpoints.ph_deadband,
                do_sp_pct: s.setpoints.do_pct,
                sparge_vvm: s.vessel.sparge_vvm,
                max_sparge_vvm: s.vessel.max_sparge_vvm,
                temp_meas: MeasuredBias::NONE,
                ph_meas: MeasuredBias::NONE,
                do_meas: MeasuredBias::NONE,
                streams: Vec::new(),
                extra_death_per_h: 0.0,
            },
        );
        let mut misc_rng = stream_rng(s.seed, Stream::OnlineGas);
        let mfc_offset = (misc_rng.random::<f64>() * 2.0 - 1.0) * sensors::MFC_OFFSET_FS * sensors::profile_factor(profile);
        let mut r = Self {
            scenario: s,
            model,
            y,
            t_h: 0.0,
            v0_l,
            ledger: Ledger::default(),
            active: vec![false; n_faults],
            frozen: vec![None; n_faults],
            faults,
            glucose_rate: s.feeds.iter().map(|f| f.glucose_g_per_l_per_d).collect(),
            ph_correction: 0.0,
            h_warm: 0.0,
            solver_stats: SolverStats::default(),
            integrator: Integrator::Own,
            temp: OnlineChannel::new(s.seed, Stream::OnlineTemp, sensors::TEMP, profile),
            ph: OnlineChannel::new(s.seed, Stream::OnlinePh, sensors::PH, profile),
            dox: OnlineChannel::new(s.seed, Stream::OnlineDo, sensors::DO, profile),
            pco2: OnlineChannel::new(s.seed, Stream::OnlinePco2, sensors::PCO2, profile),
            misc_rng,
            lab: OfflineLab::new(s.seed, profile),
            last_glucose_g_per_l: None,
            bolus_commanded_l: 0.0,
            // One truth and one online row per output time: reserved once instead of grown.
            truth: Vec::with_capacity(n_outputs),
            online: Vec::with_capacity(n_outputs),
            offline: Vec::new(),
            events: Vec::new(),
            mfc_offset,
            initial_cells_e9: (y[ix::XV] + y[ix::XD]) * v0_l,
        };
        // pCO2 probe offset is relative (5 %): folded into the channel as a scale below.
        r.pco2.offset = 0.0;
        r.update_inputs();
        Ok(r)
    }

    fn duration_h(&self) -> f64 {
        self.scenario.duration_d * 24.0
    }

    fn event(&mut self, kind: &str, detail: String, volume_l: f64) {
        self.events.push(Event { t_h: self.t_h, kind: kind.to_owned(), detail, volume_l });
    }

    fn act(&mut self, action: Action) -> Result<()> {
        match action {
            Action::Output => self.record(),
            Action::Sample(day) => self.sample(day),
            Action::Bolus(i) => self.bolus(i),
            Action::Schedule(i) => {
                let st = self.scenario.schedule[i].clone();
                let inp = &mut self.model.inputs;
                let mut parts = Vec::new();
                if let Some(t) = st.temp_c {
                    let from = self.y[ix::T_L];
                    inp.temp_ramp = st.ramp_h.filter(|r| *r > 0.0).map(|r| (self.t_h, from, self.t_h + r));
                    inp.temp_sp_c = t;
                    parts.push(format!("temp_c={t}"));
                }
                if let Some(ph) = st.ph {
                    inp.ph_sp = ph;
                    parts.push(format!("ph={ph}"));
                }
                if let Some(d) = st.do_pct {
                    inp.do_sp_pct = d;
                    parts.push(format!("do_pct={d}"));
                }
                if let Some(v) = st.sparge_vvm {
                    inp.sparge_vvm = v;
                    inp.max_sparge_vvm = inp.max_sparge_vvm.max(v);
                    parts.push(format!("sparge_vvm={v}"));
                }
                if let Some(g) = st.glucose_g_per_l_per_d {
                    for (r, f) in self.glucose_rate.iter_mut().zip(&self.scenario.feeds) {
                        if f.glucose_g_per_l_per_d.is_some() {
                            *r = Some(g);
                        }
                    }
                    parts.push(format!("glucose_g_per_l_per_d={g}"));
                }
                self.event("setpoint", parts.join(" "), 0.0);
                self.update_inputs();
            }
            Action::FeedEdge => self.update_inputs(),
            Action::FaultStart(i) => {
                if self.faults[i].start_h < self.duration_h() || self.faults[i].start_h == 0.0 {
                    let f = self.faults[i].fault.clone();
                    // A stuck or dropped-out probe freezes at what the loop saw last.
                    let d = self.model.derived(self.t_h, &self.y);
                    self.frozen[i] = match (f.kind, f.signal, f.mode) {
                        (FaultKind::StuckSensor, Some(Signal::Temp), _) => Some(self.model.inputs.temp_meas.apply(self.t_h, self.y[ix::T_L])),
                        (FaultKind::StuckSensor, Some(Signal::Ph), _) => Some(self.model.inputs.ph_meas.apply(self.t_h, d.ph)),
                        (FaultKind::StuckSensor, Some(Signal::Do), _) | (FaultKind::DoProbeFailure, _, Some(DoFailureMode::Dropout)) => {
                            Some(self.model.inputs.do_meas.apply(self.t_h, d.do_pct))
                        }
                        (FaultKind::StuckSensor, Some(Signal::Pco2), _) => Some(d.pco2_mmhg),
                        _ => None,
                    };
                    if f.kind == FaultKind::Contamination {
                        self.y[ix::B] += f.b0_g_per_l.unwrap_or(1e-6);
                    }
                    self.active[i] = true;
                    self.event("fault_start", f.kind.as_str().to_owned(), 0.0);
                    self.update_inputs();
                }
            }
            Action::FaultEnd(i) => {
                if self.active[i] && self.faults[i].end_h < self.duration_h() {
                    self.active[i] = false;
                    let kind = self.faults[i].fault.kind.as_str().to_owned();
                    self.event("fault_end", kind, 0.0);
                    self.update_inputs();
                }
            }
        }
        Ok(())
    }
}

/// FNV-1a hash of the scenario's canonical JSON: identifies the exact inputs of a run.
pub fn scenario_hash(s: &Scenario) -> String {
    let json = serde_json::to_string(s).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in json.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
