//! `mabtwin qc eval` (metrics, confusion, rotation, difficulty, throughput) and
//! `mabtwin qc classify` (users' images, one clear error per unreadable file).

use super::*;

/// One split of a data folder as the model's input tensors: the prepared set, the tensors,
/// their row indices in the set and the true classes.
struct SplitData {
    split: String,
    p: Prepared,
    ev: qc::train::Tensors,
    idx: Vec<usize>,
    y: Vec<usize>,
}

/// Load `split` of `data` for `model` (its task, input size, PCA basis and channels); no
/// split: `test` when the data has one, else `val`.
fn load_split(model: &qc::model::Classifier, data: &Path, split: Option<&str>) -> Result<SplitData> {
    let p = prepare(data, Some(&model.meta.task))?;
    let split = split.map(str::to_string).unwrap_or_else(|| if p.set.splits.iter().any(|s| s == "test") { "test".into() } else { "val".into() });
    let (ev, idx) = subset(&p, &split, model.meta.input_size, model.meta.pca.as_ref())?;
    if ev.n() == 0 {
        bail!("no `{split}` rows in {}", data.display());
    }
    if ev.c != model.n_channels() {
        bail!("model expects channels {:?}, data gives {} channel(s); render with spectral cubes or train with --no-spectral", model.meta.channels, ev.c);
    }
    let y = ev.y.iter().map(|&v| v as usize).collect();
    Ok(SplitData { split, p, ev, idx, y })
}

