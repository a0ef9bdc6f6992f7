//! The full GMM's sufficient statistics and its per-component M-step (models.md §2).

use crate::mixture::SufficientStats;
use crate::{FullGmm, ModelError, linalg};
use burn::tensor::Tensor;

/// Sufficient statistics of the full GMM over the rows each component explains (see
/// [`RESP_FLOOR`](crate::RESP_FLOOR)): `N_c = Σ_n r[n,c]`, and the first and second moments about the
/// component's current mean `m_c` (0 for zero-mean layers), `Σ_n r[n,c] (x_n - m_c)` and
/// `Σ_n r[n,c] (x_n - m_c)(x_n - m_c)ᵀ`. Shifting by `m_c` keeps the f32 sums free of the
/// cancellation that raw moments suffer on data far from the origin (raw log-likelihood
/// features sit near −600).
#[derive(Debug, Clone)]
pub struct FullStats {
    /// `N_c`, accumulated in f64 on the host.
    pub resp_sum: Vec<f64>,
    /// Per component: `(Σ r (x - m), Σ r (x - m)(x - m)ᵀ)` as `[D]` and `[D, D]`, or `None`
    /// if no row.
    pub moments: Vec<Option<(Tensor<1>, Tensor<2>)>>,
}

impl SufficientStats for FullStats {
    fn merge(self, other: Self) -> Self {
        let resp_sum = self.resp_sum.iter().zip(&other.resp_sum).map(|(a, b)| a + b).collect();
        let moments = self
            .moments
            .into_iter()
            .zip(other.moments)
            .map(|pair| match pair {
                (Some((a1, a2)), Some((b1, b2))) => Some((a1 + b1, a2 + b2)),
                (a, None) => a,
                (None, b) => b,
            })
            .collect();
        Self { resp_sum, moments }
    }
}

impl FullGmm {
    /// Component c's M-step from its statistics about `shift` (its current mean): with
    /// `d_c = first / N_c`, `μ_c = shift + d_c` and
    /// `Σ_c = second / N_c - d_c d_cᵀ + reg_covar·I` (zero-mean: `μ_c = 0`,
    /// `Σ_c = second / N_c + reg_covar·I`); returns `μ_c` and the precision Cholesky factor `U_c`
    /// (host, f64).
    pub(crate) fn component_m_step(
        &self,
        c: usize,
        nc: f64,
        first: &[f64],
        second: &[f64],
        shift: &[f64],
    ) -> Result<(Vec<f64>, Vec<f64>), ModelError> {
        let d = shift.len();
        if first.iter().chain(second).any(|v| !v.is_finite()) {
            return Err(ModelError::NonFinite {
                what: format!("sufficient statistics of component {c}"),
                hint: "the input holds NaN/inf or overflowing values; scale the data".into(),
            });
        }
        let delta: Vec<f64> = first.iter().map(|v| v / nc).collect();
        let mu: Vec<f64> = match self.zero_mean {
            true => vec![0.0; d],
            false => shift.iter().zip(&delta).map(|(m, e)| m + e).collect(),
        };
        let mut cov = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..=i {
                // Symmetrised; a zero-mean component's covariance is its raw second moment.
                let centre = if self.zero_mean { 0.0 } else { delta[i] * delta[j] };
                let s = 0.5 * (second[i * d + j] + second[j * d + i]) / nc - centre;
                cov[i * d + j] = s;
                cov[j * d + i] = s;
            }
            cov[i * d + i] += self.reg_covar;
        }
        let u = linalg::precision_cholesky(&cov, d).map_err(|pivot| {
            ModelError::NotPositiveDefinite {
                component: c,
                pivot,
                hint: "increase reg_covar, decrease n_components, or scale the input data".into(),
            }
        })?;
        Ok((mu, u))
    }
}
