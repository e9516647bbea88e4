//! File I/O at the edge: PNG/JPEG decoding into grey images, PNG writing, `labels.csv`, npy
//! (u8) and dataset folders. Everything else in the crate works on in-memory buffers.

use crate::error::{QcError, Result};
use crate::image_ops::GreyImage;
use std::path::{Path, PathBuf};

/// How an input image was adapted to the model size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adapted {
    /// The input was not already `size` x `size` (centre-cropped to square, then resized).
    pub resized: bool,
    /// The input's longer side exceeds 4x the model size (probably not a crop).
    pub much_larger: bool,
    /// The input had colour channels (converted to luma 0.299/0.587/0.114).
    pub was_colour: bool,
}

/// Decode any PNG/JPEG (grey, RGB, RGBA, 16-bit, palette) into a grey f32 image in [0, 1],
/// using luma 0.299 R + 0.587 G + 0.114 B; alpha is dropped.
pub fn decode_grey(bytes: &[u8], path: &Path) -> Result<(GreyImage, bool)> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| QcError::Image { path: path.to_path_buf(), reason: e.to_string() })?;
    let dynimg = reader.decode().map_err(|e| QcError::Image { path: path.to_path_buf(), reason: e.to_string() })?;
    let colour = dynimg.color().has_color();
    let (w, h) = (dynimg.width() as usize, dynimg.height() as usize);
    if w == 0 || h == 0 {
        return Err(QcError::Image { path: path.to_path_buf(), reason: "empty image".into() });
    }
    let data: Vec<f32> = if colour {
        let rgb = dynimg.to_rgb32f();
        rgb.pixels().map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]).collect()
    } else {
        dynimg.to_luma32f().into_raw()
    };
    Ok((GreyImage { width: w, height: h, data }, colour))
}

/// Read a file and decode it (see [`decode_grey`]).
pub fn load_grey(path: &Path) -> Result<(GreyImage, bool)> {
    let bytes = std::fs::read(path).map_err(|e| QcError::io(path, e))?;
    decode_grey(&bytes, path)
}

/// Centre-crop to a square and resize (triangle filter) to `size` x `size`.
pub fn adapt(img: &GreyImage, size: usize, was_colour: bool) -> (GreyImage, Adapted) {
    let info = Adapted {
        resized: img.width != size || img.height != size,
        much_larger: img.width.max(img.height) > 4 * size,
        was_colour,
    };
    if !info.resized {
        return (img.clone(), info);
    }
    let side = img.width.min(img.height);
    let (x0, y0) = ((img.width - side) / 2, (img.height - side) / 2);
    let mut sq = Vec::with_capacity(side * side);
    for y in y0..y0 + side {
        sq.extend_from_slice(&img.data[y * img.width + x0..y * img.width + x0 + side]);
    }
    let buf: image::ImageBuffer<image::Luma<f32>, Vec<f32>> =
        image::ImageBuffer::from_raw(side as u32, side as u32, sq).unwrap_or_else(|| image::ImageBuffer::new(side as u32, side as u32));
    let out = image::imageops::resize(&buf, size as u32, size as u32, image::imageops::FilterType::Triangle);
    (GreyImage { width: size, height: size, data: out.into_raw() }, info)
}

/// Encode an 8-bit grey PNG (deterministic bytes).
pub fn encode_png_grey(img: &GreyImage) -> Result<Vec<u8>> {
    encode_png_raw(&img.to_u8(), img.width, img.height, image::ExtendedColorType::L8)
}

/// Encode raw 8-bit pixels (L8 or Rgb8) as PNG.
pub fn encode_png_raw(px: &[u8], w: usize, h: usize, color: image::ExtendedColorType) -> Result<Vec<u8>> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(px, w as u32, h as u32, color)
        .map_err(|e| QcError::Image { path: PathBuf::from("<png>"), reason: e.to_string() })?;
    Ok(out)
}

