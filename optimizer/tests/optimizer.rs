//! Tests of the optimizer through its public API: known optima of the pure-Rust fake for
//! every solver, bounds, constraints, determinism, robust ranking, the quality bar against a
//! dense grid on the simulator, and clear errors.

use optimizer::{
    Bounds, Constraint, DecisionSpace, Evaluator, Objective, OptimizerError, RobustStatistic, Robustness, SolverKind,
    StudyConfig, StudyResult, Variable, grid_search, run_study,
};
use proptest::prelude::*;
use sim::Scenario;
use sim::objective::{FakeQuadratic, Prediction, SimulatorObjective, Surrogate};

const FIVE: [Variable; 5] =
    [Variable::TempC, Variable::Ph, Variable::DoPct, Variable::GlucoseFeedGPerLPerDay, Variable::SeedVcdE6PerMl];

fn config(solver: SolverKind, n_starts: usize, max_evaluations: usize, seed: u64) -> StudyConfig {
    StudyConfig { solver, n_starts, max_evaluations, seed, warm_start: None }
}

#[track_caller]
fn study(model: &dyn Surrogate, vars: &[Variable], constraints: &[&str], cfg: &StudyConfig) -> StudyResult {
    let scenario = Scenario::default();
    let space = DecisionSpace::new(&scenario, vars, &[]).expect("space");
    let constraints = constraints.iter().map(|c| Constraint::parse(c).expect("constraint")).collect();
    let evaluator =
        Evaluator::new(model, scenario, space, Objective::parse("final_titer").expect("objective"), constraints, None)
            .expect("evaluator");
    run_study(&evaluator, cfg, &|| {}).expect("study")
}

#[test]
fn every_solver_finds_the_fakes_known_optimum() {
    for (solver, n_starts, budget, tol_titer) in
        [(SolverKind::NelderMead, 2, 1500, 1e-3), (SolverKind::Pso, 2, 3000, 2e-2), (SolverKind::Lbfgs, 2, 1500, 1e-3)]
    {
        let r = study(&FakeQuadratic, &FIVE, &[], &config(solver, n_starts, budget, 7));
        let gap = FakeQuadratic::OPTIMUM_TITER_G_PER_L - r.best.objective;
        assert!(gap < tol_titer, "{solver:?}: titer {} is {gap} below the optimum", r.best.objective);
        // The two setpoints with strong curvature are pinned closely.
        assert!((r.best.x[0] - FakeQuadratic::OPTIMUM[0]).abs() < 0.3, "{solver:?}: temp {}", r.best.x[0]);
        assert!((r.best.x[1] - FakeQuadratic::OPTIMUM[1]).abs() < 0.03, "{solver:?}: pH {}", r.best.x[1]);
        assert!(r.n_evaluations <= budget, "{solver:?} used {} > {budget}", r.n_evaluations);
    }
}

#[test]
fn a_pco2_limit_moves_the_optimum_to_a_cooler_setpoint() {
    let cfg = config(SolverKind::NelderMead, 2, 800, 3);
    let free = study(&FakeQuadratic, &FIVE, &[], &cfg);
    let limited = study(&FakeQuadratic, &FIVE, &["peak_daily_pco2_mmhg<=80"], &cfg);
    // The fake's pCO2 is 50 + 20·(T − 33): the limit means T ≤ 34.5 °C, below the free 35.5 °C.
    assert!((free.best.x[0] - 35.5).abs() < 0.1, "{}", free.best.x[0]);
    assert!(limited.best.x[0] < 34.55 && limited.best.x[0] > 34.3, "{}", limited.best.x[0]);
    assert!(limited.best.feasible, "{:?}", limited.best.constraint_values);
    assert!(limited.best.constraint_values[0] <= 80.0 + 0.5);
    assert!(limited.best.objective < free.best.objective);
}

#[test]
fn a_seed_makes_a_study_repeatable() {
    let cfg = config(SolverKind::Pso, 3, 300, 11);
    let a = study(&FakeQuadratic, &FIVE, &[], &cfg);
    let b = study(&FakeQuadratic, &FIVE, &[], &cfg);
    assert_eq!(a.trace, b.trace);
    assert_eq!(a.best, b.best);
    let c = study(&FakeQuadratic, &FIVE, &[], &config(SolverKind::Pso, 3, 300, 12));
    assert_ne!(a.trace, c.trace);
}

