//! The batch runner: builds the event plan of a validated scenario, integrates the model
//! piecewise between events (outputs every 15 min, samples, boluses, setpoint changes,
//! fault edges) with adaptive Dopri5, and records truth, online and offline data.

use crate::error::{Result, SimError};
use crate::model::{self, ContinuousStream, CultureModel, MeasuredBias, SegmentInputs, StateVec, VesselModel, ix};
use crate::params::KineticParams;
use crate::physics::{self, OperatingPoint};
use crate::record::{BatchRecord, Event, FaultLabel, OfflineRow, OnlineRow, Summary, TruthRow};
use crate::rng::{Stream, stream_rng};
use crate::scenario::{DoFailureMode, Fault, FaultKind, Feed, FeedKind, Fidelity, Preset, Scenario, Signal, ValidScenario};
use crate::sensors::{self, OfflineLab, OfflineTruth, OnlineChannel};
use ode_solvers::dop_shared::OutputType;
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
}

/// A fault resolved to a time window and concrete magnitudes.
#[derive(Debug, Clone, PartialEq)]
struct FaultWindow {
    fault: Fault,
    start_h: f64,
    end_h: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    FaultEnd(usize),
    FaultStart(usize),
    Schedule(usize),
    FeedEdge,
    Output,
    Sample(u32),
    Bolus(usize),
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
}

/// Simulate a validated scenario with its own seed.
pub fn simulate(scenario: &ValidScenario) -> Result<BatchRecord> {
    simulate_with_ledger(scenario).map(|(r, _)| r)
}

