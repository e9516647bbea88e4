//! Network tests on a tiny simulated dataset (small models, short windows: seconds on CPU).

use std::sync::OnceLock;
use tch::Device;
use twin::baselines::{Baseline, fit_predict};
use twin::data::simulate_design;
use twin::metrics::rmse;
use twin::nn::{Arch, Model, ModelConfig, TrainConfig, new_meta};
use twin::pipeline::{Prepared, grid_all, prepare};
use twin::prep::{DEFAULT_FEATURES, Horizon, WindowConfig};
use twin::split::random_split;

/// libtorch's generator is process-wide: tests that draw from it run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static L: std::sync::Mutex<()> = std::sync::Mutex::new(());
    L.lock().unwrap_or_else(|e| e.into_inner())
}

fn feats() -> Vec<String> {
    DEFAULT_FEATURES.iter().map(|s| s.to_string()).collect()
}

/// 14 simulated batches, 8 h windows (32 steps) every 12 h.
fn data() -> &'static Prepared {
    static D: OnceLock<Prepared> = OnceLock::new();
    D.get_or_init(|| {
        tch::set_num_threads(1);
        let ds = simulate_design(14, 5).expect("simulate");
        let grids = grid_all(&ds, &feats()).expect("grid");
        let split = random_split(grids.len(), 0.2, 0.2, 1).expect("split");
        prepare(grids, &feats(), &WindowConfig { steps: 32, stride: 48, horizon: Horizon::Now }, split).expect("prepare")
    })
}

fn tiny(arch: Arch, dropout: f64) -> ModelConfig {
    ModelConfig { filters: 8, lstm1: 16, lstm2: 8, dense: 8, dropout, ..ModelConfig::seed_default(arch, DEFAULT_FEATURES.len(), 32) }
}

fn model(arch: Arch, dropout: f64, seed: u64) -> Model {
    let d = data();
    Model::new(tiny(arch, dropout), new_meta(&d.features, &d.window, &d.scaler, "test"), seed, Device::Cpu).expect("model")
}

fn trained(seed: u64, epochs: usize) -> (Model, twin::nn::TrainSummary) {
    let d = data();
    let mut m = model(Arch::CnnLstm, 0.1, seed);
    let cfg = TrainConfig { epochs, batch_size: 32, lr: 3e-3, patience: 100, seed, lr_plateau_patience: 0, ..TrainConfig::default() };
    let s = m.train(&d.train, &d.val, &cfg, &mut |_| {}).expect("train");
    (m, s)
}

/// One trained model shared by the tests (a `Mutex` because tch tensors are not `Sync`).
fn trained_once() -> std::sync::MutexGuard<'static, (Model, twin::nn::TrainSummary)> {
    static T: OnceLock<std::sync::Mutex<(Model, twin::nn::TrainSummary)>> = OnceLock::new();
    T.get_or_init(|| std::sync::Mutex::new(trained(3, 25))).lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn output_shapes_and_parameter_count_of_the_seed_architecture() {
    let _serial = serial();
    let d = data();
    let m = Model::new(ModelConfig::seed_default(Arch::CnnLstm, 9, 32), new_meta(&d.features, &d.window, &d.scaler, "t"), 1, Device::Cpu).expect("model");
    // 3 × (conv 9·64·k + 64, BN 2·64) + LSTM(192→128) + LSTM(128→64) + 64·32+32 + 32·2+2.
    let conv: i64 = [3, 5, 7].iter().map(|k| 9 * 64 * k + 64 + 128).sum();
    let lstm1 = 4 * 128 * (192 + 128) + 2 * 4 * 128;
    let lstm2 = 4 * 64 * (128 + 64) + 2 * 4 * 64;
    assert_eq!(m.parameters(), conv + lstm1 + lstm2 + 64 * 32 + 32 + 32 * 2 + 2);
    let p = m.predict(&d.test).expect("predict");
    assert_eq!(p.len(), d.test.len());
    for arch in Arch::ALL {
        let m = model(arch, 0.3, 1);
        assert_eq!(m.predict(&d.test).expect("predict").len(), d.test.len(), "{arch:?}");
    }
}

#[test]
fn tiny_training_lowers_the_loss_and_beats_the_mean_predictor_on_held_out_batches() {
    let _serial = serial();
    let d = data();
    let g = trained_once();
    let (m, s) = (&g.0, &g.1);
    let first = s.history.first().expect("epochs").train_loss;
    let last = s.history.last().expect("epochs").train_loss;
    assert!(last < 0.5 * first, "loss {first} → {last}");
    let y = d.test.target(0);
    let mean_train = d.train.target(0).iter().sum::<f64>() / d.train.len() as f64;
    let p: Vec<f64> = m.predict(&d.test).expect("predict").iter().map(|r| r[0]).collect();
    let baseline = rmse(&y, &vec![mean_train; y.len()]);
    let model_rmse = rmse(&y, &p);
    assert!(model_rmse < 0.5 * baseline, "model {model_rmse} vs mean {baseline}");
    // No test batch was seen in training.
    assert!(d.test.info.iter().all(|i| !d.split.train.contains(&i.batch)));
}

