//! The full GMM's [`Mixture`] hooks: encode, log-densities, statistics, M-step, pruning,
//! initialisation.

use super::blocks::{GPU_GROUP_BUDGET, GROUP_BUDGET, triangle_blocks};
use super::config::FullGmmConfig;
use super::covariance::CovarianceType;
use super::impute::{check_missing_rows, mean_filled};
use super::missing::has_missing;
use super::model::FullGmm;
use super::moments::FullStats;
use super::recentre::recentre_flat;
use crate::encoded::Encoded;
use crate::host::renormalised_log_weights;
use crate::mixture::{
    BatchTerms, Init, MStepReport, Mixture, SufficientStats, complete_stats, default_e_step_batch,
    init_random_responsibilities,
};
use crate::readback::{select_rows, to_host_f64};
use crate::{ModelError, is_cpu, kmeans};
use burn::module::Param;
use burn::tensor::{Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

/// Numbers (16 MB of f32) of streamed rows that k-means++ seeds from at most: above it, a
/// seeded uniform sample of the rows ([`Encoded::seeding_rows`]); Lloyd's iterations and the
/// first M-step still pass over every row.
const SEEDING_VALUES: usize = 1 << 22;

impl Mixture for FullGmm {
    type Stats = FullStats;

    fn n_components(&self) -> usize {
        self.log_weights.val().dims()[0]
    }

    fn encoded_width(&self) -> usize {
        self.dim()
    }

    /// Rows are used as they are: NaN marks a missing value ([`super::missing`]); any other
    /// value must be finite and every row must observe one ([`check_missing_rows`]).
    fn encode(&self, samples: &[f32]) -> Result<Vec<f32>, ModelError> {
        check_missing_rows(samples, self.dim())?;
        Ok(samples.to_vec())
    }

    fn encode_checked(&self, samples: &[f32]) -> Result<Option<Vec<f32>>, ModelError> {
        check_missing_rows(samples, self.dim())?;
        Ok(None)
    }

    /// `-(D/2) log 2π + Σ_i log U_c[i,i] - ½ ‖(x - μ_c)ᵀ U_c‖²`. The Mahalanobis distances come
    /// from `FullGmm::mahalanobis_grouped` (G components per product) on a GPU; on a CPU from
    /// `FullGmm::mahalanobis_host` when `U_c` is one triangle block wide (D ≤ 128), else from
    /// `FullGmm::mahalanobis_triangular` (which skips the zero half of each `U_c`).
    /// The diagonal types: `FullGmm::mahalanobis_diagonal`, no matrix product; the tied type on
    /// a CPU: `FullGmm::mahalanobis_tied`, one product for all components. A batch with NaN:
    /// each row's marginal density of what it observes (`FullGmm::marginal_log_prob`).
    fn log_prob(&self, x: Tensor<2>) -> Tensor<2> {
        let [_, d] = x.dims();
        let diagonal = self.config.covariance_type.is_diagonal();
        // The diagonal and tied host forms meet a NaN themselves (`None`): complete rows need no
        // scan first.
        let complete = match self.config.covariance_type {
            _ if !is_cpu(&x.device()) => None,
            CovarianceType::Diag | CovarianceType::Spherical => {
                self.mahalanobis_diagonal(x.clone()).ok().flatten()
            }
            CovarianceType::Tied => self.mahalanobis_tied(x.clone()).ok().flatten(),
            CovarianceType::Full => None,
        };
        if complete.is_none() && has_missing(&x) {
            // A read-back cannot fail on a CPU device; were it to, the NaN rows stay NaN and
            // the EM driver reports them.
            if let Ok(lp) = self.marginal_log_prob(x.clone()) {
                return lp;
            }
        }
        let maha = if let Some(maha) = complete {
            maha
        } else if diagonal {
            // NaN rows whose marginal failed, or a read-back that failed: Burn's operations.
            self.mahalanobis_diagonal_on_device(x)
        } else if !is_cpu(&x.device()) {
            self.mahalanobis_grouped(x, GPU_GROUP_BUDGET)
        } else if triangle_blocks(d).len() == 1 {
            // A read-back cannot fail on a CPU device; were it to, Burn's operations stand in.
            self.mahalanobis_host(x.clone())
                .unwrap_or_else(|_| self.mahalanobis_grouped(x, GROUP_BUDGET))
        } else {
            self.mahalanobis_triangular(x)
        };
        let log_2pi = (2.0 * std::f64::consts::PI).ln();
        maha * (-0.5) + (self.half_log_det() - 0.5 * d as f64 * log_2pi)
    }

    /// `K·D` means (none with `zero_mean`), the covariance type's free entries
    /// ([`CovarianceType::n_covariance_parameters`]: `K·D(D+1)/2` for `full`), `K − 1` weights.
    fn n_parameters(&self) -> usize {
        let (k, d) = (self.n_components(), self.dim());
        let means = if self.config.zero_mean { 0 } else { k * d };
        means + self.config.covariance_type.n_covariance_parameters(k, d) + k - 1
    }

    fn log_weights(&self) -> Tensor<1> {
        self.log_weights.val()
    }

    fn zero_stats(&self) -> FullStats {
        FullStats::zeros(self.n_components())
    }

    /// `[N_c (K), present_c (K), then per component Σ r (x − m) (D) and Σ r (x − m)(x − m)ᵀ
    /// (D·D; its diagonal, D, for the diagonal types)]`; `present_c` is 1 where this process's
    /// rows reached component c (summed: how many processes' did), else its moments are zeros.
    fn stats_to_flat(&self, stats: &FullStats) -> Result<Vec<f64>, ModelError> {
        let (k, d, s) = (self.n_components(), self.dim(), self.second_len());
        let host = stats.clone().into_host()?;
        let mut flat: Vec<f64> = host.iter().map(|(nc, _)| *nc).collect();
        flat.extend(host.iter().map(|(_, m)| if m.is_some() { 1.0 } else { 0.0 }));
        for (_, m) in host {
            match m {
                Some((first, second)) => {
                    flat.extend(first);
                    flat.extend(second);
                }
                None => flat.extend(std::iter::repeat_n(0.0, d + s)),
            }
        }
        debug_assert_eq!(flat.len(), 2 * k + k * (d + s));
        Ok(flat)
    }

    fn stats_from_flat(&self, flat: &[f64]) -> Result<FullStats, ModelError> {
        let (k, d, s) = (self.n_components(), self.dim(), self.second_len());
        let expected = 2 * k + k * (d + s);
        if flat.len() != expected {
            return Err(ModelError::InputShape { expected, got: flat.len() });
        }
        if self.config.covariance_type.is_diagonal() {
            let at = |c: usize| 2 * k + c * (d + s);
            return Ok(FullStats::Diagonal {
                resp_sum: flat[..k].to_vec(),
                first: (0..k).flat_map(|c| flat[at(c)..at(c) + d].to_vec()).collect(),
                second: (0..k).flat_map(|c| flat[at(c) + d..at(c) + d + s].to_vec()).collect(),
            });
        }
        let device = self.device();
        let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
        let moments = (0..k)
            .map(|c| {
                let at = 2 * k + c * (d + d * d);
                (flat[k + c] > 0.0).then(|| {
                    let first = TensorData::new(f32s(&flat[at..at + d]), [d]);
                    let second = TensorData::new(f32s(&flat[at + d..at + d + d * d]), [d, d]);
                    (Tensor::from_data(first, &device), Tensor::from_data(second, &device))
                })
            })
            .collect();
        Ok(FullStats::Rows { resp_sum: flat[..k].to_vec(), moments })
    }

    /// [`FullGmm::stats_by_rows`] on a CPU (sparse gathers), [`FullGmm::stats_batched`] on a
    /// GPU (batched products, nothing read back before the M-step); the diagonal types'
    /// `FullGmm::diagonal_stats` on either. A batch with NaN: the expected statistics given
    /// what each row observes (`FullGmm::missing_stats`).
    fn batch_stats(&self, x: Tensor<2>, resp: Tensor<2>) -> Result<FullStats, ModelError> {
        let diagonal = self.config.covariance_type.is_diagonal();
        if diagonal && is_cpu(&x.device()) {
            // The diagonal host sums meet a NaN themselves (`None`): no scan for one first.
            match self.diagonal_stats(x.clone(), resp.clone())? {
                Some(stats) => Ok(stats),
                None => self.missing_stats(x, resp),
            }
        } else if has_missing(&x) {
            self.missing_stats(x, resp)
        } else if diagonal {
            self.diagonal_stats_on_device(x, resp)
        } else if is_cpu(&x.device()) {
            self.stats_by_rows(x, resp)
        } else {
            Ok(self.stats_batched(x, resp))
        }
    }

    /// On a CPU at β = 1, one pass over the rows for their densities, responsibilities and
    /// statistics: the diagonal types' `FullGmm::fused_diagonal_batch` (the same figures as
    /// two), and a batch with NaN's `FullGmm::fused_missing_batch` (each row conditioned once);
    /// otherwise [`default_e_step_batch`].
    fn e_step_batch(&self, x: &Tensor<2>, beta: f64) -> Result<BatchTerms<FullStats>, ModelError> {
        if beta == 1.0 && is_cpu(&x.device()) {
            if self.config.covariance_type.is_diagonal() {
                if let Some(terms) = self.fused_diagonal_batch(x)? {
                    return Ok(terms);
                }
            }
            if has_missing(x) {
                return self.fused_missing_batch(x);
            }
        }
        default_e_step_batch(self, x, beta)
    }

    /// The closed-form M-step of the covariance type ([`FullGmm::closed_form_m_step`]).
    /// Shifts the moments from `previous`'s means to this layer's (zero-mean layers: none).
    fn recentre_flat(&self, previous: &Self, flat: &mut [f64]) -> Result<(), ModelError> {
        if !self.config.zero_mean {
            let (old, new) = (previous.means_host()?.concat(), self.means_host()?.concat());
            let diagonal = self.config.covariance_type.is_diagonal();
            recentre_flat(&old, &new, flat, self.n_components(), diagonal);
        }
        Ok(())
    }

    fn m_step(self, stats: FullStats, n: usize) -> Result<(Self, MStepReport), ModelError> {
        self.closed_form_m_step(stats, n)
    }

    fn prune(self, keep: &[usize]) -> Result<Self, ModelError> {
        let log_w = renormalised_log_weights(&to_host_f64(self.log_weights.val())?, keep);
        let device = self.device();
        let lw: Vec<f32> = log_w.iter().map(|&v| v as f32).collect();
        Ok(Self {
            means: Param::from_tensor(select_rows(self.means.val(), keep)),
            precision_cholesky: match self.config.covariance_type {
                CovarianceType::Tied => self.precision_cholesky,
                _ => Param::from_tensor(select_rows(self.precision_cholesky.val(), keep)),
            },
            log_weights: Param::from_data(TensorData::new(lw, [keep.len()]), &device),
            config: FullGmmConfig { n_components: keep.len(), ..self.config },
        })
    }

    /// [`Init::KmeansPlusPlus`]: seeded k-means++ centres, every row assigned to its nearest
    /// centre, then one M-step; [`Init::Kmeans`]: the same after Lloyd's iterations from
    /// those seeds ([`kmeans::lloyd`]); [`Init::Samples`]: K distinct random rows as centres, the same way;
    /// [`Init::RandomResponsibilities`]: the shared default. Sample weights enter the k-means
    /// seeding, Lloyd's means and the M-step (the random rows of [`Init::Samples`] are drawn
    /// without them, as scikit-learn's `random_from_data`). Rows read from disk seed k-means++
    /// from a sample of at most [`SEEDING_VALUES`] numbers. Data with missing values (NaN) are
    /// initialised with each NaN replaced by its column's observed mean (`mean_filled`).
    fn initialize(
        self,
        data: &Encoded,
        init: Init,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self, ModelError> {
        if let Some(filled) = mean_filled(data)? {
            return self.initialize(&filled, init, rng);
        }
        let k = self.n_components();
        if data.total() < k {
            return Err(ModelError::InvalidConfig {
                field: "n_components",
                reason: format!("{k} components need at least {k} samples, got {}", data.total()),
            });
        }
        let centres = match init {
            Init::RandomResponsibilities => {
                // Moments are taken about the current means: start them at the data's mean
                // (f64 sums over the batches, completed over the shards).
                let mut sums = vec![0f64; data.width];
                for b in 0..data.n_batches() {
                    let batch = to_host_f64(data.batch(b)?.sum_dim(0))?;
                    sums.iter_mut().zip(batch).for_each(|(s, v)| *s += v);
                }
                data.sum_shards(&mut sums);
                let mean: Vec<f32> =
                    sums.iter().map(|s| (s / data.total() as f64) as f32).collect();
                let layer = self.with_means(&mean.repeat(k));
                return init_random_responsibilities(layer, data, rng);
            }
            Init::Samples => {
                let picks = rand::seq::index::sample(rng, data.total(), k).into_vec();
                data.gather_rows(&picks)?
            }
            Init::KmeansPlusPlus | Init::Kmeans => {
                let (rows, weights, part) = data.seeding_rows(SEEDING_VALUES, k, rng)?;
                let seeds =
                    kmeans::kmeans_plus_plus(&rows, weights.as_deref(), data.width, k, part, rng);
                match init {
                    Init::Kmeans => kmeans::lloyd(data, seeds, k)?.centres,
                    _ => seeds,
                }
            }
        };
        // Moments are taken about the current means: start them at the centres.
        let layer = self.with_means(&centres);
        let batch = |b: usize, x: &Tensor<2>| {
            let resp = kmeans::nearest_centre_responsibilities(x, &centres, k)?;
            layer.batch_stats(x.clone(), data.weigh(b, resp))
        };
        let stats = data.fold_batches(layer.zero_stats(), batch, |acc, s| Ok(acc.merge(s)))?;
        let stats = complete_stats(&layer, data, stats)?;
        Ok(layer.m_step(stats, data.total())?.0)
    }
}
