//! A large deep GMM as a patch prior: each noisy patch's path found by a beam search that
//! scores prefixes with the noise, instead of every path being scored.
//!
//! A prefix `(j_1, …, j_l)` of a path stands for the network cut after layer l with
//! `y_l ~ N(0, I)` in place of the layers above (the training search's scoring, models.md §7):
//! the Gaussian `N(μ_q, M_q M_qᵀ)` with `μ_q = b_1 + A_1 b_2 + … + A_1⋯A_{l−1} b_l` and
//! `M_q = A_1 ⋯ A_l`, weighted by all paths through it, `π_q = Σ_{p ⊃ q} π_p`. Observed with the
//! noise, as the patch step's components are ([`super::patch_step`]):
//!
//! ```text
//! s(q) = log π_q + log N(w | μ'_q, Σ'_q + σ² I)        (in the patches' zero-mean basis)
//! ```
//!
//! Layer 1's `N_1` prefixes are all scored (one product per block of patches), the best
//! `beam` of each patch extended by every node of the next layer and scored, and so on; at the
//! last layer the scores are the paths' own, and the best is the patch's component.

use super::map_step::row_score;
use super::{PatchPrior, PathSearch};
use gmm_models::{DeepGmm, path_nodes};
use gmm_training::GaussianMixture;

/// Prefixes kept per layer (the network's own `beam` when smaller).
pub const RESTORE_BEAM: usize = 8;

impl PathSearch {
    /// The search of `network`, whose paths have weights `weights`, for P×P patches.
    pub fn new(
        network: &DeepGmm,
        weights: &[f64],
        (side, scale, dropped): (usize, f64, bool),
    ) -> Result<Self, String> {
        let params = network.nodes_host().map_err(|e| e.to_string())?;
        let nodes = network.config.nodes.clone();
        let d = params.dim;
        let mut levels = Vec::new();
        for l in 0..nodes.len() - 1 {
            let (count, block) =
                (nodes[..=l].iter().product::<usize>(), nodes[l + 1..].iter().product::<usize>());
            let mut g = GaussianMixture {
                means: vec![],
                covariances: vec![],
                weights: vec![],
                reg_covar: 0.0,
            };
            for q in 0..count {
                let (mu, m) = params.path_affine(&path_nodes(&nodes[..=l], q));
                let cov = (0..d * d)
                    .map(|x| (0..d).map(|t| m[(x / d) * d + t] * m[(x % d) * d + t]).sum())
                    .collect();
                g.means.push(mu);
                g.covariances.push(cov);
                g.weights.push(weights[q * block..(q + 1) * block].iter().sum());
            }
            levels.push(PatchPrior::from_mixture(&g, side, scale, dropped));
        }
        Ok(Self { levels, nodes, beam: network.config.beam.min(RESTORE_BEAM) })
    }

    /// Every row's path for rows `w` `[b, P²−1]` seen with noise variance `sigma2`; `paths`
    /// is the prior of the whole paths, `s` `[b, N_1]` the rows' scores under layer 1's
    /// prefixes.
    pub fn choose(&self, paths: &PatchPrior, w: &[f32], sigma2: f64, s: &[f64]) -> Vec<usize> {
        let m = paths.dims();
        let (b, n1) = (w.len() / m, self.levels[0].n_components());
        let top = |mut c: Vec<(usize, f64)>, keep: usize| {
            c.sort_by(|x, y| y.1.total_cmp(&x.1));
            c.truncate(keep);
            c.into_iter().map(|(q, _)| q).collect::<Vec<_>>()
        };
        let last = self.nodes.len() - 1;
        (0..b)
            .map(|n| {
                let row = &w[n * m..(n + 1) * m];
                let mut kept =
                    top(s[n * n1..(n + 1) * n1].iter().copied().enumerate().collect(), self.beam);
                for l in 1..=last {
                    let prior = if l == last { paths } else { &self.levels[l] };
                    let children = kept
                        .iter()
                        .flat_map(|&q| (0..self.nodes[l]).map(move |j| q * self.nodes[l] + j));
                    let scored = children.map(|c| (c, row_score(prior, c, row, sigma2))).collect();
                    kept = top(scored, if l == last { 1 } else { self.beam });
                }
                kept[0]
            })
            .collect()
    }
}
