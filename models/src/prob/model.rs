//! The probability-vector GMM as a Burn module: a full-covariance mixture in the Helmert
//! coordinates of the simplex, and its [`Mixture`] hooks.

use super::config::ProbGmmConfig;
use crate::ModelError;
use crate::encoded::Encoded;
use crate::full::{FullGmm, FullStats};
use crate::mixture::{Init, MStepReport, Mixture};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use rand_chacha::ChaCha8Rng;

/// Largest `|Σ_c q_c - 1|` accepted in an input row.
pub const SIMPLEX_TOLERANCE: f32 = 1e-3;

impl ProbGmmConfig {
    /// [`Self::build`] after [`Self::validate`]: the checked entry for a config from outside a
    /// run.
    pub fn init(&self, k_in: usize, device: &Device) -> Result<ProbGmm, ModelError> {
        self.validate()?;
        self.build(k_in, device)
    }

    /// A layer over probability vectors of `k_in` entries (`k_in ≥ 2`); the config must be
    /// valid ([`Self::validate`]).
    pub fn build(&self, k_in: usize, device: &Device) -> Result<ProbGmm, ModelError> {
        if k_in < 2 {
            return Err(ModelError::InvalidConfig {
                field: "input",
                reason: format!("probability vectors need at least 2 entries, got {k_in}"),
            });
        }
        Ok(ProbGmm { gaussian: self.gaussian().build(k_in - 1, device)?, k_in })
    }
}

/// A Gaussian mixture on probability vectors `q` (non-negative, `Σ_c q_c = 1`).
///
/// Such rows live on a `(K_in − 1)`-dimensional affine subspace, where a Gaussian in the raw
/// coordinates is singular. The layer maps each row to `y = Vᵀ q`, with `V` (`K_in × (K_in−1)`)
/// the orthonormal Helmert basis of the sum-zero subspace (`Vᵀ 1 = 0`, so `Vᵀ q = Vᵀ(q − 1/K_in)`),
/// and fits a full-covariance mixture to `y`: a proper density on the subspace, with respect to
/// its Lebesgue measure.
#[derive(Module, Debug)]
pub struct ProbGmm {
    /// The mixture in simplex coordinates.
    pub gaussian: FullGmm,
    /// `K_in`, the length of an input probability vector.
    #[module(skip)]
    pub k_in: usize,
}

/// Column `j` of the Helmert basis: `(1, …, 1, −(j+1), 0, …) / √((j+1)(j+2))`, for `j < k − 1`.
pub fn helmert_basis(k: usize) -> Vec<f64> {
    let m = k - 1;
    let mut v = vec![0.0; k * m];
    for j in 0..m {
        let norm = (((j + 1) * (j + 2)) as f64).sqrt();
        for i in 0..=j {
            v[i * m + j] = 1.0 / norm;
        }
        v[(j + 1) * m + j] = -((j + 1) as f64) / norm;
    }
    v
}

impl Mixture for ProbGmm {
    type Stats = FullStats;

    fn n_components(&self) -> usize {
        self.gaussian.n_components()
    }

    fn encoded_width(&self) -> usize {
        self.k_in - 1
    }

    /// Checks that every row is a probability vector, then `y = Vᵀ q`.
    fn encode(&self, samples: &[f32]) -> Result<Vec<f32>, ModelError> {
        let k = self.k_in;
        if !samples.len().is_multiple_of(k) {
            return Err(ModelError::InputShape { expected: k, got: samples.len() });
        }
        let v = helmert_basis(k);
        let m = k - 1;
        let mut out = Vec::with_capacity(samples.len() / k * m);
        for (n, q) in samples.chunks(k).enumerate() {
            let sum: f32 = q.iter().sum();
            if q.iter().any(|v| !v.is_finite() || *v < 0.0) || (sum - 1.0).abs() > SIMPLEX_TOLERANCE
            {
                return Err(ModelError::InvalidConfig {
                    field: "input",
                    reason: format!(
                        "row {n} is not a probability vector (sum {sum}); the prob layer takes \
                         posterior_normalised or responsibility features"
                    ),
                });
            }
            for j in 0..m {
                out.push((0..k).map(|i| q[i] as f64 * v[i * m + j]).sum::<f64>() as f32);
            }
        }
        Ok(out)
    }

    fn log_prob(&self, x: Tensor<2>) -> Tensor<2> {
        self.gaussian.log_prob(x)
    }

    /// Those of the full GMM in the `K_in − 1` simplex coordinates.
    fn n_parameters(&self) -> usize {
        self.gaussian.n_parameters()
    }

    fn log_weights(&self) -> Tensor<1> {
        self.gaussian.log_weights()
    }

    fn zero_stats(&self) -> FullStats {
        self.gaussian.zero_stats()
    }

    fn batch_stats(&self, x: Tensor<2>, resp: Tensor<2>) -> Result<FullStats, ModelError> {
        self.gaussian.batch_stats(x, resp)
    }

    fn stats_to_flat(&self, stats: &FullStats) -> Result<Vec<f64>, ModelError> {
        self.gaussian.stats_to_flat(stats)
    }

    fn stats_from_flat(&self, flat: &[f64]) -> Result<FullStats, ModelError> {
        self.gaussian.stats_from_flat(flat)
    }

    fn recentre_flat(&self, previous: &Self, flat: &mut [f64]) -> Result<(), ModelError> {
        self.gaussian.recentre_flat(&previous.gaussian, flat)
    }

    fn m_step(self, stats: FullStats, n: usize) -> Result<(Self, MStepReport), ModelError> {
        let (gaussian, report) = self.gaussian.m_step(stats, n)?;
        Ok((Self { gaussian, k_in: self.k_in }, report))
    }

    fn prune(self, keep: &[usize]) -> Result<Self, ModelError> {
        Ok(Self { gaussian: self.gaussian.prune(keep)?, k_in: self.k_in })
    }

    fn initialize(
        self,
        data: &Encoded,
        init: Init,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self, ModelError> {
        Ok(Self { gaussian: self.gaussian.initialize(data, init, rng)?, k_in: self.k_in })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helmert_basis_is_orthonormal_and_sum_zero() {
        for k in 2..8 {
            let v = helmert_basis(k);
            let m = k - 1;
            for a in 0..m {
                let col_sum: f64 = (0..k).map(|i| v[i * m + a]).sum();
                assert!(col_sum.abs() < 1e-12);
                for b in 0..m {
                    let dot: f64 = (0..k).map(|i| v[i * m + a] * v[i * m + b]).sum();
                    assert!((dot - if a == b { 1.0 } else { 0.0 }).abs() < 1e-12);
                }
            }
        }
    }
}
