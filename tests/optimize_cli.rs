//! End-to-end tests of `mabtwin optimize` (issue 6): files, table, determinism, Pareto,
//! per-scale studies and exit code 2 with clear messages for bad input. Kept fast with
//! small `--max-evals`.

use std::path::Path;
use std::process::{Command, Output};

fn mabtwin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mabtwin")).args(args).output().expect("mabtwin runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

#[test]
fn optimize_writes_result_trace_plots_and_a_table7_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("opt");
    let o = mabtwin(&[
        "optimize", "baseline", "--vars", "temp_c,ph", "--constraint", "peak_pco2_mmhg<=150", "--starts", "2",
        "--max-evals", "24", "--landscape-points", "5", "--seed", "3", "--out", path(&out),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for needle in ["Temperature", "pH", "mAb Titer", "Volumetric Productivity", "Specific Productivity", "Paper", "peak_pco2_mmhg<=150"] {
        assert!(stdout.contains(needle), "stdout lacks {needle}:\n{stdout}");
    }
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("result.json")).expect("result")).expect("json");
    for key in ["objective_value", "baseline_value", "n_evaluations", "solver", "seed", "wall_time_s"] {
        assert!(!r[key].is_null(), "result.json lacks {key}");
    }
    assert_eq!(r["solver"], "nelder-mead");
    assert_eq!(r["seed"], 3);
    for v in ["temp_c", "ph"] {
        let x = r["best"][v].as_f64().expect("setpoint");
        let var = r["variables"].as_array().expect("vars").iter().find(|x| x["name"] == v).expect("var");
        assert!(x >= var["lower"].as_f64().expect("lo") && x <= var["upper"].as_f64().expect("hi"));
    }
    assert!(r["objective_value"].as_f64().expect("opt") >= r["baseline_value"].as_f64().expect("base"));
    assert_eq!(r["constraints"][0]["constraint"], "peak_pco2_mmhg<=150");
    assert!(r["constraints"][0]["value_at_optimum"].as_f64().is_some());
    let n = r["n_evaluations"].as_u64().expect("n") as usize;
    assert!(n <= 24, "{n}");
    let trace = std::fs::read_to_string(out.join("trace.csv")).expect("trace");
    assert_eq!(trace.lines().count(), n + 1);
    assert!(trace.starts_with("eval_idx,start_idx,temp_c,ph,objective,objective_mean,objective_p10,peak_pco2_mmhg,penalty,cost"));
    for f in ["convergence.png", "landscape_1d.png", "landscape_2d.png"] {
        assert!(out.join(f).metadata().map(|m| m.len() > 1000).unwrap_or(false), "missing {f}");
    }
}

#[test]
fn optimize_is_repeatable_with_a_seed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |name: &str| {
        let out = dir.path().join(name);
        let o = mabtwin(&[
            "optimize", "baseline", "--vars", "temp_c,do_pct", "--solver", "pso", "--starts", "2", "--max-evals", "40",
            "--seed", "9", "--no-plots", "--quiet", "--out", path(&out),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        std::fs::read_to_string(out.join("trace.csv")).expect("trace")
    };
    assert_eq!(run("a"), run("b"));
}

#[test]
fn optimize_pareto_and_scales_write_their_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("p");
    let o = mabtwin(&[
        "optimize", "baseline", "--vars", "temp_c", "--starts", "1", "--max-evals", "12", "--pareto", "--pareto-points",
        "3", "--landscape-points", "4", "--out", path(&out),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let front = std::fs::read_to_string(out.join("pareto.csv")).expect("pareto.csv");
    assert!(front.starts_with("final_titer_g_per_l,cqa_gi_pct,epsilon_cqa,temp_c"));
    assert!(front.lines().count() >= 2);
    assert!(out.join("pareto.png").is_file());

    let out = dir.path().join("s");
    let o = mabtwin(&[
        "optimize", "baseline", "--vars", "temp_c", "--starts", "1", "--max-evals", "10", "--volumes", "50,2000",
        "--no-plots", "--out", path(&out),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("result.json")).expect("result")).expect("json");
    assert_eq!(r["scales"].as_array().map(Vec::len), Some(2));
    assert!(out.join("scale_50L/trace.csv").is_file() && out.join("scale_2000L/result.json").is_file());
}

#[test]
fn bad_optimize_input_exits_2_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("x");
    let cases: [(&[&str], &str); 9] = [
        (&["--vars", "temperature"], "unknown decision variable `temperature`"),
        (&["--vars", "temp_c", "--bounds", "temp_c=36:36"], "empty range"),
        (&["--vars", "ph", "--bounds", "ph=7.2:6.9"], "lower bound is above the upper bound"),
        (&["--vars", "temp_c", "--bounds", "ph=6.9:7.2"], "not in --vars"),
        (
            &["--vars", "temp_c", "--constraint", "peak_lactate_g_per_l>=3", "--constraint", "peak_lactate_g_per_l<=2"],
            "contradict",
        ),
        (&["--vars", "temp_c", "--constraint", "peak_pco2_mmhg=120"], "use `<=` or `>=`"),
        (&["--vars", "temp_c", "--model", "surrogate:models/x"], "--model surrogate:models/x: models/x/model.json"),
        (&["--vars", "temp_c", "--model", "twin"], "unknown --model `twin`"),
        (&["--vars", "temp_shift_day"], "has no temperature shift"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["optimize", "baseline", "--max-evals", "10", "--out", path(&out)];
        args.extend_from_slice(extra);
        let o = mabtwin(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", text(&o));
        assert!(text(&o).contains(needle), "{extra:?}: expected `{needle}` in\n{}", text(&o));
    }
    assert!(!out.exists(), "no output for invalid input");
}