/// Write bytes to a file atomically (temporary file in the same folder, then rename), so
/// an interrupted run never leaves a half-written file behind.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    std::fs::write(&tmp, bytes).map_err(|e| QcError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| QcError::io(path, e))
}

/// The temporary sibling used for an atomic write of `path`.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Write a u8 array as `.npy` (format 1.0, C order).
pub fn encode_npy_u8(data: &[u8], shape: &[usize]) -> Vec<u8> {
    let shape_s = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!("({})", shape.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {shape_s}, }}");
    let total = 10 + header.len() + 1;
    let pad = (64 - total % 64) % 64;
    header.push_str(&" ".repeat(pad));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Read a u8 `.npy` written by [`encode_npy_u8`] (or numpy, `|u1`, C order): (data, shape).
pub fn read_npy_u8(path: &Path) -> Result<(Vec<u8>, Vec<usize>)> {
    let bytes = std::fs::read(path).map_err(|e| QcError::io(path, e))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(QcError::format(path, "not an npy file"));
    }
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(bytes.get(10..10 + hlen).ok_or_else(|| QcError::format(path, "truncated header"))?)
        .map_err(|_| QcError::format(path, "header not utf-8"))?;
    if !header.contains("'|u1'") || header.contains("'fortran_order': True") {
        return Err(QcError::format(path, "only C-order u8 (|u1) arrays are supported"));
    }
    let s = header.split("'shape':").nth(1).and_then(|t| t.split(')').next()).ok_or_else(|| QcError::format(path, "no shape"))?;
    let shape: Vec<usize> = s
        .trim()
        .trim_start_matches('(')
        .split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().parse::<usize>().map_err(|_| QcError::format(path, "bad shape")))
        .collect::<Result<_>>()?;
    let data = bytes[10 + hlen..].to_vec();
    if data.len() != shape.iter().product::<usize>() {
        return Err(QcError::format(path, "data length does not match shape"));
    }
    Ok((data, shape))
}

/// A labelled image set read from disk.
#[derive(Debug, Clone, Default)]
pub struct LabelledSet {
    /// Where it came from (for manifests).
    pub source: String,
    /// Task name from `render.json`, if any.
    pub task: Option<String>,
    /// Ordered class names found (sorted, or the task's order when known by the caller).
    pub files: Vec<PathBuf>,
    pub labels: Vec<String>,
    pub splits: Vec<String>,
    pub groups: Vec<String>,
    /// Grey images (already decoded, any size).
    pub images: Vec<GreyImage>,
    /// Spectral cubes u8 `[N][11][H][W]` flattened, when present.
    pub spectral: Option<Vec<u8>>,
    /// SHA-256-free fingerprint of labels.csv: FNV-1a 64 (hex) for the manifest.
    pub labels_fingerprint: String,
    /// Warnings to show the user (e.g. random split without groups).
    pub warnings: Vec<String>,
    /// Per-row imaging difficulty, when `labels.csv` has both the `blur_px` and
    /// `photons_at_background` columns (renders since they were added; not real crops).
    pub difficulty: Option<RowDifficulty>,
    /// Every other `labels.csv` column whose cells are all finite numbers (a render's latents
    /// such as `n_particles`, `dead_frac`, `coverage`), in file order; used as auxiliary
    /// training targets (`qc train --aux-targets`).
    pub numeric_columns: Vec<(String, Vec<f64>)>,
    /// Per row, the microbial particle centres `(x_px, y_px)` of a microcarrier render's
    /// `particles.csv` (renders since session 19; `None` without the file). Used as the
    /// particle-count map target of `qc train --particle-map-weight`.
    pub particles: Option<Vec<Vec<(f32, f32)>>>,
}

impl LabelledSet {
    /// The numeric `labels.csv` column `name`, one value per row.
    pub fn numeric_column(&self, name: &str) -> Option<&[f64]> {
        self.numeric_columns.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }
}

