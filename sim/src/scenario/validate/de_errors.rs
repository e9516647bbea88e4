//! Mapping of TOML syntax and deserializer (serde) errors onto [`Diagnostic`]s: position,
//! dotted field path, friendly "expected" text, the valid choices of an enum and a
//! "did you mean" suggestion. Split out of `validate.rs`, which runs the semantic checks.

use std::ops::Range;

use serde::Deserialize;
use toml::de::DeTable;

use super::super::spec::{DoFailureMode, FaultKind, FeedKind, Fidelity, Impeller, Preset, ScaleUpRule, SensorProfile, Signal, Sparger};

use super::super::locate::{self, Hit, Seg};
use super::{Diagnostic, Severity};


pub(super) fn syntax_diag(e: &toml::de::Error, src: &str, file: &str, root: &DeTable<'_>) -> Diagnostic {
    let span = e.span();
    let (line, column) = position(src, span.as_ref());
    let message = e.message().trim();
    let path = span
        .as_ref()
        .and_then(|sp| locate::path_at(root, sp))
        .map(|(p, _)| locate::path_to_string(&p));
    let message = if message == "duplicate key" {
        let key = span
            .as_ref()
            .and_then(|sp| src.get(sp.clone()))
            .unwrap_or("")
            .trim();
        format!("TOML syntax error: duplicate key `{key}`")
    } else {
        format!("TOML syntax error: {message}")
    };
    Diagnostic {
        severity: Severity::Error,
        file: file.to_owned(),
        line,
        column,
        path: path.unwrap_or_default(),
        message,
    }
}

fn position(src: &str, span: Option<&Range<usize>>) -> (Option<usize>, Option<usize>) {
    match span {
        Some(sp) => {
            let (line, col) = locate::line_col(src, sp.start);
            (Some(line), Some(col))
        }
        None => (None, None),
    }
}

/// Turn a deserializer error into a diagnostic, plus the path to remove before retrying.
pub(super) fn serde_diag(
    e: &toml::de::Error,
    src: &str,
    file: &str,
    root: &DeTable<'_>,
) -> (Diagnostic, Option<Vec<Seg>>) {
    let span = e.span();
    let raw = e.message().trim();
    let located = span.as_ref().and_then(|sp| locate::path_at(root, sp));
    let (line, column) = position(src, span.as_ref());
    let (segs, hit) = match located {
        Some((segs, hit)) => (segs, Some(hit)),
        None => (Vec::new(), None),
    };
    let path = locate::path_to_string(&segs);

    let (diag_path, message) = if let Some(rest) = raw.strip_prefix("unknown field ") {
        let name = backticked(rest).into_iter().next().unwrap_or_default();
        let expected = backticked(rest.split_once("expected").map_or("", |(_, e)| e));
        let parent = if hit == Some(Hit::Key) && !segs.is_empty() {
            &segs[..segs.len() - 1]
        } else {
            &segs[..]
        };
        let mut msg = format!("unknown field `{name}` {}", table_label(parent));
        if expected.is_empty() {
            msg.push_str("; it takes no fields");
        } else {
            msg.push_str(&format!("; expected {}", expected.join(", ")));
            msg.push_str(&did_you_mean(&name, expected.iter().map(String::as_str)));
        }
        let mut full = parent.to_vec();
        full.push(Seg::Key(name));
        (locate::path_to_string(&full), msg)
    } else if let Some(rest) = raw.strip_prefix("unknown variant ") {
        let name = backticked(rest).into_iter().next().unwrap_or_default();
        let expected = backticked(rest.split_once("expected").map_or("", |(_, e)| e));
        let mut msg = format!(
            "{} = \"{name}\" is not a valid choice; expected one of {}",
            path,
            expected.join(", ")
        );
        msg.push_str(&did_you_mean(&name, expected.iter().map(String::as_str)));
        (path.clone(), msg)
    } else if let Some(rest) = raw.strip_prefix("missing field ") {
        let name = backticked(rest).into_iter().next().unwrap_or_default();
        let owner = if path.is_empty() {
            "the top level".to_owned()
        } else {
            path.clone()
        };
        let mut full = segs.clone();
        full.push(Seg::Key(name.clone()));
        (
            locate::path_to_string(&full),
            format!("{owner}: missing required field `{name}`"),
        )
    } else if let Some(rest) = raw.strip_prefix("invalid type: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let msg = format!(
            "{}: wrong type: expected {}, found {found}",
            display_path(&path),
            friendly_expected(expected)
        );
        (path.clone(), msg)
    } else if let Some(rest) = raw.strip_prefix("invalid value: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let msg = format!(
            "{}: invalid value {found}: expected {}",
            display_path(&path),
            friendly_expected(expected)
        );
        (path.clone(), msg)
    } else if raw.starts_with("wanted string or ") {
        // toml's wording when an enum field gets a number, array or table.
        let expected = match enum_for_path(&segs).and_then(variants_of) {
            Some(v) => format!("a string, one of {}", v.join(", ")),
            None => "a string".to_owned(),
        };
        let found = span
            .as_ref()
            .and_then(|sp| src.get(sp.clone()))
            .unwrap_or("")
            .trim();
        let msg = format!(
            "{}: wrong type: expected {expected}, found `{found}`",
            display_path(&path)
        );
        (path.clone(), msg)
    } else {
        (
            path.clone(),
            if path.is_empty() {
                raw.to_owned()
            } else {
                format!("{path}: {raw}")
            },
        )
    };

    let diag = Diagnostic {
        severity: Severity::Error,
        file: file.to_owned(),
        line,
        column,
        path: diag_path,
        message,
    };
    let remove = if segs.is_empty() { None } else { Some(segs) };
    (diag, remove)
}

fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "the scenario"
    } else {
        path
    }
}

/// `[setpoints]`, `feeds[1]`, `the top level`.
fn table_label(parent: &[Seg]) -> String {
    if parent.is_empty() {
        "at the top level".to_owned()
    } else if parent.iter().any(|s| matches!(s, Seg::Index(_))) {
        format!("in {}", locate::path_to_string(parent))
    } else {
        format!("in [{}]", locate::path_to_string(parent))
    }
}

/// The names between backticks in a serde message.
fn backticked(s: &str) -> Vec<String> {
    s.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

fn friendly_expected(expected: &str) -> String {
    match expected {
        "f64" | "f32" => "a number".to_owned(),
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer".to_owned(),
        "i8" | "i16" | "i32" | "i64" => "an integer".to_owned(),
        "a sequence" => "an array".to_owned(),
        "a map" => "a table".to_owned(),
        "a boolean" => "a boolean (true or false)".to_owned(),
        other => {
            if other.starts_with("struct ") {
                "a table".to_owned()
            } else if let Some(name) = other.strip_prefix("enum ") {
                match variants_of(name) {
                    Some(v) => format!("a string, one of {}", v.join(", ")),
                    None => "a string".to_owned(),
                }
            } else {
                other.to_owned()
            }
        }
    }
}

/// The enum type behind a field path (toml's enum type errors do not name it).
fn enum_for_path(segs: &[Seg]) -> Option<&'static str> {
    let mut keys = segs.iter().filter_map(|s| match s {
        Seg::Key(k) => Some(k.as_str()),
        Seg::Index(_) => None,
    });
    let first = keys.next()?;
    let last = keys.next_back().unwrap_or(first);
    Some(match (first, last) {
        ("vessel", "sparger") => "Sparger",
        ("vessel", "impeller") => "Impeller",
        ("vessel", "scale_up_rule") => "ScaleUpRule",
        ("feeds", "kind") => "FeedKind",
        ("faults", "kind") => "FaultKind",
        ("faults", "signal") => "Signal",
        ("faults", "mode") => "DoFailureMode",
        ("sensors", "profile") => "SensorProfile",
        ("model", "preset") => "Preset",
        ("model", "fidelity") => "Fidelity",
        _ => return None,
    })
}

/// The valid spellings of one of the scenario's enums, taken from serde itself so the list
/// never goes stale.
pub(super) fn variants_of(enum_name: &str) -> Option<Vec<String>> {
    fn probe<T: for<'de> Deserialize<'de>>() -> Vec<String> {
        let de = serde::de::value::StrDeserializer::<serde::de::value::Error>::new("\u{1}");
        match T::deserialize(de) {
            Ok(_) => Vec::new(),
            Err(e) => {
                let msg = e.to_string();
                backticked(msg.split_once("expected").map_or("", |(_, e)| e))
            }
        }
    }
    Some(match enum_name {
        "Sparger" => probe::<Sparger>(),
        "Impeller" => probe::<Impeller>(),
        "ScaleUpRule" => probe::<ScaleUpRule>(),
        "FeedKind" => probe::<FeedKind>(),
        "SensorProfile" => probe::<SensorProfile>(),
        "FaultKind" => probe::<FaultKind>(),
        "Signal" => probe::<Signal>(),
        "DoFailureMode" => probe::<DoFailureMode>(),
        "Preset" => probe::<Preset>(),
        "Fidelity" => probe::<Fidelity>(),
        _ => return None,
    })
}

/// ` (did you mean `x`?)` for the closest candidate, or nothing if none is close.
pub(super) fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let lower = name.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for cand in candidates {
        let c = cand.to_lowercase();
        let dist = edit_distance(&lower, &c);
        let prefix = lower
            .chars()
            .zip(c.chars())
            .take_while(|(a, b)| a == b)
            .count();
        let close = (dist <= (lower.chars().count() / 3).max(2) && dist < lower.chars().count())
            || (lower.len() >= 3 && (is_subsequence(&c, &lower) || is_subsequence(&lower, &c)))
            || (prefix >= 3 && prefix * 5 >= lower.chars().count().min(c.chars().count()) * 3);
        if close && best.is_none_or(|(d, _)| dist < d) {
            best = Some((dist, cand));
        }
    }
    match best {
        Some((_, cand)) if cand != name => format!(" (did you mean `{cand}`?)"),
        _ => String::new(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Whether `needle`'s characters appear in `hay` in order.
fn is_subsequence(needle: &str, hay: &str) -> bool {
    let mut hay = hay.chars();
    needle.chars().all(|c| hay.any(|h| h == c))
}
