//! What data a run uses (`[data]`, tagged by `dataset`) and how they are loaded.

mod load;
mod stream;

pub use load::{load_shard, load_split};
pub use stream::{DiskSplit, load_disk_shard};

use crate::ConfigError;
use crate::tables::{from_table, split_tag};
pub use gmm_datasets::bsds300::Augment;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub(crate) fn default_min_std() -> f32 {
    0.04
}

/// MNIST digits, 28×28, pixels in `[0, 1]`, no other processing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MnistData {
    /// Training digits to use (the first ones); all of them when absent.
    pub n_train: Option<usize>,
    /// Test digits to use (the first ones); all of them when absent.
    pub n_test: Option<usize>,
    /// Validation rows (the training file's last `n_valid` digits, left out
    /// of training: the common 50,000 / 10,000 protocol is `n_valid = 10000`): the split that settings are chosen on and
    /// `[em] stop_on = "valid"` watches; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_valid: Option<usize>,
}

/// Random P×P patches of the BSDS300 images (models.md §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BsdsData {
    /// Patch side P.
    pub patch_size: usize,
    /// Patches drawn from the training images.
    pub n_train: usize,
    /// Patches drawn from the test images.
    pub n_test: usize,
    /// Validation rows (patches drawn from the training images with seed + 4): the split that settings are chosen on and
    /// `[em] stop_on = "valid"` watches; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_valid: Option<usize>,
    /// Patches whose standard deviation is below this are redrawn.
    #[serde(default = "default_min_std")]
    pub min_std: f32,
}

/// The "BSDS300" density benchmark: 63-dimensional rows from 8×8 patches (see
/// `gmm_datasets::bsds300`), train from the 200 train images (seed + 1), test from the 100 test
/// images (seed + 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bsds300Data {
    /// Rows drawn from the training images.
    pub n_train: usize,
    /// Rows drawn from the test images.
    pub n_test: usize,
    /// Validation rows (drawn from the training images with seed + 4, never
    /// augmented: the protocol's 50,000): the split that settings are chosen on and
    /// `[em] stop_on = "valid"` watches; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_valid: Option<usize>,
    /// Symmetries applied to the training patches (`"none"`, the benchmark's protocol;
    /// `"mirror"`; `"dihedral"`); never to the test rows. Left out of a saved config when
    /// `"none"`, so configs written before it keep their fingerprints.
    #[serde(default, skip_serializing_if = "Augment::is_none")]
    pub augment: Augment,
}

/// A folder of the user's own images (PNG, JPEG, TIFF; searched recursively), made gray by
/// Rec. 601. With `patch_size`, random patches exactly as [`BsdsData`] (zero-mean, `min_std`);
/// without it, the whole images, which must then all have one size. Relative paths are taken
/// from the working directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagesData {
    /// The training images' folder.
    pub train: PathBuf,
    /// The test images' folder; when absent, a seeded 10 % of the training folder's images
    /// (at least one) are held out as the test split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<PathBuf>,
    /// Patch side P; whole images when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_size: Option<usize>,
    /// Patches drawn for training (required with `patch_size`); whole images: at most this
    /// many (the first ones), all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_train: Option<usize>,
    /// As `n_train`, for the test split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_test: Option<usize>,
    /// Validation rows (patches drawn from the training images with seed + 4;
    /// whole images: that many of the training images, drawn with seed + 4 and left out of
    /// training): the split that settings are chosen on and
    /// `[em] stop_on = "valid"` watches; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_valid: Option<usize>,
    /// Patches whose standard deviation is below this are redrawn (with `patch_size` only;
    /// 0.04 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_std: Option<f32>,
}

