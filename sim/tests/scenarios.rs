//! Scenario files at the boundary: every malformed fixture in `tests/bad_scenarios/` is
//! rejected with the expected messages, shipped scenarios are accepted, and the parser
//! never panics on arbitrary input.
//!
//! Fixture format (shared with the CLI tests): `NN_name.toml` plus `NN_name.expected`, one
//! substring per line that must appear in the rendered diagnostics.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use sim::scenario::{Diagnostic, Scenario, builtin, parse_scenario};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/bad_scenarios")
}

/// Render diagnostics the way `mabtwin scenario check` prints them.
fn render(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The one helper for this boundary: `src` must be rejected and every line of `expected`
/// must appear in the output.
fn check_rejected(file: &str, src: &str, expected: &str) -> Result<(), String> {
    let diags = match parse_scenario(src, file) {
        Ok((_, warnings)) => {
            return Err(format!(
                "{file}: accepted (warnings: {})",
                render(&warnings)
            ));
        }
        Err(diags) => diags,
    };
    if diags.is_empty() {
        return Err(format!("{file}: Err without diagnostics"));
    }
    if let Some(d) = diags.iter().find(|d| !d.is_error()) {
        return Err(format!("{file}: Err carries a warning: {d}"));
    }
    let out = render(&diags);
    let missing: Vec<&str> = expected
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .filter(|l| !out.contains(l))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{file}: missing\n  {}\nin output:\n{out}",
            missing.join("\n  ")
        ))
    }
}

#[test]
fn every_bad_fixture_is_rejected_with_the_expected_messages() {
    let dir = fixtures_dir();
    let mut tomls: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/bad_scenarios exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    tomls.sort();
    assert!(tomls.len() >= 35, "only {} fixtures", tomls.len());

    let mut failures = Vec::new();
    for toml_path in &tomls {
        let file = toml_path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 file name");
        let src = std::fs::read_to_string(toml_path).expect("fixture is UTF-8");
        let expected_path = toml_path.with_extension("expected");
        let Ok(expected) = std::fs::read_to_string(&expected_path) else {
            failures.push(format!("{file}: no {}", expected_path.display()));
            continue;
        };
        if expected.trim().is_empty() {
            failures.push(format!("{file}: empty .expected"));
            continue;
        }
        if let Err(msg) = check_rejected(file, &src, &expected) {
            failures.push(msg);
        }
    }
    // Every `.expected` has its `.toml`.
    for entry in std::fs::read_dir(&dir)
        .expect("readable")
        .filter_map(Result::ok)
    {
        let p = entry.path();
        if p.extension().is_some_and(|x| x == "expected") && !p.with_extension("toml").exists() {
            failures.push(format!("{}: no matching .toml", p.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn fixture_names_follow_nn_name() {
    for entry in std::fs::read_dir(fixtures_dir())
        .expect("readable")
        .filter_map(Result::ok)
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let (stem, ext) = name.rsplit_once('.').expect("has an extension");
        assert!(
            matches!(ext, "toml" | "expected"),
            "{name}: unexpected file"
        );
        let (nn, rest) = stem.split_at(2.min(stem.len()));
        assert!(
            nn.chars().all(|c| c.is_ascii_digit()) && rest.starts_with('_') && rest.len() > 1,
            "{name}: not NN_name"
        );
    }
}

#[test]
fn empty_file_is_the_valid_baseline() {
    let (valid, warnings) = parse_scenario("", "empty.toml").expect("an empty file is valid");
    assert!(warnings.is_empty(), "{}", render(&warnings));
    assert_eq!(valid.get(), &Scenario::default());
    let (comments_only, _) = parse_scenario("# nothing here\n\n", "c.toml").expect("comments only");
    assert_eq!(comments_only.get(), &Scenario::default());
}

#[test]
fn shipped_scenarios_are_accepted_without_warnings() {
    for b in builtin::all() {
        match parse_scenario(b.source, b.file_name) {
            Ok((_, warnings)) => assert!(warnings.is_empty(), "{}", render(&warnings)),
            Err(errors) => panic!("{}", render(&errors)),
        }
    }
}

#[test]
fn extrapolation_is_a_warning_with_the_spec_format() {
    let src = "[setpoints]\n\nph = 6.6\n";
    let (_, warnings) = parse_scenario(src, "tshift.toml").expect("runs with a warning");
    assert_eq!(
        render(&warnings),
        "warning: tshift.toml:3:6: setpoints.ph = 6.6 is outside the validated range 6.7–7.4 (extrapolation)"
    );
}

#[test]
fn spec_section_8_messages() {
    let mut src = String::new();
    for _ in 0..29 {
        src.push('\n');
    }
    src.push_str("[setpoints]\ntemp_c = 45.0\ntemprature_c = 1.0\n");
    let err = parse_scenario(&src, "tshift.toml").expect_err("rejected");
    let out = render(&err);
    assert!(
        out.contains(
            "error: tshift.toml:31:10: setpoints.temp_c = 45.0 is out of range 26.0–40.0 °C"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "error: tshift.toml:32:1: unknown field `temprature_c` in [setpoints]; expected temp_c, ph, ph_deadband, do_pct (did you mean `temp_c`?)"
        ),
        "{out}"
    );
}

/// Small edits of a valid file: replace a byte range by a fragment that is likely to break
/// syntax, types or ranges.
fn mutate(src: &str, at: usize, len: usize, fragment: &str) -> String {
    let mut at = at % (src.len() + 1);
    while !src.is_char_boundary(at) {
        at -= 1;
    }
    let mut end = (at + len).min(src.len());
    while !src.is_char_boundary(end) {
        end += 1;
    }
    format!("{}{}{}", &src[..at], fragment, &src[end..])
}

const FRAGMENTS: &[&str] = &[
    "",
    "\"",
    "'",
    "[",
    "]",
    "[[",
    "]]",
    "=",
    "nan",
    "inf",
    "-inf",
    "-1",
    "1e308",
    "0",
    "\n",
    "{",
    "}",
    ",",
    ".",
    "x",
    "[feeds]",
    "[[schedule]]\nat_d = 1.0\n",
    "\"\"\"",
    "true",
    "1979-05-27",
    "9223372036854775807",
    "é",
    "\u{0}",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_strings(src in "\\PC{0,200}") {
        let _ = parse_scenario(&src, "fuzz.toml");
    }

    #[test]
    fn never_panics_on_toml_like_strings(src in "([a-z_\\[\\]]{1,12}( = )?([0-9.e+-]{1,6}|\"[a-z]{0,5}\"|nan|inf|true)?\n){0,12}") {
        let _ = parse_scenario(&src, "fuzz.toml");
    }

    #[test]
    fn never_panics_on_mutated_baseline(
        edits in prop::collection::vec((any::<usize>(), 0usize..8, prop::sample::select(FRAGMENTS)), 1..4)
    ) {
        let mut src = builtin::default_scenario().source.to_owned();
        for (at, len, fragment) in edits {
            src = mutate(&src, at, len, fragment);
        }
        match parse_scenario(&src, "mutant.toml") {
            Ok(_) => {}
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for e in &errors {
                    let line = e.to_string();
                    prop_assert!(line.starts_with("error: mutant.toml"), "{line}");
                }
            }
        }
    }
}
