//! A full-covariance layer's hyper-parameters, checked once.

use super::covariance::CovarianceType;
use crate::ModelError;
use serde::{Deserialize, Serialize};

/// What happens to a component that ends an E-step with no responsibility mass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmptyPolicy {
    /// Keep its previous mean and covariance, with a vanishing weight.
    #[default]
    Keep,
    /// Remove it (K shrinks), renormalising the remaining weights.
    Prune,
}

fn default_reg() -> f64 {
    1e-6
}

/// Hyper-parameters of a [`FullGmm`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FullGmmConfig {
    /// Number of components K.
    pub n_components: usize,
    /// Fix every mean at 0 (used on standardised layer-1 features).
    #[serde(default)]
    pub zero_mean: bool,
    /// Added to the diagonal of every covariance (scikit-learn's `reg_covar`).
    #[serde(default = "default_reg")]
    pub reg_covar: f64,
    /// Keep or prune components that empty.
    #[serde(default)]
    pub empty_components: EmptyPolicy,
    /// How each component's covariance is constrained (scikit-learn's `covariance_type`).
    #[serde(default)]
    pub covariance_type: CovarianceType,
}

impl FullGmmConfig {
    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<(), ModelError> {
        ModelError::check_components(self.n_components)?;
        ModelError::check_positive("reg_covar", self.reg_covar)
    }
}
