//! Decision variables: named setpoints of a scenario, their bounds, and the map from the
//! solvers' unbounded space to the bounded box.
//!
//! # Default bounds
//!
//! All defaults lie inside the scenario validator's *validated* ranges (so the optimum is
//! never an extrapolation of the model), and together keep the projected harvest volume
//! under the validator's 110 % fill limit.
//!
//! | Name | Units | Default bounds | Validated range | Scenario field |
//! |---|---|---|---|---|
//! | `temp_c` | °C | 32.0–38.0 | 30–39 | `setpoints.temp_c` |
//! | `ph` | – | 6.8–7.3 | 6.7–7.4 | `setpoints.ph` |
//! | `do_pct` | % air sat. | 20–80 | 10–100 | `setpoints.do_pct` |
//! | `glucose_feed_g_per_l_per_day` | g/L/d | 0.0–3.0 | 0–3 | every feed's `glucose_g_per_l_per_d` |
//! | `seed_vcd_e6_per_ml` | 1e6 cells/mL | 0.3–1.5 | 0.2–2.0 | `inoculum.vcd_e6_per_ml` |
//! | `temp_shift_day` | d | 3.0–10.0 | within the run | `at_d` of the first schedule step with `temp_c` |
//! | `temp_shift_c` | °C | 30.0–37.0 | 30–39 | `temp_c` of that step |
//! | `feed_volume_pct` | % of initial volume | 2.0–6.25 | 0–20 (fill limit) | every bolus feed's `volume_pct_of_initial` |
//!
//! # Bounds transform
//!
//! Solvers work on an unbounded vector `z`; each component maps to the box with
//! `x = lo + (hi − lo)·(1 + sin z)/2`. Every real `z` gives a point inside the bounds, so no
//! solver can evaluate outside them (a property test checks this), the map is smooth for
//! finite differences, and `z ∈ [−π/2, π/2]` covers the box once (the particle swarm's
//! search window). The inverse used for start points is `z = asin(2(x − lo)/(hi − lo) − 1)`.

use crate::error::{OptimizerError, Result};
use sim::scenario::{FeedKind, Scenario, ScheduleStep};

/// A setpoint of the scenario that the optimiser may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Variable {
    TempC,
    Ph,
    DoPct,
    GlucoseFeedGPerLPerDay,
    SeedVcdE6PerMl,
    TempShiftDay,
    TempShiftC,
    FeedVolumePct,
}

/// Lower and upper bound of one variable, in its units.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Bounds {
    pub lower: f64,
    pub upper: f64,
}

