//! `sim::dopri5` (our own Dormand–Prince, the default since session 23) against the crate it
//! replaced, `ode_solvers` 0.6.2's `Dopri5`: every shipped scenario, with its own sensors
//! and seed, must give bit-identical records, ledgers and solver statistics. A failure here
//! means the two no longer do the same arithmetic, not that either is "wrong"; but then the
//! golden rows and every published figure would have moved, so it must be a decision.

use sim::dopri5::{Settings, integrate};
use sim::run::{simulate_with_ledger, simulate_with_reference_integrator};
use sim::scenario::{builtin, parse_scenario};

/// Exact comparison of float-laden records: `{:?}` prints the shortest string that
/// round-trips, so equal strings mean equal bits (no NaN can reach a record).
fn same<T: std::fmt::Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

#[test]
fn own_dopri5_is_bit_identical_to_ode_solvers_on_every_shipped_scenario() {
    let mut compared = 0;
    for b in builtin::all() {
        let (valid, _) = parse_scenario(b.source, b.file_name).expect("valid");
        let (rec_own, led_own) = simulate_with_ledger(&valid).expect("runs");
        let (rec_ref, led_ref) = simulate_with_reference_integrator(&valid).expect("runs");
        assert!(same(&led_own, &led_ref), "{}: ledgers (incl. solver statistics) differ:\n{led_own:?}\n{led_ref:?}", b.stem());
        assert!(same(&rec_own.summary, &rec_ref.summary), "{}: summaries differ", b.stem());
        assert!(same(&rec_own.truth, &rec_ref.truth), "{}: truth rows differ", b.stem());
        assert!(same(&rec_own.online, &rec_ref.online), "{}: online rows differ", b.stem());
        assert!(same(&rec_own.offline, &rec_ref.offline), "{}: offline rows differ", b.stem());
        compared += 1;
    }
    assert!(compared >= 20, "only {compared} shipped scenarios");
}

fn settings(rtol: f64, h_initial: f64) -> Settings {
    Settings { rtol, atol: rtol * 1e-3, safety_factor: 0.9, beta: 0.04, fac_min: 0.2, fac_max: 10.0, h_max: 0.25, h_initial, n_max: 100_000 }
}

/// dy/dt = λ y from 1: fifth order means the error at a fixed step falls ~32x per halving;
/// with the adaptive controller the end error tracks the tolerance.
#[test]
fn exponential_decay_is_solved_to_the_tolerance_and_counts_are_consistent() {
    let lambda = -0.7;
    for rtol in [1e-4, 1e-6, 1e-8] {
        let seg = integrate(|_, y: &nalgebra::SVector<f64, 1>, dy: &mut nalgebra::SVector<f64, 1>| dy[0] = lambda * y[0], 0.0, 5.0, nalgebra::SVector::from([1.0]), &settings(rtol, 0.0))
            .expect("integrates");
        let exact = (lambda * 5.0f64).exp();
        let rel = (seg.y_end[0] - exact).abs() / exact;
        assert!(rel < 50.0 * rtol, "rtol {rtol}: relative error {rel}");
        let st = seg.stats;
        // 2 (initial step) + 1 (first stage) + 6 per attempted step (first-step rejections
        // before any acceptance are not counted as rejected, as in ode_solvers).
        assert!(st.num_eval >= 3 + 6 * (st.accepted_steps + st.rejected_steps), "{st:?}");
        assert_eq!((st.num_eval - 3) % 6, 0, "{st:?}");
        assert!(seg.h_last_full.is_some_and(|h| h > 0.0 && h <= 0.25 + 1e-12));
    }
}

/// A stiff decay (λ = −1000 1/h) at h_max 0.25 h: explicit steps are held near the stability
/// bound |hλ| ≈ 3.3 and the answer is still right; a step limit is an error, not a hang, and
/// an empty segment returns its start state (as `ode_solvers` does).
#[test]
fn stiff_decay_is_stable_and_the_step_limit_is_reported() {
    let f = |_: f64, y: &nalgebra::SVector<f64, 1>, dy: &mut nalgebra::SVector<f64, 1>| dy[0] = -1000.0 * (y[0] - 2.0);
    let seg = integrate(f, 0.0, 1.0, nalgebra::SVector::from([0.0]), &settings(1e-6, 0.0)).expect("integrates");
    assert!((seg.y_end[0] - 2.0).abs() < 1e-6, "{}", seg.y_end[0]);
    let h = seg.h_last_full.expect("many steps");
    assert!(h * 1000.0 < 4.0, "step {h} beyond the stability bound");
    let mut s = settings(1e-6, 0.0);
    s.n_max = 10;
    let err = integrate(f, 0.0, 1.0, nalgebra::SVector::from([0.0]), &s).expect_err("step limit");
    assert!(err.to_string().contains("Need more than"), "{err}");
    let empty = integrate(f, 1.0, 1.0, nalgebra::SVector::from([0.5]), &settings(1e-6, 0.1)).expect("empty segment");
    assert_eq!(empty.y_end[0], 0.5, "a zero-length step leaves the state as it was");
}
