//! The trained twin as a [`sim::objective::Surrogate`], so the optimiser can use it in place
//! of the simulator.
//!
//! **How it answers.** The optimiser asks for the harvest titer and CQA of a scenario. A
//! network trained on measured data needs measured data, so [`TwinSurrogate`] (1) runs the
//! simulator on the scenario to produce the sensors' view of the batch (online 15-min data,
//! daily assays), (2) keeps only the first `context_h` hours (what a plant would have
//! measured by then — by default 96 h, the end of day 4), (3) preprocesses them exactly as in
//! training (grid, outliers, imputation, the model's own scaler), and (4) feeds the last
//! window to a model trained with `--horizon harvest`, which forecasts titer and GI at
//! harvest. So it is an *early-batch forecaster* behind the optimiser's trait, not a cheaper
//! replacement of the simulator: the simulation of the batch is still run (it is the stand-in
//! for the plant's early measurements). Quantities the network does not predict (peaks,
//! viability, feed volume, specific productivity) are `None`; the optimiser refuses
//! constraints on them. Volumetric productivity is the forecast titer over the scenario's
//! duration.

use crate::data::from_record;
use crate::error::{Result, TwinError};
use crate::nn::Model;
use crate::prep::{GridBatch, Horizon, WindowConfig, grid_batch, windows};
use sim::objective::{Prediction, Surrogate};
use std::sync::Mutex;

/// A harvest-horizon model behind [`Surrogate`].
pub struct TwinSurrogate {
    model: Mutex<Model>,
    context_h: f64,
    name: String,
}

impl std::fmt::Debug for TwinSurrogate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwinSurrogate").field("context_h", &self.context_h).field("name", &self.name).finish_non_exhaustive()
    }
}

impl TwinSurrogate {
    /// Wrap `model` (trained with `Horizon::Harvest`), using the first `context_h` hours.
    pub fn new(model: Model, context_h: f64) -> Result<TwinSurrogate> {
        if model.meta.window.horizon != Horizon::Harvest {
            return Err(TwinError::ModelMismatch(format!(
                "a surrogate needs a model trained with --horizon harvest, this one predicts at `{}`",
                model.meta.window.horizon.label()
            )));
        }
        let need_h = model.meta.window.steps as f64 * crate::prep::STEP_H;
        if !(context_h.is_finite() && context_h >= need_h) {
            return Err(TwinError::Invalid(format!("context {context_h} h is shorter than one window ({need_h} h)")));
        }
        let name = format!("twin:{}", model.meta.model.arch.key().replace('_', "-"));
        Ok(TwinSurrogate { model: Mutex::new(model), context_h, name })
    }

    fn forecast(&self, scenario: &sim::Scenario) -> Result<[f64; 2]> {
        let (valid, _) = sim::scenario::validate(scenario.clone()).map_err(sim::SimError::Scenario)?;
        let rec = sim::simulate(&valid)?;
        let mut raw = from_record(0, &rec);
        let t_end = self.context_h.min(raw.online.last().map_or(0.0, |r| r.0));
        raw.online.retain(|r| r.0 <= t_end + 1e-9);
        raw.offline.retain(|r| r.0 <= t_end + 1e-9);
        raw.truth.clear();
        let model = self.model.lock().map_err(|_| TwinError::Data("surrogate model lock poisoned".into()))?;
        let g = grid_batch(&raw, &model.meta.features)?;
        let steps = model.meta.window.steps;
        let n = g.x.len();
        if n < steps {
            return Err(TwinError::Data(format!("only {n} steps of data, the model needs {steps}")));
        }
        let last = GridBatch { t_h: g.t_h[n - steps..].to_vec(), x: g.x[n - steps..].to_vec(), phase: g.phase[n - steps..].to_vec(), ..g };
        let cfg = WindowConfig { steps, stride: steps, horizon: Horizon::Now };
        let w = windows(&[&last], &model.meta.scaler, &cfg)?;
        let p = model.predict(&w)?;
        p.last().copied().ok_or_else(|| TwinError::Data("no window".into()))
    }
}

impl Surrogate for TwinSurrogate {
    fn name(&self) -> &str {
        &self.name
    }

    fn predict(&self, scenario: &sim::Scenario) -> sim::Result<Prediction> {
        let [titer, gi] = self.forecast(scenario).map_err(|e| match e {
            TwinError::Sim(s) => s,
            other => sim::SimError::Invalid(format!("twin surrogate: {other}")),
        })?;
        let days = scenario.duration_d.max(1e-9);
        Ok(Prediction {
            final_titer_g_per_l: titer,
            volumetric_productivity_g_per_l_per_day: titer / days,
            specific_productivity_pg_per_cell_per_day: None,
            final_cqa_gi_pct: gi,
            peak_lactate_g_per_l: None,
            peak_ammonium_mm: None,
            peak_osmolality_mosm_per_kg: None,
            peak_daily_pco2_mmhg: None,
            peak_pco2_mmhg: None,
            final_viability_pct: None,
            total_feed_volume_l: None,
            total_feed_pct_of_initial: None,
        })
    }
}
