//! The culture model (spec `sim.md` §2): state layout, inputs, the PI loops' constants and
//! the right-hand side, split by concept:
//! - this file: the solver vector's layout ([`ix`]), constants, segment inputs, the vessel,
//!   [`CultureModel`], its [`Derived`] values and the right-hand side [`CultureModel::rhs`];
//! - `modifiers.rs`: the smooth clamps and the cardinal temperature and pH models (§2.2);
//! - `temperature.rs`: the temperature-only terms and their one-entry memo;
//! - `rates.rs`: kinetics, carbonate chemistry, gas transfer and the loops' outputs at one
//!   state (§2.1–2.6), the part of the right-hand side that costs the most.
//!
//! The solver vector is plain `f64` behind the index constants of [`ix`]; [`Derived`]
//! turns it into named, unit-suffixed values in exactly one place.

mod modifiers;
mod rates;
mod temperature;

pub use modifiers::{cpm, ctmi, smooth_clamp};
pub use temperature::{TempCache, TempTerms};

use crate::params::KineticParams;
use crate::physics::{self, Geometry};
use crate::scenario::Sparger;

/// Number of entries in the solver vector.
pub const N_STATES: usize = 35;
/// The solver vector type.
pub type StateVec = nalgebra::SVector<f64, N_STATES>;

/// Index map of the solver vector (units in the comments; see docs/UNITS.md).
pub mod ix {
    /// Liquid volume, L.
    pub const V: usize = 0;
    /// Viable cells, 1e6 cells/mL.
    pub const XV: usize = 1;
    /// Dead (not yet lysed) cells, 1e6 cells/mL.
    pub const XD: usize = 2;
    /// Glucose, mM.
    pub const GLC: usize = 3;
    /// Glutamine, mM.
    pub const GLN: usize = 4;
    /// Lactate, mM.
    pub const LAC: usize = 5;
    /// Ammonium (NH3 + NH4+), mM.
    pub const AMM: usize = 6;
    /// Product (titer), mg/L.
    pub const P: usize = 7;
    /// Galactosylated product, mg/L.
    pub const P_GAL: usize = 8;
    /// Acidic-variant product, mg/L.
    pub const P_AC: usize = 9;
    /// Dissolved oxygen, mM.
    pub const DO: usize = 10;
    /// Dissolved CO2, mM.
    pub const CO2: usize = 11;
    /// Bicarbonate alkalinity, mM.
    pub const ALK: usize = 12;
    /// Sodium from base, mM.
    pub const NA: usize = 13;
    /// Non-modelled osmolytes, mOsm/kg.
    pub const OSM_F: usize = 14;
    /// Liquid temperature, °C.
    pub const T_L: usize = 15;
    /// Adapted temperature for qP, °C.
    pub const T_AD: usize = 16;
    /// Contaminant biomass, g/L.
    pub const B: usize = 17;
    /// DO loop integral, %·h.
    pub const I_DO: usize = 18;
    /// pH base loop integral, pH·h.
    pub const I_BASE: usize = 19;
    /// pH CO2 loop integral, pH·h.
    pub const I_CO2: usize = 20;
    /// Gas-flow (second DO stage) integral, %·h.
    pub const I_GAS: usize = 21;
    /// Cumulative base added, L.
    pub const CUM_BASE_L: usize = 22;
    /// Cumulative continuous-feed volume (all continuous streams), L.
    pub const CUM_CONT_L: usize = 23;
    /// Cumulative glucose consumed by cells and contaminant, mmol.
    pub const CUM_GLC_USED: usize = 24;
    /// Cumulative glutamine consumed (uptake + decay), mmol.
    pub const CUM_GLN_USED: usize = 25;
    /// Cumulative net lactate formed, mmol.
    pub const CUM_LAC_MADE: usize = 26;
    /// Cumulative net ammonium formed, mmol.
    pub const CUM_AMM_MADE: usize = 27;
    /// Cumulative product formed, mg.
    pub const CUM_P_MADE: usize = 28;
    /// Cumulative cells grown, 1e9 cells.
    pub const CUM_GROWTH: usize = 29;
    /// Cumulative dead cells lysed, 1e9 cells.
    pub const CUM_LYSIS: usize = 30;
    /// Cumulative glucose fed by continuous streams, mmol.
    pub const CUM_GLC_IN: usize = 31;
    /// Cumulative glutamine fed by continuous streams, mmol.
    pub const CUM_GLN_IN: usize = 32;
    /// Lumped inhibitory by-product of growth (Richelle 2022), mM-equivalent.
    pub const INH: usize = 33;
    /// Agitation (third DO stage) integral, %·h.
    pub const I_AGIT: usize = 34;
}

