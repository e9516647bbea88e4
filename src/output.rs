//! Output helpers: atomic file writes, CSV of serde rows, compact number formatting.

use anyhow::{Context, Result};
use serde::Serialize;
use std::path::Path;

/// Write `bytes` to `path` atomically: a temporary file in the same folder, then rename,
/// so a reader never sees a half-written file and an interrupted run loses nothing.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create folder {}", dir.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} into place", path.display()))?;
    Ok(())
}

/// Serialize rows as CSV with a header taken from the struct's field names.
pub(crate) fn csv_bytes<T: Serialize>(rows: &[T]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("csv buffer: {e}"))
}

/// Write serde rows as CSV, atomically.
pub(crate) fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    write_atomic(path, &csv_bytes(rows)?)
}

/// Write a value as pretty JSON, atomically.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    write_atomic(path, s.as_bytes())
}

/// A number with about 6 significant digits and no trailing zeros (compact CSV).
pub(crate) fn compact(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return if x.is_finite() { "0".to_owned() } else { String::new() };
    }
    let digits = (5 - x.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let s = format!("{x:.digits$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_keeps_six_significant_digits() {
        assert_eq!(compact(1.23456789), "1.23457");
        assert_eq!(compact(1160.0), "1160");
        assert_eq!(compact(0.000123456789), "0.000123457");
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(-2.5), "-2.5");
    }

    #[test]
    fn atomic_write_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.txt");
        write_atomic(&p, b"hello").expect("write");
        assert_eq!(std::fs::read(&p).expect("read"), b"hello");
        let n = std::fs::read_dir(dir.path()).expect("dir").count();
        assert_eq!(n, 1);
    }
}