/// `qc calibrate`: fit the class decision offsets on a labelled split (default `val`) and
/// rewrite the model's model.json (weights untouched); `clear` removes them instead.
pub(super) fn cmd_calibrate(model_dir: &Path, data: Option<&Path>, split: &str, clear: bool, threads: i32) -> Result<ExitCode> {
    tch::set_num_threads(threads);
    let mut model = load_model(model_dir)?;
    if clear {
        model.set_class_offsets(Vec::new())?;
        model.meta.class_offsets_fit = None;
        model.save_meta(model_dir)?;
        println!("{}: class decision offsets removed (plain argmax of the calibrated probabilities)", model_dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let data = data.context("--data is needed to fit the offsets (or --clear to remove them)")?;
    if split == "test" {
        bail!("--split test: the offsets are a choice made on data the model did not train on, and the test split is kept for the figures you report; use val (default) or a separate render");
    }
    let s = load_split(&model, data, Some(split))?;
    let probs = model.predict_proba_without_offsets(&s.ev.x, s.ev.n(), 64)?;
    let fit = qc::operating_point::fit_class_offsets(&probs, &s.y, &s.p.classes)?;
    print_offsets(&s.p.classes, &fit, split);
    model.set_class_offsets(fit.offsets.clone())?;
    model.meta.class_offsets_fit = Some(qc::operating_point::ClassOffsetRecord { data: data.display().to_string(), split: split.to_string(), rule: qc::operating_point::RULE.to_string(), fit });
    model.save_meta(model_dir)?;
    println!("wrote {} (the weights are unchanged)", model_dir.join("model.json").display());
    Ok(ExitCode::SUCCESS)
}

/// The offsets and the figures before and after, one line each (train and calibrate).
pub(super) fn print_offsets(classes: &[String], fit: &qc::operating_point::ClassOffsetFit, split: &str) {
    let b: Vec<String> = classes.iter().zip(&fit.offsets).map(|(c, b)| format!("{c} {b:+.2}")).collect();
    println!("class decision offsets fitted on {split} (n = {}): {}", fit.n, b.join(", "));
    for (when, op) in [("before", &fit.before), ("after", &fit.after)] {
        println!("  {when}: accuracy {:.4}, smallest per-class precision or recall {:.3} ({})", op.accuracy, op.min_precision_recall, op.weakest);
    }
}

pub(super) fn cmd_eval(model_dir: &Path, data: &Path, out: &Path, split: Option<&str>, threads: i32) -> Result<ExitCode> {
    tch::set_num_threads(threads);
    let model = load_model(model_dir)?;
    let SplitData { split, p, ev, idx: ev_idx, y } = load_split(&model, data, split)?;
    let size = model.meta.input_size;
    std::fs::create_dir_all(out)?;
    let probs = model.predict_proba(&ev.x, ev.n(), 64)?;
    let raw = model.predict_proba_uncalibrated(&ev.x, ev.n(), 64)?;
    let rep = qc::metrics::report(&probs, &y, &p.classes)?;
    let ece_raw = qc::metrics::ece(&raw, &y, 15)?;
    let op = |probs: &[Vec<f64>]| qc::operating_point::operating_point(&qc::metrics::argmax(probs), &y, &p.classes);
    // The class decision offsets' effect: the same images by the plain argmax of the
    // calibrated probabilities (only when the model has offsets).
    let without_offsets = if model.meta.class_log_offsets.is_empty() {
        None
    } else {
        let plain = model.predict_proba_without_offsets(&ev.x, ev.n(), 64)?;
        let r = qc::metrics::report(&plain, &y, &p.classes)?;
        Some((r, op(&plain)))
    };
    // Each network of an ensemble on its own (how much the average adds).
    let mut per_network = Vec::new();
    if model.n_networks() > 1 {
        for k in 0..model.n_networks() {
            per_network.push(qc::metrics::report(&model.network_proba(k, &ev.x, ev.n(), 64)?, &y, &p.classes)?.accuracy);
        }
    }
    let rot = qc::train::rotation_robustness(&model, &ev)?;
    // The same images through 8-view test-time augmentation, reported beside the plain figures
    // (classify does not use it: on real crops it did not help consistently, BENCHMARKS.md).
    let tta_probs = model.predict_proba_dihedral(&ev.x, ev.n(), 64)?;
    let tta = qc::metrics::report(&tta_probs, &y, &p.classes)?;
    let difficulty = match &p.set.difficulty {
        Some(d) => {
            let pick = |v: &[f64]| ev_idx.iter().map(|&i| v[i]).collect::<Vec<_>>();
            let correct: Vec<bool> = qc::metrics::argmax(&probs).iter().zip(&y).map(|(a, b)| a == b).collect();
            Some(qc::metrics::difficulty_report(&pick(&d.blur_px), &pick(&d.photons_at_background), &correct)?)
        }
        None => {
            println!(
                "difficulty.csv not written: {}'s labels.csv has no {}/{} columns (only renders record them)",
                data.display(),
                render::BLUR_PX,
                render::PHOTONS_AT_BACKGROUND
            );
            None
        }
    };
    // Throughput on up to 256 images: batch 64 vs batch 1, same process. One untimed warm-up
    // pass per batch size (the first call allocates and picks kernels), then the best of 3.
    let m = ev.n().min(256);
    let m1 = m.min(64);
    let d = ev.c * size * size;
    let mut best = [f64::INFINITY; 2];
    for rep in 0..4 {
        for (k, (n, batch)) in [(m, 64), (m1, 1)].into_iter().enumerate() {
            let t = std::time::Instant::now();
            let _ = model.predict_proba(&ev.x[..n * d], n, batch)?;
            if rep > 0 {
                best[k] = best[k].min(t.elapsed().as_secs_f64());
            }
        }
    }
    let (ips64, ips1) = (m as f64 / best[0], m1 as f64 / best[1]);
    let mut json = serde_json::json!({
        "model": model_dir.display().to_string(), "data": data.display().to_string(), "split": split,
        "metrics": rep, "ece_before_temperature": ece_raw, "temperature": model.meta.temperature,
        "networks": model.n_networks(), "accuracy_per_network": per_network,
        "rotation": rot,
        "dihedral_tta": {"accuracy": tta.accuracy, "kappa": tta.kappa, "macro_f1": tta.macro_f1, "auroc": tta.auroc, "ece": tta.ece,
            "note": "mean calibrated probability over the 8 rotations/flips of each image (reported only; qc classify uses one view)"},
        "throughput": {"threads": threads, "images_per_s_batch64": ips64, "images_per_s_batch1": ips1, "ratio_batch64_over_batch1": ips64 / ips1},
    });
    json["operating_point"] = serde_json::to_value(op(&probs))?;
    if let Some((r, o)) = &without_offsets {
        json["class_log_offsets"] = serde_json::to_value(&model.meta.class_log_offsets)?;
        json["without_class_offsets"] = serde_json::json!({
            "accuracy": r.accuracy, "kappa": r.kappa, "macro_f1": r.macro_f1, "ece": r.ece, "operating_point": o, "per_class": r.per_class,
            "note": "plain argmax of the temperature-calibrated probabilities; the metrics above use the model's class decision offsets (fitted on validation, model.json class_offsets_fit)",
        });
    }
    let files: Vec<String> = ev_idx.iter().map(|&i| display_relative(&p.set.files[i], data)).collect();
    let rows = EvalRows { model: &model, ev: &ev, ev_idx: &ev_idx, set: &p.set, files: &files, y: &y, classes: &p.classes, out };
    let aux = aux_targets_report(&rows)?;
    if !aux.is_empty() {
        json["aux_targets"] = serde_json::to_value(&aux)?;
    }
    let particle_fit = particle_map_report(&rows)?;
    if let Some(f) = &particle_fit {
        json["particle_map"] = serde_json::to_value(f)?;
    }
    if let Some(d) = &difficulty {
        let mut v = serde_json::to_value(d)?;
        v["binning"] = DIFFICULTY_BINNING.into();
        json["difficulty"] = v;
        write_difficulty_csv(&out.join("difficulty.csv"), d)?;
    }
    qc::io::write_file(&out.join("metrics.json"), serde_json::to_string_pretty(&json)?.as_bytes())?;
    let mut pc = String::from("class,precision,recall,f1,support,zero_division\n");
    for (c, m) in p.classes.iter().zip(&rep.per_class) {
        pc.push_str(&format!("{c},{:.6},{:.6},{:.6},{},{}\n", m.precision, m.recall, m.f1, m.support, m.zero_division));
    }
    qc::io::write_file(&out.join("per_class.csv"), pc.as_bytes())?;
    let mut cm = format!("true\\pred,{}\n", p.classes.join(","));
    for (c, row) in p.classes.iter().zip(&rep.confusion) {
        cm.push_str(&format!("{c},{}\n", row.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",")));
    }
    qc::io::write_file(&out.join("confusion.csv"), cm.as_bytes())?;
    let title = format!("{} on {} ({split}, n = {}): accuracy {:.3}, kappa {:.3}", model.meta.task, data.display(), rep.n, rep.accuracy, rep.kappa);
    qc::io::write_file(&out.join("confusion.png"), &qc::plot::confusion_png(&rep.confusion, &p.classes, &title)?)?;
    let mut rc = String::from("angle_deg,accuracy\n");
    for (a, acc) in &rot.accuracy_by_angle {
        rc.push_str(&format!("{a},{acc:.6}\n"));
    }
    qc::io::write_file(&out.join("rotation.csv"), rc.as_bytes())?;
    qc::io::write_file(&out.join("predictions.csv"), predictions_csv(&files, &y, &probs, &p.classes).as_bytes())?;
    if model.n_networks() > 1 {
        let accs: Vec<String> = per_network.iter().map(|a| format!("{a:.4}")).collect();
        println!("{}: ensemble of {} networks (calibrated probabilities averaged); each alone: accuracy {}", model_dir.display(), model.n_networks(), accs.join(" / "));
    }
    println!(
        "{split} n={}: accuracy {:.4}, kappa {:.4}, macro-F1 {:.4}, AUROC {}, ECE {:.4} (before T: {:.4}), rotation spread {:.1} pts, {:.0} img/s (batch 64) vs {:.0} img/s (batch 1)",
        rep.n, rep.accuracy, rep.kappa, rep.macro_f1, rep.auroc.map(|a| format!("{a:.4}")).unwrap_or("n/a".into()), rep.ece, ece_raw, rot.spread_points, ips64, ips1
    );
    if let Some((r, o)) = &without_offsets {
        let me = op(&probs);
        println!(
            "{split} class decision offsets {:?}: with them accuracy {:.4}, smallest per-class P/R {:.3} ({}); without (plain argmax) accuracy {:.4}, kappa {:.4}, smallest P/R {:.3} ({})",
            model.meta.class_log_offsets, me.accuracy, me.min_precision_recall, me.weakest, r.accuracy, r.kappa, o.min_precision_recall, o.weakest
        );
    }
    println!(
        "{split} with test-time augmentation (mean over 8 rotations/flips; not used by classify): accuracy {:.4}, kappa {:.4}, AUROC {}, ECE {:.4}",
        tta.accuracy,
        tta.kappa,
        tta.auroc.map(|a| format!("{a:.4}")).unwrap_or("n/a".into()),
        tta.ece
    );
    if let Some(d) = &difficulty {
        let accs = |t: &qc::metrics::TercileAccuracy| {
            t.bins.iter().map(|b| b.accuracy.map_or("n/a".into(), |a| format!("{a:.3}"))).collect::<Vec<String>>().join(" / ")
        };
        println!(
            "accuracy by tercile (low / mid / high): blur_px {}; photons_at_background {} (difficulty.csv)",
            accs(&d.blur_px),
            accs(&d.photons_at_background)
        );
    }
    for a in &aux {
        println!("auxiliary target {} (n={}): RMSE {:.4}, MAE {:.4}, R² {:.4} (aux_predictions.csv)", a.column, a.n, a.rmse, a.mae, a.r2);
    }
    if let Some(a) = &particle_fit {
        println!("particle count from the map head (n={}): RMSE {:.3}, MAE {:.3}, R² {:.4} (particle_counts.csv)", a.n, a.rmse, a.mae, a.r2);
    }
    Ok(ExitCode::SUCCESS)
}

/// The evaluated rows and what the per-image head reports need of them: the model, the
/// inputs, each row's index into the data set, the data set, the files as the user reads
/// them, the true class indices, the class names and the output folder.
#[derive(Clone, Copy)]
struct EvalRows<'a> {
    model: &'a qc::model::Classifier,
    ev: &'a qc::train::Tensors,
    ev_idx: &'a [usize],
    set: &'a qc::io::LabelledSet,
    files: &'a [String],
    y: &'a [usize],
    classes: &'a [String],
    out: &'a Path,
}