/// Molar mass of glucose.
pub const GLUCOSE_G_PER_MOL: f64 = 180.16;
/// Molar mass of lactate (lactic acid).
pub const LACTATE_G_PER_MOL: f64 = 90.08;
/// Base: 1 M Na2CO3 = 2 eq/L.
pub const BASE_MEQ_PER_L: f64 = 2000.0;
/// Reference qP for the galactosylation model, pg/cell/day.
pub const QP_REF_PG_PER_CELL_D: f64 = 22.0;

/// Temperature factor of acidic-variant formation per °C. The spec's structure uses 1.10;
/// deamidation has Ea ≈ 120 kJ/mol (1.17 per °C near 37 °C), which is what lets a 33 °C
/// shift lower the acidic fraction even though glucose accumulates at the lower
/// temperature (spec §2.6 direction). Changed with this note.
pub const THETA_ACIDIC: f64 = 1.17;

/// A continuous inflow during one integration segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContinuousStream {
    /// Constant flow, L/h (used when `per_culture_litre` is false).
    pub flow_l_per_h: f64,
    /// If true, the flow is `flow_l_per_h × V` (a dose per litre of culture).
    pub per_culture_litre: bool,
    pub glucose_mm: f64,
    pub glutamine_mm: f64,
    pub osmolytes_mosm_per_kg: f64,
}

impl ContinuousStream {
    pub(crate) fn flow_at(&self, volume_l: f64) -> f64 {
        if self.per_culture_litre { self.flow_l_per_h * volume_l } else { self.flow_l_per_h }
    }
}

/// Everything the right-hand side needs that is constant within a segment (or a known
/// function of time): setpoints, the deterministic part of what the loops measure,
/// fault effects and continuous feeds.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentInputs {
    pub temp_sp_c: f64,
    /// Linear temperature ramp: (t_start_h, from_c, t_end_h) towards `temp_sp_c`.
    pub temp_ramp: Option<(f64, f64, f64)>,
    /// Temperature excursion override of the effective setpoint.
    pub temp_override_c: Option<f64>,
    pub ph_sp: f64,
    pub ph_deadband: f64,
    pub do_sp_pct: f64,
    pub sparge_vvm: f64,
    pub max_sparge_vvm: f64,
    /// Deterministic measurement error seen by the loops: value = a + b·t_h (per signal),
    /// or a frozen reading.
    pub temp_meas: MeasuredBias,
    pub ph_meas: MeasuredBias,
    pub do_meas: MeasuredBias,
    pub streams: Vec<ContinuousStream>,
    /// Extra death rate (culture crash fault), 1/h.
    pub extra_death_per_h: f64,
}

/// How a loop's measurement differs from the truth within a segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MeasuredBias {
    /// measured = truth + offset + rate·(t_h − t0_h)
    Linear { offset: f64, rate_per_h: f64, t0_h: f64 },
    /// measured = this value (stuck sensor, failed probe).
    Frozen(f64),
}

impl MeasuredBias {
    pub const NONE: MeasuredBias = MeasuredBias::Linear { offset: 0.0, rate_per_h: 0.0, t0_h: 0.0 };

