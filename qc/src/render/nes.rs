//! Neuroepithelial-stem-cell morphology fields (seed 001; spec §8): 96x96 at 2.0 µm/px,
//! phase-like grey. A dense Voronoi sheet of 8–12 µm cells; rosettes of 8–20 elongated cells
//! pointing at a 10–30 µm lumen (count Poisson(1.5(1 − h))); heterogeneity h = area fraction
//! of off-type regions (flattened 2–4x-area cells, loose rounded cells, gaps).

use super::kernels::{self, fast_exp};
use super::{LotNuisance, RenderConfig, Rendered, difficulty_latents, imaging_chain};
use crate::error::Result;
use crate::image_ops::{GreyImage, poisson};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::f32::consts::TAU;

/// Field side, px.
pub const SIZE_PX: usize = 96;
/// Rosette class requires h below this (and a whole rosette in frame).
pub const H_ROSETTE_MAX: f64 = 0.15;
/// Heterogeneous class requires h at or above this.
pub const H_HETERO_MIN: f64 = 0.35;

/// Label rule: 0 = rosette, 1 = heterogeneous, `None` = borderline (excluded from training).
pub fn label(h: f64, n_whole_rosettes: u32) -> Option<usize> {
    if h >= H_HETERO_MIN {
        Some(1)
    } else if h < H_ROSETTE_MAX && n_whole_rosettes >= 1 {
        Some(0)
    } else {
        None
    }
}

struct Rosette {
    x: f32,
    y: f32,
    lumen_r: f32,
    outer_r: f32,
    n_cells: u32,
    phase: f32,
}

struct Scene {
    /// Off-type region per pixel: -1 none, 0 flattened, 1 rounded, 2 gap.
    region: Vec<i8>,
    h: f64,
    rosettes: Vec<Rosette>,
    n_whole: u32,
}

fn sample_scene(h_target: f64, r: &mut ChaCha8Rng) -> Scene {
    let n = SIZE_PX * SIZE_PX;
    let mut region = vec![-1i8; n];
    let mut covered = 0usize;
    let mut guard = 0;
    while (covered as f64) < h_target * n as f64 && guard < 200 {
        guard += 1;
        let (bx, by) = (r.random_range(-10.0f32..106.0), r.random_range(-10.0f32..106.0));
        let br: f32 = r.random_range(8.0..22.0);
        let kind: i8 = r.random_range(0..3);
        // Only the blob's bounding box can pass the distance test (same pixels as a full scan).
        let span = |c: f32| ((c - br).floor().max(0.0) as usize).min(SIZE_PX)..((c + br).ceil().max(-1.0) as usize + 1).min(SIZE_PX);
        for y in span(by) {
            for x in span(bx) {
                let (dx, dy) = (x as f32 - bx, y as f32 - by);
                if dx * dx + dy * dy < br * br && region[y * SIZE_PX + x] < 0 {
                    region[y * SIZE_PX + x] = kind;
                    covered += 1;
                }
            }
        }
    }
    let h = covered as f64 / n as f64;
    let mut rosettes = Vec::new();
    let mut n_whole = 0;
    for _ in 0..poisson(1.5 * (1.0 - h), r) {
        let lumen_r = r.random_range(10.0f32..30.0) / 2.0 / 2.0;
        let outer_r = lumen_r + r.random_range(9.0f32..16.0);
        // centre in a normal region
        let mut placed = None;
        for _ in 0..30 {
            let (x, y) = (r.random_range(0.0..SIZE_PX as f32), r.random_range(0.0..SIZE_PX as f32));
            if region[y as usize * SIZE_PX + x as usize] < 0 {
                placed = Some((x, y));
                break;
            }
        }
        if let Some((x, y)) = placed {
            let whole = x - outer_r >= 0.0 && y - outer_r >= 0.0 && x + outer_r < SIZE_PX as f32 && y + outer_r < SIZE_PX as f32;
            n_whole += u32::from(whole);
            rosettes.push(Rosette { x, y, lumen_r, outer_r, n_cells: r.random_range(8..=20), phase: r.random_range(0.0..TAU) });
        }
    }
    Scene { region, h, rosettes, n_whole }
}

