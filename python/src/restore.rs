//! `gmmzoo.restore` from Python: an image (float64 gray levels, NaN where a pixel is missing)
//! restored under a trained patch prior by the library's EPLL, the GIL released, a progress
//! bar on a terminal.

use crate::{device_of, value_error};
use gmm_zoo::experiments::restore::{Epll, PatchStep, load_prior, restore};
use gmm_zoo::training::Progress;
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyFileNotFoundError;
use pyo3::prelude::*;

/// `image` `[H, W]` restored under `prior` (a checkpoint name or run folder) at noise `sigma`
/// (gray levels); `betas` the schedule's `c_j` (default: Zoran & Weiss's, or with missing
/// pixels the inpainting schedule); `patch_step` `"most_likely"` or `"posterior"`; `stride`
/// the step of the grid of patches (1: every patch).
#[pyfunction]
#[pyo3(signature = (image, sigma, prior, betas=None, patch_step="most_likely", stride=1))]
pub fn restore_image<'py>(
    py: Python<'py>,
    image: PyReadonlyArray2<'py, f64>,
    sigma: f64,
    prior: &str,
    betas: Option<Vec<f64>>,
    patch_step: &str,
    stride: usize,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let step = match patch_step {
        "most_likely" => PatchStep::MostLikely,
        "posterior" => PatchStep::Posterior,
        other => {
            return Err(value_error(format!(
                "patch_step: '{other}' is not one of 'most_likely', 'posterior'"
            )));
        }
    };
    let (h, w) = (image.shape()[0], image.shape()[1]);
    let pixels: Vec<f64> = image.as_array().iter().copied().collect();
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
        let bar = progress.bar(epll.betas.len() as u64, "restoring");
        let out = restore(&prior, &pixels, (h, w), &epll, &mut |_| bar.inc(1));
        bar.finish_and_clear();
        out
    });
    let out = result.map_err(|e| value_error(e.replace("--stride", "stride")))?;
    Ok(Array2::from_shape_vec((h, w), out).map_err(value_error)?.into_pyarray(py))
}
