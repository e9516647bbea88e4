//! Local sensitivities at a point and 1-D/2-D landscapes around it.

use crate::problem::Evaluator;
use rayon::prelude::*;

/// The finite-difference step: 1 % of each variable's range.
pub const SENSITIVITY_STEP_FRACTION: f64 = 0.01;

/// Local sensitivity of the objective to one variable.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sensitivity {
    pub variable: &'static str,
    pub value: f64,
    /// ∂J/∂x in objective units per variable unit (central differences, one-sided at a bound).
    pub derivative: f64,
    /// Change of J over 10 % of the variable's range, linearised (comparable across variables).
    pub per_tenth_of_range: f64,
    /// (x/J)·∂J/∂x: % change of J per % change of x.
    pub elasticity: f64,
}

/// Finite-difference sensitivities of the (nominal or robust) objective at `x`.
pub fn local_sensitivities(evaluator: &Evaluator<'_>, x: &[f64]) -> Vec<Sensitivity> {
    let j0 = evaluator.evaluate(x).objective;
    let space = &evaluator.space;
    (0..space.dim())
        .into_par_iter()
        .map(|i| {
            let b = space.bounds[i];
            let h = SENSITIVITY_STEP_FRACTION * (b.upper - b.lower);
            let hi = (x[i] + h).min(b.upper);
            let lo = (x[i] - h).max(b.lower);
            let at = |v: f64| {
                let mut p = x.to_vec();
                p[i] = v;
                evaluator.evaluate(&p).objective
            };
            let derivative = (at(hi) - at(lo)) / (hi - lo);
            Sensitivity {
                variable: space.variables[i].name(),
                value: x[i],
                derivative,
                per_tenth_of_range: derivative * 0.1 * (b.upper - b.lower),
                elasticity: if j0.abs() > 1e-12 { derivative * x[i] / j0 } else { f64::NAN },
            }
        })
        .collect()
}

/// The objective along variable `i` over its whole range (`n` points), others fixed at `x`.
pub fn landscape_1d(evaluator: &Evaluator<'_>, x: &[f64], i: usize, n: usize) -> Vec<(f64, f64)> {
    let b = evaluator.space.bounds[i];
    let n = n.max(2);
    (0..n)
        .into_par_iter()
        .map(|k| {
            let v = b.lower + (b.upper - b.lower) * k as f64 / (n - 1) as f64;
            let mut p = x.to_vec();
            p[i] = v;
            (v, evaluator.evaluate(&p).objective)
        })
        .collect()
}

/// The objective on an `n × n` grid of variables `i` and `j`, others fixed at `x`:
/// `(x_i, x_j, J)` rows, `x_j` varying fastest.
pub fn landscape_2d(evaluator: &Evaluator<'_>, x: &[f64], i: usize, j: usize, n: usize) -> Vec<(f64, f64, f64)> {
    let (bi, bj) = (evaluator.space.bounds[i], evaluator.space.bounds[j]);
    let n = n.max(2);
    (0..n * n)
        .into_par_iter()
        .map(|k| {
            let vi = bi.lower + (bi.upper - bi.lower) * (k / n) as f64 / (n - 1) as f64;
            let vj = bj.lower + (bj.upper - bj.lower) * (k % n) as f64 / (n - 1) as f64;
            let mut p = x.to_vec();
            p[i] = vi;
            p[j] = vj;
            (vi, vj, evaluator.evaluate(&p).objective)
        })
        .collect()
}