#[test]
fn training_is_reproducible_on_cpu() {
    let _serial = serial();
    let d = data();
    let (a, _) = trained(11, 3);
    let (b, _) = trained(11, 3);
    assert!(a.predict(&d.test).expect("p") == b.predict(&d.test).expect("p"), "same seed, same model");
}

#[test]
fn save_load_round_trip_is_exact_and_feature_mismatch_is_an_error() {
    let _serial = serial();
    let d = data();
    let g = trained_once();
    let m = &g.0;
    let dir = tempfile::tempdir().expect("tmp");
    m.save(dir.path()).expect("save");
    assert!(dir.path().join("model.safetensors").exists());
    let l = Model::load(dir.path(), Device::Cpu).expect("load");
    assert_eq!(m.predict(&d.test).expect("p"), l.predict(&d.test).expect("p"));
    assert_eq!(l.meta.features, feats());
    // Windows with fewer features are refused.
    let mut f8 = feats();
    f8.pop();
    let err = l.ensure_features(&f8).expect_err("mismatch");
    assert!(err.to_string().contains("trained on features"), "{err}");
    let grids = grid_all(&simulate_design(2, 9).expect("sim"), &f8).expect("grid");
    let s8 = twin::prep::Scaler::fit(&[&grids[0]]).expect("fit");
    let w8 = twin::prep::windows(&[&grids[0]], &s8, &d.window).expect("w");
    let err = l.predict(&w8).expect_err("mismatch");
    assert!(matches!(err, twin::TwinError::ModelMismatch(_)), "{err}");
    // A sidecar whose network does not match the weights is refused too.
    let mut meta: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("model.json")).expect("read")).expect("json");
    meta["model"]["lstm1"] = serde_json::json!(32);
    std::fs::write(dir.path().join("model.json"), meta.to_string()).expect("write");
    assert!(matches!(Model::load(dir.path(), Device::Cpu), Err(twin::TwinError::ModelMismatch(_))));
}

#[test]
fn mc_dropout_passes_differ_eval_passes_are_exact_and_intervals_widen_with_dropout() {
    let _serial = serial();
    let d = data();
    let m = model(Arch::CnnLstm, 0.3, 2);
    assert_eq!(m.predict(&d.test).expect("p"), m.predict(&d.test).expect("p"));
    let a = m.predict_mc(&d.test, 20, 1).expect("mc");
    assert!(a.std.iter().all(|s| s[0] > 0.0), "every window varies across passes");
    assert!(a == m.predict_mc(&d.test, 20, 1).expect("mc"), "seeded MC is repeatable");
    let width = |dropout: f64| {
        let m = model(Arch::CnnLstm, dropout, 2);
        let r = m.predict_mc(&d.test, 30, 1).expect("mc");
        r.lo.iter().zip(&r.hi).map(|(l, h)| h[0] - l[0]).sum::<f64>() / r.lo.len() as f64
    };
    let (narrow, wide) = (width(0.1), width(0.5));
    assert!(wide > narrow, "width {narrow} at p=0.1, {wide} at p=0.5");
}

#[test]
fn integrated_gradients_are_complete() {
    let _serial = serial();
    let d = data();
    let g = trained_once();
    let m = &g.0;
    for (w, k) in [(0, 0), (3, 0), (5, 1)] {
        let a = m.integrated_gradients(&d.test, w, k, 128).expect("ig");
        let gap = a.f_x - a.f_baseline;
        let p = m.predict(&d.test).expect("p")[w][k];
        assert!((a.f_x - p).abs() < 1e-4 * (1.0 + p.abs()), "f(x) {} vs predict {p}", a.f_x);
        assert!((a.total() - gap).abs() <= 0.02 * gap.abs() + 1e-3, "sum {} vs f(x) − f(0) {gap}", a.total());
        assert_eq!(a.per_feature_abs().len(), DEFAULT_FEATURES.len());
    }
}

#[test]
fn classical_baselines_run_on_the_same_windows() {
    let _serial = serial();
    let d = data();
    for b in Baseline::ALL {
        let p = fit_predict(b, &d.train, &d.test, 1, &Default::default()).expect("baseline");
        assert_eq!(p.len(), d.test.len());
        assert!(p.iter().all(|r| r[0].is_finite() && r[1].is_finite()), "{b:?}");
    }
    // A cap below the training-set size changes what the forest sees, and so its predictions.
    let caps = twin::baselines::BaselineCaps::from_flags(d.train.len() / 4, 0);
    let all = fit_predict(Baseline::RandomForest, &d.train, &d.test, 1, &Default::default()).expect("rf");
    let few = fit_predict(Baseline::RandomForest, &d.train, &d.test, 1, &caps).expect("rf capped");
    assert_eq!(twin::baselines::BaselineCaps::default().used(Baseline::RandomForest, d.train.len()), d.train.len(), "the forest gets every window by default");
    assert_ne!(all, few, "a quarter of the windows gave the same forest");
}

