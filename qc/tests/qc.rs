//! Integration tests of the `qc` library (renderer, PCA, model round trip, training).

use qc::image_ops::GreyImage;
use qc::model::{Classifier, ModelMeta, NetConfig};
use qc::render::microcarrier::{McLatents, label as mc_label};
use qc::render::{RenderConfig, Task, render_set};
use qc::train::{Recipe, TrainOptions, Tensors};

/// libtorch's random generator is global: tests that seed it (model initialisation, dropout)
/// run one at a time, or a parallel test's `manual_seed` would change their weights.
fn torch_rng() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn pool(n: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(n).build().expect("pool")
}

#[test]
fn renderer_is_deterministic_at_any_thread_count() {
    for task in [Task::Microcarrier, Task::Trypan, Task::Nes] {
        let cfg = RenderConfig::new(task);
        let a = pool(1).install(|| render_set(&cfg, 7, 0, 24)).expect("render");
        let b = pool(2).install(|| render_set(&cfg, 7, 0, 24)).expect("render");
        let c = pool(2).install(|| render_set(&cfg, 8, 0, 24)).expect("render");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.image.to_u8(), y.image.to_u8());
            assert_eq!(x.spectral, y.spectral);
            assert_eq!(x.label, y.label);
        }
        assert_ne!(a[0].image.to_u8(), c[0].image.to_u8(), "a different seed must change the images");
        // Rendering a sub-range gives the same images (seeded per index, not per order).
        let part = render_set(&cfg, 7, 10, 4).expect("render");
        assert_eq!(part[0].image.to_u8(), a[10].image.to_u8());
    }
}

/// Every render ends its latents with the imaging difficulty: the blur σ actually applied and
/// the expected photons at the background, within the ranges the code draws them from.
#[test]
fn latents_record_imaging_difficulty_within_ranges() {
    use qc::render::{BLUR_PX, CultureState, Difficulty, PHOTONS_AT_BACKGROUND, render_from_state};
    for difficulty in [Difficulty::Easy, Difficulty::Default, Difficulty::Hard] {
        let (blur_s, noise_s, _) = difficulty.scales();
        let (blur_s, photons_s) = (f64::from(blur_s), 1.0 / f64::from(noise_s * noise_s));
        for task in [Task::Microcarrier, Task::Trypan, Task::Nes] {
            let cfg = RenderConfig { difficulty, spectral: false, ..RenderConfig::new(task) };
            let mut set = render_set(&cfg, 5, 0, 40).expect("render");
            if task != Task::Nes {
                let st = CultureState { day: 3, vcd_1e6_per_ml: 2.0, viability_frac: 0.9, contaminant_g_per_l: 0.0, power_per_volume_w_per_m3: 20.0 };
                set.push(render_from_state(&cfg, &st, 5, 0).expect("render from state"));
            }
            let mut blurs = Vec::new();
            for r in &set {
                let get = |name: &str| r.latents.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
                let (Some(blur), Some(photons)) = (get(BLUR_PX), get(PHOTONS_AT_BACKGROUND)) else {
                    panic!("{task:?}: latents lack {BLUR_PX} or {PHOTONS_AT_BACKGROUND}: {:?}", r.latents);
                };
                // σ = clamp(lot base U(0.3, 1.3) ± 0.15, 0.2, 1.5) × blur scale ∈ [0.2, 1.45] × scale.
                assert!((0.2 * blur_s - 1e-6..=1.45 * blur_s + 1e-6).contains(&blur), "{task:?} {difficulty:?}: blur {blur}");
                // U(300, 3000) / noise² at the lot's background (U(0.45, 0.65)); the image's
                // background is within ±0.03 of it, i.e. a factor within 1 ± 0.03/0.45.
                let (lo, hi) = (1.0 - 0.03 / 0.45, 1.0 + 0.03 / 0.45);
                assert!((lo * 300.0 * photons_s..=hi * 3000.0 * photons_s).contains(&photons), "{task:?} {difficulty:?}: photons {photons}");
                blurs.push(blur);
            }
            // The first 16 images share a lot: their blur differs by the per-image ±0.15 only.
            let lot = &blurs[..16];
            let spread = lot.iter().copied().fold(f64::MIN, f64::max) - lot.iter().copied().fold(f64::MAX, f64::min);
            assert!(spread <= 0.3 * blur_s + 1e-6, "{task:?}: blur spread {spread} within one lot");
            assert!(blurs.iter().any(|&b| (b - blurs[0]).abs() > 1e-6), "blur varies between images");
        }
    }
}

#[test]
fn microcarrier_label_rule_precedence() {
    let base = McLatents { coverage: 0.8, n_cells: 100, n_dead: 5, touching: false, n_particles: 0 };
    assert_eq!(mc_label(&base), 0, "good");
    assert_eq!(mc_label(&McLatents { coverage: 0.3, ..base }), 1, "under-confluent");
    assert_eq!(mc_label(&McLatents { touching: true, coverage: 0.3, ..base }), 2, "aggregated beats under-confluent");
    assert_eq!(mc_label(&McLatents { n_dead: 30, touching: true, ..base }), 3, "30 % dead beats aggregated");
    assert_eq!(mc_label(&McLatents { n_dead: 29, ..base }), 0, "29 % dead is not dead-dominant");
    assert_eq!(mc_label(&McLatents { n_cells: 4, n_dead: 4, ..base }), 0, "fewer than 5 cells cannot be dead-dominant");
    assert_eq!(mc_label(&McLatents { n_particles: 12, n_dead: 90, touching: true, ..base }), 4, "contamination wins");
    assert_eq!(mc_label(&McLatents { n_particles: 11, ..base }), 0);
    assert_eq!(qc::render::nes::label(0.10, 1), Some(0));
    assert_eq!(qc::render::nes::label(0.10, 0), None, "no whole rosette: borderline");
    assert_eq!(qc::render::nes::label(0.20, 2), None, "between thresholds: borderline");
    assert_eq!(qc::render::nes::label(0.35, 2), Some(1));
    assert_eq!(qc::render::trypan::label(true), 1);
}

