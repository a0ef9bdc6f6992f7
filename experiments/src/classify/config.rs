//! The one layer of a config a classifier can use.

use gmm_training::config::{DataConfig, RunConfig};
use gmm_training::{ConfigError, StackLayer, TrainError};

/// The one layer of a config that `classify` can use: labelled data (MNIST), a single layer,
/// no warm start; the error names the key.
pub fn single_layer(config: &RunConfig) -> Result<StackLayer, TrainError> {
    let bad = |key: &str, reason: &str| TrainError::Config {
        path: config.name.clone().into(),
        error: ConfigError::new(key, reason),
    };
    if !matches!(config.data, DataConfig::Mnist(_)) {
        return Err(bad("data.dataset", "classify needs labelled data: dataset = \"mnist\""));
    }
    let mut stack = config.stack();
    if stack.len() != 1 {
        return Err(bad(
            "layers",
            "classify needs log p(x | class), a density over images; a stack's upper layers \
             model features of the layer below, so a stack defines none. Use [model] and [em]",
        ));
    }
    let spec = stack.remove(0);
    if spec.em.warm_start.is_some() {
        return Err(bad(
            "em.warm_start",
            "each class's model is fitted to that class's digits from its own initialisation; \
             remove warm_start",
        ));
    }
    Ok(spec)
}
