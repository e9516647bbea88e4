//! The event plan: every output, sample, bolus, schedule change, feed edge and fault edge
//! of a run, sorted by time and then by action order.

use super::{OUTPUT_INTERVAL_H, Runner};
use crate::rng::{Stream, stream_rng};
use crate::scenario::FeedKind;
use crate::sensors;
use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Action {
    FaultEnd(usize),
    FaultStart(usize),
    Schedule(usize),
    FeedEdge,
    Output,
    Sample(u32),
    Bolus(usize),
}

impl Runner<'_> {
    /// Every event of the run, sorted by time and then by action order.
    pub(super) fn plan(&self) -> Vec<(f64, Action)> {
        let s = self.scenario;
        let dur = self.duration_h();
        let mut plan = Vec::new();
        let n_out = (dur / OUTPUT_INTERVAL_H + 1e-9).floor() as u64;
        for k in 0..=n_out {
            plan.push((k as f64 * OUTPUT_INTERVAL_H, Action::Output));
        }
        let mut rng = stream_rng(s.seed, Stream::Sampling);
        let jitter_on = sensors::profile_factor(s.sensors.profile) > 0.0;
        let n_days = (s.duration_d + 1e-9).floor() as u32;
        for day in 0..=n_days {
            let u: f64 = rng.random();
            let nominal = day as f64 * 24.0;
            // Samples are drawn up to 30 min before the day's bolus (none before t = 0).
            let t = if jitter_on && day > 0 { nominal - 0.5 * u } else { nominal };
            plan.push((t.clamp(0.0, dur), Action::Sample(day)));
        }
        for (i, f) in s.feeds.iter().enumerate() {
            match f.kind {
                FeedKind::Bolus | FeedKind::BolusToTarget => {
                    let mut k = 0;
                    loop {
                        let t_d = f.start_d + k as f64 * f.every_d;
                        if t_d > f.end_d + 1e-9 || t_d > s.duration_d + 1e-9 || f.every_d <= 0.0 {
                            break;
                        }
                        plan.push((t_d * 24.0, Action::Bolus(i)));
                        k += 1;
                    }
                }
                FeedKind::Continuous => {
                    plan.push(((f.start_d * 24.0).min(dur), Action::FeedEdge));
                    plan.push(((f.end_d * 24.0).min(dur), Action::FeedEdge));
                }
            }
        }
        for (i, st) in s.schedule.iter().enumerate() {
            plan.push((st.at_d * 24.0, Action::Schedule(i)));
            if let Some(r) = st.ramp_h.filter(|r| *r > 0.0) {
                plan.push(((st.at_d * 24.0 + r).min(dur), Action::FeedEdge));
            }
        }
        for (i, w) in self.faults.iter().enumerate() {
            plan.push((w.start_h.min(dur), Action::FaultStart(i)));
            plan.push((w.end_h.min(dur), Action::FaultEnd(i)));
        }
        plan.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        plan
    }
}
