//! The probability-vector GMM (models.md §3) as a layer family: only above another layer.

use super::{Family, FamilyConfig, LayerInput};
use crate::config::DataConfig;
use crate::report::pictures::TileScale;
use crate::report::views::{Inspect, Tiles};
use crate::{ConfigError, EmConfig};
use gmm_models::{Device, Mixture, ModelError, ProbGmm, ProbGmmConfig};

impl FamilyConfig for ProbGmmConfig {
    type Layer = ProbGmm;

    fn n_components(&self) -> usize {
        self.n_components
    }

    fn set_n_components(&mut self, k: usize) {
        self.n_components = k;
    }

    fn with_size(k: usize) -> Self {
        super::with_defaults("n_components", toml::Value::Integer(k as i64))
    }

    /// Only on rows that sum to 1: a posterior feature of the layer below.
    fn values_per_component(&self, dims: usize) -> u64 {
        let d = dims as u64;
        3 * (d.saturating_mul(d) + d)
    }

    fn check(&self, input: LayerInput<'_>, _: &EmConfig) -> Result<(), ConfigError> {
        self.validate()?;
        match input {
            // A user's array may hold probability vectors (checked row by row when encoded).
            LayerInput::Data(DataConfig::Array(_)) => Ok(()),
            LayerInput::Data(_) => Err(ConfigError::new(
                "kind",
                "a prob layer models probability vectors; it can be the first layer only on \
                 dataset = \"array\"",
            )),
            LayerInput::Feature(f) if !f.is_probability() => Err(ConfigError::new(
                "input",
                format!(
                    "a prob layer needs rows that sum to 1 (posterior_normalised or \
                     responsibility), not {f:?}"
                ),
            )),
            LayerInput::Feature(_) => Ok(()),
        }
    }

    fn new_layer(&self, shape: [usize; 2], device: &Device) -> Result<ProbGmm, ModelError> {
        self.build(shape[0] * shape[1], device)
    }
}

impl Family for ProbGmm {
    /// The full GMM's products in K_in − 1 simplex coordinates.
    fn e_step_flops_per_sample(&self) -> f64 {
        let d = (self.k_in - 1) as f64;
        2.0 * self.n_components() as f64 * d * d
    }
}

impl Inspect for ProbGmm {
    /// Its means live in simplex coordinates, not in the image's shape: no extra column.
    fn extra_column(&self, _: TileScale) -> Result<Option<(Tiles, TileScale)>, ModelError> {
        Ok(None)
    }

    /// In the simplex coordinates the layer models (the overlap is invariant to that
    /// orthonormal change of basis).
    fn overlap(&self) -> Result<Option<Vec<f64>>, ModelError> {
        Inspect::overlap(&self.gaussian)
    }
}
