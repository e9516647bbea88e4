//! Loading measured batch data: a `mabtwin dataset` folder or one batch in the
//! `mabtwin simulate` CSV format.
//!
//! Columns are found by header name, so extra columns (the simulator's `agitation_rpm`,
//! `flags`, …) are ignored and the order does not matter. Empty cells are missing values.
//!
//! **Single-batch format** (`mabtwin twin predict --batch online.csv`): an online CSV with
//! `t_h` (hours since inoculation, 15-min steps) and `temp_c, ph, do_pct, pco2_mmhg,
//! volume_l`; next to it an `offline.csv` with `t_h` (or `day`) and `vcd_1e6_per_ml,
//! viability_pct, glucose_g_per_l, lactate_g_per_l, glutamine_mm, ammonium_mm,
//! osmolality_mosm_per_kg, titer_g_per_l, gi_pct` (daily samples). A `batch_id` column is
//! optional there. These are exactly the files `mabtwin simulate --out DIR` writes.

use crate::error::{Result, TwinError};
use std::collections::BTreeMap;
use std::path::Path;

/// Online channels read from `online.csv`, in this order.
pub const ONLINE_COLUMNS: [&str; 5] = ["temp_c", "ph", "do_pct", "pco2_mmhg", "volume_l"];
/// Offline channels read from `offline.csv`, in this order.
pub const OFFLINE_COLUMNS: [&str; 9] = [
    "vcd_1e6_per_ml",
    "viability_pct",
    "glucose_g_per_l",
    "lactate_g_per_l",
    "glutamine_mm",
    "ammonium_mm",
    "osmolality_mosm_per_kg",
    "titer_g_per_l",
    "gi_pct",
];

/// Identity of a batch: its id, cell line and scale (from the dataset manifest).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BatchMeta {
    pub batch_id: usize,
    pub cell_line: String,
    pub nominal_volume_l: f64,
    pub duration_d: f64,
}

/// One batch of measured data plus (for datasets) the true titer/GI trajectory.
#[derive(Debug, Clone, PartialEq)]
pub struct RawBatch {
    pub meta: BatchMeta,
    /// Online rows: `(t_h, [temp_c, ph, do_pct, pco2_mmhg, volume_l])`.
    pub online: Vec<(f64, [Option<f64>; 5])>,
    /// Offline rows: `(t_h, OFFLINE_COLUMNS values)`.
    pub offline: Vec<(f64, [Option<f64>; 9])>,
    /// True state every 15 min: `(t_h, titer_g_per_l, gi_pct, vcd_1e6_per_ml)`; empty for user data.
    pub truth: Vec<(f64, f64, f64, f64)>,
}

/// A loaded dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub batches: Vec<RawBatch>,
    /// FNV-1a 64 hash of `manifest.json` (hex): identifies the training data in a model sidecar.
    pub manifest_hash: String,
}

/// FNV-1a 64-bit hash, hex.
pub fn fnv1a_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| TwinError::io(path, e))
}

/// A CSV table addressed by column name.
struct Table {
    header: Vec<String>,
    rows: Vec<csv::StringRecord>,
}

impl Table {
    fn parse(path: &Path, bytes: &[u8]) -> Result<Table> {
        let mut r = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
        let header = r.headers().map_err(|e| TwinError::format(path, e.to_string()))?.iter().map(|s| s.trim().to_owned()).collect();
        let rows = r.records().collect::<std::result::Result<Vec<_>, _>>().map_err(|e| TwinError::format(path, e.to_string()))?;
        Ok(Table { header, rows })
    }
    fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
    fn need(&self, path: &Path, name: &str) -> Result<usize> {
        self.col(name).ok_or_else(|| TwinError::format(path, format!("missing column `{name}`")))
    }
}

fn cell(path: &Path, rec: &csv::StringRecord, idx: Option<usize>, line: usize) -> Result<Option<f64>> {
    let Some(i) = idx else { return Ok(None) };
    let s = rec.get(i).unwrap_or("").trim();
    if s.is_empty() {
        return Ok(None);
    }
    let v: f64 = s.parse().map_err(|_| TwinError::format(path, format!("line {}: `{s}` is not a number", line + 2)))?;
    Ok(if v.is_finite() { Some(v) } else { None })
}

fn required(path: &Path, rec: &csv::StringRecord, idx: usize, line: usize, name: &str) -> Result<f64> {
    cell(path, rec, Some(idx), line)?.ok_or_else(|| TwinError::format(path, format!("line {}: empty `{name}`", line + 2)))
}

fn batch_of(path: &Path, t: &Table, rec: &csv::StringRecord, line: usize) -> Result<usize> {
    match t.col("batch_id") {
        Some(i) => Ok(required(path, rec, i, line, "batch_id")? as usize),
        None => Ok(0),
    }
}

