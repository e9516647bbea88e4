//! A study: multi-start optimisation with one argmin solver, in parallel, reproducible.
//!
//! Start 0 begins at the scenario's own setpoints (pulled 2 % inside the box); starts
//! 1..K begin at points drawn uniformly in the box by a ChaCha8 generator seeded with the
//! study seed. Starts run in parallel on the rayon pool and each gets `max_evaluations / K`
//! evaluations; results are gathered in start order, so a study is bit-for-bit repeatable
//! whatever the thread count. The optimum is the lowest-cost point of the whole trace (not
//! only what a solver reports), so a run cut short by its budget still returns its best.

use crate::error::{OptimizerError, Result};
use crate::problem::{BudgetExhausted, ConvergenceObserver, Evaluation, Evaluator, SetpointProblem};
use argmin::core::observers::ObserverMode;
use argmin::core::{Error as ArgminError, Executor, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::neldermead::NelderMead;
use argmin::solver::particleswarm::ParticleSwarm;
use argmin::solver::quasinewton::LBFGS;
use nalgebra::DVector;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::f64::consts::FRAC_PI_2;

/// The argmin solver of a study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SolverKind {
    /// Nelder–Mead simplex; initial simplex = start + 0.35 rad along each axis in `z`.
    NelderMead,
    /// Particle swarm over `z ∈ [−π/2, π/2]ⁿ` (the whole box), 10 + 2n particles.
    Pso,
    /// L-BFGS (memory 5) with a Moré–Thuente line search and central finite-difference
    /// gradients in `z`.
    Lbfgs,
}

impl SolverKind {
    pub fn name(self) -> &'static str {
        match self {
            SolverKind::NelderMead => "nelder-mead",
            SolverKind::Pso => "pso",
            SolverKind::Lbfgs => "lbfgs",
        }
    }
}

/// Settings of a study (no defaults on purpose: the caller states them).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StudyConfig {
    pub solver: SolverKind,
    /// Number of starts K ≥ 1.
    pub n_starts: usize,
    /// Evaluated points over all starts (each point costs `n_samples` model runs when robust).
    pub max_evaluations: usize,
    pub seed: u64,
    /// Replace the baseline as start 0 (e.g. to warm-start a Pareto sweep).
    pub warm_start: Option<Vec<f64>>,
}

/// How one start ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StartSummary {
    pub start_idx: usize,
    pub x0: Vec<f64>,
    pub best_cost: f64,
    pub n_evaluations: usize,
    pub n_iterations: usize,
    /// Why it stopped: argmin's termination reason, "evaluation budget exhausted", or the
    /// solver's error message.
    pub termination: String,
}

/// The outcome of a study.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StudyResult {
    pub solver: SolverKind,
    pub seed: u64,
    /// The lowest-cost evaluation of the trace.
    pub best: Evaluation,
    /// The scenario as given.
    pub baseline: Evaluation,
    pub starts: Vec<StartSummary>,
    /// Every evaluation, start by start, in the order made.
    pub trace: Vec<Evaluation>,
    /// Best cost after each solver iteration, per start.
    pub convergence: Vec<Vec<f64>>,
    pub n_evaluations: usize,
    pub n_model_runs: usize,
}

