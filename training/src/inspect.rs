//! What each layer family shows in its pictures, behind one trait.

use crate::pictures::{TileScale, filter_spectrum_tile};
use gmm_models::{ConvGmm, FullGmm, Mixture, ModelError, ProbGmm};

/// A layer's view for the pictures and the metrics.
pub trait Inspect: Mixture {
    /// The component grid's extra column, one tile per component in the input's shape: the
    /// filter's power spectrum for the convolutional GMM, the mean for the full GMM.
    fn extra_column(
        &self,
        input_scale: TileScale,
    ) -> Result<Option<(Vec<Vec<f32>>, TileScale)>, ModelError>;

    /// The mixing weights `π_c`.
    fn weights(&self) -> Result<Vec<f64>, ModelError>;

    /// Tiles worth a picture of their own (`means.png` for the full GMM), named.
    fn own_pictures(&self) -> Result<Option<(&'static str, Vec<Vec<f32>>)>, ModelError> {
        Ok(None)
    }
}

impl Inspect for ConvGmm {
    /// `1/S_c(k)` on the full grid, log scale, DC centred, normalised per row.
    fn extra_column(&self, _: TileScale) -> Result<Option<(Vec<Vec<f32>>, TileScale)>, ModelError> {
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

    fn weights(&self) -> Result<Vec<f64>, ModelError> {
        self.weights_host()
    }
}

impl Inspect for FullGmm {
    fn extra_column(
        &self,
        input_scale: TileScale,
    ) -> Result<Option<(Vec<Vec<f32>>, TileScale)>, ModelError> {
        if self.zero_mean {
            return Ok(None);
        }
        Ok(Some((mean_tiles(self)?, input_scale)))
    }

    fn weights(&self) -> Result<Vec<f64>, ModelError> {
        self.weights_host()
    }

    fn own_pictures(&self) -> Result<Option<(&'static str, Vec<Vec<f32>>)>, ModelError> {
        if self.zero_mean {
            return Ok(None);
        }
        Ok(Some(("means.png", mean_tiles(self)?)))
    }
}

fn mean_tiles(layer: &FullGmm) -> Result<Vec<Vec<f32>>, ModelError> {
    Ok(layer.means_host()?.into_iter().map(|m| m.into_iter().map(|v| v as f32).collect()).collect())
}

impl Inspect for ProbGmm {
    /// Its means live in simplex coordinates, not in the image's shape: no extra column.
    fn extra_column(&self, _: TileScale) -> Result<Option<(Vec<Vec<f32>>, TileScale)>, ModelError> {
        Ok(None)
    }

    fn weights(&self) -> Result<Vec<f64>, ModelError> {
        self.gaussian.weights_host()
    }
}
