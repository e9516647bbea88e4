//! Microcarrier bead images (96x96 at 3.5 µm/px, spec §2–§4).
//!
//! A scene (beads, cells, particles) is sampled first, the label rule is applied to the scene,
//! and only then is it drawn, so rejection sampling for class balance is cheap.

use super::kernels::{self, fast_exp};
use super::{AbsorberMaps, CultureState, LotNuisance, RenderConfig, Rendered, difficulty_latents, imaging_chain, spectral};
use crate::error::Result;
use crate::image_ops::{GreyImage, add_gaussian, beta_mean, poisson, randn};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::f32::consts::{PI, TAU};

/// Image side, px.
pub const SIZE_PX: usize = 96;
/// Nominal pixel size, µm.
pub const UM_PER_PX: f32 = 3.5;
/// Contamination threshold (particles per field).
pub const CONTAMINATION_PARTICLES: u32 = 12;
/// Minimum visible cells for the dead-dominant rule.
pub const DEAD_MIN_CELLS: u32 = 5;
/// Dead-fraction threshold.
pub const DEAD_FRAC: f64 = 0.30;
/// Coverage threshold (seed's low/high confluence split).
pub const COVERAGE_SPLIT: f64 = 0.5;

/// What the label rule reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct McLatents {
    /// Cell coverage of the central bead, fraction.
    pub coverage: f64,
    /// Visible cells on the central bead or cluster.
    pub n_cells: u32,
    /// Of which dead.
    pub n_dead: u32,
    /// The central bead touches another bead through bridging cells.
    pub touching: bool,
    /// Microbial particles in the field.
    pub n_particles: u32,
}

/// Label rule (spec §3), first match wins. Returns the index into
/// `["good", "under_confluent", "aggregated", "dead_dominant", "contaminated"]`.
pub fn label(l: &McLatents) -> usize {
    if l.n_particles >= CONTAMINATION_PARTICLES {
        4
    } else if l.n_cells >= DEAD_MIN_CELLS && f64::from(l.n_dead) >= DEAD_FRAC * f64::from(l.n_cells) {
        3
    } else if l.touching {
        2
    } else if l.coverage < COVERAGE_SPLIT {
        1
    } else {
        0
    }
}

/// True when the latents sit within the redraw margin of a threshold that matters for `class`
/// (±0.05 in coverage and dead fraction, ±3 particles).
fn near_threshold(l: &McLatents, class: usize) -> bool {
    let p = l.n_particles as i64;
    if (p - i64::from(CONTAMINATION_PARTICLES)).abs() <= 3 {
        return true;
    }
    if class == 4 {
        return false;
    }
    if l.n_cells >= DEAD_MIN_CELLS {
        let f = f64::from(l.n_dead) / f64::from(l.n_cells);
        if (f - DEAD_FRAC).abs() < 0.05 {
            return true;
        }
    }
    if class <= 1 && (l.coverage - COVERAGE_SPLIT).abs() < 0.05 {
        return true;
    }
    false
}

#[derive(Debug, Clone)]
struct Bead {
    x: f32,
    y: f32,
    r_px: f32,
    coverage: f64,
}

#[derive(Debug, Clone)]
struct Cell {
    x: f32,
    y: f32,
    a: f32,
    b: f32,
    theta: f32,
    dead: bool,
    amp: f32,
}

#[derive(Debug, Clone)]
struct Scene {
    beads: Vec<Bead>,
    cells: Vec<Cell>,
    particles: Vec<(f32, f32, f32, f32)>,
    latents: McLatents,
    dead_frac: f64,
    bead_diameter_um: f32,
}

struct SceneParams {
    coverage: f64,
    dead_frac: f64,
    n_touching: u32,
    neighbour_not_touching: bool,
    n_particles: u32,
}

