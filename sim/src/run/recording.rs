//! Recording and sampling: truth rows, online sensor rows every output, and the daily
//! offline samples (with pH re-standardisation and the sampled-volume ledger).

use super::Runner;
use crate::model::{self, MeasuredBias, ix};
use crate::record::{OnlineRow, TruthRow};
use crate::scenario::{DoFailureMode, FaultKind, Signal};
use crate::sensors::{self, OfflineTruth};
use rand_distr::{Distribution, Normal};

impl Runner<'_> {
    fn truth_row(&self) -> TruthRow {
        let y = &self.y;
        let d = self.model.derived(self.t_h, y);
        TruthRow {
            t_h: self.t_h,
            volume_l: y[ix::V],
            vcd_1e6_per_ml: y[ix::XV],
            dead_cells_1e6_per_ml: y[ix::XD],
            viability_pct: d.viability_pct,
            glucose_mm: y[ix::GLC],
            glucose_g_per_l: y[ix::GLC] * model::GLUCOSE_G_PER_MOL / 1000.0,
            glutamine_mm: y[ix::GLN],
            lactate_mm: y[ix::LAC],
            lactate_g_per_l: y[ix::LAC] * model::LACTATE_G_PER_MOL / 1000.0,
            ammonium_mm: y[ix::AMM],
            titer_g_per_l: y[ix::P] / 1000.0,
            gi_pct: d.gi_pct,
            acidic_pct: d.acidic_pct,
            do_pct: d.do_pct,
            dissolved_o2_mm: y[ix::DO],
            pco2_mmhg: d.pco2_mmhg,
            ph: d.ph,
            alkalinity_mm: y[ix::ALK],
            sodium_mm: y[ix::NA],
            osmolality_mosm_per_kg: d.osmolality_mosm_per_kg,
            temp_c: y[ix::T_L],
            temp_setpoint_eff_c: d.temp_sp_eff_c,
            contaminant_g_per_l: y[ix::B],
            mu_per_h: d.mu_per_h,
            death_rate_per_h: d.mu_d_per_h,
            qp_pg_per_cell_per_day: d.qp_pg_per_cell_d,
            our_mm_per_h: d.our_mm_per_h,
            kla_o2_per_h: d.kla_o2_per_h,
            sparge_vvm: d.sparge_vvm,
            agitation_rpm: d.agitation_rpm,
            o2_fraction: d.y_o2,
            co2_fraction: d.y_co2,
            base_rate_meq_per_l_per_h: d.base_meq_per_l_h,
            base_added_l: y[ix::CUM_BASE_L],
            continuous_feed_l: y[ix::CUM_CONT_L],
            bolus_feed_l: self.ledger.bolus_l,
            sampled_l: self.ledger.sampled_l,
        }
    }

    pub(super) fn record(&mut self) {
        let row = self.truth_row();
        let t = self.t_h;
        let inp = &self.model.inputs;
        // What each probe reports: deterministic part as the loops see it, plus noise.
        let meas = |b: MeasuredBias, truth: f64| b.apply(t, truth) - truth;
        let stuck = |b: MeasuredBias| matches!(b, MeasuredBias::Frozen(_));
        let temp_extra = meas(inp.temp_meas, row.temp_c) - self.temp.bias(t);
        let ph_extra = meas(inp.ph_meas, row.ph) - self.ph.bias(t);
        let do_extra = meas(inp.do_meas, row.do_pct) - self.dox.bias(t);
        let (temp_stuck, ph_stuck, do_stuck) = (stuck(inp.temp_meas), stuck(inp.ph_meas), stuck(inp.do_meas));
        let temp_r = self.temp.read(t, row.temp_c, temp_extra);
        let ph_r = self.ph.read(t, row.ph, ph_extra);
        let do_r = self.dox.read(t, row.do_pct, do_extra);
        let pco2_frozen = self.stuck_value(Signal::Pco2);
        let pco2_drift = self.drift_bias(Signal::Pco2, t);
        let pco2_r = self.pco2.read(t, row.pco2_mmhg, pco2_drift);
        let factor = sensors::profile_factor(self.scenario.sensors.profile);
        let mut z = || -> f64 { Normal::new(0.0, 1.0).map(|n| n.sample(&mut self.misc_rng)).unwrap_or(0.0) };
        let (z_rpm, z_gas, z_vol, z_o2, z_co2) = (z(), z(), z(), z(), z());
        let sparge_l_per_min = row.sparge_vvm * row.volume_l;
        let mfc_fs = self.scenario.vessel.max_sparge_vvm * self.scenario.vessel.nominal_volume_l;
        let do_dropout = self.fault_active(|f| f.kind == FaultKind::DoProbeFailure && f.mode == Some(DoFailureMode::Dropout));
        self.online.push(OnlineRow {
            t_h: t,
            temp_c: if temp_stuck { Some(meas(inp.temp_meas, 0.0)) } else { temp_r },
            ph: if ph_stuck { Some(meas(inp.ph_meas, 0.0)) } else { ph_r },
            do_pct: if do_dropout {
                None
            } else if do_stuck {
                Some(meas(inp.do_meas, 0.0))
            } else {
                do_r
            },
            pco2_mmhg: if !self.scenario.sensors.online_pco2 {
                None
            } else if let Some(v) = pco2_frozen {
                Some(v)
            } else {
                pco2_r.map(|v| v.max(0.0))
            },
            agitation_rpm: Some(row.agitation_rpm * (1.0 + sensors::RPM_REL_SD * factor * z_rpm)),
            sparge_l_per_min: Some((sparge_l_per_min + mfc_fs * (self.mfc_offset + sensors::MFC_NOISE_FS * factor * z_gas)).max(0.0)),
            o2_fraction: Some((row.o2_fraction + 0.005 * factor * z_o2).clamp(0.0, 1.0)),
            co2_fraction: Some((row.co2_fraction + 0.005 * factor * z_co2).clamp(0.0, 1.0)),
            volume_l: Some(row.volume_l * (1.0 + sensors::LOAD_CELL_REL_SD * factor * z_vol)),
            base_added_l: row.base_added_l,
            feed_commanded_l: self.bolus_commanded_l + row.continuous_feed_l,
        });
        self.truth.push(row);
    }

    pub(super) fn sample(&mut self, day: u32) {
        let s = self.scenario;
        let d = self.model.derived(self.t_h, &self.y);
        let y = self.y;
        let n_days = (s.duration_d + 1e-9).floor() as u32;
        let truth = OfflineTruth {
            day,
            t_h: self.t_h,
            vcd_1e6_per_ml: y[ix::XV],
            viability_pct: d.viability_pct,
            glucose_g_per_l: y[ix::GLC] * model::GLUCOSE_G_PER_MOL / 1000.0,
            lactate_g_per_l: y[ix::LAC] * model::LACTATE_G_PER_MOL / 1000.0,
            glutamine_mm: y[ix::GLN],
            ammonium_mm: y[ix::AMM],
            osmolality_mosm_per_kg: d.osmolality_mosm_per_kg,
            titer_g_per_l: y[ix::P] / 1000.0,
            ph: d.ph,
            pco2_mmhg: d.pco2_mmhg,
            gi_pct: d.gi_pct,
            acidic_pct: d.acidic_pct,
            gi_assay: day == 7 || day == 10 || day == n_days,
            acidic_assay: day == n_days,
        };
        let row = self.lab.measure(&truth);
        self.last_glucose_g_per_l = row.glucose_g_per_l;
        // Daily pH re-standardisation against the offline analyser.
        if s.sensors.ph_restandardization
            && let Some(ph_off) = row.ph_offline
            && !matches!(self.model.inputs.ph_meas, MeasuredBias::Frozen(_))
        {
            let online = self.model.inputs.ph_meas.apply(self.t_h, d.ph);
            // Differences beyond 0.3 pH are treated as a bad offline reading, not a drift.
            let diff = (online - ph_off).abs();
            if diff > 0.3 {
                self.event("restandardize_skipped", format!("ph online {online:.3} vs offline {ph_off:.3}: implausible"), 0.0);
            } else if diff > 0.05 {
                self.ph_correction += ph_off - online;
                self.event("restandardize", format!("ph online {online:.3} -> offline {ph_off:.3}"), 0.0);
                self.update_inputs();
            }
        }
        self.offline.push(row);
        let vs = (s.sensors.sample_volume_ml / 1000.0).min(0.5 * self.y[ix::V]);
        if vs > 0.0 {
            let l = &mut self.ledger;
            l.sampled_l += vs;
            l.glc_sampled_mmol += y[ix::GLC] * vs;
            l.gln_sampled_mmol += y[ix::GLN] * vs;
            l.lac_sampled_mmol += y[ix::LAC] * vs;
            l.amm_sampled_mmol += y[ix::AMM] * vs;
            l.p_sampled_mg += y[ix::P] * vs;
            l.cells_sampled_e9 += (y[ix::XV] + y[ix::XD]) * vs;
            self.y[ix::V] -= vs;
        }
        self.event("sample", format!("day {day}"), -vs);
    }
}
