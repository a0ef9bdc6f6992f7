//! BSDS300 images and the write-up's seeded patch sampler.

use crate::{DataError, Images};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// One grayscale image in `[0, 1]`, row-major.
#[derive(Debug, Clone)]
pub struct GrayImage {
    /// Pixel values.
    pub pixels: Vec<f32>,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
}

/// The images of one BSDS300 split (`<root>/bsds300/<split>/*.jpg`), sorted by file name.
#[derive(Debug, Clone)]
pub struct BsdsImages {
    /// The decoded images.
    pub images: Vec<GrayImage>,
    /// The folder they came from.
    pub dir: PathBuf,
}

/// How colour pixels become gray.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grayscale {
    /// Rec. 709 luma of the sRGB values, as `f32` in `[0, 1]` (the write-up's patches).
    Rec709,
    /// 8-bit gray levels `round(0.299 R + 0.587 G + 0.114 B)` (Rec. 601, what MATLAB's
    /// `rgb2gray` and PIL's `convert("L")` give, hence the BSDS300 benchmark's), stored as
    /// `level / 255`.
    Rec601Levels,
}

impl BsdsImages {
    /// Loads every JPEG or PNG of `<root>/bsds300/<split>` as grayscale in `[0, 1]` (Rec. 709).
    pub fn load(root: &Path, split: &str) -> Result<Self, DataError> {
        Self::load_as(root, split, Grayscale::Rec709)
    }

    /// As [`load`](Self::load), with the grayscale conversion chosen.
    pub fn load_as(root: &Path, split: &str, gray: Grayscale) -> Result<Self, DataError> {
        let dir = root.join("bsds300").join(split);
        let missing = || DataError::Missing {
            what: format!("BSDS300 {split} images"),
            path: dir.clone(),
            hint: "put the BSDS300 JPEGs in bsds300/train and bsds300/test under the data \
                   root, or point --data-dir (or the GMM_ZOO_DATA variable) at such a folder"
                .into(),
        };
        let entries = std::fs::read_dir(&dir).map_err(|_| missing())?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png")
                })
            })
            .collect();
        if paths.is_empty() {
            return Err(missing());
        }
        paths.sort();
        // Decoded in parallel, kept in file-name order.
        let images = paths.par_iter().map(|p| load_gray(p, gray)).collect::<Result<_, _>>()?;
        Ok(Self { images, dir })
    }
}

/// Decodes an image file to grayscale in `[0, 1]`.
fn load_gray(path: &Path, gray: Grayscale) -> Result<GrayImage, DataError> {
    let bad = |reason: String| DataError::BadImage { path: path.to_path_buf(), reason };
    let reader = image::ImageReader::open(path)
        .map_err(|e| DataError::Io { path: path.to_path_buf(), source: e })?
        .with_guessed_format()
        .map_err(|e| DataError::Io { path: path.to_path_buf(), source: e })?;
    let decoded = reader.decode().map_err(|e| bad(e.to_string()))?;
    if gray == Grayscale::Rec601Levels {
        let rgb = decoded.to_rgb8();
        let (width, height) = (rgb.width() as usize, rgb.height() as usize);
        let pixels = rgb
            .pixels()
            .map(|p| {
                let [r, g, b] = p.0.map(f64::from);
                (0.299 * r + 0.587 * g + 0.114 * b).round() as f32 / 255.0
            })
            .collect();
        return Ok(GrayImage { pixels, height, width });
    }
    let img = decoded.to_luma32f();
    let (width, height) = (img.width() as usize, img.height() as usize);
    // The f32 luma weights can overshoot 1 by an ulp; the write-up's range is [0, 1].
    Ok(GrayImage {
        pixels: img.into_raw().into_iter().map(|v| v.clamp(0.0, 1.0)).collect(),
        height,
        width,
    })
}

/// What patches to draw: the write-up's preprocessing, in numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PatchSpec {
    /// Patch side P (patches are P×P).
    pub size: usize,
    /// How many patches to keep.
    pub count: usize,
    /// Patches whose standard deviation (after mean removal) is below this are redrawn.
    pub min_std: f32,
    /// Seed of the sampler.
    pub seed: u64,
}

/// Draws random P×P patches from a set of images, seeded: a uniformly chosen image, a uniformly
/// chosen position, the patch mean subtracted, and patches with std `< min_std` discarded and
/// redrawn until `count` are kept.
pub struct PatchSampler<'a> {
    images: &'a BsdsImages,
}

impl<'a> PatchSampler<'a> {
    /// A sampler over these images.
    pub fn new(images: &'a BsdsImages) -> Self {
        Self { images }
    }

