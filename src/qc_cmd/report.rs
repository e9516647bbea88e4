//! `mabtwin qc report` and `mabtwin qc batch`: a simulated batch's days rendered, classified
//! and scored (class fractions, HyperScore, verdict per day).

use super::*;

/// The two classifiers a batch report needs.
pub(super) struct ReportModels<'a> {
    pub(super) bead: &'a Path,
    pub(super) trypan: &'a Path,
}

/// One day of a batch report: the simulator's truth next to what the images say.
#[derive(serde::Serialize)]
struct ReportDay {
    #[serde(flatten)]
    qc: qc::report::QcDayReport,
    true_vcd_1e6_per_ml: f64,
    true_viability_pct: f64,
    /// Share of the day's images whose predicted class equals the renderer's label.
    bead_label_agreement: f64,
    trypan_label_agreement: f64,
    /// The verdict and reasons the renderer's own labels give (what a perfect classifier
    /// would report for these images): a `verdict` that differs is the model's error.
    label_verdict: qc::report::Verdict,
    label_reasons: Vec<String>,
}

fn load_task_model(dir: &Path, task: Task) -> Result<qc::model::Classifier> {
    let m = load_model(dir)?;
    if m.meta.task != task.name() {
        bail!("{}: a `{}` model, but the report needs a `{}` model here", dir.display(), m.meta.task, task.name());
    }
    Ok(m)
}

/// One view of one day: the model's probabilities and the renderer's labels.
struct DayView {
    probs: Vec<Vec<f64>>,
    /// Share of the images whose predicted class equals the renderer's label.
    agreement: f64,
    /// The renderer's labels as one-hot probabilities (images without a label left out).
    label_probs: Vec<Vec<f64>>,
}

/// Render `n` images of `task` for one culture day and classify them.
fn classify_day(model: &qc::model::Classifier, task: Task, state: &render::CultureState, seed: u64, n: usize, difficulty: Difficulty) -> Result<DayView> {
    let cfg = RenderConfig { difficulty, spectral: model.meta.pca.is_some(), ..RenderConfig::new(task) };
    let mut x = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let r = render::render_from_state(&cfg, state, seed, i as u64)?;
        let pca = match (&model.meta.pca, &r.spectral) {
            (Some(basis), Some(cube)) => Some((basis, cube.as_slice())),
            (None, _) => None,
            (Some(_), None) => bail!("the {} model needs spectral cubes the renderer did not produce", task.name()),
        };
        x.extend(qc::model::build_input(&r.image, pca)?);
        labels.push(r.label);
    }
    let probs = model.predict_proba(&x, n, 64)?;
    let pred = qc::metrics::argmax(&probs);
    let agreement = pred.iter().zip(&labels).filter(|(p, l)| l.is_some_and(|l| l == **p)).count() as f64 / n.max(1) as f64;
    let k = task.classes().len();
    let label_probs = labels.iter().flatten().map(|&c| (0..k).map(|j| f64::from(u8::from(j == c))).collect()).collect();
    Ok(DayView { probs, agreement, label_probs })
}