fn sample_scene(p: &SceneParams, lot: &LotNuisance, r: &mut ChaCha8Rng) -> Scene {
    let um_px = UM_PER_PX * lot.pixel_scale;
    let c = SIZE_PX as f32 / 2.0;
    let diam_um = (190.0 + 25.0 * randn(r) as f32).clamp(125.0, 300.0);
    let r0 = diam_um / 2.0 / um_px;
    let mut beads = vec![Bead { x: c + 3.0 * randn(r) as f32, y: c + 3.0 * randn(r) as f32, r_px: r0, coverage: p.coverage }];
    let mut contacts = Vec::new();
    for j in 0..p.n_touching {
        let d2 = (190.0 + 25.0 * randn(r) as f32).clamp(125.0, 300.0) / 2.0 / um_px;
        let ang = r.random_range(0.0..TAU) + j as f32 * 2.0;
        let dist = (r0 + d2) * r.random_range(0.85..1.0);
        let (bx, by) = (beads[0].x + dist * ang.cos(), beads[0].y + dist * ang.sin());
        beads.push(Bead { x: bx, y: by, r_px: d2, coverage: (p.coverage + 0.1 * randn(r)).clamp(0.3, 1.0) });
        contacts.push((ang, r0));
    }
    if p.neighbour_not_touching {
        let d2 = (190.0 + 25.0 * randn(r) as f32).clamp(125.0, 300.0) / 2.0 / um_px;
        let ang = r.random_range(0.0..TAU);
        let dist = (r0 + d2) * r.random_range(1.12..1.4);
        beads.push(Bead {
            x: beads[0].x + dist * ang.cos(),
            y: beads[0].y + dist * ang.sin(),
            r_px: d2,
            coverage: r.random_range(0.05..1.0),
        });
    }
    let cell_area_um2 = PI / 4.0 * 37.5 * 15.0;
    let mut cells = Vec::new();
    let (mut n_cells, mut n_dead) = (0u32, 0u32);
    let n_cluster = 1 + p.n_touching as usize;
    for (bi, bead) in beads.iter().enumerate() {
        let r_um = bead.r_px * um_px;
        let mean = bead.coverage * 4.0 * f64::from(PI) * f64::from(r_um * r_um) / f64::from(cell_area_um2) / 2.0;
        let n = poisson(mean, r);
        for _ in 0..n {
            let dead = r.random_bool(p.dead_frac.clamp(0.0, 1.0));
            let z: f32 = r.random_range(0.0..1.0);
            let phi: f32 = r.random_range(0.0..TAU);
            let rho = bead.r_px * (1.0 - z * z).sqrt();
            let (x, y) = (bead.x + rho * phi.cos(), bead.y + rho * phi.sin());
            let fore = z.max(0.25);
            let psi: f32 = r.random_range(0.0..PI);
            let (a0, b0, amp) = if dead {
                let rr = r.random_range(10.0..15.0) / 2.0 / um_px;
                (rr, rr, -r.random_range(0.10..0.25))
            } else {
                (r.random_range(25.0..50.0) / 2.0 / um_px, r.random_range(10.0..20.0) / 2.0 / um_px, -r.random_range(0.04..0.12))
            };
            let cr = (psi - phi).cos();
            let sr = (psi - phi).sin();
            let a = a0 * (cr * cr * fore * fore + sr * sr).sqrt();
            let b = b0 * (sr * sr * fore * fore + cr * cr).sqrt();
            let inside = x >= 0.0 && y >= 0.0 && x < SIZE_PX as f32 && y < SIZE_PX as f32;
            if bi < n_cluster && inside {
                n_cells += 1;
                if dead {
                    n_dead += 1;
                }
            }
            cells.push(Cell { x, y, a, b, theta: psi, dead, amp });
        }
    }
    // Bridging cells at each contact (1-4, 30-80 µm long, along the centre line).
    for (ang, rc) in &contacts {
        let n_bridge = r.random_range(1..=4);
        for _ in 0..n_bridge {
            let off = r.random_range(-6.0f32..6.0);
            let (px, py) = (beads[0].x + rc * ang.cos() - off * ang.sin(), beads[0].y + rc * ang.sin() + off * ang.cos());
            let len = r.random_range(30.0..80.0) / 2.0 / um_px;
            cells.push(Cell { x: px, y: py, a: len, b: r.random_range(1.4..2.6), theta: *ang, dead: false, amp: -r.random_range(0.06..0.14) });
        }
    }
    // Loose dead cells in the medium (not on the bead; not counted).
    for _ in 0..poisson(2.0 * p.dead_frac, r) {
        let rr = r.random_range(10.0..15.0) / 2.0 / um_px;
        cells.push(Cell {
            x: r.random_range(0.0..SIZE_PX as f32),
            y: r.random_range(0.0..SIZE_PX as f32),
            a: rr,
            b: rr,
            theta: 0.0,
            dead: true,
            amp: -r.random_range(0.10..0.25),
        });
    }
    // Microbial particles: 30 % in clumps of 2-6.
    let mut particles = Vec::new();
    while (particles.len() as u32) < p.n_particles {
        let (x, y) = (r.random_range(2.0..SIZE_PX as f32 - 2.0), r.random_range(2.0..SIZE_PX as f32 - 2.0));
        let k = if r.random_bool(0.3) { r.random_range(2..=6) } else { 1 };
        for _ in 0..k {
            if particles.len() as u32 >= p.n_particles {
                break;
            }
            let amp = if r.random_bool(0.7) { -r.random_range(0.04..0.10) } else { r.random_range(0.03..0.06) };
            particles.push((x + 1.2 * randn(r) as f32, y + 1.2 * randn(r) as f32, r.random_range(0.5..0.8), amp));
        }
    }
    let latents = McLatents { coverage: p.coverage, n_cells, n_dead, touching: p.n_touching > 0, n_particles: p.n_particles };
    Scene { beads, cells, particles, latents, dead_frac: p.dead_frac, bead_diameter_um: diam_um }
}

