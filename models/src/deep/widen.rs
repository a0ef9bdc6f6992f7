//! Where a network starts: a full GMM's components as layer 1's nodes (fitted by `init`, or a
//! trained one), or a narrower trained network's nodes, copied and perturbed. Pure
//! constructors: parameters and a seeded generator in, a network out.

use super::network::{DeepGmm, path_locals};
use super::nodes::NodeParams;
use crate::full::FullGmm;
use crate::mixture::Mixture;
use crate::{ModelError, linalg};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

impl DeepGmm {
    /// This network started from `first`'s components as layer 1's nodes (node j: `b = μ_j`,
    /// `A = L_j` with `Σ_j = L_j L_jᵀ`), the layers above at the identity plus seeded noise,
    /// `A = I + init_noise · G / √D`, `b = init_noise · g` (G, g standard normal, drawn from
    /// `rng`), which breaks the symmetry between the nodes of a layer; `π_p = π_{j_1} /
    /// (N_2 ⋯ N_L)`. `first` must have `N_1` components over the network's `D`.
    pub fn starting_from(&self, first: &FullGmm, rng: &mut ChaCha8Rng) -> Result<Self, ModelError> {
        let (n1, d) = (self.config.nodes[0], self.dim());
        let (k, first_d) = (first.n_components(), first.dim());
        if k != n1 || first_d != d {
            return Err(ModelError::InvalidConfig {
                field: "first_layer",
                reason: format!(
                    "a full GMM of {k} components over {first_d} dimensions, but this network's \
                     first layer has {n1} nodes over {d}"
                ),
            });
        }
        let means = first.means_host()?;
        let (u, t) = (first.factors_host()?, first.config.covariance_type);
        let m: usize = self.config.nodes.iter().sum();
        let (mut a, mut b) = (Vec::with_capacity(m * d * d), Vec::with_capacity(m * d));
        for j in 0..n1 {
            a.extend(t.covariance_factor(&u, j, d));
            b.extend(&means[j]);
        }
        let noise = self.config.init_noise;
        let scale = noise / (d as f64).sqrt();
        for _ in n1..m {
            for t in 0..d * d {
                let g: f64 = StandardNormal.sample(rng);
                a.push(if t / d == t % d { 1.0 } else { 0.0 } + scale * g);
            }
            for _ in 0..d {
                let g: f64 = StandardNormal.sample(rng);
                b.push(noise * g);
            }
        }
        let (pi, k) = (first.weights()?, self.n_components());
        let per_first = k / n1;
        let weights: Vec<f64> = (0..k).map(|p| pi[p / per_first] / per_first as f64).collect();
        Self::from_parts(&NodeParams { a, b, dim: d }, &weights, &self.config, &self.device())
    }

    /// This network started from the trained `narrower` one ([`DeepGmm::widened`]): as many
    /// layers over the same `D`, each of its `N'_l` dividing this network's `N_l`.
    pub fn widening(&self, narrower: &DeepGmm, rng: &mut ChaCha8Rng) -> Result<Self, ModelError> {
        let (ours, theirs) = (&self.config.nodes, &narrower.config.nodes);
        let fits = ours.len() == theirs.len()
            && ours.iter().zip(theirs).all(|(&n, &n_src)| n % n_src == 0)
            && narrower.dim() == self.dim();
        if !fits {
            return Err(ModelError::InvalidConfig {
                field: "widen_from",
                reason: format!(
                    "a network of nodes = {theirs:?} over {} dimensions, but this one has nodes = \
                     {ours:?} over {}: it needs as many layers, each with a divisor of this \
                     one's nodes",
                    narrower.dim(),
                    self.dim()
                ),
            });
        }
        self.widened(narrower, rng)
    }

    /// This network's start from the trained `narrower` one (N'_l nodes in layer l, `f_l =
    /// N_l / N'_l`): node j of layer l copies `narrower`'s node `j / f_l`, and the copies
    /// `2i` and `2i + 1` of a node are perturbed antithetically,
    ///
    /// ```text
    /// A' = A (I ± E),  b' = b ± A e,   E = init_noise · G / √D,  e = init_noise · g
    /// ```
    ///
    /// (one seeded standard normal `G` `[D, D]` and `g` `[D]` per pair; an odd last copy, and
    /// so every node of a layer that is not widened, is the node itself), so that a pair's
    /// mean is its node and each copy is the node applied after `x ↦ (I ± E) x ± e`. Path
    /// `(j_1, …, j_L)` takes the weight of `narrower`'s path `(j_1 / f_1, …, j_L / f_L)`
    /// divided by `Π f_l`: with `init_noise → 0` the density is `narrower`'s.
    fn widened(&self, narrower: &DeepGmm, rng: &mut ChaCha8Rng) -> Result<Self, ModelError> {
        let d = self.dim();
        let source = narrower.nodes_host()?;
        let (ours, theirs) = (&self.config.nodes, &narrower.config.nodes);
        let noise = self.config.init_noise;
        let scale = noise / (d as f64).sqrt();
        let m: usize = ours.iter().sum();
        let (mut a, mut b) = (Vec::with_capacity(m * d * d), Vec::with_capacity(m * d));
        let mut first = 0;
        for (&n, &n_src) in ours.iter().zip(theirs) {
            let copies = n / n_src;
            for node in first..first + n_src {
                let a_src = &source.a[node * d * d..(node + 1) * d * d];
                let b_src = &source.b[node * d..(node + 1) * d];
                for _ in 0..copies / 2 {
                    let e_mat: Vec<f64> = (0..d * d)
                        .map(|_| scale * Distribution::<f64>::sample(&StandardNormal, &mut *rng))
                        .collect();
                    let e_vec: Vec<f64> = (0..d)
                        .map(|_| noise * Distribution::<f64>::sample(&StandardNormal, &mut *rng))
                        .collect();
                    let ae_mat = linalg::matmul(a_src, &e_mat, d);
                    for sign in [1.0, -1.0] {
                        a.extend(a_src.iter().zip(&ae_mat).map(|(x, y)| x + sign * y));
                        for r in 0..d {
                            let ae: f64 = (0..d).map(|t| a_src[r * d + t] * e_vec[t]).sum();
                            b.push(b_src[r] + sign * ae);
                        }
                    }
                }
                if copies % 2 == 1 {
                    a.extend_from_slice(a_src);
                    b.extend_from_slice(b_src);
                }
            }
            first += n_src;
        }
        let w_src = narrower.weights()?;
        let copies: usize = ours.iter().zip(theirs).map(|(n, n_src)| n / n_src).product();
        let weights: Vec<f64> = (0..self.n_components())
            .map(|p| {
                let q = path_locals(ours, p)
                    .iter()
                    .zip(ours.iter().zip(theirs))
                    .fold(0, |q, (&j, (&n, &n_src))| q * n_src + j / (n / n_src));
                w_src[q] / copies as f64
            })
            .collect();
        Self::from_parts(&NodeParams { a, b, dim: d }, &weights, &self.config, &self.device())
    }
}
