//! `mabtwin demo`: the `make demo` job. Simulates the embedded baseline (the seed's
//! Table 7 baseline), its 33 °C-shift variant, a scale-up study and a short setpoint
//! optimisation, and writes CSV, JSON and PNG files under `--out`.

use super::scaleup::{Rule, print_table, study};
use super::simulate::{print_summary, write_batch};
use anyhow::{Context, Result};
use sim::scenario::{builtin, parse_scenario};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Output folder.
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
}

fn builtin_scenario(name: &str) -> Result<sim::ValidScenario> {
    let b = builtin::find(name).with_context(|| format!("built-in scenario {name} is missing"))?;
    parse_scenario(b.source, b.file_name)
        .map(|(v, _)| v)
        .map_err(|e| anyhow::anyhow!("built-in scenario {name} is invalid: {e:?}"))
}

pub(crate) fn run(a: Args) -> Result<ExitCode> {
    println!("== mabtwin demo: the seed's baseline fed-batch (embedded scenario `baseline`)");
    let base = builtin_scenario("baseline")?;
    let rec = sim::simulate(&base)?;
    write_batch(&a.out.join("baseline"), base.get(), &rec, true)?;
    print_summary(&rec);
    println!("   seed Table 7 baseline: 3.2 g/L, 0.229 g/L/d, 18.7 pg/cell/d (paper 002)");

    println!("\n== Temperature shift to 33 °C on day 5 (`temp_shift_33c`)");
    let shift = builtin_scenario("temp_shift_33c")?;
    let rec_shift = sim::simulate(&shift)?;
    write_batch(&a.out.join("temp_shift_33c"), shift.get(), &rec_shift, true)?;
    let (t0, t1) = (rec.summary.final_titer_g_per_l, rec_shift.summary.final_titer_g_per_l);
    println!("   final titer {t1:.3} g/L vs baseline {t0:.3} g/L ({:+.0} %)", 100.0 * (t1 / t0 - 1.0));

    println!("\n== Scale-up of the baseline at constant P/V (50–2000 L)");
    let rows = study(base.get(), &[50.0, 200.0, 500.0, 2000.0], sim::scenario::ScaleUpRule::ConstantPowerPerVolume)?;
    print_table(&rows, Rule::ConstantPowerPerVolume);
    crate::output::write_csv(&a.out.join("scaleup.csv"), &rows)?;

    println!("\n== Setpoint optimisation (temperature × pH, Nelder–Mead, 80 simulations)");
    let opt = super::optimize::Args {
        scenario: "baseline".into(),
        vars: vec!["temp_c".into(), "ph".into()],
        bounds: Vec::new(),
        objective: "final_titer".into(),
        constraints: Vec::new(),
        model: "sim".into(),
        robust: 0,
        robust_statistic: super::optimize::Statistic::P10,
        starts: 2,
        solver: super::optimize::Solver::NelderMead,
        seed: 1,
        max_evals: 80,
        pareto: false,
        pareto_points: 6,
        volumes: Vec::new(),
        landscape_points: 11,
        no_plots: false,
        quiet: true,
        out: a.out.join("optimize"),
    };
    let code = super::optimize::run(opt)?;
    if code != ExitCode::SUCCESS {
        anyhow::bail!("the demo optimisation failed");
    }

    println!(
        "\nWrote results to {}/: baseline/ and temp_shift_33c/ (online.csv, offline.csv, truth.csv, events.csv, summary.json, trajectories.png), scaleup.csv, optimize/ (result.json, trace.csv, plots)",
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
