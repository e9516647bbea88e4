//! Fast inner loops of the renderer (profiling notes in BENCHMARKS.md, "Render throughput").
//!
//! * [`NoiseRng`]: per-pixel Gaussian noise. A hand-rolled xoshiro256++ (Blackman & Vigna
//!   2018), seeded from the image's `ChaCha8Rng`, whose 64-bit outputs are split into four
//!   16-bit uniforms, each mapped through a 65,536-entry table of standard-normal quantiles
//!   (inverse CDF at (i + ½)/65,536, rescaled to unit variance). This replaces one ChaCha8
//!   ziggurat draw per sample. The marginal is N(0, 1) quantised to 65,536 equiprobable levels
//!   and truncated at ±4.3 σ (probability 1.5e-5); the mean is 0 and the variance exactly 1,
//!   samples are independent. With 1–3 % band noise and read/shot noise of a few grey levels
//!   the difference is far below one 8-bit step.
//! * [`fast_exp`]: branch-free, vectorisable `exp` (Cody–Waite range reduction + degree-6
//!   polynomial, relative error < 5e-7). Exactly 1 at 0, so background pixels are unchanged.
//! * [`add_ellipse2`]: `image_ops::add_ellipse` into the image and (optionally) an absorber map
//!   in one pass (bit-identical to two calls).
//! * [`round_nonneg`]: `f32::round` for non-negative values without the libm call (the build
//!   targets baseline x86-64, where `round` is not inlined).

use crate::image_ops::GreyImage;
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use std::sync::OnceLock;

/// xoshiro256++ used only for per-pixel noise.
pub(crate) struct NoiseRng {
    s: [u64; 4],
}

impl NoiseRng {
    /// Seed from four words of the image's stream (deterministic given the seed).
    pub(crate) fn from_rng(r: &mut ChaCha8Rng) -> Self {
        let mut s = [0u64; 4];
        for v in &mut s {
            *v = r.next_u64();
        }
        if s == [0; 4] {
            s[0] = 0x9E37_79B9_7F4A_7C15;
        }
        Self { s }
    }

    #[inline(always)]
    pub(crate) fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Fill `out` with standard-normal samples (see the module notes).
    pub(crate) fn fill_normal(&mut self, out: &mut [f32]) {
        let table = normal_table();
        let mut chunks = out.chunks_exact_mut(4);
        for c in &mut chunks {
            let u = self.next_u64();
            c[0] = table[(u & 0xFFFF) as usize];
            c[1] = table[((u >> 16) & 0xFFFF) as usize];
            c[2] = table[((u >> 32) & 0xFFFF) as usize];
            c[3] = table[(u >> 48) as usize];
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let mut u = self.next_u64();
            for v in rest {
                *v = table[(u & 0xFFFF) as usize];
                u >>= 16;
            }
        }
    }
}

const TABLE_BITS: u32 = 16;
const TABLE_LEN: usize = 1 << TABLE_BITS;

/// Standard-normal quantiles at (i + ½)/N, rescaled to unit variance (built once).
fn normal_table() -> &'static [f32] {
    static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let n = TABLE_LEN as f64;
        let z: Vec<f64> = (0..TABLE_LEN).map(|i| inv_normal_cdf((i as f64 + 0.5) / n)).collect();
        // Symmetric by construction, so the mean is 0; rescale the variance to exactly 1.
        let var = z.iter().map(|v| v * v).sum::<f64>() / n;
        let k = 1.0 / var.sqrt();
        z.iter().map(|v| (v * k) as f32).collect()
    })
}

/// Inverse standard-normal CDF (Acklam's rational approximation, relative error < 1.2e-9),
/// made exactly antisymmetric by evaluating the lower half only.
fn inv_normal_cdf(p: f64) -> f64 {
    if p > 0.5 {
        return -inv_normal_cdf(1.0 - p);
    }
    const A: [f64; 6] = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.383_577_518_672_69e2, -3.066479806614716e1, 2.506628277459239];
    const B: [f64; 5] = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    const P_LOW: f64 = 0.02425;
    if p < P_LOW {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// `exp(x)` for |x| ≲ 80 without libm: x = n ln2 + f, |f| ≤ ln2/2, e^f by a degree-6 Taylor
/// polynomial (relative error < 5e-7 over [-20, 20], tested), 2^n from the exponent bits.
/// Inputs are clamped to [-87, 88]. Exactly 1.0 at 0.
#[inline(always)]
pub(crate) fn fast_exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding and subtracting rounds to an integer
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + MAGIC;
    let n = t - MAGIC;
    let f = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0 + f * (1.0 + f * (0.5 + f * (1.0 / 6.0 + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0))))));
    // The low mantissa bits of t hold n (two's complement), so 2^n needs no float-to-int
    // conversion (keeps the loop vectorisable).
    let ni = t.to_bits().wrapping_sub(MAGIC.to_bits());
    let scale = f32::from_bits(ni.wrapping_add(127) << 23);
    p * scale
}

/// `x.round()` for `0 <= x < 2^22` (half away from zero, like `f32::round`), branch-free.
#[inline(always)]
pub(crate) fn round_nonneg(x: f32) -> f32 {
    const MAGIC: f32 = 8_388_608.0; // 2^23: x + 2^23 rounds x to the nearest integer, ties to even
    let r = (x + MAGIC) - MAGIC;
    // Only ties rounded down (to an even r) differ from half-away-from-zero.
    if x - r >= 0.5 { r + 1.0 } else { r }
}

/// `y.round().clamp(lo, 255)` as a byte for `y >= 0` with `lo >= 1`: rounding
/// differs from `f32::round` only below 0.5, where the clamp to `lo` hides it.
#[inline(always)]
pub(crate) fn to_u8_min(y: f32, lo: f32) -> u8 {
    ((y.clamp(lo, 255.0) + 0.5) as i32) as u8
}

