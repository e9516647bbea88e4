//! The scenarios shipped in `scenarios/*.toml`, embedded in the binary so that
//! `mabtwin run baseline` works from any directory. A unit test checks that this list
//! equals the directory and that every file validates without errors.

/// One embedded scenario file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    /// File name in `scenarios/`, e.g. `baseline.toml`.
    pub file_name: &'static str,
    /// The file's `description` (one line, for `scenario list`).
    pub description: &'static str,
    /// The TOML source.
    pub source: &'static str,
}

impl Builtin {
    /// The file name without `.toml`, e.g. `baseline`.
    pub fn stem(&self) -> &'static str {
        self.file_name
            .strip_suffix(".toml")
            .unwrap_or(self.file_name)
    }
}

static ALL: &[Builtin] = &[
    Builtin {
        file_name: "baseline.toml",
        description: "Seed baseline: 37 °C, DO 40 %, pH 7.0, 0.5 g/L/d glucose, 0.5e6/mL, 14 d, 200 L",
        source: include_str!("../../../scenarios/baseline.toml"),
    },
    Builtin {
        file_name: "cell_line_a.toml",
        description: "Baseline process with cell line A: the seed line (platform parameters)",
        source: include_str!("../../../scenarios/cell_line_a.toml"),
    },
    Builtin {
        file_name: "cell_line_b.toml",
        description: "Baseline process with cell line B: faster growth, lower qP",
        source: include_str!("../../../scenarios/cell_line_b.toml"),
    },
    Builtin {
        file_name: "cell_line_c.toml",
        description: "Baseline process with cell line C: lactate-prone, osmo-sensitive",
        source: include_str!("../../../scenarios/cell_line_c.toml"),
    },
    Builtin {
        file_name: "cell_line_d.toml",
        description: "Baseline process with cell line D: slow growth, high qP, stress-sensitive",
        source: include_str!("../../../scenarios/cell_line_d.toml"),
    },
    Builtin {
        file_name: "fault_contamination.toml",
        description: "Fault: bacterial contamination on day 7",
        source: include_str!("../../../scenarios/fault_contamination.toml"),
    },
    Builtin {
        file_name: "fault_culture_crash.toml",
        description: "Fault: culture crash (extra death rate 0.08 1/h) from day 9",
        source: include_str!("../../../scenarios/fault_culture_crash.toml"),
    },
    Builtin {
        file_name: "fault_do_probe_failure.toml",
        description: "Fault: DO probe reads zero for 24 h from day 6",
        source: include_str!("../../../scenarios/fault_do_probe_failure.toml"),
    },
    Builtin {
        file_name: "fault_feed_pump_failure.toml",
        description: "Fault: platform feed pump delivers nothing for 72 h from day 6",
        source: include_str!("../../../scenarios/fault_feed_pump_failure.toml"),
    },
    Builtin {
        file_name: "fault_ph_sensor_drift.toml",
        description: "Fault: online pH sensor drifts +0.03/d from day 4 (no re-standardisation)",
        source: include_str!("../../../scenarios/fault_ph_sensor_drift.toml"),
    },
    Builtin {
        file_name: "fault_stuck_ph_sensor.toml",
        description: "Fault: online pH sensor stuck for 12 h from day 8.5",
        source: include_str!("../../../scenarios/fault_stuck_ph_sensor.toml"),
    },
    Builtin {
        file_name: "fault_temperature_excursion.toml",
        description: "Fault: temperature excursion to 39.5 °C for 6 h on day 6",
        source: include_str!("../../../scenarios/fault_temperature_excursion.toml"),
    },
    Builtin {
        file_name: "glucose_bolus_to_target.toml",
        description: "Glucose supplement as a daily bolus to 4 g/L (measured) instead of 0.5 g/L/d",
        source: include_str!("../../../scenarios/glucose_bolus_to_target.toml"),
    },
    Builtin {
        file_name: "no_glucose_supplement.toml",
        description: "Baseline without the glucose supplement (platform feed only)",
        source: include_str!("../../../scenarios/no_glucose_supplement.toml"),
    },
    Builtin {
        file_name: "preset_insilicho.toml",
        description: "InSiliCHO preset (Möller 2020): 36.4 °C, shift to 33 °C on day 5, constant feed 6 %/d, 14 d, 200 L",
        source: include_str!("../../../scenarios/preset_insilicho.toml"),
    },
    Builtin {
        file_name: "preset_xing2010.toml",
        description: "Xing 2010 preset (of-compartments): 10-day batch, no feeds, 0.5e6/mL, 200 L",
        source: include_str!("../../../scenarios/preset_xing2010.toml"),
    },
    Builtin {
        file_name: "prototype_baseline.toml",
        description: "Prototype fidelity (spec 2.8): seed baseline at 2000 L, 0.02 vvm, continuous feed days 3-13.5",
        source: include_str!("../../../scenarios/prototype_baseline.toml"),
    },
    Builtin {
        file_name: "scale_50l.toml",
        description: "Baseline at 50 L, 0.05 vvm",
        source: include_str!("../../../scenarios/scale_50l.toml"),
    },
    Builtin {
        file_name: "scaleup_2000l.toml",
        description: "Baseline at 2000 L, 0.02 vvm, constant P/V",
        source: include_str!("../../../scenarios/scaleup_2000l.toml"),
    },
    Builtin {
        file_name: "scaleup_2000l_low_gas.toml",
        description: "Baseline at 2000 L with low gassing (0.005 vvm): CO2 accumulation",
        source: include_str!("../../../scenarios/scaleup_2000l_low_gas.toml"),
    },
    Builtin {
        file_name: "seed_optimum.toml",
        description: "Seed optimum: 36.8 °C, DO 45 %, pH 6.9, 0.6 g/L/d glucose, 0.7e6/mL",
        source: include_str!("../../../scenarios/seed_optimum.toml"),
    },
    Builtin {
        file_name: "temp_shift_33c.toml",
        description: "Baseline with a temperature shift to 33 °C on day 5",
        source: include_str!("../../../scenarios/temp_shift_33c.toml"),
    },
];

