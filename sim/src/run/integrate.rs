//! Integration: piecewise Dopri5 between events, the segment inputs rebuilt from setpoints,
//! feeds and active faults, and the state check after each segment.

use super::faults::drift_default_per_d;
use super::{Integrator, NEGATIVE_TOLERANCE, OUTPUT_INTERVAL_H, Runner};
use crate::dopri5;
use crate::error::{Result, SimError};
use crate::model::{self, ContinuousStream, MeasuredBias, StateVec, ix};
use crate::scenario::{DoFailureMode, FaultKind, FeedKind, Signal};
use ode_solvers::dop_shared::OutputType;

impl Runner<'_> {
    /// Integrate from the current time to `t_end`.
    pub(super) fn integrate_to(&mut self, t_end: f64) -> Result<()> {
        if t_end <= self.t_h {
            return Ok(());
        }
        let span = t_end - self.t_h;
        let rtol = self.scenario.model.rtol;
        let settings = dopri5::Settings {
            rtol,
            atol: rtol * 1e-3,
            safety_factor: 0.9,
            beta: 0.04,
            fac_min: 0.2,
            fac_max: 10.0,
            h_max: span.min(OUTPUT_INTERVAL_H),
            // Warm start: the last full step of the previous segment (0 = Dopri5's own
            // initial-step estimate, two extra evaluations, used for the first segment).
            // The step is stability-limited by the DO loop, so the previous one is a good
            // guess; the error test still rejects it where an event changed the dynamics.
            h_initial: self.h_warm.min(span),
            n_max: 1_000_000,
        };
        let (y_new, h_last_full) = match self.integrator {
            Integrator::Own => {
                let model = &self.model;
                let seg = dopri5::integrate(|t, y, dy| model.rhs(t, y, dy), self.t_h, t_end, self.y, &settings)
                    .map_err(|e| SimError::Solver { t_h: self.t_h, message: e.to_string() })?;
                self.solver_stats.add(&seg.stats);
                (seg.y_end, seg.h_last_full)
            }
            Integrator::OdeSolvers => self.integrate_ode_solvers(t_end, &settings)?,
        };
        // The segment's last step is cut to land on `t_end`; the one before is a full step.
        if let Some(h) = h_last_full {
            self.h_warm = h;
        }
        check_state(t_end, &y_new)?;
        self.y = y_new;
        self.t_h = t_end;
        Ok(())
    }

    /// The same segment through `ode_solvers`' Dopri5 (the reference our own is tested
    /// against bit for bit): the new state and the last full step.
    fn integrate_ode_solvers(&mut self, t_end: f64, s: &dopri5::Settings) -> Result<(StateVec, Option<f64>)> {
        let mut solver = ode_solvers::Dopri5::from_param(
            &self.model,
            self.t_h,
            t_end,
            t_end - self.t_h,
            self.y,
            s.rtol,
            s.atol,
            s.safety_factor,
            s.beta,
            s.fac_min,
            s.fac_max,
            s.h_max,
            s.h_initial,
            s.n_max,
            // Stiffness detection off: crashes (contamination, anoxia) are briefly stiff and
            // explicit steps still get through them; step collapse is reported instead.
            u32::MAX,
            OutputType::Sparse,
        );
        let stats = solver.integrate().map_err(|e| SimError::Solver { t_h: self.t_h, message: e.to_string() })?;
        self.solver_stats.add(&dopri5::Stats { num_eval: stats.num_eval, accepted_steps: stats.accepted_steps, rejected_steps: stats.rejected_steps });
        let xs = solver.x_out();
        let h_last_full = (xs.len() >= 3).then(|| xs[xs.len() - 2] - xs[xs.len() - 3]);
        let y_new = *solver.y_out().last().ok_or_else(|| SimError::Solver { t_h: self.t_h, message: "no output".into() })?;
        Ok((y_new, h_last_full))
    }

    /// Rebuild the segment inputs from setpoints, feeds and active faults.
    pub(super) fn update_inputs(&mut self) {
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

    /// Each segment costs 1 evaluation (first stage) + 6 per attempted step, plus 2 when
    /// Dopri5 estimates the initial step itself. With the warm start only the first segment
    /// pays those 2 (a rejected first step of a segment is not in `rejected_steps`, so the
    /// count is a bound, not an identity).
    #[test]
    fn solver_work_is_reported_and_segments_start_warm() {
        let mut s = crate::scenario::Scenario::default();
        s.sensors.profile = crate::scenario::SensorProfile::None;
        let (v, _) = crate::scenario::validate(s).expect("valid");
        let (_, ledger) = crate::run::simulate_with_ledger(&v).expect("runs");
        let st = ledger.solver;
        assert_eq!(st.segments, 14 * 24 * 4, "one segment per 15-min output: {st:?}");
        let per_step = 6 * (st.accepted_steps + st.rejected_steps) + st.segments;
        assert!(st.rhs_evaluations >= per_step + 2, "{st:?}");
        assert!(st.rhs_evaluations < per_step + 2 * st.segments, "initial-step estimate paid per segment: {st:?}");
    }

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
