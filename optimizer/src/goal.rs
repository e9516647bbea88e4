//! What to optimise and what to respect: objectives, constraints and the penalty method.
//!
//! # Objectives
//!
//! An objective is always *maximised*. It is one quantity (`final_titer`,
//! `volumetric_productivity`, `specific_productivity`, `cqa`, or any [`Quantity`] name) or a
//! weighted sum such as `0.7*final_titer+0.3*cqa` or `final_titer-0.2*peak_lactate_g_per_l`.
//! A single term is reported in its own units. In a sum each term is divided by the
//! magnitude of that quantity at the baseline, so the weights compare relative changes
//! ("1 % more titer is worth as much as 1 % more GI") rather than mixed units.
//!
//! # Constraints and the penalty method
//!
//! Constraints read `QUANTITY<=LIMIT` or `QUANTITY>=LIMIT` (e.g. `peak_pco2_mmhg<=120`).
//! Solvers minimise
//!
//! `cost(x) = −J(x)/|J_baseline| + Σ_i (ρ₁·v_i + ρ₂·v_i²)`, with `v_i = violation_i / max(|limit_i|, 1)`,
//!
//! `ρ₁ = 100`, `ρ₂ = 10⁴` (an exterior penalty: zero inside the feasible set). The linear
//! term makes the penalty *exact* for smooth problems (the constrained optimum is a minimum
//! of the cost, not a point slightly outside the limit); the quadratic term steepens large
//! violations. With these weights a violation of 1 % of a limit costs as much as losing
//! twice the baseline objective. The constraint values at the optimum are reported, and an
//! optimum that still violates a limit is flagged infeasible rather than hidden.

use crate::error::{OptimizerError, Result};
use sim::objective::{Prediction, Quantity};

/// Linear penalty weight ρ₁.
pub const PENALTY_LINEAR: f64 = 100.0;
/// Quadratic penalty weight ρ₂.
pub const PENALTY_QUADRATIC: f64 = 1.0e4;

/// A weighted sum of quantities, maximised.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Objective {
    /// `(weight, quantity)` terms.
    pub terms: Vec<(f64, Quantity)>,
    /// The text it was parsed from (for reports).
    pub text: String,
}

impl Objective {
    /// One quantity with weight 1.
    pub fn single(quantity: Quantity) -> Self {
        Self { terms: vec![(1.0, quantity)], text: quantity.name().to_owned() }
    }

    /// Parse `final_titer`, `0.7*final_titer+0.3*cqa`, `titer-0.2*peak_lactate_g_per_l`, ….
    pub fn parse(text: &str) -> Result<Self> {
        let err = |reason: String| OptimizerError::MalformedObjective { text: text.to_owned(), reason };
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.is_empty() {
            return Err(err("empty objective".to_owned()));
        }
        // Split at + and − that start a term (not inside a number's exponent like 1e-3).
        let mut pieces = Vec::new();
        let mut current = String::new();
        let mut prev: Option<char> = None;
        for c in compact.chars() {
            let exponent_sign = matches!(prev, Some('e') | Some('E'))
                && current.trim_start_matches(['+', '-']).chars().next().is_some_and(|d| d.is_ascii_digit() || d == '.');
            if (c == '+' || c == '-') && !current.is_empty() && !exponent_sign {
                pieces.push(std::mem::take(&mut current));
            }
            current.push(c);
            prev = Some(c);
        }
        pieces.push(current);
        let mut terms = Vec::new();
        for piece in pieces {
            let (sign, body) = match piece.strip_prefix('-') {
                Some(rest) => (-1.0, rest),
                None => (1.0, piece.strip_prefix('+').unwrap_or(&piece)),
            };
            let (weight, name) = match body.split_once('*') {
                Some((w, name)) => {
                    let w: f64 = w.parse().map_err(|_| err(format!("weight `{w}` is not a number")))?;
                    (w, name)
                }
                None => (1.0, body),
            };
            let quantity = Quantity::parse(name).ok_or_else(|| err(format!("unknown quantity `{name}`; known: {}", known_quantities())))?;
            if !(weight.is_finite()) || weight == 0.0 {
                return Err(err(format!("weight of `{name}` must be a non-zero number")));
            }
            if terms.iter().any(|(_, q)| *q == quantity) {
                return Err(err(format!("`{name}` appears twice")));
            }
            terms.push((sign * weight, quantity));
        }
        Ok(Self { terms, text: text.trim().to_owned() })
    }

    /// The objective's value; `reference` is the baseline prediction used to normalise
    /// weighted sums (ignored for a single term). `None` where a quantity is not predicted.
    pub fn value(&self, prediction: &Prediction, reference: &Prediction) -> Option<f64> {
        if let [(w, q)] = self.terms.as_slice() {
            return prediction.value(*q).map(|v| w * v);
        }
        let mut sum = 0.0;
        for (w, q) in &self.terms {
            let v = prediction.value(*q)?;
            let r = reference.value(*q)?.abs().max(1e-12);
            sum += w * v / r;
        }
        Some(sum)
    }
}

/// Which side of the limit is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    AtMost,
    AtLeast,
}

/// `quantity <= limit` or `quantity >= limit`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Constraint {
    pub quantity: Quantity,
    pub relation: Relation,
    pub limit: f64,
}