#[test]
fn every_solver_stays_inside_narrowed_bounds() {
    let scenario = Scenario::default();
    // The fake's optimum (35.5 °C, pH 6.95) lies outside these bounds: solvers push against them.
    let overrides = [(Variable::TempC, Bounds { lower: 36.0, upper: 37.5 }), (Variable::Ph, Bounds { lower: 7.0, upper: 7.2 })];
    for solver in [SolverKind::NelderMead, SolverKind::Pso, SolverKind::Lbfgs] {
        let space = DecisionSpace::new(&scenario, &FIVE, &overrides).expect("space");
        let evaluator = Evaluator::new(&FakeQuadratic, scenario.clone(), space.clone(), Objective::parse("titer").expect("o"), vec![], None)
            .expect("evaluator");
        let r = run_study(&evaluator, &config(solver, 2, 400, 5), &|| {}).expect("study");
        assert!(r.trace.iter().all(|e| space.contains(&e.x)), "{solver:?} left the box");
        assert!((r.best.x[0] - 36.0).abs() < 0.05 && (r.best.x[1] - 7.0).abs() < 0.01, "{solver:?}: {:?}", r.best.x);
    }
}

proptest! {
    #[test]
    fn the_sine_map_never_leaves_the_box(z in proptest::collection::vec(-1e6f64..1e6, 5)) {
        let space = DecisionSpace::new(&Scenario::default(), &FIVE, &[]).expect("space");
        let x = space.to_box(&z);
        prop_assert!(space.contains(&x), "{:?} -> {:?}", z, x);
    }

    #[test]
    fn the_sine_map_inverts_inside_the_box(u in proptest::collection::vec(0.0f64..=1.0, 5)) {
        let space = DecisionSpace::new(&Scenario::default(), &FIVE, &[]).expect("space");
        let x: Vec<f64> = u.iter().zip(&space.bounds).map(|(u, b)| b.lower + u * (b.upper - b.lower)).collect();
        let back = space.to_box(&space.to_unbounded(&x));
        for ((a, b), bd) in x.iter().zip(&back).zip(&space.bounds) {
            prop_assert!((a - b).abs() <= 1e-9 * (bd.upper - bd.lower));
        }
    }
}

/// A model with a tall, narrow titer peak at 34 °C and a lower, broad one at 37 °C. With
/// variability on, the temperature the cells see is off by a seed-dependent amount (an
/// actuator offset of σ = 0.5 °C), which ruins the narrow peak.
struct TwoPeaks;

impl TwoPeaks {
    fn titer(temp_c: f64) -> f64 {
        let narrow = 5.0 * (-((temp_c - 34.0) / 0.15).powi(2)).exp();
        let broad = 4.0 * (-((temp_c - 37.0) / 1.5).powi(2)).exp();
        narrow.max(broad)
    }
}

impl Surrogate for TwoPeaks {
    fn name(&self) -> &str {
        "two-peaks"
    }

    fn predict(&self, s: &Scenario) -> sim::Result<Prediction> {
        let offset = if s.variability.enabled {
            // A deterministic standard-normal-ish draw from the seed (sum of 12 uniforms).
            let mut state = s.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut sum = 0.0;
            for _ in 0..12 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                sum += (state >> 11) as f64 / (1u64 << 53) as f64;
            }
            0.5 * (sum - 6.0)
        } else {
            0.0
        };
        let mut p = FakeQuadratic.predict(s)?;
        p.final_titer_g_per_l = Self::titer(s.setpoints.temp_c + offset);
        Ok(p)
    }
}

#[test]
fn robust_mode_ranks_the_fragile_peak_below_the_robust_one() {
    let scenario = Scenario::default();
    let space = DecisionSpace::new(&scenario, &[Variable::TempC], &[]).expect("space");
    let objective = Objective::parse("final_titer").expect("objective");
    let nominal = Evaluator::new(&TwoPeaks, scenario.clone(), space.clone(), objective.clone(), vec![], None).expect("nominal");
    let robust = Evaluator::new(
        &TwoPeaks,
        scenario,
        space,
        objective,
        vec![],
        Some(Robustness { n_samples: 64, statistic: RobustStatistic::P10, seed: 1 }),
    )
    .expect("robust");
    let (fragile, sturdy) = ([34.0], [37.0]);
    assert!(nominal.evaluate(&fragile).objective > nominal.evaluate(&sturdy).objective);
    let (rf, rs) = (robust.evaluate(&fragile), robust.evaluate(&sturdy));
    assert!(rf.objective < rs.objective, "P10 fragile {} vs sturdy {}", rf.objective, rs.objective);
    assert!(rf.objective_mean < rs.objective_mean);
    // A fine grid puts the nominal optimum on the narrow peak; the robust study settles on
    // the broad one.
    let (grid_nominal, _) = grid_search(&nominal, 121).expect("grid");
    assert!((grid_nominal.x[0] - 34.0).abs() < 0.06, "{:?}", grid_nominal.x);
    let best_robust = run_study(&robust, &config(SolverKind::Pso, 2, 120, 4), &|| {}).expect("robust study").best.x[0];
    assert!((best_robust - 37.0).abs() < 0.5, "{best_robust}");
}

