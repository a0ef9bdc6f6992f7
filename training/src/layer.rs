//! A layer as configs and run folders hold it: one layer of a stack (`[[layers]]`, or the
//! `[model]` + `[em]` of a single-layer run) and the `model.toml` + `model.bpk` of a trained one.

use crate::config::from_table;
use crate::family::LayerInput;
use crate::features::Feature;
use crate::{ConfigError, DataConfig, EmConfig, Layer, LayerConfig, TrainError, fsio};
use gmm_models::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What `model.toml` in a run folder holds: enough to rebuild the layer before loading its
/// parameters from `model.bpk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedLayer {
    /// `[height, width]` of the inputs the layer models.
    pub input_shape: [usize; 2],
    /// Components after training (pruning can leave fewer than configured).
    pub trained_components: usize,
    /// The layer's hyper-parameters.
    #[serde(flatten)]
    pub config: LayerConfig,
}

impl SavedLayer {
    /// Writes `model.toml` and `model.bpk` (Burn's burnpack record) into `dir`, atomically.
    pub fn save(&self, layer: &Layer, dir: &Path) -> Result<(), TrainError> {
        let toml_path = dir.join("model.toml");
        let text = toml::to_string(self).map_err(|e| TrainError::file(&toml_path, e))?;
        let bpk = dir.join("model.bpk");
        let bytes = layer.record_bytes().map_err(|e| TrainError::file(&bpk, e))?;
        fsio::write_atomic(&bpk, &bytes)?;
        fsio::write_atomic(&toml_path, text.as_bytes())
    }

    /// Reads `model.toml` of `dir` and the bytes of its `model.bpk`, without building the
    /// layer (a warm start loads them under another config).
    pub fn read(dir: &Path) -> Result<(Self, Vec<u8>), TrainError> {
        let toml_path = dir.join("model.toml");
        let text = String::from_utf8(fsio::read(&toml_path)?)
            .map_err(|_| TrainError::file(&toml_path, "not UTF-8 text"))?;
        let saved: SavedLayer = toml::from_str(&text)
            .map_err(|e| TrainError::file(&toml_path, crate::config::toml_error(&text, &e)))?;
        Ok((saved, fsio::read(&dir.join("model.bpk"))?))
    }

    /// Rebuilds the layer saved in `dir` on `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<(Self, Layer), TrainError> {
        let (saved, record) = Self::read(dir)?;
        let (toml_path, bpk) = (dir.join("model.toml"), dir.join("model.bpk"));
        let layer = saved
            .config
            .load_record(saved.trained_components, saved.input_shape, record, device)
            .map_err(|e| {
                TrainError::file(&bpk, format!("{e} (model.toml: {})", toml_path.display()))
            })?;
        Ok((saved, layer))
    }
}

/// One layer of a stack: its family and hyper-parameters, the feature it takes from the layer
/// below, its EM settings, and optionally a trained layer to reuse instead of training.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackLayer {
    /// Family and hyper-parameters (`kind = …` and its keys).
    #[serde(flatten)]
    pub layer: LayerConfig,
    /// The feature of the layer below (absent for the first layer, which takes the data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Feature>,
    /// EM settings (`[layers.em]`).
    pub em: EmConfig,
    /// A run folder (or a stack's `layer<i>` folder) whose trained layer is used as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reuse: Option<PathBuf>,
}

impl<'de> Deserialize<'de> for StackLayer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(d)?;
        let input =
            table.remove("input").map(|v| v.try_into::<Feature>()).transpose().map_err(|e| {
                D::Error::custom(format!(
                    "input: {}; expected log_likelihood, log_likelihood_standardised, \
                 posterior_normalised or responsibility",
                    e.to_string().trim()
                ))
            })?;
        let em = match table.remove("em") {
            Some(toml::Value::Table(t)) => from_table::<EmConfig, D::Error>(t)
                .map_err(|e| D::Error::custom(format!("em.{e}")))?,
            Some(_) => return Err(D::Error::custom("em must be a table ([layers.em])")),
            None => return Err(D::Error::custom("missing table `em` ([layers.em])")),
        };
        let reuse = match table.remove("reuse") {
            Some(toml::Value::String(s)) => Some(PathBuf::from(s)),
            Some(_) => return Err(D::Error::custom("reuse must be a path string")),
            None => None,
        };
        let layer =
            LayerConfig::deserialize(toml::Value::Table(table)).map_err(D::Error::custom)?;
        Ok(Self { layer, input, em, reuse })
    }
}

impl StackLayer {
    /// Checks the layer on its input (the data for the first layer, else the feature of the
    /// layer below) with its EM settings; the key is relative to the layer's table.
    pub fn validate(&self, data: &DataConfig, first: bool) -> Result<(), ConfigError> {
        let input = match (first, self.input) {
            (true, None) => LayerInput::Data(data),
            (false, Some(f)) => LayerInput::Feature(f),
            (true, Some(_)) => {
                return Err(ConfigError::new(
                    "input",
                    "the first layer takes the data; remove `input`",
                ));
            }
            (false, None) => {
                return Err(ConfigError::new(
                    "input",
                    "a layer above the first needs the feature of the layer below",
                ));
            }
        };
        self.em.validate().map_err(|e| ConfigError::from(e).under("em"))?;
        if self.reuse.is_some() && self.em.warm_start.is_some() {
            return Err(ConfigError::new(
                "em.warm_start",
                "`reuse` takes a trained layer as it is, `warm_start` trains it further (use one \
                 of the two)",
            ));
        }
        self.layer.check(input, &self.em)
    }
}
