//! `mabtwin dataset --n-batches N --seed S --out DIR`: simulate a Latin-hypercube design in
//! parallel and write it in a compact, documented format (see README "Dataset format").

use crate::output::{compact, write_atomic, write_json};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use sim::doe::{DoeRanges, design};
use sim::record::BatchRecord;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Number of batches.
    #[arg(long, default_value_t = 200)]
    pub n_batches: usize,
    /// Seed of the design and of every batch's noise.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Probability that a batch carries one random, labelled fault.
    #[arg(long, default_value_t = 0.0)]
    pub fault_probability: f64,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Serialize)]
struct Manifest<'a> {
    format: &'static str,
    version: &'static str,
    seed: u64,
    n_batches: usize,
    ranges: &'a DoeRanges,
    files: [&'static str; 3],
    batches: Vec<BatchEntry<'a>>,
}

#[derive(Serialize)]
struct BatchEntry<'a> {
    batch_id: usize,
    scenario: &'a sim::Scenario,
    summary: &'a sim::Summary,
}

const ONLINE_HEADER: &str = "batch_id,t_h,temp_c,ph,do_pct,pco2_mmhg,volume_l\n";
const OFFLINE_HEADER: &str = "batch_id,day,t_h,vcd_1e6_per_ml,viability_pct,glucose_g_per_l,lactate_g_per_l,glutamine_mm,ammonium_mm,osmolality_mosm_per_kg,titer_g_per_l,gi_pct\n";
const TRUTH_HEADER: &str = "batch_id,t_h,titer_g_per_l,gi_pct,vcd_1e6_per_ml,viability_pct\n";

fn opt(x: Option<f64>) -> String {
    x.map(compact).unwrap_or_default()
}

/// The three CSV blocks of one batch.
fn batch_csv(id: usize, r: &BatchRecord) -> (String, String, String) {
    let mut on = String::new();
    for x in &r.online {
        let _ = writeln!(on, "{id},{},{},{},{},{},{}", compact(x.t_h), opt(x.temp_c), opt(x.ph), opt(x.do_pct), opt(x.pco2_mmhg), opt(x.volume_l));
    }
    let mut off = String::new();
    for x in &r.offline {
        let _ = writeln!(
            off,
            "{id},{},{},{},{},{},{},{},{},{},{},{}",
            x.day,
            compact(x.t_h),
            opt(x.vcd_1e6_per_ml),
            opt(x.viability_pct),
            opt(x.glucose_g_per_l),
            opt(x.lactate_g_per_l),
            opt(x.glutamine_mm),
            opt(x.ammonium_mm),
            opt(x.osmolality_mosm_per_kg),
            opt(x.titer_g_per_l),
            opt(x.gi_pct)
        );
    }
    let mut tr = String::new();
    for x in &r.truth {
        let _ = writeln!(tr, "{id},{},{},{},{},{}", compact(x.t_h), compact(x.titer_g_per_l), compact(x.gi_pct), compact(x.vcd_1e6_per_ml), compact(x.viability_pct));
    }
    (on, off, tr)
}

pub(crate) fn run(a: Args) -> Result<ExitCode> {
    if a.n_batches == 0 {
        eprintln!("error: --n-batches must be at least 1");
        return Ok(ExitCode::from(super::EXIT_INVALID));
    }
    if !(0.0..=1.0).contains(&a.fault_probability) {
        eprintln!("error: --fault-probability must be in 0–1");
        return Ok(ExitCode::from(super::EXIT_INVALID));
    }
    let ranges = DoeRanges { fault_probability: a.fault_probability, ..DoeRanges::default() };
    let base = sim::scenario::builtin::default_scenario();
    let base = sim::scenario::parse_scenario(base.source, base.file_name)
        .map_err(|e| anyhow::anyhow!("embedded baseline invalid: {e:?}"))?
        .0
        .into_inner();
    let scenarios = design(&base, &ranges, a.n_batches, a.seed).context("building the design")?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(a.threads.unwrap_or(0)).build()?;
    let bar = if a.quiet { ProgressBar::hidden() } else { ProgressBar::new(a.n_batches as u64) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} simulating [{bar:40}] {pos}/{len} batches, {per_sec}, ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let t0 = std::time::Instant::now();
    let records: Vec<Result<BatchRecord>> = pool.install(|| {
        scenarios
            .par_iter()
            .map(|s| {
                let r = sim::simulate(s).with_context(|| format!("batch {}", s.get().name));
                bar.inc(1);
                r
            })
            .collect()
    });
    bar.finish_and_clear();
    let records: Vec<BatchRecord> = records.into_iter().collect::<Result<_>>()?;
    let wall = t0.elapsed().as_secs_f64();
    let blocks: Vec<_> = records.par_iter().enumerate().map(|(i, r)| batch_csv(i, r)).collect();
    let mut online = String::from(ONLINE_HEADER);
    let mut offline = String::from(OFFLINE_HEADER);
    let mut truth = String::from(TRUTH_HEADER);
    for (on, off, tr) in &blocks {
        online.push_str(on);
        offline.push_str(off);
        truth.push_str(tr);
    }
    write_atomic(&a.out.join("online.csv"), online.as_bytes())?;
    write_atomic(&a.out.join("offline.csv"), offline.as_bytes())?;
    write_atomic(&a.out.join("truth.csv"), truth.as_bytes())?;
    let manifest = Manifest {
        format: "mabtwin-dataset-1",
        version: env!("CARGO_PKG_VERSION"),
        seed: a.seed,
        n_batches: a.n_batches,
        ranges: &ranges,
        files: ["online.csv", "offline.csv", "truth.csv"],
        batches: scenarios
            .iter()
            .zip(&records)
            .enumerate()
            .map(|(batch_id, (s, r))| BatchEntry { batch_id, scenario: s.get(), summary: &r.summary })
            .collect(),
    };
    // The manifest goes last: its presence marks a complete dataset.
    write_json(&a.out.join("manifest.json"), &manifest)?;
    let titers: Vec<f64> = records.iter().map(|r| r.summary.final_titer_g_per_l).collect();
    let mean = titers.iter().sum::<f64>() / titers.len() as f64;
    let (lo, hi) = titers.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &t| (l.min(t), h.max(t)));
    println!(
        "{} batches in {:.1} s ({:.1} batches/s); final titer mean {:.2} g/L (range {:.2}–{:.2}); wrote {}/{{online,offline,truth}}.csv and manifest.json",
        a.n_batches,
        wall,
        a.n_batches as f64 / wall,
        mean,
        lo,
        hi,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
