//! `fidelity = "prototype"` (spec `sim.md` §2.8): the Python prototype behind the
//! regression numbers of §6(a), kept as a reference implementation next to the default
//! model rather than as a mode of it.
//!
//! What differs from the default fidelity (`model/`, `run/`):
//! - classic RK4 at a fixed 0.01 h step, inputs held constant over each step;
//! - liquid temperature equals the effective setpoint (no T_L lag); constant solubilities
//!   S_O2 0.988 and S_CO2 23.655 mM/atm (37 °C); mean bubble pressure at nominal height;
//! - pH: P-only base, max(0, 60·(pH_sp − db − pH)) meq/(L·h), uncapped; CO2 sparging
//!   y_CO2 = clamp(2·(pH − pH_sp − db), 0, 0.15);
//! - DO: y_O2 is the quasi-steady inverse of the bubble transfer that delivers
//!   OUR·V + 2·(C_sp − C)·V mmol/h, clamped to [0, 1]; constant gas flow, no cascade;
//! - no kd,CO2, fCO2,lac, hyperoxia term, surface O2 transfer, lumped inhibitor, contaminant,
//!   samples or sensor noise (every measurement is the truth); surface CO2 exchange with the
//!   O2 surface coefficient kLa_s (the default model uses 0.9·kLa_s);
//! - r_acid = (q_lac − q_amm)·Xv without the default's ALK/(ALK + 0.5 mM) limiter, acidic
//!   variants with 1.10 per °C (the default uses 1.17);
//! - prototype parameter values ([`KineticParams::with_prototype_values`]) and initial
//!   state: CO2(0) = 0.0307·40 mM, Xd0 = 0.03·Xv0, DO(0) = DO_sp·0.21·S_O2.
//!
//! Feeds come from the scenario (the prototype's own plan is `scenarios/prototype_baseline.toml`:
//! nutrient feed continuous at 6 % V0/24 per h on days 3–13.5, supplement from day 0).
//! Boluses mix instantly at step boundaries; bolus-to-target reads the true glucose.

use crate::error::{Result, SimError};
use crate::model::{BASE_MEQ_PER_L, ContinuousStream, GLUCOSE_G_PER_MOL, LACTATE_G_PER_MOL, QP_REF_PG_PER_CELL_D, cpm, ctmi, loops};
use crate::params::KineticParams;
use crate::physics::{self, Geometry};
use crate::record::{BatchRecord, Event, TruthRow};
use crate::sensors;
use crate::run::{self, Ledger, OUTPUT_INTERVAL_H};
use crate::scenario::{FeedKind, Scenario, Sparger};

/// RK4 steps per hour.
pub const STEPS_PER_H: u32 = 100;
/// Fixed RK4 step, 0.01 h.
pub const STEP_H: f64 = 1.0 / STEPS_PER_H as f64;
/// Constant O2 solubility of the prototype (37 °C), mM/atm.
pub const S_O2_MM_PER_ATM: f64 = 0.988;
/// Constant CO2 solubility of the prototype (37 °C), mM/atm.
pub const S_CO2_MM_PER_ATM: f64 = 23.655;
/// Initial dissolved CO2: 0.0307 mM/mmHg × 40 mmHg (pH 7.27 with 18 mM bicarbonate).
pub const CO2_0_MM: f64 = 0.0307 * 40.0;
/// Initial dead cells per viable cell.
pub const DEAD_PER_VIABLE_0: f64 = 0.03;
/// O2 mole fraction used for the initial DO (the prototype's 0.21, not 0.2095).
pub const Y_O2_INITIAL: f64 = 0.21;
/// Gain of the quasi-steady DO blending: extra transfer 2·(C_sp − C)·V mmol/h.
pub const DO_GAIN_PER_H: f64 = 2.0;
/// Acidic-variant temperature factor of the prototype (spec §2.6).
pub const THETA_ACIDIC: f64 = 1.10;

const N_STATES: usize = 19;
type State = nalgebra::SVector<f64, N_STATES>;