/// The user's own feature matrix, one sample per row: a 2-D `.npy` (float32, float64, uint8)
/// or a `.csv` of numbers. For `full` layers, and `prob` layers when every row is a
/// probability vector. Relative paths are taken from the working directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrayData {
    /// The training rows' file.
    pub train: PathBuf,
    /// The test rows' file; when absent, a seeded 10 % of the training rows (at least one)
    /// are held out as the test split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<PathBuf>,
    /// At most this many training rows (the first ones), all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_train: Option<usize>,
    /// As `n_train`, for the test split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_test: Option<usize>,
    /// Validation rows (that many of the training rows, drawn with seed + 4 and
    /// left out of training): the split that settings are chosen on and
    /// `[em] stop_on = "valid"` watches; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_valid: Option<usize>,
    /// Sample weights of the training file's rows, one per row in its order (a `.npy` of
    /// shape `[N]` or `[N, 1]`, or a one-column `.csv`); finite and not negative. A row counts
    /// as that many repeated rows (scikit-learn's `sample_weight`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<PathBuf>,
    /// Rows read from disk whenever a pass over them needs them, never held whole (data
    /// bigger than memory; C-order `.npy` files only): the same batches, so the same figures,
    /// as rows held in memory.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
}

impl ArrayData {
    /// `stream` reads `.npy` files only.
    fn validate_stream(&self) -> Result<(), ConfigError> {
        let npy = |p: &&PathBuf| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"));
        match std::iter::once(&self.train).chain(&self.test).find(|p| !npy(p)) {
            Some(p) if self.stream => Err(ConfigError::new(
                "stream",
                format!("reads rows from .npy files only; {} is not one", p.display()),
            )),
            _ => Ok(()),
        }
    }
}

/// Which data a run trains and tests on, tagged by `dataset`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "dataset", rename_all = "snake_case")]
pub enum DataConfig {
    /// MNIST digits.
    Mnist(MnistData),
    /// BSDS300 patches.
    Bsds(BsdsData),
    /// The BSDS300 density benchmark.
    Bsds300(Bsds300Data),
    /// A folder of the user's own images.
    Images(ImagesData),
    /// The user's own feature matrix.
    Array(ArrayData),
}

impl<'de> Deserialize<'de> for DataConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (tag, table) = split_tag::<D::Error>(toml::Table::deserialize(d)?, "dataset")?;
        match tag.as_str() {
            "mnist" => from_table(table).map(DataConfig::Mnist),
            "bsds" => from_table(table).map(DataConfig::Bsds),
            "bsds300" => from_table(table).map(DataConfig::Bsds300),
            "images" => from_table(table).map(DataConfig::Images),
            "array" => from_table(table).map(DataConfig::Array),
            other => Err(serde::de::Error::custom(format!(
                "unknown dataset `{other}`, expected `mnist`, `bsds`, `bsds300`, `images` or \
                 `array`"
            ))),
        }
    }
}

