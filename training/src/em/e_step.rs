//! One E-step pass over the data, and the mean log-likelihood with its standard error.

use gmm_models::{
    Encoded, Mixture, ModelError, SufficientStats, Tensor, to_host_f64, weighted_e_step_batch,
};
use std::time::Instant;

/// Result of one E-step pass: the log-likelihood, the annealed objective and the statistics.
pub struct EStep<S> {
    /// `Σ_n log p(x_n)`.
    pub log_likelihood_sum: f64,
    /// `Σ_n (1/β) log Σ_c (π_c N(x_n|c))^β`.
    pub objective_sum: f64,
    /// Sufficient statistics of the whole data.
    pub stats: S,
    /// Seconds spent summing over the processes (`None` when the data are not spread).
    pub reduce_seconds: Option<f64>,
}

fn add(acc: Option<Tensor<1>>, t: Tensor<1>) -> Option<Tensor<1>> {
    Some(match acc {
        Some(a) => a + t,
        None => t,
    })
}

/// One pass over the data at inverse temperature `beta`: responsibilities
/// `r[n,c] ∝ exp(β (log π_c + log N(x_n|c)))` (or the family's own assignment,
/// [`Mixture::e_step_rows`]) and their statistics batch by batch ([`Mixture::e_step_batch`];
/// several at once on a CPU, [`Encoded::fold_batches`]), statistics accumulated in batch order,
/// responsibilities dropped.
pub fn e_step<M: Mixture>(
    layer: &M,
    data: &Encoded,
    beta: f64,
) -> Result<EStep<M::Stats>, ModelError> {
    if data.total() == 0 {
        return Err(ModelError::InvalidConfig {
            field: "data",
            reason: "no samples to fit".into(),
        });
    }
    let cluster = crate::cluster::world();
    let (mut objective_sum, mut log_likelihood_sum, mut stats) =
        local_sums(layer, data, beta, data.own_batches())?;
    let mut reduce_seconds = None;
    if data.spread() {
        // One flat buffer per iteration: [Σ objective, Σ log-likelihood, statistics…].
        let mut flat = vec![objective_sum, log_likelihood_sum];
        flat.extend(layer.stats_to_flat(&stats)?);
        let t = Instant::now();
        cluster.sum(&mut flat);
        reduce_seconds = Some(t.elapsed().as_secs_f64());
        (objective_sum, log_likelihood_sum) = (flat[0], flat[1]);
        stats = layer.stats_from_flat(&flat[2..])?;
    }
    check_finite(objective_sum, log_likelihood_sum)?;
    Ok(EStep { log_likelihood_sum, objective_sum, stats, reduce_seconds })
}

/// This process's sums over the batches `range` at inverse temperature `beta`:
/// `(Σ objective, Σ log p(x_n), statistics)`, the batches folded in order
/// ([`Encoded::fold_range`]); zeros and empty statistics for an empty range.
pub(crate) fn local_sums<M: Mixture>(
    layer: &M,
    data: &Encoded,
    beta: f64,
    range: std::ops::Range<usize>,
) -> Result<(f64, f64, M::Stats), ModelError> {
    let batch = |b: usize, x: &Tensor<2>| {
        let terms = match data.batch_weights(b) {
            Some(w) => weighted_e_step_batch(layer, x, &w, beta)?,
            None => layer.e_step_batch(x, beta)?,
        };
        Ok((terms.objective, terms.log_likelihood, terms.stats))
    };
    let (objective, ll, stats) = data.fold_range(
        range,
        (None, None, layer.zero_stats()),
        batch,
        |(objective, ll, stats), (o, l, s): (Tensor<1>, Option<Tensor<1>>, M::Stats)| {
            let ll = match l {
                Some(l) => add(ll, l),
                None => ll,
            };
            Ok((add(objective, o), ll, stats.merge(s)))
        },
    )?;
    // This process's sums (0 for a rank whose share holds no batch).
    let objective_sum = objective.map(|t| to_host_f64(t)).transpose()?.map_or(0.0, |v| v[0]) / beta;
    let log_likelihood_sum = match ll {
        Some(t) => to_host_f64(t)?[0],
        None if beta == 1.0 => objective_sum,
        None => 0.0,
    };
    Ok((objective_sum, log_likelihood_sum, stats))
}

