//! `gmmzoo.restore` from Python: an image (float64 gray levels `[H, W]`, or colour `[H, W, 3]`;
//! NaN where a pixel is missing) restored under a trained patch prior by the library's EPLL
//! (a colour one in opponent channels), the GIL released, a progress bar on a terminal.

use crate::{device_of, value_error};
use gmm_zoo::experiments::restore::{Epll, PatchStep, Picture, load_prior, restore_picture};
use gmm_zoo::training::Progress;
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyFileNotFoundError;
use pyo3::prelude::*;

/// `image` `[H, W]` (or `[H, W, 3]`) restored under `prior` (a checkpoint name or run folder) at noise `sigma`
/// (gray levels); `betas` the schedule's `c_j` (default: Zoran & Weiss's, or with missing
/// pixels the inpainting schedule); `patch_step` `"most_likely"` or `"posterior"`; `stride`
/// the step of the grid of patches (1: every patch).
#[pyfunction]
#[pyo3(signature = (image, sigma, prior, betas=None, patch_step="most_likely", stride=1))]
pub fn restore_image<'py>(
    py: Python<'py>,
    image: PyReadonlyArrayDyn<'py, f64>,
    sigma: f64,
    prior: &str,
    betas: Option<Vec<f64>>,
    patch_step: &str,
    stride: usize,
) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
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
    let device = device_of("cpu")?;
    let run = gmm_zoo::experiments::zoo::resolve_run(std::path::Path::new(prior))
        .map_err(|e| PyFileNotFoundError::new_err(e.to_string()))?;
    let prior = load_prior(&run, &device).map_err(value_error)?;
    let schedule =
        if pixels.iter().any(|v| v.is_nan()) { Epll::inpainting(sigma) } else { Epll::new(sigma) };
    let epll = Epll { sigma, betas: betas.unwrap_or(schedule.betas), step, stride };
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
