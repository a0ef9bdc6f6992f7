//! The machine-readable `metrics.json` of a run.

use crate::IterationRecord;
use crate::em::MeanLogLikelihood;
use serde::{Deserialize, Serialize};

/// A mean log-likelihood in the two units of models.md.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Mean `log p(x)` per sample, nats.
    pub nats_per_sample: f64,
    /// `-(mean log-likelihood) / (D · ln 2)`, with D the values of one sample: pixels for a
    /// layer on images, K of the layer below for a layer on features (lower is better).
    #[serde(alias = "bits_per_pixel")]
    pub bits_per_dim: f64,
    /// Samples scored.
    pub n: usize,
    /// Standard error of `nats_per_sample` over the samples, `s/√n` (nats); absent in
    /// metrics written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard_error: Option<f64>,
}

impl Score {
    /// A score from a mean log-likelihood over `n` samples of `dims` values each.
    pub fn new(nats_per_sample: f64, dims: usize, n: usize) -> Self {
        Self {
            nats_per_sample,
            bits_per_dim: -nats_per_sample / (dims as f64 * std::f64::consts::LN_2),
            n,
            standard_error: None,
        }
    }

    /// A score from a mean log-likelihood and its standard error, over samples of `dims`
    /// values each.
    pub fn of(summary: MeanLogLikelihood, dims: usize) -> Self {
        let se = summary.standard_error;
        Self {
            standard_error: se.is_finite().then_some(se),
            ..Self::new(summary.mean, dims, summary.n)
        }
    }

    /// `123.4567 ± 0.1234` (the mean to `digits` decimals, its standard error where known).
    pub fn with_error(&self, digits: usize) -> String {
        match self.standard_error {
            Some(se) => format!("{:.digits$} ± {se:.digits$}", self.nats_per_sample),
            None => format!("{:.digits$}", self.nats_per_sample),
        }
    }
}

/// Wall times of the stages of a run, seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Reading the data (and drawing patches).
    pub data: f64,
    /// Encoding (FFT) and upload to the device.
    pub encode: f64,
    /// EM: initialisation and every iteration.
    pub fit: f64,
    /// Train and test scores.
    pub eval: f64,
    /// Pictures, features for the next layer, and files.
    pub outputs: f64,
    /// The whole run: a run resumed from its checkpoint adds the time before it. In a stack,
    /// this layer's parts added up (the summary's `total_seconds` is the run's).
    pub total: f64,
    /// Process CPU seconds (user + system, all threads) over `total`: `cpu / total` is the CPU
    /// utilisation (2.0 is two cores busy). 0 in metrics written before it was recorded.
    #[serde(default)]
    pub cpu: f64,
    /// Worker threads the run computed with (rayon's pool: `--threads`, `RAYON_NUM_THREADS`,
    /// else one per core); 0 in metrics written before it was recorded.
    #[serde(default)]
    pub threads: usize,
    /// The most resident memory the process had held when this layer was done, MB (10⁶
    /// bytes); 0 in metrics written before it was recorded, NaN (null) where unknown.
    #[serde(default)]
    pub peak_memory_mb: f64,
}

