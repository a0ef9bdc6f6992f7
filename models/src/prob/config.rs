//! A probability-vector layer's hyper-parameters: those of its Gaussian mixture in simplex
//! coordinates.

use crate::ModelError;
use crate::full::{CovarianceType, EmptyPolicy, FullGmmConfig};
use serde::{Deserialize, Serialize};

/// Hyper-parameters of a [`ProbGmm`]: those of the Gaussian mixture in simplex coordinates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbGmmConfig {
    /// Number of components K.
    pub n_components: usize,
    /// Added to the diagonal of every covariance.
    #[serde(default = "default_reg")]
    pub reg_covar: f64,
}

fn default_reg() -> f64 {
    1e-4
}

impl ProbGmmConfig {
    pub(crate) fn gaussian(&self) -> FullGmmConfig {
        FullGmmConfig {
            n_components: self.n_components,
            zero_mean: false,
            reg_covar: self.reg_covar,
            empty_components: EmptyPolicy::Keep,
            covariance_type: CovarianceType::Full,
        }
    }

    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.gaussian().validate()
    }
}
