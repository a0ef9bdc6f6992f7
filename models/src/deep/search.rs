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
//!
//! The search's last layer scores `min(beam, N_1 ⋯ N_{L−1}) · N_L` whole paths exactly
//! ([`reached_paths`]): the hard E-step takes the best of them, the `soft_beam` E-step the
//! posterior over all of them.

use crate::deep::DeepGmm;
use crate::mixture::Mixture;
use crate::readback::host_vec;
use crate::{ModelError, is_cpu};
use burn::tensor::{Int, Tensor, TensorData};

/// Every row's best path found and its score `log π_p + log N(x | p)`.
#[derive(Debug, Clone)]
pub struct BestPaths {
    /// Path indices, `[N]`.
    pub path: Tensor<1, Int>,
    /// `log π_p + log N(x_n | p)` of that path, `[N]`.
    pub score: Tensor<1>,
}

/// The paths the beam search reaches and their exact scores.
///
/// # Shapes
/// - `path`, `score`: `[N, C]`, `C = min(beam, N_1 ⋯ N_{L−1}) · N_L`; a row's paths are distinct.
#[derive(Debug, Clone)]
pub struct ReachedPaths {
    /// Path indices.
    pub path: Tensor<2, Int>,
    /// `log π_p + log N(x_n | p)` of each.
    pub score: Tensor<2>,
}

/// The beam search of the module docs over a batch `x` `[N, D]`: every row's best path.
pub fn best_paths(layer: &DeepGmm, x: Tensor<2>, beam: usize) -> Result<BestPaths, ModelError> {
    let reached = reached_paths(layer, x, beam)?;
    let n = reached.score.dims()[0];
    let (best, idx) = reached.score.max_dim_with_indices(1);
    Ok(BestPaths { path: reached.path.gather(1, idx).reshape([n]), score: best.reshape([n]) })
}

/// Floats in the search's largest intermediate (`[rows, kept · N_l, D]`) per chunk of rows:
/// 16 MB, below the allocator's mmap threshold (`src/main.rs`), so that a batch's chunks reuse
/// the same heap memory instead of faulting in fresh pages for every layer.
const SEARCH_CHUNK_FLOATS: usize = 4 << 20;

/// The beam search of the module docs over a batch `x` `[N, D]`, stopped before its last
/// choice: the last layer's candidates, whole paths, with their exact scores. Rows on a CPU
/// device are searched on the host (`host_search.rs`), others by tensor operations in chunks
/// of at most 16 MB of intermediates; each row's result is its own.
pub fn reached_paths(
    layer: &DeepGmm,
    x: Tensor<2>,
    beam: usize,
) -> Result<ReachedPaths, ModelError> {
    if !is_cpu(&x.device()) {
        return reached_paths_by_tensors(layer, x, beam);
    }
    let [n, _] = x.dims();
    let tables = &layer.materialised()?.search;
    let device = x.device();
    let (path, score) = tables.reached(&host_vec::<f32, _>(x.try_into_data())?, beam);
    let c = tables.reached_per_row(beam);
    Ok(ReachedPaths {
        path: Tensor::from_data(TensorData::new(path, [n, c]), &device),
        score: Tensor::from_data(TensorData::new(score, [n, c]), &device),
    })
}

/// [`reached_paths`] by tensor operations, on any device.
fn reached_paths_by_tensors(
    layer: &DeepGmm,
    x: Tensor<2>,
    beam: usize,
) -> Result<ReachedPaths, ModelError> {
    let [n, d] = x.dims();
    let nodes = &layer.config.nodes;
    let (mut kept, mut widest) = (1usize, 1usize);
    for &nl in nodes {
        widest = widest.max(kept * nl);
        kept = beam.min(kept * nl);
    }
    let chunk = (SEARCH_CHUNK_FLOATS / (widest * d).max(1)).max(1);
    if n <= chunk {
        return search_rows(layer, x, beam);
    }
    let (mut paths, mut scores) = (Vec::new(), Vec::new());
    for start in (0..n).step_by(chunk) {
        let part = search_rows(layer, x.clone().narrow(0, start, chunk.min(n - start)), beam)?;
        paths.push(part.path);
        scores.push(part.score);
    }
    Ok(ReachedPaths { path: Tensor::cat(paths, 0), score: Tensor::cat(scores, 0) })
}

