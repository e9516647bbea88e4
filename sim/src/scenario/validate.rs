//! Validation of scenario files (spec `sim.md` §8): TOML syntax, types, unknown fields and
//! enum values (from the deserializer), then hard limits (errors), validated ranges
//! (warnings, "extrapolation") and cross-field rules.
//!
//! Why the deserializer runs in a loop: serde stops at the first error. After each error
//! the offending key (or array element) is removed from the parsed tree and deserialization
//! is retried, so one run of `scenario check` reports every problem in the file, each with
//! its `file:line:column` and dotted field path.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use toml::de::{DeTable, Deserializer};

use super::ValidScenario;
use super::locate::{self, Seg};
use super::spec::{Fault, FaultKind, Feed, FeedKind, Fidelity, Preset, SCHEMA_VERSION, Scenario, Signal};
use crate::params::{CELL_LINES, KineticParams};

mod de_errors;
mod faults;
mod feeds;
mod schedule;
use de_errors::{did_you_mean, serde_diag, syntax_diag, variants_of};

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The scenario is rejected.
    Error,
    /// The scenario runs, but something deserves attention (e.g. extrapolation).
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One finding about a scenario, with its location when known.
///
/// `Display` gives the one-line format of spec §8:
/// `error: tshift.toml:31:10: setpoints.temp_c = 45.0 is out of range 26.0–40.0 °C`.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    /// 1-based line of the offending value (or key, or table header).
    pub line: Option<usize>,
    /// 1-based column, in characters.
    pub column: Option<usize>,
    /// Dotted field path with indices, e.g. `feeds[1].end_d`.
    pub path: String,
    /// The complete message, starting with the path where there is one.
    pub message: String,
}

impl Diagnostic {
    /// Whether this diagnostic rejects the scenario.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.severity)?;
        match (self.file.is_empty(), self.line, self.column) {
            (false, Some(line), Some(col)) => write!(f, "{}:{line}:{col}: ", self.file)?,
            (false, Some(line), None) => write!(f, "{}:{line}: ", self.file)?,
            (false, None, _) => write!(f, "{}: ", self.file)?,
            (true, Some(line), Some(col)) => write!(f, "{line}:{col}: ")?,
            (true, _, _) => {}
        }
        f.write_str(&self.message)
    }
}

/// Validate a parsed scenario: `Ok((valid, warnings))` or `Err(errors)` (all of them).
/// Without the source text, diagnostics carry no file or position; prefer
/// [`parse_scenario`] for files.
pub fn validate(s: Scenario) -> Result<(ValidScenario, Vec<Diagnostic>), Vec<Diagnostic>> {
    validate_with_source(s, None, "")
}

/// Validate a parsed scenario whose TOML source is `src` (used for positions only);
/// `file` is used in messages only.
pub(crate) fn validate_with_source(
    s: Scenario,
    src: Option<&str>,
    file: &str,
) -> Result<(ValidScenario, Vec<Diagnostic>), Vec<Diagnostic>> {
    let parsed = src.and_then(|src| DeTable::parse(src).ok().map(|root| (src, root)));
    let ctx = parsed.as_ref().map(|(src, root)| (*src, root.get_ref()));
    let found = Checker::run(&s, ctx, file);
    let diags: Vec<Diagnostic> = found.into_iter().map(|f| f.diag).collect();
    finish(s, diags)
}

