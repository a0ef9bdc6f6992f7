//! Class log-likelihoods of test digits under every class model, and a saved classifier scored
//! again.

use super::config::single_layer;
use super::figures::{ClassifyReport, decide};
use super::labelled::Labelled;
use gmm_datasets::Images;
use gmm_models::{Mixture, to_host_f64};
use gmm_training::config::{RunConfig, Split};
use gmm_training::encode::encode;
use gmm_training::folder::read_json;
use gmm_training::{Layer, RunOptions, SavedLayer, TrainError, with_layer};
use std::path::Path;

/// `log p(x_n | c)` of every test digit under every class model, `[N, C]` row-major.
pub fn class_log_likelihoods(
    layers: &[&Layer],
    test: &Images,
    batch: usize,
    opts: &RunOptions,
) -> Result<Vec<f64>, TrainError> {
    let (n, classes) = (test.len(), layers.len());
    let mut log_lik = vec![0.0; n * classes];
    for (c, layer) in layers.iter().enumerate() {
        let scores = with_layer!(layer, m => score(m, test, batch, opts)?);
        for (i, v) in scores.into_iter().enumerate() {
            log_lik[i * classes + c] = v;
        }
    }
    Ok(log_lik)
}

/// The test accuracy of a classification run folder's saved class models (and the number of
/// test digits), recomputed from `class<c>/` and `classify.json`'s class priors.
pub fn evaluate_classifier(run_dir: &Path, opts: &RunOptions) -> Result<(f64, usize), TrainError> {
    let config = RunConfig::load(&run_dir.join("config.toml"))?;
    let test = Labelled::load(&config.data, &opts.data_root, Split::Test, config.seed)?;
    score_classifier(run_dir, &config, &test, opts)
}

/// As [`evaluate_classifier`], on test digits already loaded for the run's `config`.
pub fn score_classifier(
    run_dir: &Path,
    config: &RunConfig,
    test: &Labelled,
    opts: &RunOptions,
) -> Result<(f64, usize), TrainError> {
    let spec = single_layer(config)?;
    let report_path = run_dir.join("classify.json");
    let report: ClassifyReport = read_json(&report_path)?;
    let mut layers = Vec::new();
    for c in 0..report.log_prior.len() {
        layers.push(SavedLayer::load(&run_dir.join(format!("class{c}")), &opts.device)?.1);
    }
    let refs: Vec<&Layer> = layers.iter().collect();
    let log_lik = class_log_likelihoods(&refs, &test.images, spec.em.batch_size, opts)?;
    let predicted = decide(&log_lik, &report.log_prior);
    let correct = test.labels.iter().zip(&predicted).filter(|&(&t, &p)| t as usize == p).count();
    Ok((correct as f64 / test.len().max(1) as f64, test.len()))
}

/// `log p(x_n)` of every test digit under one class model.
fn score<M: Mixture>(
    layer: &M,
    images: &Images,
    batch: usize,
    opts: &RunOptions,
) -> Result<Vec<f64>, TrainError> {
    let data = encode(layer, images, batch, &opts.device)?;
    Ok(data.concat_batches(|_, x| to_host_f64(layer.score_samples(x.clone())))?)
}
