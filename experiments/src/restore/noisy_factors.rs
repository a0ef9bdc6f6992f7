//! Every component's score of a noisy patch through a triangular factor of its precision, so
//! that the product that scores a block of patches under all components skips the factor's
//! zeros. For component k of a [`PatchPrior`] (`Σ'_k = U_k Λ_k U_kᵀ`) seen with noise `σ²`:
//!
//! ```text
//! (Σ'_k + σ²I)⁻¹ = B_k B_kᵀ,  B_k = U_k (Λ_k + σ²I)^(−½)     (B_kᵀ = Q_k R_k, a QR)
//!               = L_k L_kᵀ,  L_k = R_kᵀ                       lower triangular [P²−1, P²−1]
//! ½ (w − μ'_k)ᵀ(Σ'_k + σ²I)⁻¹(w − μ'_k) = ½ ‖w L_k − μ'_k L_k‖²
//! s_nk = log π_k − ½ Σ_i log(λ_ki + σ²) − ½ ‖w_n L_k − c_k‖²,   c_k = μ'_k L_k
//! ```
//!
//! Column j of `L_k` has zeros above row j: [`FactorGroups`] takes the columns 16 at a time,
//! each group multiplying only the coordinates its triangle reaches, so that with 63
//! coordinates a patch and component take 2,496 multiply-adds instead of 63 × 64 = 4,032 (the
//! eigenvectors' dense product, padded). The QR of `B_kᵀ` never squares its condition, as a
//! Cholesky factor of `(Σ'_k + σ²I)⁻¹` would. Built once per noise level.

use super::PatchPrior;
use faer::Mat;
use gmm_models::factor_groups::FactorGroups;
use gmm_models::lane_kernels::{LANES, triangular_packed_len, triangular_product_for_cpu};
use rayon::prelude::*;

/// A [`PatchPrior`]'s components at one noise level, ready to score blocks of patches.
#[derive(Debug, Clone)]
pub(super) struct NoisyFactors {
    /// `L_k` and `c_k` in groups of columns.
    groups: FactorGroups,
    /// `log π_k − ½ Σ_i log(λ_ki + σ²)`.
    constant: Vec<f64>,
    dims: usize,
}

/// `L_k` (row-major `[m, m]`, lower triangular) and `c_k = μ'_k L_k` of component k.
fn factor(prior: &PatchPrior, k: usize, sigma2: f64) -> (Vec<f32>, Vec<f32>) {
    let m = prior.dims();
    let (u, lambda) = (&prior.eigenvectors[k], &prior.eigenvalues[k]);
    let scaled = Mat::<f64>::from_fn(m, m, |i, j| {
        f64::from(u[j * m + i]) / (lambda[i] + sigma2).sqrt() // B_kᵀ[i, j] = U_k[j, i] / √(λ_i + σ²)
    });
    let qr = scaled.qr();
    let r = qr.thin_R();
    let l = |i: usize, j: usize| if i >= j { r[(j, i)] } else { 0.0 };
    let mu = &prior.means[k];
    let centre = (0..m).map(|j| (j..m).map(|i| f64::from(mu[i]) * l(i, j)).sum::<f64>() as f32);
    ((0..m * m).map(|x| l(x / m, x % m) as f32).collect(), centre.collect())
}

/// `log π_k − ½ Σ_i log(λ_ki + σ²)` of every component.
fn constants(prior: &PatchPrior, sigma2: f64) -> Vec<f64> {
    let log_det = |k: usize| prior.eigenvalues[k].iter().map(|l| (l + sigma2).ln()).sum::<f64>();
    (0..prior.n_components()).map(|k| prior.log_weights[k] - 0.5 * log_det(k)).collect()
}

impl NoisyFactors {
    /// The factors of every component of `prior` seen with noise variance `sigma2`.
    pub(super) fn new(prior: &PatchPrior, sigma2: f64) -> Self {
        let (m, kk) = (prior.dims(), prior.n_components());
        let parts: Vec<_> = (0..kk).into_par_iter().map(|k| factor(prior, k, sigma2)).collect();
        let factors: Vec<f32> = parts.iter().flat_map(|(l, _)| l.iter().copied()).collect();
        let centres: Vec<f32> = parts.iter().flat_map(|(_, c)| c.iter().copied()).collect();
        let groups = FactorGroups::new(&factors, &centres, kk, m, false);
        Self { groups, constant: constants(prior, sigma2), dims: m }
    }

    /// K.
    pub(super) fn n_components(&self) -> usize {
        self.constant.len()
    }

    /// `s_nk` for every row of a block `w` `[b, P²−1]`, `[b, K]` ([`FactorGroups::distances`]).
    pub(super) fn scores(&self, w: &[f32], b: usize) -> Vec<f64> {
        let kk = self.n_components();
        let mut maha = vec![0f32; b * kk];
        self.groups.distances(&w[..b * self.dims], &mut maha);
        maha.iter()
            .enumerate()
            .map(|(nk, v)| self.constant[nk % kk] - 0.5 * f64::from(*v))
            .collect()
    }
}

