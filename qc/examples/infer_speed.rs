//! Inference throughput of compact-net variants, in one process (see BENCHMARKS.md,
//! "Microcarrier", session 14): `cargo run --release -p qc --example infer_speed`.
//! Randomly initialised networks (the cost does not depend on the weights), 96 px (the
//! microcarrier renders; `INFER_SPEED_PX=64` for trypan crops), grey + 3 PCA channels, 5 classes, 2 torch threads, eval mode, no gradients. Each variant is timed
//! round-robin, best of 5 repeats of 1,024 images at batch 64 (and 128 at batch 1), so a
//! noisy machine disturbs every variant alike; the ratio is against the shipped default.

use qc::model::{Net, NetConfig};
use std::time::Instant;
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor, nn};

fn main() {
    tch::set_num_threads(2);
    tch::manual_seed(0);
    let px: i64 = std::env::var("INFER_SPEED_PX").ok().and_then(|v| v.parse().ok()).unwrap_or(96);
    println!("input {px} x {px} px, 4 channels, 2 threads");
    let base = NetConfig::compact(4, 5, px as usize);
    let variants: Vec<(&str, NetConfig)> = vec![
        ("default 16/32/64/128, stride 2", base.clone()),
        ("widths 24/48/96/192, stride 2", NetConfig { widths: [24, 48, 96, 192], ..base.clone() }),
        ("widths 32/64/128/256, stride 2", NetConfig { widths: [32, 64, 128, 256], ..base.clone() }),
        ("2 blocks per stage, stride 2", NetConfig { blocks_per_stage: 2, ..base.clone() }),
        ("2 blocks per stage, space-to-depth stem", NetConfig { blocks_per_stage: 2, space_to_depth: true, ..base.clone() }),
        ("default widths, stride 1", NetConfig { stem_stride: 1, ..base.clone() }),
        ("2 blocks per stage, stride 2, full-res stem 8", NetConfig { blocks_per_stage: 2, full_res_stem: 8, ..base.clone() }),
        ("2 blocks per stage, stride 2, full-res stem 16", NetConfig { blocks_per_stage: 2, full_res_stem: 16, ..base.clone() }),
        ("widths 8/16/32/64, stride 1", NetConfig { widths: [8, 16, 32, 64], stem_stride: 1, ..base.clone() }),
        ("widths 8/16/32/64, 2 blocks, stride 1", NetConfig { widths: [8, 16, 32, 64], blocks_per_stage: 2, stem_stride: 1, ..base.clone() }),
        ("widths 8/32/64/128, 2 blocks, stride 1", NetConfig { widths: [8, 32, 64, 128], blocks_per_stage: 2, stem_stride: 1, ..base.clone() }),
        ("widths 12/24/48/96, stride 1", NetConfig { widths: [12, 24, 48, 96], stem_stride: 1, ..base.clone() }),
    ];
    let nets: Vec<(nn::VarStore, Net)> = variants
        .iter()
        .map(|(_, cfg)| {
            let vs = nn::VarStore::new(Device::Cpu);
            let net = Net::new(&vs.root(), cfg);
            (vs, net)
        })
        .collect();
    let x64 = Tensor::randn([64, 4, px, px], (Kind::Float, Device::Cpu));
    let x1 = Tensor::randn([1, 4, px, px], (Kind::Float, Device::Cpu));
    let mut best64 = vec![f64::INFINITY; nets.len()];
    let mut best1 = vec![f64::INFINITY; nets.len()];
    tch::no_grad(|| {
        for (_, net) in &nets {
            let _ = net.forward_t(&x64, false); // warm-up
        }
        for _ in 0..5 {
            for (k, (_, net)) in nets.iter().enumerate() {
                let t = Instant::now();
                for _ in 0..16 {
                    let _ = net.forward_t(&x64, false);
                }
                best64[k] = best64[k].min(t.elapsed().as_secs_f64());
                let t = Instant::now();
                for _ in 0..128 {
                    let _ = net.forward_t(&x1, false);
                }
                best1[k] = best1[k].min(t.elapsed().as_secs_f64());
            }
        }
    });
    println!("| variant | parameters | images/s batch 64 | images/s batch 1 | batch-64 ratio to default |");
    println!("|---|---|---|---|---|");
    for (k, ((name, _), (vs, _))) in variants.iter().zip(&nets).enumerate() {
        let n_par: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        let ips64 = 1024.0 / best64[k];
        println!("| {name} | {n_par} | {ips64:.0} | {:.0} | {:.2} |", 128.0 / best1[k], ips64 / (1024.0 / best64[0]));
    }
}