/// Index map of the prototype's state vector (units as in `model::ix`).
mod px {
    pub(super) const V: usize = 0;
    pub(super) const XV: usize = 1;
    pub(super) const XD: usize = 2;
    pub(super) const GLC: usize = 3;
    pub(super) const GLN: usize = 4;
    pub(super) const LAC: usize = 5;
    pub(super) const AMM: usize = 6;
    pub(super) const P: usize = 7;
    pub(super) const P_GAL: usize = 8;
    pub(super) const P_AC: usize = 9;
    pub(super) const DO: usize = 10;
    pub(super) const CO2: usize = 11;
    pub(super) const ALK: usize = 12;
    pub(super) const NA: usize = 13;
    pub(super) const OSM_F: usize = 14;
    pub(super) const T_AD: usize = 15;
    /// Cumulative base, L.
    pub(super) const CUM_BASE_L: usize = 16;
    /// Cumulative continuous feed, L.
    pub(super) const CUM_CONT_L: usize = 17;
    /// Cumulative product formed, mg.
    pub(super) const CUM_P_MADE: usize = 18;
}

/// Simulate a scenario with the prototype's model and integrator.
pub(crate) fn simulate(s: &Scenario) -> Result<(BatchRecord, Ledger)> {
    let proto = Prototype::new(s)?;
    let mut y = proto.initial_state();
    let n_steps = (s.duration_d * 24.0 * f64::from(STEPS_PER_H)).round() as u64;
    let steps_per_output = (OUTPUT_INTERVAL_H * f64::from(STEPS_PER_H)).round() as u64;
    let mut rec = Recorder::default();
    let mut bolus_l = 0.0;
    let mut next_bolus = proto.bolus_plan();
    for k in 0..=n_steps {
        // k / 100 is exact on the 15-min grid (k · 0.01 is not).
        let t_h = k as f64 / f64::from(STEPS_PER_H);
        let c = proto.controls_at(t_h);
        if k % steps_per_output == 0 {
            rec.record(&proto, &c, t_h, &y, bolus_l);
        }
        while let Some((_, feed_idx)) = next_bolus.pop_if(|(step, _)| *step == k) {
            bolus_l += proto.bolus(feed_idx, &mut y, t_h, &mut rec.events);
        }
        if k < n_steps {
            y = rk4_step(&proto, &c, &y);
            check(t_h + STEP_H, &y)?;
        }
    }
    let ledger = Ledger {
        bolus_l,
        base_l: y[px::CUM_BASE_L],
        continuous_feed_l: y[px::CUM_CONT_L],
        p_made_mg: y[px::CUM_P_MADE],
        initial_volume_l: proto.v0_l,
        final_volume_l: y[px::V],
        final_p_mg: y[px::P] * y[px::V],
        ..Ledger::default()
    };
    let summary = run::summarize(s, &rec.truth, Some(&proto.geometry), Vec::new());
    let n_days = (s.duration_d + 1e-9).floor() as u32;
    let (online, offline) = sensors::perfect_readings(&rec.truth, n_days, s.sensors.online_pco2);
    Ok((BatchRecord { truth: rec.truth, online, offline, events: rec.events, summary }, ledger))
}

/// One classic fourth-order Runge–Kutta step of length [`STEP_H`].
fn rk4_step(proto: &Prototype<'_>, c: &Controls, y: &State) -> State {
    let h = STEP_H;
    let k1 = proto.rhs(c, y);
    let k2 = proto.rhs(c, &(y + k1 * (h / 2.0)));
    let k3 = proto.rhs(c, &(y + k2 * (h / 2.0)));
    let k4 = proto.rhs(c, &(y + k3 * h));
    y + (k1 + k2 * 2.0 + k3 * 2.0 + k4) * (h / 6.0)
}

/// Non-finite states are numerical failures.
fn check(t_h: f64, y: &State) -> Result<()> {
    match y.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(SimError::Numeric { t_h, state: "prototype state", value: y[i], reason: "not finite" }),
        None => Ok(()),
    }
}

/// Inputs held constant over one step: setpoints after the schedule, gas flow and the
/// continuous streams running at the step's start.
#[derive(Debug, Clone, PartialEq)]
struct Controls {
    temp_c: f64,
    ph_sp: f64,
    ph_deadband: f64,
    do_sp_pct: f64,
    sparge_vvm: f64,
    streams: Vec<ContinuousStream>,
}

