//! The convolutional GMM's E-step of a CPU batch, fused on the host: the periodograms are read
//! in place from burn-flex's buffer, and per task of [`CONV_HOST_ROWS`] rows the weighted
//! log-densities (one product), the responsibilities and the statistics (a second product) are
//! computed while the task's rows are still in cache.

use super::model::ConvGmm;
use super::stats::ConvStats;
use crate::ModelError;
use crate::mixture::{BatchTerms, Mixture};
use crate::readback::host_vec;
use burn::tensor::{Device, Tensor, TensorData};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// Rows per task of the fused E-step: 1024 periodograms of a 16×16 patch (143 bins) are
/// 586 KB, which stay in L2 between the two products. Tasks run on rayon's threads; their sums
/// are added in task order, so the figures do not depend on the thread count.
pub const CONV_HOST_ROWS: usize = 1024;

/// One task's sums.
struct TaskSums {
    /// `Σ_n log p(x_n)`.
    objective: f64,
    /// `Σ_n r[n,c]`, `[K]`.
    resp_sum: Vec<f64>,
    /// `Σ_n r[n,c] |X_n(k_b)|²`, `[K, B]` row-major.
    power_sum: Vec<f32>,
}

impl ConvGmm {
    /// The E-step of one batch (β = 1) on the host, when `x` is a contiguous burn-flex tensor
    /// (`None` otherwise: another backend, a view): [`fused_e_step`](Self::fused_e_step) of its
    /// own buffer, read without a copy.
    ///
    /// Burn's path takes three passes over the batch with a tensor allocated (and, in
    /// burn-flex, copied to align it) for each: the `[N, K]` product, the responsibilities,
    /// and `rᵀ x`, which reads the `[N, B]` periodograms from memory a second time (9.4 MB for
    /// a `bsds16` batch, more than L2).
    pub(crate) fn e_step_host(
        &self,
        x: &Tensor<2>,
    ) -> Result<Option<BatchTerms<ConvStats>>, ModelError> {
        #[cfg(feature = "flex")]
        {
            let Ok(flex) = x.clone().try_into_primitive::<burn::backend::Flex>() else {
                return Ok(None);
            };
            let Some(rows) = flex.as_slice::<f32>() else {
                return Ok(None);
            };
            self.fused_e_step(rows, &x.device()).map(Some)
        }
        #[cfg(not(feature = "flex"))]
        {
            let _ = x;
            Ok(None)
        }
    }

    /// The E-step of host rows `x` (`[N, B]` periodograms, row-major), fused: per task of
    /// [`CONV_HOST_ROWS`] rows,
    ///
    /// ```text
    /// a[n,c] = (x A)[n,c] + c_c + log π_c      (faer product, [n, B]·[B, K])
    /// r[n,c], log p(x_n)                        (host::responsibilities_in_place, in a's buffer)
    /// N_c += Σ_n r[n,c];  T_c(k_b) += (rᵀ x)[c,b]   (faer product, [K, n]·[n, B])
    /// ```
    ///
    /// with `A`, `c` of [`stationary_affine`](crate::stationary_affine). The statistics land on
    /// `device`.
    pub fn fused_e_step(
        &self,
        x: &[f32],
        device: &Device,
    ) -> Result<BatchTerms<ConvStats>, ModelError> {
        use rayon::prelude::*;
        let (k, b) = (self.n_components(), self.layout.n_bins());
        // The values were checked when they were encoded; a NaN would reach the objective.
        if !x.len().is_multiple_of(b) {
            return Err(ModelError::InputShape { expected: b, got: x.len() });
        }
        let (a, constant) = self.affine_host()?;
        let tasks: Vec<TaskSums> = x
            .par_chunks(CONV_HOST_ROWS * b)
            .map(|rows| task_sums(rows, &a, &constant, k, b))
            .collect();
        let mut objective = 0.0;
        let mut resp_sum = vec![0.0; k];
        let mut power_sum = vec![0.0; k * b];
        for t in tasks {
            objective += t.objective;
            resp_sum.iter_mut().zip(&t.resp_sum).for_each(|(s, v)| *s += v);
            power_sum.iter_mut().zip(&t.power_sum).for_each(|(s, &v)| *s += f64::from(v));
        }
        let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
        Ok(BatchTerms {
            objective: Tensor::from_data(TensorData::new(vec![objective as f32], [1]), device),
            log_likelihood: None,
            stats: ConvStats {
                resp_sum: Tensor::from_data(TensorData::new(f32s(&resp_sum), [k]), device),
                power_sum: Tensor::from_data(TensorData::new(f32s(&power_sum), [k, b]), device),
            },
        })
    }

    /// `A` (`[B, K]` row-major) and `c_c + log π_c` (`[K]`) of the layer's
    /// [`stationary_affine`](crate::stationary_affine), read back (the same numbers as
    /// [`weighted_log_prob`](Mixture::weighted_log_prob)'s).
    fn affine_host(&self) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        let (a, constant) = self.affine();
        let constant = constant.squeeze_dim::<1>(0) + self.log_weights.val();
        Ok((host_vec(a.try_into_data())?, host_vec(constant.try_into_data())?))
    }
}

