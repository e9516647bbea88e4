//! The batch record: true states, online and offline measurements, events and summary.
//! Row structs serialize with unit-suffixed column names (the CSV contract).

use serde::Serialize;

/// True state every 15 min (all states and derived values).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TruthRow {
    pub t_h: f64,
    pub volume_l: f64,
    pub vcd_1e6_per_ml: f64,
    pub dead_cells_1e6_per_ml: f64,
    pub viability_pct: f64,
    pub glucose_mm: f64,
    pub glucose_g_per_l: f64,
    pub glutamine_mm: f64,
    pub lactate_mm: f64,
    pub lactate_g_per_l: f64,
    pub ammonium_mm: f64,
    pub titer_g_per_l: f64,
    pub gi_pct: f64,
    pub acidic_pct: f64,
    pub do_pct: f64,
    pub dissolved_o2_mm: f64,
    pub pco2_mmhg: f64,
    pub ph: f64,
    pub alkalinity_mm: f64,
    pub sodium_mm: f64,
    pub osmolality_mosm_per_kg: f64,
    pub temp_c: f64,
    pub temp_setpoint_eff_c: f64,
    pub contaminant_g_per_l: f64,
    pub mu_per_h: f64,
    pub death_rate_per_h: f64,
    pub qp_pg_per_cell_per_day: f64,
    pub our_mm_per_h: f64,
    pub kla_o2_per_h: f64,
    pub sparge_vvm: f64,
    pub agitation_rpm: f64,
    pub o2_fraction: f64,
    pub co2_fraction: f64,
    pub base_rate_meq_per_l_per_h: f64,
    pub base_added_l: f64,
    pub continuous_feed_l: f64,
    pub bolus_feed_l: f64,
    pub sampled_l: f64,
}

/// Online sensor reading every 15 min. `None` is a dropout (empty CSV cell).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnlineRow {
    pub t_h: f64,
    pub temp_c: Option<f64>,
    pub ph: Option<f64>,
    pub do_pct: Option<f64>,
    pub pco2_mmhg: Option<f64>,
    pub agitation_rpm: Option<f64>,
    pub sparge_l_per_min: Option<f64>,
    pub o2_fraction: Option<f64>,
    pub co2_fraction: Option<f64>,
    pub volume_l: Option<f64>,
    pub base_added_l: f64,
    pub feed_commanded_l: f64,
}

/// Daily offline sample (taken before that day's bolus). `None` = missing or below LOQ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfflineRow {
    pub day: u32,
    pub t_h: f64,
    pub vcd_1e6_per_ml: Option<f64>,
    pub viability_pct: Option<f64>,
    pub glucose_g_per_l: Option<f64>,
    pub lactate_g_per_l: Option<f64>,
    pub glutamine_mm: Option<f64>,
    pub ammonium_mm: Option<f64>,
    pub osmolality_mosm_per_kg: Option<f64>,
    pub titer_g_per_l: Option<f64>,
    pub ph_offline: Option<f64>,
    pub pco2_offline_mmhg: Option<f64>,
    pub gi_pct: Option<f64>,
    pub acidic_pct: Option<f64>,
    /// Semicolon-separated flags: `missing`, `outlier:<col>`, `<LOQ:<col>`.
    pub flags: String,
}

/// Something that happened during the run (feeds, samples, setpoint changes, faults).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub t_h: f64,
    pub kind: String,
    pub detail: String,
    /// Volume added (+) or removed (−), L; 0 for events without volume.
    pub volume_l: f64,
}

/// A fault window, exported as a label for fault detection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultLabel {
    pub kind: String,
    pub start_h: f64,
    pub end_h: f64,
    pub detail: String,
}

/// Key results of a batch (summary.json).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    pub scenario_hash: String,
    pub version: String,
    pub cell_line: String,
    pub nominal_volume_l: f64,
    pub duration_d: f64,
    pub final_titer_g_per_l: f64,
    pub peak_vcd_e6_per_ml: f64,
    pub peak_vcd_day: f64,
    pub ivcd_e6_cell_day_per_ml: f64,
    pub mean_productivity_g_per_l_per_day: f64,
    pub specific_productivity_pg_per_cell_per_day: f64,
    pub final_viability_pct: f64,
    pub peak_lactate_g_per_l: f64,
    pub peak_lactate_mm: f64,
    pub peak_lactate_day: f64,
    pub peak_ammonium_mm: f64,
    pub peak_osmolality_mosm_per_kg: f64,
    pub peak_pco2_mmhg: f64,
    /// Highest daily-mean pCO2 after day 1 (the initial equilibration transient excluded).
    pub peak_daily_pco2_mmhg: f64,
    /// The product-quality attribute: galactosylation index at harvest, %.
    pub final_cqa: f64,
    pub final_gi_pct: f64,
    pub final_acidic_pct: f64,
    pub harvest_volume_l: f64,
    pub base_added_l: f64,
    pub kla_o2_per_h: f64,
    pub tip_speed_m_per_s: f64,
    pub mixing_time_95_s: f64,
    pub kolmogorov_um: f64,
    pub flags: Vec<String>,
    pub faults: Vec<FaultLabel>,
    /// Truth columns the model does not compute (reference presets, spec §2.8): NaN in
    /// `truth.csv`, empty cells in the online and offline data, and `null` for the summary
    /// fields derived from them. Empty (and absent from summary.json) for the platform model.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_modelled: Vec<String>,
}

/// Everything a run produces.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRecord {
    pub truth: Vec<TruthRow>,
    pub online: Vec<OnlineRow>,
    pub offline: Vec<OfflineRow>,
    pub events: Vec<Event>,
    pub summary: Summary,
}