#[test]
fn a_harvest_model_answers_as_the_optimizers_surrogate() {
    use sim::objective::Surrogate;
    let _serial = serial();
    let ds = simulate_design(8, 21).expect("simulate");
    let grids = grid_all(&ds, &feats()).expect("grid");
    let split = random_split(grids.len(), 0.2, 0.2, 1).expect("split");
    let window = WindowConfig { steps: 32, stride: 48, horizon: Horizon::Harvest };
    let d = prepare(grids, &feats(), &window, split).expect("prepare");
    let mut m = Model::new(tiny(Arch::CnnLstm, 0.1), new_meta(&d.features, &d.window, &d.scaler, "t"), 1, Device::Cpu).expect("model");
    m.train(&d.train, &d.val, &TrainConfig { epochs: 3, batch_size: 32, ..TrainConfig::default() }, &mut |_| {}).expect("train");
    let s = twin::surrogate::TwinSurrogate::new(m, 48.0).expect("surrogate");
    assert_eq!(s.name(), "twin:cnn-lstm");
    let p = s.predict(&sim::Scenario::default()).expect("predict");
    assert!(p.final_titer_g_per_l.is_finite() && p.final_cqa_gi_pct.is_finite());
    assert!(p.peak_lactate_g_per_l.is_none());
    // A nowcast model is refused.
    let now = model(Arch::CnnLstm, 0.1, 1);
    assert!(twin::surrogate::TwinSurrogate::new(now, 48.0).is_err());
}

#[test]
fn plateau_schedule_halves_the_rate_only_after_epochs_without_improvement() {
    let _serial = serial();
    let d = data();
    let mut m = model(Arch::Cnn, 0.1, 4);
    // A rate this high makes the validation loss bounce, so both branches are exercised.
    let cfg = TrainConfig { epochs: 12, batch_size: 32, lr: 3e-2, patience: 100, seed: 4, lr_plateau_patience: 1, ..TrainConfig::default() };
    let s = m.train(&d.train, &d.val, &cfg, &mut |_| {}).expect("train");
    let floor = cfg.lr / twin::nn::LR_FLOOR_DIVISOR;
    assert_eq!(s.history[0].lr, cfg.lr);
    let mut decays = 0;
    for w in s.history.windows(2) {
        let (prev, cur) = (&w[0], &w[1]);
        let prev_improved = prev.best_epoch == prev.epoch;
        if prev_improved || prev.lr <= floor {
            assert_eq!(cur.lr, prev.lr, "epoch {}: no decay after an improvement or at the floor", cur.epoch);
        } else {
            assert_eq!(cur.lr, (prev.lr * 0.5).max(floor), "epoch {}: halved after a plateau epoch", cur.epoch);
            decays += 1;
        }
    }
    assert!(decays > 0, "the validation loss never stalled: {:?}", s.history.iter().map(|h| h.val_loss).collect::<Vec<_>>());
    // Off by default: a constant rate.
    let s0 = trained_once().1.clone();
    assert!(s0.history.iter().all(|h| h.lr == 3e-3));
}

#[test]
fn a_highway_network_trains_round_trips_and_keeps_mc_and_ig_consistent() {
    let _serial = serial();
    let d = data();
    let cfg = ModelConfig { highway: true, ..tiny(Arch::CnnLstm, 0.2) };
    let plain = model(Arch::CnnLstm, 0.2, 4);
    let mut m = Model::new(cfg, new_meta(&d.features, &d.window, &d.scaler, "test"), 4, Device::Cpu).expect("model");
    // The highway adds one linear layer: F·2 weights + 2 biases.
    assert_eq!(m.parameters(), plain.parameters() + 2 * DEFAULT_FEATURES.len() as i64 + 2);
    let tc = TrainConfig { epochs: 15, batch_size: 32, lr: 3e-3, patience: 100, seed: 4, lr_plateau_patience: 0, ..TrainConfig::default() };
    let s = m.train(&d.train, &d.val, &tc, &mut |_| {}).expect("train");
    assert!(s.history.last().expect("epochs").train_loss < s.history[0].train_loss, "{:?}", s.history);
    let dir = tempfile::tempdir().expect("tmp");
    m.save(dir.path()).expect("save");
    let l = Model::load(dir.path(), Device::Cpu).expect("load");
    assert!(l.meta.model.highway);
    let p = m.predict(&d.test).expect("p");
    assert_eq!(p, l.predict(&d.test).expect("p"));
    // A sidecar that says "no highway" does not load weights that have one.
    let mut meta: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("model.json")).expect("read")).expect("json");
    meta["model"]["highway"] = serde_json::json!(false);
    std::fs::write(dir.path().join("model.json"), meta.to_string()).expect("write");
    assert!(matches!(Model::load(dir.path(), Device::Cpu), Err(twin::TwinError::ModelMismatch(_))));
    // MC dropout with the highway: the mean of the passes stays near the point prediction,
    // and integrated gradients still sum to f(x) − f(baseline).
    let mc = m.predict_mc(&d.test, 40, 1).expect("mc");
    let sd = (p.iter().map(|r| r[0]).map(|v| v * v).sum::<f64>() / p.len() as f64).sqrt();
    let gap = p.iter().zip(&mc.mean).map(|(a, b)| (a[0] - b[0]).abs()).sum::<f64>() / p.len() as f64;
    assert!(gap < 0.25 * sd.max(1e-6), "MC mean vs point prediction: {gap} (scale {sd})");
    let a = m.integrated_gradients(&d.test, 2, 0, 128).expect("ig");
    let g = a.f_x - a.f_baseline;
    assert!((a.f_x - p[2][0]).abs() < 1e-4 * (1.0 + p[2][0].abs()));
    assert!((a.total() - g).abs() <= 0.02 * g.abs() + 1e-3, "sum {} vs {g}", a.total());
}

