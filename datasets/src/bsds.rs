//! The write-up's seeded patch sampler (BSDS300 images, or any [`ImageSet`]).

use crate::gray::center;
use crate::{DataError, GrayImage, ImageSet, Images};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::ops::Range;

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
    images: &'a ImageSet,
}

impl<'a> PatchSampler<'a> {
    /// A sampler over these images.
    pub fn new(images: &'a ImageSet) -> Self {
        Self { images }
    }

    /// Samples the patches of `spec`.
    pub fn sample(&self, spec: &PatchSpec) -> Result<Images, DataError> {
        self.sample_rows(spec, 0..spec.count)
    }

    /// The patches `keep` (a block of `0..spec.count`) of those [`sample`](Self::sample) draws:
    /// every candidate is still drawn and tested in order, only the kept block is stored (a
    /// process of a data-parallel job holds its shard, not the whole set).
    pub fn sample_rows(&self, spec: &PatchSpec, keep: Range<usize>) -> Result<Images, DataError> {
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
        let keep = keep.start.min(spec.count)..keep.end.min(spec.count);
        let mut pixels = Vec::with_capacity(keep.len().saturating_mul(d).min(1 << 28));
        // Patches accepted so far (kept or not).
        let mut accepted = 0usize;
        let max_draws = spec.count.saturating_mul(1000).max(1000);
        let mut draws = 0usize;
        // Candidates are drawn from the one seeded stream in blocks, in order; their patches
        // are cut and centred in parallel, and kept in draw order until `count` are kept —
        // the same patches as one candidate at a time, on any number of threads.
        const BLOCK: usize = 8192;
        while accepted < spec.count {
            if draws >= max_draws {
                return Err(DataError::Request(format!(
                    "after {max_draws} draws only {} of {} patches had std >= {}: the images \
                     in {} are too flat for this min_std",
                    accepted,
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
                if accepted == spec.count {
                    break;
                }
                if keep.contains(&accepted) {
                    pixels.extend_from_slice(&patch);
                }
                accepted += 1;
            }
        }
        Ok(Images { pixels, height: p, width: p, labels: None, weights: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(h: usize, w: usize) -> ImageSet {
        let pixels = (0..h * w).map(|i| ((i * 7919) % 101) as f32 / 100.0).collect();
        ImageSet {
            images: vec![GrayImage { pixels, height: h, width: w }],
            files: vec![],
            dir: "mem".into(),
        }
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
        let imgs = ImageSet {
            images: vec![GrayImage { pixels: vec![0.5; 400], height: 20, width: 20 }],
            files: vec![],
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
