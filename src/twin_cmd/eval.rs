//! `mabtwin twin eval` (held-out scores, tables, plots, predictions.csv) and `mabtwin twin predict`.

use super::*;

pub(super) fn eval(a: EvalArgs) -> Result<ExitCode> {
    if a.bootstrap_draws > twin::metrics::MAX_BOOTSTRAP_DRAWS {
        bail!("--bootstrap-draws {} is out of range: 0 (skip) to {}", a.bootstrap_draws, twin::metrics::MAX_BOOTSTRAP_DRAWS);
    }
    let device = setup(a.threads);
    let model = Model::load(&a.model, device).with_context(|| format!("loading the model from {}", a.model.display()))?;
    let ds = load(&a.data)?;
    let grids = grid_all(&ds, &model.meta.features)?;
    let same_data = ds.manifest_hash == model.meta.data_manifest_hash;
    let (test_idx, train_idx) = match (&model.meta.split_batch_ids, same_data) {
        (Some(s), true) => (indices(&ds, &s.test), indices(&ds, &s.train)),
        _ => ((0..ds.batches.len()).collect(), Vec::new()),
    };
    if test_idx.is_empty() {
        bail!("no held-out batch to evaluate");
    }
    eprintln!(
        "{}: scoring {} batches ({})",
        a.data.display(),
        test_idx.len(),
        if same_data { "the model's held-out test split" } else { "a dataset the model never saw: every batch" }
    );
    let test = windows_of(&grids, &test_idx, &model.meta.scaler, &model.meta.window)?;
    let t = Instant::now();
    let pred = model.predict(&test)?;
    let t_point = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mc_raw = model.predict_mc(&test, a.mc_passes, 7)?;
    let t_mc = t.elapsed().as_secs_f64();
    eprintln!("inference: {} windows in {:.2} s; {} MC-dropout passes in {:.1} s", test.len(), t_point, a.mc_passes, t_mc);
    // A model trained before interval calibration existed: fit it now on its validation
    // batches when this is its own dataset (reported as such).
    let mut model = model;
    let mut calibration_source = if model.meta.interval_scale.is_some() { "model.json (fitted on the validation batches at training)" } else { "none (raw MC-dropout quantiles)" };
    if model.meta.interval_scale.is_none()
        && let (Some(s), true) = (&model.meta.split_batch_ids, same_data)
        && !s.val.is_empty()
    {
        let val = windows_of(&grids, &indices(&ds, &s.val), &model.meta.scaler, &model.meta.window)?;
        model.meta.interval_scale = Some(calibrate(&model, &val, a.mc_passes)?);
        calibration_source = "fitted now on the model's validation batches";
    }
    let mc = user_intervals(&model, mc_raw.clone());
    let ev = evaluate(&test, &grids, &pred, Some((&mc.lo, &mc.hi)));
    let raw_cov = |k: usize| twin::metrics::coverage(&test.target(k), &mc_raw.lo.iter().map(|v| v[k]).collect::<Vec<_>>(), &mc_raw.hi.iter().map(|v| v[k]).collect::<Vec<_>>());
    let (raw_titer, raw_gi) = (raw_cov(0), raw_cov(1));
    let key = model.meta.model.arch.key();
    let mut models = serde_json::Map::new();
    models.insert(key.to_owned(), eval_json(&ev));
    let mut table = format!(
        "# Held-out evaluation\n\nModel `{}` ({}), horizon `{}`, {} test batches, {} windows; 95 % intervals from {} MC-dropout passes.\n\n{TABLE_HEAD}",
        a.model.display(),
        model.meta.model.arch.name(),
        model.meta.window.horizon.label(),
        test_idx.len(),
        test.len(),
        a.mc_passes
    );
    // The same network scored by its MC-dropout mean (the average of the stochastic passes)
    // instead of the eval-mode pass: dropout before a ReLU layer makes the eval-mode output
    // differ from the average the network was trained to fit (Jensen's inequality), which
    // shows as a bias at the extremes.
    let ev_mc = evaluate(&test, &grids, &mc.mean, Some((&mc.lo, &mc.hi)));
    let key_mc = format!("{key}_mc_mean");
    models.insert(key_mc.clone(), eval_json(&ev_mc));
    let mut rows = vec![(model.meta.model.arch.name().to_owned(), ev.titer.clone()), (format!("{}, MC-dropout mean of {} passes", model.meta.model.arch.name(), a.mc_passes), ev_mc.titer.clone())];
    let mut baseline_preds: Vec<(&'static str, Vec<[f64; 2]>)> = Vec::new();
    let mut by_level = vec![(model.meta.model.arch.key(), ev.titer_by_level.clone()), (key_mc.as_str(), ev_mc.titer_by_level.clone())];
    let mut caps = serde_json::Value::Null;
    // The baselines' training windows, and where they came from (for metrics.json).
    let (baseline_train, fitted_on) = match (&a.train_data, same_data) {
        _ if a.no_baselines => (None, Value::Null),
        (Some(dir), false) => (Some(training_windows_of(&model, dir)?), json!(format!("the model's training batches of {}", dir.display()))),
        (Some(_), true) => bail!("--train-data is for an unseen --data; {} is the model's own dataset, whose training batches are used already", a.data.display()),
        (None, _) if !train_idx.is_empty() => (Some(windows_of(&grids, &train_idx, &model.meta.scaler, &model.meta.window)?), json!("the model's training batches of --data")),
        (None, _) => {
            eprintln!("no baseline rows: {} is not the model's dataset (pass its training dataset with --train-data to fit them)", a.data.display());
            (None, Value::Null)
        }
    };
    if let Some(tr) = baseline_train {
        let fit_caps = a.caps.caps();
        caps = caps_json(&fit_caps, tr.len());
        for b in Baseline::ALL {
            let t = Instant::now();
            let p = fit_predict(b, &tr, &test, 1, &fit_caps)?;
            eprintln!("{}: {:.1} s", b.key(), t.elapsed().as_secs_f64());
            let e = evaluate(&test, &grids, &p, None);
            models.insert(b.key().to_owned(), eval_json(&e));
            by_level.push((b.key(), e.titer_by_level.clone()));
            rows.insert(0, (b.name().to_owned(), e.titer));
            baseline_preds.push((b.key(), p));
        }
    }
    for (n, s) in &rows {
        table.push_str(&row(n, s));
    }
    let paired = paired_table(&test, &[(key, model.meta.model.arch.name().to_owned(), &pred), (&key_mc, format!("{}, MC-dropout mean", model.meta.model.arch.name()), &mc.mean)], &baseline_preds, a.bootstrap_draws);
    table.push_str(&paired.0);
    table.push_str(&group_table("Titer error by culture phase (Table 6 analog):", &ev.titer_by_phase));
    table.push_str(&group_table("By cell line (Table 8 analog):", &ev.titer_by_cell_line));
    table.push_str(&group_table("By scale:", &ev.titer_by_scale));
    table.push_str(&group_table("By culture day of the target:", &ev.titer_by_day));
    table.push_str(&level_table(&by_level));
    let _ = writeln!(table, "\nGI (CQA): RMSE {:.2} %, MAE {:.2} %, R² {:.3}, 95 % coverage {:.1} %.", ev.gi.rmse, ev.gi.mae, ev.gi.r2, 100.0 * ev.gi.ci95_coverage.unwrap_or(f64::NAN));
    let _ = writeln!(
        table,
        "\n95 % intervals: calibration {calibration_source}; scale {}; coverage on the test batches titer {:.1} % (raw MC dropout {:.1} %), GI {:.1} % (raw {:.1} %).",
        model.meta.interval_scale.map_or("1 (none)".to_owned(), |s| format!("titer ×{:.2}, GI ×{:.2}", s[0], s[1])),
        100.0 * ev.titer.ci95_coverage.unwrap_or(f64::NAN),
        100.0 * raw_titer,
        100.0 * ev.gi.ci95_coverage.unwrap_or(f64::NAN),
        100.0 * raw_gi
    );
    // Integrated gradients over up to 16 test windows spread through the set.
    let nf = model.meta.features.len();
    let steps = model.meta.window.steps;
    let mut heat = vec![0.0; steps * nf];
    let mut worst_gap: f64 = 0.0;
    let picks: Vec<usize> = (0..16.min(test.len())).map(|i| i * test.len() / 16.min(test.len())).collect();
    let t = Instant::now();
    for &w in &picks {
        let at = model.integrated_gradients(&test, w, 0, 64)?;
        let gap = at.f_x - at.f_baseline;
        worst_gap = worst_gap.max((at.total() - gap).abs() / gap.abs().max(1e-6));
        for (h, v) in heat.iter_mut().zip(&at.values) {
            *h += v.abs();
        }
    }
    let per_feature: Vec<f64> = (0..nf).map(|c| (0..steps).map(|s| heat[s * nf + c]).sum()).collect();
    let total: f64 = per_feature.iter().sum::<f64>().max(1e-12);
    let mut ranking: Vec<(String, f64)> = model.meta.features.iter().cloned().zip(per_feature.iter().map(|v| v / total)).collect();
    ranking.sort_by(|a, b| b.1.total_cmp(&a.1));
    table.push_str("\nIntegrated-gradient importance for titer (share of Σ|attribution|, Table 6 analog):\n\n| Rank | Feature | Relative importance |\n|---|---|---|\n");
    for (i, (f, v)) in ranking.iter().enumerate() {
        let _ = writeln!(table, "| {} | {f} | {v:.3} |", i + 1);
    }
    let _ = writeln!(table, "\nIG completeness over {} windows: worst |Σ attributions − (f(x) − f(baseline))| / |f(x) − f(baseline)| = {:.4} (64-point trapezoid, {:.1} s).", picks.len(), worst_gap, t.elapsed().as_secs_f64());
    let metrics = json!({
        "models": models,
        "baseline_caps": caps,
        "model_dir": a.model.display().to_string(),
        "data": a.data.display().to_string(),
        "held_out": if same_data { "model test split" } else { "all batches (unseen dataset)" },
        "baselines_fitted_on": fitted_on,
        "n_test_batches": test_idx.len(),
        "n_test_windows": test.len(),
        "horizon": model.meta.window.horizon.label(),
        "mc_passes": a.mc_passes,
        "interval_scale": model.meta.interval_scale,
        "interval_calibration": calibration_source,
        "ci95_coverage_raw_mc": {"titer": raw_titer, "gi": raw_gi},
        "ig_ranking_titer": ranking.iter().map(|(f, v)| json!({"feature": f, "relative_importance": v})).collect::<Vec<_>>(),
        "ig_completeness_worst_relative_gap": worst_gap,
        "paired_bootstrap_titer": paired.1,
        "inference_seconds": t_point,
        "mc_seconds": t_mc,
    });
    write_json(&a.out.join("metrics.json"), &metrics)?;
    write_atomic(&a.out.join("table.md"), table.as_bytes())?;
    write_atomic(&a.out.join("predictions.csv"), predictions_csv(&test, &pred, &mc, &baseline_preds).as_bytes())?;
    plot_trajectories(&a.out.join("trajectories.png"), &test, &grids, &pred, &mc)?;
    plot_parity(&a.out.join("parity.png"), &test.target(0), &pred.iter().map(|r| r[0]).collect::<Vec<_>>())?;
    plot_heatmap(&a.out.join("attribution_heatmap.png"), &heat, steps, &model.meta.features)?;
    print!("{table}");
    println!("wrote {}/{{metrics.json, table.md, predictions.csv, trajectories.png, parity.png, attribution_heatmap.png}}", a.out.display());
    Ok(ExitCode::SUCCESS)
}

/// The windows of the model's training batches, read from its training dataset `dir`
/// (checked by the manifest hash and the saved split).
fn training_windows_of(model: &Model, dir: &Path) -> Result<WindowSet> {
    let ds = load(dir)?;
    if ds.manifest_hash != model.meta.data_manifest_hash {
        bail!("--train-data {} is not the model's training dataset (manifest hash {}, the model was trained on {})", dir.display(), ds.manifest_hash, model.meta.data_manifest_hash);
    }
    let split = model.meta.split_batch_ids.as_ref().ok_or_else(|| anyhow::anyhow!("the model has no saved split, so its training batches are unknown"))?;
    let grids = grid_all(&ds, &model.meta.features)?;
    eprintln!("baselines fitted on the model's {} training batches of {}", split.train.len(), dir.display());
    windows_of(&grids, &indices(&ds, &split.train), &model.meta.scaler, &model.meta.window).map_err(Into::into)
}

/// The paired batch bootstrap of titer RMSE, each network output against each baseline:
/// a Markdown section and its JSON rows (empty without baselines or with 0 draws).
fn paired_table(test: &WindowSet, nets: &[(&str, String, &Vec<[f64; 2]>)], baselines: &[(&str, Vec<[f64; 2]>)], draws: usize) -> (String, Vec<Value>) {
    let (mut md, mut rows) = (String::new(), Vec::new());
    if baselines.is_empty() || draws == 0 {
        return (md, rows);
    }
    let y = test.target(0);
    let group: Vec<usize> = test.info.iter().map(|w| w.batch_id).collect();
    let titer = |p: &[[f64; 2]]| p.iter().map(|r| r[0]).collect::<Vec<f64>>();
    let base: Vec<(&str, Vec<f64>)> = baselines.iter().map(|(k, p)| (*k, titer(p))).collect();
    for (net_key, net_name, p) in nets {
        let a = titer(p);
        for (b_key, b) in &base {
            let Some(r) = twin::metrics::paired_rmse_bootstrap(&y, &a, b, &group, draws, 1) else { continue };
            if md.is_empty() {
                let _ = write!(
                    md,
                    "\nIs the network better than each baseline? Titer RMSE of the network minus the baseline's on the same windows; 95 % interval from a paired bootstrap of whole test batches ({} batches, {draws} draws, seed 1). `not resolved`: these test batches cannot tell the two apart.\n\n| Network | Baseline | RMSE difference (g/L) | 95 % interval | network better in | verdict |\n|---|---|---|---|---|---|\n",
                    r.n_groups
                );
            }
            let _ = writeln!(md, "| {net_name} | {b_key} | {:+.4} | [{:+.4}, {:+.4}] | {:.1} % of draws | {} |", r.diff, r.lo95, r.hi95, 100.0 * r.share_a_better, r.verdict());
            rows.push(json!({"network": net_key, "baseline": b_key, "rmse_diff_g_per_l": r.diff, "lo95_g_per_l": r.lo95, "hi95_g_per_l": r.hi95, "share_network_better": r.share_a_better, "verdict": r.verdict(), "n_batches": r.n_groups, "n_draws": r.n_draws}));
        }
    }
    (md, rows)
}

/// One row per scored window: where it ends, the truth, the model's point prediction and
/// calibrated 95 % band, its MC-dropout mean (`*_mc_mean_*`), and each baseline's prediction (columns `<key>_titer_g_per_l`,
/// `<key>_gi_pct`), so that users can re-score, plot or combine models themselves.
fn predictions_csv(test: &WindowSet, pred: &[[f64; 2]], mc: &McPrediction, baselines: &[(&str, Vec<[f64; 2]>)]) -> String {
    let mut csv = String::from(
        "batch_id,t_end_h,target_t_h,phase,titer_true_g_per_l,titer_pred_g_per_l,titer_lo95_g_per_l,titer_hi95_g_per_l,gi_true_pct,gi_pred_pct,gi_lo95_pct,gi_hi95_pct,titer_mc_mean_g_per_l,gi_mc_mean_pct",
    );
    for (k, _) in baselines {
        let _ = write!(csv, ",{k}_titer_g_per_l,{k}_gi_pct");
    }
    csv.push('\n');
    for (i, w) in test.info.iter().enumerate() {
        let _ = write!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            w.batch_id,
            w.t_end_h,
            w.target_t_h,
            w.phase.name(),
            test.y[2 * i],
            pred[i][0],
            mc.lo[i][0],
            mc.hi[i][0],
            test.y[2 * i + 1],
            pred[i][1],
            mc.lo[i][1],
            mc.hi[i][1],
            mc.mean[i][0],
            mc.mean[i][1]
        );
        for (_, p) in baselines {
            let _ = write!(csv, ",{},{}", p[i][0], p[i][1]);
        }
        csv.push('\n');
    }
    csv
}