#[test]
fn the_persistence_skip_adds_the_held_titer_and_survives_training_and_reload() {
    let _serial = serial();
    let d = data();
    let k = d.features.iter().position(|f| f == Model::PERSISTENCE_FEATURE).expect("titer input");
    let cfg = ModelConfig { persistence: true, ..tiny(Arch::CnnLstm, 0.2) };
    let plain = model(Arch::CnnLstm, 0.2, 5);
    let mut m = Model::new(cfg.clone(), new_meta(&d.features, &d.window, &d.scaler, "test"), 5, Device::Cpu).expect("model");
    // A fixed skip: no parameters, the same initial weights as the plain network, and before
    // training (identity target scaler) the outputs differ by exactly the held titer assay.
    assert_eq!(m.parameters(), plain.parameters());
    let (pp, p0) = (m.predict(&d.test).expect("p"), plain.predict(&d.test).expect("p0"));
    let (steps, nf) = (d.test.steps, d.test.n_features);
    for i in 0..d.test.len() {
        let x_last = f64::from(d.test.x[i * steps * nf + (steps - 1) * nf + k]);
        let held = x_last * d.scaler.std[k] + d.scaler.mean[k];
        assert!((pp[i][0] - p0[i][0] - held).abs() < 1e-4 * (1.0 + held.abs()), "window {i}: {} − {} vs held {held}", pp[i][0], p0[i][0]);
        assert!((pp[i][1] - p0[i][1]).abs() < 1e-5, "GI moved by the titer skip");
    }
    let tc = TrainConfig { epochs: 15, batch_size: 32, lr: 3e-3, patience: 100, seed: 5, lr_plateau_patience: 0, ..TrainConfig::default() };
    let s = m.train(&d.train, &d.val, &tc, &mut |_| {}).expect("train");
    assert!(s.history.last().expect("epochs").train_loss < s.history[0].train_loss, "{:?}", s.history);
    let dir = tempfile::tempdir().expect("tmp");
    m.save(dir.path()).expect("save");
    let l = Model::load(dir.path(), Device::Cpu).expect("load");
    assert!(l.meta.model.persistence);
    let p = m.predict(&d.test).expect("p");
    assert_eq!(p, l.predict(&d.test).expect("p"), "round trip (the skip is rebuilt from the saved scalers)");
    let a = l.integrated_gradients(&d.test, 2, 0, 128).expect("ig");
    let g = a.f_x - a.f_baseline;
    assert!((a.f_x - p[2][0]).abs() < 1e-4 * (1.0 + p[2][0].abs()));
    assert!((a.total() - g).abs() <= 0.02 * g.abs() + 1e-3, "sum {} vs {g}", a.total());
    // Without the titer input there is nothing to persist: a clear error.
    let without: Vec<String> = d.features.iter().filter(|f| *f != Model::PERSISTENCE_FEATURE).cloned().collect();
    let sc = twin::prep::Scaler { mean: vec![0.0; without.len()], std: vec![1.0; without.len()] };
    let cfg = ModelConfig { n_features: without.len(), ..cfg };
    match Model::new(cfg, new_meta(&without, &d.window, &sc, "test"), 5, Device::Cpu) {
        Err(twin::TwinError::Invalid(msg)) => assert!(msg.contains("titer_g_per_l"), "{msg}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_conv_skip_widens_the_head_trains_round_trips_and_is_a_cnn_lstm_option_only() {
    let _serial = serial();
    let d = data();
    let cfg = ModelConfig { conv_skip: true, ..tiny(Arch::CnnLstm, 0.2) };
    let plain = model(Arch::CnnLstm, 0.2, 7);
    let mut m = Model::new(cfg.clone(), new_meta(&d.features, &d.window, &d.scaler, "test"), 7, Device::Cpu).expect("model");
    // The Dense layer also reads the convolutions' window mean and last step: 2 × (filters ×
    // branches) more inputs, each with `dense` weights.
    let conv_out = (cfg.filters * cfg.kernels.len()) as i64;
    assert_eq!(m.parameters(), plain.parameters() + 2 * conv_out * cfg.dense as i64);
    let tc = TrainConfig { epochs: 15, batch_size: 32, lr: 3e-3, patience: 100, seed: 7, lr_plateau_patience: 0, ..TrainConfig::default() };
    let s = m.train(&d.train, &d.val, &tc, &mut |_| {}).expect("train");
    assert!(s.history.last().expect("epochs").train_loss < s.history[0].train_loss, "{:?}", s.history);
    let dir = tempfile::tempdir().expect("tmp");
    m.save(dir.path()).expect("save");
    let l = Model::load(dir.path(), Device::Cpu).expect("load");
    assert!(l.meta.model.conv_skip);
    let p = m.predict(&d.test).expect("p");
    assert_eq!(p, l.predict(&d.test).expect("p"));
    // MC dropout varies the passes (dropout also acts on the skipped read-out) and IG stays complete.
    let mc = l.predict_mc(&d.test, 40, 1).expect("mc");
    assert!(mc.std.iter().any(|s| s[0] > 0.0));
    let a = l.integrated_gradients(&d.test, 2, 0, 128).expect("ig");
    let g = a.f_x - a.f_baseline;
    assert!((a.f_x - p[2][0]).abs() < 1e-4 * (1.0 + p[2][0].abs()));
    assert!((a.total() - g).abs() <= 0.02 * g.abs() + 1e-3, "sum {} vs {g}", a.total());
    // A sidecar without the skip does not load the wider head's weights.
    let mut meta: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("model.json")).expect("read")).expect("json");
    meta["model"]["conv_skip"] = serde_json::json!(false);
    std::fs::write(dir.path().join("model.json"), meta.to_string()).expect("write");
    assert!(Model::load(dir.path(), Device::Cpu).is_err());
    // Other architectures have no LSTMs to skip: a clear error.
    for arch in [Arch::Cnn, Arch::Lstm, Arch::Ffnn] {
        match Model::new(ModelConfig { conv_skip: true, ..tiny(arch, 0.2) }, new_meta(&d.features, &d.window, &d.scaler, "test"), 7, Device::Cpu) {
            Err(twin::TwinError::Invalid(msg)) => assert!(msg.contains("conv_skip"), "{msg}"),
            other => panic!("{arch:?}: expected a refusal, got {other:?}"),
        }
    }
}

