//! What each layer family shows in its pictures, behind one trait.

use crate::pictures::{TileScale, centred_filter_tile, filter_spectrum_tile};
use gmm_models::{ConvGmm, FullGmm, Mixture, ModelError, ProbGmm};

/// Pictures' tiles, each in the input's shape (row-major).
pub type Tiles = Vec<Vec<f32>>;

/// A layer's view for the pictures and the metrics.
pub trait Inspect: Mixture {
    /// The component grid's extra column, one tile per component in the input's shape: the
    /// filter's power spectrum for the convolutional GMM, the mean for the full GMM.
    fn extra_column(
        &self,
        input_scale: TileScale,
    ) -> Result<Option<(Tiles, TileScale)>, ModelError>;

    /// The mixing weights `π_c`.
    fn weights(&self) -> Result<Vec<f64>, ModelError>;

    /// Tiles worth a picture of their own (`means.png` for the full GMM), named.
    fn own_pictures(&self) -> Result<Option<(&'static str, Tiles)>, ModelError> {
        Ok(None)
    }

    /// Bhattacharyya distances `D_B` between every pair of components, `[K, K]`, when they are
    /// cheap enough to compute here (`None` otherwise).
    fn overlap(&self) -> Result<Option<Vec<f64>>, ModelError> {
        Ok(None)
    }

    /// `filters.png`: per component, the filter's power spectrum `1/S_c`, its zero-phase and
    /// its minimum-phase filter (conv layers; `None` for the others).
    fn filter_tiles(&self) -> Result<Option<Vec<Vec<f32>>>, ModelError> {
        Ok(None)
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

/// The budget (K²·D³ multiply-adds) below which a full GMM's overlap is computed after training.
const FULL_OVERLAP_BUDGET: f64 = 2e10;

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

    fn weights(&self) -> Result<Vec<f64>, ModelError> {
        self.weights_host()
    }

    fn overlap(&self) -> Result<Option<Vec<f64>>, ModelError> {
        self.bhattacharyya_distances().map(Some)
    }

    fn filter_tiles(&self) -> Result<Option<Vec<Vec<f32>>>, ModelError> {
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

impl Inspect for FullGmm {
    fn extra_column(
        &self,
        input_scale: TileScale,
    ) -> Result<Option<(Tiles, TileScale)>, ModelError> {
        if self.zero_mean {
            return Ok(None);
        }
        Ok(Some((mean_tiles(self)?, input_scale)))
    }

    fn weights(&self) -> Result<Vec<f64>, ModelError> {
        self.weights_host()
    }

    fn own_pictures(&self) -> Result<Option<(&'static str, Tiles)>, ModelError> {
        if self.zero_mean {
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

fn mean_tiles(layer: &FullGmm) -> Result<Vec<Vec<f32>>, ModelError> {
    Ok(layer.means_host()?.into_iter().map(|m| m.into_iter().map(|v| v as f32).collect()).collect())
}

impl Inspect for ProbGmm {
    /// Its means live in simplex coordinates, not in the image's shape: no extra column.
    fn extra_column(&self, _: TileScale) -> Result<Option<(Tiles, TileScale)>, ModelError> {
        Ok(None)
    }

    fn weights(&self) -> Result<Vec<f64>, ModelError> {
        self.gaussian.weights_host()
    }

    /// In the simplex coordinates the layer models (the overlap is invariant to that
    /// orthonormal change of basis).
    fn overlap(&self) -> Result<Option<Vec<f64>>, ModelError> {
        Inspect::overlap(&self.gaussian)
    }
}

/// What a layer's overlap says in a few numbers. The Bhattacharyya coefficient
/// `BC = exp(−D_B) = ∫ √(p_c p_c')` is the overlap of two components (1 when identical); in many
/// dimensions it is a product over (Fourier) dimensions and tiny, so the per-dimension
/// coefficient `exp(−D_B / D)` is also given (it is what `overlap.png` shows).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OverlapSummary {
    /// Mean Bhattacharyya coefficient over the pairs of distinct components.
    pub mean: f64,
    /// The largest over those pairs (the two most confusable components).
    pub max: f64,
    /// `Σ_{c≠c'} π_c π_c' BC / Σ_{c≠c'} π_c π_c'`: the overlap the data meet.
    pub weighted: f64,
    /// The smallest Bhattacharyya distance `D_B` between two components, nats.
    pub min_distance: f64,
    /// The median `D_B` over the pairs, nats.
    pub median_distance: f64,
    /// Mean per-dimension coefficient `exp(−D_B / D)` over the pairs.
    pub mean_per_dim: f64,
}

impl OverlapSummary {
    /// From a `[K, K]` distance matrix, the weights and the dimension D, over the pairs of
    /// distinct components; `None` with fewer than two components.
    pub fn new(distances: &[f64], weights: &[f64], dims: usize) -> Option<Self> {
        let k = weights.len();
        let pairs = (0..k).flat_map(|i| (0..k).filter(move |&j| j != i).map(move |j| (i, j)));
        Self::from_pairs(pairs.map(|(i, j)| (distances[i * k + j], weights[i] * weights[j])), dims)
    }

    /// From `(D_B, pair weight)` of the pairs that count; `None` when there are none.
    pub fn from_pairs(pairs: impl Iterator<Item = (f64, f64)>, dims: usize) -> Option<Self> {
        let (mut sum, mut max, mut wsum, mut wnorm, mut per_dim) = (0.0, 0.0f64, 0.0, 0.0, 0.0);
        let mut all = Vec::new();
        for (d, w) in pairs {
            let bc = (-d).exp();
            sum += bc;
            max = max.max(bc);
            wsum += w * bc;
            wnorm += w;
            per_dim += (-d / dims.max(1) as f64).exp();
            all.push(d);
        }
        if all.is_empty() {
            return None;
        }
        all.sort_by(f64::total_cmp);
        let n = all.len() as f64;
        Some(Self {
            mean: sum / n,
            max,
            weighted: if wnorm > 0.0 { wsum / wnorm } else { 0.0 },
            min_distance: all[0],
            median_distance: all[all.len() / 2],
            mean_per_dim: per_dim / n,
        })
    }
}

/// The per-dimension overlap `exp(−D_B / D)` of a distance matrix, for the picture.
pub fn per_dimension_overlap(distances: &[f64], dims: usize) -> Vec<f64> {
    distances.iter().map(|d| (-d / dims.max(1) as f64).exp()).collect()
}