/// `image_ops::add_ellipse(img, …, amp)` and, when `map` is given, `add_ellipse(map, …, 1.0)`
/// in one pass; same values as the two separate calls (pixels outside the ellipse get `+ 0`
/// instead of being skipped, so the row loops vectorise).
#[allow(clippy::too_many_arguments)]
pub(crate) fn add_ellipse2(img: &mut GreyImage, map: Option<&mut GreyImage>, cx: f32, cy: f32, a: f32, b: f32, theta: f32, amp: f32) {
    let r = a.max(b) + 1.5;
    let (c, s) = (theta.cos(), theta.sin());
    let (x0, x1) = ((cx - r).floor() as i64, (cx + r).ceil() as i64);
    let (y0, y1) = ((cy - r).floor() as i64, (cy + r).ceil() as i64);
    let (xs, xe) = (x0.max(0), x1.min(img.width as i64 - 1));
    if xs > xe {
        return;
    }
    let (am, bm, ab) = (a.max(0.3), b.max(0.3), a.min(b).max(0.5));
    let (xs, len) = (xs as usize, (xe - xs + 1) as usize);
    let mut weights = vec![0.0f32; len];
    let mut map = map;
    for y in y0.max(0)..=y1.min(img.height as i64 - 1) {
        let dy = y as f32 - cy;
        for (j, wv) in weights.iter_mut().enumerate() {
            let dx = (xs as i32 + j as i32) as f32 - cx;
            let u = (dx * c + dy * s) / am;
            let v = (-dx * s + dy * c) / bm;
            let d = (u * u + v * v).sqrt();
            let edge = (1.0 - d) * ab;
            *wv = (edge + 0.5).clamp(0.0, 1.0);
        }
        let row = y as usize * img.width + xs..y as usize * img.width + xs + len;
        for (p, &wv) in img.data[row.clone()].iter_mut().zip(&weights) {
            *p += amp * wv;
        }
        if let Some(m) = map.as_deref_mut() {
            for (p, &wv) in m.data[row].iter_mut().zip(&weights) {
                *p += wv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image_ops;
    use rand::SeedableRng;

    #[test]
    fn ellipse2_matches_two_calls() {
        let mut a = GreyImage::filled(40, 30, 0.5);
        let mut am = GreyImage::filled(40, 30, 0.0);
        let mut b = a.clone();
        let mut bm = am.clone();
        for &(cx, cy, ea, eb, th, amp) in &[(10.3f32, 12.7f32, 7.0f32, 3.0f32, 0.4f32, -0.1f32), (-2.0, 29.5, 4.0, 4.0, 0.0, 0.2), (20.0, 15.0, 0.2, 0.1, 1.0, -0.3)] {
            image_ops::add_ellipse(&mut a, cx, cy, ea, eb, th, amp);
            image_ops::add_ellipse(&mut am, cx, cy, ea, eb, th, 1.0);
            add_ellipse2(&mut b, Some(&mut bm), cx, cy, ea, eb, th, amp);
        }
        assert_eq!(a, b);
        assert_eq!(am, bm);
    }

    #[test]
    fn fast_exp_and_round_are_accurate() {
        assert_eq!(fast_exp(0.0), 1.0);
        let mut x = -20.0f32;
        while x < 20.0 {
            let (e, f) = (x.exp(), fast_exp(x));
            assert!(((f - e) / e).abs() < 5e-7, "exp({x}): {f} vs {e}");
            x += 0.001_37;
        }
        for &v in &[0.0f32, 0.49999997, 0.5, 1.5, 2.5, 254.49, 254.5, 1e6 + 0.5, 3.999_999_8, 7.5000005, 6.4999995] {
            assert_eq!(round_nonneg(v), v.round(), "{v}");
        }
        let mut y = 0.0f32;
        while y < 300.0 {
            assert_eq!(to_u8_min(y, 1.0), y.round().clamp(1.0, 255.0) as u8, "{y}");
            y += 0.013;
        }
        for &y in &[0.49999997f32, 0.5, 1.4999999, 1.5, 254.5, 255.5, 1e9] {
            assert_eq!(to_u8_min(y, 1.0), y.round().clamp(1.0, 255.0) as u8, "{y}");
        }
    }

    #[test]
    fn table_noise_is_standard_normal() {
        let t = normal_table();
        let n = t.len() as f64;
        let mean = t.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = t.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5, "{mean} {var}");
        assert!((t[TABLE_LEN / 2 + TABLE_LEN / 4] - 0.6745).abs() < 1e-3, "upper quartile");
        let mut g = NoiseRng::from_rng(&mut ChaCha8Rng::seed_from_u64(1));
        let mut buf = vec![0.0f32; 200_003];
        g.fill_normal(&mut buf);
        let m = buf.iter().map(|&v| f64::from(v)).sum::<f64>() / buf.len() as f64;
        let v = buf.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / buf.len() as f64;
        let k4 = buf.iter().map(|&x| f64::from(x).powi(4)).sum::<f64>() / buf.len() as f64;
        assert!(m.abs() < 0.01 && (v - 1.0).abs() < 0.015 && (k4 - 3.0).abs() < 0.1, "mean {m} var {v} m4 {k4}");
        // Neighbouring samples (same and consecutive u64 words) are uncorrelated.
        let c = buf.windows(2).map(|p| f64::from(p[0]) * f64::from(p[1])).sum::<f64>() / buf.len() as f64;
        assert!(c.abs() < 0.01, "lag-1 correlation {c}");
    }
}