#[test]
fn a_log_titer_network_fits_its_scaler_on_log_titers_and_maps_back_to_g_per_l() {
    let _serial = serial();
    let d = data();
    let k = d.features.iter().position(|f| f == Model::PERSISTENCE_FEATURE).expect("titer input");
    let cfg = ModelConfig { log_titer: true, persistence: true, ..tiny(Arch::CnnLstm, 0.2) };
    let plain = model(Arch::CnnLstm, 0.2, 6);
    let mut m = Model::new(cfg, new_meta(&d.features, &d.window, &d.scaler, "test"), 6, Device::Cpu).expect("model");
    assert_eq!(m.parameters(), plain.parameters(), "the log scale adds no weights");
    // Before training (identity target scaler) the titer output is exp(head + ln(1 + held)) − 1
    // = (1 + held)·exp(head) − 1, where head is the plain network's output (same weights).
    let (pl, p0) = (m.predict(&d.test).expect("p"), plain.predict(&d.test).expect("p0"));
    let (steps, nf) = (d.test.steps, d.test.n_features);
    for i in 0..d.test.len() {
        let held = (f64::from(d.test.x[i * steps * nf + (steps - 1) * nf + k]) * d.scaler.std[k] + d.scaler.mean[k]).max(0.0);
        let want = (1.0 + held) * p0[i][0].exp() - 1.0;
        assert!((pl[i][0] - want).abs() < 1e-4 * (1.0 + want.abs()), "window {i}: {} vs {want}", pl[i][0]);
        assert!((pl[i][1] - p0[i][1]).abs() < 1e-5, "GI stays linear");
    }
    let tc = TrainConfig { epochs: 15, batch_size: 32, lr: 3e-3, patience: 100, seed: 6, lr_plateau_patience: 0, ..TrainConfig::default() };
    let s = m.train(&d.train, &d.val, &tc, &mut |_| {}).expect("train");
    assert!(s.history.last().expect("epochs").train_loss < s.history[0].train_loss, "{:?}", s.history);
    // The target scaler is fitted on ln(1 + titer) of the training windows (GI linear).
    let t: Vec<f64> = d.train.target(0).into_iter().map(|v| v.max(0.0).ln_1p()).collect();
    let mean = t.iter().sum::<f64>() / t.len() as f64;
    assert!((m.meta.target_scaler.mean[0] - mean).abs() < 1e-6, "{} vs {mean}", m.meta.target_scaler.mean[0]);
    let gi: Vec<f64> = d.train.target(1);
    assert!((m.meta.target_scaler.mean[1] - gi.iter().sum::<f64>() / gi.len() as f64).abs() < 1e-6);
    // Predictions are in g/L again: the trained network beats predicting the training mean titer.
    let p = m.predict(&d.test).expect("p");
    let truth = d.test.target(0);
    let mean_raw = d.train.target(0).iter().sum::<f64>() / d.train.len() as f64;
    let pred: Vec<f64> = p.iter().map(|r| r[0]).collect();
    assert!(pred.iter().all(|v| *v > -1.0));
    assert!(rmse(&pred, &truth) < rmse(&vec![mean_raw; truth.len()], &truth), "{} vs the mean predictor", rmse(&pred, &truth));
    // Round trip, MC dropout in raw units around the point prediction, IG completeness in g/L.
    let dir = tempfile::tempdir().expect("tmp");
    m.save(dir.path()).expect("save");
    let l = Model::load(dir.path(), Device::Cpu).expect("load");
    assert!(l.meta.model.log_titer);
    assert_eq!(p, l.predict(&d.test).expect("p"));
    let mc = l.predict_mc(&d.test, 40, 1).expect("mc");
    assert!(mc.lo.iter().zip(&mc.hi).all(|(a, b)| a[0] <= b[0] && a[0] > -1.0));
    let a = l.integrated_gradients(&d.test, 2, 0, 128).expect("ig");
    let g = a.f_x - a.f_baseline;
    assert!((a.f_x - p[2][0]).abs() < 1e-4 * (1.0 + p[2][0].abs()), "IG's f(x) is the prediction in g/L");
    assert!((a.total() - g).abs() <= 0.02 * g.abs() + 1e-3, "sum {} vs {g}", a.total());
    // A sidecar that drops the log scale gives different (linear) titers: the flag is part of the model.
    let mut meta: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("model.json")).expect("read")).expect("json");
    meta["model"]["log_titer"] = serde_json::json!(false);
    std::fs::write(dir.path().join("model.json"), meta.to_string()).expect("write");
    let lin = Model::load(dir.path(), Device::Cpu).expect("load");
    assert_ne!(lin.predict(&d.test).expect("p")[0][0], p[0][0]);
}

