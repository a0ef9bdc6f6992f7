//! The EM settings of a layer (`[em]`, `[layers.em]`): iterations, tolerance, batches,
//! initialisation (or a warm start from a trained layer), restarts, annealing schedule, pruning.

use gmm_models::{Init, ModelError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

fn default_batch() -> usize {
    16384
}

fn default_init() -> Init {
    Init::Samples
}

fn default_growth() -> f64 {
    1.5
}

fn default_stage_iter() -> usize {
    30
}

fn default_stage_tol() -> f64 {
    1e-3
}

/// Deterministic annealing EM (Ueda & Nakano 1998): responsibilities `∝ (π_c N(x|c))^β`, β
/// rising from `beta0` by `growth` per stage, EM at each stage until its objective settles,
/// then ordinary EM at β = 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Annealing {
    /// The first inverse temperature, in (0, 1].
    pub beta0: f64,
    /// Factor by which β grows from one stage to the next (> 1).
    #[serde(default = "default_growth")]
    pub growth: f64,
    /// Most EM iterations at one β < 1.
    #[serde(default = "default_stage_iter")]
    pub stage_max_iter: usize,
    /// A stage ends when its objective (nats/sample) changes by less than this.
    #[serde(default = "default_stage_tol")]
    pub stage_tol: f64,
}

/// The EM settings of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmConfig {
    /// Maximum number of EM iterations at β = 1.
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
    /// Deterministic annealing before ordinary EM.
    #[serde(default)]
    pub annealing: Option<Annealing>,
    /// Components whose weight falls below this after an M-step are removed.
    #[serde(default)]
    pub prune_below: Option<f64>,
    /// Restarts: EM from this many seeded initialisations, keeping the one with the highest
    /// final training log-likelihood (scikit-learn's `n_init`). Restart 0 is seeded as a
    /// single fit is, so `n_init = 1` is the plain fit.
    #[serde(default = "one_init", skip_serializing_if = "is_one_init")]
    pub n_init: usize,
    /// A trained layer's folder (a run's, a stack's `layer<i>`, a shipped checkpoint's) whose
    /// parameters EM starts from instead of `init`: `max_iter` more iterations of a model
    /// already fitted (scikit-learn's `warm_start`). Same kind, input shape and size as this
    /// layer; this config's other settings (`reg_covar`, the deep GMM's `m_step_iters`, …)
    /// apply from the first step. Read when training starts (relative paths from the working
    /// directory), never again: the run holds its own parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_start: Option<PathBuf>,
}

fn one_init() -> usize {
    1
}

fn is_one_init(n: &usize) -> bool {
    *n == 1
}

impl EmConfig {
    /// Plain EM: `max_iter` iterations, no early stop, default batches and initialisation.
    pub fn iterations(max_iter: usize) -> Self {
        Self {
            max_iter,
            tol: 0.0,
            batch_size: default_batch(),
            init: default_init(),
            annealing: None,
            prune_below: None,
            n_init: 1,
            warm_start: None,
        }
    }

    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad =
            |field, reason: &str| Err(ModelError::InvalidConfig { field, reason: reason.into() });
        if self.max_iter == 0 {
            return bad("max_iter", "must be at least 1");
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return bad("tol", "must be a non-negative number");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1");
        }
        if let Some(a) = &self.annealing {
            if !(a.beta0 > 0.0 && a.beta0 <= 1.0) {
                return bad("annealing.beta0", "must be in (0, 1]");
            }
            if !(a.growth.is_finite() && a.growth > 1.0) {
                return bad("annealing.growth", "must be greater than 1");
            }
            if a.stage_max_iter == 0 {
                return bad("annealing.stage_max_iter", "must be at least 1");
            }
            if !(a.stage_tol.is_finite() && a.stage_tol >= 0.0) {
                return bad("annealing.stage_tol", "must be a non-negative number");
            }
        }
        if let Some(p) = self.prune_below
            && !(p.is_finite() && p > 0.0 && p < 1.0)
        {
            return bad("prune_below", "must be in (0, 1)");
        }
        if self.n_init == 0 {
            return bad("n_init", "must be at least 1");
        }
        if self.n_init > 1 && self.prune_below.is_some() {
            return bad(
                "n_init",
                "restarts compare models of one K; prune_below changes K (use one of the two)",
            );
        }
        if self.n_init > 1 && self.warm_start.is_some() {
            return bad(
                "warm_start",
                "restarts begin from seeded initialisations, a warm start from one trained layer \
                 (use one of the two)",
            );
        }
        Ok(())
    }

    /// The stages of the schedule: `(β, most iterations, tol)`, ending with β = 1.
    pub fn stages(&self) -> Vec<(f64, usize, f64)> {
        let mut stages = Vec::new();
        if let Some(a) = &self.annealing {
            let mut beta = a.beta0;
            while beta < 1.0 {
                stages.push((beta, a.stage_max_iter, a.stage_tol));
                beta *= a.growth;
            }
        }
        stages.push((1.0, self.max_iter, self.tol));
        stages
    }
}
