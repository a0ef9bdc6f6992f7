//! The hooks every mixture family implements (scikit-learn's `BaseMixture`), the E-step's
//! default forms and its responsibilities.

use crate::ModelError;
use crate::encoded::Encoded;
use crate::host::NEGLIGIBLE_LOG_RATIO;
use crate::processes::Part;
use crate::readback::{readback_error, to_host_f64};
use burn::module::Module;
use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// How a layer's parameters are first set, before EM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// Seeded: K distinct random samples, each blended with the whole data's statistics.
    Samples,
    /// Seeded: random responsibilities (uniform rows, normalised), then one M-step.
    RandomResponsibilities,
    /// Seeded k-means++ centres (Arthur & Vassilvitskii 2007), each sample assigned to the
    /// nearest, then one M-step (full-covariance layers). `init = "kmeans++"`.
    #[serde(rename = "kmeans++")]
    KmeansPlusPlus,
    /// Lloyd's k-means from the k-means++ seeds, to scikit-learn's tolerance, then each sample
    /// assigned to its nearest centre and one M-step: scikit-learn's `init_params="kmeans"`
    /// (full-covariance layers).
    Kmeans,
}

/// What an M-step did besides updating parameters, for the log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MStepReport {
    /// Components whose responsibility mass was (numerically) zero; they kept their previous
    /// parameters and carry a vanishing weight.
    pub emptied: Vec<usize>,
    /// For an M-step that climbs its objective by steps (the deep GMM's Adam steps) rather than
    /// solving it in closed form: how far the climb got.
    pub ascent: Option<Ascent>,
}

/// How far an iterative M-step climbed its objective Q (the expected complete-data
/// log-likelihood per sample, nats) from the parameters it started at. Q's gain is the EM
/// objective's gain that the M-step bought: a `second_half_gain` that is not small against
/// `gain` says the climb was cut short, and more steps would raise the objective further.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ascent {
    /// Steps taken.
    pub steps: usize,
    /// `Q(best iterate) − Q(start)`, nats per sample.
    pub gain: f64,
    /// The part of `gain` won in the last half of the steps.
    pub second_half_gain: f64,
    /// Steps that lowered Q and were undone, the step size halved each time.
    pub halvings: usize,
    /// Wall time of the climb, seconds.
    pub seconds: f64,
}

/// Sufficient statistics: summable over batches (and devices).
pub trait SufficientStats: Sized {
    /// Adds another batch's statistics.
    fn merge(self, other: Self) -> Self;
}

/// The hooks of one mixture family. The EM driver owns the loop; a family only says how to
/// score, what to accumulate and how to re-estimate (scikit-learn's `_estimate_log_prob`,
/// `_estimate_log_weights`, `_m_step`, `_initialize`). A layer is shared by the threads that
/// score batches at once on a CPU device (hence `Sync`).
pub trait Mixture: Module + Sized + Sync {
    /// What one E-step pass accumulates.
    type Stats: SufficientStats + Send;

    /// Number of components K.
    fn n_components(&self) -> usize;

    /// Width of one encoded row.
    fn encoded_width(&self) -> usize;

    /// Encodes raw samples (`[N, D]`, row-major, host) into the rows the E-step consumes.
    /// Done once per dataset; it depends on the layer's shape only, not on its parameters.
    fn encode(&self, samples: &[f32]) -> Result<Vec<f32>, ModelError>;

    /// [`encode`](Self::encode) without the copy where a family takes raw samples as they
    /// are: `None` when `samples` passed its checks and are the encoded rows themselves (the
    /// full and deep GMMs: a copy of MNIST's 47 million values spared), else the encoded rows.
    fn encode_checked(&self, samples: &[f32]) -> Result<Option<Vec<f32>>, ModelError> {
        self.encode(samples).map(Some)
    }

    /// `log N(x_n | c)` for every row and component.
    ///
    /// # Shapes
    /// - `x`: `[N, F]` encoded rows; result: `[N, K]`.
    fn log_prob(&self, x: Tensor<2>) -> Tensor<2>;

    /// `log π_c`, `[K]`.
    fn log_weights(&self) -> Tensor<1>;

