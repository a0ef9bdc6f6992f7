//! The convolutional GMM (models.md §1) as a layer family: where it may sit, its pictures.

use super::{Family, FamilyConfig, GaussianMixture, LayerInput};
use crate::report::pictures::{TileScale, centred_filter_tile, filter_spectrum_tile};
use crate::report::views::{Inspect, Tiles};
use crate::{ConfigError, EmConfig};
use gmm_models::{ConvGmm, ConvGmmConfig, Device, Generative, Mixture, ModelError};

impl FamilyConfig for ConvGmmConfig {
    type Layer = ConvGmm;

    fn n_components(&self) -> usize {
        self.n_components
    }

    fn set_n_components(&mut self, k: usize) {
        self.n_components = k;
    }

    fn with_size(k: usize) -> Self {
        super::with_defaults("n_components", toml::Value::Integer(k as i64))
    }

    fn values_per_component(&self, dims: usize) -> u64 {
        2 * dims as u64
    }

    /// Only on images (a first layer), never on BSDS300 rows; DC left out exactly when the
    /// data are zero-meaned; no k-means start.
    fn check(&self, input: LayerInput<'_>, em: &EmConfig) -> Result<(), ConfigError> {
        self.validate()?;
        let data = match input {
            LayerInput::Feature(_) => {
                return Err(ConfigError::new(
                    "kind",
                    "a conv layer models images; it can only be the first layer",
                ));
            }
            LayerInput::Data(data) => data,
        };
        if !data.is_images() {
            return Err(ConfigError::new(
                "kind",
                format!(
                    "{} rows are vectors (bsds300: 63 values, the last pixel dropped), not \
                     square images; use a full layer",
                    data.name()
                ),
            ));
        }
        ConvGmmConfig::check_init(em.init).map_err(|e| ConfigError::from(e).under("em"))?;
        match (data.zero_meaned(), self.exclude_dc) {
            (true, false) => Err(ConfigError::new(
                "exclude_dc",
                "must be true for zero-meaned patches: their DC bin is identically 0 and the \
                 density would be degenerate",
            )),
            (false, true) => Err(ConfigError::new(
                "exclude_dc",
                format!(
                    "must be false for {} (not zero-meaned): without DC the image mean is not \
                     modelled and the log-likelihood is not a density of the data",
                    data.name()
                ),
            )),
            _ => Ok(()),
        }
    }

    fn new_layer(&self, shape: [usize; 2], device: &Device) -> Result<ConvGmm, ModelError> {
        if shape[0] != shape[1] {
            return Err(ModelError::InvalidConfig {
                field: "kind",
                reason: format!(
                    "the convolutional GMM needs square images, got {}x{}",
                    shape[0], shape[1]
                ),
            });
        }
        self.build(shape[0], device)
    }
}

impl Family for ConvGmm {
    /// `[N, B]·[B, K]`: B·K per sample.
    fn e_step_flops_per_sample(&self) -> f64 {
        2.0 * (self.layout.n_bins() * self.n_components()) as f64
    }

    fn generative(&self) -> Option<&dyn Generative> {
        Some(self)
    }

    /// Over the pixels of a patch: zero means and the circulant covariances of the spectra
    /// (`SpectralLayout::circulant_covariance`); without DC, a density over zero-mean patches
    /// (the DC eigenvalue, set to 1, is not part of it).
    fn density_gaussians(&self) -> Result<Option<GaussianMixture>, ModelError> {
        let spectra = self.spectra_host()?;
        let d = self.layout.size() * self.layout.size();
        Ok(Some(GaussianMixture {
            means: vec![vec![0.0; d]; spectra.len()],
            covariances: spectra.iter().map(|s| self.layout.circulant_covariance(s, 1.0)).collect(),
            weights: self.weights()?,
            reg_covar: 0.0,
        }))
    }
}

/// A whitening filter is a spike at the origin with a faint surround: for the picture, the
/// origin is clipped to the largest magnitude elsewhere and every value shown as
/// `sign(v)·√|v|`, so that the surround shows (mid-gray is 0 only when the tile's extremes are
/// symmetric; the picture is of shapes, not values).
fn clip_origin(mut filter: Vec<f64>) -> Vec<f64> {
    let rest = filter[1..].iter().fold(0.0f64, |m, v| m.max(v.abs()));
    filter[0] = filter[0].clamp(-rest, rest);
    filter.iter().map(|v| v.signum() * v.abs().sqrt()).collect()
}

impl Inspect for ConvGmm {
    /// `1/S_c(k)` on the full grid, log scale, DC centred, normalised per row.
    fn extra_column(&self, _: TileScale) -> Result<Option<(Tiles, TileScale)>, ModelError> {
        let p = self.layout.size();
        let tiles = self
            .spectra_host()?
            .iter()
            .map(|s| {
                let inv: Vec<f64> = s.iter().map(|v| 1.0 / v).collect();
                filter_spectrum_tile(&self.layout.to_full_grid(&inv, 0.0), p)
            })
            .collect();
        Ok(Some((tiles, TileScale::PerTile)))
    }

    fn overlap(&self) -> Result<Option<Vec<f64>>, ModelError> {
        self.bhattacharyya_distances().map(Some)
    }

    fn filter_tiles(&self) -> Result<Option<Tiles>, ModelError> {
        let p = self.layout.size();
        let spectra = self.spectra_host()?;
        let mut tiles = Vec::with_capacity(3 * spectra.len());
        for (s, f) in spectra.iter().zip(self.filters()?) {
            let inv: Vec<f64> = s.iter().map(|v| 1.0 / v).collect();
            tiles.push(filter_spectrum_tile(&self.layout.to_full_grid(&inv, 0.0), p));
            tiles.push(centred_filter_tile(&clip_origin(f.zero_phase), p));
            tiles.push(centred_filter_tile(&clip_origin(f.minimum_phase), p));
        }
        Ok(Some(tiles))
    }
}