type OnlineRows = BTreeMap<usize, Vec<(f64, [Option<f64>; 5])>>;
type OfflineRows = BTreeMap<usize, Vec<(f64, [Option<f64>; 9])>>;

fn parse_online(path: &Path, bytes: &[u8]) -> Result<OnlineRows> {
    let t = Table::parse(path, bytes)?;
    let ti = t.need(path, "t_h")?;
    let cols: Vec<Option<usize>> = ONLINE_COLUMNS.iter().map(|c| t.col(c)).collect();
    if cols[..3].iter().any(Option::is_none) {
        return Err(TwinError::format(path, "online data need the columns t_h, temp_c, ph, do_pct"));
    }
    let mut out: OnlineRows = BTreeMap::new();
    for (line, rec) in t.rows.iter().enumerate() {
        let b = batch_of(path, &t, rec, line)?;
        let th = required(path, rec, ti, line, "t_h")?;
        let mut v = [None; 5];
        for (k, c) in cols.iter().enumerate() {
            v[k] = cell(path, rec, *c, line)?;
        }
        out.entry(b).or_default().push((th, v));
    }
    Ok(out)
}

fn parse_offline(path: &Path, bytes: &[u8]) -> Result<OfflineRows> {
    let t = Table::parse(path, bytes)?;
    let ti = t.col("t_h");
    let di = t.col("day");
    if ti.is_none() && di.is_none() {
        return Err(TwinError::format(path, "offline data need a `t_h` or `day` column"));
    }
    let cols: Vec<Option<usize>> = OFFLINE_COLUMNS.iter().map(|c| t.col(c)).collect();
    let mut out: OfflineRows = BTreeMap::new();
    for (line, rec) in t.rows.iter().enumerate() {
        let b = batch_of(path, &t, rec, line)?;
        let th = match (cell(path, rec, ti, line)?, cell(path, rec, di, line)?) {
            (Some(h), _) => h,
            (None, Some(d)) => d * 24.0,
            _ => return Err(TwinError::format(path, format!("line {}: no time", line + 2))),
        };
        let mut v = [None; 9];
        for (k, c) in cols.iter().enumerate() {
            v[k] = cell(path, rec, *c, line)?;
        }
        out.entry(b).or_default().push((th, v));
    }
    Ok(out)
}

/// Load a `mabtwin dataset` folder (`manifest.json`, `online.csv`, `offline.csv`, `truth.csv`).
pub fn load_dataset(dir: &Path) -> Result<Dataset> {
    let mpath = dir.join("manifest.json");
    let mbytes = read(&mpath)?;
    let manifest: serde_json::Value = serde_json::from_slice(&mbytes).map_err(|e| TwinError::format(&mpath, e.to_string()))?;
    let entries = manifest
        .get("batches")
        .and_then(|b| b.as_array())
        .ok_or_else(|| TwinError::format(&mpath, "no `batches` array (is this a `mabtwin dataset` folder?)"))?;
    let mut metas = Vec::with_capacity(entries.len());
    for e in entries {
        let id = e.get("batch_id").and_then(|v| v.as_u64()).ok_or_else(|| TwinError::format(&mpath, "batch without `batch_id`"))?;
        let s = e.get("summary").ok_or_else(|| TwinError::format(&mpath, format!("batch {id} without summary")))?;
        let num = |k: &str| s.get(k).and_then(|v| v.as_f64()).ok_or_else(|| TwinError::format(&mpath, format!("batch {id}: summary lacks `{k}`")));
        metas.push(BatchMeta {
            batch_id: id as usize,
            cell_line: s.get("cell_line").and_then(|v| v.as_str()).unwrap_or("?").to_owned(),
            nominal_volume_l: num("nominal_volume_l")?,
            duration_d: num("duration_d")?,
        });
    }
    let opath = dir.join("online.csv");
    let mut online = parse_online(&opath, &read(&opath)?)?;
    let fpath = dir.join("offline.csv");
    let mut offline = parse_offline(&fpath, &read(&fpath)?)?;
    let tpath = dir.join("truth.csv");
    let tt = Table::parse(&tpath, &read(&tpath)?)?;
    let (bi, ti, yi, gi, vi) = (
        tt.need(&tpath, "batch_id")?,
        tt.need(&tpath, "t_h")?,
        tt.need(&tpath, "titer_g_per_l")?,
        tt.need(&tpath, "gi_pct")?,
        tt.need(&tpath, "vcd_1e6_per_ml")?,
    );
    let mut truth: BTreeMap<usize, Vec<(f64, f64, f64, f64)>> = BTreeMap::new();
    for (line, rec) in tt.rows.iter().enumerate() {
        let b = required(&tpath, rec, bi, line, "batch_id")? as usize;
        truth.entry(b).or_default().push((
            required(&tpath, rec, ti, line, "t_h")?,
            required(&tpath, rec, yi, line, "titer_g_per_l")?,
            required(&tpath, rec, gi, line, "gi_pct")?,
            required(&tpath, rec, vi, line, "vcd_1e6_per_ml")?,
        ));
    }
    let mut batches = Vec::with_capacity(metas.len());
    for meta in metas {
        let id = meta.batch_id;
        let on = online.remove(&id).ok_or_else(|| TwinError::Data(format!("batch {id}: no online data")))?;
        let off = offline.remove(&id).unwrap_or_default();
        let tr = truth.remove(&id).ok_or_else(|| TwinError::Data(format!("batch {id}: no truth data")))?;
        batches.push(RawBatch { meta, online: on, offline: off, truth: tr });
    }
    if batches.is_empty() {
        return Err(TwinError::Data(format!("{}: the dataset has no batches", dir.display())));
    }
    Ok(Dataset { batches, manifest_hash: fnv1a_hex(&mbytes) })
}

