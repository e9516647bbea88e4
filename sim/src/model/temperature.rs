//! Terms that depend on the liquid temperature only, and their one-entry memo.

use super::THETA_ACIDIC;
use super::modifiers::ctmi;
use crate::physics;

/// Solubilities, their reciprocals and the temperature factors: functions of the liquid
/// temperature only (five `exp`/`powf` calls and several divisions per evaluation). The
/// liquid temperature sits bit-for-bit at its setpoint for most of a run, so the right-hand
/// side keeps the last result and reuses it when the temperature is the same `f64`: results
/// are bit-identical to recomputing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TempTerms {
    pub s_o2: f64,
    pub s_co2: f64,
    /// 1 / S_O2 and 1 / S_CO2 (atm per mM).
    pub inv_s_o2: f64,
    pub inv_s_co2: f64,
    /// pCO2 (mmHg) per mM of dissolved CO2: 760 / S_CO2.
    pub pco2_mmhg_per_mm: f64,
    /// DO (% air saturation) per mM of dissolved O2: 100 / (y_O2,air · S_O2).
    pub do_pct_per_mm: f64,
    /// The cardinal temperature factor of growth, f_T (§2.2).
    pub f_t: f64,
    pub theta_m: f64,
    pub theta_d: f64,
    pub theta_acidic: f64,
}

impl TempTerms {
    pub fn at(t_l: f64) -> Self {
        let s_o2 = physics::s_o2_mm_per_atm(t_l);
        let s_co2 = physics::s_co2_mm_per_atm(t_l);
        Self {
            s_o2,
            s_co2,
            inv_s_o2: 1.0 / s_o2,
            inv_s_co2: 1.0 / s_co2,
            pco2_mmhg_per_mm: 760.0 / s_co2,
            do_pct_per_mm: 100.0 / (physics::Y_O2_AIR * s_o2),
            f_t: ctmi(t_l, 28.0, 37.0, 41.0),
            // θ^(T−37) as exp((T−37)·ln θ): one `exp` instead of a `powf` (the logarithms
            // of the constants fold at compile time).
            theta_m: ((t_l - 37.0) * 1.048_f64.ln()).exp(),
            theta_d: ((t_l - 37.0) * 1.10_f64.ln()).exp(),
            theta_acidic: ((t_l - 37.0) * THETA_ACIDIC.ln()).exp(),
        }
    }
}

/// One-entry memo of [`TempTerms`] keyed by the temperature's bits.
#[derive(Debug, Clone, Default)]
pub struct TempCache(std::cell::Cell<Option<(u64, TempTerms)>>);

impl TempCache {
    /// [`TempTerms::at`] through the memo.
    pub fn terms(&self, t_l: f64) -> TempTerms {
        let key = t_l.to_bits();
        match self.0.get() {
            Some((k, terms)) if k == key => terms,
            _ => {
                let terms = TempTerms::at(t_l);
                self.0.set(Some((key, terms)));
                terms
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_terms_memo_is_exact_and_theta_matches_powf() {
        let cache = TempCache::default();
        for t in [37.0, 37.0, 33.0, 36.999_999_999, 37.0, 41.5, 28.25, 28.25] {
            let got = cache.terms(t);
            assert_eq!(got, TempTerms::at(t), "memo at {t}");
            for (theta, base) in [(got.theta_m, 1.048_f64), (got.theta_d, 1.10), (got.theta_acidic, THETA_ACIDIC)] {
                let want = base.powf(t - 37.0);
                assert!((theta - want).abs() <= 4.0 * f64::EPSILON * want, "θ {base} at {t}: {theta} vs {want}");
            }
        }
        assert_eq!(cache.terms(37.0).theta_m, 1.0);
    }
}