#[test]
fn balanced_renders_follow_the_rule_and_margins() {
    let cfg = RenderConfig { spectral: false, ..RenderConfig::new(Task::Microcarrier) };
    let set = render_set(&cfg, 3, 0, 60).expect("render");
    let mut seen = [0usize; 5];
    for r in &set {
        let g = |k: &str| r.latents.iter().find(|(n, _)| *n == k).map(|(_, v)| *v).expect("latent");
        let l = McLatents {
            coverage: g("coverage"),
            n_cells: g("n_cells") as u32,
            n_dead: g("n_dead") as u32,
            touching: g("touching") > 0.5,
            n_particles: g("n_particles") as u32,
        };
        let lab = r.label.expect("microcarrier always labelled");
        assert_eq!(mc_label(&l), lab);
        assert!((g("n_particles") - 12.0).abs() > 3.0, "particle margin");
        seen[lab] += 1;
    }
    assert!(seen.iter().all(|&c| c > 0), "all classes drawn: {seen:?}");
}

/// Without the threshold margin (the spec's "margin 0" evaluation) latents reach the label
/// thresholds, labels still follow the rule, and the margin setting's own renders are the ones
/// it always gave (the option leaves the default stream alone).
#[test]
fn margin_zero_renders_reach_the_thresholds_and_follow_the_rule() {
    let with = RenderConfig { spectral: false, ..RenderConfig::new(Task::Microcarrier) };
    let without = RenderConfig { threshold_margin: false, ..with.clone() };
    let set = render_set(&without, 3, 0, 300).expect("render");
    let latent = |r: &qc::render::Rendered, k: &str| r.latents.iter().find(|(n, _)| *n == k).map(|(_, v)| *v).expect("latent");
    let mut near_particles = 0;
    let mut near_coverage = 0;
    for r in &set {
        let l = McLatents {
            coverage: latent(r, "coverage"),
            n_cells: latent(r, "n_cells") as u32,
            n_dead: latent(r, "n_dead") as u32,
            touching: latent(r, "touching") > 0.5,
            n_particles: latent(r, "n_particles") as u32,
        };
        assert_eq!(mc_label(&l), r.label.expect("labelled"));
        near_particles += usize::from((latent(r, "n_particles") - 12.0).abs() <= 3.0);
        near_coverage += usize::from(r.label.is_some_and(|c| c <= 1) && (l.coverage - 0.5).abs() < 0.05);
    }
    assert!(near_particles >= 10 && near_coverage >= 3, "edge images: {near_particles} particle, {near_coverage} coverage");
    // The margin is on by default and changes what is drawn.
    assert!(RenderConfig::new(Task::Microcarrier).threshold_margin);
    let a = render_set(&with, 3, 0, 20).expect("render");
    assert!(a.iter().zip(&set).any(|(x, y)| x.image.data != y.image.data));
}

#[test]
fn pca_is_fitted_on_train_only() {
    let cfg = RenderConfig::new(Task::Trypan);
    let set = render_set(&cfg, 11, 0, 12).expect("render");
    let cubes: Vec<Vec<u8>> = set.iter().map(|r| r.spectral.clone().expect("cube")).collect();
    let is_train: Vec<bool> = (0..12).map(|i| i < 8).collect();
    let refs: Vec<&[u8]> = cubes.iter().map(Vec::as_slice).collect();
    let hw = 64 * 64;
    let a = qc::pca::fit_on_split(&refs, &is_train, hw, 1).expect("fit");
    // Replace the validation cubes by something else: the basis must not change.
    let junk = vec![200u8; cubes[0].len()];
    let mut refs2 = refs.clone();
    for r in refs2.iter_mut().skip(8) {
        *r = &junk;
    }
    let b = qc::pca::fit_on_split(&refs2, &is_train, hw, 1).expect("fit");
    assert_eq!(a, b);
    // ...whereas changing a training cube does change it.
    let mut refs3 = refs.clone();
    refs3[0] = &refs[9];
    let c = qc::pca::fit_on_split(&refs3, &is_train, hw, 1).expect("fit");
    assert_ne!(a, c);
    let ch = qc::pca::transform(&a, refs[9], hw).expect("transform");
    assert_eq!(ch.len(), 3 * hw);
    assert!(ch.iter().all(|v| v.abs() <= 6.0));
    assert_eq!(a.components.len(), 3);
}

