//! Scores of a trained run folder: every layer's mean log-likelihood on a split (with its
//! standard error over the rows), each layer on the features of the one below; a one-layer
//! model's averaged over the symmetries of its patches.

use crate::config::{RunConfig, Split};
use crate::data::load_split;
use crate::em::{MeanLogLikelihood, log_likelihood_summary};
use crate::encode::encode_rows;
use crate::features::Feature;
use crate::report::metrics::Score;
use crate::run::folder::layer_dir;
use crate::{RunOptions, SavedLayer, StackLayer, TrainError};
use gmm_datasets::Images;
use gmm_datasets::symmetry::{Augment, square_rows};
use gmm_models::host::log_mean_exp;
use gmm_models::{Mixture, to_host_f64};
use std::path::Path;

/// Scores a trained run folder on one split, layer by layer (each layer on the features of
/// the one below): mean log-likelihood in nats per sample and bits per dimension.
pub fn evaluate_run(
    run_dir: &Path,
    split: Split,
    opts: &RunOptions,
) -> Result<Vec<Score>, TrainError> {
    let config = RunConfig::load(&run_dir.join("config.toml"))?;
    let images = load_split(&config.data, &opts.data_root, split, config.seed)?;
    score_run(run_dir, &config, &images, opts)
}

/// As [`evaluate_run`], on images already loaded for the run's `config`.
pub fn score_run(
    run_dir: &Path,
    config: &RunConfig,
    images: &Images,
    opts: &RunOptions,
) -> Result<Vec<Score>, TrainError> {
    let stack = config.stack();
    let mut rows = images.pixels.clone();
    let mut scores = Vec::new();
    for (i, spec) in stack.iter().enumerate() {
        let (saved, layer) = SavedLayer::load(&layer_dir(run_dir, i, stack.len()), &opts.device)?;
        let dims = saved.input_shape[0] * saved.input_shape[1];
        let next = stack.get(i + 1).and_then(|s| s.input);
        let (summary, next_rows) =
            with_layer!(&layer, m => score_layer(m, &rows, spec, next, opts)?);
        scores.push(Score::of(summary, dims));
        if let Some(r) = next_rows {
            rows = r;
        }
    }
    Ok(scores)
}

/// One layer's mean log-likelihood of `rows` (with its standard error), and the next layer's
/// feature rows.
fn score_layer<M: Mixture>(
    layer: &M,
    rows: &[f32],
    spec: &StackLayer,
    next: Option<Feature>,
    opts: &RunOptions,
) -> Result<(MeanLogLikelihood, Option<Vec<f32>>), TrainError> {
    let enc = encode_rows(layer, rows, spec.em.batch_size, &opts.device)?;
    let mean = log_likelihood_summary(layer, &enc)?;
    let next_rows = next.map(|f| f.compute(layer, &enc)).transpose()?;
    Ok((mean, next_rows))
}

/// The mean over `images` of `log q(x) = logsumexp_g log p(g·x) − log |G|`, the run's model
/// (one layer) averaged over the symmetry group `group` of its square patches
/// ([`gmm_datasets::symmetry`]), with its standard error over the rows.
pub fn score_run_symmetric(
    run_dir: &Path,
    config: &RunConfig,
    images: &Images,
    group: Augment,
    opts: &RunOptions,
) -> Result<MeanLogLikelihood, TrainError> {
    let stack = config.stack();
    if stack.len() != 1 {
        return Err(TrainError::Failed(format!(
            "{}: a model averaged over symmetries is one layer's, not a stack of {}",
            run_dir.display(),
            stack.len()
        )));
    }
    let (saved, layer) = SavedLayer::load(&layer_dir(run_dir, 0, 1), &opts.device)?;
    let square = square_rows(saved.input_shape[0] * saved.input_shape[1], group)?;
    let per_element = (0..group.order())
        .map(|g| {
            with_layer!(&layer, m => {
                let rows = square.map(&images.pixels, g);
                let enc = encode_rows(m, &rows, stack[0].em.batch_size, &opts.device)?;
                Ok(enc.concat_batches(|_, x| to_host_f64(m.score_samples(x.clone())))?)
            })
        })
        .collect::<Result<Vec<Vec<f64>>, TrainError>>()?;
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    for n in 0..per_element[0].len() {
        let logs: Vec<f64> = per_element.iter().map(|s| s[n]).collect();
        let v = log_mean_exp(&logs);
        (sum, sum_sq) = (sum + v, sum_sq + v * v);
    }
    Ok(MeanLogLikelihood::from_sums(sum, sum_sq, per_element[0].len()))
}
