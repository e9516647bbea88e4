//! Fault windows: defaults, the random fault draw, drift defaults, the fault detail text,
//! and the queries on active faults (delivered fraction, stuck values, drift bias).

use super::Runner;
use crate::rng::{Stream, stream_rng};
use crate::scenario::{DoFailureMode, Fault, FaultKind, Scenario, Signal};
use rand::Rng;

/// A fault resolved to a time window and concrete magnitudes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FaultWindow {
    pub(super) fault: Fault,
    pub(super) start_h: f64,
    pub(super) end_h: f64,
}

/// Default magnitude of a fault kind's main parameter and its default duration (h).
pub(super) fn fault_defaults(kind: FaultKind) -> Option<f64> {
    match kind {
        FaultKind::TemperatureExcursion => Some(6.0),
        FaultKind::CultureCrash | FaultKind::StuckSensor | FaultKind::DoProbeFailure => Some(24.0),
        FaultKind::FeedPumpFailure => Some(48.0),
        FaultKind::SensorDrift | FaultKind::Contamination => None,
    }
}

pub(super) fn drift_default_per_d(signal: Signal) -> f64 {
    match signal {
        Signal::Temp => 0.1,
        Signal::Ph => 0.03,
        Signal::Do => 2.0,
        Signal::Pco2 => 10.0,
    }
}

/// Draw the `[random_fault]` of a batch (kind, start day 2–12, magnitude U(0.5, 2)).
pub(super) fn random_fault(s: &Scenario) -> Option<Fault> {
    let mut rng = stream_rng(s.seed, Stream::Faults);
    let u: f64 = rng.random();
    let kind_idx = rng.random_range(0..FaultKind::ALL.len());
    let start_d: f64 = rng.random_range(2.0..12.0);
    let magnitude: f64 = rng.random_range(0.5..2.0);
    let signal_idx = rng.random_range(0..3usize);
    let mode_idx = rng.random_range(0..4usize);
    if u >= s.random_fault.probability {
        return None;
    }
    let kind = FaultKind::ALL[kind_idx];
    let start_d = start_d.min((s.duration_d - 0.5).max(0.0));
    let mut f = Fault::new(kind, start_d);
    f.duration_h = fault_defaults(kind);
    let signal = [Signal::Temp, Signal::Ph, Signal::Do][signal_idx];
    match kind {
        FaultKind::SensorDrift => {
            f.signal = Some(signal);
            f.rate_per_d = Some(drift_default_per_d(signal) * magnitude);
        }
        FaultKind::StuckSensor => f.signal = Some(signal),
        FaultKind::DoProbeFailure => {
            f.mode = Some([DoFailureMode::ReadsZero, DoFailureMode::ReadsHigh, DoFailureMode::Noisy, DoFailureMode::Dropout][mode_idx]);
        }
        FaultKind::FeedPumpFailure => {
            f.feed = s.feeds.first().map(|x| x.name.clone());
            f.delivered_fraction = Some(0.0);
            f.duration_h = f.duration_h.map(|d| d * magnitude);
            f.feed.as_ref()?;
        }
        FaultKind::Contamination => f.b0_g_per_l = Some(1e-6 * magnitude),
        FaultKind::TemperatureExcursion => f.duration_h = Some(6.0 * magnitude),
        FaultKind::CultureCrash => f.death_rate_per_h = Some(0.08 * magnitude),
    }
    Some(f)
}

impl Runner<'_> {
    pub(super) fn fault_active(&self, pred: impl Fn(&Fault) -> bool) -> bool {
        self.faults.iter().zip(&self.active).any(|(w, a)| *a && pred(&w.fault))
    }

    pub(super) fn delivered_fraction(&self, feed: &str) -> f64 {
        self.faults
            .iter()
            .zip(&self.active)
            .filter(|(w, a)| **a && w.fault.kind == FaultKind::FeedPumpFailure && w.fault.feed.as_deref() == Some(feed))
            .map(|(w, _)| w.fault.delivered_fraction.unwrap_or(0.0))
            .fold(1.0, f64::min)
    }

    pub(super) fn stuck_value(&self, signal: Signal) -> Option<f64> {
        self.faults
            .iter()
            .enumerate()
            .find(|(i, w)| self.active[*i] && w.fault.kind == FaultKind::StuckSensor && w.fault.signal == Some(signal))
            .and_then(|(i, _)| self.frozen[i])
    }

    pub(super) fn drift_bias(&self, signal: Signal, t_h: f64) -> f64 {
        self.faults
            .iter()
            .enumerate()
            .filter(|(i, w)| self.active[*i] && w.fault.kind == FaultKind::SensorDrift && w.fault.signal == Some(signal))
            .map(|(_, w)| w.fault.rate_per_d.unwrap_or_else(|| drift_default_per_d(signal)) / 24.0 * (t_h - w.start_h))
            .sum()
    }
}

pub(super) fn fault_detail(f: &Fault) -> String {
    let mut parts = Vec::new();
    if let Some(s) = f.signal {
        parts.push(format!("signal={s:?}").to_lowercase());
    }
    if let Some(r) = f.rate_per_d {
        parts.push(format!("rate_per_d={r}"));
    }
    if let Some(m) = f.mode {
        parts.push(format!("mode={m:?}").to_lowercase());
    }
    if let Some(feed) = &f.feed {
        parts.push(format!("feed={feed}"));
    }
    if let Some(x) = f.death_rate_per_h {
        parts.push(format!("death_rate_per_h={x}"));
    }
    parts.join(" ")
}
