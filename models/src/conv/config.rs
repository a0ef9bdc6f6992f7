//! A convolutional layer's hyper-parameters, checked once.

use crate::ModelError;
use crate::mixture::Init;
use serde::{Deserialize, Serialize};

fn default_true() -> bool {
    true
}

fn default_floor() -> f64 {
    1e-6
}

/// Hyper-parameters of a [`ConvGmm`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvGmmConfig {
    /// Number of components K.
    pub n_components: usize,
    /// Leave the DC bin out (required for zero-meaned data, whose DC is identically 0).
    #[serde(default = "default_true")]
    pub exclude_dc: bool,
    /// Lower bound on every power-spectrum value `S_c(k)`.
    #[serde(default = "default_floor")]
    pub spectrum_floor: f64,
}

impl ConvGmmConfig {
    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<(), ModelError> {
        ModelError::check_components(self.n_components)?;
        ModelError::check_positive("spectrum_floor", self.spectrum_floor)
    }

    /// The initialisations the convolutional GMM takes: `samples` and
    /// `random_responsibilities` (k-means needs means, and every component's mean is 0).
    pub fn check_init(init: Init) -> Result<(), ModelError> {
        match init {
            Init::Kmeans | Init::KmeansPlusPlus => Err(ModelError::InvalidConfig {
                field: "init",
                reason: "\"kmeans\" and \"kmeans++\" are for full-covariance layers; the \
                         convolutional GMM takes \"samples\" or \"random_responsibilities\""
                    .into(),
            }),
            Init::Samples | Init::RandomResponsibilities => Ok(()),
        }
    }
}
