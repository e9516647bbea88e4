//! The seam between optimisers and models: a [`Surrogate`] turns a scenario into a
//! [`Prediction`] of the batch outcome.
//!
//! Why a trait here and not in the optimiser: `sim` owns the domain (scenarios, outcomes),
//! the mechanistic model implements it ([`SimulatorObjective`]), the trained network in
//! crate `twin` will implement it too, and `optimizer` depends on `sim` only, so it builds
//! and tests without libtorch. [`FakeQuadratic`] is a pure-Rust model with a known optimum
//! for tests of everything that sits on top of the trait.
//!
//! A surrogate that predicts only titer and CQA trajectories leaves the constrained
//! quantities it cannot predict as `None`; a constraint on a missing quantity is an error
//! at the optimiser, never a silent pass.

use crate::error::{Result, SimError};
use crate::scenario::{Scenario, SensorProfile, validate};

/// A model of the batch outcome as a function of the scenario.
pub trait Surrogate: Send + Sync {
    /// Short name for reports (`simulator`, `fake-quadratic`, `twin:cnn-lstm`, …).
    fn name(&self) -> &str;
    /// Predict the outcome of one batch. Deterministic for a given scenario (seed included).
    fn predict(&self, scenario: &Scenario) -> Result<Prediction>;
}

/// The predicted outcome of one batch.
///
/// Fields a model cannot predict are `None`. The first four are required of every model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Prediction {
    /// Harvest titer, g/L.
    pub final_titer_g_per_l: f64,
    /// Final titer over the batch duration, g/L/day.
    pub volumetric_productivity_g_per_l_per_day: f64,
    /// Product made per integral of viable cells, pg/cell/day.
    pub specific_productivity_pg_per_cell_per_day: Option<f64>,
    /// The product-quality attribute: galactosylation index at harvest, %.
    pub final_cqa_gi_pct: f64,
    pub peak_lactate_g_per_l: Option<f64>,
    pub peak_ammonium_mm: Option<f64>,
    pub peak_osmolality_mosm_per_kg: Option<f64>,
    /// Highest daily-mean pCO2 after day 1.
    pub peak_daily_pco2_mmhg: Option<f64>,
    /// Highest instantaneous pCO2.
    pub peak_pco2_mmhg: Option<f64>,
    pub final_viability_pct: Option<f64>,
    /// Bolus plus continuous feed added over the batch, L.
    pub total_feed_volume_l: Option<f64>,
    /// The same as a percentage of the initial volume, %.
    pub total_feed_pct_of_initial: Option<f64>,
}

/// A named scalar of a [`Prediction`]: the vocabulary of objectives and constraints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    FinalTiter,
    VolumetricProductivity,
    SpecificProductivity,
    Cqa,
    PeakLactate,
    PeakAmmonium,
    PeakOsmolality,
    PeakDailyPco2,
    PeakPco2,
    FinalViability,
    TotalFeedVolume,
    TotalFeedPct,
}

impl Quantity {
    /// Every quantity, in report order.
    pub const ALL: [Quantity; 12] = [
        Quantity::FinalTiter,
        Quantity::VolumetricProductivity,
        Quantity::SpecificProductivity,
        Quantity::Cqa,
        Quantity::PeakLactate,
        Quantity::PeakAmmonium,
        Quantity::PeakOsmolality,
        Quantity::PeakDailyPco2,
        Quantity::PeakPco2,
        Quantity::FinalViability,
        Quantity::TotalFeedVolume,
        Quantity::TotalFeedPct,
    ];

    /// The name used on the command line and in reports (unit suffix included where the
    /// quantity is a constraint; objectives use the short names of the issue).
    pub fn name(self) -> &'static str {
        match self {
            Quantity::FinalTiter => "final_titer_g_per_l",
            Quantity::VolumetricProductivity => "volumetric_productivity_g_per_l_per_day",
            Quantity::SpecificProductivity => "specific_productivity_pg_per_cell_per_day",
            Quantity::Cqa => "cqa_gi_pct",
            Quantity::PeakLactate => "peak_lactate_g_per_l",
            Quantity::PeakAmmonium => "peak_ammonium_mm",
            Quantity::PeakOsmolality => "peak_osmolality_mosm_per_kg",
            Quantity::PeakDailyPco2 => "peak_daily_pco2_mmhg",
            Quantity::PeakPco2 => "peak_pco2_mmhg",
            Quantity::FinalViability => "final_viability_pct",
            Quantity::TotalFeedVolume => "total_feed_volume_l",
            Quantity::TotalFeedPct => "total_feed_pct_of_initial",
        }
    }

    /// Short aliases accepted besides [`Quantity::name`].
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Quantity::FinalTiter => &["final_titer", "titer"],
            Quantity::VolumetricProductivity => &["volumetric_productivity", "productivity"],
            Quantity::SpecificProductivity => &["specific_productivity"],
            Quantity::Cqa => &["cqa", "final_cqa", "gi_pct"],
            _ => &[],
        }
    }

    /// Parse a name or alias.
    pub fn parse(name: &str) -> Option<Quantity> {
        let name = name.trim();
        Quantity::ALL.into_iter().find(|q| q.name() == name || q.aliases().contains(&name))
    }
}

