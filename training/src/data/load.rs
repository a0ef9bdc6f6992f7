//! Loading a run's data from a data root.

use super::Split;
use super::{
    ArrayData, Augment, Bsds300Data, BsdsData, DataConfig, ImagesData, MnistData, default_min_std,
};
use crate::TrainError;
use gmm_datasets::{
    DataError, Grayscale, ImageSet, Images, Mnist, MnistSplit, PatchSampler, PatchSpec, read_array,
    seeded_split, seeded_subset,
};
use gmm_models::processes::{self, Part};
use gmm_models::{unit_mean_weights, unless_uniform};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// What a validation split's draws add to the run's seed (train + 1, test + 2, held-out
/// test + 3).
pub(super) const VALID_SEED: u64 = 4;

/// Loads one split of the data a config names. Patches (and BSDS300 benchmark rows) are
/// drawn with seed `seed + 1` (train), `seed + 2` (test) or `seed + 4` (validation, from the
/// training images), so the splits are independent streams; a test split held out of the
/// user's training images or rows is drawn with `seed + 3`, and a validation split taken out
/// of them (and of MNIST's training file: its last digits) is left out of training.
pub fn load_split(
    config: &DataConfig,
    root: &Path,
    split: Split,
    seed: u64,
) -> Result<Images, TrainError> {
    load_shard(config, root, split, seed, [0, 1], 1).map(|(images, _)| images)
}

/// The block `processes::batch_block(N, batch, rank, size)` of the N rows [`load_split`]
/// gives — this rank's block of the batches of `batch` rows, so that its batches are those one
/// process forms — and which part of the whole split it is ([`Part::Whole`] when `size` is
/// 1): what one process of a data-parallel job holds. Patches and benchmark rows are drawn in
/// the same seeded order as by one process and only the block is cut and stored, MNIST only
/// the block is scaled to f32, so a process's data take 1/size of the memory; the user's arrays
/// and whole images are read whole and then cut.
pub fn load_shard(
    config: &DataConfig,
    root: &Path,
    split: Split,
    seed: u64,
    [rank, size]: [usize; 2],
    batch: usize,
) -> Result<(Images, Part), TrainError> {
    if split == Split::Valid && config.n_valid().is_none() {
        return Err(DataError::Request(
            "the data have no validation split; set data.n_valid".into(),
        )
        .into());
    }
    let mut part = Part::Whole;
    let images = load_rows(config, root, split, seed, |total| {
        let keep = processes::batch_block(total, batch, rank, size);
        if size > 1 {
            part = Part::Shard { first: keep.start, total };
        }
        keep
    })?;
    Ok((images, part))
}

/// The rows `keep(N)` of one split's N rows: where rows are drawn (patches, benchmark rows)
/// only those are cut and stored, MNIST only those scaled; other data are read whole and cut.
fn load_rows(
    config: &DataConfig,
    root: &Path,
    split: Split,
    seed: u64,
    keep: impl FnOnce(usize) -> Range<usize>,
) -> Result<Images, TrainError> {
    match config {
        DataConfig::Images(d) => load_images(d, split, seed, keep),
        DataConfig::Array(d) => load_array(d, split, seed, keep),
        &DataConfig::Mnist(MnistData { n_train, n_test, n_valid }) => {
            load_mnist(root, split, [n_train, n_test, n_valid], keep)
        }
        &DataConfig::Bsds(BsdsData { patch_size, n_train, n_test, min_std, n_valid }) => {
            let (folder, count, offset) = match split {
                Split::Train => ("train", n_train, 1),
                Split::Test => ("test", n_test, 2),
                Split::Valid => ("train", n_valid.unwrap_or(0), VALID_SEED),
            };
            let images = ImageSet::load(root, folder)?;
            let spec =
                PatchSpec { size: patch_size, count, min_std, seed: seed.wrapping_add(offset) };
            Ok(PatchSampler::new(&images).sample_rows(&spec, keep(count))?)
        }
        &DataConfig::Bsds300(Bsds300Data { n_train, n_test, augment, n_valid }) => {
            let (folder, count, offset, augment) = match split {
                Split::Train => ("train", n_train, 1, augment),
                Split::Test => ("test", n_test, 2, Augment::None),
                Split::Valid => ("train", n_valid.unwrap_or(0), VALID_SEED, Augment::None),
            };
            // The benchmark's gray levels are Rec. 601 (rgb2gray / PIL "L").
            let images = ImageSet::load_as(root, folder, Grayscale::Rec601Levels)?;
            let seed = seed.wrapping_add(offset);
            Ok(gmm_datasets::bsds300::sample_rows(&images, count, seed, keep(count), augment)?)
        }
    }
}