    /// What the loop sees at time `t_h` for true value `truth`.
    pub fn apply(&self, t_h: f64, truth: f64) -> f64 {
        match *self {
            MeasuredBias::Linear { offset, rate_per_h, t0_h } => truth + offset + rate_per_h * (t_h - t0_h),
            MeasuredBias::Frozen(v) => v,
        }
    }
}

/// Vessel constants used by the right-hand side.
#[derive(Debug, Clone, PartialEq)]
pub struct VesselModel {
    pub geometry: Geometry,
    pub sparger: Sparger,
    /// Fixed kLa override (1/h).
    pub kla_o2_override_per_h: Option<f64>,
    pub scale_physics: bool,
    pub pluronic: bool,
    /// Temperature time constant, h.
    pub tau_temp_h: f64,
    /// [`Geometry::kla_prefactor_per_h`] of this vessel and sparger, 1/h.
    pub kla_prefactor_per_h: f64,
    /// Per-vessel factors of the gas physics, folded once so that the right-hand side
    /// divides only by the mean pressure and the gas flow ([`GasConstants`]).
    pub gas: GasConstants,
    /// Bubble-burst death rate per vvm (1/h per vvm), 0 with Pluronic.
    pub kd_bubble_per_h_per_vvm: f64,
    /// Largest power multiplier of the agitation stage, (2 m/s ÷ tip speed)³, at least 1.
    pub agitation_max_multiplier: f64,
}

/// The vessel's gas physics (`physics`) with its constants folded: the same formulas as
/// [`physics::mean_pressure_atm`], [`physics::superficial_velocity_m_per_s`] and
/// [`Geometry::kla_surface_per_h`], rearranged so that the right-hand side needs no
/// division by a per-vessel constant (checked against them in a unit test).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GasConstants {
    /// Mean bubble pressure rise per litre of liquid: P_mean = 1 + this · V, atm/L.
    pub p_mean_rise_atm_per_l: f64,
    /// Superficial velocity (m/s) = this · Q (L/min STP) · (T + 273.15) / P_mean.
    pub v_s_per_lpm_kelvin_atm: f64,
    /// Surface kLa (1/h) = this / V (L).
    pub kla_surface_l_per_h: f64,
}

impl GasConstants {
    pub fn of(g: &Geometry) -> Self {
        Self {
            p_mean_rise_atm_per_l: physics::HALF_HEAD_ATM_PER_M / (1000.0 * g.cross_section_m2),
            v_s_per_lpm_kelvin_atm: 1.0 / ((1000.0 * 60.0 * 273.15) * g.cross_section_m2),
            kla_surface_l_per_h: g.kla_surface_per_h(1.0),
        }
    }
}

impl VesselModel {
    pub fn new(vessel: &crate::scenario::Vessel) -> Self {
        let geometry = Geometry::of(vessel);
        let tau_temp_h = if vessel.scale_physics { 0.3 * (vessel.nominal_volume_l / 50.0).cbrt() } else { 0.3 };
        Self {
            geometry,
            sparger: vessel.sparger,
            kla_o2_override_per_h: vessel.kla_o2_per_h,
            scale_physics: vessel.scale_physics,
            pluronic: vessel.pluronic,
            tau_temp_h,
            kla_prefactor_per_h: geometry.kla_prefactor_per_h(vessel.sparger),
            gas: GasConstants::of(&geometry),
            kd_bubble_per_h_per_vvm: if vessel.pluronic { 0.0 } else { physics::bubble_death_per_h(vessel.sparger, 1.0) },
            agitation_max_multiplier: (loops::MAX_TIP_SPEED_M_PER_S / geometry.tip_speed_m_per_s).powi(3).max(1.0),
        }
    }
}

