//! Confusion-matrix PNG via plotters' bitmap backend (no font library: DejaVu is embedded and
//! registered with `ab_glyph`).

use crate::error::{QcError, Result};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

fn register() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

/// Render a confusion matrix (rows = true class) to PNG bytes.
pub fn confusion_png(cm: &[Vec<u64>], classes: &[String], title: &str) -> Result<Vec<u8>> {
    register();
    let k = cm.len().max(1);
    let cell = 90u32;
    let (left, top) = (170u32, 60u32);
    let (w, h) = (left + cell * k as u32 + 20, top + cell * k as u32 + 130);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let e = |err: &dyn std::fmt::Display| QcError::Plot(err.to_string());
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let font = ("sans-serif", 16).into_font();
        root.draw(&Text::new(title.to_string(), (10, 10), ("sans-serif", 18).into_font())).map_err(|x| e(&x))?;
        for (i, row) in cm.iter().enumerate() {
            let total: u64 = row.iter().sum::<u64>().max(1);
            for (j, &v) in row.iter().enumerate() {
                let f = v as f64 / total as f64;
                let shade = (255.0 * (1.0 - 0.8 * f)) as u8;
                let (x0, y0) = ((left + j as u32 * cell) as i32, (top + i as u32 * cell) as i32);
                root.draw(&Rectangle::new([(x0, y0), (x0 + cell as i32, y0 + cell as i32)], RGBColor(shade, shade, 255).filled())).map_err(|x| e(&x))?;
                root.draw(&Rectangle::new([(x0, y0), (x0 + cell as i32, y0 + cell as i32)], BLACK)).map_err(|x| e(&x))?;
                root.draw(&Text::new(format!("{v}"), (x0 + 30, y0 + 35), font.clone())).map_err(|x| e(&x))?;
            }
            let name = classes.get(i).cloned().unwrap_or_default();
            root.draw(&Text::new(name, (5, (top + i as u32 * cell) as i32 + 35), font.clone())).map_err(|x| e(&x))?;
        }
        for (j, name) in classes.iter().enumerate() {
            let x0 = (left + j as u32 * cell) as i32 + 5;
            let y0 = (top + k as u32 * cell) as i32 + 10;
            root.draw(&Text::new(name.clone(), (x0, y0), ("sans-serif", 13).into_font())).map_err(|x| e(&x))?;
        }
        root.draw(&Text::new("rows: true class, columns: predicted".to_string(), (10, (h - 30) as i32), font)).map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))?;
    }
    crate::io::encode_png_raw(&buf, w as usize, h as usize, image::ExtendedColorType::Rgb8)
}
