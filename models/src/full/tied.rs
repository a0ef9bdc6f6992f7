//! The tied covariance type's E-step on a CPU: one product shared by every component.

use super::host_distances::HostDistances;
use super::model::FullGmm;
use crate::ModelError;
use crate::factor_groups::shifts;
use crate::mixture::Mixture;
use crate::readback::to_host_f64;
use burn::tensor::Tensor;

impl FullGmm {
    /// `‖(x_n − μ_c)ᵀ U‖² = ‖Y_n − v_c‖²` with the tied type's one factor `U`: `Y = X U` once
    /// for all components (the full type's path forms `X U_c` for each of the K), `v_c = μ_cᵀ U`
    /// in f64 on the host, then the diagonal kernel ([`HostDistances::diagonal`], unit factors).
    /// `Ok(None)` where a row holds NaN (a missing value).
    ///
    /// # Shapes
    /// - `x`: `[N, D]` on a CPU device; result: `[N, K]`.
    pub(crate) fn mahalanobis_tied(&self, x: Tensor<2>) -> Result<Option<Tensor<2>>, ModelError> {
        let [_, d] = x.dims();
        let k = self.n_components();
        let u = self.precision_cholesky.val().reshape([d, d]);
        let factor = to_host_f64(u.clone())?;
        let v = match self.config.zero_mean {
            true => vec![0.0; k * d],
            false => shifts(&to_host_f64(self.means.val())?, &factor, k, d, true),
        };
        HostDistances::diagonal(&vec![1.0; k * d], &v, d).all(&x.matmul(u), k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readback::to_host_f64;
    use crate::{CovarianceType, FullGmmConfig, device_from_name};
    use burn::tensor::TensorData;
    use rand::{Rng, SeedableRng};

    /// The shared product against the full type's per-component products of the same factor
    /// (every `U_c` the tied `U`) and a float64 sum; a row with NaN gives `None`.
    #[test]
    fn one_product_matches_a_product_per_component() {
        let (k, d, n) = (5, 11, 200);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
        let device = device_from_name("cpu").unwrap();
        let config = FullGmmConfig {
            n_components: k,
            zero_mean: false,
            reg_covar: 1e-6,
            empty_components: Default::default(),
            covariance_type: CovarianceType::Tied,
        };
        let u: Vec<f64> = (0..d * d)
            .map(|ij| match (ij / d, ij % d) {
                (i, j) if i == j => rng.random_range(0.5..2.0),
                (i, j) if i < j => rng.random_range(-0.5..0.5),
                _ => 0.0,
            })
            .collect();
        let means: Vec<f64> = (0..k * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let layer = FullGmm::from_parts(&means, &u, &[0.2; 5], &config, &device);
        let mut xs: Vec<f32> = (0..n * d).map(|_| rng.random_range(-2.0..2.0)).collect();
        let x = Tensor::<2>::from_data(TensorData::new(xs.clone(), [n, d]), &device);
        let tied = to_host_f64(layer.mahalanobis_tied(x.clone()).unwrap().unwrap()).unwrap();
        let grouped = to_host_f64(layer.mahalanobis_grouped(x, crate::GROUP_BUDGET)).unwrap();
        for (row, c) in (0..n).flat_map(|r| (0..k).map(move |c| (r, c))) {
            let exact: f64 = (0..d)
                .map(|j| {
                    (0..d)
                        .map(|i| (xs[row * d + i] as f64 - means[c * d + i]) * u[i * d + j])
                        .sum::<f64>()
                })
                .map(|y| y * y)
                .sum();
            let (a, b) = (tied[row * k + c], grouped[row * k + c]);
            assert!((a - exact).abs() <= 1e-4 * exact.max(1.0), "{a} against {exact}");
            assert!((a - b).abs() <= 1e-4 * exact.max(1.0));
        }
        xs[17 * d + 3] = f32::NAN;
        let x = Tensor::<2>::from_data(TensorData::new(xs, [n, d]), &device);
        assert!(layer.mahalanobis_tied(x).unwrap().is_none());
    }
}
