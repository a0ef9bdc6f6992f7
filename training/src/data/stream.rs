//! A split of the user's `.npy` rows left on disk (`[data] stream = true`): which rows of the
//! file it holds, chosen as [`super::load_split`] chooses them from rows in memory (the same
//! seeded test and validation draws, the first `n_train`, a process's block), read only when a
//! pass needs them.

use super::Split;
use super::load::{read_weights, source, split_items};
use super::{ArrayData, DataConfig};
use crate::TrainError;
use gmm_datasets::{DataError, NpyRows};
use gmm_models::processes::{self, Part};
use gmm_models::{unit_mean_weights, unless_uniform};

/// One split's rows on disk, and which part of the whole split this process holds.
#[derive(Debug, Clone)]
pub struct DiskSplit {
    /// The rows, read when needed.
    pub rows: NpyRows,
    /// The training rows' sample weights, scaled to mean 1 over the split (held: 4 bytes a
    /// row).
    pub weights: Option<Vec<f32>>,
    /// This process's part of the split.
    pub part: Part,
}

/// [`super::load_shard`] for data whose rows stay on disk: this process's block of the
/// split's rows in whole batches of `batch` rows, as a [`DiskSplit`]. Data that are not
/// streamed (`data.stream`) are refused.
pub fn load_disk_shard(
    config: &DataConfig,
    split: Split,
    seed: u64,
    [rank, size]: [usize; 2],
    batch: usize,
) -> Result<DiskSplit, TrainError> {
    let DataConfig::Array(d @ ArrayData { stream: true, .. }) = config else {
        return Err(
            DataError::Request("these data are not read from disk (data.stream)".into()).into()
        );
    };
    if split == Split::Valid && d.n_valid.is_none() {
        let reason = "the data have no validation split; set data.n_valid";
        return Err(DataError::Request(reason.into()).into());
    }
    let rows = NpyRows::open(source(&d.train, d.test.as_ref(), split))?;
    let weights_file = d.weights.as_ref().filter(|_| split == Split::Train);
    let mut weights = match weights_file {
        Some(path) => Some(read_weights(path, &d.train, rows.len())?),
        None => None,
    };
    let paths = (d.train.as_path(), d.test.as_ref());
    let mut rows = rows;
    if let Some(keep) = split_items(rows.len(), paths, split, seed, d.n_valid)? {
        weights = weights.map(|w| keep.iter().map(|&i| w[i]).collect());
        rows = rows.select(&keep);
    }
    let count = match split {
        Split::Train => d.n_train,
        Split::Test => d.n_test,
        Split::Valid => None,
    };
    if let Some(n) = count {
        rows = rows.window(0..n);
        weights = weights.map(|mut w| {
            w.truncate(n);
            w
        });
    }
    if let (Some(path), Some(w)) = (weights_file, weights.take()) {
        let scaled = unit_mean_weights(&w, w.len())
            .map_err(|e| DataError::Request(format!("{}: {e}", path.display())))?;
        weights = unless_uniform(scaled);
    }
    let total = rows.len();
    let block = processes::batch_block(total, batch, rank, size);
    let part = match size {
        1 => Part::Whole,
        _ => Part::Shard { first: block.start, total },
    };
    let weights = weights.map(|w| w[block.clone()].to_vec());
    Ok(DiskSplit { rows: rows.window(block), weights, part })
}
