//! The one EM driver. It owns the loop (initialise → E-step → M-step → lower bound → `tol`
//! test, with optional deterministic annealing and pruning) and nothing family-specific, like
//! scikit-learn's `BaseMixture.fit`.

use crate::TrainError;
pub use crate::em_config::{Annealing, EmConfig};
use crate::progress::Progress;
pub use crate::restarts::{RestartRecord, fit_restarts, restart_seed};
use gmm_models::{Encoded, Mixture, ModelError, SufficientStats, Tensor, to_host_f64};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// One EM iteration, as the log and the metrics file record it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationRecord {
    /// 1-based iteration number (over all stages).
    pub iter: usize,
    /// Inverse temperature of the iteration (1 for ordinary EM).
    #[serde(default = "one")]
    pub beta: f64,
    /// Mean log-likelihood per sample of the parameters this iteration started from (nats).
    pub log_likelihood: f64,
    /// The annealed objective `(1/β) mean_n log Σ_c (π_c N(x_n|c))^β` that EM at this β
    /// increases; equal to `log_likelihood` at β = 1.
    pub objective: f64,
    /// Wall time of the iteration (E-step and M-step), seconds.
    pub seconds: f64,
    /// In a data-parallel job: seconds of the iteration spent summing the statistics over the
    /// processes (`MPI_Allreduce`, waiting for the slowest included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduce_seconds: Option<f64>,
    /// Components that emptied in this iteration's M-step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emptied: Vec<usize>,
    /// Components removed after this iteration's M-step (numbered as before the removal),
    /// with their weights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pruned: Vec<(usize, f64)>,
    /// For a family whose M-step climbs by steps (the deep GMM): how far this iteration's
    /// M-step climbed its objective, and how much of that its last half of the steps won.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m_step: Option<gmm_models::Ascent>,
}

fn one() -> f64 {
    1.0
}

/// What a fit did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Every iteration, in order (`lower_bounds` in scikit-learn's terms).
    pub iterations: Vec<IterationRecord>,
    /// Whether `tol` stopped the loop at β = 1 before `max_iter`.
    pub converged: bool,
    /// Seconds spent initialising.
    pub init_seconds: f64,
    /// The random stream after initialisation: its seed and ChaCha8 word position. The EM
    /// loop itself draws nothing, so a resumed fit is exact without it; it is kept so that
    /// any later random step can continue the same stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rng: Option<RngState>,
    /// With `n_init > 1`: every restart finished so far (all of them in a finished fit),
    /// whose best one these iterations belong to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restarts: Vec<RestartRecord>,
}

/// Where a seeded ChaCha8 stream stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// The seed.
    pub seed: u64,
    /// `ChaCha8Rng::get_word_pos`, in decimal (a u128).
    pub word_pos: String,
}

impl FitReport {
    /// The log-likelihood of each iteration.
    pub fn lower_bounds(&self) -> Vec<f64> {
        self.iterations.iter().map(|r| r.log_likelihood).collect()
    }
}

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
    let batch = |_: usize, x: &Tensor<2>| {
        let terms = layer.e_step_batch(x, beta)?;
        Ok((terms.objective, terms.log_likelihood, terms.stats))
    };
    let cluster = crate::cluster::world();
    let (objective, ll, mut stats) = data.fold_range(
        data.own_batches(),
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
    if data.total() == 0 {
        return Err(ModelError::InvalidConfig {
            field: "data",
            reason: "no samples to fit".into(),
        });
    }
    // This process's sums (0 for a rank whose share holds no batch).
    let mut objective_sum =
        objective.map(|t| to_host_f64(t)).transpose()?.map_or(0.0, |v| v[0]) / beta;
    let mut log_likelihood_sum = match ll {
        Some(t) => to_host_f64(t)?[0],
        None if beta == 1.0 => objective_sum,
        None => 0.0,
    };
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
    if !log_likelihood_sum.is_finite() || !objective_sum.is_finite() {
        return Err(ModelError::NonFinite {
            what: "log-likelihood in the E-step".into(),
            hint: "a component may have collapsed; raise the variance floor (spectrum_floor, \
                   reg_covar) or use fewer components"
                .into(),
        });
    }
    Ok(EStep { log_likelihood_sum, objective_sum, stats, reduce_seconds })
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

/// Mean `log p(x_n)` over the data, nats per sample, and its standard error over the rows.
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
        |_, x| to_host_f64(layer.score_samples(x.clone())),
        |acc, scores| Ok(scores.into_iter().fold(acc, |(a, q), v| (a + v, q + v * v))),
    )?;
    let mut sums = [sum, sum_sq];
    if data.spread() {
        cluster.sum(&mut sums);
    }
    Ok(MeanLogLikelihood::from_sums(sums[0], sums[1], data.total()))
}

