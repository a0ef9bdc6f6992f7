//! The full-covariance GMM (models.md §2) as a layer family: where it may sit, its pictures.

use super::{Family, FamilyConfig, GaussianMixture, LayerInput};
use crate::report::pictures::TileScale;
use crate::report::views::{Inspect, Tiles};
use crate::{ConfigError, EmConfig};
use gmm_models::{CovarianceType, Device, FullGmm, FullGmmConfig, Generative, Mixture, ModelError};

/// The budget (K²·D³ multiply-adds) below which a full GMM's overlap is computed after training.
const FULL_OVERLAP_BUDGET: f64 = 2e10;

impl FamilyConfig for FullGmmConfig {
    type Layer = FullGmm;

    fn n_components(&self) -> usize {
        self.n_components
    }

    fn set_n_components(&mut self, k: usize) {
        self.n_components = k;
    }

    fn with_size(k: usize) -> Self {
        super::with_defaults("n_components", toml::Value::Integer(k as i64))
    }

    /// Mean, factor and statistics: about `3·D²` numbers (`6·D` for the diagonal types).
    fn values_per_component(&self, dims: usize) -> u64 {
        let d = dims as u64;
        match self.covariance_type.is_diagonal() {
            true => 6 * d,
            false => 3 * (d.saturating_mul(d) + d),
        }
    }

    fn check(&self, input: LayerInput<'_>, _: &EmConfig) -> Result<(), ConfigError> {
        self.validate()?;
        match input {
            LayerInput::Feature(f) if f.is_probability() => Err(ConfigError::new(
                "input",
                format!(
                    "{f:?} rows sum to 1, so a full Gaussian on them is singular; use kind = \
                     \"prob\""
                ),
            )),
            _ => Ok(()),
        }
    }

    fn new_layer(&self, shape: [usize; 2], device: &Device) -> Result<FullGmm, ModelError> {
        self.build(shape[0] * shape[1], device)
    }
}

impl Family for FullGmm {
    /// The products `(x − μ_c)ᵀ U_c` counted dense, 2·K·D² flops per sample: the CPU paths
    /// skip the triangles' zeros, so the rate `gmmzoo bench` prints is the dense product's
    /// equivalent. `diag`: two multiply-adds per value and component, 4·K·D; `spherical`: one
    /// (a product with the centred means), 2·K·D.
    fn e_step_flops_per_sample(&self) -> f64 {
        let (k, d) = (self.n_components() as f64, self.dim() as f64);
        match self.config.covariance_type {
            CovarianceType::Diag => 4.0 * k * d,
            CovarianceType::Spherical => 2.0 * k * d,
            _ => 2.0 * k * d * d,
        }
    }

    fn generative(&self) -> Option<&dyn Generative> {
        Some(self)
    }

    /// Only for `covariance_type = "full"`: the peer runs full-covariance EM.
    fn gaussian_mixture(&self) -> Result<Option<GaussianMixture>, ModelError> {
        match self.config.covariance_type {
            CovarianceType::Full => self.density_gaussians(),
            _ => Ok(None),
        }
    }

    fn density_gaussians(&self) -> Result<Option<GaussianMixture>, ModelError> {
        Ok(Some(GaussianMixture {
            means: self.means_host()?,
            covariances: self.covariances_host()?,
            weights: self.weights()?,
            reg_covar: self.config.reg_covar,
        }))
    }
}

impl Inspect for FullGmm {
    fn extra_column(
        &self,
        input_scale: TileScale,
    ) -> Result<Option<(Tiles, TileScale)>, ModelError> {
        if self.config.zero_mean {
            return Ok(None);
        }
        Ok(Some((mean_tiles(self)?, input_scale)))
    }

    fn own_pictures(&self) -> Result<Option<(&'static str, Tiles)>, ModelError> {
        if self.config.zero_mean {
            return Ok(None);
        }
        Ok(Some(("means.png", mean_tiles(self)?)))
    }

    fn overlap(&self) -> Result<Option<Vec<f64>>, ModelError> {
        let (k, d) = (self.n_components() as f64, self.dim() as f64);
        match k * k * d.powi(3) <= FULL_OVERLAP_BUDGET {
            true => self.bhattacharyya_distances().map(Some),
            false => Ok(None),
        }
    }
}

fn mean_tiles(layer: &FullGmm) -> Result<Tiles, ModelError> {
    Ok(layer.means_host()?.into_iter().map(|m| m.into_iter().map(|v| v as f32).collect()).collect())
}
