//! The scenario file format (boundary data, TOML). Every field has a default equal to the
//! seed's baseline (paper 002, Table 7) so that an empty file is the baseline scenario.
//!
//! These serde types are *unchecked*: [`super::validate`] turns one into a
//! [`super::ValidScenario`], the only type the simulator accepts.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Current scenario schema version.
pub const SCHEMA_VERSION: u32 = 1;

/// A complete scenario: vessel, cell line, setpoints, schedule, feeds, sensors, faults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default = "default_schema_version")]
    pub schema_version: u32,
    #[serde(default = "default_name")]
    pub name: String,
    /// One line shown by `mabtwin scenario list`.
    #[serde(default)]
    pub description: String,
    /// Seed of every random stream (sensor noise, faults, variability).
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default = "default_duration_d")]
    pub duration_d: f64,
    #[serde(default)]
    pub vessel: Vessel,
    #[serde(default)]
    pub cell_line: CellLineSpec,
    #[serde(default)]
    pub inoculum: Inoculum,
    #[serde(default)]
    pub setpoints: Setpoints,
    /// Setpoint changes during the run (e.g. a temperature shift on day 5), in time order.
    #[serde(default)]
    pub schedule: Vec<ScheduleStep>,
    #[serde(default = "default_feeds")]
    pub feeds: Vec<Feed>,
    #[serde(default)]
    pub sensors: Sensors,
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Draw one random fault per batch (dataset generation).
    #[serde(default)]
    pub random_fault: RandomFault,
    #[serde(default)]
    pub variability: Variability,
    #[serde(default)]
    pub model: ModelOptions,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            name: default_name(),
            description: String::new(),
            seed: default_seed(),
            duration_d: default_duration_d(),
            vessel: Vessel::default(),
            cell_line: CellLineSpec::default(),
            inoculum: Inoculum::default(),
            setpoints: Setpoints::default(),
            schedule: Vec::new(),
            feeds: default_feeds(),
            sensors: Sensors::default(),
            faults: Vec::new(),
            random_fault: RandomFault::default(),
            variability: Variability::default(),
            model: ModelOptions::default(),
        }
    }
}

fn default_schema_version() -> u32 {
    SCHEMA_VERSION
}
fn default_name() -> String {
    "baseline".to_owned()
}
fn default_seed() -> u64 {
    20240131
}
fn default_duration_d() -> f64 {
    14.0
}