impl Variable {
    pub const ALL: [Variable; 8] = [
        Variable::TempC,
        Variable::Ph,
        Variable::DoPct,
        Variable::GlucoseFeedGPerLPerDay,
        Variable::SeedVcdE6PerMl,
        Variable::TempShiftDay,
        Variable::TempShiftC,
        Variable::FeedVolumePct,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Variable::TempC => "temp_c",
            Variable::Ph => "ph",
            Variable::DoPct => "do_pct",
            Variable::GlucoseFeedGPerLPerDay => "glucose_feed_g_per_l_per_day",
            Variable::SeedVcdE6PerMl => "seed_vcd_e6_per_ml",
            Variable::TempShiftDay => "temp_shift_day",
            Variable::TempShiftC => "temp_shift_c",
            Variable::FeedVolumePct => "feed_volume_pct",
        }
    }

    /// Human label and unit for tables (the seed's Table 7 wording where it has one).
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Variable::TempC => ("Temperature", "°C"),
            Variable::Ph => ("pH", "-"),
            Variable::DoPct => ("Dissolved Oxygen", "%"),
            Variable::GlucoseFeedGPerLPerDay => ("Glucose Feeding Rate", "g/L/day"),
            Variable::SeedVcdE6PerMl => ("Initial Seeding Density", "1e6 cells/mL"),
            Variable::TempShiftDay => ("Temperature shift day", "d"),
            Variable::TempShiftC => ("Temperature after shift", "°C"),
            Variable::FeedVolumePct => ("Bolus feed volume", "% of V0"),
        }
    }

    /// Parse a name; unknown names list the known ones.
    pub fn parse(name: &str) -> Result<Variable> {
        let name = name.trim();
        Variable::ALL.into_iter().find(|v| v.name() == name).ok_or_else(|| OptimizerError::UnknownVariable {
            name: name.to_owned(),
            known: Variable::ALL.map(Variable::name).join(", "),
        })
    }

    /// Default bounds (see the module table).
    pub fn default_bounds(self) -> Bounds {
        let (lower, upper) = match self {
            Variable::TempC => (32.0, 38.0),
            Variable::Ph => (6.8, 7.3),
            Variable::DoPct => (20.0, 80.0),
            Variable::GlucoseFeedGPerLPerDay => (0.0, 3.0),
            Variable::SeedVcdE6PerMl => (0.3, 1.5),
            Variable::TempShiftDay => (3.0, 10.0),
            Variable::TempShiftC => (30.0, 37.0),
            Variable::FeedVolumePct => (2.0, 6.25),
        };
        Bounds { lower, upper }
    }

    /// The scenario validator's hard limits: bounds outside them cannot be simulated.
    pub fn hard_limits(self) -> Bounds {
        let (lower, upper) = match self {
            Variable::TempC | Variable::TempShiftC => (26.0, 40.0),
            Variable::Ph => (6.4, 7.8),
            Variable::DoPct => (1.0, 200.0),
            Variable::GlucoseFeedGPerLPerDay => (0.0, 10.0),
            Variable::SeedVcdE6PerMl => (0.05, 5.0),
            Variable::TempShiftDay => (0.0, 30.0),
            Variable::FeedVolumePct => (0.0, 20.0),
        };
        Bounds { lower, upper }
    }

    /// The variable's value in a scenario; `None` where the scenario has no such setting
    /// (e.g. no temperature shift).
    pub fn read(self, s: &Scenario) -> Option<f64> {
        match self {
            Variable::TempC => Some(s.setpoints.temp_c),
            Variable::Ph => Some(s.setpoints.ph),
            Variable::DoPct => Some(s.setpoints.do_pct),
            Variable::GlucoseFeedGPerLPerDay => s.feeds.iter().find_map(|f| f.glucose_g_per_l_per_d),
            Variable::SeedVcdE6PerMl => Some(s.inoculum.vcd_e6_per_ml),
            Variable::TempShiftDay => temp_shift_idx(s).map(|i| s.schedule[i].at_d),
            Variable::TempShiftC => temp_shift_idx(s).and_then(|i| s.schedule[i].temp_c),
            Variable::FeedVolumePct => {
                s.feeds.iter().filter(|f| f.kind == FeedKind::Bolus).find_map(|f| f.volume_pct_of_initial)
            }
        }
    }

    /// Why the variable cannot be used with this scenario (given the other chosen
    /// variables), or `None` if it can.
    fn not_applicable(self, s: &Scenario, chosen: &[Variable]) -> Option<String> {
        match self {
            Variable::GlucoseFeedGPerLPerDay if self.read(s).is_none() => {
                Some("no feed has `glucose_g_per_l_per_d` (add a continuous glucose supplement)".to_owned())
            }
            Variable::FeedVolumePct if self.read(s).is_none() => {
                Some("no bolus feed has `volume_pct_of_initial`".to_owned())
            }
            Variable::TempShiftDay if temp_shift_idx(s).is_none() && !chosen.contains(&Variable::TempShiftC) => Some(
                "the scenario has no temperature shift; choose `temp_shift_c` as well, or add a schedule step with `temp_c`"
                    .to_owned(),
            ),
            Variable::TempShiftC if temp_shift_idx(s).is_none() && !chosen.contains(&Variable::TempShiftDay) => Some(
                "the scenario has no temperature shift; choose `temp_shift_day` as well, or add a schedule step with `temp_c`"
                    .to_owned(),
            ),
            _ => None,
        }
    }

    /// Write `value` into the scenario. A temperature shift that does not exist yet is
    /// created (at the midpoint of the default day range until `temp_shift_day` sets it).
    pub fn apply(self, s: &mut Scenario, value: f64) {
        match self {
            Variable::TempC => s.setpoints.temp_c = value,
            Variable::Ph => s.setpoints.ph = value,
            Variable::DoPct => s.setpoints.do_pct = value,
            Variable::GlucoseFeedGPerLPerDay => {
                for f in &mut s.feeds {
                    if f.glucose_g_per_l_per_d.is_some() {
                        f.glucose_g_per_l_per_d = Some(value);
                    }
                }
            }
            Variable::SeedVcdE6PerMl => s.inoculum.vcd_e6_per_ml = value,
            Variable::TempShiftDay => {
                let i = ensure_temp_shift(s);
                s.schedule[i].at_d = value;
                s.schedule.sort_by(|a, b| a.at_d.total_cmp(&b.at_d));
            }
            Variable::TempShiftC => {
                let i = ensure_temp_shift(s);
                s.schedule[i].temp_c = Some(value);
            }
            Variable::FeedVolumePct => {
                for f in &mut s.feeds {
                    if f.kind == FeedKind::Bolus && f.volume_pct_of_initial.is_some() {
                        f.volume_pct_of_initial = Some(value);
                    }
                }
            }
        }
    }
}

