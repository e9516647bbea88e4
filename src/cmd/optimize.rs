//! `mabtwin optimize SCENARIO --vars temp_c,ph,... [--objective ...] [--constraint ...] --out DIR`:
//! in-silico setpoint optimisation (crate `optimizer`) with files, plots, a progress bar
//! and a Table 7-style summary.

use super::{EXIT_INVALID, Loaded, load_scenario, print_diagnostics};
use crate::output::{compact, write_atomic, write_json};
use crate::plot::{Panel, Series, panels_png};
use anyhow::{Result, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use optimizer::{
    Constraint, DecisionSpace, Evaluation, Evaluator, Objective, OptimizerError, ParetoPoint, RobustStatistic, Robustness,
    Sensitivity, SolverKind, StudyConfig, StudyResult, Variable,
};
use serde::Serialize;
use sim::Scenario;
use sim::objective::{Prediction, Quantity, SimulatorObjective, Surrogate};
use sim::physics::scale_vessel;
use sim::scenario::ScaleUpRule;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum Solver {
    /// Nelder–Mead simplex (argmin), the default: robust on the simulator's surface.
    NelderMead,
    /// Particle swarm (argmin) over the whole box.
    Pso,
    /// L-BFGS with Moré–Thuente line search and finite-difference gradients (argmin).
    Lbfgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum Statistic {
    /// 10th percentile of the objective over the Monte Carlo samples.
    P10,
    /// Mean over the samples.
    Mean,
}

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Scenario file (TOML) or built-in name: the baseline process.
    pub scenario: String,
    /// Decision variables (comma-separated): temp_c, ph, do_pct, glucose_feed_g_per_l_per_day,
    /// seed_vcd_e6_per_ml, temp_shift_day, temp_shift_c, feed_volume_pct.
    #[arg(long, value_delimiter = ',', required = true)]
    pub vars: Vec<String>,
    /// Override bounds: NAME=LO:HI (repeatable or comma-separated), e.g. temp_c=33:37.
    #[arg(long, value_delimiter = ',')]
    pub bounds: Vec<String>,
    /// Maximised objective: final_titer, volumetric_productivity, specific_productivity, cqa,
    /// or a weighted sum like 0.7*final_titer+0.3*cqa (terms relative to the baseline).
    #[arg(long, default_value = "final_titer")]
    pub objective: String,
    /// Constraint QUANTITY<=LIMIT or QUANTITY>=LIMIT (repeatable), e.g. peak_pco2_mmhg<=120.
    #[arg(long = "constraint")]
    pub constraints: Vec<String>,
    /// Model: `sim` (the mechanistic simulator) or `surrogate:MODEL_DIR`, a twin trained with
    /// `mabtwin twin train --horizon harvest` (run through `mabtwin-ml`, which links libtorch).
    /// The surrogate's optimum is always re-checked with the simulator; both values are reported.
    #[arg(long, default_value = "sim")]
    pub model: String,
    /// Surrogate mode: hours of (simulated) early-batch measurements the twin sees before it
    /// forecasts the harvest (at least one model window, 24 h).
    #[arg(long, default_value_t = 96.0)]
    pub surrogate_context_h: f64,
    /// Robust mode: N Monte Carlo samples of cell-line spread and sensor noise per point (0 = off).
    #[arg(long, default_value_t = 0)]
    pub robust: usize,
    /// Statistic optimised in robust mode.
    #[arg(long, value_enum, default_value_t = Statistic::P10)]
    pub robust_statistic: Statistic,
    /// Number of starts (run in parallel): the baseline plus K−1 seeded random points.
    #[arg(long, default_value_t = 4)]
    pub starts: usize,
    #[arg(long, value_enum, default_value_t = Solver::NelderMead)]
    pub solver: Solver,
    /// Seed of start points, the swarm and the Monte Carlo samples.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Evaluated points over all starts (per Pareto point with --pareto; per scale with --volumes).
    #[arg(long, default_value_t = 1600)]
    pub max_evals: usize,
    /// Also trace the titer-vs-CQA Pareto front (epsilon-constraint, --pareto-points points).
    #[arg(long)]
    pub pareto: bool,
    #[arg(long, default_value_t = 6)]
    pub pareto_points: usize,
    /// Run the study at each working volume, L (constant power per volume), e.g. 50,200,2000.
    #[arg(long, value_delimiter = ',')]
    pub volumes: Vec<f64>,
    /// Points per axis of the 1-D landscapes (the 2-D landscape uses 2/3 of it).
    #[arg(long, default_value_t = 21)]
    pub landscape_points: usize,
    /// Skip plots and the landscape evaluations behind them.
    #[arg(long)]
    pub no_plots: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
}

/// Everything fixed before the study runs (checked input).
struct Plan {
    scenario: Scenario,
    variables: Vec<Variable>,
    overrides: Vec<(Variable, optimizer::Bounds)>,
    objective: Objective,
    constraints: Vec<Constraint>,
    robustness: Option<Robustness>,
    config: StudyConfig,
}

/// Builds the objective model named by `--model` (the plain `mabtwin` knows only the
/// simulator; `mabtwin-ml` adds the trained surrogate). `Err` is invalid input.
pub(crate) type ModelFactory = fn(&Args, bool) -> std::result::Result<Box<dyn Surrogate>, String>;

pub(crate) fn run(a: Args, models: ModelFactory) -> Result<ExitCode> {
    let scenario = match load_scenario(&a.scenario)? {
        Loaded::Ok { scenario, warnings } => {
            print_diagnostics(&warnings);
            scenario.into_inner()
        }
        Loaded::Invalid(errors) => {
            print_diagnostics(&errors);
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    let plan = match plan(&a, scenario) {
        Ok(p) => p,
        Err(message) => return Ok(invalid(&message)),
    };
    let model: Box<dyn Surrogate> = match models(&a, plan.robustness.is_some()) {
        Ok(m) => m,
        Err(message) => return Ok(invalid(&message)),
    };
    let scales: Vec<Option<f64>> = if a.volumes.is_empty() { vec![None] } else { a.volumes.iter().copied().map(Some).collect() };
    let mut reports = Vec::new();
    for volume in &scales {
        let (dir, scenario) = match volume {
            None => (a.out.clone(), plan.scenario.clone()),
            Some(v) => {
                let vessel = scale_vessel(&plan.scenario.vessel, *v, ScaleUpRule::ConstantPowerPerVolume);
                (a.out.join(format!("scale_{}L", compact(*v))), Scenario { vessel, ..plan.scenario.clone() })
            }
        };
        if let Some(v) = volume {
            println!("\n== {} L (constant power per volume) ==", compact(*v));
        }
        match study_one(&a, &plan, model.as_ref(), scenario, &dir)? {
            Ok(report) => reports.push((volume, report)),
            Err(message) => return Ok(invalid(&message)),
        }
    }
    if scales.len() > 1 {
        print_scales(&reports);
        let rows: Vec<serde_json::Value> = reports
            .iter()
            .map(|(v, r)| {
                let mut m = serde_json::Map::new();
                m.insert("volume_l".into(), serde_json::json!(v));
                m.insert("objective_value".into(), serde_json::json!(r.objective_value));
                m.insert("baseline_value".into(), serde_json::json!(r.baseline_value));
                m.insert("best".into(), serde_json::json!(r.best));
                m.insert("feasible".into(), serde_json::json!(r.feasible));
                m.insert("n_evaluations".into(), serde_json::json!(r.n_evaluations));
                m.insert("wall_time_s".into(), serde_json::json!(r.wall_time_s));
                serde_json::Value::Object(m)
            })
            .collect();
        let mut top = serde_json::to_value(&reports[0].1)?;
        if let Some(o) = top.as_object_mut() {
            o.insert("scales".into(), serde_json::Value::Array(rows));
        }
        write_json(&a.out.join("result.json"), &top)?;
        println!("wrote {}/result.json (first scale at top level, all under `scales`) and scale_*L/", a.out.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn invalid(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_INVALID)
}

fn plan(a: &Args, scenario: Scenario) -> std::result::Result<Plan, String> {
    let variables = a.vars.iter().map(|v| Variable::parse(v)).collect::<optimizer::Result<Vec<_>>>().map_err(|e| e.to_string())?;
    let overrides = a.bounds.iter().map(|b| optimizer::parse_bounds(b)).collect::<optimizer::Result<Vec<_>>>().map_err(|e| e.to_string())?;
    // Check the space once here so bad bounds fail before any simulation.
    DecisionSpace::new(&scenario, &variables, &overrides).map_err(|e| e.to_string())?;
    let objective = Objective::parse(&a.objective).map_err(|e| e.to_string())?;
    let constraints = a.constraints.iter().map(|c| Constraint::parse(c)).collect::<optimizer::Result<Vec<_>>>().map_err(|e| e.to_string())?;
    optimizer::goal::check_consistent(&constraints).map_err(|e| e.to_string())?;
    if a.robust == 1 {
        return Err("--robust needs at least 2 samples (or 0 for a nominal study)".to_owned());
    }
    if a.starts == 0 {
        return Err("--starts must be at least 1".to_owned());
    }
    if a.volumes.iter().any(|v| !(10.0..=5000.0).contains(v)) {
        return Err("--volumes must list working volumes in 10–5000 L, e.g. 50,200,2000".to_owned());
    }
    let robustness = (a.robust >= 2).then_some(Robustness {
        n_samples: a.robust,
        statistic: match a.robust_statistic {
            Statistic::P10 => RobustStatistic::P10,
            Statistic::Mean => RobustStatistic::Mean,
        },
        seed: a.seed,
    });
    let solver = match a.solver {
        Solver::NelderMead => SolverKind::NelderMead,
        Solver::Pso => SolverKind::Pso,
        Solver::Lbfgs => SolverKind::Lbfgs,
    };
    let config = StudyConfig { solver, n_starts: a.starts, max_evaluations: a.max_evals, seed: a.seed, warm_start: None };
    Ok(Plan { scenario, variables, overrides, objective, constraints, robustness, config })
}

/// The simulator as the objective: `--model sim`. Any other value is an error here.
pub(crate) fn simulator_model(a: &Args, robust: bool) -> std::result::Result<Box<dyn Surrogate>, String> {
    if a.model == "sim" {
        // Nominal studies use perfect sensors (a smooth objective); robust studies keep the
        // scenario's sensor noise so it acts through the control loops.
        return Ok(Box::new(if robust { SimulatorObjective::scenario_sensors() } else { SimulatorObjective::perfect_sensors() }));
    }
    if a.model.starts_with("surrogate:") {
        return Err(format!("--model {}: the surrogate runs in `mabtwin-ml optimize` (linked to libtorch)", a.model));
    }
    Err(format!("unknown --model `{}`; use `sim` or `surrogate:MODEL_DIR`", a.model))
}

/// What result.json holds.
#[derive(Serialize)]
struct Report {
    scenario: String,
    nominal_volume_l: f64,
    model: String,
    objective: String,
    solver: &'static str,
    seed: u64,
    n_starts: usize,
    max_evaluations: usize,
    robust: Option<Robustness>,
    variables: Vec<VariableReport>,
    best: serde_json::Map<String, serde_json::Value>,
    baseline_setpoints: serde_json::Map<String, serde_json::Value>,
    objective_value: f64,
    baseline_value: f64,
    improvement_pct: f64,
    objective_mean: f64,
    objective_p10: Option<f64>,
    baseline_objective_p10: Option<f64>,
    feasible: bool,
    constraints: Vec<ConstraintReport>,
    best_prediction: Option<Prediction>,
    baseline_prediction: Prediction,
    /// For a surrogate model: the simulator's verdict at the surrogate's optimum.
    simulator_recheck: Option<Recheck>,
    n_evaluations: usize,
    n_model_runs: usize,
    wall_time_s: f64,
    starts: Vec<optimizer::StartSummary>,
    sensitivities: Vec<Sensitivity>,
    pareto: Option<Vec<ParetoPoint>>,
    penalty_method: &'static str,
    bounds_transform: &'static str,
}

#[derive(Serialize)]
struct VariableReport {
    name: &'static str,
    lower: f64,
    upper: f64,
    baseline: Option<f64>,
    best: f64,
}

#[derive(Serialize)]
struct ConstraintReport {
    constraint: String,
    value_at_optimum: f64,
    value_at_baseline: f64,
    satisfied: bool,
}

#[derive(Serialize)]
struct Recheck {
    simulator_objective_value: f64,
    surrogate_objective_value: f64,
    simulator_prediction: Prediction,
}

/// Run one study (one scale) and write its files. The inner `Err` is invalid input.
fn study_one(a: &Args, plan: &Plan, model: &dyn Surrogate, scenario: Scenario, dir: &Path) -> Result<std::result::Result<Report, String>> {
    let space = match DecisionSpace::new(&scenario, &plan.variables, &plan.overrides) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let evaluator =
        match Evaluator::new(model, scenario.clone(), space.clone(), plan.objective.clone(), plan.constraints.clone(), plan.robustness) {
            Ok(e) => e,
            Err(e) if is_input_error(&e) => return Ok(Err(e.to_string())),
            Err(e) => return Err(anyhow!(e)),
        };
    let n_study = if a.pareto { a.max_evals * (1 + a.pareto_points.max(2)) } else { a.max_evals };
    let n_extra = if a.no_plots { 1 + 2 * space.dim() } else { 1 + 2 * space.dim() + landscape_evals(a, space.dim()) };
    let bar = if a.quiet { ProgressBar::hidden() } else { ProgressBar::new((n_study + n_extra) as u64) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} optimising [{bar:40}] {pos}/{len} evaluations, {per_sec}, ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let tick = || bar.inc(1);
    let t0 = Instant::now();
    let result = match optimizer::run_study(&evaluator, &plan.config, &tick) {
        Ok(r) => r,
        Err(e) if is_input_error(&e) => return Ok(Err(e.to_string())),
        Err(e) => return Err(anyhow!(e)),
    };
    let wall_time_s = t0.elapsed().as_secs_f64();
    let best_prediction = evaluator.predict(&result.best.x).ok();
    let sensitivities = optimizer::local_sensitivities(&evaluator, &result.best.x);
    bar.inc((1 + 2 * space.dim()) as u64);
    let pareto = if a.pareto {
        let cfg = StudyConfig { n_starts: 1, ..plan.config.clone() };
        Some(optimizer::pareto_front(&evaluator, Quantity::FinalTiter, Quantity::Cqa, a.pareto_points, &cfg, &tick).map_err(|e| anyhow!(e))?)
    } else {
        None
    };
    let simulator_recheck = if model.name() == "simulator" {
        None
    } else {
        let sim_model = SimulatorObjective::perfect_sensors();
        let p = sim_model.predict(&space.apply(&scenario, &result.best.x)).map_err(|e| anyhow!("simulator re-check: {e}"))?;
        let v = plan.objective.value(&p, &evaluator.reference).unwrap_or(f64::NAN);
        Some(Recheck { simulator_objective_value: v, surrogate_objective_value: result.best.objective, simulator_prediction: p })
    };
    let report = report(a, plan, model, &scenario, &evaluator, &result, best_prediction, sensitivities, pareto, simulator_recheck, wall_time_s);
    std::fs::create_dir_all(dir).map_err(|e| anyhow!("cannot create {}: {e}", dir.display()))?;
    write_json(&dir.join("result.json"), &report)?;
    write_trace(&dir.join("trace.csv"), &space, &plan.constraints, &result.trace)?;
    if let Some(front) = &report.pareto {
        write_pareto(&dir.join("pareto.csv"), &space, front)?;
    }
    if !a.no_plots {
        plots(a, dir, &evaluator, &result, report.pareto.as_deref(), &bar)?;
    }
    bar.finish_and_clear();
    print_table(&report, &space);
    println!(
        "{} evaluations ({} model runs) in {:.1} s; wrote {}/result.json, trace.csv{}",
        report.n_evaluations,
        report.n_model_runs,
        report.wall_time_s,
        dir.display(),
        if a.no_plots { "" } else { ", convergence.png, landscape_1d.png, landscape_2d.png" }
    );
    Ok(Ok(report))
}

fn landscape_evals(a: &Args, dim: usize) -> usize {
    let n2 = (a.landscape_points * 2 / 3).max(3);
    dim * a.landscape_points.max(2) + if dim >= 2 { n2 * n2 } else { 0 }
}

fn is_input_error(e: &OptimizerError) -> bool {
    !matches!(e, OptimizerError::Baseline(_) | OptimizerError::NoFeasibleEvaluation { .. } | OptimizerError::Solver { .. })
}

fn setpoint_map(space: &DecisionSpace, x: &[Option<f64>]) -> serde_json::Map<String, serde_json::Value> {
    space.variables.iter().zip(x).map(|(v, x)| (v.name().to_owned(), serde_json::json!(x))).collect()
}

#[allow(clippy::too_many_arguments)] // one-off assembly of the report
fn report(
    a: &Args,
    plan: &Plan,
    model: &dyn Surrogate,
    scenario: &Scenario,
    evaluator: &Evaluator<'_>,
    result: &StudyResult,
    best_prediction: Option<Prediction>,
    sensitivities: Vec<Sensitivity>,
    pareto: Option<Vec<ParetoPoint>>,
    simulator_recheck: Option<Recheck>,
    wall_time_s: f64,
) -> Report {
    let space = &evaluator.space;
    let baseline_x = space.baseline(scenario);
    let best_x: Vec<Option<f64>> = result.best.x.iter().copied().map(Some).collect();
    let constraints = plan
        .constraints
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let value = result.best.constraint_values[i];
            ConstraintReport {
                constraint: c.text(),
                value_at_optimum: value,
                value_at_baseline: result.baseline.constraint_values[i],
                satisfied: value.is_finite() && c.violation(value) <= 1e-9,
            }
        })
        .collect();
    Report {
        scenario: scenario.name.clone(),
        nominal_volume_l: scenario.vessel.nominal_volume_l,
        model: model.name().to_owned(),
        objective: plan.objective.text.clone(),
        solver: plan.config.solver.name(),
        seed: plan.config.seed,
        n_starts: plan.config.n_starts,
        max_evaluations: a.max_evals,
        robust: plan.robustness,
        variables: space
            .variables
            .iter()
            .enumerate()
            .map(|(i, v)| VariableReport {
                name: v.name(),
                lower: space.bounds[i].lower,
                upper: space.bounds[i].upper,
                baseline: baseline_x[i],
                best: result.best.x[i],
            })
            .collect(),
        best: setpoint_map(space, &best_x),
        baseline_setpoints: setpoint_map(space, &baseline_x),
        objective_value: result.best.objective,
        baseline_value: result.baseline.objective,
        improvement_pct: 100.0 * (result.best.objective / result.baseline.objective - 1.0),
        objective_mean: result.best.objective_mean,
        objective_p10: result.best.objective_p10,
        baseline_objective_p10: result.baseline.objective_p10,
        feasible: result.best.feasible,
        constraints,
        best_prediction,
        baseline_prediction: evaluator.reference.clone(),
        simulator_recheck,
        n_evaluations: result.n_evaluations,
        n_model_runs: result.n_model_runs,
        wall_time_s,
        starts: result.starts.clone(),
        sensitivities,
        pareto,
        penalty_method: "exact penalty: cost = -J/|J_baseline| + sum(100 v + 1e4 v^2), v = violation/max(|limit|,1)",
        bounds_transform: "x = lo + (hi - lo)(1 + sin z)/2",
    }
}

fn write_trace(path: &Path, space: &DecisionSpace, constraints: &[Constraint], trace: &[Evaluation]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = vec!["eval_idx".into(), "start_idx".into()];
    header.extend(space.variables.iter().map(|v| v.name().to_owned()));
    header.extend(["objective", "objective_mean", "objective_p10"].map(String::from));
    header.extend(constraints.iter().map(|c| c.quantity.name().to_owned()));
    header.extend(["penalty", "cost", "feasible", "error"].map(String::from));
    w.write_record(&header)?;
    for (i, e) in trace.iter().enumerate() {
        let mut row: Vec<String> = vec![i.to_string(), e.start_idx.to_string()];
        row.extend(e.x.iter().map(|v| compact(*v)));
        row.push(compact(e.objective));
        row.push(compact(e.objective_mean));
        row.push(e.objective_p10.map(compact).unwrap_or_default());
        row.extend(e.constraint_values.iter().map(|v| compact(*v)));
        row.push(compact(e.penalty));
        row.push(compact(e.cost));
        row.push(e.feasible.to_string());
        row.push(e.error.clone().unwrap_or_default());
        w.write_record(&row)?;
    }
    write_atomic(path, &w.into_inner().map_err(|e| anyhow!("csv buffer: {e}"))?)
}

fn write_pareto(path: &Path, space: &DecisionSpace, front: &[ParetoPoint]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = vec!["final_titer_g_per_l".into(), "cqa_gi_pct".into(), "epsilon_cqa".into()];
    header.extend(space.variables.iter().map(|v| v.name().to_owned()));
    w.write_record(&header)?;
    for p in front {
        let mut row = vec![compact(p.primary), compact(p.secondary), p.epsilon.map(compact).unwrap_or_default()];
        row.extend(p.x.iter().map(|v| compact(*v)));
        w.write_record(&row)?;
    }
    write_atomic(path, &w.into_inner().map_err(|e| anyhow!("csv buffer: {e}"))?)
}

fn plots(a: &Args, dir: &Path, evaluator: &Evaluator<'_>, result: &StudyResult, pareto: Option<&[ParetoPoint]>, bar: &ProgressBar) -> Result<()> {
    // Convergence: best feasible-or-not objective so far, per start.
    let mut series = Vec::new();
    for s in &result.starts {
        let mut best = f64::INFINITY;
        let mut best_obj = f64::NAN;
        let pts: Vec<(f64, f64)> = result
            .trace
            .iter()
            .filter(|e| e.start_idx == s.start_idx)
            .enumerate()
            .map(|(i, e)| {
                if e.cost < best {
                    best = e.cost;
                    best_obj = e.objective;
                }
                (i as f64, best_obj)
            })
            .collect();
        series.push(Series { label: format!("start {}", s.start_idx), points: pts });
    }
    let conv = Panel {
        title: format!("Convergence ({})", result.solver.name()),
        x_label: "evaluation".into(),
        y_label: evaluator.objective.text.clone(),
        series,
    };
    panels_png(&dir.join("convergence.png"), &[conv], 1, 720, 420)?;
    // 1-D landscapes around the optimum (nominal model, even in robust mode).
    let nominal = Evaluator { robustness: None, ..clone_evaluator(evaluator) };
    let space = &evaluator.space;
    let mut panels = Vec::new();
    for (i, v) in space.variables.iter().enumerate() {
        let pts = optimizer::landscape_1d(&nominal, &result.best.x, i, a.landscape_points);
        bar.inc(pts.len() as u64);
        let (name, unit) = v.label();
        panels.push(Panel {
            title: format!("{name} (optimum {})", compact(result.best.x[i])),
            x_label: format!("{} [{unit}]", v.name()),
            y_label: evaluator.objective.text.clone(),
            series: vec![Series { label: "objective".into(), points: pts }],
        });
    }
    panels_png(&dir.join("landscape_1d.png"), &panels, panels.len().min(3), 420, 320)?;
    if space.dim() >= 2 {
        // The two variables with the largest local effect (per tenth of their range).
        let sens = optimizer::local_sensitivities(&nominal, &result.best.x);
        let mut order: Vec<usize> = (0..space.dim()).collect();
        order.sort_by(|&i, &j| sens[j].per_tenth_of_range.abs().total_cmp(&sens[i].per_tenth_of_range.abs()));
        let (i, j) = (order[0].min(order[1]), order[0].max(order[1]));
        let n2 = (a.landscape_points * 2 / 3).max(3);
        let grid = optimizer::landscape_2d(&nominal, &result.best.x, i, j, n2);
        bar.inc(grid.len() as u64);
        heatmap_png(
            &dir.join("landscape_2d.png"),
            &grid,
            n2,
            (space.variables[i].name(), space.variables[j].name()),
            (result.best.x[i], result.best.x[j]),
            &evaluator.objective.text,
        )?;
    }
    if let Some(front) = pareto {
        let pts: Vec<(f64, f64)> = front.iter().map(|p| (p.secondary, p.primary)).collect();
        let panel = Panel {
            title: "Pareto front: titer vs CQA (epsilon-constraint)".into(),
            x_label: "final GI, % (CQA)".into(),
            y_label: "final titer, g/L".into(),
            series: vec![Series { label: "front".into(), points: pts }],
        };
        panels_png(&dir.join("pareto.png"), &[panel], 1, 640, 440)?;
    }
    Ok(())
}

fn clone_evaluator<'a>(e: &Evaluator<'a>) -> Evaluator<'a> {
    Evaluator {
        model: e.model,
        scenario: e.scenario.clone(),
        space: e.space.clone(),
        objective: e.objective.clone(),
        constraints: e.constraints.clone(),
        robustness: e.robustness,
        reference: e.reference.clone(),
        objective_scale: e.objective_scale,
    }
}

/// A heat map of `(x, y, z)` rows on an `n × n` grid, with the optimum marked.
fn heatmap_png(path: &Path, grid: &[(f64, f64, f64)], n: usize, names: (&str, &str), optimum: (f64, f64), z_label: &str) -> Result<()> {
    use plotters::prelude::*;
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    let (w, h) = (720u32, 600u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let finite = grid.iter().map(|g| g.2).filter(|z| z.is_finite());
    let (zmin, zmax) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), z| (lo.min(z), hi.max(z)));
    let span = if zmax > zmin { zmax - zmin } else { 1.0 };
    let (x0, x1) = (grid.first().map_or(0.0, |g| g.0), grid.last().map_or(1.0, |g| g.0));
    let (y0, y1) = (grid.first().map_or(0.0, |g| g.1), grid.last().map_or(1.0, |g| g.1));
    let (dx, dy) = ((x1 - x0) / (n - 1).max(1) as f64, (y1 - y0) / (n - 1).max(1) as f64);
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("plot: {e}"))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{z_label} over {} × {} (others at the optimum)", names.0, names.1), ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((x0 - dx / 2.0)..(x1 + dx / 2.0), (y0 - dy / 2.0)..(y1 + dy / 2.0))
            .map_err(|e| anyhow!("plot: {e}"))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(names.0)
            .y_desc(names.1)
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(|e| anyhow!("plot: {e}"))?;
        chart
            .draw_series(grid.iter().map(|&(x, y, z)| {
                let t = if z.is_finite() { ((z - zmin) / span).clamp(0.0, 1.0) } else { 0.0 };
                let color = if z.is_finite() { HSLColor(0.66 * (1.0 - t), 0.8, 0.5).filled() } else { BLACK.filled() };
                Rectangle::new([(x - dx / 2.0, y - dy / 2.0), (x + dx / 2.0, y + dy / 2.0)], color)
            }))
            .map_err(|e| anyhow!("plot: {e}"))?;
        chart
            .draw_series(std::iter::once(Cross::new(optimum, 8, BLACK.stroke_width(3))))
            .map_err(|e| anyhow!("plot: {e}"))?;
        root.draw(&Text::new(
            format!("blue {} → red {}", compact(zmin), compact(zmax)),
            (70, (h - 18) as i32),
            ("sans-serif", 13).into_font(),
        ))
        .map_err(|e| anyhow!("plot: {e}"))?;
        root.present().map_err(|e| anyhow!("plot: {e}"))?;
    }
    let img = image::RgbImage::from_raw(w, h, buf).ok_or_else(|| anyhow!("plot buffer has the wrong size"))?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    write_atomic(path, &png)
}

