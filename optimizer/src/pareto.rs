//! Titer against CQA: a Pareto front by the epsilon-constraint method.
//!
//! Why epsilon-constraint rather than a weighted-sum sweep: a weighted sum only finds the
//! convex part of a front, and the titer–GI trade-off of a kinetic model need not be
//! convex. The sweep: (1) maximise the primary objective (titer) alone, giving the CQA
//! `c_lo` at the titer optimum; (2) maximise the CQA alone, giving `c_hi`; (3) for
//! `n_points − 2` levels `ε` evenly spaced strictly between them, maximise titer subject to
//! `cqa >= ε` (plus the user's constraints), each warm-started from the previous point.
//! Dominated and infeasible points are dropped.

use crate::error::Result;
use crate::goal::{Constraint, Objective, Relation};
use crate::problem::Evaluator;
use crate::study::{StudyConfig, run_study};
use sim::objective::Quantity;

/// One point of the front.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ParetoPoint {
    /// The CQA level imposed (`None` for the two end-point studies).
    pub epsilon: Option<f64>,
    pub x: Vec<f64>,
    pub primary: f64,
    pub secondary: f64,
    pub feasible: bool,
}

/// The front of `primary` (e.g. final titer) against `secondary` (e.g. CQA), both maximised.
/// `config.max_evaluations` is the budget of *each* of the `n_points` studies.
pub fn pareto_front(
    base: &Evaluator<'_>,
    primary: Quantity,
    secondary: Quantity,
    n_points: usize,
    config: &StudyConfig,
    on_evaluation: &(dyn Fn() + Sync),
) -> Result<Vec<ParetoPoint>> {
    let n_points = n_points.max(2);
    let with = |objective: Quantity, extra: Option<Constraint>| -> Result<Evaluator<'_>> {
        let mut constraints = base.constraints.clone();
        constraints.extend(extra);
        Evaluator::new(
            base.model,
            base.scenario.clone(),
            base.space.clone(),
            Objective::single(objective),
            constraints,
            base.robustness,
        )
    };
    let measure = |x: &[f64]| -> (f64, f64) {
        match base.predict(x) {
            Ok(p) => (p.value(primary).unwrap_or(f64::NAN), p.value(secondary).unwrap_or(f64::NAN)),
            Err(_) => (f64::NAN, f64::NAN),
        }
    };
    let mut points = Vec::new();
    let top = run_study(&with(primary, None)?, config, on_evaluation)?;
    let (p_top, c_lo) = measure(&top.best.x);
    points.push(ParetoPoint { epsilon: None, x: top.best.x.clone(), primary: p_top, secondary: c_lo, feasible: top.best.feasible });
    let other = run_study(&with(secondary, None)?, config, on_evaluation)?;
    let (p_other, c_hi) = measure(&other.best.x);
    points.push(ParetoPoint { epsilon: None, x: other.best.x.clone(), primary: p_other, secondary: c_hi, feasible: other.best.feasible });
    let mut warm = top.best.x.clone();
    for k in 1..n_points.saturating_sub(1) {
        let epsilon = c_lo + (c_hi - c_lo) * k as f64 / (n_points - 1) as f64;
        let limit = Constraint { quantity: secondary, relation: Relation::AtLeast, limit: epsilon };
        let cfg = StudyConfig { warm_start: Some(warm.clone()), ..config.clone() };
        let r = run_study(&with(primary, Some(limit))?, &cfg, on_evaluation)?;
        let (p, c) = measure(&r.best.x);
        warm = r.best.x.clone();
        points.push(ParetoPoint { epsilon: Some(epsilon), x: r.best.x.clone(), primary: p, secondary: c, feasible: r.best.feasible });
    }
    Ok(non_dominated(points))
}

/// Keep finite, feasible points that no other point beats on both axes; sorted by the
/// secondary quantity.
pub fn non_dominated(points: Vec<ParetoPoint>) -> Vec<ParetoPoint> {
    let ok: Vec<ParetoPoint> = points.into_iter().filter(|p| p.feasible && p.primary.is_finite() && p.secondary.is_finite()).collect();
    let mut front: Vec<ParetoPoint> = ok
        .iter()
        .filter(|p| {
            !ok.iter().any(|q| {
                (q.primary >= p.primary && q.secondary >= p.secondary) && (q.primary > p.primary || q.secondary > p.secondary)
            })
        })
        .cloned()
        .collect();
    front.sort_by(|a, b| a.secondary.total_cmp(&b.secondary));
    front.dedup_by(|a, b| a.primary == b.primary && a.secondary == b.secondary);
    front
}
