//! Physical and bookkeeping invariants of spec `sim.md` §7, over 1,000 generated scenarios.

use proptest::prelude::*;
use sim::physics;
use sim::run::{BASAL_GLC_MM, simulate_with_ledger};
use sim::scenario::{Scenario, ScheduleStep, SensorProfile, validate};

fn scenario_strategy() -> impl Strategy<Value = Scenario> {
    (
        (30.0..39.0f64, 6.7..7.4f64, 10.0..100.0f64, 0.0..3.0f64, 0.2..2.0f64),
        (prop::sample::select(vec![50.0, 200.0, 500.0, 2000.0]), 0.005..0.1f64, 7.0..16.0f64),
        (prop::sample::select(vec!["A", "B", "C", "D"]), prop::sample::select(vec![0u8, 1, 2]), any::<u64>()),
        (prop::option::of((2.0..6.0f64, 31.0..36.0f64)), any::<bool>()),
    )
        .prop_map(|((t, ph, dox, g, vcd), (vol, vvm, dur), (line, profile, seed), (shift, variability))| {
            let mut s = Scenario::default();
            s.setpoints.temp_c = t;
            s.setpoints.ph = ph;
            s.setpoints.do_pct = dox;
            s.inoculum.vcd_e6_per_ml = vcd;
            s.vessel.nominal_volume_l = vol;
            s.vessel.sparge_vvm = vvm;
            s.duration_d = dur;
            for f in &mut s.feeds {
                f.end_d = f.end_d.min(dur);
                f.start_d = f.start_d.min(f.end_d);
                if f.glucose_g_per_l_per_d.is_some() {
                    f.glucose_g_per_l_per_d = Some(g);
                }
            }
            s.cell_line.id = line.to_owned();
            s.sensors.profile = [SensorProfile::None, SensorProfile::Realistic, SensorProfile::Degraded][profile as usize];
            s.seed = seed;
            s.variability.enabled = variability;
            if let Some((at, temp)) = shift {
                s.schedule.push(ScheduleStep { at_d: at, temp_c: Some(temp), ..ScheduleStep::default() });
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold(s in scenario_strategy()) {
        let (valid, _) = validate(s.clone()).expect("generated scenarios are valid");
        let (rec, l) = simulate_with_ledger(&valid).unwrap_or_else(|e| panic!("{e}\n{}", toml::to_string(&s).unwrap_or_default()));
        // 1. non-negativity and bounded percentages
        for r in &rec.truth {
            for v in [r.volume_l, r.vcd_1e6_per_ml, r.dead_cells_1e6_per_ml, r.glucose_mm, r.glutamine_mm, r.lactate_mm,
                      r.ammonium_mm, r.titer_g_per_l, r.dissolved_o2_mm, r.pco2_mmhg, r.alkalinity_mm] {
                prop_assert!(v >= -1e-9, "negative value {v} at t = {}", r.t_h);
            }
            for p in [r.viability_pct, r.gi_pct, r.acidic_pct] {
                prop_assert!((0.0..=100.0).contains(&p));
            }
            // 6. pH from the carbonate relation
            let alpha = physics::s_co2_mm_per_atm(r.temp_c) / 760.0;
            let ph = 6.1 + (r.alkalinity_mm / (r.pco2_mmhg * alpha)).log10();
            prop_assert!((ph - r.ph).abs() < 1e-9);
        }
        // 2. volume ledger
        let v = l.initial_volume_l + l.bolus_l + l.continuous_feed_l + l.base_l - l.sampled_l;
        prop_assert!((v - l.final_volume_l).abs() <= 1e-9 * l.final_volume_l.max(1.0), "{v} vs {}", l.final_volume_l);
        // 3. glucose mass balance
        let glc = BASAL_GLC_MM * l.initial_volume_l + l.glc_bolus_mmol + l.glc_continuous_mmol - l.glc_used_mmol - l.glc_sampled_mmol;
        prop_assert!((glc - l.final_glc_mmol).abs() <= 1e-6 * (l.glc_used_mmol + l.glc_bolus_mmol + 1.0), "{glc} vs {}", l.final_glc_mmol);
        // 4. cell balance: (Xv + Xd)·V + sampled = start + grown − lysed
        let cells = l.initial_cells_e9 + l.cells_grown_e9 - l.cells_lysed_e9 - l.cells_sampled_e9;
        prop_assert!((cells - l.final_cells_e9).abs() <= 1e-6 * (l.cells_grown_e9 + l.initial_cells_e9), "{cells} vs {}", l.final_cells_e9);
        // 5. product made never destroyed: P·V + sampled = produced
        prop_assert!((l.final_p_mg + l.p_sampled_mg - l.p_made_mg).abs() <= 1e-6 * (l.p_made_mg + 1.0));
        // 9. online grid
        let n_expected = (s.duration_d * 96.0 + 1e-9).floor() as usize + 1;
        prop_assert_eq!(rec.online.len(), n_expected);
        for (k, r) in rec.online.iter().enumerate() {
            prop_assert_eq!(r.t_h, k as f64 * 0.25);
        }
        // 8. perfect sensors read the truth
        if s.sensors.profile == SensorProfile::None {
            for (on, tr) in rec.online.iter().zip(&rec.truth) {
                prop_assert_eq!(on.ph, Some(tr.ph));
                prop_assert_eq!(on.temp_c, Some(tr.temp_c));
                prop_assert_eq!(on.do_pct, Some(tr.do_pct));
            }
            for off in &rec.offline {
                let tr = rec.truth.iter().find(|r| r.t_h == off.t_h).expect("samples at output times without jitter");
                prop_assert_eq!(off.glucose_g_per_l, Some(tr.glucose_g_per_l));
                prop_assert_eq!(off.vcd_1e6_per_ml, Some(tr.vcd_1e6_per_ml));
            }
        }
        // 13. no faults, no labels
        prop_assert!(rec.summary.faults.is_empty());
    }
}

#[test]
fn same_seed_is_bit_identical_and_new_seed_changes_noise_only() {
    let s = Scenario::default();
    let (v, _) = validate(s.clone()).expect("valid");
    let a = sim::simulate(&v).expect("runs");
    let b = sim::simulate(&v).expect("runs");
    assert_eq!(a, b);
    let mut s2 = s;
    s2.seed += 1;
    let (v2, _) = validate(s2).expect("valid");
    let c = sim::simulate(&v2).expect("runs");
    assert_ne!(a.online, c.online);
    assert_ne!(a.offline, c.offline);
}

#[test]
fn no_cells_means_no_growth_uptake_or_product() {
    let mut s = Scenario::default();
    s.inoculum.vcd_e6_per_ml = 0.05;
    s.cell_line.overrides.insert("mu_max_per_h".into(), 0.0);
    s.cell_line.overrides.insert("beta_mg_per_e9_h".into(), 0.0);
    s.cell_line.overrides.insert("alpha_mg_per_e9".into(), 0.0);
    s.sensors.profile = SensorProfile::None;
    let (v, _) = validate(s).expect("valid");
    let rec = sim::simulate(&v).expect("runs");
    assert!(rec.truth.iter().all(|r| r.titer_g_per_l == 0.0));
    assert!(rec.truth.windows(2).all(|w| w[1].vcd_1e6_per_ml <= w[0].vcd_1e6_per_ml + 1e-12));
}

#[test]
fn scale_physics_off_makes_concentrations_scale_free() {
    let run = |vol: f64| {
        let mut s = Scenario::default();
        s.vessel.nominal_volume_l = vol;
        s.vessel.scale_physics = false;
        s.sensors.sample_volume_ml = 0.0;
        s.sensors.profile = SensorProfile::None;
        let (v, _) = validate(s).expect("valid");
        sim::simulate(&v).expect("runs")
    };
    let (a, b) = (run(50.0), run(2000.0));
    for (x, y) in a.truth.iter().zip(&b.truth) {
        for (p, q) in [(x.titer_g_per_l, y.titer_g_per_l), (x.vcd_1e6_per_ml, y.vcd_1e6_per_ml), (x.glucose_mm, y.glucose_mm), (x.ph, y.ph)] {
            assert!((p - q).abs() <= 1e-6 * p.abs().max(1e-3), "t {} {p} vs {q}", x.t_h);
        }
    }
}

#[test]
fn halving_rtol_moves_final_titer_less_than_a_tenth_of_a_percent() {
    let run = |rtol: f64| {
        let mut s = Scenario::default();
        s.model.rtol = rtol;
        let (v, _) = validate(s).expect("valid");
        sim::simulate(&v).expect("runs").summary.final_titer_g_per_l
    };
    let (a, b) = (run(1e-6), run(5e-7));
    assert!((a / b - 1.0).abs() < 1e-3, "{a} vs {b}");
}
