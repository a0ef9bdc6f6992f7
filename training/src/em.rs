//! The one EM driver. It owns the loop (initialise → E-step → M-step → lower bound → `tol`
//! test) and nothing family-specific, like scikit-learn's `BaseMixture.fit`.

use crate::progress::Progress;
use gmm_models::{Encoded, Init, Mixture, ModelError, SufficientStats, Tensor, responsibilities};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

fn default_batch() -> usize {
    16384
}

fn default_init() -> Init {
    Init::Samples
}

/// The EM settings of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmConfig {
    /// Maximum number of EM iterations.
    pub max_iter: usize,
    /// Stop when the mean log-likelihood per sample changes by less than this (nats);
    /// 0 runs all `max_iter` iterations.
    #[serde(default)]
    pub tol: f64,
    /// Rows per batch in every pass over the data.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// How the parameters are first set.
    #[serde(default = "default_init")]
    pub init: Init,
}

impl EmConfig {
    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |field, reason: &str| {
            Err(ModelError::InvalidConfig {
                field,
                reason: reason.into(),
            })
        };
        if self.max_iter == 0 {
            return bad("max_iter", "must be at least 1");
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return bad("tol", "must be a non-negative number");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1");
        }
        Ok(())
    }
}

/// One EM iteration, as the log and the metrics file record it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationRecord {
    /// 1-based iteration number.
    pub iter: usize,
    /// Mean log-likelihood per sample of the parameters this iteration started from (nats).
    pub log_likelihood: f64,
    /// Wall time of the iteration (E-step and M-step), seconds.
    pub seconds: f64,
    /// Components that emptied in this iteration's M-step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emptied: Vec<usize>,
}

/// What a fit did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Every iteration, in order (`lower_bounds` in scikit-learn's terms).
    pub iterations: Vec<IterationRecord>,
    /// Whether `tol` stopped the loop before `max_iter`.
    pub converged: bool,
    /// Seconds spent initialising.
    pub init_seconds: f64,
}

impl FitReport {
    /// The log-likelihood of each iteration.
    pub fn lower_bounds(&self) -> Vec<f64> {
        self.iterations.iter().map(|r| r.log_likelihood).collect()
    }
}

/// Result of one E-step pass: the log-likelihood and the statistics for the M-step.
pub struct EStep<S> {
    /// `Σ_n log p(x_n)`.
    pub log_likelihood_sum: f64,
    /// Sufficient statistics of the whole data.
    pub stats: S,
}

/// One pass over the data: responsibilities `r[n,c] = exp(log π_c + log N(x_n|c) - log p(x_n))`
/// batch by batch, statistics accumulated, responsibilities dropped.
pub fn e_step<M: Mixture>(layer: &M, data: &Encoded) -> Result<EStep<M::Stats>, ModelError> {
    let mut stats = layer.zero_stats();
    let mut ll: Option<Tensor<1>> = None;
    for x in &data.batches {
        let (resp, log_norm) = responsibilities(layer.weighted_log_prob(x.clone()));
        let batch_ll = log_norm.sum_dim(0).squeeze_dim(0);
        ll = Some(match ll {
            Some(acc) => acc + batch_ll,
            None => batch_ll,
        });
        stats = stats.merge(layer.batch_stats(x.clone(), resp));
    }
    let ll = ll.ok_or_else(|| ModelError::InvalidConfig {
        field: "data",
        reason: "no samples to fit".into(),
    })?;
    let log_likelihood_sum = gmm_models::to_host_f64(ll)?[0];
    if !log_likelihood_sum.is_finite() {
        return Err(ModelError::NonFinite {
            what: "log-likelihood in the E-step".into(),
            hint: "a component may have collapsed; raise the variance floor or use fewer \
                   components"
                .into(),
        });
    }
    Ok(EStep {
        log_likelihood_sum,
        stats,
    })
}

/// Mean `log p(x_n)` over the data, in nats per sample.
pub fn mean_log_likelihood<M: Mixture>(layer: &M, data: &Encoded) -> Result<f64, ModelError> {
    let mut total: Option<Tensor<1>> = None;
    for x in &data.batches {
        let s = layer.score_samples(x.clone()).sum_dim(0);
        total = Some(match total {
            Some(t) => t + s,
            None => s,
        });
    }
    let total = total
        .map(gmm_models::to_host_f64)
        .transpose()?
        .map_or(f64::NAN, |v| v[0]);
    Ok(total / data.n as f64)
}

/// Fits `layer` to `data` by EM: seeded initialisation, then at most `max_iter` iterations.
pub fn fit<M: Mixture>(
    layer: M,
    data: &Encoded,
    config: &EmConfig,
    seed: u64,
    progress: &Progress,
) -> Result<(M, FitReport), ModelError> {
    config.validate()?;
    let start = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut layer = layer.initialize(data, config.init, &mut rng)?;
    let init_seconds = start.elapsed().as_secs_f64();
    let bar = progress.bar(config.max_iter as u64, "EM");
    let mut iterations: Vec<IterationRecord> = Vec::new();
    let mut converged = false;
    for iter in 1..=config.max_iter {
        let t0 = Instant::now();
        let estep = e_step(&layer, data)?;
        let (next, report) = layer.m_step(estep.stats, data.n)?;
        layer = next;
        let ll = estep.log_likelihood_sum / data.n as f64;
        let change = iterations.last().map(|r| ll - r.log_likelihood);
        let record = IterationRecord {
            iter,
            log_likelihood: ll,
            seconds: t0.elapsed().as_secs_f64(),
            emptied: report.emptied,
        };
        for c in &record.emptied {
            progress.log(&format!("iter {iter}: component {c} has no responsibility mass; kept its previous parameters"));
        }
        progress.log(&format!(
            "iter {iter:>4}/{}  log-likelihood {ll:>12.4} nats/sample  change {}  {:.3} s",
            config.max_iter,
            change.map_or("-".to_string(), |c| format!("{c:+.3e}")),
            record.seconds
        ));
        bar.inc(1);
        iterations.push(record);
        if change.is_some_and(|c| c.abs() < config.tol) {
            converged = true;
            break;
        }
    }
    bar.finish_and_clear();
    Ok((
        layer,
        FitReport {
            iterations,
            converged,
            init_seconds,
        },
    ))
}