/// One task of [`ConvGmm::fused_e_step`]: rows `x` (`[n, B]`), the affine map `a` (`[B, K]`)
/// and `constant` (`[K]`).
fn task_sums(x: &[f32], a: &[f32], constant: &[f32], k: usize, b: usize) -> TaskSums {
    let n = x.len() / b;
    let x = MatRef::from_row_major_slice(x, n, b);
    let mut weighted = constant.repeat(n);
    matmul(
        MatMut::from_row_major_slice_mut(&mut weighted, n, k),
        Accum::Add,
        x,
        MatRef::from_row_major_slice(a, b, k),
        1.0f32,
        Par::Seq,
    );
    crate::host::clean_upper_state();
    let log_norm = crate::host::responsibilities_in_place(&mut weighted, k);
    let resp = weighted;
    let mut resp_sum = vec![0f64; k];
    for row in resp.chunks_exact(k) {
        resp_sum.iter_mut().zip(row).for_each(|(s, &r)| *s += f64::from(r));
    }
    let mut power_sum = vec![0f32; k * b];
    matmul(
        MatMut::from_row_major_slice_mut(&mut power_sum, k, b),
        Accum::Replace,
        MatRef::from_row_major_slice(&resp, n, k).transpose(),
        x,
        1.0f32,
        Par::Seq,
    );
    crate::host::clean_upper_state();
    TaskSums { objective: log_norm.iter().map(|&v| f64::from(v)).sum(), resp_sum, power_sum }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readback::to_host_f64;
    use crate::{ConvGmmConfig, SpectralLayout, default_e_step_batch, device_from_name};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A layer with random spectra and weights for 8×8 patches, and the periodograms of `n`
    /// random patches.
    fn case(n: usize) -> (ConvGmm, Vec<f32>, Device) {
        let device = device_from_name("cpu").unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let layout = SpectralLayout::new(8, true);
        let k = 5;
        let spectrum: Vec<f64> =
            (0..k * layout.n_bins()).map(|_| rng.random_range(0.01..2.0)).collect();
        let weights: Vec<f64> = (0..k).map(|_| rng.random_range(0.1..1.0)).collect();
        let total: f64 = weights.iter().sum();
        let weights: Vec<f64> = weights.iter().map(|w| w / total).collect();
        let config = ConvGmmConfig { n_components: k, exclude_dc: true, spectrum_floor: 1e-6 };
        let layer = ConvGmm::from_parts(layout.clone(), &spectrum, &weights, &config, &device);
        let images: Vec<f32> = (0..n * 64).map(|_| rng.random_range(-1.0..1.0)).collect();
        (layer, layout.power(&images), device)
    }

    fn host(t: Tensor<1>) -> Vec<f64> {
        to_host_f64(t).unwrap()
    }

    #[test]
    fn fused_e_step_matches_burn_operations_and_any_thread_count() {
        // Three full tasks and a short one.
        let n = 3 * CONV_HOST_ROWS + 77;
        let (layer, rows, device) = case(n);
        let b = layer.layout.n_bins();
        let x = Tensor::<2>::from_data(TensorData::new(rows.clone(), [n, b]), &device);
        let burn = default_e_step_batch(&layer, &x, 1.0).unwrap();
        let fused = layer.fused_e_step(&rows, &device).unwrap();
        let (o_burn, o_fused) = (host(burn.objective)[0], host(fused.objective.clone())[0]);
        assert!((o_burn - o_fused).abs() <= 1e-5 * o_burn.abs(), "objective {o_fused} vs {o_burn}");
        let close = |got: Vec<f64>, want: Vec<f64>, what: &str| {
            let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() <= 1e-5 * scale, "{what}[{i}]: {g} vs {w}");
            }
        };
        close(host(fused.stats.resp_sum.clone()), host(burn.stats.resp_sum.clone()), "N_c");
        let t = |s: &ConvStats| to_host_f64(s.power_sum.clone()).unwrap();
        close(t(&fused.stats), t(&burn.stats), "T_c");
        assert!((host(fused.stats.resp_sum.clone()).iter().sum::<f64>() - n as f64).abs() < 1e-2);

        // The task split is fixed: the same bits on one thread as on two, and through the
        // flex tensor's own buffer.
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let single = one.install(|| layer.fused_e_step(&rows, &device).unwrap());
        assert_eq!(host(single.objective), host(fused.objective.clone()));
        assert_eq!(t(&single.stats), t(&fused.stats));
        if cfg!(feature = "flex") && crate::is_cpu(&device) {
            let through = layer.e_step_host(&x).unwrap().expect("a flex batch is read in place");
            assert_eq!(host(through.objective), host(fused.objective));
            assert_eq!(t(&through.stats), t(&fused.stats));
        }
    }

    #[test]
    fn rows_of_the_wrong_width_are_refused() {
        let (layer, mut rows, device) = case(3);
        rows.pop();
        assert!(layer.fused_e_step(&rows, &device).is_err());
    }
}
