//! The full GMM's E-step products (models.md §2): Mahalanobis distances through the
//! triangular precision factors, grouped over components for small D, and the
//! log-determinants.

use super::blocks::{HOST_ROWS, triangle_blocks};
use super::model::FullGmm;
use crate::ModelError;
use crate::factor_groups::{FactorGroups, shifts};
use crate::mixture::Mixture;
use crate::readback::{host_vec, to_host_f64};
use burn::tensor::{Int, Tensor, TensorData};

impl FullGmm {
    /// `‖(x_n - μ_c)ᵀ U_c‖²` on the host, for a CPU batch of small D (one [`TRIANGLE_BLOCK`]):
    /// rows in tasks of [`HOST_ROWS`] over rayon's threads; in each, the products with all
    /// components' upper triangular `U_c` taken 16 columns at a time, each group of columns
    /// multiplying only the rows its triangle reaches ([`FactorGroups`]: at D = 63, 2,544
    /// multiply-adds per row and component instead of 3,969, 32 components per product), with
    /// `s_c = μ_cᵀ U_c` (f64 on the host). Burn's operations allocate (and, in burn-flex, copy)
    /// a tensor per step and per component: on `bsds300_full200` (D = 63) those steps took
    /// longer than the products (an EM iteration 0.73× of [`FullGmm::mahalanobis_grouped`]'s).
    /// For large D the products dominate and gemm's, through
    /// [`FullGmm::mahalanobis_triangular`], are faster than faer's (MNIST, D = 784: 9.3 s per
    /// iteration against 13.5 s with faer's triangular product).
    ///
    /// # Shapes
    /// - `x`: `[N, D]`; result: `[N, K]` (row-major, on `x`'s device).
    pub(crate) fn mahalanobis_host(&self, x: Tensor<2>) -> Result<Tensor<2>, ModelError> {
        use rayon::prelude::*;
        let [n, d] = x.dims();
        let device = x.device();
        let k = self.n_components();
        let xs: Vec<f32> = host_vec(x.try_into_data())?;
        let u = to_host_f64(self.dense_factors())?;
        let mu = match self.config.zero_mean {
            true => vec![0.0; k * d],
            false => to_host_f64(self.means.val())?,
        };
        let u32s: Vec<f32> = u.iter().map(|&v| v as f32).collect();
        let groups = FactorGroups::new(&u32s, &shifts(&mu, &u, k, d, false), k, d, true);
        let mut out = vec![0.0f32; n * k];
        out.par_chunks_mut(HOST_ROWS * k)
            .zip(xs.par_chunks(HOST_ROWS * d))
            .for_each(|(out, xs)| groups.distances(xs, out));
        Ok(Tensor::from_data(TensorData::new(out, [n, k]), &device))
    }

    /// `‖(x_n - μ_c)ᵀ U_c‖²` component by component over the whole batch, and block column by
    /// block column of the triangular `U_c`: block `J` of `xᵀU_c` needs only the rows of `U_c`
    /// above the block's end, so about `(m+1)/(2m)` of a dense product's work is done with `m`
    /// blocks (large D: 784 for MNIST).
    ///
    /// # Shapes
    /// - `x`: `[N, D]`; result: `[N, K]`.
    pub(crate) fn mahalanobis_triangular(&self, x: Tensor<2>) -> Tensor<2> {
        let [_, d] = x.dims();
        let u = self.dense_factors();
        let k = u.dims()[0];
        let means = (!self.config.zero_mean).then(|| self.means.val());
        let blocks = triangle_blocks(d);
        let columns = (0..k)
            .map(|c| {
                let uc = u.clone().narrow(0, c, 1).reshape([d, d]);
                let mu = means.as_ref().map(|m| m.clone().narrow(0, c, 1));
                let mut blocks = blocks.iter().map(|&(start, end)| {
                    let ub = uc.clone().narrow(0, 0, end).narrow(1, start, end - start);
                    let mut y = x.clone().narrow(1, 0, end).matmul(ub.clone());
                    if let Some(mu) = &mu {
                        y = y - mu.clone().narrow(1, 0, end).matmul(ub);
                    }
                    (y.clone() * y).sum_dim(1)
                });
                let first = blocks.next().expect("triangle_blocks covers d ≥ 1 with a block");
                blocks.fold(first, |a, b| a + b)
            })
            .collect();
        Tensor::cat(columns, 1)
    }

