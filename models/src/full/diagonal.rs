//! The E-step and statistics of the diagonal covariance types (`diag`, `spherical`): no
//! matrix product, O(K·D) per row against the full type's O(K·D²).

use super::blocks::{GPU_GROUP_BUDGET, STAT_BLOCKS};
use super::diagonal_kernels as kernels;
use super::host_distances::HostDistances;
use super::model::FullGmm;
use super::moments::FullStats;
use crate::mixture::Mixture;
use crate::readback::{to_host_f64, with_host_values};
use crate::{ModelError, is_cpu};
use burn::tensor::Tensor;

impl FullGmm {
    /// `Σ_i (x_i p_ci − s_ci)² = Σ_i ((x_i − μ_ci) / σ_ci)²` for every row and component. On a
    /// CPU by [`HostDistances`] (the spherical type through one product with the centred
    /// means), `Ok(None)` where a row holds NaN (a missing value), so that
    /// complete rows need no scan for one first; elsewhere: `[rows, K, D]` broadcasts of at most
    /// [`GPU_GROUP_BUDGET`] numbers, NaN left to [`super::missing::has_missing`].
    ///
    /// # Shapes
    /// - `x`: `[N, D]`; result: `[N, K]`.
    pub(crate) fn mahalanobis_diagonal(
        &self,
        x: Tensor<2>,
    ) -> Result<Option<Tensor<2>>, ModelError> {
        if !is_cpu(&x.device()) {
            return Ok(Some(self.mahalanobis_diagonal_on_device(x)));
        }
        let d = x.dims()[1];
        HostDistances::new(self, d)?.all(&x, self.n_components())
    }

    /// [`FullGmm::mahalanobis_diagonal`] as Burn operations.
    pub(crate) fn mahalanobis_diagonal_on_device(&self, x: Tensor<2>) -> Tensor<2> {
        let [n, d] = x.dims();
        let k = self.n_components();
        let p = self.precision_cholesky.val().reshape([1, k, d]);
        let s = match self.config.zero_mean {
            true => None,
            false => Some(self.means.val().reshape([1, k, d]) * p.clone()),
        };
        let rows = (GPU_GROUP_BUDGET / (k * d).max(1)).max(1);
        let chunks = (0..n)
            .step_by(rows)
            .map(|r0| {
                let m = rows.min(n - r0);
                let mut y = x.clone().narrow(0, r0, m).reshape([m, 1, d]) * p.clone();
                if let Some(s) = &s {
                    y = y - s.clone();
                }
                (y.clone() * y).sum_dim(2).reshape([m, k])
            })
            .collect();
        Tensor::cat(chunks, 0)
    }

    /// [`FullStats::Diagonal`]: `N_c`, `Σ r (x − m_c)` and `Σ r (x − m_c)²` (elementwise) about
    /// each component's current mean `m_c`, over the rows with responsibility at least
    /// [`RESP_FLOOR`]. On a CPU: [`STAT_BLOCKS`] blocks of rows in parallel, each row read once
    /// for all its components and summed in f64 ([`kernels::block_sums`]), the blocks added in
    /// order (the same figures on any thread count); `Ok(None)` where a row holds NaN (a
    /// missing value: its sums are NaN). Elsewhere `[G, N, D]` products on the device, and
    /// only the `[K, D]` sums are read back.
    ///
    /// # Shapes
    /// - `x`: `[N, D]`; `resp`: `[N, K]`.
    pub(crate) fn diagonal_stats(
        &self,
        x: Tensor<2>,
        resp: Tensor<2>,
    ) -> Result<Option<FullStats>, ModelError> {
        use rayon::prelude::*;
        if !is_cpu(&x.device()) {
            return self.diagonal_stats_on_device(x, resp).map(Some);
        }
        let [n, d] = x.dims();
        let k = self.n_components();
        let means = self.padded_means(d)?;
        let block_sums = kernels::block_sums_for_cpu();
        let rows = n.div_ceil(STAT_BLOCKS).max(1);
        let blocks: Vec<Vec<f64>> = with_host_values(&x, |xs| {
            with_host_values(&resp, |r| {
                xs.par_chunks(rows * d)
                    .zip(r.par_chunks(rows * k))
                    .map(|(xs, r)| {
                        let mut sums = vec![0.0; k * (1 + 2 * kernels::sum_width(d))];
                        block_sums(xs, r, d, &means, &mut sums);
                        sums
                    })
                    .collect()
            })
        })??;
        Ok(diagonal_totals(blocks, k, d))
    }

    /// The means `m_c` padded with zeros to [`kernels::sum_width`] (`[K·w]`; zeros with
    /// `zero_mean`), as [`kernels::block_sums_for_cpu`] takes them.
    pub(crate) fn padded_means(&self, d: usize) -> Result<Vec<f64>, ModelError> {
        let (k, w) = (self.n_components(), kernels::sum_width(d));
        let mut means = vec![0.0; k * w];
        if !self.config.zero_mean {
            let m = to_host_f64(self.means.val())?;
            means.chunks_mut(w).zip(m.chunks(d)).for_each(|(p, m)| p[..d].copy_from_slice(m));
        }
        Ok(means)
    }

