//! Spectral PCA channels (spec §4): flat-field each band (a_λ = −ln(T_λ / median T_λ)),
//! subtract the per-pixel band mean, standardise per band, eigen-decompose the 11x11
//! covariance (nalgebra `SymmetricEigen`) and keep 3 unit-variance components, signed so the
//! largest-magnitude loading is positive. Fitted on 256 seeded pixels per **training** image.
//!
//! # Shapes
//! A cube is u8 `[11][H][W]` flattened; channels out are f32 `[3][H][W]`, clipped to ±6.

use crate::error::{QcError, Result};
use crate::render::spectral::N_BANDS;
use nalgebra::{DMatrix, SymmetricEigen};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Pixels sampled per training image.
pub const PIXELS_PER_IMAGE: usize = 256;
/// Components kept.
pub const N_COMPONENTS: usize = 3;
/// Clip for the output channels.
pub const CLIP: f32 = 6.0;

/// A fitted basis (stored in the model sidecar).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PcaBasis {
    pub band_mean: Vec<f64>,
    pub band_std: Vec<f64>,
    /// `[N_COMPONENTS][N_BANDS]` unit-norm loadings.
    pub components: Vec<Vec<f64>>,
    pub eigenvalues: Vec<f64>,
    pub n_pixels_fit: usize,
}

/// Flat-fielded, band-mean-centred absorbance `[11][H*W]` of one cube.
fn absorbance(cube: &[u8], hw: usize) -> Result<Vec<f64>> {
    if cube.len() != N_BANDS * hw {
        return Err(QcError::Shape { expected: format!("{} bytes (11 bands)", N_BANDS * hw), got: format!("{} bytes", cube.len()) });
    }
    let mut a = vec![0.0f64; N_BANDS * hw];
    for k in 0..N_BANDS {
        let band = &cube[k * hw..(k + 1) * hw];
        let mut sorted = band.to_vec();
        let mid = hw / 2;
        let (_, med, _) = sorted.select_nth_unstable(mid);
        let med = f64::from((*med).max(1));
        // The same expression per byte value, tabulated: 256 logarithms per band instead of
        // one per pixel (bit-identical to evaluating it pixel by pixel).
        let table: [f64; 256] = std::array::from_fn(|v| -(f64::from((v as u8).max(1)) / med).ln());
        for (dst, &v) in a[k * hw..(k + 1) * hw].iter_mut().zip(band) {
            *dst = table[usize::from(v)];
        }
    }
    for i in 0..hw {
        let m: f64 = (0..N_BANDS).map(|k| a[k * hw + i]).sum::<f64>() / N_BANDS as f64;
        for k in 0..N_BANDS {
            a[k * hw + i] -= m;
        }
    }
    Ok(a)
}

/// Fit on training cubes only (`cubes[i]` is one image's u8 `[11][H][W]`).
pub fn fit(cubes: &[&[u8]], hw: usize, seed: u64) -> Result<PcaBasis> {
    if cubes.is_empty() {
        return Err(QcError::Empty { what: "training cubes for PCA" });
    }
    let mut rows: Vec<[f64; N_BANDS]> = Vec::with_capacity(cubes.len() * PIXELS_PER_IMAGE);
    for (i, cube) in cubes.iter().enumerate() {
        let a = absorbance(cube, hw)?;
        let mut r = crate::rng::stream(&[seed, 0x9CA, i as u64]);
        for _ in 0..PIXELS_PER_IMAGE {
            let p = r.random_range(0..hw);
            let mut row = [0.0; N_BANDS];
            for k in 0..N_BANDS {
                row[k] = a[k * hw + p];
            }
            rows.push(row);
        }
    }
    let n = rows.len() as f64;
    let mean: Vec<f64> = (0..N_BANDS).map(|k| rows.iter().map(|r| r[k]).sum::<f64>() / n).collect();
    let std: Vec<f64> = (0..N_BANDS)
        .map(|k| (rows.iter().map(|r| (r[k] - mean[k]).powi(2)).sum::<f64>() / n).sqrt().max(1e-9))
        .collect();
    let mut cov = DMatrix::<f64>::zeros(N_BANDS, N_BANDS);
    for r in &rows {
        let z: Vec<f64> = (0..N_BANDS).map(|k| (r[k] - mean[k]) / std[k]).collect();
        for i in 0..N_BANDS {
            for j in 0..N_BANDS {
                cov[(i, j)] += z[i] * z[j];
            }
        }
    }
    cov /= n;
    let eig = SymmetricEigen::new(cov);
    let mut order: Vec<usize> = (0..N_BANDS).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let mut components = Vec::new();
    let mut eigenvalues = Vec::new();
    for &c in order.iter().take(N_COMPONENTS) {
        let mut v: Vec<f64> = (0..N_BANDS).map(|k| eig.eigenvectors[(k, c)]).collect();
        let big = v.iter().copied().max_by(|a, b| a.abs().total_cmp(&b.abs())).unwrap_or(1.0);
        if big < 0.0 {
            v.iter_mut().for_each(|x| *x = -*x);
        }
        components.push(v);
        eigenvalues.push(eig.eigenvalues[c].max(1e-12));
    }
    Ok(PcaBasis { band_mean: mean, band_std: std, components, eigenvalues, n_pixels_fit: rows.len() })
}

