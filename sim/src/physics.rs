//! Scale physics of stirred single-use vessels (spec `sim.md` §3): geometry, agitation,
//! kLa (van't Riet), gas solubilities, mixing time, shear and bubble-burst death, and the
//! scale-up rules that choose agitation and gassing at a new scale.
//!
//! All functions are pure. Units are in every name.

use crate::scenario::{Impeller, ScaleUpRule, Sparger, Vessel};

/// Water density.
pub const RHO_KG_PER_M3: f64 = 1000.0;
/// Standard gravity.
pub const G_M_PER_S2: f64 = 9.81;
/// 1 atm in Pa.
pub const ATM_PA: f64 = 101_325.0;
/// Molar volume of an ideal gas at STP.
pub const MOLAR_VOLUME_L_PER_MOL: f64 = 22.414;
/// Kinematic viscosity of culture medium at 37 °C.
pub const NU_M2_PER_S: f64 = 0.75e-6;
/// Oxygen mole fraction of air.
pub const Y_O2_AIR: f64 = 0.2095;
/// CO2 mole fraction of the headspace air.
pub const Y_CO2_AIR: f64 = 0.0004;
/// Height-to-diameter ratio at nominal volume.
pub const H_OVER_D: f64 = 1.5;
/// Impeller-to-tank diameter ratio.
pub const D_IMPELLER_OVER_D_TANK: f64 = 0.4;
/// Surface mass-transfer coefficient of the free liquid surface.
pub const SURFACE_KL_M_PER_S: f64 = 3e-5;

/// Power number of an impeller.
pub fn power_number(impeller: Impeller) -> f64 {
    match impeller {
        Impeller::PitchedBlade => 1.5,
        Impeller::Rushton => 5.0,
        Impeller::Marine => 0.35,
    }
}

/// kLa multiplier of a sparger relative to an open pipe / drilled hole.
pub fn sparger_factor(sparger: Sparger) -> f64 {
    match sparger {
        Sparger::Microsparger => 2.5,
        Sparger::DrilledHole | Sparger::OpenPipe => 1.0,
    }
}

/// Bubble radius of a sparger, for bubble-burst death.
pub fn bubble_radius_m(sparger: Sparger) -> f64 {
    match sparger {
        Sparger::Microsparger => 0.25e-3,
        Sparger::DrilledHole | Sparger::OpenPipe => 2e-3,
    }
}

/// Oxygen solubility (Henry) in medium, mM/atm, at liquid temperature `temp_c`.
pub fn s_o2_mm_per_atm(temp_c: f64) -> f64 {
    0.95 * 1.3 * (1700.0 * (1.0 / (temp_c + 273.15) - 1.0 / 298.15)).exp()
}

/// CO2 solubility in medium, mM/atm.
pub fn s_co2_mm_per_atm(temp_c: f64) -> f64 {
    0.95 * 34.0 * (2400.0 * (1.0 / (temp_c + 273.15) - 1.0 / 298.15)).exp()
}

/// Geometry and agitation of a vessel at its nominal volume.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    pub nominal_volume_l: f64,
    pub tank_diameter_m: f64,
    pub liquid_height_m: f64,
    pub impeller_diameter_m: f64,
    pub power_per_volume_w_per_m3: f64,
    pub power_number: f64,
    pub agitation_rpm: f64,
    pub tip_speed_m_per_s: f64,
    pub cross_section_m2: f64,
    pub mean_pressure_atm: f64,
    pub mixing_time_95_s: f64,
    pub epsilon_max_w_per_kg: f64,
    pub kolmogorov_um: f64,
}

