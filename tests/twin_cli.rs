//! End-to-end tests of `mabtwin twin …` on a tiny generated dataset (a few epochs of the
//! seed's CNN-LSTM: tens of seconds on 2 cores).

use std::path::Path;
use std::process::{Command, Output};

fn mabtwin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mabtwin")).args(args).output().expect("mabtwin runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

fn ok(args: &[&str]) -> Output {
    let o = mabtwin(args);
    assert!(o.status.success(), "mabtwin {}: {}", args.join(" "), text(&o));
    o
}

#[test]
fn train_eval_predict_baselines_and_tune_on_a_tiny_dataset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, model, report) = (dir.path().join("data"), dir.path().join("model"), dir.path().join("report"));
    ok(&["dataset", "--n-batches", "12", "--seed", "4", "--out", s(&data), "--quiet", "--threads", "2"]);
    let o = ok(&["twin", "train", "--data", s(&data), "--out", s(&model), "--epochs", "2", "--seed", "3", "--quiet"]);
    let out = text(&o);
    assert!(out.contains("device: cpu") || out.contains("device: cuda"), "{out}");
    assert!(out.contains("held-out test batches"), "{out}");
    for f in ["model.safetensors", "model.json"] {
        assert!(model.join(f).is_file(), "missing {f}");
    }
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(model.join("model.json")).expect("read")).expect("json");
    assert_eq!(meta["features"].as_array().expect("features").len(), 9);
    assert!(meta["scaler"]["mean"].is_array() && meta["data_manifest_hash"].is_string());
    let test_ids = meta["split_batch_ids"]["test"].as_array().expect("test ids").clone();
    let train_ids = meta["split_batch_ids"]["train"].as_array().expect("train ids").clone();
    assert!(test_ids.iter().all(|t| !train_ids.contains(t)), "split by batch");
    // --split-seed fixes the split apart from the weight seed: a second network trained with
    // another --seed on --split-seed 3 has the same batches in every split, other weights.
    let model2 = dir.path().join("model2");
    ok(&["twin", "train", "--data", s(&data), "--out", s(&model2), "--epochs", "2", "--seed", "4", "--split-seed", "3", "--persistence", "--ema-decay", "0.99", "--weight-decay", "0.01", "--stop-on", "titer", "--input-noise", "0.05", "--titer-weight", "0.8", "--log-titer", "--conv-skip", "--quiet"]);
    let meta2: serde_json::Value = serde_json::from_slice(&std::fs::read(model2.join("model.json")).expect("read")).expect("json");
    assert_eq!(meta2["split_batch_ids"], meta["split_batch_ids"]);
    assert_ne!(std::fs::read(model2.join("model.safetensors")).expect("w2"), std::fs::read(model.join("model.safetensors")).expect("w1"));
    assert_eq!(meta2["model"]["persistence"], true, "--persistence is saved in the sidecar");
    assert_eq!(meta["model"]["persistence"], false);
    assert_eq!((meta2["model"]["log_titer"].as_bool(), meta["model"]["log_titer"].as_bool()), (Some(true), Some(false)), "--log-titer is saved in the sidecar");
    assert_eq!((meta2["model"]["conv_skip"].as_bool(), meta["model"]["conv_skip"].as_bool()), (Some(true), Some(false)), "--conv-skip is saved in the sidecar");
    let o = mabtwin(&["twin", "train", "--data", s(&data), "--out", s(&dir.path().join("nope")), "--epochs", "1", "--arch", "cnn", "--conv-skip", "--quiet"]);
    assert!(!o.status.success() && text(&o).contains("--conv-skip is a CNN-LSTM option"), "{}", text(&o));
    // The seed's Table 3 sizes: saved in the sidecar (the seed's Table 2 by default); a size
    // the architecture has no use for, or an impossible one, is refused by its flag before
    // any data are read.
    let small = dir.path().join("small");
    // Without --quiet and without a terminal (stderr is a pipe here) each epoch is a log line.
    let o = ok(&["twin", "train", "--data", s(&data), "--out", s(&small), "--epochs", "2", "--patience", "5", "--filters", "8", "--kernels", "3,5", "--lstm1", "16", "--lstm2", "8", "--dense", "4", "--dropout", "0.5"]);
    let err = String::from_utf8_lossy(&o.stderr);
    for e in ["cnn_lstm epoch   1/2: train ", "cnn_lstm epoch   2/2: train "] {
        assert!(err.contains(e), "no per-epoch line `{e}` in: {err}");
    }
    let ms: serde_json::Value = serde_json::from_slice(&std::fs::read(small.join("model.json")).expect("read")).expect("json");
    let sizes = |m: &serde_json::Value| ["filters", "kernels", "lstm1", "lstm2", "dense", "dropout"].map(|k| m["model"][k].to_string()).join(" ");
    assert_eq!(sizes(&ms), "8 [3,5] 16 8 4 0.5");
    assert_eq!(sizes(&meta), "64 [3,5,7] 128 64 32 0.3");
    for (bad, flag) in [(["--arch", "lstm", "--filters", "8"], "--filters"), (["--arch", "cnn", "--lstm1", "8"], "--lstm1"), (["--arch", "cnn_lstm", "--dropout", "1.0"], "--dropout"), (["--arch", "cnn", "--kernels", "4"], "--kernels"), (["--arch", "ffnn", "--dense", "0"], "--dense")] {
        let o = mabtwin(&["twin", "train", "--data", s(&data), "--out", s(&dir.path().join("nope")), "--epochs", "1", bad[0], bad[1], bad[2], bad[3], "--quiet"]);
        assert!(!o.status.success() && text(&o).contains(flag), "{bad:?}: {}", text(&o));
        assert!(!dir.path().join("nope").exists());
    }
    // Warm start: a CNN-LSTM with the conv skip starts from a CNN trained on the same data
    // (recorded in model.json); the wrong kind of donor or network is refused before any
    // data are read.
    let cnn = dir.path().join("cnn");
    ok(&["twin", "train", "--data", s(&data), "--out", s(&cnn), "--epochs", "1", "--arch", "cnn", "--filters", "8", "--dense", "4", "--quiet"]);
    let warm = dir.path().join("warm");
    let o = ok(&["twin", "train", "--data", s(&data), "--out", s(&warm), "--epochs", "1", "--conv-skip", "--init-from", s(&cnn), "--filters", "8", "--dense", "4", "--lstm1", "8", "--lstm2", "8", "--quiet"]);
    assert!(text(&o).contains("warm start from"), "{}", text(&o));
    let mw: serde_json::Value = serde_json::from_slice(&std::fs::read(warm.join("model.json")).expect("read")).expect("json");
    assert_eq!(mw["init_from"]["model_dir"].as_str(), Some(s(&cnn)), "{}", mw["init_from"]);
    assert!(mw["init_from"]["copied"].as_array().expect("copied").iter().any(|n| n == "fc1.weight"));
    let (absent, nope) = (dir.path().join("absent"), dir.path().join("nope"));
    for (extra, says) in [(vec!["--init-from", s(&cnn)], "add --conv-skip"), (vec!["--conv-skip", "--init-from", s(&small)], "the warm start takes a `cnn`"), (vec!["--conv-skip", "--init-from", s(&cnn), "--dense", "8"], "sizes or options differ")] {
        let mut a = vec!["twin", "train", "--data", s(&absent), "--out", s(&nope), "--epochs", "1", "--quiet"];
        if says == "sizes or options differ" {
            a[3] = s(&data);
            a.extend(["--filters", "8"]);
        }
        a.extend(extra.iter().copied());
        let o = mabtwin(&a);
        assert!(!o.status.success() && text(&o).contains(says), "{extra:?}: {}", text(&o));
        assert!(!dir.path().join("nope").exists());
    }
    // The regularisation flags are saved with the training record; off by default.
    let (c2, c1) = (&meta2["train"]["config"], &meta["train"]["config"]);
    assert_eq!((c2["ema_decay"].as_f64(), c2["weight_decay"].as_f64(), c2["stop_on"].as_str(), c2["input_noise"].as_f64(), c2["titer_weight"].as_f64()), (Some(0.99), Some(0.01), Some("titer"), Some(0.05), Some(0.8)));
    assert_eq!((c1["ema_decay"].as_f64(), c1["weight_decay"].as_f64(), c1["stop_on"].as_str(), c1["titer_weight"].as_f64()), (Some(0.0), Some(0.0), Some("joint"), Some(0.5)));
    let watched: Vec<f64> = meta2["train"]["history"].as_array().expect("history").iter().map(|h| h["val_titer_loss"].as_f64().expect("titer loss")).collect();
    assert_eq!(meta2["train"]["best_val_loss"].as_f64(), Some(watched.iter().cloned().fold(f64::INFINITY, f64::min)));
    for bad in [["--stop-on", "gi"], ["--ema-decay", "1.5"], ["--weight-decay", "1.0"], ["--input-noise", "9"], ["--titer-weight", "1.5"]] {
        let o = mabtwin(&["twin", "train", "--data", s(&data), "--out", s(&dir.path().join("nope")), "--epochs", "1", bad[0], bad[1], "--quiet"]);
        assert!(!o.status.success() && text(&o).contains(bad[0].trim_start_matches("--").split('-').next().expect("name")), "{bad:?}: {}", text(&o));
        assert!(!dir.path().join("nope").exists());
    }
    // The persistence skip needs the titer input.
    let o = mabtwin(&["twin", "train", "--data", s(&data), "--out", s(&dir.path().join("nope")), "--epochs", "1", "--persistence", "--features", "temp_c,ph,elapsed_d", "--quiet"]);
    assert!(!o.status.success() && text(&o).contains("titer_g_per_l"), "{}", text(&o));
    // 95 % intervals calibrated on the validation batches: two positive half-width scales.
    let scale = meta["interval_scale"].as_array().expect("interval_scale in model.json");
    assert!(scale.len() == 2 && scale.iter().all(|v| v.as_f64().is_some_and(|x| x > 0.0 && x.is_finite())), "{scale:?}");

    ok(&["twin", "eval", "--model", s(&model), "--data", s(&data), "--out", s(&report), "--mc-passes", "5"]);
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(report.join("metrics.json")).expect("metrics")).expect("json");
    let cl = &m["models"]["cnn_lstm"];
    for k in ["rmse_g_per_l", "mae_g_per_l", "r2", "dts", "ci95_coverage"] {
        assert!(cl[k].is_number(), "metrics.json lacks {k}: {cl}");
    }
    for b in ["mlr", "random_forest", "svr"] {
        assert!(m["models"][b]["rmse_g_per_l"].is_number(), "{b}");
    }
    assert_eq!(m["held_out"], "model test split");
    // The default caps are reported as the windows each baseline actually fitted on.
    let n_train = m["baseline_caps"]["n_train_windows"].as_u64().expect("baseline_caps.n_train_windows");
    assert_eq!(m["baseline_caps"]["svr_max_train_windows"].as_u64(), Some(n_train.min(2000)), "{}", m["baseline_caps"]);
    assert!(m["ci95_coverage_raw_mc"]["titer"].is_number() && m["interval_scale"].is_array(), "{m}");
    assert_eq!(m["n_test_batches"].as_u64(), Some(test_ids.len() as u64));
    // The paired batch bootstrap: each network output against each baseline, with a verdict
    // that follows from its interval, and the same section in table.md.
    let paired = m["paired_bootstrap_titer"].as_array().expect("paired_bootstrap_titer");
    assert_eq!(paired.len(), 2 * 3, "{paired:?}");
    for r in paired {
        let (lo, hi) = (r["lo95_g_per_l"].as_f64().expect("lo"), r["hi95_g_per_l"].as_f64().expect("hi"));
        let want = if hi < 0.0 { "better" } else if lo > 0.0 { "worse" } else { "not resolved" };
        assert!(lo <= hi && r["verdict"] == want && r["n_batches"].as_u64() == Some(test_ids.len() as u64), "{r}");
    }
    let table = std::fs::read_to_string(report.join("table.md")).expect("table.md");
    assert!(table.contains("Is the network better than each baseline?"), "{table}");
    // `twin compare` on the report's own columns gives the same interval as eval's table
    // (same draws, same seed), and JSON with --out.
    let cmp = dir.path().join("cmp.json");
    ok(&["twin", "compare", "--a", s(&report), "--b", s(&report), "--column-b", "random_forest_titer_g_per_l", "--out", s(&cmp)]);
    let c: serde_json::Value = serde_json::from_slice(&std::fs::read(&cmp).expect("cmp.json")).expect("json");
    let rf = paired.iter().find(|r| r["network"] == "cnn_lstm" && r["baseline"] == "random_forest").expect("cnn_lstm vs forest");
    // (predictions.csv holds the values as written, so agreement is to rounding, not bits)
    for k in ["rmse_diff_g_per_l", "lo95_g_per_l", "hi95_g_per_l"] {
        let (x, y) = (c[k].as_f64().expect("number"), rf[k].as_f64().expect("number"));
        assert!((x - y).abs() < 1e-6, "{k}: {c} vs {rf}");
    }
    assert_eq!(c["verdict_a"], rf["verdict"]);
    let o = ok(&["twin", "compare", "--a", s(&report), "--b", s(&report)]);
    assert!(text(&o).contains("A − B: +0.0000 g/L") && text(&o).contains("not resolved"), "{}", text(&o));
    // Unknown column, and reports of different windows: clear errors.
    let o = mabtwin(&["twin", "compare", "--a", s(&report), "--b", s(&report), "--column-a", "nope"]);
    assert!(!o.status.success() && text(&o).contains("no column `nope`") && text(&o).contains("random_forest_titer_g_per_l"), "{}", text(&o));
    let short = dir.path().join("short.csv");
    let full = std::fs::read_to_string(report.join("predictions.csv")).expect("predictions.csv");
    std::fs::write(&short, full.lines().take(3).collect::<Vec<_>>().join("\n")).expect("write");
    let o = mabtwin(&["twin", "compare", "--a", s(&report), "--b", s(&report), "--draws", "100000000"]);
    assert!(!o.status.success() && text(&o).contains("--draws 100000000 is out of range: 1 to 100000"), "{}", text(&o));
    let o = mabtwin(&["twin", "compare", "--a", s(&report), "--b", s(&short)]);
    assert!(!o.status.success() && text(&o).contains("score different windows"), "{}", text(&o));
    for f in ["table.md", "trajectories.png", "parity.png", "attribution_heatmap.png"] {
        assert!(report.join(f).is_file(), "missing {f}");
    }
    let table = std::fs::read_to_string(report.join("table.md")).expect("table");
    assert!(table.contains("| Proposed CNN-LSTM |") && table.contains("Multiple Linear Regression"), "{table}");
    // Error by culture day and by true titer level, with the signed bias, for every model.
    assert!(table.contains("By culture day of the target") && table.contains("by the true titer") && table.contains("| random_forest |"), "{table}");
    for (name, mm) in m["models"].as_object().expect("models") {
        let levels = mm["titer_by_level"].as_object().expect("titer_by_level");
        assert!(!levels.is_empty() && mm["titer_by_day"].as_object().is_some_and(|d| !d.is_empty()), "{name}");
        let n: u64 = levels.values().map(|v| v["n"].as_u64().expect("n")).sum();
        assert_eq!(n, m["n_test_windows"].as_u64().expect("windows"), "{name}: every window in one level bin");
        assert!(mm["bias_g_per_l"].is_number(), "{name}");
    }
    // predictions.csv: one row per scored window, and its columns re-score to metrics.json.
    let pcsv = std::fs::read_to_string(report.join("predictions.csv")).expect("predictions.csv");
    let mut plines = pcsv.lines();
    let head: Vec<&str> = plines.next().expect("header").split(',').collect();
    assert_eq!(&head[..6], &["batch_id", "t_end_h", "target_t_h", "phase", "titer_true_g_per_l", "titer_pred_g_per_l"]);
    assert!(head.contains(&"random_forest_titer_g_per_l") && head.contains(&"titer_hi95_g_per_l"), "{head:?}");
    let prow: Vec<Vec<&str>> = plines.map(|l| l.split(',').collect()).collect();
    assert_eq!(prow.len() as u64, m["n_test_windows"].as_u64().expect("n windows"));
    assert!(prow.iter().all(|r| test_ids.iter().any(|t| t.as_u64().map(|t| t.to_string()) == Some(r[0].to_owned()))), "a window of a non-test batch");
    let col = |name: &str| head.iter().position(|h| *h == name).expect("column");
    let rmse_of = |c: usize| {
        let (mut se, mut n) = (0.0, 0.0);
        for r in &prow {
            let (y, p): (f64, f64) = (r[col("titer_true_g_per_l")].parse().expect("y"), r[c].parse().expect("p"));
            if y.is_finite() {
                se += (y - p) * (y - p);
                n += 1.0;
            }
        }
        (se / n).sqrt()
    };
    // The network is also scored by its MC-dropout mean (its own row, column and metrics).
    assert!(table.contains("MC-dropout mean of 5 passes") && table.contains("| cnn_lstm_mc_mean |"), "{table}");
    for (key, c) in [("cnn_lstm", "titer_pred_g_per_l"), ("cnn_lstm_mc_mean", "titer_mc_mean_g_per_l"), ("random_forest", "random_forest_titer_g_per_l"), ("mlr", "mlr_titer_g_per_l")] {
        let want = m["models"][key]["rmse_g_per_l"].as_f64().expect("rmse");
        let got = rmse_of(col(c));
        assert!((got - want).abs() <= 1e-4 * want.max(1e-3), "{key}: RMSE from predictions.csv {got} vs metrics.json {want}");
    }

    // Predict one batch given as `mabtwin simulate` output.
    let sim_dir = dir.path().join("sim");
    ok(&["simulate", "baseline", "--out", s(&sim_dir)]);
    let o = ok(&["twin", "predict", "--model", s(&model), "--batch", s(&sim_dir.join("online.csv")), "--mc-passes", "5", "--every-h", "24"]);
    let csv = String::from_utf8_lossy(&o.stdout).to_string();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("t_h,target_t_h,titer_g_per_l,titer_lo95_g_per_l,titer_hi95_g_per_l,gi_pct,gi_lo95_pct,gi_hi95_pct"));
    let rows: Vec<Vec<f64>> = lines.map(|l| l.split(',').map(|v| v.parse().expect("number")).collect()).collect();
    assert!(rows.len() >= 10, "{csv}");
    assert!(rows.iter().all(|r| r[3] <= r[4] && r[2].is_finite()), "{csv}");
    // The default point is the MC-dropout mean, the centre of the band; --point eval gives the
    // eval-mode pass instead (same times, other values).
    assert!(rows.iter().all(|r| r[3] <= r[2] && r[2] <= r[4]), "{csv}");
    let o = ok(&["twin", "predict", "--model", s(&model), "--batch", s(&sim_dir.join("online.csv")), "--mc-passes", "5", "--every-h", "24", "--point", "eval"]);
    let rows_eval: Vec<Vec<f64>> = String::from_utf8_lossy(&o.stdout).lines().skip(1).map(|l| l.split(',').map(|v| v.parse().expect("number")).collect()).collect();
    assert_eq!(rows_eval.iter().map(|r| r[0]).collect::<Vec<_>>(), rows.iter().map(|r| r[0]).collect::<Vec<_>>());
    assert_ne!(rows_eval.iter().map(|r| r[2]).collect::<Vec<_>>(), rows.iter().map(|r| r[2]).collect::<Vec<_>>());

    // A model for other features is refused with a clear message.
    let mut bad = meta.clone();
    bad["features"][0] = serde_json::json!("agitation_rpm");
    let bad_dir = dir.path().join("bad");
    std::fs::create_dir_all(&bad_dir).expect("mkdir");
    std::fs::copy(model.join("model.safetensors"), bad_dir.join("model.safetensors")).expect("copy");
    std::fs::write(bad_dir.join("model.json"), bad.to_string()).expect("write");
    let o = mabtwin(&["twin", "predict", "--model", s(&bad_dir), "--batch", s(&sim_dir.join("online.csv"))]);
    assert!(!o.status.success());
    assert!(text(&o).contains("unknown feature `agitation_rpm`"), "{}", text(&o));

    let cmp = dir.path().join("cmp");
    ok(&["twin", "baselines", "--data", s(&data), "--out", s(&cmp), "--epochs", "1", "--quiet", "--rf-max-train", "10", "--svr-max-train", "0"]);
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(cmp.join("metrics.json")).expect("metrics")).expect("json");
    let caps = &m["caps"];
    let n_train = caps["n_train_windows"].as_u64().expect("caps.n_train_windows");
    assert!(n_train > 10, "{caps}");
    assert_eq!(caps["random_forest_max_train_windows"].as_u64(), Some(10), "{caps}");
    assert_eq!(caps["svr_max_train_windows"].as_u64(), Some(n_train), "--svr-max-train 0 = every window: {caps}");
    for k in ["mlr", "random_forest", "svr", "ffnn", "lstm", "cnn", "cnn_lstm"] {
        assert!(m["models"][k]["r2"].is_number(), "{k}");
    }

    let tune = dir.path().join("tune");
    ok(&["twin", "tune", "--data", s(&data), "--budget", "3", "--epochs", "1", "--out", s(&tune), "--quiet"]);
    let best: serde_json::Value = serde_json::from_slice(&std::fs::read(tune.join("best.json")).expect("best")).expect("json");
    assert!(best["best"]["val_loss"].is_number(), "{best}");
    let trials = std::fs::read_to_string(tune.join("trials.csv")).expect("trials");
    assert_eq!(trials.lines().count(), 4, "{trials}");
}