/// Jittered-grid Voronoi: returns (d1, d2, id) of the nearest two seeds.
///
/// Compares squared distances and takes two square roots at the end (instead of nine); the
/// result is the same except that exact ties after rounding may pick the other seed.
fn voronoi(x: f32, y: f32, spacing: f32, seeds: &[(f32, f32)], n_grid: usize) -> (f32, f32, usize) {
    let gx = (x / spacing) as i64;
    let gy = (y / spacing) as i64;
    let (mut q1, mut q2, mut id) = (f32::MAX, f32::MAX, 0);
    let (i0, i1) = ((gx - 1).max(0), (gx + 1).min(n_grid as i64 - 1));
    for j in (gy - 1).max(0)..=(gy + 1).min(n_grid as i64 - 1) {
        for i in i0..=i1 {
            let k = j as usize * n_grid + i as usize;
            let (sx, sy) = seeds[k];
            let q = (x - sx) * (x - sx) + (y - sy) * (y - sy);
            // Branch-free form of `if q < q1 { q2 = q1; q1 = q; id = k } else if q < q2 { q2 = q }`.
            id = if q < q1 { k } else { id };
            q2 = q2.min(q1.max(q));
            q1 = q1.min(q);
        }
    }
    (q1.sqrt(), q2.sqrt(), id)
}

fn grid_seeds(spacing: f32, r: &mut ChaCha8Rng) -> (Vec<(f32, f32)>, Vec<f32>, usize) {
    let n_grid = (SIZE_PX as f32 / spacing).ceil() as usize + 1;
    let mut seeds = Vec::with_capacity(n_grid * n_grid);
    let mut tint = Vec::with_capacity(n_grid * n_grid);
    for j in 0..n_grid {
        for i in 0..n_grid {
            seeds.push(((i as f32 + r.random_range(0.1..0.9)) * spacing, (j as f32 + r.random_range(0.1..0.9)) * spacing));
            tint.push(r.random_range(-0.03f32..0.03));
        }
    }
    (seeds, tint, n_grid)
}

