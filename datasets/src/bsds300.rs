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

pub use crate::symmetry::Augment;

/// The patch `p` mapped by element `t` (< 8) of the square's symmetry group: `q[r][c] =
/// p[source(r, c)]` ([`crate::symmetry::source`]). Elements 0 and 1 are [`Augment::Mirror`]'s.
pub fn symmetry(p: &[f64; SIDE * SIDE], t: usize) -> [f64; SIDE * SIDE] {
    std::array::from_fn(|i| {
        let (r, c) = crate::symmetry::source(i / SIDE, i % SIDE, SIDE - 1, t);
        p[r * SIDE + c]
    })
}

/// Draws `count` benchmark samples (seeded): a uniformly chosen image and position, the gray
/// levels `round(255 · v)` (exact for images loaded as [`crate::Grayscale::Rec601Levels`], the
/// benchmark's gray), uniform noise, then [`transform`]. Rows are `[1, 63]` "images".
pub fn sample(images: &ImageSet, count: usize, seed: u64) -> Result<Images, DataError> {
    sample_rows(images, count, seed, 0..count, Augment::None)
}

/// The rows `keep` (a block of `0..count`) of those [`sample`] draws: every row's random
/// numbers are still drawn in order, only the kept block is computed and stored (a process
/// of a data-parallel job holds its shard, not the whole set). With `augment`, each patch is
/// then mapped by a [`symmetry`] drawn after its noise; [`Augment::None`] draws nothing more,
/// so its rows are [`sample`]'s.
pub fn sample_rows(
    images: &ImageSet,
    count: usize,
    seed: u64,
    keep: std::ops::Range<usize>,
    augment: Augment,
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
        let t = match augment.order() {
            1 => 0,
            order => rng.random_range(0..order),
        };
        if keep.contains(&row) {
            // The noise is i.i.d. per pixel, so mapping the gray levels alone is enough.
            pixels.extend_from_slice(&transform(&symmetry(&gray, t), &noise));
        }
    }
    Ok(Images { pixels, height: 1, width: DIMS, labels: None, weights: None })
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

    #[test]
    fn the_symmetries_are_the_eight_distinct_permutations_of_the_square() {
        let p: [f64; 64] = std::array::from_fn(|i| i as f64);
        let images: Vec<[f64; 64]> = (0..8).map(|t| symmetry(&p, t)).collect();
        for (t, q) in images.iter().enumerate() {
            let mut sorted = q.to_vec();
            sorted.sort_by(f64::total_cmp);
            assert_eq!(sorted, p.to_vec(), "element {t} permutes the pixels");
            for (u, earlier) in images[..t].iter().enumerate() {
                assert_ne!(earlier, q, "elements {u} and {t} differ");
            }
        }
        // The mirror and the half turn are involutions; a quarter turn has order 4.
        assert_eq!(symmetry(&symmetry(&p, 1), 1), p);
        assert_eq!(symmetry(&symmetry(&p, 3), 3), p);
        let mut q = p;
        for turn in 0..4 {
            assert_eq!(q == p, turn == 0);
            q = symmetry(&q, 5);
        }
        assert_eq!(q, p);
        // The mirror reverses each row: pixel (0, 0) takes (0, 7)'s value.
        assert_eq!(images[1][0], 7.0);
    }

    /// Rows from one image that is a left-to-right ramp: the mean horizontal step of a row
    /// and of its columns tell which way the patch was turned.
    fn ramp_rows(augment: Augment) -> Vec<(f64, f64)> {
        let (height, width) = (16, 40);
        let pixels = (0..height * width).map(|i| (i % width) as f32 * 6.0 / 255.0).collect();
        let images = ImageSet {
            images: vec![crate::GrayImage { pixels, height, width }],
            files: vec![],
            dir: "ramp".into(),
        };
        let rows = sample_rows(&images, 4000, 5, 0..4000, augment).unwrap();
        rows.pixels
            .chunks(DIMS)
            .map(|y| {
                // Steps along the first row (pixels 0..8) and down the first column.
                let across = (y[7] - y[0]) as f64 * 256.0 / 7.0;
                let down = (y[56] - y[0]) as f64 * 256.0 / 7.0;
                (across, down)
            })
            .collect()
    }

    #[test]
    fn augmented_rows_are_the_mirrored_and_turned_patches() {
        // Unaugmented: every patch rises by 6 gray levels per pixel to the right (± noise).
        let plain = ramp_rows(Augment::None);
        assert!(plain.iter().all(|&(a, d)| (a - 6.0).abs() < 0.2 && d.abs() < 0.2));
        let fraction = |rows: &[(f64, f64)], f: fn(f64, f64) -> bool| {
            rows.iter().filter(|&&(a, d)| f(a, d)).count() as f64 / rows.len() as f64
        };
        // Mirror: half rise to the right, half to the left, none downwards.
        let mirror = ramp_rows(Augment::Mirror);
        assert!(mirror.iter().all(|&(a, d)| (a.abs() - 6.0).abs() < 0.2 && d.abs() < 0.2));
        assert!((fraction(&mirror, |a, _| a < 0.0) - 0.5).abs() < 0.03);
        // Dihedral: the ramp runs each of the four ways in a quarter of the patches.
        let dihedral = ramp_rows(Augment::Dihedral);
        let ways: [fn(f64, f64) -> bool; 4] =
            [|a, _| a > 5.8, |a, _| a < -5.8, |_, d| d > 5.8, |_, d| d < -5.8];
        for way in ways {
            assert!((fraction(&dihedral, way) - 0.25).abs() < 0.03);
        }
        // No augmentation draws nothing more: the rows are `sample`'s.
        let images = ImageSet {
            images: vec![crate::GrayImage { pixels: vec![0.5; 100], height: 10, width: 10 }],
            files: vec![],
            dir: "flat".into(),
        };
        assert_eq!(
            sample_rows(&images, 50, 3, 0..50, Augment::None).unwrap(),
            sample(&images, 50, 3).unwrap()
        );
    }
}