/// Issue 6 quality bar: on temperature × pH the optimiser reaches ≥ 99 % of a dense grid's
/// optimum with at most 1/20 of the grid's evaluations.
#[test]
fn two_variable_study_reaches_99_pct_of_the_dense_grid_with_a_twentieth_of_its_evaluations() {
    let model = SimulatorObjective::perfect_sensors();
    let scenario = Scenario::default();
    let space = DecisionSpace::new(&scenario, &[Variable::TempC, Variable::Ph], &[]).expect("space");
    let evaluator =
        Evaluator::new(&model, scenario, space, Objective::parse("final_titer").expect("o"), vec![], None).expect("evaluator");
    let (grid_best, n_grid) = grid_search(&evaluator, 41).expect("grid");
    let budget = n_grid / 20;
    let r = run_study(&evaluator, &config(SolverKind::NelderMead, 2, budget, 1), &|| {}).expect("study");
    assert!(r.n_evaluations <= budget);
    let ratio = r.best.objective / grid_best.objective;
    assert!(ratio >= 0.99, "optimiser {} vs grid {} ({ratio:.4}) at {:?} vs {:?}", r.best.objective, grid_best.objective, r.best.x, grid_best.x);
}

#[test]
fn bad_input_gives_clear_errors() {
    let s = Scenario::default();
    let err = Variable::parse("temperature").expect_err("unknown");
    assert!(err.to_string().contains("unknown decision variable `temperature`") && err.to_string().contains("temp_c"));
    let empty = DecisionSpace::new(&s, &[Variable::TempC], &[(Variable::TempC, Bounds { lower: 36.0, upper: 36.0 })]);
    assert!(matches!(empty, Err(OptimizerError::InvalidBounds { .. })));
    let inverted = DecisionSpace::new(&s, &[Variable::Ph], &[(Variable::Ph, Bounds { lower: 7.2, upper: 6.9 })]);
    assert!(inverted.expect_err("inverted").to_string().contains("lower bound is above the upper bound"));
    let outside = DecisionSpace::new(&s, &[Variable::TempC], &[(Variable::TempC, Bounds { lower: 20.0, upper: 37.0 })]);
    assert!(outside.is_err());
    assert!(matches!(DecisionSpace::new(&s, &[Variable::TempShiftDay], &[]), Err(OptimizerError::NotApplicable { .. })));
    assert!(matches!(DecisionSpace::new(&s, &[Variable::TempC, Variable::TempC], &[]), Err(OptimizerError::DuplicateVariable { .. })));
    let space = DecisionSpace::new(&s, &[Variable::TempC], &[]).expect("space");
    let contradictory = vec![
        Constraint::parse("peak_lactate_g_per_l>=3").expect("a"),
        Constraint::parse("peak_lactate_g_per_l<=2").expect("b"),
    ];
    let r = Evaluator::new(&FakeQuadratic, s.clone(), space.clone(), Objective::parse("titer").expect("o"), contradictory, None);
    assert!(matches!(r, Err(OptimizerError::ContradictoryConstraints { .. })));
    let no_fake = Evaluator::new(&Missing, s, space, Objective::parse("titer").expect("o"), vec![Constraint::parse("peak_pco2_mmhg<=100").expect("c")], None);
    assert!(no_fake.expect_err("unavailable").to_string().contains("does not predict `peak_pco2_mmhg`"));
}

/// A model that predicts titer and CQA only (like a trajectory surrogate might).
struct Missing;

impl Surrogate for Missing {
    fn name(&self) -> &str {
        "titer-only"
    }

    fn predict(&self, s: &Scenario) -> sim::Result<Prediction> {
        let mut p = FakeQuadratic.predict(s)?;
        p.peak_pco2_mmhg = None;
        Ok(p)
    }
}

#[test]
fn temperature_shift_variables_create_and_move_a_schedule_step() {
    let s = Scenario::default();
    let space = DecisionSpace::new(&s, &[Variable::TempShiftDay, Variable::TempShiftC], &[]).expect("space");
    let shifted = space.apply(&s, &[6.0, 33.0]);
    assert_eq!(shifted.schedule.len(), 1);
    assert_eq!((shifted.schedule[0].at_d, shifted.schedule[0].temp_c), (6.0, Some(33.0)));
    assert!(sim::scenario::validate(shifted).is_ok());
}
