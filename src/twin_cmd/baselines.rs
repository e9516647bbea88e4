//! `mabtwin twin baselines`: every model of the seed's Table 5 on one split.

use super::*;

pub(super) fn baselines(a: BaselinesArgs) -> Result<ExitCode> {
    let device = setup(a.common.threads);
    let ds = load(&a.data)?;
    let p = prepared(&ds, &a.common)?;
    let tc = a.schedule.config(a.common.seed)?;
    let caps = a.caps.caps();
    let mut models = serde_json::Map::new();
    let mut timings = serde_json::Map::new();
    let mut table = format!(
        "# Model comparison (seed Table 5 analog)\n\n{} held-out test batches, {} windows, horizon `{}`, seed {}; every model on the same split and features.\n\n{TABLE_HEAD}",
        p.split.test.len(),
        p.test.len(),
        p.window.horizon.label(),
        a.common.seed
    );
    let mut cnn_lstm_eval = None;
    for b in Baseline::ALL {
        let t = Instant::now();
        let pred = fit_predict(b, &p.train, &p.test, a.common.seed, &caps)?;
        let secs = t.elapsed().as_secs_f64();
        eprintln!("{}: {:.1} s", b.key(), secs);
        let e = evaluate(&p.test, &p.grids, &pred, None);
        table.push_str(&row(b.name(), &e.titer));
        models.insert(b.key().into(), eval_json(&e));
        timings.insert(b.key().into(), json!(secs));
    }
    for arch in Arch::ALL {
        let (m, secs) = train_model(&p, arch, a.skips, &Sizes::default(), &tc, device, &ds.manifest_hash, a.common.quiet, None)?;
        let pred = m.predict(&p.test)?;
        let e = evaluate(&p.test, &p.grids, &pred, None);
        table.push_str(&row(arch.name(), &e.titer));
        let mut j = eval_json(&e);
        j["epochs_run"] = json!(m.meta.train.as_ref().map_or(0, |s| s.epochs_run));
        j["parameters"] = json!(m.parameters());
        models.insert(arch.key().into(), j);
        timings.insert(arch.key().into(), json!(secs));
        if arch == Arch::CnnLstm {
            if let Some(dir) = &a.save_model {
                let mut m = m;
                m.meta.metrics = json!({"test": eval_json(&e), "train_seconds": secs});
                m.save(dir).with_context(|| format!("saving the model to {}", dir.display()))?;
                eprintln!("saved the CNN-LSTM to {}", dir.display());
            }
            cnn_lstm_eval = Some(e);
        }
    }
    if let Some(e) = &cnn_lstm_eval {
        table.push_str(&group_table("CNN-LSTM titer error by culture phase (Table 6 analog):", &e.titer_by_phase));
        table.push_str(&group_table("CNN-LSTM by cell line (random split):", &e.titer_by_cell_line));
        table.push_str(&group_table("CNN-LSTM by scale (random split):", &e.titer_by_scale));
    }
    let mut leave_out = serde_json::Map::new();
    if a.leave_out {
        table.push_str("\nLeave-one-group-out (Table 8 analog): the held-out group is never seen in training.\n\n| Held out | Model | RMSE (g/L) | MAE (g/L) | R² | DTS |\n|---|---|---|---|---|---|\n");
        let grids = p.grids.clone();
        for (kind, key) in [("cell line", 0), ("scale", 1)] {
            let groups: Vec<String> = grids.iter().map(|g| if key == 0 { g.meta.cell_line.clone() } else { format!("{} L", g.meta.nominal_volume_l) }).collect();
            let mut uniq = groups.clone();
            uniq.sort();
            uniq.dedup();
            for gname in uniq {
                let split: Split = leave_group_out(&groups, &gname, a.common.val_frac, a.common.split_seed())?;
                let q = prepare(grids.clone(), &p.features, &p.window, split)?;
                let mlr = evaluate(&q.test, &q.grids, &fit_predict(Baseline::Mlr, &q.train, &q.test, a.common.seed, &caps)?, None);
                let (m, _) = train_model(&q, Arch::CnnLstm, a.skips, &Sizes::default(), &tc, device, &ds.manifest_hash, a.common.quiet, None)?;
                let e = evaluate(&q.test, &q.grids, &m.predict(&q.test)?, None);
                for (name, s) in [("CNN-LSTM", &e.titer), ("MLR", &mlr.titer)] {
                    let _ = writeln!(table, "| {kind} {gname} | {name} | {:.3} | {:.3} | {:.3} | {:.3} |", s.rmse, s.mae, s.r2, s.dts);
                }
                leave_out.insert(format!("{kind} {gname}"), json!({"cnn_lstm": eval_json(&e), "mlr": eval_json(&mlr)}));
            }
        }
    }
    let metrics = json!({
        "models": models,
        "train_seconds": timings,
        "leave_one_group_out": leave_out,
        "n_test_batches": p.split.test.len(),
        "n_test_windows": p.test.len(),
        "horizon": p.window.horizon.label(),
        "split_batch_ids": p.split_batch_ids(),
        "caps": caps_json(&caps, p.train.len()),
    });
    write_json(&a.out.join("metrics.json"), &metrics)?;
    write_atomic(&a.out.join("table.md"), table.as_bytes())?;
    print!("{table}");
    println!("wrote {}/{{metrics.json, table.md}}", a.out.display());
    Ok(ExitCode::SUCCESS)
}
