//! The diagonal types' E-step and statistics in one pass over a CPU batch
//! ([`crate::Mixture::e_step_batch`]): each few rows are read from memory once, and their
//! statistics summed while they are in cache, instead of the batch being read again (MNIST's
//! 16,384-row batch, 51 MB, does not stay in a 32 MB L3 cache).

use super::blocks::STAT_BLOCKS;
use super::diagonal::diagonal_totals;
use super::diagonal_kernels as kernels;
use super::host_distances::HostDistances;
use super::model::FullGmm;
use super::moments::FullStats;
use crate::mixture::{BatchTerms, Mixture};
use crate::readback::{host_vec, with_host_values};
use crate::{ModelError, host};
use burn::tensor::{Tensor, TensorData};

/// Rows whose distances, responsibilities and statistics are computed together: 64 of MNIST's
/// rows are 200 KB, still in L2 when their statistics are summed.
const FUSED_ROWS: usize = 64;

impl FullGmm {
    /// [`crate::default_e_step_batch`] at β = 1 for the diagonal types on a CPU, with the same
    /// figures (tested bit for bit): the rows in [`STAT_BLOCKS`] blocks over rayon's threads
    /// (`FullGmm::diagonal_stats`' blocks), each block [`FUSED_ROWS`] rows at a time through
    ///
    /// ```text
    /// a[n,c] = (−½ ‖(x_n − μ_c)/σ_c‖² + (Σ_i log p_ci − (D/2) log 2π)) + log π_c
    /// ```
    ///
    /// in the f32 steps of `log_prob` and `weighted_log_prob` ([`HostDistances`] for the
    /// distances), the responsibilities and `log p(x_n)` of
    /// [`host::responsibilities_in_place`], then the block's sums
    /// ([`kernels::block_sums_for_cpu`]) in row order. The objective is the Burn sum of the
    /// `[N, 1]` column of `log p(x_n)`, as in the two-pass form. `Ok(None)` where a row holds
    /// NaN (a missing value: the marginal forms take the batch).
    ///
    /// # Shapes
    /// - `x`: `[N, D]` on a CPU device.
    pub(crate) fn fused_diagonal_batch(
        &self,
        x: &Tensor<2>,
    ) -> Result<Option<BatchTerms<FullStats>>, ModelError> {
        use rayon::prelude::*;
        let [n, d] = x.dims();
        let k = self.n_components();
        let distances = HostDistances::new(self, d)?;
        let log_2pi = (2.0 * std::f64::consts::PI).ln();
        let constants = self.half_log_det() - 0.5 * d as f64 * log_2pi;
        let constants: Vec<f32> = host_vec(constants.try_into_data())?;
        let log_weights: Vec<f32> = host_vec(self.log_weights.val().try_into_data())?;
        let means = self.padded_means(d)?;
        let block_sums = kernels::block_sums_for_cpu();
        let block_rows = n.div_ceil(STAT_BLOCKS).max(1);
        let mut objective = vec![0.0f32; n];
        let blocks: Vec<Vec<f64>> = with_host_values(x, |xs| {
            (xs.par_chunks(block_rows * d).zip(objective.par_chunks_mut(block_rows)))
                .map(|(xs, objective)| {
                    let mut sums = vec![0.0; k * (1 + 2 * kernels::sum_width(d))];
                    let mut a = vec![0.0f32; FUSED_ROWS * k];
                    let rows = xs.chunks(FUSED_ROWS * d).zip(objective.chunks_mut(FUSED_ROWS));
                    for (xs, objective) in rows {
                        let a = &mut a[..objective.len() * k];
                        distances.rows(xs, a);
                        for row in a.chunks_mut(k) {
                            for ((v, c), w) in row.iter_mut().zip(&constants).zip(&log_weights) {
                                *v = (*v * -0.5 + c) + w;
                            }
                        }
                        objective.copy_from_slice(&host::responsibilities_in_place(a, k));
                        block_sums(xs, a, d, &means, &mut sums);
                    }
                    sums
                })
                .collect()
        })?;
        let Some(stats) = diagonal_totals(blocks, k, d) else {
            return Ok(None);
        };
        let objective = Tensor::<2>::from_data(TensorData::new(objective, [n, 1]), &x.device());
        Ok(Some(BatchTerms {
            objective: objective.sum_dim(0).squeeze_dim(0),
            log_likelihood: None,
            stats,
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::full::test_layers::drawn;
    use crate::mixture::{Mixture, default_e_step_batch};
    use crate::{CovarianceType, device_from_name, to_host_f64};
    use burn::tensor::{Tensor, TensorData};
    use rand::{Rng, SeedableRng};

    /// The one-pass E-step equals the two-pass one bit for bit (statistics and objective), for
    /// both diagonal types, rows of a width that is not a whole number of lanes, a batch that
    /// is not a whole number of blocks, and components that take few rows; a row with
    /// NaN leaves the batch to the marginal forms.
    #[test]
    fn one_pass_equals_two_passes() {
        let (d, n) = (45, 3001);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let device = device_from_name("cpu").unwrap();
        for covariance_type in [CovarianceType::Diag, CovarianceType::Spherical] {
            let weights = [0.3, 0.2, 0.2, 0.1, 0.1, 0.099, 0.001];
            let (layer, _, _) = drawn(covariance_type, &weights, d, 0.0, 1.0..3.0, &mut rng);
            let mut xs: Vec<f32> = (0..n * d).map(|_| rng.random_range(-1.5f32..1.5)).collect();
            let x = Tensor::<2>::from_data(TensorData::new(xs.clone(), [n, d]), &device);
            let fused = layer.fused_diagonal_batch(&x).unwrap().unwrap();
            let two = default_e_step_batch(&layer, &x, 1.0).unwrap();
            let flat = |s| layer.stats_to_flat(s).unwrap();
            assert_eq!(flat(&fused.stats), flat(&two.stats));
            assert_eq!(to_host_f64(fused.objective).unwrap(), to_host_f64(two.objective).unwrap());
            let reached =
                fused.stats.clone().into_host().unwrap().iter().filter(|(nc, _)| *nc > 0.0).count();
            assert!(reached > 2, "{reached} components reached");
            xs[1234 * d + 5] = f32::NAN;
            let x = Tensor::<2>::from_data(TensorData::new(xs, [n, d]), &device);
            assert!(layer.fused_diagonal_batch(&x).unwrap().is_none());
        }
    }
}
