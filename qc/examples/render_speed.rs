//! Render throughput probe (see BENCHMARKS.md, "Render throughput"):
//! `cargo run --release -p qc --example render_speed`.
//! Single thread, best of several repeats, so a busy second core disturbs it little.
//! `RENDER_SPEED_ONLY=microcarrier` (a task name) limits it to one task.

use qc::render::{RenderConfig, Task, render_set};
use std::time::Instant;

fn main() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    let n = 200u64;
    for (task, spectral) in [(Task::Microcarrier, true), (Task::Microcarrier, false), (Task::Trypan, true), (Task::Trypan, false), (Task::Nes, false)] {
        if std::env::var("RENDER_SPEED_ONLY").is_ok_and(|only| only != task.name()) {
            continue;
        }
        let cfg = RenderConfig { spectral, ..RenderConfig::new(task) };
        let mut best = f64::INFINITY;
        for rep in 0..7u64 {
            let t = Instant::now();
            let set = pool.install(|| render_set(&cfg, 1, rep * n, n)).expect("render");
            best = best.min(t.elapsed().as_secs_f64());
            assert_eq!(set.len() as u64, n);
        }
        println!("{:>12} spectral={spectral:<5} {:>8.0} images/s (1 thread, best of 7 x {n})", task.name(), n as f64 / best);
    }
}