/// For a model trained with `--particle-map-weight` on data with `particles.csv`: the count
/// its map gives per image (the map's sum) against the true particle count, scored (RMSE,
/// MAE, R²) and written to `particle_counts.csv` (`file,label,n_particles_true,
/// n_particles_pred`). `None` without the head; the data's missing positions are named.
fn particle_map_report(rows: &EvalRows) -> Result<Option<AuxTargetFit>> {
    let EvalRows { model, ev, ev_idx, set, files, y, classes, out } = *rows;
    if model.meta.net.particle_map_weight <= 0.0 {
        return Ok(None);
    }
    let Some(points) = set.particles.as_ref() else {
        println!("particle-count map not scored: the data have no {}", qc::io::PARTICLES_CSV);
        return Ok(None);
    };
    let pred = model.predict_particle_counts(&ev.x, ev.n(), 64)?;
    let truth: Vec<f64> = ev_idx.iter().map(|&i| points[i].len() as f64).collect();
    let mut csv = String::from("file,label,n_particles_true,n_particles_pred\n");
    for (r, file) in files.iter().enumerate() {
        csv.push_str(&format!("{},{},{},{:.3}\n", csv_field(file), csv_field(&classes[y[r]]), truth[r], pred[r]));
    }
    qc::io::write_file(&out.join("particle_counts.csv"), csv.as_bytes())?;
    Ok(Some(AuxTargetFit::score("n_particles (sum of the particle-count map)", &truth, &pred)))
}