/// The platform feed plan: a daily nutrient bolus (days 2–13; started a day earlier than
/// the prototype's day 3 so glutamine does not run out before feeding, spec §2.9) and the seed's continuous
/// glucose supplement (0.5 g per L culture per day from a 500 g/L stock).
pub fn default_feeds() -> Vec<Feed> {
    vec![
        Feed {
            name: "platform".to_owned(),
            kind: FeedKind::Bolus,
            start_d: 2.0,
            end_d: 13.0,
            every_d: 1.0,
            volume_pct_of_initial: Some(6.0),
            glucose_mm: Some(550.0),
            glutamine_mm: Some(80.0),
            osmolality_mosm_per_kg: Some(450.0),
            ..Feed::empty("platform")
        },
        Feed {
            name: "glucose_supplement".to_owned(),
            kind: FeedKind::Continuous,
            start_d: 0.0,
            end_d: 14.0,
            glucose_g_per_l_per_d: Some(0.5),
            stock_glucose_g_per_l: Some(500.0),
            ..Feed::empty("glucose_supplement")
        },
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sparger {
    Microsparger,
    DrilledHole,
    OpenPipe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Impeller {
    PitchedBlade,
    Rushton,
    Marine,
}

/// How agitation and gassing are chosen when the vessel is not at its reference scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScaleUpRule {
    ConstantPowerPerVolume,
    TipSpeed,
    Kla,
    Vvm,
    SuperficialVelocity,
}

/// Vessel geometry, agitation and gassing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vessel {
    #[serde(default = "default_nominal_volume_l")]
    pub nominal_volume_l: f64,
    #[serde(default = "default_sparger")]
    pub sparger: Sparger,
    #[serde(default = "default_impeller")]
    pub impeller: Impeller,
    #[serde(default = "default_pv")]
    pub power_per_volume_w_per_m3: f64,
    #[serde(default = "default_vvm")]
    pub sparge_vvm: f64,
    #[serde(default = "default_max_vvm")]
    pub max_sparge_vvm: f64,
    #[serde(default = "default_rule")]
    pub scale_up_rule: ScaleUpRule,
    /// Pluronic protects cells from bubble-burst death (on by default).
    #[serde(default = "default_true")]
    pub pluronic: bool,
    /// Optional fixed oxygen kLa (1/h) that replaces the van't Riet correlation.
    #[serde(default)]
    pub kla_o2_per_h: Option<f64>,
    /// Turn scale physics off (ideal gas transfer, no mixing lag); for model checks.
    #[serde(default = "default_true")]
    pub scale_physics: bool,
}

impl Default for Vessel {
    fn default() -> Self {
        Self {
            nominal_volume_l: default_nominal_volume_l(),
            sparger: default_sparger(),
            impeller: default_impeller(),
            power_per_volume_w_per_m3: default_pv(),
            sparge_vvm: default_vvm(),
            max_sparge_vvm: default_max_vvm(),
            scale_up_rule: default_rule(),
            pluronic: true,
            kla_o2_per_h: None,
            scale_physics: true,
        }
    }
}

fn default_nominal_volume_l() -> f64 {
    200.0
}
fn default_sparger() -> Sparger {
    Sparger::Microsparger
}
fn default_impeller() -> Impeller {
    Impeller::PitchedBlade
}
fn default_pv() -> f64 {
    20.0
}
fn default_vvm() -> f64 {
    0.02
}
fn default_max_vvm() -> f64 {
    0.1
}
fn default_rule() -> ScaleUpRule {
    ScaleUpRule::ConstantPowerPerVolume
}
fn default_true() -> bool {
    true
}

/// Cell line A–D and optional per-parameter overrides (names as in `sim::params`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CellLineSpec {
    #[serde(default = "default_line")]
    pub id: String,
    #[serde(default)]
    pub overrides: BTreeMap<String, f64>,
}

impl Default for CellLineSpec {
    fn default() -> Self {
        Self { id: default_line(), overrides: BTreeMap::new() }
    }
}

fn default_line() -> String {
    "A".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Inoculum {
    #[serde(default = "default_vcd")]
    pub vcd_e6_per_ml: f64,
    #[serde(default = "default_viability")]
    pub viability_pct: f64,
}

impl Default for Inoculum {
    fn default() -> Self {
        Self { vcd_e6_per_ml: default_vcd(), viability_pct: default_viability() }
    }
}

fn default_vcd() -> f64 {
    0.5
}
fn default_viability() -> f64 {
    97.1
}

/// Initial control setpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Setpoints {
    #[serde(default = "default_temp")]
    pub temp_c: f64,
    #[serde(default = "default_ph")]
    pub ph: f64,
    #[serde(default = "default_deadband")]
    pub ph_deadband: f64,
    #[serde(default = "default_do")]
    pub do_pct: f64,
}

impl Default for Setpoints {
    fn default() -> Self {
        Self { temp_c: default_temp(), ph: default_ph(), ph_deadband: default_deadband(), do_pct: default_do() }
    }
}

fn default_temp() -> f64 {
    37.0
}
fn default_ph() -> f64 {
    7.0
}
fn default_deadband() -> f64 {
    0.03
}
fn default_do() -> f64 {
    40.0
}

/// A change of setpoints (and of the glucose supplement rate or gas flow) at `at_d`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleStep {
    pub at_d: f64,
    /// Linear ramp to the new temperature over this many hours (0 = step).
    #[serde(default)]
    pub ramp_h: Option<f64>,
    #[serde(default)]
    pub temp_c: Option<f64>,
    #[serde(default)]
    pub ph: Option<f64>,
    #[serde(default)]
    pub do_pct: Option<f64>,
    /// New rate of every feed that has `glucose_g_per_l_per_d`.
    #[serde(default)]
    pub glucose_g_per_l_per_d: Option<f64>,
    #[serde(default)]
    pub sparge_vvm: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeedKind {
    /// Instant additions every `every_d` days from `start_d` to `end_d` (inclusive).
    Bolus,
    /// A constant flow between `start_d` and `end_d`.
    Continuous,
    /// Every `every_d` days, glucose stock up to `target_glucose_g_per_l` when the
    /// *measured* glucose is below it.
    BolusToTarget,
}

