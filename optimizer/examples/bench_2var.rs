//! Benchmark of issue 6's quality bar: temperature × pH on the simulator. A dense 41 × 41
//! grid is the reference; each solver gets 1/20 of the grid's evaluations; random search
//! gets the same budget and 5× it. Prints the fraction of the grid optimum reached and the
//! evaluations needed to reach 99 % of it.
//!
//! `cargo run --release -p optimizer --example bench_2var`

use optimizer::{DecisionSpace, Evaluator, Objective, SolverKind, StudyConfig, Variable, grid_search, run_study};
use sim::objective::SimulatorObjective;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = SimulatorObjective::perfect_sensors();
    let scenario = sim::Scenario::default();
    let space = DecisionSpace::new(&scenario, &[Variable::TempC, Variable::Ph], &[])?;
    let evaluator = Evaluator::new(&model, scenario, space, Objective::parse("final_titer")?, vec![], None)?;
    let t0 = Instant::now();
    let (grid, n_grid) = grid_search(&evaluator, 41)?;
    println!("grid 41x41: {n_grid} evaluations, best {:.4} g/L at {:?}, {:.1} s", grid.objective, grid.x, t0.elapsed().as_secs_f64());
    let budget = n_grid / 20;
    let target = 0.99 * grid.objective;
    let fine = 0.999 * grid.objective;
    println!("budget {budget} evaluations (1/20 of the grid); target 99 % = {target:.4} g/L");
    println!("| method | seed | evaluations used | best titer, g/L | % of grid optimum | evaluations to reach 99 % | to reach 99.9 % |");
    println!("|---|---|---|---|---|---|---|");
    for seed in [1u64, 2, 3] {
        for (name, solver) in [("Nelder–Mead, 2 starts", SolverKind::NelderMead), ("PSO, 2 starts", SolverKind::Pso), ("L-BFGS, 2 starts", SolverKind::Lbfgs)] {
            let cfg = StudyConfig { solver, n_starts: 2, max_evaluations: budget, seed, warm_start: None };
            let r = run_study(&evaluator, &cfg, &|| {})?;
            // Starts run in parallel; count evaluations in the order "start 0 then start 1",
            // a pessimistic serial count.
            let to_target = r.trace.iter().position(|e| e.objective >= target).map_or("not reached".to_owned(), |i| (i + 1).to_string());
            let to_fine = r.trace.iter().position(|e| e.objective >= fine).map_or("not reached".to_owned(), |i| (i + 1).to_string());
            println!(
                "| {name} | {seed} | {} | {:.4} | {:.2} | {to_target} | {to_fine} |",
                r.n_evaluations,
                r.best.objective,
                100.0 * r.best.objective / grid.objective
            );
        }
        for n in [budget, 5 * budget] {
            let mut rng_points = Vec::new();
            {
                use rand::{Rng, SeedableRng};
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
                for _ in 0..n {
                    rng_points.push(evaluator.space.bounds.iter().map(|b| rng.random_range(b.lower..=b.upper)).collect::<Vec<f64>>());
                }
            }
            let values: Vec<f64> = rng_points.iter().map(|x| evaluator.evaluate(x).objective).collect();
            let best = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let to_target = values.iter().position(|v| *v >= target).map_or("not reached".to_owned(), |i| (i + 1).to_string());
            let to_fine = values.iter().position(|v| *v >= fine).map_or("not reached".to_owned(), |i| (i + 1).to_string());
            println!("| random search | {seed} | {n} | {best:.4} | {:.2} | {to_target} | {to_fine} |", 100.0 * best / grid.objective);
        }
    }
    Ok(())
}
