//! A user's own feature matrix: one sample per row, from a `.npy` or a `.csv` file.

use crate::ArrayBlocks;
use crate::{DataError, Images};
use std::path::Path;

/// A 2-D array file as rows: `.npy` (float32, float64 or uint8; C or Fortran order) or `.csv`
/// of numbers (a non-numeric first line is a header); every value must be finite or NaN (a
/// missing value: an empty CSV field, `NA` or `NaN`), and the
/// whole must fit in half of this machine's memory. ([`ArrayBlocks`] reads it a block at a
/// time.)
pub fn read_array(path: &Path) -> Result<Images, DataError> {
    let mut blocks = ArrayBlocks::open(path)?;
    let d = blocks.dim();
    if let Some(n) = blocks.total() {
        crate::check_f32_count(&path.display().to_string(), n as u64, d as u64)
            .map_err(DataError::Request)?;
    }
    let budget = crate::memory_budget() / 4;
    let mut values = Vec::new();
    while let Some(block) = blocks.next_block(1 << 16)? {
        if values.len() as u64 + block.len() as u64 > budget {
            return Err(DataError::Request(format!(
                "{} holds more numbers than fit in half of this machine's memory",
                path.display()
            )));
        }
        values.extend(block);
    }
    Ok(Images { pixels: values, height: 1, width: d, labels: None, weights: None })
}

/// A seeded split of `n` items into train and test: a random 10 % (at least one) for the
/// test split, each split kept in the original order. Needs `n >= 2`.
pub fn seeded_split(n: usize, seed: u64) -> Result<(Vec<usize>, Vec<usize>), DataError> {
    if n < 2 {
        return Err(DataError::Request(format!(
            "{n} item(s) cannot be split into train and test; give data.test or more data"
        )));
    }
    Ok(seeded_subset(n, (n / 10).max(1), seed))
}

/// `k` of `n` items drawn at random (seeded, `k <= n`) and the others: `(others, drawn)`, each
/// in the original order. [`seeded_split`]'s 10 % are this subset with `k = max(n/10, 1)`.
pub fn seeded_subset(n: usize, k: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let k = k.min(n);
    let mut drawn = order[..k].to_vec();
    let mut others = order[k..].to_vec();
    drawn.sort_unstable();
    others.sort_unstable();
    (others, drawn)
}
