//! The full GMM's [`Mixture`] hooks: encode, log-densities, statistics, M-step, pruning,
//! initialisation.

use super::blocks::{GPU_GROUP_BUDGET, GROUP_BUDGET, triangle_blocks};
use super::config::{EmptyPolicy, FullGmmConfig};
use super::model::FullGmm;
use super::moments::FullStats;
use crate::encoded::Encoded;
use crate::host::renormalised_log_weights;
use crate::mixture::{
    Init, MStepReport, Mixture, SufficientStats, complete_stats, init_random_responsibilities,
};
use crate::readback::{check_rows, select_rows, to_host_f64};
use crate::{ModelError, is_cpu, kmeans};
use burn::module::Param;
use burn::tensor::{Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

impl Mixture for FullGmm {
    type Stats = FullStats;

    fn n_components(&self) -> usize {
        self.log_weights.val().dims()[0]
    }

    fn encoded_width(&self) -> usize {
        self.dim()
    }

    /// Rows are used as they are (after a finiteness check).
    fn encode(&self, samples: &[f32]) -> Result<Vec<f32>, ModelError> {
        check_rows(samples, self.dim(), "value")?;
        Ok(samples.to_vec())
    }

    /// `-(D/2) log 2π + Σ_i log U_c[i,i] - ½ ‖(x - μ_c)ᵀ U_c‖²`. The Mahalanobis distances come
    /// from `FullGmm::mahalanobis_grouped` (G components per product) on a GPU; on a CPU from
    /// `FullGmm::mahalanobis_host` when `U_c` is one triangle block wide (D ≤ 128), else from
    /// `FullGmm::mahalanobis_triangular` (which skips the zero half of each `U_c`).
    fn log_prob(&self, x: Tensor<2>) -> Tensor<2> {
        let [_, d] = x.dims();
        let maha = if !is_cpu(&x.device()) {
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

    /// `K·D` means (none with `zero_mean`), `K·D(D+1)/2` covariance entries, `K − 1` weights.
    fn n_parameters(&self) -> usize {
        let (k, d) = (self.n_components(), self.dim());
        let means = if self.config.zero_mean { 0 } else { k * d };
        means + k * d * (d + 1) / 2 + k - 1
    }

    fn log_weights(&self) -> Tensor<1> {
        self.log_weights.val()
    }

    fn zero_stats(&self) -> FullStats {
        FullStats::zeros(self.n_components())
    }

    /// `[N_c (K), present_c (K), then per component Σ r (x − m) (D) and Σ r (x − m)(x − m)ᵀ
    /// (D·D)]`; `present_c` is 1 where this process's rows reached component c (summed: how
    /// many processes' did), else its moments are zeros.
    fn stats_to_flat(&self, stats: &FullStats) -> Result<Vec<f64>, ModelError> {
        let (k, d) = (self.n_components(), self.dim());
        let host = stats.clone().into_host()?;
        let mut flat: Vec<f64> = host.iter().map(|(nc, _)| *nc).collect();
        flat.extend(host.iter().map(|(_, m)| if m.is_some() { 1.0 } else { 0.0 }));
        for (_, m) in host {
            match m {
                Some((first, second)) => {
                    flat.extend(first);
                    flat.extend(second);
                }
                None => flat.extend(std::iter::repeat_n(0.0, d + d * d)),
            }
        }
        debug_assert_eq!(flat.len(), 2 * k + k * (d + d * d));
        Ok(flat)
    }

    fn stats_from_flat(&self, flat: &[f64]) -> Result<FullStats, ModelError> {
        let (k, d) = (self.n_components(), self.dim());
        let expected = 2 * k + k * (d + d * d);
        if flat.len() != expected {
            return Err(ModelError::InputShape { expected, got: flat.len() });
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
    /// GPU (batched products, nothing read back before the M-step).
    fn batch_stats(&self, x: Tensor<2>, resp: Tensor<2>) -> Result<FullStats, ModelError> {
        if is_cpu(&x.device()) {
            self.stats_by_rows(x, resp)
        } else {
            Ok(self.stats_batched(x, resp))
        }
    }

    /// With `d_c = Σ r (x - m_c) / N_c`: `μ_c = m_c + d_c`,
    /// `Σ_c = Σ r (x - m_c)(x - m_c)ᵀ / N_c - d_c d_cᵀ + reg_covar·I`, `π_c = N_c / N`, then `U_c`
    /// from the Cholesky factor of `Σ_c` (host, f64). `self` must be the layer whose
    /// [`batch_stats`](Mixture::batch_stats) made `stats` (its means are the shifts).
    fn m_step(self, stats: FullStats, n: usize) -> Result<(Self, MStepReport), ModelError> {
        use rayon::prelude::*;
        let d = self.dim();
        let mut report = MStepReport::default();
        let old_means = to_host_f64(self.means.val())?;
        let mut old_u = None;
        // The statistics read back, then each component's covariance and Cholesky factor in
        // parallel (one component per task: the same numbers on any number of threads).
        let mut live = Vec::new();
        let mut kept = Vec::new();
        for (c, (nc, moments)) in stats.into_host()?.into_iter().enumerate() {
            match moments.filter(|_| nc > 1e-10 * n as f64) {
                Some((first, second)) => live.push((c, nc, first, second)),
                None => {
                    report.emptied.push(c);
                    if self.config.empty_components == EmptyPolicy::Keep {
                        let ou = old_u.get_or_insert(to_host_f64(self.precision_cholesky.val())?);
                        let u = ou[c * d * d..(c + 1) * d * d].to_vec();
                        kept.push((c, old_means[c * d..(c + 1) * d].to_vec(), u, nc / n as f64));
                    }
                }
            }
        }
        let estimated: Vec<(usize, Vec<f64>, Vec<f64>, f64)> = live
            .into_par_iter()
            .map(|(c, nc, first, second)| {
                let shift = &old_means[c * d..(c + 1) * d];
                let (mu, u) = self.component_m_step(c, nc, &first, &second, shift)?;
                Ok((c, mu, u, nc / n as f64))
            })
            .collect::<Vec<Result<_, ModelError>>>()
            .into_iter()
            .collect::<Result<_, _>>()?; // the first failing component, as sequentially
        let mut components: Vec<_> = estimated.into_iter().chain(kept).collect();
        components.sort_by_key(|e| e.0);
        if components.iter().all(|e| report.emptied.contains(&e.0)) {
            return Err(ModelError::NonFinite {
                what: "mixture: every component emptied".into(),
                hint: "check the data, or use fewer components".into(),
            });
        }
        let total: f64 = components.iter().map(|e| e.3).sum();
        let means: Vec<f64> = components.iter().flat_map(|e| e.1.iter().copied()).collect();
        let precs: Vec<f64> = components.iter().flat_map(|e| e.2.iter().copied()).collect();
        let weights: Vec<f64> = components.iter().map(|e| e.3 / total).collect();
        let layer = Self::from_parts(&means, &precs, &weights, &self.config, &self.device());
        Ok((layer, report))
    }

    fn prune(self, keep: &[usize]) -> Result<Self, ModelError> {
        let log_w = renormalised_log_weights(&to_host_f64(self.log_weights.val())?, keep);
        let device = self.device();
        let lw: Vec<f32> = log_w.iter().map(|&v| v as f32).collect();
        Ok(Self {
            means: Param::from_tensor(select_rows(self.means.val(), keep)),
            precision_cholesky: Param::from_tensor(select_rows(
                self.precision_cholesky.val(),
                keep,
            )),
            log_weights: Param::from_data(TensorData::new(lw, [keep.len()]), &device),
            config: FullGmmConfig { n_components: keep.len(), ..self.config },
        })
    }

    /// [`Init::KmeansPlusPlus`]: seeded k-means++ centres, every row assigned to its nearest
    /// centre, then one M-step; [`Init::Kmeans`]: the same after Lloyd's iterations from
    /// those seeds ([`kmeans::lloyd`]); [`Init::Samples`]: K distinct random rows as centres, the same way;
    /// [`Init::RandomResponsibilities`]: the shared default.
    fn initialize(
        self,
        data: &Encoded,
        init: Init,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self, ModelError> {
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
                for x in &data.batches {
                    let batch = to_host_f64(x.clone().sum_dim(0))?;
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
            Init::KmeansPlusPlus => {
                kmeans::kmeans_plus_plus(&data.host_rows()?, data.width, k, data.part, rng)
            }
            Init::Kmeans => {
                let rows = data.host_rows()?;
                let seeds = kmeans::kmeans_plus_plus(&rows, data.width, k, data.part, rng);
                kmeans::lloyd(data, seeds, k)?.centres
            }
        };
        // Moments are taken about the current means: start them at the centres.
        let layer = self.with_means(&centres);
        let batch = |_: usize, x: &Tensor<2>| {
            layer.batch_stats(x.clone(), kmeans::nearest_centre_responsibilities(x, &centres, k)?)
        };
        let stats = data.fold_batches(layer.zero_stats(), batch, |acc, s| Ok(acc.merge(s)))?;
        let stats = complete_stats(&layer, data, stats)?;
        Ok(layer.m_step(stats, data.total())?.0)
    }
}