/// Per-row imaging difficulty columns of a render's `labels.csv` (see
/// [`crate::render::BLUR_PX`], [`crate::render::PHOTONS_AT_BACKGROUND`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowDifficulty {
    pub blur_px: Vec<f64>,
    pub photons_at_background: Vec<f64>,
}

/// Cell `i` (column `name`) of data row `row` (0-based) of the CSV file `path` as a finite
/// number, or an error naming the file, row, column and cell.
fn finite_cell(rec: &csv::StringRecord, i: usize, name: &str, path: &Path, row: usize) -> Result<f64> {
    let cell = rec.get(i).unwrap_or_default();
    cell.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| QcError::format(path, format!("data row {}: `{name}` = `{cell}` is not a finite number", row + 1)))
}

/// File name of a microcarrier render's particle positions: `file,x_px,y_px`, one row per
/// microbial particle (pixel coordinates, origin at the centre of the top-left pixel).
pub const PARTICLES_CSV: &str = "particles.csv";

/// Read `particles.csv` of a render directory: the particle centres of each of `files`
/// (rows naming a file not in `files`, or non-finite coordinates, are errors).
fn read_particles_csv(dir: &Path, path: &Path, files: &[PathBuf]) -> Result<Vec<Vec<(f32, f32)>>> {
    let bytes = std::fs::read(path).map_err(|e| QcError::io(path, e))?;
    let mut rdr = csv::Reader::from_reader(bytes.as_slice());
    let headers = rdr.headers().map_err(|e| QcError::format(path, e.to_string()))?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(fi), Some(xi), Some(yi)) = (col("file"), col("x_px"), col("y_px")) else {
        return Err(QcError::format(path, "needs columns `file`, `x_px` and `y_px`"));
    };
    let row_of: std::collections::HashMap<&Path, usize> = files.iter().enumerate().map(|(i, f)| (f.as_path(), i)).collect();
    let mut out = vec![Vec::new(); files.len()];
    for (row, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| QcError::format(path, e.to_string()))?;
        let name = rec.get(fi).unwrap_or_default();
        let Some(&i) = row_of.get(dir.join(name).as_path()) else {
            return Err(QcError::format(path, format!("data row {}: file `{name}` is not in labels.csv", row + 1)));
        };
        let num = |k: usize, what: &str| finite_cell(&rec, k, what, path, row).map(|v| v as f32);
        out[i].push((num(xi, "x_px")?, num(yi, "y_px")?));
    }
    Ok(out)
}

/// FNV-1a 64-bit hash, hex.
pub fn fnv1a_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn read_labels_csv(dir: &Path, csv_path: &Path, out: &mut LabelledSet) -> Result<()> {
    let bytes = std::fs::read(csv_path).map_err(|e| QcError::io(csv_path, e))?;
    out.labels_fingerprint = fnv1a_hex(&bytes);
    let mut rdr = csv::Reader::from_reader(bytes.as_slice());
    let headers = rdr.headers().map_err(|e| QcError::format(csv_path, e.to_string()))?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (fi, li) = match (col("file"), col("label")) {
        (Some(f), Some(l)) => (f, l),
        _ => return Err(QcError::format(csv_path, "needs columns `file` and `label`")),
    };
    let (si, gi) = (col("split"), col("group").or_else(|| col("source_group")));
    // Older renders and real crops have no difficulty columns: then `difficulty` stays None.
    let di = col(crate::render::BLUR_PX).zip(col(crate::render::PHOTONS_AT_BACKGROUND));
    let mut difficulty = di.map(|_| RowDifficulty::default());
    let core = [Some(fi), Some(li), si, gi];
    let mut numeric: Vec<(usize, String, Option<Vec<f64>>)> =
        headers.iter().enumerate().filter(|(i, _)| !core.contains(&Some(*i))).map(|(i, h)| (i, h.to_string(), Some(Vec::new()))).collect();
    for (row, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| QcError::format(csv_path, e.to_string()))?;
        for (i, _, values) in &mut numeric {
            let cell = rec.get(*i).and_then(|c| c.trim().parse::<f64>().ok()).filter(|v| v.is_finite());
            match (cell, values.as_mut()) {
                (Some(v), Some(vs)) => vs.push(v),
                _ => *values = None,
            }
        }
        let file = dir.join(rec.get(fi).unwrap_or_default());
        out.labels.push(rec.get(li).unwrap_or_default().to_string());
        out.splits.push(si.and_then(|i| rec.get(i)).unwrap_or("train").to_string());
        out.groups.push(gi.and_then(|i| rec.get(i)).unwrap_or("").to_string());
        out.files.push(file);
        if let (Some((bi, pi)), Some(d)) = (di, difficulty.as_mut()) {
            let num = |i: usize, name: &str| finite_cell(&rec, i, name, csv_path, row);
            d.blur_px.push(num(bi, crate::render::BLUR_PX)?);
            d.photons_at_background.push(num(pi, crate::render::PHOTONS_AT_BACKGROUND)?);
        }
    }
    out.difficulty = difficulty;
    out.numeric_columns = numeric.into_iter().filter_map(|(_, name, values)| values.map(|v| (name, v))).collect();
    Ok(())
}

