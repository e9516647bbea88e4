//! Kinetics, carbonate chemistry, gas transfer and the control loops' outputs at one state
//! (spec §2.1–2.6): the costly part of the right-hand side.

use super::modifiers::{cpm, pos, smooth_clamp};
use super::temperature::TempTerms;
use super::{CultureModel, GLUCOSE_G_PER_MOL, MeasuredBias, QP_REF_PG_PER_CELL_D, StateVec, ix, loops};
use crate::physics;

/// Rates and loop outputs at one state (intermediate of the right-hand side).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Rates {
    pub(super) mu: f64,
    pub(super) mu_d: f64,
    pub(super) q_glc: f64,
    pub(super) q_gln: f64,
    pub(super) q_lac: f64,
    pub(super) q_amm: f64,
    pub(super) qp: f64,
    pub(super) our: f64,
    pub(super) g_gal: f64,
    pub(super) ph: f64,
    pub(super) pco2: f64,
    pub(super) do_pct: f64,
    pub(super) osm: f64,
    pub(super) y_o2: f64,
    pub(super) y_co2: f64,
    pub(super) base: f64,
    pub(super) vvm: f64,
    pub(super) kla_o2: f64,
    pub(super) otr: f64,
    pub(super) ctr: f64,
    pub(super) t_sp_eff: f64,
    // loop errors (for integrators)
    pub(super) e_do: f64,
    pub(super) e_base: f64,
    pub(super) e_co2: f64,
    pub(super) do_unsat: f64,
    pub(super) base_unsat: f64,
    pub(super) co2_unsat: f64,
    pub(super) contam_glc: f64,
    pub(super) contam_our: f64,
    pub(super) contam_growth: f64,
    /// θ_acidic^(T−37) of the evaluation's temperature ([`TempTerms`]).
    pub(super) theta_acidic: f64,
    /// 1 / liquid volume, 1/L (shared with the right-hand side's dilution terms).
    pub(super) inv_v: f64,
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

    pub(super) fn rates(&self, t_h: f64, y: &StateVec) -> Rates {
        let p = &self.params;
        let inp = &self.inputs;
        let vm = &self.vessel;
        let v = y[ix::V].max(1e-9);
        let inv_v = 1.0 / v;
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
        // log10 as ln · log10(e): glibc's log10 is a wrapper around the same logarithm that
        // cost about a third of it again in the profile.
        let ph = 6.1 + (alk / co2).ln() * std::f64::consts::LOG10_E;
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
        let inh4 = (y[ix::INH].max(0.0) * self.recip.ki_inh).powi(4);

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
        let kd_bub = vm.kd_bubble_per_h_per_vvm * vvm;
        let co2_excess_death = pos(pco2 - 150.0) * 0.01;
        let mu_d = p.kd0_per_h * theta_d
            + p.mud_max_per_h * lac * amm / ((p.kd_lac_mm + lac) * (p.kd_amm_mm + amm))
            + p.kd_st_per_h * p.k_st_mm / (p.k_st_mm + glc)
            + p.kd_co2_per_h * co2_excess_death * co2_excess_death
            + kd_bub
            + 0.5 * b
            + p.kd_inh_per_h * inh4 / (1.0 + inh4)
            + inp.extra_death_per_h;
        let mu_per_y_glc = mu * self.recip.y_x_glc;
        let mu_per_y_gln = mu * self.recip.y_x_gln;
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
        let (otr, ctr, kla_o2) = self.gas_transfer(v, inv_v, vvm, agit, y_o2, y_co2, dox, co2, t_l, &tt);

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
            inv_v,
        }
    }

    /// Power-per-volume multiplier of the third DO stage (agitation up to 2 m/s tip speed;
    /// at fixed impeller diameter P/V ∝ tip speed³).
    pub(super) fn agitation_multiplier(&self, y: &StateVec) -> f64 {
        let max = self.vessel.agitation_max_multiplier;
        1.0 + (max - 1.0) * (y[ix::I_AGIT].max(0.0) * (1.0 / loops::AGIT_FULL_PCT_H)).min(1.0)
    }

    /// Sparge gas flow (vvm) including the second DO stage.
    fn sparge_vvm(&self, y: &StateVec) -> f64 {
        let inp = &self.inputs;
        let extra = (inp.max_sparge_vvm - inp.sparge_vvm).max(0.0);
        inp.sparge_vvm + extra * (y[ix::I_GAS].max(0.0) * (1.0 / loops::GAS_FULL_PCT_H)).min(1.0)
    }

    /// O2 and CO2 transfer into the liquid (mM/h) and the O2 kLa (1/h), at liquid volume
    /// `v` (L, with `inv_v` = 1/v).
    #[allow(clippy::too_many_arguments)]
    fn gas_transfer(
        &self,
        v: f64,
        inv_v: f64,
        vvm: f64,
        agitation_multiplier: f64,
        y_o2: f64,
        y_co2: f64,
        dox: f64,
        co2: f64,
        t_l: f64,
        tt: &TempTerms,
    ) -> (f64, f64, f64) {
        let vm = &self.vessel;
        let (s_o2, s_co2) = (tt.s_o2, tt.s_co2);
        if !vm.scale_physics {
            // Ideal, scale-free transfer: fixed kLa, 1 atm, no surface aeration.
            let kla_o2 = vm.kla_o2_override_per_h.unwrap_or(10.0);
            let kla_co2 = 0.9 * kla_o2;
            let otr = kla_o2 * (s_o2 * y_o2 - dox);
            let ctr = kla_co2 * (s_co2 * y_co2 - co2);
            return (otr, ctr, kla_o2);
        }
        // physics::mean_pressure_atm at the current liquid height, and its reciprocal.
        let p_mean = 1.0 + vm.gas.p_mean_rise_atm_per_l * v;
        let inv_p = 1.0 / p_mean;
        let q_l_per_min = vvm * v;
        let kla_o2 = vm.kla_o2_override_per_h.unwrap_or_else(|| {
            // Geometry::kla_gas_factor: the superficial velocity's square root.
            let v_s = (vm.gas.v_s_per_lpm_kelvin_atm * q_l_per_min * (t_l + 273.15) * inv_p).max(0.0);
            let kla = vm.kla_prefactor_per_h * v_s.sqrt();
            // The third DO stage is idle in most runs: skip its `powf` (1^0.4 = 1 exactly).
            if agitation_multiplier == 1.0 { kla } else { kla * agitation_multiplier.powf(0.4) }
        });
        let kla_co2 = 0.9 * kla_o2;
        // Sparged bubbles leave at p_out = C/S + (p_in − C/S)·e^(−NTU), NTU = kLa·S·p·V/(1000·G),
        // and the transfer is 1000·G·(p_in − p_out)/(p·V), with the molar gas flow
        // G = vvm·V·60/V_m (mol/h). V cancels from both: NTU = kLa·S·p·V_m/(60 000·vvm) and
        // transfer = (60 000/V_m)·vvm·(p_in − p_out)/p.
        let inv_vvm = if vvm > 0.0 { 1.0 / vvm } else { 0.0 };
        let ntu_per_kla_s = p_mean * inv_vvm * (physics::MOLAR_VOLUME_L_PER_MOL / 60_000.0);
        let transfer_per_dp = vvm * inv_p * (60_000.0 / physics::MOLAR_VOLUME_L_PER_MOL);
        let sparge = |kla: f64, s: f64, inv_s: f64, y_in: f64, c: f64| -> f64 {
            if vvm <= 0.0 {
                return 0.0;
            }
            let ntu = kla * s * ntu_per_kla_s;
            let p_in = y_in * p_mean;
            let c_over_s = c * inv_s;
            let p_out = c_over_s + (p_in - c_over_s) * (-ntu).exp();
            transfer_per_dp * (p_in - p_out)
        };
        let kla_s = vm.gas.kla_surface_l_per_h * inv_v;
        let otr = sparge(kla_o2, s_o2, tt.inv_s_o2, y_o2, dox) + kla_s * (s_o2 * physics::Y_O2_AIR - dox);
        let ctr = sparge(kla_co2, s_co2, tt.inv_s_co2, y_co2, co2) + 0.9 * kla_s * (s_co2 * physics::Y_CO2_AIR - co2);
        (otr, ctr, kla_o2)
    }
}

