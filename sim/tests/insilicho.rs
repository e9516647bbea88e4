//! The `insilicho` reference model against trajectories computed by PyPI insilicho 1.1.4
//! (`../shared/process_ref/insilicho/reference_trajectories.csv`; skipped with a message
//! when the shared folder is absent). Tolerance: 0.5 % of each variable's peak.

use sim::presets::insilicho::{InsilichoParams, InsilichoRun, simulate};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn reference() -> Option<String> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/process_ref/insilicho/reference_trajectories.csv");
    match std::fs::read_to_string(&p) {
        Ok(s) => Some(s),
        Err(_) => {
            println!("skipped: {} not found (the shared reference data is not beside this checkout)", p.display());
            None
        }
    }
}

#[test]
fn insilicho_preset_matches_the_package_within_half_a_percent_of_peak() {
    let Some(csv) = reference() else { return };
    let mut by_scenario: BTreeMap<String, Vec<Vec<f64>>> = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let vals: Vec<f64> = f[2..].iter().map(|x| x.parse().expect("number")).collect();
        by_scenario.entry(f[0].to_owned()).or_default().push(vals);
    }
    assert_eq!(by_scenario.len(), 5);
    let p = InsilichoParams { k_lys_per_h: 0.05, ..InsilichoParams::default() };
    for (name, rows) in &by_scenario {
        let (feed, temp, step) = match name.as_str() {
            "base_36p4C_F3mLph" => (0.003, 36.4, None),
            "Tshift_33C_at_120h" => (0.003, 36.4, Some((120.0, 33.0))),
            "T_37C_const" => (0.003, 37.0, None),
            "batch_noFeed" => (0.0, 36.4, None),
            "F6mLph" => (0.006, 36.4, None),
            other => panic!("unknown reference scenario {other}"),
        };
        let run = InsilichoRun { feed_l_per_h: feed, temp_c: temp, temp_step: step, ph: 7.0, volume0_l: 0.05, xv0_cells_per_l: 3e9, glc0_mm: 150.0, gln0_mm: 10.0 };
        let times: Vec<f64> = rows.iter().map(|r| r[0]).collect();
        let got = simulate(&p, &run, &times).expect("runs");
        let cols = ["Xv", "Xt", "glucose", "glutamine", "lactate", "ammonia", "mAb", "V"];
        for (c, col) in cols.iter().enumerate() {
            let peak = rows.iter().map(|r| r[c + 1].abs()).fold(0.0, f64::max);
            for (r, g) in rows.iter().zip(&got) {
                let ours = [g.xv_1e6_per_ml, g.xt_1e6_per_ml, g.glucose_mm, g.glutamine_mm, g.lactate_mm, g.ammonia_mm, g.mab_mg_per_l, g.volume_l][c];
                assert!((ours - r[c + 1]).abs() <= 0.005 * peak, "{name} {col} at {} h: ours {ours}, insilicho {}", r[0], r[c + 1]);
            }
        }
    }
}
