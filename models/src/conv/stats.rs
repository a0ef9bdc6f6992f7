//! The convolutional GMM's sufficient statistics.

use crate::mixture::SufficientStats;
use burn::tensor::Tensor;

/// Sufficient statistics of the convolutional GMM: `N_c = Σ_n r[n,c]` and
/// `T_c(k_b) = Σ_n r[n,c] |X_n(k_b)|²`.
#[derive(Debug, Clone)]
pub struct ConvStats {
    /// `N_c`, `[K]`.
    pub resp_sum: Tensor<1>,
    /// `T_c(k_b)`, `[K, B]`.
    pub power_sum: Tensor<2>,
}

impl SufficientStats for ConvStats {
    fn merge(self, other: Self) -> Self {
        Self {
            resp_sum: self.resp_sum + other.resp_sum,
            power_sum: self.power_sum + other.power_sum,
        }
    }
}
