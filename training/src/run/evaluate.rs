//! Scores of a trained run folder: every layer's mean log-likelihood on a split (with its
//! standard error over the rows), each layer on the features of the one below.

use crate::config::{RunConfig, Split};
use crate::data::load_split;
use crate::em::{MeanLogLikelihood, log_likelihood_summary};
use crate::encode::encode_rows;
use crate::features::Feature;
use crate::report::metrics::Score;
use crate::run::folder::layer_dir;
use crate::{RunOptions, SavedLayer, StackLayer, TrainError};
use gmm_datasets::Images;
use gmm_models::Mixture;
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
