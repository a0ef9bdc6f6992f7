//! A trained layer as a prior over the P×P patches of an image: its Gaussian components
//! moved into one orthonormal basis of the patches' zero-mean part, each with its
//! eigendecomposition, so that the patch step of EPLL is two products per component.
//!
//! A patch `p` (P² pixels, in the model's units) is its mean and its zero-mean part,
//! `p = m·1 + r`. The prior models `r` (a flat prior on `m`: the mean of a patch is kept as
//! observed, as in Zoran & Weiss's code). A model's rows `y` (D values) give `r = T y`: for the
//! BSDS300 benchmark's 63-value rows the last pixel was dropped, `T = [I; −1ᵀ]` (P² × P²−1);
//! for zero-mean P×P patches `T = I`. With `H` ((P²−1) × P²) the orthonormal Helmert rows
//! orthogonal to `1`, `w = H r` are the patch's coordinates, and a component `N(μ, Σ)` over
//! `y` is `N(A μ, A Σ Aᵀ)` over `w`, `A = H T`:
//!
//! ```text
//! μ'_k = A μ_k                    [P²−1]
//! Σ'_k = A Σ_k Aᵀ = U_k Λ_k U_kᵀ   [P²−1, P²−1], Λ_k ascending, floored at 1e-12
//! ```
//!
//! (`log |det A|` is the same for every component: it moves no choice between them.)

use super::factor_cache::FactorCache;
use faer::{Mat, Side};
use gmm_training::GaussianMixture;
use rayon::prelude::*;

/// The prefixes of a deep GMM's layers below the last, each layer's as a prior of its own.
#[derive(Debug, Clone)]
pub struct PathSearch {
    /// `levels[l]`: every prefix `(j_1, …, j_{l+1})`, in path order.
    pub(super) levels: Vec<PatchPrior>,
    /// `N_l`.
    pub(super) nodes: Vec<usize>,
    /// Prefixes kept per layer.
    pub(super) beam: usize,
}

/// The Gaussian components of a patch prior, in the patches' orthonormal zero-mean basis.
#[derive(Debug, Clone)]
pub struct PatchPrior {
    /// Patch side P.
    pub side: usize,
    /// The model's units per gray level (an image's level `g` is `g·scale` to the model).
    pub scale: f64,
    /// `log π_k`.
    pub log_weights: Vec<f64>,
    /// `μ'_k`, each `[P²−1]`.
    pub means: Vec<Vec<f32>>,
    /// `U_k`, each row-major `[P²−1, P²−1]` (column i the eigenvector of `λ_{k,i}`).
    pub eigenvectors: Vec<Vec<f32>>,
    /// `λ_k`, each `[P²−1]`.
    pub eigenvalues: Vec<Vec<f64>>,
    /// `H`, row-major `[P²−1, P²]`.
    pub basis: Vec<f32>,
    /// A deep GMM's search for each patch's path ([`PathSearch`]; `None`: every component
    /// is scored).
    pub search: Option<PathSearch>,
    /// The noisy factors of the last noise levels (a flat prior's).
    pub(super) noisy: FactorCache,
}

/// `H` ((n−1) × n, row-major): row i is the i-th Helmert vector, `(1, …, 1, −(i+1), 0, …)/
/// √((i+1)(i+2))` ([`gmm_models::helmert_basis`] holds them as columns).
fn helmert(n: usize) -> Vec<f64> {
    let (columns, m) = (gmm_models::helmert_basis(n), n - 1);
    (0..m * n).map(|x| columns[(x % n) * m + x / n]).collect()
}

impl PatchPrior {
    /// The prior of a Gaussian mixture over rows `y` of a P×P patch (`dropped`: the rows hold
    /// P²−1 values, the last pixel dropped; else P² zero-mean values).
    pub fn from_mixture(g: &GaussianMixture, side: usize, scale: f64, dropped: bool) -> Self {
        let n = side * side;
        let (m, d) = (n - 1, if dropped { n - 1 } else { n });
        let h = helmert(n);
        // A = H T: T = [I; −1ᵀ] when the last pixel was dropped, else I.
        let a = Mat::<f64>::from_fn(m, d, |i, j| match dropped {
            true => h[i * n + j] - h[i * n + n - 1],
            false => h[i * n + j],
        });
        let moved: Vec<(Vec<f32>, Vec<f32>, Vec<f64>)> = g
            .means
            .par_iter()
            .zip(&g.covariances)
            .map(|(mu, cov)| {
                let mu = Mat::<f64>::from_fn(d, 1, |i, _| mu[i]);
                let cov = Mat::<f64>::from_fn(d, d, |i, j| 0.5 * (cov[i * d + j] + cov[j * d + i]));
                let mean = &a * &mu;
                let moved = &a * &cov * a.transpose();
                let eig = moved.self_adjoint_eigen(Side::Lower).expect("a symmetric matrix");
                let u = eig.U();
                let s: Vec<f64> = eig.S().column_vector().iter().map(|&v| v.max(1e-12)).collect();
                let mean = (0..m).map(|i| mean[(i, 0)] as f32).collect();
                (mean, (0..m * m).map(|x| u[(x / m, x % m)] as f32).collect(), s)
            })
            .collect();
        let mut means = Vec::with_capacity(moved.len());
        let mut eigenvectors = Vec::with_capacity(moved.len());
        let mut eigenvalues = Vec::with_capacity(moved.len());
        for (mean, u, s) in moved {
            means.push(mean);
            eigenvectors.push(u);
            eigenvalues.push(s);
        }
        let log_weights = g.weights.iter().map(|w| w.max(f64::MIN_POSITIVE).ln()).collect();
        let basis = h.iter().map(|&v| v as f32).collect();
        let (search, noisy) = (None, FactorCache::default());
        Self { side, scale, log_weights, means, eigenvectors, eigenvalues, basis, search, noisy }
    }

    /// `P² − 1`, the patches' zero-mean coordinates.
    pub fn dims(&self) -> usize {
        self.side * self.side - 1
    }

    /// K.
    pub fn n_components(&self) -> usize {
        self.log_weights.len()
    }
}
