#![allow(unreachable_pub)] // `pub` API for the hand-merged main.rs
//! `mabtwin qc …`: render, train, eval and classify (spec `qc.md` §10). File I/O and progress
//! bars live here; the `qc` crate does the work on buffers.

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use qc::render::{self, Difficulty, RenderConfig, Task};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `mabtwin qc` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum QcCommand {
    /// Render a class-balanced labelled image set (PNGs, labels.csv, spectral.npy, montage.png).
    Render {
        /// Task: microcarrier | trypan | nes.
        #[arg(long, default_value = "microcarrier")]
        task: String,
        /// Number of images.
        #[arg(long)]
        n: u64,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Do not write the spectral cube.
        #[arg(long)]
        no_spectral: bool,
        /// Difficulty preset: easy | default | hard.
        #[arg(long, default_value = "default")]
        difficulty: String,
        /// Rayon threads for rendering (output does not depend on it).
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
}

/// Run one `qc` subcommand; returns the process exit code.
pub fn run(cmd: QcCommand) -> Result<ExitCode> {
    match cmd {
        QcCommand::Render { task, n, seed, out, no_spectral, difficulty, threads } => {
            cmd_render(&task, n, seed, &out, no_spectral, &difficulty, threads)
        }
    }
}

fn bar(len: u64, msg: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(msg.to_string());
    pb
}


fn cmd_render(task: &str, n: u64, seed: u64, out: &Path, no_spectral: bool, difficulty: &str, threads: usize) -> Result<ExitCode> {
    let task = Task::parse(task)?;
    let cfg = RenderConfig { task, difficulty: Difficulty::parse(difficulty)?, spectral: task.has_spectral() && !no_spectral };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build()?;
    std::fs::create_dir_all(out.join("images")).with_context(|| format!("creating {}", out.display()))?;
    let classes = task.classes();
    let size = task.size_px();
    let mut csv = String::new();
    let mut spectral: Vec<u8> = Vec::new();
    let mut montage_rows: Vec<Vec<Vec<u8>>> = vec![Vec::new(); classes.len()];
    let pb = bar(n, "render");
    let t0 = std::time::Instant::now();
    let mut render_s = 0.0;
    let chunk = 512u64;
    let mut start = 0u64;
    while start < n {
        let m = chunk.min(n - start);
        let tr = std::time::Instant::now();
        let imgs = pool.install(|| render::render_set(&cfg, seed, start, m))?;
        render_s += tr.elapsed().as_secs_f64();
        for (k, r) in imgs.iter().enumerate() {
            let idx = start + k as u64;
            let file = format!("images/{idx:06}.png");
            qc::io::write_file(&out.join(&file), &qc::io::encode_png_grey(&r.image)?)?;
            if csv.is_empty() {
                csv.push_str("file,label,group,split");
                for (name, _) in &r.latents {
                    csv.push(',');
                    csv.push_str(name);
                }
                csv.push('\n');
            }
            let label = r.label.map(|l| classes[l]).unwrap_or("");
            csv.push_str(&format!("{file},{label},{},{}", r.group, render::split_of_group(seed, r.group)));
            for (_, v) in &r.latents {
                csv.push_str(&format!(",{v:.6}"));
            }
            csv.push('\n');
            if let Some(s) = &r.spectral {
                spectral.extend_from_slice(s);
            }
            if let Some(l) = r.label
                && montage_rows[l].len() < 8
            {
                montage_rows[l].push(r.image.to_u8());
            }
        }
        pb.inc(m);
        start += m;
    }
    pb.finish_and_clear();
    qc::io::write_file(&out.join("labels.csv"), csv.as_bytes())?;
    if cfg.spectral {
        let shape = [n as usize, qc::render::spectral::N_BANDS, size, size];
        qc::io::write_file(&out.join("spectral.npy"), &qc::io::encode_npy_u8(&spectral, &shape))?;
    }
    // Montage: one row per class (in class order), up to 8 images each, 2-px white gaps.
    let gap = 2;
    let (mw, mh) = (8 * (size + gap) + gap, classes.len() * (size + gap) + gap);
    let mut px = vec![255u8; mw * mh];
    for (ci, row) in montage_rows.iter().enumerate() {
        for (j, img) in row.iter().enumerate() {
            for y in 0..size {
                let dst = (gap + ci * (size + gap) + y) * mw + gap + j * (size + gap);
                px[dst..dst + size].copy_from_slice(&img[y * size..(y + 1) * size]);
            }
        }
    }
    qc::io::write_file(&out.join("montage.png"), &qc::io::encode_png_raw(&px, mw, mh, image::ExtendedColorType::L8)?)?;
    let meta = serde_json::json!({
        "format_version": 1,
        "generator": format!("mabtwin qc render {}", env!("CARGO_PKG_VERSION")),
        "config": cfg,
        "seed": seed,
        "n": n,
        "classes": classes,
        "group_size": render::GROUP_SIZE,
        "splits": "by group: 70 % train, 15 % val, 15 % test (hash of seed and group)",
        "montage": "rows are classes in the order of `classes`, up to 8 images each",
        "spectral": if cfg.spectral { serde_json::json!({"file": "spectral.npy", "dtype": "u8", "shape": "[N, 11, H, W]", "bands_nm": render::spectral::BANDS_NM}) } else { serde_json::Value::Null },
    });
    qc::io::write_file(&out.join("render.json"), serde_json::to_string_pretty(&meta)?.as_bytes())?;
    let total_s = t0.elapsed().as_secs_f64();
    eprintln!(
        "rendered {n} {} images in {total_s:.2} s ({:.0} images/s rendering only, {:.0} images/s including PNG writing) -> {}",
        task.name(),
        n as f64 / render_s.max(1e-9),
        n as f64 / total_s.max(1e-9),
        out.display()
    );
    let _ = std::io::stderr().flush();
    Ok(ExitCode::SUCCESS)
}

#[allow(dead_code)]
fn ensure(cond: bool, msg: &str) -> Result<()> {
    if !cond {
        bail!("{msg}");
    }
    Ok(())
}
