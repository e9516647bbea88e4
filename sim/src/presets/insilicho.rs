//! The InSiliCHO model (Möller et al. 2020, Comput Chem Eng 134:106693) as coded in PyPI
//! `insilicho` 1.1.4, including its quirks (spec `sim.md` §9): lactate integrated as
//! y = Lac² (the rate is singular at Lac → 0) and reported as a signed root, so it can
//! dip slightly below zero; the temperature factor acts on growth only (no qP gain at
//! low temperature); DO and pH are constant.
//!
//! Units: cells per litre for Xv and Xt (as in the original), mM, mg/L, L, h.

use crate::{Result, SimError};
use nalgebra::SVector;
use ode_solvers::dop_shared::OutputType;

/// Parameters (defaults = insilicho 1.1.4, `parameters.csv` of the package).
#[derive(Debug, Clone, PartialEq)]
pub struct InsilichoParams {
    pub mu_max_per_h: f64,
    pub mu_d_max_per_h: f64,
    pub mu_d_min_per_h: f64,
    pub k_glc_mm: f64,
    pub k_gln_mm: f64,
    pub k_lys_per_h: f64,
    pub ki_amm_mm: f64,
    pub ks_glc_mm: f64,
    pub ks_gln_mm: f64,
    pub q_mab_mg_per_cell_h: f64,
    pub q_glc_max_mmol_per_cell_h: f64,
    pub q_gln_max_mmol_per_cell_h: f64,
    pub q_lac_max_mmol_per_cell_h: f64,
    pub y_amm_gln: f64,
    pub y_lac_glc: f64,
    pub feed_glc_mm: f64,
    pub feed_gln_mm: f64,
    pub t_opt_c: f64,
    pub t_spread_c: f64,
    pub ph_opt: f64,
    pub ph_spread: f64,
}

impl Default for InsilichoParams {
    fn default() -> Self {
        Self {
            mu_max_per_h: 0.043,
            mu_d_max_per_h: 0.06,
            mu_d_min_per_h: 0.001,
            k_glc_mm: 0.2,
            k_gln_mm: 2.5,
            k_lys_per_h: 0.001,
            ki_amm_mm: 10.0,
            ks_glc_mm: 0.02,
            ks_gln_mm: 0.03,
            q_mab_mg_per_cell_h: 3.12e-10,
            q_glc_max_mmol_per_cell_h: 5e-11,
            q_gln_max_mmol_per_cell_h: 5.4e-11,
            q_lac_max_mmol_per_cell_h: 2e-10,
            y_amm_gln: 0.9,
            y_lac_glc: 0.25,
            feed_glc_mm: 150.0,
            feed_gln_mm: 10.0,
            t_opt_c: 36.4,
            t_spread_c: 3.12,
            ph_opt: 6.99,
            ph_spread: 1.0,
        }
    }
}

/// Operating conditions: constant feed, a temperature step, fixed pH.
#[derive(Debug, Clone, PartialEq)]
pub struct InsilichoRun {
    pub feed_l_per_h: f64,
    pub temp_c: f64,
    /// Optional step (time h, new temperature °C).
    pub temp_step: Option<(f64, f64)>,
    pub ph: f64,
    pub volume0_l: f64,
    pub xv0_cells_per_l: f64,
    pub glc0_mm: f64,
    pub gln0_mm: f64,
}

/// One output point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InsilichoPoint {
    pub t_h: f64,
    pub xv_1e6_per_ml: f64,
    pub xt_1e6_per_ml: f64,
    pub glucose_mm: f64,
    pub glutamine_mm: f64,
    pub lactate_mm: f64,
    pub ammonia_mm: f64,
    pub mab_mg_per_l: f64,
    pub volume_l: f64,
}

type Y = SVector<f64, 8>;
const XV: usize = 0;
const XT: usize = 1;
const GLC: usize = 2;
const GLN: usize = 3;
const LAC2: usize = 4;
const AMM: usize = 5;
const MAB: usize = 6;
const V: usize = 7;

struct Model<'a> {
    p: &'a InsilichoParams,
    feed_l_per_h: f64,
    temp_c: f64,
    ph: f64,
}

fn signed_sqrt(y: f64) -> f64 {
    y.signum() * y.abs().sqrt()
}

