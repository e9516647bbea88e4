//! Turning decoded images (+ optional spectral cubes) into model inputs.

use crate::error::{QcError, Result};
use crate::image_ops::GreyImage;
use crate::io::adapt;
use crate::model::build_input;
use crate::pca::PcaBasis;
use crate::train::Tensors;

/// Build `Tensors` from images (adapted to `size` x `size`: centre-crop + triangle resize when
/// needed) and class indices. `cubes` must hold one u8 `[11][size][size]` cube per image when
/// `pca` is given.
pub fn to_tensors(images: &[GreyImage], labels: &[usize], size: usize, pca: Option<&PcaBasis>, cubes: Option<&[&[u8]]>) -> Result<Tensors> {
    if images.len() != labels.len() {
        return Err(QcError::LengthMismatch { what: "images vs labels", left: images.len(), right: labels.len() });
    }
    let c = 1 + if pca.is_some() { crate::pca::N_COMPONENTS } else { 0 };
    let mut x = Vec::with_capacity(images.len() * c * size * size);
    for (i, img) in images.iter().enumerate() {
        let (a, _) = adapt(img, size, false);
        let p = match (pca, cubes) {
            (Some(b), Some(cs)) => {
                let cube = cs.get(i).ok_or(QcError::LengthMismatch { what: "images vs cubes", left: images.len(), right: cs.len() })?;
                if img.width != size || img.height != size {
                    return Err(QcError::Shape { expected: format!("{size}x{size} image with a cube"), got: format!("{}x{}", img.width, img.height) });
                }
                Some((b, *cube))
            }
            (Some(_), None) => return Err(QcError::Spectral { channels: vec!["grey".into(), "pc1".into(), "pc2".into(), "pc3".into()], reason: "no spectral cubes given".into() }),
            _ => None,
        };
        x.extend(build_input(&a, p)?);
    }
    Ok(Tensors { x, y: labels.iter().map(|&v| v as i64).collect(), c, s: size, ..Default::default() })
}
