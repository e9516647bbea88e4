//! PNG plots of `mabtwin twin eval`: predicted vs measured trajectories with the 95 % band,
//! the parity plot and the integrated-gradient heatmap.

use crate::output::write_atomic;
use anyhow::Result;
use plotters::prelude::*;
use std::path::Path;

fn font() {
    static F: std::sync::Once = std::sync::Once::new();
    F.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

fn save_png(path: &Path, buf: Vec<u8>, w: u32, h: u32) -> Result<()> {
    let img = image::RgbImage::from_raw(w, h, buf).ok_or_else(|| anyhow::anyhow!("plot buffer has the wrong size"))?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    write_atomic(path, &png)
}

pub(crate) fn plot_trajectories(path: &Path, set: &twin::prep::WindowSet, grids: &[twin::prep::GridBatch], pred: &[[f64; 2]], mc: &twin::nn::McPrediction) -> Result<()> {
    let mut batches: Vec<usize> = set.info.iter().map(|i| i.batch).collect();
    batches.dedup();
    let panels: Vec<crate::plot::Panel> = batches
        .iter()
        .take(4)
        .map(|&b| {
            let idx: Vec<usize> = (0..set.len()).filter(|&i| set.info[i].batch == b).collect();
            let pts = |f: &dyn Fn(usize) -> f64| idx.iter().map(|&i| (set.info[i].target_t_h / 24.0, f(i))).collect::<Vec<_>>();
            let g = &grids[b];
            crate::plot::Panel {
                title: format!("batch {} (line {}, {} L)", g.meta.batch_id, g.meta.cell_line, g.meta.nominal_volume_l),
                x_label: "day".into(),
                y_label: "titer (g/L)".into(),
                series: vec![
                    crate::plot::Series { label: "true".into(), points: pts(&|i| f64::from(set.y[2 * i])) },
                    crate::plot::Series { label: "predicted".into(), points: pts(&|i| pred[i][0]) },
                    crate::plot::Series { label: "95 % low".into(), points: pts(&|i| mc.lo[i][0]) },
                    crate::plot::Series { label: "95 % high".into(), points: pts(&|i| mc.hi[i][0]) },
                ],
            }
        })
        .collect();
    crate::plot::panels_png(path, &panels, 2, 560, 380)
}

pub(crate) fn plot_parity(path: &Path, y: &[f64], p: &[f64]) -> Result<()> {
    font();
    let (w, h) = (640u32, 600u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        let hi = y.iter().chain(p).copied().filter(|v| v.is_finite()).fold(0.0f64, f64::max) * 1.05 + 1e-6;
        let lo = y.iter().chain(p).copied().filter(|v| v.is_finite()).fold(0.0f64, f64::min);
        let mut c = ChartBuilder::on(&root)
            .caption("Parity: held-out titer", ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(lo..hi, lo..hi)
            .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        c.configure_mesh().x_desc("true titer (g/L)").y_desc("predicted titer (g/L)").draw().map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        c.draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.stroke_width(1))).map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        c.draw_series(y.iter().zip(p).map(|(&a, &b)| Circle::new((a, b), 2, RGBColor(31, 119, 180).mix(0.5).filled()))).map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        root.present().map_err(|e| anyhow::anyhow!("plot: {e}"))?;
    }
    save_png(path, buf, w, h)
}

pub(crate) fn plot_heatmap(path: &Path, heat: &[f64], steps: usize, features: &[String]) -> Result<()> {
    font();
    let nf = features.len();
    let (w, h) = (900u32, 80 + 40 * nf as u32);
    let max = heat.iter().copied().fold(0.0f64, f64::max).max(1e-12);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        let mut c = ChartBuilder::on(&root)
            .caption("Integrated gradients |attribution| for titer (feature × hour in window)", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(150)
            .build_cartesian_2d(0.0..(steps as f64 * 0.25), 0.0..nf as f64)
            .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        c.configure_mesh()
            .disable_mesh()
            .x_desc("hour within the 24 h window (window end = prediction time)")
            .y_labels(0)
            .draw()
            .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        for (f, name) in features.iter().enumerate() {
            let (px, py) = c.backend_coord(&(0.0, f as f64 + 0.5));
            root.draw(&Text::new(name.clone(), (px - 145, py - 7), ("sans-serif", 13)))
                .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        }
        c.draw_series((0..steps).flat_map(|s| {
            (0..nf).map(move |f| {
                let v = (heat[s * nf + f] / max).sqrt();
                let col = RGBColor((255.0 * (1.0 - v)) as u8, (255.0 * (1.0 - 0.6 * v)) as u8, 255);
                Rectangle::new([(s as f64 * 0.25, f as f64), ((s + 1) as f64 * 0.25, f as f64 + 1.0)], col.filled())
            })
        }))
        .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
        root.present().map_err(|e| anyhow::anyhow!("plot: {e}"))?;
    }
    save_png(path, buf, w, h)
}
