//! Integration error of every shipped platform scenario against a tight reference:
//! `cargo run --release -p sim --example accuracy -- [scenarios/]`.
//!
//! Each scenario runs with perfect sensors at its own `[model] rtol` (default 1e-6) and at
//! rtol 1e-8 (1e-9 makes the stiff contamination crash take > 10⁶ steps); the error is the largest relative difference of VCD, glucose, glutamine,
//! lactate, titer, DO and pCO2 over the 15-min truth rows (relative to the larger of the
//! reference value and 1 % of the variable's peak). Also prints the RHS evaluations per run.
use sim::scenario::{Preset, SensorProfile, validate};

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "scenarios".into());
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("scenario folder").flatten().map(|e| e.path()).collect();
    files.sort();
    let mut worst: f64 = 0.0;
    for f in files.iter().filter(|p| p.extension().is_some_and(|e| e == "toml")) {
        let src = std::fs::read_to_string(f).expect("read");
        let Ok((v, _)) = sim::scenario::parse_scenario(&src, &f.display().to_string()) else { continue };
        let mut s = v.get().clone();
        if s.model.preset != Preset::Platform {
            continue;
        }
        s.sensors.profile = SensorProfile::None;
        let run = |rtol: f64| {
            let mut s = s.clone();
            s.model.rtol = rtol;
            let (v, _) = validate(s).expect("valid");
            sim::run::simulate_with_ledger(&v)
        };
        let name = f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let (Ok((fast, ledger)), Ok((reference, _))) = (run(v.get().model.rtol), run(1e-8)) else {
            println!("{name:32} a run failed");
            continue;
        };
        let cols = |r: &sim::record::TruthRow| {
            [r.vcd_1e6_per_ml, r.glucose_mm, r.glutamine_mm, r.lactate_mm, r.titer_g_per_l, r.do_pct, r.pco2_mmhg]
        };
        let mut peak = [0.0f64; 7];
        for r in &reference.truth {
            for (p, x) in peak.iter_mut().zip(cols(r)) {
                *p = p.max(x.abs());
            }
        }
        let mut err: f64 = 0.0;
        for (a, b) in fast.truth.iter().zip(&reference.truth) {
            for ((x, y), p) in cols(a).iter().zip(cols(b)).zip(peak) {
                err = err.max((x - y).abs() / y.abs().max(0.01 * p).max(1e-12));
            }
        }
        worst = worst.max(err);
        println!("{name:32} err {err:9.2e}  rhs evals {:6}  steps {:5} (+{} rejected)", ledger.solver.rhs_evaluations, ledger.solver.accepted_steps, ledger.solver.rejected_steps);
    }
    println!("largest error {worst:.2e}");
}
