//! The culture model (spec `sim.md` §2): state layout, modifiers, kinetics, carbonate
//! chemistry, gas transfer and the PI control loops, as one right-hand side.
//!
//! The solver vector is plain `f64` behind the index constants of [`ix`]; [`Derived`]
//! turns it into named, unit-suffixed values in exactly one place.

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

/// Smooth clamp of `x` to `[lo, hi]`: C¹, equal to the clamp outside a band of width `w`
/// around each edge.
pub fn smooth_clamp(x: f64, lo: f64, hi: f64, w: f64) -> f64 {
    smooth_max(lo, smooth_min(x, hi, w), w)
}

fn smooth_max(a: f64, b: f64, w: f64) -> f64 {
    let d = b - a;
    if d >= w {
        b
    } else if d <= -w {
        a
    } else {
        // quadratic blend on (−w, w): C¹ at both ends.
        a + (d + w).powi(2) / (4.0 * w)
    }
}

fn smooth_min(a: f64, b: f64, w: f64) -> f64 {
    -smooth_max(-a, -b, w)
}

fn pos(x: f64) -> f64 {
    x.max(0.0)
}

/// Cardinal temperature model with inflection (Rosso 1993): 1 at `t_opt`, 0 outside
/// (`t_min`, `t_max`).
pub fn ctmi(t: f64, t_min: f64, t_opt: f64, t_max: f64) -> f64 {
    if t <= t_min || t >= t_max {
        return 0.0;
    }
    let num = (t - t_max) * (t - t_min).powi(2);
    let den = (t_opt - t_min) * ((t_opt - t_min) * (t - t_opt) - (t_opt - t_max) * (t_opt + t_min - 2.0 * t));
    (num / den).clamp(0.0, 1.0)
}

/// Cardinal pH model (Rosso 1995).
pub fn cpm(ph: f64, a: f64, o: f64, b: f64) -> f64 {
    if ph <= a || ph >= b {
        return 0.0;
    }
    let n = (ph - a) * (ph - b);
    (n / (n - (ph - o).powi(2))).clamp(0.0, 1.0)
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

/// The full model: parameters, vessel and the current segment's inputs.
#[derive(Debug, Clone)]
pub struct CultureModel {
    pub params: KineticParams,
    pub vessel: VesselModel,
    pub inputs: SegmentInputs,
    /// Contaminant growth parameters (fault): max rate 1/h; 0 when no contamination.
    pub contaminant_mu_max_per_h: f64,
    /// The temperature-only terms of the last evaluation ([`TempCache`]).
    pub temp_cache: TempCache,
}

/// Solubilities, their reciprocals and the temperature factors: functions of the liquid
/// temperature only (five `exp`/`powf` calls and several divisions per evaluation). The
/// liquid temperature sits bit-for-bit at its setpoint for most of a run, so the right-hand
/// side keeps the last result and reuses it when the temperature is the same `f64`: results
/// are bit-identical to recomputing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TempTerms {
    pub s_o2: f64,
    pub s_co2: f64,
    /// 1 / S_O2 and 1 / S_CO2 (atm per mM).
    pub inv_s_o2: f64,
    pub inv_s_co2: f64,
    /// pCO2 (mmHg) per mM of dissolved CO2: 760 / S_CO2.
    pub pco2_mmhg_per_mm: f64,
    /// DO (% air saturation) per mM of dissolved O2: 100 / (y_O2,air · S_O2).
    pub do_pct_per_mm: f64,
    /// The cardinal temperature factor of growth, f_T (§2.2).
    pub f_t: f64,
    pub theta_m: f64,
    pub theta_d: f64,
    pub theta_acidic: f64,
}

impl TempTerms {
    pub fn at(t_l: f64) -> Self {
        let s_o2 = physics::s_o2_mm_per_atm(t_l);
        let s_co2 = physics::s_co2_mm_per_atm(t_l);
        Self {
            s_o2,
            s_co2,
            inv_s_o2: 1.0 / s_o2,
            inv_s_co2: 1.0 / s_co2,
            pco2_mmhg_per_mm: 760.0 / s_co2,
            do_pct_per_mm: 100.0 / (physics::Y_O2_AIR * s_o2),
            f_t: ctmi(t_l, 28.0, 37.0, 41.0),
            // θ^(T−37) as exp((T−37)·ln θ): one `exp` instead of a `powf` (the logarithms
            // of the constants fold at compile time).
            theta_m: ((t_l - 37.0) * 1.048_f64.ln()).exp(),
            theta_d: ((t_l - 37.0) * 1.10_f64.ln()).exp(),
            theta_acidic: ((t_l - 37.0) * THETA_ACIDIC.ln()).exp(),
        }
    }
}

