//! The evaluation of one point (nominal or robust) and the argmin problem around it.
//!
//! # Robust evaluation
//!
//! With [`Robustness`], a point is evaluated on `n_samples` copies of the scenario with
//! `variability.enabled = true` and seeds `seed_k = seed + k` (cell-line spread of μmax, qp
//! and yield; with [`sim::objective::SensorMode::AsScenario`] also sensor noise acting
//! through the control loops). The *same* seeds are used at every point (common random
//! numbers), so differences between points are not sampling noise. The solvers optimise
//! the chosen statistic (mean or P10 of the objective); constraints apply to the sample
//! mean of each constrained quantity.

use crate::error::OptimizerError;
use crate::goal::{Constraint, Objective};
use crate::variables::DecisionSpace;
use argmin::core::observers::Observe;
use argmin::core::{CostFunction, Error as ArgminError, Gradient, KV, State};
use nalgebra::DVector;
use rayon::prelude::*;
use sim::Scenario;
use sim::objective::{Prediction, Surrogate};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Cost of a point whose evaluation failed (invalid scenario, numerical failure).
pub const FAILED_COST: f64 = 1.0e6;

/// Which statistic of the Monte Carlo samples is optimised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RobustStatistic {
    Mean,
    /// The 10th percentile (linear interpolation between order statistics).
    P10,
}

/// Monte Carlo settings of a robust study.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Robustness {
    pub n_samples: usize,
    pub statistic: RobustStatistic,
    pub seed: u64,
}

/// One evaluated point: a row of the trace.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Evaluation {
    /// Which start of a multi-start study made it (0 for stand-alone evaluations).
    pub start_idx: usize,
    /// Setpoints, in the order of the decision space.
    pub x: Vec<f64>,
    /// The optimised value: the objective, or its robust statistic.
    pub objective: f64,
    /// Mean of the objective over robust samples (= `objective` when nominal).
    pub objective_mean: f64,
    /// P10 of the objective over robust samples (`None` when nominal).
    pub objective_p10: Option<f64>,
    /// Values of the constrained quantities, in constraint order (sample means when robust).
    pub constraint_values: Vec<f64>,
    /// Total penalty (0 when feasible).
    pub penalty: f64,
    /// What the solver minimised.
    pub cost: f64,
    pub feasible: bool,
    /// Why the model failed at this point, if it did.
    pub error: Option<String>,
}

/// Everything needed to evaluate a point; shared by all starts (it is `Sync`).
pub struct Evaluator<'a> {
    pub model: &'a dyn Surrogate,
    pub scenario: Scenario,
    pub space: DecisionSpace,
    pub objective: Objective,
    pub constraints: Vec<Constraint>,
    pub robustness: Option<Robustness>,
    /// The baseline prediction (normalises weighted objectives).
    pub reference: Prediction,
    /// |objective at baseline|, the cost scale (≥ 1e-9).
    pub objective_scale: f64,
}

impl std::fmt::Debug for Evaluator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("model", &self.model.name())
            .field("space", &self.space)
            .field("objective", &self.objective)
            .field("constraints", &self.constraints)
            .field("robustness", &self.robustness)
            .finish_non_exhaustive()
    }
}

impl<'a> Evaluator<'a> {
    /// Build an evaluator: predicts the baseline and checks that the model predicts every
    /// quantity the objective and constraints need.
    pub fn new(
        model: &'a dyn Surrogate,
        scenario: Scenario,
        space: DecisionSpace,
        objective: Objective,
        constraints: Vec<Constraint>,
        robustness: Option<Robustness>,
    ) -> crate::Result<Self> {
        crate::goal::check_consistent(&constraints)?;
        if let Some(r) = robustness
            && r.n_samples < 2
        {
            return Err(OptimizerError::InvalidSetting(format!("robust mode needs at least 2 samples, got {}", r.n_samples)));
        }
        let reference = model.predict(&scenario).map_err(OptimizerError::Baseline)?;
        let unavailable = |quantity, role| OptimizerError::QuantityUnavailable { model: model.name().to_owned(), quantity, role };
        for (_, q) in &objective.terms {
            reference.value(*q).ok_or_else(|| unavailable(*q, "objective"))?;
        }
        for c in &constraints {
            reference.value(c.quantity).ok_or_else(|| unavailable(c.quantity, "constraint"))?;
        }
        let nominal = objective.value(&reference, &reference).unwrap_or(1.0);
        let objective_scale = nominal.abs().max(1e-9);
        Ok(Self { model, scenario, space, objective, constraints, robustness, reference, objective_scale })
    }

