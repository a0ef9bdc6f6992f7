//! Loading a run's data from a data root.

use super::{ArrayData, Bsds300Data, BsdsData, DataConfig, ImagesData, MnistData, default_min_std};
use crate::TrainError;
use crate::config::Split;
use gmm_datasets::{
    DataError, Grayscale, ImageSet, Images, Mnist, MnistSplit, PatchSampler, PatchSpec, read_array,
    seeded_split,
};
use std::path::{Path, PathBuf};

/// Loads one split of the data a config names. Patches (and BSDS300 benchmark rows) are
/// drawn with seed `seed + 1` (train) or `seed + 2` (test), so the two splits are independent
/// streams; a test split held out of the user's training images or rows is drawn with
/// `seed + 3`.
pub fn load_split(
    config: &DataConfig,
    root: &Path,
    split: Split,
    seed: u64,
) -> Result<Images, TrainError> {
    match config {
        DataConfig::Images(d) => load_images(d, split, seed),
        DataConfig::Array(d) => load_array(d, split, seed),
        &DataConfig::Mnist(MnistData { n_train, n_test }) => {
            let (which, n) = match split {
                Split::Train => (MnistSplit::Train, n_train),
                Split::Test => (MnistSplit::Test, n_test),
            };
            let set = Mnist::new(root).load(which)?;
            match n {
                Some(n) if n > set.len() => Err(DataError::Request(format!(
                    "the config asks for {n} MNIST {split} digits but {} holds {}; point \
                     --data-dir (or GMM_ZOO_DATA) at the full MNIST files, or lower data.n_{split}",
                    root.join("mnist").display(),
                    set.len()
                ))
                .into()),
                Some(n) => Ok(set.truncated(n)),
                None => Ok(set),
            }
        }
        &DataConfig::Bsds(BsdsData { patch_size, n_train, n_test, min_std }) => {
            let (folder, count, offset) = match split {
                Split::Train => ("train", n_train, 1),
                Split::Test => ("test", n_test, 2),
            };
            let images = ImageSet::load(root, folder)?;
            let spec =
                PatchSpec { size: patch_size, count, min_std, seed: seed.wrapping_add(offset) };
            Ok(PatchSampler::new(&images).sample(&spec)?)
        }
        &DataConfig::Bsds300(Bsds300Data { n_train, n_test }) => {
            let (folder, count, offset) = match split {
                Split::Train => ("train", n_train, 1),
                Split::Test => ("test", n_test, 2),
            };
            // The benchmark's gray levels are Rec. 601 (rgb2gray / PIL "L").
            let images = ImageSet::load_as(root, folder, Grayscale::Rec601Levels)?;
            Ok(gmm_datasets::bsds300::sample(&images, count, seed.wrapping_add(offset))?)
        }
    }
}

/// The file (folder) of `split`, and which of its items belong to it: all, or the seeded
/// train / test share of the training file when no test file is given.
fn split_source(
    train: &Path,
    test: Option<&PathBuf>,
    split: Split,
    n_items: impl FnOnce(&Path) -> Result<usize, DataError>,
    seed: u64,
) -> Result<(PathBuf, Option<Vec<usize>>), DataError> {
    match (split, test) {
        (Split::Test, Some(test)) => Ok((test.clone(), None)),
        (Split::Train, Some(_)) => Ok((train.to_path_buf(), None)),
        (_, None) => {
            let (train_rows, test_rows) = seeded_split(n_items(train)?, seed.wrapping_add(3))
                .map_err(|e| DataError::Request(format!("{}: {e}", train.display())))?;
            let keep = if split == Split::Train { train_rows } else { test_rows };
            Ok((train.to_path_buf(), Some(keep)))
        }
    }
}

/// The first `n` of `set` when `n` is given.
fn at_most(set: Images, n: Option<usize>) -> Images {
    match n {
        Some(n) => set.truncated(n),
        None => set,
    }
}

/// A split of the user's image folder(s): patches as BSDS, or whole images.
fn load_images(d: &ImagesData, split: Split, seed: u64) -> Result<Images, TrainError> {
    let (dir, keep) = split_source(
        &d.train,
        d.test.as_ref(),
        split,
        |dir| Ok(ImageSet::files_in(dir)?.len()),
        seed,
    )?;
    let mut files = ImageSet::files_in(&dir)?;
    if let Some(keep) = keep {
        files = keep.iter().map(|&i| files[i].clone()).collect();
    }
    let images = ImageSet::from_files(files, dir, Grayscale::Rec601)?;
    let (count, offset) = match split {
        Split::Train => (d.n_train, 1),
        Split::Test => (d.n_test, 2),
    };
    match d.patch_size {
        Some(size) => {
            let spec = PatchSpec {
                size,
                count: count.unwrap_or(0),
                min_std: d.min_std.unwrap_or_else(default_min_std),
                seed: seed.wrapping_add(offset),
            };
            Ok(PatchSampler::new(&images).sample(&spec)?)
        }
        None => Ok(at_most(images.whole_images()?, count)),
    }
}

/// A split of the user's array file(s).
fn load_array(d: &ArrayData, split: Split, seed: u64) -> Result<Images, TrainError> {
    let count = match split {
        Split::Train => d.n_train,
        Split::Test => d.n_test,
    };
    // Without a test file the training file is read once, then split.
    let rows = read_array(if split == Split::Test {
        d.test.as_ref().unwrap_or(&d.train)
    } else {
        &d.train
    })?;
    let n = rows.len();
    let (_, keep) = split_source(&d.train, d.test.as_ref(), split, |_| Ok(n), seed)?;
    let rows = match keep {
        Some(keep) => rows.select(&keep),
        None => rows,
    };
    Ok(at_most(rows, count))
}