    /// `‖(x_n - μ_c)ᵀ U_c‖²` for G components per product (small D, where one component's
    /// `[N, D]·[D, D]` product is too small to keep a CPU or GPU busy):
    /// `Y = x [U_c … U_{c+G-1}] - [μ_cᵀU_c … ]`, one `[N, D]·[D, G·D]` product, then the squares
    /// of `Y` summed over each component's D columns. G keeps `Y` under `budget` numbers
    /// ([`GROUP_BUDGET`] on a CPU, [`GPU_GROUP_BUDGET`] on a GPU).
    ///
    /// # Shapes
    /// - `x`: `[N, D]`; result: `[N, K]`.
    pub(crate) fn mahalanobis_grouped(&self, x: Tensor<2>, budget: usize) -> Tensor<2> {
        let [n, d] = x.dims();
        // Rows in chunks where even one component's `Y` would pass the budget (a CPU's 8192-row
        // batch of D = 63: 2080 rows at a time).
        let rows = (budget / d.max(1)).max(1);
        if rows < n {
            let chunks = (0..n)
                .step_by(rows)
                .map(|r0| {
                    self.mahalanobis_grouped(x.clone().narrow(0, r0, rows.min(n - r0)), budget)
                })
                .collect();
            return Tensor::cat(chunks, 0);
        }
        let u = self.dense_factors();
        let k = u.dims()[0];
        // W = [U_1 … U_K], `[D, K·D]`; the means' images `μ_cᵀU_c`, `[1, K·D]`.
        let w = u.clone().swap_dims(0, 1).reshape([d, k * d]);
        let shift = (!self.config.zero_mean)
            .then(|| self.means.val().unsqueeze_dim::<3>(1).matmul(u).reshape([1, k * d]));
        let g = (budget / (n.max(1) * d)).clamp(1, k);
        let parts = (0..k)
            .step_by(g)
            .map(|c0| {
                let gs = g.min(k - c0);
                let mut y = x.clone().matmul(w.clone().narrow(1, c0 * d, gs * d));
                if let Some(shift) = &shift {
                    y = y - shift.clone().narrow(1, c0 * d, gs * d);
                }
                (y.clone() * y).reshape([n, gs, d]).sum_dim(2).reshape([n, gs])
            })
            .collect();
        Tensor::cat(parts, 1)
    }

    /// `Σ_i log U_c[i,i]` (half the log-determinant of `Σ_c⁻¹`), `[1, K]`.
    pub(crate) fn half_log_det(&self) -> Tensor<2> {
        if self.config.covariance_type.is_diagonal() {
            let [k, _, d] = self.precision_cholesky.val().dims();
            return self.precision_cholesky.val().reshape([k, d]).log().sum_dim(1).transpose();
        }
        let u = self.dense_factors();
        let [k, d, _] = u.dims();
        let idx: Vec<i64> = (0..d).map(|i| (i * (d + 1)) as i64).collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [d]), &self.device());
        u.reshape([k, d * d]).select(1, idx).log().sum_dim(1).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FullGmmConfig, GROUP_BUDGET, device_from_name, linalg};
    use rand::{Rng, SeedableRng};

    /// The host path against Burn's grouped products (its stand-in, and a GPU's form), over
    /// row tasks whose last is short (D = 63 as `bsds300_full200`, N = 600: 256, 256, 88), and
    /// bit for bit on one and on two threads.
    #[test]
    fn host_distances_match_grouped_products_on_any_thread_count() {
        let (k, d, n) = (3, 63, 600);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(63);
        let mut precs = Vec::new();
        for _ in 0..k {
            let b: Vec<f64> = (0..d * d).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut cov = vec![0.0; d * d];
            for i in 0..d {
                for j in 0..d {
                    cov[i * d + j] = (0..d).map(|t| b[i * d + t] * b[j * d + t]).sum::<f64>();
                }
                cov[i * d + i] += 0.3;
            }
            precs.extend(linalg::precision_cholesky(&cov, d).unwrap());
        }
        let means: Vec<f64> = (0..k * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let config = FullGmmConfig {
            n_components: k,
            zero_mean: false,
            reg_covar: 1e-6,
            empty_components: Default::default(),
            covariance_type: Default::default(),
        };
        let device = device_from_name("cpu").unwrap();
        let layer = FullGmm::from_parts(&means, &precs, &[0.2, 0.3, 0.5], &config, &device);
        let xs: Vec<f32> = (0..n * d).map(|_| rng.random_range(-3.0..3.0)).collect();
        let x = Tensor::<2>::from_data(TensorData::new(xs, [n, d]), &device);
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let maha = pool.install(|| layer.mahalanobis_host(x.clone())).unwrap();
            host_vec::<f32, _>(maha.try_into_data()).unwrap()
        };
        let (one, two) = (on(1), on(2));
        assert!(one.iter().zip(&two).all(|(a, b)| a.to_bits() == b.to_bits()));
        let grouped =
            host_vec::<f32, _>(layer.mahalanobis_grouped(x.clone(), GROUP_BUDGET).try_into_data())
                .unwrap();
        assert_eq!(one.len(), n * k);
        for (a, b) in one.iter().zip(&grouped) {
            assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{a} vs {b}");
        }
    }
}
