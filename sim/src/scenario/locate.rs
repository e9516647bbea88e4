//! Maps dotted field paths with indices (`feeds[1].end_d`, `cell_line.overrides.mu_max_per_h`)
//! to byte spans and 1-based line:column positions in the TOML source, and back (a span
//! reported by the TOML deserializer to the path of the field it belongs to).
//!
//! Works on the span-carrying tree of `toml::de::DeTable`, the same tree the scenario is
//! deserialized from, so positions always agree with the deserializer's own errors.

use std::fmt::Write as _;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

/// One step of a field path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// Split `feeds[1].end_d` into `[Key("feeds"), Index(1), Key("end_d")]`. Malformed
/// indices are kept as part of the key (they then simply locate nothing).
pub(crate) fn parse_path(path: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            segs.push(Seg::Key(name.to_owned()));
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let Some(end) = stripped.find(']') else {
                segs.push(Seg::Key(rest.to_owned()));
                break;
            };
            match stripped[..end].parse::<usize>() {
                Ok(idx) => segs.push(Seg::Index(idx)),
                Err(_) => segs.push(Seg::Key(stripped[..end].to_owned())),
            }
            rest = &stripped[end + 1..];
        }
    }
    segs
}

/// The inverse of [`parse_path`].
pub(crate) fn path_to_string(segs: &[Seg]) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
    out
}

/// 1-based line and column (in characters) of byte `offset` in `src`.
pub(crate) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Where the thing a path names sits in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// Span of the value (or of the table header for `[table]` / `[[array]]` entries).
    pub(crate) value: Range<usize>,
    /// Span of the key, when the last segment is a key.
    pub(crate) key: Option<Range<usize>>,
    /// Whether the whole path exists (false: this is the deepest existing ancestor).
    pub(crate) exact: bool,
}

/// Find `path` in the tree, falling back to the deepest ancestor that exists (for
/// example the `[[feeds]]` header of a feed that lacks a required field). `None` when not
/// even the first segment exists.
pub(crate) fn find(root: &DeTable<'_>, path: &[Seg]) -> Option<Found> {
    let mut best: Option<Found> = None;
    let mut current: Option<&DeValue<'_>> = None;
    for (depth, seg) in path.iter().enumerate() {
        let exact = depth + 1 == path.len();
        let (key, value): (Option<Range<usize>>, &Spanned<DeValue<'_>>) = match (seg, current) {
            (Seg::Key(k), None) => match root.get_key_value(k.as_str()) {
                Some((key, value)) => (Some(key.span()), value),
                None => break,
            },
            (Seg::Key(k), Some(DeValue::Table(t))) => match t.get_key_value(k.as_str()) {
                Some((key, value)) => (Some(key.span()), value),
                None => break,
            },
            (Seg::Index(i), Some(DeValue::Array(a))) => match a.get(*i) {
                Some(value) => (None, value),
                None => break,
            },
            _ => break,
        };
        best = Some(Found {
            value: value.span(),
            key,
            exact,
        });
        current = Some(value.get_ref());
    }
    best
}

/// What part of the tree a span points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hit {
    /// A key (e.g. an unknown field).
    Key,
    /// A value (e.g. a wrong type).
    Value,
    /// A whole table or array element (e.g. a missing field).
    Container,
}

/// The path of the deepest field whose key or value contains `span` (the inverse of
/// [`find`]).
pub(crate) fn path_at(root: &DeTable<'_>, span: &Range<usize>) -> Option<(Vec<Seg>, Hit)> {
    let mut path = Vec::new();
    let hit = table_at(root, span, &mut path)?;
    Some((path, hit))
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    if inner.is_empty() {
        outer.start <= inner.start && inner.start < outer.end.max(outer.start + 1)
    } else {
        outer.start <= inner.start && inner.end <= outer.end
    }
}

fn table_at(table: &DeTable<'_>, span: &Range<usize>, path: &mut Vec<Seg>) -> Option<Hit> {
    // Children first: `[table]` headers and inline tables enclose or precede their keys.
    for (key, value) in table.iter() {
        path.push(Seg::Key(key.get_ref().to_string()));
        if let Some(hit) = value_at(value.get_ref(), span, path) {
            return Some(hit);
        }
        path.pop();
    }
    for (key, value) in table.iter() {
        let is_container = matches!(value.get_ref(), DeValue::Table(_) | DeValue::Array(_));
        let hit = if contains(&key.span(), span) && !(is_container && value.span() == *span) {
            Some(Hit::Key)
        } else if contains(&value.span(), span) {
            Some(if is_container {
                Hit::Container
            } else {
                Hit::Value
            })
        } else {
            None
        };
        if let Some(hit) = hit {
            path.push(Seg::Key(key.get_ref().to_string()));
            return Some(hit);
        }
    }
    None
}

fn value_at(value: &DeValue<'_>, span: &Range<usize>, path: &mut Vec<Seg>) -> Option<Hit> {
    match value {
        DeValue::Table(t) => table_at(t, span, path),
        DeValue::Array(a) => array_at(a, span, path),
        _ => None,
    }
}

