//! What a fit did and where it starts: the records of its iterations, its report, its start.

use crate::TrainError;
use serde::{Deserialize, Serialize};

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
    /// Mean log-likelihood per sample of the validation rows (`[data] n_valid`) under the
    /// parameters this iteration ended with (nats); absent without validation rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_log_likelihood: Option<f64>,
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
    /// Stepwise EM's state: its blended statistics and where its pass stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stepwise: Option<StepwiseState>,
    /// With `stop_on = "valid"`, when the last iteration lowered the validation log-likelihood
    /// and was undone: the iteration whose parameters the fit keeps (the one before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_iteration: Option<usize>,
}

/// Where stepwise EM stands ([`super::Stepwise`]): everything its next mini-batch needs, so
/// that a fit resumed from it (at a pass's end or inside one) is the uninterrupted fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepwiseState {
    /// Mini-batches blended so far, over the whole fit (`k` of the next step size `η_k`).
    pub steps: u64,
    /// The blended statistics `s̄`, means per row, as [`gmm_models::Mixture::stats_to_flat`]
    /// lays them out.
    pub stats: Vec<f64>,
    /// The next mini-batch of the current pass (0: the pass is complete).
    pub next: usize,
    /// The current pass's sums so far: `Σ objective`, `Σ log p(x_n)`, each row under the
    /// parameters its mini-batch met.
    pub sums: [f64; 2],
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
    /// Whether this report was taken inside a stepwise EM pass (the layer holds the
    /// parameters of its last mini-batch, not of a finished iteration).
    pub fn mid_pass(&self) -> bool {
        self.stepwise.as_ref().is_some_and(|s| s.next > 0)
    }

    /// The log-likelihood of each iteration.
    pub fn lower_bounds(&self) -> Vec<f64> {
        self.iterations.iter().map(|r| r.log_likelihood).collect()
    }
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

/// Called after every iteration with the layer and the report so far, and in stepwise EM after
/// every mini-batch inside a pass too ([`FitReport::mid_pass`]); an error stops the fit (a
/// checkpoint writer, a Ctrl-C handler).
pub type AfterIteration<'a, M> = dyn FnMut(&M, &FitReport) -> Result<(), TrainError> + 'a;

/// One restart of a fit with `n_init > 1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestartRecord {
    /// The seed of its initialisation ([`super::restart_seed`]).
    pub seed: u64,
    /// Mean training log-likelihood of its final parameters, nats per sample.
    pub log_likelihood: f64,
    /// Mean validation log-likelihood of its final parameters, where there are validation rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_log_likelihood: Option<f64>,
    /// EM iterations it ran.
    pub iterations: usize,
}
