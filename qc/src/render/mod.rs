//! Deterministic procedural renderer of QC images (spec `qc.md` §2–§4, §8).
//!
//! Every image has its own `ChaCha8Rng` seeded from (seed, day, view, index) via SplitMix64,
//! so output is identical at any thread count. Groups of 16 consecutive indices (or a
//! vessel-day) share "lot" nuisances (background, lamp, camera, photons, pixel size); every
//! nuisance is drawn independently of the label.
//!
//! Class-balanced sets draw the class first, then sample latents (with a margin around each
//! rule threshold) until the label rule gives that class.

mod kernels;
pub mod microcarrier;
pub mod nes;
pub mod spectral;
pub mod trypan;

use crate::error::{QcError, Result};
use crate::image_ops::{self, GreyImage, illumination_gradient};
use crate::rng;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Number of consecutive indices that share lot nuisances (one group).
pub const GROUP_SIZE: u64 = 16;

/// The three QC tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// 96x96 microcarrier bead images, 5 classes.
    Microcarrier,
    /// 64x64 trypan-blue crops, `live`/`dead`.
    Trypan,
    /// 96x96 neuroepithelial-stem-cell morphology, `rosette`/`heterogeneous`.
    Nes,
}

impl Task {
    /// Ordered class names.
    pub fn classes(self) -> &'static [&'static str] {
        match self {
            Task::Microcarrier => &["good", "under_confluent", "aggregated", "dead_dominant", "contaminated"],
            Task::Trypan => &["live", "dead"],
            Task::Nes => &["rosette", "heterogeneous"],
        }
    }
    /// Square image side in pixels.
    pub fn size_px(self) -> usize {
        match self {
            Task::Trypan => 64,
            _ => 96,
        }
    }
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Task::Microcarrier => "microcarrier",
            Task::Trypan => "trypan",
            Task::Nes => "nes",
        }
    }
    /// Parse a lower-case name.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "microcarrier" => Ok(Task::Microcarrier),
            "trypan" => Ok(Task::Trypan),
            "nes" => Ok(Task::Nes),
            _ => Err(QcError::UnknownName { kind: "task", name: name.to_string() }),
        }
    }
    /// Whether the renderer produces a spectral cube for this task.
    pub fn has_spectral(self) -> bool {
        !matches!(self, Task::Nes)
    }
}

/// Difficulty preset: scales blur, noise and debris.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Difficulty {
    Easy,
    Default,
    Hard,
}

impl Difficulty {
    /// (blur scale, noise scale, debris scale).
    pub fn scales(self) -> (f32, f32, f32) {
        match self {
            Difficulty::Easy => (0.5, 0.5, 0.5),
            Difficulty::Default => (1.0, 1.0, 1.0),
            Difficulty::Hard => (1.5, 2.0, 2.0),
        }
    }
    /// Parse `easy|default|hard`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "easy" => Ok(Difficulty::Easy),
            "default" => Ok(Difficulty::Default),
            "hard" => Ok(Difficulty::Hard),
            _ => Err(QcError::UnknownName { kind: "difficulty", name: name.to_string() }),
        }
    }
}

/// Renderer configuration (all engineering choices, spec §2/§4 [E]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenderConfig {
    pub task: Task,
    pub difficulty: Difficulty,
    /// Also produce the 11-band spectral cube (ignored for `nes`).
    pub spectral: bool,
    /// Class-balanced microcarrier sets redraw latents within the spec's margin of a label
    /// threshold (±0.05 coverage and dead fraction, ±3 particles), so no image sits on a
    /// class edge; `false` draws up to the thresholds (the spec's "margin 0" evaluation).
    /// Other tasks have no thresholds to keep away from. Renders from a culture state never
    /// use it. True in every render.json written before the field existed.
    #[serde(default = "margin_default")]
    pub threshold_margin: bool,
}

fn margin_default() -> bool {
    true
}

impl RenderConfig {
    /// Config for `task` at `default` difficulty with spectral cubes where the task has them,
    /// and the label-threshold margin.
    pub fn new(task: Task) -> Self {
        Self { task, difficulty: Difficulty::Default, spectral: task.has_spectral(), threshold_margin: true }
    }
}

/// Plain culture state filled by the caller (the CLI maps `sim`'s state onto it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CultureState {
    /// Culture day (0-based or 1-based, only used for seeding and reports).
    pub day: u32,
    /// Viable cell density, 10⁶ cells/mL.
    pub vcd_1e6_per_ml: f64,
    /// Viability, fraction in [0, 1].
    pub viability_frac: f64,
    /// Microbial contaminant, g/L.
    pub contaminant_g_per_l: f64,
    /// Power input per volume, W/m³.
    pub power_per_volume_w_per_m3: f64,
}

