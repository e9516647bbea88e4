//! # optimizer — which setpoints to run next, and how sure to be
//!
//! In-silico setpoint optimisation for fed-batch CHO culture over any
//! [`sim::objective::Surrogate`]: the mechanistic simulator today, the trained network of
//! crate `twin` later. The crate depends on `sim` only (no libtorch) and does no I/O:
//! progress is a callback, traces are returned in memory, files and plots are the CLI's.
//!
//! The pieces:
//! - [`variables`]: named decision variables, documented default bounds, the sine map that
//!   keeps every solver inside the box;
//! - [`goal`]: objectives (single or weighted sums, maximised), constraints and the
//!   documented exact penalty;
//! - [`problem`]: one evaluation (nominal, or robust Monte Carlo over cell-line spread with
//!   common random numbers) and the argmin `CostFunction`/`Gradient` around it;
//! - [`study`]: argmin's Nelder–Mead, particle swarm and L-BFGS (Moré–Thuente, finite
//!   differences), multi-start on rayon, reproducible from one seed; grid and random search
//!   as references;
//! - [`pareto`]: titer-vs-CQA fronts by the epsilon-constraint method;
//! - [`sensitivity`]: local sensitivities and 1-D/2-D landscapes.
//!
//! ```no_run
//! use optimizer::{DecisionSpace, Evaluator, Objective, SolverKind, StudyConfig, Variable, run_study};
//! use sim::objective::SimulatorObjective;
//! let scenario = sim::Scenario::default();
//! let space = DecisionSpace::new(&scenario, &[Variable::TempC, Variable::Ph], &[])?;
//! let model = SimulatorObjective::perfect_sensors();
//! let objective = Objective::parse("final_titer")?;
//! let evaluator = Evaluator::new(&model, scenario, space, objective, vec![], None)?;
//! let config = StudyConfig { solver: SolverKind::NelderMead, n_starts: 2, max_evaluations: 80, seed: 1, warm_start: None };
//! let result = run_study(&evaluator, &config, &|| {})?;
//! println!("{:?} → {}", result.best.x, result.best.objective);
//! # Ok::<(), optimizer::OptimizerError>(())
//! ```
#![forbid(unsafe_code)]

pub mod error;
pub mod goal;
pub mod pareto;
pub mod problem;
pub mod sensitivity;
pub mod study;
pub mod variables;

pub use error::{OptimizerError, Result};
pub use goal::{Constraint, Objective, Relation};
pub use pareto::{ParetoPoint, pareto_front};
pub use problem::{Evaluation, Evaluator, RobustStatistic, Robustness};
pub use sensitivity::{Sensitivity, landscape_1d, landscape_2d, local_sensitivities};
pub use study::{SolverKind, StartSummary, StudyConfig, StudyResult, grid_search, random_search, run_study};
pub use variables::{Bounds, DecisionSpace, Variable, parse_bounds};
