//! The deep GMM's hard E-step: each sample's best path, found layer by layer.
//!
//! The network is run from the data towards `z` (node m: `y ↦ W_m y + c_m`, `W_m = A_m⁻¹`).
//! A prefix `(j_1, …, j_l)` of a path is scored by the density of x under the network cut
//! after layer l (with `y_l ~ N(0, I)` in place of the layers above) plus the log-weight of
//! all paths through the prefix:
//!
//! ```text
//! s(j_1..j_l) = log Σ_{p ⊃ (j_1..j_l)} π_p + Σ_{l' ≤ l} log|det W_{l',j_l'}| − ½ ‖y_l‖² − (D/2) log 2π
//! ```
//!
//! which at l = L is `log π_p + log N(x | p)` exactly. A beam search keeps the `beam` best
//! prefixes of every sample after each layer and extends each by every node of the next:
//! `N_1 + beam · (N_2 + … + N_L)` node transforms per sample instead of Π N_l, and exactly
//! the best path (brute force) when `beam ≥ N_1 ⋯ N_{L−1}`.

use crate::ModelError;
use crate::deep::DeepGmm;
use crate::mixture::Mixture;
use burn::tensor::{Int, Tensor};

/// Every row's best path found and its score `log π_p + log N(x | p)`.
#[derive(Debug, Clone)]
pub struct BestPaths {
    /// Path indices, `[N]`.
    pub path: Tensor<1, Int>,
    /// `log π_p + log N(x_n | p)` of that path, `[N]`.
    pub score: Tensor<1>,
}

/// The beam search of the module docs over a batch `x` `[N, D]`.
pub fn best_paths(layer: &DeepGmm, x: Tensor<2>, beam: usize) -> Result<BestPaths, ModelError> {
    let mat = layer.materialised()?;
    let nodes = &layer.config.nodes;
    let [n, d] = x.dims();
    let device = x.device();
    // Per sample: the kept prefixes' outputs y [N, B, D], Σ log|det W| [N, B], indices [N, B].
    let mut y = x.unsqueeze_dim::<3>(1);
    let mut log_det = Tensor::<2>::zeros([n, 1], &device);
    let mut prefix = Tensor::<2, Int>::zeros([n, 1], &device);
    let mut offset = 0;
    for (l, &nl) in nodes.iter().enumerate() {
        let b = y.dims()[1];
        // y_new[n, b, j, :] = W_j y[n, b, :] + c_j: one product with [D, N_l·D].
        let w = mat.inverses.clone().narrow(0, offset, nl).permute([2, 0, 1]).reshape([d, nl * d]);
        let c = mat.offsets.clone().narrow(0, offset, nl).reshape([1, 1, nl, d]);
        let y_new = y.reshape([n * b, d]).matmul(w).reshape([n, b, nl, d]) + c;
        let squares = y_new.clone().powi_scalar(2).sum_dim(3).reshape([n, b * nl]);
        let ld = mat.log_det_inverse.clone().narrow(0, offset, nl);
        let log_det_new =
            (log_det.unsqueeze_dim::<3>(2) + ld.reshape([1, 1, nl])).reshape([n, b * nl]);
        let j = Tensor::<1, Int>::arange(0..nl as i64, &device).reshape([1, 1, nl]);
        let candidates = (prefix.unsqueeze_dim::<3>(2) * (nl as i64) + j).reshape([n, b * nl]);
        let weights = mat.prefix_log_weights[l].clone();
        let prior =
            weights.select(0, candidates.clone().reshape([n * b * nl])).reshape([n, b * nl]);
        let score = prior + log_det_new.clone() - squares * 0.5;
        if l + 1 == nodes.len() {
            let (best, idx) = score.max_dim_with_indices(1);
            let log_2pi = (2.0 * std::f64::consts::PI).ln();
            return Ok(BestPaths {
                path: candidates.gather(1, idx).reshape([n]),
                score: best.reshape([n]) - 0.5 * d as f64 * log_2pi,
            });
        }
        let keep = beam.min(b * nl);
        let (_, idx) = score.topk_with_indices(keep, 1);
        prefix = candidates.gather(1, idx.clone());
        log_det = log_det_new.gather(1, idx.clone());
        let idx3 = idx.unsqueeze_dim::<3>(2).expand([n, keep, d]);
        y = y_new.reshape([n, b * nl, d]).gather(1, idx3);
        offset += nl;
    }
    Err(ModelError::InvalidConfig { field: "nodes", reason: "a network needs a layer".into() })
}

/// The brute-force best path of every row: the argmax over all Π N_l path components of
/// `log π_p + log N(x | p)` (the dense oracle of [`best_paths`]).
pub fn brute_force_best_paths(layer: &DeepGmm, x: Tensor<2>) -> BestPaths {
    let (score, path) = layer.weighted_log_prob(x).max_dim_with_indices(1);
    let n = score.dims()[0];
    BestPaths { path: path.reshape([n]), score: score.reshape([n]) }
}
