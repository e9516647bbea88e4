//! Multispectral cube: 11 bands at 400, 450, …, 900 nm (spec §4).
//!
//! ln T_λ = ln g + ln(L_λ Q_λ) − (α_λ − mean_λ α_λ), with lamp L, silicon QE Q and absorbance
//! α from trypan blue (dead cells), cytochromes and scattering (cells), microbes and phenol
//! red. Stored as u8 `[11][H][W]`.

use super::AbsorberMaps;
use super::kernels::{NoiseRng, fast_exp, to_u8_min};
use crate::image_ops::GreyImage;
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
///
/// Per band k and pixel i: T = max(g, 1e-3) · L_k Q_k · e^{−(medium_k − mean)} ·
/// e^{−Σ_j map_j(i) (α_jk − mean_j α)} · (1 + noise_k · z), then a bilinear sub-pixel shift of
/// 0.5–1 px (band misregistration) and 8-bit quantisation of 255 · 1.6 · T.
///
/// Speed-ups that keep this model (BENCHMARKS.md, "Render throughput"): z comes from
/// `kernels::NoiseRng` (tabulated N(0, 1), xoshiro256++ seeded from `r`) rather than a ChaCha8
/// ziggurat draw per pixel; the absorber exponential is `kernels::fast_exp` (< 5e-7 relative
/// error) and is skipped outside each row's span of absorbing pixels (where it is exactly 1);
/// the 8-bit scale is folded into the band constant; the bilinear shift interpolates each
/// source row horizontally once, then blends two such rows (the same weights as before, so the
/// result differs from the former per-pixel expression by float rounding only). Same noise
/// statistics, blur and content; a different noise realisation.
pub fn cube(g: &GreyImage, maps: &AbsorberMaps, lamp: Lamp, r: &mut ChaCha8Rng) -> Vec<u8> {
    let spectra = absorber_spectra(r);
    let means: Vec<f32> = spectra.iter().map(|row| row.iter().sum::<f32>() / N_BANDS as f32).collect();
    let (w, h) = (g.width, g.height);
    let n = w * h;
    let mut noise_rng = NoiseRng::from_rng(r);
    let base: Vec<f32> = g.data.iter().map(|v| v.max(1e-3)).collect();
    let (cell, dead, mic) = (&maps.cell.data[..n], &maps.dead.data[..n], &maps.microbe.data[..n]);
    // Per row, the column span [lo, hi) outside which no absorber map is non-zero.
    let spans: Vec<(usize, usize)> = (0..h)
        .map(|y| {
            let any = |x: &usize| {
                let i = y * w + x;
                cell[i] != 0.0 || dead[i] != 0.0 || mic[i] != 0.0
            };
            match (0..w).find(any) {
                Some(lo) => (lo, (lo..w).rfind(any).map_or(lo, |x| x + 1)),
                None => (0, 0),
            }
        })
        .collect();
    let mut out = vec![0u8; N_BANDS * n];
    let mut src = vec![0.0f32; w];
    let mut z = vec![0.0f32; n];
    let mut hrows = vec![0.0f32; n];
    let (mut x0s, mut x1s, mut wx0, mut wx1) = (vec![0usize; w], vec![0usize; w], vec![0.0f32; w], vec![0.0f32; w]);
    for k in 0..N_BANDS {
        let lq = lamp.power(BANDS_NM[k]) * silicon_qe(BANDS_NM[k]);
        let noise_frac: f32 = r.random_range(0.01..0.03);
        // Band misregistration: sub-pixel bilinear shift of 0.5-1 px in a random direction.
        let shift: f32 = r.random_range(0.5..1.0);
        let ang: f32 = r.random_range(0.0..std::f32::consts::TAU);
        let (dx, dy) = (shift * ang.cos(), shift * ang.sin());
        // Medium absorbance is uniform: it only changes the band's overall level.
        let medium = (-(spectra[3][k] - means[3])).exp();
        // Scale so that typical bright-field levels use the 8-bit range.
        let level = lq * medium * (255.0 * 1.6);
        let (a0, a1, a2) = (spectra[0][k] - means[0], spectra[1][k] - means[1], spectra[2][k] - means[2]);
        noise_rng.fill_normal(&mut z);
        for x in 0..w {
            let sx = (x as f32 + dx).clamp(0.0, (w - 1) as f32);
            let x0 = sx as usize; // floor: sx >= 0
            x0s[x] = x0;
            x1s[x] = (x0 + 1).min(w - 1);
            wx1[x] = sx - x0 as f32;
            wx0[x] = 1.0 - wx1[x];
        }
        // Columns whose source pair is (x + ox, x + ox + 1) (all but one or two at the edges)
        // run on contiguous slices; both paths compute the same expression.
        let ox = if dx >= 0.0 { 0isize } else { -1 };
        let inner = |x: usize| x0s[x] as isize == x as isize + ox && x1s[x] == x0s[x] + 1;
        let xa = (0..w).find(|&x| inner(x)).unwrap_or(w);
        let xb = (xa..w).find(|&x| !inner(x)).unwrap_or(w);
        let sa = (xa as isize + ox).max(0) as usize;
        let len = xb - xa;
        for (y, &(lo, hi)) in spans.iter().enumerate() {
            // Transmitted band row ...
            let row = y * w..(y + 1) * w;
            let (b, zz) = (&base[row.clone()], &z[row.clone()]);
            let (c, d, m) = (&cell[row.clone()], &dead[row.clone()], &mic[row.clone()]);
            let plain = |out: &mut [f32], b: &[f32], zz: &[f32]| {
                for ((o, &bv), &zv) in out.iter_mut().zip(b).zip(zz) {
                    *o = bv * level * (1.0 + noise_frac * zv);
                }
            };
            plain(&mut src[..lo], &b[..lo], &zz[..lo]);
            plain(&mut src[hi..], &b[hi..], &zz[hi..]);
            let absorbing = src[lo..hi].iter_mut().zip(&b[lo..hi]).zip(&zz[lo..hi]).zip(&c[lo..hi]).zip(&d[lo..hi]).zip(&m[lo..hi]);
            for (((((o, &bv), &zv), &cv), &dv), &mv) in absorbing {
                let a = cv * a0 + dv * a1 + mv * a2;
                *o = bv * level * fast_exp(-a) * (1.0 + noise_frac * zv);
            }
            // ... interpolated horizontally.
            let hrow = &mut hrows[row];
            for x in (0..xa).chain(xb..w) {
                hrow[x] = src[x0s[x]] * wx0[x] + src[x1s[x]] * wx1[x];
            }
            if len > 0 {
                let (s0, s1) = (&src[sa..sa + len], &src[sa + 1..sa + 1 + len]);
                let (f0, f1) = (&wx0[xa..xb], &wx1[xa..xb]);
                for (j, hv) in hrow[xa..xb].iter_mut().enumerate() {
                    *hv = s0[j] * f0[j] + s1[j] * f1[j];
                }
            }
        }
        // Vertical blend and quantisation (== (v).round().clamp(1, 255); v > 0 always).
        let dst = &mut out[k * n..(k + 1) * n];
        for (y, drow) in dst.chunks_exact_mut(w).enumerate() {
            let sy = (y as f32 + dy).clamp(0.0, (h - 1) as f32);
            let y0 = sy as usize; // floor: sy >= 0
            let y1 = (y0 + 1).min(h - 1);
            let fy = sy - y0 as f32;
            let gy = 1.0 - fy;
            let (h0, h1) = (&hrows[y0 * w..(y0 + 1) * w], &hrows[y1 * w..(y1 + 1) * w]);
            for ((d, &u), &v) in drow.iter_mut().zip(h0).zip(h1) {
                *d = to_u8_min(u * gy + v * fy, 1.0);
            }
        }
    }
    out
}
