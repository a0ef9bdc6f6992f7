//! One layer of a stack as a config holds it (`[[layers]]`, or the `[model]` + `[em]` of a
//! single-layer run).

use crate::family::LayerInput;
use crate::features::Feature;
use crate::tables::from_table;
use crate::{ConfigError, DataConfig, EmConfig, LayerConfig};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
        if self.em.stop_on == crate::em::StopOn::Valid && data.n_valid().is_none() {
            return Err(ConfigError::new(
                "em.stop_on",
                "\"valid\" watches the validation rows; set [data] n_valid",
            ));
        }
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
