//! End-to-end tests through the `mabtwin` binary: simulate, scenario check on every
//! malformed fixture, dataset, scaleup, and golden daily trajectories of the shipped
//! scenarios (regenerate with `UPDATE_GOLDEN=1 cargo test --test cli golden`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mabtwin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mabtwin")).args(args).output().expect("mabtwin runs")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn simulate_baseline_writes_every_output_with_the_reference_titer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("d");
    let scn = root().join("scenarios/baseline.toml");
    let o = mabtwin(&["simulate", scn.to_str().expect("utf8"), "--out", out.to_str().expect("utf8")]);
    assert!(o.status.success(), "{}", text(&o));
    for f in ["online.csv", "offline.csv", "truth.csv", "events.csv", "summary.json", "scenario.toml", "trajectories.png"] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).expect("summary")).expect("json");
    let titer = summary["final_titer_g_per_l"].as_f64().expect("titer");
    assert!((3.0..=3.4).contains(&titer), "{titer}");
    for key in [
        "peak_vcd_e6_per_ml",
        "mean_productivity_g_per_l_per_day",
        "specific_productivity_pg_per_cell_per_day",
        "final_viability_pct",
        "peak_lactate_g_per_l",
        "peak_pco2_mmhg",
        "final_cqa",
    ] {
        assert!(summary[key].as_f64().is_some(), "summary lacks {key}");
    }
    let online = std::fs::read_to_string(out.join("online.csv")).expect("online");
    assert!(online.starts_with("t_h,temp_c,ph,do_pct,pco2_mmhg"));
    assert_eq!(online.lines().count(), 1 + 14 * 96 + 1);
    let offline = std::fs::read_to_string(out.join("offline.csv")).expect("offline");
    assert!(offline.lines().next().expect("header").contains("titer_g_per_l"));
    // The resolved scenario written next to the outputs is itself a valid scenario.
    let o = mabtwin(&["scenario", "check", out.join("scenario.toml").to_str().expect("utf8")]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn simulate_twice_gives_identical_files_and_a_new_seed_changes_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        let o = mabtwin(&["simulate", "baseline", "--no-plots", "--seed", seed, "--out", out.to_str().expect("utf8")]);
        assert!(o.status.success(), "{}", text(&o));
        out
    };
    let (a, b, c) = (run("a", "5"), run("b", "5"), run("c", "6"));
    for f in ["online.csv", "offline.csv", "truth.csv", "events.csv", "summary.json"] {
        let fa = std::fs::read(a.join(f)).expect("a");
        assert_eq!(fa, std::fs::read(b.join(f)).expect("b"), "{f} differs between identical runs");
    }
    assert_ne!(std::fs::read(a.join("online.csv")).expect("a"), std::fs::read(c.join("online.csv")).expect("c"));
}