/// Rates and control outputs at one state.
#[derive(Debug, Clone, Copy)]
struct Rates {
    mu: f64,
    mu_d: f64,
    q_glc: f64,
    q_gln: f64,
    q_lac: f64,
    q_amm: f64,
    qp: f64,
    our: f64,
    g_gal: f64,
    ph: f64,
    pco2: f64,
    do_pct: f64,
    osm: f64,
    y_o2: f64,
    y_co2: f64,
    base: f64,
    kla_o2: f64,
    otr: f64,
    ctr: f64,
}

struct Prototype<'a> {
    s: &'a Scenario,
    p: KineticParams,
    geometry: Geometry,
    v0_l: f64,
}

impl<'a> Prototype<'a> {
    fn new(s: &'a Scenario) -> Result<Self> {
        Ok(Self {
            s,
            p: run::scenario_params(s)?,
            geometry: Geometry::of(&s.vessel),
            v0_l: run::INITIAL_FILL_FRACTION * s.vessel.nominal_volume_l,
        })
    }

    fn initial_state(&self) -> State {
        let s = self.s;
        let xv0 = s.inoculum.vcd_e6_per_ml;
        let mut y = State::zeros();
        y[px::V] = self.v0_l;
        y[px::XV] = xv0;
        y[px::XD] = DEAD_PER_VIABLE_0 * xv0;
        y[px::GLC] = run::BASAL_GLC_MM;
        y[px::GLN] = run::BASAL_GLN_MM;
        y[px::LAC] = run::BASAL_LAC_MM;
        y[px::AMM] = run::BASAL_AMM_MM;
        y[px::ALK] = run::BASAL_HCO3_MM;
        y[px::NA] = run::BASAL_HCO3_MM;
        y[px::OSM_F] = run::BASAL_OSM_MOSM_PER_KG
            - (run::BASAL_GLC_MM + run::BASAL_GLN_MM + run::BASAL_LAC_MM + run::BASAL_AMM_MM + 2.0 * run::BASAL_HCO3_MM);
        y[px::CO2] = CO2_0_MM;
        y[px::DO] = s.setpoints.do_pct / 100.0 * Y_O2_INITIAL * S_O2_MM_PER_ATM;
        y[px::T_AD] = s.setpoints.temp_c;
        y
    }

    /// Setpoints, gas flow and continuous streams in force at `t_h`.
    fn controls_at(&self, t_h: f64) -> Controls {
        let s = self.s;
        let sp = &s.setpoints;
        let mut c = Controls {
            temp_c: sp.temp_c,
            ph_sp: sp.ph,
            ph_deadband: sp.ph_deadband,
            do_sp_pct: sp.do_pct,
            sparge_vvm: s.vessel.sparge_vvm,
            streams: Vec::new(),
        };
        let mut glucose_rate: Option<f64> = None;
        for st in s.schedule.iter().filter(|st| st.at_d * 24.0 <= t_h + 1e-9) {
            if let Some(t) = st.temp_c {
                let t0_h = st.at_d * 24.0;
                c.temp_c = match st.ramp_h.filter(|r| *r > 0.0) {
                    Some(r) => c.temp_c + (t - c.temp_c) * ((t_h - t0_h) / r).clamp(0.0, 1.0),
                    None => t,
                };
            }
            c.ph_sp = st.ph.unwrap_or(c.ph_sp);
            c.do_sp_pct = st.do_pct.unwrap_or(c.do_sp_pct);
            c.sparge_vvm = st.sparge_vvm.unwrap_or(c.sparge_vvm);
            glucose_rate = st.glucose_g_per_l_per_d.or(glucose_rate);
        }
        for f in s.feeds.iter().filter(|f| f.kind == FeedKind::Continuous) {
            if t_h < f.start_d * 24.0 - 1e-9 || t_h >= f.end_d * 24.0 - 1e-9 {
                continue;
            }
            let rate = f.glucose_g_per_l_per_d.map(|r| glucose_rate.unwrap_or(r));
            if let (Some(rate), Some(stock)) = (rate, f.stock_glucose_g_per_l) {
                c.streams.push(ContinuousStream {
                    flow_l_per_h: rate / stock / 24.0,
                    per_culture_litre: true,
                    glucose_mm: stock / GLUCOSE_G_PER_MOL * 1000.0,
                    glutamine_mm: 0.0,
                    osmolytes_mosm_per_kg: 0.0,
                });
            } else if let Some(pct) = f.volume_pct_of_initial {
                c.streams.push(ContinuousStream {
                    flow_l_per_h: pct / 100.0 * self.v0_l / 24.0,
                    per_culture_litre: false,
                    glucose_mm: f.glucose_mm.unwrap_or(0.0),
                    glutamine_mm: f.glutamine_mm.unwrap_or(0.0),
                    osmolytes_mosm_per_kg: f.osmolality_mosm_per_kg.unwrap_or(0.0),
                });
            }
        }
        c
    }