/// How well a model trained with `--aux-targets` predicts each target on the evaluated rows.
#[derive(Debug, serde::Serialize)]
struct AuxTargetFit {
    column: String,
    n: usize,
    rmse: f64,
    mae: f64,
    r2: f64,
}

impl AuxTargetFit {
    /// RMSE, MAE and R² of `pred` against `truth` for the target named `column`.
    fn score(column: &str, truth: &[f64], pred: &[f64]) -> Self {
        Self {
            column: column.to_string(),
            n: truth.len(),
            rmse: twin::metrics::rmse(truth, pred),
            mae: twin::metrics::mae(truth, pred),
            r2: twin::metrics::r2(truth, pred),
        }
    }
}

/// For a model with auxiliary targets: each target the data's labels.csv has, predicted on the
/// evaluated rows, scored (RMSE, MAE, R²) and written per image to `aux_predictions.csv`
/// (`file,label` then `COL_true,COL_pred` per target). Targets the data lack are named and
/// skipped; a model without auxiliary targets gives an empty list and no file.
fn aux_targets_report(rows: &EvalRows) -> Result<Vec<AuxTargetFit>> {
    let EvalRows { model, ev, ev_idx, set, files, y, classes, out } = *rows;
    let targets = &model.meta.net.aux_targets;
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let pred = model.predict_aux(&ev.x, ev.n(), 64)?;
    let mut fits = Vec::new();
    let mut cols: Vec<(usize, Vec<f64>)> = Vec::new();
    for (k, t) in targets.iter().enumerate() {
        let Some(v) = set.numeric_column(&t.column) else {
            println!("auxiliary target {} not scored: the data's labels.csv has no numeric `{}` column", t.column, t.column);
            continue;
        };
        let truth: Vec<f64> = ev_idx.iter().map(|&i| v[i]).collect();
        let p: Vec<f64> = pred.iter().map(|row| row[k]).collect();
        fits.push(AuxTargetFit::score(&t.column, &truth, &p));
        cols.push((k, truth));
    }
    if fits.is_empty() {
        return Ok(fits);
    }
    let mut csv = String::from("file,label");
    for (k, _) in &cols {
        csv.push_str(&format!(",{0}_true,{0}_pred", targets[*k].column));
    }
    csv.push('\n');
    for (r, file) in files.iter().enumerate() {
        csv.push_str(&format!("{},{}", csv_field(file), csv_field(&classes[y[r]])));
        for (k, truth) in &cols {
            csv.push_str(&format!(",{},{:.6}", truth[r], pred[r][*k]));
        }
        csv.push('\n');
    }
    qc::io::write_file(&out.join("aux_predictions.csv"), csv.as_bytes())?;
    Ok(fits)
}

