//! A plain f32 grey image and the imaging-chain operations (blur, noise, quantisation).
//!
//! # Shapes
//! `GreyImage::data` is row-major `[height][width]`, values nominally in [0, 1].

use rand::Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};

/// Row-major single-channel f32 image.
#[derive(Debug, Clone, PartialEq)]
pub struct GreyImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl GreyImage {
    /// A constant image.
    pub fn filled(width: usize, height: usize, value: f32) -> Self {
        Self { width, height, data: vec![value; width * height] }
    }
    /// Pixel at (x, y); panics on out-of-range indices (internal use with checked loops).
    #[inline]
    pub fn get(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }
    /// Add `v` at (x, y) if inside.
    #[inline]
    pub fn add(&mut self, x: i64, y: i64, v: f32) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let i = y as usize * self.width + x as usize;
            self.data[i] += v;
        }
    }
    /// Quantise to 8 bits (clamped to [0, 1]).
    pub fn to_u8(&self) -> Vec<u8> {
        self.data.iter().map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect()
    }
    /// From 8-bit pixels.
    pub fn from_u8(width: usize, height: usize, px: &[u8]) -> Self {
        Self { width, height, data: px.iter().map(|&v| f32::from(v) / 255.0).collect() }
    }
}

/// The normalised Gaussian kernel of the blur: radius r = ⌈3σ⌉ and its 2r + 1 weights.
fn gaussian_kernel(sigma_px: f32) -> (i64, Vec<f32>) {
    let r = (3.0 * sigma_px).ceil() as i64;
    let mut k: Vec<f32> = (-r..=r).map(|i| (-(i * i) as f32 / (2.0 * sigma_px * sigma_px)).exp()).collect();
    let s: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    (r, k)
}

/// Separable Gaussian blur with standard deviation `sigma_px` (pixels), edge-clamped; kernel
/// radius ⌈3σ⌉. Written as row-wise multiply-adds the compiler vectorises (the renderer's hot
/// path); the test `blur_matches_the_direct_definition` checks it bit for bit against the
/// direct per-pixel double loop.
pub fn gaussian_blur(img: &mut GreyImage, sigma_px: f32) {
    if sigma_px < 0.05 {
        return;
    }
    let (r, k) = gaussian_kernel(sigma_px);
    let (w, h) = (img.width, img.height);
    let r = r as usize;
    let mut tmp = vec![0.0f32; w * h];
    // Horizontal: acc[x] += k[j] * row[clamp(x + j - r)], j ascending.
    for (src, acc) in img.data.chunks_exact(w).zip(tmp.chunks_exact_mut(w)) {
        for (j, &kv) in k.iter().enumerate() {
            // x + j - r < 0  <=>  x < r - j
            let lo = r.saturating_sub(j).min(w);
            // x + j - r > w - 1  <=>  x > w - 1 + r - j
            let hi = (w + r).saturating_sub(j).min(w).max(lo);
            let first = src[0];
            for a in &mut acc[..lo] {
                *a += kv * first;
            }
            if hi > lo {
                let off = lo + j - r; // source index of x = lo (lo >= r - j here)
                for (a, &v) in acc[lo..hi].iter_mut().zip(&src[off..off + (hi - lo)]) {
                    *a += kv * v;
                }
            }
            let last = src[w - 1];
            for a in &mut acc[hi..] {
                *a += kv * last;
            }
        }
    }
    // Vertical: out row y = sum_j k[j] * tmp row clamp(y + j - r), j ascending.
    let hi_row = h as i64 - 1;
    for (y, out) in img.data.chunks_exact_mut(w).enumerate() {
        out.iter_mut().for_each(|v| *v = 0.0);
        for (j, &kv) in k.iter().enumerate() {
            let yy = (y as i64 + j as i64 - r as i64).clamp(0, hi_row) as usize;
            for (o, &v) in out.iter_mut().zip(&tmp[yy * w..(yy + 1) * w]) {
                *o += kv * v;
            }
        }
    }
}

/// Multiply by a linear illumination gradient of relative amplitude `amp` (e.g. 0.15 = 15 %)
/// in direction `angle_rad`.
pub fn illumination_gradient(img: &mut GreyImage, amp: f32, angle_rad: f32) {
    let (c, s) = (angle_rad.cos(), angle_rad.sin());
    let (cx, cy) = (img.width as f32 / 2.0, img.height as f32 / 2.0);
    let norm = img.width.max(img.height) as f32;
    for y in 0..img.height {
        for x in 0..img.width {
            let t = ((x as f32 - cx) * c + (y as f32 - cy) * s) / norm;
            img.data[y * img.width + x] *= 1.0 + amp * t;
        }
    }
}

/// Shot noise with `photons_at_one` expected photons for a pixel value 1 (Gaussian
/// approximation of Poisson) plus Gaussian read noise `read_sigma` (image units).
pub fn add_noise<R: Rng>(img: &mut GreyImage, photons_at_one: f32, read_sigma: f32, rng: &mut R) {
    for v in img.data.iter_mut() {
        let x = v.max(0.0);
        let shot = (x / photons_at_one).sqrt();
        let n1: f32 = rng.sample(StandardNormal);
        let n2: f32 = rng.sample(StandardNormal);
        *v = x + shot * n1 + read_sigma * n2;
    }
}