/// Everything a run (or one layer of a stack) measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Run name.
    pub name: String,
    /// Position in the stack (0 for the first layer or a single-layer run).
    #[serde(default)]
    pub layer: usize,
    /// Layer family (`conv`, `full`, `prob`, `deep`).
    #[serde(default)]
    pub kind: String,
    /// The feature this layer took from the layer below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<crate::Feature>,
    /// The run folder whose trained layer was reused instead of training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<std::path::PathBuf>,
    /// The folder whose trained layer EM started from (`em.warm_start`); `iterations` are
    /// those of this run only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_started_from: Option<std::path::PathBuf>,
    /// Dataset name.
    pub dataset: String,
    /// Device the run used.
    pub device: String,
    /// What computed behind the device name: the GPU adapter (name, graphics API, driver) or
    /// the CPU backend and its threads; empty in metrics written before it was recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub adapter: String,
    /// Values per input sample D (pixels for images, K of the layer below for features).
    #[serde(alias = "pixels")]
    pub dims: usize,
    /// Components configured.
    #[serde(default)]
    pub configured_components: usize,
    /// Components alive after training (K; fewer than configured after pruning).
    pub n_components: usize,
    /// Every EM iteration: log-likelihood (nats/sample) of the parameters it started from,
    /// seconds, emptied components.
    pub iterations: Vec<IterationRecord>,
    /// Whether `tol` ended EM before `max_iter`.
    pub converged: bool,
    /// With `em.stop_on = "valid"`, when EM undid its last iteration (it lowered the
    /// validation log-likelihood): the iteration whose parameters the layer holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_iteration: Option<usize>,
    /// With `em.n_init > 1`: every restart's seed, final training log-likelihood and
    /// iterations; `iterations` above are the kept (best) restart's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restarts: Vec<crate::em::RestartRecord>,
    /// Score of the final model on the training data.
    pub train: Score,
    /// Score of the final model on the validation rows (`[data] n_valid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid: Option<Score>,
    /// Score of the final model on the test data.
    pub test: Score,
    /// Mixing weights `π_c`.
    pub weights: Vec<f64>,
    /// Purity of the MAP assignments against the labels of the picture split (MNIST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purity: Option<f64>,
    /// Normalised mutual information (arithmetic) of the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nmi: Option<f64>,
    /// Overlap between components (Bhattacharyya coefficients), when computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<crate::report::views::OverlapSummary>,
    /// Components that are the MAP assignment of at least one sample of the picture split.
    #[serde(default)]
    pub used_components: usize,
    /// Free parameters of the layer's density ([`gmm_models::Mixture::n_parameters`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_parameters: Option<usize>,
    /// Model selection on the training data (lower is better); absent in older metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criteria: Option<Criteria>,
    /// Wall times.
    pub timings: Timings,
}

/// Information criteria of a fitted layer on its `n` training samples, with
/// `log L = n · (mean train log-likelihood)` and `p` free parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Criteria {
    /// `BIC = −2 log L + p ln n`.
    pub bic: f64,
    /// `AIC = −2 log L + 2p`.
    pub aic: f64,
}

impl Criteria {
    /// From the mean train log-likelihood (nats/sample), `n` samples and `p` parameters.
    pub fn new(mean_log_likelihood: f64, n: usize, p: usize) -> Self {
        let log_l = mean_log_likelihood * n as f64;
        let p = p as f64;
        Self { bic: -2.0 * log_l + p * (n as f64).ln(), aic: -2.0 * log_l + 2.0 * p }
    }
}

/// The metrics of a deep stack: one entry per layer, bottom up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackMetrics {
    /// Run name.
    pub name: String,
    /// Every layer's metrics.
    pub layers: Vec<Metrics>,
    /// Wall time of the whole run, seconds (a resumed run adds the time before its
    /// checkpoint).
    pub total_seconds: f64,
    /// Process CPU seconds of the whole run (0 in metrics written before it was recorded).
    #[serde(default)]
    pub cpu_seconds: f64,
}

impl std::fmt::Display for Metrics {
    /// One line: scores in both units, components alive, label agreement, iterations.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let quality = match (self.purity, self.nmi) {
            (Some(p), Some(n)) => format!(", purity {p:.3}, NMI {n:.3}"),
            _ => String::new(),
        };
        let valid = self.valid.map_or(String::new(), |v| {
            format!(", validation {} nats/sample ({:.4} bits/dim)", v.with_error(4), v.bits_per_dim)
        });
        write!(
            f,
            "train {} nats/sample ({:.4} bits/dim){valid}, test {} nats/sample ({:.4} bits/dim), \
             {} of {} components alive{quality}, {} EM iterations",
            self.train.with_error(4),
            self.train.bits_per_dim,
            self.test.with_error(4),
            self.test.bits_per_dim,
            self.n_components,
            self.configured_components,
            self.iterations.len(),
        )
    }
}