/// Constants of the control loops (spec §2.5).
pub mod loops {
    /// DO: y_O2 = Y_O2_BIAS + KP·(e + I/TI), e in % air saturation.
    pub const DO_KP_PER_PCT: f64 = 0.005;
    pub const DO_TI_H: f64 = 0.5;
    pub const DO_Y_O2_BIAS: f64 = 0.2095;
    /// Gas-flow stage: the integral (in %·h) that brings vvm to its maximum.
    pub const GAS_FULL_PCT_H: f64 = 20.0;
    /// Agitation stage: the integral (in %·h) that brings agitation to its maximum tip speed.
    pub const AGIT_FULL_PCT_H: f64 = 20.0;
    /// Highest impeller tip speed the DO cascade may use.
    pub const MAX_TIP_SPEED_M_PER_S: f64 = 2.0;
    /// pH base loop, meq/(L·h) per pH unit, integral time h, cap meq/(L·h) (1 % V/day).
    pub const BASE_KP: f64 = 60.0;
    pub const BASE_TI_H: f64 = 4.0;
    pub const BASE_CAP_MEQ_PER_L_H: f64 = 20.0 / 24.0;
    /// pH CO2 loop: mole fraction per pH unit, h, maximum fraction.
    pub const CO2_KP: f64 = 2.0;
    pub const CO2_TI_H: f64 = 2.0;
    pub const CO2_Y_MAX: f64 = 0.15;
}

/// Named values derived from a state vector (pH, pCO2, osmolality, DO %, rates).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Derived {
    pub ph: f64,
    pub pco2_mmhg: f64,
    pub do_pct: f64,
    pub osmolality_mosm_per_kg: f64,
    pub viability_pct: f64,
    pub mu_per_h: f64,
    pub mu_d_per_h: f64,
    pub qp_pg_per_cell_d: f64,
    pub our_mm_per_h: f64,
    pub y_o2: f64,
    pub y_co2: f64,
    pub base_meq_per_l_h: f64,
    pub sparge_vvm: f64,
    pub kla_o2_per_h: f64,
    pub gi_pct: f64,
    pub acidic_pct: f64,
    pub temp_sp_eff_c: f64,
    pub agitation_rpm: f64,
}

/// The full model: parameters, vessel and the current segment's inputs. Build it with
/// [`CultureModel::new`]; `params` and `vessel` stay as they were built for the whole run
/// (the right-hand side keeps reciprocals of both), while `inputs` and the contaminant
/// change between segments.
#[derive(Debug, Clone)]
pub struct CultureModel {
    pub params: KineticParams,
    pub vessel: VesselModel,
    pub inputs: SegmentInputs,
    /// Contaminant growth parameters (fault): max rate 1/h; 0 when no contamination.
    pub contaminant_mu_max_per_h: f64,
    /// The temperature-only terms of the last evaluation ([`TempCache`]).
    pub temp_cache: TempCache,
    /// Reciprocals of parameters the right-hand side divides by, from `params` and `vessel`
    /// at construction ([`CultureModel::new`]).
    recip: ParamReciprocals,
}

/// 1/x of the parameters the right-hand side would otherwise divide by in every evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ParamReciprocals {
    y_x_glc: f64,
    y_x_gln: f64,
    ki_inh: f64,
    tau_tp_h: f64,
    tau_temp_h: f64,
}

impl CultureModel {
    /// A model of `vessel` with parameters `params`, the first segment's `inputs` and no
    /// contaminant.
    pub fn new(params: KineticParams, vessel: VesselModel, inputs: SegmentInputs) -> Self {
        let recip = ParamReciprocals {
            y_x_glc: 1.0 / params.y_x_glc_e9_per_mmol,
            y_x_gln: 1.0 / params.y_x_gln_e9_per_mmol,
            ki_inh: 1.0 / params.ki_inh_mm,
            tau_tp_h: 1.0 / params.tau_tp_h,
            tau_temp_h: 1.0 / vessel.tau_temp_h,
        };
        Self { params, vessel, inputs, contaminant_mu_max_per_h: 0.0, temp_cache: TempCache::default(), recip }
    }