/// Poisson draw with a guard for non-positive or non-finite means.
pub fn poisson<R: Rng>(mean: f64, rng: &mut R) -> u32 {
    if !(mean > 0.0) || !mean.is_finite() {
        return 0;
    }
    Poisson::new(mean).map(|p| p.sample(rng) as u32).unwrap_or(0)
}

/// Beta draw parameterised by mean and concentration; mean is clamped to [0.01, 0.99].
pub fn beta_mean<R: Rng>(mean: f64, concentration: f64, rng: &mut R) -> f64 {
    let m = mean.clamp(0.01, 0.99);
    rand_distr::Beta::new(m * concentration, (1.0 - m) * concentration)
        .map(|b| b.sample(rng))
        .unwrap_or(m)
}

/// Standard normal draw.
pub fn randn<R: Rng>(rng: &mut R) -> f64 {
    rng.sample(rand_distr::StandardNormal)
}

/// Add a filled ellipse with soft (1 px) edges: centre (cx, cy), semi-axes (a, b) in px,
/// rotation `theta`, amplitude `amp` (added).
pub fn add_ellipse(img: &mut GreyImage, cx: f32, cy: f32, a: f32, b: f32, theta: f32, amp: f32) {
    let r = a.max(b) + 1.5;
    let (c, s) = (theta.cos(), theta.sin());
    let (x0, x1) = ((cx - r).floor() as i64, (cx + r).ceil() as i64);
    let (y0, y1) = ((cy - r).floor() as i64, (cy + r).ceil() as i64);
    for y in y0.max(0)..=y1.min(img.height as i64 - 1) {
        for x in x0.max(0)..=x1.min(img.width as i64 - 1) {
            let dx = x as f32 - cx;
            let dy = y as f32 - cy;
            let u = (dx * c + dy * s) / a.max(0.3);
            let v = (-dx * s + dy * c) / b.max(0.3);
            let d = (u * u + v * v).sqrt();
            // signed distance in px (approx.) and a 1-px soft edge
            let edge = (1.0 - d) * a.min(b).max(0.5);
            let w = (edge + 0.5).clamp(0.0, 1.0);
            if w > 0.0 {
                img.data[y as usize * img.width + x as usize] += amp * w;
            }
        }
    }
}

/// Add an isotropic Gaussian spot of amplitude `amp` and width `sigma` px.
pub fn add_gaussian(img: &mut GreyImage, cx: f32, cy: f32, sigma: f32, amp: f32) {
    let r = (3.0 * sigma).ceil() + 1.0;
    let inv = 1.0 / (2.0 * sigma * sigma);
    for y in ((cy - r).floor() as i64).max(0)..=((cy + r).ceil() as i64).min(img.height as i64 - 1) {
        for x in ((cx - r).floor() as i64).max(0)..=((cx + r).ceil() as i64).min(img.width as i64 - 1) {
            let dx = x as f32 - cx;
            let dy = y as f32 - cy;
            img.data[y as usize * img.width + x as usize] += amp * (-(dx * dx + dy * dy) * inv).exp();
        }
    }
}

#[cfg(test)]
mod blur_tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The direct definition: per pixel, Σⱼ k[j]·img[clamp(x + j − r)], rows then columns.
    fn naive_blur(img: &mut GreyImage, sigma_px: f32) {
        if sigma_px < 0.05 {
            return;
        }
        let (r, k) = gaussian_kernel(sigma_px);
        let (w, h) = (img.width as i64, img.height as i64);
        let mut tmp = vec![0.0f32; img.data.len()];
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0;
                for (j, kv) in k.iter().enumerate() {
                    let xx = (x + j as i64 - r).clamp(0, w - 1);
                    acc += kv * img.data[(y * w + xx) as usize];
                }
                tmp[(y * w + x) as usize] = acc;
            }
        }
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0;
                for (j, kv) in k.iter().enumerate() {
                    let yy = (y + j as i64 - r).clamp(0, h - 1);
                    acc += kv * tmp[(yy * w + x) as usize];
                }
                img.data[(y * w + x) as usize] = acc;
            }
        }
    }

    #[test]
    fn blur_matches_the_direct_definition() {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for &(w, h, sigma) in &[(96usize, 96usize, 1.4f32), (64, 64, 0.3), (7, 5, 1.5), (96, 96, 2.25), (3, 3, 1.2)] {
            let data: Vec<f32> = (0..w * h).map(|_| r.random::<f32>()).collect();
            let mut a = GreyImage { width: w, height: h, data: data.clone() };
            let mut b = GreyImage { width: w, height: h, data };
            naive_blur(&mut a, sigma);
            gaussian_blur(&mut b, sigma);
            assert_eq!(a, b, "{w}x{h} sigma {sigma}");
        }
    }
}