fn temp_shift_idx(s: &Scenario) -> Option<usize> {
    s.schedule.iter().position(|step| step.temp_c.is_some())
}

fn ensure_temp_shift(s: &mut Scenario) -> usize {
    if let Some(i) = temp_shift_idx(s) {
        return i;
    }
    let b = Variable::TempShiftDay.default_bounds();
    let at_d = 0.5 * (b.lower + b.upper);
    let temp_c = s.setpoints.temp_c;
    s.schedule.push(ScheduleStep { at_d, temp_c: Some(temp_c), ..ScheduleStep::default() });
    s.schedule.sort_by(|a, b| a.at_d.total_cmp(&b.at_d));
    temp_shift_idx(s).unwrap_or(0)
}

/// The chosen variables with their bounds: the space the solvers search.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DecisionSpace {
    pub variables: Vec<Variable>,
    pub bounds: Vec<Bounds>,
}

impl DecisionSpace {
    /// Check the variables against the scenario and resolve bounds (defaults, then
    /// `overrides`).
    pub fn new(scenario: &Scenario, variables: &[Variable], overrides: &[(Variable, Bounds)]) -> Result<Self> {
        if variables.is_empty() {
            return Err(OptimizerError::NoVariables);
        }
        for (i, v) in variables.iter().enumerate() {
            if variables[..i].contains(v) {
                return Err(OptimizerError::DuplicateVariable { name: v.name().to_owned() });
            }
            if let Some(reason) = v.not_applicable(scenario, variables) {
                return Err(OptimizerError::NotApplicable { name: v.name().to_owned(), reason });
            }
        }
        for (v, _) in overrides {
            if !variables.contains(v) {
                return Err(OptimizerError::InvalidBounds {
                    name: v.name().to_owned(),
                    lower: f64::NAN,
                    upper: f64::NAN,
                    reason: "bounds given for a variable that is not in --vars".to_owned(),
                });
            }
        }
        let mut bounds = Vec::with_capacity(variables.len());
        for &v in variables {
            let b = overrides.iter().rev().find(|(o, _)| *o == v).map_or(v.default_bounds(), |(_, b)| *b);
            check_bounds(v, b)?;
            bounds.push(b);
        }
        if variables.contains(&Variable::TempShiftDay) {
            let b = bounds[variables.iter().position(|v| *v == Variable::TempShiftDay).unwrap_or(0)];
            if b.upper >= scenario.duration_d {
                return Err(OptimizerError::InvalidBounds {
                    name: Variable::TempShiftDay.name().to_owned(),
                    lower: b.lower,
                    upper: b.upper,
                    reason: format!("the shift must fall inside the {}-day run", scenario.duration_d),
                });
            }
        }
        Ok(Self { variables: variables.to_vec(), bounds })
    }