    /// Free parameters of the density, the `p` of BIC `= −2 log L + p log N` and
    /// AIC `= −2 log L + 2p`: the K − 1 free weights plus each family's component parameters.
    fn n_parameters(&self) -> usize;

    /// Statistics of nothing (the start of an E-step pass).
    fn zero_stats(&self) -> Self::Stats;

    /// Statistics of one batch given its responsibilities `r[n, c]` (`[N, K]`); fails only
    /// where a device read-back fails.
    fn batch_stats(&self, x: Tensor<2>, resp: Tensor<2>) -> Result<Self::Stats, ModelError>;

    /// The statistics as one flat f64 buffer, to be summed element-wise with other
    /// processes' (`MPI_Allreduce`); [`stats_from_flat`](Self::stats_from_flat) reads it back.
    fn stats_to_flat(&self, stats: &Self::Stats) -> Result<Vec<f64>, ModelError>;

    /// Statistics from a buffer laid out by [`stats_to_flat`](Self::stats_to_flat) (or the
    /// element-wise sum of several).
    fn stats_from_flat(&self, flat: &[f64]) -> Result<Self::Stats, ModelError>;

    /// Moves statistics in the flat layout ([`stats_to_flat`](Self::stats_to_flat)), taken
    /// about `previous`'s reference points, to this layer's: what stepwise EM does to its blend
    /// after every M-step. The default leaves them: statistics that do not depend on the
    /// parameters (the convolutional GMM's periodograms). Families whose moments are about each
    /// component's current mean shift them.
    fn recentre_flat(&self, previous: &Self, flat: &mut [f64]) -> Result<(), ModelError> {
        let _ = (previous, flat);
        Ok(())
    }

    /// Re-estimates the parameters from the statistics of the whole data.
    fn m_step(self, stats: Self::Stats, n: usize) -> Result<(Self, MStepReport), ModelError>;

    /// Keeps only the components in `keep` (in that order), with their weights renormalised
    /// to sum to 1.
    fn prune(self, keep: &[usize]) -> Result<Self, ModelError>;

