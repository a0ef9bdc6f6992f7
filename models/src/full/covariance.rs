//! The four covariance structures of a Gaussian layer (scikit-learn's `covariance_type`), and
//! how each stores its precision Cholesky factors.
//!
//! | type        | `Σ_c`                      | stored `U` (`precision_cholesky`) | free covariance numbers |
//! |-------------|----------------------------|-----------------------------------|-------------------------|
//! | `full`      | any SPD matrix             | `[K, D, D]`, upper triangular     | `K·D(D+1)/2`            |
//! | `tied`      | one SPD `Σ` for all c      | `[1, D, D]`, upper triangular     | `D(D+1)/2`              |
//! | `diag`      | `diag(σ²_c1 … σ²_cD)`      | `[K, 1, D]`: `U_c[i,i] = 1/σ_ci`   | `K·D`                   |
//! | `spherical` | `σ²_c I`                   | `[K, 1, D]`: every entry `1/σ_c`   | `K`                     |
//!
//! The E-step of the two diagonal types needs no matrix product (`Σ_i ((x_i − μ_ci)/σ_ci)²`),
//! and their statistics only the diagonal second moments: O(K·D) per row, not O(K·D²).

use crate::linalg;
use serde::{Deserialize, Serialize};

/// scikit-learn's `covariance_type`: how each component's covariance is constrained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CovarianceType {
    /// Each component its own covariance matrix.
    #[default]
    Full,
    /// One covariance matrix shared by every component.
    Tied,
    /// Each component its own diagonal covariance.
    Diag,
    /// Each component one variance, the same in every dimension.
    Spherical,
}