impl Constraint {
    /// Parse `peak_pco2_mmhg<=120` or `final_viability_pct>=70` (spaces allowed).
    pub fn parse(text: &str) -> Result<Self> {
        let err = |reason: String| OptimizerError::MalformedConstraint { text: text.to_owned(), reason };
        let (name, relation, limit) = if let Some((n, l)) = text.split_once("<=") {
            (n, Relation::AtMost, l)
        } else if let Some((n, l)) = text.split_once(">=") {
            (n, Relation::AtLeast, l)
        } else if text.contains('<') || text.contains('>') || text.contains('=') {
            return Err(err("use `<=` or `>=`".to_owned()));
        } else {
            return Err(err("no `<=` or `>=`".to_owned()));
        };
        let name = name.trim();
        let quantity =
            Quantity::parse(name).ok_or_else(|| err(format!("unknown quantity `{name}`; known: {}", known_quantities())))?;
        let limit_text = limit.trim();
        let limit: f64 = limit_text.parse().map_err(|_| err(format!("limit `{limit_text}` is not a number")))?;
        if !limit.is_finite() {
            return Err(err("limit must be finite".to_owned()));
        }
        Ok(Self { quantity, relation, limit })
    }

    /// How far `value` is outside the limit, in the quantity's units (0 when satisfied).
    pub fn violation(&self, value: f64) -> f64 {
        match self.relation {
            Relation::AtMost => (value - self.limit).max(0.0),
            Relation::AtLeast => (self.limit - value).max(0.0),
        }
    }

    /// The penalty term of this constraint for `value` (see the module docs).
    pub fn penalty(&self, value: f64) -> f64 {
        if !value.is_finite() {
            return PENALTY_LINEAR * 1e3;
        }
        let v = self.violation(value) / self.limit.abs().max(1.0);
        PENALTY_LINEAR * v + PENALTY_QUADRATIC * v * v
    }

    /// `peak_pco2_mmhg<=120`.
    pub fn text(&self) -> String {
        let op = match self.relation {
            Relation::AtMost => "<=",
            Relation::AtLeast => ">=",
        };
        format!("{}{op}{}", self.quantity.name(), self.limit)
    }
}

/// Reject sets of constraints that no point can satisfy (`x >= 5` with `x <= 3`).
pub fn check_consistent(constraints: &[Constraint]) -> Result<()> {
    for q in Quantity::ALL {
        let at_least = constraints
            .iter()
            .filter(|c| c.quantity == q && c.relation == Relation::AtLeast)
            .map(|c| c.limit)
            .fold(f64::NEG_INFINITY, f64::max);
        let at_most = constraints
            .iter()
            .filter(|c| c.quantity == q && c.relation == Relation::AtMost)
            .map(|c| c.limit)
            .fold(f64::INFINITY, f64::min);
        if at_least > at_most {
            return Err(OptimizerError::ContradictoryConstraints { quantity: q.name(), at_least, at_most });
        }
    }
    Ok(())
}

fn known_quantities() -> String {
    Quantity::ALL.map(Quantity::name).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objective_parses_single_and_weighted_forms() {
        let o = Objective::parse("final_titer").expect("single");
        assert_eq!(o.terms, vec![(1.0, Quantity::FinalTiter)]);
        let o = Objective::parse("0.7*final_titer + 0.3*cqa").expect("sum");
        assert_eq!(o.terms, vec![(0.7, Quantity::FinalTiter), (0.3, Quantity::Cqa)]);
        let o = Objective::parse("titer-2e-1*peak_lactate_g_per_l").expect("difference");
        assert_eq!(o.terms, vec![(1.0, Quantity::FinalTiter), (-0.2, Quantity::PeakLactate)]);
        assert!(Objective::parse("").is_err());
        assert!(Objective::parse("happiness").is_err());
        assert!(Objective::parse("x*final_titer").is_err());
        assert!(Objective::parse("titer+final_titer").is_err());
    }

    #[test]
    fn constraints_parse_and_measure_violation() {
        let c = Constraint::parse("peak_pco2_mmhg<=120").expect("parse");
        assert_eq!((c.quantity, c.relation, c.limit), (Quantity::PeakPco2, Relation::AtMost, 120.0));
        assert_eq!(c.violation(100.0), 0.0);
        assert_eq!(c.violation(130.0), 10.0);
        assert_eq!(c.penalty(100.0), 0.0);
        assert!(c.penalty(121.2) > 1.0);
        let c = Constraint::parse(" final_viability_pct >= 70 ").expect("parse");
        assert_eq!(c.violation(60.0), 10.0);
        for bad in ["peak_pco2_mmhg=120", "peak_pco2_mmhg<120", "peak_pco2_mmhg", "nope<=1", "peak_pco2_mmhg<=abc", "peak_pco2_mmhg<=inf"] {
            assert!(Constraint::parse(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn contradictory_constraints_are_rejected() {
        let a = Constraint::parse("peak_lactate_g_per_l>=3").expect("a");
        let b = Constraint::parse("peak_lactate_g_per_l<=2").expect("b");
        assert!(matches!(check_consistent(&[a, b]), Err(OptimizerError::ContradictoryConstraints { .. })));
        let c = Constraint::parse("peak_lactate_g_per_l<=4").expect("c");
        assert!(check_consistent(&[a, c]).is_ok());
    }
}