    /// Named derived values at a state.
    pub fn derived(&self, t_h: f64, y: &StateVec) -> Derived {
        let r = self.rates(t_h, y);
        let total = y[ix::XV] + y[ix::XD];
        let p = y[ix::P];
        Derived {
            ph: r.ph,
            pco2_mmhg: r.pco2,
            do_pct: r.do_pct,
            osmolality_mosm_per_kg: r.osm,
            viability_pct: if total > 0.0 { 100.0 * y[ix::XV] / total } else { 0.0 },
            mu_per_h: r.mu,
            mu_d_per_h: r.mu_d,
            qp_pg_per_cell_d: r.qp * 24.0,
            our_mm_per_h: r.our,
            y_o2: r.y_o2,
            y_co2: r.y_co2,
            base_meq_per_l_h: r.base,
            sparge_vvm: r.vvm,
            kla_o2_per_h: r.kla_o2,
            gi_pct: if p > 1e-12 { (100.0 * y[ix::P_GAL] / p).clamp(0.0, 100.0) } else { 100.0 * r.g_gal },
            acidic_pct: if p > 1e-12 { (100.0 * y[ix::P_AC] / p).clamp(0.0, 100.0) } else { 15.0 },
            temp_sp_eff_c: r.t_sp_eff,
            agitation_rpm: self.vessel.geometry.agitation_rpm * self.agitation_multiplier(y).cbrt(),
        }
    }

