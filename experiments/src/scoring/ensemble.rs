//! An ensemble of trained runs: the mixture of their densities,
//! `p(x) = Σ_m w_m p_m(x)` with `Σ_m w_m = 1` — itself a mixture model (a mixture of GMMs is a
//! GMM; of deep GMMs, a deep GMM with one more node on top), so it is scored like one:
//! `log p(x_n) = logsumexp_m (log w_m + log p_m(x_n))`, the mean over the rows with its standard
//! error.
//!
//! The weights are equal, or fitted by EM on other rows (the validation split): with every
//! member fixed, `r_nm ∝ w_m p_m(x_n)` and `w_m ← (1/N) Σ_n r_nm`, which never lowers
//! `Σ_n log p(x_n)`. Choosing them on the rows that are then reported would flatter the figure.

use super::{ScoreInput, score_stream};
use crate::zoo::{data_fingerprint, resolve_run};
use gmm_datasets::bsds300::Augment;
use gmm_models::host::log_sum_exp;
use gmm_training::config::RunConfig;
use gmm_training::data::load_split;
use gmm_training::em::MeanLogLikelihood;
use gmm_training::{RunOptions, TrainError};
use std::path::PathBuf;

/// EM iterations that fit the weights at most.
const WEIGHT_ITERATIONS: usize = 500;
/// The weights' fit stops when the mean log-likelihood rises by less than this (nats).
const WEIGHT_TOL: f64 = 1e-9;

/// One member of an ensemble and its own score.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The run folder.
    pub run: PathBuf,
    /// Its weight `w_m`.
    pub weight: f64,
    /// Its own mean log-likelihood of the scored rows.
    pub score: MeanLogLikelihood,
}

/// What an ensemble scored.
#[derive(Debug, Clone, PartialEq)]
pub struct EnsembleScore {
    /// Every member, in the order given.
    pub members: Vec<Member>,
    /// The mixture's mean log-likelihood of the rows.
    pub score: MeanLogLikelihood,
}

/// Every row's `log p_m(x)` under each run's layer `layer.0` (averaged over the symmetry group
/// `layer.1`): `[run][row]`. For a split, every
/// run must draw the same rows from its config.
fn member_rows(
    runs: &[PathBuf],
    input: &ScoreInput,
    layer: (usize, Augment),
    opts: &RunOptions,
) -> Result<Vec<Vec<f64>>, TrainError> {
    if let ScoreInput::Split(split) = input {
        let mut first: Option<(String, &PathBuf)> = None;
        for run in runs {
            let config = RunConfig::load(&resolve_run(run)?.join("config.toml"))?;
            let rows = load_split(&config.data, &opts.data_root, *split, config.seed)?;
            let print = data_fingerprint(&rows);
            match &first {
                None => first = Some((print, run)),
                Some((p, r)) if *p != print => {
                    return Err(TrainError::Failed(format!(
                        "{} draws other {split} rows than {} (their [data] or seed differ): an \
                         ensemble scores one set of rows",
                        run.display(),
                        r.display()
                    )));
                }
                Some(_) => {}
            }
        }
    }
    let mut all = Vec::with_capacity(runs.len());
    for run in runs {
        let mut rows = Vec::new();
        score_stream(run, input, layer, false, opts, &mut |_, scores| {
            rows.extend(scores.iter().map(|s| s.log_likelihood));
            Ok(())
        })?;
        all.push(rows);
    }
    Ok(all)
}

/// `log p(x_n) = logsumexp_m (log w_m + ℓ_mn)` for every row n.
fn mixed(rows: &[Vec<f64>], weights: &[f64]) -> Vec<f64> {
    let log_w: Vec<f64> = weights.iter().map(|w| w.ln()).collect();
    (0..rows[0].len())
        .map(|n| log_sum_exp(&(0..rows.len()).map(|m| log_w[m] + rows[m][n]).collect::<Vec<_>>()))
        .collect()
}

fn summary(values: &[f64]) -> MeanLogLikelihood {
    let (sum, sum_sq) = values.iter().fold((0.0, 0.0), |(s, q), v| (s + v, q + v * v));
    MeanLogLikelihood::from_sums(sum, sum_sq, values.len())
}