fn tiny_meta(task: Task, widths: [i64; 4]) -> ModelMeta {
    let classes: Vec<String> = task.classes().iter().map(|s| s.to_string()).collect();
    let mut net = NetConfig::compact(1, classes.len() as i64, task.size_px());
    net.widths = widths;
    ModelMeta {
        format_version: qc::model::FORMAT_VERSION,
        task: task.name().into(),
        classes,
        net,
        input_size: task.size_px(),
        channels: vec!["grey".into()],
        normalisation: "per-image".into(),
        pca: None,
        temperature: 1.0,
        class_log_offsets: Vec::new(),
        class_offsets_fit: None,
        recipe: "fast".into(),
        seed: 0,
        threads: 1,
        device: "Cpu".into(),
        epochs_run: 0,
        best_epoch: 0,
        val_metrics: serde_json::Value::Null,
        versions: serde_json::Value::Null,
        manifest: Default::default(),
        ensemble: Vec::new(),
    }
}

fn trypan_tensors(seed: u64, start: u64, n: u64) -> Tensors {
    let cfg = RenderConfig { spectral: false, ..RenderConfig::new(Task::Trypan) };
    let set = render_set(&cfg, seed, start, n).expect("render");
    let imgs: Vec<GreyImage> = set.iter().map(|r| r.image.clone()).collect();
    let y: Vec<usize> = set.iter().map(|r| r.label.expect("label")).collect();
    qc::data::to_tensors(&imgs, &y, 64, None, None).expect("tensors")
}

#[test]
fn save_load_round_trip_is_exact() {
    let _rng = torch_rng();
    tch::set_num_threads(1);
    tch::manual_seed(5);
    let m = Classifier::new(tiny_meta(Task::Trypan, [8, 8, 16, 16]), tch::Device::Cpu);
    let data = trypan_tensors(1, 0, 6);
    let dir = tempfile::tempdir().expect("tmp");
    m.save(dir.path()).expect("save");
    let back = Classifier::load(dir.path(), tch::Device::Cpu).expect("load");
    assert_eq!(back.meta, m.meta);
    let a = Vec::<f32>::try_from(m.logits(&data.x, 6, 4).expect("logits").flatten(0, -1)).expect("vec");
    let b = Vec::<f32>::try_from(back.logits(&data.x, 6, 4).expect("logits").flatten(0, -1)).expect("vec");
    assert_eq!(a, b);
    assert!(Classifier::load(&dir.path().join("nope"), tch::Device::Cpu).is_err());
}

/// Class decision offsets: they shift the probabilities as softmax(z / T + b) (the model's
/// `predict_proba` is the offset-free one re-weighted by exp(b)), round-trip through
/// model.json, are absent from the sidecar of a model without them, and a sidecar with a
/// wrong count or a non-finite value is refused on load, naming the field.
#[test]
fn class_offsets_shift_probabilities_round_trip_and_bad_ones_are_refused() {
    let _rng = torch_rng();
    tch::set_num_threads(1);
    tch::manual_seed(5);
    let mut m = Classifier::new(tiny_meta(Task::Trypan, [8, 8, 16, 16]), tch::Device::Cpu);
    let data = trypan_tensors(1, 0, 6);
    let plain = m.predict_proba(&data.x, 6, 4).expect("proba");
    let dir = tempfile::tempdir().expect("tmp");
    m.save(dir.path()).expect("save");
    let text = std::fs::read_to_string(dir.path().join("model.json")).expect("json");
    assert!(!text.contains("class_log_offsets"), "no offsets, no field");
    assert!(m.set_class_offsets(vec![0.1]).is_err(), "one value for two classes");
    assert!(m.set_class_offsets(vec![0.0, f64::NAN]).is_err());
    m.set_class_offsets(vec![-0.5, 0.5]).expect("set");
    let shifted = m.predict_proba(&data.x, 6, 4).expect("proba");
    assert_eq!(m.predict_proba_without_offsets(&data.x, 6, 4).expect("proba"), plain);
    for (p, q) in plain.iter().zip(&shifted) {
        let odds = |r: &[f64]| (r[1] / r[0]).ln();
        assert!((odds(q) - odds(p) - 1.0).abs() < 1e-9, "{p:?} -> {q:?}");
        assert!((q.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
    m.save_meta(dir.path()).expect("save meta");
    let back = Classifier::load(dir.path(), tch::Device::Cpu).expect("load");
    assert_eq!(back.meta, m.meta);
    assert_eq!(back.predict_proba(&data.x, 6, 4).expect("proba"), shifted);
    for (bad, says) in [("[0.5]", "1 values for 2 classes"), ("[0.0, 11.0]", "value 1 is 11")] {
        let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("model.json")).expect("read")).expect("json");
        v["class_log_offsets"] = serde_json::from_str(bad).expect("bad");
        std::fs::write(dir.path().join("model.json"), v.to_string()).expect("write");
        let e = Classifier::load(dir.path(), tch::Device::Cpu).expect_err(bad).to_string();
        assert!(e.contains("class_log_offsets") && e.contains(says), "{bad}: {e}");
    }
}

/// An optional shape field of the compact net (`field` in `model.json → net`, set by
/// `tweak`): its weights round-trip, it changes the parameter count by exactly
/// `extra_parameters`, a plain model's sidecar loads unchanged when the field is absent
/// (models saved before it existed), and the tweaked weights are refused
/// under a sidecar that lacks the field rather than loaded silently wrong — unless the field
/// adds a training-only head (`training_only_head`): then they load and classify the same.
fn optional_shape_field_round_trips(field: &str, tweak: impl Fn(&mut NetConfig), extra_parameters: i64, training_only_head: bool) {
    let _rng = torch_rng();
    tch::set_num_threads(1);
    let data = trypan_tensors(1, 0, 6);
    tch::manual_seed(5);
    let plain = Classifier::new(tiny_meta(Task::Trypan, [8, 8, 16, 16]), tch::Device::Cpu);
    let mut meta = tiny_meta(Task::Trypan, [8, 8, 16, 16]);
    tweak(&mut meta.net);
    tch::manual_seed(5);
    let m = Classifier::new(meta, tch::Device::Cpu);
    assert_eq!(m.n_parameters(), plain.n_parameters() + extra_parameters, "{field}");
    let logits = |c: &Classifier| Vec::<f32>::try_from(c.logits(&data.x, 6, 4).expect("logits").flatten(0, -1)).expect("vec");
    let out = logits(&m);
    assert!(out.len() == 6 * 2 && out.iter().all(|v| v.is_finite()), "{field}: {out:?}");
    let dir = tempfile::tempdir().expect("tmp");
    m.save(dir.path()).expect("save");
    let back = Classifier::load(dir.path(), tch::Device::Cpu).expect("load");
    assert_eq!(back.meta.net, m.meta.net, "{field}");
    assert_eq!(logits(&back), out, "{field}");
    let drop_field = |dir: &std::path::Path| {
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("model.json")).expect("read")).expect("json");
        v["net"].as_object_mut().expect("net").remove(field);
        std::fs::write(dir.join("model.json"), v.to_string()).expect("write");
    };
    drop_field(dir.path());
    if training_only_head {
        let back = Classifier::load(dir.path(), tch::Device::Cpu).expect("a training-only head is not needed to classify");
        assert_eq!(logits(&back), out, "{field}");
    } else {
        assert!(Classifier::load(dir.path(), tch::Device::Cpu).is_err(), "{field}: tweaked weights under a plain sidecar");
    }
    let old = tempfile::tempdir().expect("tmp");
    plain.save(old.path()).expect("save");
    drop_field(old.path());
    let back = Classifier::load(old.path(), tch::Device::Cpu).expect("old sidecar");
    assert_eq!(back.meta.net, plain.meta.net, "{field}");
    assert_eq!(logits(&back), logits(&plain), "{field}");
}