fn draw(cfg: &RenderConfig, lot: &LotNuisance, s: &Scene, r: &mut ChaCha8Rng) -> Rendered {
    let (_, _, debris_s) = cfg.difficulty.scales();
    let bg = lot.background + r.random_range(-0.02f32..0.02);
    let mut img = GreyImage::filled(SIZE_PX, SIZE_PX, bg);
    let mut maps = AbsorberMaps::new(SIZE_PX);
    for b in &s.beads {
        let body: f32 = r.random_range(0.01..0.06);
        let rim: f32 = r.random_range(0.15..0.35);
        let w: f32 = r.random_range(1.0..2.0);
        let halo: f32 = r.random_range(0.03..0.08);
        let lens: f32 = r.random_range(0.03..0.15);
        let sig_lens = 0.15 * b.r_px;
        // Only the bead's bounding box can pass the distance test below (same pixels, same values).
        let reach = b.r_px + 4.0 * w + 1.0;
        let ys = ((b.y - reach).floor().max(0.0) as usize).min(SIZE_PX)..((b.y + reach).ceil().max(0.0) as usize + 1).min(SIZE_PX);
        let xs = ((b.x - reach).floor().max(0.0) as usize).min(SIZE_PX)..((b.x + reach).ceil().max(0.0) as usize + 1).min(SIZE_PX);
        // Branch-free with `fast_exp` (relative error < 5e-7) so the row loop vectorises;
        // pixels beyond the bead's reach get + 0 as before.
        let x_first = xs.start;
        for y in ys {
            let dy = y as f32 - b.y;
            let row = &mut img.data[y * SIZE_PX + xs.start..y * SIZE_PX + xs.end];
            for (j, px) in row.iter_mut().enumerate() {
                let dx = (x_first as i32 + j as i32) as f32 - b.x;
                let d = (dx * dx + dy * dy).sqrt();
                let mut v = -rim * fast_exp(-((d - b.r_px) / w).powi(2));
                v += if d < b.r_px { body } else { 0.0 };
                v += halo * fast_exp(-((d - 0.85 * b.r_px) / (0.06 * b.r_px)).powi(2));
                v += lens * fast_exp(-(d * d) / (2.0 * sig_lens * sig_lens));
                *px += if d > b.r_px + 4.0 * w { 0.0 } else { v };
            }
        }
    }
    // Absorber maps only feed the spectral cube: skipped without one (the grey image is the same).
    for c in &s.cells {
        let map = if c.dead { &mut maps.dead } else { &mut maps.cell };
        kernels::add_ellipse2(&mut img, cfg.spectral.then_some(map), c.x, c.y, c.a, c.b, c.theta, c.amp);
    }
    for &(x, y, sig, amp) in &s.particles {
        add_gaussian(&mut img, x, y, sig, amp);
        if cfg.spectral {
            add_gaussian(&mut maps.microbe, x, y, sig, 1.0);
        }
    }
    let mut haze = 0.0f32;
    if !s.particles.is_empty() {
        haze = r.random_range(0.01..0.05);
        let mean = img.data.iter().sum::<f32>() / img.data.len() as f32;
        img.data.iter_mut().for_each(|v| *v = mean + (*v - mean) * (1.0 - haze));
    }
    // Debris (label-independent): larger specks and fibres; air bubble in 5 % of images.
    for _ in 0..poisson(1.5 * f64::from(debris_s), r) {
        let (x, y) = (r.random_range(0.0..SIZE_PX as f32), r.random_range(0.0..SIZE_PX as f32));
        if r.random_bool(0.7) {
            add_gaussian(&mut img, x, y, r.random_range(1.2..2.5), -r.random_range(0.03..0.08));
        } else {
            kernels::add_ellipse2(&mut img, None, x, y, r.random_range(6.0..14.0), 0.5, r.random_range(0.0..PI), -r.random_range(0.03..0.07));
        }
    }
    if r.random_bool(0.05) {
        let (x, y, rad) = (r.random_range(0.0..SIZE_PX as f32), r.random_range(0.0..SIZE_PX as f32), r.random_range(5.0..12.0));
        kernels::add_ellipse2(&mut img, None, x, y, rad, rad, 0.0, 0.08);
        kernels::add_ellipse2(&mut img, None, x, y, rad + 1.2, rad + 1.2, 0.0, -0.12);
        kernels::add_ellipse2(&mut img, None, x, y, rad, rad, 0.0, 0.12);
    }
    let blur_px = imaging_chain(&mut img, lot, cfg.difficulty, r);
    let spectral = cfg.spectral.then(|| spectral::cube(&img, &maps, lot.lamp, r));
    let l = s.latents;
    let mut latents = vec![
        ("coverage", l.coverage),
        ("dead_frac", s.dead_frac),
        ("n_cells", f64::from(l.n_cells)),
        ("n_dead", f64::from(l.n_dead)),
        ("touching", f64::from(u8::from(l.touching))),
        ("n_particles", f64::from(l.n_particles)),
        ("bead_diameter_um", f64::from(s.bead_diameter_um)),
    ];
    latents.extend(difficulty_latents(blur_px, bg, lot));
    let vis = particle_visibility(&s.particles, 1.0 - haze, blur_px, bg, lot);
    latents.extend([("particle_snr", vis.snr_rss), ("n_particles_snr_ge_3", f64::from(vis.n_snr_ge_3))]);
    let particles_px = s.particles.iter().map(|&(x, y, _, _)| (x, y)).collect();
    Rendered { image: img, label: Some(label(&l)), group: 0, latents, spectral, particles_px }
}

