//! Run configs: one TOML file says which data, which layer, which EM settings.

use crate::checkpoint::CheckpointConfig;
use crate::{ConfigError, EmConfig, LayerConfig, StackLayer, TrainError};
use serde::{Deserialize, Serialize};
use std::path::Path;

fn default_min_std() -> f32 {
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
}

impl<'de> Deserialize<'de> for DataConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (tag, table) = split_tag::<D::Error>(toml::Table::deserialize(d)?, "dataset")?;
        match tag.as_str() {
            "mnist" => from_table(table).map(DataConfig::Mnist),
            "bsds" => from_table(table).map(DataConfig::Bsds),
            "bsds300" => from_table(table).map(DataConfig::Bsds300),
            other => Err(serde::de::Error::custom(format!(
                "unknown dataset `{other}`, expected `mnist`, `bsds` or `bsds300`"
            ))),
        }
    }
}

/// Takes the tag out of an internally tagged table. (serde's derived internally tagged enums
/// buffer their content and lose the key of an error; going through a table keeps it.)
pub(crate) fn split_tag<E: serde::de::Error>(
    mut table: toml::Table,
    tag: &str,
) -> Result<(String, toml::Table), E> {
    match table.remove(tag) {
        Some(toml::Value::String(s)) => Ok((s, table)),
        Some(v) => Err(E::custom(format!("`{tag}` must be a string, got {v}"))),
        None => Err(E::custom(format!("missing field `{tag}`"))),
    }
}

/// Deserializes a table into `T`, keeping the name of the offending key in the message.
pub(crate) fn from_table<T: serde::de::DeserializeOwned, E: serde::de::Error>(
    table: toml::Table,
) -> Result<T, E> {
    table
        .try_into()
        .map_err(|e: toml::de::Error| E::custom(e.to_string().trim().replace('\n', " ")))
}

impl DataConfig {
    /// Short name of the dataset.
    pub fn name(&self) -> &'static str {
        match self {
            DataConfig::Mnist(_) => "mnist",
            DataConfig::Bsds(_) => "bsds",
            DataConfig::Bsds300(_) => "bsds300",
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
        match self {
            DataConfig::Bsds(BsdsData { patch_size, n_train, n_test, min_std }) => {
                if *patch_size < 2 {
                    return Err(ConfigError::new(
                        "patch_size",
                        format!("must be at least 2, got {patch_size}"),
                    ));
                }
                at_least_one(*n_train, "n_train")?;
                at_least_one(*n_test, "n_test")?;
                let pixels = (*patch_size as u64).saturating_mul(*patch_size as u64);
                fits("n_train", *n_train, pixels)?;
                fits("n_test", *n_test, pixels)?;
                if !(min_std.is_finite() && *min_std >= 0.0) {
                    return Err(ConfigError::new(
                        "min_std",
                        format!("must be a non-negative number, got {min_std}"),
                    ));
                }
                Ok(())
            }
            DataConfig::Mnist(MnistData { n_train, n_test }) => {
                at_least_one(n_train.unwrap_or(1), "n_train")?;
                at_least_one(n_test.unwrap_or(1), "n_test")
            }
            DataConfig::Bsds300(Bsds300Data { n_train, n_test }) => {
                at_least_one(*n_train, "n_train")?;
                at_least_one(*n_test, "n_test")?;
                fits("n_train", *n_train, 64)?;
                fits("n_test", *n_test, 64)
            }
        }
    }

    /// Whether every sample has its mean removed (so a convolutional layer must drop DC).
    pub fn zero_meaned(&self) -> bool {
        matches!(self, DataConfig::Bsds(_) | DataConfig::Bsds300(_))
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
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

/// The most top samples a component grid shows per component.
pub const MAX_TOP_SAMPLES: usize = 1000;

fn default_top() -> usize {
    10
}

/// What pictures a run draws.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Samples shown per component in the component grid.
    #[serde(default = "default_top")]
    pub top_samples: usize,
    /// Split the top samples come from; MNIST defaults to test (as in the write-up), BSDS to
    /// train.
    #[serde(default)]
    pub top_from: Option<Split>,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self { top_samples: default_top(), top_from: None }
    }
}