/// The weights `w_m` of highest mean log-likelihood of the rows `ℓ_mn` (`[member][row]`), by
/// EM from equal weights.
pub fn fit_weights(rows: &[Vec<f64>]) -> Vec<f64> {
    let m = rows.len();
    let mut weights = vec![1.0 / m as f64; m];
    let mut before = f64::NEG_INFINITY;
    for _ in 0..WEIGHT_ITERATIONS {
        let log_p = mixed(rows, &weights);
        let mean = log_p.iter().sum::<f64>() / log_p.len() as f64;
        let n = log_p.len() as f64;
        weights = (0..m)
            .map(|j| {
                let w = weights[j].ln();
                rows[j].iter().zip(&log_p).map(|(l, p)| (w + l - p).exp()).sum::<f64>() / n
            })
            .collect();
        if mean - before < WEIGHT_TOL {
            break;
        }
        before = mean;
    }
    weights
}

/// Scores `input` with the mixture of the runs' densities (layer `layer.0` of each, averaged
/// over the symmetry group `layer.1` as [`score_stream`] does), its weights equal or, with
/// `weights_from`, fitted on those rows first.
pub fn score_ensemble(
    runs: &[PathBuf],
    input: &ScoreInput,
    weights_from: Option<&ScoreInput>,
    layer: (usize, Augment),
    opts: &RunOptions,
) -> Result<EnsembleScore, TrainError> {
    if runs.len() < 2 {
        return Err(TrainError::Failed(format!(
            "an ensemble needs at least two runs, got {}",
            runs.len()
        )));
    }
    let weights = match weights_from {
        Some(other) => fit_weights(&member_rows(runs, other, layer, opts)?),
        None => vec![1.0 / runs.len() as f64; runs.len()],
    };
    let rows = member_rows(runs, input, layer, opts)?;
    let members = runs
        .iter()
        .zip(&weights)
        .zip(&rows)
        .map(|((run, &weight), r)| Member { run: run.clone(), weight, score: summary(r) })
        .collect();
    Ok(EnsembleScore { members, score: summary(&mixed(&rows, &weights)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_weights_find_the_mixture_the_rows_came_from() {
        // Rows from a 0.3 / 0.7 mixture of two densities known at every row: ℓ_mn exact.
        let normal =
            |x: f64, mu: f64| -0.5 * (x - mu).powi(2) - 0.5 * (2.0 * std::f64::consts::PI).ln();
        let xs: Vec<f64> = (0..20000)
            .map(|i| {
                let u = (i as f64 + 0.5) / 20000.0;
                // Component 0 for the first 30 % of the rows, 1 for the rest, spread evenly.
                let (mu, v) = if u < 0.3 { (-3.0, u / 0.3) } else { (3.0, (u - 0.3) / 0.7) };
                mu + 2.0 * (v - 0.5)
            })
            .collect();
        let rows: Vec<Vec<f64>> =
            [-3.0, 3.0].iter().map(|&mu| xs.iter().map(|&x| normal(x, mu)).collect()).collect();
        let w = fit_weights(&rows);
        assert!((w[0] - 0.3).abs() < 0.01 && (w[1] - 0.7).abs() < 0.01, "{w:?}");
        assert!((w[0] + w[1] - 1.0).abs() < 1e-12);
        // The fitted weights score the rows at least as well as equal ones.
        let mean = |w: &[f64]| mixed(&rows, w).iter().sum::<f64>() / xs.len() as f64;
        assert!(mean(&w) > mean(&[0.5, 0.5]));
    }

    #[test]
    fn a_mixture_of_one_density_with_itself_is_that_density() {
        let rows = vec![vec![-1.0, -2.5, 0.3], vec![-1.0, -2.5, 0.3]];
        let got = mixed(&rows, &[0.4, 0.6]);
        for (g, want) in got.iter().zip(&rows[0]) {
            assert!((g - want).abs() < 1e-12);
        }
    }
}
