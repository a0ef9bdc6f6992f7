//! Early stopping on validation rows (`[em] stop_on = "valid"`): after every iteration EM
//! scores rows held out of training, and `tol` watches their mean log-likelihood instead of
//! the training one — the rule that stops a model before it overfits, and that chooses
//! settings on rows training never saw.

use super::report::IterationRecord;
use serde::{Deserialize, Serialize};

/// The log-likelihood `tol` watches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopOn {
    /// The training rows': EM stops when one iteration changes it by less than `tol`.
    #[default]
    Train,
    /// The validation rows' (`[data] n_valid`): EM stops when one iteration raises it by less
    /// than `tol`, and an iteration that lowered it is undone (the fit keeps the parameters
    /// of the iteration before). Annealing stages (β < 1) still watch their own objective;
    /// restarts keep the one of highest validation log-likelihood.
    Valid,
}

impl StopOn {
    /// Whether this is the default (left out of a saved config).
    pub fn is_train(&self) -> bool {
        *self == StopOn::Train
    }

    /// Whether the rule at inverse temperature `beta` watches the validation rows.
    pub fn watches_valid(self, beta: f64) -> bool {
        self == StopOn::Valid && beta == 1.0
    }

    /// What the rule at `beta` compares from `earlier` to `later` (records of one β): the
    /// change of the objective, or of the validation log-likelihood; `None` where one of them
    /// has no validation figure.
    pub fn change(self, earlier: &IterationRecord, later: &IterationRecord) -> Option<f64> {
        match self.watches_valid(later.beta) {
            false => Some(later.objective - earlier.objective),
            true => Some(later.valid_log_likelihood? - earlier.valid_log_likelihood?),
        }
    }

    /// Whether the last two of `done` (the records of one stage, at `beta`) already end it: a
    /// resumed fit decides it again under its config's rule.
    pub fn settled(self, done: &[&IterationRecord], beta: f64, tol: f64) -> bool {
        done.windows(2)
            .last()
            .and_then(|w| self.change(w[0], w[1]))
            .is_some_and(|c| self.stops(beta, c, tol))
    }

    /// Whether `change` (from [`Self::change`]) at `beta` ends EM: `|change| < tol` on the
    /// training objective (EM never lowers it), `change < tol` on the validation rows (it may
    /// fall).
    pub fn stops(self, beta: f64, change: f64, tol: f64) -> bool {
        match self.watches_valid(beta) {
            false => change.abs() < tol,
            true => change < tol,
        }
    }
}
