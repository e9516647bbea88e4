//! The `xing2010` reference model against the of-compartments package's batch runs
//! (`../shared/process_ref/of_compartments/reference_batch_by_scale.csv`, damage model
//! `none`, every scale): within 0.5 % of each variable's peak. Skipped with a message when
//! the shared folder is absent.

use sim::presets::xing2010::{XingParams, simulate};
use std::path::PathBuf;

#[test]
fn xing2010_matches_of_compartments_without_damage() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/process_ref/of_compartments/reference_batch_by_scale.csv");
    let Ok(csv) = std::fs::read_to_string(&p) else {
        println!("skipped: {} not found (the shared reference data is not beside this checkout)", p.display());
        return;
    };
    let mut n_checked = 0;
    for scale in ["200L", "2000L", "20000L"] {
        let rows: Vec<Vec<f64>> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|f| f[0] == scale && f[1] == "none")
            .map(|f| f[3..9].iter().map(|x| x.parse().expect("number")).collect())
            .collect();
        assert!(!rows.is_empty(), "{scale}");
        let times: Vec<f64> = rows.iter().map(|r| r[0]).collect();
        let got = simulate(&XingParams::default(), 0.2, 100.0, 10.0, &times).expect("runs");
        for c in 1..6 {
            let peak = rows.iter().map(|r| r[c].abs()).fold(0.0, f64::max);
            for (r, g) in rows.iter().zip(&got) {
                let ours = [g.vcd_1e6_per_ml, g.glucose_mm, g.glutamine_mm, g.lactate_mm, g.ammonia_mm][c - 1];
                assert!((ours - r[c]).abs() <= 0.005 * peak, "{scale} column {c} at {} h: ours {ours}, reference {}", r[0], r[c]);
                n_checked += 1;
            }
        }
    }
    assert!(n_checked > 0);
}
