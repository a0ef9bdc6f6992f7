//! `gmmzoo.restore` from Python: an image (float64 gray levels `[H, W]`, or colour `[H, W, 3]`;
//! NaN where a pixel is missing) restored under a trained patch prior by the library's EPLL
//! (a colour one in opponent channels), the GIL released, a progress bar on a terminal.

use crate::{device_of, value_error};
use gmm_zoo::experiments::restore::{
    InpaintStart,
    Epll, PatchPrior, PatchStep, Picture, load_prior, restore_picture,
};
use gmm_zoo::training::Progress;
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyFileNotFoundError;
use pyo3::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// `image` `[H, W]` (or `[H, W, 3]`) restored under `prior` (a checkpoint name or run folder) at noise `sigma`
/// (gray levels); `betas` the schedule's `c_j` (default: Zoran & Weiss's, or with missing
/// pixels the inpainting schedule); `patch_step` `"most_likely"` or `"posterior"`; `stride`
/// the step of the grid of patches (1: every patch); `start` where missing pixels start,
/// `"conditional"` or `"fill"`.
#[pyfunction]
#[pyo3(signature = (image, sigma, prior, betas=None, patch_step="most_likely", stride=1, start="conditional"))]
pub fn restore_image<'py>(
    py: Python<'py>,
    image: PyReadonlyArrayDyn<'py, f64>,
    sigma: f64,
    prior: &str,
    betas: Option<Vec<f64>>,
    patch_step: &str,
    stride: usize,
    start: &str,
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
    let start = match start {
        "conditional" => InpaintStart::Conditional,
        "fill" => InpaintStart::Fill,
        other => {
            return Err(value_error(format!(
                "start: '{other}' is not one of 'conditional', 'fill'"
            )));
        }
    };
    let step = match patch_step {
        "most_likely" => PatchStep::MostLikely,
        "posterior" => PatchStep::Posterior,
        other => {
            return Err(value_error(format!(
                "patch_step: '{other}' is not one of 'most_likely', 'posterior'"
            )));
        }
    };
    let shape = image.shape().to_vec();
    let (h, w, c) = match shape[..] {
        [h, w] => (h, w, 1),
        [h, w, 3] => (h, w, 3),
        _ => {
            return Err(value_error(format!(
                "image has shape {shape:?}: expected [H, W] gray levels or [H, W, 3] colour"
            )));
        }
    };
    let pixels: Vec<f64> = image.as_array().iter().copied().collect();
    let channels = (0..c).map(|k| pixels.iter().skip(k).step_by(c).copied().collect()).collect();
    let picture = Picture { channels, height: h, width: w };
    if pixels.iter().any(|v| v.is_infinite()) {
        return Err(value_error("image holds an infinite value (NaN marks a missing pixel)"));
    }
    let run = gmm_zoo::experiments::zoo::resolve_run(Path::new(prior))
        .map_err(|e| PyFileNotFoundError::new_err(e.to_string()))?;
    let prior = cached_prior(&run)?;
    let schedule = match pixels.iter().any(|v| v.is_nan()) {
        true => Epll::inpainting(sigma, start),
        false => Epll::new(sigma),
    };
    let epll = Epll { sigma, betas: betas.unwrap_or(schedule.betas), step, stride, start };
    let progress = Progress::stderr();
    let result = py.detach(|| {
        let bar = progress.bar((epll.betas.len() * c) as u64, "restoring");
        let out = restore_picture(&prior, &picture, &epll, &mut |_| bar.inc(1));
        bar.finish_and_clear();
        out
    });
    let out = result.map_err(|e| value_error(e.replace("--stride", "stride")))?;
    let values = out.interleaved();
    Ok(ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(value_error)?.into_pyarray(py))
}

/// A run folder's files with their sizes and modification times: what the cached prior was
/// loaded from.
type Stamps = Vec<(PathBuf, u64, Option<SystemTime>)>;

/// The last prior loaded, with the stamps of its run folder's files: a script that restores
/// many images under one prior loads it once (its 200 eigendecompositions take about 0.15 s
/// of a 0.4 s fast-mode restoration); a retrained folder (other stamps) is loaded again.
static LAST_PRIOR: Mutex<Option<(PathBuf, Stamps, Arc<PatchPrior>)>> = Mutex::new(None);

/// The prior of run folder `run`, from [`LAST_PRIOR`] where its files are unchanged.
fn cached_prior(run: &Path) -> PyResult<Arc<PatchPrior>> {
    let stamps = stamps(run);
    let mut last = LAST_PRIOR.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((path, seen, prior)) = last.as_ref()
        && path == run
        && *seen == stamps
    {
        return Ok(prior.clone());
    }
    let prior = Arc::new(load_prior(run, &device_of("cpu")?).map_err(value_error)?);
    *last = Some((run.to_path_buf(), stamps, prior.clone()));
    Ok(prior)
}

/// [`Stamps`] of every file under `dir`, in name order.
fn stamps(dir: &Path) -> Stamps {
    let files = walkdir::WalkDir::new(dir).sort_by_file_name().into_iter().flatten();
    (files.filter(|e| !e.file_type().is_dir()))
        .map(|e| match e.metadata() {
            Ok(m) => (e.into_path(), m.len(), m.modified().ok()),
            Err(_) => (e.into_path(), 0, None),
        })
        .collect()
}
