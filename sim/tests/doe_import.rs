//! DoE importer against the 35-run plan in `../shared/process_ref/cho_cross_scale_doe/`
//! (skipped with a message when the shared folder is absent) and a small inline plan.

use sim::scenario::doe_import::{DoeImportOptions, import_doe};
use std::path::PathBuf;

const SMALL: &str = "BatchName,Scale,num_feed_phases,phase1_start_h,phase1_vvd_per_day,phase2_start_h,phase2_vvd_per_day,feed_VVD_relative,pH_setpoint,DO_setpoint_pct,kLa,inoc_density_1e6_per_mL,temp_shift_time_h,antifoam_type
R1,2L,2,72.0,0.05,162.0,0.065,1.0,7.15,80,335.0,0.35,72,PEG
R2,200L,1,48.0,0.04,0,0,1.0,7.0,40,10.0,0.5,120,
";

#[test]
fn unmapped_bench_scale_is_an_error_naming_it_and_a_map_fixes_it() {
    let err = import_doe(SMALL, "plan.csv", &DoeImportOptions::default()).expect_err("2L is not supported");
    assert!(err[0].contains("plan.csv:2: column Scale = \"2L\" is not a supported scale"), "{err:?}");
    let mut opts = DoeImportOptions::default();
    opts.scale_map.insert("2L".into(), 50.0);
    let (runs, warnings) = import_doe(SMALL, "plan.csv", &opts).expect("valid");
    assert_eq!(runs.len(), 2);
    let r1 = runs[0].scenario.get();
    assert_eq!(r1.vessel.nominal_volume_l, 50.0);
    assert_eq!(r1.vessel.kla_o2_per_h, Some(335.0));
    assert_eq!(r1.schedule[0].at_d, 3.0);
    assert_eq!(r1.schedule[0].temp_c, Some(33.0));
    assert_eq!(runs[1].scenario.get().feeds.iter().filter(|f| f.name.starts_with("feed_phase")).count(), 1);
    assert!(warnings.iter().any(|w| w.contains("antifoam")));
}

#[test]
fn the_35_run_plan_imports_completely_with_a_scale_map() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/process_ref/cho_cross_scale_doe/DoE_2L_35run_plan_with_schedule.csv");
    let Ok(src) = std::fs::read_to_string(&p) else {
        println!("skipped: {} not found (the shared reference data is not beside this checkout)", p.display());
        return;
    };
    assert!(import_doe(&src, "plan.csv", &DoeImportOptions::default()).is_err());
    let mut opts = DoeImportOptions::default();
    opts.scale_map.insert("2L".into(), 50.0);
    let (runs, _) = import_doe(&src, "plan.csv", &opts).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(runs.len(), 35);
    for r in &runs {
        sim::simulate(&r.scenario).unwrap_or_else(|e| panic!("{}: {e}", r.name));
    }
}
