//! Loading a run's data from a data root.

use crate::TrainError;
use crate::config::{Bsds300Data, BsdsData, DataConfig, MnistData, Split};
use gmm_datasets::{
    BsdsImages, DataError, Grayscale, Images, Mnist, MnistSplit, PatchSampler, PatchSpec,
};
use std::path::Path;

/// Loads one split of the data a config names. BSDS patches (and BSDS300 benchmark rows) are
/// drawn with seed `seed + 1` (train) or `seed + 2` (test), so the two splits are independent
/// streams.
pub fn load_split(
    config: &DataConfig,
    root: &Path,
    split: Split,
    seed: u64,
) -> Result<Images, TrainError> {
    match *config {
        DataConfig::Mnist(MnistData { n_train, n_test }) => {
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
        DataConfig::Bsds(BsdsData { patch_size, n_train, n_test, min_std }) => {
            let (folder, count, offset) = match split {
                Split::Train => ("train", n_train, 1),
                Split::Test => ("test", n_test, 2),
            };
            let images = BsdsImages::load(root, folder)?;
            let spec =
                PatchSpec { size: patch_size, count, min_std, seed: seed.wrapping_add(offset) };
            Ok(PatchSampler::new(&images).sample(&spec)?)
        }
        DataConfig::Bsds300(Bsds300Data { n_train, n_test }) => {
            let (folder, count, offset) = match split {
                Split::Train => ("train", n_train, 1),
                Split::Test => ("test", n_test, 2),
            };
            // The benchmark's gray levels are Rec. 601 (rgb2gray / PIL "L").
            let images = BsdsImages::load_as(root, folder, Grayscale::Rec601Levels)?;
            Ok(gmm_datasets::bsds300::sample(&images, count, seed.wrapping_add(offset))?)
        }
    }
}