/// Short names of spec §8 (and the scenarios' `name` fields) → file stem.
const ALIASES: &[(&str, &str)] = &[
    ("seed_optimum", "seed_optimum"),
    ("optimum", "seed_optimum"),
    ("tshift33", "temp_shift_33c"),
    ("tshift", "temp_shift_33c"),
    ("temp_shift", "temp_shift_33c"),
    ("no_glucose", "no_glucose_supplement"),
    ("2000l", "scaleup_2000l"),
    ("2000l_low_vvm", "scaleup_2000l_low_gas"),
    ("2000l_low_gas", "scaleup_2000l_low_gas"),
    ("50l", "scale_50l"),
    ("sensor_drift", "fault_ph_sensor_drift"),
    ("ph_sensor_drift", "fault_ph_sensor_drift"),
    ("stuck_sensor", "fault_stuck_ph_sensor"),
    ("fault_stuck_sensor", "fault_stuck_ph_sensor"),
    ("bolus_to_target", "glucose_bolus_to_target"),
    ("insilicho", "preset_insilicho"),
    ("xing2010", "preset_xing2010"),
];

/// Every embedded scenario, sorted by file name.
pub fn all() -> &'static [Builtin] {
    ALL
}

/// Look a scenario up by file name (`baseline.toml`), stem (`baseline`) or short name
/// (`tshift33`, `2000l-low-vvm`, `50l`, `seed-optimum`, a fault kind such as
/// `contamination`). Case, `-` versus `_` and a `.toml` suffix do not matter.
pub fn find(name_or_file: &str) -> Option<&'static Builtin> {
    let lower = name_or_file.trim().to_lowercase();
    let key = lower
        .strip_suffix(".toml")
        .unwrap_or(&lower)
        .replace('-', "_");
    let by_stem = |stem: &str| ALL.iter().find(|b| b.stem() == stem);
    by_stem(&key)
        .or_else(|| {
            ALIASES
                .iter()
                .find(|(alias, _)| *alias == key)
                .and_then(|(_, stem)| by_stem(stem))
        })
        .or_else(|| by_stem(&format!("fault_{key}")))
}

/// The default scenario: `baseline.toml` (the seed's Table 7 baseline at 200 L).
pub fn default_scenario() -> &'static Builtin {
    // The list is a literal that contains baseline.toml; the test below pins that.
    ALL.iter()
        .find(|b| b.file_name == "baseline.toml")
        .unwrap_or(&ALL[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Scenario, parse_scenario};

    #[test]
    fn every_builtin_validates_without_errors() {
        for b in all() {
            let result = parse_scenario(b.source, b.file_name);
            let (valid, warnings) = match result {
                Ok(ok) => ok,
                Err(errors) => panic!(
                    "{} does not validate:\n{}",
                    b.file_name,
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            };
            assert!(
                warnings.is_empty(),
                "{} has warnings: {warnings:?}",
                b.file_name
            );
            assert_eq!(
                valid.get().description,
                b.description,
                "description of {}",
                b.file_name
            );
            assert!(!valid.get().name.is_empty());
        }
    }

    #[test]
    fn list_equals_the_scenarios_directory() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("scenarios/ exists")
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let listed: Vec<String> = all().iter().map(|b| b.file_name.to_owned()).collect();
        assert_eq!(listed, on_disk, "update ALL in builtin.rs");
        for b in all() {
            let text = std::fs::read_to_string(dir.join(b.file_name)).expect("readable");
            assert_eq!(text, b.source, "{} embedded copy is stale", b.file_name);
        }
    }

    #[test]
    fn baseline_equals_the_serde_defaults() {
        let (valid, _) = parse_scenario(default_scenario().source, "baseline.toml").expect("valid");
        let expected = Scenario {
            description: default_scenario().description.to_owned(),
            ..Scenario::default()
        };
        assert_eq!(valid.get(), &expected);
    }

    #[test]
    fn finds_by_file_stem_and_alias() {
        for (query, file) in [
            ("baseline", "baseline.toml"),
            ("baseline.toml", "baseline.toml"),
            ("seed-optimum", "seed_optimum.toml"),
            ("tshift33", "temp_shift_33c.toml"),
            ("no-glucose-supplement", "no_glucose_supplement.toml"),
            ("2000l-low-vvm", "scaleup_2000l_low_gas.toml"),
            ("50l", "scale_50l.toml"),
            ("contamination", "fault_contamination.toml"),
            ("culture-crash", "fault_culture_crash.toml"),
            ("Cell_Line_D", "cell_line_d.toml"),
            ("insilicho", "preset_insilicho.toml"),
            ("xing2010", "preset_xing2010.toml"),
        ] {
            assert_eq!(find(query).map(|b| b.file_name), Some(file), "{query}");
        }
        assert!(find("nope").is_none());
        assert_eq!(default_scenario().file_name, "baseline.toml");
    }

    #[test]
    fn one_builtin_per_fault_kind() {
        for kind in crate::scenario::FaultKind::ALL {
            let hit = all()
                .iter()
                .filter_map(|b| parse_scenario(b.source, b.file_name).ok())
                .any(|(v, _)| {
                    let s = v.get();
                    s.faults.len() == 1 && s.faults[0].kind == kind
                });
            assert!(hit, "no built-in scenario for fault kind {}", kind.as_str());
        }
    }
}
