//! One EM fit from one start: initialise (or resume) → E-step → M-step → lower bound → `tol`
//! test, with optional deterministic annealing and pruning.

use super::config::EmConfig;
use super::e_step::{e_step, mean_log_likelihood};
use super::report::{AfterIteration, FitReport, IterationRecord, RngState, Start, StepwiseState};
use super::stepwise;
use super::watch::StopOn;
use crate::TrainError;
use crate::progress::Progress;
use gmm_models::{Encoded, Mixture, ModelError};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

/// One EM fit from one start.
pub(crate) fn fit_one<M: Mixture>(
    layer: M,
    (data, valid): (&Encoded, Option<&Encoded>),
    config: &EmConfig,
    start: Start,
    progress: &Progress,
    after_iteration: &mut AfterIteration<'_, M>,
) -> Result<(M, FitReport), TrainError> {
    let (mut layer, mut report) = begin(layer, (data, valid), config, start)?;
    // Whether EM has settled is decided again under this config's stopping rule (a run
    // resumes under another `tol` or `max_iter` than it was started with).
    report.converged = false;
    let stages = config.stages();
    let total: usize = stages.iter().map(|s| s.1).sum();
    let bar = progress.bar(total as u64, "EM");
    bar.inc(report.iterations.len() as u64);
    for (stage, &(beta, max_iter, tol)) in stages.iter().enumerate() {
        // On resume, the iterations already recorded at this β count towards the stage.
        let done: Vec<&IterationRecord> =
            report.iterations.iter().filter(|r| r.beta == beta).collect();
        let rule = config.stop_on;
        let settled = rule.settled(&done, beta, tol);
        let later_started = report.iterations.last().is_some_and(|r| r.beta > beta);
        if done.len() >= max_iter || settled || later_started {
            if stage + 1 == stages.len() && settled {
                report.converged = true;
            }
            continue;
        }
        for _ in done.len()..max_iter {
            let mut record;
            let iter = report.iterations.len() + 1;
            let before = rule.watches_valid(beta).then(|| layer.clone());
            (layer, record) = match &config.stepwise {
                Some(sw) if !(sw.warm_up && report.stepwise.is_none()) => {
                    stepwise::pass(layer, data, sw, beta, iter, &mut report, after_iteration)?
                }
                _ => iteration(layer, data, config, beta, iter, &mut report)?,
            };
            if let Some(valid) = valid {
                record.valid_log_likelihood = Some(mean_log_likelihood(&layer, valid)?);
            }
            log_iteration(progress, &record, report.iterations.last(), total);
            let change = report
                .iterations
                .last()
                .filter(|r| r.beta == beta)
                .and_then(|r| rule.change(r, &record));
            report.iterations.push(record);
            bar.inc(1);
            let stop = change.is_some_and(|c| rule.stops(beta, c, tol));
            if stop && stage + 1 == stages.len() {
                report.converged = true;
            }
            // An iteration that lowered the validation log-likelihood is undone.
            if let (Some(before), Some(c)) = (before, change)
                && c < 0.0
            {
                layer = before;
                report.best_iteration = Some(iter - 1);
            }
            after_iteration(&layer, &report)?;
            if stop {
                break;
            }
        }
    }
    bar.finish_and_clear();
    Ok((layer, report))
}

/// One batch EM iteration at inverse temperature `beta`: E-step, M-step, then pruning where
/// configured. In stepwise EM this is the warm-up pass, whose statistics (means per row) start
/// the blend in `report`.
fn iteration<M: Mixture>(
    layer: M,
    data: &Encoded,
    config: &EmConfig,
    beta: f64,
    iter: usize,
    report: &mut FitReport,
) -> Result<(M, IterationRecord), TrainError> {
    let t0 = Instant::now();
    let estep = e_step(&layer, data, beta)?;
    let blend = match config.stepwise {
        Some(_) => {
            let n = data.total() as f64;
            Some((
                layer.clone(),
                layer.stats_to_flat(&estep.stats)?.iter().map(|v| v / n).collect::<Vec<f64>>(),
            ))
        }
        None => None,
    };
    let (mut layer, m_report) = layer.m_step(estep.stats, data.total())?;
    if let Some((before, mut stats)) = blend {
        layer.recentre_flat(&before, &mut stats)?;
        report.stepwise = Some(StepwiseState { steps: 1, stats, next: 0, sums: [0.0; 2] });
    }
    let mut pruned = Vec::new();
    if let Some(threshold) = config.prune_below {
        (layer, pruned) = prune_weak(layer, threshold)?;
    }
    let n = data.total() as f64;
    let record = IterationRecord {
        iter,
        beta,
        log_likelihood: estep.log_likelihood_sum / n,
        objective: estep.objective_sum / n,
        seconds: t0.elapsed().as_secs_f64(),
        valid_log_likelihood: None,
        reduce_seconds: estep.reduce_seconds,
        emptied: m_report.emptied,
        pruned,
        m_step: m_report.ascent,
    };
    Ok((layer, record))
}

