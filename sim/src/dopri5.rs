//! Dormand–Prince 5(4) with a PI step-size controller, for one integration segment.
//!
//! The method, the controller and the arithmetic are those of `ode_solvers` 0.6.2's `Dopri5`
//! with sparse output and stiffness detection off (how `run` used it until session 23): the
//! same coefficients, the same order of every floating-point operation, the same step
//! acceptance, step limits and statistics, so the results are bit-identical to that crate's
//! (tested against it in `sim/tests/dopri5_reference.rs` on every shipped scenario). What is
//! different is the cost: fixed-size stage vectors that live on the stack for the whole
//! segment, each stage's combination in one pass instead of a temporary per term, and no
//! output vectors (the runner needs only the final state and the last full step).

use nalgebra::SVector;

/// Butcher tableau of Dormand & Prince (1980), as `ode_solvers` writes it.
mod tableau {
    pub(super) const A: [&[f64]; 6] = [
        &[1.0 / 5.0],
        &[3.0 / 40.0, 9.0 / 40.0],
        &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
        &[19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0],
        &[9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0],
        &[35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0],
    ];
    pub(super) const C: [f64; 7] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0];
    /// Error weights e1, e3, e4, e5, e6, e7 (e2 = 0).
    pub(super) const E: [f64; 6] = [71.0 / 57600.0, -71.0 / 16695.0, 71.0 / 1920.0, -17253.0 / 339200.0, 22.0 / 525.0, -1.0 / 40.0];
}

/// Solver settings of one segment (the meaning of `ode_solvers::Dopri5::from_param`'s).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub rtol: f64,
    pub atol: f64,
    pub safety_factor: f64,
    /// β of the PI controller (α = 0.2 − 0.75 β).
    pub beta: f64,
    pub fac_min: f64,
    pub fac_max: f64,
    pub h_max: f64,
    /// First trial step; 0 asks for the Hairer–Wanner initial-step estimate (2 evaluations).
    pub h_initial: f64,
    pub n_max: u32,
}

/// Evaluation and step counts (as `ode_solvers::dop_shared::Stats` counts them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub num_eval: u32,
    pub accepted_steps: u32,
    pub rejected_steps: u32,
}

/// Why a segment could not be integrated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Failure {
    MaxNumStepReached { x: f64, n_step: u32 },
    StepSizeUnderflow { x: f64 },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::MaxNumStepReached { x, n_step } => write!(f, "Stopped at x = {x}. Need more than {n_step} steps."),
            Failure::StepSizeUnderflow { x } => write!(f, "Stopped at x = {x}. Step size underflow."),
        }
    }
}

/// The end of a segment.
#[derive(Debug, Clone, Copy)]
pub struct Segment<const N: usize> {
    pub y_end: SVector<f64, N>,
    /// Length of the last step that was not cut to land on `x_end` (`None` when the segment
    /// took fewer than two steps), computed from the step ends as a difference of times.
    pub h_last_full: Option<f64>,
    pub stats: Stats,
}

/// PI step-size controller (Hairer, Nørsett & Wanner, II.4).
struct Controller {
    alpha: f64,
    beta: f64,
    facc1: f64,
    facc2: f64,
    fac_old: f64,
    h_max: f64,
    reject: bool,
    safety_factor: f64,
}

impl Controller {
    fn accept(&mut self, err: f64, h: f64, h_new: &mut f64) -> bool {
        let fac11 = err.powf(self.alpha);
        let mut fac = fac11 * self.fac_old.powf(-self.beta);
        fac = self.facc2.max(self.facc1.min(fac / self.safety_factor));
        *h_new = h / fac;
        if err <= 1.0 {
            self.fac_old = err.max(1.0e-4);
            if h_new.abs() > self.h_max {
                *h_new = self.h_max;
            }
            if self.reject {
                *h_new = h_new.abs().min(h.abs());
            }
            self.reject = false;
            true
        } else {
            *h_new = h / self.facc1.min(fac11 / self.safety_factor);
            self.reject = true;
            false
        }
    }
}