/// A path as the user would read it: relative to the data folder when it lies inside it.
fn display_relative(file: &Path, data: &Path) -> String {
    file.strip_prefix(data).unwrap_or(file).display().to_string()
}

/// `predictions.csv`: one row per evaluated image, in the data's order:
/// `file,label,predicted,probability,p_<class>...` (calibrated probabilities, one view), so
/// errors can be joined with the render's latents in `labels.csv`.
fn predictions_csv(files: &[String], y: &[usize], probs: &[Vec<f64>], classes: &[String]) -> String {
    let mut csv = String::from("file,label,predicted,probability");
    for c in classes {
        csv.push_str(&format!(",p_{c}"));
    }
    csv.push('\n');
    for ((f, &t), (row, k)) in files.iter().zip(y).zip(probs.iter().zip(qc::metrics::argmax(probs))) {
        csv.push_str(&format!("{},{},{},{:.6}", csv_field(f), classes[t], classes[k], row[k]));
        for v in row {
            csv.push_str(&format!(",{v:.6}"));
        }
        csv.push('\n');
    }
    csv
}

/// One CSV field as the `csv` crate writes it (the same rules `labels.csv` is read with):
/// quoted only when it holds a comma, quote or line break (file names are the user's).
fn csv_field(s: &str) -> String {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    // Writing to a Vec cannot fail; fall back to the raw text rather than panic.
    match w.write_record([s]).ok().and_then(|()| w.into_inner().ok()) {
        Some(b) => String::from_utf8_lossy(&b).trim_end_matches('\n').to_string(),
        None => s.to_string(),
    }
}

/// How `difficulty.csv` and metrics.json's `difficulty` bin the evaluated images.
const DIFFICULTY_BINNING: &str = "terciles of the evaluated images' values (linear interpolation): \
    tercile 1 is v <= q(1/3), 2 is q(1/3) < v <= q(2/3), 3 is v > q(2/3)";

/// `difficulty.csv`: one row per variable and tercile with its edges, count and accuracy
/// (empty for an empty bin).
fn write_difficulty_csv(path: &Path, d: &qc::metrics::DifficultyReport) -> Result<()> {
    let mut csv = String::from("variable,tercile,lo,hi,n,n_correct,accuracy\n");
    for (name, t) in [(render::BLUR_PX, &d.blur_px), (render::PHOTONS_AT_BACKGROUND, &d.photons_at_background)] {
        for b in &t.bins {
            let acc = b.accuracy.map(|a| format!("{a:.6}")).unwrap_or_default();
            csv.push_str(&format!("{name},{},{:.6},{:.6},{},{},{acc}\n", b.tercile, b.lo, b.hi, b.n, b.n_correct));
        }
    }
    qc::io::write_file(path, csv.as_bytes())?;
    Ok(())
}

