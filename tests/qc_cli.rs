//! End-to-end tests of `mabtwin qc …` (render, train, eval, classify).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn mabtwin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mabtwin")).args(args).output().expect("run mabtwin")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The real-crop folder beside the checkout (CI's checkout sits beside `shared/`).
fn real_trypan() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/qc_data/maxkudi-ldc-trypan");
    if p.join("crops64/labels.csv").is_file() {
        Some(p)
    } else {
        eprintln!("skipped: {} is absent (the real trypan crops live in ../shared)", p.display());
        None
    }
}

/// A small grey trypan model trained on renders (shared by the input-handling tests).
fn rendered_model() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let d = tempfile::tempdir().expect("tmp");
        let data = d.path().join("data");
        let out = mabtwin(&["qc", "render", "--task", "trypan", "--n", "160", "--seed", "4", "--out", s(&data)]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = mabtwin(&["qc", "train", "--data", s(&data), "--out", s(&d.path().join("m")), "--epochs", "1", "--no-spectral", "--threads", "1"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let m = d.path().join("m");
        (d, m)
    })
    .1
}

#[test]
fn render_is_byte_identical_for_equal_arguments() {
    let d = tempfile::tempdir().expect("tmp");
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    for dir in [&a, &b] {
        let out = mabtwin(&["qc", "render", "--task", "microcarrier", "--n", "40", "--seed", "9", "--out", s(dir)]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    for f in ["labels.csv", "render.json", "montage.png", "spectral.npy", "particles.csv", "images/000017.png"] {
        let (x, y) = (std::fs::read(a.join(f)).expect(f), std::fs::read(b.join(f)).expect(f));
        assert_eq!(x, y, "{f} differs");
    }
    let csv = std::fs::read_to_string(a.join("labels.csv")).expect("csv");
    assert!(csv.starts_with("file,label,group,split,coverage"));
    assert!(csv.lines().next().expect("header").ends_with(",blur_px,photons_at_background,particle_snr,n_particles_snr_ge_3"), "{csv}");
    assert_eq!(csv.lines().count(), 41);
    let npy = std::fs::read(a.join("spectral.npy")).expect("npy");
    assert!(npy.len() > 40 * 11 * 96 * 96);
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(a.join("render.json")).expect("render.json")).expect("json");
    assert_eq!(meta["config"]["threshold_margin"], true, "{meta}");
    // --no-margin: the spec's margin-0 set, recorded in render.json; other tasks refuse it.
    let m0 = d.path().join("m0");
    let out = mabtwin(&["qc", "render", "--task", "microcarrier", "--n", "40", "--seed", "9", "--no-spectral", "--no-margin", "--out", s(&m0)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(m0.join("render.json")).expect("render.json")).expect("json");
    assert_eq!(meta["config"]["threshold_margin"], false, "{meta}");
    let out = mabtwin(&["qc", "render", "--task", "trypan", "--n", "4", "--no-margin", "--out", s(&d.path().join("t"))]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--no-margin applies to --task microcarrier only"), "{err}");
}

#[test]
fn classify_real_val_crops_after_training_on_real_train_split() {
    let Some(real) = real_trypan() else { return };
    let d = tempfile::tempdir().expect("tmp");
    let m = d.path().join("m");
    let out = mabtwin(&["qc", "train", "--task", "trypan", "--data", s(&real), "--out", s(&m), "--epochs", "10"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Real trypan crops get the diverse three-network ensemble by default.
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(m.join("model.json")).expect("model.json")).expect("json");
    let members = meta["ensemble"].as_array().expect("ensemble in model.json");
    assert_eq!(members.len(), 2, "{meta}");
    assert_eq!(members[0]["net"]["stem_stride"], 1, "network 2 has the other stem stride");
    assert_eq!(members[1]["patience"], 10, "network 3 runs the whole schedule (patience = --epochs)");
    assert_eq!(meta["val_metrics"]["networks"], 3);
    for f in ["member1.safetensors", "member2.safetensors", "history_member1.json", "history_member2.json"] {
        assert!(m.join(f).is_file(), "missing {f}");
    }
    let rep = d.path().join("rep");
    let out = mabtwin(&["qc", "eval", "--model", s(&m), "--data", s(&real), "--out", s(&rep), "--split", "val"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ensemble of 3 networks"));
    let mj: serde_json::Value = serde_json::from_slice(&std::fs::read(rep.join("metrics.json")).expect("metrics")).expect("json");
    let per = mj["accuracy_per_network"].as_array().expect("accuracy_per_network");
    assert_eq!(per.len(), 3, "{mj}");
    assert!(per.iter().all(|a| a.as_f64().is_some_and(|v| (0.5..=1.0).contains(&v))), "{per:?}");
    let labels = std::fs::read_to_string(real.join("crops64/labels.csv")).expect("labels");
    let val: Vec<(String, String)> = labels
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f.get(2) == Some(&"val")).then(|| (real.join(f[0]).display().to_string(), f[1].to_string()))
        })
        .collect();
    assert_eq!(val.len(), 164);
    let csv_path = d.path().join("pred.csv");
    let mut args = vec!["qc", "classify", "--model", s(&m), "--out", s(&csv_path)];
    args.extend(val.iter().map(|(f, _)| f.as_str()));
    let out = mabtwin(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = std::fs::read_to_string(&csv_path).expect("pred");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("file,class,probability,p_live,p_dead"));
    let mut correct = 0;
    for (line, (file, truth)) in lines.zip(&val) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[0], file);
        let p: f64 = f[2].parse().expect("probability");
        assert!((0.5..=1.0).contains(&p));
        correct += usize::from(f[1] == truth);
    }
    let acc = correct as f64 / val.len() as f64;
    eprintln!("real val accuracy via classify: {acc:.4}");
    assert!(acc >= 0.90, "val accuracy {acc}");
}

#[test]
fn pretraining_on_renders_is_recorded_and_refused_where_it_does_not_apply() {
    let d = tempfile::tempdir().expect("tmp");
    // A render folder is refused: pretraining on renders is for real images.
    let data = d.path().join("r");
    let out = mabtwin(&["qc", "render", "--task", "trypan", "--n", "40", "--seed", "4", "--no-spectral", "--out", s(&data)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = mabtwin(&["qc", "train", "--data", s(&data), "--out", s(&d.path().join("x")), "--pretrain-renders", "500", "--epochs", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--pretrain-renders is for real images") && err.contains("already a render"), "{err}");
    let out = mabtwin(&["qc", "train", "--data", s(&data), "--out", s(&d.path().join("x")), "--pretrain-epochs", "0"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--pretrain-epochs"));
    assert!(!d.path().join("x").exists(), "nothing is written on a refused command");
    let Some(real) = real_trypan() else { return };
    let m = d.path().join("m");
    let out = mabtwin(&["qc", "train", "--task", "trypan", "--data", s(&real), "--out", s(&m), "--epochs", "2", "--ensemble", "1", "--pretrain-renders", "600", "--pretrain-epochs", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("pretraining on 600 rendered trypan images"), "{err}");
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(m.join("model.json")).expect("model.json")).expect("json");
    let what = meta["manifest"]["pretrained_on"].as_str().expect("pretrained_on in the manifest");
    assert!(what.starts_with("600 rendered trypan images") && what.contains("1 epochs"), "{what}");
    assert!(meta["manifest"]["source"].as_str().is_some_and(|p| p.contains("maxkudi")), "{meta}");
}

#[test]
fn fresh_renders_are_recorded_and_refused_where_they_do_not_apply() {
    let d = tempfile::tempdir().expect("tmp");
    let data = d.path().join("beads");
    let out = mabtwin(&["qc", "render", "--task", "microcarrier", "--n", "96", "--seed", "4", "--out", s(&data)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m = d.path().join("m");
    let out = mabtwin(&["qc", "train", "--data", s(&data), "--out", s(&m), "--epochs", "2", "--threads", "1", "--particle-map-weight", "0.1", "--fresh-renders"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("every epoch after the first trains on") && err.contains("new renders"), "{err}");
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(m.join("model.json")).expect("model.json")).expect("json");
    let what = meta["manifest"]["fresh_renders"].as_str().expect("fresh_renders in the manifest");
    assert!(what.contains("new microcarrier renders per epoch") && what.contains("data render seed 4"), "{what}");
    assert_eq!(meta["channels"].as_array().map(Vec::len), Some(4), "spectral channels kept: {meta}");
    let hist: serde_json::Value = serde_json::from_slice(&std::fs::read(m.join("history.json")).expect("history")).expect("json");
    assert_eq!(hist.as_array().map(Vec::len), Some(2));
    // Without the flag the manifest has no such entry.
    let plain = d.path().join("plain");
    let out = mabtwin(&["qc", "train", "--data", s(&data), "--out", s(&plain), "--epochs", "1", "--threads", "1", "--no-spectral"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(plain.join("model.json")).expect("model.json")).expect("json");
    assert!(meta["manifest"].get("fresh_renders").is_none(), "{meta}");
    // Refused: auxiliary targets (labels.csv columns of the data's own images), and data that
    // are not a render (class folders: nothing to render more of).
    let x = d.path().join("x");
    let out = mabtwin(&["qc", "train", "--data", s(&data), "--out", s(&x), "--epochs", "1", "--fresh-renders", "--aux-targets", "coverage"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(2) && err.contains("--fresh-renders cannot be combined with --aux-targets"), "{err}");
    let folders = d.path().join("folders");
    for (class, grey) in [("live", 200u8), ("dead", 60u8)] {
        std::fs::create_dir_all(folders.join(class)).expect("mkdir");
        for i in 0..12 {
            image::GrayImage::from_pixel(64, 64, image::Luma([grey + i])).save(folders.join(class).join(format!("{i}.png"))).expect("png");
        }
    }
    let out = mabtwin(&["qc", "train", "--task", "trypan", "--data", s(&folders), "--out", s(&x), "--epochs", "1", "--fresh-renders"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(2) && err.contains("is not a render folder"), "{err}");
    assert!(!x.exists(), "nothing is written on a refused command");
}

#[test]
fn train_takes_the_compact_shape_flags_and_refuses_bad_ones() {
    let d = tempfile::tempdir().expect("tmp");
    let data = d.path().join("data");
    let out = mabtwin(&["qc", "render", "--task", "trypan", "--n", "160", "--seed", "4", "--out", s(&data)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m = d.path().join("m");
    let out = mabtwin(&["qc", "train", "--data", s(&data), "--out", s(&m), "--epochs", "1", "--no-spectral", "--threads", "1", "--widths", "8,12,16,24", "--blocks", "2", "--full-res-stem", "4", "--space-to-depth"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(m.join("model.json")).expect("model.json")).expect("json");
    assert_eq!(meta["net"]["widths"], serde_json::json!([8, 12, 16, 24]), "{meta}");
    assert_eq!(meta["net"]["blocks_per_stage"], 2, "{meta}");
    assert_eq!(meta["net"]["full_res_stem"], 4, "{meta}");
    assert_eq!(meta["net"]["space_to_depth"], true, "{meta}");
    // The saved shape is the one that is loaded: the model classifies.
    let img = d.path().join("x.png");
    image::GrayImage::from_pixel(64, 64, image::Luma([120])).save(&img).expect("png");
    let out = mabtwin(&["qc", "classify", "--model", s(&m), s(&img)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A sidecar edited to an impossible shape is refused with the reason, not a panic.
    let text = std::fs::read_to_string(m.join("model.json")).expect("read");
    std::fs::write(m.join("model.json"), text.replace("\"blocks_per_stage\": 2", "\"blocks_per_stage\": 0")).expect("write");
    let out = mabtwin(&["qc", "classify", "--model", s(&m), s(&img)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("0 blocks per stage is outside 1..=4"), "{err}");
    // --ensemble 5 walks the five member recipes; each member's shape is saved and loaded.
    let e = d.path().join("e5");
    let out = mabtwin(&["qc", "train", "--data", s(&data), "--out", s(&e), "--epochs", "1", "--no-spectral", "--threads", "1", "--widths", "4,4,8,8", "--ensemble", "5"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(e.join("model.json")).expect("model.json")).expect("json");
    let members = meta["ensemble"].as_array().expect("ensemble in model.json");
    let shapes: Vec<(i64, i64, bool, u64)> = members
        .iter()
        .map(|m| (m["net"]["stem_stride"].as_i64().expect("stride"), m["net"]["blocks_per_stage"].as_i64().expect("blocks"), m["net"]["space_to_depth"].as_bool().unwrap_or(false), m["patience"].as_u64().expect("patience")))
        .collect();
    assert_eq!(shapes, [(1, 1, false, 8), (2, 1, false, 1), (2, 2, false, 8), (2, 1, true, 8)], "{meta}");
    let out = mabtwin(&["qc", "classify", "--model", s(&e), s(&img)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Bad flags are refused before any data are read (the data folder does not exist).
    let none = d.path().join("absent");
    for (args, says) in [
        (vec!["--widths", "8,16,32"], "four comma-separated"),
        (vec!["--widths", "8,16,32,1024"], "`1024` is not a channel count in 4..=512"),
        (vec!["--blocks", "0"], "--blocks"),
        (vec!["--stem-stride", "3"], "--stem-stride"),
        (vec!["--arch", "resnet50", "--blocks", "2"], "shape the compact net"),
        (vec!["--full-res-stem", "2"], "`2` is not 0 (no full-resolution stem) or a channel count in 4..=64"),
        (vec!["--full-res-stem", "many"], "--full-res-stem"),
        (vec!["--arch", "resnet50", "--full-res-stem", "8"], "shape the compact net"),
        (vec!["--arch", "resnet50", "--space-to-depth"], "shape the compact net"),
        (vec!["--space-to-depth", "--stem-stride", "1"], "cannot be combined with --stem-stride 1"),
    ] {
        let mut a = vec!["qc", "train", "--data", s(&none), "--out", s(&m)];
        a.extend(args.iter().copied());
        let out = mabtwin(&a);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{args:?}: {err}");
    }
}

/// `qc eval` of model `m` on `data` into `r` (1 thread): it succeeds and its stdout says
/// `says`; returns `metrics.json`.
fn eval_metrics(m: &Path, data: &Path, r: &Path, says: &str) -> serde_json::Value {
    let out = mabtwin(&["qc", "eval", "--model", s(m), "--data", s(data), "--out", s(r), "--threads", "1"]);
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && so.contains(says), "{so}{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&std::fs::read(r.join("metrics.json")).expect("metrics.json")).expect("json")
}

/// A microcarrier render lists every particle behind its count label; `qc train
/// --particle-map-weight` learns a map of them and refuses data without positions.
#[test]
fn particle_positions_are_written_and_train_a_count_map() {
    let d = tempfile::tempdir().expect("tmp");
    let data = d.path().join("beads");
    let out = mabtwin(&["qc", "render", "--task", "microcarrier", "--n", "160", "--seed", "4", "--no-spectral", "--out", s(&data)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let particles = std::fs::read_to_string(data.join("particles.csv")).expect("particles.csv");
    assert!(particles.starts_with("file,x_px,y_px\n"), "{particles}");
    let mut per_file = std::collections::HashMap::<String, usize>::new();
    for line in particles.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), 3, "{line}");
        assert!(cells[1..].iter().all(|c| c.parse::<f32>().is_ok_and(|v| (-10.0..106.0).contains(&v))), "{line}");
        *per_file.entry(cells[0].to_string()).or_default() += 1;
    }
    let labels = std::fs::read_to_string(data.join("labels.csv")).expect("labels.csv");
    let header: Vec<&str> = labels.lines().next().expect("header").split(',').collect();
    let col = header.iter().position(|h| *h == "n_particles").expect("n_particles column");
    let mut contaminated = 0;
    for line in labels.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let n: f64 = cells[col].parse().expect("number");
        assert_eq!(per_file.get(cells[0]).copied().unwrap_or(0), n as usize, "{line}");
        contaminated += usize::from(cells[1] == "contaminated");
    }
    assert!(contaminated > 0, "the render should hold contaminated beads");
    let m = d.path().join("m");
    let out = mabtwin(&["qc", "train", "--data", s(&data), "--out", s(&m), "--epochs", "1", "--threads", "1", "--particle-map-weight", "0.2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("particle-count map (weight 0.2):") && err.contains("12x12 cells of 8 px"), "{err}");
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(m.join("model.json")).expect("model.json")).expect("json");
    assert_eq!(meta["net"]["particle_map_weight"], 0.2, "{meta}");
    let out = mabtwin(&["qc", "classify", "--model", s(&m), s(&data.join("images/000003.png"))]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // eval scores the map's per-image count against the true one and writes it per image.
    let r = d.path().join("r");
    let metrics = eval_metrics(&m, &data, &r, "particle count from the map head (n=");
    let n = metrics["metrics"]["n"].as_u64().expect("n");
    assert_eq!(metrics["particle_map"]["n"].as_u64(), Some(n), "{metrics}");
    assert!(metrics["particle_map"]["mae"].as_f64().is_some_and(|v| v.is_finite() && v >= 0.0), "{metrics}");
    let counts = std::fs::read_to_string(r.join("particle_counts.csv")).expect("particle_counts.csv");
    assert!(counts.starts_with("file,label,n_particles_true,n_particles_pred\n"), "{counts}");
    assert_eq!(counts.lines().count() as u64, n + 1);
    // Renders of other tasks have no particles.csv, and the flag says what it needs.
    let crops = d.path().join("crops");
    let out = mabtwin(&["qc", "render", "--task", "trypan", "--n", "32", "--seed", "5", "--no-spectral", "--out", s(&crops)]);
    assert!(out.status.success() && !crops.join("particles.csv").exists(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = mabtwin(&["qc", "train", "--data", s(&crops), "--out", s(&m), "--epochs", "1", "--threads", "1", "--particle-map-weight", "0.2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--particle-map-weight needs the particle positions of a microcarrier render"), "{err}");
    for (w, says) in [("-1", "--particle-map-weight -1 is outside [0, 100]"), ("NaN", "is outside [0, 100]")] {
        let out = mabtwin(&["qc", "train", "--data", s(&data), "--out", s(&m), "--particle-map-weight", w]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{w}: {err}");
    }
    // A particles.csv row naming an image that labels.csv lacks is a format error.
    std::fs::write(data.join("particles.csv"), "file,x_px,y_px\nimages/nope.png,1,2\n").expect("write");
    let out = mabtwin(&["qc", "train", "--data", s(&data), "--out", s(&m), "--epochs", "1", "--threads", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("file `images/nope.png` is not in labels.csv"), "{err}");
}

#[test]
fn train_learns_auxiliary_targets_from_labels_csv_and_refuses_bad_ones() {
    let d = tempfile::tempdir().expect("tmp");
    let data = d.path().join("data");
    let out = mabtwin(&["qc", "render", "--task", "trypan", "--n", "160", "--seed", "4", "--out", s(&data)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m = d.path().join("m");
    let out = mabtwin(&["qc", "train", "--data", s(&data), "--out", s(&m), "--epochs", "1", "--no-spectral", "--threads", "1", "--aux-targets", "radius_px,n_neighbours", "--aux-weight", "0.25"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("auxiliary targets (weight 0.25): radius_px (mean"), "{err}");
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(m.join("model.json")).expect("model.json")).expect("json");
    let cols: Vec<&str> = meta["net"]["aux_targets"].as_array().expect("aux_targets").iter().map(|t| t["column"].as_str().expect("column")).collect();
    assert_eq!(cols, ["radius_px", "n_neighbours"], "{meta}");
    assert_eq!(meta["net"]["aux_weight"], 0.25, "{meta}");
    // The model with its auxiliary head loads and classifies.
    let img = d.path().join("x.png");
    image::GrayImage::from_pixel(64, 64, image::Luma([120])).save(&img).expect("png");
    let out = mabtwin(&["qc", "classify", "--model", s(&m), s(&img)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // eval scores the auxiliary targets on the evaluated rows and writes them per image.
    let r = d.path().join("r");
    let metrics = eval_metrics(&m, &data, &r, "auxiliary target radius_px (n=");
    let fits = metrics["aux_targets"].as_array().expect("aux_targets");
    assert_eq!(fits.len(), 2, "{metrics}");
    let n = metrics["metrics"]["n"].as_u64().expect("n");
    for (fit, col) in fits.iter().zip(["radius_px", "n_neighbours"]) {
        assert_eq!(fit["column"], col);
        assert_eq!(fit["n"].as_u64(), Some(n));
        assert!(fit["rmse"].as_f64().is_some_and(|v| v.is_finite() && v >= 0.0) && fit["r2"].as_f64().is_some_and(f64::is_finite), "{fit}");
    }
    let aux_csv = std::fs::read_to_string(r.join("aux_predictions.csv")).expect("aux_predictions.csv");
    assert!(aux_csv.starts_with("file,label,radius_px_true,radius_px_pred,n_neighbours_true,n_neighbours_pred\n"), "{aux_csv}");
    assert_eq!(aux_csv.lines().count() as u64, n + 1);
    // A column the data do not have: named, with the numeric columns that exist.
    let out = mabtwin(&["qc", "train", "--data", s(&data), "--out", s(&m), "--epochs", "1", "--no-spectral", "--threads", "1", "--aux-targets", "n_particles"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("no numeric labels.csv column `n_particles`") && err.contains("radius_px"), "{err}");
    // Bad flags are refused before any data are read.
    let none = d.path().join("absent");
    for (args, says) in [
        (vec!["--aux-weight", "1"], "--aux-weight needs --aux-targets"),
        (vec!["--aux-targets", "a,,b"], "empty column name"),
        (vec!["--aux-targets", "a,a"], "`a` is given twice"),
        (vec!["--aux-targets", "a", "--aux-weight", "0"], "--aux-weight 0 is outside (0, 100]"),
        (vec!["--aux-targets", "a", "--aux-weight", "NaN"], "is outside (0, 100]"),
    ] {
        let mut a = vec!["qc", "train", "--data", s(&none), "--out", s(&m)];
        a.extend(args.iter().copied());
        let out = mabtwin(&a);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn classify_handles_bad_inputs() {
    let m = rendered_model();
    let d = tempfile::tempdir().expect("tmp");
    let good = d.path().join("good.png");
    image::GrayImage::from_pixel(64, 64, image::Luma([120])).save(&good).expect("png");
    let rgb = d.path().join("rgb.png");
    image::RgbImage::from_pixel(80, 70, image::Rgb([100, 150, 200])).save(&rgb).expect("png");
    let corrupt = d.path().join("corrupt.png");
    let mut bytes = std::fs::read(&good).expect("read");
    bytes.truncate(30);
    std::fs::write(&corrupt, bytes).expect("write");
    let text = d.path().join("notes.png");
    std::fs::write(&text, "not an image").expect("write");
    let csv_path = d.path().join("out.csv");
    let mut args = vec!["qc", "classify", "--model", s(m), "--out", s(&csv_path), s(&good), s(&corrupt), s(&rgb), s(&text)];
    let cell = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/qc_data/skimage-cell-qpi/cell.png");
    if cell.is_file() {
        args.push(s(&cell));
    } else {
        eprintln!("cell.png skipped: ../shared is absent");
    }
    let out = mabtwin(&args);
    assert_eq!(out.status.code(), Some(1), "failures give exit 1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("error: {}: cannot decode image", corrupt.display())), "{err}");
    assert!(err.contains(&format!("error: {}: cannot decode image", text.display())), "{err}");
    assert!(err.contains("centre-cropped"), "{err}");
    if cell.is_file() {
        assert!(err.contains("more than 4x"), "{err}");
    }
    let csv = std::fs::read_to_string(&csv_path).expect("csv");
    let n_ok = if cell.is_file() { 3 } else { 2 };
    assert_eq!(csv.lines().count(), 1 + n_ok, "{csv}");
    assert!(!csv.contains("corrupt.png") && !csv.contains("notes.png"));
    // --strict-size makes other sizes errors.
    let out = mabtwin(&["qc", "classify", "--model", s(m), "--strict-size", s(&rgb)]);
    assert_eq!(out.status.code(), Some(1));
    // Empty folder and bad model dir: exit 2 with the path named.
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let out = mabtwin(&["qc", "classify", "--model", s(m), s(&empty)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no images"));
    let out = mabtwin(&["qc", "classify", "--model", s(&empty), s(&good)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a model directory"));
}

#[test]
fn eval_writes_report_files() {
    let m = rendered_model();
    let d = tempfile::tempdir().expect("tmp");
    let data = d.path().join("data");
    let out = mabtwin(&["qc", "render", "--task", "trypan", "--n", "96", "--seed", "77", "--out", s(&data), "--no-spectral"]);
    assert!(out.status.success());
    let rep = d.path().join("rep");
    let out = mabtwin(&["qc", "eval", "--model", s(m), "--data", s(&data), "--out", s(&rep), "--threads", "1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in ["metrics.json", "per_class.csv", "confusion.csv", "confusion.png", "rotation.csv", "predictions.csv"] {
        assert!(rep.join(f).is_file(), "{f}");
    }
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(rep.join("metrics.json")).expect("json")).expect("json");
    let n = v["metrics"]["n"].as_u64().expect("n");
    let cm: u64 = v["metrics"]["confusion"].as_array().expect("cm").iter().flat_map(|r| r.as_array().expect("row").iter().map(|x| x.as_u64().expect("u64"))).sum();
    assert_eq!(n, cm);
    // predictions.csv: one row per evaluated image, named as in labels.csv, whose label and
    // predicted columns rebuild the confusion matrix of metrics.json.
    let classes: Vec<String> = v["metrics"]["classes"].as_array().expect("classes").iter().map(|c| c.as_str().expect("str").to_string()).collect();
    let pred = std::fs::read_to_string(rep.join("predictions.csv")).expect("predictions.csv");
    let mut lines = pred.lines();
    assert_eq!(lines.next().expect("header"), format!("file,label,predicted,probability,{}", classes.iter().map(|c| format!("p_{c}")).collect::<Vec<_>>().join(",")));
    let labels = std::fs::read_to_string(data.join("labels.csv")).expect("labels");
    let mut rebuilt = vec![vec![0u64; classes.len()]; classes.len()];
    let mut rows = 0;
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert!(labels.lines().any(|r| r.starts_with(&format!("{},{},", f[0], f[1]))), "{l} is a labels.csv row");
        let (t, k) = (classes.iter().position(|c| c == f[1]).expect("label"), classes.iter().position(|c| c == f[2]).expect("predicted"));
        rebuilt[t][k] += 1;
        rows += 1;
    }
    assert_eq!(rows, n);
    let cm_json: Vec<Vec<u64>> = v["metrics"]["confusion"].as_array().expect("cm").iter().map(|r| r.as_array().expect("row").iter().map(|x| x.as_u64().expect("u64")).collect()).collect();
    assert_eq!(rebuilt, cm_json);
    assert_eq!(v["rotation"]["accuracy_by_angle"].as_array().expect("rot").len(), 4);
    // Accuracy against imaging difficulty: 3 terciles each of blur and photons at background.
    let diff = std::fs::read_to_string(rep.join("difficulty.csv")).expect("difficulty.csv");
    let lines: Vec<&str> = diff.lines().collect();
    assert_eq!(lines[0], "variable,tercile,lo,hi,n,n_correct,accuracy");
    assert_eq!(lines.len(), 1 + 6, "{diff}");
    for (var, rows) in [("blur_px", &lines[1..4]), ("photons_at_background", &lines[4..7])] {
        let mut total = 0;
        for l in rows {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f[0], var, "{l}");
            total += f[4].parse::<u64>().expect("n");
        }
        assert_eq!(total, n, "{var}: every evaluated image is in one tercile");
    }
    let dj = &v["difficulty"];
    assert_eq!(dj["blur_px"]["bins"].as_array().expect("bins").len(), 3);
    assert_eq!(dj["photons_at_background"]["edges"].as_array().expect("edges").len(), 2);
    // Data without the difficulty columns (older renders, real crops): no difficulty.csv, one
    // line on stdout saying why, everything else as before.
    let labels = data.join("labels.csv");
    let old: String = std::fs::read_to_string(&labels)
        .expect("labels")
        .lines()
        .map(|l| l.split(',').take(l.split(',').count() - 2).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    assert!(!old.contains("blur_px"));
    std::fs::write(&labels, old).expect("write");
    let rep2 = d.path().join("rep_old");
    let out = mabtwin(&["qc", "eval", "--model", s(m), "--data", s(&data), "--out", s(&rep2), "--threads", "1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().filter(|l| l.contains("difficulty.csv not written")).count(), 1, "{stdout}");
    assert!(!rep2.join("difficulty.csv").exists());
    let v2: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(rep2.join("metrics.json")).expect("json")).expect("json");
    assert_eq!(v2["metrics"]["n"], v["metrics"]["n"]);
    assert!(v2.get("difficulty").is_none());
}

/// `qc calibrate` fits class decision offsets on a labelled split, rewrites model.json only,
/// and `qc eval` then reports the figures with and without them; the test split, a missing
/// --data and too few images per class are clear errors (exit 2); --clear removes them.
#[test]
fn calibrate_fits_class_offsets_and_eval_reports_both_rules() {
    let d = tempfile::tempdir().expect("tmp");
    let data = d.path().join("data");
    let out = mabtwin(&["qc", "render", "--task", "trypan", "--n", "400", "--seed", "78", "--out", s(&data), "--no-spectral"]);
    assert!(out.status.success());
    // `qc train --fit-class-offsets` fits them on the validation split after training.
    let m = d.path().join("m");
    let out = mabtwin(&["qc", "train", "--data", s(&data), "--out", s(&m), "--epochs", "1", "--threads", "1", "--fit-class-offsets"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("class decision offsets fitted on val"), "{}", String::from_utf8_lossy(&out.stdout));
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(m.join("model.json")).expect("json")).expect("json");
    assert_eq!(meta["class_offsets_fit"]["split"], "val", "{meta}");
    assert_eq!(meta["class_log_offsets"].as_array().map(Vec::len), Some(2), "{meta}");
    let weights = std::fs::read(m.join("model.safetensors")).expect("weights");
    let out = mabtwin(&["qc", "calibrate", "--model", s(&m), "--data", s(&data), "--split", "train", "--threads", "1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("class decision offsets fitted on train") && stdout.contains("before: accuracy") && stdout.contains("after: accuracy"), "{stdout}");
    assert_eq!(std::fs::read(m.join("model.safetensors")).expect("weights"), weights, "weights untouched");
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(m.join("model.json")).expect("json")).expect("json");
    let offsets: Vec<f64> = meta["class_log_offsets"].as_array().expect("offsets").iter().map(|v| v.as_f64().expect("f64")).collect();
    assert_eq!(offsets.len(), 2);
    assert!(offsets.iter().sum::<f64>().abs() < 1e-6, "centred: {offsets:?}");
    let fit = &meta["class_offsets_fit"];
    assert_eq!(fit["split"], "train");
    let (before, after) = (&fit["before"], &fit["after"]);
    assert!(after["min_precision_recall"].as_f64().expect("f64") >= before["min_precision_recall"].as_f64().expect("f64"));
    assert!(after["accuracy"].as_f64().expect("f64") >= before["accuracy"].as_f64().expect("f64") - 0.005 - 1e-12);
    // eval on the same split reproduces the fit's "after" figures, and its "before" ones
    // without the offsets.
    let rep = d.path().join("rep");
    let out = mabtwin(&["qc", "eval", "--model", s(&m), "--data", s(&data), "--out", s(&rep), "--split", "train", "--threads", "1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(rep.join("metrics.json")).expect("json")).expect("json");
    assert_eq!(&v["operating_point"], after, "{v}");
    assert_eq!(&v["without_class_offsets"]["operating_point"], before, "{v}");
    assert_eq!(v["metrics"]["accuracy"], after["accuracy"]);
    // Refusals.
    for (args, says) in [
        (vec!["--data", s(&data), "--split", "test"], "--split test"),
        (vec![], "--data is needed"),
        (vec!["--data", s(&data), "--split", "nope"], "no `nope` rows"),
    ] {
        let mut a = vec!["qc", "calibrate", "--model", s(&m)];
        a.extend(args);
        let out = mabtwin(&a);
        assert_eq!(out.status.code(), Some(2), "{a:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(says), "{a:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let small = d.path().join("small");
    let out = mabtwin(&["qc", "render", "--task", "trypan", "--n", "16", "--seed", "3", "--out", s(&small), "--no-spectral"]);
    assert!(out.status.success());
    let out = mabtwin(&["qc", "calibrate", "--model", s(&m), "--data", s(&small), "--split", "train", "--threads", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 10 labelled images of every class"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = mabtwin(&["qc", "calibrate", "--model", s(&m), "--clear"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(m.join("model.json")).expect("json")).expect("json");
    assert!(meta.get("class_log_offsets").is_none() && meta.get("class_offsets_fit").is_none(), "{meta}");
}

/// `qc report` renders each simulated day, classifies beads and trypan crops and writes the
/// per-day table; a model of the wrong task is a clear input error.
#[test]
fn report_on_a_simulated_batch() {
    let d = tempfile::tempdir().expect("tmp");
    let beads = d.path().join("beads");
    let out = mabtwin(&["qc", "render", "--task", "microcarrier", "--n", "160", "--seed", "4", "--no-spectral", "--out", s(&beads)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bead_model = d.path().join("bead_model");
    let out = mabtwin(&["qc", "train", "--data", s(&beads), "--out", s(&bead_model), "--epochs", "1", "--threads", "1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rep = d.path().join("rep");
    let args = ["qc", "report", "baseline", "--bead-model", s(&bead_model), "--trypan-model", s(rendered_model()), "--images-per-day", "3", "--out", s(&rep)];
    let out = mabtwin(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}{stdout}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("HyperScore") && stdout.contains("labels"), "{stdout}");
    // The verdict the renderer's labels give sits beside the model's, and the summary line
    // names the days where they differ (or says that none do).
    assert!(stdout.contains("renderer's labels give"), "{stdout}");
    let csv = std::fs::read_to_string(rep.join("report.csv")).expect("report.csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 15, "header + days 0..=14:\n{csv}");
    assert!(lines[0].starts_with("day,true_vcd_1e6_per_ml,true_viability_pct,image_viability_pct"), "{}", lines[0]);
    let head: Vec<&str> = lines[0].split(',').collect();
    assert_eq!((head[11], head[12]), ("verdict", "label_verdict"), "{}", lines[0]);
    for l in &lines[1..] {
        let cols: Vec<&str> = l.split(',').collect();
        let hs: f64 = cols[10].parse().expect("hyperscore");
        assert!((100.0..=177.8).contains(&hs), "HyperScore within 100 × [1, (4/3)²]: {l}");
        assert!(["pass", "warn", "fail"].contains(&cols[12]), "label verdict: {l}");
    }
    // Day 0 of the baseline: 0.5e6 cells/mL on fresh beads, under-confluent by the label rule,
    // which passes before day 4.
    assert!(lines[1].split(',').nth(12) == Some("pass"), "{}", lines[1]);
    assert!(rep.join("hyperscore.png").is_file() && rep.join("report.json").is_file());
    // The same run twice gives the same report (seeded renderer, deterministic simulation).
    let rep2 = d.path().join("rep2");
    let mut again = args.to_vec();
    *again.last_mut().expect("out") = s(&rep2);
    assert!(mabtwin(&again).status.success());
    assert_eq!(csv, std::fs::read_to_string(rep2.join("report.csv")).expect("second report"));
    // Swapped models: exit 2 and a message naming the task.
    let out = mabtwin(&["qc", "report", "baseline", "--bead-model", s(rendered_model()), "--trypan-model", s(&bead_model), "--out", s(&rep)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("microcarrier"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `qc batch` on a `simulate` run folder: the shipped models by default, a user's model for
/// one view, a contamination fault that turns the verdict to `fail`, and clear errors for a
/// folder without truth.csv, a malformed truth.csv and a model of the wrong kind.
#[test]
fn batch_on_a_simulate_run_folder() {
    let d = tempfile::tempdir().expect("tmp");
    let run = d.path().join("run");
    let out = mabtwin(&["simulate", "baseline", "--out", s(&run)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let qc = d.path().join("qc");
    let args = ["qc", "batch", "--run", s(&run), "--bead-images", "4", "--trypan-crops", "6", "--out", s(&qc)];
    let out = mabtwin(&args);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}{stdout}");
    assert!(stderr.contains("shipped small model"), "{stderr}");
    assert!(qc.join("models/beads/model.json").is_file() && qc.join("models/trypan/model.json").is_file());
    let csv = std::fs::read_to_string(qc.join("qc_daily.csv")).expect("qc_daily.csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 15, "header + days 0..=14:\n{csv}");
    assert!(lines[0].starts_with("day,true_vcd_1e6_per_ml,true_viability_pct,image_viability_pct"), "{}", lines[0]);
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(qc.join("qc_daily.json")).expect("json")).expect("json");
    assert_eq!(json["scenario"], "baseline");
    assert_eq!(json["days"].as_array().map(Vec::len), Some(15));
    assert_eq!(json["days"][3]["n_bead_images"], 4);
    assert_eq!(json["days"][3]["n_trypan_crops"], 6);
    assert!(qc.join("hyperscore.png").is_file());
    // The truth of the run is what was rendered: day-7 VCD in the table equals truth.csv's.
    let truth = std::fs::read_to_string(run.join("truth.csv")).expect("truth");
    let head: Vec<&str> = truth.lines().next().expect("header").split(',').collect();
    let (ti, vi) = (head.iter().position(|h| *h == "t_h").expect("t_h"), head.iter().position(|h| *h == "vcd_1e6_per_ml").expect("vcd"));
    let day7 = truth.lines().skip(1).map(|l| l.split(',').collect::<Vec<_>>()).find(|c| c[ti].parse::<f64>().ok() == Some(168.0)).expect("t = 168 h");
    let vcd7: f64 = day7[vi].parse().expect("vcd");
    let rep7: f64 = lines[8].split(',').nth(1).expect("col").parse().expect("vcd");
    assert!((vcd7 - rep7).abs() < 1e-3, "{vcd7} vs {rep7}");
    // Deterministic.
    let qc2 = d.path().join("qc2");
    let mut again = args.to_vec();
    *again.last_mut().expect("out") = s(&qc2);
    assert!(mabtwin(&again).status.success());
    assert_eq!(csv, std::fs::read_to_string(qc2.join("qc_daily.csv")).expect("second"));
    // A user's trypan model for one view; the bead view keeps the shipped model.
    let qc3 = d.path().join("qc3");
    let out = mabtwin(&["qc", "batch", "--run", s(&run), "--model", s(rendered_model()), "--bead-images", "2", "--trypan-crops", "2", "--out", s(&qc3)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("microcarrier") && !stderr.contains("trypan ("), "only the bead model is shipped here: {stderr}");
    assert!(!qc3.join("models/trypan").exists());
    // Two trypan models: exit 2.
    let out = mabtwin(&["qc", "batch", "--run", s(&run), "--model", s(rendered_model()), "--model", s(rendered_model()), "--out", s(&qc3)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("two `trypan` models"), "{}", String::from_utf8_lossy(&out.stderr));
    // Not a run folder: exit 2 naming truth.csv.
    let out = mabtwin(&["qc", "batch", "--run", s(d.path()), "--out", s(&qc3)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("truth.csv"), "{}", String::from_utf8_lossy(&out.stderr));
    // A truth.csv without the needed column: exit 2 naming it.
    let bad = d.path().join("bad");
    std::fs::create_dir_all(&bad).expect("mkdir");
    std::fs::write(bad.join("truth.csv"), "t_h,vcd_1e6_per_ml\n0,0.5\n").expect("write");
    let out = mabtwin(&["qc", "batch", "--run", s(&bad), "--out", s(&qc3)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("viability_pct"), "{}", String::from_utf8_lossy(&out.stderr));
    // A contamination fault shows in the verdicts.
    let scen = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/fault_contamination.toml");
    if scen.is_file() {
        let crun = d.path().join("crun");
        assert!(mabtwin(&["simulate", s(&scen), "--out", s(&crun)]).status.success());
        let cqc = d.path().join("cqc");
        let out = mabtwin(&["qc", "batch", "--run", s(&crun), "--bead-images", "16", "--trypan-crops", "4", "--out", s(&cqc)]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let csv = std::fs::read_to_string(cqc.join("qc_daily.csv")).expect("csv");
        // Day 14, a week after onset: the contaminated class dominates and fails the day, by
        // the model and by the renderer's labels.
        let last = csv.lines().last().expect("day 14");
        assert!(last.starts_with("14,") && last.contains(",fail,fail,") && last.contains("contaminated"), "{csv}");
    }
}