/// Integrate dy/dx = f(x, y) from `x0` to `x_end` (> `x0`; the runner never asks for an
/// empty or backward one: `x_end == x0` returns `y0` after one zero-length step, as
/// `ode_solvers` does).
pub fn integrate<const N: usize>(
    f: impl Fn(f64, &SVector<f64, N>, &mut SVector<f64, N>),
    x0: f64,
    x_end: f64,
    y0: SVector<f64, N>,
    s: &Settings,
) -> Result<Segment<N>, Failure> {
    let mut stats = Stats::default();
    let mut ctl = Controller {
        alpha: 0.2 - s.beta * 0.75,
        beta: s.beta,
        facc1: 1.0 / s.fac_min,
        facc2: 1.0 / s.fac_max,
        fac_old: 1.0e-4,
        h_max: s.h_max.abs(),
        reject: false,
        safety_factor: s.safety_factor,
    };
    let mut x = x0;
    let mut y = y0;
    let mut h = s.h_initial;
    if h == 0.0 {
        h = initial_step(&f, x, x_end, &y, s, ctl.h_max);
        stats.num_eval += 2;
    }
    // Times of the last three step ends (the segment start counts as one), for `h_last_full`.
    let mut ends = [f64::NAN, f64::NAN, x];
    let mut n_points = 1usize;

    let zero = SVector::<f64, N>::zeros();
    let mut k = [zero; 7];
    f(x, &y, &mut k[0]);
    stats.num_eval += 1;
    let mut n_step = 0u32;
    let mut last = false;
    let mut h_new = 0.0;
    let mut y_next = zero;
    // Ends only by returning: after the accepted step that lands on `x_end`, or on failure.
    loop {
        if n_step > s.n_max {
            return Err(Failure::MaxNumStepReached { x, n_step });
        }
        if 0.1 * h.abs() <= f64::EPSILON * x.abs() {
            return Err(Failure::StepSizeUnderflow { x });
        }
        if x + 1.01 * h - x_end > 0.0 {
            h = x_end - x;
            last = true;
        }
        n_step += 1;

        for st in 1..7 {
            // y_next = y + Σ_j (k_j·h)·a_sj, terms added in j order per component (the
            // reference's order), looping over components innermost so it vectorises.
            y_next = y;
            for (kj, &a_j) in k.iter().zip(tableau::A[st - 1]) {
                for i in 0..N {
                    y_next[i] += kj[i] * h * a_j;
                }
            }
            f(x + h * tableau::C[st], &y_next, &mut k[st]);
        }
        k[1] = k[6];
        stats.num_eval += 6;

        // Error estimate, scaled as ode_solvers does: the RMS over components of
        // (h·Σ eᵢkᵢ) / (atol + max(|y|, |y_next|)·rtol).
        let e = tableau::E;
        let mut err = 0.0;
        for i in 0..N {
            let est = (k[0][i] * e[0] + k[2][i] * e[1] + k[3][i] * e[2] + k[4][i] * e[3] + k[5][i] * e[4] + k[1][i] * e[5]) * h;
            let sc = s.atol + y[i].abs().max(y_next[i].abs()) * s.rtol;
            err += (est / sc) * (est / sc);
        }
        err = (err / N as f64).sqrt();

        if ctl.accept(err, h, &mut h_new) {
            stats.accepted_steps += 1;
            k[0] = k[1];
            y = y_next;
            x += h;
            ends = [ends[1], ends[2], x];
            n_points += 1;
            if last {
                let h_last_full = (n_points >= 3).then(|| ends[1] - ends[0]);
                return Ok(Segment { y_end: y, h_last_full, stats });
            }
        } else {
            last = false;
            if stats.accepted_steps >= 1 {
                stats.rejected_steps += 1;
            }
        }
        h = h_new;
    }
}

/// Hairer–Wanner initial step (ode_solvers' `hinit`, same arithmetic).
fn initial_step<const N: usize>(
    f: &impl Fn(f64, &SVector<f64, N>, &mut SVector<f64, N>),
    x: f64,
    x_end: f64,
    y: &SVector<f64, N>,
    s: &Settings,
    h_max: f64,
) -> f64 {
    let mut f0 = SVector::<f64, N>::zeros();
    f(x, y, &mut f0);
    let posneg = if x_end - x > 0.0 { 1.0 } else { -1.0 };
    let (mut d0, mut d1) = (0.0f64, 0.0f64);
    for i in 0..N {
        let sci = s.atol + y[i].abs() * s.rtol;
        d0 += (y[i] / sci) * (y[i] / sci);
        d1 += (f0[i] / sci) * (f0[i] / sci);
    }
    let tol = 1.0e-10;
    let mut h0 = if d0 < tol || d1 < tol { 1.0e-6 } else { 0.01 * (d0 / d1).sqrt() };
    h0 = h0.min(h_max);
    h0 = posneg * h0.abs();
    let y1 = y + f0 * h0;
    let mut f1 = SVector::<f64, N>::zeros();
    f(x + h0, &y1, &mut f1);
    let mut d2 = 0.0f64;
    for i in 0..N {
        let sci = s.atol + y[i].abs() * s.rtol;
        d2 += ((f1[i] - f0[i]) / sci) * ((f1[i] - f0[i]) / sci);
    }
    d2 = d2.sqrt() / h0;
    let h1 = if d1.sqrt().max(d2.abs()) <= 1.0e-15 { 1.0e-6_f64.max(h0.abs() * 1.0e-3) } else { (0.01 / d1.sqrt().max(d2)).powf(1.0 / 5.0) };
    posneg * (100.0 * h0.abs()).min(h1.min(h_max)).abs()
}
