//! A deep GMM's hyper-parameters, checked once.

use crate::ModelError;
use serde::{Deserialize, Serialize};

/// How the E-step assigns samples to paths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathAssignment {
    /// The paper's hard EM: each sample goes to its best path, found layer by layer with
    /// `beam` partial paths kept per layer ([`crate::deep_search`]); the per-iteration
    /// figure is the best-path bound `mean_n max_p log π_p N(x_n | p)`.
    #[default]
    Hard,
    /// Exact EM: posteriors over every path (Π N_l log-densities per sample); the
    /// per-iteration figure is the log-likelihood itself.
    Soft,
    /// Sparse EM (Neal & Hinton's restricted posteriors): each sample's posterior over the
    /// `min(beam, N_1 ⋯ N_{L−1}) · N_L` whole paths the hard E-step's search scores at its last
    /// layer, zero elsewhere; `N_1 + beam · (N_2 + … + N_L)` node transforms per sample instead
    /// of Π N_l. The per-iteration figure is the bound `mean_n log Σ_{p reached} π_p N(x_n | p)`
    /// (≤ the log-likelihood, equal to it with a full beam); the final figures are the exact
    /// density.
    SoftBeam,
}

fn default_reg() -> f64 {
    1e-6
}
fn default_beam() -> usize {
    16
}
fn default_m_step_iters() -> usize {
    100
}
fn default_learning_rate() -> f64 {
    1e-2
}
fn default_init_noise() -> f64 {
    0.1
}

/// Hyper-parameters of a [`DeepGmm`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeepGmmConfig {
    /// Nodes per layer, `[N_1, …, N_L]`; layer 1 is the one nearest the data.
    pub nodes: Vec<usize>,
    /// `e_step = "hard"` (best path, the paper's), `"soft"` (every path) or `"soft_beam"` (the
    /// paths the hard E-step's search reaches).
    #[serde(default)]
    pub e_step: PathAssignment,
    /// Partial paths kept per sample after each layer of the `hard` and `soft_beam` E-steps'
    /// search; with `beam ≥ N_1 ⋯ N_{L−1}` the search is exhaustive.
    #[serde(default = "default_beam")]
    pub beam: usize,
    /// Added to every path's covariance statistics, `C_p + reg_covar·I` (the full GMM's
    /// `reg_covar`, applied where the M-step sees the data).
    #[serde(default = "default_reg")]
    pub reg_covar: f64,
    /// Adam steps of each M-step.
    #[serde(default = "default_m_step_iters")]
    pub m_step_iters: usize,
    /// Adam's learning rate on the relative updates `(I + Δ)` of the node transforms.
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f64,
    /// Scale of the seeded perturbation of the identity that starts the layers above the first.
    #[serde(default = "default_init_noise")]
    pub init_noise: f64,
}

/// The most paths (components) a network may have: each is a D×D factorisation per M-step
/// and a column of every E-step's `[N, K]` posteriors. 16,384 admits `nodes = [200, 8, 8]`
/// (12,800 paths) on BSDS300 (D = 63): its M-step holds a few `[K, D, D]` f32 tensors
/// (203 MB each) and an 8192-row batch's posteriors take 420 MB.
pub const MAX_PATHS: usize = 16_384;

impl DeepGmmConfig {
    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |field, reason: String| Err(ModelError::InvalidConfig { field, reason });
        if self.nodes.is_empty() || self.nodes.contains(&0) {
            return bad(
                "nodes",
                format!("needs at least one layer of at least one node, got {:?}", self.nodes),
            );
        }
        match self.n_paths() {
            Some(k) if k <= MAX_PATHS => {}
            _ => {
                return bad(
                    "nodes",
                    format!("{:?} makes more than {MAX_PATHS} paths (components)", self.nodes),
                );
            }
        }
        if self.beam == 0 {
            return bad("beam", "must be at least 1".into());
        }
        if self.m_step_iters == 0 {
            return bad("m_step_iters", "must be at least 1".into());
        }
        ModelError::check_positive("reg_covar", self.reg_covar)?;
        ModelError::check_positive("learning_rate", self.learning_rate)?;
        ModelError::check_positive("init_noise", self.init_noise)
    }

    /// `Π N_l`, or `None` on overflow.
    pub fn n_paths(&self) -> Option<usize> {
        self.nodes.iter().try_fold(1usize, |k, &n| k.checked_mul(n))
    }
}