impl Geometry {
    /// Geometry at nominal volume for power input `power_per_volume_w_per_m3`.
    pub fn new(nominal_volume_l: f64, impeller: Impeller, power_per_volume_w_per_m3: f64) -> Self {
        let v_m3 = nominal_volume_l / 1000.0;
        let tank_diameter_m = (4.0 * v_m3 / (H_OVER_D * std::f64::consts::PI)).cbrt();
        let liquid_height_m = H_OVER_D * tank_diameter_m;
        let impeller_diameter_m = D_IMPELLER_OVER_D_TANK * tank_diameter_m;
        let np = power_number(impeller);
        let power_w = power_per_volume_w_per_m3 * v_m3;
        let n_rps = (power_w / (np * RHO_KG_PER_M3 * impeller_diameter_m.powi(5))).cbrt();
        let cross_section_m2 = std::f64::consts::PI * tank_diameter_m.powi(2) / 4.0;
        let eps_mean = power_per_volume_w_per_m3 / RHO_KG_PER_M3;
        let mixing_time_95_s = 5.9
            * tank_diameter_m.powf(2.0 / 3.0)
            * eps_mean.powf(-1.0 / 3.0)
            * D_IMPELLER_OVER_D_TANK.powf(-1.0 / 3.0)
            * H_OVER_D.powf(2.43);
        let epsilon_max_w_per_kg = 8.7 * eps_mean;
        let kolmogorov_um = (NU_M2_PER_S.powi(3) / epsilon_max_w_per_kg).powf(0.25) * 1e6;
        Self {
            nominal_volume_l,
            tank_diameter_m,
            liquid_height_m,
            impeller_diameter_m,
            power_per_volume_w_per_m3,
            power_number: np,
            agitation_rpm: n_rps * 60.0,
            tip_speed_m_per_s: std::f64::consts::PI * impeller_diameter_m * n_rps,
            cross_section_m2,
            mean_pressure_atm: mean_pressure_atm(liquid_height_m),
            mixing_time_95_s,
            epsilon_max_w_per_kg,
            kolmogorov_um,
        }
    }

    /// Geometry of a scenario's vessel.
    pub fn of(vessel: &Vessel) -> Self {
        Self::new(vessel.nominal_volume_l, vessel.impeller, vessel.power_per_volume_w_per_m3)
    }

    /// Liquid height at the current volume.
    pub fn height_at_m(&self, volume_l: f64) -> f64 {
        volume_l / (1000.0 * self.cross_section_m2)
    }

    /// Oxygen kLa (1/h) at gas flow `gas_l_per_min_stp`, liquid volume `volume_l`, van't
    /// Riet (coalescing): kLa[1/s] = f_sp·0.026·(P/V)^0.4·v_s^0.5.
    pub fn kla_o2_per_h(&self, sparger: Sparger, gas_l_per_min_stp: f64, temp_c: f64, p_mean_atm: f64) -> f64 {
        self.kla_prefactor_per_h(sparger) * self.kla_gas_factor(gas_l_per_min_stp, temp_c, p_mean_atm)
    }

    /// The part of [`Geometry::kla_o2_per_h`] fixed by the vessel, 1/h: f_sp·0.026·(P/V)^0.4·3600.
    /// Hoisted out of the right-hand side (one `powf` per run instead of per evaluation).
    pub fn kla_prefactor_per_h(&self, sparger: Sparger) -> f64 {
        sparger_factor(sparger) * 0.026 * self.power_per_volume_w_per_m3.powf(0.4) * 3600.0
    }

    /// The gas-flow part of [`Geometry::kla_o2_per_h`]: v_s^0.5 (v_s in m/s).
    pub fn kla_gas_factor(&self, gas_l_per_min_stp: f64, temp_c: f64, p_mean_atm: f64) -> f64 {
        superficial_velocity_m_per_s(gas_l_per_min_stp, temp_c, p_mean_atm, self.cross_section_m2).max(0.0).sqrt()
    }

    /// Surface-aeration kLa (1/h) at the current volume.
    pub fn kla_surface_per_h(&self, volume_l: f64) -> f64 {
        SURFACE_KL_M_PER_S * self.cross_section_m2 * (1000.0 * 3600.0) / volume_l
    }
}

/// Half the hydrostatic pressure per metre of liquid, atm/m (the mean bubble sees half the head).
pub const HALF_HEAD_ATM_PER_M: f64 = RHO_KG_PER_M3 * G_M_PER_S2 / (2.0 * ATM_PA);

/// Mean bubble pressure: head space 1 atm plus half the hydrostatic head.
pub fn mean_pressure_atm(liquid_height_m: f64) -> f64 {
    1.0 + HALF_HEAD_ATM_PER_M * liquid_height_m
}

/// Superficial gas velocity (m/s) at liquid temperature and mean pressure.
pub fn superficial_velocity_m_per_s(gas_l_per_min_stp: f64, temp_c: f64, p_mean_atm: f64, area_m2: f64) -> f64 {
    // STP litres per minute → m³/s at the liquid temperature and mean pressure, one division.
    gas_l_per_min_stp * (temp_c + 273.15) / ((1000.0 * 60.0 * 273.15) * p_mean_atm * area_m2)
}