/// Parse and validate TOML source; `file` is used in messages only.
///
/// `Ok` carries the warnings, `Err` every error found (syntax errors alone when the TOML
/// does not parse; otherwise type, unknown-field and range errors together).
pub fn parse_scenario(
    src: &str,
    file: &str,
) -> Result<(ValidScenario, Vec<Diagnostic>), Vec<Diagnostic>> {
    let (root, syntax_errors) = DeTable::parse_recoverable(src);
    if !syntax_errors.is_empty() {
        let diags = syntax_errors
            .iter()
            .map(|e| syntax_diag(e, src, file, root.get_ref()))
            .collect();
        return Err(sorted(diags));
    }
    let original = root.get_ref();

    let mut work = root.clone();
    let mut errors: Vec<Diagnostic> = Vec::new();
    let mut removed: Vec<Vec<Seg>> = Vec::new();
    let mut removed_element = false;
    let mut scenario = None;
    // Each failed round removes one entry from `work`, so this ends; the cap is a guard.
    for _ in 0..1000 {
        match Scenario::deserialize(Deserializer::from(work.clone())) {
            Ok(s) => {
                scenario = Some(s);
                break;
            }
            Err(e) => {
                let (diag, to_remove) = serde_diag(&e, src, file, original);
                // A required field removed after a bad value is now "missing": said already.
                let said = removed
                    .iter()
                    .any(|r| locate::path_to_string(r) == diag.path);
                if !said {
                    errors.push(diag);
                }
                match to_remove {
                    Some(path) if locate::remove(work.get_mut(), &path) => {
                        removed_element |= path.iter().any(|seg| matches!(seg, Seg::Index(_)));
                        removed.push(path);
                    }
                    _ => break,
                }
            }
        }
    }
    let Some(s) = scenario else {
        return Err(sorted(errors));
    };
    if errors.is_empty() {
        let found = Checker::run(&s, Some((src, original)), file);
        return finish(s, found.into_iter().map(|f| f.diag).collect());
    }
    // Some fields were unreadable and replaced by defaults: add the range errors of the
    // fields that were read, but not cross-field findings (they may involve a default).
    if !removed_element {
        for f in Checker::run(&s, Some((src, original)), file) {
            let under_removed = removed
                .iter()
                .any(|r| starts_with(&locate::parse_path(&f.diag.path), r));
            if f.diag.is_error() && !f.cross && !under_removed {
                errors.push(f.diag);
            }
        }
    }
    Err(sorted(errors))
}

fn starts_with(path: &[Seg], prefix: &[Seg]) -> bool {
    path.len() >= prefix.len() && path[..prefix.len()] == *prefix
}

fn finish(
    s: Scenario,
    diags: Vec<Diagnostic>,
) -> Result<(ValidScenario, Vec<Diagnostic>), Vec<Diagnostic>> {
    let (errors, warnings): (Vec<_>, Vec<_>) = diags.into_iter().partition(Diagnostic::is_error);
    if errors.is_empty() {
        Ok((ValidScenario::new_unchecked(s), sorted(warnings)))
    } else {
        Err(sorted(errors))
    }
}

/// Source order; diagnostics without a position last (stable otherwise).
fn sorted(mut diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diags.sort_by_key(|d| (d.line.is_none(), d.line, d.column));
    diags
}

// ---------------------------------------------------------------------------------------
// Semantic checks

/// Units as printed after ranges.
mod unit {
    pub(super) const DEGC: &str = " °C";
    pub(super) const PH: &str = "";
    pub(super) const PCT: &str = " %";
    pub(super) const DAYS: &str = " d";
    pub(super) const HOURS: &str = " h";
    pub(super) const LITRES: &str = " L";
    pub(super) const VVM: &str = " vvm";
    pub(super) const W_PER_M3: &str = " W/m³";
    pub(super) const PER_H: &str = " 1/h";
    pub(super) const E6_PER_ML: &str = " 1e6 cells/mL";
    pub(super) const G_PER_L_PER_D: &str = " g/L/d";
    pub(super) const G_PER_L: &str = " g/L";
    pub(super) const MM: &str = " mM";
    pub(super) const MOSM: &str = " mOsm/kg";
    pub(super) const ML: &str = " mL";
    pub(super) const NONE: &str = "";
}

