//! Where a layer starts, decided in one place: [`start_layer`] is the one function that reads
//! a trained layer's files to begin another, and [`LayerStart`] the one list of the ways.
//!
//! A layer of a run is, in this order of precedence: reused as it is (`reuse`), already
//! completed before an interruption, resumed from the run's checkpoint, warm-started from a
//! trained layer of the same config (`em.warm_start`), started from a trained model its config
//! names ([`TrainedStart`]: a deep GMM's `first_layer` or `widen_from`), or fresh (initialised
//! by `em.init` when EM begins). The models receive parameters, never paths.

use crate::em::{FitReport, Start};
pub use crate::family::TrainedStart;
use crate::report::metrics::Metrics;
use crate::run::checkpoint::{self, Checkpoint, Fingerprint};
use crate::run::folder::read_json;
use crate::{Layer, RunConfig, RunOptions, SavedLayer, StackLayer, TrainError};
use gmm_models::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

/// How a layer of a run begins.
pub enum LayerStart {
    /// Initialised by `em.init`, then fitted.
    Fresh,
    /// Started from the trained model of [`TrainedStart`], then fitted.
    Trained(TrainedStart),
    /// Taken as it is from an earlier run's folder.
    Reused(PathBuf),
    /// Completed before an interruption: saved in its folder, with this report.
    Completed(FitReport),
    /// Interrupted: continued from the checkpoint after these iterations.
    Resumed(FitReport),
    /// Fitted further from the trained layer of this folder (`em.warm_start`).
    Warm(PathBuf),
}

impl LayerStart {
    /// Where EM begins for a layer begun this way: a seeded initialisation, or the layer's
    /// parameters as they are (with a checkpoint's report); `None` for a layer that is not
    /// fitted (reused, or completed with this report).
    pub fn em_start(&self, seed: u64) -> Result<Start, Option<FitReport>> {
        match self {
            LayerStart::Fresh => Ok(Start::Fresh { seed }),
            LayerStart::Trained(_) | LayerStart::Warm(_) => Ok(Start::Resume(FitReport::default())),
            LayerStart::Resumed(report) => Ok(Start::Resume(report.clone())),
            LayerStart::Reused(_) => Err(None),
            LayerStart::Completed(report) => Err(Some(report.clone())),
        }
    }

    /// The log line that says where a fitted layer starts from, if not fresh.
    pub(crate) fn describe(&self) -> Option<String> {
        match self {
            LayerStart::Trained(t) => Some(format!(
                "starting from the trained layer of {} ({})",
                t.dir().display(),
                t.key()
            )),
            LayerStart::Warm(from) => {
                Some(format!("starting EM from the trained layer of {}", from.display()))
            }
            LayerStart::Reused(from) => {
                Some(format!("reusing the trained layer of {}", from.display()))
            }
            _ => None,
        }
    }
}

/// The seed of layer `index`'s random choices (its initialisation, a trained start's
/// perturbations).
pub(crate) fn layer_seed(config: &RunConfig, index: usize) -> u64 {
    config.seed.wrapping_add(index as u64)
}

/// How layer `index` of a run begins, and the layer it begins with.
pub(crate) fn start_layer(
    spec: &StackLayer,
    index: usize,
    dir: &Path,
    shape: [usize; 2],
    resume: Option<&Checkpoint>,
    (opts, seed): (&RunOptions, u64),
) -> Result<(LayerStart, Layer), TrainError> {
    let device = &opts.device;
    Ok(match (&spec.reuse, resume) {
        (Some(from), _) => {
            (LayerStart::Reused(from.clone()), reused_layer(from, spec, shape, device)?)
        }
        (None, Some(ckpt)) if index < ckpt.meta.layer_index => {
            let (_, layer) = SavedLayer::load(dir, device)?;
            (LayerStart::Completed(completed_report(dir)?), layer)
        }
        (None, Some(ckpt)) if index == ckpt.meta.layer_index => {
            let path = checkpoint::path_in(&opts.out_dir);
            let layer = restore_layer(&path, ckpt, spec, shape, device)?;
            opts.progress.log(&format!(
                "resuming layer {index} after iteration {} from {}",
                ckpt.meta.report.iterations.len(),
                path.display()
            ));
            (LayerStart::Resumed(ckpt.meta.report.clone()), layer)
        }
        _ => match &spec.em.warm_start {
            Some(from) => (LayerStart::Warm(from.clone()), warm_layer(from, spec, shape, device)?),
            None => configured_start(spec, shape, seed, device)?,
        },
    })
}

