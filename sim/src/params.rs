//! Kinetic parameters of the culture model (spec `sim.md` §2.7) and the cell lines A–D (§4).
//!
//! Specific rates are per 1e9 cells: mmol/(1e9 cells·h) or mg/(1e9 cells·h). Cell densities
//! are in 1e6 cells/mL = 1e9 cells/L, so `rate × Xv` is directly mM/h (or mg/L/h).
//!
//! | name | unit | platform | meaning |
//! |---|---|---|---|
//! | `mu_max_per_h` | 1/h | 0.040 | maximum specific growth rate |
//! | `k_glc_mm`, `k_gln_mm` | mM | 0.084, 0.047 | Monod constants |
//! | `ki_lac_mm`, `lac_th_mm` | mM | 43, 15 | lactate inhibition and threshold |
//! | `ki_amm_mm`, `amm_th_mm` | mM | 10, 3 | ammonium inhibition and threshold |
//! | `mud_max_per_h`, `kd_lac_mm`, `kd_amm_mm` | 1/h, mM, mM | 0.016, 45.8, 6.51 | by-product death |
//! | `kd0_per_h`, `kd_st_per_h`, `k_st_mm` | 1/h, 1/h, mM | 0.0005, 0.02, 0.1 | basal and starvation death |
//! | `kd_co2_per_h`, `k_lys_per_h` | 1/h | 0.01, 0.008 (prototype 0.004) | CO2 death, lysis of dead cells |
//! | `y_x_glc_e9_per_mmol`, `m_glc` | 1e9 cells/mmol, mmol/(1e9·h) | 0.169, 0.035 | glucose yield, maintenance |
//! | `y_x_gln_e9_per_mmol`, `a1`, `a2_mm` | – | 0.974, 0.0032, 2.1 | glutamine yield and maintenance |
//! | `k_deg_gln_per_h` | 1/h | 0.0072 | spontaneous glutamine decay to NH3 |
//! | `y_amm_gln`, `r_amm`, `k_ramm_mm` | – | 0.67, 0.0063, 0.5 | ammonium yield and uptake |
//! | `y_lac_glc`, `k_lp_mm`, `q_lac_max`, `k_lc_mm`, `mu_shift_per_h`, `k_ph_lac` | – | 1.0, 10, 0.04, 5, 0.012, 2.3 | lactate switch |
//! | `alpha_mg_per_e9`, `beta_mg_per_e9_h` | mg/1e9 cells, mg/(1e9·h) | 5, 0.92 | Luedeking–Piret |
//! | `q_o2`, `rq`, `k_o2_mm` | mmol/(1e9·h), –, mM | 0.20, 1.0, 0.002 | oxygen uptake |
//! | `k_osm_mosm`, `k_co2_p_mmhg` | mOsm/kg, mmHg | 140, 145 | osmotic and CO2 sensitivity |

use serde::{Deserialize, Serialize};

/// Kinetic parameters of one cell line. Construct with [`KineticParams::for_line`] and
/// change single values with [`KineticParams::set`], which checks the name and range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KineticParams {
    pub mu_max_per_h: f64,
    pub k_glc_mm: f64,
    pub k_gln_mm: f64,
    pub ki_lac_mm: f64,
    pub lac_th_mm: f64,
    pub ki_amm_mm: f64,
    pub amm_th_mm: f64,
    pub mud_max_per_h: f64,
    pub kd_lac_mm: f64,
    pub kd_amm_mm: f64,
    pub kd0_per_h: f64,
    pub kd_st_per_h: f64,
    pub k_st_mm: f64,
    pub kd_co2_per_h: f64,
    pub k_lys_per_h: f64,
    pub y_x_glc_e9_per_mmol: f64,
    pub m_glc: f64,
    pub y_x_gln_e9_per_mmol: f64,
    pub a1: f64,
    pub a2_mm: f64,
    pub k_deg_gln_per_h: f64,
    pub y_amm_gln: f64,
    pub r_amm: f64,
    pub k_ramm_mm: f64,
    pub y_lac_glc: f64,
    pub k_lp_mm: f64,
    pub q_lac_max: f64,
    pub k_lc_mm: f64,
    pub mu_shift_per_h: f64,
    pub k_ph_lac: f64,
    pub alpha_mg_per_e9: f64,
    pub beta_mg_per_e9_h: f64,
    pub q_o2: f64,
    pub rq: f64,
    pub k_o2_mm: f64,
    pub k_osm_mosm: f64,
    pub k_co2_p_mmhg: f64,
    /// Temperature sensitivity of qP: fT,P = 1 + k_tp·(37 − T_ad)+.
    pub k_tp_per_c: f64,
    /// Time constant of the qP temperature adaptation.
    pub tau_tp_h: f64,
    /// Lumped inhibitory by-product formed per cell grown, mM per 1e6 cells/mL.
    pub y_inh_mm_per_e6: f64,
    /// Growth inhibition constant of the lumped by-product, mM.
    pub ki_inh_mm: f64,
    /// Death rate reached when the by-product fully inhibits growth, 1/h.
    pub kd_inh_per_h: f64,
}