impl CovarianceType {
    /// The name scikit-learn and a config use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Tied => "tied",
            Self::Diag => "diag",
            Self::Spherical => "spherical",
        }
    }

    /// From scikit-learn's name; `None` for another.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Full, Self::Tied, Self::Diag, Self::Spherical].into_iter().find(|t| t.name() == name)
    }

    /// Whether `Σ_c` is diagonal (`diag`, `spherical`): stored as `[K, 1, D]`.
    pub fn is_diagonal(self) -> bool {
        matches!(self, Self::Diag | Self::Spherical)
    }

    /// The shape of the stored factors for K components over D dimensions.
    pub fn factor_shape(self, k: usize, d: usize) -> [usize; 3] {
        match self {
            Self::Full => [k, d, d],
            Self::Tied => [1, d, d],
            Self::Diag | Self::Spherical => [k, 1, d],
        }
    }

    /// Stored numbers per component factor (`D²`, or `D` for the diagonal types); a tied
    /// layer's one factor has `D²`.
    pub fn factor_len(self, d: usize) -> usize {
        if self.is_diagonal() { d } else { d * d }
    }

    /// Free covariance parameters (scikit-learn's `_n_parameters`, less means and weights).
    pub fn n_covariance_parameters(self, k: usize, d: usize) -> usize {
        match self {
            Self::Full => k * d * (d + 1) / 2,
            Self::Tied => d * (d + 1) / 2,
            Self::Diag => k * d,
            Self::Spherical => k,
        }
    }

    /// Identity factors (unit covariances) in the stored layout.
    pub fn identity_factors(self, k: usize, d: usize) -> Vec<f64> {
        let [kk, rows, cols] = self.factor_shape(k, d);
        if rows == 1 {
            return vec![1.0; kk * cols];
        }
        let mut eye = vec![0.0; kk * d * d];
        for c in 0..kk {
            (0..d).for_each(|i| eye[c * d * d + i * d + i] = 1.0);
        }
        eye
    }

    /// The stored factor of component c (`[D·D]` or `[D]`; a tied layer's only one).
    pub fn factor_of(self, stored: &[f64], c: usize, d: usize) -> &[f64] {
        let len = self.factor_len(d);
        let c = if self == Self::Tied { 0 } else { c };
        &stored[c * len..(c + 1) * len]
    }

    /// Component c's `U_c` as a dense upper-triangular `[D·D]` (row-major).
    pub fn dense_factor(self, stored: &[f64], c: usize, d: usize) -> Vec<f64> {
        let f = self.factor_of(stored, c, d);
        if !self.is_diagonal() {
            return f.to_vec();
        }
        let mut u = vec![0.0; d * d];
        f.iter().enumerate().for_each(|(i, &p)| u[i * d + i] = p);
        u
    }

    /// Component c's covariance `Σ_c = (U_c U_cᵀ)⁻¹`, dense `[D·D]` (`1/p²` on the diagonal
    /// of the diagonal types, without a factorisation).
    pub fn dense_covariance(self, stored: &[f64], c: usize, d: usize) -> Vec<f64> {
        let f = self.factor_of(stored, c, d);
        if !self.is_diagonal() {
            return linalg::covariance_from_precision_cholesky(f, d);
        }
        let mut cov = vec![0.0; d * d];
        f.iter().enumerate().for_each(|(i, &p)| cov[i * d + i] = 1.0 / (p * p));
        cov
    }

    /// Component c's covariance factor `L_c` (`Σ_c = L_c L_cᵀ`, lower triangular, `[D·D]`).
    pub fn covariance_factor(self, stored: &[f64], c: usize, d: usize) -> Vec<f64> {
        let f = self.factor_of(stored, c, d);
        if !self.is_diagonal() {
            return linalg::covariance_factor_from_precision_cholesky(f, d);
        }
        let mut l = vec![0.0; d * d];
        f.iter().enumerate().for_each(|(i, &p)| l[i * d + i] = 1.0 / p);
        l
    }

    /// The stored factors in scikit-learn's `precisions_cholesky_` layout: `[K, D, D]`,
    /// `[D, D]`, `[K, D]`, `[K]` for full, tied, diag, spherical.
    pub fn sklearn_factors(self, stored: &[f64], d: usize) -> Vec<f64> {
        match self {
            Self::Spherical => stored.iter().step_by(d.max(1)).copied().collect(),
            _ => stored.to_vec(),
        }
    }

    /// scikit-learn's `precisions_cholesky_` (layout of [`Self::sklearn_factors`]) in the
    /// stored layout, for K components over D dimensions; `None` if its length is wrong.
    pub fn stored_from_sklearn(self, factors: &[f64], k: usize, d: usize) -> Option<Vec<f64>> {
        let expected = match self {
            Self::Spherical => k,
            _ => self.factor_shape(k, d).iter().product(),
        };
        (factors.len() == expected).then(|| match self {
            Self::Spherical => factors.iter().flat_map(|&p| std::iter::repeat_n(p, d)).collect(),
            _ => factors.to_vec(),
        })
    }

    /// The covariances in scikit-learn's `covariances_` layout (that of
    /// [`Self::sklearn_factors`]), from the stored factors.
    pub fn sklearn_covariances(self, stored: &[f64], k: usize, d: usize) -> Vec<f64> {
        match self {
            Self::Full => (0..k).flat_map(|c| self.dense_covariance(stored, c, d)).collect(),
            Self::Tied => self.dense_covariance(stored, 0, d),
            Self::Diag => stored.iter().map(|p| 1.0 / (p * p)).collect(),
            Self::Spherical => stored.iter().step_by(d.max(1)).map(|p| 1.0 / (p * p)).collect(),
        }
    }

    /// A diagonal component's stored factor from its variances `σ²_i` (already regularised):
    /// `1/σ_i` for `diag`; for `spherical` the mean variance `σ² = (1/D) Σ_i σ²_i`
    /// (scikit-learn's), `1/σ` in every entry.
    pub fn diagonal_factor(self, variances: &[f64]) -> Vec<f64> {
        match self {
            Self::Spherical => {
                let mean = variances.iter().sum::<f64>() / variances.len() as f64;
                vec![1.0 / mean.sqrt(); variances.len()]
            }
            _ => variances.iter().map(|v| 1.0 / v.sqrt()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each type's covariances, factors and sklearn layouts agree with dense f64 algebra.
    #[test]
    fn layouts_round_trip_and_match_dense_inverses() {
        let d = 3;
        for t in [CovarianceType::Full, CovarianceType::Tied] {
            let cov = [2.0, 0.3, 0.1, 0.3, 1.5, -0.2, 0.1, -0.2, 1.0];
            let u = linalg::precision_cholesky(&cov, d).unwrap();
            let stored = if t == CovarianceType::Full { [u.clone(), u].concat() } else { u };
            let back = t.dense_covariance(&stored, 1, d);
            back.iter().zip(cov).for_each(|(a, b)| assert!((a - b).abs() < 1e-12));
            assert_eq!(t.stored_from_sklearn(&t.sklearn_factors(&stored, d), 2, d), Some(stored));
        }
        let stored = vec![2.0, 4.0, 0.5, 1.0, 1.0, 1.0];
        let t = CovarianceType::Diag;
        assert_eq!(t.sklearn_covariances(&stored, 2, d), vec![0.25, 0.0625, 4.0, 1.0, 1.0, 1.0]);
        assert_eq!(t.dense_covariance(&stored, 0, d)[4], 0.0625);
        assert_eq!(t.covariance_factor(&stored, 0, d)[8], 2.0);
        let s = CovarianceType::Spherical;
        assert_eq!(s.diagonal_factor(&[1.0, 5.0, 6.0]), vec![0.5; 3]);
        let spherical = vec![2.0, 2.0, 2.0, 0.5, 0.5, 0.5];
        assert_eq!(s.sklearn_factors(&spherical, d), vec![2.0, 0.5]);
        assert_eq!(s.stored_from_sklearn(&[2.0, 0.5], 2, d), Some(spherical.clone()));
        assert_eq!(s.sklearn_covariances(&spherical, 2, d), vec![0.25, 4.0]);
        assert_eq!(s.n_covariance_parameters(2, d), 2);
        assert_eq!(CovarianceType::Tied.n_covariance_parameters(2, d), 6);
    }
}
