//! A layer's user-sized numbers checked against its data before anything is allocated: K
//! (or a deep GMM's paths) times what a component holds, and `batch_size` times K, against the
//! machine's memory ([`gmm_datasets::check_f32_count`]); K against the training samples. A
//! typo of three zeros gets one sentence naming its key, not a failed allocation.

use crate::config::RunConfig;
use crate::{ConfigError, TrainError};

/// Checks layer `index` of `config` on `n_train` training samples of `dims` values each.
pub fn check_layer(
    config: &RunConfig,
    index: usize,
    dims: usize,
    n_train: usize,
) -> Result<(), TrainError> {
    let bad = |key: String, reason: String| TrainError::Config {
        path: config.name.clone().into(),
        error: ConfigError::new(key, reason),
    };
    let stack = config.stack();
    let Some(spec) = stack.get(index).filter(|s| s.reuse.is_none()) else { return Ok(()) };
    let (model, em) = match config.layers.is_empty() {
        true => ("model".to_string(), "em".to_string()),
        false => (format!("layers[{index}]"), format!("layers[{index}].em")),
    };
    let layer = &spec.layer;
    let key = format!("{model}.{}", layer.size_key());
    let k = layer.n_components() as u64;
    let fits = |key: &str, count: u64, per: u64| {
        // The message starts with the key itself ("model.n_components = …").
        gmm_datasets::check_f32_count(key, count, per).map_err(|reason| bad(String::new(), reason))
    };
    fits(&key, k, layer.values_per_component(dims))?;
    fits(&format!("{em}.batch_size"), spec.em.batch_size as u64, k)?;
    let needed = layer.min_samples();
    if spec.em.warm_start.is_none() && needed > n_train {
        return Err(bad(
            key,
            format!("{needed} components need at least {needed} training samples, got {n_train}"),
        ));
    }
    Ok(())
}