    /// Bolus times as step indices with the feed index, latest first (popped from the end).
    fn bolus_plan(&self) -> Vec<(u64, usize)> {
        let s = self.s;
        let mut plan = Vec::new();
        for (i, f) in s.feeds.iter().enumerate() {
            if f.kind == FeedKind::Continuous || f.every_d <= 0.0 {
                continue;
            }
            let mut t_d = f.start_d;
            while t_d <= f.end_d.min(s.duration_d) + 1e-9 {
                plan.push(((t_d * 24.0 * f64::from(STEPS_PER_H)).round() as u64, i));
                t_d += f.every_d;
            }
        }
        plan.sort_by(|a, b| b.cmp(a));
        plan
    }

    /// Instant mixing of one bolus; returns the volume added (L).
    fn bolus(&self, feed_idx: usize, y: &mut State, t_h: f64, events: &mut Vec<Event>) -> f64 {
        let f = &self.s.feeds[feed_idx];
        let v = y[px::V];
        // The prototype tops glucose up from the true value (it has no samples).
        let glc_g_per_l = y[px::GLC] * GLUCOSE_G_PER_MOL / 1000.0;
        let Some((added, glc_mm, gln_mm, osm)) = run::bolus_dose(f, v, self.v0_l, Some(glc_g_per_l)) else {
            return 0.0;
        };
        if added <= 0.0 {
            return 0.0;
        }
        let v_new = v + added;
        let mix = |c: f64, c_feed: f64| (c * v + c_feed * added) / v_new;
        y[px::GLC] = mix(y[px::GLC], glc_mm);
        y[px::GLN] = mix(y[px::GLN], gln_mm);
        y[px::OSM_F] = mix(y[px::OSM_F], osm);
        for k in [px::XV, px::XD, px::LAC, px::AMM, px::P, px::P_GAL, px::P_AC, px::DO, px::CO2, px::ALK, px::NA] {
            y[k] *= v / v_new;
        }
        y[px::V] = v_new;
        events.push(Event { t_h, kind: "bolus".to_owned(), detail: format!("{} delivered {added:.4} L", f.name), volume_l: added });
        added
    }

