//! The `[[faults]]` checks: kind, timing and the kind-specific fields each fault allows.

use super::*;

impl Checker<'_> {
    pub(super) fn check_faults(&mut self, s: &Scenario, duration_d: Option<f64>) {
        use limits as lim;
        let feed_names: Vec<&str> = s.feeds.iter().map(|f| f.name.as_str()).collect();
        for (i, fault) in s.faults.iter().enumerate() {
            let p = format!("faults[{i}]");
            let kind = fault.kind.as_str();
            self.time_in_run(&format!("{p}.start_d"), fault.start_d, duration_d, "");
            if let Some(h) = fault.duration_h {
                self.positive(
                    &format!("{p}.duration_h"),
                    h,
                    lim::FAULT_DURATION_H,
                    unit::HOURS,
                );
            }

            let applies: &[&str] = match fault.kind {
                FaultKind::SensorDrift => &["signal", "rate_per_d"],
                FaultKind::StuckSensor => &["signal"],
                FaultKind::DoProbeFailure => &["mode"],
                FaultKind::FeedPumpFailure => &["feed", "delivered_fraction"],
                FaultKind::Contamination => &["b0_g_per_l"],
                FaultKind::TemperatureExcursion => &["target_c", "delta_c"],
                FaultKind::CultureCrash => &["death_rate_per_h"],
            };
            for name in present_fault_fields(fault) {
                if !applies.contains(&name) {
                    self.not_for_kind(&p, name, kind);
                }
            }

            match fault.kind {
                FaultKind::SensorDrift | FaultKind::StuckSensor => {
                    match fault.signal {
                        None => {
                            let choices = variants_of("Signal").unwrap_or_default().join(", ");
                            self.cross_error(
                            &format!("{p}.signal"),
                            format!("{p} (kind = \"{kind}\") needs signal; expected one of {choices}"),
                        );
                        }
                        Some(Signal::Pco2) if !s.sensors.online_pco2 => {
                            self.cross_error(
                            &format!("{p}.signal"),
                            format!(
                                "{p}.signal = \"pco2\" needs an in-line pCO2 probe, but sensors.online_pco2 = false"
                            ),
                        );
                        }
                        Some(_) => {}
                    }
                }
                FaultKind::DoProbeFailure if fault.mode.is_none() => {
                    let choices = variants_of("DoFailureMode").unwrap_or_default().join(", ");
                    self.cross_error(
                        &format!("{p}.mode"),
                        format!("{p} (kind = \"{kind}\") needs mode; expected one of {choices}"),
                    );
                }
                FaultKind::FeedPumpFailure => match &fault.feed {
                    None => {
                        self.cross_error(
                            &format!("{p}.feed"),
                            format!(
                                "{p} (kind = \"{kind}\") needs feed; expected one of {}",
                                feed_names.join(", ")
                            ),
                        );
                    }
                    Some(name) if !feed_names.contains(&name.as_str()) => {
                        let mut msg = format!(
                            "{p}.feed = \"{name}\" names no feed of this scenario; expected one of {}",
                            feed_names.join(", ")
                        );
                        msg.push_str(&did_you_mean(name, feed_names.iter().copied()));
                        self.cross_error(&format!("{p}.feed"), msg);
                    }
                    Some(_) => {}
                },
                FaultKind::TemperatureExcursion
                    if fault.target_c.is_some() && fault.delta_c.is_some() =>
                {
                    self.cross_error(
                        &format!("{p}.delta_c"),
                        format!(
                            "{p} (kind = \"{kind}\") gives both target_c and delta_c; give one"
                        ),
                    );
                }
                _ => {}
            }

            if let Some(rate) = fault.rate_per_d {
                let path = format!("{p}.rate_per_d");
                let (max, unit) = match fault.signal {
                    Some(Signal::Temp) => (2.0, " °C/d"),
                    Some(Signal::Ph) => (0.5, " pH/d"),
                    Some(Signal::Do) => (20.0, " %/d"),
                    Some(Signal::Pco2) => (50.0, " mmHg/d"),
                    None => (f64::INFINITY, ""),
                };
                if max.is_finite() {
                    self.range(&path, rate, (-max, max), None, unit);
                } else {
                    self.finite(&path, rate);
                }
            }
            self.opt_range(
                &format!("{p}.delivered_fraction"),
                fault.delivered_fraction,
                lim::FRACTION,
                None,
                unit::NONE,
            );
            self.opt_range(
                &format!("{p}.target_c"),
                fault.target_c,
                lim::EXCURSION_TARGET_C,
                None,
                unit::DEGC,
            );
            self.opt_range(
                &format!("{p}.delta_c"),
                fault.delta_c,
                lim::EXCURSION_DELTA_C,
                None,
                unit::DEGC,
            );
            if let Some(b0) = fault.b0_g_per_l {
                self.positive(
                    &format!("{p}.b0_g_per_l"),
                    b0,
                    lim::CONTAMINANT_B0_G_PER_L,
                    unit::G_PER_L,
                );
            }
            self.opt_range(
                &format!("{p}.death_rate_per_h"),
                fault.death_rate_per_h,
                lim::CRASH_DEATH_RATE_PER_H,
                None,
                unit::PER_H,
            );
        }
    }

}

/// Names of the kind-specific optional fields a fault sets.
fn present_fault_fields(f: &Fault) -> Vec<&'static str> {
    let all = [
        ("signal", f.signal.is_some()),
        ("rate_per_d", f.rate_per_d.is_some()),
        ("mode", f.mode.is_some()),
        ("feed", f.feed.is_some()),
        ("delivered_fraction", f.delivered_fraction.is_some()),
        ("target_c", f.target_c.is_some()),
        ("delta_c", f.delta_c.is_some()),
        ("b0_g_per_l", f.b0_g_per_l.is_some()),
        ("death_rate_per_h", f.death_rate_per_h.is_some()),
    ];
    all.iter()
        .filter(|(_, set)| *set)
        .map(|(n, _)| *n)
        .collect()
}