/// The same factors one component at a time, for rows scored under a few components each (a
/// deep GMM's search below its first layer): `L_k`'s rows packed, row i holding columns `0…i`
/// padded with zeros to whole vector registers ([`triangular_packed_len`]).
#[derive(Debug, Clone)]
pub(super) struct RowFactors {
    packed: Vec<f32>,
    /// Numbers per component in `packed`.
    per: usize,
    centres: Vec<f32>,
    constant: Vec<f64>,
    dims: usize,
    /// [`triangular_product_for_cpu`].
    product: fn(&[f32], &[f32], &mut [f32]),
}

impl RowFactors {
    /// The factors of every component of `prior` seen with noise variance `sigma2`.
    pub(super) fn new(prior: &PatchPrior, sigma2: f64) -> Self {
        let m = prior.dims();
        let parts: Vec<_> = (0..prior.n_components())
            .into_par_iter()
            .map(|k| {
                let (l, c) = factor(prior, k, sigma2);
                let l = &l;
                let padded = |i: usize| (i + 1).div_ceil(LANES) * LANES;
                let row =
                    |i: usize| (0..padded(i)).map(move |j| if j <= i { l[i * m + j] } else { 0.0 });
                ((0..m).flat_map(row).collect::<Vec<f32>>(), c)
            })
            .collect();
        let packed = parts.iter().flat_map(|(l, _)| l.iter().copied()).collect();
        let centres = parts.iter().flat_map(|(_, c)| c.iter().copied()).collect();
        let (constant, product) = (constants(prior, sigma2), triangular_product_for_cpu());
        Self { packed, per: triangular_packed_len(m), centres, constant, dims: m, product }
    }

    /// Scratch for [`RowFactors::score`].
    pub(super) fn scratch(&self) -> Vec<f32> {
        vec![0.0; self.dims.div_ceil(LANES) * LANES]
    }

    /// `s_k` of one row `w` `[P²−1]`: `log π_k − ½ Σ_i log(λ_ki + σ²) − ½ ‖w L_k − c_k‖²`, the
    /// product `w L_k − c_k` row by row of `L_k` into `d` ([`RowFactors::scratch`]).
    pub(super) fn score(&self, k: usize, w: &[f32], d: &mut [f32]) -> f64 {
        let (m, per) = (self.dims, self.per);
        assert_eq!(d.len(), m.div_ceil(LANES) * LANES, "scratch from RowFactors::scratch");
        let (l, c) = (&self.packed[k * per..(k + 1) * per], &self.centres[k * m..(k + 1) * m]);
        d.fill(0.0);
        d.iter_mut().zip(c).for_each(|(v, c)| *v = -c);
        (self.product)(l, w, d);
        let total: f64 = d[..m].iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        self.constant[k] - 0.5 * total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gmm_training::GaussianMixture;

    /// `s_nk` through component k's eigenvectors in float64.
    fn eigen_score(prior: &PatchPrior, k: usize, row: &[f32], sigma2: f64) -> f64 {
        let m = prior.dims();
        let (u, mu, lambda) = (&prior.eigenvectors[k], &prior.means[k], &prior.eigenvalues[k]);
        let terms = (0..m).map(|i| {
            let d: f64 = (0..m).map(|j| f64::from(row[j] - mu[j]) * f64::from(u[j * m + i])).sum();
            (lambda[i] + sigma2).ln() + d * d / (lambda[i] + sigma2)
        });
        prior.log_weights[k] - 0.5 * terms.sum::<f64>()
    }

    /// A random-looking 3×3 patch prior of 3 components with spread-out variances.
    fn prior() -> PatchPrior {
        let d = 8;
        let value = |i: usize| ((i * 37 % 101) as f64 / 50.0 - 1.0) * 0.1;
        let g = GaussianMixture {
            means: (0..3).map(|k| (0..d).map(|i| value(k * d + i)).collect()).collect(),
            covariances: (0..3)
                .map(|k| {
                    let a: Vec<f64> = (0..d * d).map(|x| value(x + 11 * k)).collect();
                    (0..d * d)
                        .map(|x| {
                            let (i, j) = (x / d, x % d);
                            let s: f64 = (0..d).map(|t| a[i * d + t] * a[j * d + t]).sum();
                            s + if i == j { 1e-4 * (i + 1) as f64 } else { 0.0 }
                        })
                        .collect()
                })
                .collect(),
            weights: vec![0.5, 0.3, 0.2],
            reg_covar: 0.0,
        };
        PatchPrior::from_mixture(&g, 3, 1.0, true)
    }

    /// The triangular factors' scores, of a block and of one row at a time, equal each
    /// component's score through its eigenvectors (in float64) at two noise levels.
    #[test]
    fn factor_scores_match_the_eigenvector_scores() {
        let prior = prior();
        let (m, b) = (prior.dims(), 5);
        let w: Vec<f32> = (0..b * m).map(|i| ((i * 53 % 97) as f32 / 48.0 - 1.0) * 0.2).collect();
        for sigma2 in [1e-3, 0.05] {
            let s = NoisyFactors::new(&prior, sigma2).scores(&w, b);
            for n in 0..b {
                for k in 0..3 {
                    let row = &w[n * m..(n + 1) * m];
                    let exact = eigen_score(&prior, k, row, sigma2);
                    let one = RowFactors::new(&prior, sigma2);
                    for got in [s[n * 3 + k], one.score(k, row, &mut one.scratch())] {
                        assert!(
                            (got - exact).abs() <= 1e-4 * exact.abs().max(1.0),
                            "{got} {exact}"
                        );
                    }
                }
            }
        }
    }
}
