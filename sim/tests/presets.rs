//! `[model] preset = "insilicho" | "xing2010"` (spec §2.8): a scenario run equals the
//! reference library run with the documented inputs, number for number; what a preset does
//! not model is NaN/None/null and listed; validation rejects what the presets cannot do; the
//! schema lists the choices; every shipped scenario matches its golden daily rows
//! (`tests/golden/*.csv` in the CLI golden format; regenerate with `UPDATE_GOLDEN=1`).

use sim::presets::insilicho::{self, InsilichoParams, InsilichoRun};
use sim::presets::scenario_run::{INSILICHO_NOT_MODELLED, XING2010_NOT_MODELLED};
use sim::presets::xing2010::{self, XingParams};
use sim::record::{BatchRecord, TruthRow};
use sim::scenario::{SensorProfile, builtin, json_schema, parse_scenario, validate};
use std::path::PathBuf;

fn run_builtin(stem: &str) -> BatchRecord {
    let b = builtin::find(stem).expect("shipped scenario");
    let (valid, warnings) = parse_scenario(b.source, b.file_name).expect("valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    sim::simulate(&valid).expect("runs")
}

fn grid_h(duration_d: f64) -> Vec<f64> {
    (0..=(duration_d * 96.0) as u32).map(|k| f64::from(k) * 0.25).collect()
}

#[test]
fn insilicho_scenario_equals_the_library_run() {
    let rec = run_builtin("preset_insilicho");
    // The mapping written out by hand (module docs of presets::scenario_run).
    let v0_l = 0.58 * 200.0;
    let p = InsilichoParams { feed_glc_mm: 150.0, feed_gln_mm: 10.0, ..InsilichoParams::default() };
    let run = InsilichoRun {
        feed_l_per_h: 0.06 * v0_l / 24.0,
        temp_c: 36.4,
        temp_step: Some((120.0, 33.0)),
        ph: 7.0,
        volume0_l: v0_l,
        xv0_cells_per_l: 0.5e9,
        glc0_mm: 33.0,
        gln0_mm: 8.0,
    };
    let times = grid_h(14.0);
    let want = insilicho::simulate(&p, &run, &times).expect("library runs");
    assert_eq!(rec.truth.len(), want.len());
    for (r, w) in rec.truth.iter().zip(&want) {
        assert_eq!(r.t_h, w.t_h);
        assert_eq!(r.vcd_1e6_per_ml, w.xv_1e6_per_ml, "t = {}", r.t_h);
        assert_eq!(r.dead_cells_1e6_per_ml, w.xt_1e6_per_ml - w.xv_1e6_per_ml);
        assert_eq!(r.viability_pct, 100.0 * w.xv_1e6_per_ml / w.xt_1e6_per_ml);
        assert_eq!(r.glucose_mm, w.glucose_mm);
        assert_eq!(r.glutamine_mm, w.glutamine_mm);
        assert_eq!(r.lactate_mm, w.lactate_mm);
        assert_eq!(r.ammonium_mm, w.ammonia_mm);
        assert_eq!(r.titer_g_per_l, w.mab_mg_per_l / 1000.0);
        assert_eq!(r.volume_l, w.volume_l);
        assert_eq!(r.temp_c, if r.t_h >= 120.0 { 33.0 } else { 36.4 });
        assert_eq!(r.ph, 7.0);
    }
    let last = want.last().expect("points");
    let s = &rec.summary;
    assert_eq!(s.final_titer_g_per_l, last.mab_mg_per_l / 1000.0);
    assert_eq!(s.peak_vcd_e6_per_ml, want.iter().map(|w| w.xv_1e6_per_ml).fold(0.0, f64::max));
    assert_eq!(s.final_viability_pct, 100.0 * last.xv_1e6_per_ml / last.xt_1e6_per_ml);
    assert_eq!(s.harvest_volume_l, last.volume_l);
    assert_eq!(s.cell_line, "insilicho");
    assert!(s.final_titer_g_per_l > 0.0 && s.peak_lactate_g_per_l > 0.0 && s.peak_ammonium_mm > 0.0);
    assert_eq!(rec.events.len(), 1, "{:?}", rec.events);
    assert_eq!((rec.events[0].t_h, rec.events[0].kind.as_str()), (120.0, "setpoint"));
}

#[test]
fn xing2010_scenario_equals_the_library_run() {
    let rec = run_builtin("preset_xing2010");
    let times = grid_h(10.0);
    let want = xing2010::simulate(&XingParams::default(), 0.5, 33.0, 8.0, &times).expect("library runs");
    assert_eq!(rec.truth.len(), want.len());
    for (r, w) in rec.truth.iter().zip(&want) {
        assert_eq!(r.t_h, w.t_h);
        assert_eq!(r.vcd_1e6_per_ml, w.vcd_1e6_per_ml, "t = {}", r.t_h);
        assert_eq!(r.glucose_mm, w.glucose_mm);
        assert_eq!(r.glutamine_mm, w.glutamine_mm);
        assert_eq!(r.lactate_mm, w.lactate_mm);
        assert_eq!(r.ammonium_mm, w.ammonia_mm);
        assert_eq!(r.volume_l, 0.58 * 200.0);
    }
    let s = &rec.summary;
    assert_eq!(s.peak_vcd_e6_per_ml, want.iter().map(|w| w.vcd_1e6_per_ml).fold(0.0, f64::max));
    assert!(s.final_titer_g_per_l.is_nan() && s.final_viability_pct.is_nan(), "no product, no dead cells");
    assert_eq!(s.cell_line, "xing2010");
    assert!(rec.events.is_empty());
}

/// Column names whose value is `null` in the JSON of a truth row (serde_json writes NaN as null).
fn null_columns(row: &TruthRow) -> Vec<String> {
    let v = serde_json::to_value(row).expect("json");
    let mut cols: Vec<String> = v.as_object().expect("object").iter().filter(|(_, x)| x.is_null()).map(|(k, _)| k.clone()).collect();
    cols.sort();
    cols
}

#[test]
fn what_a_preset_does_not_model_is_nan_listed_and_null_never_invented() {
    for (stem, list) in [("preset_insilicho", INSILICHO_NOT_MODELLED.as_slice()), ("preset_xing2010", XING2010_NOT_MODELLED.as_slice())] {
        let rec = run_builtin(stem);
        let mut listed: Vec<String> = list.iter().map(|c| (*c).to_owned()).collect();
        listed.sort();
        for row in &rec.truth {
            assert_eq!(null_columns(row), listed, "{stem} at t = {}", row.t_h);
        }
        let mut in_summary = rec.summary.not_modelled.clone();
        in_summary.sort();
        assert_eq!(in_summary, listed, "{stem}");
        let summary = serde_json::to_value(&rec.summary).expect("json");
        for field in ["final_gi_pct", "final_cqa", "final_acidic_pct", "peak_osmolality_mosm_per_kg", "peak_pco2_mmhg", "peak_daily_pco2_mmhg", "kla_o2_per_h", "tip_speed_m_per_s", "mixing_time_95_s", "kolmogorov_um"] {
            assert!(summary[field].is_null(), "{stem}: summary {field} = {}", summary[field]);
        }
        for field in ["peak_vcd_e6_per_ml", "peak_vcd_day", "ivcd_e6_cell_day_per_ml", "peak_lactate_g_per_l", "peak_ammonium_mm", "harvest_volume_l"] {
            assert!(summary[field].as_f64().is_some_and(|x| x > 0.0), "{stem}: summary {field} = {}", summary[field]);
        }
        assert!(summary["flags"].as_array().is_some_and(Vec::is_empty), "{stem}: no vessel, no vessel flags");
        // Perfect readings: every online row and one offline row per day, empty where not modelled.
        assert_eq!(rec.online.len(), rec.truth.len());
        assert!(rec.online.iter().all(|o| o.do_pct.is_none() && o.pco2_mmhg.is_none() && o.volume_l.is_some()));
        assert_eq!(rec.offline.len() as f64, rec.summary.duration_d + 1.0);
        for (o, t) in rec.offline.iter().zip(rec.truth.iter().step_by(96)) {
            assert_eq!((o.t_h, o.vcd_1e6_per_ml), (t.t_h, Some(t.vcd_1e6_per_ml)));
            assert!(o.osmolality_mosm_per_kg.is_none() && o.gi_pct.is_none());
        }
    }
}

#[test]
fn platform_summaries_list_nothing_as_not_modelled() {
    let rec = run_builtin("prototype_baseline");
    assert!(rec.summary.not_modelled.is_empty());
    let json = serde_json::to_value(&rec.summary).expect("json");
    assert!(json.get("not_modelled").is_none(), "absent from summary.json of platform runs");
    assert!(json["kla_o2_per_h"].as_f64().is_some_and(|k| k > 0.0));
}

/// Every error message of `src`, rendered as `scenario check` prints them.
fn errors(src: &str) -> String {
    match parse_scenario(src, "t.toml") {
        Ok((_, w)) => panic!("accepted: {src}\nwarnings: {w:?}"),
        Err(d) => d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"),
    }
}

#[track_caller]
fn check_rejected(src: &str, expected: &[&str]) {
    let msg = errors(src);
    for e in expected {
        assert!(msg.contains(e), "expected `{e}` in\n{msg}");
    }
}

#[test]
fn validation_rejects_what_a_preset_cannot_do() {
    let ins = "feeds = []\n[model]\npreset = \"insilicho\"\n";
    let xing = "feeds = []\n[model]\npreset = \"xing2010\"\n";
    assert!(parse_scenario(ins, "t.toml").is_ok() && parse_scenario(xing, "t.toml").is_ok());
    check_rejected(
        "feeds = []\n[model]\npreset = \"insilicho\"\nfidelity = \"prototype\"\n",
        &["model.fidelity: fidelity = \"prototype\" applies to preset = \"platform\" only; with preset = \"insilicho\" use fidelity = \"default\""],
    );
    check_rejected(
        &format!("{xing}\n[[faults]]\nkind = \"culture_crash\"\nstart_d = 5.0\n"),
        &["faults: preset = \"xing2010\" does not model faults"],
    );
    check_rejected(&format!("{ins}[random_fault]\nprobability = 0.5\n"), &["random_fault.probability: preset = \"insilicho\" does not model faults"]);
    check_rejected(&format!("{ins}[variability]\nenabled = true\n"), &["variability.enabled: preset = \"insilicho\" has fixed parameters"]);
    check_rejected(&format!("{xing}[cell_line.overrides]\nmu_max_per_h = 0.05\n"), &["cell_line.overrides.mu_max_per_h: parameter overrides apply to preset = \"platform\" only"]);
    // The default feed plan (a bolus and a glucose dose) fits neither preset.
    check_rejected("[model]\npreset = \"xing2010\"\n", &["feeds[0]: preset = \"xing2010\" is a batch model without feeds (write `feeds = []` for a batch; without [[feeds]] the platform's default feed plan applies)"]);
    check_rejected("[model]\npreset = \"insilicho\"\n", &["feeds[0].kind: preset = \"insilicho\" takes a constant flow only; expected kind = \"continuous\"", "feeds[1]: preset = \"insilicho\" takes at most one feed"]);
    check_rejected(
        "[model]\npreset = \"insilicho\"\n[[feeds]]\nname = \"f\"\nkind = \"continuous\"\nstart_d = 1.0\nend_d = 10.0\nvolume_pct_of_initial = 5.0\n",
        &["feeds[0].start_d: preset = \"insilicho\" feeds at a constant rate from the start", "feeds[0].end_d: preset = \"insilicho\" feeds at a constant rate to the end"],
    );
    check_rejected(
        &format!("{ins}[[schedule]]\nat_d = 5.0\ntemp_c = 33.0\nph = 6.9\n[[schedule]]\nat_d = 6.0\ntemp_c = 32.0\n"),
        &["schedule[0].ph: preset = \"insilicho\" follows a temperature step only", "schedule[1]: preset = \"insilicho\" takes at most one schedule step"],
    );
    check_rejected(&format!("{xing}[[schedule]]\nat_d = 5.0\ntemp_c = 33.0\n"), &["schedule[0]: preset = \"xing2010\" has no temperature, pH or DO effects"]);
    // Positions point at the offending entry.
    check_rejected(&format!("{xing}[[schedule]]\nat_d = 5.0\ntemp_c = 33.0\n"), &["t.toml:4:1: schedule[0]"]);
}

#[test]
fn unknown_presets_list_the_choices_and_the_schema_has_them() {
    check_rejected("[model]\npreset = \"moeller\"\n", &["model.preset = \"moeller\" is not a valid choice; expected one of platform, xing2010, insilicho"]);
    let schema = json_schema().to_string();
    for choice in ["\"platform\"", "\"xing2010\"", "\"insilicho\""] {
        assert!(schema.contains(choice), "schema lacks {choice}");
    }
}

const GOLDEN_COLS: [&str; 10] =
    ["t_h", "vcd_1e6_per_ml", "viability_pct", "glucose_mm", "lactate_mm", "ammonium_mm", "titer_g_per_l", "gi_pct", "pco2_mmhg", "osmolality_mosm_per_kg"];

/// Daily truth rows in the format of the CLI golden test (`tests/cli.rs`): `{:.6e}` of each
/// value as written to truth.csv (ryu round-trips, and NaN is written `NaN`).
fn daily_rows(truth: &[TruthRow]) -> String {
    let mut out = GOLDEN_COLS.join(",") + "\n";
    for row in truth.iter().filter(|r| (r.t_h % 24.0).abs() < 1e-9) {
        let v = serde_json::to_value(row).expect("json");
        let vals: Vec<String> = GOLDEN_COLS.iter().map(|c| format!("{:.6e}", v[*c].as_f64().unwrap_or(f64::NAN))).collect();
        out += &(vals.join(",") + "\n");
    }
    out
}

/// Every shipped scenario (not only the presets) against `tests/golden/`, with the CLI's
/// `--profile none`: the same check as the CLI golden test, runnable without the CLI.
#[test]
fn shipped_scenarios_match_their_golden_daily_rows() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for b in builtin::all() {
        let (valid, _) = parse_scenario(b.source, b.file_name).expect("valid");
        let mut s = valid.into_inner();
        s.sensors.profile = SensorProfile::None;
        let (valid, _) = validate(s).expect("valid");
        let got = daily_rows(&sim::simulate(&valid).expect("runs").truth);
        let path = dir.join(format!("{}.csv", b.stem()));
        if update {
            std::fs::write(&path, &got).expect("write golden");
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("missing {}; run with UPDATE_GOLDEN=1", path.display()));
        assert_eq!(want, got, "{}", b.stem());
    }
}