/// The full-resolution pre-stem: conv 1 -> 4 (3x3, no bias) + BN (4 scales, 4 shifts), and
/// the stem then takes 4 channels instead of 1.
#[test]
fn full_res_stem_round_trips_and_old_sidecars_load_without_it() {
    optional_shape_field_round_trips("full_res_stem", |n| n.full_res_stem = 4, 4 * 9 + 8 + 8 * 9 * (4 - 1), false);
}

/// The space-to-depth stem: a 2x2 unshuffle before a stride-1 stem, which then takes 4x the
/// input channels (the only parameter change); the output keeps the stride-2 net's shape.
#[test]
fn space_to_depth_stem_round_trips_and_old_sidecars_load_without_it() {
    optional_shape_field_round_trips("space_to_depth", |n| n.space_to_depth = true, 8 * 9 * (4 - 1), false);
}

/// The particle-count map head: a 1x1 convolution with bias on the stage-3 features of the
/// stride-2 net (16 channels here), 17 parameters.
#[test]
fn particle_map_head_round_trips_and_old_sidecars_load_without_it() {
    optional_shape_field_round_trips("particle_map_weight", |n| n.particle_map_weight = 0.1, 16 + 1, true);
}

/// Bright spots on noise, 32 px, with their positions: a small net trained with the
/// particle-count map head predicts, on held-out images, per-image counts that follow the
/// true ones; its map has one cell per 8 x 8 pixels at either stem stride, and the class
/// logits are the plain forward pass's.
#[test]
fn a_particle_map_head_learns_where_the_particles_are() {
    use rand::{Rng, SeedableRng};
    let _rng = torch_rng();
    tch::set_num_threads(1);
    let spots = |seed: u64, n: usize| {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut t = Tensors { c: 1, s: 32, ..Default::default() };
        let mut counts = Vec::new();
        for _ in 0..n {
            let k = r.random_range(0..7usize);
            let pts: Vec<(f32, f32)> = (0..k).map(|_| (r.random_range(1.0..31.0f32), r.random_range(1.0..31.0f32))).collect();
            for y in 0..32 {
                for x in 0..32 {
                    let v: f32 = pts.iter().map(|&(px, py)| 2.0 * (-((x as f32 - px).powi(2) + (y as f32 - py).powi(2)) / 2.0).exp()).sum();
                    t.x.push(v + 0.2 * (r.random::<f32>() - 0.5));
                }
            }
            t.y.push(i64::from(k >= 3));
            t.count_maps.extend(qc::train::count_map(&pts, 32));
            counts.push(k as f64);
        }
        (t, counts)
    };
    let (mut tr, _) = spots(31, 512);
    let (va, va_counts) = spots(32, 128);
    let mut meta = tiny_meta(Task::Trypan, [8, 8, 16, 16]);
    meta.input_size = 32;
    meta.net.particle_map_weight = 0.5;
    let opts = TrainOptions { recipe: Recipe::Fast, max_epochs: 12, patience: 12, seed: 3, augment: true, class_weights: false, device: tch::Device::Cpu };
    let maps = std::mem::take(&mut tr.count_maps);
    let err = qc::train::train(meta.clone(), &tr, &va, &opts, &mut |_| {}).expect_err("maps are required");
    assert!(err.to_string().contains("particle-count maps"), "{err}");
    tr.count_maps = maps;
    let a = qc::train::train(meta, &tr, &va, &opts, &mut |_| {}).expect("train");
    let n = va.n() as i64;
    let x = tch::Tensor::from_slice(&va.x).view([n, 1, 32, 32]);
    let heads = tch::no_grad(|| a.model.net.forward_heads(&x, false, true));
    assert!(tch::no_grad(|| a.model.net.forward_heads(&x, false, false)).count_map.is_none(), "the map head runs only when asked");
    let map = heads.count_map.expect("map head");
    assert_eq!(map.size(), [n, 4, 4]);
    let pred = a.model.predict_particle_counts(&va.x, va.n(), 32).expect("counts");
    let sums = Vec::<f32>::try_from(map.sum_dim_intlist(&[1i64, 2][..], false, tch::Kind::Float)).expect("vec");
    assert!(pred.iter().zip(&sums).all(|(p, s)| (p - f64::from(*s)).abs() < 1e-4), "the count is the map's sum");
    assert!(Classifier::new(tiny_meta(Task::Trypan, [8, 8, 16, 16]), tch::Device::Cpu).predict_particle_counts(&va.x, va.n(), 32).is_err(), "no map head");
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (mp, mc) = (mean(&pred), mean(&va_counts));
    let cov: f64 = pred.iter().zip(&va_counts).map(|(p, c)| (p - mp) * (c - mc)).sum();
    let var = |v: &[f64], m: f64| v.iter().map(|a| (a - m).powi(2)).sum::<f64>();
    let corr = cov / (var(&pred, mp) * var(&va_counts, mc)).sqrt();
    assert!(corr > 0.8, "held-out predicted vs true spot counts: r = {corr:.3} (means {mp:.2} vs {mc:.2})");
    let plain = tch::no_grad(|| tch::nn::ModuleT::forward_t(&a.model.net, &x, false));
    assert!(heads.logits.allclose(&plain, 1e-6, 1e-6, false));
    // At stem stride 1 the head sits one stage later: still 1/8 of the input.
    let mut s1 = tiny_meta(Task::Microcarrier, [8, 8, 16, 16]);
    s1.net.stem_stride = 1;
    s1.net.particle_map_weight = 0.1;
    let m1 = Classifier::new(s1, tch::Device::Cpu);
    let x96 = tch::Tensor::zeros([2, 1, 96, 96], (tch::Kind::Float, tch::Device::Cpu));
    let map1 = tch::no_grad(|| m1.net.forward_heads(&x96, false, true)).count_map.expect("map head");
    assert_eq!(map1.size(), [2, 12, 12]);
}