/// Load one batch in the `mabtwin simulate` format: `online` CSV plus an optional offline CSV.
/// If the files hold several `batch_id`s, the first is used.
pub fn load_batch(online: &Path, offline: Option<&Path>) -> Result<RawBatch> {
    let on = parse_online(online, &read(online)?)?;
    let (id, on) = on.into_iter().next().ok_or_else(|| TwinError::format(online, "no data rows"))?;
    let off = match offline {
        Some(p) => parse_offline(p, &read(p)?)?.remove(&id).unwrap_or_default(),
        None => Vec::new(),
    };
    let duration_d = on.last().map(|r| r.0 / 24.0).unwrap_or(0.0);
    Ok(RawBatch {
        meta: BatchMeta { batch_id: id, cell_line: "?".into(), nominal_volume_l: f64::NAN, duration_d },
        online: on,
        offline: off,
        truth: Vec::new(),
    })
}

/// A simulated batch as measured data (what `mabtwin dataset` would write for it, without
/// the 6-significant-digit rounding).
pub fn from_record(batch_id: usize, r: &sim::BatchRecord) -> RawBatch {
    RawBatch {
        meta: BatchMeta {
            batch_id,
            cell_line: r.summary.cell_line.clone(),
            nominal_volume_l: r.summary.nominal_volume_l,
            duration_d: r.summary.duration_d,
        },
        online: r.online.iter().map(|x| (x.t_h, [x.temp_c, x.ph, x.do_pct, x.pco2_mmhg, x.volume_l])).collect(),
        offline: r
            .offline
            .iter()
            .map(|x| {
                (
                    x.t_h,
                    [
                        x.vcd_1e6_per_ml,
                        x.viability_pct,
                        x.glucose_g_per_l,
                        x.lactate_g_per_l,
                        x.glutamine_mm,
                        x.ammonium_mm,
                        x.osmolality_mosm_per_kg,
                        x.titer_g_per_l,
                        x.gi_pct,
                    ],
                )
            })
            .collect(),
        truth: r.truth.iter().map(|x| (x.t_h, x.titer_g_per_l, x.gi_pct, x.vcd_1e6_per_ml)).collect(),
    }
}

/// Simulate a Latin-hypercube design of `n` batches (the `mabtwin dataset` design) in
/// memory: for tests and for small studies without files.
pub fn simulate_design(n: usize, seed: u64) -> Result<Dataset> {
    let base = sim::Scenario::default();
    let scen = sim::doe::design(&base, &sim::doe::DoeRanges::default(), n, seed)?;
    let batches = scen.iter().enumerate().map(|(i, s)| sim::simulate(s).map(|r| from_record(i, &r))).collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Dataset { batches, manifest_hash: format!("in-memory-design-{n}-{seed}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_by_name_and_missing_cells() {
        let p = Path::new("x.csv");
        let on = parse_online(p, b"t_h,ph,extra,temp_c,do_pct\n0,7,9,37,50\n0.25,,9,37.1,\n").expect("parse");
        let rows = &on[&0];
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].1[0], Some(37.0));
        assert_eq!(rows[0].1[1], Some(7.0));
        assert_eq!(rows[1].1[1], None);
        assert_eq!(rows[1].1[2], None);
        assert_eq!(rows[0].1[3], None, "pco2 absent");
        let err = parse_online(p, b"t_h,ph,temp_c,do_pct\n0,abc,1,2\n").expect_err("bad number");
        assert!(err.to_string().contains("line 2"), "{err}");
        let off = parse_offline(p, b"day,titer_g_per_l\n2,0.5\n").expect("parse");
        assert_eq!(off[&0][0].0, 48.0);
        assert_eq!(off[&0][0].1[7], Some(0.5));
    }
}