/// Hard limits (errors) and validated ranges (warnings) of spec §8.
mod limits {
    pub(super) const TEMP_C: (f64, f64) = (26.0, 40.0);
    pub(super) const TEMP_C_VALID: (f64, f64) = (30.0, 39.0);
    pub(super) const PH: (f64, f64) = (6.4, 7.8);
    pub(super) const PH_VALID: (f64, f64) = (6.7, 7.4);
    pub(super) const PH_DEADBAND: (f64, f64) = (0.0, 0.3);
    pub(super) const DO_PCT: (f64, f64) = (1.0, 200.0);
    pub(super) const DO_PCT_VALID: (f64, f64) = (10.0, 100.0);
    pub(super) const VCD: (f64, f64) = (0.05, 5.0);
    pub(super) const VCD_VALID: (f64, f64) = (0.2, 2.0);
    pub(super) const VIABILITY_PCT: (f64, f64) = (0.0, 100.0);
    pub(super) const GLUCOSE_G_PER_L_PER_D: (f64, f64) = (0.0, 10.0);
    pub(super) const GLUCOSE_G_PER_L_PER_D_VALID: (f64, f64) = (0.0, 3.0);
    pub(super) const DURATION_D: (f64, f64) = (0.25, 30.0);
    pub(super) const DURATION_D_VALID: (f64, f64) = (7.0, 21.0);
    pub(super) const SPARGE_VVM: (f64, f64) = (0.001, 0.2);
    pub(super) const SPARGE_VVM_VALID: (f64, f64) = (0.005, 0.1);
    pub(super) const POWER_W_PER_M3: (f64, f64) = (1.0, 200.0);
    pub(super) const POWER_W_PER_M3_VALID: (f64, f64) = (5.0, 60.0);
    pub(super) const NOMINAL_VOLUME_L: (f64, f64) = (10.0, 5000.0);
    pub(super) const NOMINAL_VOLUME_L_VALID: (f64, f64) = (50.0, 2000.0);
    pub(super) const FEED_VOLUME_PCT: (f64, f64) = (0.0, 20.0);
    pub(super) const KLA_PER_H: (f64, f64) = (0.1, 1000.0); // bench vessels reach several hundred 1/h
    pub(super) const SAMPLE_VOLUME_ML: (f64, f64) = (0.0, 500.0);
    pub(super) const GLUCOSE_MM: (f64, f64) = (0.0, 5000.0);
    pub(super) const GLUTAMINE_MM: (f64, f64) = (0.0, 500.0);
    pub(super) const OSMOLALITY_MOSM: (f64, f64) = (0.0, 3000.0);
    pub(super) const STOCK_GLUCOSE_G_PER_L: f64 = 1000.0;
    pub(super) const TARGET_GLUCOSE_G_PER_L: f64 = 20.0;
    pub(super) const RAMP_H: (f64, f64) = (0.0, 720.0);
    pub(super) const FAULT_DURATION_H: f64 = 720.0;
    pub(super) const FRACTION: (f64, f64) = (0.0, 1.0);
    pub(super) const CV: (f64, f64) = (0.0, 1.0);
    pub(super) const RTOL: (f64, f64) = (1e-10, 1e-3);
    pub(super) const EXCURSION_TARGET_C: (f64, f64) = (20.0, 45.0);
    pub(super) const EXCURSION_DELTA_C: (f64, f64) = (-10.0, 10.0);
    pub(super) const CONTAMINANT_B0_G_PER_L: f64 = 1.0;
    pub(super) const CRASH_DEATH_RATE_PER_H: (f64, f64) = (0.0, 1.0);
    /// Initial fill as a fraction of the nominal volume (spec §2.3).
    pub(super) const INITIAL_FILL_FRACTION: f64 = 0.58;
    /// Largest projected harvest volume as a multiple of the nominal volume.
    pub(super) const MAX_FILL_FACTOR: f64 = 1.1;
}

/// One semantic finding; `cross` marks findings that compare several fields.
struct Finding {
    diag: Diagnostic,
    cross: bool,
}