fn array_at(array: &DeArray<'_>, span: &Range<usize>, path: &mut Vec<Seg>) -> Option<Hit> {
    for (idx, item) in array.iter().enumerate() {
        path.push(Seg::Index(idx));
        if let Some(hit) = value_at(item.get_ref(), span, path) {
            return Some(hit);
        }
        path.pop();
    }
    for (idx, item) in array.iter().enumerate() {
        if contains(&item.span(), span) {
            path.push(Seg::Index(idx));
            let is_container = matches!(item.get_ref(), DeValue::Table(_) | DeValue::Array(_));
            return Some(if is_container {
                Hit::Container
            } else {
                Hit::Value
            });
        }
    }
    None
}

/// Remove the entry or array element at `path`; false if it does not exist or `path` is
/// empty.
pub(crate) fn remove(root: &mut DeTable<'_>, path: &[Seg]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut current: Option<&mut DeValue<'_>> = None;
    for seg in parents {
        let next = match (seg, current) {
            (Seg::Key(k), None) => root.get_mut(k.as_str()),
            (Seg::Key(k), Some(DeValue::Table(t))) => t.get_mut(k.as_str()),
            (Seg::Index(i), Some(DeValue::Array(a))) => a.get_mut(*i),
            _ => None,
        };
        match next {
            Some(v) => current = Some(v.get_mut()),
            None => return false,
        }
    }
    match (last, current) {
        (Seg::Key(k), None) => root.remove(k.as_str()).is_some(),
        (Seg::Key(k), Some(DeValue::Table(t))) => t.remove(k.as_str()).is_some(),
        (Seg::Index(i), Some(DeValue::Array(a))) => {
            if *i >= a.len() {
                return false;
            }
            let kept: DeArray<'_> = a
                .iter()
                .enumerate()
                .filter(|(j, _)| j != i)
                .map(|(_, v)| v.clone())
                .collect();
            *a = kept;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Convenience for callers with only the source: the 1-based line:column of the value at
    /// `path`, or of its deepest existing ancestor (table header); `None` if nothing matches or
    /// the source does not parse.
    pub(crate) fn locate(src: &str, path: &str) -> Option<(usize, usize)> {
        let root = DeTable::parse(src).ok()?;
        let found = find(root.get_ref(), &parse_path(path))?;
        Some(line_col(src, found.value.start))
    }

    const SRC: &str = "schema_version = 1\n\
        [setpoints]\n\
        temp_c = 45.0\n\
        [cell_line]\n\
        overrides = { mu_max_per_h = 0.05 }\n\
        [[feeds]]\n\
        name = \"a\"\n\
        [[feeds]]\n\
        name = \"b\"\n\
        end_d = 16.0\n";

    #[test]
    fn paths_round_trip() {
        for p in [
            "feeds[1].end_d",
            "schedule[0].temp_c",
            "cell_line.overrides.mu_max_per_h",
            "a[0][2]",
        ] {
            assert_eq!(path_to_string(&parse_path(p)), p);
        }
        assert_eq!(
            parse_path("feeds[1].end_d"),
            vec![
                Seg::Key("feeds".into()),
                Seg::Index(1),
                Seg::Key("end_d".into())
            ]
        );
    }

    #[test]
    fn locates_values_and_falls_back_to_headers() {
        assert_eq!(locate(SRC, "setpoints.temp_c"), Some((3, 10)));
        assert_eq!(locate(SRC, "feeds[1].end_d"), Some((10, 9)));
        assert_eq!(
            locate(SRC, "cell_line.overrides.mu_max_per_h"),
            Some((5, 30))
        );
        // Missing field: the `[[feeds]]` header of the second feed.
        assert_eq!(locate(SRC, "feeds[1].start_d"), Some((8, 1)));
        assert_eq!(locate(SRC, "vessel.sparge_vvm"), None);
        assert_eq!(locate("a = \"unterminated\n", "a"), None);
    }

    #[test]
    fn finds_paths_from_spans_and_removes() {
        let mut root = DeTable::parse(SRC)
            .expect("test source parses")
            .into_inner();
        let found = find(&root, &parse_path("feeds[1].end_d")).expect("exists");
        let (path, hit) = path_at(&root, &found.value).expect("span maps back");
        assert_eq!(path_to_string(&path), "feeds[1].end_d");
        assert_eq!(hit, Hit::Value);
        let key = found.key.expect("has a key");
        assert_eq!(
            path_at(&root, &key).map(|(p, h)| (path_to_string(&p), h)),
            Some(("feeds[1].end_d".into(), Hit::Key))
        );
        let header = find(&root, &parse_path("feeds[1]")).expect("exists").value;
        assert_eq!(
            path_at(&root, &header).map(|(p, h)| (path_to_string(&p), h)),
            Some(("feeds[1]".into(), Hit::Container))
        );
        assert!(remove(&mut root, &parse_path("feeds[0]")));
        assert!(find(&root, &parse_path("feeds[1]")).is_none_or(|f| !f.exact));
        assert!(remove(&mut root, &parse_path("setpoints.temp_c")));
        assert!(!remove(&mut root, &parse_path("setpoints.temp_c")));
    }
}
