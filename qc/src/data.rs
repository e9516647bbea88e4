//! Turning decoded images (+ optional spectral cubes) into model inputs.

use crate::error::{QcError, Result};
use crate::image_ops::GreyImage;
use crate::io::adapt;
use crate::model::build_input;
use crate::pca::PcaBasis;
use crate::train::Tensors;
use rayon::prelude::*;

/// Build `Tensors` from images (adapted to `size` x `size`: centre-crop + triangle resize when
/// needed) and class indices. `cubes` must hold one u8 `[11][size][size]` cube per image when
/// `pca` is given.
pub fn to_tensors(images: &[GreyImage], labels: &[usize], size: usize, pca: Option<&PcaBasis>, cubes: Option<&[&[u8]]>) -> Result<Tensors> {
    if images.len() != labels.len() {
        return Err(QcError::LengthMismatch { what: "images vs labels", left: images.len(), right: labels.len() });
    }
    let c = 1 + if pca.is_some() { crate::pca::N_COMPONENTS } else { 0 };
    let cubes = match (pca, cubes) {
        (Some(_), Some(cs)) => {
            if cs.len() != images.len() {
                return Err(QcError::LengthMismatch { what: "images vs cubes", left: images.len(), right: cs.len() });
            }
            if let Some(img) = images.iter().find(|img| img.width != size || img.height != size) {
                return Err(QcError::Shape { expected: format!("{size}x{size} image with a cube"), got: format!("{}x{}", img.width, img.height) });
            }
            Some(cs)
        }
        (Some(_), None) => return Err(QcError::Spectral { channels: vec!["grey".into(), "pc1".into(), "pc2".into(), "pc3".into()], reason: "no spectral cubes given".into() }),
        _ => None,
    };
    // Each image's input is built in parallel (rayon) straight into its own slice: the result
    // does not depend on the thread count, and no second copy of the set is held.
    let d = c * size * size;
    let mut x = vec![0f32; images.len() * d];
    x.par_chunks_mut(d.max(1)).zip(images.par_iter().enumerate()).try_for_each(|(dst, (i, img))| -> Result<()> {
        let (a, _) = adapt(img, size, false);
        let v = build_input(&a, pca.zip(cubes.map(|cs| cs[i])))?;
        if v.len() != d {
            return Err(QcError::Shape { expected: format!("{d} input values per image"), got: format!("{}", v.len()) });
        }
        dst.copy_from_slice(&v);
        Ok(())
    })?;
    Ok(Tensors { x, y: labels.iter().map(|&v| v as i64).collect(), c, s: size, ..Default::default() })
}