/// Latent parameters of one rendered image, as name/value pairs: what the label rule reads,
/// followed by the image's imaging difficulty ([`BLUR_PX`], [`PHOTONS_AT_BACKGROUND`]), which
/// the label ignores.
pub type Latents = Vec<(&'static str, f64)>;

/// Latent (and `labels.csv` column): the Gaussian blur σ in pixels actually applied by
/// [`imaging_chain`] (lot base ± 0.15, clamped to [0.2, 1.5], times the difficulty's blur
/// scale).
pub const BLUR_PX: &str = "blur_px";

/// Latent (and `labels.csv` column): expected photons per pixel at the image's background
/// level, i.e. background intensity × [`LotNuisance::photons_at_one`] (the relative shot
/// noise at the background is 1/√ of it). The lot draws U(300, 3000) photons at its
/// background level (spec §4: "300-3,000 photons at background"); an image's background
/// varies by ±0.03 around the lot's, so this is about 280-3,200 at `default`, divided by the
/// difficulty's noise scale squared (×4 at `easy`, ÷4 at `hard`). Before session 5 the draw
/// was the photons at intensity 1 (126-2,040 at the background): noisier than specified.
pub const PHOTONS_AT_BACKGROUND: &str = "photons_at_background";

/// The two imaging-difficulty latents appended to every render: `blur_px` is what
/// [`imaging_chain`] returned and `background` the clean image's background level.
pub(crate) fn difficulty_latents(blur_px: f32, background: f32, lot: &LotNuisance) -> [(&'static str, f64); 2] {
    [(BLUR_PX, f64::from(blur_px)), (PHOTONS_AT_BACKGROUND, f64::from(background) * f64::from(lot.photons_at_one))]
}

/// One rendered image with its label.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Grey image in [0, 1], `size_px` square.
    pub image: GreyImage,
    /// Class index into `Task::classes`, or `None` for an excluded borderline (nes).
    pub label: Option<usize>,
    /// Group id (lot): images in a group share nuisances; split by group.
    pub group: u64,
    /// Latent parameters.
    pub latents: Latents,
    /// Spectral cube, u8 `[11][H][W]`, if requested.
    pub spectral: Option<Vec<u8>>,
    /// Centres `(x_px, y_px)` of the microbial particles behind a microcarrier image's count
    /// label (`qc render` writes them to `particles.csv`; empty for the other tasks). A clump
    /// member may lie just outside the image: it is still counted by the label rule.
    pub particles_px: Vec<(f32, f32)>,
}

/// Lot nuisances shared by one group (spec §4): independent of labels.
#[derive(Debug, Clone)]
pub struct LotNuisance {
    pub background: f32,
    pub photons_at_one: f32,
    pub read_sigma: f32,
    pub blur_base_px: f32,
    pub illum_amp: f32,
    pub illum_angle_rad: f32,
    pub pixel_scale: f32,
    pub lamp: spectral::Lamp,
}

impl LotNuisance {
    /// Draw lot nuisances for `group`.
    pub fn draw(seed: u64, group: u64, difficulty: Difficulty) -> Self {
        let (_blur_s, noise_s, _) = difficulty.scales();
        let mut r = rng::stream(&[seed, 0x107, group]);
        let photons_at_background: f32 = r.random_range(300.0f32..3000.0);
        let background: f32 = r.random_range(0.45f32..0.65);
        Self {
            background,
            photons_at_one: photons_at_background / background / noise_s / noise_s,
            read_sigma: r.random_range(0.002f32..0.01) * noise_s,
            blur_base_px: r.random_range(0.3f32..1.3),
            illum_amp: r.random_range(0.10f32..0.20),
            illum_angle_rad: r.random_range(0.0f32..std::f32::consts::TAU),
            pixel_scale: r.random_range(0.9f32..1.1),
            lamp: spectral::Lamp::draw(&mut r),
        }
    }
}

/// Absorber maps accumulated while drawing (for the spectral cube), each `[H][W]`.
#[derive(Debug, Clone)]
pub struct AbsorberMaps {
    /// Live-cell material (cytochromes, scattering b 1-2).
    pub cell: GreyImage,
    /// Dead-cell material (trypan blue, scattering).
    pub dead: GreyImage,
    /// Microbes.
    pub microbe: GreyImage,
}

impl AbsorberMaps {
    pub fn new(size: usize) -> Self {
        Self {
            cell: GreyImage::filled(size, size, 0.0),
            dead: GreyImage::filled(size, size, 0.0),
            microbe: GreyImage::filled(size, size, 0.0),
        }
    }
}

/// Imaging chain applied to the clean render: illumination gradient, blur, shot + read noise,
/// clamp (quantisation happens when written as 8-bit).
///
/// The blur is `image_ops::gaussian_blur`; the shot and read noise have the
/// same model as `image_ops::add_noise` but draw their normals from `kernels::NoiseRng`
/// (tabulated N(0, 1) from xoshiro256++ seeded by `r`) instead of two ChaCha8 ziggurat draws
/// per pixel: same statistics, different realisation, several times faster.
///
/// Returns the Gaussian blur σ (px) it applied, recorded as the [`BLUR_PX`] latent.
pub fn imaging_chain(img: &mut GreyImage, lot: &LotNuisance, difficulty: Difficulty, r: &mut ChaCha8Rng) -> f32 {
    let (blur_s, _, _) = difficulty.scales();
    illumination_gradient(img, lot.illum_amp, lot.illum_angle_rad);
    let blur = (lot.blur_base_px + r.random_range(-0.15f32..0.15)).clamp(0.2, 1.5) * blur_s;
    image_ops::gaussian_blur(img, blur);
    let mut z = vec![0.0f32; 2 * img.data.len()];
    kernels::NoiseRng::from_rng(r).fill_normal(&mut z);
    let (photons_at_one, read_sigma) = (lot.photons_at_one, lot.read_sigma);
    for (v, n) in img.data.iter_mut().zip(z.chunks_exact(2)) {
        let x = v.max(0.0);
        let shot = (x / photons_at_one).sqrt();
        let noisy = x + shot * n[0] + read_sigma * n[1];
        // == (noisy * 255).round().clamp(0, 255) / 255, without the libm round.
        *v = kernels::round_nonneg((noisy * 255.0).clamp(0.0, 255.0)) / 255.0;
    }
    blur
}

/// Render the class-balanced image number `index` of a set with `seed`: the class is drawn
/// uniformly, then latents are sampled until the label rule gives it.
pub fn render_balanced(cfg: &RenderConfig, seed: u64, index: u64) -> Result<Rendered> {
    let group = index / GROUP_SIZE;
    let lot = LotNuisance::draw(seed, group, cfg.difficulty);
    let mut r = rng::stream(&[seed, 0, 0, index]);
    let n_classes = cfg.task.classes().len();
    let class = r.random_range(0..n_classes);
    let mut out = match cfg.task {
        Task::Microcarrier => microcarrier::render_class(cfg, &lot, class, &mut r)?,
        Task::Trypan => trypan::render_class(cfg, &lot, class, &mut r)?,
        Task::Nes => nes::render_class(cfg, &lot, class, &mut r)?,
    };
    out.group = group;
    Ok(out)
}

/// Render image `index` of `view` for one culture day from the state (spec §2): latents follow
/// the state's distributions and the label follows the rule. `view` 0 = microcarrier beads,
/// 1 = trypan crops. Images of one vessel-day share a lot.
pub fn render_from_state(cfg: &RenderConfig, state: &CultureState, seed: u64, index: u64) -> Result<Rendered> {
    let view = match cfg.task {
        Task::Microcarrier => 0,
        Task::Trypan => 1,
        Task::Nes => 2,
    };
    let group = u64::from(state.day) * 4 + view;
    let lot = LotNuisance::draw(seed ^ 0xDA7, group, cfg.difficulty);
    let mut r = rng::stream(&[seed, u64::from(state.day), view, index]);
    let mut out = match cfg.task {
        Task::Microcarrier => microcarrier::render_state(cfg, &lot, state, &mut r)?,
        Task::Trypan => trypan::render_state(cfg, &lot, state, &mut r)?,
        Task::Nes => {
            return Err(QcError::InvalidConfig("nes images are not derived from the CHO culture state".into()));
        }
    };
    out.group = group;
    Ok(out)
}

/// Render `n` class-balanced images in parallel (rayon); output order is index order and
/// identical at any thread count.
pub fn render_set(cfg: &RenderConfig, seed: u64, start: u64, n: u64) -> Result<Vec<Rendered>> {
    use rayon::prelude::*;
    (start..start + n).into_par_iter().map(|i| render_balanced(cfg, seed, i)).collect()
}

/// Split of a rendered group: 70 % train, 15 % val, 15 % test (hash of seed and group id), so
/// no group (lot) appears in two splits.
pub fn split_of_group(seed: u64, group: u64) -> &'static str {
    match rng::mix(&[seed, 0x5917, group]) % 100 {
        0..70 => "train",
        70..85 => "val",
        _ => "test",
    }
}
