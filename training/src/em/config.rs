//! The EM settings of a layer (`[em]`, `[layers.em]`): iterations, tolerance, batches,
//! initialisation (or a warm start from a trained layer), restarts, annealing schedule, pruning.

use super::watch::StopOn;
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

fn default_alpha() -> f64 {
    0.7
}

/// Stepwise (online) EM (Cappé & Moulines 2009; Liang & Klein 2009): the parameters move after
/// every mini-batch. The statistics are kept as means per row, `s̄`; mini-batch `k` (statistics
/// `s_k` of its `n_k` rows) blends them as `s̄ ← (1 − η_k) s̄ + η_k s_k / n_k`, with `η_0 = 1`
/// (the first mini-batch starts the blend) and `η_k = (k + 2)^(−α)` after it, and an M-step
/// follows every blend. One iteration is one pass over the data, its mini-batches in the data's
/// order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stepwise {
    /// Batches (of `batch_size` rows) per mini-batch.
    pub batches: usize,
    /// The step size's decay α, in (0.5, 1].
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// The first iteration is one batch EM pass, whose statistics start the blend.
    #[serde(default)]
    pub warm_up: bool,
}

impl Stepwise {
    /// `η_k`, the weight mini-batch `k` (0-based over the whole fit) gets in the blend.
    pub fn step_size(&self, k: u64) -> f64 {
        match k {
            0 => 1.0,
            k => (k as f64 + 2.0).powf(-self.alpha),
        }
    }
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
    /// Stepwise (online) EM instead of batch EM: an M-step after every mini-batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stepwise: Option<Stepwise>,
    /// Which log-likelihood `tol` watches: `"train"`, or `"valid"` (the validation rows of
    /// `[data] n_valid`, with the best iteration kept).
    #[serde(default, skip_serializing_if = "StopOn::is_train")]
    pub stop_on: StopOn,
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
            stepwise: None,
            stop_on: StopOn::Train,
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
        if let Some(s) = &self.stepwise {
            if s.batches == 0 {
                return bad("stepwise.batches", "must be at least 1");
            }
            if !(s.alpha > 0.5 && s.alpha <= 1.0) {
                return bad("stepwise.alpha", "must be in (0.5, 1]");
            }
            if self.prune_below.is_some() {
                return bad(
                    "stepwise",
                    "stepwise EM blends statistics of a fixed K; prune_below changes K (use one \
                     of the two)",
                );
            }
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