/// One run: data, layer, EM, outputs, seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Name of the run (its default folder is `runs/<name>`).
    pub name: String,
    /// Seed of every random choice (patch sampling, initialisation).
    #[serde(default)]
    pub seed: u64,
    /// The data.
    pub data: DataConfig,
    /// The layer of a single-layer run (with `em`); a stack uses `layers` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<LayerConfig>,
    /// EM settings of a single-layer run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub em: Option<EmConfig>,
    /// The layers of a deep stack, bottom up, trained greedily.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<StackLayer>,
    /// Pictures.
    #[serde(default)]
    pub output: OutputConfig,
    /// Checkpoints.
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
}

/// The part of a config that determines the trained model (what a checkpoint's fingerprint
/// covers): not the name, the pictures or the checkpoint interval.
#[derive(Serialize)]
struct ModelDefinition<'a> {
    seed: u64,
    data: &'a DataConfig,
    layers: Vec<StackLayer>,
}

impl RunConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, TrainError> {
        let bad = |error| TrainError::Config { path: path.into(), error };
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad(ConfigError::new("", format!("cannot read: {e}"))))?;
        Self::parse(&text).map_err(bad)
    }

    /// Parses and validates TOML text: the one way to a [`RunConfig`] that the engine trusts.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let config: Self =
            toml::from_str(text).map_err(|e| ConfigError::new("", e.to_string().trim()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that TOML's types cannot; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.is_empty() || self.name.contains(['/', '\\']) {
            return Err(ConfigError::new(
                "name",
                format!("'{}' must be a non-empty folder name", self.name),
            ));
        }
        self.data.validate().map_err(|e| e.under("data"))?;
        let stack = match (&self.model, &self.em, self.layers.is_empty()) {
            (Some(_), Some(_), true) | (None, None, false) => self.stack(),
            _ => {
                return Err(ConfigError::new(
                    "layers",
                    "give either [model] and [em] (one layer) or [[layers]] (a stack), not both \
                     and not half of one",
                ));
            }
        };
        let single = self.layers.is_empty();
        for (i, layer) in stack.iter().enumerate() {
            layer.validate(&self.data, i == 0).map_err(|e| match single {
                true if e.key.starts_with("em") => e,
                true => e.under("model"),
                false => e.under(&format!("layers[{i}]")),
            })?;
        }
        if self.checkpoint.every == 0 {
            return Err(ConfigError::new("checkpoint.every", "must be at least 1"));
        }
        if !(1..=MAX_TOP_SAMPLES).contains(&self.output.top_samples) {
            return Err(ConfigError::new(
                "output.top_samples",
                format!(
                    "must be between 1 and {MAX_TOP_SAMPLES} (one picture column each), got {}",
                    self.output.top_samples
                ),
            ));
        }
        Ok(())
    }

    /// Canonical text of the model-relevant part of the config, for fingerprints.
    pub fn model_definition(&self) -> String {
        let def = ModelDefinition { seed: self.seed, data: &self.data, layers: self.stack() };
        toml::to_string(&def).unwrap_or_else(|e| format!("unserialisable config: {e}"))
    }

    /// The layers to train, bottom up: `[model]` + `[em]` is a stack of one.
    pub fn stack(&self) -> Vec<StackLayer> {
        match (&self.model, &self.em) {
            (Some(model), Some(em)) => {
                vec![StackLayer { layer: model.clone(), input: None, em: em.clone(), reuse: None }]
            }
            _ => self.layers.clone(),
        }
    }

    /// The split whose samples fill the component grid.
    pub fn top_split(&self) -> Split {
        self.output.top_from.unwrap_or(match self.data {
            DataConfig::Mnist(_) => Split::Test,
            DataConfig::Bsds(_) | DataConfig::Bsds300(_) => Split::Train,
        })
    }
}