/// A split of MNIST (`[n_train, n_test, n_valid]`): the training file's last `n_valid` digits
/// are the validation split and the first `n_train` of the others the training split.
fn load_mnist(
    root: &Path,
    split: Split,
    [n_train, n_test, n_valid]: [Option<usize>; 3],
    keep: impl FnOnce(usize) -> Range<usize>,
) -> Result<Images, TrainError> {
    let n_valid = n_valid.unwrap_or(0);
    let (which, n) = match split {
        Split::Train => (MnistSplit::Train, n_train),
        Split::Test => (MnistSplit::Test, n_test),
        Split::Valid => (MnistSplit::Train, Some(n_valid)),
    };
    let (set, in_file) = Mnist::new(root).load_rows(which, |in_file| {
        // The digits this split may take: [first, first + available) of the file.
        let (first, available) = match split {
            Split::Train => (0, in_file.saturating_sub(n_valid)),
            Split::Test => (0, in_file),
            Split::Valid => (in_file.saturating_sub(n_valid), n_valid.min(in_file)),
        };
        let rows = keep(n.unwrap_or(available).min(available));
        first + rows.start..first + rows.end
    })?;
    let folder = root.join("mnist");
    if split != Split::Test && n_valid >= in_file {
        return Err(DataError::Request(format!(
            "data.n_valid = {n_valid} leaves no training digits: {} holds {in_file}",
            folder.display()
        ))
        .into());
    }
    let available = if split == Split::Test { in_file } else { in_file - n_valid };
    match n {
        Some(n) if n > available => Err(DataError::Request(format!(
            "the config asks for {n} MNIST {split} digits but {} holds {in_file}{}; point \
             --data-dir (or GMM_ZOO_DATA) at the full MNIST files, or lower data.n_{split}",
            folder.display(),
            match (split, n_valid) {
                (Split::Train, 1..) => format!(", {n_valid} of them validation digits"),
                _ => String::new(),
            }
        ))
        .into()),
        _ => Ok(set),
    }
}

/// The file (or folder) `split` is read from: the test one for `test` when it is given, else
/// the training one.
pub(super) fn source<'a>(train: &'a Path, test: Option<&'a PathBuf>, split: Split) -> &'a Path {
    match (split, test) {
        (Split::Test, Some(test)) => test,
        _ => train,
    }
}

/// Which of the training file's `n` items `split` keeps: without a test file a seeded 10 %
/// (drawn with `seed + 3`) is the test split; of the others, `n_valid` drawn with `seed + 4`
/// are the validation split and the rest the training split. `None`: all of its file's items.
pub(super) fn split_items(
    n: usize,
    (train, test): (&Path, Option<&PathBuf>),
    split: Split,
    seed: u64,
    n_valid: Option<usize>,
) -> Result<Option<Vec<usize>>, DataError> {
    let training = match test {
        Some(_) => None,
        None => {
            let (train_rows, test_rows) = seeded_split(n, seed.wrapping_add(3))
                .map_err(|e| DataError::Request(format!("{}: {e}", train.display())))?;
            if split == Split::Test {
                return Ok(Some(test_rows));
            }
            Some(train_rows)
        }
    };
    let (Some(k), false) = (n_valid, split == Split::Test) else {
        return Ok(training);
    };
    let training = training.unwrap_or_else(|| (0..n).collect());
    if k >= training.len() {
        return Err(DataError::Request(format!(
            "data.n_valid = {k} leaves no training rows: {} has {} for training",
            train.display(),
            training.len()
        )));
    }
    let (rest, drawn) = seeded_subset(training.len(), k, seed.wrapping_add(VALID_SEED));
    let pick = if split == Split::Valid { drawn } else { rest };
    Ok(Some(pick.iter().map(|&i| training[i]).collect()))
}