fn draw(cfg: &RenderConfig, lot: &LotNuisance, s: &Scene, r: &mut ChaCha8Rng) -> Rendered {
    let bg = lot.background + r.random_range(-0.02f32..0.02);
    let mut img = GreyImage::filled(SIZE_PX, SIZE_PX, bg);
    let spacing: f32 = r.random_range(4.0..6.0) / lot.pixel_scale;
    let flat_spacing = spacing * r.random_range(1.4f32..2.0);
    let (seeds, tint, n_grid) = grid_seeds(spacing, r);
    let (fseeds, ftint, fn_grid) = grid_seeds(flat_spacing, r);
    let border: f32 = r.random_range(0.08..0.16);
    let bw: f32 = r.random_range(0.6..1.0);
    // Per row: the Voronoi look-ups (scalar), then the shading with two exponentials on whole
    // rows (vectorised). Region -1: sheet; 0: flattened cells; other: flat 0.06.
    let (mut base, mut bscale, mut nscale) = ([0.0f32; SIZE_PX], [0.0f32; SIZE_PX], [0.0f32; SIZE_PX]);
    let (mut d1s, mut d2s) = ([0.0f32; SIZE_PX], [0.0f32; SIZE_PX]);
    for (y, row) in img.data.chunks_exact_mut(SIZE_PX).enumerate() {
        for x in 0..SIZE_PX {
            let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
            (base[x], bscale[x], nscale[x], d1s[x], d2s[x]) = match s.region[y * SIZE_PX + x] {
                -1 => {
                    let (d1, d2, id) = voronoi(xf, yf, spacing, &seeds, n_grid);
                    (tint[id], border, 0.05, d1, d2)
                }
                0 => {
                    let (d1, d2, id) = voronoi(xf, yf, flat_spacing, &fseeds, fn_grid);
                    (0.04 + ftint[id], 0.6 * border, 0.0, d1, d2)
                }
                _ => (0.06, 0.0, 0.0, 0.0, 0.0),
            };
        }
        for x in 0..SIZE_PX {
            let (d1, d2) = (d1s[x], d2s[x]);
            row[x] += base[x] - bscale[x] * fast_exp(-((d2 - d1) / bw).powi(2)) - nscale[x] * fast_exp(-(d1 * d1) / 2.0);
        }
    }
    // Loose rounded cells in `rounded` regions (dense) and a few in gaps.
    for _ in 0..400 {
        let (x, y) = (r.random_range(0.0..SIZE_PX as f32), r.random_range(0.0..SIZE_PX as f32));
        let reg = s.region[y as usize * SIZE_PX + x as usize];
        let p = match reg {
            1 => 0.25,
            2 => 0.02,
            _ => 0.0,
        };
        if p > 0.0 && r.random_bool(p) {
            let rad: f32 = r.random_range(2.5..4.5);
            kernels::add_ellipse2(&mut img, None, x, y, rad + 1.0, rad + 1.0, 0.0, -0.10);
            kernels::add_ellipse2(&mut img, None, x, y, rad, rad, 0.0, 0.22);
        }
    }
    // Rosettes override the sheet inside their outer radius.
    for ro in &s.rosettes {
        let ext = ro.outer_r as i64 + 2;
        let bw_r: f32 = r.random_range(0.6..1.0);
        for y in (ro.y as i64 - ext).max(0)..=(ro.y as i64 + ext).min(SIZE_PX as i64 - 1) {
            for x in (ro.x as i64 - ext).max(0)..=(ro.x as i64 + ext).min(SIZE_PX as i64 - 1) {
                let (dx, dy) = (x as f32 + 0.5 - ro.x, y as f32 + 0.5 - ro.y);
                let d = (dx * dx + dy * dy).sqrt();
                if d > ro.outer_r {
                    continue;
                }
                let i = y as usize * SIZE_PX + x as usize;
                let v = if d < ro.lumen_r {
                    0.10
                } else {
                    let t = (dy.atan2(dx) + ro.phase) / TAU * ro.n_cells as f32;
                    // == t.rem_euclid(1.0) (exact for |t| < 2^23) without the fmodf call.
                    let ti = (t as i32) as f32;
                    let t = t - if ti > t { ti - 1.0 } else { ti };
                    let arc = d * TAU / ro.n_cells as f32 * t.min(1.0 - t);
                    let nucleus = -0.06 * (-((d - (ro.lumen_r + 0.6 * (ro.outer_r - ro.lumen_r))) / 2.0).powi(2)).exp();
                    -border * (-(arc / bw_r).powi(2)).exp() - border * (-((d - ro.lumen_r) / 0.8).powi(2)).exp() + nucleus
                };
                let blend = ((ro.outer_r - d) / 2.0).clamp(0.0, 1.0);
                img.data[i] = (1.0 - blend) * img.data[i] + blend * (bg + v);
            }
        }
    }
    let blur_px = imaging_chain(&mut img, lot, cfg.difficulty, r);
    let mut latents = vec![("h", s.h), ("n_rosettes", s.rosettes.len() as f64), ("n_whole_rosettes", f64::from(s.n_whole))];
    latents.extend(difficulty_latents(blur_px, bg, lot));
    Rendered { image: img, label: label(s.h, s.n_whole), group: 0, latents, spectral: None, particles_px: Vec::new() }
}

pub(crate) fn render_class(cfg: &RenderConfig, lot: &LotNuisance, class: usize, r: &mut ChaCha8Rng) -> Result<Rendered> {
    let draw_h = |r: &mut ChaCha8Rng| if class == 0 { r.random_range(0.0..0.10) } else { r.random_range(0.40..0.85) };
    let mut scene = sample_scene(draw_h(r), r);
    for _ in 0..200 {
        let ok = label(scene.h, scene.n_whole) == Some(class)
            && (scene.h - H_ROSETTE_MAX).abs() >= 0.05
            && (scene.h - H_HETERO_MIN).abs() >= 0.05;
        if ok {
            break;
        }
        scene = sample_scene(draw_h(r), r);
    }
    Ok(draw(cfg, lot, &scene, r))
}