    /// Number of variables.
    pub fn dim(&self) -> usize {
        self.variables.len()
    }

    /// Map an unbounded solver vector into the box (see the module docs).
    pub fn to_box(&self, z: &[f64]) -> Vec<f64> {
        z.iter()
            .zip(&self.bounds)
            .map(|(&z, b)| {
                let u = 0.5 * (1.0 + z.sin());
                (b.lower + (b.upper - b.lower) * u).clamp(b.lower, b.upper)
            })
            .collect()
    }

    /// The inverse of [`Self::to_box`] on `z ∈ [−π/2, π/2]`.
    pub fn to_unbounded(&self, x: &[f64]) -> Vec<f64> {
        x.iter()
            .zip(&self.bounds)
            .map(|(&x, b)| {
                let u = ((x - b.lower) / (b.upper - b.lower)).clamp(0.0, 1.0);
                (2.0 * u - 1.0).asin()
            })
            .collect()
    }

    /// A copy of the scenario with the variables set to `x`.
    pub fn apply(&self, scenario: &Scenario, x: &[f64]) -> Scenario {
        let mut s = scenario.clone();
        for (v, &value) in self.variables.iter().zip(x) {
            v.apply(&mut s, value);
        }
        s
    }

    /// The scenario's own values of the variables (`None` where it has none).
    pub fn baseline(&self, scenario: &Scenario) -> Vec<Option<f64>> {
        self.variables.iter().map(|v| v.read(scenario)).collect()
    }

    /// The baseline values pulled 2 % of the range inside the box (the midpoint where the
    /// scenario has no value): the first start of every study.
    pub fn baseline_start(&self, scenario: &Scenario) -> Vec<f64> {
        self.baseline(scenario)
            .iter()
            .zip(&self.bounds)
            .map(|(x, b)| {
                let margin = 0.02 * (b.upper - b.lower);
                x.unwrap_or(0.5 * (b.lower + b.upper)).clamp(b.lower + margin, b.upper - margin)
            })
            .collect()
    }

    /// Whether `x` lies inside the bounds.
    pub fn contains(&self, x: &[f64]) -> bool {
        x.len() == self.dim() && x.iter().zip(&self.bounds).all(|(x, b)| (b.lower..=b.upper).contains(x))
    }
}

fn check_bounds(v: Variable, b: Bounds) -> Result<()> {
    let err = |reason: String| OptimizerError::InvalidBounds {
        name: v.name().to_owned(),
        lower: b.lower,
        upper: b.upper,
        reason,
    };
    if !(b.lower.is_finite() && b.upper.is_finite()) {
        return Err(err("bounds must be finite numbers".to_owned()));
    }
    if b.lower > b.upper {
        return Err(err("lower bound is above the upper bound".to_owned()));
    }
    if b.lower == b.upper {
        return Err(err("empty range: lower and upper bound are equal".to_owned()));
    }
    let h = v.hard_limits();
    if b.lower < h.lower || b.upper > h.upper {
        return Err(err(format!("outside the scenario limits {}..{}", h.lower, h.upper)));
    }
    Ok(())
}

/// Parse `name=lo:hi` bound overrides (as given to `--bounds`).
pub fn parse_bounds(text: &str) -> Result<(Variable, Bounds)> {
    let malformed = |reason: &str| OptimizerError::InvalidBounds {
        name: text.to_owned(),
        lower: f64::NAN,
        upper: f64::NAN,
        reason: format!("{reason}; expected NAME=LO:HI, e.g. temp_c=33:37"),
    };
    let (name, range) = text.split_once('=').ok_or_else(|| malformed("no `=`"))?;
    let variable = Variable::parse(name)?;
    let (lo, hi) = range.split_once(':').ok_or_else(|| malformed("no `:` between the bounds"))?;
    let lower: f64 = lo.trim().parse().map_err(|_| malformed("lower bound is not a number"))?;
    let upper: f64 = hi.trim().parse().map_err(|_| malformed("upper bound is not a number"))?;
    Ok((variable, Bounds { lower, upper }))
}