/// Load a dataset folder. Accepted layouts:
/// 1. a render directory (`labels.csv` with `file,label,group,split`, `render.json`,
///    optional `spectral.npy`);
/// 2. the real-crop layout `crops64/labels.csv` (`file` relative to the folder, `split`,
///    `source_group`);
/// 3. class subfolders (`DIR/<class>/*.png`): no groups, so a seeded random 85/15 split of
///    images is made with a leakage warning.
///
/// Rows with an empty label (borderline renders) are skipped.
pub fn load_dataset(dir: &Path) -> Result<LabelledSet> {
    let mut out = LabelledSet { source: dir.display().to_string(), ..Default::default() };
    let direct = dir.join("labels.csv");
    let crops = dir.join("crops64").join("labels.csv");
    if direct.is_file() {
        read_labels_csv(dir, &direct, &mut out)?;
        let rj = dir.join("render.json");
        if rj.is_file() {
            let text = std::fs::read_to_string(&rj).map_err(|e| QcError::io(&rj, e))?;
            let v: serde_json::Value = serde_json::from_str(&text)?;
            out.task = v.get("config").and_then(|c| c.get("task")).and_then(|t| t.as_str()).map(str::to_string);
        }
        let npy = dir.join("spectral.npy");
        if npy.is_file() {
            let (data, shape) = read_npy_u8(&npy)?;
            if shape.first() != Some(&out.files.len()) {
                return Err(QcError::format(&npy, format!("first dimension {:?} != {} rows", shape.first(), out.files.len())));
            }
            out.spectral = Some(data);
        }
        let pc = dir.join(PARTICLES_CSV);
        if pc.is_file() {
            out.particles = Some(read_particles_csv(dir, &pc, &out.files)?);
        }
    } else if crops.is_file() {
        read_labels_csv(dir, &crops, &mut out)?;
    } else {
        let mut classes: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| QcError::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        classes.sort();
        let mut all = Vec::new();
        for c in &classes {
            let name = c.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            for f in list_images(c)? {
                all.push((f, name.clone()));
            }
        }
        if all.is_empty() {
            return Err(QcError::format(dir, "no labels.csv, crops64/labels.csv or class subfolders with images"));
        }
        out.warnings.push("class subfolders have no groups: random 85/15 image split; near-duplicate images may leak between splits".into());
        for (i, (f, l)) in all.into_iter().enumerate() {
            let h = crate::rng::mix(&[0x5EED, i as u64]);
            out.splits.push(if h % 100 < 85 { "train".into() } else { "val".into() });
            out.groups.push(String::new());
            out.files.push(f);
            out.labels.push(l);
        }
    }
    // keep only labelled rows
    let keep: Vec<usize> = (0..out.files.len()).filter(|&i| !out.labels[i].is_empty()).collect();
    if keep.len() != out.files.len() {
        let sel = |v: &Vec<String>| keep.iter().map(|&i| v[i].clone()).collect::<Vec<_>>();
        out.labels = sel(&out.labels);
        out.splits = sel(&out.splits);
        out.groups = sel(&out.groups);
        out.files = keep.iter().map(|&i| out.files[i].clone()).collect();
        let sel = |v: &Vec<f64>| keep.iter().map(|&i| v[i]).collect::<Vec<_>>();
        if let Some(d) = out.difficulty.as_mut() {
            *d = RowDifficulty { blur_px: sel(&d.blur_px), photons_at_background: sel(&d.photons_at_background) };
        }
        for (_, v) in &mut out.numeric_columns {
            *v = sel(v);
        }
        if let Some(p) = out.particles.as_mut() {
            *p = keep.iter().map(|&i| std::mem::take(&mut p[i])).collect();
        }
        if out.spectral.is_some() {
            return Err(QcError::format(dir, "rows without labels in a spectral set are not supported"));
        }
    }
    out.images = out.files.iter().map(|f| load_grey(f).map(|(g, _)| g)).collect::<Result<_>>()?;
    Ok(out)
}