/// Simulate and also return the bolus/sample ledger (used by the invariant tests).
pub fn simulate_with_ledger(scenario: &ValidScenario) -> Result<(BatchRecord, Ledger)> {
    let s = scenario.get();
    if s.model.preset != Preset::Platform {
        return crate::presets::scenario_run::simulate(s);
    }
    if s.model.fidelity == Fidelity::Prototype {
        return crate::prototype::simulate(s);
    }
    let mut runner = Runner::new(s)?;
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

/// Default magnitude of a fault kind's main parameter and its default duration (h).
fn fault_defaults(kind: FaultKind) -> Option<f64> {
    match kind {
        FaultKind::TemperatureExcursion => Some(6.0),
        FaultKind::CultureCrash | FaultKind::StuckSensor | FaultKind::DoProbeFailure => Some(24.0),
        FaultKind::FeedPumpFailure => Some(48.0),
        FaultKind::SensorDrift | FaultKind::Contamination => None,
    }
}

fn drift_default_per_d(signal: Signal) -> f64 {
    match signal {
        Signal::Temp => 0.1,
        Signal::Ph => 0.03,
        Signal::Do => 2.0,
        Signal::Pco2 => 10.0,
    }
}

/// Draw the `[random_fault]` of a batch (kind, start day 2–12, magnitude U(0.5, 2)).
fn random_fault(s: &Scenario) -> Option<Fault> {
    let mut rng = stream_rng(s.seed, Stream::Faults);
    let u: f64 = rng.random();
    let kind_idx = rng.random_range(0..FaultKind::ALL.len());
    let start_d: f64 = rng.random_range(2.0..12.0);
    let magnitude: f64 = rng.random_range(0.5..2.0);
    let signal_idx = rng.random_range(0..3usize);
    let mode_idx = rng.random_range(0..4usize);
    if u >= s.random_fault.probability {
        return None;
    }
    let kind = FaultKind::ALL[kind_idx];
    let start_d = start_d.min((s.duration_d - 0.5).max(0.0));
    let mut f = Fault::new(kind, start_d);
    f.duration_h = fault_defaults(kind);
    let signal = [Signal::Temp, Signal::Ph, Signal::Do][signal_idx];
    match kind {
        FaultKind::SensorDrift => {
            f.signal = Some(signal);
            f.rate_per_d = Some(drift_default_per_d(signal) * magnitude);
        }
        FaultKind::StuckSensor => f.signal = Some(signal),
        FaultKind::DoProbeFailure => {
            f.mode = Some([DoFailureMode::ReadsZero, DoFailureMode::ReadsHigh, DoFailureMode::Noisy, DoFailureMode::Dropout][mode_idx]);
        }
        FaultKind::FeedPumpFailure => {
            f.feed = s.feeds.first().map(|x| x.name.clone());
            f.delivered_fraction = Some(0.0);
            f.duration_h = f.duration_h.map(|d| d * magnitude);
            f.feed.as_ref()?;
        }
        FaultKind::Contamination => f.b0_g_per_l = Some(1e-6 * magnitude),
        FaultKind::TemperatureExcursion => f.duration_h = Some(6.0 * magnitude),
        FaultKind::CultureCrash => f.death_rate_per_h = Some(0.08 * magnitude),
    }
    Some(f)
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
        let model = CultureModel {
            params,
            vessel,
            inputs: SegmentInputs {
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
            contaminant_mu_max_per_h: 0.0,
        };
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
            temp: OnlineChannel::new(s.seed, Stream::OnlineTemp, sensors::TEMP, profile),
            ph: OnlineChannel::new(s.seed, Stream::OnlinePh, sensors::PH, profile),
            dox: OnlineChannel::new(s.seed, Stream::OnlineDo, sensors::DO, profile),
            pco2: OnlineChannel::new(s.seed, Stream::OnlinePco2, sensors::PCO2, profile),
            misc_rng,
            lab: OfflineLab::new(s.seed, profile),
            last_glucose_g_per_l: None,
            bolus_commanded_l: 0.0,
            truth: Vec::new(),
            online: Vec::new(),
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

    /// Every event of the run, sorted by time and then by action order.
    fn plan(&self) -> Vec<(f64, Action)> {
        let s = self.scenario;
        let dur = self.duration_h();
        let mut plan = Vec::new();
        let n_out = (dur / OUTPUT_INTERVAL_H + 1e-9).floor() as u64;
        for k in 0..=n_out {
            plan.push((k as f64 * OUTPUT_INTERVAL_H, Action::Output));
        }
        let mut rng = stream_rng(s.seed, Stream::Sampling);
        let jitter_on = sensors::profile_factor(s.sensors.profile) > 0.0;
        let n_days = (s.duration_d + 1e-9).floor() as u32;
        for day in 0..=n_days {
            let u: f64 = rng.random();
            let nominal = day as f64 * 24.0;
            // Samples are drawn up to 30 min before the day's bolus (none before t = 0).
            let t = if jitter_on && day > 0 { nominal - 0.5 * u } else { nominal };
            plan.push((t.clamp(0.0, dur), Action::Sample(day)));
        }
        for (i, f) in s.feeds.iter().enumerate() {
            match f.kind {
                FeedKind::Bolus | FeedKind::BolusToTarget => {
                    let mut k = 0;
                    loop {
                        let t_d = f.start_d + k as f64 * f.every_d;
                        if t_d > f.end_d + 1e-9 || t_d > s.duration_d + 1e-9 || f.every_d <= 0.0 {
                            break;
                        }
                        plan.push((t_d * 24.0, Action::Bolus(i)));
                        k += 1;
                    }
                }
                FeedKind::Continuous => {
                    plan.push(((f.start_d * 24.0).min(dur), Action::FeedEdge));
                    plan.push(((f.end_d * 24.0).min(dur), Action::FeedEdge));
                }
            }
        }
        for (i, st) in s.schedule.iter().enumerate() {
            plan.push((st.at_d * 24.0, Action::Schedule(i)));
            if let Some(r) = st.ramp_h.filter(|r| *r > 0.0) {
                plan.push(((st.at_d * 24.0 + r).min(dur), Action::FeedEdge));
            }
        }
        for (i, w) in self.faults.iter().enumerate() {
            plan.push((w.start_h.min(dur), Action::FaultStart(i)));
            plan.push((w.end_h.min(dur), Action::FaultEnd(i)));
        }
        plan.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        plan
    }

    /// Integrate from the current time to `t_end`.
    fn integrate_to(&mut self, t_end: f64) -> Result<()> {
        if t_end <= self.t_h {
            return Ok(());
        }
        let span = t_end - self.t_h;
        let rtol = self.scenario.model.rtol;
        let mut solver = ode_solvers::Dopri5::from_param(
            &self.model,
            self.t_h,
            t_end,
            span,
            self.y,
            rtol,
            rtol * 1e-3,
            0.9,
            0.04,
            0.2,
            10.0,
            span.min(OUTPUT_INTERVAL_H),
            0.0,
            1_000_000,
            // Stiffness detection off: crashes (contamination, anoxia) are briefly stiff and
            // explicit steps still get through them; step collapse is reported instead.
            u32::MAX,
            OutputType::Sparse,
        );
        solver.integrate().map_err(|e| SimError::Solver { t_h: self.t_h, message: e.to_string() })?;
        let y_new = *solver.y_out().last().ok_or_else(|| SimError::Solver { t_h: self.t_h, message: "no output".into() })?;
        check_state(t_end, &y_new)?;
        self.y = y_new;
        self.t_h = t_end;
        Ok(())
    }

    /// Rebuild the segment inputs from setpoints, feeds and active faults.
    fn update_inputs(&mut self) {
        let s = self.scenario;
        let t = self.t_h;
        let dur = self.duration_h();
        let mut streams = Vec::new();
        for (i, f) in s.feeds.iter().enumerate() {
            if f.kind != FeedKind::Continuous || t < f.start_d * 24.0 - 1e-9 || t >= (f.end_d * 24.0).min(dur) - 1e-9 {
                continue;
            }
            let frac = self.delivered_fraction(&f.name);
            if let (Some(rate), Some(stock)) = (self.glucose_rate[i], f.stock_glucose_g_per_l) {
                streams.push(ContinuousStream {
                    flow_l_per_h: frac * rate / stock / 24.0,
                    per_culture_litre: true,
                    glucose_mm: stock / model::GLUCOSE_G_PER_MOL * 1000.0,
                    glutamine_mm: 0.0,
                    osmolytes_mosm_per_kg: 0.0,
                });
            } else if let Some(pct) = f.volume_pct_of_initial {
                streams.push(ContinuousStream {
                    flow_l_per_h: frac * pct / 100.0 * self.v0_l / 24.0,
                    per_culture_litre: false,
                    glucose_mm: f.glucose_mm.unwrap_or(0.0),
                    glutamine_mm: f.glutamine_mm.unwrap_or(0.0),
                    osmolytes_mosm_per_kg: f.osmolality_mosm_per_kg.unwrap_or(0.0),
                });
            }
        }
        let mut temp_bias = MeasuredBias::Linear { offset: self.temp.offset, rate_per_h: self.temp.drift_per_h, t0_h: 0.0 };
        let mut ph_bias =
            MeasuredBias::Linear { offset: self.ph.offset + self.ph_correction, rate_per_h: self.ph.drift_per_h, t0_h: 0.0 };
        let mut do_bias = MeasuredBias::Linear { offset: self.dox.offset, rate_per_h: self.dox.drift_per_h, t0_h: 0.0 };
        let mut temp_override = None;
        let mut extra_death = 0.0;
        let mut contaminant = 0.0;
        for (i, w) in self.faults.iter().enumerate() {
            if !self.active[i] {
                continue;
            }
            let f = &w.fault;
            match f.kind {
                FaultKind::SensorDrift => {
                    let signal = f.signal.unwrap_or(Signal::Ph);
                    let rate_h = f.rate_per_d.unwrap_or_else(|| drift_default_per_d(signal)) / 24.0;
                    let add = |b: &mut MeasuredBias| {
                        if let MeasuredBias::Linear { offset, rate_per_h, t0_h } = *b {
                            // offset + r·(t − t0) + rate_h·(t − start) = (offset − rate_h·(start − t0)... ) folded:
                            *b = MeasuredBias::Linear {
                                offset: offset - rate_h * (w.start_h - t0_h),
                                rate_per_h: rate_per_h + rate_h,
                                t0_h,
                            };
                        }
                    };
                    match signal {
                        Signal::Temp => add(&mut temp_bias),
                        Signal::Ph => add(&mut ph_bias),
                        Signal::Do => add(&mut do_bias),
                        Signal::Pco2 => {}
                    }
                }
                FaultKind::StuckSensor => {
                    if let Some(v) = self.frozen[i] {
                        match f.signal {
                            Some(Signal::Temp) => temp_bias = MeasuredBias::Frozen(v),
                            Some(Signal::Ph) => ph_bias = MeasuredBias::Frozen(v),
                            Some(Signal::Do) => do_bias = MeasuredBias::Frozen(v),
                            _ => {}
                        }
                    }
                }
                FaultKind::DoProbeFailure => match f.mode {
                    Some(DoFailureMode::ReadsZero) => do_bias = MeasuredBias::Frozen(0.0),
                    Some(DoFailureMode::ReadsHigh) => do_bias = MeasuredBias::Frozen(120.0),
                    Some(DoFailureMode::Dropout) => {
                        if let Some(v) = self.frozen[i] {
                            do_bias = MeasuredBias::Frozen(v);
                        }
                    }
                    Some(DoFailureMode::Noisy) | None => {}
                },
                FaultKind::TemperatureExcursion => {
                    let sp = self.model.inputs.temp_sp_c;
                    temp_override = Some(match (f.target_c, f.delta_c) {
                        (_, Some(d)) => sp + d,
                        (Some(t), None) => t,
                        (None, None) => 39.5,
                    });
                }
                FaultKind::CultureCrash => extra_death += f.death_rate_per_h.unwrap_or(0.08),
                FaultKind::Contamination => contaminant = 0.6,
                FaultKind::FeedPumpFailure => {}
            }
        }
        let inp = &mut self.model.inputs;
        inp.streams = streams;
        inp.temp_meas = temp_bias;
        inp.ph_meas = ph_bias;
        inp.do_meas = do_bias;
        inp.temp_override_c = temp_override;
        inp.extra_death_per_h = extra_death;
        self.model.contaminant_mu_max_per_h = contaminant;
        self.dox.noise_multiplier = if self.fault_active(|f| f.kind == FaultKind::DoProbeFailure && f.mode == Some(DoFailureMode::Noisy)) {
            20.0
        } else {
            1.0
        };
    }

    fn fault_active(&self, pred: impl Fn(&Fault) -> bool) -> bool {
        self.faults.iter().zip(&self.active).any(|(w, a)| *a && pred(&w.fault))
    }

    fn delivered_fraction(&self, feed: &str) -> f64 {
        self.faults
            .iter()
            .zip(&self.active)
            .filter(|(w, a)| **a && w.fault.kind == FaultKind::FeedPumpFailure && w.fault.feed.as_deref() == Some(feed))
            .map(|(w, _)| w.fault.delivered_fraction.unwrap_or(0.0))
            .fold(1.0, f64::min)
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

    fn truth_row(&self) -> TruthRow {
        let y = &self.y;
        let d = self.model.derived(self.t_h, y);
        TruthRow {
            t_h: self.t_h,
            volume_l: y[ix::V],
            vcd_1e6_per_ml: y[ix::XV],
            dead_cells_1e6_per_ml: y[ix::XD],
            viability_pct: d.viability_pct,
            glucose_mm: y[ix::GLC],
            glucose_g_per_l: y[ix::GLC] * model::GLUCOSE_G_PER_MOL / 1000.0,
            glutamine_mm: y[ix::GLN],
            lactate_mm: y[ix::LAC],
            lactate_g_per_l: y[ix::LAC] * model::LACTATE_G_PER_MOL / 1000.0,
            ammonium_mm: y[ix::AMM],
            titer_g_per_l: y[ix::P] / 1000.0,
            gi_pct: d.gi_pct,
            acidic_pct: d.acidic_pct,
            do_pct: d.do_pct,
            dissolved_o2_mm: y[ix::DO],
            pco2_mmhg: d.pco2_mmhg,
            ph: d.ph,
            alkalinity_mm: y[ix::ALK],
            sodium_mm: y[ix::NA],
            osmolality_mosm_per_kg: d.osmolality_mosm_per_kg,
            temp_c: y[ix::T_L],
            temp_setpoint_eff_c: d.temp_sp_eff_c,
            contaminant_g_per_l: y[ix::B],
            mu_per_h: d.mu_per_h,
            death_rate_per_h: d.mu_d_per_h,
            qp_pg_per_cell_per_day: d.qp_pg_per_cell_d,
            our_mm_per_h: d.our_mm_per_h,
            kla_o2_per_h: d.kla_o2_per_h,
            sparge_vvm: d.sparge_vvm,
            agitation_rpm: d.agitation_rpm,
            o2_fraction: d.y_o2,
            co2_fraction: d.y_co2,
            base_rate_meq_per_l_per_h: d.base_meq_per_l_h,
            base_added_l: y[ix::CUM_BASE_L],
            continuous_feed_l: y[ix::CUM_CONT_L],
            bolus_feed_l: self.ledger.bolus_l,
            sampled_l: self.ledger.sampled_l,
        }
    }

    fn record(&mut self) {
        let row = self.truth_row();
        let t = self.t_h;
        let inp = &self.model.inputs;
        // What each probe reports: deterministic part as the loops see it, plus noise.
        let meas = |b: MeasuredBias, truth: f64| b.apply(t, truth) - truth;
        let stuck = |b: MeasuredBias| matches!(b, MeasuredBias::Frozen(_));
        let temp_extra = meas(inp.temp_meas, row.temp_c) - self.temp.bias(t);
        let ph_extra = meas(inp.ph_meas, row.ph) - self.ph.bias(t);
        let do_extra = meas(inp.do_meas, row.do_pct) - self.dox.bias(t);
        let (temp_stuck, ph_stuck, do_stuck) = (stuck(inp.temp_meas), stuck(inp.ph_meas), stuck(inp.do_meas));
        let temp_r = self.temp.read(t, row.temp_c, temp_extra);
        let ph_r = self.ph.read(t, row.ph, ph_extra);
        let do_r = self.dox.read(t, row.do_pct, do_extra);
        let pco2_frozen = self.stuck_value(Signal::Pco2);
        let pco2_drift = self.drift_bias(Signal::Pco2, t);
        let pco2_r = self.pco2.read(t, row.pco2_mmhg, pco2_drift);
        let factor = sensors::profile_factor(self.scenario.sensors.profile);
        let mut z = || -> f64 { Normal::new(0.0, 1.0).map(|n| n.sample(&mut self.misc_rng)).unwrap_or(0.0) };
        let (z_rpm, z_gas, z_vol, z_o2, z_co2) = (z(), z(), z(), z(), z());
        let sparge_l_per_min = row.sparge_vvm * row.volume_l;
        let mfc_fs = self.scenario.vessel.max_sparge_vvm * self.scenario.vessel.nominal_volume_l;
        let do_dropout = self.fault_active(|f| f.kind == FaultKind::DoProbeFailure && f.mode == Some(DoFailureMode::Dropout));
        self.online.push(OnlineRow {
            t_h: t,
            temp_c: if temp_stuck { Some(meas(inp.temp_meas, 0.0)) } else { temp_r },
            ph: if ph_stuck { Some(meas(inp.ph_meas, 0.0)) } else { ph_r },
            do_pct: if do_dropout {
                None
            } else if do_stuck {
                Some(meas(inp.do_meas, 0.0))
            } else {
                do_r
            },
            pco2_mmhg: if !self.scenario.sensors.online_pco2 {
                None
            } else if let Some(v) = pco2_frozen {
                Some(v)
            } else {
                pco2_r.map(|v| v.max(0.0))
            },
            agitation_rpm: Some(row.agitation_rpm * (1.0 + sensors::RPM_REL_SD * factor * z_rpm)),
            sparge_l_per_min: Some((sparge_l_per_min + mfc_fs * (self.mfc_offset + sensors::MFC_NOISE_FS * factor * z_gas)).max(0.0)),
            o2_fraction: Some((row.o2_fraction + 0.005 * factor * z_o2).clamp(0.0, 1.0)),
            co2_fraction: Some((row.co2_fraction + 0.005 * factor * z_co2).clamp(0.0, 1.0)),
            volume_l: Some(row.volume_l * (1.0 + sensors::LOAD_CELL_REL_SD * factor * z_vol)),
            base_added_l: row.base_added_l,
            feed_commanded_l: self.bolus_commanded_l + row.continuous_feed_l,
        });
        self.truth.push(row);
    }

    fn stuck_value(&self, signal: Signal) -> Option<f64> {
        self.faults
            .iter()
            .enumerate()
            .find(|(i, w)| self.active[*i] && w.fault.kind == FaultKind::StuckSensor && w.fault.signal == Some(signal))
            .and_then(|(i, _)| self.frozen[i])
    }

    fn drift_bias(&self, signal: Signal, t_h: f64) -> f64 {
        self.faults
            .iter()
            .enumerate()
            .filter(|(i, w)| self.active[*i] && w.fault.kind == FaultKind::SensorDrift && w.fault.signal == Some(signal))
            .map(|(_, w)| w.fault.rate_per_d.unwrap_or_else(|| drift_default_per_d(signal)) / 24.0 * (t_h - w.start_h))
            .sum()
    }

    fn sample(&mut self, day: u32) {
        let s = self.scenario;
        let d = self.model.derived(self.t_h, &self.y);
        let y = self.y;
        let n_days = (s.duration_d + 1e-9).floor() as u32;
        let truth = OfflineTruth {
            day,
            t_h: self.t_h,
            vcd_1e6_per_ml: y[ix::XV],
            viability_pct: d.viability_pct,
            glucose_g_per_l: y[ix::GLC] * model::GLUCOSE_G_PER_MOL / 1000.0,
            lactate_g_per_l: y[ix::LAC] * model::LACTATE_G_PER_MOL / 1000.0,
            glutamine_mm: y[ix::GLN],
            ammonium_mm: y[ix::AMM],
            osmolality_mosm_per_kg: d.osmolality_mosm_per_kg,
            titer_g_per_l: y[ix::P] / 1000.0,
            ph: d.ph,
            pco2_mmhg: d.pco2_mmhg,
            gi_pct: d.gi_pct,
            acidic_pct: d.acidic_pct,
            gi_assay: day == 7 || day == 10 || day == n_days,
            acidic_assay: day == n_days,
        };
        let row = self.lab.measure(&truth);
        self.last_glucose_g_per_l = row.glucose_g_per_l;
        // Daily pH re-standardisation against the offline analyser.
        if s.sensors.ph_restandardization
            && let Some(ph_off) = row.ph_offline
            && !matches!(self.model.inputs.ph_meas, MeasuredBias::Frozen(_))
        {
            let online = self.model.inputs.ph_meas.apply(self.t_h, d.ph);
            // Differences beyond 0.3 pH are treated as a bad offline reading, not a drift.
            let diff = (online - ph_off).abs();
            if diff > 0.3 {
                self.event("restandardize_skipped", format!("ph online {online:.3} vs offline {ph_off:.3}: implausible"), 0.0);
            } else if diff > 0.05 {
                self.ph_correction += ph_off - online;
                self.event("restandardize", format!("ph online {online:.3} -> offline {ph_off:.3}"), 0.0);
                self.update_inputs();
            }
        }
        self.offline.push(row);
        let vs = (s.sensors.sample_volume_ml / 1000.0).min(0.5 * self.y[ix::V]);
        if vs > 0.0 {
            let l = &mut self.ledger;
            l.sampled_l += vs;
            l.glc_sampled_mmol += y[ix::GLC] * vs;
            l.gln_sampled_mmol += y[ix::GLN] * vs;
            l.lac_sampled_mmol += y[ix::LAC] * vs;
            l.amm_sampled_mmol += y[ix::AMM] * vs;
            l.p_sampled_mg += y[ix::P] * vs;
            l.cells_sampled_e9 += (y[ix::XV] + y[ix::XD]) * vs;
            self.y[ix::V] -= vs;
        }
        self.event("sample", format!("day {day}"), -vs);
    }

    fn bolus(&mut self, i: usize) {
        let f: &Feed = &self.scenario.feeds[i];
        let v = self.y[ix::V];
        let frac = self.delivered_fraction(&f.name);
        let Some((commanded, glc_mm, gln_mm, osm)) = bolus_dose(f, v, self.v0_l, self.last_glucose_g_per_l) else {
            return;
        };
        let name = f.name.clone();
        let added = commanded * frac;
        self.bolus_commanded_l += commanded;
        if added > 0.0 {
            let y = &mut self.y;
            let v_new = v + added;
            let mix = |c: f64, c_feed: f64| (c * v + c_feed * added) / v_new;
            y[ix::GLC] = mix(y[ix::GLC], glc_mm);
            y[ix::GLN] = mix(y[ix::GLN], gln_mm);
            y[ix::OSM_F] = mix(y[ix::OSM_F], osm);
            for k in [ix::XV, ix::XD, ix::LAC, ix::AMM, ix::P, ix::P_GAL, ix::P_AC, ix::DO, ix::CO2, ix::ALK, ix::NA, ix::B] {
                y[k] *= v / v_new;
            }
            y[ix::V] = v_new;
            self.ledger.bolus_l += added;
            self.ledger.glc_bolus_mmol += glc_mm * added;
            self.ledger.gln_bolus_mmol += gln_mm * added;
        }
        if commanded > 0.0 {
            self.event("bolus", format!("{name} commanded {commanded:.4} L delivered {added:.4} L"), added);
        }
    }

    fn summary(&self) -> Summary {
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

fn fault_detail(f: &Fault) -> String {
    let mut parts = Vec::new();
    if let Some(s) = f.signal {
        parts.push(format!("signal={s:?}").to_lowercase());
    }
    if let Some(r) = f.rate_per_d {
        parts.push(format!("rate_per_d={r}"));
    }
    if let Some(m) = f.mode {
        parts.push(format!("mode={m:?}").to_lowercase());
    }
    if let Some(feed) = &f.feed {
        parts.push(format!("feed={feed}"));
    }
    if let Some(x) = f.death_rate_per_h {
        parts.push(format!("death_rate_per_h={x}"));
    }
    parts.join(" ")
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

const STATE_NAMES: [(usize, &str); 15] = [
    (ix::V, "volume_l"),
    (ix::XV, "vcd_1e6_per_ml"),
    (ix::XD, "dead_cells_1e6_per_ml"),
    (ix::GLC, "glucose_mm"),
    (ix::GLN, "glutamine_mm"),
    (ix::LAC, "lactate_mm"),
    (ix::AMM, "ammonium_mm"),
    (ix::P, "titer_mg_per_l"),
    (ix::P_GAL, "galactosylated_mg_per_l"),
    (ix::P_AC, "acidic_mg_per_l"),
    (ix::DO, "dissolved_o2_mm"),
    (ix::CO2, "dissolved_co2_mm"),
    (ix::ALK, "alkalinity_mm"),
    (ix::NA, "sodium_mm"),
    (ix::B, "contaminant_g_per_l"),
];

/// Non-finite or clearly negative states are errors naming the time and the state.
fn check_state(t_h: f64, y: &StateVec) -> Result<()> {
    for (i, v) in y.iter().enumerate() {
        if !v.is_finite() {
            let state = STATE_NAMES.iter().find(|(k, _)| *k == i).map_or("internal", |(_, n)| n);
            return Err(SimError::Numeric { t_h, state, value: *v, reason: "not finite" });
        }
    }
    for (i, name) in STATE_NAMES {
        if y[i] < -NEGATIVE_TOLERANCE * (1.0 + y[ix::V].abs() * f64::from(u8::from(i == ix::V))) {
            return Err(SimError::Numeric { t_h, state: name, value: y[i], reason: "negative" });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_and_negative_states_are_errors_naming_time_and_state() {
        let mut y = StateVec::zeros();
        y[ix::V] = 100.0;
        assert!(check_state(1.0, &y).is_ok());
        y[ix::GLC] = f64::NAN;
        match check_state(12.5, &y) {
            Err(SimError::Numeric { t_h, state, reason, .. }) => {
                assert_eq!((t_h, state, reason), (12.5, "glucose_mm", "not finite"));
            }
            other => panic!("{other:?}"),
        }
        y[ix::GLC] = 1.0;
        y[ix::LAC] = -0.1;
        let e = check_state(30.0, &y).expect_err("negative lactate");
        assert!(e.to_string().contains("t = 30.000 h") && e.to_string().contains("lactate_mm"), "{e}");
        y[ix::LAC] = -1e-9;
        assert!(check_state(30.0, &y).is_ok(), "within tolerance");
    }
}

/// What one bolus of feed `f` adds to a culture of `v_l` litres (initial volume `v0_l`):
/// (volume L, glucose mM, glutamine mM, osmolytes mOsm/kg of the added liquid). A
/// bolus-to-target tops glucose up from `glucose_g_per_l` (the last known value; `None` adds
/// nothing). `None` for a continuous feed. Shared by both fidelities.
pub(crate) fn bolus_dose(f: &Feed, v_l: f64, v0_l: f64, glucose_g_per_l: Option<f64>) -> Option<(f64, f64, f64, f64)> {
    match f.kind {
        FeedKind::Bolus => Some((
            f.volume_pct_of_initial.unwrap_or(0.0) / 100.0 * v0_l,
            f.glucose_mm.unwrap_or(0.0),
            f.glutamine_mm.unwrap_or(0.0),
            f.osmolality_mosm_per_kg.unwrap_or(0.0),
        )),
        FeedKind::BolusToTarget => {
            let stock = f.stock_glucose_g_per_l.unwrap_or(500.0);
            let target = f.target_glucose_g_per_l.unwrap_or(0.0);
            let vol = match glucose_g_per_l {
                Some(g) if g < target && stock > target => v_l * (target - g) / (stock - target),
                _ => 0.0,
            };
            Some((vol, stock / model::GLUCOSE_G_PER_MOL * 1000.0, 0.0, 0.0))
        }
        FeedKind::Continuous => None,
    }
}