#[test]
fn an_ensemble_averages_its_members_round_trips_and_refuses_bad_members() {
    let _rng = torch_rng();
    tch::set_num_threads(1);
    let data = trypan_tensors(1, 0, 6);
    tch::manual_seed(5);
    let mut a = Classifier::new(tiny_meta(Task::Trypan, [8, 8, 16, 16]), tch::Device::Cpu);
    tch::manual_seed(6);
    let mut meta_b = tiny_meta(Task::Trypan, [8, 8, 16, 16]);
    meta_b.net.stem_stride = 1;
    meta_b.temperature = 2.0;
    let b = Classifier::new(meta_b, tch::Device::Cpu);
    let (pa, pb) = (a.predict_proba(&data.x, 6, 4).expect("a"), b.predict_proba(&data.x, 6, 4).expect("b"));
    let n_a = a.n_parameters();
    a.push_member(b, 8).expect("same inputs and classes");
    assert_eq!(a.n_networks(), 2);
    assert_eq!(a.n_parameters(), 2 * n_a, "same widths, the stem stride has no parameters");
    // The ensemble's probabilities are the mean of the members' calibrated ones.
    let pe = a.predict_proba(&data.x, 6, 4).expect("ensemble");
    assert_eq!(a.network_proba(0, &data.x, 6, 4).expect("net 0"), pa);
    assert_eq!(a.network_proba(1, &data.x, 6, 4).expect("net 1"), pb);
    assert!(a.network_proba(2, &data.x, 6, 4).is_err());
    for i in 0..6 {
        for k in 0..2 {
            assert!((pe[i][k] - 0.5 * (pa[i][k] + pb[i][k])).abs() < 1e-9, "row {i} class {k}");
        }
    }
    let dir = tempfile::tempdir().expect("tmp");
    a.save(dir.path()).expect("save");
    assert!(dir.path().join("member1.safetensors").is_file());
    let back = Classifier::load(dir.path(), tch::Device::Cpu).expect("load");
    assert_eq!(back.meta, a.meta);
    assert_eq!(back.meta.ensemble[0].temperature, 2.0);
    assert_eq!(back.predict_proba(&data.x, 6, 4).expect("loaded"), pe);
    // A member for other classes is refused.
    let other = Classifier::new(tiny_meta(Task::Microcarrier, [8, 8, 16, 16]), tch::Device::Cpu);
    assert!(a.push_member(other, 8).is_err());
    // A sidecar whose member file points outside the folder is refused with a clear error.
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("model.json")).expect("read")).expect("json");
    v["ensemble"][0]["weights"] = serde_json::json!("../elsewhere.safetensors");
    std::fs::write(dir.path().join("model.json"), v.to_string()).expect("write");
    let e = Classifier::load(dir.path(), tch::Device::Cpu).expect_err("path outside");
    assert!(e.to_string().contains("plain `*.safetensors` file name"), "{e}");
    // A missing member file is an error, not a smaller ensemble.
    v["ensemble"][0]["weights"] = serde_json::json!("member9.safetensors");
    std::fs::write(dir.path().join("model.json"), v.to_string()).expect("write");
    assert!(Classifier::load(dir.path(), tch::Device::Cpu).is_err());
}