/// Recursively list `.png/.jpg/.jpeg` files under `dir`, sorted.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| QcError::io(&d, e))? {
            let p = e.map_err(|e| QcError::io(&d, e))?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .map(|x| matches!(x.to_string_lossy().to_lowercase().as_str(), "png" | "jpg" | "jpeg"))
                .unwrap_or(false)
            {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(csv: &str) -> Result<LabelledSet> {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("labels.csv");
        std::fs::write(&p, csv).expect("write");
        let mut out = LabelledSet::default();
        read_labels_csv(d.path(), &p, &mut out).map(|()| out)
    }

    #[test]
    fn labels_csv_numeric_columns_are_kept_by_name() {
        let set = read("file,label,group,split,n_particles,note,dead_frac\na.png,good,0,train,3,x,0.25\nb.png,contaminated,1,val,17,,0.5\n").expect("read");
        assert_eq!(set.numeric_column("n_particles"), Some(&[3.0, 17.0][..]));
        assert_eq!(set.numeric_column("dead_frac"), Some(&[0.25, 0.5][..]));
        // A column with any non-numeric or empty cell, and the core columns, are not numeric.
        assert_eq!(set.numeric_column("note"), None);
        assert_eq!(set.numeric_column("group"), None);
        assert_eq!(set.numeric_columns.len(), 2);
    }

    #[test]
    fn labels_csv_difficulty_columns_are_optional() {
        // A render from before the difficulty columns (and real crops): accepted, no difficulty.
        let old = read("file,label,group,split,central_dead\nimages/0.png,live,0,train,0\n").expect("old layout");
        assert_eq!(old.labels, vec!["live"]);
        assert_eq!(old.difficulty, None);
        let new = read("file,label,group,split,central_dead,blur_px,photons_at_background\nimages/0.png,live,0,train,0,0.812500,1234.5\nimages/1.png,dead,0,val,1,1.1,400\n")
            .expect("new layout");
        assert_eq!(new.difficulty, Some(RowDifficulty { blur_px: vec![0.8125, 1.1], photons_at_background: vec![1234.5, 400.0] }));
        // Only one of the two columns: ignored. A bad value: an error naming row and column.
        assert_eq!(read("file,label,blur_px\na.png,live,0.5\n").expect("one column").difficulty, None);
        let err = read("file,label,blur_px,photons_at_background\na.png,live,0.5,lots\n").expect_err("bad value").to_string();
        assert!(err.contains("row 1") && err.contains("photons_at_background"), "{err}");
    }
}