/// Validation MSE of the z-scored titer and of both targets, recomputed from `predict`.
fn val_mse(m: &Model) -> (f64, f64) {
    let d = data();
    let p = m.predict(&d.val).expect("predict");
    let ts = &m.meta.target_scaler;
    let (mut titer, mut gi) = (0.0, 0.0);
    for (k, (a, b)) in d.val.target(0).into_iter().zip(d.val.target(1)).enumerate() {
        titer += (ts.z(0, p[k][0]) - ts.z(0, a)).powi(2);
        gi += (ts.z(1, p[k][1]) - ts.z(1, b)).powi(2);
    }
    let n = d.val.len() as f64;
    (titer / n, (titer + gi) / (2.0 * n))
}

fn weight_norm(m: &Model) -> f64 {
    let dir = tempfile::tempdir().expect("tmp");
    m.save(dir.path()).expect("save");
    let w = tch::Tensor::read_safetensors(dir.path().join("model.safetensors")).expect("read");
    // Trainable weights only (batch-norm running statistics do not decay).
    w.iter().filter(|(k, _)| !k.contains("running")).map(|(_, t)| t.square().sum(tch::Kind::Double).double_value(&[])).sum::<f64>().sqrt()
}

#[test]
fn ema_weights_are_the_ones_validated_and_kept_and_titer_stopping_watches_the_titer_loss() {
    use twin::nn::StopOn;
    let _serial = serial();
    let d = data();
    let base = TrainConfig { epochs: 10, batch_size: 32, lr: 3e-3, patience: 100, seed: 6, ..TrainConfig::default() };
    for (ema, stop_on) in [(0.0, StopOn::Titer), (0.9, StopOn::Joint), (0.9, StopOn::Titer)] {
        let mut m = model(Arch::CnnLstm, 0.1, 6);
        let cfg = TrainConfig { ema_decay: ema, stop_on, ..base.clone() };
        let s = m.train(&d.train, &d.val, &cfg, &mut |_| {}).expect("train");
        let watched: Vec<f64> = s.history.iter().map(|h| if stop_on == StopOn::Titer { h.val_titer_loss } else { h.val_loss }).collect();
        let min = watched.iter().cloned().fold(f64::INFINITY, f64::min);
        assert_eq!(s.best_val_loss, min, "{cfg:?}");
        assert_eq!(watched[s.best_epoch - 1], min, "{cfg:?}");
        // The kept weights score exactly what was recorded for the best epoch.
        let (titer, joint) = val_mse(&m);
        let h = &s.history[s.best_epoch - 1];
        assert!((titer - h.val_titer_loss).abs() < 1e-4 * (1.0 + titer), "{cfg:?}: titer {titer} vs {}", h.val_titer_loss);
        assert!((joint - h.val_loss).abs() < 1e-4 * (1.0 + joint), "{cfg:?}: joint {joint} vs {}", h.val_loss);
        assert!(h.val_titer_loss != h.val_loss);
    }
    // Averaging changes the result, and is reproducible.
    // So does input noise (fresh draws from the seeded generator: reproducible too).
    let run = |ema: f64, noise: f64| {
        let mut m = model(Arch::CnnLstm, 0.1, 6);
        m.train(&d.train, &d.val, &TrainConfig { ema_decay: ema, input_noise: noise, ..base.clone() }, &mut |_| {}).expect("train");
        m.predict(&d.test).expect("predict")
    };
    let plain = run(0.0, 0.0);
    for (ema, noise) in [(0.9, 0.0), (0.0, 0.2)] {
        let (a, b) = (run(ema, noise), run(ema, noise));
        assert_eq!(a, b, "ema {ema}, noise {noise}");
        assert_ne!(a, plain, "ema {ema}, noise {noise}");
    }
    // Bad settings are errors, not panics.
    let mut m = model(Arch::CnnLstm, 0.1, 6);
    assert!(m.train(&d.train, &d.val, &TrainConfig { ema_decay: 1.0, ..base.clone() }, &mut |_| {}).is_err());
    assert!(m.train(&d.train, &d.val, &TrainConfig { weight_decay: -0.1, ..base.clone() }, &mut |_| {}).is_err());
    assert!(m.train(&d.train, &d.val, &TrainConfig { input_noise: f64::NAN, ..base.clone() }, &mut |_| {}).is_err());
}

