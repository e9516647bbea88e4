//! Import a design-of-experiments plan (the CSV format of the CHO cross-scale simulator:
//! `BatchName,Scale,num_feed_phases,phase1_start_h,phase1_vvd_per_day,phase2_start_h,
//! phase2_vvd_per_day,feed_VVD_relative,pH_setpoint,DO_setpoint_pct,kLa,
//! inoc_density_1e6_per_mL,temp_shift_time_h,antifoam_type,…`) as scenarios.
//!
//! Mapping: scale via an explicit scale map (e.g. `2L=50`; unsupported scales are an
//! error), pH and DO setpoints, inoculum, kLa kept as the vessel's kLa override, feed
//! phases as continuous platform-feed streams (vessel volumes per day × relative factor,
//! as % of the initial volume per day), a temperature shift at `temp_shift_time_h` to
//! `shift_temp_c` (default 33 °C). Antifoam is not modelled: ignored with a warning.

use super::{Feed, FeedKind, Scenario, ScheduleStep, ValidScenario, validate};
use std::collections::BTreeMap;

/// Import options.
#[derive(Debug, Clone, PartialEq)]
pub struct DoeImportOptions {
    /// Source scale label (e.g. `2L`) → nominal volume (L) used in mabtwin.
    pub scale_map: BTreeMap<String, f64>,
    pub shift_temp_c: f64,
}

impl Default for DoeImportOptions {
    fn default() -> Self {
        Self { scale_map: BTreeMap::new(), shift_temp_c: 33.0 }
    }
}

/// One imported row.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedRun {
    pub name: String,
    pub scenario: ValidScenario,
}

/// Parse a plan. Errors name the file, the row (1-based line) and the column.
pub fn import_doe(src: &str, file: &str, opts: &DoeImportOptions) -> Result<(Vec<ImportedRun>, Vec<String>), Vec<String>> {
    let mut lines = src.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(vec![format!("{file}: empty plan")]);
    };
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let required = [
        "BatchName",
        "Scale",
        "num_feed_phases",
        "phase1_start_h",
        "phase1_vvd_per_day",
        "phase2_start_h",
        "phase2_vvd_per_day",
        "feed_VVD_relative",
        "pH_setpoint",
        "DO_setpoint_pct",
        "kLa",
        "inoc_density_1e6_per_mL",
        "temp_shift_time_h",
    ];
    let missing: Vec<_> = required.iter().filter(|c| !cols.contains(c)).collect();
    if !missing.is_empty() {
        return Err(vec![format!("{file}:1: missing columns {missing:?}")]);
    }
    let mut runs = Vec::new();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut antifoam_warned = false;
    for (i, line) in lines {
        let row: BTreeMap<&str, &str> = cols.iter().copied().zip(line.split(',').map(str::trim)).collect();
        let at = |c: &str| format!("{file}:{}: column {c}", i + 1);
        let num = |c: &str| -> Result<f64, String> {
            row.get(c).ok_or_else(|| format!("{} is missing", at(c)))?.parse::<f64>().map_err(|_| format!("{} = {:?} is not a number", at(c), row.get(c).copied().unwrap_or("")))
        };
        let result = (|| -> Result<ImportedRun, String> {
            let name = row.get("BatchName").copied().unwrap_or("run").to_owned();
            let scale = row.get("Scale").copied().unwrap_or("");
            let volume = match opts.scale_map.get(scale) {
                Some(v) => *v,
                None => match scale.strip_suffix('L').and_then(|v| v.parse::<f64>().ok()) {
                    Some(v) if [50.0, 200.0, 500.0, 2000.0].contains(&v) => v,
                    _ => {
                        return Err(format!(
                            "{} = {scale:?} is not a supported scale (50L, 200L, 500L, 2000L); map it with --scale-map {scale}=50",
                            at("Scale")
                        ));
                    }
                },
            };
            let mut s = Scenario {
                name: name.clone(),
                description: format!("imported from {file} ({scale} mapped to {volume} L)"),
                ..Scenario::default()
            };
            s.vessel.nominal_volume_l = volume;
            s.vessel.kla_o2_per_h = Some(num("kLa")?);
            s.setpoints.ph = num("pH_setpoint")?;
            s.setpoints.do_pct = num("DO_setpoint_pct")?;
            s.inoculum.vcd_e6_per_ml = num("inoc_density_1e6_per_mL")?;
            let rel = num("feed_VVD_relative")?;
            let n_phases = num("num_feed_phases")? as usize;
            let p1 = (num("phase1_start_h")? / 24.0, num("phase1_vvd_per_day")? * rel);
            let p2 = (num("phase2_start_h")? / 24.0, num("phase2_vvd_per_day")? * rel);
            let platform = s.feeds.iter().find(|f| f.name == "platform").cloned();
            s.feeds.retain(|f| f.name != "platform");
            let template = platform.unwrap_or_else(|| Feed::empty("platform"));
            let phase = |name: &str, start_d: f64, end_d: f64, vvd: f64| Feed {
                name: name.to_owned(),
                kind: FeedKind::Continuous,
                start_d,
                end_d,
                every_d: 1.0,
                volume_pct_of_initial: Some(100.0 * vvd),
                ..template.clone()
            };
            let end = s.duration_d;
            if n_phases >= 2 {
                s.feeds.push(phase("feed_phase1", p1.0, p2.0.min(end), p1.1));
                s.feeds.push(phase("feed_phase2", p2.0.min(end), end, p2.1));
            } else {
                s.feeds.push(phase("feed_phase1", p1.0, end, p1.1));
            }
            s.schedule = vec![ScheduleStep { at_d: num("temp_shift_time_h")? / 24.0, temp_c: Some(opts.shift_temp_c), ..ScheduleStep::default() }];
            let (valid, _) = validate(s).map_err(|d| d.iter().map(|x| format!("{}: {}", name, x.message)).collect::<Vec<_>>().join("; "))?;
            Ok(ImportedRun { name, scenario: valid })
        })();
        if row.get("antifoam_type").is_some_and(|a| !a.is_empty()) && !antifoam_warned {
            warnings.push(format!("{file}: column antifoam_type is not modelled and was ignored"));
            antifoam_warned = true;
        }
        match result {
            Ok(r) => runs.push(r),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() { Ok((runs, warnings)) } else { Err(errors) }
}