/// One-entry memo of [`TempTerms`] keyed by the temperature's bits.
#[derive(Debug, Clone, Default)]
pub struct TempCache(std::cell::Cell<Option<(u64, TempTerms)>>);

impl TempCache {
    /// [`TempTerms::at`] through the memo.
    pub fn terms(&self, t_l: f64) -> TempTerms {
        let key = t_l.to_bits();
        match self.0.get() {
            Some((k, terms)) if k == key => terms,
            _ => {
                let terms = TempTerms::at(t_l);
                self.0.set(Some((key, terms)));
                terms
            }
        }
    }
}

/// Rates and loop outputs at one state (intermediate of the right-hand side).
#[derive(Debug, Clone, Copy, Default)]
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
    vvm: f64,
    kla_o2: f64,
    otr: f64,
    ctr: f64,
    t_sp_eff: f64,
    // loop errors (for integrators)
    e_do: f64,
    e_base: f64,
    e_co2: f64,
    do_unsat: f64,
    base_unsat: f64,
    co2_unsat: f64,
    contam_glc: f64,
    contam_our: f64,
    contam_growth: f64,
    /// θ_acidic^(T−37) of the evaluation's temperature ([`TempTerms`]).
    theta_acidic: f64,
}

impl CultureModel {
    /// Effective temperature setpoint at `t_h` (ramp, excursion, measurement bias).
    fn temp_sp_eff(&self, t_h: f64) -> f64 {
        let inp = &self.inputs;
        let sp = if let Some(target) = inp.temp_override_c {
            target
        } else if let Some((t0, from, t1)) = inp.temp_ramp {
            if t_h >= t1 { inp.temp_sp_c } else { from + (inp.temp_sp_c - from) * ((t_h - t0) / (t1 - t0)).clamp(0.0, 1.0) }
        } else {
            inp.temp_sp_c
        };
        // The loop drives the *measured* temperature to the setpoint.
        let bias = inp.temp_meas.apply(t_h, 0.0);
        match inp.temp_meas {
            MeasuredBias::Frozen(_) => sp, // a stuck probe: the jacket holds its last output
            MeasuredBias::Linear { .. } => sp - bias,
        }
    }

