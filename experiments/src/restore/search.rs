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

use super::noisy_factors::RowFactors;
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

    /// Every row's path for rows `w` `[b, P²−1]`, from `s` `[b, N_1]`, the rows' scores under
    /// layer 1's prefixes, and `deeper`, the factors of layer 2's prefixes, …, of the whole
    /// paths at the same noise level. Each layer's (candidate, row) pairs are scored in
    /// candidate order (consecutive scores share a factor; measured no faster than row order on
    /// `bsds300_deep_best`, where the packed product's arithmetic is the limit), and ties are
    /// broken by index, so the order does not change any choice.
    pub(super) fn choose(&self, deeper: &[RowFactors], w: &[f32], s: &[f64]) -> Vec<usize> {
        let m = self.levels[0].dims();
        let (b, n1) = (w.len() / m, self.levels[0].n_components());
        let top = |mut c: Vec<(usize, f64)>, keep: usize| {
            c.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
            c.truncate(keep);
            c.into_iter().map(|(q, _)| q).collect::<Vec<_>>()
        };
        let last = self.nodes.len() - 1;
        let mut kept: Vec<Vec<usize>> = (0..b)
            .map(|n| top(s[n * n1..(n + 1) * n1].iter().copied().enumerate().collect(), self.beam))
            .collect();
        for l in 1..=last {
            let (factors, nodes) = (&deeper[l - 1], self.nodes[l]);
            let mut scratch = factors.scratch();
            let mut pairs: Vec<(usize, usize)> = (kept.iter().enumerate())
                .flat_map(|(n, k)| {
                    k.iter().flat_map(move |&q| (0..nodes).map(move |j| (q * nodes + j, n)))
                })
                .collect();
            pairs.sort_unstable();
            let mut scored = vec![Vec::new(); b];
            for (c, n) in pairs {
                scored[n].push((c, factors.score(c, &w[n * m..(n + 1) * m], &mut scratch)));
            }
            let keep = if l == last { 1 } else { self.beam };
            kept = scored.into_iter().map(|c| top(c, keep)).collect();
        }
        kept.into_iter().map(|k| k[0]).collect()
    }
}