impl Prediction {
    /// The value of a quantity, `None` where the model does not predict it.
    pub fn value(&self, q: Quantity) -> Option<f64> {
        match q {
            Quantity::FinalTiter => Some(self.final_titer_g_per_l),
            Quantity::VolumetricProductivity => Some(self.volumetric_productivity_g_per_l_per_day),
            Quantity::SpecificProductivity => self.specific_productivity_pg_per_cell_per_day,
            Quantity::Cqa => Some(self.final_cqa_gi_pct),
            Quantity::PeakLactate => self.peak_lactate_g_per_l,
            Quantity::PeakAmmonium => self.peak_ammonium_mm,
            Quantity::PeakOsmolality => self.peak_osmolality_mosm_per_kg,
            Quantity::PeakDailyPco2 => self.peak_daily_pco2_mmhg,
            Quantity::PeakPco2 => self.peak_pco2_mmhg,
            Quantity::FinalViability => self.final_viability_pct,
            Quantity::TotalFeedVolume => self.total_feed_volume_l,
            Quantity::TotalFeedPct => self.total_feed_pct_of_initial,
        }
    }
}

/// How the simulator's sensors are set for an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensorMode {
    /// Perfect sensors (`sensors.profile = "none"`): the control loops see the truth, so the
    /// objective is a smooth function of the setpoints. The default for optimisation.
    Perfect,
    /// The scenario's own sensor profile: noise and drifts act through the control loops
    /// (used for robust studies, where process noise is part of the question).
    AsScenario,
}

/// The mechanistic simulator as a [`Surrogate`]: validates a copy of the scenario and runs
/// [`crate::simulate`]. An invalid scenario is an `Err(SimError::Scenario)`.
#[derive(Debug, Clone)]
pub struct SimulatorObjective {
    pub sensor_mode: SensorMode,
}

impl SimulatorObjective {
    /// The simulator with perfect sensors.
    pub fn perfect_sensors() -> Self {
        Self { sensor_mode: SensorMode::Perfect }
    }

    /// The simulator with the scenario's sensor profile.
    pub fn scenario_sensors() -> Self {
        Self { sensor_mode: SensorMode::AsScenario }
    }
}

impl Surrogate for SimulatorObjective {
    fn name(&self) -> &str {
        "simulator"
    }

    fn predict(&self, scenario: &Scenario) -> Result<Prediction> {
        let mut s = scenario.clone();
        if self.sensor_mode == SensorMode::Perfect {
            s.sensors.profile = SensorProfile::None;
        }
        let (valid, _warnings) = validate(s).map_err(SimError::Scenario)?;
        let record = crate::simulate(&valid)?;
        let sum = &record.summary;
        let (fed_l, v0_l) = match (record.truth.last(), record.truth.first()) {
            (Some(last), Some(first)) => (last.bolus_feed_l + last.continuous_feed_l, first.volume_l),
            _ => (f64::NAN, f64::NAN),
        };
        Ok(Prediction {
            final_titer_g_per_l: sum.final_titer_g_per_l,
            volumetric_productivity_g_per_l_per_day: sum.mean_productivity_g_per_l_per_day,
            specific_productivity_pg_per_cell_per_day: Some(sum.specific_productivity_pg_per_cell_per_day),
            final_cqa_gi_pct: sum.final_cqa,
            peak_lactate_g_per_l: Some(sum.peak_lactate_g_per_l),
            peak_ammonium_mm: Some(sum.peak_ammonium_mm),
            peak_osmolality_mosm_per_kg: Some(sum.peak_osmolality_mosm_per_kg),
            peak_daily_pco2_mmhg: Some(sum.peak_daily_pco2_mmhg),
            peak_pco2_mmhg: Some(sum.peak_pco2_mmhg),
            final_viability_pct: Some(sum.final_viability_pct),
            total_feed_volume_l: fed_l.is_finite().then_some(fed_l),
            total_feed_pct_of_initial: (fed_l.is_finite() && v0_l > 0.0).then(|| 100.0 * fed_l / v0_l),
        })
    }
}

/// A pure-Rust stand-in with a known optimum, for tests of optimisers and reports.
///
/// Titer is a concave quadratic of the setpoints with its maximum
/// [`FakeQuadratic::OPTIMUM_TITER_G_PER_L`] at [`FakeQuadratic::OPTIMUM`]
/// (temp_c, ph, do_pct, glucose g/L/d, seed VCD 1e6/mL). The CQA (GI %) rises as the
/// temperature falls, and the peak daily pCO2 rises with temperature
/// (`50 + 20·(temp_c − 33)` mmHg), so a pCO2 limit pulls the optimum to a cooler setpoint.
/// The scenario's seed and variability are ignored.
#[derive(Debug, Clone, Copy, Default)]
pub struct FakeQuadratic;

