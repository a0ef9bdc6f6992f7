//! The one EM driver's entry: one fit, or `n_init` restarts of it.

use super::config::EmConfig;
use super::iterations::fit_one;
use super::report::{AfterIteration, FitReport, Start};
use super::restarts::fit_restarts;
use crate::TrainError;
use crate::progress::Progress;
use gmm_models::{Encoded, Mixture};

/// Fits `layer` to `data` by EM: seeded initialisation, then at most `max_iter` iterations;
/// `config` is checked first.
pub fn fit<M: Mixture>(
    layer: M,
    data: &Encoded,
    config: &EmConfig,
    seed: u64,
    progress: &Progress,
) -> Result<(M, FitReport), TrainError> {
    config.validate()?;
    fit_with(layer, data, config, Start::Fresh { seed }, progress, &mut |_, _| Ok(()))
}

/// [`fit`] with a start (fresh or resumed) and a hook after every iteration; with
/// `n_init > 1`, [`fit_restarts`]. `config` must be valid ([`EmConfig::validate`]: a run's is
/// checked once, when its config is read); it is not checked again here.
pub fn fit_with<M: Mixture>(
    layer: M,
    data: &Encoded,
    config: &EmConfig,
    start: Start,
    progress: &Progress,
    after_iteration: &mut AfterIteration<'_, M>,
) -> Result<(M, FitReport), TrainError> {
    fit_watched(layer, (data, None), config, start, progress, after_iteration)
}

/// [`fit_with`] that also scores validation rows after every iteration
/// ([`IterationRecord::valid_log_likelihood`](super::IterationRecord)), which `[em] stop_on =
/// "valid"` needs.
pub fn fit_watched<M: Mixture>(
    layer: M,
    data: (&Encoded, Option<&Encoded>),
    config: &EmConfig,
    start: Start,
    progress: &Progress,
    after_iteration: &mut AfterIteration<'_, M>,
) -> Result<(M, FitReport), TrainError> {
    match config.n_init {
        1 => fit_one(layer, data, config, start, progress, after_iteration),
        _ => fit_restarts(layer, data, config, start, progress, after_iteration),
    }
}