impl DataConfig {
    /// Short name of the dataset.
    pub fn name(&self) -> &'static str {
        match self {
            DataConfig::Mnist(_) => "mnist",
            DataConfig::Bsds(_) => "bsds",
            DataConfig::Bsds300(_) => "bsds300",
            DataConfig::Images(_) => "images",
            DataConfig::Array(_) => "array",
        }
    }

    /// Checks the sizes and thresholds TOML's types cannot; keys relative to `[data]`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let at_least_one = |n: usize, key: &str| match n {
            0 => Err(ConfigError::new(key, "must be at least 1")),
            _ => Ok(()),
        };
        // Patches are drawn into memory: refuse counts that cannot fit before drawing them.
        let fits = |key: &str, n: usize, values: u64| {
            gmm_datasets::check_f32_count(key, n as u64, values)
                .map_err(|reason| ConfigError::new(key, reason))
        };
        // Optional counts (the first ones; all when absent) are at least 1 when given.
        let caps = |n_train: Option<usize>, n_test: Option<usize>| {
            at_least_one(n_train.unwrap_or(1), "n_train")?;
            at_least_one(n_test.unwrap_or(1), "n_test")
        };
        let patches = |patch_size: usize, n_train: usize, n_test: usize, min_std: f32| {
            if patch_size < 2 {
                return Err(ConfigError::new(
                    "patch_size",
                    format!("must be at least 2, got {patch_size}"),
                ));
            }
            at_least_one(n_train, "n_train")?;
            at_least_one(n_test, "n_test")?;
            let pixels = (patch_size as u64).saturating_mul(patch_size as u64);
            fits("n_train", n_train, pixels)?;
            fits("n_test", n_test, pixels)?;
            if !(min_std.is_finite() && min_std >= 0.0) {
                return Err(ConfigError::new(
                    "min_std",
                    format!("must be a non-negative number, got {min_std}"),
                ));
            }
            Ok(())
        };
        self.validate_n_valid()?;
        match self {
            DataConfig::Bsds(BsdsData { patch_size, n_train, n_test, min_std, .. }) => {
                patches(*patch_size, *n_train, *n_test, *min_std)
            }
            DataConfig::Images(d) => match (d.patch_size, d.n_train, d.n_test) {
                (Some(p), Some(n_train), Some(n_test)) => {
                    patches(p, n_train, n_test, d.min_std.unwrap_or_else(default_min_std))
                }
                (Some(_), None, _) => Err(ConfigError::new(
                    "n_train",
                    "is required with patch_size (how many patches to draw)",
                )),
                (Some(_), _, None) => Err(ConfigError::new(
                    "n_test",
                    "is required with patch_size (how many patches to draw)",
                )),
                (None, ..) if d.min_std.is_some() => Err(ConfigError::new(
                    "min_std",
                    "applies to patches only; give patch_size or leave min_std out",
                )),
                (None, n_train, n_test) => caps(n_train, n_test),
            },
            DataConfig::Array(d) => d.validate_stream().and_then(|()| caps(d.n_train, d.n_test)),
            DataConfig::Mnist(MnistData { n_train, n_test, .. }) => caps(*n_train, *n_test),
            DataConfig::Bsds300(Bsds300Data { n_train, n_test, .. }) => {
                at_least_one(*n_train, "n_train")?;
                at_least_one(*n_test, "n_test")?;
                fits("n_train", *n_train, 64)?;
                fits("n_test", *n_test, 64)
            }
        }
    }

    /// `n_valid`, where given: at least 1, and drawn rows that fit in memory.
    fn validate_n_valid(&self) -> Result<(), ConfigError> {
        let Some(n) = self.n_valid() else { return Ok(()) };
        if n == 0 {
            return Err(ConfigError::new("n_valid", "must be at least 1"));
        }
        // Drawn rows are allocated; rows taken out of the training ones are not.
        let side = match self {
            DataConfig::Bsds(d) => Some(d.patch_size),
            DataConfig::Images(d) => d.patch_size,
            DataConfig::Bsds300(_) => Some(gmm_datasets::bsds300::SIDE),
            DataConfig::Mnist(_) | DataConfig::Array(_) => None,
        };
        match side {
            Some(p) => {
                let pixels = (p as u64).saturating_mul(p as u64);
                gmm_datasets::check_f32_count("n_valid", n as u64, pixels)
                    .map_err(|reason| ConfigError::new("n_valid", reason))
            }
            None => Ok(()),
        }
    }

    /// How many validation rows the data have (`n_valid`); `None`: no validation split.
    pub fn n_valid(&self) -> Option<usize> {
        match self {
            DataConfig::Mnist(d) => d.n_valid,
            DataConfig::Bsds(d) => d.n_valid,
            DataConfig::Bsds300(d) => d.n_valid,
            DataConfig::Images(d) => d.n_valid,
            DataConfig::Array(d) => d.n_valid,
        }
    }

    /// Whether the rows stay on disk and are read when a pass needs them (`stream`).
    pub fn streamed(&self) -> bool {
        matches!(self, DataConfig::Array(ArrayData { stream: true, .. }))
    }

    /// Whether every sample has its mean removed (so a convolutional layer must drop DC).
    pub fn zero_meaned(&self) -> bool {
        match self {
            DataConfig::Bsds(_) | DataConfig::Bsds300(_) => true,
            DataConfig::Images(d) => d.patch_size.is_some(),
            DataConfig::Mnist(_) | DataConfig::Array(_) => false,
        }
    }

    /// Whether samples are images (a conv layer can model them), not rows of a matrix.
    pub fn is_images(&self) -> bool {
        !matches!(self, DataConfig::Bsds300(_) | DataConfig::Array(_))
    }
}

/// Which split a picture or a score is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// The training split.
    Train,
    /// The test split.
    Test,
    /// The validation split (`[data] n_valid`).
    Valid,
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
            Split::Valid => "valid",
        })
    }
}