/// One feed stream. Which optional fields apply depends on `kind` (see the README's
/// scenario reference); the validator reports fields that do not fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Feed {
    pub name: String,
    pub kind: FeedKind,
    #[serde(default)]
    pub start_d: f64,
    #[serde(default = "default_end_d")]
    pub end_d: f64,
    #[serde(default = "default_every_d")]
    pub every_d: f64,
    /// Bolus volume, % of the initial volume per addition (bolus) or per day (continuous).
    #[serde(default)]
    pub volume_pct_of_initial: Option<f64>,
    #[serde(default)]
    pub glucose_mm: Option<f64>,
    #[serde(default)]
    pub glutamine_mm: Option<f64>,
    /// Non-consumed osmolytes of the feed medium.
    #[serde(default)]
    pub osmolality_mosm_per_kg: Option<f64>,
    /// Glucose dose per litre of culture per day (the seed's "glucose feeding rate").
    #[serde(default)]
    pub glucose_g_per_l_per_d: Option<f64>,
    #[serde(default)]
    pub stock_glucose_g_per_l: Option<f64>,
    #[serde(default)]
    pub target_glucose_g_per_l: Option<f64>,
}

fn default_end_d() -> f64 {
    14.0
}
fn default_every_d() -> f64 {
    1.0
}

impl Feed {
    /// A feed with only a name and kind `bolus`; fill the rest with struct update syntax.
    pub fn empty(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            kind: FeedKind::Bolus,
            start_d: 0.0,
            end_d: default_end_d(),
            every_d: default_every_d(),
            volume_pct_of_initial: None,
            glucose_mm: None,
            glutamine_mm: None,
            osmolality_mosm_per_kg: None,
            glucose_g_per_l_per_d: None,
            stock_glucose_g_per_l: None,
            target_glucose_g_per_l: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SensorProfile {
    /// Measured = truth at sample times.
    None,
    Realistic,
    /// Noise and drifts ×3.
    Degraded,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sensors {
    #[serde(default = "default_profile")]
    pub profile: SensorProfile,
    /// Reset the online pH offset daily when |online − offline| > 0.05.
    #[serde(default = "default_true")]
    pub ph_restandardization: bool,
    /// Whether an in-line pCO2 probe is fitted.
    #[serde(default = "default_true")]
    pub online_pco2: bool,
    /// Volume removed per daily offline sample.
    #[serde(default = "default_sample_ml")]
    pub sample_volume_ml: f64,
}

impl Default for Sensors {
    fn default() -> Self {
        Self {
            profile: default_profile(),
            ph_restandardization: true,
            online_pco2: true,
            sample_volume_ml: default_sample_ml(),
        }
    }
}

fn default_profile() -> SensorProfile {
    SensorProfile::Realistic
}
fn default_sample_ml() -> f64 {
    25.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    SensorDrift,
    StuckSensor,
    DoProbeFailure,
    FeedPumpFailure,
    Contamination,
    TemperatureExcursion,
    CultureCrash,
}

impl FaultKind {
    pub const ALL: [FaultKind; 7] = [
        FaultKind::SensorDrift,
        FaultKind::StuckSensor,
        FaultKind::DoProbeFailure,
        FaultKind::FeedPumpFailure,
        FaultKind::Contamination,
        FaultKind::TemperatureExcursion,
        FaultKind::CultureCrash,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::SensorDrift => "sensor_drift",
            FaultKind::StuckSensor => "stuck_sensor",
            FaultKind::DoProbeFailure => "do_probe_failure",
            FaultKind::FeedPumpFailure => "feed_pump_failure",
            FaultKind::Contamination => "contamination",
            FaultKind::TemperatureExcursion => "temperature_excursion",
            FaultKind::CultureCrash => "culture_crash",
        }
    }
}

/// An online signal a sensor fault can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    Temp,
    Ph,
    Do,
    Pco2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DoFailureMode {
    ReadsZero,
    ReadsHigh,
    Noisy,
    Dropout,
}

/// An injected fault acting on `[start_d, start_d + duration_h]` (open-ended without
/// `duration_h`). Which optional fields apply depends on `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub kind: FaultKind,
    pub start_d: f64,
    #[serde(default)]
    pub duration_h: Option<f64>,
    /// sensor_drift, stuck_sensor.
    #[serde(default)]
    pub signal: Option<Signal>,
    /// sensor_drift: bias growth per day in the signal's unit.
    #[serde(default)]
    pub rate_per_d: Option<f64>,
    /// do_probe_failure.
    #[serde(default)]
    pub mode: Option<DoFailureMode>,
    /// feed_pump_failure: name of the feed.
    #[serde(default)]
    pub feed: Option<String>,
    /// feed_pump_failure: fraction of the commanded volume delivered (default 0).
    #[serde(default)]
    pub delivered_fraction: Option<f64>,
    /// temperature_excursion: absolute target (default 39.5 °C) or `delta_c`.
    #[serde(default)]
    pub target_c: Option<f64>,
    #[serde(default)]
    pub delta_c: Option<f64>,
    /// contamination: initial contaminant biomass (default 1e-6 g/L).
    #[serde(default)]
    pub b0_g_per_l: Option<f64>,
    /// culture_crash: extra specific death rate (default 0.08 1/h).
    #[serde(default)]
    pub death_rate_per_h: Option<f64>,
}

impl Fault {
    pub fn new(kind: FaultKind, start_d: f64) -> Self {
        Self {
            kind,
            start_d,
            duration_h: None,
            signal: None,
            rate_per_d: None,
            mode: None,
            feed: None,
            delivered_fraction: None,
            target_c: None,
            delta_c: None,
            b0_g_per_l: None,
            death_rate_per_h: None,
        }
    }
}

/// Draws one fault per batch: kind, start (day 2–12) and magnitude (U(0.5, 2) × default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RandomFault {
    /// Probability that the batch gets a fault (0 = never).
    #[serde(default)]
    pub probability: f64,
}

