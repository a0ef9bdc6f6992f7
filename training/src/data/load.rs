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

/// The file (or folder) `split` is read from: the test one for `test` when it is given, else
/// the training one.
fn source<'a>(train: &'a Path, test: Option<&'a PathBuf>, split: Split) -> &'a Path {
    match (split, test) {
        (Split::Test, Some(test)) => test,
        _ => train,
    }
}

/// Which of the training file's `n` items `split` keeps when no test file is given (a seeded
/// 10 % for test, the rest for train, drawn with `seed + 3`); `None`: all of its file's items.
fn held_out(
    n: usize,
    train: &Path,
    test: Option<&PathBuf>,
    split: Split,
    seed: u64,
) -> Result<Option<Vec<usize>>, DataError> {
    if test.is_some() {
        return Ok(None);
    }
    let (train_rows, test_rows) = seeded_split(n, seed.wrapping_add(3))
        .map_err(|e| DataError::Request(format!("{}: {e}", train.display())))?;
    Ok(Some(if split == Split::Train { train_rows } else { test_rows }))
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
    let dir = source(&d.train, d.test.as_ref(), split);
    let mut files = ImageSet::files_in(dir)?;
    if let Some(keep) = held_out(files.len(), &d.train, d.test.as_ref(), split, seed)? {
        files = keep.iter().map(|&i| files[i].clone()).collect();
    }
    let images = ImageSet::from_files(files, dir.to_path_buf(), Grayscale::Rec601)?;
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
    let rows = read_array(source(&d.train, d.test.as_ref(), split))?;
    let rows = match held_out(rows.len(), &d.train, d.test.as_ref(), split, seed)? {
        Some(keep) => rows.select(&keep),
        None => rows,
    };
    Ok(at_most(rows, count))
}
