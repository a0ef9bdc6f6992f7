//! The layer families a config can name, as one enum (deep stacks will hold a list of them).

use crate::EmConfig;
use crate::config::{from_table, split_tag};
use crate::features::Feature;
use crate::{DataConfig, TrainError, fsio};
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use gmm_models::{
    ConvGmm, ConvGmmConfig, Device, FullGmm, FullGmmConfig, Init, Mixture, ModelError, ProbGmm,
    ProbGmmConfig,
};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::path::PathBuf;

/// A layer's hyper-parameters, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LayerConfig {
    /// The convolutional GMM (models.md §1).
    Conv(ConvGmmConfig),
    /// The full-covariance GMM (models.md §2).
    Full(FullGmmConfig),
    /// The probability-vector GMM (models.md §3).
    Prob(ProbGmmConfig),
}

impl<'de> Deserialize<'de> for LayerConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (tag, table) = split_tag::<D::Error>(toml::Table::deserialize(d)?, "kind")?;
        match tag.as_str() {
            "conv" => from_table(table).map(LayerConfig::Conv),
            "full" => from_table(table).map(LayerConfig::Full),
            "prob" => from_table(table).map(LayerConfig::Prob),
            other => Err(serde::de::Error::custom(format!(
                "unknown layer kind `{other}`, expected `conv`, `full` or `prob`"
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
                if matches!(data, DataConfig::Bsds300(_)) {
                    return Err(ModelError::InvalidConfig {
                        field: "kind",
                        reason: "bsds300 rows are 63 values (the last pixel dropped), not square \
                                 images; use a full layer"
                            .into(),
                    });
                }
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
            LayerConfig::Prob(c) => c.validate(),
        }
    }

    /// The configured number of components.
    pub fn n_components(&self) -> usize {
        match self {
            LayerConfig::Conv(c) => c.n_components,
            LayerConfig::Full(c) => c.n_components,
            LayerConfig::Prob(c) => c.n_components,
        }
    }

    /// Sets the number of components (a pruned layer is rebuilt with fewer than configured).
    pub fn set_n_components(&mut self, k: usize) {
        match self {
            LayerConfig::Conv(c) => c.n_components = k,
            LayerConfig::Full(c) => c.n_components = k,
            LayerConfig::Prob(c) => c.n_components = k,
        }
    }

    /// The family's name as configs spell it.
    pub fn kind(&self) -> &'static str {
        match self {
            LayerConfig::Conv(_) => "conv",
            LayerConfig::Full(_) => "full",
            LayerConfig::Prob(_) => "prob",
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
            LayerConfig::Prob(c) => Ok(Layer::Prob(c.init(shape[0] * shape[1], device)?)),
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
    /// A probability-vector GMM.
    Prob(ProbGmm),
}

impl Layer {
    /// Its number of components K.
    pub fn n_components(&self) -> usize {
        match self {
            Layer::Conv(m) => m.n_components(),
            Layer::Full(m) => m.n_components(),
            Layer::Prob(m) => m.n_components(),
        }
    }
}

impl From<ProbGmm> for Layer {
    fn from(m: ProbGmm) -> Self {
        Layer::Prob(m)
    }
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
            Layer::Prob(m) => m.clone().into_record().into_bytes(),
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
        config.set_n_components(saved.trained_components);
        let misfit = |e| TrainError::file(&bpk, format!("does not fit model.toml: {e:?}"));
        let layer = match config.init(saved.input_shape, device)? {
            Layer::Conv(m) => Layer::Conv(m.try_load_record(record).map_err(misfit)?),
            Layer::Full(m) => Layer::Full(m.try_load_record(record).map_err(misfit)?),
            Layer::Prob(m) => Layer::Prob(m.try_load_record(record).map_err(misfit)?),
        };
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
    /// Checks the layer against the data and the layer below; the error names the key.
    pub fn validate(
        &self,
        data: &DataConfig,
        below: Option<&StackLayer>,
    ) -> Result<(), (&'static str, String)> {
        let model = |e: ModelError| (self.layer.kind(), e.to_string());
        match (below, self.input) {
            (None, Some(_)) => {
                return Err(("input", "the first layer takes the data; remove `input`".into()));
            }
            (Some(_), None) => {
                return Err((
                    "input",
                    "a layer above the first needs the feature of the layer below".into(),
                ));
            }
            _ => {}
        }
        match (&self.layer, self.input) {
            (LayerConfig::Conv(_), Some(_)) => {
                return Err((
                    "kind",
                    "a conv layer models images; it can only be the first layer".into(),
                ));
            }
            (LayerConfig::Prob(_), None) => {
                return Err((
                    "kind",
                    "a prob layer models probability vectors; it cannot be the first layer".into(),
                ));
            }
            (LayerConfig::Prob(_), Some(f)) if !f.is_probability() => {
                return Err((
                    "input",
                    format!(
                        "a prob layer needs rows that sum to 1 (posterior_normalised or responsibility), not {f:?}"
                    ),
                ));
            }
            (LayerConfig::Full(_), Some(f)) if f.is_probability() => {
                return Err((
                    "input",
                    format!(
                        "{f:?} rows sum to 1, so a full Gaussian on them is singular; use kind = \"prob\""
                    ),
                ));
            }
            _ => {}
        }
        match below {
            None => self.layer.validate_for(data).map_err(|e| ("model", e.to_string()))?,
            Some(_) => match &self.layer {
                LayerConfig::Full(c) => c.validate().map_err(model)?,
                LayerConfig::Prob(c) => c.validate().map_err(model)?,
                LayerConfig::Conv(_) => unreachable!("rejected above"),
            },
        }
        self.em.validate().map_err(|e| ("em", e.to_string()))?;
        if matches!(self.layer, LayerConfig::Conv(_)) && self.em.init == Init::Kmeans {
            return Err((
                "em.init",
                "\"kmeans\" is for full-covariance layers; the convolutional GMM takes \"samples\" or \"random_responsibilities\"".into(),
            ));
        }
        Ok(())
    }
}
