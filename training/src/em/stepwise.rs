//! Stepwise (online) EM's pass over the data (Cappé & Moulines 2009; Liang & Klein 2009): an
//! M-step after every mini-batch, from statistics blended over the mini-batches so far.
//!
//! With `s_k` the statistics of mini-batch `k` and `n_k` its rows (weighted rows: the sum of
//! their weights), the blend keeps means per row,
//!
//! ```text
//! s̄ ← (1 − η_k) s̄ + η_k s_k / n_k,    η_0 = 1,  η_k = (k + 2)^(−α),
//! ```
//!
//! and every blend is followed by `m_step(s̄, 1)`: the families' M-steps are homogeneous in
//! their statistics (weights `N_c / N`, means `S_c / N_c`, …), so the means per row are the
//! statistics of one row. Moments taken about each component's current mean are moved to the
//! new means after every M-step ([`Mixture::recentre_flat`]), so that the blend always holds
//! statistics about the parameters the next mini-batch meets. In a job of several processes
//! mini-batch `k` is the whole data's batches `k·B .. (k + 1)·B`, each process summing those
//! it holds ([`GlobalBatches`]).

use super::config::Stepwise;
use super::e_step::{check_finite, local_sums};
use super::report::{AfterIteration, FitReport, IterationRecord, StepwiseState};
use crate::TrainError;
use gmm_models::{Encoded, Mixture, Part};
use std::time::Instant;

/// One pass of stepwise EM at inverse temperature `beta`, continuing `report.stepwise` (a
/// pass it stopped inside, or the blend of the passes before). `hook` is called after every
/// mini-batch but the pass's last, with `report` holding the state inside the pass; the pass's
/// record is the caller's to push.
pub(crate) fn pass<M: Mixture>(
    mut layer: M,
    data: &Encoded,
    config: &Stepwise,
    beta: f64,
    iter: usize,
    report: &mut FitReport,
    hook: &mut AfterIteration<'_, M>,
) -> Result<(M, IterationRecord), TrainError> {
    let t0 = Instant::now();
    let batches = GlobalBatches::of(data);
    let steps = batches.total.div_ceil(config.batches);
    let mut state = report.stepwise.take().unwrap_or_else(|| StepwiseState {
        steps: 0,
        stats: Vec::new(),
        next: 0,
        sums: [0.0; 2],
    });
    let (mut emptied, mut reduce_seconds) = (Vec::new(), data.spread().then_some(0.0));
    let mut m_step = None;
    for j in state.next..steps {
        let range = batches.local(j * config.batches..(j + 1) * config.batches);
        let flat = mini_batch(&layer, data, beta, range, &mut reduce_seconds)?;
        // A mini-batch whose rows all weigh 0 moves nothing.
        if flat[2] > 0.0 {
            blend(&mut state, &flat[3..], flat[2], config);
            let blended = layer.stats_from_flat(&state.stats)?;
            let (next, m_report) = layer.clone().m_step(blended, 1)?;
            next.recentre_flat(&layer, &mut state.stats)?;
            layer = next;
            for c in m_report.emptied {
                if !emptied.contains(&c) {
                    emptied.push(c);
                }
            }
            m_step = m_report.ascent.or(m_step);
        }
        state.sums = [state.sums[0] + flat[0], state.sums[1] + flat[1]];
        state.next = j + 1;
        if state.next < steps {
            report.stepwise = Some(state);
            hook(&layer, report)?;
            state = report.stepwise.take().expect("the state was just set");
        }
    }
    let n = data.total() as f64;
    let record = IterationRecord {
        iter,
        beta,
        log_likelihood: state.sums[1] / n,
        objective: state.sums[0] / n,
        seconds: t0.elapsed().as_secs_f64(),
        valid_log_likelihood: None,
        reduce_seconds,
        emptied,
        pruned: Vec::new(),
        m_step,
    };
    report.stepwise = Some(StepwiseState { next: 0, sums: [0.0; 2], ..state });
    Ok((layer, record))
}

/// One mini-batch's `[Σ objective, Σ log p, rows, statistics…]` over the batches `range` of
/// this process, summed over the processes (the seconds that took added to `reduce_seconds`).
fn mini_batch<M: Mixture>(
    layer: &M,
    data: &Encoded,
    beta: f64,
    range: std::ops::Range<usize>,
    reduce_seconds: &mut Option<f64>,
) -> Result<Vec<f64>, TrainError> {
    let rows = range_rows(data, range.clone());
    let (objective, log_likelihood, stats) = local_sums(layer, data, beta, range)?;
    let mut flat = vec![objective, log_likelihood, rows];
    flat.extend(layer.stats_to_flat(&stats)?);
    if data.spread() {
        let t = Instant::now();
        crate::cluster::world().sum(&mut flat);
        *reduce_seconds.get_or_insert(0.0) += t.elapsed().as_secs_f64();
    }
    check_finite(flat[0], flat[1])?;
    Ok(flat)
}

/// Blends a mini-batch's statistics (`batch`, summed over its `rows`) into `state`:
/// `s̄ ← (1 − η_k) s̄ + η_k s_k / n_k`, `k = state.steps`.
fn blend(state: &mut StepwiseState, batch: &[f64], rows: f64, config: &Stepwise) {
    let eta = config.step_size(state.steps);
    if state.steps == 0 || state.stats.len() != batch.len() {
        state.stats = batch.iter().map(|v| v / rows).collect();
    } else {
        for (s, v) in state.stats.iter_mut().zip(batch) {
            *s = (1.0 - eta) * *s + eta * (v / rows);
        }
    }
    state.steps += 1;
}

/// Where this process's batches sit among the whole data set's: mini-batch `k` is the
/// batches `k·B .. (k + 1)·B` of the whole data (a shard holds whole batches, the ones one
/// process would form), each process summing those it holds, so that a job of several gives
/// the single process's mini-batches.
struct GlobalBatches {
    /// Batches of the whole data set.
    total: usize,
    /// The whole data set's index of this process's first own batch.
    first: usize,
    /// This process's own batches (local indices).
    own: std::ops::Range<usize>,
}

impl GlobalBatches {
    fn of(data: &Encoded) -> Self {
        let own = data.own_batches();
        match data.part {
            // Replicated rows: local indices are the whole data's.
            Part::Whole | Part::Alone => Self { total: data.n_batches(), first: own.start, own },
            // Shards hold consecutive blocks of batches in rank order.
            Part::Shard { .. } => {
                let cluster = crate::cluster::world();
                let mut counts = vec![0.0; cluster.size()];
                counts[cluster.rank()] = own.len() as f64;
                cluster.sum(&mut counts);
                let first = counts[..cluster.rank()].iter().sum::<f64>() as usize;
                Self { total: counts.iter().sum::<f64>() as usize, first, own }
            }
        }
    }

    /// The local batches of the whole data's batches `global` that this process holds.
    fn local(&self, global: std::ops::Range<usize>) -> std::ops::Range<usize> {
        let end = self.first + self.own.len();
        let lo = global.start.clamp(self.first, end);
        let hi = global.end.clamp(lo, end);
        let at = |g: usize| self.own.start + (g - self.first);
        at(lo)..at(hi)
    }
}

/// Rows of the batches `range` (with sample weights: their sum).
fn range_rows(data: &Encoded, range: std::ops::Range<usize>) -> f64 {
    match &data.weights {
        Some(w) => w[range].iter().flatten().map(|&v| f64::from(v)).sum(),
        None => range.map(|b| data.batch_len(b) as f64).sum(),
    }
}