    /// Sets the starting parameters. The default handles
    /// [`Init::RandomResponsibilities`]; families override it for [`Init::Samples`].
    fn initialize(
        self,
        data: &Encoded,
        init: Init,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self, ModelError> {
        let _ = init;
        init_random_responsibilities(self, data, rng)
    }

    /// The mixing weights `π_c` on the host, from the log-weights ([`crate::host::softmax`]).
    fn weights(&self) -> Result<Vec<f64>, ModelError> {
        Ok(crate::host::softmax(&to_host_f64(self.log_weights())?))
    }

    /// `log π_c + log N(x_n | c)`, `[N, K]`.
    fn weighted_log_prob(&self, x: Tensor<2>) -> Tensor<2> {
        self.log_prob(x) + self.log_weights().unsqueeze_dim(0)
    }

    /// `log p(x_n) = logsumexp_c (log π_c + log N(x_n | c))`, `[N]`.
    fn score_samples(&self, x: Tensor<2>) -> Tensor<1> {
        log_sum_exp(self.weighted_log_prob(x)).squeeze_dim(1)
    }

    /// One batch's E-step at inverse temperature β: the responsibilities and what each row
    /// adds to EM's objective. The default ([`default_e_step_rows`]) is the posterior over
    /// every component; a family may assign rows otherwise (the deep GMM's hard E-step).
    fn e_step_rows(&self, x: Tensor<2>, beta: f64) -> Result<EStepRows, ModelError> {
        default_e_step_rows(self, x, beta)
    }

    /// One batch's whole E-step, reduced: the sums of its rows' objective terms and its
    /// statistics, the responsibilities dropped. The default ([`default_e_step_batch`]) is
    /// [`e_step_rows`](Self::e_step_rows) then [`batch_stats`](Self::batch_stats); a family
    /// may fuse them (the convolutional GMM on a CPU, [`ConvGmm`](crate::ConvGmm)).
    fn e_step_batch(
        &self,
        x: &Tensor<2>,
        beta: f64,
    ) -> Result<BatchTerms<Self::Stats>, ModelError> {
        default_e_step_batch(self, x, beta)
    }
}

/// One batch's E-step, summed over its rows ([`Mixture::e_step_batch`]).
///
/// # Shapes
/// - `objective`, `log_likelihood`: `[1]`.
#[derive(Debug, Clone)]
pub struct BatchTerms<S> {
    /// `Σ_n` of [`EStepRows::objective`].
    pub objective: Tensor<1>,
    /// `Σ_n log p(x_n)` where it differs from `objective` (β ≠ 1), else `None`.
    pub log_likelihood: Option<Tensor<1>>,
    /// The batch's sufficient statistics.
    pub stats: S,
}

/// [`Mixture::e_step_rows`], its rows summed, and [`Mixture::batch_stats`] of its
/// responsibilities.
pub fn default_e_step_batch<M: Mixture>(
    layer: &M,
    x: &Tensor<2>,
    beta: f64,
) -> Result<BatchTerms<M::Stats>, ModelError> {
    summed_e_step(layer, x, None, beta)
}

/// [`default_e_step_batch`] with row weights `w` (`[N, 1]`, [`Encoded::batch_weights`]): each
/// row's objective and log-likelihood times its weight, and the statistics of the weighted
/// responsibilities `w_n r[n, c]`, whatever the family's own [`Mixture::e_step_batch`].
pub fn weighted_e_step_batch<M: Mixture>(
    layer: &M,
    x: &Tensor<2>,
    w: &Tensor<2>,
    beta: f64,
) -> Result<BatchTerms<M::Stats>, ModelError> {
    summed_e_step(layer, x, Some(w), beta)
}

/// [`Mixture::e_step_rows`], its rows summed (each times its weight, where given), and the
/// statistics of the (weighted) responsibilities.
fn summed_e_step<M: Mixture>(
    layer: &M,
    x: &Tensor<2>,
    w: Option<&Tensor<2>>,
    beta: f64,
) -> Result<BatchTerms<M::Stats>, ModelError> {
    let rows = layer.e_step_rows(x.clone(), beta)?;
    let weigh = |t: Tensor<2>| match w {
        Some(w) => t * w.clone(),
        None => t,
    };
    let sum = |t: Tensor<2>| weigh(t).sum_dim(0).squeeze_dim(0);
    Ok(BatchTerms {
        objective: sum(rows.objective),
        log_likelihood: rows.log_likelihood.map(sum),
        stats: layer.batch_stats(x.clone(), weigh(rows.resp))?,
    })
}

/// One batch's E-step terms.
///
/// # Shapes
/// - `resp`: `[N, K]`; `objective`, `log_likelihood`: `[N, 1]`.
#[derive(Debug, Clone)]
pub struct EStepRows {
    /// Responsibilities `r[n, c]`, rows summing to 1.
    pub resp: Tensor<2>,
    /// Each row's term of the objective EM raises, times β (`log Σ_c exp(β(log π_c + log
    /// N(x_n|c)))` for the posterior E-step).
    pub objective: Tensor<2>,
    /// `log p(x_n)` where it differs from `objective` (β ≠ 1), else `None`.
    pub log_likelihood: Option<Tensor<2>>,
}

/// The posterior E-step: `r[n,c] ∝ exp(β (log π_c + log N(x_n|c)))` ([`responsibilities`]).
pub fn default_e_step_rows<M: Mixture>(
    layer: &M,
    x: Tensor<2>,
    beta: f64,
) -> Result<EStepRows, ModelError> {
    let weighted = layer.weighted_log_prob(x);
    // At β = 1 the product is moved, not cloned: the CPU form normalises its own buffer.
    let (tempered, untempered) =
        if beta == 1.0 { (weighted, None) } else { (weighted.clone() * beta, Some(weighted)) };
    let (resp, objective) = responsibilities(tempered)?;
    Ok(EStepRows { resp, objective, log_likelihood: untempered.map(log_sum_exp) })
}

/// Row-wise `log Σ_c exp(a[n, c])`, computed stably around the row maximum.
///
/// # Shapes
/// - `a`: `[N, K]`; result: `[N, 1]`.
pub fn log_sum_exp(a: Tensor<2>) -> Tensor<2> {
    let max = a.clone().max_dim(1);
    (a - max.clone()).exp().sum_dim(1).log() + max
}

/// Responsibilities and log-normaliser of weighted log-probabilities, sharing one `exp`:
/// `r[n,c] = exp(a[n,c] - m_n) / Σ_c' exp(a[n,c'] - m_n)`, `log p(x_n) = m_n + log Σ_c' exp(a[n,c'] - m_n)`
/// with `m_n = max_c a[n,c]`.
///
/// Terms more than [`NEGLIGIBLE_LOG_RATIO`] = `ln 1e-30` nats below their row's maximum count
/// as 0: `exp(max(a - m, ln 1e-30)) - 1e-30` is exactly 0 for them, and leaves every term above
/// 1e-23 unchanged in f32. Otherwise their `exp` would be subnormal f32 numbers, which slow CPU
/// matrix products and `exp` by one to two orders of magnitude (microcode assists on x86),
/// while being far below f32 resolution of any sum they enter.
///
/// # Shapes
/// - `weighted`: `[N, K]`; result: (`[N, K]`, `[N, 1]`).
///
/// On a CPU device the rows are normalised on the host in one pass each
/// ([`crate::host::responsibilities_in_place`]); elsewhere by Burn operations.
pub fn responsibilities(weighted: Tensor<2>) -> Result<(Tensor<2>, Tensor<2>), ModelError> {
    let device = weighted.device();
    if !crate::is_cpu(&device) {
        return Ok(responsibilities_on_device(weighted));
    }
    let [n, k] = weighted.dims();
    // The tensor's own buffer, normalised in place and handed back (no copies on `flex`).
    let mut data = weighted.try_into_data().map_err(readback_error)?.convert::<f32>();
    let a = data.as_mut_slice::<f32>().map_err(readback_error)?;
    let log_norm = crate::host::responsibilities_in_place(a, k);
    Ok((
        Tensor::from_data(data, &device),
        Tensor::from_data(TensorData::new(log_norm, [n, 1]), &device),
    ))
}

/// [`responsibilities`] as Burn operations (a GPU, or a device that records gradients).
fn responsibilities_on_device(weighted: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    let max = weighted.clone().max_dim(1);
    let e = (weighted - max.clone()).clamp_min(NEGLIGIBLE_LOG_RATIO).exp()
        - (NEGLIGIBLE_LOG_RATIO as f32).exp();
    let e = e.clamp_min(0.0);
    let sum = e.clone().sum_dim(1);
    (e / sum.clone(), sum.log() + max)
}

/// Random responsibilities (rows of uniform draws, normalised, times the rows' sample weights)
/// followed by one M-step.
pub fn init_random_responsibilities<M: Mixture>(
    layer: M,
    data: &Encoded,
    rng: &mut ChaCha8Rng,
) -> Result<M, ModelError> {
    let k = layer.n_components();
    // Row i's K draws are the words `start + i·K ..` of the stream: a shard starts at its first
    // row, and every process ends where one process drawing all rows would.
    let start = rng.get_word_pos();
    rng.set_word_pos(start + (data.first_row() * k) as u128);
    let mut stats = layer.zero_stats();
    for b in 0..data.n_batches() {
        let x = &data.batch(b)?;
        let rows = x.dims()[0];
        let mut r: Vec<f32> = (0..rows * k).map(|_| rng.random::<f32>() + 1e-3).collect();
        for row in r.chunks_mut(k) {
            let s: f32 = row.iter().sum();
            row.iter_mut().for_each(|v| *v /= s);
        }
        let resp = Tensor::from_data(TensorData::new(r, [rows, k]), &x.device());
        stats = stats.merge(layer.batch_stats(x.clone(), data.weigh(b, resp))?);
    }
    rng.set_word_pos(start + (data.total() * k) as u128);
    let stats = complete_stats(&layer, data, stats)?;
    Ok(layer.m_step(stats, data.total())?.0)
}

/// A shard's statistics completed by the other processes' ([`Encoded::sum_shards`] through
/// the family's flat buffer); the statistics of whole data as they are.
pub fn complete_stats<M: Mixture>(
    layer: &M,
    data: &Encoded,
    stats: M::Stats,
) -> Result<M::Stats, ModelError> {
    if !matches!(data.part, Part::Shard { .. }) {
        return Ok(stats);
    }
    let mut flat = layer.stats_to_flat(&stats)?;
    data.sum_shards(&mut flat);
    layer.stats_from_flat(&flat)
}