struct Checker<'a> {
    file: &'a str,
    ctx: Option<(&'a str, &'a DeTable<'a>)>,
    found: Vec<Finding>,
    /// Whether the source writes `[[feeds]]` (otherwise the default feed plan applies).
    feeds_written: bool,
}

/// How to print a number in messages: Rust's shortest round-trip form (`45.0`, `0.005`),
/// TOML's spelling for non-finite values.
fn num(v: f64) -> String {
    if v.is_nan() {
        "nan".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 {
            "inf".to_owned()
        } else {
            "-inf".to_owned()
        }
    } else {
        format!("{v:?}")
    }
}

fn range_text((lo, hi): (f64, f64), unit: &str) -> String {
    format!("{}–{}{unit}", num(lo), num(hi))
}

impl<'a> Checker<'a> {
    fn run(s: &Scenario, ctx: Option<(&'a str, &'a DeTable<'a>)>, file: &'a str) -> Vec<Finding> {
        let feeds_written = ctx.is_none_or(|(_, root)| root.contains_key("feeds"));
        let mut ck = Checker {
            file,
            ctx,
            found: Vec::new(),
            feeds_written,
        };
        ck.check(s);
        ck.found
    }

    fn push(&mut self, severity: Severity, path: &str, message: String, cross: bool, at_key: bool) {
        let mut line = None;
        let mut column = None;
        if let Some((src, root)) = self.ctx
            && let Some(found) = locate::find(root, &locate::parse_path(path))
        {
            let span = match (&found.key, at_key && found.exact) {
                (Some(key), true) => key.clone(),
                _ => found.value.clone(),
            };
            let (l, c) = locate::line_col(src, span.start);
            line = Some(l);
            column = Some(c);
        }
        let diag = Diagnostic {
            severity,
            file: self.file.to_owned(),
            line,
            column,
            path: path.to_owned(),
            message,
        };
        self.found.push(Finding { diag, cross });
    }

    fn error(&mut self, path: &str, message: String) {
        self.push(Severity::Error, path, message, false, false);
    }

    fn cross_error(&mut self, path: &str, message: String) {
        self.push(Severity::Error, path, message, true, false);
    }

    fn key_error(&mut self, path: &str, message: String) {
        self.push(Severity::Error, path, message, false, true);
    }

    /// `{p}.{name}` is set but does not apply to this `kind` of feed or fault.
    fn not_for_kind(&mut self, p: &str, name: &str, kind: &str) {
        self.push(Severity::Error, &format!("{p}.{name}"), format!("{p}.{name} does not apply to kind = \"{kind}\""), true, true);
    }

    fn warning(&mut self, path: &str, message: String) {
        self.push(Severity::Warning, path, message, false, false);
    }

    /// Finite and within `hard` (error), and within `valid` if given (warning).
    fn range(
        &mut self,
        path: &str,
        v: f64,
        hard: (f64, f64),
        valid: Option<(f64, f64)>,
        unit: &str,
    ) -> bool {
        if !self.finite(path, v) {
            return false;
        }
        if v < hard.0 || v > hard.1 {
            self.error(
                path,
                format!(
                    "{path} = {} is out of range {}",
                    num(v),
                    range_text(hard, unit)
                ),
            );
            return false;
        }
        if let Some(valid) = valid
            && (v < valid.0 || v > valid.1)
        {
            self.warning(
                path,
                format!(
                    "{path} = {} is outside the validated range {} (extrapolation)",
                    num(v),
                    range_text(valid, unit)
                ),
            );
        }
        true
    }

    /// Finite, > 0 and ≤ `max`.
    fn positive(&mut self, path: &str, v: f64, max: f64, unit: &str) -> bool {
        if !self.finite(path, v) {
            return false;
        }
        if v <= 0.0 || v > max {
            self.error(
                path,
                format!(
                    "{path} = {} is out of range {} (must be > 0)",
                    num(v),
                    range_text((0.0, max), unit)
                ),
            );
            return false;
        }
        true
    }

    fn finite(&mut self, path: &str, v: f64) -> bool {
        if v.is_finite() {
            return true;
        }
        self.error(path, format!("{path} = {} is not a finite number", num(v)));
        false
    }

    fn opt_range(
        &mut self,
        path: &str,
        v: Option<f64>,
        hard: (f64, f64),
        valid: Option<(f64, f64)>,
        unit: &str,
    ) {
        if let Some(v) = v {
            self.range(path, v, hard, valid, unit);
        }
    }

    fn check(&mut self, s: &Scenario) {
        use limits as lim;
        if s.schema_version != SCHEMA_VERSION {
            self.error(
                "schema_version",
                format!(
                    "schema_version = {} is not supported; expected {SCHEMA_VERSION}",
                    s.schema_version
                ),
            );
        }
        if s.name.trim().is_empty() {
            self.error("name", "name must not be empty".to_owned());
        }
        let duration_ok = self.range(
            "duration_d",
            s.duration_d,
            lim::DURATION_D,
            Some(lim::DURATION_D_VALID),
            unit::DAYS,
        );
        // Cross-field time checks need a usable duration; a bad one is already reported.
        let duration_d = duration_ok.then_some(s.duration_d);

        self.check_vessel(s);
        self.check_cell_line(s);
        let inoc = &s.inoculum;
        self.range(
            "inoculum.vcd_e6_per_ml",
            inoc.vcd_e6_per_ml,
            lim::VCD,
            Some(lim::VCD_VALID),
            unit::E6_PER_ML,
        );
        self.range(
            "inoculum.viability_pct",
            inoc.viability_pct,
            lim::VIABILITY_PCT,
            None,
            unit::PCT,
        );

        let sp = &s.setpoints;
        self.range(
            "setpoints.temp_c",
            sp.temp_c,
            lim::TEMP_C,
            Some(lim::TEMP_C_VALID),
            unit::DEGC,
        );
        self.range(
            "setpoints.ph",
            sp.ph,
            lim::PH,
            Some(lim::PH_VALID),
            unit::PH,
        );
        self.range(
            "setpoints.ph_deadband",
            sp.ph_deadband,
            lim::PH_DEADBAND,
            None,
            unit::PH,
        );
        self.range(
            "setpoints.do_pct",
            sp.do_pct,
            lim::DO_PCT,
            Some(lim::DO_PCT_VALID),
            unit::PCT,
        );

        self.check_schedule(s, duration_d);
        self.check_feeds(s, duration_d);
        self.range(
            "sensors.sample_volume_ml",
            s.sensors.sample_volume_ml,
            lim::SAMPLE_VOLUME_ML,
            None,
            unit::ML,
        );
        self.check_faults(s, duration_d);
        for (path, message) in crate::presets::scenario_run::unsupported(s) {
            self.cross_error(&path, message);
        }
        if s.model.preset == Preset::Platform
            && s.model.fidelity == Fidelity::Prototype
            && (!s.faults.is_empty() || s.random_fault.probability > 0.0)
        {
            self.cross_error(
                "model.fidelity",
                "model.fidelity = \"prototype\" does not model faults; remove [[faults]] and set random_fault.probability = 0".to_owned(),
            );
        }

        self.range(
            "random_fault.probability",
            s.random_fault.probability,
            lim::FRACTION,
            None,
            unit::NONE,
        );
        let var = &s.variability;
        self.range(
            "variability.mu_max_cv",
            var.mu_max_cv,
            lim::CV,
            None,
            unit::NONE,
        );
        self.range("variability.qp_cv", var.qp_cv, lim::CV, None, unit::NONE);
        self.range(
            "variability.yield_cv",
            var.yield_cv,
            lim::CV,
            None,
            unit::NONE,
        );
        self.range("model.rtol", s.model.rtol, lim::RTOL, None, unit::NONE);

        self.check_projected_volume(s);
    }

    fn check_vessel(&mut self, s: &Scenario) {
        use limits as lim;
        let v = &s.vessel;
        self.range(
            "vessel.nominal_volume_l",
            v.nominal_volume_l,
            lim::NOMINAL_VOLUME_L,
            Some(lim::NOMINAL_VOLUME_L_VALID),
            unit::LITRES,
        );
        self.range(
            "vessel.power_per_volume_w_per_m3",
            v.power_per_volume_w_per_m3,
            lim::POWER_W_PER_M3,
            Some(lim::POWER_W_PER_M3_VALID),
            unit::W_PER_M3,
        );
        let vvm_ok = self.range(
            "vessel.sparge_vvm",
            v.sparge_vvm,
            lim::SPARGE_VVM,
            Some(lim::SPARGE_VVM_VALID),
            unit::VVM,
        );
        let max_ok = self.range(
            "vessel.max_sparge_vvm",
            v.max_sparge_vvm,
            lim::SPARGE_VVM,
            None,
            unit::VVM,
        );
        if vvm_ok && max_ok && v.max_sparge_vvm < v.sparge_vvm {
            self.cross_error(
                "vessel.max_sparge_vvm",
                format!(
                    "vessel.max_sparge_vvm = {} is below vessel.sparge_vvm = {}",
                    num(v.max_sparge_vvm),
                    num(v.sparge_vvm)
                ),
            );
        }
        self.opt_range(
            "vessel.kla_o2_per_h",
            v.kla_o2_per_h,
            lim::KLA_PER_H,
            None,
            unit::PER_H,
        );
    }

    fn check_cell_line(&mut self, s: &Scenario) {
        let id = s.cell_line.id.as_str();
        if !CELL_LINES.contains(&id) {
            let mut msg = format!(
                "cell_line.id = \"{id}\" is not a known cell line; expected one of {}",
                CELL_LINES.join(", ")
            );
            msg.push_str(&did_you_mean(id, CELL_LINES));
            self.error("cell_line.id", msg);
        }
        let names = KineticParams::names();
        let (lo, hi) = KineticParams::OVERRIDE_RANGE;
        for (name, value) in &s.cell_line.overrides {
            let path = format!("cell_line.overrides.{name}");
            if !names.contains(&name.as_str()) {
                let mut msg = format!(
                    "unknown parameter `{name}` in [cell_line.overrides]; expected {}",
                    names.join(", ")
                );
                msg.push_str(&did_you_mean(name, names.iter().copied()));
                self.key_error(&path, msg);
                continue;
            }
            self.range(&path, *value, (lo, hi), None, unit::NONE);
        }
    }

    /// `path = v` must lie in [0, duration_d]; `what` names the default origin if any.
    fn time_in_run(&mut self, path: &str, v: f64, duration_d: Option<f64>, note: &str) -> bool {
        if !self.finite(path, v) {
            return false;
        }
        if v < 0.0 {
            self.error(path, format!("{path} = {} is before day 0{note}", num(v)));
            return false;
        }
        if let Some(d) = duration_d
            && v > d
        {
            self.cross_error(
                path,
                format!("{path} = {} is after duration_d = {}{note}", num(v), num(d)),
            );
            return false;
        }
        true
    }

}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(src: &str) -> Vec<String> {
        match parse_scenario(src, "t.toml") {
            Ok((_, w)) => panic!("expected errors, got Ok with warnings {w:?}"),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }

    fn assert_has(all: &[String], needle: &str) {
        assert!(
            all.iter().any(|l| l.contains(needle)),
            "no `{needle}` in:\n{}",
            all.join("\n")
        );
    }

    #[test]
    fn empty_file_is_the_default_baseline() {
        let (valid, warnings) = parse_scenario("", "empty.toml").expect("empty file is valid");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(valid.get(), &Scenario::default());
    }

    #[test]
    fn spec_examples_render_exactly() {
        let src = "[setpoints]\ntemp_c = 45.0\nph = 6.6\ntemprature_c = 3.0\n";
        let e = errors(src);
        assert_has(
            &e,
            "error: t.toml:2:10: setpoints.temp_c = 45.0 is out of range 26.0–40.0 °C",
        );
        assert_has(
            &e,
            "error: t.toml:4:1: unknown field `temprature_c` in [setpoints]; expected temp_c, ph, ph_deadband, do_pct (did you mean `temp_c`?)",
        );
        let (_, w) =
            parse_scenario("[setpoints]\nph = 6.6\n", "t.toml").expect("valid with a warning");
        assert_eq!(w.len(), 1);
        assert_eq!(
            w[0].to_string(),
            "warning: t.toml:2:6: setpoints.ph = 6.6 is outside the validated range 6.7–7.4 (extrapolation)"
        );
    }

    #[test]
    fn collects_every_deserializer_error() {
        let src = "durationd = 3\n[vessel]\nsparger = \"bubbly\"\n[setpoints]\nph = \"high\"\n";
        let e = errors(src);
        assert_eq!(e.len(), 3, "{e:#?}");
        assert_has(&e, "t.toml:1:1: unknown field `durationd` at the top level");
        assert_has(&e, "(did you mean `duration_d`?)");
        assert_has(
            &e,
            "t.toml:3:11: vessel.sparger = \"bubbly\" is not a valid choice; expected one of microsparger, drilled_hole, open_pipe",
        );
        assert_has(
            &e,
            "t.toml:5:6: setpoints.ph: wrong type: expected a number, found string \"high\"",
        );
    }

    #[test]
    fn a_bad_required_enum_is_reported_once() {
        let e = errors(
            "[[feeds]]\nname = \"g\"\nkind = \"drip\"\n\n[[faults]]\nkind = \"meteor\"\nstart_d = 1.0\n",
        );
        assert_eq!(e.len(), 2, "{e:#?}");
        assert_has(
            &e,
            "t.toml:3:8: feeds[0].kind = \"drip\" is not a valid choice",
        );
        assert_has(
            &e,
            "t.toml:6:8: faults[0].kind = \"meteor\" is not a valid choice",
        );
    }

    #[test]
    fn projection_waits_for_feed_errors_to_be_fixed() {
        let src = "[[feeds]]\nname = \"a\"\nkind = \"bolus\"\nstart_d = -1.0\nvolume_pct_of_initial = 20.0\n";
        let e = errors(src);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert_has(&e, "feeds[0].start_d = -1.0 is before day 0");
    }

    #[test]
    fn did_you_mean_finds_close_names() {
        assert_eq!(
            did_you_mean("temprature_c", ["temp_c", "ph", "do_pct"]),
            " (did you mean `temp_c`?)"
        );
        assert_eq!(
            did_you_mean("mu_max_per_hr", KineticParams::names().iter().copied()),
            " (did you mean `mu_max_per_h`?)"
        );
        assert_eq!(did_you_mean("zzzz", ["temp_c", "ph"]), "");
        assert_eq!(did_you_mean("E", ["A", "B", "C", "D"]), "");
        assert_eq!(
            did_you_mean("b", ["A", "B", "C", "D"]),
            " (did you mean `B`?)"
        );
        assert_eq!(
            variants_of("Sparger"),
            Some(vec![
                "microsparger".into(),
                "drilled_hole".into(),
                "open_pipe".into()
            ])
        );
    }

    #[test]
    fn validate_without_source_still_reports() {
        let mut s = Scenario::default();
        s.setpoints.temp_c = f64::NAN;
        let e = validate(s).expect_err("NaN is rejected");
        assert_eq!(
            e[0].to_string(),
            "error: setpoints.temp_c = nan is not a finite number"
        );
    }
}
