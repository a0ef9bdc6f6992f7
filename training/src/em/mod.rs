//! The one EM driver. It owns the loop (initialise → E-step → M-step → lower bound → `tol`
//! test, with optional deterministic annealing and pruning) and nothing family-specific, like
//! scikit-learn's `BaseMixture.fit`: `driver.rs` (one fit or `n_init` restarts of it,
//! `restarts.rs`), `iterations.rs` (one fit's loop), `e_step.rs` (a pass over the data and the
//! log-likelihood), `stepwise.rs` (stepwise EM's pass, an M-step per mini-batch), `watch.rs`
//! (early stopping on validation rows), `report.rs` (what a fit did), `config.rs` (the `[em]`
//! settings).

mod config;
mod driver;
mod e_step;
mod iterations;
mod report;
mod restarts;
mod stepwise;
mod watch;

pub use config::{Annealing, EmConfig, Stepwise};
pub use driver::{fit, fit_watched, fit_with};
pub use e_step::{EStep, MeanLogLikelihood, e_step, log_likelihood_summary, mean_log_likelihood};
pub use iterations::prune_weak;
pub use report::{
    AfterIteration, FitReport, IterationRecord, RestartRecord, RngState, Start, StepwiseState,
};
pub use restarts::{fit_restarts, restart_seed};
pub use watch::StopOn;
