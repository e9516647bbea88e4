//! Design of experiments for training data: a Latin hypercube over setpoints, cell lines
//! and scales (ranges in [`DoeRanges`]), turned into concrete, validated scenarios.
//! Pure and deterministic given the seed; the CLI runs the batches in parallel.

use crate::rng::splitmix64;
use crate::scenario::{Fault, Scenario, ScheduleStep, ValidScenario, Vessel, validate};
use crate::{Result, SimError};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// The ranges sampled by [`design`] (all inclusive; documented in the README).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoeRanges {
    pub temp_c: (f64, f64),
    pub ph: (f64, f64),
    pub do_pct: (f64, f64),
    pub glucose_g_per_l_per_d: (f64, f64),
    pub seed_vcd_e6_per_ml: (f64, f64),
    pub sparge_vvm: (f64, f64),
    /// Fraction of batches with a temperature shift, its day range and target range.
    pub temp_shift_fraction: f64,
    pub temp_shift_day: (f64, f64),
    pub temp_shift_c: (f64, f64),
    pub cell_lines: Vec<String>,
    pub volumes_l: Vec<f64>,
    /// Probability that a batch carries one random fault (labelled in its summary).
    pub fault_probability: f64,
}

impl Default for DoeRanges {
    fn default() -> Self {
        Self {
            temp_c: (35.0, 38.0),
            ph: (6.8, 7.2),
            do_pct: (20.0, 80.0),
            glucose_g_per_l_per_d: (0.0, 1.5),
            seed_vcd_e6_per_ml: (0.3, 1.0),
            sparge_vvm: (0.005, 0.05),
            temp_shift_fraction: 0.4,
            temp_shift_day: (4.0, 7.0),
            temp_shift_c: (31.0, 35.0),
            cell_lines: ["A", "B", "C", "D"].map(String::from).to_vec(),
            volumes_l: vec![50.0, 200.0, 500.0, 2000.0],
            fault_probability: 0.0,
        }
    }
}

/// Number of hypercube dimensions.
const N_DIMS: usize = 11;

/// A Latin hypercube sample: `n` points in [0, 1)^d, one per stratum in each dimension.
pub fn latin_hypercube(n: usize, dims: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<f64>> {
    let mut pts = vec![vec![0.0; dims]; n];
    for d in 0..dims {
        let mut perm: Vec<usize> = (0..n).collect();
        perm.shuffle(rng);
        for (i, p) in pts.iter_mut().enumerate() {
            let u: f64 = rng.random();
            p[d] = (perm[i] as f64 + u) / n as f64;
        }
    }
    pts
}

fn lerp((lo, hi): (f64, f64), u: f64) -> f64 {
    lo + (hi - lo) * u
}

fn pick<T: Clone>(items: &[T], u: f64) -> Option<T> {
    if items.is_empty() {
        return None;
    }
    items.get(((u * items.len() as f64) as usize).min(items.len() - 1)).cloned()
}

/// `n` validated scenarios of the design, derived from `base` (feeds, duration, sensors).
pub fn design(base: &Scenario, ranges: &DoeRanges, n: usize, seed: u64) -> Result<Vec<ValidScenario>> {
    let mut rng = ChaCha8Rng::seed_from_u64(splitmix64(seed));
    let pts = latin_hypercube(n, N_DIMS, &mut rng);
    pts.iter()
        .enumerate()
        .map(|(i, u)| {
            let mut s = base.clone();
            s.name = format!("doe-{seed}-{i:05}");
            s.description = "design-of-experiments batch".into();
            s.seed = splitmix64(seed ^ splitmix64(i as u64 + 1));
            s.setpoints.temp_c = lerp(ranges.temp_c, u[0]);
            s.setpoints.ph = lerp(ranges.ph, u[1]);
            s.setpoints.do_pct = lerp(ranges.do_pct, u[2]);
            let g = lerp(ranges.glucose_g_per_l_per_d, u[3]);
            for f in &mut s.feeds {
                if f.glucose_g_per_l_per_d.is_some() {
                    f.glucose_g_per_l_per_d = Some(g);
                }
            }
            s.inoculum.vcd_e6_per_ml = lerp(ranges.seed_vcd_e6_per_ml, u[4]);
            let volume = pick(&ranges.volumes_l, u[5]).ok_or_else(|| SimError::Invalid("no volumes in the design".into()))?;
            s.vessel = Vessel { nominal_volume_l: volume, sparge_vvm: lerp(ranges.sparge_vvm, u[6]), ..s.vessel.clone() };
            s.cell_line.id = pick(&ranges.cell_lines, u[7]).ok_or_else(|| SimError::Invalid("no cell lines in the design".into()))?;
            s.schedule.clear();
            if u[8] < ranges.temp_shift_fraction {
                let w = u[8] / ranges.temp_shift_fraction;
                s.schedule.push(ScheduleStep {
                    at_d: lerp(ranges.temp_shift_day, u[9]).min(s.duration_d),
                    temp_c: Some(lerp(ranges.temp_shift_c, w)),
                    ..ScheduleStep::default()
                });
            }
            s.faults = Vec::<Fault>::new();
            s.random_fault.probability = ranges.fault_probability;
            s.variability.enabled = true;
            validate(s).map(|(v, _)| v).map_err(SimError::Scenario)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypercube_has_one_point_per_stratum() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 37;
        let pts = latin_hypercube(n, 4, &mut rng);
        for d in 0..4 {
            let mut strata: Vec<usize> = pts.iter().map(|p| (p[d] * n as f64) as usize).collect();
            strata.sort_unstable();
            assert_eq!(strata, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn design_is_deterministic_valid_and_covers_lines_and_scales() {
        let base = Scenario::default();
        let a = design(&base, &DoeRanges::default(), 40, 9).expect("valid design");
        let b = design(&base, &DoeRanges::default(), 40, 9).expect("valid design");
        assert_eq!(a, b);
        let lines: std::collections::BTreeSet<_> = a.iter().map(|s| s.get().cell_line.id.clone()).collect();
        assert_eq!(lines.len(), 4);
        let vols: std::collections::BTreeSet<_> = a.iter().map(|s| s.get().vessel.nominal_volume_l as u64).collect();
        assert_eq!(vols.len(), 4);
        let r = DoeRanges::default();
        for s in &a {
            let t = s.get().setpoints.temp_c;
            assert!(t >= r.temp_c.0 && t <= r.temp_c.1);
        }
        let c = design(&base, &DoeRanges::default(), 40, 10).expect("valid design");
        assert_ne!(a, c);
    }
}
