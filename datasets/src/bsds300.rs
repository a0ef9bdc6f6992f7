//! The community's "BSDS300" density benchmark (Uria et al. 2013, used by RNADE, MADE, MAF…):
//! 8×8 grayscale patches in [0, 255] plus uniform noise, divided by 256, patch mean subtracted,
//! last pixel dropped — 63 dimensions.

use crate::{DataError, ImageSet, Images};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Patch side of the benchmark.
pub const SIDE: usize = 8;
/// Dimensions of one benchmark sample (64 pixels, the last one dropped).
pub const DIMS: usize = SIDE * SIDE - 1;

/// One benchmark sample from an 8×8 patch of gray levels `g` in [0, 255] and uniform noise
/// `u` in [0, 1): `y_i = (g_i + u_i)/256 − mean_j (g_j + u_j)/256`, for i < 63.
pub fn transform(gray: &[f64; SIDE * SIDE], noise: &[f64; SIDE * SIDE]) -> [f32; DIMS] {
    let v: Vec<f64> = gray.iter().zip(noise).map(|(g, u)| (g + u) / 256.0).collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let mut out = [0f32; DIMS];
    for (o, x) in out.iter_mut().zip(&v) {
        *o = (x - mean) as f32;
    }
    out
}

/// Draws `count` benchmark samples (seeded): a uniformly chosen image and position, the gray
/// levels `round(255 · v)` (exact for images loaded as [`crate::Grayscale::Rec601Levels`], the
/// benchmark's gray), uniform noise, then [`transform`]. Rows are `[1, 63]` "images".
pub fn sample(images: &ImageSet, count: usize, seed: u64) -> Result<Images, DataError> {
    sample_rows(images, count, seed, 0..count)
}

/// The rows `keep` (a block of `0..count`) of those [`sample`] draws: every row's random
/// numbers are still drawn in order, only the kept block is computed and stored (a process
/// of a data-parallel job holds its shard, not the whole set).
pub fn sample_rows(
    images: &ImageSet,
    count: usize,
    seed: u64,
    keep: std::ops::Range<usize>,
) -> Result<Images, DataError> {
    let usable: Vec<_> =
        images.images.iter().filter(|im| im.height >= SIDE && im.width >= SIDE).collect();
    if usable.is_empty() {
        return Err(DataError::Request(format!(
            "no image in {} is 8x8 or larger",
            images.dir.display()
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let keep = keep.start.min(count)..keep.end.min(count);
    let mut pixels = Vec::with_capacity(keep.len() * DIMS);
    let (mut gray, mut noise) = ([0f64; SIDE * SIDE], [0f64; SIDE * SIDE]);
    for row in 0..count {
        let im = usable[rng.random_range(0..usable.len())];
        let top = rng.random_range(0..=im.height - SIDE);
        let left = rng.random_range(0..=im.width - SIDE);
        for r in 0..SIDE {
            for c in 0..SIDE {
                gray[r * SIDE + c] =
                    (im.pixels[(top + r) * im.width + left + c] as f64 * 255.0).round();
                noise[r * SIDE + c] = rng.random::<f64>();
            }
        }
        if keep.contains(&row) {
            pixels.extend_from_slice(&transform(&gray, &noise));
        }
    }
    Ok(Images { pixels, height: 1, width: DIMS, labels: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transform_matches_the_protocol_by_hand() {
        let mut gray = [0f64; 64];
        let mut noise = [0f64; 64];
        for i in 0..64 {
            gray[i] = (i * 4) as f64; // 0, 4, …, 252
            noise[i] = if i % 2 == 0 { 0.25 } else { 0.75 };
        }
        let y = transform(&gray, &noise);
        // mean of (4i + u_i)/256 over i: (4·31.5 + 0.5)/256
        let mean = (4.0 * 31.5 + 0.5) / 256.0;
        for i in 0..63 {
            let want = (gray[i] + noise[i]) / 256.0 - mean;
            assert!((y[i] as f64 - want).abs() < 1e-7, "{i}");
        }
        // The dropped last pixel is minus the sum of the others (the patch had zero mean).
        let last = (gray[63] + noise[63]) / 256.0 - mean;
        let sum: f64 = y.iter().map(|&v| v as f64).sum();
        assert!((sum + last).abs() < 1e-5);
    }
}
