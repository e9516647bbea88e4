//! `mabtwin scaleup SCENARIO --volumes 50,200,500,2000 --rule ... --out DIR`.

use super::{EXIT_INVALID, Loaded, load_scenario, print_diagnostics};
use crate::output::write_csv;
use crate::plot::{Panel, Series, panels_png};
use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use sim::physics::{OperatingPoint, scale_vessel};
use sim::scenario::{ScaleUpRule, validate};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
#[allow(clippy::enum_variant_names)] // the CLI values read `constant-…` on purpose
pub(crate) enum Rule {
    /// Same power input per volume (default industrial practice).
    ConstantPowerPerVolume,
    /// Same oxygen kLa (gas flow adjusted).
    ConstantKla,
    /// Same gas flow per liquid volume.
    ConstantVvm,
    /// Same impeller tip speed (less power per volume at large scale).
    ConstantTipSpeed,
    /// Same superficial gas velocity.
    ConstantSuperficialVelocity,
}

impl Rule {
    fn to_sim(self) -> ScaleUpRule {
        match self {
            Rule::ConstantPowerPerVolume => ScaleUpRule::ConstantPowerPerVolume,
            Rule::ConstantKla => ScaleUpRule::Kla,
            Rule::ConstantVvm => ScaleUpRule::Vvm,
            Rule::ConstantTipSpeed => ScaleUpRule::TipSpeed,
            Rule::ConstantSuperficialVelocity => ScaleUpRule::SuperficialVelocity,
        }
    }
}

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Reference scenario (file or built-in name); its vessel is the reference scale.
    pub scenario: String,
    /// Working volumes to compare, L (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = vec![50.0, 200.0, 500.0, 2000.0])]
    pub volumes: Vec<f64>,
    /// What is kept constant from the reference vessel.
    #[arg(long, value_enum, default_value_t = Rule::ConstantPowerPerVolume)]
    pub rule: Rule,
    /// Output folder.
    #[arg(long, default_value = "runs/scaleup")]
    pub out: PathBuf,
}

/// One row of the scale-up table.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ScaleRow {
    pub volume_l: f64,
    pub power_per_volume_w_per_m3: f64,
    pub sparge_vvm: f64,
    pub agitation_rpm: f64,
    pub tip_speed_m_per_s: f64,
    pub kla_o2_per_h: f64,
    pub mixing_time_95_s: f64,
    pub kolmogorov_um: f64,
    pub peak_pco2_mmhg: f64,
    pub peak_osmolality_mosm_per_kg: f64,
    pub final_titer_g_per_l: f64,
    pub final_viability_pct: f64,
    pub final_gi_pct: f64,
}

pub(crate) fn run(a: Args) -> Result<ExitCode> {
    let scenario = match load_scenario(&a.scenario)? {
        Loaded::Ok { scenario, .. } => scenario.into_inner(),
        Loaded::Invalid(errors) => {
            print_diagnostics(&errors);
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    if a.volumes.is_empty() || a.volumes.iter().any(|v| !(10.0..=5000.0).contains(v)) {
        eprintln!("error: --volumes must list working volumes in 10–5000 L, e.g. 50,200,500,2000");
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    let rows = study(&scenario, &a.volumes, a.rule.to_sim())?;
    print_table(&rows, a.rule);
    write_csv(&a.out.join("scaleup.csv"), &rows)?;
    plot(&a.out, &rows)?;
    println!("wrote {}/scaleup.csv and scaleup.png", a.out.display());
    Ok(ExitCode::SUCCESS)
}

/// Simulate the reference process at every volume under `rule` (in parallel).
pub(crate) fn study(reference: &sim::Scenario, volumes: &[f64], rule: ScaleUpRule) -> Result<Vec<ScaleRow>> {
    volumes
        .par_iter()
        .map(|&v| {
            let vessel = scale_vessel(&reference.vessel, v, rule);
            let s = sim::Scenario { vessel: vessel.clone(), name: format!("{}@{v}L", reference.name), ..reference.clone() };
            let valid = validate(s).map_err(|e| anyhow::anyhow!("scaled scenario at {v} L is invalid: {}", e.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("; ")))?.0;
            let rec = sim::simulate(&valid).with_context(|| format!("simulating {v} L"))?;
            let op = OperatingPoint::of(&vessel);
            let s = &rec.summary;
            Ok(ScaleRow {
                volume_l: v,
                power_per_volume_w_per_m3: op.power_per_volume_w_per_m3,
                sparge_vvm: op.sparge_vvm,
                agitation_rpm: op.agitation_rpm,
                tip_speed_m_per_s: op.tip_speed_m_per_s,
                kla_o2_per_h: op.kla_o2_per_h,
                mixing_time_95_s: op.mixing_time_95_s,
                kolmogorov_um: op.kolmogorov_um,
                peak_pco2_mmhg: s.peak_daily_pco2_mmhg,
                peak_osmolality_mosm_per_kg: s.peak_osmolality_mosm_per_kg,
                final_titer_g_per_l: s.final_titer_g_per_l,
                final_viability_pct: s.final_viability_pct,
                final_gi_pct: s.final_gi_pct,
            })
        })
        .collect()
}

pub(crate) fn print_table(rows: &[ScaleRow], rule: Rule) {
    println!("scale-up rule: {rule:?}");
    println!(
        "{:>8} {:>7} {:>7} {:>6} {:>6} {:>7} {:>7} {:>7} {:>10} {:>8} {:>9} {:>9}",
        "volume_L", "P/V_W/m3", "vvm", "rpm", "tip_m/s", "kLa_1/h", "t95_s", "eta_um", "pCO2_mmHg", "Osm", "titer_g/L", "viab_%"
    );
    for r in rows {
        println!(
            "{:>8.0} {:>7.1} {:>7.4} {:>6.0} {:>6.2} {:>7.1} {:>7.0} {:>7.0} {:>10.0} {:>8.0} {:>9.3} {:>9.1}",
            r.volume_l,
            r.power_per_volume_w_per_m3,
            r.sparge_vvm,
            r.agitation_rpm,
            r.tip_speed_m_per_s,
            r.kla_o2_per_h,
            r.mixing_time_95_s,
            r.kolmogorov_um,
            r.peak_pco2_mmhg,
            r.peak_osmolality_mosm_per_kg,
            r.final_titer_g_per_l,
            r.final_viability_pct
        );
    }
}

fn plot(out: &std::path::Path, rows: &[ScaleRow]) -> Result<()> {
    let xs = |f: fn(&ScaleRow) -> f64| rows.iter().map(|r| (r.volume_l, f(r))).collect::<Vec<_>>();
    let p = |title: &str, y: &str, f: fn(&ScaleRow) -> f64| Panel {
        title: title.to_owned(),
        x_label: "working volume, L".into(),
        y_label: y.to_owned(),
        series: vec![Series { label: title.to_owned(), points: xs(f) }],
    };
    let panels = vec![
        p("Final titer", "g/L", |r| r.final_titer_g_per_l),
        p("Peak daily pCO2", "mmHg", |r| r.peak_pco2_mmhg),
        p("kLa (O2)", "1/h", |r| r.kla_o2_per_h),
        p("Mixing time t95", "s", |r| r.mixing_time_95_s),
    ];
    panels_png(&out.join("scaleup.png"), &panels, 2, 480, 320)
}