    fn rates(&self, c: &Controls, y: &State) -> Rates {
        let p = &self.p;
        let v = y[px::V].max(1e-9);
        let xv = y[px::XV].max(0.0);
        let glc = y[px::GLC].max(0.0);
        let gln = y[px::GLN].max(0.0);
        let lac = y[px::LAC].max(0.0);
        let amm = y[px::AMM].max(0.0);
        let dox = y[px::DO].max(0.0);
        let co2 = y[px::CO2].max(1e-9);
        let alk = y[px::ALK].max(1e-9);
        let t = c.temp_c;
        let pos = |x: f64| x.max(0.0);

        let ph = 6.1 + (alk / co2).log10();
        let pco2 = co2 / (S_CO2_MM_PER_ATM / 760.0);
        let do_pct = dox / (physics::Y_O2_AIR * S_O2_MM_PER_ATM) * 100.0;
        let osm = y[px::OSM_F] + glc + gln + lac + amm + y[px::ALK] + y[px::NA];

        let f_t = ctmi(t, 28.0, 37.0, 41.0);
        let f_ph = cpm(ph, 6.36, 7.15, 7.94);
        let f_do = dox / (0.002 + dox);
        let f_osm = 1.0 / (1.0 + (pos(osm - 320.0) / p.k_osm_mosm).powi(2));
        let f_co2 = 1.0 / (1.0 + (pos(pco2 - 50.0) / 160.0).powi(2));
        let theta_m = 1.048_f64.powf(t - 37.0);
        let theta_d = 1.10_f64.powf(t - 37.0);

        let mu = p.mu_max_per_h * f_t * f_ph * f_do * f_osm * f_co2 * glc / (p.k_glc_mm + glc) * gln / (p.k_gln_mm + gln)
            * p.ki_lac_mm
            / (p.ki_lac_mm + pos(lac - p.lac_th_mm))
            * p.ki_amm_mm
            / (p.ki_amm_mm + pos(amm - p.amm_th_mm));
        let kd_bub = if self.s.vessel.pluronic { 0.0 } else { physics::bubble_death_per_h(self.s.vessel.sparger, c.sparge_vvm) };
        let mu_d = p.kd0_per_h * theta_d
            + p.mud_max_per_h * lac / (p.kd_lac_mm + lac) * amm / (p.kd_amm_mm + amm)
            + p.kd_st_per_h * p.k_st_mm / (p.k_st_mm + glc)
            + kd_bub;
        let q_glc = (mu / p.y_x_glc_e9_per_mmol + p.m_glc * theta_m) * glc / (glc + 0.05);
        let q_gln = mu / p.y_x_gln_e9_per_mmol + p.a1 * gln / (p.a2_mm + gln);
        let q_lac = p.y_lac_glc * (mu / p.y_x_glc_e9_per_mmol) * (p.k_ph_lac * (ph - 7.0)).exp() * p.k_lp_mm / (p.k_lp_mm + lac)
            - p.q_lac_max * theta_m * lac / (p.k_lc_mm + lac) / (1.0 + (mu / p.mu_shift_per_h).powi(4));
        let q_amm = p.y_amm_gln * mu / p.y_x_gln_e9_per_mmol - p.r_amm * amm / (p.k_ramm_mm + amm);
        let f_tp = 1.0 + p.k_tp_per_c * pos(37.0 - y[px::T_AD]);
        let f_php = 1.0 + 0.3 * (7.0 - ph);
        let f_osmp = 1.0 + 0.2 * pos(osm - 320.0) / 100.0;
        let f_co2p = 1.0 / (1.0 + (pos(pco2 - 60.0) / p.k_co2_p_mmhg).powi(2));
        let qp = (p.alpha_mg_per_e9 * mu + p.beta_mg_per_e9_h) * f_tp * f_php * f_osmp * f_co2p;
        let our = p.q_o2 * theta_m * dox / (p.k_o2_mm + dox) * xv;
        let g_gal = (0.45 / (1.0 + pos(amm - 5.0) / 15.0) / (1.0 + 0.4 * pos(qp * 24.0 / QP_REF_PG_PER_CELL_D - 1.0))
            * (1.0 - 0.1 * pos(osm - 320.0) / 100.0))
            .clamp(0.0, 1.0);

        // P-only pH control on the true pH (perfect sensors).
        let base = pos(loops::BASE_KP * (c.ph_sp - c.ph_deadband - ph));
        let y_co2 = (loops::CO2_KP * (ph - c.ph_sp - c.ph_deadband)).clamp(0.0, loops::CO2_Y_MAX);
        let gas = self.gas_transfer(c, v, our, dox, co2, y_co2);

        Rates {
            mu,
            mu_d,
            q_glc,
            q_gln,
            q_lac,
            q_amm,
            qp,
            our,
            g_gal,
            ph,
            pco2,
            do_pct,
            osm,
            y_o2: gas.y_o2,
            y_co2,
            base,
            kla_o2: gas.kla_o2,
            otr: gas.otr,
            ctr: gas.ctr,
        }
    }