/// Run a study. `on_evaluation` is called after every evaluated point (progress bars).
pub fn run_study(evaluator: &Evaluator<'_>, config: &StudyConfig, on_evaluation: &(dyn Fn() + Sync)) -> Result<StudyResult> {
    if config.n_starts == 0 {
        return Err(OptimizerError::InvalidSetting("the number of starts must be at least 1".to_owned()));
    }
    let min_evals = 4 * evaluator.space.dim() + 4;
    if config.max_evaluations < config.n_starts * min_evals.min(8) {
        return Err(OptimizerError::InvalidSetting(format!(
            "{} evaluations are too few for {} start(s); give at least {}",
            config.max_evaluations,
            config.n_starts,
            config.n_starts * min_evals.min(8)
        )));
    }
    let starts = start_points(evaluator, config);
    let base_budget = config.max_evaluations / config.n_starts;
    let extra = config.max_evaluations % config.n_starts;
    let runs: Vec<(Vec<Evaluation>, StartSummary, Vec<f64>)> = starts
        .par_iter()
        .enumerate()
        .map(|(start_idx, x0)| {
            let budget = base_budget + usize::from(start_idx < extra);
            run_start(evaluator, config, start_idx, x0, budget, on_evaluation)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut trace = Vec::new();
    let mut summaries = Vec::new();
    let mut convergence = Vec::new();
    for (t, s, c) in runs {
        trace.extend(t);
        summaries.push(s);
        convergence.push(c);
    }
    let best = best_of(&trace)?.clone();
    let baseline = evaluator.evaluate_scenario(&evaluator.scenario);
    let n_evaluations = trace.len();
    Ok(StudyResult {
        solver: config.solver,
        seed: config.seed,
        best,
        baseline,
        starts: summaries,
        trace,
        convergence,
        n_evaluations,
        n_model_runs: n_evaluations * evaluator.runs_per_point(),
    })
}

/// The lowest-cost evaluation that did not fail.
pub fn best_of(trace: &[Evaluation]) -> Result<&Evaluation> {
    trace.iter().filter(|e| e.error.is_none()).min_by(|a, b| a.cost.total_cmp(&b.cost)).ok_or_else(|| {
        OptimizerError::NoFeasibleEvaluation {
            n_evaluations: trace.len(),
            first_error: trace.iter().find_map(|e| e.error.clone()).unwrap_or_else(|| "no evaluations".to_owned()),
        }
    })
}

fn start_points(evaluator: &Evaluator<'_>, config: &StudyConfig) -> Vec<Vec<f64>> {
    let space = &evaluator.space;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let first = config
        .warm_start
        .clone()
        .filter(|x| space.contains(x))
        .unwrap_or_else(|| space.baseline_start(&evaluator.scenario));
    let mut starts = vec![first];
    for _ in 1..config.n_starts {
        starts.push(space.bounds.iter().map(|b| rng.random_range(b.lower..=b.upper)).collect());
    }
    starts
}

fn run_start(
    evaluator: &Evaluator<'_>,
    config: &StudyConfig,
    start_idx: usize,
    x0: &[f64],
    budget: usize,
    on_evaluation: &(dyn Fn() + Sync),
) -> Result<(Vec<Evaluation>, StartSummary, Vec<f64>)> {
    let space = &evaluator.space;
    let n = space.dim();
    let z0 = DVector::from_vec(space.to_unbounded(x0));
    let trace_cell = std::sync::Mutex::new(Vec::new());
    let problem = SetpointProblem::new(evaluator, start_idx, budget, &trace_cell, on_evaluation);
    let observer = ConvergenceObserver::default();
    let best_costs = observer.best_costs.clone();
    let solver_name = config.solver.name();
    let outcome: std::result::Result<(u64, String), ArgminError> = match config.solver {
        SolverKind::NelderMead => {
            let mut simplex = vec![z0.clone()];
            for i in 0..n {
                let mut z = z0.clone();
                // Step towards the middle of the box so the first simplex stays informative.
                z[i] += if z0[i] > 0.0 { -0.35 } else { 0.35 };
                simplex.push(z);
            }
            NelderMead::new(simplex).with_sd_tolerance(1e-7).and_then(|solver| {
                Executor::new(problem, solver)
                    .configure(|s| s.max_iters(budget as u64))
                    .add_observer(observer, ObserverMode::Always)
                    .timer(false)
                    .run()
                    .map(|r| (r.state().get_iter(), termination_text(r.state().get_termination_reason())))
            })
        }
        SolverKind::Pso => {
            let n_particles = 10 + 2 * n;
            let lower = DVector::from_element(n, -FRAC_PI_2);
            let upper = DVector::from_element(n, FRAC_PI_2);
            let rng = ChaCha8Rng::seed_from_u64(config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(start_idx as u64));
            let solver = ParticleSwarm::new((lower, upper), n_particles).with_rng_generator(rng);
            Executor::new(problem, solver)
                .configure(|s| s.max_iters((budget / n_particles).max(1) as u64))
                .add_observer(observer, ObserverMode::Always)
                .timer(false)
                .run()
                .map(|r| (r.state().get_iter(), termination_text(r.state().get_termination_reason())))
        }
        SolverKind::Lbfgs => {
            let linesearch = MoreThuenteLineSearch::new();
            LBFGS::new(linesearch, 5)
                .with_tolerance_grad(1e-8)
                .and_then(|s| s.with_tolerance_cost(1e-10))
                .and_then(|solver| {
                    Executor::new(problem, solver)
                        .configure(|s| s.param(z0.clone()).max_iters(budget as u64))
                        .add_observer(observer, ObserverMode::Always)
                        .timer(false)
                        .run()
                        .map(|r| (r.state().get_iter(), termination_text(r.state().get_termination_reason())))
                })
        }
    };
    let n_evaluations = trace_cell.lock().map(|t| t.len()).unwrap_or(0);
    let (n_iterations, termination) = match outcome {
        Ok(done) => done,
        Err(e) if e.downcast_ref::<BudgetExhausted>().is_some() => {
            let n_iterations = best_costs.lock().map(|v| v.len() as u64).unwrap_or(0);
            (n_iterations, BudgetExhausted.to_string())
        }
        // A solver that fails after evaluating points (e.g. a line search that cannot make
        // progress on a noisy surface) still has a trace; report why it stopped.
        Err(e) if n_evaluations > 0 => {
            let n_iterations = best_costs.lock().map(|v| v.len() as u64).unwrap_or(0);
            (n_iterations, format!("solver stopped: {e}"))
        }
        Err(e) => return Err(OptimizerError::Solver { solver: solver_name, message: e.to_string() }),
    };
    let trace = trace_cell.into_inner().unwrap_or_default();
    let best_cost = trace.iter().map(|e| e.cost).fold(f64::INFINITY, f64::min);
    let convergence = best_costs.lock().map(|v| v.clone()).unwrap_or_default();
    let summary = StartSummary {
        start_idx,
        x0: x0.to_vec(),
        best_cost,
        n_evaluations: trace.len(),
        n_iterations: n_iterations as usize,
        termination,
    };
    Ok((trace, summary, convergence))
}

fn termination_text(reason: Option<&argmin::core::TerminationReason>) -> String {
    reason.map_or_else(|| "running".to_owned(), |r| r.text().to_owned())
}

/// Exhaustive grid search: `n_per_axis` equally spaced values per variable (bounds
/// included), evaluated in parallel. A reference for benchmarks and tests.
pub fn grid_search(evaluator: &Evaluator<'_>, n_per_axis: usize) -> Result<(Evaluation, usize)> {
    let n_per_axis = n_per_axis.max(2);
    let dim = evaluator.space.dim();
    let n_total = n_per_axis.checked_pow(dim as u32).ok_or_else(|| OptimizerError::InvalidSetting("grid too large".to_owned()))?;
    let trace: Vec<Evaluation> = (0..n_total)
        .into_par_iter()
        .map(|mut idx| {
            let x: Vec<f64> = evaluator
                .space
                .bounds
                .iter()
                .map(|b| {
                    let k = idx % n_per_axis;
                    idx /= n_per_axis;
                    b.lower + (b.upper - b.lower) * k as f64 / (n_per_axis - 1) as f64
                })
                .collect();
            evaluator.evaluate(&x)
        })
        .collect();
    Ok((best_of(&trace)?.clone(), n_total))
}

/// Random search: `n` points drawn uniformly in the box (seeded), evaluated in parallel.
pub fn random_search(evaluator: &Evaluator<'_>, n: usize, seed: u64) -> Result<Evaluation> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let points: Vec<Vec<f64>> =
        (0..n).map(|_| evaluator.space.bounds.iter().map(|b| rng.random_range(b.lower..=b.upper)).collect()).collect();
    let trace: Vec<Evaluation> = points.par_iter().map(|x| evaluator.evaluate(x)).collect();
    Ok(best_of(&trace)?.clone())
}