#[test]
fn decoupled_weight_decay_shrinks_the_weights() {
    let _serial = serial();
    let d = data();
    let norm = |wd: f64| {
        let mut m = model(Arch::CnnLstm, 0.1, 8);
        let cfg = TrainConfig { epochs: 8, batch_size: 32, lr: 3e-3, patience: 100, seed: 8, weight_decay: wd, ..TrainConfig::default() };
        m.train(&d.train, &d.val, &cfg, &mut |_| {}).expect("train");
        weight_norm(&m)
    };
    let (plain, decayed) = (norm(0.0), norm(0.9));
    eprintln!("weight norm: {plain:.3} without decay, {decayed:.3} with 0.9");
    assert!(decayed < 0.97 * plain, "weight norm {decayed} with decay vs {plain} without");
}

#[test]
fn titer_weight_weights_the_loss_and_the_joint_validation_loss() {
    let _serial = serial();
    let d = data();
    let base = TrainConfig { epochs: 6, batch_size: 32, lr: 3e-3, patience: 100, seed: 9, ..TrainConfig::default() };
    let fit = |w: f64| {
        let mut m = model(Arch::CnnLstm, 0.1, 9);
        let s = m.train(&d.train, &d.val, &TrainConfig { titer_weight: w, ..base.clone() }, &mut |_| {}).expect("train");
        (m, s)
    };
    let (m_plain, s_plain) = fit(0.5);
    let (m_titer, s_titer) = fit(0.9);
    // The joint validation loss is w·titer + (1 − w)·GI of the kept weights.
    for (m, s, w) in [(&m_plain, &s_plain, 0.5), (&m_titer, &s_titer, 0.9)] {
        let (titer, mean) = val_mse(m);
        let gi = 2.0 * mean - titer;
        let h = &s.history[s.best_epoch - 1];
        let want = w * titer + (1.0 - w) * gi;
        assert!((want - h.val_loss).abs() < 1e-4 * (1.0 + want), "w {w}: {want} vs {}", h.val_loss);
        assert_eq!(s.config.titer_weight, w);
    }
    // Weighting the titer changes training, and spends it on the titer: on the training
    // windows the titer error is lower and the GI error higher than with equal weights.
    assert_ne!(m_plain.predict(&d.test).expect("p"), m_titer.predict(&d.test).expect("p"));
    let train_mse = |m: &Model| {
        let p = m.predict(&d.train).expect("predict");
        let ts = &m.meta.target_scaler;
        let mut e = [0.0; 2];
        for (k, (a, b)) in d.train.target(0).into_iter().zip(d.train.target(1)).enumerate() {
            e[0] += (ts.z(0, p[k][0]) - ts.z(0, a)).powi(2);
            e[1] += (ts.z(1, p[k][1]) - ts.z(1, b)).powi(2);
        }
        e
    };
    let (ep, et) = (train_mse(&m_plain), train_mse(&m_titer));
    eprintln!("train z-MSE (titer, GI): equal weights {ep:?}, titer weight 0.9 {et:?}");
    assert!(et[0] / et[1] < ep[0] / ep[1], "titer/GI error ratio {et:?} vs {ep:?}");
    // Out-of-range weights are errors, named by the setting.
    let mut m = model(Arch::CnnLstm, 0.1, 9);
    for w in [-0.1, 1.5, f64::NAN] {
        let e = m.train(&d.train, &d.val, &TrainConfig { titer_weight: w, ..base.clone() }, &mut |_| {}).expect_err("bad weight");
        assert!(e.to_string().contains("titer_weight"), "{e}");
    }
    assert!(m.train(&d.train, &d.val, &TrainConfig { titer_weight: 0.0, ..base.clone() }, &mut |_| {}).is_err(), "no titer in the joint loss");
}