/// The layer and report EM's loop starts from: a seeded initialisation, or a checkpoint's.
fn begin<M: Mixture>(
    layer: M,
    (data, valid): (&Encoded, Option<&Encoded>),
    config: &EmConfig,
    start: Start,
) -> Result<(M, FitReport), ModelError> {
    if config.stop_on == StopOn::Valid && valid.is_none() {
        return Err(ModelError::InvalidConfig {
            field: "stop_on",
            reason: "\"valid\" needs validation rows: set [data] n_valid".into(),
        });
    }
    match start {
        Start::Fresh { seed } => {
            let t = Instant::now();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let fresh = layer.clone();
            let layer = layer.initialize(data, config.init, &mut rng)?;
            let layer = if data.spread() { same_start(layer, fresh)? } else { layer };
            let rng = RngState { seed, word_pos: rng.get_word_pos().to_string() };
            let report = FitReport {
                init_seconds: t.elapsed().as_secs_f64(),
                rng: Some(rng),
                ..FitReport::default()
            };
            Ok((layer, report))
        }
        Start::Resume(report) => Ok((layer, report)),
    }
}

/// In a data-parallel job every rank takes rank 0's initialisation: its parameters are
/// broadcast as a Burn record and loaded into a fresh layer (`fresh`, the layer before
/// `initialize`), so that all ranks start EM from the same bits. (The ranks' own
/// initialisations agree up to the order of their sums, which completes them over shards.)
fn same_start<M: Mixture>(layer: M, fresh: M) -> Result<M, ModelError> {
    use burn::store::ModuleRecord;
    let cluster = crate::cluster::world();
    let failed = |e: String| ModelError::InvalidConfig { field: "init", reason: e };
    let mut bytes = match cluster.is_root() {
        true => layer.into_record().into_bytes().map_err(|e| failed(format!("{e:?}")))?.to_vec(),
        false => Vec::new(),
    };
    cluster.broadcast(0, &mut bytes);
    let record = ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
        .map_err(|e| failed(format!("rank 0's initial parameters: {e:?}")))?;
    fresh.try_load_record(record).map_err(|e| failed(format!("rank 0's initial parameters: {e:?}")))
}

/// Removes every component whose weight is below `threshold` (unless that would remove them
/// all), renormalising the rest; returns the removed `(component, weight)` pairs.
pub fn prune_weak<M: Mixture>(
    layer: M,
    threshold: f64,
) -> Result<(M, Vec<(usize, f64)>), ModelError> {
    let weights = layer.weights()?;
    let keep: Vec<usize> = (0..weights.len()).filter(|&c| weights[c] >= threshold).collect();
    if keep.is_empty() || keep.len() == weights.len() {
        return Ok((layer, Vec::new()));
    }
    let removed =
        (0..weights.len()).filter(|c| !keep.contains(c)).map(|c| (c, weights[c])).collect();
    Ok((layer.prune(&keep)?, removed))
}

fn log_iteration(
    progress: &Progress,
    r: &IterationRecord,
    previous: Option<&IterationRecord>,
    total: usize,
) {
    match r.emptied.as_slice() {
        [] => {}
        [c] => progress.log(&format!(
            "iter {}: component {c} has no responsibility mass; kept its previous parameters \
             (or pruned, as configured)",
            r.iter
        )),
        many => {
            let shown: Vec<String> = many.iter().take(12).map(usize::to_string).collect();
            let more = if many.len() > 12 { ", …" } else { "" };
            progress.log(&format!(
                "iter {}: {} components have no responsibility mass ({}{more}); kept their \
                 previous parameters (or pruned, as configured)",
                r.iter,
                many.len(),
                shown.join(", ")
            ));
        }
    }
    for (c, w) in &r.pruned {
        progress.log(&format!(
            "iter {}: pruned component {c} (weight {w:.3e} below prune_below)",
            r.iter
        ));
    }
    let change = previous.filter(|p| p.beta == r.beta).map(|p| r.objective - p.objective);
    let beta = if r.beta < 1.0 {
        format!("  beta {:.4}  objective {:.4}", r.beta, r.objective)
    } else {
        String::new()
    };
    let climb = r.m_step.map_or(String::new(), |a| {
        format!(
            "  M-step {:+.3e} ({:+.3e} in the last {} of {} steps, {:.1} s)",
            a.gain,
            a.second_half_gain,
            a.steps / 2,
            a.steps,
            a.seconds
        )
    });
    let valid = r.valid_log_likelihood.map_or(String::new(), |v| format!("  valid {v:.4}"));
    progress.log(&format!(
        "iter {:>4}/{total}  log-likelihood {:>12.4} nats/sample  change {}{valid}{beta}{climb}  \
         {:.3} s",
        r.iter,
        r.log_likelihood,
        change.map_or("-".to_string(), |c| format!("{c:+.3e}")),
        r.seconds
    ));
}