    /// Model runs per evaluated point.
    pub fn runs_per_point(&self) -> usize {
        self.robustness.map_or(1, |r| r.n_samples)
    }

    /// Evaluate setpoints `x` (inside the box).
    pub fn evaluate(&self, x: &[f64]) -> Evaluation {
        let scenario = self.space.apply(&self.scenario, x);
        let mut e = self.evaluate_scenario(&scenario);
        e.x = x.to_vec();
        e
    }

    /// The nominal prediction at `x` (no Monte Carlo).
    pub fn predict(&self, x: &[f64]) -> sim::Result<Prediction> {
        self.model.predict(&self.space.apply(&self.scenario, x))
    }

    /// Evaluate a whole scenario (the baseline, where variables may be absent).
    pub fn evaluate_scenario(&self, scenario: &Scenario) -> Evaluation {
        let failed = |msg: String| Evaluation {
            start_idx: 0,
            x: Vec::new(),
            objective: f64::NAN,
            objective_mean: f64::NAN,
            objective_p10: None,
            constraint_values: vec![f64::NAN; self.constraints.len()],
            penalty: f64::NAN,
            cost: FAILED_COST,
            feasible: false,
            error: Some(msg),
        };
        let predictions: Vec<sim::Result<Prediction>> = match self.robustness {
            None => vec![self.model.predict(scenario)],
            Some(r) => (0..r.n_samples)
                .into_par_iter()
                .map(|k| {
                    let mut s = scenario.clone();
                    s.variability.enabled = true;
                    s.seed = r.seed.wrapping_add(k as u64);
                    self.model.predict(&s)
                })
                .collect(),
        };
        let mut objectives = Vec::with_capacity(predictions.len());
        let mut constraint_sums = vec![0.0; self.constraints.len()];
        for p in &predictions {
            let p = match p {
                Ok(p) => p,
                Err(e) => return failed(e.to_string()),
            };
            match self.objective.value(p, &self.reference) {
                Some(v) if v.is_finite() => objectives.push(v),
                _ => return failed("the model returned no finite objective".to_owned()),
            }
            for (sum, c) in constraint_sums.iter_mut().zip(&self.constraints) {
                *sum += p.value(c.quantity).unwrap_or(f64::NAN);
            }
        }
        let n = objectives.len() as f64;
        let mean = objectives.iter().sum::<f64>() / n;
        let p10 = self.robustness.map(|_| percentile(&objectives, 0.10));
        let objective = match self.robustness.map(|r| r.statistic) {
            Some(RobustStatistic::P10) => p10.unwrap_or(mean),
            _ => mean,
        };
        let constraint_values: Vec<f64> = constraint_sums.iter().map(|s| s / n).collect();
        let penalty: f64 = self.constraints.iter().zip(&constraint_values).map(|(c, v)| c.penalty(*v)).sum();
        let feasible = self.constraints.iter().zip(&constraint_values).all(|(c, v)| v.is_finite() && c.violation(*v) <= 1e-9);
        Evaluation {
            start_idx: 0,
            x: Vec::new(),
            objective,
            objective_mean: mean,
            objective_p10: p10,
            constraint_values,
            penalty,
            cost: -objective / self.objective_scale + penalty,
            feasible,
            error: None,
        }
    }
}