/// The first `n` of `set` when `n` is given, then the rows `keep(that many)`.
fn at_most(set: Images, n: Option<usize>, keep: impl FnOnce(usize) -> Range<usize>) -> Images {
    let set = match n {
        Some(n) => set.truncated(n),
        None => set,
    };
    let rows = keep(set.len());
    set.rows(rows)
}

/// A split of the user's image folder(s): patches as BSDS, or whole images.
fn load_images(
    d: &ImagesData,
    split: Split,
    seed: u64,
    keep: impl FnOnce(usize) -> Range<usize>,
) -> Result<Images, TrainError> {
    let dir = source(&d.train, d.test.as_ref(), split);
    let mut files = ImageSet::files_in(dir)?;
    // Validation patches are drawn from the training images; whole images are taken out.
    let (valid_items, valid_files) = match d.patch_size {
        Some(_) => (None, Split::Train),
        None => (d.n_valid, split),
    };
    let files_split = if split == Split::Test { split } else { valid_files };
    let paths = (d.train.as_path(), d.test.as_ref());
    if let Some(keep) = split_items(files.len(), paths, files_split, seed, valid_items)? {
        files = keep.iter().map(|&i| files[i].clone()).collect();
    }
    let images = ImageSet::from_files(files, dir.to_path_buf(), Grayscale::Rec601)?;
    let (count, offset) = match split {
        Split::Train => (d.n_train, 1),
        Split::Test => (d.n_test, 2),
        Split::Valid => (d.n_valid, VALID_SEED),
    };
    match d.patch_size {
        Some(size) => {
            let count = count.unwrap_or(0);
            let spec = PatchSpec {
                size,
                count,
                min_std: d.min_std.unwrap_or_else(default_min_std),
                seed: seed.wrapping_add(offset),
            };
            Ok(PatchSampler::new(&images).sample_rows(&spec, keep(count))?)
        }
        None => Ok(at_most(images.whole_images()?, count, keep)),
    }
}

/// A split of the user's array file(s); the training split with its sample weights
/// (`[data] weights`), scaled to mean 1 over the split's rows before a process cuts its block.
fn load_array(
    d: &ArrayData,
    split: Split,
    seed: u64,
    keep: impl FnOnce(usize) -> Range<usize>,
) -> Result<Images, TrainError> {
    let count = match split {
        Split::Train => d.n_train,
        Split::Test => d.n_test,
        Split::Valid => None,
    };
    let mut rows = read_array(source(&d.train, d.test.as_ref(), split))?;
    let weights = d.weights.as_ref().filter(|_| split == Split::Train);
    if let Some(path) = weights {
        rows.weights = Some(read_weights(path, &d.train, rows.len())?);
    }
    let paths = (d.train.as_path(), d.test.as_ref());
    let rows = match split_items(rows.len(), paths, split, seed, d.n_valid)? {
        Some(keep) => rows.select(&keep),
        None => rows,
    };
    let mut rows = match count {
        Some(n) => rows.truncated(n),
        None => rows,
    };
    if let (Some(path), Some(w)) = (weights, rows.weights.take()) {
        let scaled = unit_mean_weights(&w, w.len())
            .map_err(|e| DataError::Request(format!("{}: {e}", path.display())))?;
        rows.weights = unless_uniform(scaled);
    }
    let block = keep(rows.len());
    Ok(rows.rows(block))
}

/// One weight per row of `train` (`n` rows) from `path`, each finite and not negative; an
/// error names the file and the first bad value.
pub(super) fn read_weights(path: &Path, train: &Path, n: usize) -> Result<Vec<f32>, TrainError> {
    let values = read_array(path)?;
    let bad = |reason: String| DataError::Request(format!("{}: {reason}", path.display()));
    if values.width != 1 {
        return Err(
            bad(format!("has {} columns; sample weights are one column", values.width)).into()
        );
    }
    if values.len() != n {
        return Err(bad(format!(
            "holds {} weights, but {} holds {n} rows",
            values.len(),
            train.display()
        ))
        .into());
    }
    if let Some(i) = values.pixels.iter().position(|w| !(*w >= 0.0)) {
        return Err(bad(format!(
            "row {i} has weight {}; weights must be numbers, not negative",
            values.pixels[i]
        ))
        .into());
    }
    Ok(values.pixels)
}