/// How visible a bead's microbial particles are in the finished image (diagnostic latents
/// for `labels.csv`; computed from the scene and the imaging chain, no random draws, so the
/// pixels are the same with or without it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParticleVisibility {
    /// Root-sum-square of the particles' matched-filter SNRs (0 without particles).
    pub snr_rss: f64,
    /// Particles whose own matched-filter SNR is at least 3.
    pub n_snr_ge_3: u32,
}

/// Matched-filter SNR of each particle: a Gaussian spot of σ_p and amplitude A, scaled by the
/// haze factor and blurred by σ_b, is a Gaussian of width s = √(σ_p² + σ_b²) and peak
/// A·σ_p²/s²; against white noise of σ_n its ideal detector reaches peak·√π·s / σ_n. σ_n is
/// the shot + read + 8-bit quantisation noise at the background level (the particles sit on
/// the bead body and the medium alike, both near background). Overlap with cells, debris and
/// the bead rim is ignored, so this is an upper bound on what any detector can see.
pub fn particle_visibility(particles: &[(f32, f32, f32, f32)], contrast: f32, blur_px: f32, bg: f32, lot: &LotNuisance) -> ParticleVisibility {
    let bg = f64::from(bg.max(0.0));
    let sigma_n = (bg / f64::from(lot.photons_at_one) + f64::from(lot.read_sigma).powi(2) + (1.0 / 255.0f64).powi(2) / 12.0).sqrt();
    let sb2 = f64::from(blur_px).powi(2);
    let mut sum_sq = 0.0;
    let mut n_snr_ge_3 = 0;
    for &(_, _, sig, amp) in particles {
        let sp2 = f64::from(sig).powi(2);
        let s2 = sp2 + sb2;
        let peak = f64::from(amp.abs() * contrast) * sp2 / s2;
        let snr = peak * (std::f64::consts::PI * s2).sqrt() / sigma_n;
        sum_sq += snr * snr;
        n_snr_ge_3 += u32::from(snr >= 3.0);
    }
    ParticleVisibility { snr_rss: sum_sq.sqrt(), n_snr_ge_3 }
}

