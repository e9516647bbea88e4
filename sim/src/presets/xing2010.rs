//! The simplified Xing et al. (2010) batch model as coded in the of-compartments package
//! (Kiviat 2024): no thresholds, lactate = 1.23 × all glucose consumed, no lactate uptake,
//! no temperature/pH/DO effects on the cells, and the package's clamp that stops glucose
//! and glutamine uptake at zero. One well-mixed zone (the cells do not depend on DO, so a
//! compartment model with uniform initial state gives the same cell trajectories).
//!
//! Units: cells per litre, mM, h.

use crate::{Result, SimError};
use nalgebra::SVector;
use ode_solvers::dop_shared::OutputType;

/// Parameters (defaults = `params_xing_simplified` of of-compartments).
#[derive(Debug, Clone, PartialEq)]
pub struct XingParams {
    pub m_s_mmol_per_cell_h: f64,
    pub a1_mmol_per_cell_h: f64,
    pub a2_mm: f64,
    pub mu_m_per_h: f64,
    pub mu_dm_per_h: f64,
    pub k_s_mm: f64,
    pub k_g_mm: f64,
    pub ki_l_mm: f64,
    pub ki_a_mm: f64,
    pub kd_l_mm: f64,
    pub kd_a_mm: f64,
    pub d_g_per_h: f64,
    pub r_a_mmol_per_cell_h: f64,
    pub y_xs_cells_per_mmol: f64,
    pub y_xg_cells_per_mmol: f64,
    pub y_ls: f64,
    pub y_ag: f64,
    /// Extra death (damage models), 1/h.
    pub k_d_per_h: f64,
}

impl Default for XingParams {
    fn default() -> Self {
        Self {
            m_s_mmol_per_cell_h: 6.92e-11,
            a1_mmol_per_cell_h: 3.2e-12,
            a2_mm: 2.1,
            mu_m_per_h: 0.029,
            mu_dm_per_h: 0.016,
            k_s_mm: 0.084,
            k_g_mm: 0.047,
            ki_l_mm: 43.0,
            ki_a_mm: 6.51,
            kd_l_mm: 45.8,
            kd_a_mm: 6.51,
            d_g_per_h: 7.2e-3,
            r_a_mmol_per_cell_h: 6.3e-12,
            y_xs_cells_per_mmol: 1.69e8,
            y_xg_cells_per_mmol: 9.74e8,
            y_ls: 1.23,
            y_ag: 0.67,
            k_d_per_h: 0.0,
        }
    }
}

/// One output point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct XingPoint {
    pub t_h: f64,
    pub vcd_1e6_per_ml: f64,
    pub glucose_mm: f64,
    pub glutamine_mm: f64,
    pub lactate_mm: f64,
    pub ammonia_mm: f64,
}

type Y = SVector<f64, 5>;

struct Model<'a>(&'a XingParams);

impl ode_solvers::System<f64, Y> for Model<'_> {
    fn system(&self, _t: f64, z: &Y, dz: &mut Y) {
        let p = self.0;
        let (s, g, l, a, x) = (z[0], z[1], z[2], z[3], z[4]);
        let mu = p.mu_m_per_h * s / (s + p.k_s_mm) * g / (g + p.k_g_mm) * p.ki_l_mm / (l + p.ki_l_mm) * p.ki_a_mm / (a + p.ki_a_mm);
        let mu_d = p.mu_dm_per_h * l / (l + p.kd_l_mm) * a / (a + p.kd_a_mm);
        let m_g = p.a1_mmol_per_cell_h * g / (p.a2_mm + g);
        let glc_flux = x * (p.m_s_mmol_per_cell_h + mu / p.y_xs_cells_per_mmol);
        dz[0] = if s <= 0.0 { 0.0 } else { -glc_flux };
        dz[1] = if g <= 0.0 { 0.0 } else { -x * (m_g + mu / p.y_xg_cells_per_mmol) - p.d_g_per_h * g };
        dz[2] = if s <= 0.0 { 0.0 } else { glc_flux * p.y_ls };
        dz[3] = x * (mu / p.y_xg_cells_per_mmol) * p.y_ag - p.r_a_mmol_per_cell_h * x + p.d_g_per_h * g;
        dz[4] = x * (mu - mu_d) - x * p.k_d_per_h;
    }
}

/// Integrate a batch from X0 (1e6 cells/mL), glucose and glutamine (mM) and return the
/// state at each of `times_h` (ascending).
pub fn simulate(p: &XingParams, x0_1e6_per_ml: f64, glc0_mm: f64, gln0_mm: f64, times_h: &[f64]) -> Result<Vec<XingPoint>> {
    let mut z = Y::from_column_slice(&[glc0_mm, gln0_mm, 0.0, 0.0, x0_1e6_per_ml * 1e9]);
    let mut t = 0.0;
    let mut out = Vec::with_capacity(times_h.len());
    for &t_end in times_h {
        if t_end > t {
            let span = t_end - t;
            let mut solver = ode_solvers::Dopri5::from_param(
                Model(p), t, t_end, span, z, 1e-10, 1e-12, 0.9, 0.04, 0.2, 10.0, span, 0.0, 1_000_000, u32::MAX, OutputType::Sparse,
            );
            solver.integrate().map_err(|e| SimError::Solver { t_h: t, message: e.to_string() })?;
            z = *solver.y_out().last().ok_or_else(|| SimError::Solver { t_h: t, message: "no output".into() })?;
            t = t_end;
        }
        out.push(XingPoint { t_h: t, vcd_1e6_per_ml: z[4] / 1e9, glucose_mm: z[0], glutamine_mm: z[1], lactate_mm: z[2], ammonia_mm: z[3] });
    }
    Ok(out)
}
