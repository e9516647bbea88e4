//! Helpers shared by the integration tests.

use sim::scenario::Scenario;

/// The seed's Table 7 optimum setpoints (36.8 °C, DO 45 %, pH 6.9, seeding 0.7e6/mL,
/// glucose supplement 0.6 g/L/d) applied to `s`.
pub(crate) fn apply_seed_optimum(s: &mut Scenario) {
    s.setpoints.temp_c = 36.8;
    s.setpoints.do_pct = 45.0;
    s.setpoints.ph = 6.9;
    s.inoculum.vcd_e6_per_ml = 0.7;
    for f in &mut s.feeds {
        if f.glucose_g_per_l_per_d.is_some() {
            f.glucose_g_per_l_per_d = Some(0.6);
        }
    }
}