/// Scene parameters for `class`. With `margin` the ranges stay clear of the label thresholds
/// (contaminated 15–40 particles, others 0–8; dead fraction ≥ 0.38 or ≤ 0.22; coverage ≤ 0.45
/// or ≥ 0.55); without it they reach the thresholds (12 particles, 0.30, 0.5). The same draws
/// in the same order either way, so margin renders are unchanged by the option.
fn params_for_class(class: usize, margin: bool, r: &mut ChaCha8Rng) -> SceneParams {
    let m = |with: f64, without: f64| if margin { with } else { without };
    let (min_contaminated, max_clean) = if margin {
        (CONTAMINATION_PARTICLES + 3, CONTAMINATION_PARTICLES - 4)
    } else {
        (CONTAMINATION_PARTICLES, CONTAMINATION_PARTICLES - 1)
    };
    let n_particles = if class == 4 {
        r.random_range(min_contaminated..=40)
    } else if r.random_bool(0.5) {
        0
    } else {
        r.random_range(1..=max_clean)
    };
    let dead_frac = match class {
        3 => r.random_range(m(0.38, DEAD_FRAC)..0.8),
        4 => r.random_range(0.0..0.8),
        _ => r.random_range(0.0..m(0.22, DEAD_FRAC)),
    };
    let coverage = match class {
        1 => r.random_range(0.05..m(0.45, COVERAGE_SPLIT)),
        0 => r.random_range(m(0.55, COVERAGE_SPLIT)..0.98),
        2 => r.random_range(0.5..0.98),
        _ => r.random_range(0.1..0.95),
    };
    let n_touching = match class {
        2 => r.random_range(1..=3),
        0 | 1 => 0,
        _ => u32::from(r.random_bool(0.3)),
    };
    SceneParams { coverage, dead_frac, n_touching, neighbour_not_touching: r.random_bool(0.4), n_particles }
}

/// Render one image of class `class` (rejection sampling on the scene).
pub(crate) fn render_class(cfg: &RenderConfig, lot: &LotNuisance, class: usize, r: &mut ChaCha8Rng) -> Result<Rendered> {
    let margin = cfg.threshold_margin;
    let mut scene = sample_scene(&params_for_class(class, margin, r), lot, r);
    for _ in 0..200 {
        if label(&scene.latents) == class && !(margin && near_threshold(&scene.latents, class)) {
            break;
        }
        scene = sample_scene(&params_for_class(class, margin, r), lot, r);
    }
    Ok(draw(cfg, lot, &scene, r))
}