#[test]
fn tiny_training_beats_chance_and_is_deterministic() {
    let _rng = torch_rng();
    tch::set_num_threads(1);
    let tr = trypan_tensors(21, 0, 256);
    let va = trypan_tensors(22, 0, 96);
    let opts = TrainOptions { recipe: Recipe::Fast, max_epochs: 4, patience: 8, seed: 3, augment: true, class_weights: false, device: tch::Device::Cpu };
    let meta = tiny_meta(Task::Trypan, [8, 16, 16, 32]);
    let a = qc::train::train(meta.clone(), &tr, &va, &opts, &mut |_| {}).expect("train");
    let probs = a.model.predict_proba(&va.x, va.n(), 64).expect("probs");
    let y: Vec<usize> = va.y.iter().map(|&v| v as usize).collect();
    let rep = qc::metrics::report(&probs, &y, &a.model.meta.classes).expect("report");
    assert!(rep.accuracy > 0.75, "held-out accuracy {} should beat chance (0.5) clearly", rep.accuracy);
    // Same seed and thread count → identical weights.
    let opts1 = TrainOptions { max_epochs: 1, ..opts.clone() };
    let b1 = qc::train::train(meta.clone(), &tr, &va, &opts1, &mut |_| {}).expect("train");
    let b2 = qc::train::train(meta, &tr, &va, &opts1, &mut |_| {}).expect("train");
    let (v1, v2) = (b1.model.vs.variables(), b2.model.vs.variables());
    for (name, t) in &v1 {
        assert!(t.equal(&v2[name]), "{name} differs between identical runs");
    }
}

#[test]
fn training_from_pretrained_weights_starts_there_and_skips_mismatched_shapes() {
    let _rng = torch_rng();
    tch::set_num_threads(1);
    let tr = trypan_tensors(21, 0, 128);
    let va = trypan_tensors(22, 0, 64);
    let opts = TrainOptions { recipe: Recipe::Fast, max_epochs: 2, patience: 8, seed: 3, augment: true, class_weights: false, device: tch::Device::Cpu };
    let meta = tiny_meta(Task::Trypan, [8, 16, 16, 32]);
    let pre = qc::train::train(meta.clone(), &tr, &va, &opts, &mut |_| {}).expect("pretrain");
    assert_eq!(pre.initialised, 0);
    let w = pre.model.weights();
    assert_eq!(w.len(), pre.model.vs.variables().len());
    // Another seed: without init its start (and result) differs; with init every variable is
    // taken over, so a run whose learning rate is ~0 ends where the pretrained one did.
    let other = TrainOptions { seed: 9, max_epochs: 1, ..opts.clone() };
    let fresh = qc::train::train(meta.clone(), &tr, &va, &other, &mut |_| {}).expect("fresh");
    let warm = qc::train::train_from(meta.clone(), Some(&w), &tr, &va, &other, &mut |_| {}).expect("warm");
    assert_eq!(warm.initialised, w.len());
    let dist = |m: &qc::model::Classifier| -> f64 {
        let v = m.vs.variables();
        w.iter().map(|(n, t)| f64::try_from((&v[n] - t).abs().sum(tch::Kind::Double)).expect("sum")).sum()
    };
    assert!(dist(&warm.model) < dist(&fresh.model), "warm start should stay nearer the pretrained weights: {} vs {}", dist(&warm.model), dist(&fresh.model));
    // A head of another size (3 classes) is left at its random start; the rest is copied.
    let mut meta3 = meta.clone();
    meta3.net.n_classes = 3;
    meta3.classes.push("third".into());
    let part = qc::train::train_from(meta3, Some(&w), &tr, &va, &other, &mut |_| {}).expect("partial");
    assert!(part.initialised > 0 && part.initialised < w.len(), "{} of {}", part.initialised, w.len());
}

/// `train_with_fresh`: the source is asked for epochs 2.. only; handing back the train set
/// itself reproduces plain training bit for bit (the swap changes nothing else); new images do
/// change the weights; a fresh set of the wrong size is refused by name.
#[test]
fn fresh_training_sets_replace_the_train_split_from_the_second_epoch() {
    let _rng = torch_rng();
    tch::set_num_threads(1);
    let tr = trypan_tensors(21, 0, 96);
    let va = trypan_tensors(22, 0, 48);
    let opts = TrainOptions { recipe: Recipe::Fast, max_epochs: 3, patience: 8, seed: 3, augment: true, class_weights: false, device: tch::Device::Cpu };
    let meta = tiny_meta(Task::Trypan, [8, 16, 16, 32]);
    let plain = qc::train::train(meta.clone(), &tr, &va, &opts, &mut |_| {}).expect("plain");
    let mut asked = Vec::new();
    let mut same = |epoch: usize| {
        asked.push(epoch);
        Ok(tr.clone())
    };
    let swapped = qc::train::train_with_fresh(meta.clone(), None, &tr, &va, &opts, Some(&mut same), &mut |_| {}).expect("same set");
    assert_eq!(asked, vec![2, 3], "the first epoch uses the given set");
    let (a, b) = (plain.model.vs.variables(), swapped.model.vs.variables());
    for (name, t) in &a {
        assert!(t.equal(&b[name]), "{name}: handing back the same set must not change training");
    }
    let mut new_images = |epoch: usize| Ok(trypan_tensors(100 + epoch as u64, 0, 96));
    let renewed = qc::train::train_with_fresh(meta.clone(), None, &tr, &va, &opts, Some(&mut new_images), &mut |_| {}).expect("new set");
    let c = renewed.model.vs.variables();
    assert!(a.iter().any(|(name, t)| !t.equal(&c[name])), "new images must change the weights");
    let mut short = |_: usize| Ok(trypan_tensors(7, 0, 95));
    let e = qc::train::train_with_fresh(meta, None, &tr, &va, &opts, Some(&mut short), &mut |_| {}).expect_err("95 rows instead of 96");
    assert!(e.to_string().contains("fresh set of epoch 2") && e.to_string().contains("96 rows"), "{e}");
}