impl ode_solvers::System<f64, Y> for Model<'_> {
    fn system(&self, _t: f64, y: &Y, dy: &mut Y) {
        let p = self.p;
        let (xv, xt, glc, gln, amm) = (y[XV], y[XT], y[GLC], y[GLN], y[AMM]);
        let lac = signed_sqrt(y[LAC2]);
        let d = self.feed_l_per_h / y[V];
        let f_t = (-((self.temp_c - p.t_opt_c) / p.t_spread_c).powi(2)).exp();
        let f_ph = (-((self.ph - p.ph_opt) / p.ph_spread).powi(2)).exp();
        let mu = p.mu_max_per_h * glc / (glc + p.ks_glc_mm) * gln / (gln + p.ks_gln_mm) * p.ki_amm_mm / (amm + p.ki_amm_mm) * f_t * f_ph;
        let mu_d = p.mu_d_min_per_h
            + p.mu_d_max_per_h * p.ks_glc_mm / (glc + p.ks_glc_mm) * p.ks_gln_mm / (gln + p.ks_gln_mm) * amm / (amm + p.ki_amm_mm);
        let q_glc = p.q_glc_max_mmol_per_cell_h * glc / (glc + p.k_glc_mm) * (mu / (mu + p.mu_max_per_h) + 0.5);
        let q_gln = p.q_gln_max_mmol_per_cell_h * gln / (gln + p.k_gln_mm);
        let q_amm = p.y_amm_gln * q_gln;
        let q_mab = if amm <= p.ki_amm_mm { p.q_mab_mg_per_cell_h } else { 0.0 };
        let q_up = if glc < 0.5 { p.q_lac_max_mmol_per_cell_h } else { 0.0 };
        dy[XV] = (mu - mu_d) * xv - d * xv;
        dy[XT] = mu * xv - p.k_lys_per_h * (xt - xv) - d * xt;
        dy[GLC] = -q_glc * xv + d * (p.feed_glc_mm - glc);
        dy[GLN] = -q_gln * xv + d * (p.feed_gln_mm - gln);
        dy[LAC2] = 2.0 * (p.y_lac_glc * glc * q_glc * xv - q_up * xv * lac - d * lac * lac);
        dy[AMM] = q_amm * xv - d * amm;
        dy[MAB] = q_mab * xv - d * y[MAB];
        dy[V] = self.feed_l_per_h;
    }
}

/// Integrate the InSiliCHO model and return the state at each of `times_h` (ascending).
pub fn simulate(p: &InsilichoParams, run: &InsilichoRun, times_h: &[f64]) -> Result<Vec<InsilichoPoint>> {
    let eps = f64::EPSILON;
    let mut y = Y::from_column_slice(&[run.xv0_cells_per_l, run.xv0_cells_per_l, run.glc0_mm, run.gln0_mm, eps * eps, eps, eps, run.volume0_l]);
    let mut t = 0.0;
    let mut out = Vec::with_capacity(times_h.len());
    let point = |t: f64, y: &Y| InsilichoPoint {
        t_h: t,
        xv_1e6_per_ml: y[XV] / 1e9,
        xt_1e6_per_ml: y[XT] / 1e9,
        glucose_mm: y[GLC],
        glutamine_mm: y[GLN],
        lactate_mm: signed_sqrt(y[LAC2]),
        ammonia_mm: y[AMM],
        mab_mg_per_l: y[MAB],
        volume_l: y[V],
    };
    for &t_out in times_h {
        // Break at the temperature step so the discontinuity sits on a segment edge.
        let mut edges = vec![];
        if let Some((ts, _)) = run.temp_step
            && ts > t
            && ts < t_out
        {
            edges.push(ts);
        }
        edges.push(t_out);
        for t_end in edges {
            if t_end <= t {
                continue;
            }
            let temp_c = match run.temp_step {
                Some((ts, tc)) if t >= ts => tc,
                _ => run.temp_c,
            };
            let model = Model { p, feed_l_per_h: run.feed_l_per_h, temp_c, ph: run.ph };
            let span = t_end - t;
            let mut solver = ode_solvers::Dopri5::from_param(
                model, t, t_end, span, y, 1e-10, 1e-12, 0.9, 0.04, 0.2, 10.0, span, 0.0, 1_000_000, u32::MAX, OutputType::Sparse,
            );
            solver.integrate().map_err(|e| SimError::Solver { t_h: t, message: e.to_string() })?;
            y = *solver.y_out().last().ok_or_else(|| SimError::Solver { t_h: t, message: "no output".into() })?;
            t = t_end;
        }
        out.push(point(t, &y));
    }
    Ok(out)
}