fn fixtures() -> Vec<(PathBuf, Vec<String>)> {
    let dir = root().join("tests/bad_scenarios");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixture folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let expected = std::fs::read_to_string(p.with_extension("expected")).expect("expected file");
            (p, expected.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn scenario_check_rejects_every_malformed_fixture_with_exit_2_and_names_the_field() {
    let fx = fixtures();
    assert!(fx.len() >= 30, "only {} fixtures", fx.len());
    for (path, expected) in fx {
        let o = mabtwin(&["scenario", "check", path.to_str().expect("utf8")]);
        assert_eq!(o.status.code(), Some(2), "{}: {}", path.display(), text(&o));
        let msg = text(&o);
        for line in expected {
            assert!(msg.contains(&line), "{}: expected `{line}` in\n{msg}", path.display());
        }
        // and `simulate` refuses it the same way, writing nothing
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("x");
        let o = mabtwin(&["simulate", path.to_str().expect("utf8"), "--out", out.to_str().expect("utf8")]);
        assert_eq!(o.status.code(), Some(2), "{}", path.display());
        assert!(!out.exists());
    }
}

#[test]
fn scenario_list_and_check_accept_every_shipped_scenario() {
    let o = mabtwin(&["scenario", "list"]);
    assert!(o.status.success());
    let list = String::from_utf8_lossy(&o.stdout).to_string();
    for entry in std::fs::read_dir(root().join("scenarios")).expect("scenarios") {
        let p = entry.expect("entry").path();
        let stem = p.file_stem().and_then(|s| s.to_str()).expect("stem").to_owned();
        assert!(list.contains(&stem), "list lacks {stem}");
        let o = mabtwin(&["scenario", "check", p.to_str().expect("utf8")]);
        assert!(o.status.success(), "{}: {}", p.display(), text(&o));
    }
}

#[test]
fn unreadable_and_missing_scenarios_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("garbage.toml");
    std::fs::write(&bin, [0xff, 0xfe, 0x00, 0x81]).expect("write");
    let o = mabtwin(&["scenario", "check", bin.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("not UTF-8"), "{}", text(&o));
    let o = mabtwin(&["simulate", "no_such_scenario", "--out", dir.path().join("y").to_str().expect("utf8")]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no such file or built-in scenario"), "{}", text(&o));
}

#[test]
fn dataset_small_is_complete_and_deterministic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |name: &str| {
        let out = dir.path().join(name);
        let o = mabtwin(&["dataset", "--n-batches", "6", "--seed", "3", "--quiet", "--out", out.to_str().expect("utf8")]);
        assert!(o.status.success(), "{}", text(&o));
        out
    };
    let (a, b) = (run("a"), run("b"));
    // thread count never changes the data
    let c = dir.path().join("c");
    let o = mabtwin(&["dataset", "--n-batches", "6", "--seed", "3", "--threads", "1", "--quiet", "--out", c.to_str().expect("utf8")]);
    assert!(o.status.success(), "{}", text(&o));
    for f in ["online.csv", "offline.csv", "truth.csv", "manifest.json"] {
        assert_eq!(std::fs::read(a.join(f)).expect("a"), std::fs::read(c.join(f)).expect("c"), "{f} depends on the thread count");
    }
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(a.join("manifest.json")).expect("manifest")).expect("json");
    assert_eq!(manifest["n_batches"], 6);
    assert_eq!(manifest["batches"].as_array().expect("batches").len(), 6);
    assert!(manifest["ranges"]["temp_c"].is_array());
    let online = std::fs::read_to_string(a.join("online.csv")).expect("online");
    let ids: std::collections::BTreeSet<&str> = online.lines().skip(1).filter_map(|l| l.split(',').next()).collect();
    assert_eq!(ids.len(), 6);
    for f in ["online.csv", "offline.csv", "truth.csv", "manifest.json"] {
        assert_eq!(std::fs::read(a.join(f)).expect("a"), std::fs::read(b.join(f)).expect("b"), "{f}");
    }
}

#[test]
fn scaleup_prints_the_per_scale_table_and_writes_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("s");
    let o = mabtwin(&["scaleup", "baseline", "--volumes", "50,200,500,2000", "--rule", "constant-tip-speed", "--out", out.to_str().expect("utf8")]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    for col in ["volume_L", "kLa_1/h", "vvm", "P/V_W/m3", "tip_m/s", "t95_s", "pCO2_mmHg", "titer_g/L", "viab_%"] {
        assert!(t.contains(col), "table lacks {col}: {t}");
    }
    let csv = std::fs::read_to_string(out.join("scaleup.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 5);
    assert!(out.join("scaleup.png").is_file());
    let o = mabtwin(&["scaleup", "baseline", "--volumes", "0", "--out", out.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(2));
}

/// Daily truth of every shipped scenario (perfect sensors) against `tests/golden/*.csv`.
#[test]
fn golden_daily_trajectories_of_shipped_scenarios() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let dir = tempfile::tempdir().expect("tempdir");
    let golden_dir = root().join("tests/golden");
    let mut names: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios")).expect("scenarios").filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    for p in names {
        let stem = p.file_stem().and_then(|s| s.to_str()).expect("stem").to_owned();
        let out = dir.path().join(&stem);
        let o = mabtwin(&["simulate", p.to_str().expect("utf8"), "--profile", "none", "--no-plots", "--out", out.to_str().expect("utf8")]);
        assert!(o.status.success(), "{}", text(&o));
        let daily = daily_rows(&out.join("truth.csv"));
        let golden = golden_dir.join(format!("{stem}.csv"));
        if update {
            std::fs::create_dir_all(&golden_dir).expect("golden dir");
            std::fs::write(&golden, daily).expect("write golden");
            continue;
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_else(|_| panic!("missing {}; run with UPDATE_GOLDEN=1", golden.display()));
        compare(&stem, &want, &daily);
    }
}

const GOLDEN_COLS: [&str; 10] = ["t_h", "vcd_1e6_per_ml", "viability_pct", "glucose_mm", "lactate_mm", "ammonium_mm", "titer_g_per_l", "gi_pct", "pco2_mmhg", "osmolality_mosm_per_kg"];

fn daily_rows(truth: &Path) -> String {
    let mut r = csv::Reader::from_path(truth).expect("truth csv");
    let headers = r.headers().expect("headers").clone();
    let idx: Vec<usize> = GOLDEN_COLS.iter().map(|c| headers.iter().position(|h| h == *c).expect("column")).collect();
    let mut out = GOLDEN_COLS.join(",") + "\n";
    for rec in r.records() {
        let rec = rec.expect("row");
        let t: f64 = rec[idx[0]].parse().expect("t");
        if (t % 24.0).abs() < 1e-9 {
            let vals: Vec<String> = idx.iter().map(|&i| format!("{:.6e}", rec[i].parse::<f64>().expect("num"))).collect();
            out += &(vals.join(",") + "\n");
        }
    }
    out
}

fn compare(name: &str, want: &str, got: &str) {
    let parse = |s: &str| -> Vec<Vec<f64>> { s.lines().skip(1).map(|l| l.split(',').map(|x| x.parse().expect("num")).collect()).collect() };
    let (w, g) = (parse(want), parse(got));
    assert_eq!(w.len(), g.len(), "{name}: row count");
    for (rw, rg) in w.iter().zip(&g) {
        for ((a, b), col) in rw.iter().zip(rg).zip(GOLDEN_COLS) {
            // NaN: a column the model does not compute (reference presets); it must stay so.
            let same = (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-4 * a.abs().max(1e-2);
            assert!(same, "{name}: {col} at t = {} h: golden {a}, now {b}", rw[0]);
        }
    }
}

#[test]
fn scenario_schema_is_json_schema_of_every_section() {
    let o = mabtwin(&["scenario", "schema"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    for key in ["vessel", "setpoints", "feeds", "schedule", "faults", "sensors"] {
        assert!(v["properties"][key].is_object(), "schema lacks {key}");
    }
    assert_eq!(v["additionalProperties"], serde_json::Value::Bool(false));
}

#[test]
fn help_teaches_with_examples() {
    let o = mabtwin(&["--help"]);
    let t = text(&o);
    for word in ["simulate", "scenario", "dataset", "scaleup", "Examples:"] {
        assert!(t.contains(word), "--help lacks {word}");
    }
}
