//! Time `sim::simulate` in-process: `cargo run --release -p sim --example bench_run -- [N]`.
//! Prints ms per 14-day baseline batch (15-min output), perfect and realistic sensors, and
//! the solver's work per run (right-hand-side evaluations, steps, segments).
use sim::scenario::{Scenario, SensorProfile, validate};

fn time(profile: SensorProfile, n: usize) -> f64 {
    let mut s = Scenario::default();
    s.sensors.profile = profile;
    let (v, _) = validate(s).expect("valid baseline");
    let t0 = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(sim::simulate(&v).expect("runs"));
    }
    t0.elapsed().as_secs_f64() / n as f64
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(50);
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
