//! Multispectral cube: 11 bands at 400, 450, …, 900 nm (spec §4).
//!
//! ln T_λ = ln g + ln(L_λ Q_λ) − (α_λ − mean_λ α_λ), with lamp L, silicon QE Q and absorbance
//! α from trypan blue (dead cells), cytochromes and scattering (cells), microbes and phenol
//! red. Stored as u8 `[11][H][W]`.

use super::AbsorberMaps;
use crate::image_ops::{GreyImage, randn};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Number of bands.
pub const N_BANDS: usize = 11;
/// Band centres, nm.
pub const BANDS_NM: [f32; N_BANDS] = [400., 450., 500., 550., 600., 650., 700., 750., 800., 850., 900.];

/// Illumination source, drawn per lot.
#[derive(Debug, Clone, Copy)]
pub enum Lamp {
    /// Halogen black body at temperature (K).
    Halogen { temp_k: f32 },
    /// White LED: blue pump + phosphor.
    Led { blue_weight: f32 },
}

impl Lamp {
    pub fn draw(r: &mut ChaCha8Rng) -> Self {
        if r.random_bool(0.5) {
            Lamp::Halogen { temp_k: r.random_range(3000.0..3300.0) }
        } else {
            Lamp::Led { blue_weight: r.random_range(0.3..0.6) }
        }
    }
    /// Relative spectral power at `nm` (≈ ≤ 1).
    pub fn power(self, nm: f32) -> f32 {
        match self {
            Lamp::Halogen { temp_k } => {
                let planck = |l_nm: f32| {
                    let l = l_nm * 1e-9;
                    l.powi(-5) / ((1.4388e-2 / (l * temp_k)).exp() - 1.0)
                };
                planck(nm) / planck(900.0)
            }
            Lamp::Led { blue_weight } => {
                let g = |c: f32, s: f32| (-(nm - c) * (nm - c) / (2.0 * s * s)).exp();
                (blue_weight * g(450.0, 12.0) + g(560.0, 60.0) + 0.02).min(1.0)
            }
        }
    }
}

/// Silicon quantum efficiency, piecewise linear through 0.35/0.7/0.3 at 400/600/900 nm.
pub fn silicon_qe(nm: f32) -> f32 {
    if nm <= 600.0 {
        0.35 + (nm - 400.0) / 200.0 * 0.35
    } else {
        0.7 - (nm - 600.0) / 300.0 * 0.4
    }
}

/// Per-image absorber spectra (per-unit-map absorbance at each band) drawn from the spec's
/// ranges. Row order: cell, dead, microbe, medium.
fn absorber_spectra(r: &mut ChaCha8Rng) -> [[f32; N_BANDS]; 4] {
    let g = |nm: f32, c: f32, s: f32| (-(nm - c) * (nm - c) / (2.0 * s * s)).exp();
    let tb_c: f32 = r.random_range(590.0..607.0);
    let tb_s: f32 = r.random_range(45.0..60.0);
    let tb_a: f32 = r.random_range(0.2..1.0);
    let cyt415: f32 = r.random_range(0.02..0.06);
    let cyt550: f32 = r.random_range(0.01..0.03);
    let s_cell: f32 = r.random_range(0.05..0.15);
    let b_cell: f32 = r.random_range(1.0..2.0);
    let s_dead_mult: f32 = r.random_range(1.5..3.0);
    let b_dead: f32 = r.random_range(-0.5..-0.2);
    let s_mic: f32 = r.random_range(0.1..0.3);
    let b_mic: f32 = r.random_range(2.0..3.0);
    let phenol: f32 = r.random_range(0.0..0.3);
    let mut out = [[0.0f32; N_BANDS]; 4];
    for (k, &nm) in BANDS_NM.iter().enumerate() {
        let x = nm / 500.0;
        let cyto = cyt415 * g(nm, 415.0, 15.0) + cyt550 * g(nm, 550.0, 15.0);
        out[0][k] = cyto + s_cell * x.powf(-b_cell);
        out[1][k] = tb_a * g(nm, tb_c, tb_s) + cyto + s_cell * s_dead_mult * x.powf(-b_dead);
        out[2][k] = s_mic * x.powf(-b_mic);
        out[3][k] = phenol * (0.5 * g(nm, 430.0, 25.0) + g(nm, 558.0, 30.0));
    }
    out
}

/// Build the cube from the final grey image `g` and the absorber maps.
pub fn cube(g: &GreyImage, maps: &AbsorberMaps, lamp: Lamp, r: &mut ChaCha8Rng) -> Vec<u8> {
    let spectra = absorber_spectra(r);
    let means: Vec<f32> = spectra.iter().map(|row| row.iter().sum::<f32>() / N_BANDS as f32).collect();
    let (w, h) = (g.width, g.height);
    let mut out = vec![0u8; N_BANDS * w * h];
    let mut band = vec![0.0f32; w * h];
    for k in 0..N_BANDS {
        let lq = lamp.power(BANDS_NM[k]) * silicon_qe(BANDS_NM[k]);
        let noise_frac: f32 = r.random_range(0.01..0.03);
        // Medium absorbance is uniform: it only changes the band's overall level.
        let medium = (-(spectra[3][k] - means[3])).exp();
        for i in 0..w * h {
            let (c, d, m) = (maps.cell.data[i], maps.dead.data[i], maps.microbe.data[i]);
            let mut t = g.data[i].max(1e-3) * lq * medium;
            if c != 0.0 || d != 0.0 || m != 0.0 {
                let a = c * (spectra[0][k] - means[0]) + d * (spectra[1][k] - means[1]) + m * (spectra[2][k] - means[2]);
                t *= (-a).exp();
            }
            band[i] = t * (1.0 + noise_frac * randn(r) as f32);
        }
        // Band misregistration: sub-pixel bilinear shift of 0.5-1 px in a random direction.
        let shift: f32 = r.random_range(0.5..1.0);
        let ang: f32 = r.random_range(0.0..std::f32::consts::TAU);
        let (dx, dy) = (shift * ang.cos(), shift * ang.sin());
        let dst = &mut out[k * w * h..(k + 1) * w * h];
        for y in 0..h {
            for x in 0..w {
                let sx = (x as f32 + dx).clamp(0.0, (w - 1) as f32);
                let sy = (y as f32 + dy).clamp(0.0, (h - 1) as f32);
                let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
                let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
                let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
                let v = band[y0 * w + x0] * (1.0 - fx) * (1.0 - fy)
                    + band[y0 * w + x1] * fx * (1.0 - fy)
                    + band[y1 * w + x0] * (1.0 - fx) * fy
                    + band[y1 * w + x1] * fx * fy;
                // Scale so that typical bright-field levels use the 8-bit range.
                dst[y * w + x] = (v * 255.0 * 1.6).round().clamp(1.0, 255.0) as u8;
            }
        }
    }
    out
}
