//! The layer families a config can name, as one enum (deep stacks will hold a list of them).

use crate::config::{from_table, split_tag};
use crate::{DataConfig, TrainError, fsio};
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use gmm_models::{ConvGmm, ConvGmmConfig, Device, FullGmm, FullGmmConfig, ModelError};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A layer's hyper-parameters, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LayerConfig {
    /// The convolutional GMM (models.md §1).
    Conv(ConvGmmConfig),
    /// The full-covariance GMM (models.md §2).
    Full(FullGmmConfig),
}

impl<'de> Deserialize<'de> for LayerConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (tag, table) = split_tag::<D::Error>(toml::Table::deserialize(d)?, "kind")?;
        match tag.as_str() {
            "conv" => from_table(table).map(LayerConfig::Conv),
            "full" => from_table(table).map(LayerConfig::Full),
            other => Err(serde::de::Error::custom(format!(
                "unknown layer kind `{other}`, expected `conv` or `full`"
            ))),
        }
    }
}

impl LayerConfig {
    /// Checks the layer's own fields and that it fits the data.
    pub fn validate_for(&self, data: &DataConfig) -> Result<(), ModelError> {
        match self {
            LayerConfig::Conv(c) => {
                c.validate()?;
                if data.zero_meaned() && !c.exclude_dc {
                    return Err(ModelError::InvalidConfig {
                        field: "exclude_dc",
                        reason: "must be true for zero-meaned patches: their DC bin is \
                                 identically 0 and the density would be degenerate"
                            .into(),
                    });
                }
                if !data.zero_meaned() && c.exclude_dc {
                    return Err(ModelError::InvalidConfig {
                        field: "exclude_dc",
                        reason: format!(
                            "must be false for {} (not zero-meaned): without DC the image mean \
                             is not modelled and the log-likelihood is not a density of the data",
                            data.name()
                        ),
                    });
                }
                Ok(())
            }
            LayerConfig::Full(c) => c.validate(),
        }
    }

    /// A fresh layer for inputs of shape `[height, width]` (a feature vector is `[1, d]`).
    pub fn init(&self, shape: [usize; 2], device: &Device) -> Result<Layer, ModelError> {
        match self {
            LayerConfig::Conv(c) => {
                if shape[0] != shape[1] {
                    return Err(ModelError::InvalidConfig {
                        field: "kind",
                        reason: format!(
                            "the convolutional GMM needs square images, got {}x{}",
                            shape[0], shape[1]
                        ),
                    });
                }
                Ok(Layer::Conv(c.init(shape[0], device)?))
            }
            LayerConfig::Full(c) => Ok(Layer::Full(c.init(shape[0] * shape[1], device)?)),
        }
    }
}

/// A trained or fresh layer of any family.
#[derive(Debug, Clone)]
pub enum Layer {
    /// A convolutional GMM.
    Conv(ConvGmm),
    /// A full-covariance GMM.
    Full(FullGmm),
}

impl From<ConvGmm> for Layer {
    fn from(m: ConvGmm) -> Self {
        Layer::Conv(m)
    }
}

impl From<FullGmm> for Layer {
    fn from(m: FullGmm) -> Self {
        Layer::Full(m)
    }
}

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
        let bytes = match layer {
            Layer::Conv(m) => m.clone().into_record().into_bytes(),
            Layer::Full(m) => m.clone().into_record().into_bytes(),
        }
        .map_err(|e| TrainError::file(&bpk, format!("cannot encode the record: {e:?}")))?;
        fsio::write_atomic(&bpk, &bytes)?;
        fsio::write_atomic(&toml_path, text.as_bytes())
    }

    /// Rebuilds the layer saved in `dir` on `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<(Self, Layer), TrainError> {
        let toml_path = dir.join("model.toml");
        let text = String::from_utf8(fsio::read(&toml_path)?)
            .map_err(|_| TrainError::file(&toml_path, "not UTF-8 text"))?;
        let saved: SavedLayer = toml::from_str(&text)
            .map_err(|e| TrainError::file(&toml_path, e.to_string().trim()))?;
        let bpk = dir.join("model.bpk");
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(fsio::read(&bpk)?))
            .map_err(|e| TrainError::file(&bpk, format!("not a valid Burn record: {e:?}")))?;
        let mut config = saved.config.clone();
        match &mut config {
            LayerConfig::Conv(c) => c.n_components = saved.trained_components,
            LayerConfig::Full(c) => c.n_components = saved.trained_components,
        }
        let misfit = |e| TrainError::file(&bpk, format!("does not fit model.toml: {e:?}"));
        let layer = match config.init(saved.input_shape, device)? {
            Layer::Conv(m) => Layer::Conv(m.try_load_record(record).map_err(misfit)?),
            Layer::Full(m) => Layer::Full(m.try_load_record(record).map_err(misfit)?),
        };
        Ok((saved, layer))
    }
}