/// Batch-to-batch variability of the cell line (lognormal coefficients of variation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variability {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default = "default_cv")]
    pub mu_max_cv: f64,
    #[serde(default = "default_cv")]
    pub qp_cv: f64,
    #[serde(default = "default_cv")]
    pub yield_cv: f64,
}

impl Default for Variability {
    fn default() -> Self {
        Self { enabled: false, mu_max_cv: default_cv(), qp_cv: default_cv(), yield_cv: default_cv() }
    }
}

fn default_cv() -> f64 {
    0.05
}

/// Which culture model runs the scenario (spec §2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// The platform model of spec §2 (cell lines A–D, loops, sensors, faults).
    Platform,
    /// The simplified Xing et al. (2010) batch model of the of-compartments package
    /// ([`crate::presets::xing2010`]); see [`crate::presets::scenario_run`] for the mapping.
    #[serde(rename = "xing2010")]
    Xing2010,
    /// Möller et al. (2020) as coded in InSiliCHO 1.1.4 ([`crate::presets::insilicho`]);
    /// see [`crate::presets::scenario_run`] for the mapping.
    Insilicho,
}

impl Preset {
    pub const ALL: [Preset; 3] = [Preset::Platform, Preset::Xing2010, Preset::Insilicho];

    /// The spelling in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Platform => "platform",
            Preset::Xing2010 => "xing2010",
            Preset::Insilicho => "insilicho",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fidelity {
    /// The model of spec §2 with the §2.9 fixes: adaptive Dopri5, PI loops, sensors.
    Default,
    /// The Python prototype (spec §2.8): fixed-step RK4, P-only pH control, quasi-steady O2
    /// blending, perfect sensors; the model behind the §6(a) regression numbers.
    Prototype,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelOptions {
    #[serde(default = "default_preset")]
    pub preset: Preset,
    #[serde(default = "default_fidelity")]
    pub fidelity: Fidelity,
    /// Relative tolerance of the adaptive integrator.
    #[serde(default = "default_rtol")]
    pub rtol: f64,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self { preset: default_preset(), fidelity: default_fidelity(), rtol: default_rtol() }
    }
}

fn default_preset() -> Preset {
    Preset::Platform
}
fn default_fidelity() -> Fidelity {
    Fidelity::Default
}
fn default_rtol() -> f64 {
    1e-6
}

/// The JSON Schema of the scenario format (for editors and other tools).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Scenario)).unwrap_or_default()
}