    /// The right-hand side dy/dt.
    pub fn rhs(&self, t_h: f64, y: &StateVec, dy: &mut StateVec) {
        let p = &self.params;
        let r = self.rates(t_h, y);
        let v = y[ix::V].max(1e-9);
        let xv = y[ix::XV].max(0.0);
        let xd = y[ix::XD].max(0.0);
        let glc = y[ix::GLC].max(0.0);
        let gln = y[ix::GLN].max(0.0);

        // Inflows: continuous streams and base.
        let mut f_total = 0.0;
        let mut glc_in = 0.0;
        let mut gln_in = 0.0;
        let mut osm_in = 0.0;
        let mut f_cont = 0.0;
        for s in &self.inputs.streams {
            let f = s.flow_at(v);
            f_cont += f;
            glc_in += f * s.glucose_mm;
            gln_in += f * s.glutamine_mm;
            osm_in += f * s.osmolytes_mosm_per_kg;
        }
        let f_base = r.base * v * (1.0 / BASE_MEQ_PER_L);
        f_total += f_cont + f_base;
        let inv_v = r.inv_v;
        let d = f_total * inv_v;

        let gln_decay = p.k_deg_gln_per_h * gln;
        let r_glc = r.q_glc * xv + r.contam_glc;
        let r_gln = r.q_gln * xv + gln_decay;
        let r_lac = r.q_lac * xv;
        let r_amm = r.q_amm * xv + gln_decay;
        // Acid consumes bicarbonate only while there is some: near exhaustion the
        // contaminant stops (low pH) and lactate formation self-limits through k_pH,lac.
        let alk = y[ix::ALK].max(0.0);
        let r_acid = (r.q_lac * xv - r.q_amm * xv + r.contam_glc) * alk / (alk + 0.5);
        let cer = p.rq * (r.our - r.contam_our) + r.contam_our;

        dy[ix::V] = f_total;
        dy[ix::XV] = (r.mu - r.mu_d) * xv - d * y[ix::XV];
        dy[ix::XD] = r.mu_d * xv - p.k_lys_per_h * xd - d * y[ix::XD];
        dy[ix::GLC] = -r_glc + glc_in * inv_v - d * y[ix::GLC];
        dy[ix::GLN] = -r_gln + gln_in * inv_v - d * y[ix::GLN];
        dy[ix::LAC] = r_lac - d * y[ix::LAC];
        dy[ix::AMM] = r_amm - d * y[ix::AMM];
        dy[ix::P] = r.qp * xv - d * y[ix::P];
        dy[ix::P_GAL] = r.g_gal * r.qp * xv - d * y[ix::P_GAL];
        let t_l = y[ix::T_L];
        dy[ix::P_AC] = 0.15 * r.qp * xv
            + 0.002 * r.theta_acidic * (1.0 + glc * (1.0 / 50.0)) * (y[ix::P] - y[ix::P_AC]).max(0.0)
            - d * y[ix::P_AC];
        dy[ix::DO] = r.otr - r.our - d * y[ix::DO];
        dy[ix::CO2] = cer + r_acid - r.base / 2.0 + r.ctr - d * y[ix::CO2];
        dy[ix::ALK] = -r_acid + r.base - d * y[ix::ALK];
        dy[ix::NA] = r.base - d * y[ix::NA];
        dy[ix::OSM_F] = osm_in * inv_v - d * y[ix::OSM_F];
        dy[ix::T_L] = (r.t_sp_eff - t_l) * self.recip.tau_temp_h;
        dy[ix::T_AD] = (t_l - y[ix::T_AD]) * self.recip.tau_tp_h;
        dy[ix::B] = r.contam_growth - d * y[ix::B];

        // PI integrators with conditional-integration anti-windup.
        dy[ix::I_DO] = if (r.do_unsat >= 1.0 && r.e_do > 0.0) || (r.do_unsat <= 0.0 && r.e_do < 0.0) { 0.0 } else { r.e_do };
        dy[ix::I_BASE] = if (r.base_unsat >= loops::BASE_CAP_MEQ_PER_L_H && r.e_base > 0.0) || (y[ix::I_BASE] <= 0.0 && r.e_base < 0.0)
        {
            0.0
        } else {
            r.e_base
        };
        dy[ix::I_CO2] =
            if (r.co2_unsat >= loops::CO2_Y_MAX && r.e_co2 > 0.0) || (y[ix::I_CO2] <= 0.0 && r.e_co2 < 0.0) { 0.0 } else { r.e_co2 };
        // Second DO stage: integrate while oxygen is saturated and DO is still low; unwind
        // when DO is above its setpoint.
        dy[ix::I_GAS] = if r.do_unsat >= 0.99 && r.e_do > 0.0 {
            if y[ix::I_GAS] >= loops::GAS_FULL_PCT_H { 0.0 } else { r.e_do }
        } else if r.e_do < 0.0 && y[ix::I_GAS] > 0.0 {
            r.e_do
        } else {
            0.0
        };
        // Third DO stage: agitation, once oxygen and gas flow are both at their maximum.
        let gas_full = y[ix::I_GAS] >= loops::GAS_FULL_PCT_H || self.inputs.max_sparge_vvm <= self.inputs.sparge_vvm;
        dy[ix::I_AGIT] = if r.do_unsat >= 0.99 && r.e_do > 0.0 && gas_full {
            if y[ix::I_AGIT] >= loops::AGIT_FULL_PCT_H { 0.0 } else { r.e_do }
        } else if r.e_do < 0.0 && y[ix::I_AGIT] > 0.0 {
            r.e_do
        } else {
            0.0
        };

        // Ledgers.
        dy[ix::CUM_BASE_L] = f_base;
        dy[ix::CUM_CONT_L] = f_cont;
        dy[ix::CUM_GLC_USED] = r_glc * v;
        dy[ix::CUM_GLN_USED] = r_gln * v;
        dy[ix::CUM_LAC_MADE] = r_lac * v;
        dy[ix::CUM_AMM_MADE] = r_amm * v;
        dy[ix::CUM_P_MADE] = r.qp * xv * v;
        dy[ix::CUM_GROWTH] = r.mu * xv * v;
        dy[ix::CUM_LYSIS] = p.k_lys_per_h * xd * v;
        dy[ix::CUM_GLC_IN] = glc_in;
        dy[ix::CUM_GLN_IN] = gln_in;
        dy[ix::INH] = p.y_inh_mm_per_e6 * r.mu * xv - d * y[ix::INH];
    }
}

impl ode_solvers::System<f64, StateVec> for &CultureModel {
    fn system(&self, t_h: f64, y: &StateVec, dy: &mut StateVec) {
        self.rhs(t_h, y, dy);
    }
}

