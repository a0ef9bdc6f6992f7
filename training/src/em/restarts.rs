//! `n_init` restarts (scikit-learn's `n_init`): whole EM fits from several seeded
//! initialisations, the best final log-likelihood (training, or validation with `stop_on =
//! "valid"`) kept.

use super::config::EmConfig;
use super::e_step::mean_log_likelihood;
use super::iterations::fit_one;
use super::report::{AfterIteration, FitReport, RestartRecord, Start};
use super::watch::StopOn;
use crate::TrainError;
use crate::progress::Progress;
use gmm_models::{Encoded, Mixture};

/// The seed of restart `r` of a fit seeded with `base` (restart 0 is `base` itself).
pub fn restart_seed(base: u64, r: usize) -> u64 {
    base.wrapping_add((r as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Restart `r` is a whole fit from [`restart_seed`]`(seed, r)`; the restart with the highest
/// final mean log-likelihood (the first of equals) is returned, its report listing every
/// restart. The hook sees each restart's iterations with the restarts finished before it, so a
/// checkpoint resumes inside the restart it was written in; a finished restart that is not in
/// memory when the best is chosen (it ended before an interruption) is refitted from its seed,
/// which gives the same parameters on the same machine and thread count.
pub fn fit_restarts<M: Mixture>(
    layer: M,
    (data, valid): (&Encoded, Option<&Encoded>),
    config: &EmConfig,
    start: Start,
    progress: &Progress,
    after_iteration: &mut AfterIteration<'_, M>,
) -> Result<(M, FitReport), TrainError> {
    let (base, mut done, mut start) = match start {
        Start::Fresh { seed } => (seed, Vec::new(), Start::Fresh { seed }),
        Start::Resume(mut report) => {
            let done = std::mem::take(&mut report.restarts);
            let current = report.rng.as_ref().map(|r| r.seed);
            let base = done.first().map(|r: &RestartRecord| r.seed).or(current).unwrap_or(0);
            (base, done, Start::Resume(report))
        }
    };
    // What a restart is judged by: its training log-likelihood, or its validation one.
    let key = |r: &RestartRecord| match config.stop_on {
        StopOn::Valid => r.valid_log_likelihood.unwrap_or(f64::NEG_INFINITY),
        StopOn::Train => r.log_likelihood,
    };
    let fresh = layer;
    let mut best: Option<(usize, M, FitReport)> = None;
    for r in done.len()..config.n_init {
        progress.log(&format!("restart {}/{}", r + 1, config.n_init));
        let finished = done.clone();
        let mut hook = |layer: &M, report: &FitReport| {
            after_iteration(layer, &FitReport { restarts: finished.clone(), ..report.clone() })
        };
        let (fitted, report) =
            fit_one(fresh.clone(), (data, valid), config, start, progress, &mut hook)?;
        let log_likelihood = mean_log_likelihood(&fitted, data)?;
        let valid_log_likelihood = valid.map(|v| mean_log_likelihood(&fitted, v)).transpose()?;
        let seed = restart_seed(base, r);
        let iterations = report.iterations.len();
        done.push(RestartRecord { seed, log_likelihood, valid_log_likelihood, iterations });
        if best.as_ref().is_none_or(|(b, ..)| key(&done[r]) > key(&done[*b])) {
            best = Some((r, fitted, report));
        }
        start = Start::Fresh { seed: restart_seed(base, r + 1) };
    }
    let winner = (0..done.len()).fold(0, |b, r| if key(&done[r]) > key(&done[b]) { r } else { b });
    progress.log(&format!(
        "restart {} of {} kept: {} log-likelihood {:.4} nats/sample",
        winner + 1,
        done.len(),
        if config.stop_on == StopOn::Valid { "validation" } else { "training" },
        key(&done[winner])
    ));
    let (layer, report) = match best {
        Some((r, layer, report)) if r == winner => (layer, report),
        _ => {
            progress.log(&format!("refitting restart {} from its seed", winner + 1));
            let start = Start::Fresh { seed: done[winner].seed };
            fit_one(fresh, (data, valid), config, start, progress, &mut |_, _| Ok(()))?
        }
    };
    Ok((layer, FitReport { restarts: done, ..report }))
}
