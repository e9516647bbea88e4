//! Trypan-blue haemocytometer crops (64x64, scale of the real LDC crops; spec §4).
//!
//! Live cells: bright off-centre refractile spot, dark ring, interior near background.
//! Dead cells: no spot, dark granular interior, outline perturbed by Fourier modes 2, 3, 5,
//! radius x1.0–1.35. Grid lines (25 %), 0–2 neighbours and debris are label-independent.

use super::{AbsorberMaps, CultureState, LotNuisance, RenderConfig, Rendered, difficulty_latents, imaging_chain, kernels, spectral};
use crate::error::Result;
use crate::image_ops::{GreyImage, add_gaussian, poisson, randn};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::f32::consts::{PI, TAU};

/// Crop side, px.
pub const SIZE_PX: usize = 64;

/// Label rule: the central cell's state. 0 = live, 1 = dead.
pub fn label(central_dead: bool) -> usize {
    usize::from(central_dead)
}

fn draw_cell(img: &mut GreyImage, maps: &mut AbsorberMaps, cx: f32, cy: f32, dead: bool, r: &mut ChaCha8Rng) -> f32 {
    let base_r: f32 = r.random_range(5.5..9.5);
    if !dead {
        let rad = base_r;
        let ring: f32 = r.random_range(0.10..0.30);
        let w: f32 = r.random_range(0.9..1.8);
        let interior: f32 = r.random_range(-0.03..0.03);
        let spot: f32 = r.random_range(0.25..0.7);
        let sig = rad * r.random_range(0.25..0.45);
        let off = rad * r.random_range(0.0..0.3);
        let ang: f32 = r.random_range(0.0..TAU);
        let ext = (rad + 4.0 * w) as i64 + 1;
        for y in (cy as i64 - ext).max(0)..=(cy as i64 + ext).min(SIZE_PX as i64 - 1) {
            for x in (cx as i64 - ext).max(0)..=(cx as i64 + ext).min(SIZE_PX as i64 - 1) {
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                let d = (dx * dx + dy * dy).sqrt();
                let i = y as usize * SIZE_PX + x as usize;
                let mut v = -ring * (-((d - rad) / w).powi(2)).exp();
                if d < rad {
                    v += interior;
                    maps.cell.data[i] += 1.0;
                }
                img.data[i] += v;
            }
        }
        add_gaussian(img, cx + off * ang.cos(), cy + off * ang.sin(), sig, spot);
        rad
    } else {
        let rad = base_r * r.random_range(1.0..1.35);
        let interior: f32 = r.random_range(0.05..0.25);
        let gran: f32 = r.random_range(0.02..0.08);
        let ring: f32 = r.random_range(0.05..0.2);
        let w: f32 = r.random_range(0.9..1.8);
        let total_amp: f32 = r.random_range(0.08..0.25);
        let modes: Vec<(f32, f32, f32)> = [2.0f32, 3.0, 5.0]
            .iter()
            .map(|&k| (k, total_amp * r.random_range(0.2..1.0) / 1.8, r.random_range(0.0..TAU)))
            .collect();
        let ext = (rad * 1.5 + 4.0 * w) as i64 + 1;
        for y in (cy as i64 - ext).max(0)..=(cy as i64 + ext).min(SIZE_PX as i64 - 1) {
            for x in (cx as i64 - ext).max(0)..=(cx as i64 + ext).min(SIZE_PX as i64 - 1) {
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                let d = (dx * dx + dy * dy).sqrt();
                let phi = dy.atan2(dx);
                let rr = rad * (1.0 + modes.iter().map(|(k, a, p)| a * (k * phi + p).cos()).sum::<f32>());
                let i = y as usize * SIZE_PX + x as usize;
                let mut v = -ring * (-((d - rr) / w).powi(2)).exp();
                let inside = ((rr - d) + 0.5).clamp(0.0, 1.0);
                if inside > 0.0 {
                    v += inside * (-interior + gran * randn(r) as f32);
                    maps.dead.data[i] += inside;
                }
                img.data[i] += v;
            }
        }
        rad
    }
}

fn draw(cfg: &RenderConfig, lot: &LotNuisance, central_dead: bool, n_neigh: u32, r: &mut ChaCha8Rng) -> Rendered {
    let (_, _, debris_s) = cfg.difficulty.scales();
    let bg = lot.background + r.random_range(-0.03f32..0.03);
    let mut img = GreyImage::filled(SIZE_PX, SIZE_PX, bg);
    let mut maps = AbsorberMaps::new(SIZE_PX);
    // Haemocytometer grid lines in 25 % of crops.
    let grid = r.random_bool(0.25);
    if grid {
        let n_lines = r.random_range(1..=3);
        for _ in 0..n_lines {
            let pos: f32 = r.random_range(0.0..SIZE_PX as f32);
            let amp: f32 = -r.random_range(0.05..0.15);
            let horiz = r.random_bool(0.5);
            kernels::add_ellipse2(&mut img, None, if horiz { 32.0 } else { pos }, if horiz { pos } else { 32.0 }, 60.0, r.random_range(0.6..1.4), if horiz { 0.0 } else { PI / 2.0 }, amp);
        }
    }
    let c = SIZE_PX as f32 / 2.0;
    for _ in 0..n_neigh {
        let ang: f32 = r.random_range(0.0..TAU);
        let dist: f32 = r.random_range(20.0..34.0);
        let dead = r.random_bool(0.3);
        draw_cell(&mut img, &mut maps, c + dist * ang.cos(), c + dist * ang.sin(), dead, r);
    }
    let (jx, jy) = (1.0 * randn(r) as f32, 1.0 * randn(r) as f32);
    let radius = draw_cell(&mut img, &mut maps, c + jx, c + jy, central_dead, r);
    for _ in 0..poisson(1.0 * f64::from(debris_s), r) {
        let (x, y) = (r.random_range(0.0..SIZE_PX as f32), r.random_range(0.0..SIZE_PX as f32));
        add_gaussian(&mut img, x, y, r.random_range(0.6..1.8), -r.random_range(0.03..0.12));
    }
    let blur_px = imaging_chain(&mut img, lot, cfg.difficulty, r);
    let spectral = cfg.spectral.then(|| spectral::cube(&img, &maps, lot.lamp, r));
    let mut latents = vec![
        ("central_dead", f64::from(u8::from(central_dead))),
        ("radius_px", f64::from(radius)),
        ("n_neighbours", f64::from(n_neigh)),
        ("grid", f64::from(u8::from(grid))),
    ];
    latents.extend(difficulty_latents(blur_px, bg, lot));
    Rendered { image: img, label: Some(label(central_dead)), group: 0, latents, spectral, particles_px: Vec::new() }
}

pub(crate) fn render_class(cfg: &RenderConfig, lot: &LotNuisance, class: usize, r: &mut ChaCha8Rng) -> Result<Rendered> {
    let n_neigh = r.random_range(0..=2);
    Ok(draw(cfg, lot, class == 1, n_neigh, r))
}

pub(crate) fn render_state(cfg: &RenderConfig, lot: &LotNuisance, st: &CultureState, r: &mut ChaCha8Rng) -> Result<Rendered> {
    let dead = r.random_bool((1.0 - st.viability_frac).clamp(0.0, 1.0));
    // Neighbour density scales with VCD (about 1 neighbour per crop at 10e6 cells/mL).
    let n_neigh = poisson(st.vcd_1e6_per_ml.max(0.0) / 10.0, r).min(3);
    Ok(draw(cfg, lot, dead, n_neigh, r))
}