    fn rates(&self, t_h: f64, y: &StateVec) -> Rates {
        let p = &self.params;
        let inp = &self.inputs;
        let vm = &self.vessel;
        let v = y[ix::V].max(1e-9);
        let xv = y[ix::XV].max(0.0);
        let glc = y[ix::GLC].max(0.0);
        let gln = y[ix::GLN].max(0.0);
        let lac = y[ix::LAC].max(0.0);
        let amm = y[ix::AMM].max(0.0);
        let dox = y[ix::DO].max(0.0);
        let co2 = y[ix::CO2].max(1e-9);
        let alk = y[ix::ALK].max(1e-9);
        let t_l = y[ix::T_L];
        let t_ad = y[ix::T_AD];

        let tt = self.temp_cache.terms(t_l);
        let TempTerms { theta_m, theta_d, theta_acidic, .. } = tt;
        let ph = 6.1 + (alk / co2).log10();
        let pco2 = co2 * tt.pco2_mmhg_per_mm;
        let do_pct = dox * tt.do_pct_per_mm;
        let osm = y[ix::OSM_F] + glc + gln + lac + amm + y[ix::ALK] + y[ix::NA];

        // The saturating and inhibiting factors below are ratios num/den; where several
        // multiply, they share one division (a division costs several multiplications, and
        // the right-hand side is most of a run's time): 1/(1 + (x/k)²) is written k²/(k² + x²).
        let hyperoxia = pos(do_pct - 150.0) * 0.01;
        let osm_excess = pos(osm - 320.0);
        let co2_excess_growth = pos(pco2 - 50.0);
        let k_osm2 = p.k_osm_mosm * p.k_osm_mosm;

        // Lumped inhibitory by-product (Richelle 2022): Hill inhibition of growth and a
        // matching death term, so growth stops and the culture declines after its peak.
        let inh4 = (y[ix::INH].max(0.0) / p.ki_inh_mm).powi(4);

        // Kinetics (§2.1) with the modifiers of §2.2: f_T · f_pH · f_DO · f_Osm · f_CO2 ·
        // Monod(Glc) · Monod(Gln) · inhibition(Lac) · inhibition(Amm) · f_inh.
        let f_t = tt.f_t;
        let f_ph = cpm(ph, 6.36, 7.15, 7.94);
        let mu_num = dox * k_osm2 * (160.0 * 160.0) * glc * gln * p.ki_lac_mm * p.ki_amm_mm;
        let mu_den = (0.002 + dox)
            * (1.0 + hyperoxia * hyperoxia)
            * (k_osm2 + osm_excess * osm_excess)
            * (160.0 * 160.0 + co2_excess_growth * co2_excess_growth)
            * (p.k_glc_mm + glc)
            * (p.k_gln_mm + gln)
            * (p.ki_lac_mm + pos(lac - p.lac_th_mm))
            * (p.ki_amm_mm + pos(amm - p.amm_th_mm))
            * (1.0 + inh4);
        let mu = p.mu_max_per_h * f_t * f_ph * (mu_num / mu_den);
        let vvm = self.sparge_vvm(y);
        let b = y[ix::B].max(0.0);
        let kd_bub = if vm.pluronic { 0.0 } else { physics::bubble_death_per_h(vm.sparger, vvm) };
        let co2_excess_death = pos(pco2 - 150.0) * 0.01;
        let mu_d = p.kd0_per_h * theta_d
            + p.mud_max_per_h * lac * amm / ((p.kd_lac_mm + lac) * (p.kd_amm_mm + amm))
            + p.kd_st_per_h * p.k_st_mm / (p.k_st_mm + glc)
            + p.kd_co2_per_h * co2_excess_death * co2_excess_death
            + kd_bub
            + 0.5 * b
            + p.kd_inh_per_h * inh4 / (1.0 + inh4)
            + inp.extra_death_per_h;
        let mu_per_y_glc = mu / p.y_x_glc_e9_per_mmol;
        let mu_per_y_gln = mu / p.y_x_gln_e9_per_mmol;
        let q_glc = (mu_per_y_glc + p.m_glc * theta_m) * glc / (glc + 0.05);
        let q_gln = mu_per_y_gln + p.a1 * gln / (p.a2_mm + gln);
        // 1/(1 + (x/100)²) = 10⁴/(10⁴ + x²) (CO2 on lactate uptake) and 1/(1 + (μ/μ_shift)⁴) =
        // μ_shift⁴/(μ_shift⁴ + μ⁴): one division for the uptake term.
        let co2_excess_prod = pos(pco2 - 60.0);
        let co2_excess_prod2 = co2_excess_prod * co2_excess_prod;
        let mu_shift2 = p.mu_shift_per_h * p.mu_shift_per_h;
        let mu2 = mu * mu;
        let q_lac = p.y_lac_glc * mu_per_y_glc * (p.k_ph_lac * (ph - 7.0)).exp() * p.k_lp_mm / (p.k_lp_mm + lac)
            - p.q_lac_max * theta_m * lac * (mu_shift2 * mu_shift2) * 1e4
                / ((p.k_lc_mm + lac) * (mu_shift2 * mu_shift2 + mu2 * mu2) * (1e4 + co2_excess_prod2));
        let q_amm = p.y_amm_gln * mu_per_y_gln - p.r_amm * amm / (p.k_ramm_mm + amm);
        let f_tp = 1.0 + p.k_tp_per_c * pos(37.0 - t_ad);
        let f_php = 1.0 + 0.3 * (7.0 - ph);
        let f_osmp = 1.0 + 0.002 * osm_excess;
        let k_co2_p2 = p.k_co2_p_mmhg * p.k_co2_p_mmhg;
        let f_co2p = k_co2_p2 / (k_co2_p2 + co2_excess_prod2);
        let qp = (p.alpha_mg_per_e9 * mu + p.beta_mg_per_e9_h) * f_tp * f_php * f_osmp * f_co2p;
        let o2_sat = dox / (p.k_o2_mm + dox);
        let our_cells = p.q_o2 * theta_m * o2_sat * xv;

        // Contaminant (fault): zero unless the scenario injects one.
        let contam_growth = if self.contaminant_mu_max_per_h == 0.0 {
            0.0
        } else {
            let mu_c = self.contaminant_mu_max_per_h * glc * alk / ((1.0 + glc) * (alk + 1.0)) * o2_sat;
            mu_c * b // g/L/h
        };
        // g/L/h of biomass at a yield of 0.4 g/g glucose, in mM/h of glucose.
        let contam_glc = contam_growth * (1000.0 / (0.4 * GLUCOSE_G_PER_MOL));
        let contam_our = 31.0 * contam_growth; // mM/h
        let our = our_cells + contam_our;

        // Galactosylation (§2.6): 0.45/(1 + (Amm−5)⁺/15) = 6.75/(15 + (Amm−5)⁺).
        let qp_pg_d = qp * 24.0;
        let g_gal = (0.45 * 15.0 / ((15.0 + pos(amm - 5.0)) * (1.0 + 0.4 * pos(qp_pg_d * (1.0 / QP_REF_PG_PER_CELL_D) - 1.0)))
            * (1.0 - 0.001 * osm_excess))
            .clamp(0.0, 1.0);

        // Control loops (§2.5) on what the probes report (deterministic part).
        let t_sp_eff = self.temp_sp_eff(t_h);
        let do_meas = inp.do_meas.apply(t_h, do_pct);
        let e_do = inp.do_sp_pct - do_meas;
        let do_unsat = loops::DO_Y_O2_BIAS + loops::DO_KP_PER_PCT * (e_do + y[ix::I_DO] / loops::DO_TI_H);
        let y_o2 = smooth_clamp(do_unsat, 0.0, 1.0, 0.01);
        let ph_meas = inp.ph_meas.apply(t_h, ph);
        let e_base = (inp.ph_sp - inp.ph_deadband) - ph_meas;
        let base_unsat = loops::BASE_KP * (e_base + y[ix::I_BASE].max(0.0) / loops::BASE_TI_H);
        let base = smooth_clamp(base_unsat, 0.0, loops::BASE_CAP_MEQ_PER_L_H, 0.01 * loops::BASE_CAP_MEQ_PER_L_H);
        let e_co2 = ph_meas - (inp.ph_sp + inp.ph_deadband);
        let co2_unsat = loops::CO2_KP * (e_co2 + y[ix::I_CO2].max(0.0) / loops::CO2_TI_H);
        let y_co2 = smooth_clamp(co2_unsat, 0.0, loops::CO2_Y_MAX, 0.01 * loops::CO2_Y_MAX).min(1.0 - y_o2);

        // Gas transfer (§2.5).
        let agit = self.agitation_multiplier(y);
        let (otr, ctr, kla_o2) = self.gas_transfer(v, vvm, agit, y_o2, y_co2, dox, co2, t_l, &tt);

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
            y_o2,
            y_co2,
            base,
            vvm,
            kla_o2,
            otr,
            ctr,
            t_sp_eff,
            e_do,
            e_base,
            e_co2,
            do_unsat,
            base_unsat,
            co2_unsat,
            contam_glc,
            contam_our,
            contam_growth,
            theta_acidic,
        }
    }

    /// Power-per-volume multiplier of the third DO stage (agitation up to 2 m/s tip speed;
    /// at fixed impeller diameter P/V ∝ tip speed³).
    fn agitation_multiplier(&self, y: &StateVec) -> f64 {
        let tip = self.vessel.geometry.tip_speed_m_per_s;
        let max = (loops::MAX_TIP_SPEED_M_PER_S / tip).powi(3).max(1.0);
        1.0 + (max - 1.0) * (y[ix::I_AGIT].max(0.0) / loops::AGIT_FULL_PCT_H).min(1.0)
    }

    /// Sparge gas flow (vvm) including the second DO stage.
    fn sparge_vvm(&self, y: &StateVec) -> f64 {
        let inp = &self.inputs;
        let extra = (inp.max_sparge_vvm - inp.sparge_vvm).max(0.0);
        inp.sparge_vvm + extra * (y[ix::I_GAS].max(0.0) / loops::GAS_FULL_PCT_H).min(1.0)
    }

    /// O2 and CO2 transfer into the liquid (mM/h) and the O2 kLa (1/h).
    #[allow(clippy::too_many_arguments)]
    fn gas_transfer(&self, v: f64, vvm: f64, agitation_multiplier: f64, y_o2: f64, y_co2: f64, dox: f64, co2: f64, t_l: f64, tt: &TempTerms) -> (f64, f64, f64) {
        let vm = &self.vessel;
        let g = &vm.geometry;
        let (s_o2, s_co2) = (tt.s_o2, tt.s_co2);
        let q_l_per_min = vvm * v;
        if !vm.scale_physics {
            // Ideal, scale-free transfer: fixed kLa, 1 atm, no surface aeration.
            let kla_o2 = vm.kla_o2_override_per_h.unwrap_or(10.0);
            let kla_co2 = 0.9 * kla_o2;
            let otr = kla_o2 * (s_o2 * y_o2 - dox);
            let ctr = kla_co2 * (s_co2 * y_co2 - co2);
            return (otr, ctr, kla_o2);
        }
        let p_mean = physics::mean_pressure_atm(g.height_at_m(v));
        let kla_o2 = vm.kla_o2_override_per_h.unwrap_or_else(|| {
            let kla = vm.kla_prefactor_per_h * g.kla_gas_factor(q_l_per_min, t_l, p_mean);
            // The third DO stage is idle in most runs: skip its `powf` (1^0.4 = 1 exactly).
            if agitation_multiplier == 1.0 { kla } else { kla * agitation_multiplier.powf(0.4) }
        });
        let kla_co2 = 0.9 * kla_o2;
        let g_mol_per_h = q_l_per_min * 60.0 / physics::MOLAR_VOLUME_L_PER_MOL;
        // Sparged bubbles leave at p_out = C/S + (p_in − C/S)·e^(−NTU), NTU = kLa·S·p·V/(1000·G);
        // the transfer is 1000·G·(p_in − p_out)/(p·V). The reciprocals are shared by O2 and CO2.
        let (inv_1000_g, inv_p_v) = if g_mol_per_h > 0.0 { (1.0 / (1000.0 * g_mol_per_h), 1.0 / (p_mean * v)) } else { (0.0, 0.0) };
        let sparge = |kla: f64, s: f64, inv_s: f64, y_in: f64, c: f64| -> f64 {
            if g_mol_per_h <= 0.0 {
                return 0.0;
            }
            let ntu = kla * s * p_mean * v * inv_1000_g;
            let p_in = y_in * p_mean;
            let c_over_s = c * inv_s;
            let p_out = c_over_s + (p_in - c_over_s) * (-ntu).exp();
            1000.0 * g_mol_per_h * (p_in - p_out) * inv_p_v
        };
        let kla_s = g.kla_surface_per_h(v);
        let otr = sparge(kla_o2, s_o2, tt.inv_s_o2, y_o2, dox) + kla_s * (s_o2 * physics::Y_O2_AIR - dox);
        let ctr = sparge(kla_co2, s_co2, tt.inv_s_co2, y_co2, co2) + 0.9 * kla_s * (s_co2 * physics::Y_CO2_AIR - co2);
        (otr, ctr, kla_o2)
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
        let f_base = r.base * v / BASE_MEQ_PER_L;
        f_total += f_cont + f_base;
        let inv_v = 1.0 / v;
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
            + 0.002 * r.theta_acidic * (1.0 + glc / 50.0) * (y[ix::P] - y[ix::P_AC]).max(0.0)
            - d * y[ix::P_AC];
        dy[ix::DO] = r.otr - r.our - d * y[ix::DO];
        dy[ix::CO2] = cer + r_acid - r.base / 2.0 + r.ctr - d * y[ix::CO2];
        dy[ix::ALK] = -r_acid + r.base - d * y[ix::ALK];
        dy[ix::NA] = r.base - d * y[ix::NA];
        dy[ix::OSM_F] = osm_in * inv_v - d * y[ix::OSM_F];
        dy[ix::T_L] = (r.t_sp_eff - t_l) / self.vessel.tau_temp_h;
        dy[ix::T_AD] = (t_l - y[ix::T_AD]) / p.tau_tp_h;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modifiers_match_the_spec_table() {
        let f = |t| ctmi(t, 28.0, 37.0, 41.0);
        for (t, want) in [(30.0, 0.11), (32.0, 0.39), (33.0, 0.56), (36.8, 1.00), (39.0, 0.79)] {
            assert!((f(t) - want).abs() < 0.012, "fT({t}) = {}", f(t));
        }
        for (ph, want) in [(6.8, 0.80), (6.9, 0.90), (7.0, 0.96)] {
            let v = cpm(ph, 6.36, 7.15, 7.94);
            assert!((v - want).abs() < 0.012, "fpH({ph}) = {v}");
        }
        assert_eq!(ctmi(27.0, 28.0, 37.0, 41.0), 0.0);
        assert_eq!(cpm(8.0, 6.36, 7.15, 7.94), 0.0);
    }

    #[test]
    fn temperature_terms_memo_is_exact_and_theta_matches_powf() {
        let cache = TempCache::default();
        for t in [37.0, 37.0, 33.0, 36.999_999_999, 37.0, 41.5, 28.25, 28.25] {
            let got = cache.terms(t);
            assert_eq!(got, TempTerms::at(t), "memo at {t}");
            for (theta, base) in [(got.theta_m, 1.048_f64), (got.theta_d, 1.10), (got.theta_acidic, THETA_ACIDIC)] {
                let want = base.powf(t - 37.0);
                assert!((theta - want).abs() <= 4.0 * f64::EPSILON * want, "θ {base} at {t}: {theta} vs {want}");
            }
        }
        assert_eq!(cache.terms(37.0).theta_m, 1.0);
    }

    /// The right-hand side shares divisions between factors (k²/(k² + x²) for 1/(1 + (x/k)²),
    /// one denominator for the growth modifiers). This checks it against the factors written
    /// one by one as §2.1–2.6 state them, at states that switch every branch on (hyperoxia,
    /// high osmolality and pCO2, inhibitor, contaminant, low and high μ).
    #[test]
    fn fused_rates_match_the_factor_by_factor_formulas() {
        let sc = crate::scenario::Scenario::default();
        let p = KineticParams::platform();
        let model = CultureModel {
            params: p.clone(),
            vessel: VesselModel::new(&sc.vessel),
            inputs: SegmentInputs {
                temp_sp_c: 36.5,
                temp_ramp: None,
                temp_override_c: None,
                ph_sp: 7.0,
                ph_deadband: 0.05,
                do_sp_pct: 40.0,
                sparge_vvm: 0.01,
                max_sparge_vvm: 0.05,
                temp_meas: MeasuredBias::NONE,
                ph_meas: MeasuredBias::NONE,
                do_meas: MeasuredBias::NONE,
                streams: Vec::new(),
                extra_death_per_h: 0.0,
            },
            contaminant_mu_max_per_h: 0.3,
            temp_cache: TempCache::default(),
        };
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut unit = || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let close = |name: &str, got: f64, want: f64| {
            assert!((got - want).abs() <= 1e-12 * want.abs().max(1e-9), "{name}: fused {got} vs factor by factor {want}");
        };
        for _ in 0..400 {
            let mut y = StateVec::zeros();
            y[ix::V] = 20.0 + 20.0 * unit();
            y[ix::XV] = 30.0 * unit();
            y[ix::GLC] = 60.0 * unit();
            y[ix::GLN] = 10.0 * unit();
            y[ix::LAC] = 60.0 * unit();
            y[ix::AMM] = 20.0 * unit();
            y[ix::DO] = 0.5 * unit();
            y[ix::CO2] = 0.5 + 8.0 * unit();
            y[ix::ALK] = 2.0 + 40.0 * unit();
            y[ix::OSM_F] = 250.0 * unit();
            y[ix::T_L] = 30.0 + 8.0 * unit();
            y[ix::T_AD] = y[ix::T_L];
            y[ix::B] = 0.05 * unit();
            y[ix::INH] = 2.0 * p.ki_inh_mm * unit();
            let r = model.rates(0.0, &y);
            let (glc, gln, lac, amm, dox, t_l) = (y[ix::GLC], y[ix::GLN], y[ix::LAC], y[ix::AMM], y[ix::DO], y[ix::T_L]);
            let alpha_co2 = physics::s_co2_mm_per_atm(t_l) / 760.0;
            let pco2 = y[ix::CO2] / alpha_co2;
            let do_pct = dox / (physics::Y_O2_AIR * physics::s_o2_mm_per_atm(t_l)) * 100.0;
            close("pCO2", r.pco2, pco2);
            close("DO %", r.do_pct, do_pct);
            let (ph, osm) = (r.ph, r.osm);
            let f_do = dox / (0.002 + dox) / (1.0 + (pos(do_pct - 150.0) / 100.0).powi(2));
            let f_osm = 1.0 / (1.0 + (pos(osm - 320.0) / p.k_osm_mosm).powi(2));
            let f_co2 = 1.0 / (1.0 + (pos(pco2 - 50.0) / 160.0).powi(2));
            let inh4 = (y[ix::INH] / p.ki_inh_mm).powi(4);
            let mu = p.mu_max_per_h * ctmi(t_l, 28.0, 37.0, 41.0) * cpm(ph, 6.36, 7.15, 7.94) * f_do * f_osm * f_co2 * glc / (p.k_glc_mm + glc) * gln
                / (p.k_gln_mm + gln)
                * p.ki_lac_mm
                / (p.ki_lac_mm + pos(lac - p.lac_th_mm))
                * p.ki_amm_mm
                / (p.ki_amm_mm + pos(amm - p.amm_th_mm))
                / (1.0 + inh4);
            close("mu", r.mu, mu);
            let theta_m = 1.048_f64.powf(t_l - 37.0);
            let f_co2_lac = 1.0 / (1.0 + (pos(pco2 - 60.0) / 100.0).powi(2));
            let q_lac = p.y_lac_glc * (mu / p.y_x_glc_e9_per_mmol) * (p.k_ph_lac * (ph - 7.0)).exp() * p.k_lp_mm / (p.k_lp_mm + lac)
                - p.q_lac_max * theta_m * lac / (p.k_lc_mm + lac) / (1.0 + (mu / p.mu_shift_per_h).powi(4)) * f_co2_lac;
            assert!((r.q_lac - q_lac).abs() <= 1e-11 * (q_lac.abs() + p.q_lac_max), "q_lac: fused {} vs {q_lac}", r.q_lac);
            let f_co2p = 1.0 / (1.0 + (pos(pco2 - 60.0) / p.k_co2_p_mmhg).powi(2));
            let qp = (p.alpha_mg_per_e9 * mu + p.beta_mg_per_e9_h)
                * (1.0 + p.k_tp_per_c * pos(37.0 - t_l))
                * (1.0 + 0.3 * (7.0 - ph))
                * (1.0 + 0.2 * pos(osm - 320.0) / 100.0)
                * f_co2p;
            close("qp", r.qp, qp);
            let g_gal = (0.45 / (1.0 + pos(amm - 5.0) / 15.0) / (1.0 + 0.4 * pos(qp * 24.0 / QP_REF_PG_PER_CELL_D - 1.0))
                * (1.0 - 0.1 * pos(osm - 320.0) / 100.0))
                .clamp(0.0, 1.0);
            close("g_gal", r.g_gal, g_gal);
            let mu_c = model.contaminant_mu_max_per_h * glc / (1.0 + glc) * y[ix::ALK] / (y[ix::ALK] + 1.0) * dox / (p.k_o2_mm + dox);
            close("contaminant glucose uptake", r.contam_glc, mu_c * y[ix::B] / 0.4 / GLUCOSE_G_PER_MOL * 1000.0);
            let kd_bub = physics::bubble_death_per_h(model.vessel.sparger, r.vvm);
            let mu_d = p.kd0_per_h * 1.10_f64.powf(t_l - 37.0)
                + p.mud_max_per_h * lac / (p.kd_lac_mm + lac) * amm / (p.kd_amm_mm + amm)
                + p.kd_st_per_h * p.k_st_mm / (p.k_st_mm + glc)
                + p.kd_co2_per_h * (pos(pco2 - 150.0) / 100.0).powi(2)
                + if model.vessel.pluronic { 0.0 } else { kd_bub }
                + 0.5 * y[ix::B]
                + p.kd_inh_per_h * inh4 / (1.0 + inh4);
            close("mu_d", r.mu_d, mu_d);
        }
    }

    #[test]
    fn smooth_clamp_is_a_clamp_away_from_edges_and_continuous() {
        assert_eq!(smooth_clamp(0.5, 0.0, 1.0, 0.01), 0.5);
        assert_eq!(smooth_clamp(-1.0, 0.0, 1.0, 0.01), 0.0);
        assert_eq!(smooth_clamp(2.0, 0.0, 1.0, 0.01), 1.0);
        let mut prev = smooth_clamp(-0.1, 0.0, 1.0, 0.01);
        for i in 1..=1200 {
            let x = -0.1 + i as f64 * 0.001;
            let v = smooth_clamp(x, 0.0, 1.0, 0.01);
            assert!(v >= prev - 1e-15 && (v - prev).abs() <= 0.0010001, "x {x}");
            prev = v;
        }
    }
}
