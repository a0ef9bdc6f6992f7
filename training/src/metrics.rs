//! The machine-readable `metrics.json` of a run.

use crate::IterationRecord;
use serde::{Deserialize, Serialize};

/// A mean log-likelihood in the two units of models.md.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Mean `log p(x)` per sample, nats.
    pub nats_per_sample: f64,
    /// `-(mean log-likelihood) / (D · ln 2)`, with D the pixels of one sample (lower is better).
    pub bits_per_pixel: f64,
    /// Samples scored.
    pub n: usize,
}

impl Score {
    /// A score from a mean log-likelihood over `n` samples of `pixels` pixels.
    pub fn new(nats_per_sample: f64, pixels: usize, n: usize) -> Self {
        Self {
            nats_per_sample,
            bits_per_pixel: -nats_per_sample / (pixels as f64 * std::f64::consts::LN_2),
            n,
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
    /// Pictures and files.
    pub outputs: f64,
    /// The whole run.
    pub total: f64,
}

/// Everything a run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Run name.
    pub name: String,
    /// Dataset name.
    pub dataset: String,
    /// Device the run used.
    pub device: String,
    /// Pixels per sample D.
    pub pixels: usize,
    /// Components K.
    pub n_components: usize,
    /// Every EM iteration: log-likelihood (nats/sample) of the parameters it started from,
    /// seconds, emptied components.
    pub iterations: Vec<IterationRecord>,
    /// Whether `tol` ended EM before `max_iter`.
    pub converged: bool,
    /// Score of the final model on the training data.
    pub train: Score,
    /// Score of the final model on the test data.
    pub test: Score,
    /// Mixing weights `π_c`.
    pub weights: Vec<f64>,
    /// Wall times.
    pub timings: Timings,
}
