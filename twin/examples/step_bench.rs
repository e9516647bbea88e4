//! Timing of one CNN-LSTM train step (batch 64) and of inference on 1,000 windows, on CPU with
//! the thread count given as the first argument (default 2). Used by BENCHMARKS_TWIN.md.
//!
//! `cargo run --release -p twin --example step_bench -- 2`

use std::time::Instant;
use tch::nn;
use tch::{Device, Kind, Tensor};

fn main() {
    let threads: i32 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    tch::set_num_threads(threads);
    tch::manual_seed(1);
    let f = 9;
    let steps = 96;
    let window = twin::prep::WindowConfig::default();
    let scaler = twin::prep::Scaler { mean: vec![0.0; f], std: vec![1.0; f] };
    let feats: Vec<String> = twin::prep::DEFAULT_FEATURES.iter().map(|s| s.to_string()).collect();
    let meta = twin::nn::new_meta(&feats, &window, &scaler, "bench");
    let n = 1000;
    let x: Vec<f32> = (0..n * steps * f).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    let y: Vec<f32> = (0..n * 2).map(|i| ((i * 31) % 100) as f32 / 50.0).collect();
    let info = (0..n)
        .map(|i| twin::prep::WindowInfo { batch: 0, batch_id: 0, end_step: i, t_end_h: i as f64, target_t_h: i as f64, phase: twin::prep::Phase::Growth })
        .collect();
    let set = twin::prep::WindowSet { steps, n_features: f, x, y, info };
    for arch in [twin::nn::Arch::CnnLstm, twin::nn::Arch::Lstm, twin::nn::Arch::Cnn, twin::nn::Arch::Ffnn] {
        let cfg = twin::nn::ModelConfig::seed_default(arch, f, steps);
        let mut m = twin::nn::Model::new(cfg, meta.clone(), 1, Device::Cpu).expect("model");
        let small = set.subset(&(0..64).collect::<Vec<_>>());
        let tc = twin::nn::TrainConfig { epochs: 1, batch_size: 64, lr: 1e-3, patience: 5, seed: 1, lr_plateau_patience: 0, ..twin::nn::TrainConfig::default() };
        // Warm-up, then 10 one-batch epochs (one train step + a 64-window validation pass each).
        m.train(&small, &small, &tc, &mut |_| {}).expect("train");
        let t = Instant::now();
        let reps = 10;
        for _ in 0..reps {
            m.train(&small, &set.subset(&[]), &tc, &mut |_| {}).expect("train");
        }
        let step_ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
        let _ = m.predict(&set).expect("predict");
        let t = Instant::now();
        let _ = m.predict(&set).expect("predict");
        let inf_ms = t.elapsed().as_secs_f64() * 1e3;
        println!("{:9} params {:7}  train step (batch 64): {:8.1} ms   inference 1000 windows: {:8.1} ms", arch.key(), m.parameters(), step_ms, inf_ms);
    }
    let _ = (Kind::Float, Tensor::zeros([1], (Kind::Float, Device::Cpu)), nn::Adam::default().beta1);
}