/// The seed paper's Table 7 (its CNN-LSTM's predictions), for reference only.
fn paper_value(label: &str) -> Option<(&'static str, &'static str)> {
    Some(match label {
        "temp_c" => ("37.0", "36.8"),
        "do_pct" => ("40", "45"),
        "ph" => ("7.0", "6.9"),
        "glucose_feed_g_per_l_per_day" => ("0.5", "0.6"),
        "seed_vcd_e6_per_ml" => ("0.5", "0.7"),
        "titer" => ("3.2", "4.1"),
        "volumetric" => ("0.229", "0.293"),
        "specific" => ("18.7", "22.4"),
        _ => return None,
    })
}

fn print_table(r: &Report, space: &DecisionSpace) {
    println!(
        "\nBaseline vs optimum — model {}, objective {}, {} ({} start(s), seed {}){}",
        r.model,
        r.objective,
        r.solver,
        r.n_starts,
        r.seed,
        r.robust.map_or(String::new(), |x| format!(", robust: {} samples, {:?}", x.n_samples, x.statistic))
    );
    println!(
        "{:<26} {:>10} {:>10} {:<14} {:>8}   {:>9} {:>9}",
        "Parameter", "Baseline", "Optimum", "Unit", "Change", "Paper bl", "Paper opt"
    );
    let change = |b: f64, o: f64| if b.abs() > 1e-12 { format!("{:+.1} %", 100.0 * (o / b - 1.0)) } else { "–".to_owned() };
    let paper = |key: &str| paper_value(key).map_or(("", ""), |p| p);
    for (i, v) in space.variables.iter().enumerate() {
        let (label, unit) = v.label();
        let b = r.variables[i].baseline;
        let o = r.variables[i].best;
        let (pb, po) = paper(v.name());
        println!(
            "{:<26} {:>10} {:>10.3} {:<14} {:>8}   {:>9} {:>9}",
            label,
            b.map_or("none".to_owned(), |b| format!("{b:.3}")),
            o,
            unit,
            b.map_or("–".to_owned(), |b| change(b, o)),
            pb,
            po
        );
    }
    let bp = &r.baseline_prediction;
    let rows: [(&str, &str, &str, f64, Option<f64>); 3] = [
        ("mAb Titer (harvest)", "g/L", "titer", bp.final_titer_g_per_l, r.best_prediction.as_ref().map(|p| p.final_titer_g_per_l)),
        (
            "Volumetric Productivity",
            "g/L/day",
            "volumetric",
            bp.volumetric_productivity_g_per_l_per_day,
            r.best_prediction.as_ref().map(|p| p.volumetric_productivity_g_per_l_per_day),
        ),
        (
            "Specific Productivity",
            "pg/cell/day",
            "specific",
            bp.specific_productivity_pg_per_cell_per_day.unwrap_or(f64::NAN),
            r.best_prediction.as_ref().and_then(|p| p.specific_productivity_pg_per_cell_per_day),
        ),
    ];
    for (label, unit, key, b, o) in rows {
        let o = o.unwrap_or(f64::NAN);
        let (pb, po) = paper(key);
        // A model that does not predict a quantity shows "n/a", not NaN.
        let cell = |v: f64| if v.is_finite() { format!("{v:.3}") } else { "n/a".to_owned() };
        println!("{:<26} {:>10} {:>10} {:<14} {:>8}   {:>9} {:>9}", label, cell(b), cell(o), unit, change(b, o), pb, po);
    }
    if let Some(p) = &r.best_prediction {
        println!("{:<26} {:>10.2} {:>10.2} {:<14}", "CQA (final GI)", bp.final_cqa_gi_pct, p.final_cqa_gi_pct, "%");
    }
    println!(
        "Objective {}: baseline {:.4} → optimum {:.4} ({:+.1} %){}",
        r.objective,
        r.baseline_value,
        r.objective_value,
        r.improvement_pct,
        r.objective_p10.map_or(String::new(), |p10| format!("; optimum mean {:.4}, P10 {p10:.4}", r.objective_mean))
    );
    for c in &r.constraints {
        println!(
            "Constraint {}: {:.3} at the optimum ({}), {:.3} at baseline",
            c.constraint,
            c.value_at_optimum,
            if c.satisfied { "satisfied" } else { "VIOLATED" },
            c.value_at_baseline
        );
    }
    if let Some(rc) = &r.simulator_recheck {
        println!(
            "Simulator re-check of the surrogate optimum: surrogate {:.4}, simulator {:.4} ({:+.1} %; the simulator's value is the one to trust)",
            rc.surrogate_objective_value,
            rc.simulator_objective_value,
            100.0 * (rc.simulator_objective_value / rc.surrogate_objective_value - 1.0)
        );
    }
    println!("Paper columns: seed 002 Table 7 (a CNN-LSTM's in-silico optimum), for reference only — not a target.");
}

fn print_scales(reports: &[(&Option<f64>, Report)]) {
    println!("\nOptimum by scale (constant power per volume)");
    let Some((_, first)) = reports.first() else { return };
    let names: Vec<&str> = first.variables.iter().map(|v| v.name).collect();
    print!("{:>9} {:>10} {:>10}", "volume_L", "baseline", "optimum");
    for n in &names {
        print!(" {n:>14.14}");
    }
    println!();
    for (v, r) in reports {
        print!("{:>9} {:>10.4} {:>10.4}", v.map_or("-".to_owned(), compact), r.baseline_value, r.objective_value);
        for var in &r.variables {
            print!(" {:>14.3}", var.best);
        }
        println!();
    }
}
