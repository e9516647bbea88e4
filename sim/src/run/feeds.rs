//! Boluses: the dose of one bolus (shared by both fidelities) and its application to the
//! culture and the ledger.

use super::Runner;
use crate::model::{self, ix};
use crate::scenario::{Feed, FeedKind};

impl Runner<'_> {
    pub(super) fn bolus(&mut self, i: usize) {
        let f: &Feed = &self.scenario.feeds[i];
        let v = self.y[ix::V];
        let frac = self.delivered_fraction(&f.name);
        let Some((commanded, glc_mm, gln_mm, osm)) = bolus_dose(f, v, self.v0_l, self.last_glucose_g_per_l) else {
            return;
        };
        let name = f.name.clone();
        let added = commanded * frac;
        self.bolus_commanded_l += commanded;
        if added > 0.0 {
            let y = &mut self.y;
            let v_new = v + added;
            let mix = |c: f64, c_feed: f64| (c * v + c_feed * added) / v_new;
            y[ix::GLC] = mix(y[ix::GLC], glc_mm);
            y[ix::GLN] = mix(y[ix::GLN], gln_mm);
            y[ix::OSM_F] = mix(y[ix::OSM_F], osm);
            for k in [ix::XV, ix::XD, ix::LAC, ix::AMM, ix::P, ix::P_GAL, ix::P_AC, ix::DO, ix::CO2, ix::ALK, ix::NA, ix::B] {
                y[k] *= v / v_new;
            }
            y[ix::V] = v_new;
            self.ledger.bolus_l += added;
            self.ledger.glc_bolus_mmol += glc_mm * added;
            self.ledger.gln_bolus_mmol += gln_mm * added;
        }
        if commanded > 0.0 {
            self.event("bolus", format!("{name} commanded {commanded:.4} L delivered {added:.4} L"), added);
        }
    }
}

/// What one bolus of feed `f` adds to a culture of `v_l` litres (initial volume `v0_l`):
/// (volume L, glucose mM, glutamine mM, osmolytes mOsm/kg of the added liquid). A
/// bolus-to-target tops glucose up from `glucose_g_per_l` (the last known value; `None` adds
/// nothing). `None` for a continuous feed. Shared by both fidelities.
pub(crate) fn bolus_dose(f: &Feed, v_l: f64, v0_l: f64, glucose_g_per_l: Option<f64>) -> Option<(f64, f64, f64, f64)> {
    match f.kind {
        FeedKind::Bolus => Some((
            f.volume_pct_of_initial.unwrap_or(0.0) / 100.0 * v0_l,
            f.glucose_mm.unwrap_or(0.0),
            f.glutamine_mm.unwrap_or(0.0),
            f.osmolality_mosm_per_kg.unwrap_or(0.0),
        )),
        FeedKind::BolusToTarget => {
            let stock = f.stock_glucose_g_per_l.unwrap_or(500.0);
            let target = f.target_glucose_g_per_l.unwrap_or(0.0);
            let vol = match glucose_g_per_l {
                Some(g) if g < target && stock > target => v_l * (target - g) / (stock - target),
                _ => 0.0,
            };
            Some((vol, stock / model::GLUCOSE_G_PER_MOL * 1000.0, 0.0, 0.0))
        }
        FeedKind::Continuous => None,
    }
}
