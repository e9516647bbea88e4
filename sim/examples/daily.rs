//! Print the daily true state and the summary of a scenario (default: the baseline),
//! with perfect sensors. Usage: `cargo run -p sim --example daily [-- FILE.toml]`.
use sim::scenario::{self, SensorProfile};

fn main() {
    let src = std::env::args().nth(1).map(|f| std::fs::read_to_string(f).expect("readable file")).unwrap_or_default();
    let mut s: sim::Scenario = toml::from_str(&src).expect("valid TOML scenario");
    if std::env::var_os("KEEP_PROFILE").is_none() {
        s.sensors.profile = SensorProfile::None;
    }
    let (valid, _) = scenario::validate(s).expect("valid scenario");
    let t0 = std::time::Instant::now();
    let rec = sim::simulate(&valid).expect("simulation runs");
    let dt = t0.elapsed();
    println!("day  vcd   via   glc_mM gln_mM lac_mM amm_mM osm  pco2  ph    do   titer  gi   ac   V     base_L y_o2 vvm");
    for r in rec.truth.iter().filter(|r| (r.t_h % 24.0).abs() < 1e-9) {
        println!(
            "{:>3} {:5.2} {:5.1} {:6.2} {:6.2} {:6.2} {:6.2} {:4.0} {:5.1} {:5.3} {:5.1} {:6.3} {:4.1} {:4.1} {:6.1} {:6.2} {:4.2} {:5.3}",
            r.t_h / 24.0, r.vcd_1e6_per_ml, r.viability_pct, r.glucose_mm, r.glutamine_mm, r.lactate_mm, r.ammonium_mm,
            r.osmolality_mosm_per_kg, r.pco2_mmhg, r.ph, r.do_pct, r.titer_g_per_l, r.gi_pct, r.acidic_pct, r.volume_l,
            r.base_added_l, r.o2_fraction, r.sparge_vvm
        );
    }
    println!("{}", serde_json::to_string_pretty(&rec.summary).expect("serialisable"));
    println!("wall {:?}", dt);
}