/// An error unless both sums of an E-step are finite.
pub(crate) fn check_finite(objective_sum: f64, log_likelihood_sum: f64) -> Result<(), ModelError> {
    if log_likelihood_sum.is_finite() && objective_sum.is_finite() {
        return Ok(());
    }
    Err(ModelError::NonFinite {
        what: "log-likelihood in the E-step".into(),
        hint: "a component may have collapsed; raise the variance floor (spectrum_floor, \
               reg_covar) or use fewer components"
            .into(),
    })
}

/// Mean `log p(x_n)` over the data, in nats per sample ([`log_likelihood_summary`]'s mean).
pub fn mean_log_likelihood<M: Mixture>(layer: &M, data: &Encoded) -> Result<f64, ModelError> {
    Ok(log_likelihood_summary(layer, data)?.mean)
}

/// A mean log-likelihood over N rows and its standard error over the rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanLogLikelihood {
    /// `m = (1/N) Σ_n log p(x_n)`, nats per sample.
    pub mean: f64,
    /// `s / √N` with `s² = Σ_n (log p(x_n) − m)² / (N − 1)`, nats (NaN below two rows).
    pub standard_error: f64,
    /// N.
    pub n: usize,
}

impl MeanLogLikelihood {
    /// From the sums `Σ ℓ_n` and `Σ ℓ_n²` over `n` rows (f64; `s²` as `(Σ ℓ² − N m²)/(N − 1)`,
    /// whose cancellation costs a few digits of the 16 when `|m|` is some times `s`).
    pub fn from_sums(sum: f64, sum_sq: f64, n: usize) -> Self {
        let nf = n as f64;
        let mean = if n == 0 { f64::NAN } else { sum / nf };
        let variance = ((sum_sq - nf * mean * mean) / (nf - 1.0)).max(0.0);
        let standard_error = if n < 2 { f64::NAN } else { (variance / nf).sqrt() };
        Self { mean, standard_error, n }
    }
}

/// Mean `log p(x_n)` over the data, nats per sample, and its standard error over the rows
/// (with sample weights scaled to mean 1, `Σ w_n ℓ_n / N` and `Σ w_n ℓ_n²` in its variance).
/// Each `log p(x_n)` is computed in f32 on the device; `Σ ℓ_n` and `Σ ℓ_n²` are summed on the
/// host in f64, in sample order: the recorded figures do not hang on an f32 sum of N terms of
/// a few hundred nats (whose rounding, ~1e-3 nats per sample at N = 10⁴, moves with the order
/// a backend's SIMD sums in).
///
/// In a job of several processes each sums its rows (its shard, or its share of the batches
/// of replicated rows) and the sums are added.
pub fn log_likelihood_summary<M: Mixture>(
    layer: &M,
    data: &Encoded,
) -> Result<MeanLogLikelihood, ModelError> {
    let cluster = crate::cluster::world();
    let (sum, sum_sq) = data.fold_range(
        data.own_batches(),
        (0.0, 0.0),
        |b, x| {
            let scores = to_host_f64(layer.score_samples(x.clone()))?;
            let weights = data.weights.as_ref().map(|w| w[b].clone());
            Ok((scores, weights))
        },
        |acc, (scores, weights)| {
            let w = |i: usize| weights.as_ref().map_or(1.0, |w| f64::from(w[i]));
            Ok(scores
                .iter()
                .enumerate()
                .fold(acc, |(a, q), (i, v)| (a + w(i) * v, q + w(i) * v * v)))
        },
    )?;
    let mut sums = [sum, sum_sq];
    if data.spread() {
        cluster.sum(&mut sums);
    }
    Ok(MeanLogLikelihood::from_sums(sums[0], sums[1], data.total()))
}
