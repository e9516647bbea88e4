//! `mabtwin twin train` and `mabtwin twin tune`.

use super::*;

pub(super) fn train(a: TrainArgs) -> Result<ExitCode> {
    let device = setup(a.common.threads);
    let arch = Arch::parse(&a.arch)?;
    if a.skips.conv_skip && arch != Arch::CnnLstm {
        bail!("--conv-skip is a CNN-LSTM option (a skip around its LSTMs); --arch {} has none", arch.key());
    }
    // The sizes are checked before any data are read (the window length is the default 96
    // steps here; the kernels are checked again against the prepared windows).
    a.sizes.apply(ModelConfig::seed_default(arch, 1, WindowConfig::default().steps))?;
    // A warm start's donor is read (and its kind checked) before the data too.
    let donor = match &a.init_from {
        Some(dir) => {
            if arch != Arch::CnnLstm || !a.skips.conv_skip {
                bail!("--init-from starts a CNN-LSTM with --conv-skip from a trained CNN; add --conv-skip (and keep --arch cnn_lstm)");
            }
            let d = Model::load(dir, device).with_context(|| format!("reading the --init-from model {}", dir.display()))?;
            if d.meta.model.arch != Arch::Cnn {
                bail!("--init-from {}: that model is a `{}`; the warm start takes a `cnn` (twin train --arch cnn)", dir.display(), d.meta.model.arch.key());
            }
            Some((d, dir.as_path()))
        }
        None => None,
    };
    let ds = load(&a.data)?;
    let p = prepared(&ds, &a.common)?;
    let tc = TrainConfig { batch_size: a.batch_size, lr: a.lr, ..a.schedule.config(a.common.seed)? };
    tc.check()?;
    let (mut m, secs) = train_model(&p, arch, a.skips, &a.sizes, &tc, device, &ds.manifest_hash, a.common.quiet, donor.as_ref().map(|(d, dir)| (d, *dir)))?;
    let t = Instant::now();
    let pred = m.predict(&p.test)?;
    let infer = t.elapsed().as_secs_f64();
    let ev = evaluate(&p.test, &p.grids, &pred, None);
    let mut calibration = Value::Null;
    if a.calibration_passes >= 2 && !p.val.is_empty() && m.meta.model.dropout > 0.0 {
        let t = Instant::now();
        let scale = calibrate(&m, &p.val, a.calibration_passes)?;
        m.meta.interval_scale = Some(scale);
        calibration = json!({"interval_scale": scale, "passes": a.calibration_passes, "fitted_on": "validation batches", "seconds": t.elapsed().as_secs_f64()});
    }
    m.meta.metrics = json!({
        "test": eval_json(&ev),
        "interval_calibration": calibration,
        "train_seconds": secs,
        "device": format!("{device:?}"),
        "test_inference_seconds": infer,
        "n_test_windows": p.test.len(),
    });
    m.save(&a.out).with_context(|| format!("saving the model to {}", a.out.display()))?;
    println!(
        "{} on {} held-out test batches ({} windows, horizon {}): titer RMSE {:.3} g/L, MAE {:.3} g/L, R² {:.3}, DTS {:.3}; GI RMSE {:.2} %; saved {}/model.{{safetensors,json}}",
        arch.name(),
        p.split.test.len(),
        p.test.len(),
        p.window.horizon.label(),
        ev.titer.rmse,
        ev.titer.mae,
        ev.titer.r2,
        ev.titer.dts,
        ev.gi.rmse,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) fn tune(a: TuneArgs) -> Result<ExitCode> {
    let device = setup(a.common.threads);
    let ds = load(&a.data)?;
    let p = prepared(&ds, &a.common)?;
    let base = TrainConfig { epochs: a.epochs, patience: a.patience, seed: a.common.seed, ..TrainConfig::default() };
    let b = if a.common.quiet { ProgressBar::hidden() } else { ProgressBar::new(a.budget as u64) };
    b.set_style(ProgressStyle::with_template("tune [{bar:30}] trial {pos}/{len} {msg} ETA {eta}").unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "));
    let mut best = f64::INFINITY;
    let t = Instant::now();
    let r = twin::tune::tune(&p, a.budget, &base, device, &mut |tr| {
        best = best.min(tr.val_loss);
        b.inc(1);
        let msg = format!("val {:.4} (best {:.4})", tr.val_loss, best);
        if !a.common.quiet && b.is_hidden() {
            // No terminal: one line per trial instead of the bar.
            eprintln!("tune trial {}/{}: {msg}", tr.index + 1, a.budget);
        }
        b.set_message(msg);
    })?;
    b.finish_and_clear();
    let mut csv = String::from("trial,val_loss,best_epoch,filters,kernels,lstm1,lstm2,dropout,lr,batch_size\n");
    for tr in &r.trials {
        let k: Vec<String> = tr.model.kernels.iter().map(|k| k.to_string()).collect();
        let _ = writeln!(csv, "{},{},{},{},{},{},{},{},{},{}", tr.index, tr.val_loss, tr.best_epoch, tr.model.filters, k.join(" "), tr.model.lstm1, tr.model.lstm2, tr.model.dropout, tr.train.lr, tr.train.batch_size);
    }
    write_atomic(&a.out.join("trials.csv"), csv.as_bytes())?;
    write_json(&a.out.join("best.json"), &json!({"best": r.best, "n_doe": r.n_doe, "budget": a.budget, "seconds": t.elapsed().as_secs_f64()}))?;
    let pts: Vec<(f64, f64)> = r.trials.iter().map(|t| (t.index as f64 + 1.0, t.val_loss)).collect();
    let mut run_best = f64::INFINITY;
    let best_line: Vec<(f64, f64)> = pts.iter().map(|&(i, v)| {
        run_best = run_best.min(v);
        (i, run_best)
    }).collect();
    crate::plot::panels_png(
        &a.out.join("convergence.png"),
        &[crate::plot::Panel {
            title: "Bayesian optimisation (EGO)".into(),
            x_label: "trial".into(),
            y_label: "validation MSE (z)".into(),
            series: vec![crate::plot::Series { label: "trial".into(), points: pts }, crate::plot::Series { label: "best so far".into(), points: best_line }],
        }],
        1,
        640,
        420,
    )?;
    println!(
        "{} trials ({} initial) in {:.0} s; best validation MSE {:.4}: filters {}, kernels {:?}, LSTM {}/{}, dropout {:.2}, lr {:.1e}, batch {}; wrote {}/{{best.json, trials.csv, convergence.png}}",
        r.trials.len(),
        r.n_doe,
        t.elapsed().as_secs_f64(),
        r.best.val_loss,
        r.best.model.filters,
        r.best.model.kernels,
        r.best.model.lstm1,
        r.best.model.lstm2,
        r.best.model.dropout,
        r.best.train.lr,
        r.best.train.batch_size,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