/// Project one cube onto the basis: f32 `[3][H*W]`, unit variance, clipped to ±6.
pub fn transform(basis: &PcaBasis, cube: &[u8], hw: usize) -> Result<Vec<f32>> {
    let a = absorbance(cube, hw)?;
    let mut out = vec![0.0f32; N_COMPONENTS * hw];
    for i in 0..hw {
        let z: [f64; N_BANDS] = std::array::from_fn(|k| (a[k * hw + i] - basis.band_mean[k]) / basis.band_std[k]);
        for (c, comp) in basis.components.iter().enumerate() {
            let s: f64 = comp.iter().zip(&z).map(|(w, v)| w * v).sum::<f64>() / basis.eigenvalues[c].sqrt();
            out[c * hw + i] = (s as f32).clamp(-CLIP, CLIP);
        }
    }
    Ok(out)
}

/// Fit on the cubes whose `is_train` flag is set; the others are never read.
pub fn fit_on_split(cubes: &[&[u8]], is_train: &[bool], hw: usize, seed: u64) -> Result<PcaBasis> {
    if cubes.len() != is_train.len() {
        return Err(QcError::LengthMismatch { what: "cubes vs split flags", left: cubes.len(), right: is_train.len() });
    }
    let train: Vec<&[u8]> = cubes.iter().zip(is_train).filter(|(_, t)| **t).map(|(c, _)| *c).collect();
    fit(&train, hw, seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tabulated absorbance equals the per-pixel formula bit for bit (every byte value,
    /// including 0, which is floored at 1, and a band whose median is 0).
    #[test]
    fn tabulated_absorbance_matches_the_per_pixel_formula() {
        let hw = 300;
        let mut cube = vec![0u8; N_BANDS * hw];
        for (i, v) in cube.iter_mut().enumerate() {
            *v = ((i * 37 + i / 7) % 256) as u8;
        }
        cube[..hw].iter_mut().for_each(|v| *v = if *v < 200 { 0 } else { *v }); // band 0: median 0
        let got = absorbance(&cube, hw).expect("absorbance");
        let mut want = vec![0.0f64; N_BANDS * hw];
        for k in 0..N_BANDS {
            let band = &cube[k * hw..(k + 1) * hw];
            let mut sorted = band.to_vec();
            sorted.sort_unstable();
            let med = f64::from(sorted[hw / 2].max(1));
            for i in 0..hw {
                want[k * hw + i] = -(f64::from(band[i].max(1)) / med).ln();
            }
        }
        for i in 0..hw {
            let m: f64 = (0..N_BANDS).map(|k| want[k * hw + i]).sum::<f64>() / N_BANDS as f64;
            (0..N_BANDS).for_each(|k| want[k * hw + i] -= m);
        }
        assert_eq!(got, want);
        assert!(absorbance(&cube[1..], hw).is_err(), "a short cube is refused");
    }
}
