//! `mabtwin simulate SCENARIO --out DIR [--seed N]`.

use super::{EXIT_INVALID, Loaded, load_scenario, print_diagnostics};
use crate::output::{write_atomic, write_csv, write_json};
use crate::plot::{Panel, Series, panels_png};
use anyhow::{Context, Result};
use sim::scenario::{SensorProfile, validate};
use sim::{BatchRecord, Scenario};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Scenario file (TOML) or built-in name (`mabtwin scenario list`).
    pub scenario: String,
    /// Output folder (created; files in it are replaced atomically).
    #[arg(long, default_value = "runs/simulate")]
    pub out: PathBuf,
    /// Override the scenario's seed (sensor noise, faults, variability).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override the sensor profile: none (measured = truth), realistic, degraded.
    #[arg(long, value_parser = ["none", "realistic", "degraded"])]
    pub profile: Option<String>,
    /// Skip the PNG plots.
    #[arg(long)]
    pub no_plots: bool,
}

pub(crate) fn run(a: Args) -> Result<ExitCode> {
    let (scenario, warnings) = match load_scenario(&a.scenario)? {
        Loaded::Ok { scenario, warnings } => (scenario, warnings),
        Loaded::Invalid(errors) => {
            print_diagnostics(&errors);
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    print_diagnostics(&warnings);
    let mut s = scenario.into_inner();
    if let Some(seed) = a.seed {
        s.seed = seed;
    }
    if let Some(p) = &a.profile {
        s.sensors.profile = match p.as_str() {
            "none" => SensorProfile::None,
            "degraded" => SensorProfile::Degraded,
            _ => SensorProfile::Realistic,
        };
    }
    let valid = match validate(s) {
        Ok((v, _)) => v,
        Err(errors) => {
            print_diagnostics(&errors);
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    let t0 = std::time::Instant::now();
    let record = sim::simulate(&valid).with_context(|| format!("simulating {}", a.scenario))?;
    let wall = t0.elapsed();
    write_batch(&a.out, valid.get(), &record, !a.no_plots)?;
    print_summary(&record);
    println!("simulated in {:.0} ms; wrote {}/{{online,offline,truth,events}}.csv, summary.json, scenario.toml{}",
        wall.as_secs_f64() * 1000.0, a.out.display(), if a.no_plots { "" } else { ", trajectories.png" });
    Ok(ExitCode::SUCCESS)
}

/// Write every output of one batch into `dir`.
pub(crate) fn write_batch(dir: &Path, scenario: &Scenario, record: &BatchRecord, plots: bool) -> Result<()> {
    write_csv(&dir.join("online.csv"), &record.online)?;
    write_csv(&dir.join("offline.csv"), &record.offline)?;
    write_csv(&dir.join("truth.csv"), &record.truth)?;
    write_csv(&dir.join("events.csv"), &record.events)?;
    write_json(&dir.join("summary.json"), &record.summary)?;
    let toml = toml::to_string(scenario).context("serialising the resolved scenario")?;
    write_atomic(&dir.join("scenario.toml"), format!("# resolved scenario of this run\n{toml}").as_bytes())?;
    if plots {
        trajectories_png(&dir.join("trajectories.png"), record)?;
    }
    Ok(())
}

/// Print the key results as a small table.
pub(crate) fn print_summary(r: &BatchRecord) {
    let s = &r.summary;
    println!("scenario {} (seed {}, line {}, {} L, {} d)", s.scenario, s.seed, s.cell_line, s.nominal_volume_l, s.duration_d);
    let rows = [
        ("final titer", format!("{:.3} g/L", s.final_titer_g_per_l)),
        ("mean productivity", format!("{:.3} g/L/d", s.mean_productivity_g_per_l_per_day)),
        ("specific productivity", format!("{:.1} pg/cell/d", s.specific_productivity_pg_per_cell_per_day)),
        ("peak VCD", format!("{:.1} e6/mL on day {:.1}", s.peak_vcd_e6_per_ml, s.peak_vcd_day)),
        ("IVCD", format!("{:.0} e6 cell·d/mL", s.ivcd_e6_cell_day_per_ml)),
        ("final viability", format!("{:.1} %", s.final_viability_pct)),
        ("peak lactate", format!("{:.2} g/L on day {:.1}", s.peak_lactate_g_per_l, s.peak_lactate_day)),
        ("peak ammonium", format!("{:.1} mM", s.peak_ammonium_mm)),
        ("peak osmolality", format!("{:.0} mOsm/kg", s.peak_osmolality_mosm_per_kg)),
        ("peak daily pCO2", format!("{:.0} mmHg", s.peak_daily_pco2_mmhg)),
        ("final GI (CQA)", format!("{:.1} %", s.final_cqa)),
        ("final acidic variants", format!("{:.1} %", s.final_acidic_pct)),
    ];
    for (k, v) in rows {
        // A reference preset leaves quantities it does not model as NaN (listed in
        // summary.json under `not_modelled`).
        let v = if v.starts_with("NaN") { "not modelled by this preset".to_owned() } else { v };
        println!("  {k:<24} {v}");
    }
    for f in &s.flags {
        println!("  warning: {f}");
    }
    for f in &s.faults {
        println!("  fault: {} from {:.1} h to {:.1} h {}", f.kind, f.start_h, f.end_h, f.detail);
    }
}

fn trajectories_png(path: &Path, r: &BatchRecord) -> Result<()> {
    let day = |t: f64| t / 24.0;
    let truth = |f: fn(&sim::record::TruthRow) -> f64| r.truth.iter().map(|x| (day(x.t_h), f(x))).collect::<Vec<_>>();
    let offline = |f: fn(&sim::record::OfflineRow) -> Option<f64>| {
        r.offline.iter().filter_map(|x| f(x).map(|v| (day(x.t_h), v))).collect::<Vec<_>>()
    };
    let online = |f: fn(&sim::record::OnlineRow) -> Option<f64>| {
        r.online.iter().filter_map(|x| f(x).map(|v| (day(x.t_h), v))).collect::<Vec<_>>()
    };
    let s = |label: &str, points| Series { label: label.to_owned(), points };
    let p = |title: &str, y: &str, series| Panel { title: title.to_owned(), x_label: "day".into(), y_label: y.to_owned(), series };
    let panels = vec![
        p("Viable cell density", "1e6 cells/mL", vec![s("truth", truth(|x| x.vcd_1e6_per_ml)), s("offline", offline(|x| x.vcd_1e6_per_ml))]),
        p("Viability", "%", vec![s("truth", truth(|x| x.viability_pct)), s("offline", offline(|x| x.viability_pct))]),
        p("Titer", "g/L", vec![s("truth", truth(|x| x.titer_g_per_l)), s("offline", offline(|x| x.titer_g_per_l))]),
        p("Glucose and lactate", "g/L", vec![s("glucose", truth(|x| x.glucose_g_per_l)), s("lactate", truth(|x| x.lactate_g_per_l))]),
        p("pH", "pH", vec![s("online", online(|x| x.ph)), s("truth", truth(|x| x.ph))]),
        p("Dissolved oxygen", "% air sat.", vec![s("online", online(|x| x.do_pct)), s("truth", truth(|x| x.do_pct))]),
        p("pCO2", "mmHg", vec![s("truth", truth(|x| x.pco2_mmhg))]),
        p("Osmolality", "mOsm/kg", vec![s("truth", truth(|x| x.osmolality_mosm_per_kg))]),
        p("Quality: GI and acidic variants", "%", vec![s("GI", truth(|x| x.gi_pct)), s("acidic", truth(|x| x.acidic_pct))]),
    ];
    panels_png(path, &panels, 3, 480, 320)
}