pub(super) fn cmd_report(scenario: &str, models: ReportModels<'_>, per_day: usize, day: &DayRenderArgs) -> Result<ExitCode> {
    use crate::cmd::{Loaded, load_scenario, print_diagnostics};
    let DayRenderArgs { seed, difficulty, out, threads } = day;
    let (seed, out) = (*seed, out.as_path());
    tch::set_num_threads(*threads);
    if per_day == 0 {
        bail!("--images-per-day must be at least 1");
    }
    let valid = match load_scenario(scenario)? {
        Loaded::Ok { scenario, warnings } => {
            print_diagnostics(&warnings);
            *scenario
        }
        Loaded::Invalid(errors) => {
            print_diagnostics(&errors);
            return Ok(ExitCode::from(2));
        }
    };
    let difficulty = Difficulty::parse(difficulty)?;
    let bead = load_task_model(models.bead, Task::Microcarrier)?;
    let trypan = load_task_model(models.trypan, Task::Trypan)?;
    let rec = sim::simulate(&valid)?;
    let pv = valid.get().vessel.power_per_volume_w_per_m3;
    let states: Vec<DayState> = rec
        .truth
        .iter()
        .filter(|r| is_whole_day(r.t_h))
        .map(|r| DayState { t_h: r.t_h, vcd_1e6_per_ml: r.vcd_1e6_per_ml, viability_pct: r.viability_pct, contaminant_g_per_l: r.contaminant_g_per_l })
        .collect();
    let counts = ImageCounts { bead: per_day, trypan: per_day };
    let days = report_days(&states, pv, (&bead, &trypan), counts, seed, difficulty, "qc report: days")?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_report(out, "report", &valid.get().name, &days)?;
    print_report(&valid.get().name, &days);
    println!("wrote {}/{{report.csv, report.json, hyperscore.png}}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// Whether `t_h` is a whole culture day (0, 24, 48, … h; truth.csv is written to 6 decimals).
fn is_whole_day(t_h: f64) -> bool {
    (t_h / 24.0 - (t_h / 24.0).round()).abs() < 1e-6
}

/// The true culture state of one day, as `truth.csv` records it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct DayState {
    t_h: f64,
    vcd_1e6_per_ml: f64,
    viability_pct: f64,
    contaminant_g_per_l: f64,
}

/// Images rendered per day and view.
#[derive(Debug, Clone, Copy)]
struct ImageCounts {
    bead: usize,
    trypan: usize,
}

/// Render and classify every day's images and build its report (the work shared by
/// `qc report` and `qc batch`).
fn report_days(
    states: &[DayState],
    power_per_volume_w_per_m3: f64,
    models: (&qc::model::Classifier, &qc::model::Classifier),
    counts: ImageCounts,
    seed: u64,
    difficulty: Difficulty,
    what: &str,
) -> Result<Vec<ReportDay>> {
    let pb = bar(states.len() as u64, what);
    let mut days = Vec::new();
    for row in states {
        let day = (row.t_h / 24.0).round() as u32;
        let state = render::CultureState {
            day,
            vcd_1e6_per_ml: row.vcd_1e6_per_ml,
            viability_frac: row.viability_pct / 100.0,
            contaminant_g_per_l: row.contaminant_g_per_l,
            power_per_volume_w_per_m3,
        };
        let beads = classify_day(models.0, Task::Microcarrier, &state, seed, counts.bead, difficulty)?;
        let trypan = classify_day(models.1, Task::Trypan, &state, seed, counts.trypan, difficulty)?;
        let weights = qc::hyperscore::QualityWeights::default();
        let qc = qc::report::day_report(day, &beads.probs, &trypan.probs, weights)?;
        let by_labels = qc::report::day_report(day, &beads.label_probs, &trypan.label_probs, weights)?;
        days.push(ReportDay {
            qc,
            true_vcd_1e6_per_ml: row.vcd_1e6_per_ml,
            true_viability_pct: row.viability_pct,
            bead_label_agreement: beads.agreement,
            trypan_label_agreement: trypan.agreement,
            label_verdict: by_labels.verdict,
            label_reasons: by_labels.reasons,
        });
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(days)
}

/// The whole-day rows of a `simulate` run's `truth.csv` (t_h a multiple of 24 h).
fn read_truth_days(path: &Path) -> Result<Vec<DayState>> {
    let mut rd = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let header = rd.headers().with_context(|| format!("{}: no header", path.display()))?.clone();
    let col = |name: &str| {
        header.iter().position(|h| h == name).with_context(|| format!("{}: no `{name}` column (is this a `mabtwin simulate` truth.csv?)", path.display()))
    };
    let (ti, vi, ai, ci) = (col("t_h")?, col("vcd_1e6_per_ml")?, col("viability_pct")?, col("contaminant_g_per_l")?);
    let mut days = Vec::new();
    for (k, rec) in rd.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", path.display(), k + 2))?;
        let num = |i: usize, name: &str| -> Result<f64> {
            let v: f64 = rec.get(i).unwrap_or("").trim().parse().with_context(|| format!("{}: row {}: `{name}` is not a number", path.display(), k + 2))?;
            if !v.is_finite() {
                bail!("{}: row {}: `{name}` is not finite", path.display(), k + 2);
            }
            Ok(v)
        };
        let t_h = num(ti, "t_h")?;
        if !is_whole_day(t_h) {
            continue;
        }
        let s = DayState { t_h, vcd_1e6_per_ml: num(vi, "vcd_1e6_per_ml")?, viability_pct: num(ai, "viability_pct")?, contaminant_g_per_l: num(ci, "contaminant_g_per_l")? };
        if s.vcd_1e6_per_ml < 0.0 || !(0.0..=100.0).contains(&s.viability_pct) || s.contaminant_g_per_l < 0.0 {
            bail!("{}: row {}: state out of range (VCD ≥ 0, viability 0–100 %, contaminant ≥ 0)", path.display(), k + 2);
        }
        days.push(s);
    }
    if days.is_empty() {
        bail!("{}: no whole-day rows (t_h = 0, 24, 48, … h)", path.display());
    }
    Ok(days)
}

/// Name and P/V of the run's vessel, from the `scenario.toml` that `simulate` writes next to
/// truth.csv; without it (a truth.csv from elsewhere) the spec's default P/V with a warning.
fn run_scenario(run: &Path) -> Result<(String, f64)> {
    use crate::cmd::{Loaded, load_scenario, print_diagnostics};
    let path = run.join("scenario.toml");
    if !path.is_file() {
        eprintln!("warning: {} is missing: assuming P/V = {DEFAULT_POWER_PER_VOLUME_W_PER_M3} W/m³ (it sets how often beads aggregate)", path.display());
        let name = run.file_name().map_or_else(|| "run".to_string(), |n| n.to_string_lossy().to_string());
        return Ok((name, DEFAULT_POWER_PER_VOLUME_W_PER_M3));
    }
    match load_scenario(&path.display().to_string())? {
        Loaded::Ok { scenario, .. } => Ok((scenario.get().name.clone(), scenario.get().vessel.power_per_volume_w_per_m3)),
        Loaded::Invalid(errors) => {
            print_diagnostics(&errors);
            bail!("{}: not a valid scenario", path.display())
        }
    }
}

/// The spec's default agitation power per volume (sim.md §3).
const DEFAULT_POWER_PER_VOLUME_W_PER_M3: f64 = 20.0;

/// Arguments of `qc batch`.
pub struct BatchArgs {
    pub run: PathBuf,
    pub models: Vec<PathBuf>,
    pub bead_images: usize,
    pub trypan_crops: usize,
    pub day: DayRenderArgs,
}

pub(super) fn cmd_batch(a: &BatchArgs) -> Result<ExitCode> {
    tch::set_num_threads(a.day.threads);
    if a.bead_images == 0 || a.trypan_crops == 0 {
        bail!("--bead-images and --trypan-crops must be at least 1");
    }
    if a.models.len() > 2 {
        bail!("--model takes at most two folders (one microcarrier, one trypan model)");
    }
    let difficulty = Difficulty::parse(&a.day.difficulty)?;
    let states = read_truth_days(&a.run.join("truth.csv"))?;
    let (name, pv) = run_scenario(&a.run)?;
    let (mut bead, mut trypan) = (None, None);
    for dir in &a.models {
        let m = load_model(dir)?;
        let slot = match m.meta.task.as_str() {
            t if t == Task::Microcarrier.name() => &mut bead,
            t if t == Task::Trypan.name() => &mut trypan,
            other => bail!("{}: a `{other}` model; qc batch takes a microcarrier and/or a trypan model", dir.display()),
        };
        if slot.is_some() {
            bail!("two `{}` models given with --model", m.meta.task);
        }
        *slot = Some(m);
    }
    let mut shipped = Vec::new();
    let mut shipped_model = |folder: &str, task: Task| -> Result<qc::model::Classifier> {
        let dir = a.day.out.join("models").join(folder);
        crate::cmd::demo::write_shipped_qc_model(folder, &dir)?;
        shipped.push(format!("{} ({})", task.name(), dir.display()));
        load_task_model(&dir, task)
    };
    let bead = match bead {
        Some(m) => m,
        None => shipped_model("beads", Task::Microcarrier)?,
    };
    let trypan = match trypan {
        Some(m) => m,
        None => shipped_model("trypan", Task::Trypan)?,
    };
    if !shipped.is_empty() {
        eprintln!("note: using the shipped small model(s) for {} (models/qc/README.md); pass --model to use your own", shipped.join(", "));
    }
    let counts = ImageCounts { bead: a.bead_images, trypan: a.trypan_crops };
    let days = report_days(&states, pv, (&bead, &trypan), counts, a.day.seed, difficulty, "qc batch: days")?;
    std::fs::create_dir_all(&a.day.out).with_context(|| format!("creating {}", a.day.out.display()))?;
    write_report(&a.day.out, "qc_daily", &name, &days)?;
    print_report(&name, &days);
    println!("wrote {}/{{qc_daily.csv, qc_daily.json, hyperscore.png}}", a.day.out.display());
    Ok(ExitCode::SUCCESS)
}

/// `{stem}.json`, `{stem}.csv` and `hyperscore.png` of a batch's days.
fn write_report(out: &Path, stem: &str, scenario: &str, days: &[ReportDay]) -> Result<()> {
    let json = serde_json::json!({ "scenario": scenario, "days": days });
    qc::io::write_file(&out.join(format!("{stem}.json")), serde_json::to_string_pretty(&json)?.as_bytes())?;
    let classes = Task::Microcarrier.classes();
    let mut csv = format!(
        "day,true_vcd_1e6_per_ml,true_viability_pct,image_viability_pct,{},quality_value,hyperscore,verdict,label_verdict,bead_label_agreement,trypan_label_agreement,reasons,label_reasons\n",
        classes.iter().map(|c| format!("frac_{c}")).collect::<Vec<_>>().join(",")
    );
    for d in days {
        let q = &d.qc;
        csv.push_str(&format!(
            "{},{:.4},{:.2},{:.2},{},{:.4},{:.2},{},{},{:.3},{:.3},\"{}\",\"{}\"\n",
            q.day,
            d.true_vcd_1e6_per_ml,
            d.true_viability_pct,
            100.0 * q.image_viability,
            q.class_fractions.iter().map(|(_, f)| format!("{f:.4}")).collect::<Vec<_>>().join(","),
            q.quality_value,
            q.hyperscore,
            q.verdict.as_str(),
            d.label_verdict.as_str(),
            d.bead_label_agreement,
            d.trypan_label_agreement,
            q.reasons.join("; ").replace('"', "'"),
            d.label_reasons.join("; ").replace('"', "'"),
        ));
    }
    qc::io::write_file(&out.join(format!("{stem}.csv")), csv.as_bytes())?;
    use crate::plot::{Panel, Series, panels_png};
    let pts = |f: &dyn Fn(&ReportDay) -> f64| days.iter().map(|d| (f64::from(d.qc.day), f(d))).collect::<Vec<_>>();
    let panels = [
        Panel {
            title: "HyperScore per day".into(),
            x_label: "day".into(),
            y_label: "HyperScore".into(),
            series: vec![Series { label: "HyperScore".into(), points: pts(&|d| d.qc.hyperscore) }],
        },
        Panel {
            title: "Viability: simulator truth vs images".into(),
            x_label: "day".into(),
            y_label: "viability [%]".into(),
            series: vec![
                Series { label: "truth".into(), points: pts(&|d| d.true_viability_pct) },
                Series { label: "image (mean P(live))".into(), points: pts(&|d| 100.0 * d.qc.image_viability) },
            ],
        },
    ];
    panels_png(&out.join("hyperscore.png"), &panels, 2, 480, 340)
}

fn print_report(scenario: &str, days: &[ReportDay]) {
    println!("QC of simulated batch `{scenario}` (images rendered from each day's simulated state)");
    println!("{:>4} {:>9} {:>9} {:>9} {:>7} {:>10} {:>8} {:>7}  {}", "day", "VCD e6/mL", "viab. %", "image %", "good %", "HyperScore", "verdict", "labels", "reasons");
    for d in days {
        let q = &d.qc;
        let good = q.class_fractions.first().map_or(0.0, |(_, f)| *f);
        println!(
            "{:>4} {:>9.2} {:>9.1} {:>9.1} {:>7.0} {:>10.1} {:>8} {:>7}  {}",
            q.day,
            d.true_vcd_1e6_per_ml,
            d.true_viability_pct,
            100.0 * q.image_viability,
            100.0 * good,
            q.hyperscore,
            q.verdict.as_str(),
            d.label_verdict.as_str(),
            q.reasons.join("; ")
        );
    }
    let differ: Vec<String> = days.iter().filter(|d| d.qc.verdict != d.label_verdict).map(|d| d.qc.day.to_string()).collect();
    if differ.is_empty() {
        println!("every day's verdict equals the one the renderer's labels give (`labels`)");
    } else {
        println!(
            "the model's verdict differs from the one the renderer's labels give (`labels`, a perfect classifier) on day(s) {}: misread images, not the culture",
            differ.join(", ")
        );
    }
    let n = days.len().max(1) as f64;
    println!(
        "mean agreement of predicted class with the renderer's label: beads {:.2}, trypan {:.2}",
        days.iter().map(|d| d.bead_label_agreement).sum::<f64>() / n,
        days.iter().map(|d| d.trypan_label_agreement).sum::<f64>() / n
    );
}