fn smoothstep(x: f64) -> f64 {
    let t = x.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Render from a culture state (spec §2); label follows the rule, no margin.
pub(crate) fn render_state(cfg: &RenderConfig, lot: &LotNuisance, st: &CultureState, r: &mut ChaCha8Rng) -> Result<Rendered> {
    let c_bar = (st.vcd_1e6_per_ml / 10.0).min(1.0);
    let coverage = beta_mean(c_bar, 12.0, r);
    let dead_frac = beta_mean(1.0 - st.viability_frac, 20.0, r);
    let pv = st.power_per_volume_w_per_m3.max(1e-3);
    let p_agg = 0.6 * smoothstep((c_bar - 0.6) / 0.4) * (20.0 / pv).sqrt().min(1.5);
    let n_touching = if r.random_bool(p_agg.clamp(0.0, 1.0)) {
        // cluster size 2 + Geometric(0.6) beads → 1 + Geometric touching neighbours (max 3 drawn)
        let mut k = 1;
        while k < 3 && r.random_bool(0.4) {
            k += 1;
        }
        k
    } else {
        0
    };
    let n_particles = poisson(1.13e4 * st.contaminant_g_per_l.max(0.0), r).min(200);
    let p = SceneParams { coverage, dead_frac, n_touching, neighbour_not_touching: r.random_bool(0.4), n_particles };
    let scene = sample_scene(&p, lot, r);
    Ok(draw(cfg, lot, &scene, r))
}

#[cfg(test)]
mod visibility_tests {
    use super::*;

    fn lot(photons_at_one: f32, read_sigma: f32) -> LotNuisance {
        let mut l = LotNuisance::draw(1, 0, super::super::Difficulty::Default);
        l.photons_at_one = photons_at_one;
        l.read_sigma = read_sigma;
        l
    }

    #[test]
    fn particle_visibility_matches_a_hand_computed_spot() {
        assert_eq!(particle_visibility(&[], 1.0, 0.8, 0.5, &lot(2000.0, 0.005)), ParticleVisibility { snr_rss: 0.0, n_snr_ge_3: 0 });
        // σ_p 0.6, σ_b 0.8: s² = 1.0, peak = 0.08·0.36 = 0.0288; σ_n² = 0.5/2000 + 0.005² + (1/255)²/12.
        let l = lot(2000.0, 0.005);
        let sigma_n = (0.5f64 / 2000.0 + 0.005f64.powi(2) + (1.0 / 255.0f64).powi(2) / 12.0).sqrt();
        let want = 0.0288 * std::f64::consts::PI.sqrt() / sigma_n;
        let v = particle_visibility(&[(10.0, 10.0, 0.6, -0.08)], 1.0, 0.8, 0.5, &l);
        assert!((v.snr_rss - want).abs() < 1e-5 * want, "{} vs {want}", v.snr_rss);
        assert_eq!(v.n_snr_ge_3, u32::from(want >= 3.0));
        // Two equal spots: √2 × one; more blur, haze or noise: less visible.
        let two = particle_visibility(&[(10.0, 10.0, 0.6, -0.08), (40.0, 40.0, 0.6, 0.08)], 1.0, 0.8, 0.5, &l);
        assert!((two.snr_rss - want * 2f64.sqrt()).abs() < 1e-5 * want);
        assert!(particle_visibility(&[(10.0, 10.0, 0.6, -0.08)], 1.0, 1.4, 0.5, &l).snr_rss < v.snr_rss);
        assert!(particle_visibility(&[(10.0, 10.0, 0.6, -0.08)], 0.96, 0.8, 0.5, &l).snr_rss < v.snr_rss);
        assert!(particle_visibility(&[(10.0, 10.0, 0.6, -0.08)], 1.0, 0.8, 0.5, &lot(300.0, 0.005)).snr_rss < v.snr_rss);
    }
}