/// Identifiers of the embedded cell lines.
pub const CELL_LINES: [&str; 4] = ["A", "B", "C", "D"];

impl KineticParams {
    /// The platform parameter set (cell line A, the seed's line).
    pub fn platform() -> Self {
        Self {
            mu_max_per_h: 0.040,
            k_glc_mm: 0.084,
            k_gln_mm: 0.047,
            ki_lac_mm: 43.0,
            lac_th_mm: 15.0,
            ki_amm_mm: 10.0,
            amm_th_mm: 3.0,
            mud_max_per_h: 0.016,
            kd_lac_mm: 45.8,
            kd_amm_mm: 6.51,
            kd0_per_h: 0.0005,
            kd_st_per_h: 0.02,
            k_st_mm: 0.1,
            kd_co2_per_h: 0.01,
            k_lys_per_h: 0.008,
            y_x_glc_e9_per_mmol: 0.169,
            m_glc: 0.035,
            y_x_gln_e9_per_mmol: 0.974,
            a1: 0.0032,
            a2_mm: 2.1,
            k_deg_gln_per_h: 0.0072,
            y_amm_gln: 0.67,
            r_amm: 0.0063,
            k_ramm_mm: 0.5,
            y_lac_glc: 1.0,
            k_lp_mm: 10.0,
            q_lac_max: 0.04,
            k_lc_mm: 5.0,
            mu_shift_per_h: 0.012,
            k_ph_lac: 2.3,
            alpha_mg_per_e9: 5.0,
            beta_mg_per_e9_h: 0.92,
            q_o2: 0.20,
            rq: 1.0,
            k_o2_mm: 0.002,
            k_osm_mosm: 140.0,
            k_co2_p_mmhg: 145.0,
            k_tp_per_c: 0.15,
            tau_tp_h: 24.0,
            y_inh_mm_per_e6: 1.0,
            ki_inh_mm: 26.0,
            kd_inh_per_h: 0.004,
        }
    }

    /// The prototype's values where the default fidelity recalibrated them (spec §2.7 table
    /// vs. §2.9): lysis 0.004 1/h instead of 0.008, and no lumped inhibitory by-product.
    /// Used by `fidelity = "prototype"`; cell-line overrides apply on top.
    pub fn with_prototype_values(mut self) -> Self {
        self.k_lys_per_h = 0.004;
        self.y_inh_mm_per_e6 = 0.0;
        self.kd_inh_per_h = 0.0;
        self
    }

    /// Parameters of cell line `id` (A–D, spec §4), or `None` for an unknown id.
    pub fn for_line(id: &str) -> Option<Self> {
        let mut p = Self::platform();
        match id {
            "A" => {}
            "B" => {
                p.mu_max_per_h = 0.044;
                p.beta_mg_per_e9_h = 0.85;
                p.ki_amm_mm = 12.0;
            }
            "C" => {
                p.y_lac_glc = 1.3;
                p.q_lac_max = 0.02;
                p.mu_shift_per_h = 0.008;
                p.k_osm_mosm = 110.0;
                p.k_ph_lac = 3.0;
            }
            "D" => {
                p.mu_max_per_h = 0.034;
                p.beta_mg_per_e9_h = 1.24;
                p.alpha_mg_per_e9 = 2.0;
                p.kd0_per_h = 0.001;
                p.k_co2_p_mmhg = 100.0;
                p.ki_amm_mm = 7.0;
            }
            _ => return None,
        }
        Some(p)
    }