/// The `q`-quantile of `values` (linear interpolation between order statistics).
pub fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// The evaluation budget of one start ran out (ends the solver run; not a failure).
#[derive(Debug, thiserror::Error)]
#[error("evaluation budget exhausted")]
pub(crate) struct BudgetExhausted;

/// The argmin problem of one start: cost in the unbounded space `z`, a trace of every
/// evaluation, a cache of repeated points and a budget.
pub(crate) struct SetpointProblem<'e, 'a> {
    pub(crate) evaluator: &'e Evaluator<'a>,
    pub(crate) start_idx: usize,
    pub(crate) budget: usize,
    pub(crate) trace: &'e Mutex<Vec<Evaluation>>,
    cache: Mutex<HashMap<Vec<u64>, f64>>,
    on_evaluation: &'e (dyn Fn() + Sync),
}

/// Step of the central finite differences in `z` (radians; ≈ 0.05 % of a variable's range
/// near the middle of the box).
pub const FD_STEP_Z: f64 = 1e-3;

impl<'e, 'a> SetpointProblem<'e, 'a> {
    pub(crate) fn new(
        evaluator: &'e Evaluator<'a>,
        start_idx: usize,
        budget: usize,
        trace: &'e Mutex<Vec<Evaluation>>,
        on_evaluation: &'e (dyn Fn() + Sync),
    ) -> Self {
        Self { evaluator, start_idx, budget, trace, cache: Mutex::new(HashMap::new()), on_evaluation }
    }

    fn n_evaluations(&self) -> usize {
        self.trace.lock().map(|t| t.len()).unwrap_or(0)
    }

    fn cost_of(&self, z: &[f64]) -> Result<f64, ArgminError> {
        let x = self.evaluator.space.to_box(z);
        let key: Vec<u64> = x.iter().map(|v| v.to_bits()).collect();
        if let Some(c) = self.cache.lock().ok().and_then(|c| c.get(&key).copied()) {
            return Ok(c);
        }
        if self.n_evaluations() >= self.budget {
            return Err(BudgetExhausted.into());
        }
        let mut e = self.evaluator.evaluate(&x);
        e.start_idx = self.start_idx;
        let cost = e.cost;
        if let Ok(mut t) = self.trace.lock() {
            t.push(e);
        }
        if let Ok(mut c) = self.cache.lock() {
            c.insert(key, cost);
        }
        (self.on_evaluation)();
        Ok(cost)
    }
}

impl CostFunction for SetpointProblem<'_, '_> {
    type Param = DVector<f64>;
    type Output = f64;

    fn cost(&self, z: &Self::Param) -> Result<f64, ArgminError> {
        self.cost_of(z.as_slice())
    }
}

impl Gradient for SetpointProblem<'_, '_> {
    type Param = DVector<f64>;
    type Gradient = DVector<f64>;

    /// Central finite differences in `z` with step [`FD_STEP_Z`] (2n evaluations).
    fn gradient(&self, z: &Self::Param) -> Result<Self::Gradient, ArgminError> {
        let mut g = DVector::zeros(z.len());
        for i in 0..z.len() {
            let mut zp = z.clone();
            zp[i] += FD_STEP_Z;
            let mut zm = z.clone();
            zm[i] -= FD_STEP_Z;
            g[i] = (self.cost_of(zp.as_slice())? - self.cost_of(zm.as_slice())?) / (2.0 * FD_STEP_Z);
        }
        Ok(g)
    }
}

/// An argmin observer that keeps the best cost after every iteration, in memory.
#[derive(Clone, Default)]
pub(crate) struct ConvergenceObserver {
    pub(crate) best_costs: Arc<Mutex<Vec<f64>>>,
}

impl<I: State<Float = f64>> Observe<I> for ConvergenceObserver {
    fn observe_iter(&mut self, state: &I, _kv: &KV) -> Result<(), ArgminError> {
        if let Ok(mut v) = self.best_costs.lock() {
            v.push(state.get_best_cost());
        }
        Ok(())
    }
}
