//! Integrated gradients (Sundararajan et al. 2017): per-feature, per-time-step attributions
//! of one window's prediction against the all-zero (training-mean) input.

use super::{Model, x_tensor, to_vec};
use crate::error::{Result, TwinError};
use crate::prep::WindowSet;
use tch::{Kind, Tensor};

impl Model {
    /// Integrated gradients of output `target` (0 titer, 1 GI) for one window, against the
    /// all-zero input (the training mean in z-space), with `steps` points of the trapezoidal
    /// rule. Eval mode. Attributions are in the target's raw units (g/L or %), one per
    /// (time step, feature); they sum to `f(x) − f(baseline)` up to the quadrature error.
    pub fn integrated_gradients(&self, w: &WindowSet, window: usize, target: usize, steps: usize) -> Result<Attribution> {
        self.check_windows(w)?;
        if window >= w.len() || target > 1 || steps < 2 {
            return Err(TwinError::Invalid(format!("integrated gradients: window {window} of {}, target {target}, steps {steps}", w.len())));
        }
        let x = x_tensor(w, &[window], self.device()); // (1, T, F)
        let alphas = Tensor::linspace(0.0, 1.0, steps as i64, (Kind::Float, self.device())).view([steps as i64, 1, 1]);
        let path = (&alphas * &x).detach().set_requires_grad(true); // (m, T, F)
        let out = self.raw_output(&self.net.forward(&path, false, false), target); // (m), raw units
        let grads = Tensor::run_backward(&[out.sum(Kind::Float)], &[&path], false, false);
        let g = grads.into_iter().next().ok_or_else(|| TwinError::Data("no gradient".into()))?;
        // Trapezoid: (g0/2 + g1 + … + g_{m−2} + g_{m−1}/2) / (m − 1).
        let m = steps as i64;
        let inner = if m > 2 { g.narrow(0, 1, m - 2).sum_dim_intlist(0, false, Kind::Float) } else { g.get(0).zeros_like() };
        let avg = (inner + (g.get(0) + g.get(m - 1)) * 0.5) / (m - 1) as f64;
        let attr = avg * x.get(0);
        let fx = tch::no_grad(|| out.get(m - 1).double_value(&[]));
        let f0 = tch::no_grad(|| out.get(0).double_value(&[]));
        Ok(Attribution {
            steps: w.steps,
            n_features: w.n_features,
            values: to_vec(&attr)?.into_iter().map(f64::from).collect(),
            f_x: fx,
            f_baseline: f0,
        })
    }
}

/// Integrated-gradient attributions of one window (`steps × n_features`, row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    pub steps: usize,
    pub n_features: usize,
    pub values: Vec<f64>,
    pub f_x: f64,
    pub f_baseline: f64,
}

impl Attribution {
    /// Sum of all attributions (completeness: ≈ `f_x − f_baseline`).
    pub fn total(&self) -> f64 {
        self.values.iter().sum()
    }
    /// Sum of |attribution| per feature over the window.
    pub fn per_feature_abs(&self) -> Vec<f64> {
        (0..self.n_features).map(|c| (0..self.steps).map(|t| self.values[t * self.n_features + c].abs()).sum()).collect()
    }
}
