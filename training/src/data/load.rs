//! Loading a run's data from a data root.

use super::Split;
use super::{
    ArrayData, Augment, Bsds300Data, BsdsData, DataConfig, ImagesData, MnistData, default_min_std,
};
use crate::TrainError;
use gmm_datasets::{
    DataError, Grayscale, ImageSet, Images, Mnist, MnistSplit, PatchSampler, PatchSpec, read_array,
    seeded_split,
};
use gmm_models::processes::{self, Part};
use gmm_models::{unit_mean_weights, unless_uniform};
use std::ops::Range;
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
        &DataConfig::Mnist(MnistData { n_train, n_test }) => {
            let (which, n) = match split {
                Split::Train => (MnistSplit::Train, n_train),
                Split::Test => (MnistSplit::Test, n_test),
            };
            let (set, in_file) = Mnist::new(root)
                .load_rows(which, |in_file| keep(n.unwrap_or(in_file).min(in_file)))?;
            match n {
                Some(n) if n > in_file => Err(DataError::Request(format!(
                    "the config asks for {n} MNIST {split} digits but {} holds {in_file}; point \
                     --data-dir (or GMM_ZOO_DATA) at the full MNIST files, or lower data.n_{split}",
                    root.join("mnist").display(),
                ))
                .into()),
                _ => Ok(set),
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
            Ok(PatchSampler::new(&images).sample_rows(&spec, keep(count))?)
        }
        &DataConfig::Bsds300(Bsds300Data { n_train, n_test, augment }) => {
            let (folder, count, offset, augment) = match split {
                Split::Train => ("train", n_train, 1, augment),
                Split::Test => ("test", n_test, 2, Augment::None),
            };
            // The benchmark's gray levels are Rec. 601 (rgb2gray / PIL "L").
            let images = ImageSet::load_as(root, folder, Grayscale::Rec601Levels)?;
            let seed = seed.wrapping_add(offset);
            Ok(gmm_datasets::bsds300::sample_rows(&images, count, seed, keep(count), augment)?)
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
    };
    let mut rows = read_array(source(&d.train, d.test.as_ref(), split))?;
    let weights = d.weights.as_ref().filter(|_| split == Split::Train);
    if let Some(path) = weights {
        rows.weights = Some(read_weights(path, &d.train, rows.len())?);
    }
    let rows = match held_out(rows.len(), &d.train, d.test.as_ref(), split, seed)? {
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
fn read_weights(path: &Path, train: &Path, n: usize) -> Result<Vec<f32>, TrainError> {
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