    /// Names accepted by [`KineticParams::set`] (and by `[cell_line.overrides]`).
    pub fn names() -> &'static [&'static str] {
        Self::NAMES
    }

    /// Allowed range of every overridable parameter: all are non-negative finite numbers
    /// up to 1e4 (a wide physical bound; the model is only validated near the platform
    /// values).
    pub const OVERRIDE_RANGE: (f64, f64) = (0.0, 1.0e4);

    /// Set one parameter by name. Errors name the valid choices or the range.
    pub fn set(&mut self, name: &str, value: f64) -> Result<(), ParamError> {
        let (lo, hi) = Self::OVERRIDE_RANGE;
        let Some(field) = self.field_mut(name) else {
            return Err(ParamError::Unknown { name: name.to_owned(), valid: Self::NAMES.join(", ") });
        };
        if !value.is_finite() || value < lo || value > hi {
            return Err(ParamError::OutOfRange { name: name.to_owned(), value, lo, hi });
        }
        *field = value;
        Ok(())
    }

    /// Read one parameter by name.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.clone().field_mut(name).map(|f| *f)
    }
}

macro_rules! field_table {
    ($($field:ident),* $(,)?) => {
        impl KineticParams {
            const NAMES: &'static [&'static str] = &[$(stringify!($field)),*];

            fn field_mut(&mut self, name: &str) -> Option<&mut f64> {
                match name {
                    $(stringify!($field) => Some(&mut self.$field),)*
                    _ => None,
                }
            }
        }
    };
}

field_table!(
    mu_max_per_h,
    k_glc_mm,
    k_gln_mm,
    ki_lac_mm,
    lac_th_mm,
    ki_amm_mm,
    amm_th_mm,
    mud_max_per_h,
    kd_lac_mm,
    kd_amm_mm,
    kd0_per_h,
    kd_st_per_h,
    k_st_mm,
    kd_co2_per_h,
    k_lys_per_h,
    y_x_glc_e9_per_mmol,
    m_glc,
    y_x_gln_e9_per_mmol,
    a1,
    a2_mm,
    k_deg_gln_per_h,
    y_amm_gln,
    r_amm,
    k_ramm_mm,
    y_lac_glc,
    k_lp_mm,
    q_lac_max,
    k_lc_mm,
    mu_shift_per_h,
    k_ph_lac,
    alpha_mg_per_e9,
    beta_mg_per_e9_h,
    q_o2,
    rq,
    k_o2_mm,
    k_osm_mosm,
    k_co2_p_mmhg,
    k_tp_per_c,
    tau_tp_h,
    y_inh_mm_per_e6,
    ki_inh_mm,
    kd_inh_per_h,
);

/// Errors from [`KineticParams::set`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    #[error("unknown parameter `{name}`; expected one of {valid}")]
    Unknown { name: String, valid: String },
    #[error("parameter `{name}` = {value} is out of range {lo}–{hi}")]
    OutOfRange { name: String, value: f64, lo: f64, hi: f64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips_through_set_and_get() {
        let mut p = KineticParams::platform();
        for name in KineticParams::names() {
            p.set(name, 1.234).expect("known name");
            assert_eq!(p.get(name), Some(1.234), "{name}");
        }
    }

    #[test]
    fn unknown_and_out_of_range_are_errors() {
        let mut p = KineticParams::platform();
        assert!(matches!(p.set("mu_max", 0.1), Err(ParamError::Unknown { .. })));
        assert!(matches!(p.set("mu_max_per_h", -0.1), Err(ParamError::OutOfRange { .. })));
        assert!(matches!(p.set("mu_max_per_h", f64::NAN), Err(ParamError::OutOfRange { .. })));
    }

    #[test]
    fn lines_differ_as_the_spec_says() {
        let a = KineticParams::for_line("A").expect("A");
        let b = KineticParams::for_line("B").expect("B");
        let d = KineticParams::for_line("D").expect("D");
        assert!(b.mu_max_per_h > a.mu_max_per_h && b.beta_mg_per_e9_h < a.beta_mg_per_e9_h);
        assert!(d.mu_max_per_h < a.mu_max_per_h && d.beta_mg_per_e9_h > a.beta_mg_per_e9_h);
        assert!(KineticParams::for_line("E").is_none());
    }
}