pub(super) fn predict(a: PredictArgs) -> Result<ExitCode> {
    tch::set_num_threads(a.threads.max(1) as i32);
    let model = Model::load(&a.model, default_device()).with_context(|| format!("loading the model from {}", a.model.display()))?;
    let offline = a.offline.clone().or_else(|| {
        let p = a.batch.parent().unwrap_or(Path::new(".")).join("offline.csv");
        (p.exists() && p != a.batch).then_some(p)
    });
    let raw = load_batch(&a.batch, offline.as_deref())?;
    let g = grid_batch(&raw, &model.meta.features)?;
    let every = ((a.every_h / twin::prep::STEP_H).round() as usize).max(1);
    let cfg = WindowConfig { steps: model.meta.window.steps, stride: every, horizon: Horizon::Now };
    let w = windows(&[&g], &model.meta.scaler, &cfg)?;
    if w.is_empty() {
        bail!("the batch has {} h of data; the model needs at least {} h", g.t_h.last().copied().unwrap_or(0.0), model.meta.window.steps as f64 * twin::prep::STEP_H);
    }
    let mc = user_intervals(&model, model.predict_mc(&w, a.mc_passes, 7)?);
    let pred = if a.point == "eval" { model.predict(&w)? } else { mc.mean.clone() };
    let shift_h = match model.meta.window.horizon {
        Horizon::Now => Some(0.0),
        Horizon::AheadH(h) => Some(f64::from(h)),
        Horizon::Harvest => None,
    };
    let mut out = String::from("t_h,target_t_h,titer_g_per_l,titer_lo95_g_per_l,titer_hi95_g_per_l,gi_pct,gi_lo95_pct,gi_hi95_pct\n");
    for (i, info) in w.info.iter().enumerate() {
        let target = shift_h.map_or("harvest".to_owned(), |s| format!("{}", info.t_end_h + s));
        let _ = writeln!(out, "{},{},{:.4},{:.4},{:.4},{:.3},{:.3},{:.3}", info.t_end_h, target, pred[i][0], mc.lo[i][0], mc.hi[i][0], pred[i][1], mc.lo[i][1], mc.hi[i][1]);
    }
    match &a.out {
        Some(p) => write_atomic(p, out.as_bytes())?,
        None => print!("{out}"),
    }
    Ok(ExitCode::SUCCESS)
}