/// Bubble-burst death rate (1/h) without Pluronic (Cherry & Hulle 1992):
/// kd = Ψ·φ·3δ·Q_g/(r_b·V) with Ψ 0.2, φ 0.6, δ 15 µm.
pub fn bubble_death_per_h(sparger: Sparger, vvm: f64) -> f64 {
    let q_over_v_per_h = vvm * 60.0;
    0.2 * 0.6 * 3.0 * 15e-6 * q_over_v_per_h / bubble_radius_m(sparger)
}

/// Operating point of a vessel under a scale-up rule: what the engineer sets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperatingPoint {
    pub nominal_volume_l: f64,
    pub power_per_volume_w_per_m3: f64,
    pub sparge_vvm: f64,
    pub agitation_rpm: f64,
    pub tip_speed_m_per_s: f64,
    pub kla_o2_per_h: f64,
    pub superficial_velocity_mm_per_s: f64,
    pub mixing_time_95_s: f64,
    pub kolmogorov_um: f64,
}

impl OperatingPoint {
    /// The operating point of `vessel` at nominal volume, 37 °C, air flow `sparge_vvm`.
    pub fn of(vessel: &Vessel) -> Self {
        let g = Geometry::of(vessel);
        let q = vessel.sparge_vvm * vessel.nominal_volume_l;
        let v_s = superficial_velocity_m_per_s(q, 37.0, g.mean_pressure_atm, g.cross_section_m2);
        Self {
            nominal_volume_l: vessel.nominal_volume_l,
            power_per_volume_w_per_m3: vessel.power_per_volume_w_per_m3,
            sparge_vvm: vessel.sparge_vvm,
            agitation_rpm: g.agitation_rpm,
            tip_speed_m_per_s: g.tip_speed_m_per_s,
            kla_o2_per_h: vessel
                .kla_o2_per_h
                .unwrap_or_else(|| g.kla_o2_per_h(vessel.sparger, q, 37.0, g.mean_pressure_atm)),
            superficial_velocity_mm_per_s: v_s * 1000.0,
            mixing_time_95_s: g.mixing_time_95_s,
            kolmogorov_um: g.kolmogorov_um,
        }
    }
}