/// Where a fit starts: fresh (seeded initialisation) or from a checkpoint's report.
pub enum Start {
    /// Initialise with this seed.
    Fresh {
        /// The seed of the initialisation.
        seed: u64,
    },
    /// Continue after these iterations (the layer holds the parameters they ended with); with
    /// none, EM continues a trained layer (a warm start).
    Resume(FitReport),
}

/// Called after every iteration with the layer and the report so far; an error stops the fit
/// (a checkpoint writer, a Ctrl-C handler).
pub type AfterIteration<'a, M> = dyn FnMut(&M, &FitReport) -> Result<(), TrainError> + 'a;

/// Fits `layer` to `data` by EM: seeded initialisation, then at most `max_iter` iterations.
pub fn fit<M: Mixture>(
    layer: M,
    data: &Encoded,
    config: &EmConfig,
    seed: u64,
    progress: &Progress,
) -> Result<(M, FitReport), TrainError> {
    fit_with(layer, data, config, Start::Fresh { seed }, progress, &mut |_, _| Ok(()))
}

/// [`fit`] with a start (fresh or resumed) and a hook after every iteration; with
/// `n_init > 1`, [`fit_restarts`].
pub fn fit_with<M: Mixture>(
    layer: M,
    data: &Encoded,
    config: &EmConfig,
    start: Start,
    progress: &Progress,
    after_iteration: &mut AfterIteration<'_, M>,
) -> Result<(M, FitReport), TrainError> {
    config.validate()?;
    match config.n_init {
        1 => fit_one(layer, data, config, start, progress, after_iteration),
        _ => fit_restarts(layer, data, config, start, progress, after_iteration),
    }
}

/// One EM fit from one start.
pub(crate) fn fit_one<M: Mixture>(
    layer: M,
    data: &Encoded,
    config: &EmConfig,
    start: Start,
    progress: &Progress,
    after_iteration: &mut AfterIteration<'_, M>,
) -> Result<(M, FitReport), TrainError> {
    let (mut layer, mut report) = begin(layer, data, config, start)?;
    // Whether EM has settled is decided again under this config's stopping rule (a run
    // resumes under another `tol` or `max_iter` than it was started with).
    report.converged = false;
    let stages = config.stages();
    let total: usize = stages.iter().map(|s| s.1).sum();
    let bar = progress.bar(total as u64, "EM");
    bar.inc(report.iterations.len() as u64);
    for (stage, &(beta, max_iter, tol)) in stages.iter().enumerate() {
        // On resume, the iterations already recorded at this β count towards the stage.
        let done: Vec<&IterationRecord> =
            report.iterations.iter().filter(|r| r.beta == beta).collect();
        let settled =
            done.windows(2).last().is_some_and(|w| (w[1].objective - w[0].objective).abs() < tol);
        let later_started = report.iterations.last().is_some_and(|r| r.beta > beta);
        if done.len() >= max_iter || settled || later_started {
            if stage + 1 == stages.len() && settled {
                report.converged = true;
            }
            continue;
        }
        for _ in done.len()..max_iter {
            let t0 = Instant::now();
            let iter = report.iterations.len() + 1;
            let estep = e_step(&layer, data, beta)?;
            let (next, m_report) = layer.m_step(estep.stats, data.total())?;
            layer = next;
            let mut pruned = Vec::new();
            if let Some(threshold) = config.prune_below {
                (layer, pruned) = prune_weak(layer, threshold)?;
            }
            let n = data.total() as f64;
            let record = IterationRecord {
                iter,
                beta,
                log_likelihood: estep.log_likelihood_sum / n,
                objective: estep.objective_sum / n,
                seconds: t0.elapsed().as_secs_f64(),
                reduce_seconds: estep.reduce_seconds,
                emptied: m_report.emptied,
                pruned,
                m_step: m_report.ascent,
            };
            log_iteration(progress, &record, report.iterations.last(), total);
            let change = report
                .iterations
                .last()
                .filter(|r| r.beta == beta)
                .map(|r| record.objective - r.objective);
            report.iterations.push(record);
            bar.inc(1);
            let stop = change.is_some_and(|c| c.abs() < tol);
            if stop && stage + 1 == stages.len() {
                report.converged = true;
            }
            after_iteration(&layer, &report)?;
            if stop {
                break;
            }
        }
    }
    bar.finish_and_clear();
    Ok((layer, report))
}