#[test]
fn bad_image_bytes_give_errors() {
    let p = std::path::Path::new("x.png");
    assert!(matches!(qc::io::decode_grey(b"this is not an image", p), Err(qc::QcError::Image { .. })));
    assert!(matches!(qc::io::decode_grey(&[0x89, b'P', b'N', b'G', 0, 0], p), Err(qc::QcError::Image { .. })));
    // An RGB image becomes luma; odd sizes are centre-cropped and resized.
    let rgb = image::RgbImage::from_pixel(10, 6, image::Rgb([255, 0, 0]));
    let mut bytes = Vec::new();
    rgb.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).expect("png");
    let (g, colour) = qc::io::decode_grey(&bytes, p).expect("decode");
    assert!(colour);
    assert!((g.data[0] - 0.299).abs() < 1e-3);
    let (a, info) = qc::io::adapt(&g, 64, colour);
    assert!(info.resized && !info.much_larger);
    assert_eq!((a.width, a.height, a.data.len()), (64, 64, 64 * 64));
}

#[test]
fn resnet50_option_builds_and_runs() {
    let _rng = torch_rng();
    tch::set_num_threads(1);
    let mut meta = tiny_meta(Task::Trypan, [16, 32, 64, 128]);
    meta.net.arch = qc::model::Arch::Resnet50;
    meta.net.in_channels = 1;
    let m = Classifier::new(meta, tch::Device::Cpu);
    assert!(m.n_parameters() > 20_000_000, "ResNet-50 has ~23.5 M parameters, got {}", m.n_parameters());
    let x = vec![0.0f32; 64 * 64];
    let l = m.logits(&x, 1, 1).expect("forward");
    assert_eq!(l.size(), vec![1, 2]);
}

