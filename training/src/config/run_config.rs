//! A run config: one TOML file says which data, which layer, which EM settings.

use super::StackLayer;
use crate::data::{DataConfig, Split};
use crate::tables::toml_error;
use crate::{ConfigError, EmConfig, LayerConfig, TrainError};
use serde::{Deserialize, Serialize};
use std::path::Path;

fn default_every() -> usize {
    5
}

/// How often a run writes a checkpoint (`[checkpoint]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Write a checkpoint every this many EM iterations (and on Ctrl-C).
    #[serde(default = "default_every")]
    pub every: usize,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self { every: default_every() }
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
        let config: Self = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
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
        if self.output.top_from == Some(Split::Valid) && self.data.n_valid().is_none() {
            return Err(ConfigError::new(
                "output.top_from",
                "\"valid\" takes the validation rows; set [data] n_valid",
            ));
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

    /// Canonical text of the model-relevant part of the config, for fingerprints. The top
    /// layer's stopping rule (`em.max_iter`, `em.tol`) is left out: it decides where EM stops,
    /// not the iterations it takes, so a run resumes (`--resume`) under a config that lets it
    /// go on longer, or stop sooner, than it was started with. A lower layer's is kept (that
    /// layer is finished, and a fresh run of the changed config would train it otherwise), and
    /// so is a top layer's with restarts (`n_init > 1`: its finished restarts stopped by it).
    pub fn model_definition(&self) -> String {
        let mut layers = self.stack();
        if let Some(top) = layers.last_mut().filter(|top| top.em.n_init == 1) {
            (top.em.max_iter, top.em.tol) = (0, 0.0);
        }
        self.definition_text(layers)
    }

    /// The canonical text builds before [`Self::model_definition`] left out the stopping rule
    /// fingerprinted (every layer's `max_iter` and `tol` in it): their checkpoints resume
    /// under the config that wrote them.
    pub fn model_definition_with_stopping_rule(&self) -> String {
        self.definition_text(self.stack())
    }

    fn definition_text(&self, layers: Vec<StackLayer>) -> String {
        let def = ModelDefinition { seed: self.seed, data: &self.data, layers };
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
            _ => Split::Train,
        })
    }
}