    /// [`FullGmm::diagonal_stats`] as Burn operations, G components at a time within
    /// `BATCHED_STATS_BUDGET` (`FullGmm::for_shifted_blocks`).
    pub(crate) fn diagonal_stats_on_device(
        &self,
        x: Tensor<2>,
        resp: Tensor<2>,
    ) -> Result<FullStats, ModelError> {
        let k = resp.dims()[1];
        let (mut firsts, mut seconds) = (Vec::new(), Vec::new());
        let resp = self.for_shifted_blocks(&x, resp, |y, w| {
            firsts.push(w.clone().sum_dim(1).squeeze_dim::<2>(1));
            seconds.push((w * y).sum_dim(1).squeeze_dim::<2>(1));
        });
        Ok(FullStats::Diagonal {
            resp_sum: to_host_f64(resp.sum_dim(0).reshape([k]))?,
            first: to_host_f64(Tensor::cat(firsts, 0))?,
            second: to_host_f64(Tensor::cat(seconds, 0))?,
        })
    }
}

/// [`FullStats::Diagonal`] of blocks of [`kernels::block_sums_for_cpu`] sums (`[N_c: K |
/// first: K·w | second: K·w]` each), added in order and the padding dropped once; `None` where
/// a sum is NaN (a row held a missing value).
pub(crate) fn diagonal_totals(blocks: Vec<Vec<f64>>, k: usize, d: usize) -> Option<FullStats> {
    let w = kernels::sum_width(d);
    let mut total = vec![0.0; k * (1 + 2 * w)];
    for block in blocks {
        total.iter_mut().zip(block).for_each(|(t, b)| *t += b);
    }
    if total.iter().any(|v| v.is_nan()) {
        return None;
    }
    let unpadded = |v: &[f64]| -> Vec<f64> { v.chunks(w).flat_map(|c| &c[..d]).copied().collect() };
    let (resp_sum, moments) = total.split_at(k);
    let (first, second) = moments.split_at(k * w);
    Some(FullStats::Diagonal {
        resp_sum: resp_sum.to_vec(),
        first: unpadded(first),
        second: unpadded(second),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::full::test_layers;
    use crate::{CovarianceType, device_from_name};
    use burn::tensor::TensorData;
    use rand::{Rng, SeedableRng};

    /// The device forms (a GPU's) and the dense factors' products against the host forms, run
    /// on the CPU: distances and statistics agree to f32 rounding, for both diagonal types.
    #[test]
    fn device_forms_match_the_host_forms() {
        let (k, d, n) = (4, 37, 300);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let device = device_from_name("cpu").unwrap();
        for t in [CovarianceType::Diag, CovarianceType::Spherical] {
            let config = test_layers::config(k, t);
            let means: Vec<f64> = (0..k * d).map(|_| rng.random_range(-1.0..1.0)).collect();
            let variances: Vec<f64> = (0..k * d).map(|_| rng.random_range(0.5..2.0)).collect();
            let p: Vec<f64> = variances.chunks(d).flat_map(|v| t.diagonal_factor(v)).collect();
            let layer = FullGmm::from_parts(&means, &p, &[0.25; 4], &config, &device);
            let xs: Vec<f32> = (0..n * d).map(|_| rng.random_range(-2.0..2.0)).collect();
            let x = Tensor::<2>::from_data(TensorData::new(xs, [n, d]), &device);
            let close = |a: Vec<f64>, b: Vec<f64>| {
                assert_eq!(a.len(), b.len());
                a.iter()
                    .zip(&b)
                    .for_each(|(a, b)| assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0)));
            };
            let host =
                to_host_f64(layer.mahalanobis_diagonal(x.clone()).unwrap().unwrap()).unwrap();
            close(
                to_host_f64(layer.mahalanobis_diagonal_on_device(x.clone())).unwrap(),
                host.clone(),
            );
            // The dense factors, through the full type's grouped products.
            let grouped = layer.mahalanobis_grouped(x.clone(), crate::GROUP_BUDGET);
            close(to_host_f64(grouped).unwrap(), host);
            let r: Vec<f32> = (0..n * k).map(|_| rng.random::<f32>()).collect();
            let resp = Tensor::<2>::from_data(TensorData::new(r, [n, k]), &device);
            let flat = |s: FullStats| match s {
                FullStats::Diagonal { resp_sum, first, second } => {
                    [resp_sum, first, second].concat()
                }
                _ => panic!("diagonal statistics expected"),
            };
            let on_host = flat(layer.diagonal_stats(x.clone(), resp.clone()).unwrap().unwrap());
            close(flat(layer.diagonal_stats_on_device(x, resp).unwrap()), on_host);
        }
    }

    /// A row with NaN (a missing value) is met by the host kernels themselves: `None` from the
    /// distances and the statistics, which then fall back to the marginal forms.
    #[test]
    fn host_kernels_meet_a_missing_value() {
        let (k, d, n) = (3, 9, 40);
        let device = device_from_name("cpu").unwrap();
        for covariance_type in [CovarianceType::Diag, CovarianceType::Spherical] {
            let config = test_layers::config(k, covariance_type);
            let layer =
                FullGmm::from_parts(&[0.1; 27], &[1.0; 27], &[1.0 / 3.0; 3], &config, &device);
            let mut xs = vec![0.5f32; n * d];
            let tensor =
                |xs: &[f32]| Tensor::<2>::from_data(TensorData::new(xs.to_vec(), [n, d]), &device);
            let resp =
                Tensor::<2>::from_data(TensorData::new(vec![1.0f32 / 3.0; n * k], [n, k]), &device);
            assert!(layer.mahalanobis_diagonal(tensor(&xs)).unwrap().is_some());
            assert!(layer.diagonal_stats(tensor(&xs), resp.clone()).unwrap().is_some());
            xs[37 * d + 4] = f32::NAN;
            assert!(layer.mahalanobis_diagonal(tensor(&xs)).unwrap().is_none());
            assert!(layer.diagonal_stats(tensor(&xs), resp).unwrap().is_none());
        }
    }
}
