//! Time `sim::simulate` in-process: `cargo run --release -p sim --example bench_run -- [N]`.
//! Prints ms per 14-day baseline batch (15-min output), perfect and realistic sensors, and
//! the solver's work per run (right-hand-side evaluations, steps, segments).
//!
//! `bench_run N compare` also times the same runs through `ode_solvers`' Dopri5 (the
//! bit-identical reference of `sim::dopri5`), alternating the two in ten rounds;
//! `bench_run N own` and `bench_run N reference` run only one of the two (for `perf stat`).
use sim::scenario::{Scenario, SensorProfile, ValidScenario, validate};

fn baseline(profile: SensorProfile) -> ValidScenario {
    let mut s = Scenario::default();
    s.sensors.profile = profile;
    validate(s).expect("valid baseline").0
}

/// One run through our Dopri5 (`sim::simulate`).
fn run_own(v: &ValidScenario) {
    std::hint::black_box(sim::simulate(v).expect("runs"));
}

/// One run through `ode_solvers`' Dopri5, the bit-identical reference.
fn run_reference(v: &ValidScenario) {
    std::hint::black_box(sim::run::simulate_with_reference_integrator(v).expect("runs"));
}

fn time(profile: SensorProfile, n: usize) -> f64 {
    time_with(&baseline(profile), n, run_own)
}

fn time_with(v: &ValidScenario, n: usize, run: impl Fn(&ValidScenario)) -> f64 {
    let t0 = std::time::Instant::now();
    for _ in 0..n {
        run(v);
    }
    t0.elapsed().as_secs_f64() / n as f64
}

/// Own Dopri5 against `ode_solvers`' on the perfect-sensor baseline, alternating in ten
/// rounds; the fastest round of each is the least disturbed by other load on the machine.
fn compare(n: usize) {
    let v = baseline(SensorProfile::None);
    let (mut best_own, mut best_ref) = (f64::INFINITY, f64::INFINITY);
    for round in 1..=10 {
        let r = time_with(&v, n, run_reference);
        let o = time_with(&v, n, run_own);
        best_own = best_own.min(o);
        best_ref = best_ref.min(r);
        eprintln!("round {round}: ode_solvers Dopri5 {:.2} ms, sim::dopri5 {:.2} ms, ratio {:.2}", r * 1e3, o * 1e3, r / o);
    }
    eprintln!("fastest of 10 rounds x {n} runs: ode_solvers {:.2} ms, sim::dopri5 {:.2} ms, {:.2}x faster", best_ref * 1e3, best_own * 1e3, best_ref / best_own);
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(50);
    match std::env::args().nth(2).as_deref() {
        Some("compare") => return compare(n),
        Some("own") => return eprintln!("sim::dopri5, 14 d baseline: {:.2} ms (profile none), n = {n}", time(SensorProfile::None, n) * 1e3),
        Some("reference") => {
            let t = time_with(&baseline(SensorProfile::None), n, run_reference);
            return eprintln!("ode_solvers Dopri5, 14 d baseline: {:.2} ms (profile none), n = {n}", t * 1e3);
        }
        _ => {}
    }
    let perfect = time(SensorProfile::None, n);
    let realistic = time(SensorProfile::Realistic, n);
    println!("{:.3}", perfect * 1000.0);
    eprintln!("sim::simulate 14 d baseline: {:.2} ms (profile none), {:.2} ms (realistic), n = {n}", perfect * 1000.0, realistic * 1000.0);
    let mut s = Scenario::default();
    s.sensors.profile = SensorProfile::None;
    let (v, _) = validate(s).expect("valid baseline");
    let (_, ledger) = sim::run::simulate_with_ledger(&v).expect("runs");
    let st = ledger.solver;
    eprintln!(
        "solver per run: {} RHS evaluations, {} accepted + {} rejected steps, {} segments ({:.3} µs per evaluation incl. solver)",
        st.rhs_evaluations,
        st.accepted_steps,
        st.rejected_steps,
        st.segments,
        perfect * 1e6 / st.rhs_evaluations as f64
    );
}