/// The layer and report EM's loop starts from: a seeded initialisation, or a checkpoint's.
fn begin<M: Mixture>(
    layer: M,
    data: &Encoded,
    config: &EmConfig,
    start: Start,
) -> Result<(M, FitReport), ModelError> {
    match start {
        Start::Fresh { seed } => {
            let t = Instant::now();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let fresh = layer.clone();
            let layer = layer.initialize(data, config.init, &mut rng)?;
            let layer = if data.spread() { same_start(layer, fresh)? } else { layer };
            let rng = RngState { seed, word_pos: rng.get_word_pos().to_string() };
            let report = FitReport {
                init_seconds: t.elapsed().as_secs_f64(),
                rng: Some(rng),
                ..FitReport::default()
            };
            Ok((layer, report))
        }
        Start::Resume(report) => Ok((layer, report)),
    }
}

/// In a data-parallel job every rank takes rank 0's initialisation: its parameters are
/// broadcast as a Burn record and loaded into a fresh layer (`fresh`, the layer before
/// `initialize`), so that all ranks start EM from the same bits. (The ranks' own
/// initialisations agree up to the order of their sums, which completes them over shards.)
fn same_start<M: Mixture>(layer: M, fresh: M) -> Result<M, ModelError> {
    use burn::store::ModuleRecord;
    let cluster = crate::cluster::world();
    let failed = |e: String| ModelError::InvalidConfig { field: "init", reason: e };
    let mut bytes = match cluster.is_root() {
        true => layer.into_record().into_bytes().map_err(|e| failed(format!("{e:?}")))?.to_vec(),
        false => Vec::new(),
    };
    cluster.broadcast(0, &mut bytes);
    let record = ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
        .map_err(|e| failed(format!("rank 0's initial parameters: {e:?}")))?;
    fresh.try_load_record(record).map_err(|e| failed(format!("rank 0's initial parameters: {e:?}")))
}

/// Removes every component whose weight is below `threshold` (unless that would remove them
/// all), renormalising the rest; returns the removed `(component, weight)` pairs.
pub fn prune_weak<M: Mixture>(
    layer: M,
    threshold: f64,
) -> Result<(M, Vec<(usize, f64)>), ModelError> {
    let weights = layer.weights()?;
    let keep: Vec<usize> = (0..weights.len()).filter(|&c| weights[c] >= threshold).collect();
    if keep.is_empty() || keep.len() == weights.len() {
        return Ok((layer, Vec::new()));
    }
    let removed =
        (0..weights.len()).filter(|c| !keep.contains(c)).map(|c| (c, weights[c])).collect();
    Ok((layer.prune(&keep)?, removed))
}

fn log_iteration(
    progress: &Progress,
    r: &IterationRecord,
    previous: Option<&IterationRecord>,
    total: usize,
) {
    match r.emptied.as_slice() {
        [] => {}
        [c] => progress.log(&format!(
            "iter {}: component {c} has no responsibility mass; kept its previous parameters \
             (or pruned, as configured)",
            r.iter
        )),
        many => {
            let shown: Vec<String> = many.iter().take(12).map(usize::to_string).collect();
            let more = if many.len() > 12 { ", …" } else { "" };
            progress.log(&format!(
                "iter {}: {} components have no responsibility mass ({}{more}); kept their \
                 previous parameters (or pruned, as configured)",
                r.iter,
                many.len(),
                shown.join(", ")
            ));
        }
    }
    for (c, w) in &r.pruned {
        progress.log(&format!(
            "iter {}: pruned component {c} (weight {w:.3e} below prune_below)",
            r.iter
        ));
    }
    let change = previous.filter(|p| p.beta == r.beta).map(|p| r.objective - p.objective);
    let beta = if r.beta < 1.0 {
        format!("  beta {:.4}  objective {:.4}", r.beta, r.objective)
    } else {
        String::new()
    };
    let climb = r.m_step.map_or(String::new(), |a| {
        format!(
            "  M-step {:+.3e} ({:+.3e} in the last {} of {} steps, {:.1} s)",
            a.gain,
            a.second_half_gain,
            a.steps / 2,
            a.steps,
            a.seconds
        )
    });
    progress.log(&format!(
        "iter {:>4}/{total}  log-likelihood {:>12.4} nats/sample  change {}{beta}{climb}  {:.3} s",
        r.iter,
        r.log_likelihood,
        change.map_or("-".to_string(), |c| format!("{c:+.3e}")),
        r.seconds
    ));
}