/// [`reached_paths`] over one chunk of rows.
fn search_rows(layer: &DeepGmm, x: Tensor<2>, beam: usize) -> Result<ReachedPaths, ModelError> {
    let mat = layer.materialised()?;
    let nodes = &layer.config.nodes;
    let [n, d] = x.dims();
    let device = x.device();
    // Per sample: the kept prefixes' outputs y [N, B, D], Σ log|det W| [N, B], indices [N, B].
    let mut y = x.unsqueeze_dim::<3>(1);
    let mut log_det = Tensor::<2>::zeros([n, 1], &device);
    let mut prefix = Tensor::<2, Int>::zeros([n, 1], &device);
    for (l, &nl) in nodes.iter().enumerate() {
        let b = y.dims()[1];
        // y_new[n, b, j, :] = W_j y[n, b, :] + c_j: one product with [D, N_l·D].
        let w = mat.maps[l].clone();
        let c = mat.offsets[l].clone().reshape([1, 1, nl, d]);
        let y_new = y.reshape([n * b, d]).matmul(w).reshape([n, b, nl, d]) + c;
        let squares = y_new.clone().powi_scalar(2).sum_dim(3).reshape([n, b * nl]);
        let ld = mat.log_det_inverse[l].clone();
        let log_det_new =
            (log_det.unsqueeze_dim::<3>(2) + ld.reshape([1, 1, nl])).reshape([n, b * nl]);
        let j = Tensor::<1, Int>::arange(0..nl as i64, &device).reshape([1, 1, nl]);
        let candidates = (prefix.unsqueeze_dim::<3>(2) * (nl as i64) + j).reshape([n, b * nl]);
        let weights = mat.prefix_log_weights[l].clone();
        let prior =
            weights.select(0, candidates.clone().reshape([n * b * nl])).reshape([n, b * nl]);
        let score = prior + log_det_new.clone() - squares * 0.5;
        if l + 1 == nodes.len() {
            let log_2pi = (2.0 * std::f64::consts::PI).ln();
            return Ok(ReachedPaths { path: candidates, score: score - 0.5 * d as f64 * log_2pi });
        }
        let keep = beam.min(b * nl);
        let (_, idx) = score.topk_with_indices(keep, 1);
        prefix = candidates.gather(1, idx.clone());
        log_det = log_det_new.gather(1, idx.clone());
        // The kept candidates' outputs, whole rows of y_new [N·B·N_l, D] (row copies, where
        // an element-wise gather reads an index per float).
        let first_row = Tensor::<1, Int>::arange(0..n as i64, &device).reshape([n, 1]);
        let rows = (idx + first_row * (b * nl) as i64).reshape([n * keep]);
        y = y_new.reshape([n * b * nl, d]).select(0, rows).reshape([n, keep, d]);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deep::NodeParams;
    use crate::{DeepGmmConfig, PathAssignment, device_from_name};
    use rand::{Rng, SeedableRng};

    /// The host search against the tensor search on a CPU, with a beam narrower than the
    /// prefixes (so that the choices matter): the same paths, the same scores to f32 rounding.
    #[test]
    fn the_host_search_equals_the_tensor_search() {
        let (nodes, d, n) = (vec![7, 3, 4], 6, 300);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let m: usize = nodes.iter().sum();
        let a: Vec<f64> = (0..m * d * d)
            .map(|t| {
                f64::from(u8::from(t % (d * d) / d == t % d)) + 0.4 * rng.random_range(-1.0..1.0)
            })
            .collect();
        let b: Vec<f64> = (0..m * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let k: usize = nodes.iter().product();
        let weights: Vec<f64> = (0..k).map(|_| rng.random_range(0.1..1.0)).collect();
        let total: f64 = weights.iter().sum();
        let weights: Vec<f64> = weights.iter().map(|w| w / total).collect();
        let config = DeepGmmConfig {
            nodes,
            e_step: PathAssignment::SoftBeam,
            beam: 3,
            reg_covar: 1e-6,
            m_step_iters: 1,
            learning_rate: 1e-2,
            init_noise: 0.1,
        };
        let device = device_from_name("cpu").unwrap();
        let layer =
            DeepGmm::from_parts(&NodeParams { a, b, dim: d }, &weights, &config, &device).unwrap();
        let x: Vec<f32> = (0..n * d).map(|_| rng.random_range(-2.0..2.0)).collect();
        let x = Tensor::<2>::from_data(TensorData::new(x, [n, d]), &device);
        let host = reached_paths(&layer, x.clone(), 3).unwrap();
        let tensors = reached_paths_by_tensors(&layer, x, 3).unwrap();
        assert_eq!(host.path.dims(), [n, 3 * 4]);
        let paths = |t: Tensor<2, Int>| host_vec::<i64, _>(t.try_into_data()).unwrap();
        let scores = |t: Tensor<2>| host_vec::<f32, _>(t.try_into_data()).unwrap();
        assert_eq!(paths(host.path), paths(tensors.path));
        for (h, t) in scores(host.score).iter().zip(scores(tensors.score)) {
            assert!((h - t).abs() <= 1e-4 * t.abs().max(1.0), "{h} vs {t}");
        }
    }
}