#[cfg(test)]
mod tests {
    use super::super::modifiers::ctmi;
    use super::super::temperature::TempTerms;
    use super::super::{KineticParams, SegmentInputs, VesselModel};
    use super::*;

    /// The right-hand side shares divisions between factors (k²/(k² + x²) for 1/(1 + (x/k)²),
    /// one denominator for the growth modifiers). This checks it against the factors written
    /// one by one as §2.1–2.6 state them, at states that switch every branch on (hyperoxia,
    /// high osmolality and pCO2, inhibitor, contaminant, low and high μ).
    #[test]
    fn fused_rates_match_the_factor_by_factor_formulas() {
        let sc = crate::scenario::Scenario::default();
        assert!(sc.vessel.scale_physics, "the default vessel exercises the scale physics");
        let p = KineticParams::platform();
        let mut model = CultureModel::new(
            p.clone(),
            VesselModel::new(&sc.vessel),
            SegmentInputs {
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
        );
        model.contaminant_mu_max_per_h = 0.3;
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
            y[ix::I_GAS] = 25.0 * unit();
            y[ix::I_AGIT] = if unit() < 0.5 { 0.0 } else { 25.0 * unit() };
            let r = model.rates(0.0, &y);
            close("pH", r.ph, 6.1 + (y[ix::ALK] / y[ix::CO2]).log10());
            // Gas transfer through the `physics` functions, term by term (spec §2.5).
            let (v, g) = (y[ix::V], &model.vessel.geometry);
            let p_mean = physics::mean_pressure_atm(g.height_at_m(v));
            let agit = model.agitation_multiplier(&y);
            let kla_o2 = model.vessel.kla_prefactor_per_h * g.kla_gas_factor(r.vvm * v, y[ix::T_L], p_mean) * agit.powf(0.4);
            close("kLa O2", r.kla_o2, kla_o2);
            let g_mol_per_h = r.vvm * v * 60.0 / physics::MOLAR_VOLUME_L_PER_MOL;
            let sparge = |kla: f64, s: f64, y_in: f64, c: f64| {
                let ntu = kla * s * p_mean * v / (1000.0 * g_mol_per_h);
                let p_in = y_in * p_mean;
                let p_out = c / s + (p_in - c / s) * (-ntu).exp();
                1000.0 * g_mol_per_h * (p_in - p_out) / (p_mean * v)
            };
            let tt = TempTerms::at(y[ix::T_L]);
            let kla_s = g.kla_surface_per_h(v);
            let (o2_sparge, o2_surface) = (sparge(kla_o2, tt.s_o2, r.y_o2, y[ix::DO]), kla_s * (tt.s_o2 * physics::Y_O2_AIR - y[ix::DO]));
            let (co2_sparge, co2_surface) =
                (sparge(0.9 * kla_o2, tt.s_co2, r.y_co2, y[ix::CO2]), 0.9 * kla_s * (tt.s_co2 * physics::Y_CO2_AIR - y[ix::CO2]));
            let scale = |a: f64, b: f64| 1e-12 * (a.abs() + b.abs()).max(1e-9);
            assert!((r.otr - (o2_sparge + o2_surface)).abs() <= scale(o2_sparge, o2_surface), "OTR {} vs {}", r.otr, o2_sparge + o2_surface);
            assert!((r.ctr - (co2_sparge + co2_surface)).abs() <= scale(co2_sparge, co2_surface), "CTR {} vs {}", r.ctr, co2_sparge + co2_surface);
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
}