impl FakeQuadratic {
    /// temp_c, ph, do_pct, glucose_g_per_l_per_d, seed_vcd_e6_per_ml at the optimum.
    pub const OPTIMUM: [f64; 5] = [35.5, 6.95, 50.0, 1.2, 0.8];
    pub const OPTIMUM_TITER_G_PER_L: f64 = 5.0;
    /// Curvatures of the titer bowl, g/L per unit², in the order of [`Self::OPTIMUM`].
    pub const CURVATURE: [f64; 5] = [0.3, 40.0, 0.0005, 0.8, 1.5];

    /// The fake's inputs read from a scenario (first glucose-dosed feed, or 0).
    pub fn inputs(scenario: &Scenario) -> [f64; 5] {
        let glucose = scenario.feeds.iter().find_map(|f| f.glucose_g_per_l_per_d).unwrap_or(0.0);
        [
            scenario.setpoints.temp_c,
            scenario.setpoints.ph,
            scenario.setpoints.do_pct,
            glucose,
            scenario.inoculum.vcd_e6_per_ml,
        ]
    }
}

impl Surrogate for FakeQuadratic {
    fn name(&self) -> &str {
        "fake-quadratic"
    }

    fn predict(&self, scenario: &Scenario) -> Result<Prediction> {
        let x = Self::inputs(scenario);
        let loss: f64 = (0..5).map(|i| Self::CURVATURE[i] * (x[i] - Self::OPTIMUM[i]).powi(2)).sum();
        let titer = Self::OPTIMUM_TITER_G_PER_L - loss;
        let temp_c = x[0];
        let duration_d = scenario.duration_d.max(1e-9);
        Ok(Prediction {
            final_titer_g_per_l: titer,
            volumetric_productivity_g_per_l_per_day: titer / duration_d,
            specific_productivity_pg_per_cell_per_day: Some(20.0 + 2.0 * (titer - 3.0)),
            final_cqa_gi_pct: 20.0 + 2.0 * (37.0 - temp_c),
            peak_lactate_g_per_l: Some(1.0 + 0.3 * (temp_c - 30.0)),
            peak_ammonium_mm: Some(5.0),
            peak_osmolality_mosm_per_kg: Some(350.0),
            peak_daily_pco2_mmhg: Some(50.0 + 20.0 * (temp_c - 33.0)),
            peak_pco2_mmhg: Some(60.0 + 20.0 * (temp_c - 33.0)),
            final_viability_pct: Some(80.0),
            total_feed_volume_l: Some(80.0),
            total_feed_pct_of_initial: Some(70.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulator_baseline_matches_the_summary() {
        let s = Scenario::default();
        let p = SimulatorObjective::perfect_sensors().predict(&s).expect("baseline simulates");
        assert!((3.0..=3.4).contains(&p.final_titer_g_per_l), "{}", p.final_titer_g_per_l);
        for q in Quantity::ALL {
            assert!(p.value(q).is_some_and(f64::is_finite), "{q:?} missing");
        }
    }

    #[test]
    fn invalid_scenario_is_an_error_not_a_panic() {
        let mut s = Scenario::default();
        s.setpoints.temp_c = 45.0;
        assert!(matches!(SimulatorObjective::perfect_sensors().predict(&s), Err(SimError::Scenario(_))));
    }

    #[test]
    fn fake_peaks_at_its_optimum() {
        let mut s = Scenario::default();
        s.setpoints.temp_c = FakeQuadratic::OPTIMUM[0];
        s.setpoints.ph = FakeQuadratic::OPTIMUM[1];
        s.setpoints.do_pct = FakeQuadratic::OPTIMUM[2];
        for f in &mut s.feeds {
            if f.glucose_g_per_l_per_d.is_some() {
                f.glucose_g_per_l_per_d = Some(FakeQuadratic::OPTIMUM[3]);
            }
        }
        s.inoculum.vcd_e6_per_ml = FakeQuadratic::OPTIMUM[4];
        let p = FakeQuadratic.predict(&s).expect("fake");
        assert!((p.final_titer_g_per_l - FakeQuadratic::OPTIMUM_TITER_G_PER_L).abs() < 1e-12);
    }

    #[test]
    fn quantity_names_round_trip() {
        for q in Quantity::ALL {
            assert_eq!(Quantity::parse(q.name()), Some(q));
        }
        assert_eq!(Quantity::parse("final_titer"), Some(Quantity::FinalTiter));
        assert_eq!(Quantity::parse("nope"), None);
    }
}