/// Test-time augmentation averages over the whole dihedral group, so its output does not
/// depend on how the input is oriented (unlike a single untrained-symmetry pass), and it
/// still gives probability rows.
#[test]
fn dihedral_tta_is_orientation_invariant() {
    let _rng = torch_rng();
    tch::set_num_threads(1);
    tch::manual_seed(7);
    let m = Classifier::new(tiny_meta(Task::Trypan, [8, 8, 16, 16]), tch::Device::Cpu);
    let data = trypan_tensors(2, 0, 5);
    let x = tch::Tensor::from_slice(&data.x).view([5, 1, 64, 64]);
    let rotated = Vec::<f32>::try_from(x.rot90(1, [2, 3]).flip([3]).contiguous().flatten(0, -1)).expect("vec");
    let a = m.predict_proba_dihedral(&data.x, 5, 2).expect("tta");
    let b = m.predict_proba_dihedral(&rotated, 5, 2).expect("tta rotated");
    let plain_a = m.predict_proba(&data.x, 5, 2).expect("plain");
    let plain_b = m.predict_proba(&rotated, 5, 2).expect("plain rotated");
    for (ra, rb) in a.iter().zip(&b) {
        assert!((ra.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        for (p, q) in ra.iter().zip(rb) {
            assert!((p - q).abs() < 1e-5, "{ra:?} vs {rb:?}");
        }
    }
    let moved = plain_a.iter().zip(&plain_b).map(|(p, q)| (p[0] - q[0]).abs()).fold(0.0, f64::max);
    assert!(moved > 1e-4, "a random net is not orientation invariant by itself ({moved})");
    assert!(m.predict_proba_dihedral(&data.x[1..], 5, 2).is_err(), "wrong length");
}

#[test]
fn an_auxiliary_head_learns_its_target_round_trips_and_leaves_the_classes_alone() {
    let _rng = torch_rng();
    tch::set_num_threads(1);
    let mut tr = trypan_tensors(21, 0, 256);
    let va = trypan_tensors(22, 0, 96);
    // A learnable auxiliary target: the class index itself, standardised on the training rows.
    let raw: Vec<f64> = tr.y.iter().map(|&v| v as f64).collect();
    let target = qc::model::AuxTarget::fit("label_index", &raw);
    assert!((target.mean - raw.iter().sum::<f64>() / 256.0).abs() < 1e-12 && target.std > 0.0);
    let mut meta = tiny_meta(Task::Trypan, [8, 16, 16, 32]);
    let plain_params = Classifier::new(meta.clone(), tch::Device::Cpu).n_parameters();
    meta.net.aux_targets = vec![target.clone()];
    meta.net.aux_weight = 0.5;
    let opts = TrainOptions { recipe: Recipe::Fast, max_epochs: 4, patience: 8, seed: 3, augment: true, class_weights: false, device: tch::Device::Cpu };
    // The targets must be given, one per row and target.
    assert!(qc::train::train(meta.clone(), &tr, &va, &opts, &mut |_| {}).is_err());
    tr.aux = raw.iter().map(|&v| target.standardise(v) as f32).collect();
    let a = qc::train::train(meta.clone(), &tr, &va, &opts, &mut |_| {}).expect("train");
    // A linear head of 32 features + 1 bias per target, nothing else.
    assert_eq!(a.model.n_parameters(), plain_params + 33);
    let n = va.n() as i64;
    let x = tch::Tensor::from_slice(&va.x).view([n, 1, 64, 64]);
    let heads = tch::no_grad(|| a.model.net.forward_heads(&x, false, true));
    let (logits, aux) = (heads.logits, heads.aux);
    assert!(heads.count_map.is_none(), "no particle-count map head unless asked for");
    let aux = Vec::<f32>::try_from(aux.expect("aux head").flatten(0, -1)).expect("vec");
    let mse = aux.iter().zip(&va.y).map(|(p, &y)| (f64::from(*p) - target.standardise(y as f64)).powi(2)).sum::<f64>() / n as f64;
    assert!(mse < 0.5, "held-out auxiliary MSE {mse} (standardised) should be well below the variance (1)");
    // predict_aux gives the same predictions in the target's own units.
    let own = a.model.predict_aux(&va.x, va.n(), 32).expect("predict_aux");
    assert_eq!(own.len(), va.n());
    for (row, z) in own.iter().zip(&aux) {
        assert_eq!(row.len(), 1);
        assert!((row[0] - (f64::from(*z) * target.std + target.mean)).abs() < 1e-5, "{row:?} vs {z}");
    }
    assert!(Classifier::new(tiny_meta(Task::Trypan, [8, 16, 16, 32]), tch::Device::Cpu).predict_aux(&va.x, va.n(), 32).is_err(), "no aux head");
    // The class logits are the plain forward pass's.
    let plain = tch::no_grad(|| tch::nn::ModuleT::forward_t(&a.model.net, &x, false));
    assert!(logits.allclose(&plain, 1e-6, 1e-6, false));
    let probs = a.model.predict_proba(&va.x, va.n(), 64).expect("probs");
    let y: Vec<usize> = va.y.iter().map(|&v| v as usize).collect();
    assert!(qc::metrics::report(&probs, &y, &a.model.meta.classes).expect("report").accuracy > 0.75);
    // Saved and loaded with its targets and weight.
    let dir = tempfile::tempdir().expect("tmp");
    a.model.save(dir.path()).expect("save");
    let back = Classifier::load(dir.path(), tch::Device::Cpu).expect("load");
    assert_eq!(back.meta.net.aux_targets, vec![target]);
    assert_eq!(back.meta.net.aux_weight, 0.5);
    let logits_of = |c: &Classifier| Vec::<f32>::try_from(c.logits(&va.x, va.n(), 32).expect("logits").flatten(0, -1)).expect("vec");
    assert_eq!(logits_of(&back), logits_of(&a.model));
}

#[test]
fn net_config_problems_are_named() {
    let ok = NetConfig::compact(4, 5, 96);
    assert_eq!(ok.problem(), None);
    for (cfg, says) in [
        (NetConfig { widths: [16, 32, 0, 128], ..ok.clone() }, "stage width 0"),
        (NetConfig { widths: [16, 32, 64, 1024], ..ok.clone() }, "stage width 1024"),
        (NetConfig { blocks_per_stage: 5, ..ok.clone() }, "5 blocks per stage"),
        (NetConfig { stem_stride: 0, ..ok.clone() }, "stem stride 0"),
        (NetConfig { full_res_stem: 2, ..ok.clone() }, "stem of 2 channels"),
        (NetConfig { full_res_stem: 65, ..ok.clone() }, "stem of 65 channels"),
        (NetConfig { full_res_stem: 8, arch: qc::model::Arch::Resnet50, ..ok.clone() }, "compact net only"),
        (NetConfig { space_to_depth: true, stem_stride: 1, ..ok.clone() }, "space-to-depth stem is an option of the compact net with stem stride 2"),
        (NetConfig { space_to_depth: true, arch: qc::model::Arch::Resnet50, ..ok.clone() }, "space-to-depth stem"),
        (NetConfig { dropout: 1.0, ..ok.clone() }, "dropout 1"),
        (NetConfig { n_classes: 1, ..ok.clone() }, "1 classes"),
        (NetConfig { aux_weight: -1.0, ..ok.clone() }, "auxiliary weight -1"),
        (NetConfig { particle_map_weight: f64::NAN, ..ok.clone() }, "particle-map weight NaN is outside [0, 100]"),
        (NetConfig { particle_map_weight: 0.1, arch: qc::model::Arch::Resnet50, ..ok.clone() }, "particle-count map head is an option of the compact net only"),
        (NetConfig { aux_targets: vec![qc::model::AuxTarget { column: "n_particles".into(), mean: 1.0, std: 0.0 }], ..ok.clone() }, "`n_particles` has mean 1 and std 0"),
    ] {
        let why = cfg.problem().unwrap_or_default();
        assert!(why.contains(says), "{cfg:?}: `{why}`");
    }
}