    /// Bubble gas transfer at the nominal-height mean pressure, with quasi-steady O2
    /// blending, plus CO2 exchange through the free surface with kLa_s = 3e-5 m/s·A/V
    /// against headspace air (the prototype has no surface O2 transfer and no 0.9 factor on
    /// the surface CO2 coefficient).
    fn gas_transfer(&self, c: &Controls, v: f64, our: f64, dox: f64, co2: f64, y_co2: f64) -> GasTransfer {
        let g = &self.geometry;
        let sparger: Sparger = self.s.vessel.sparger;
        let p_mean = g.mean_pressure_atm;
        let q_l_per_min = c.sparge_vvm * v;
        let g_mol_per_h = q_l_per_min * 60.0 / physics::MOLAR_VOLUME_L_PER_MOL;
        let kla_o2 = self.s.vessel.kla_o2_per_h.unwrap_or_else(|| g.kla_o2_per_h(sparger, q_l_per_min, c.temp_c, p_mean));
        let kla_co2 = 0.9 * kla_o2;
        // Fraction of the inlet-to-equilibrium partial-pressure gap a bubble closes.
        let efficiency = |kla: f64, s: f64| 1.0 - (-kla * s * p_mean * v / (1000.0 * g_mol_per_h)).exp();
        let (eff_o2, eff_co2) = (efficiency(kla_o2, S_O2_MM_PER_ATM), efficiency(kla_co2, S_CO2_MM_PER_ATM));
        // mmol/h per atm of inlet-to-equilibrium gap.
        let conductance = |eff: f64| 1000.0 * g_mol_per_h * eff / p_mean;
        let c_sp = c.do_sp_pct / 100.0 * physics::Y_O2_AIR * S_O2_MM_PER_ATM;
        let needed_mmol_per_h = (our + DO_GAIN_PER_H * (c_sp - dox)) * v;
        let y_o2 = ((dox / S_O2_MM_PER_ATM + needed_mmol_per_h / conductance(eff_o2)) / p_mean).clamp(0.0, 1.0);
        let otr = conductance(eff_o2) * (y_o2 * p_mean - dox / S_O2_MM_PER_ATM) / v;
        let kla_surface = g.kla_surface_per_h(v);
        let ctr = conductance(eff_co2) * (y_co2 * p_mean - co2 / S_CO2_MM_PER_ATM) / v
            + kla_surface * (S_CO2_MM_PER_ATM * physics::Y_CO2_AIR - co2);
        GasTransfer { y_o2, kla_o2, otr, ctr }
    }

    fn rhs(&self, c: &Controls, y: &State) -> State {
        let p = &self.p;
        let r = self.rates(c, y);
        let v = y[px::V].max(1e-9);
        let xv = y[px::XV].max(0.0);
        let xd = y[px::XD].max(0.0);
        let gln = y[px::GLN].max(0.0);
        let glc = y[px::GLC].max(0.0);

        let (mut f_cont, mut glc_in, mut gln_in, mut osm_in) = (0.0, 0.0, 0.0, 0.0);
        for st in &c.streams {
            let f = st.flow_at(v);
            f_cont += f;
            glc_in += f * st.glucose_mm;
            gln_in += f * st.glutamine_mm;
            osm_in += f * st.osmolytes_mosm_per_kg;
        }
        let f_base = r.base * v / BASE_MEQ_PER_L;
        let d = (f_cont + f_base) / v;
        let gln_decay = p.k_deg_gln_per_h * gln;
        let r_acid = (r.q_lac - r.q_amm) * xv;

        let mut dy = State::zeros();
        dy[px::V] = f_cont + f_base;
        dy[px::XV] = (r.mu - r.mu_d) * xv - d * y[px::XV];
        dy[px::XD] = r.mu_d * xv - p.k_lys_per_h * xd - d * y[px::XD];
        dy[px::GLC] = -r.q_glc * xv + glc_in / v - d * y[px::GLC];
        dy[px::GLN] = -r.q_gln * xv - gln_decay + gln_in / v - d * y[px::GLN];
        dy[px::LAC] = r.q_lac * xv - d * y[px::LAC];
        dy[px::AMM] = r.q_amm * xv + gln_decay - d * y[px::AMM];
        dy[px::P] = r.qp * xv - d * y[px::P];
        dy[px::P_GAL] = r.g_gal * r.qp * xv - d * y[px::P_GAL];
        dy[px::P_AC] = 0.15 * r.qp * xv
            + 0.002 * THETA_ACIDIC.powf(c.temp_c - 37.0) * (1.0 + glc / 50.0) * (y[px::P] - y[px::P_AC]).max(0.0)
            - d * y[px::P_AC];
        dy[px::DO] = r.otr - r.our - d * y[px::DO];
        dy[px::CO2] = p.rq * r.our + r_acid - r.base / 2.0 + r.ctr - d * y[px::CO2];
        dy[px::ALK] = -r_acid + r.base - d * y[px::ALK];
        dy[px::NA] = r.base - d * y[px::NA];
        dy[px::OSM_F] = osm_in / v - d * y[px::OSM_F];
        dy[px::T_AD] = (c.temp_c - y[px::T_AD]) / p.tau_tp_h;
        dy[px::CUM_BASE_L] = f_base;
        dy[px::CUM_CONT_L] = f_cont;
        dy[px::CUM_P_MADE] = r.qp * xv * v;
        dy
    }
}

