//! What each layer family shows in its pictures, behind one trait (implemented beside each
//! family in `family/`), and the overlap summary of a layer's components.

use crate::report::pictures::TileScale;
use gmm_models::{Mixture, ModelError};

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
    fn filter_tiles(&self) -> Result<Option<Tiles>, ModelError> {
        Ok(None)
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
