//! The `[[schedule]]` checks: each step's time, setpoint and value, and their order.

use super::*;

impl Checker<'_> {
    pub(super) fn check_schedule(&mut self, s: &Scenario, duration_d: Option<f64>) {
        use limits as lim;
        let has_glucose_dose = s.feeds.iter().any(|f| f.glucose_g_per_l_per_d.is_some());
        let mut prev: Option<(usize, f64)> = None;
        for (i, step) in s.schedule.iter().enumerate() {
            let p = format!("schedule[{i}]");
            let at = format!("{p}.at_d");
            if self.time_in_run(&at, step.at_d, duration_d, "") {
                if let Some((j, prev_at)) = prev
                    && step.at_d <= prev_at
                {
                    self.cross_error(
                        &at,
                        format!(
                            "{at} = {} is not after schedule[{j}].at_d = {} (schedule out of order: steps must be in strictly increasing time)",
                            num(step.at_d),
                            num(prev_at)
                        ),
                    );
                }
                prev = Some((i, step.at_d));
            }
            self.opt_range(
                &format!("{p}.ramp_h"),
                step.ramp_h,
                lim::RAMP_H,
                None,
                unit::HOURS,
            );
            self.opt_range(
                &format!("{p}.temp_c"),
                step.temp_c,
                lim::TEMP_C,
                Some(lim::TEMP_C_VALID),
                unit::DEGC,
            );
            self.opt_range(
                &format!("{p}.ph"),
                step.ph,
                lim::PH,
                Some(lim::PH_VALID),
                unit::PH,
            );
            self.opt_range(
                &format!("{p}.do_pct"),
                step.do_pct,
                lim::DO_PCT,
                Some(lim::DO_PCT_VALID),
                unit::PCT,
            );
            self.opt_range(
                &format!("{p}.glucose_g_per_l_per_d"),
                step.glucose_g_per_l_per_d,
                lim::GLUCOSE_G_PER_L_PER_D,
                Some(lim::GLUCOSE_G_PER_L_PER_D_VALID),
                unit::G_PER_L_PER_D,
            );
            if let Some(vvm) = step.sparge_vvm {
                let path = format!("{p}.sparge_vvm");
                if self.range(
                    &path,
                    vvm,
                    lim::SPARGE_VVM,
                    Some(lim::SPARGE_VVM_VALID),
                    unit::VVM,
                ) && s.vessel.max_sparge_vvm.is_finite()
                    && vvm > s.vessel.max_sparge_vvm
                {
                    self.cross_error(
                        &path,
                        format!(
                            "{path} = {} is above vessel.max_sparge_vvm = {}",
                            num(vvm),
                            num(s.vessel.max_sparge_vvm)
                        ),
                    );
                }
            }
            if step.glucose_g_per_l_per_d.is_some() && !has_glucose_dose {
                self.warning(
                    &format!("{p}.glucose_g_per_l_per_d"),
                    format!(
                        "{p}.glucose_g_per_l_per_d has no effect: no feed has glucose_g_per_l_per_d"
                    ),
                );
            }
            let changes = [
                step.temp_c,
                step.ph,
                step.do_pct,
                step.glucose_g_per_l_per_d,
                step.sparge_vvm,
            ];
            if changes.iter().all(Option::is_none) {
                self.warning(&p, format!("{p} changes nothing (give temp_c, ph, do_pct, glucose_g_per_l_per_d or sparge_vvm)"));
            }
        }
    }

}