    /// Samples the patches of `spec`.
    pub fn sample(&self, spec: &PatchSpec) -> Result<Images, DataError> {
        let p = spec.size;
        if p == 0 {
            return Err(DataError::Request("patch size must be at least 1".into()));
        }
        let usable: Vec<&GrayImage> =
            self.images.images.iter().filter(|im| im.height >= p && im.width >= p).collect();
        if usable.is_empty() {
            return Err(DataError::Request(format!(
                "patch size {p} is larger than every image in {}",
                self.images.dir.display()
            )));
        }
        let d = p * p;
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let mut pixels = Vec::with_capacity(spec.count.saturating_mul(d).min(1 << 28));
        let max_draws = spec.count.saturating_mul(1000).max(1000);
        let mut draws = 0usize;
        // Candidates are drawn from the one seeded stream in blocks, in order; their patches
        // are cut and centred in parallel, and kept in draw order until `count` are kept —
        // the same patches as one candidate at a time, on any number of threads.
        const BLOCK: usize = 8192;
        while pixels.len() < spec.count * d {
            if draws >= max_draws {
                return Err(DataError::Request(format!(
                    "after {max_draws} draws only {} of {} patches had std >= {}: the images \
                     in {} are too flat for this min_std",
                    pixels.len() / d,
                    spec.count,
                    spec.min_std,
                    self.images.dir.display()
                )));
            }
            let m = BLOCK.min(max_draws - draws);
            draws += m;
            let candidates: Vec<(&GrayImage, usize, usize)> = (0..m)
                .map(|_| {
                    let im = usable[rng.random_range(0..usable.len())];
                    let top = rng.random_range(0..=im.height - p);
                    let left = rng.random_range(0..=im.width - p);
                    (im, top, left)
                })
                .collect();
            let cut: Vec<Option<Vec<f32>>> = candidates
                .par_iter()
                .map(|&(im, top, left)| {
                    let mut patch = vec![0f32; d];
                    for r in 0..p {
                        let row = (top + r) * im.width + left;
                        patch[r * p..(r + 1) * p].copy_from_slice(&im.pixels[row..row + p]);
                    }
                    center(&mut patch).filter(|&std| std >= spec.min_std).map(|_| patch)
                })
                .collect();
            for patch in cut.into_iter().flatten() {
                if pixels.len() == spec.count * d {
                    break;
                }
                pixels.extend_from_slice(&patch);
            }
        }
        Ok(Images { pixels, height: p, width: p, labels: None })
    }
}

/// Subtracts the mean in place and returns the (population) standard deviation.
fn center(patch: &mut [f32]) -> Option<f32> {
    let n = patch.len() as f64;
    let mean = patch.iter().map(|&v| v as f64).sum::<f64>() / n;
    let mut var = 0.0;
    for v in patch.iter_mut() {
        let c = *v as f64 - mean;
        var += c * c;
        *v = c as f32;
    }
    let std = (var / n).sqrt();
    std.is_finite().then_some(std as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(h: usize, w: usize) -> BsdsImages {
        let pixels = (0..h * w).map(|i| ((i * 7919) % 101) as f32 / 100.0).collect();
        BsdsImages { images: vec![GrayImage { pixels, height: h, width: w }], dir: "mem".into() }
    }

    #[test]
    fn patches_are_zero_mean_and_not_flat() {
        let imgs = ramp(40, 50);
        let spec = PatchSpec { size: 8, count: 500, min_std: 0.04, seed: 3 };
        let set = PatchSampler::new(&imgs).sample(&spec).unwrap();
        assert_eq!(set.len(), 500);
        for i in 0..set.len() {
            let x = set.image(i);
            let mean: f64 = x.iter().map(|&v| v as f64).sum::<f64>() / 64.0;
            let var: f64 = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / 64.0;
            assert!(mean.abs() < 1e-6, "patch {i} mean {mean}");
            assert!(var.sqrt() >= 0.04, "patch {i} std {}", var.sqrt());
        }
        let again = PatchSampler::new(&imgs).sample(&spec).unwrap();
        assert_eq!(set, again, "same seed, same patches");
    }

    #[test]
    fn flat_images_are_an_error_not_a_hang() {
        let imgs = BsdsImages {
            images: vec![GrayImage { pixels: vec![0.5; 400], height: 20, width: 20 }],
            dir: "flat".into(),
        };
        let spec = PatchSpec { size: 4, count: 3, min_std: 0.04, seed: 0 };
        let err = PatchSampler::new(&imgs).sample(&spec).unwrap_err().to_string();
        assert!(err.contains("too flat"), "{err}");
    }

    #[test]
    fn oversized_patch_is_an_error() {
        let imgs = ramp(10, 10);
        let spec = PatchSpec { size: 11, count: 3, min_std: 0.0, seed: 0 };
        let err = PatchSampler::new(&imgs).sample(&spec).unwrap_err().to_string();
        assert!(err.contains("larger than every image"), "{err}");
    }
}