/// O2 blending and transfer rates of one state.
#[derive(Debug, Clone, Copy)]
struct GasTransfer {
    y_o2: f64,
    kla_o2: f64,
    /// mM/h.
    otr: f64,
    /// mM/h (sparge and surface).
    ctr: f64,
}

/// Collects truth rows and events (perfect online and offline rows follow from the truth).
#[derive(Default)]
struct Recorder {
    truth: Vec<TruthRow>,
    events: Vec<Event>,
}

impl Recorder {
    fn record(&mut self, proto: &Prototype<'_>, c: &Controls, t_h: f64, y: &State, bolus_l: f64) {
        self.truth.push(truth_row(proto, c, t_h, y, bolus_l));
    }
}

fn truth_row(proto: &Prototype<'_>, c: &Controls, t_h: f64, y: &State, bolus_l: f64) -> TruthRow {
    let r = proto.rates(c, y);
    let total = y[px::XV] + y[px::XD];
    let p = y[px::P];
    TruthRow {
        t_h,
        volume_l: y[px::V],
        vcd_1e6_per_ml: y[px::XV],
        dead_cells_1e6_per_ml: y[px::XD],
        viability_pct: if total > 0.0 { 100.0 * y[px::XV] / total } else { 0.0 },
        glucose_mm: y[px::GLC],
        glucose_g_per_l: y[px::GLC] * GLUCOSE_G_PER_MOL / 1000.0,
        glutamine_mm: y[px::GLN],
        lactate_mm: y[px::LAC],
        lactate_g_per_l: y[px::LAC] * LACTATE_G_PER_MOL / 1000.0,
        ammonium_mm: y[px::AMM],
        titer_g_per_l: p / 1000.0,
        gi_pct: if p > 1e-12 { (100.0 * y[px::P_GAL] / p).clamp(0.0, 100.0) } else { 100.0 * r.g_gal },
        acidic_pct: if p > 1e-12 { (100.0 * y[px::P_AC] / p).clamp(0.0, 100.0) } else { 15.0 },
        do_pct: r.do_pct,
        dissolved_o2_mm: y[px::DO],
        pco2_mmhg: r.pco2,
        ph: r.ph,
        alkalinity_mm: y[px::ALK],
        sodium_mm: y[px::NA],
        osmolality_mosm_per_kg: r.osm,
        temp_c: c.temp_c,
        temp_setpoint_eff_c: c.temp_c,
        contaminant_g_per_l: 0.0,
        mu_per_h: r.mu,
        death_rate_per_h: r.mu_d,
        qp_pg_per_cell_per_day: r.qp * 24.0,
        our_mm_per_h: r.our,
        kla_o2_per_h: r.kla_o2,
        sparge_vvm: c.sparge_vvm,
        agitation_rpm: proto.geometry.agitation_rpm,
        o2_fraction: r.y_o2,
        co2_fraction: r.y_co2,
        base_rate_meq_per_l_per_h: r.base,
        base_added_l: y[px::CUM_BASE_L],
        continuous_feed_l: y[px::CUM_CONT_L],
        bolus_feed_l: bolus_l,
        sampled_l: 0.0,
    }
}