/// The layer a config describes before EM, outside a run's folder too (a classifier's classes,
/// `bench`): fresh, or started from the trained model the config names, with `seed`'s
/// generator.
pub fn configured_start(
    spec: &StackLayer,
    shape: [usize; 2],
    seed: u64,
    device: &Device,
) -> Result<(LayerStart, Layer), TrainError> {
    let Some(trained) = spec.layer.trained_start() else {
        return Ok((LayerStart::Fresh, spec.layer.init(shape, device)?));
    };
    let toml = trained.dir().join("model.toml");
    let (_, from) = SavedLayer::load(trained.dir(), device)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let layer = spec
        .layer
        .start_from(shape, from, &mut rng, device)
        .map_err(|e| TrainError::file(&toml, e))?;
    Ok((LayerStart::Trained(trained.clone()), layer))
}

/// A trained layer from an earlier run, checked against what this stack expects there.
fn reused_layer(
    from: &Path,
    spec: &StackLayer,
    shape: [usize; 2],
    device: &Device,
) -> Result<Layer, TrainError> {
    let (saved, layer) = SavedLayer::load(from, device)?;
    check_fits(from, &saved, spec, shape, "reused")?;
    Ok(layer)
}

/// A trained layer's parameters under this layer's config, for EM to continue from
/// (`em.warm_start`): same kind, input shape and configured size ([`crate::LayerConfig::size`]).
fn warm_layer(
    from: &Path,
    spec: &StackLayer,
    shape: [usize; 2],
    device: &Device,
) -> Result<Layer, TrainError> {
    let (saved, record) = SavedLayer::read(from)?;
    check_fits(from, &saved, spec, shape, "warm-started")?;
    let toml = from.join("model.toml");
    let (theirs, ours) = (saved.config.size(), spec.layer.size());
    if theirs != ours {
        return Err(TrainError::file(
            &toml,
            format!(
                "cannot be warm-started here: it was configured with {theirs}, this layer with \
                 {ours}"
            ),
        ));
    }
    spec.layer
        .load_record(saved.trained_components, shape, record, device)
        .map_err(|e| TrainError::file(&toml, format!("cannot be warm-started here: {e}")))
}

/// Refuses a trained layer of another kind or over other inputs than `spec` expects.
fn check_fits(
    from: &Path,
    saved: &SavedLayer,
    spec: &StackLayer,
    shape: [usize; 2],
    how: &str,
) -> Result<(), TrainError> {
    if saved.input_shape != shape || saved.config.kind() != spec.layer.kind() {
        return Err(TrainError::file(
            &from.join("model.toml"),
            format!(
                "cannot be {how} here: it is a {} layer over inputs of shape {:?}, this layer is a \
                 {} over {:?}",
                saved.config.kind(),
                saved.input_shape,
                spec.layer.kind(),
                shape
            ),
        ));
    }
    Ok(())
}

/// The run folder's checkpoint, verified against this run.
pub(crate) fn read_checkpoint(
    path: &Path,
    fingerprint: &Fingerprint,
) -> Result<Checkpoint, TrainError> {
    if !path.is_file() {
        return Err(TrainError::file(path, "no checkpoint to resume from; train without --resume"));
    }
    let ckpt = Checkpoint::read(path)?;
    ckpt.check_fingerprint(path, fingerprint)?;
    Ok(ckpt)
}

/// The layer being trained when the checkpoint was written, with its parameters; a checkpoint
/// holding more iterations than this config allows is refused.
fn restore_layer(
    path: &Path,
    ckpt: &Checkpoint,
    spec: &StackLayer,
    shape: [usize; 2],
    device: &Device,
) -> Result<Layer, TrainError> {
    let done = ckpt.meta.report.iterations.iter().filter(|r| r.beta == 1.0).count();
    if done > spec.em.max_iter {
        return Err(TrainError::file(
            path,
            format!(
                "holds {done} EM iterations, more than this config's em.max_iter = {}; set \
                 max_iter to {done} or more to resume it, or train afresh without --resume",
                spec.em.max_iter
            ),
        ));
    }
    if ckpt.meta.layer_kind != spec.layer.kind() {
        return Err(TrainError::file(path, "holds a layer of another kind than the config's"));
    }
    let k = ckpt.meta.trained_components;
    spec.layer
        .load_record(k, shape, ckpt.record.clone(), device)
        .map_err(|e| TrainError::file(path, format!("holds {e}")))
}

/// The report of a layer completed before an interruption, from its `metrics.json`.
fn completed_report(dir: &Path) -> Result<FitReport, TrainError> {
    let metrics: Metrics = read_json(&dir.join("metrics.json"))?;
    Ok(FitReport {
        iterations: metrics.iterations,
        converged: metrics.converged,
        ..FitReport::default()
    })
}