pub(super) fn cmd_classify(model_dir: &Path, paths: &[PathBuf], out: Option<&Path>, strict_size: bool, threads: i32) -> Result<ExitCode> {
    tch::set_num_threads(threads);
    let model = load_model(model_dir)?;
    if model.meta.pca.is_some() {
        bail!(
            "model expects channels {:?}: classify reads plain images only; pass a grey model (train with --no-spectral)",
            model.meta.channels
        );
    }
    let size = model.meta.input_size;
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            files.extend(qc::io::list_images(p)?);
        } else {
            files.push(p.clone());
        }
    }
    if files.is_empty() {
        bail!("no images found in {:?}", paths);
    }
    let mut ok_files = Vec::new();
    let mut x = Vec::new();
    let (mut n_failed, mut n_resized, mut n_colour) = (0usize, 0usize, 0usize);
    for f in &files {
        let loaded = qc::io::load_grey(f);
        let (img, colour) = match loaded {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: {e}");
                n_failed += 1;
                continue;
            }
        };
        let (a, info) = qc::io::adapt(&img, size, colour);
        if info.resized {
            if strict_size {
                eprintln!("error: {}: size {}x{} != {size}x{size} (--strict-size)", f.display(), img.width, img.height);
                n_failed += 1;
                continue;
            }
            n_resized += 1;
        }
        if info.much_larger {
            eprintln!("warning: {}: {}x{} is more than 4x the model size ({size}); probably not a single-cell crop", f.display(), img.width, img.height);
        }
        n_colour += usize::from(colour);
        x.extend(qc::model::build_input(&a, None)?);
        ok_files.push(f.clone());
    }
    if n_resized > 0 {
        eprintln!("warning: {n_resized} image(s) were not {size}x{size}: centre-cropped to square and resized (triangle filter)");
    }
    if n_colour > 0 {
        eprintln!("note: {n_colour} colour image(s) converted to grey (luma 0.299/0.587/0.114, alpha dropped)");
    }
    let mut csv = format!("file,class,probability{}\n", model.meta.classes.iter().map(|c| format!(",p_{c}")).collect::<String>());
    if !ok_files.is_empty() {
        let probs = model.predict_proba(&x, ok_files.len(), 64)?;
        for (f, p) in ok_files.iter().zip(&probs) {
            let k = qc::metrics::argmax(std::slice::from_ref(p))[0];
            let line = format!("{},{},{:.4}{}", csv_field(&f.display().to_string()), model.meta.classes[k], p[k], p.iter().map(|v| format!(",{v:.4}")).collect::<String>());
            println!("{line}");
            csv.push_str(&line);
            csv.push('\n');
        }
    }
    if let Some(o) = out {
        qc::io::write_file(o, csv.as_bytes())?;
    }
    if n_failed > 0 {
        eprintln!("{n_failed} of {} file(s) failed", files.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_field_quotes_only_when_needed() {
        assert_eq!(csv_field("a/b.png"), "a/b.png");
        assert_eq!(csv_field("day 1, bead.png"), "\"day 1, bead.png\"");
        assert_eq!(csv_field("say \"hi\".png"), "\"say \"\"hi\"\".png\"");
    }

    #[test]
    fn predictions_csv_has_one_row_per_image_with_the_argmax() {
        let classes = vec!["live".to_string(), "dead".to_string()];
        let files = vec!["a.png".to_string(), "b,c.png".to_string()];
        let csv = predictions_csv(&files, &[0, 1], &[vec![0.25, 0.75], vec![0.9, 0.1]], &classes);
        let mut rdr = csv::Reader::from_reader(csv.as_bytes());
        assert_eq!(rdr.headers().expect("header").iter().collect::<Vec<_>>(), ["file", "label", "predicted", "probability", "p_live", "p_dead"]);
        let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.expect("row")).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].iter().collect::<Vec<_>>(), ["a.png", "live", "dead", "0.750000", "0.250000", "0.750000"]);
        assert_eq!(rows[1].iter().collect::<Vec<_>>(), ["b,c.png", "dead", "live", "0.900000", "0.900000", "0.100000"]);
    }

    #[test]
    fn display_relative_strips_the_data_folder() {
        assert_eq!(display_relative(Path::new("/d/images/1.png"), Path::new("/d")), "images/1.png");
        assert_eq!(display_relative(Path::new("/e/1.png"), Path::new("/d")), "/e/1.png");
    }
}