/// `optimize --model surrogate:DIR` runs over the trained twin (through `mabtwin-ml`) and
/// re-checks the surrogate's optimum with the simulator, reporting both values (the model
/// has the `--highway` layer, so that option is exercised end to end too).
#[test]
fn optimize_over_the_surrogate_rechecks_with_the_simulator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, model, opt) = (dir.path().join("data"), dir.path().join("model"), dir.path().join("opt"));
    ok(&["dataset", "--n-batches", "12", "--seed", "5", "--out", s(&data), "--quiet", "--threads", "2"]);
    ok(&["twin", "train", "--data", s(&data), "--out", s(&model), "--epochs", "1", "--seed", "2", "--horizon", "harvest", "--highway", "--quiet"]);
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(model.join("model.json")).expect("read")).expect("json");
    assert_eq!(meta["model"]["highway"], serde_json::json!(true), "--highway is recorded in the sidecar");
    let surrogate = format!("surrogate:{}", s(&model));
    let args = ["optimize", "baseline", "--vars", "temp_c", "--model", &surrogate, "--starts", "1", "--max-evals", "8", "--no-plots", "--quiet", "--out", s(&opt)];
    let o = ok(&args);
    let out = text(&o);
    assert!(out.contains("Simulator re-check"), "{out}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(opt.join("result.json")).expect("result")).expect("json");
    assert!(r["model"].as_str().expect("model").starts_with("twin:"), "{r}");
    let rc = &r["simulator_recheck"];
    let (sur, sim) = (rc["surrogate_objective_value"].as_f64().expect("surrogate value"), rc["simulator_objective_value"].as_f64().expect("sim value"));
    assert!(sur.is_finite() && sim.is_finite(), "{rc}");
    assert_eq!(sur, r["objective_value"].as_f64().expect("objective"), "the optimum's value is the surrogate's");
    assert!((sim - rc["simulator_prediction"]["final_titer_g_per_l"].as_f64().expect("sim titer")).abs() < 1e-12);
    let t = r["best"]["temp_c"].as_f64().expect("best temp");
    assert!((32.0..=38.0).contains(&t), "within the default bounds: {t}");

    // The twin predicts titer and CQA only: a constraint on pCO2 is refused, not ignored.
    let mut bad = args.to_vec();
    bad.extend(["--constraint", "peak_pco2_mmhg<=120"]);
    let o = mabtwin(&bad);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // A folder without a model is a clear input error.
    let missing = format!("surrogate:{}", s(&dir.path().join("nope")));
    let o = mabtwin(&["optimize", "baseline", "--vars", "temp_c", "--model", &missing, "--quiet", "--out", s(&opt)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("surrogate:"), "{}", text(&o));
}

/// `mabtwin demo` (what `make demo` runs) goes through every step, the twin included, and
/// writes the files it announces.
#[test]
fn demo_runs_every_step_including_the_twin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("demo");
    let o = ok(&["demo", "--out", s(&out), "--twin-batches", "12", "--twin-epochs", "1"]);
    let stdout = text(&o);
    for needle in ["seed Table 7 baseline", "Scale-up", "Setpoint optimisation", "Data-driven twin", "held-out test batches", "Image QC", "HyperScore"] {
        assert!(stdout.contains(needle), "missing `{needle}` in:\n{stdout}");
    }
    for f in [
        "baseline/summary.json",
        "temp_shift_33c/summary.json",
        "scaleup.csv",
        "optimize/result.json",
        "twin_data/manifest.json",
        "twin_model/model.json",
        "twin_eval/metrics.json",
        "twin_eval/table.md",
        "qc/report.csv",
        "qc/hyperscore.png",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
}