#[test]
fn a_warm_start_from_a_cnn_reproduces_it_then_trains_and_is_refused_when_it_does_not_fit() {
    let _serial = serial();
    let d = data();
    let meta = || new_meta(&d.features, &d.window, &d.scaler, "test");
    let extras = |c: ModelConfig| ModelConfig { highway: true, persistence: true, log_titer: true, ..c };
    let tc = TrainConfig { epochs: 4, batch_size: 32, lr: 3e-3, patience: 100, seed: 5, lr_plateau_patience: 0, ..TrainConfig::default() };
    let mut cnn = Model::new(extras(tiny(Arch::Cnn, 0.2)), meta(), 5, Device::Cpu).expect("cnn");
    cnn.train(&d.train, &d.val, &tc, &mut |_| {}).expect("train cnn");
    let dir = std::path::Path::new("cnn_dir");
    let lstm_cfg = ModelConfig { conv_skip: true, ..extras(tiny(Arch::CnnLstm, 0.2)) };
    let mut m = Model::new(lstm_cfg.clone(), meta(), 6, Device::Cpu).expect("cnn-lstm");
    let before = m.predict(&d.test).expect("p");
    m.init_from_cnn(&cnn, dir).expect("warm start");
    // Before any training the CNN-LSTM computes the CNN's predictions (eval mode): the LSTM
    // inputs of the first Dense layer are zero, everything else is the CNN's.
    let (pc, pm) = (cnn.predict(&d.test).expect("cnn p"), m.predict(&d.test).expect("m p"));
    assert_ne!(before, pm, "the warm start changed the network");
    for (a, b) in pc.iter().zip(&pm) {
        for k in 0..2 {
            assert!((a[k] - b[k]).abs() <= 1e-4 * (1.0 + a[k].abs()), "{a:?} vs {b:?}");
        }
    }
    let w = m.meta.init_from.clone().expect("recorded");
    assert!(w.copied.contains(&"fc1.weight".to_string()) && w.copied.contains(&"conv3.weight".to_string()) && w.copied.contains(&"highway.weight".to_string()), "{w:?}");
    assert!(w.donor.starts_with("cnn, best epoch"), "{}", w.donor);
    // It trains from there (the LSTMs get gradients through the zeroed columns) and round-trips.
    let s = m.train(&d.train, &d.val, &TrainConfig { epochs: 3, ..tc.clone() }, &mut |_| {}).expect("train");
    assert_eq!(s.epochs_run, 3);
    assert_ne!(m.predict(&d.test).expect("p"), pm, "training moved it");
    let tmp = tempfile::tempdir().expect("tmp");
    m.save(tmp.path()).expect("save");
    let mut files: Vec<String> = std::fs::read_dir(tmp.path()).expect("ls").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, ["model.json", "model.safetensors"], "no temporary files are left behind");
    assert_eq!(Model::load(tmp.path(), Device::Cpu).expect("load").meta.init_from, Some(w));
    // Refusals, each naming the reason.
    let refuse = |mut target: Model, donor: &Model, says: &str| match target.init_from_cnn(donor, dir) {
        Err(twin::TwinError::ModelMismatch(msg)) => assert!(msg.contains(says) && msg.contains("cnn_dir"), "{says}: {msg}"),
        other => panic!("{says}: expected a refusal, got {other:?}"),
    };
    refuse(Model::new(extras(tiny(Arch::CnnLstm, 0.2)), meta(), 6, Device::Cpu).expect("m"), &cnn, "conv_skip");
    let other_lstm = Model::new(lstm_cfg.clone(), meta(), 7, Device::Cpu).expect("m");
    refuse(Model::new(lstm_cfg.clone(), meta(), 6, Device::Cpu).expect("m"), &other_lstm, "not a `cnn`");
    refuse(Model::new(ModelConfig { dense: 4, ..lstm_cfg.clone() }, meta(), 6, Device::Cpu).expect("m"), &cnn, "sizes or options differ");
    refuse(Model::new(ModelConfig { log_titer: false, ..lstm_cfg.clone() }, meta(), 6, Device::Cpu).expect("m"), &cnn, "sizes or options differ");
    refuse(Model::new(lstm_cfg.clone(), new_meta(&d.features, &d.window, &d.scaler, "other data"), 6, Device::Cpu).expect("m"), &cnn, "another dataset");
    let mut split_meta = meta();
    split_meta.split_batch_ids = Some(random_split(14, 0.2, 0.2, 9).expect("split"));
    refuse(Model::new(lstm_cfg, split_meta, 6, Device::Cpu).expect("m"), &cnn, "another train/validation/test split");
}