/// The vessel at `target_volume_l` that keeps the quantity named by `rule` equal to that
/// of `reference`. P/V and vvm are bounded to the validated scenario ranges (P/V 1–200
/// W/m³, vvm 0.001–0.2) so every scaled vessel is a valid scenario.
pub fn scale_vessel(reference: &Vessel, target_volume_l: f64, rule: ScaleUpRule) -> Vessel {
    let ref_point = OperatingPoint::of(reference);
    let ref_geom = Geometry::of(reference);
    let mut v = Vessel { nominal_volume_l: target_volume_l, scale_up_rule: rule, ..reference.clone() };
    let target_geom = Geometry::new(target_volume_l, v.impeller, 1.0);
    match rule {
        ScaleUpRule::ConstantPowerPerVolume | ScaleUpRule::Vvm => {}
        ScaleUpRule::TipSpeed => {
            // tip ∝ N·d and P/V ∝ N³d⁵/d³ = N³d²  ⇒  P/V ∝ tip³ / d.
            let d_ratio = target_geom.impeller_diameter_m / ref_geom.impeller_diameter_m;
            v.power_per_volume_w_per_m3 = reference.power_per_volume_w_per_m3 / d_ratio;
        }
        ScaleUpRule::SuperficialVelocity => {
            let q = ref_point.superficial_velocity_mm_per_s / 1000.0 * target_geom.cross_section_m2 * target_geom.mean_pressure_atm
                / (310.15 / 273.15)
                * 1000.0
                * 60.0;
            v.sparge_vvm = q / target_volume_l;
        }
        ScaleUpRule::Kla => {
            // Keep P/V and solve kLa(vvm) = kLa_ref for vvm (kLa ∝ sqrt(v_s) ∝ sqrt(vvm)).
            let probe = Vessel { sparge_vvm: 0.01, ..v.clone() };
            let kla_probe = OperatingPoint::of(&probe).kla_o2_per_h;
            if kla_probe > 0.0 {
                v.sparge_vvm = 0.01 * (ref_point.kla_o2_per_h / kla_probe).powi(2);
            }
        }
    }
    v.power_per_volume_w_per_m3 = v.power_per_volume_w_per_m3.clamp(1.0, 200.0);
    v.sparge_vvm = v.sparge_vvm.clamp(0.001, 0.2);
    v.max_sparge_vvm = v.max_sparge_vvm.max(v.sparge_vvm).min(0.2);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs()
    }

    /// The table of spec §3 (D, H, rpm, tip speed, θ95, P_mean; kLa at f_sp 1).
    #[test]
    fn geometry_matches_the_spec_table() {
        let rows = [
            (50.0, 0.349, 0.52, 140.0, 1.02, 39.0, 1.025, [2.2, 3.0, 4.3, 6.8]),
            (200.0, 0.554, 0.83, 103.0, 1.19, 53.0, 1.040, [2.7, 3.8, 5.4, 8.5]),
            (500.0, 0.752, 1.13, 84.0, 1.32, 65.0, 1.055, [3.1, 4.4, 6.2, 9.9]),
            (2000.0, 1.193, 1.79, 62.0, 1.54, 89.0, 1.087, [3.9, 5.5, 7.7, 12.2]),
        ];
        for (v, d, h, rpm, tip, theta, p, klas) in rows {
            let g = Geometry::new(v, Impeller::PitchedBlade, 20.0);
            assert!(rel(g.tank_diameter_m, d) < 0.01, "{v} L D {}", g.tank_diameter_m);
            assert!(rel(g.liquid_height_m, h) < 0.01, "{v} L H");
            assert!(rel(g.agitation_rpm, rpm) < 0.02, "{v} L rpm {}", g.agitation_rpm);
            assert!(rel(g.tip_speed_m_per_s, tip) < 0.02, "{v} L tip {}", g.tip_speed_m_per_s);
            assert!(rel(g.mixing_time_95_s, theta) < 0.03, "{v} L θ95 {}", g.mixing_time_95_s);
            assert!(rel(g.mean_pressure_atm, p) < 0.002, "{v} L P {}", g.mean_pressure_atm);
            for (vvm, kla) in [0.005, 0.01, 0.02, 0.05].into_iter().zip(klas) {
                let k = g.kla_o2_per_h(Sparger::OpenPipe, vvm * v, 37.0, g.mean_pressure_atm);
                assert!(rel(k, kla) < 0.04, "{v} L {vvm} vvm kLa {k} vs {kla}");
            }
        }
    }

    #[test]
    fn microsparger_2000l_kla_and_kolmogorov() {
        let g = Geometry::new(2000.0, Impeller::PitchedBlade, 20.0);
        let k = g.kla_o2_per_h(Sparger::Microsparger, 40.0, 37.0, g.mean_pressure_atm);
        assert!(rel(k, 19.0) < 0.03, "{k}");
        assert!(rel(g.kolmogorov_um, 37.0) < 0.1, "{}", g.kolmogorov_um);
    }

    #[test]
    fn solubilities_at_37c() {
        assert!(rel(s_o2_mm_per_atm(37.0), 0.99) < 0.01);
        assert!(rel(s_co2_mm_per_atm(37.0), 23.7) < 0.01);
    }

    #[test]
    fn scale_up_rules_keep_their_quantity() {
        let reference = Vessel { nominal_volume_l: 50.0, sparge_vvm: 0.02, ..Vessel::default() };
        let r = OperatingPoint::of(&reference);
        let tip = OperatingPoint::of(&scale_vessel(&reference, 2000.0, ScaleUpRule::TipSpeed));
        assert!(rel(tip.tip_speed_m_per_s, r.tip_speed_m_per_s) < 1e-6);
        let kla = OperatingPoint::of(&scale_vessel(&reference, 2000.0, ScaleUpRule::Kla));
        assert!(rel(kla.kla_o2_per_h, r.kla_o2_per_h) < 1e-3, "{} {}", kla.kla_o2_per_h, r.kla_o2_per_h);
        let vs = OperatingPoint::of(&scale_vessel(&reference, 2000.0, ScaleUpRule::SuperficialVelocity));
        assert!(rel(vs.superficial_velocity_mm_per_s, r.superficial_velocity_mm_per_s) < 1e-6);
        let pv = OperatingPoint::of(&scale_vessel(&reference, 2000.0, ScaleUpRule::ConstantPowerPerVolume));
        assert!(rel(pv.power_per_volume_w_per_m3, 20.0) < 1e-12 && rel(pv.sparge_vvm, 0.02) < 1e-12);
    }

    #[test]
    fn bubble_death_is_scale_free_and_larger_for_big_bubbles_per_flow() {
        let open = bubble_death_per_h(Sparger::OpenPipe, 0.02);
        assert!(open > 0.0 && open < 0.01);
        assert!(bubble_death_per_h(Sparger::Microsparger, 0.02) > open);
    }
}
