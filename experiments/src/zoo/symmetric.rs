//! A shipped model's figures averaged over the symmetries of its square patches
//! (`gmmzoo zoo symmetric`): `q(x) = (1/|G|) Σ_g p(g·x)` on the validation and test rows
//! ([`score_run_symmetric`]), recorded beside the model's own figures, reproduced by
//! `zoo verify`, shown by `zoo table`. The validation figure is the one to choose the group on.

use super::{Entry, Manifest};
use gmm_datasets::Images;
use gmm_datasets::bsds300::Augment;
use gmm_training::config::{RunConfig, Split};
use gmm_training::data::load_split;
use gmm_training::em::MeanLogLikelihood;
use gmm_training::{RunOptions, TrainError, score_run_symmetric};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A model's figures averaged over a symmetry group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymmetricEntry {
    /// The group: `mirror` (2 elements) or `dihedral` (the square's 8).
    pub group: Augment,
    /// Mean validation log-likelihood of the averaged model, nats/sample (where the config
    /// has validation rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_nats: Option<f64>,
    /// Its standard error over the validation rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_standard_error: Option<f64>,
    /// Mean test log-likelihood of the averaged model, nats/sample.
    pub test_nats: f64,
    /// Its standard error over the test rows.
    pub test_standard_error: f64,
}

impl SymmetricEntry {
    /// How the table names the averaged model, e.g. `8 symmetries (dihedral)`.
    pub fn label(&self) -> String {
        format!("{} symmetries ({})", self.group.order(), self.group.name())
    }
}

/// The run's `split` rows scored by its model averaged over `group`.
fn averaged(
    dir: &Path,
    split: Split,
    group: Augment,
    opts: &RunOptions,
) -> Result<MeanLogLikelihood, TrainError> {
    let config = RunConfig::load(&dir.join("config.toml"))?;
    let rows = load_split(&config.data, &opts.data_root, split, config.seed)?;
    score_run_symmetric(dir, &config, &rows, group, opts)
}

/// Scores the shipped checkpoint `name` averaged over `group` on its validation rows (where
/// its entry records a validation figure) and test rows, and records both in its manifest
/// entry.
pub fn record_symmetric(
    checkpoints: &Path,
    name: &str,
    group: Augment,
    opts: &RunOptions,
) -> Result<Entry, TrainError> {
    let mut manifest = Manifest::load(checkpoints)?;
    let Some(entry) = manifest.models.iter_mut().find(|e| e.name == name && e.shipped) else {
        return Err(TrainError::Failed(format!("{name}: no shipped checkpoint of that name")));
    };
    if group.order() == 1 || entry.layers.len() != 1 || entry.accuracy.is_some() {
        return Err(TrainError::Failed(format!(
            "{name}: a symmetric figure is recorded for a model of one layer (not a stack or a \
             classifier) under the group \"mirror\" or \"dihedral\""
        )));
    }
    let dir = checkpoints.join(name);
    let valid = match entry.layers[0].valid_nats {
        Some(_) => Some(averaged(&dir, Split::Valid, group, opts)?),
        None => None,
    };
    let test = averaged(&dir, Split::Test, group, opts)?;
    entry.symmetric = Some(SymmetricEntry {
        group,
        valid_nats: valid.map(|v| v.mean),
        valid_standard_error: valid.map(|v| v.standard_error),
        test_nats: test.mean,
        test_standard_error: test.standard_error,
    });
    let recorded = entry.clone();
    manifest.save(checkpoints)?;
    Ok(recorded)
}

/// Where the entry records a symmetric figure, that its test (and validation) figure is
/// reproduced within `tolerance`, on the rows `verify` has already drawn.
pub(super) fn symmetric_reproduced(
    dir: &Path,
    config: &RunConfig,
    entry: &Entry,
    test: &Images,
    valid: Option<&Images>,
    opts: &RunOptions,
    tolerance: f64,
) -> Result<(), String> {
    let Some(s) = &entry.symmetric else {
        return Ok(());
    };
    let figures =
        [(Split::Test, Some(test), Some(s.test_nats)), (Split::Valid, valid, s.valid_nats)];
    for (split, rows, recorded) in figures {
        let (Some(rows), Some(recorded)) = (rows, recorded) else { continue };
        let got =
            score_run_symmetric(dir, config, rows, s.group, opts).map_err(|e| e.to_string())?.mean;
        if (got - recorded).abs() > tolerance {
            return Err(format!(
                "{split} figure averaged over {} {got:.6} differs from the recorded {recorded:.6} \
                 by more than {tolerance}",
                s.label()
            ));
        }
    }
    Ok(())
}
